//! Share links and text parsing: a link always reads back to the same
//! settings, and a hand-edited one never fails, only notices.

use qplay::examples::LAB_CLIP;
use qplay::parse::{format_rows, parse_at_most, parse_numbers, ParseError};
use qplay::generate::Distribution;
use qplay::quant::calibration::Calibration;
use qplay::quant::{Granularity, Method, Rounding};
use qplay::ptq::WeightGranularity;
use qplay::share::Generator;
use qplay::share::{calibration_param, linked_tensor, TensorSettings, MAX_LINK_VALUES};


both! {
    the_outlier_example_starts_at_its_own_shape_and_keeps_a_shape_the_user_set {
        // 128 × 256: enough values for the default percentile to leave its two outliers out.
        let (s, notices) = TensorSettings::from_hash("#/tensor?gen=with_outliers");
        assert!(notices.is_empty(), "{notices:?}");
        let g = s.generator.unwrap();
        assert_eq!((g.distribution.name(), g.rows, g.cols), ("with_outliers", 128, 256));
        let (s, _) = TensorSettings::from_hash("#/tensor?gen=with_outliers&shape=16,64");
        assert_eq!(s.generator.map(|g| (g.rows, g.cols)), Some((16, 64)));
        // Switching: an untouched example shape follows the distribution; a set one stays.
        let normal = Distribution::examples()[0];
        let outliers = Distribution::examples()[4];
        let fresh = Generator::switched(None, normal);
        assert_eq!((fresh.rows, fresh.cols), (16, 64));
        let g = Generator::switched(Some(fresh), outliers);
        assert_eq!((g.rows, g.cols), (128, 256));
        assert_eq!(Generator::switched(Some(g), normal).rows, 16);
        let set = Generator { rows: 8, ..fresh };
        assert_eq!(Generator::switched(Some(set), outliers).rows, 8);
    }

    settings_round_trip_through_the_hash {
        let s = TensorSettings { method: Method::Clip, bits: 5, text: "1.4243, -0.7382\n3e-3".into(), ..Default::default() };
        let hash = s.to_hash();
        assert_eq!(hash, "#/tensor?method=clip&bits=5&x=1.4243%2C-0.7382%2C0.003");
        let (back, notices) = TensorSettings::from_hash(&hash);
        assert!(notices.is_empty(), "{notices:?}");
        assert_eq!((back.method, back.bits), (Method::Clip, 5));
        assert_eq!(parse_numbers(&back.text).unwrap().values, vec![1.4243, -0.7382, 0.003]);
    }

    every_setting_round_trips {
        let s = TensorSettings {
            method: Method::Clip,
            bits: 16,
            signed: false,
            symmetric: true,
            narrow_range: true,
            rounding: Rounding::Stochastic { seed: 0 },
            seed: 42,
            range: Some((-0.5, 2.25)),
            granularity: Granularity::PerGroup { axis: 1, group_size: 8 },
            calibration: Calibration::Percentile { percentile: 99.5 },
            generator: Some(Generator { distribution: Distribution::Laplace { mean: 0.0, scale: 1.0 }, rows: 4, cols: 32 }),
            text: "1, 2, 3".into(),
        };
        let hash = s.to_hash();
        assert_eq!(hash, "#/tensor?method=clip&bits=16&signed=0&sym=1&narrow=1&round=stochastic&seed=42&range=-0.5%2C2.25\
            &gran=per_group&axis=1&group=8&calib=percentile&cparam=99.5&gen=laplace&shape=4%2C32&x=1%2C2%2C3");
        let (back, notices) = TensorSettings::from_hash(&hash);
        assert!(notices.is_empty(), "{notices:?}");
        assert_eq!(back, s);
        assert_eq!(back.scheme().rounding, Rounding::Stochastic { seed: 42 });
        // Keys apply in the table's order, whatever their order in the link.
        let shuffled = "#/tensor?x=1,2,3&shape=4,32&gen=laplace&cparam=99.5&calib=percentile&group=8&axis=1&gran=per_group\
            &range=-0.5,2.25&seed=42&round=stochastic&narrow=1&sym=1&signed=0&bits=16&method=clip";
        let (again, notices) = TensorSettings::from_hash(shuffled);
        assert!(notices.is_empty(), "{notices:?}");
        assert_eq!(again, s);
        // Defaults are left out of the link.
        assert_eq!(TensorSettings::default().to_hash().matches('&').count(), 2);
    }

    empty_hash_gives_defaults_silently {
        for h in ["", "#", "#/", "#/tensor"] {
            let (s, notices) = TensorSettings::from_hash(h);
            assert_eq!(s, TensorSettings::default());
            assert!(notices.is_empty(), "{h}: {notices:?}");
        }
    }

    bad_values_are_ignored_with_a_notice_each {
        let (s, notices) = TensorSettings::from_hash("#/tensor?method=CLIP&bits=0&x=1,nan&zz=1&bits=17&method=clip");
        assert_eq!(s.method, Method::Clip, "a later valid value still applies");
        assert_eq!(s.bits, 8);
        assert_eq!(s.text, TensorSettings::default().text);
        // 5 bad values and keys, and the two keys given twice (once each).
        assert_eq!(notices.len(), 7, "{notices:?}");
        for key in ["method", "bits"] {
            assert_eq!(notices.iter().filter(|n| n.contains(&format!("\"{key}\" is given more than once"))).count(), 1, "{notices:?}");
        }
        let (s, notices) = TensorSettings::from_hash("#/tensor?bits=4&bits=6&bits=5&lock=bits&lock=x");
        assert_eq!((s.bits, notices.len()), (5, 1), "{notices:?}");
        assert!(notices[0].contains("\"bits\" is given more than once in the link: the last value that reads counts"), "{notices:?}");
        // A later value that does not read leaves the earlier one, and the notices say both.
        let (s, notices) = TensorSettings::from_hash("#/tensor?bits=4&bits=99");
        assert_eq!(s.bits, 4);
        assert!(notices.iter().any(|n| n.contains("the last value that reads counts")) && notices.iter().any(|n| n.contains("bits \"99\"")), "{notices:?}");
        let (_, notices) = TensorSettings::from_hash("#/tensor?method=CLIP&bits=0&x=1,nan&zz=1&bits=17&method=clip");
        assert!(notices.iter().any(|n| n.contains("unknown key \"zz\"")));
        assert!(notices.iter().any(|n| n.contains("value #2 is nan")));
        // An unknown key given several times is named once.
        let (_, notices) = TensorSettings::from_hash("#/tensor?&&&=&==&zz=1&zz=2");
        assert_eq!(notices, ["Ignored unknown key \"\" in the link.", "Ignored unknown key \"zz\" in the link."]);
        // A right-to-left override in a key or value does not turn the notice around: shown as U+FFFD.
        let (_, notices) = TensorSettings::from_hash("#/tensor?%E2%80%AEzz=1&bits=%E2%80%AE4");
        assert!(notices.iter().all(|n| !n.contains('\u{202E}')), "{notices:?}");
        assert!(notices.iter().any(|n| n.contains("\u{FFFD}zz")), "{notices:?}");
        assert_eq!(qplay::clip::clip("ab\u{2066}c\0d", 3), "ab\u{FFFD}…");
        assert_eq!(qplay::clip::clip(&"x".repeat(5), 5), "xxxxx");
        // Three numbers for a range are not a non-finite number.
        let (s, notices) = TensorSettings::from_hash("#/tensor?range=1,2,3");
        assert!(s.range.is_none() && notices.iter().any(|n| n.contains("range") && n.contains("use two numbers α,β")), "{notices:?}");
    }

    hostile_hashes_never_panic {
        let long = format!("#/tensor?x={}", "9,".repeat(20_000));
        let huge_tensor = format!("#/tensor?x={}", vec!["1"; MAX_LINK_VALUES + 1].join(","));
        for h in ["#%", "#?&&==&", "#/tensor?x=%FF%FE", "#/tensor?bits=99999999999999999999", &long, &huge_tensor,
                  "#/tensor?x=1e39", "#/tensor?<script>=alert(1)", "#/tensor?range=2,1", "#/tensor?range=nan,1",
                  "#/tensor?sym=yes", "#/tensor?round=up", "#/tensor?seed=-1", "#/tensor?gran=per_row",
                  "#/tensor?calib=percentile&cparam=101", "#/tensor?calib=kl&cparam=1e40", "#/tensor?gen=cauchy",
                  "#/tensor?gen=normal&shape=0,5", "#/tensor?gen=normal&shape=2000,2000", "#/tensor?shape=3,3", "#/tensor?axis=7"] {
            let (s, notices) = TensorSettings::from_hash(h);
            assert!(!notices.is_empty(), "{h} should give a notice");
            assert_eq!(s.bits, 8);
        }
        // A number past f64 is named as one; a word as not a number.
        let (_, notices) = TensorSettings::from_hash("#/tensor?calib=kl&cparam=1e400");
        assert!(notices.iter().any(|n| n.contains("1e400 is beyond f64's range")), "{notices:?}");
        let (_, notices) = TensorSettings::from_hash("#/tensor?calib=kl&cparam=inf");
        assert!(notices.iter().any(|n| n.contains("use a finite number")), "{notices:?}");
    }

    /// A link too long to read shows the defaults, and so does not lock them: its hide / lock go,
    /// with a notice when it had any.
    a_link_too_long_to_read_takes_its_locks_with_it {
        use qplay::share::view::{set_aside, split_view};
        let pad = "A".repeat(20_000);
        let (short, long) = ("#/tensor?bits=4&lock=bits".to_string(), format!("#/tensor?bits=4&lock=bits&pad={pad}"));
        assert!(!qplay::share::tensor::too_long(&short) && qplay::share::tensor::too_long(&long));
        assert_eq!(TensorSettings::from_hash(&long).0.bits, 8, "the defaults are shown");
        let q = format!("ptq.weight_bits=4&lock=ptq.weight_bits&pad={}", "A".repeat(40_000));
        let (mut view, rest) = split_view(&q);
        assert!(qplay::share::experiment::too_long(&rest) && !qplay::share::experiment::too_long("ptq.weight_bits=4"));
        assert!(view.is_locked("ptq.weight_bits"));
        let notice = set_aside(&mut view).expect("a lock was set aside");
        assert!(notice.contains("hide= / lock= were not applied either"), "{notice}");
        assert!(!view.is_set());
        assert_eq!(set_aside(&mut view), None, "nothing to say without a lock");
    }

    large_tensors_stay_out_of_the_link {
        let text = vec!["0.5"; MAX_LINK_VALUES + 1].join(" ");
        let s = TensorSettings { text, ..TensorSettings::default() };
        assert!(!s.to_hash().contains("x="));
    }

    parse_accepts_the_usual_separators_and_printed_tensors {
        let p = parse_numbers("tensor([ 1.4243, -0.7382, -1.0199,  0.6312, -0.4644, -1.2151,  1.1037,  0.2785])").unwrap();
        assert_eq!(p.values, LAB_CLIP.to_vec());
        assert_eq!(parse_numbers("1 2;3\t4").unwrap().values, vec![1.0, 2.0, 3.0, 4.0]);
        assert_eq!(parse_numbers("[[1, 2, 3],\n [4, 5, 6]]").unwrap().shape, vec![2, 3]);
        assert_eq!(parse_numbers("1 2\n3").unwrap().shape, vec![3]);
    }

    nested_brackets_make_rows {
        let p = parse_numbers("[[1,2],[3,4]]").unwrap();
        assert_eq!((p.values, p.shape, p.notice), (vec![1.0, 2.0, 3.0, 4.0], vec![2, 2], None));
        // PyTorch's and NumPy's 2-D prints, with their keyword arguments.
        assert_eq!(parse_numbers("tensor([[1., 2.],\n        [3., 4.]])").unwrap().shape, vec![2, 2]);
        assert_eq!(parse_numbers("tensor([[1., 2.],\n [3., 4.]], dtype=torch.float16)").unwrap().shape, vec![2, 2]);
        assert_eq!(parse_numbers("array([[1., 2., 3.],\n       [4., 5., 6.]], dtype=float32)").unwrap().shape, vec![2, 3]);
        // A row that NumPy wraps over two lines is still one row: the brackets decide, not the lines.
        let p = parse_numbers("[[0.1 0.2 0.3\n  0.4]\n [0.5 0.6 0.7\n  0.8]]").unwrap();
        assert_eq!((p.shape, p.values[4]), (vec![2, 4], 0.5));
        assert_eq!(parse_numbers("[[7, 8]]").unwrap().shape, vec![1, 2], "[[…]] is 2-D with one row");
        // One group is 1-D even over lines of equal length (a wrapped print); several groups are rows.
        assert_eq!(parse_numbers("[1 2\n 3 4]").unwrap().shape, vec![4]);
        assert_eq!(parse_numbers("[1, 2]\n[3, 4]\n[5, 6]").unwrap().shape, vec![3, 2]);
    }

    a_bounded_parse_stops_at_its_limit {
        // 257 values, then text that is not a number: the full parse reads to the end and names
        // it; the link's parse stops at value 257 without reading further.
        let text = format!("{} oops", vec!["1"; MAX_LINK_VALUES + 1].join(" "));
        assert_eq!(parse_numbers(&text), Err(ParseError::NotANumber { index: MAX_LINK_VALUES + 2, token: "oops".into() }));
        assert_eq!(parse_at_most(&text, MAX_LINK_VALUES), Err(ParseError::TooMany { limit: MAX_LINK_VALUES }));
        assert_eq!(linked_tensor(&text), None);
        // At the limit, the same answer as the full parse, shape included.
        let rows = format!("[{}]", vec!["[1, 2]"; MAX_LINK_VALUES / 2].join(", "));
        assert_eq!(parse_at_most(&rows, MAX_LINK_VALUES), parse_numbers(&rows));
        assert_eq!(linked_tensor(&rows).unwrap().shape, vec![MAX_LINK_VALUES / 2, 2]);
        // A limit past the parser's own is the parser's own.
        assert_eq!(parse_at_most("1 2", usize::MAX), parse_numbers("1 2"));
    }

    ragged_rows_and_deeper_nesting_are_errors_that_say_what_is_read {
        let e = parse_numbers("[[1,2],[3]]").unwrap_err();
        assert_eq!(e, ParseError::Ragged { row: 2, len: 1, first: 2 });
        assert!(e.to_string().starts_with("row #2 has 1 value, row #1 has 2"), "{e}");
        let e = parse_numbers("[[1], [2], [3, 4, 5], [6]]").unwrap_err();
        assert!(e.to_string().starts_with("row #3 has 3 values, row #1 has 1"), "the first long row: {e}");
        assert_eq!(parse_numbers("[1 2 3]\n[4 5]"), Err(ParseError::Ragged { row: 2, len: 2, first: 3 }));
        assert_eq!(parse_numbers("[[1, 2], []]"), Err(ParseError::Ragged { row: 2, len: 0, first: 2 }));
        let e = parse_numbers("[[[1, 2]], [[3, 4]]]").unwrap_err();
        assert_eq!(e, ParseError::TooDeep);
        assert!(e.to_string().contains("only 1-D ([1, 2]) and 2-D ([[1, 2], [3, 4]])") && e.to_string().contains(".npy"), "{e}");
        assert_eq!(parse_numbers("[[1, 2]] [[3, 4]]"), Err(ParseError::Stacked));
        assert_eq!(parse_numbers("[[1, 2], 3]"), Err(ParseError::OutsideRow { index: 3 }));
        assert_eq!(parse_numbers("0 [1 2]\n[3 4]"), Err(ParseError::OutsideRow { index: 1 }));
        assert_eq!(parse_numbers("[[1, 2], [3, 4]"), Err(ParseError::Unbalanced { open: true }));
        assert_eq!(parse_numbers("1, 2]"), Err(ParseError::Unbalanced { open: false }));
        assert_eq!(parse_numbers("[[]]"), Err(ParseError::Empty));
        // An empty field would move every later value one place: it is named, not skipped.
        let e = parse_numbers("1,,2").unwrap_err();
        assert_eq!(e, ParseError::Missing { index: 2 });
        assert!(e.to_string().starts_with("value #2 is missing"), "{e}");
        assert_eq!(parse_numbers("1, 2, ;3"), Err(ParseError::Missing { index: 3 }));
        assert_eq!(parse_numbers("[[1, 2], [3, , 4]]"), Err(ParseError::Missing { index: 4 }));
        assert_eq!(parse_numbers("1,2\n3,,4"), Err(ParseError::Missing { index: 4 }));
        // Trailing commas (Python lists, CSV lines) and commas between rows stay allowed.
        assert_eq!(parse_numbers("[1, 2,]").unwrap().values, vec![1.0, 2.0]);
        assert_eq!(parse_numbers("1,2,\n3,4,\n").unwrap().shape, vec![2, 2]);
        assert_eq!(parse_numbers("[[1, 2], [3, 4]]").unwrap().shape, vec![2, 2]);
        assert_eq!(parse_numbers("1 , 2 ,\t3").unwrap().values, vec![1.0, 2.0, 3.0]);
        // Value errors still count values from 1 across rows.
        assert_eq!(parse_numbers("[[1, 2], [3, x]]"), Err(ParseError::NotANumber { index: 4, token: "x".into() }));
    }

    plain_lines_of_unequal_length_stay_one_row_and_say_so {
        // A printed 1-D tensor wraps with a shorter last line: still 1-D.
        let p = parse_numbers("0.1 0.2 0.3\n0.4 0.5 0.6\n0.7").unwrap();
        assert_eq!(p.shape, vec![7]);
        let notice = p.notice.expect("a notice");
        assert!(notice.contains("Line 3 has 1 value, line 1 has 3") && notice.contains("one row of 7 values"), "{notice}");
        let p = parse_numbers("\n1 2\n\n3 4\n").unwrap();
        assert_eq!((p.shape, p.notice), (vec![2, 2], None), "blank lines are not rows");
        assert_eq!(parse_numbers("1 2 3").unwrap().notice, None);
    }

    format_rows_reads_back_with_its_shape {
        for (values, shape) in [(vec![1.0, 2.0, 3.0, 4.0], vec![2, 2]), (vec![1.0, 2.0, 3.0], vec![1, 3]), (vec![1.0, 2.0, 3.0], vec![3, 1]), (vec![0.1, -2.5], vec![2])] {
            let text = format_rows(&values, &shape);
            let p = parse_numbers(&text).unwrap();
            assert_eq!((p.values, p.shape), (values, shape), "{text}");
        }
    }

    a_typed_2d_tensor_keeps_its_shape_in_the_link {
        let s = TensorSettings { granularity: Granularity::PerChannel { axis: 0 }, text: "1 2\n3 4".into(), ..Default::default() };
        let hash = s.to_hash();
        assert_eq!(hash, "#/tensor?method=normal&bits=8&gran=per_channel&shape=2%2C2&x=1%2C2%2C3%2C4");
        let (back, notices) = TensorSettings::from_hash(&hash);
        assert!(notices.is_empty(), "{notices:?}");
        assert_eq!(parse_numbers(&back.text).unwrap().shape, vec![2, 2]);
        assert_eq!(back.to_hash(), hash, "the link round-trips");
        // One row given as [[…]] stays 2-D too.
        let s = TensorSettings { text: "[[1, 2, 3]]".into(), ..Default::default() };
        let (back, notices) = TensorSettings::from_hash(&s.to_hash());
        assert!(notices.is_empty() && s.to_hash().contains("shape=1%2C3"), "{notices:?} {}", s.to_hash());
        assert_eq!(parse_numbers(&back.text).unwrap().shape, vec![1, 3]);
        // A shape that does not hold x's values: a notice naming both, and x stays 1-D.
        let (back, notices) = TensorSettings::from_hash("#/tensor?x=1,2,3,4&shape=3,3");
        assert_eq!(notices, vec!["Ignored shape \"3,3\" in the link: it holds 9 values, the tensor x has 4.".to_string()]);
        assert_eq!(parse_numbers(&back.text).unwrap().shape, vec![4]);
        // With a generator the shape is the generator's, and x travels flat.
        let (back, notices) = TensorSettings::from_hash("#/tensor?gen=normal&shape=2,3&x=1,2,3,4");
        assert!(notices.is_empty(), "{notices:?}");
        assert_eq!(back.generator.map(|g| (g.rows, g.cols)), Some((2, 3)));
        assert_eq!(parse_numbers(&back.text).unwrap().shape, vec![4]);
        // Without either, a shape means nothing.
        let (_, notices) = TensorSettings::from_hash("#/tensor?shape=2,2");
        assert!(notices.len() == 1 && notices[0].contains("needs gen=… or the tensor x=…"), "{notices:?}");
    }

    the_calibration_setting_is_the_shortest_text_of_its_f32 {
        let text = |c| calibration_param(&c).unwrap();
        assert_eq!(text(Calibration::default_for(qplay::quant::calibration::CalibrationKind::Percentile)), "99.99");
        assert_eq!(text(Calibration::default_for(qplay::quant::calibration::CalibrationKind::RemovalOutlier)), "0.0001");
        assert_eq!(text(Calibration::default_for(qplay::quant::calibration::CalibrationKind::MovingAverageMinMax)), "0.01");
        assert_eq!(text(Calibration::Kl { bins: 2048 }), "2048");
        // The link writes it so too, and reads it back to the same f32.
        let s = TensorSettings { calibration: Calibration::Percentile { percentile: 99.9 }, ..Default::default() };
        assert!(s.to_hash().contains("cparam=99.9&"), "{}", s.to_hash());
        assert_eq!(TensorSettings::from_hash(&s.to_hash()).0, s);
    }

    parse_errors_name_the_value {
        assert_eq!(parse_numbers("  \n ,, "), Err(ParseError::Empty));
        assert_eq!(parse_numbers("1, x2"), Err(ParseError::NotANumber { index: 2, token: "x2".into() }));
        assert_eq!(parse_numbers("1 -inf"), Err(ParseError::NonFinite { index: 2, token: "-inf".into() }));
        assert!(matches!(parse_numbers("1e39"), Err(ParseError::NonFinite { index: 1, .. })), "f32 overflow is Inf");
        assert_eq!(parse_numbers("NaN").unwrap_err().to_string(), "value #1 is NaN: only finite numbers can be quantized");
        // Finite, but past f32 (where it reads as ∞): said so, not called infinite.
        assert_eq!(parse_numbers("1, -1e40").unwrap_err().to_string(), "value #2 is -1e40: beyond the range of f32 (±3.4e38), the type every value is held in");
    }
}

// ---------------------------------------------------------------- experiment links (issue 11)

use qplay::share::experiment::{from_query, to_query, MAX_KEYS as MAX_EXPERIMENT_KEYS};

/// Milliseconds since some fixed moment: the wall clock natively, `Date.now()` in the browser.
fn now_ms() -> f64 {
    #[cfg(target_arch = "wasm32")]
    return js_sys::Date::now();
    #[cfg(not(target_arch = "wasm32"))]
    return std::time::UNIX_EPOCH.elapsed().unwrap().as_secs_f64() * 1e3;
}

both! {
    experiment_link_notices_name_each_bad_key_and_its_reason {
        // Two bad values and an unknown key: each notice names its own key; the good keys apply.
        let (exp, notices) = from_query("ptq.weight_bits=4&ptq.act_bits=abc&zz=1&ptq.mode=half&seed=7&ptq.layer_bits.nn1=99");
        assert_eq!((exp.ptq.weight_bits, exp.seed, exp.ptq.act_bits), (4, 7, 8), "{notices:?}");
        assert_eq!(notices.len(), 4, "{notices:?}");
        assert!(notices.iter().any(|n| n.contains("\"ptq.act_bits\"") && n.contains("abc")), "{notices:?}");
        assert!(notices.iter().any(|n| n.contains("\"zz\"") && n.contains("not a setting")), "{notices:?}");
        assert!(notices.iter().any(|n| n.contains("\"ptq.mode\"") && n.contains("half")), "{notices:?}");
        assert!(notices.iter().any(|n| n.contains("ptq.layer_bits.nn1") && n.contains("99 bits")), "{notices:?}");
        // Keys that are no setting: one notice per reason, each key named once, in link order.
        let (exp, notices) = from_query("zz=1&ptq=3&ptq.weight_bits=4&yy=2&zz=5&ptq.rounding=floor&a..b=1");
        assert_eq!(exp.ptq.weight_bits, 4);
        assert_eq!(exp.ptq.rounding, Rounding::Floor);
        assert_eq!(&notices[..2], [
            "Ignored the keys \"zz\", \"yy\", \"a..b\" in the link: they are not settings.".to_string(),
            "Ignored the key \"ptq\" in the link: it names a group of settings, not one setting.".to_string(),
        ], "{notices:?}");
        // serde's wording becomes the link's: the value as written and what was expected.
        let (_, notices) = from_query("ptq.act_bits=abc&ptq.mode=half&ptq.granularity.kind=per_group&ptq.granularity.group_size=-4");
        let text = notices.join(" | ");
        assert!(text.contains("\"abc\" is not a whole number"), "{text}");
        assert!(text.contains("\"half\" is not a choice: use "), "{text}");
        // A negative number for a count: the setting's own range where 0 is outside it too.
        assert!(text.contains("\"ptq.granularity.group_size\" in the link: -4 is below 1, the smallest group"), "{text}");
        assert!(!text.contains("usize") && !text.contains("u8") && !text.contains('`'), "{text}");
        // A whole number past the type is outside the setting's own range, not the type's (bits
        // are 1–16, not 0–255); a fraction is not a whole number.
        let (_, notices) = from_query("ptq.act_bits=300&eval_size=99999999999999999999&ptq.weight_bits=2.5");
        let text = notices.join(" | ");
        assert!(text.contains("\"ptq.act_bits\" in the link: 300 bits is outside 1–16"), "{text}");
        // Named as the link wrote it, not as serde prints the float it became (1e+20).
        assert!(text.contains("\"eval_size\" in the link: 99999999999999999999 images is more than the 10000 test images of fashion"), "{text}");
        assert!(text.contains("\"ptq.weight_bits\" in the link: 2.5 is not a whole number"), "{text}");
        assert!(!text.contains("255") && !text.contains("was expected"), "{text}");
        // -1 and 0 for a count of 1–100 get the same words; where the type's limit is the
        // setting's (a seed), that limit; a number beyond f64 is too large, not "not whole".
        for (query, said) in [
            ("qat.epochs=-1", "Ignored \"qat.epochs\" in the link: -1 is outside 1–100."),
            ("qat.epochs=0", "Ignored qat.epochs in the link: 0 is outside 1–100."),
            ("mixed_bit.max_bits=-3", "Ignored \"mixed_bit.max_bits\" in the link: -3 is outside 2–16."),
            ("mixed_bit.max_bits=1e400", "Ignored \"mixed_bit.max_bits\" in the link: 1e400 is outside 2–16."),
            ("seed=1e400", "Ignored \"seed\" in the link: 1e400 is too large: at most 18446744073709551615."),
            ("seed=18446744073709551616", "Ignored \"seed\" in the link: 18446744073709551616 is too large: at most 18446744073709551615."),
            ("ptq.rounding.stochastic.seed=1e400", "Ignored \"ptq.rounding.stochastic.seed\" in the link: 1e400 is too large: at most 18446744073709551615."),
            ("ptq.layer_bits.nn1=-1", "Ignored \"ptq.layer_bits.nn1\" in the link: -1 bits is outside 1–16."),
        ] {
            let (exp, notices) = from_query(query);
            assert_eq!(notices, [said], "{query}");
            assert_eq!(exp, qplay::experiment::Experiment::default(), "{query}");
        }
        // Within the type the serde reading stands (a seed of -1 is no seed at all).
        let (_, notices) = from_query("seed=-1");
        assert_eq!(notices, ["Ignored \"seed\" in the link: -1: a whole number, 0 or more was expected."]);
        // A number of 10,000 digits is named clipped.
        let (_, notices) = from_query(&format!("ptq.act_bits=1{}", "0".repeat(10_000)));
        assert!(notices[0].starts_with("Ignored \"ptq.act_bits\" in the link: 1000") && notices[0].contains("… bits is outside 1–16") && notices[0].len() < 200, "{notices:?}");
        // A number an f32 setting cannot hold is named as written, not as the ∞ or 0 it became;
        // one it holds keeps the check's own message, and the f64 setting is checked as it is.
        let (exp, notices) = from_query("qat.lr=1e308&mixed_bit.target_cosine=1e308");
        let text = notices.join(" | ");
        assert!(text.contains("Ignored qat.lr in the link: 1e308 is beyond the range of f32"), "{text}");
        assert!(!text.contains("inf"), "{text}");
        assert!(text.contains("mixed_bit.target_cosine in the link: 1e308 is outside (0, 1)"), "{text}");
        assert_eq!(exp.qat.lr, qplay::experiment::Experiment::default().qat.lr, "{text}");
        // A choice without the setting it needs: said in words, not serde's "missing field".
        let (_, notices) = from_query("ptq.granularity.kind=per_group");
        let text = notices.join(" | ");
        assert!(text.contains("\"ptq.granularity.kind\" in the link: this choice needs its group_size as well"), "{text}");
        assert!(!text.contains('`') && !text.contains("missing field"), "{text}");
        // More test images than the splits hold: named, not run as "all" behind the page's back.
        let (exp, notices) = from_query("eval_size=99999999");
        assert!(notices.join(" | ").contains("Ignored eval_size in the link: 99999999 images is more than the 10000 test images of fashion (0 = all of them)"), "{notices:?}");
        assert_eq!(exp.eval_size, 0);
        // MNIST's splits are smaller (8,000 and 2,000): a built-in model runs on its own dataset,
        // whose sizes the link is held to, whatever order the keys come in.
        for q in ["model=mlp-mnist&eval_size=5000", "eval_size=5000&model=mlp-mnist", "model=mlp-mnist&dataset=mnist&eval_size=5000"] {
            let (exp, notices) = from_query(q);
            assert_eq!(notices, vec!["Ignored eval_size in the link: 5000 images is more than the 2000 test images of mnist (0 = all of them)."], "{q}");
            assert_eq!((exp.model.as_str(), exp.dataset.as_str(), exp.eval_size), ("mlp-mnist", "mnist", 0), "{q}");
        }
        let (exp, notices) = from_query("model=mlp-mnist&calib_size=8100");
        assert_eq!(notices, vec!["Ignored calib_size in the link: 8100 images is more than the 8000 training images of mnist."]);
        assert_eq!(exp.calib_size, qplay::experiment::Experiment::default().calib_size);
        let (exp, notices) = from_query("model=mlp-mnist");
        assert!(notices.is_empty() && exp.dataset == "mnist", "{notices:?}");
        let (exp, notices) = from_query("model=mlp-mnist&dataset=fashion&eval_size=2000");
        assert_eq!(notices, vec!["Ignored dataset in the link: mlp-mnist is trained on mnist, and runs on it."]);
        assert_eq!((exp.dataset.as_str(), exp.eval_size), ("mnist", 2000));
        let (exp, notices) = from_query("dataset=mnist");
        assert_eq!(notices, vec!["Ignored dataset in the link: mlp-fashion is trained on fashion, and runs on it."]);
        assert_eq!(exp.dataset, "fashion");
        // The Lab picks its MLP by the dataset: there the link's dataset stands.
        let (exp, notices) = qplay::share::experiment::from_query_on("dataset=mnist&eval_size=2000", &qplay::experiment::Experiment::default());
        assert!(notices.is_empty(), "{notices:?}");
        assert_eq!((exp.dataset.as_str(), exp.eval_size), ("mnist", 2000));
        // Layers a built-in model does not have: dropped with a notice once its layers are known
        // (a link names layers before any model is loaded), the rest kept.
        let (mut exp, _) = from_query("ptq.skip=nn9,nn2&ptq.layer_bits.nn7=4&ptq.layer_bits.nn1=6");
        let layers = qplay::experiment::spec::builtin_architecture(&exp.model).quantizable();
        assert_eq!(layers, ["nn1", "nn2", "nn3"]);
        let dropped = qplay::share::experiment::drop_unknown_layers(&mut exp, &layers);
        assert_eq!(
            dropped,
            [
                "Ignored ptq.skip's \"nn9\" in the link: mlp-fashion has no quantizable layer \"nn9\" (its layers are nn1, nn2, nn3).",
                "Ignored ptq.layer_bits.nn7 in the link: mlp-fashion has no quantizable layer \"nn7\" (its layers are nn1, nn2, nn3)."
            ]
        );
        assert_eq!(exp.ptq.skip, ["nn2"]);
        // A name given many times is named once; several unknown names share one notice.
        let (mut many, _) = from_query(&format!("ptq.skip={}nn2", "x,".repeat(50)));
        assert_eq!(qplay::share::experiment::drop_unknown_layers(&mut many, &layers),
            ["Ignored ptq.skip's \"x\" in the link: mlp-fashion has no quantizable layer \"x\" (its layers are nn1, nn2, nn3)."]);
        let (mut many, _) = from_query("ptq.skip=a,b,a,nn1,c");
        assert_eq!(qplay::share::experiment::drop_unknown_layers(&mut many, &layers),
            ["Ignored ptq.skip's \"a\", \"b\", \"c\" in the link: mlp-fashion has no quantizable layers of these names (its layers are nn1, nn2, nn3)."]);
        assert_eq!(many.ptq.skip, ["nn1"]);
        assert_eq!(exp.ptq.layer_bits.iter().map(|(n, b)| (n.as_str(), *b)).collect::<Vec<_>>(), [("nn1", 6)]);
        exp.ptq.validate_for(&layers).unwrap();
        let mut fit = qplay::experiment::Experiment { dataset: "mnist".into(), eval_size: 9000, calib_size: 8192, ..Default::default() };
        fit.fit_sizes_to_dataset();
        assert_eq!((fit.eval_size, fit.calib_size), (2000, 8000));
        let (_, notices) = from_query("qat.lr=2");
        assert!(notices.join(" | ").contains("Ignored qat.lr in the link: 2 is outside (0, 1)"), "{notices:?}");
        // A whole number written as a float is that number, as in language-model links; then
        // its range is checked as any (qat.epochs=1e9 was told to write 1000000000 in digits,
        // which 1–100 refuses anyway).
        let (exp, notices) = from_query("ptq.weight_bits=8.0&seed=1e1&qat.epochs=1e9");
        assert_eq!((exp.ptq.weight_bits, exp.seed), (8, 10));
        assert_eq!(notices, ["Ignored qat.epochs in the link: 1000000000 is outside 1–100."]);
        // Past 2^53 an exponent form names no one integer: refused as the link wrote it.
        let (exp, notices) = from_query("seed=1e17&eval_size=-2.0");
        assert_eq!(exp.seed, qplay::experiment::Experiment::default().seed);
        let text = notices.join(" | ");
        assert!(text.contains("\"seed\" in the link: 1e17 is too large to read exactly in exponent form: write it in digits"), "{text}");
        assert!(text.contains("\"eval_size\" in the link: -2.0: a whole number, 0 or more was expected"), "{text}");
        // A choice with settings of its own, given as a bare name: the setting it needs is named.
        let (exp, notices) = from_query("ptq.rounding=stochastic&ptq.weight_bits=6");
        assert_eq!(exp.ptq.weight_bits, 6);
        assert_eq!(notices, ["Ignored \"ptq.rounding\" in the link: \"stochastic\" has settings of its own: write ptq.rounding.stochastic.seed=… instead."]);
        // So is a value given to the choice itself, not to its setting.
        for value in ["1", "true", "x"] {
            let (exp, notices) = from_query(&format!("ptq.rounding.stochastic={value}&ptq.weight_bits=6"));
            assert_eq!((exp.ptq.weight_bits, exp.ptq.rounding), (6, qplay::quant::Rounding::HalfEven));
            assert_eq!(notices, ["Ignored \"ptq.rounding.stochastic\" in the link: \"stochastic\" has settings of its own: write ptq.rounding.stochastic.seed=… instead."], "{value}");
        }
        let (exp, notices) = from_query("ptq.rounding.stochastic.seed=7");
        assert!(notices.is_empty(), "{notices:?}");
        assert_eq!(exp.ptq.rounding, qplay::quant::Rounding::Stochastic { seed: 7 });
        // A whole number in another form there too, though the default (half_even) has no seed to type it by.
        for seed in ["1e1", "10.0"] {
            let (exp, notices) = from_query(&format!("ptq.rounding.stochastic.seed={seed}"));
            assert!(notices.is_empty(), "{seed}: {notices:?}");
            assert_eq!(exp.ptq.rounding, qplay::quant::Rounding::Stochastic { seed: 10 });
        }
        // A key given twice: the last value counts, and a notice says so once.
        let (exp, notices) = from_query("ptq.weight_bits=4&ptq.weight_bits=8&ptq.weight_bits=2");
        assert_eq!(exp.ptq.weight_bits, 2);
        assert_eq!(notices, ["The key \"ptq.weight_bits\" is given more than once in the link: the last value counts."]);
        // A tagged setting travels as a group; an unknown field inside it is named, not ignored.
        let (exp, notices) = from_query("ptq.act_calibration.method=percentile&ptq.act_calibration.percentile=99.9");
        assert!(notices.is_empty(), "{notices:?}");
        assert_eq!(exp.ptq.act_calibration, Calibration::Percentile { percentile: 99.9 });
        let (exp, notices) = from_query("ptq.act_calibration.method=kl&ptq.act_calibration.bogus=1");
        assert_eq!(exp.ptq.act_calibration, Calibration::Kl { bins: 2048 }, "the method alone takes its default setting");
        assert!(notices.len() == 1 && notices[0].contains("ptq.act_calibration.bogus"), "{notices:?}");
        // Out of range: KL with 65,536 bins is named with the limit.
        let (exp, notices) = from_query("ptq.act_calibration.method=kl&ptq.act_calibration.bins=65536");
        assert_eq!(exp.ptq.act_calibration, Calibration::MinMax);
        assert!(notices.len() == 1 && notices[0].contains("ptq.act_calibration") && notices[0].contains("[128, 8192]"), "{notices:?}");
    }

    a_link_with_thousands_of_unknown_keys_decodes_in_linear_time {
        let time = |n: usize| {
            let q: String = (0..n).map(|i| format!("k{i}=1")).collect::<Vec<_>>().join("&");
            assert!(q.len() <= qplay::share::experiment::MAX_QUERY_LEN, "{}", q.len());
            let t = now_ms();
            let (exp, notices) = from_query(&q);
            let took = now_ms() - t;
            assert_eq!(exp, qplay::experiment::Experiment::default());
            // One notice for them all, eight named.
            let rest = n - 8;
            assert_eq!(notices, [format!("Ignored the keys \"k0\", \"k1\", \"k2\", \"k3\", \"k4\", \"k5\", \"k6\", \"k7\" and {rest} more in the link: they are not settings.")]);
            took
        };
        let took = time(2_000);
        eprintln!("2,000 unknown keys: {took:.1} ms");
        // The bounds: 50 ms natively (release; 0.3 ms measured), 200 ms in Chromium.
        assert!(took < 200.0, "{took} ms");
        // Bad values of real keys (each checked on its own): 700 layer_bits entries (16 KiB).
        let q: String = (0..700).map(|i| format!("ptq.layer_bits.l{i}=x")).collect::<Vec<_>>().join("&");
        let t = now_ms();
        let (exp, notices) = from_query(&q);
        let took = now_ms() - t;
        eprintln!("700 bad layer_bits: {took:.1} ms");
        assert!(exp.ptq.layer_bits.is_empty() && notices[0].contains("ptq.layer_bits.l0"), "{notices:?}");
        assert!(took < 500.0, "{took} ms");
        // More keys than the limit: one notice says so.
        let q: String = (0..MAX_EXPERIMENT_KEYS + 5).map(|i| format!("{i}")).collect::<Vec<_>>().join("&");
        let (_, notices) = from_query(&q);
        assert!(notices.iter().any(|n| n.contains("more than the limit")), "{notices:?}");
    }
}

#[cfg(not(target_arch = "wasm32"))]
#[test]
fn a_key_of_thousands_of_dotted_segments_does_not_overflow_a_small_stack() {
    let deep = format!("{}=1", "a.".repeat(7_000) + "b");
    let deep_real = format!("ptq.{}=1", "x.".repeat(7_000) + "y");
    std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(move || {
            for q in [&deep, &deep_real] {
                let (exp, notices) = from_query(q);
                assert_eq!(exp, qplay::experiment::Experiment::default());
                assert_eq!(notices.len(), 1, "{notices:?}");
                assert!(notices[0].contains("dotted parts"), "{notices:?}");
            }
            let _ = TensorSettings::from_hash(&format!("#/tensor?{deep}"));
        })
        .unwrap()
        .join()
        .expect("no stack overflow");
}

both! {
    experiment_links_still_round_trip {
        let mut exp = qplay::experiment::Experiment::default();
        exp.ptq.rounding = Rounding::Stochastic { seed: 3 };
        exp.ptq.layer_bits.insert("nn1".into(), 4);
        exp.ptq.skip = vec!["0".into(), "2".into()];
        let (back, notices) = from_query(&to_query(&exp));
        assert!(notices.is_empty(), "{notices:?}");
        assert_eq!(back, exp);
        // Seeds up to 2^64 − 1 (beyond i64, exact in no f64) survive the link.
        for seed in [1u64 << 63, u64::MAX] {
            exp.seed = seed;
            exp.ptq.rounding = Rounding::Stochastic { seed };
            let (back, notices) = from_query(&to_query(&exp));
            assert!(notices.is_empty(), "{seed}: {notices:?}");
            assert_eq!(back, exp, "{seed}");
        }
    }

    an_experiment_link_can_start_from_another_experiment {
        // The Lab's links start from the Lab's own experiment (per tensor, asymmetric): keys the
        // link leaves out keep the base's values, and the link of a state lists what differs.
        use qplay::share::experiment::{from_query_on, to_query_on};
        let mut base = qplay::experiment::Experiment::default();
        base.ptq.granularity = WeightGranularity::PerTensor;
        base.ptq.weight_symmetric = false;
        let (e, notices) = from_query_on("ptq.weight_bits=4&ptq.act_bits=4", &base);
        assert!(notices.is_empty(), "{notices:?}");
        assert_eq!((e.ptq.granularity, e.ptq.weight_symmetric, e.ptq.weight_bits, e.ptq.act_bits), (WeightGranularity::PerTensor, false, 4, 4));
        assert_eq!(to_query_on(&e, &base), "ptq.act_bits=4&ptq.weight_bits=4");
        assert_eq!(from_query_on("", &base).0, base);
        // The default's own keys read back on this base too.
        let mut other = base.clone();
        other.ptq.granularity = WeightGranularity::PerChannel;
        other.ptq.weight_symmetric = true;
        assert_eq!(from_query_on(&to_query_on(&other, &base), &base), (other, vec![]));
        // A link that cannot be read gives the base, not the default.
        let long = "x".repeat(20_000);
        assert_eq!(from_query_on(&long, &base).0, base);
    }

    a_link_setting_that_does_not_apply_to_its_group_is_named_not_dropped_in_silence {
        // A group size without per-group granularity (the default is per channel).
        let (exp, notices) = from_query("ptq.granularity.group_size=16&ptq.weight_bits=4");
        assert_eq!((exp.ptq.granularity, exp.ptq.weight_bits), (WeightGranularity::PerChannel, 4));
        assert_eq!(notices.len(), 1, "{notices:?}");
        assert!(notices[0].contains("\"ptq.granularity.group_size\"") && notices[0].contains("ptq.granularity.kind=per_channel"), "{notices:?}");
        let (exp, notices) = from_query("ptq.granularity.group_size=-4");
        assert_eq!(exp.ptq.granularity, WeightGranularity::PerChannel);
        assert_eq!(notices.len(), 1, "{notices:?}");
        // With its kind it applies, in either order.
        let (exp, notices) = from_query("ptq.granularity.group_size=16&ptq.granularity.kind=per_group");
        assert!(notices.is_empty(), "{notices:?}");
        assert_eq!(exp.ptq.granularity, WeightGranularity::PerGroup { group_size: 16 });
        // The narrow range with asymmetric weights would change nothing: dropped and named; with
        // symmetric weights (the default) it applies.
        let (exp, notices) = from_query("ptq.weight_symmetric=false&ptq.narrow_range=true");
        assert!(!exp.ptq.narrow_range && !exp.ptq.weight_symmetric);
        assert!(notices.len() == 1 && notices[0].contains("ptq.narrow_range") && notices[0].contains("symmetric"), "{notices:?}");
        let (exp, notices) = from_query("ptq.narrow_range=true");
        assert!(exp.ptq.narrow_range && notices.is_empty(), "{notices:?}");
        // The tensor page: a group size, an axis or a calibration setting with nothing to set.
        let (s, notices) = TensorSettings::from_hash("#/tensor?group=8&axis=1&cparam=99");
        assert_eq!((s.granularity, s.calibration), (Granularity::PerTensor, Calibration::MinMax));
        assert_eq!(notices.len(), 3, "{notices:?}");
        assert!(notices[0].contains("axis") && notices[0].contains("per_tensor has no axis"), "{notices:?}");
        assert!(notices[1].contains("group") && notices[1].contains("gran=per_group"), "{notices:?}");
        assert!(notices[2].contains("cparam") && notices[2].contains("min_max has no setting"), "{notices:?}");
        let (s, notices) = TensorSettings::from_hash("#/tensor?group=8&axis=1&gran=per_group&cparam=99&calib=percentile");
        assert!(notices.is_empty(), "{notices:?}");
        assert_eq!((s.granularity, s.calibration), (Granularity::PerGroup { axis: 1, group_size: 8 }, Calibration::Percentile { percentile: 99.0 }));
    }

    a_benchmark_link_names_the_keys_it_ignores {
        use qplay::share::bench_notices;
        assert!(bench_notices("#/bench").is_empty());
        assert!(bench_notices("#/bench?").is_empty());
        assert_eq!(bench_notices("#/bench?x=1&x=2&y"), ["Ignored \"x\", \"y\" in the link: the Benchmark page takes no settings."]);
        let many: String = (0..20).map(|i| format!("k{i}=1&")).collect();
        let n = bench_notices(&format!("#/bench?{many}"));
        assert!(n.len() == 1 && n[0].contains("\"k7\" and 12 more") && !n[0].contains("k8"), "{n:?}");
    }

    tensor_link_calibration_settings_are_range_checked {
        let (s, notices) = TensorSettings::from_hash("#/tensor?calib=kl&cparam=65536");
        assert_eq!(s.calibration, Calibration::Kl { bins: 2048 });
        assert!(notices.len() == 1 && notices[0].contains("cparam") && notices[0].contains("KL bins") && notices[0].contains("[128, 8192]"), "{notices:?}");
        let (s, notices) = TensorSettings::from_hash("#/tensor?calib=kl&cparam=8192");
        assert!(notices.is_empty(), "{notices:?}");
        assert_eq!(s.calibration, Calibration::Kl { bins: 8192 });
        // The value as the link gave it (1e30, not what a cast to usize made of it); a fraction of a bin is refused.
        let (_, notices) = TensorSettings::from_hash("#/tensor?calib=kl&cparam=1e30");
        assert_eq!(notices, ["Ignored cparam \"1e30\" in the link: KL bins = 1e30 is not allowed: it must be a whole number in [128, 8192]."]);
        let (s, notices) = TensorSettings::from_hash("#/tensor?calib=mse&cparam=100.5");
        assert_eq!((s.calibration, notices.len()), (Calibration::default_for(qplay::quant::calibration::CalibrationKind::Mse), 1));
        assert!(notices[0].contains("MSE steps = 100.5 is not allowed: it must be a whole number in [1, 10000]"), "{notices:?}");
        let many: String = (0..200).map(|i| format!("&k{i}=1")).collect();
        let (_, notices) = TensorSettings::from_hash(&format!("#/tensor?bits=4{many}"));
        assert!(notices.iter().any(|n| n.contains("more than the limit")), "{notices:?}");
    }
}

both! {
    the_language_model_page_has_its_own_path {
        use qplay::share::{page_hash, Page};
        assert_eq!(Page::from_hash("#/lm?weights=rtn&bits=4&group=32"), Page::Lm);
        assert_eq!(Page::from_hash("#/lm"), Page::Lm);
        assert_eq!(page_hash(Page::Lm, "weights=rtn&bits=4"), "#/lm?weights=rtn&bits=4");
        assert_eq!(page_hash(Page::Lm, ""), "#/lm");
        // The link of a page's settings reads back to the same settings.
        let (e, notices) = qplay::share::lm::from_query("weights=rtn&bits=4&group=32");
        assert!(notices.is_empty(), "{notices:?}");
        assert_eq!(qplay::share::lm::to_query(&e), "weights=rtn&bits=4&group=32");
    }

    an_lm_link_leaves_rtn_s_grid_out_under_another_weight_format {
        // The page keeps bits, group, symmetric, narrow and per-layer bits when the weights turn
        // to q4_0 (they come back with RTN); the link and the row's label leave them out, for the
        // link reader would name them as ignored and q4_0 does not read them.
        use qplay::ptq::lm::LmWeightFormat;
        use qplay::share::lm::{from_query, to_query};
        let (mut e, notices) = from_query("weights=rtn&bits=3&group=64&symmetric=false&layer_bits.layers.0.feed_forward.w2=8");
        assert!(notices.is_empty(), "{notices:?}");
        assert!(e.quant.label().contains("bits layers.0.feed_forward.w2=8"), "{}", e.quant.label());
        e.quant.weights = LmWeightFormat::Q4_0;
        let link = to_query(&e);
        assert_eq!(link, "weights=q4_0");
        assert!(!e.quant.label().contains("w2=8"), "{}", e.quant.label());
        let (back, notices) = from_query(&link);
        assert!(notices.is_empty(), "{notices:?}");
        assert_eq!(back.quant.label(), e.quant.label());
        // With RTN weights again they are all in the link.
        e.quant.weights = LmWeightFormat::Rtn;
        assert_eq!(to_query(&e), "weights=rtn&bits=3&group=64&symmetric=false&layer_bits.layers.0.feed_forward.w2=8");
    }

    injected_outliers_under_float_weights_are_named_and_left_out {
        use qplay::share::lm::{from_query, to_query};
        // Outliers leave the FP32 function as it is: with f32 weights they change nothing.
        let (e, n) = from_query("outliers=4&outlier_scale=20");
        assert_eq!((e.quant.outliers, e.quant.outlier_scale), (0, 50.0));
        assert!(n.len() == 1 && n[0].contains("link keys \"outliers\", \"outlier_scale\" ignored: injected outliers change only integer weights"), "{n:?}");
        let (mut e, n) = from_query("weights=rtn&bits=8&int8_acts=true&outliers=4");
        assert!(n.is_empty(), "{n:?}");
        assert_eq!(e.quant.outliers, 4);
        assert!(e.quant.label().contains("4 outlier channels"), "{}", e.quant.label());
        // Switched to f32 weights in the form: the link and the label leave them out.
        e.quant.weights = qplay::ptq::lm::LmWeightFormat::F32;
        e.quant.int8_acts = false;
        assert_eq!(to_query(&e), "");
        assert!(!e.quant.label().contains("outlier"), "{}", e.quant.label());
    }

    a_seed_past_what_the_seed_box_holds_is_named {
        // The page's Seed box is a number box: past 2^53 − 1 it would show another number than
        // the seed in force, so the link takes what the box takes.
        let (e, n) = qplay::share::lm::from_query("seed=9007199254740991");
        assert_eq!((e.sample.seed, n.len()), (9_007_199_254_740_991, 0), "{n:?}");
        let (e, n) = qplay::share::lm::from_query("seed=18446744073709551615");
        assert_eq!(e.sample.seed, qplay::share::lm::LmExperiment::default().sample.seed);
        assert!(n.len() == 1 && n[0].contains("18446744073709551615 is outside 0–9007199254740991"), "{n:?}");
    }

    a_broken_percent_escape_is_named_on_every_page {
        // %E2%98 is a snowman cut short, %FF is no UTF-8 at all: each decodes to U+FFFD.
        let (e, n) = qplay::share::lm::from_query("prompt=ROMEO%E2%98&seed=7");
        assert_eq!(e.prompt, "ROMEO\u{FFFD}");
        assert!(n.len() == 1 && n[0].contains("\"prompt\" has a %-escape that is not UTF-8"), "{n:?}");
        let (_, n) = TensorSettings::from_hash("#/tensor?values=1,2%FF");
        assert!(n.iter().any(|m| m.contains("\"values\" has a %-escape")), "{n:?}");
        let (_, n) = qplay::share::experiment::from_query("ptq.skip=fc%C3&model%FF=x");
        assert!(n.iter().any(|m| m.contains("\"ptq.skip\", \"model\u{FFFD}\" have a %-escape")), "{n:?}");
        // U+FFFD written on purpose (escaped or literal) reads without that notice.
        for q in ["prompt=a%EF%BF%BDb", "prompt=a%ef%bf%bdb", "prompt=a\u{FFFD}b"] {
            let (e, n) = qplay::share::lm::from_query(q);
            assert_eq!(e.prompt, "a\u{FFFD}b");
            assert!(n.is_empty(), "{q}: {n:?}");
        }
        assert_eq!(qplay::share::broken_escapes("prompt=ROMEO%3A&seed=7"), None);
    }

    skip_none_in_a_link_is_an_empty_skip_list_as_on_the_command_line {
        let (e, n) = qplay::share::lm::from_query("skip=none");
        assert!(e.quant.skip.is_empty() && n.is_empty(), "{:?} {n:?}", e.quant.skip);
        assert_eq!(qplay::share::lm::parse_skip("output, none").unwrap(), vec!["output".to_string()]);
    }

    a_percent_that_starts_no_escape_is_named_on_every_page {
        // `%ZZ` and a `%` at the end decode as typed: the page's own link writes a % as %25.
        let (e, n) = qplay::share::lm::from_query("prompt=%ZZ&seed=7");
        assert_eq!(e.prompt, "%ZZ");
        assert!(n.len() == 1 && n[0].contains("\"prompt\" has a % that starts no %-escape (mistyped? a % itself is %25)"), "{n:?}");
        let (_, n) = TensorSettings::from_hash("#/tensor?x=1,2%");
        assert!(n.iter().any(|m| m.contains("\"x\" has a % that starts no")), "{n:?}");
        let (_, n) = qplay::share::experiment::from_query("ptq.skip=fc%2&seed=1%G1");
        assert!(n.iter().any(|m| m.contains("\"ptq.skip\", \"seed\" have a % that starts no")), "{n:?}");
        // Escapes in either case, and a % written as %25, are no stray %.
        for q in ["prompt=50%25%20off", "prompt=%e2%98%83", "prompt=%E2%98%83&seed=7"] {
            assert_eq!(qplay::share::stray_percents(q), None, "{q}");
        }
    }
}

both! {
    the_longest_settings_a_link_accepts_read_back_from_the_link_written {
        // Every free-text setting at its limit, in 4-byte characters, each of which a link writes
        // as 12 bytes (%F0%9F%98%80); a name in raw 2-byte characters becomes 6 bytes each. The
        // written link must read back whole: it once outgrew the 16 KiB read, cutting the model's
        // name to 342 characters.
        use qplay::share::lm::{from_query, to_query, MAX_LAYER_BITS, MAX_MODEL_CHARS, MAX_PROMPT_CHARS, MAX_QUERY_LEN};
        let grin = |n: usize| "\u{1F600}".repeat(n);
        let name = |i: usize| format!("{i:02}{}", "é".repeat(31));
        let skip: Vec<String> = (0..64).map(name).collect();
        let bits: Vec<String> = (0..MAX_LAYER_BITS).map(|i| format!("layer_bits.{}=8", name(i))).collect();
        let raw = format!("weights=rtn&prompt={}&model={}&skip={}&{}", grin(MAX_PROMPT_CHARS), grin(MAX_MODEL_CHARS), skip.join(","), bits.join("&"));
        let (e, notices) = from_query(&raw);
        assert!(notices.is_empty(), "{notices:?}");
        assert_eq!((e.prompt.chars().count(), e.model.chars().count(), e.quant.skip.len(), e.quant.layer_bits.len()), (MAX_PROMPT_CHARS, MAX_MODEL_CHARS, 64, MAX_LAYER_BITS));
        let written = to_query(&e);
        assert!(written.len() > 3 * raw.len() / 2, "the link grows: {} → {}", raw.len(), written.len());
        assert!(written.len() <= MAX_QUERY_LEN, "{} > {MAX_QUERY_LEN}", written.len());
        let (back, notices) = from_query(&written);
        assert!(notices.is_empty(), "{notices:?}");
        assert_eq!(back, e);
        // A longer model name (the names of many dropped files) is written as much as a link reads.
        let long = qplay::share::lm::LmExperiment { model: "shard.safetensors, ".repeat(40), ..Default::default() };
        let (back, notices) = from_query(&to_query(&long));
        assert!(notices.is_empty(), "{notices:?}");
        assert_eq!(back.model, long.model.chars().take(MAX_MODEL_CHARS).collect::<String>().trim());
    }
}

both! {
    an_experiment_link_written_from_a_hand_edited_one_reads_back {
        // Skip names in raw 2-byte characters: a link writes each as 6 bytes (%C3%A9), so the
        // written link is three times the one read. It must still read back whole.
        use qplay::share::experiment::{from_query, to_query, MAX_SETTINGS_BYTES};
        let names: Vec<String> = (0..60).map(|i| format!("n{i:02}{}", "é".repeat(60))).collect();
        let raw = format!("ptq.skip={}", names.join(","));
        assert!(raw.len() <= MAX_SETTINGS_BYTES / 2 && 3 * raw.len() > 16 * 1024, "{}", raw.len());
        let (e, notices) = from_query(&raw);
        assert!(notices.is_empty(), "{notices:?}");
        assert_eq!(e.ptq.skip, names);
        let written = to_query(&e);
        assert!(written.len() > 2 * raw.len(), "{} → {}", raw.len(), written.len());
        let (back, notices) = from_query(&written);
        assert!(notices.is_empty(), "{notices:?}");
        assert_eq!(back, e);
        // More settings than the limit, however they are written, are named.
        let over = format!("ptq.skip={}", "a".repeat(MAX_SETTINGS_BYTES));
        let (e, notices) = from_query(&over);
        assert_eq!(e, qplay::experiment::Experiment::default());
        assert!(notices.len() == 1 && notices[0].contains("more than the limit of 16384"), "{notices:?}");
    }
}

both! {
    a_links_notices_quote_a_long_value_short {
        // A hand-edited value of 30,000 characters (a word, or digits) is named in a notice of a
        // few hundred characters, not repeated whole: method=xxxx… once made a 60,078-character line.
        let word = "x".repeat(30_000);
        let digits = format!("{}9", "0".repeat(30_000));
        let fraction = format!("0.{}1", "0".repeat(30_000));
        let exponent = format!("1{}e3", "0".repeat(30_000));
        let values = [word.as_str(), digits.as_str(), fraction.as_str(), exponent.as_str()];
        let check = |page: &str, key: &str, notices: &[String]| {
            for n in notices {
                assert!(n.chars().count() < 400, "{page} {key}: a notice of {} characters: {}…", n.chars().count(), n.chars().take(120).collect::<String>());
            }
        };
        let lm_keys = [
            "weights", "bits", "group", "symmetric", "narrow", "int8_acts", "static_acts", "kv", "skip", "layer_bits.output", "method",
            "calib_tokens", "damp", "alpha", "act_order", "awq_clip", "awq_gptq", "outliers", "outlier_scale", "temperature", "top_k",
            "top_p", "seed", "max_new", "tokens", "builtin", "files", "search_low", "search_high", "search_bpw", "search_kl", "search_tokens",
        ];
        for key in lm_keys {
            for v in values {
                let (_, notices) = qplay::share::lm::from_query(&format!("weights=rtn&{key}={v}"));
                check("lm", key, &notices);
            }
        }
        for key in ["method", "bits", "signed", "sym", "narrow", "round", "seed", "range", "gran", "axis", "group", "calib", "cparam", "gen", "shape", "x"] {
            for v in values {
                let (_, notices) = qplay::share::TensorSettings::from_hash(&format!("#/tensor?{key}={v}"));
                check("tensor", key, &notices);
            }
        }
        let experiment_keys = [
            "model", "dataset", "task", "ptq.weight_bits", "ptq.act_bits", "ptq.mode", "ptq.granularity.kind", "ptq.granularity.group_size",
            "ptq.skip", "ptq.symmetric", "ptq.calibration.kind", "ptq.calib_size", "ptq.bias_correction", "eval_size", "seed", "qat.epochs",
        ];
        for key in experiment_keys {
            for v in values {
                let (_, notices) = qplay::share::experiment::from_query(&format!("{key}={v}"));
                check("model", key, &notices);
            }
        }
    }
}
