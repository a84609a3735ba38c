//! TFLite requantization: hand-computed cases, edge cases of the multiplier,
//! and a comparison with exact rational arithmetic.

use qplay::runtime::requant::*;


both! {
    quantize_multiplier_matches_tflite {
        // 0.5 = 0.5 · 2^0 → M0 = 2^30, shift 0.
        assert_eq!(quantize_multiplier(0.5), QuantizedMultiplier { multiplier: 1 << 30, shift: 0 });
        // 0.75 · 2^-3 = 0.09375 → M0 = round(0.75 · 2^31) = 1610612736, shift −3.
        assert_eq!(quantize_multiplier(0.09375), QuantizedMultiplier { multiplier: 1_610_612_736, shift: -3 });
        // 1.0 = 0.5 · 2^1.
        assert_eq!(quantize_multiplier(1.0), QuantizedMultiplier { multiplier: 1 << 30, shift: 1 });
        // q just below 1 rounds to 2^31, which folds into shift + 1.
        let m = quantize_multiplier(1.0 - 1e-12);
        assert_eq!(m, QuantizedMultiplier { multiplier: 1 << 30, shift: 1 });
        // Tiny multipliers become 0; zero and negatives too.
        assert_eq!(quantize_multiplier(1e-12).multiplier, 0);
        assert_eq!(quantize_multiplier(0.0).multiplier, 0);
        assert_eq!(quantize_multiplier(f64::NAN).multiplier, 0);
        // Huge ones saturate.
        assert_eq!(quantize_multiplier(1e12), QuantizedMultiplier { multiplier: i32::MAX, shift: 30 });
    }

    doubling_high_mul_rounds_and_saturates {
        assert_eq!(saturating_rounding_doubling_high_mul(i32::MIN, i32::MIN), i32::MAX);
        // (2^30 · 2^30) / 2^31 = 2^29.
        assert_eq!(saturating_rounding_doubling_high_mul(1 << 30, 1 << 30), 1 << 29);
        // Exact halves round up (toward +∞): the nudge is +2^30 for ab ≥ 0 and
        // 1 − 2^30 for ab < 0, then the division truncates toward 0.
        // 3 · 2^30 / 2^31 = 1.5 → 2;  −1.5 → −1;  0.5 → 1;  −0.5 → 0.
        assert_eq!(saturating_rounding_doubling_high_mul(3, 1 << 30), 2);
        assert_eq!(saturating_rounding_doubling_high_mul(-3, 1 << 30), -1);
        assert_eq!(saturating_rounding_doubling_high_mul(1, 1 << 30), 1);
        assert_eq!(saturating_rounding_doubling_high_mul(-1, 1 << 30), 0);
        // Not a half: −1.75 → −2.
        assert_eq!(saturating_rounding_doubling_high_mul(-7, 1 << 29), -2);
    }

    rounding_divide_by_pot_rounds_half_away_from_zero {
        assert_eq!(rounding_divide_by_pot(5, 1), 3);
        assert_eq!(rounding_divide_by_pot(-5, 1), -3);
        assert_eq!(rounding_divide_by_pot(4, 1), 2);
        assert_eq!(rounding_divide_by_pot(-4, 1), -2);
        assert_eq!(rounding_divide_by_pot(7, 2), 2);
        assert_eq!(rounding_divide_by_pot(-6, 2), -2, "−1.5 → −2");
        assert_eq!(rounding_divide_by_pot(6, 2), 2, "1.5 → 2");
        assert_eq!(rounding_divide_by_pot(i32::MIN, 31), -1);
        assert_eq!(rounding_divide_by_pot(i32::MAX, 31), 1);
        assert_eq!(rounding_divide_by_pot(123, 0), 123);
    }

    requantize_follows_exact_arithmetic_within_one {
        // For real multipliers in (0, 1) the fixed-point result is round(acc · real)
        // up to one unit: TFLite rounds twice (the high multiply, then the shift),
        // so 397 · 0.25 = 99.25 becomes 198.5 → 199, then 199 / 2 = 99.5 → 100.
        // Measured here: 2523 of 2814 cases (89.7 %) equal the single rounding.
        assert_eq!(multiply_by_quantized_multiplier(397, quantize_multiplier(0.25)), 100);
        let mut exact = 0;
        let mut total = 0;
        for &real in &[0.000_123_4, 0.003_1, 0.018_75, 0.25, 0.333_333, 0.5, 0.999_9] {
            let m = quantize_multiplier(real);
            for acc in (-200_000..200_000).step_by(997) {
                let want = (acc as f64 * real).round() as i32;
                let got = multiply_by_quantized_multiplier(acc, m);
                assert!((got - want).abs() <= 1, "acc {acc} · {real}: {got} vs {want}");
                exact += (got == want) as i32;
                total += 1;
            }
        }
        assert!(exact as f64 / total as f64 > 0.85, "{exact}/{total} exact");
    }

    requantize_adds_zero_point_and_clamps {
        let m = quantize_multiplier(0.01);
        // 1234 · 0.01 = 12.34 → 12, + zp −5 = 7.
        assert_eq!(requantize(1234, m, -5, -128, 127), 7);
        // Saturation at both ends.
        assert_eq!(requantize(1_000_000, m, 0, -128, 127), 127);
        assert_eq!(requantize(-1_000_000, m, 0, -128, 127), -128);
        // Fused ReLU: act_min = zp_y.
        assert_eq!(requantize(-500, m, 3, 3, 127), 3);
        // No overflow when acc is extreme.
        assert_eq!(requantize(i32::MIN, m, 100, -128, 127), -128);
        assert_eq!(requantize(i32::MAX, m, -100, -128, 127), 127);
    }
}
