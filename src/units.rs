//! The one size unit the app and the reports show: kB, 1 kB = 1,000 bytes (SI, as disk and
//! download sizes are counted). Every size on the pages goes through [`kilobytes`], so a list,
//! a sentence and a chart axis never disagree about what "kB" means.
//!
//! Limits are the exception: they are powers of two, so a message about one gives the exact
//! bytes with MiB or GiB (2^20, 2^30 bytes) beside them, for the size and the limit alike
//! ([`bytes_exact`]), and counts with their thousands grouped ([`grouped`]).

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

/// A count with its thousands grouped: 268435456 → "268,435,456".
pub fn grouped(n: u128) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// A size exactly and in binary units: 268435457 → "268,435,457 bytes (256.0 MiB)";
/// 2^28 → "268,435,456 bytes (256 MiB)"; 2^32 → "4,294,967,296 bytes (4 GiB)".
pub fn bytes_exact(bytes: u128) -> String {
    // A whole number of the unit (a limit) shows as one: "(256 MiB)", beside "(256.0 MiB)" for
    // a byte more.
    let (unit, name) = if bytes < 1 << 30 { (1u128 << 20, "MiB") } else { (1u128 << 30, "GiB") };
    match bytes.is_multiple_of(unit) {
        true => format!("{} bytes ({} {name})", grouped(bytes), bytes / unit),
        false => format!("{} bytes ({:.1} {name})", grouped(bytes), bytes as f64 / unit as f64),
    }
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

    #[test]
    fn limits_in_exact_bytes_and_binary_units() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1000), "1,000");
        assert_eq!(grouped(67_108_864), "67,108,864");
        assert_eq!(grouped(u128::MAX), "340,282,366,920,938,463,463,374,607,431,768,211,455");
        assert_eq!(bytes_exact(268_435_457), "268,435,457 bytes (256.0 MiB)");
        assert_eq!(bytes_exact(1 << 28), "268,435,456 bytes (256 MiB)");
        assert_eq!(bytes_exact(1 << 32), "4,294,967,296 bytes (4 GiB)");
        assert_eq!(bytes_exact((1 << 32) + (1 << 29)), "4,831,838,208 bytes (4.5 GiB)");
        assert_eq!(bytes_exact(512), "512 bytes (0.0 MiB)");
        assert_eq!(bytes_exact(0), "0 bytes (0 MiB)");
        assert_eq!(bytes_exact(u128::MAX), "340,282,366,920,938,463,463,374,607,431,768,211,455 bytes (316912650057057350374175801344.0 GiB)");
    }
}
