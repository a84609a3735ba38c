// The language-model experiment as a share link: every setting round-trips, hand-edited links
// give a notice naming the key, and a huge link decodes fast.

use qplay::lm::KvFormat;
use qplay::ptq::lm::LmWeightFormat;
use qplay::share::lm::{changed_keys, from_query, parse_layer_bits, parse_skip, to_query, LmExperiment, MAX_KEYS};

both! {
    every_setting_round_trips_through_the_link {
        let mut e = LmExperiment::default();
        assert_eq!(to_query(&e), "", "defaults are left out");
        e.quant.weights = LmWeightFormat::Rtn;
        e.quant.bits = 4;
        e.quant.group = 32;
        e.quant.symmetric = false;
        e.quant.int8_acts = true;
        e.quant.kv = KvFormat::Int8;
        e.quant.skip = vec!["output".into()];
        e.quant.layer_bits.insert("feed_forward.w2".into(), 8);
        e.sample.temperature = 0.0;
        e.sample.seed = 7;
        e.prompt = "To be, or not to be & that=the question?".into();
        e.max_new = 50;
        e.tokens = 4097;
        let q = to_query(&e);
        let (back, notices) = from_query(&q);
        assert!(notices.is_empty(), "{notices:?}");
        assert_eq!(back, e, "{q}");
        // Part 2's methods and their settings.
        e.quant.method = qplay::ptq::lm::LmMethod::Awq;
        e.quant.calib_tokens = 4096;
        e.quant.damp = 0.05;
        e.quant.act_order = true;
        e.quant.alpha = 0.65;
        e.quant.awq_clip = true;
        e.quant.awq_gptq = true;
        e.quant.outliers = 4;
        e.quant.outlier_scale = 30.0;
        e.quant.static_acts = true;
        let q = to_query(&e);
        assert!(q.contains("method=awq") && q.contains("act_order=true") && q.contains("awq_gptq=true") && q.contains("outliers=4") && q.contains("static_acts=true"), "{q}");
        let (back, notices) = from_query(&q);
        assert!(notices.is_empty(), "{notices:?}");
        assert_eq!(back, e, "{q}");
        // The user's own model, by its files' names (the files never travel in a link).
        e.model = "stories260K.bin, tok512.bin".into();
        let q = to_query(&e);
        assert!(q.contains("model=stories260K.bin%2C+tok512.bin"), "{q}");
        assert_eq!(from_query(&q).0, e);
        let (_, n) = from_query(&format!("model={}", "x".repeat(600)));
        assert!(n.iter().any(|m| m.contains("\"model\"") && m.contains("512")), "{n:?}");
        // The larger built-in model; with `model` too, it is the one "use the built-in model" picks.
        e.builtin = qplay::lm::corpus::BuiltinLm::Large;
        let q = to_query(&e);
        assert!(q.contains("builtin=large"), "{q}");
        assert_eq!(from_query(&q).0, e);
        e.model.clear();
        assert_eq!(to_query(&e), q.replace("model=stories260K.bin%2C+tok512.bin&", ""));
        assert_eq!(from_query("builtin=large").0.builtin, qplay::lm::corpus::BuiltinLm::Large);
        let (back, n) = from_query("builtin=huge");
        assert_eq!(back.builtin, qplay::lm::corpus::BuiltinLm::Small);
        assert!(n.iter().any(|m| m.contains("\"builtin\"") && m.contains("small or large")), "{n:?}");
        // A hostile value is named, clipped, not echoed whole.
        for key in ["builtin", "int8_acts", "static_acts", "seed"] {
            let (_, n) = from_query(&format!("{key}={}", "x".repeat(10_000)));
            assert!(n.len() == 1 && n[0].contains(&format!("\"{key}\"")) && n[0].len() < 200, "{n:?}");
        }
        // Static scales without int8 activations would change nothing: named and turned off.
        let (back, n) = from_query("weights=rtn&static_acts=true");
        assert!(!back.quant.static_acts && n.len() == 1 && n[0].contains("\"static_acts\"") && n[0].contains("int8_acts=true"), "{n:?}");
        assert!(from_query("weights=rtn&int8_acts=true&static_acts=true").0.quant.static_acts);
        // A method's switches under another method would change nothing: named and turned off.
        for (link, key) in [
            ("weights=rtn&bits=4&group=32&act_order=true", "act_order"),
            ("weights=rtn&bits=4&group=32&method=awq&act_order=true", "act_order"),
            ("weights=rtn&bits=4&group=32&method=gptq&awq_clip=true", "awq_clip"),
            ("weights=rtn&bits=4&group=32&method=smoothquant&awq_gptq=true", "awq_gptq"),
        ] {
            let (back, n) = from_query(link);
            assert!(n.len() == 1 && n[0].contains(&format!("\"{key}\" ignored")) && n[0].contains("method="), "{link}: {n:?}");
            assert!(back.quant.inert_switches().is_empty() && !to_query(&back).contains(key), "{link}");
        }
        let (back, n) = from_query("weights=rtn&bits=4&group=32&method=awq&awq_gptq=true&act_order=true&awq_clip=true");
        assert!(n.is_empty() && back.quant.awq_gptq && back.quant.act_order && back.quant.awq_clip, "{n:?}");
        let none = LmExperiment { quant: qplay::ptq::lm::LmQuantConfig { skip: vec![], ..Default::default() }, ..Default::default() };
        assert_eq!(from_query(&to_query(&none)).0, none);
    }

    changed_keys_are_the_link_keys_that_differ {
        let a = LmExperiment::default();
        assert!(changed_keys(&a, &a).is_empty());
        let mut b = a.clone();
        b.quant.weights = LmWeightFormat::Rtn;
        b.quant.bits = 4;
        b.quant.layer_bits.insert("feed_forward.w2".into(), 8);
        b.quant.layer_bits.insert("layers.0.attention.wq".into(), 3);
        b.prompt = "JULIET:".into();
        assert_eq!(changed_keys(&a, &b), ["weights", "bits", "layer_bits", "prompt"]);
        assert_eq!(changed_keys(&b, &a), ["weights", "bits", "layer_bits", "prompt"]);
        // Back to a default value is a change too (the key leaves the link).
        let mut c = b.clone();
        c.quant.bits = 8;
        assert_eq!(changed_keys(&b, &c), ["bits"]);
        // Another built-in model is the `model` lock's to forbid (a table row's Use went past it).
        let mut d = a.clone();
        d.builtin = qplay::lm::corpus::BuiltinLm::Large;
        assert_eq!(changed_keys(&a, &d), ["model"]);
    }

    typed_skip_lists_and_layer_bits_read_or_say_why {
        assert_eq!(parse_skip(" output, layers.5 ,,").unwrap(), vec!["output".to_string(), "layers.5".to_string()]);
        assert!(parse_skip("").unwrap().is_empty());
        assert!(parse_skip(&"x,".repeat(65)).is_err());
        let b = parse_layer_bits("feed_forward.w2=8, layers.0.attention.wq = 3").unwrap();
        assert_eq!(b.get("feed_forward.w2"), Some(&8));
        assert_eq!(b.get("layers.0.attention.wq"), Some(&3));
        assert!(parse_layer_bits("").unwrap().is_empty());
        // A name given twice: the same bits are one setting; other bits are refused, not the last kept.
        assert_eq!(parse_layer_bits("w2=4, w2=4").unwrap().get("w2"), Some(&4));
        assert_eq!(parse_layer_bits("w2=8, wq=3, w2=4").unwrap_err(), "\"w2\" is given twice, with 8 and 4 bits: give each name once");
        for (bad, says) in [("feed_forward.w2=9", "outside 2–8"), ("w2", "NAME=BITS"), ("=4", "layer name"), ("w2=x", "not a number"), ("w2=NaN", "not a number")] {
            let e = parse_layer_bits(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    hand_edited_links_give_notices_that_name_the_key {
        let (e, n) = from_query("weights=q4_0&bits=99&group=48&kv=int4&colour=red&top_p=0&prompt=Hi&layer_bits.wq=x&method=optq&damp=NaN&alpha=2&outliers=65&calib_tokens=0");
        for key in ["method", "damp", "alpha", "outliers", "calib_tokens"] {
            assert!(n.iter().any(|m| m.contains(&format!("\"{key}\""))), "{key}: {n:?}");
        }
        assert_eq!(e.quant.weights, LmWeightFormat::Q4_0);
        assert_eq!(e.prompt, "Hi");
        assert_eq!((e.quant.bits, e.quant.group, e.quant.kv), (8, 0, KvFormat::F32));
        for key in ["bits", "group", "kv", "colour", "top_p", "layer_bits.wq"] {
            assert!(n.iter().any(|m| m.contains(&format!("\"{key}\""))), "{key}: {n:?}");
        }
        assert_eq!(n.len(), 11, "{n:?}");
        let (e, n) = from_query("temperature=NaN&top_p=nan");
        assert_eq!(e.sample, qplay::lm::sample::SampleConfig::default());
        assert!(n.iter().any(|m| m.contains("\"temperature\"")) && n.iter().any(|m| m.contains("\"top_p\"")), "{n:?}");
        // A number past f32 is quoted as the link wrote it (f32 reads 1e308 as inf).
        let (_, n) = from_query("temperature=1e308");
        assert!(n.len() == 1 && n[0].contains("1e308 is outside 0–10") && !n[0].contains("inf"), "{n:?}");
        // Within f32 but far out of range: in exponent form, not thirty-one digits or thirty zeros.
        let (_, n) = from_query("weights=rtn&outliers=2&outlier_scale=1e30&alpha=-1e-30");
        assert!(n.len() == 2 && n.iter().any(|m| m.contains("1e30 is outside 1–1000")) && n.iter().any(|m| m.contains("-1e-30 is outside 0–1")), "{n:?}");
        // A key given twice: the last value counts, and a notice says so.
        let (e, n) = from_query("bits=4&weights=rtn&bits=8");
        assert_eq!(e.quant.bits, 8);
        assert!(n.len() == 1 && n[0].contains("\"bits\"") && n[0].contains("more than once"), "{n:?}");
        // ... unless the later value is refused: then the earlier one counts, and the notice says that.
        let (e, n) = from_query("bits=4&weights=rtn&bits=9");
        assert_eq!(e.quant.bits, 4);
        assert!(n.len() == 1 && n[0].contains("later value is ignored") && n[0].contains("outside 2–8") && n[0].contains("earlier one counts"), "{n:?}");
        // A key given 200 times is named once (once one notice per repetition).
        let (e, n) = from_query(&format!("weights=rtn{}", "&bits=4".repeat(200)));
        assert_eq!((e.quant.bits, n.len()), (4, 1), "{n:?}");
        let (e, n) = from_query(&format!("weights=rtn&bits=4{}", "&bits=9&bits=3".repeat(100)));
        assert_eq!(e.quant.bits, 3);
        assert!(n.len() == 1 && n[0].contains("\"bits\" is given more than once: the last value counts") && n[0].contains("refused: 9 is outside 2–8"), "{n:?}");
        // A key that is no setting, given again (here the empty key), is named once, as not a setting.
        let (_, n) = from_query("&&&=&=&zz=1&zz=2");
        assert_eq!(n, ["link keys \"\", \"zz\" ignored: not settings"]);
        let (_, n) = from_query("weights=rtn&bits=4&zz=1");
        assert_eq!(n, ["link key \"zz\" ignored: not a setting"]);
        // Twenty keys that are no setting are one notice naming eight (once twenty lines); a refused
        // value of a setting keeps its own notice beside it.
        let q: String = (0..20).map(|i| format!("k{i}=1&")).collect::<String>() + "bits=9&weights=rtn";
        let (e, n) = from_query(&q);
        assert_eq!(e.quant.bits, LmExperiment::default().quant.bits);
        assert_eq!(n.len(), 2, "{n:?}");
        assert!(n.contains(&"link key \"bits\" ignored: 9 is outside 2–8".to_string()), "{n:?}");
        assert!(n.contains(&"link keys \"k0\", \"k1\", \"k2\", \"k3\", \"k4\", \"k5\", \"k6\", \"k7\" and 12 more ignored: not settings".to_string()), "{n:?}");
        // Widths and groups under a weight format they do not shape: named and reset, so the
        // link written from what was read opens without a notice.
        let (e, n) = from_query("bits=4&group=32&layer_bits.feed_forward.w2=8");
        assert_eq!(e, LmExperiment::default());
        assert!(n.len() == 1 && n[0].contains("link keys \"bits\", \"group\", \"layer_bits\" ignored") && n[0].contains("not f32"), "{n:?}");
        assert_eq!(to_query(&e), "");
        let (e, n) = from_query("weights=q4_0&symmetric=false");
        assert!(n.len() == 1 && n[0].contains("link key \"symmetric\" ignored: it sets the weights of rtn (weights=rtn), not q4_0"), "{n:?}");
        assert!(from_query(&to_query(&e)).1.is_empty());
        assert!(from_query("weights=rtn&bits=4&group=32&symmetric=false&layer_bits.feed_forward.w2=8").1.is_empty());
        // The narrow range of an asymmetric grid would change nothing: named and reset.
        let (e, n) = from_query("weights=rtn&symmetric=false&narrow=true");
        assert!(!e.quant.narrow && n.len() == 1 && n[0].contains("link key \"narrow\" ignored: the narrow range is of a symmetric grid"), "{n:?}");
        assert!(from_query("weights=rtn&narrow=true").1.is_empty());
        // SmoothQuant, as GPTQ and AWQ, needs integer weights: the link falls back to the defaults.
        let (e, n) = from_query("method=smoothquant");
        assert_eq!(e.quant, qplay::ptq::lm::LmQuantConfig::default());
        assert!(n.len() == 1 && n[0].contains("SmoothQuant needs an integer weight format, not f32"), "{n:?}");
        // A seed past 2^53 − 1 (what the page's Seed box holds exactly) is out of range, in any form.
        let (_, n) = from_query("seed=1e19");
        assert!(n.len() == 1 && n[0].contains("1e19 is outside 0–9007199254740991"), "{n:?}");
        let (_, n) = from_query("bits=1e20");
        assert!(n.len() == 1 && n[0].contains("1e20 is outside 2–8"), "{n:?}");
        // Valid one by one, not together: int8 activations need integer weights.
        let (e, n) = from_query("weights=f16&int8_acts=true");
        assert_eq!(e.quant, qplay::ptq::lm::LmQuantConfig::default());
        assert!(n[0].contains("int8"), "{n:?}");
    }

    a_huge_link_is_capped_and_linear {
        let q: String = (0..5000).map(|i| format!("k{i}=1")).collect::<Vec<_>>().join("&");
        let (e, n) = from_query(&q);
        assert_eq!(e, LmExperiment::default());
        assert!(n.len() <= 23, "{}", n.len());
        assert!(n.iter().any(|m| m.contains("characters")) || n.iter().any(|m| m.contains(&MAX_KEYS.to_string())), "{n:?}");
        let deep = format!("layer_bits.{}=4", "a.".repeat(20_000));
        let (_, n) = from_query(&deep);
        assert!(!n.is_empty());
    }

    the_search_settings_round_trip_and_bad_ones_are_named {
        use qplay::ptq::lm_sensitivity::{SearchSettings, SearchTarget};
        use qplay::share::lm::{search_problem, DEFAULT_SEARCH};
        let mut e = LmExperiment::default();
        assert_eq!(e.search, DEFAULT_SEARCH);
        assert_eq!(search_problem(&e), None);
        e.search = SearchSettings { low_bits: 3, high_bits: 6, target: SearchTarget::Kl(0.0015) };
        e.search_tokens = 2049;
        let q = to_query(&e);
        assert_eq!(q, "search_low=3&search_high=6&search_kl=0.0015&search_tokens=2049");
        assert_eq!(from_query(&q), (e.clone(), vec![]));
        e.search.target = SearchTarget::BitsPerWeight(5.25);
        assert_eq!(from_query(&to_query(&e)).0, e);
        // Out of range, not a number, NaN: named and skipped.
        for (query, says) in [
            ("search_low=1", "search_low"),
            ("search_high=9", "search_high"),
            ("search_bpw=0.1", "search_bpw"),
            ("search_bpw=NaN", "search_bpw"),
            ("search_kl=-1", "search_kl"),
            ("search_tokens=70000", "search_tokens"),
            ("search_tokens=x", "search_tokens"),
        ] {
            let (back, n) = from_query(query);
            assert_eq!((back.search, back.search_tokens), (DEFAULT_SEARCH, 1025), "{query}");
            assert!(n.len() == 1 && n[0].contains(says), "{query}: {n:?}");
        }
        // A number that is not the key's own syntax says what is wrong with it; a whole number in
        // exponent form is read as such.
        for (query, says) in [
            ("tokens=-5", "-5 is outside 2–1000000"),
            ("tokens=99999999999", "99999999999 is outside 2–1000000"),
            ("max_new=2.5", "2.5 is not a whole number (1–4096)"),
            ("seed=-1", "-1 is outside 0–"),
            ("seed=abc", "\"abc\" is not a number"),
            // A number past f64's range is a number out of range, not "not a number".
            ("tokens=1e400", "1e400 is outside 2–1000000"),
            ("seed=inf", "\"inf\" is not a number"),
            ("layer_bits.w2=1e9", "1e9 is outside 2–8"),
        ] {
            let (_, n) = from_query(query);
            assert!(n.len() == 1 && n[0].contains(says), "{query}: {n:?}");
        }
        assert_eq!(from_query("seed=1e3"), (LmExperiment { sample: qplay::lm::sample::SampleConfig { seed: 1000, ..LmExperiment::default().sample }, ..LmExperiment::default() }, vec![]));
        // Two targets: the later counts, and a notice says so.
        let (back, n) = from_query("search_kl=0.01&search_bpw=5");
        assert_eq!(back.search.target, SearchTarget::BitsPerWeight(5.0));
        assert!(n.len() == 1 && n[0].contains("the later one, \"search_bpw\", counts"), "{n:?}");
        // -0 is 0, and is written so.
        let (back, n) = from_query("temperature=-0&alpha=-0");
        assert!(n.is_empty() && back.sample.temperature.is_sign_positive() && back.quant.alpha.is_sign_positive(), "{n:?}");
        assert!(!to_query(&back).contains("-0"), "{}", to_query(&back));
        // Valid one by one, not together: low ≥ high falls back to 4 / 8, keeping the target.
        let (back, n) = from_query("search_low=6&search_high=5&search_kl=0.01");
        assert_eq!(back.search, SearchSettings { target: SearchTarget::Kl(0.01), ..DEFAULT_SEARCH });
        assert!(n.iter().any(|m| m.contains("low < high")), "{n:?}");
        // What the page checks before a search: the same ranges.
        let mut bad = LmExperiment::default();
        bad.search.target = SearchTarget::BitsPerWeight(40.0);
        assert!(search_problem(&bad).unwrap().contains("0.5–32"));
        bad.search = SearchSettings { low_bits: 8, high_bits: 8, ..DEFAULT_SEARCH };
        assert!(search_problem(&bad).unwrap().contains("low < high"));
        bad.search = DEFAULT_SEARCH;
        bad.search_tokens = 1;
        assert!(search_problem(&bad).unwrap().contains("2–65537"));
    }
}
