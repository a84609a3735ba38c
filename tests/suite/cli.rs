//! The tensor CLI: golden numbers, stable files, and clear errors.
#![cfg(not(target_arch = "wasm32"))]

use std::process::Command;

use qplay::examples::{LAB_CLIP, LAB_CLIP_Q};
use qplay::formats::npy::{read_npy, write_npy_f32};

fn qplay(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_qplay")).args(args).output().expect("the CLI runs");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

fn values(v: &[f32]) -> String {
    v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(",")
}

#[test]
fn the_lab_clip_example_from_the_command_line() {
    let (code, out, err) = qplay(&["tensor", "--values", &values(&LAB_CLIP), "--method", "clip"]);
    assert_eq!(code, 0, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let q: Vec<i32> = serde_json::from_value(json["q"].clone()).unwrap();
    assert_eq!(q, LAB_CLIP_Q);
    assert_eq!(json["slices"][0]["params"]["zero_point"], -21);
    assert_eq!(json["metrics"]["clipped"], 5);
}

#[test]
fn npy_in_npy_out_per_channel_and_byte_stable() {
    let dir = std::env::temp_dir().join(format!("qplay-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let x: Vec<f32> = (0..24).map(|i| ((i as f32) * 0.7).sin() * (1 + i / 6) as f32).collect();
    let input = dir.join("w.npy");
    std::fs::write(&input, write_npy_f32(&x, &[4, 6])).unwrap();
    let run = |sub: &str| {
        let out = dir.join(sub);
        let (code, stdout, err) = qplay(&[
            "tensor", input.to_str().unwrap(), "--bits", "4", "--symmetric", "--granularity", "per-channel", "--axis", "0",
            "--out", out.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{err}");
        (stdout, out)
    };
    let (a, da) = run("a");
    let (b, db) = run("b");
    assert_eq!(a, b, "the same input and flags give the same report");
    for f in ["q.npy", "dequant.npy", "report.json", "statistics.csv", "quant_params.csv"] {
        assert_eq!(std::fs::read(da.join(f)).unwrap(), std::fs::read(db.join(f)).unwrap(), "{f} is byte-stable");
    }
    let q = read_npy(&std::fs::read(da.join("q.npy")).unwrap()).unwrap();
    assert_eq!(q.shape, vec![4, 6]);
    assert!(q.values.iter().all(|&v| (-8.0..=7.0).contains(&v)), "4-bit integers");
    let json: serde_json::Value = serde_json::from_str(&a).unwrap();
    assert_eq!(json["slices"].as_array().unwrap().len(), 4, "one scale per channel");
    let csv = std::fs::read_to_string(da.join("quant_params.csv")).unwrap();
    assert_eq!(csv.lines().count(), 5, "a header and one row per channel:\n{csv}");
    // The same tensor inside a .npz (as the page reads it): the same report; --tensor picks a
    // member, the largest is the default, and a name that is not there lists the members.
    let npz = dir.join("w.npz");
    std::fs::write(&npz, qplay::formats::npz::write_npz(&[("bias".to_string(), qplay::formats::Tensor { shape: vec![4], values: vec![0.5; 4] }), ("w".to_string(), qplay::formats::Tensor { shape: vec![4, 6], values: x.clone() })], true).unwrap()).unwrap();
    let flags = ["--bits", "4", "--symmetric", "--granularity", "per-channel", "--axis", "0"];
    let from = |extra: &[&str]| {
        let mut args = vec!["tensor", npz.to_str().unwrap()];
        args.extend(extra);
        args.extend(flags);
        qplay(&args)
    };
    let (code, largest, err) = from(&[]);
    assert_eq!((code, &largest), (0, &a), "{err}");
    let (code, named, err) = from(&["--tensor", "w"]);
    assert_eq!((code, &named), (0, &a), "{err}");
    let (code, bias, err) = from(&["--tensor", "bias"]);
    assert_eq!(code, 0, "{err}");
    assert_ne!(bias, a);
    let (code, _, err) = from(&["--tensor", "nope"]);
    assert_ne!(code, 0);
    assert!(err.contains("w.npz: no tensor \"nope\"; it holds bias, w"), "{err}");
    let (code, _, err) = qplay(&["tensor", input.to_str().unwrap(), "--tensor", "w"]);
    assert_ne!(code, 0);
    assert!(err.contains("--tensor picks a tensor of a .npz or .safetensors file"), "{err}");
    // A larger member holding NaN is passed over, as the page passes it over; a file of only
    // such members is refused with the reason, and --ignore-nonfinite reads them as 0.
    let t = |shape: Vec<usize>, values: Vec<f32>| qplay::formats::Tensor { shape, values };
    let mut nan = vec![1.0f32; 40];
    nan[7] = f32::NAN;
    let mixed = dir.join("mixed.npz");
    std::fs::write(&mixed, qplay::formats::npz::write_npz(&[("nan".to_string(), t(vec![40], nan.clone())), ("w".to_string(), t(vec![4, 6], x.clone())), ("empty".to_string(), t(vec![0], vec![]))], true).unwrap()).unwrap();
    let mut args = vec!["tensor", mixed.to_str().unwrap()];
    args.extend(flags);
    let (code, skipped, err) = qplay(&args);
    assert_eq!((code, &skipped), (0, &a), "{err}");
    let only_nan = dir.join("only_nan.npz");
    std::fs::write(&only_nan, qplay::formats::npz::write_npz(&[("nan".to_string(), t(vec![40], nan)), ("empty".to_string(), t(vec![0], vec![]))], true).unwrap()).unwrap();
    let (code, _, err) = qplay(&["tensor", only_nan.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(err.contains("only_nan.npz: every tensor with values holds NaN or ±∞ (--ignore-nonfinite reads them as 0)"), "{err}");
    let (code, out, err) = qplay(&["tensor", only_nan.to_str().unwrap(), "--ignore-nonfinite"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"slices\""), "{out}");
    let (code, out, err) = qplay(&["tensor", "tests/fixtures/st_tensors.safetensors"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"slices\""), "{out}");
    // NumPy's archive with strings, complex and objects beside a float array: the float array is
    // read and the others named; asking for one of them names its dtype.
    let some = "tests/fixtures/arrays_some_unreadable.npz";
    let (code, out, err) = qplay(&["tensor", some]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"slices\""), "{out}");
    assert!(err.contains("not read, of a dtype qplay does not read: \"labels\" (<U3), \"z\" (<c8), \"o\" (|O)"), "{err}");
    let (code, _, err) = qplay(&["tensor", some, "--tensor", "w"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = qplay(&["tensor", some, "--tensor", "labels"]);
    assert_ne!(code, 0);
    assert!(err.contains("tensor \"labels\" is of dtype <U3, which qplay does not read"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_settings_and_input_give_clear_errors() {
    let cases: [(&[&str], &str); 7] = [
        (&["tensor", "--values", "1,2,3", "--bits", "17"], "17 is not in 1..=16"),
        (&["tensor", "--values", "1,2,3,4", "--shape", "4000000000,4000000000,4000000000"], "holds more values than can be counted, the input has 4"),
        (&["tensor", "--values", "1,2,3,4", "--shape", "2,3"], "holds 6 values, the input has 4"),
        (&["tensor", "--values", "1,2,3", "--calibration", "percentile", "--percentile", "0"], "percentile"),
        (&["tensor", "--values", "1, nan, 3"], "value #2"),
        (&["tensor", "--values", "1,2,3,4,5,6", "--shape", "2,3", "--granularity", "per-group", "--axis", "1", "--group-size", "2"], "group"),
        (&["tensor", "--values", ""], "no numbers"),
    ];
    for (args, needle) in cases {
        let (code, _, err) = qplay(args);
        assert_ne!(code, 0, "{args:?} should fail");
        assert!(err.to_lowercase().contains(needle), "{args:?}: {err}");
    }
    let (code, out, err) = qplay(&["tensor", "--values", "1, inf, 3", "--ignore-nonfinite"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"nonfinite_replaced\": 1"), "{out}");
}

#[test]
fn ranges_negative_values_limits_and_files_from_the_command_line() {
    // --range α,β as documented, negative bounds included; --values may start with a minus.
    for range in ["0,2", "-1,2", "-1.5,-0.5"] {
        let (code, out, err) = qplay(&["tensor", "--values", "1,2,3", "--range", range]);
        assert_eq!(code, 0, "--range {range}: {err}");
        assert!(out.contains("\"manual_range\""), "{out}");
    }
    let (code, out, err) = qplay(&["tensor", "--values", "-1,2,3"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"elements\": 3"), "{out}");
    // Messages that name the flag and the real reason.
    let cases: [(&[&str], &str); 6] = [
        (&["tensor", "--values", "1,2", "--range", "-3e38,3e38"], "too wide"),
        (&["tensor", "--values", "1,2", "--range", "2,1"], "α must not exceed β"),
        (&["tensor", "--values", "1,2", "--range", "1"], "two numbers"),
        (&["tensor", "--values", "1,2,3", "--calibration", "kl", "--bins", "65536"], "--bins: kl bins = 65536"),
        (&["tensor", "/dev/zero"], "not a regular file"),
        (&["export", "--model", "mlp-mnist", "--format", "qdq-onnx", "--out", "/dev/null", "--calib", "0"], "--calib 0"),
    ];
    for (args, needle) in cases {
        let (code, _, err) = qplay(args);
        assert_ne!(code, 0, "{args:?} should fail");
        assert!(err.to_lowercase().contains(&needle.to_lowercase()), "{args:?}: {err}");
    }
    // The default assets folder is found outside the repository too.
    let dir = std::env::temp_dir().join(format!("qplay-cli-assets-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_qplay"))
        .current_dir(&dir)
        .args(["export", "--model", "mlp-mnist", "--format", "onnx", "--out", "m.onnx"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (code, _, err) = qplay(&["export", "--model", "mlp-mnist", "--format", "onnx", "--out", "/dev/null", "--assets", "/no/such/dir"]);
    assert!(code != 0 && err.contains("--assets /no/such/dir") && err.contains("models/"), "{err}");
    // Text files keep the page's limits: 32 MiB (a 33 MB file of spaces and one value), and
    // 2^20 values with --ignore-nonfinite as without.
    let big = dir.join("big.txt");
    let mut text = vec![b' '; 33 << 20];
    text[0] = b'1';
    std::fs::write(&big, &text).unwrap();
    let (code, _, err) = qplay(&["tensor", big.to_str().unwrap()]);
    assert!(code != 0 && err.contains("the file is 34,603,008 bytes (33 MiB); the limit is 33,554,432 bytes (32 MiB)"), "{err}");
    let many = dir.join("many.txt");
    std::fs::write(&many, "1 ".repeat((1 << 20) + 1)).unwrap();
    for flags in [&[][..], &["--ignore-nonfinite"][..]] {
        let mut args = vec!["tensor", many.to_str().unwrap()];
        args.extend(flags);
        let (code, _, err) = qplay(&args);
        assert!(code != 0 && err.contains("at most 1048576"), "{flags:?}: {err}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn run_takes_every_setting_as_a_flag_and_export_chooses_the_activation_calibration() {
    // qplay run without a file: the defaults plus --set, each key range-checked as in a link.
    let (code, _, err) = qplay(&["run", "--set", "ptq.weight_bits=99"]);
    assert_ne!(code, 0);
    assert!(err.contains("--set: ptq.weight_bits: 99 bits is outside 1–16"), "{err}");
    // The run stops: nothing is "ignored", and there is no link.
    let (code, _, err) = qplay(&["run", "--set", "ptq.bogus=1"]);
    assert_ne!(code, 0);
    assert!(err.contains("ptq.bogus") && !err.contains("Ignored") && !err.contains("in the link"), "{err}");
    let (code, _, err) = qplay(&["run", "--set", "weight_bits"]);
    assert_ne!(code, 0);
    assert!(err.contains("KEY=VALUE"), "{err}");
    let (code, out, err) = qplay(&["run", "--set", "ptq.weight_bits=4", "--set", "ptq.act_calibration.method=kl", "--set", "ptq.act_calibration.bins=1024"]);
    assert_eq!(code, 0, "{err}");
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["experiment"]["ptq"]["weight_bits"], 4);
    assert_eq!(j["experiment"]["ptq"]["act_calibration"]["method"], "kl");
    assert_eq!(j["experiment"]["ptq"]["act_calibration"]["bins"], 1024);

    // --model-file reads .onnx as the Model page does: the same model in either file, the same report.
    let onnx = std::env::temp_dir().join(format!("qplay-run-{}.onnx", std::process::id()));
    let st = concat!(env!("CARGO_MANIFEST_DIR"), "/www/models/mlp-fashion.safetensors");
    let (code, _, err) = qplay(&["convert", st, onnx.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let accuracy = |file: &str| {
        let (code, out, err) = qplay(&["run", "--model-file", file, "--dataset", "fashion"]);
        assert_eq!(code, 0, "{file}: {err}");
        let j: serde_json::Value = serde_json::from_str(&out).unwrap();
        (j["report"]["fp32_accuracy"].clone(), j["report"]["accuracy"].clone())
    };
    let from_onnx = accuracy(onnx.to_str().unwrap());
    assert!(from_onnx.0.as_f64().is_some_and(|a| a > 0.8), "{from_onnx:?}");
    assert_eq!(from_onnx, accuracy(st));
    std::fs::remove_file(&onnx).ok();
    // A model that does not take 28 × 28 images is named when it is read, as on the page (it was
    // "the batch holds 200704 values, not a multiple of the sample size 700" at the first batch).
    let wrong = std::env::temp_dir().join(format!("qplay-run-700-{}.safetensors", std::process::id()));
    let header = r#"{"0.weight":{"dtype":"F32","shape":[10,700],"data_offsets":[0,28000]},"0.bias":{"dtype":"F32","shape":[10],"data_offsets":[28000,28040]}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend(header.as_bytes());
    bytes.resize(bytes.len() + 28040, 0);
    std::fs::write(&wrong, &bytes).unwrap();
    let w = wrong.to_str().unwrap();
    let export_out = std::env::temp_dir().join(format!("qplay-run-700-{}.onnx", std::process::id()));
    for args in [vec!["run", "--model-file", w], vec!["export", "--model", w, "--format", "qdq-onnx", "--out", export_out.to_str().unwrap()]] {
        let (code, _, err) = qplay(&args);
        assert!(code != 0 && err.contains("the model takes 700 values per sample, but MNIST's and Fashion-MNIST's images have 784"), "{args:?}: {err}");
        assert!(err.contains(w), "{args:?}: the file is named: {err}");
    }
    // Its FP32 conversion reads no images: it still converts.
    let (code, _, err) = qplay(&["convert", w, export_out.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    std::fs::remove_file(&wrong).ok();
    std::fs::remove_file(&export_out).ok();
    // An experiment description past 1 MiB is refused by its size before it is parsed (a 150 MB
    // TOML took 3.7 GB of memory to be refused for its first key).
    let huge = std::env::temp_dir().join(format!("qplay-run-huge-{}.toml", std::process::id()));
    std::fs::write(&huge, "k = 1\n".repeat(200_000)).unwrap();
    let (code, _, err) = qplay(&["run", huge.to_str().unwrap()]);
    assert!(code != 0 && err.contains("the file is 1,200,000 bytes (1.1 MiB); the limit is 1,048,576 bytes (1 MiB)"), "{err}");
    std::fs::remove_file(&huge).ok();
    // A settings file that is not text: the same message from `run` and from `lm --config`, with
    // the first byte that is not UTF-8.
    let binary = std::env::temp_dir().join(format!("qplay-run-binary-{}.toml", std::process::id()));
    std::fs::write(&binary, b"bits = 4\n\xff\xfe").unwrap();
    for args in [vec!["run", binary.to_str().unwrap()], vec!["lm", "eval", "--config", binary.to_str().unwrap()]] {
        let (code, _, err) = qplay(&args);
        assert!(code != 0 && err.contains("not UTF-8 text (byte 9 is not; is this a binary file?)") && err.contains(binary.to_str().unwrap()), "{args:?}: {err}");
    }
    std::fs::remove_file(&binary).ok();
    // A parse error quotes the line it is on: a line of 100,000 characters is quoted clipped.
    let long = std::env::temp_dir().join(format!("qplay-run-long-{}.toml", std::process::id()));
    std::fs::write(&long, format!("task = \"{}\"\n", "x".repeat(100_000))).unwrap();
    for args in [vec!["run", long.to_str().unwrap()], vec!["lm", "eval", "--config", long.to_str().unwrap()]] {
        let (code, _, err) = qplay(&args);
        assert!(code != 0 && err.contains("xxx…") && err.len() < 2_000, "{args:?}: {} bytes: {}", err.len(), qplay::clip::clip(&err, 400));
    }
    std::fs::remove_file(&long).ok();

    let out = std::env::temp_dir().join(format!("qplay-export-{}.onnx", std::process::id()));
    let o = out.to_str().unwrap();
    for (args, needle) in [
        (vec!["--act-calibration", "foo"], "--act-calibration foo"),
        (vec!["--act-calibration", "kl", "--act-calibration-param", "65536"], "8192"),
        (vec!["--act-calibration", "min_max", "--act-calibration-param", "3"], "no setting"),
    ] {
        let mut all = vec!["export", "--model", "mlp-fashion", "--format", "qdq-onnx", "--out", o];
        all.extend(args);
        let (code, _, err) = qplay(&all);
        assert_ne!(code, 0);
        assert!(err.contains(needle), "{err}");
    }
    let (code, _, err) = qplay(&["export", "--model", "mlp-fashion", "--format", "qdq-onnx", "--out", o, "--act-calibration", "percentile", "--act-calibration-param", "99.9"]);
    assert_eq!(code, 0, "{err}");
    assert!(std::fs::metadata(&out).unwrap().len() > 100_000);
}

/// QAT deploys the model it trained: the PTQ of the fine-tuned weights on the grid it was trained
/// on (the experiment's narrow range, symmetry, granularity) and with the activation ranges it
/// learned. A W4 clip model once scored 41 % as trained and 13 % deployed.
#[test]
fn qat_deploys_what_it_trained() {
    for method in ["clip", "normal"] {
        let (code, out, err) = qplay(&["run", "--set", "task=qat", "--set", &format!("ptq.method={method}"), "--set", "ptq.weight_bits=4",
            "--set", "qat.train_size=12000", "--set", "qat.epochs=1", "--set", "eval_size=2000"]);
        assert_eq!(code, 0, "{err}");
        let j: serde_json::Value = serde_json::from_str(&out).unwrap();
        let r = &j["report"];
        let trained = r["accuracy"].as_array().unwrap().last().unwrap()[1].as_f64().unwrap();
        let deployed = r["deployed_accuracy"].as_f64().unwrap();
        assert!((trained - deployed).abs() <= 0.01, "{method}: as trained {trained}, deployed {deployed}");
        assert!(trained > 0.3, "{method}: {trained}");
        assert_eq!(j["notes"].as_array().unwrap().len(), 0, "{method}: training that works gets no note: {}", j["notes"]);
    }
}

/// Training that makes the model worse is said (a learning rate of 0.99 took a W4 model from 87 %
/// to 10 % with nothing but the figures to tell).
#[test]
fn qat_that_diverges_is_named() {
    let (code, out, err) = qplay(&["run", "--set", "task=qat", "--set", "qat.lr=0.99", "--set", "qat.train_size=3000", "--set", "ptq.weight_bits=4",
        "--set", "qat.epochs=1", "--set", "eval_size=1000"]);
    assert_eq!(code, 0, "{err}");
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    let notes = j["notes"].as_array().unwrap();
    assert_eq!(notes.len(), 1, "{notes:?}");
    let n = notes[0].as_str().unwrap();
    assert!(n.starts_with("Training made the model worse: test accuracy fell from ") && n.contains("A learning rate too large is the usual cause (qat.lr = 0.99;"), "{n}");
    assert_eq!(j["report"]["notes"], j["notes"]);
    assert!(err.contains("note: Training made the model worse"), "{err}");
    assert!(n.contains("; the training loss reached "), "{n}");
    // The rule itself: accuracy down by more than 5 points, with the largest loss seen.
    use qplay::experiment::qat::{divergence_note, CurvePoint};
    let curve = |l: &[f64]| l.iter().enumerate().map(|(i, &loss)| CurvePoint { epoch: i as f64, loss }).collect::<Vec<_>>();
    let jump = curve(&[550_681.2, 726.1, 2.303]);
    assert!(divergence_note(&jump, &[(0, 0.875), (1, 0.10)], 0.99).unwrap().contains("from 87.50 % to 10.00 %; the training loss reached 550681. A learning rate too large"));
    assert!(divergence_note(&jump, &[(0, 0.87), (1, 0.84)], 0.5).is_none(), "3 points down is noise");
    assert!(divergence_note(&curve(&[0.5, f64::NAN, 0.7]), &[(0, 0.87), (1, 0.10)], 0.5).unwrap().contains("; the training loss was not finite."));
    assert!(divergence_note(&[], &[(0, 0.87)], 0.5).is_none());
}

#[test]
fn flags_the_other_flags_make_meaningless_are_refused_by_name() {
    let cases: [(&[&str], &str); 9] = [
        (&["tensor", "--values", "1,2,3", "--percentile", "50"], "--percentile is a setting of --calibration percentile"),
        (&["tensor", "--values", "1,2,3", "--calibration", "kl", "--steps", "10"], "--steps is a setting of --calibration mse"),
        (&["tensor", "--values", "1,2,3", "--batch", "2"], "--batch is a setting of --calibration moving-average"),
        (&["tensor", "--values", "1,2,3", "--range=-1,1", "--calibration", "kl"], "--range sets α and β by hand"),
        (&["tensor", "--values", "1,2,3,4", "--group-size", "2"], "--group-size is a setting of --granularity per-group"),
        (&["tensor", "--values", "1,2,3,4", "--shape", "2,2", "--axis", "1"], "--axis is a setting"),
        (&["tensor", "--values", "1,2,3", "--seed", "3"], "--seed seeds --rounding stochastic"),
        (&["train", "--arch", "mlp", "--dataset", "fashion", "--lr", "nan", "--out", "/tmp/never.safetensors"], "--lr NaN: outside (0, 1)"),
        (&["train", "--arch", "mlp", "--dataset", "fashion", "--batch", "0", "--out", "/tmp/never.safetensors"], "--batch 0: outside 1–4096"),
    ];
    for (args, needle) in cases {
        let (code, _, err) = qplay(args);
        assert_ne!(code, 0, "{args:?} should fail");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    let (code, _, err) = qplay(&["export", "--model", "mlp-mnist", "--format", "onnx", "--weight-bits", "4", "--out", "/tmp/never.onnx"]);
    assert!(code != 0 && err.contains("--weight-bits is a setting of the quantized formats"), "{err}");
    let (code, _, err) = qplay(&["train", "--arch", "mlp", "--dataset", "fashion", "--epochs", "0", "--out", "/tmp/never.onnx"]);
    assert!(code != 0 && err.contains("train writes a .safetensors file"), "{err}");
    assert!(!std::path::Path::new("/tmp/never.onnx").exists());
    // The same settings where they apply still run.
    for args in [
        &["tensor", "--values", "1,2,3", "--calibration", "percentile", "--percentile", "50"][..],
        &["tensor", "--values", "1,2,3,4", "--shape", "2,2", "--granularity", "per-group", "--axis", "1", "--group-size", "2"],
        &["tensor", "--values", "1,2,3", "--rounding", "stochastic", "--seed", "3"],
    ] {
        let (code, _, err) = qplay(args);
        assert_eq!(code, 0, "{args:?}: {err}");
    }
}

#[test]
fn a_tensor_of_many_slices_lists_the_first_1024_and_names_the_tensor_read() {
    // 2,000 channels of 3 values: the JSON lists 1,024 slices and says how many in all; the CSV
    // under --out has every one; the reports name the file's tensor.
    let dir = std::env::temp_dir().join(format!("qplay-cli-slices-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let values: Vec<f32> = (0..6000).map(|i| ((i * 37) % 101) as f32 / 10.0 - 5.0).collect();
    let input = dir.join("conv_w.npy");
    std::fs::write(&input, qplay::formats::npy::write_npy_f32(&values, &[2000, 3])).unwrap();
    let out_dir = dir.join("out");
    let (code, out, err) = qplay(&["tensor", input.to_str().unwrap(), "--granularity", "per-channel", "--out", out_dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["slices_total"], 2000);
    assert_eq!(report["slices"].as_array().unwrap().len(), 1024);
    let params = report["quant_params"].as_array().unwrap();
    assert_eq!(params.len(), 1024);
    assert_eq!(params[0]["TensorName"], "conv_w", "{}", params[0]);
    let csv = std::fs::read_to_string(out_dir.join("quant_params.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 2000);
    // The MSE search's work is bounded: 120,000 values × 10,000 steps (past 2^30 evaluations) is
    // refused before any is computed, naming the most steps it takes.
    let big = dir.join("big.npy");
    std::fs::write(&big, qplay::formats::npy::write_npy_f32(&vec![0.5; 120_000], &[120_000])).unwrap();
    let (code, _, err) = qplay(&["tensor", big.to_str().unwrap(), "--calibration", "mse", "--steps", "10000"]);
    assert!(code != 0 && err.contains("--steps 10000") && err.contains("give at most 8947 steps"), "{err}");
    let (code, _, err) = qplay(&["tensor", input.to_str().unwrap(), "--calibration", "mse", "--steps", "300"]);
    assert_eq!(code, 0, "{err}");
    // A .npy name on something else is named as such.
    std::fs::write(dir.join("empty.npy"), b"").unwrap();
    let (code, _, err) = qplay(&["tensor", dir.join("empty.npy").to_str().unwrap()]);
    assert!(code != 0 && err.contains("not a .npy file"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}
