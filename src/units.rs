//! The one size unit the app and the reports show: kB, 1 kB = 1,000 bytes (SI, as disk and
//! download sizes are counted). Every size on the pages goes through [`kilobytes`], so a list,
//! a sentence and a chart axis never disagree about what "kB" means.

/// Bytes in one kB.
pub const BYTES_PER_KB: f64 = 1000.0;

/// A size in kB with one decimal: 110_800 bytes → "110.8 kB".
pub fn kilobytes(bytes: usize) -> String {
    format!("{:.1} kB", kb_value(bytes))
}

/// A size in kB as a number (for chart axes): bytes / 1,000.
pub fn kb_value(bytes: usize) -> f64 {
    bytes as f64 / BYTES_PER_KB
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_kb_is_a_thousand_bytes() {
        assert_eq!(kilobytes(110_800), "110.8 kB");
        assert_eq!(kilobytes(123_400), "123.4 kB");
        assert_eq!(kilobytes(1024), "1.0 kB");
        assert_eq!(kilobytes(0), "0.0 kB");
        assert_eq!(kb_value(2500), 2.5);
    }
}
