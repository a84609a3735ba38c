//! An f32 setting written as the decimal it was typed as: 0.65, not 0.6499999761581421.
//!
//! A report that goes through a JSON value (`serde_json::json!`, `to_value`) widens every f32 to
//! f64 and then prints the f64's digits. [`shortest_f32`] serializes the f32 as the f64 of its
//! shortest decimal instead (Rust's `Display` of f32: the fewest digits that read back to the
//! same f32), so the JSON, TOML and the page show what the user set, and reading it back as f32
//! gives the same bits.

use std::fmt;

use serde::Serializer;

/// The f32 nearest a finite f64, or `None` when f32 cannot hold it: past ±3.4e38 it would be ∞,
/// a nonzero value under 1.4e-45 would be 0 (what a setting or a file's number becomes if it is
/// narrowed without a look). NaN and ±∞ pass through as themselves.
pub fn narrow_to_f32(v: f64) -> Option<f32> {
    let f = v as f32;
    if v.is_finite() && (f.is_infinite() || (f == 0.0 && v != 0.0)) {
        None
    } else {
        Some(f)
    }
}

/// A float that is a whole number of magnitude below 2^53, as that integer: there every whole
/// f64 is one integer exactly, so `1e1` and `10.0` name 10; past 2^53 an exponent form may stand
/// for a neighbour (1e17 is 100000000000000000 or 99999999999999999?). `None` otherwise.
pub fn exact_whole(x: f64) -> Option<i64> {
    (x.is_finite() && x.fract() == 0.0 && x.abs() < 9_007_199_254_740_992.0).then_some(x as i64)
}

/// What [`narrow_to_f32`] refuses, for a message: "beyond the range of f32 (…)".
pub const BEYOND_F32: &str = "beyond the range of f32 (sizes from 1.4e-45 to 3.4e38)";

/// `#[serde(serialize_with = "crate::decimal::shortest_f32")]` for an f32 field.
pub fn shortest_f32<S: Serializer>(v: &f32, s: S) -> Result<S::Ok, S::Error> {
    // "0.65" → 0.65f64; NaN and ±inf read back as themselves.
    s.serialize_f64(v.to_string().parse::<f64>().unwrap_or(f64::from(*v)))
}

/// A number (f32 or f64) as short text for a page, a link or a message: its shortest decimal
/// (`0.65`, `99.9`), or in exponent form when that would run to many zeros (`1e-40`, not
/// forty-one digits of `0.000…1`; `1e30`, not thirty-one digits); both read back to the same value.
pub fn short_text<T: Copy + Into<f64> + fmt::Display + fmt::LowerExp>(v: T) -> String {
    // The shortest decimal's own size (0.0001f32 widens to 9.99999974e-5 as f64).
    let a = v.to_string().parse::<f64>().unwrap_or(v.into()).abs();
    if a == 0.0 || !a.is_finite() || (1e-4..1e9).contains(&a) {
        v.to_string()
    } else {
        format!("{v:e}")
    }
}

/// v with `decimals` places (a table's column), or in exponent form with 4 significant digits
/// where the places would show fewer than 3 of them (|v| < 10^(2 − decimals)) or it is 1e9 or
/// more: 1e-30 is `1.000e-30`, not `0.000000`. `sign` writes + before a positive value.
pub fn fixed(v: f64, decimals: usize, sign: bool) -> String {
    let a = v.abs();
    let exponent = a != 0.0 && a.is_finite() && (a < 10f64.powi(2 - decimals as i32) || a >= 1e9);
    match (exponent, sign) {
        (true, true) => format!("{v:+.3e}"),
        (true, false) => format!("{v:.3e}"),
        (false, true) => format!("{v:+.decimals$}"),
        (false, false) => format!("{v:.decimals$}"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn fixed_places_give_way_to_an_exponent_for_tiny_and_huge_values() {
        assert_eq!(super::fixed(0.0090588, 6, false), "0.009059");
        assert_eq!(super::fixed(-0.0017, 6, true), "-0.001700");
        assert_eq!(super::fixed(0.0, 6, true), "+0.000000");
        assert_eq!(super::fixed(1e-30, 6, false), "1.000e-30");
        assert_eq!(super::fixed(-2.5e-5, 6, true), "-2.500e-5");
        assert_eq!(super::fixed(3e-5, 6, true), "+3.000e-5");
        assert_eq!(super::fixed(1.5e-4, 4, false), "1.500e-4"); // under 10^(2 − 4)
        assert_eq!(super::fixed(0.5, 4, false), "0.5000");
        assert_eq!(super::fixed(2e12, 4, false), "2.000e12");
    }

    #[test]
    fn short_text_switches_to_an_exponent_only_for_tiny_and_huge_values_and_reads_back() {
        assert_eq!(super::short_text(99.9), "99.9");
        assert_eq!(super::short_text(0.001), "0.001");
        assert_eq!(super::short_text(1e-40), "1e-40");
        assert_eq!(super::short_text(-3.5e12), "-3.5e12");
        assert_eq!(super::short_text(0.0), "0");
        for x in [1e-40f32, 1e-5, 99.99, 3.4028235e38, f32::MIN_POSITIVE, -0.0, 1.0 / 3.0] {
            assert_eq!(super::short_text(x).parse::<f32>().unwrap().to_bits(), x.to_bits(), "{x}");
        }
    }

    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct S {
        #[serde(serialize_with = "super::shortest_f32")]
        x: f32,
    }

    #[test]
    fn settings_print_as_typed_and_read_back_to_the_same_bits() {
        let text = |x: f32| serde_json::to_value(S { x }).unwrap()["x"].to_string();
        assert_eq!(text(0.65), "0.65");
        assert_eq!(text(0.01), "0.01");
        assert_eq!(text(50.0), "50.0");
        // Plain f32 fields widen: the defect this module removes.
        assert_eq!(serde_json::json!({ "x": 0.65f32 })["x"].to_string(), "0.6499999761581421");
        for x in [0.65f32, 0.01, 0.1, 1e-7, 3.4028235e38, f32::MIN_POSITIVE, -0.0, 1.0 / 3.0, 16_777_217.0] {
            let back: S = serde_json::from_str(&serde_json::to_string(&S { x }).unwrap()).unwrap();
            assert_eq!(back.x.to_bits(), x.to_bits(), "{x}");
            let back: S = toml::from_str(&toml::to_string(&S { x }).unwrap()).unwrap();
            assert_eq!(back.x.to_bits(), x.to_bits(), "{x} through TOML");
        }
    }
}
