//! The Tensor page's chart data (experiment::tensor_charts): hand-computed bins, the scatter's
//! sample against a plain loop, the error bound per slice, and a 4 Mi-value view whose charts
//! travel from the worker as a few kilobytes of JSON and come back equal.

use qplay::experiment::tensor_charts::{error_histogram, grid_histogram, scatter_sample, slice_strip, value_histogram, TensorCharts, MAX_SCATTER_POINTS, MAX_STRIP_BARS};
use qplay::experiment::tensor_view::TensorView;
use qplay::formats::Tensor;
use qplay::quant::granularity::GranularQuantized;
use qplay::quant::{quantize_granular, Calibration, Granularity, Method, Scheme};
use qplay::share::TensorSettings;

both! {
    /// 0, 1, …, 10 over their own range: padded by 5 % to [−0.5, 10.5], ⌈√11⌉ = 4 → 8 bins of
    /// 1.375, edges −0.5, 0.875, 2.25, 3.625, 5, 6.375, 7.75, 9.125, 10.5 (by hand).
    value_histogram_bins_by_hand_and_skips_nan {
        let mut x: Vec<f32> = (0..=10).map(|v| v as f32).collect();
        x.extend([f32::NAN, f32::INFINITY, f32::NEG_INFINITY]);
        let h = value_histogram(&x, f64::NAN, f64::NAN);
        assert_eq!(h.skipped, 3);
        let bins = h.bins.unwrap();
        assert_eq!((bins.lo, bins.hi), (-0.5, 10.5));
        assert_eq!(bins.counts, vec![1.0, 2.0, 1.0, 1.0, 2.0, 1.0, 2.0, 1.0]);
        // A bound beyond the data widens the range; one inside it does not narrow it.
        // [−9.5, 10] padded by 0.975 on each side.
        let h = value_histogram(&x, -9.5, 5.0).bins.unwrap();
        assert_eq!((h.lo, h.hi), (-10.475, 10.975));
        assert_eq!(h.counts.iter().sum::<f64>(), 11.0);
        // Nothing finite: no bins, and the count of what was skipped.
        let h = value_histogram(&[f32::NAN; 3], 0.0, 1.0);
        assert_eq!((h.bins, h.skipped), (None, 3));
        assert_eq!(value_histogram(&[], 0.0, 1.0).bins, None);
        // A constant tensor still has a width; the extremes of f32 stay finite (in f64).
        let h = value_histogram(&[2.0; 20], f64::NAN, f64::NAN).bins.unwrap();
        assert!(h.lo < 2.0 && h.hi > 2.0 && h.counts.iter().sum::<f64>() == 20.0, "{h:?}");
        let h = value_histogram(&[f32::MIN, 0.0, f32::MAX], f64::NAN, f64::NAN).bins.unwrap();
        assert!(h.lo.is_finite() && h.hi.is_finite() && h.counts.iter().sum::<f64>() == 3.0, "{h:?}");
        // Tiny values keep an axis of their own size (it was ±1e-6 around 1e-30, one bar at 0).
        let h = value_histogram(&[1e-30, 2e-30, 3e-30], f64::NAN, f64::NAN).bins.unwrap();
        assert!((h.lo / 0.9e-30 - 1.0).abs() < 1e-6 && (h.hi / 3.1e-30 - 1.0).abs() < 1e-6, "{h:?}");
        assert_eq!(h.counts.iter().filter(|&&c| c > 0.0).count(), 3, "{h:?}");
        let h = value_histogram(&[4e-30; 3], f64::NAN, f64::NAN).bins.unwrap();
        assert!(h.lo > 3e-30 && h.hi < 5e-30, "{h:?}");
    }

    /// The grid's histogram spans the data and the clamp limits of the grid.
    grid_histogram_holds_the_data_and_the_clamp_limits {
        // Clip at 4 bits: the clamp limits sit inside the data.
        let x: Vec<f32> = (0..256).map(|i| (i as f32 - 100.0) / 10.0).collect();
        let p = quantize_granular(&x, &[256], &Scheme::lab(Method::Clip, 4), Granularity::PerTensor, &Calibration::MinMax).unwrap().slices[0].params;
        let (lo, hi) = p.clamp_limits();
        let h = grid_histogram(&x, &p).bins.unwrap();
        assert!(h.lo <= (lo as f64).min(-10.0) && h.hi >= (hi as f64).max(15.5), "{h:?} against {lo} … {hi}");
        assert_eq!(h.counts.iter().sum::<f64>(), 256.0);
        assert_eq!(h.bins(), 16); // ⌈√256⌉
    }

    /// Every ⌈finite / 20 000⌉-th finite pair, in order, as a plain loop picks them.
    scatter_sample_keeps_every_kth_finite_pair {
        let n = 50_003;
        let x: Vec<f32> = (0..n).map(|i| if i % 1000 == 7 { f32::NAN } else { i as f32 * 0.5 }).collect();
        let d: Vec<f32> = (0..n).map(|i| if i % 999 == 3 { f32::INFINITY } else { i as f32 * 0.5 + 0.25 }).collect();
        let s = scatter_sample(&x, &d[..n - 3]);
        let finite: Vec<(f32, f32)> = x[..n - 3].iter().zip(&d[..n - 3]).filter(|(a, b)| a.is_finite() && b.is_finite()).map(|(&a, &b)| (a, b)).collect();
        assert_eq!(s.finite, finite.len());
        assert_eq!(s.skipped, n - 3 - finite.len());
        assert_eq!(s.every, finite.len().div_ceil(MAX_SCATTER_POINTS));
        assert_eq!(s.every, 3);
        let expected: Vec<(f32, f32)> = finite.iter().copied().step_by(3).collect();
        assert_eq!(s.points, expected);
        assert!(s.points.len() <= MAX_SCATTER_POINTS);
        // Small: every pair.
        let s = scatter_sample(&[1.0, 2.0], &[1.5, 2.5]);
        assert_eq!((s.points, s.every, s.finite, s.skipped), (vec![(1.0, 1.5), (2.0, 2.5)], 1, 2, 0));
    }

    /// Errors against each value's own slice's bound: 0.3 is past s/2 = 0.05 in slice 0 but not
    /// past s/2 = 0.5 in slice 1.
    error_histogram_counts_values_beyond_their_own_bound {
        let x = [0.0, 1.0, 2.0, 3.0, 4.0, f32::NAN];
        let d = [0.3, 1.0, 2.3, 3.0, 1.5, 0.0];
        let scale_of = |i: usize| if i < 2 { 0.1 } else if i < 4 { 1.0 } else { f32::NAN };
        let e = error_histogram(&x, &d, scale_of);
        assert_eq!((e.count, e.skipped, e.beyond), (5, 1, 1));
        assert_eq!(e.half_step, Some((0.1f32 as f64 / 2.0, 0.5)));
        let h = e.bins.unwrap();
        // Symmetric around 0, 10 % past the largest |e| = 2.5: [−2.75, 2.75] in 8 bins.
        assert!((h.hi - 2.75).abs() < 1e-12 && h.lo == -h.hi, "{h:?}");
        assert_eq!(h.bins(), 8);
        assert_eq!(h.counts[0], 1.0, "−2.5 in the first bin: {h:?}");
        assert_eq!(h.counts.iter().sum::<f64>(), 5.0);
        // No error at all: a small range around 0; no scale: no bound and no count beyond it.
        let e = error_histogram(&[2.0; 4], &[2.0; 4], |_| 0.0);
        assert_eq!((e.count, e.beyond, e.half_step), (4, 0, None));
        assert!(e.bins.unwrap().hi > 0.0);
        let e = error_histogram(&[], &[], |_| 0.1);
        assert_eq!((e.bins, e.count), (None, 0));
    }

    /// Up to 1,024 slices one bar each; past it, runs of ⌈n / 1024⌉ slices with their smallest and
    /// largest finite s and Z, as a plain loop finds them.
    slice_strip_bins_runs_of_slices {
        let s = slice_strip(&[0.5, f32::NAN, 0.25], &[3, -1, 7, 9]);
        assert_eq!((s.per_bar, s.slices, s.skipped), (1, 3, 1));
        assert_eq!(s.scales, vec![Some((0.5, 0.5)), None, Some((0.25, 0.25))]);
        assert_eq!(s.zero_points, vec![(3, 3), (-1, -1), (7, 7)]);
        let n = 2050;
        let scales: Vec<f32> = (0..n).map(|i| if i % 7 == 0 { f32::INFINITY } else { (i * 13 % 31) as f32 / 8.0 }).collect();
        let zeros: Vec<i32> = (0..n).map(|i| (i * 5 % 17) as i32 - 8).collect();
        let s = slice_strip(&scales, &zeros);
        assert_eq!((s.per_bar, s.scales.len(), s.zero_points.len()), (3, 684, 684));
        assert!(s.scales.len() <= MAX_STRIP_BARS);
        assert_eq!(s.skipped, scales.iter().filter(|v| !v.is_finite()).count());
        for b in 0..684 {
            let run = b * 3..((b + 1) * 3).min(n);
            let finite: Vec<f32> = scales[run.clone()].iter().copied().filter(|v| v.is_finite()).collect();
            let expect = (!finite.is_empty()).then(|| (finite.iter().copied().fold(f32::MAX, f32::min), finite.iter().copied().fold(f32::MIN, f32::max)));
            assert_eq!(s.scales[b], expect, "bar {b}");
            assert_eq!(s.zero_points[b], (*zeros[run.clone()].iter().min().unwrap(), *zeros[run].iter().max().unwrap()), "bar {b}");
        }
        assert_eq!(slice_strip(&[], &[]).scales, Vec::new());
    }

    /// The view of a per-channel tensor: its charts are what the functions give on its values,
    /// and its error histogram finds no value past its own channel's bound (MinMax never clamps).
    a_views_charts_are_its_values_binned {
        let values: Vec<f32> = (0..64 * 32).map(|i| ((i * 37 % 101) as f32 - 50.0) * (1.0 + (i / 32) as f32)).collect();
        let t = Tensor { shape: vec![64, 32], values };
        let s = TensorSettings { granularity: Granularity::PerChannel { axis: 0 }, ..TensorSettings::default() };
        let v = TensorView::derive(&s, Some(("t", &t))).unwrap();
        let c = &v.charts;
        let g = GranularQuantized { scheme: s.scheme(), calibration: s.calibration, layout: (*v.layout).clone(), slices: (*v.slices).clone(), q: (*v.q).clone(), dequant: (*v.dequant).clone() };
        assert_eq!(*c, std::rc::Rc::new(TensorCharts::of(&v.x, &g, v.outcomes.as_ref().ok().map(|o| o.as_slice()))));
        assert_eq!(c.scatter.points.len(), 2048);
        assert_eq!(c.errors.beyond, 0);
        let (a, b) = c.errors.half_step.unwrap();
        assert!(b > 10.0 * a, "64 channels of growing range: {a} … {b}");
        assert!(c.calibrators.is_some());
        assert_eq!(c.grid.bins.as_ref().unwrap().counts.iter().sum::<f64>(), 2048.0);
    }
}

both! {
    /// Why the page cannot show a tensor names it, with its control and right-to-left
    /// characters shown as U+FFFD and a long name cut (a file's names are anyone's).
    a_refused_tensor_is_named_safely {
        use qplay::experiment::tensor_view::page_can_take;
        let nan = Tensor { shape: vec![2], values: vec![1.0, f32::NAN] };
        let e = page_can_take("w\u{202E}yp.exe\u{7}", &nan).unwrap_err();
        assert!(e.starts_with("w\u{FFFD}yp.exe\u{FFFD}: "), "{e}");
        let e = page_can_take(&"n".repeat(10_000), &Tensor { shape: vec![0], values: vec![] }).unwrap_err();
        assert!(e.starts_with(&format!("{}… is empty", "n".repeat(120))), "{}", &e[..200]);
        assert!(page_can_take("ok", &Tensor { shape: vec![1], values: vec![1.0] }).is_ok());
    }

    /// A file opens on the largest tensor the page can show (the first of equals), with why it
    /// cannot show each other; when it can show none, the message gives the reasons of the
    /// three largest and counts the rest.
    a_file_opens_on_the_largest_tensor_shown_or_says_why_none_is {
        use qplay::experiment::tensor_view::page_choice;
        let t = |values: Vec<f32>| Tensor { shape: vec![values.len()], values };
        let nan = |n: usize| t([f32::NAN].repeat(n));
        let file = vec![("a".to_string(), t(vec![1.0; 3])), ("big_nan".into(), nan(9)), ("b".into(), t(vec![2.0; 5])), ("c".into(), t(vec![3.0; 5]))];
        let (chosen, cannot) = page_choice(&file).unwrap();
        assert_eq!(chosen, 2, "the largest shown, the first of equals");
        assert_eq!(cannot.iter().map(Option::is_some).collect::<Vec<_>>(), [false, true, false, false]);
        assert!(cannot[1].as_deref().unwrap().starts_with("big_nan: "), "{:?}", cannot[1]);
        // None shown: the three largest named, largest first, then the count of the others.
        let bad = vec![("e".to_string(), t(vec![])), ("n2".into(), nan(2)), ("n7".into(), nan(7)), ("n5".into(), nan(5)), ("n1".into(), nan(1))];
        let e = page_choice(&bad).unwrap_err();
        let names: Vec<&str> = e.split("; ").map(|w| w.split(':').next().unwrap()).collect();
        assert_eq!(names, ["n7", "n5", "n2", "and 2 more tensors the page cannot show"], "{e}");
        let one = page_choice(&bad[..1]).unwrap_err();
        assert!(one.starts_with("e is empty") && !one.contains("more"), "{one}");
        assert_eq!(page_choice(&[]).unwrap_err(), "the file holds no tensor");
    }
}

/// The most the page takes (2048 × 2048): the charts are a few kilobytes of JSON whatever the
/// size, round-trip equal, and the scatter keeps at most 20 000 points.
#[test]
fn a_4_mi_value_views_charts_travel_as_a_few_kilobytes() {
    use qplay::experiment::tensor_view::SHOWN_SLICES;
    let values: Vec<f32> = (0..1usize << 22).map(|i| ((i as f32 * 0.754_877_7).sin() * 3.0) + if i % 99_991 == 0 { 40.0 } else { 0.0 }).collect();
    let t = Tensor { shape: vec![2048, 2048], values };
    let v = TensorView::derive(&TensorSettings { bits: 3, ..TensorSettings::default() }, Some(("wide", &t))).unwrap();
    let json = serde_json::to_string(&*v.charts).unwrap();
    assert!(json.len() < 1_000_000, "{} bytes of chart JSON", json.len());
    let back: TensorCharts = serde_json::from_str(&json).unwrap();
    assert_eq!(back, *v.charts);
    assert_eq!(v.charts.scatter.every, 210); // ⌈4 194 304 / 20 000⌉, as the page's title says
    assert!(v.charts.scatter.points.len() <= MAX_SCATTER_POINTS);
    assert_eq!(v.charts.grid.bins.as_ref().unwrap().counts.iter().sum::<f64>(), (1u64 << 22) as f64);
    assert_eq!(v.outside_range, 0);
    // In groups of 4 along the rows: 1,048,576 slices, of which the first 256 travel, and a strip
    // of 1,024 bars.
    let s = TensorSettings { bits: 3, granularity: qplay::quant::Granularity::PerGroup { axis: 1, group_size: 4 }, ..TensorSettings::default() };
    let v = TensorView::derive(&s, Some(("wide", &t))).unwrap();
    assert_eq!((v.slice_count, v.charts.strip.scales.len(), v.charts.strip.per_bar), (1 << 20, MAX_STRIP_BARS, 1024));
    let (parts, bytes) = v.to_parts();
    let json = serde_json::to_string(&parts).unwrap();
    assert!(json.len() < 1_000_000, "{} bytes of view JSON", json.len());
    let back = TensorView::from_parts(serde_json::from_str(&json).unwrap(), &bytes).unwrap();
    assert_eq!((back.values, back.slice_count, back.slices.len()), (1 << 22, 1 << 20, SHOWN_SLICES));
    assert_eq!(back.slices[..], v.slices[..SHOWN_SLICES]);
    assert_eq!(back.charts, v.charts);
    // Parts that do not hold the slices they announce are refused by name.
    let e = TensorView::from_parts(qplay::experiment::tensor_view::TensorViewParts { slice_count: 1 << 19, ..parts.clone() }, &bytes).unwrap_err();
    assert!(e.contains("slices"), "{e}");
    let e = TensorView::from_parts(qplay::experiment::tensor_view::TensorViewParts { slices: Vec::new(), ..parts }, &bytes).unwrap_err();
    assert!(e.contains("slices"), "{e}");
}
