//! The headline of a benchmark run: the ratio lines of [`crate::bench`]
//! (`ratio suite=gemm case=16x784x128 int8/f32=2.61`) read back and summed up in a few
//! sentences, with every ratio above what the instruction ceilings allow flagged.
//!
//! ```text
//! median over the cases of a kind, and its range
//! bound on int8/f32 = dot_i16x8_add / f32x4_mul_add   (the two ceilings, timed in the same run)
//! ```

/// One `ratio …` line.
#[derive(Clone, Debug, PartialEq)]
pub struct Ratio {
    pub suite: String,
    pub case: String,
    /// What is divided by what ("int8/f32", "simd128/scalar", "simd128/ceiling").
    pub what: String,
    pub value: f64,
    /// The line ended in `flag=above_ceiling`: the benchmark found the ratio above what the
    /// instruction ceilings of the same run allow.
    pub above_ceiling: bool,
}

/// Reads one ratio line, optionally ending in `flag=above_ceiling`; None for anything else (a
/// line is never trusted to be well formed).
pub fn parse_ratio(line: &str) -> Option<Ratio> {
    let mut parts = line.split_whitespace();
    if parts.next()? != "ratio" {
        return None;
    }
    let suite = parts.next()?.strip_prefix("suite=")?.to_string();
    let case = parts.next()?.strip_prefix("case=")?.to_string();
    let (what, value) = parts.next()?.rsplit_once('=')?;
    let value: f64 = value.parse().ok().filter(|v: &f64| v.is_finite() && *v > 0.0)?;
    let above_ceiling = match parts.next() {
        None => false,
        Some("flag=above_ceiling") => true,
        Some(_) => return None,
    };
    if parts.next().is_some() {
        return None;
    }
    Some(Ratio { suite, case, what: what.to_string(), value, above_ceiling })
}

/// The median and range of some ratios (None when there is none).
pub fn spread(values: &[f64]) -> Option<(f64, f64, f64)> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 };
    Some((median, v[0], v[n - 1]))
}

/// Sentences for the page's headline, from the ratio lines of one run.
pub fn headline(ratios: &[Ratio]) -> Vec<String> {
    let of = |suite: &str, what: &str| -> Vec<&Ratio> { ratios.iter().filter(|r| r.suite == suite && r.what == what).collect() };
    let values = |rs: &[&Ratio]| -> Vec<f64> { rs.iter().map(|r| r.value).collect() };
    let mut out = Vec::new();
    let gemm = of("gemm", "int8/f32");
    // The bound: int8 and f32 kernels equally close to their own instruction ceilings.
    let bound = spread(&values(&of("ceiling", "dot_i16x8_add/f32x4_mul_add"))).map(|s| s.0);
    if let Some((m, lo, hi)) = spread(&values(&gemm)) {
        let mut s = format!(
            "The int8 GEMM is {m:.2}× as fast as the f32 GEMM (median over {} shapes, {lo:.2}× – {hi:.2}×), both on this browser's SIMD.",
            gemm.len()
        );
        if let Some(b) = bound {
            s.push_str(&format!(" The instruction ceilings allow about {b:.2}×."));
        }
        out.push(s);
    }
    if let Some(b) = bound {
        let above: Vec<String> = gemm.iter().filter(|r| r.value > 1.15 * b).map(|r| format!("{} ({:.2}×)", r.case, r.value)).collect();
        if !above.is_empty() {
            out.push(format!(
                "Above the ceilings' ratio by more than 15 %, so a timing disturbed by other work, not a real speed-up: {}. Run again on a quiet machine.",
                above.join(", ")
            ));
        }
    }
    let e2e: Vec<&Ratio> = ratios.iter().filter(|r| r.what == "int8/fp32").collect();
    if let Some((m, lo, hi)) = spread(&values(&e2e)) {
        out.push(format!("Whole models (the lab MLP, seeded weights, on synthetic images), int8 against FP32: {m:.2}× (median over {} batch sizes and models, {lo:.2}× – {hi:.2}×).", e2e.len()));
    }
    let simd: Vec<&Ratio> = ratios.iter().filter(|r| r.what == "simd128/scalar").collect();
    if let Some((m, lo, hi)) = spread(&values(&simd)) {
        out.push(format!("SIMD against the scalar twins of the same kernels: {m:.2}× (median over {}, {lo:.2}× – {hi:.2}×).", simd.len()));
    }
    let near: Vec<f64> = ratios.iter().filter(|r| r.what.ends_with("/ceiling")).map(|r| r.value).collect();
    if let Some((m, lo, hi)) = spread(&near) {
        out.push(format!("The GEMM kernels run at {:.0} % of their instruction ceilings (median; {:.0} % – {:.0} %).", 100.0 * m, 100.0 * lo, 100.0 * hi));
    }
    // `ratio suite=lm_decode case=shakespeare w8_per_channel/fp32=0.94`: tokens/s against FP32's.
    let lm: Vec<String> = ratios
        .iter()
        .filter(|r| r.suite == "lm_decode")
        .filter_map(|r| Some(format!("{} {:.2}×", lm_format_name(r.what.strip_suffix("/fp32")?), r.value)))
        .collect();
    if !lm.is_empty() {
        out.push(format!("The built-in language model decodes at {} FP32's tokens/s (above 1 is faster).", lm.join(", ")));
    }
    out
}

/// The page's name of a `lm::bench::bench_formats` label.
fn lm_format_name(label: &str) -> String {
    match label {
        "fp16" => "FP16".into(),
        "w8_per_channel" => "W8".into(),
        "w8a8_per_channel" => "W8A8".into(),
        "fp32_kv8" => "FP32 + int8 KV".into(),
        "w8a8_kv8" => "W8A8 + int8 KV".into(),
        "q8_0" => "Q8_0".into(),
        "q4_0" => "Q4_0".into(),
        "w4_per_channel" => "W4".into(),
        other => other.replace('_', " ").replace("w4 g", "W4 g").replace("w4a8 g", "W4A8 g"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_back_and_odd_lines_are_refused() {
        let r = parse_ratio("ratio suite=gemm case=16x784x128 int8/f32=2.61").unwrap();
        assert_eq!((r.suite.as_str(), r.case.as_str(), r.what.as_str(), r.value), ("gemm", "16x784x128", "int8/f32", 2.61));
        let f = parse_ratio("ratio suite=gemm case=256x512x512 int8/f32=3.71 flag=above_ceiling").unwrap();
        assert!(f.above_ceiling && f.value == 3.71 && !r.above_ceiling);
        for bad in ["ratio suite=gemm case=a int8/f32=2 flag=other", "ratio suite=gemm case=a int8/f32=2 flag=above_ceiling x",
            "", "ratio", "bench suite=gemm case=a x=1", "ratio suite=gemm case=a int8/f32=NaN", "ratio suite=gemm case=a int8/f32=-1", "ratio suite=gemm case=a int8/f32=2 extra", "ratio case=a suite=gemm x=1"] {
            assert_eq!(parse_ratio(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_headline_has_medians_and_flags_ratios_above_the_ceiling() {
        let lines = [
            "ratio suite=gemm case=a int8/f32=1.5",
            "ratio suite=gemm case=b int8/f32=1.9",
            "ratio suite=gemm case=c int8/f32=3.71",
            "ratio suite=ceiling case=a dot_i16x8_add/f32x4_mul_add=1.900",
            "ratio suite=ceiling case=b dot_i16x8_add/f32x4_mul_add=1.880",
        ];
        let rs: Vec<Ratio> = lines.iter().filter_map(|l| parse_ratio(l)).collect();
        let h = headline(&rs);
        assert!(h[0].contains("1.90× as fast") && h[0].contains("3 shapes") && h[0].contains("1.50× – 3.71×"), "{h:?}");
        assert!(h[0].contains("allow about 1.89×"), "{h:?}");
        assert!(h[1].contains("c (3.71×)") && !h[1].contains("b (1.90×)"), "{h:?}");
        assert_eq!(spread(&[3.0, 1.0, 2.0, 4.0]), Some((2.5, 1.0, 4.0)));
        assert!(headline(&[]).is_empty());
        let lm: Vec<Ratio> = ["ratio suite=lm_decode case=shakespeare w8_per_channel/fp32=0.94", "ratio suite=lm_decode case=shakespeare w4_g32/fp32=1.25"]
            .iter()
            .filter_map(|l| parse_ratio(l))
            .collect();
        assert_eq!(headline(&lm), ["The built-in language model decodes at W8 0.94×, W4 g32 1.25× FP32's tokens/s (above 1 is faster)."]);
    }
}
