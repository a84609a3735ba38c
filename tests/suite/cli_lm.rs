//! `qplay lm` on the built-in model: the W8 target from the command line, reports on disk, TOML
//! settings, generation, and messages that name the bad setting or file.
#![cfg(not(target_arch = "wasm32"))]

use std::process::Command;

fn qplay(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_qplay")).arg("lm").args(args).output().expect("the CLI runs");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

#[test]
fn w8_per_channel_meets_its_targets_and_writes_its_report() {
    let dir = std::env::temp_dir().join(format!("qplay-cli-lm-{}", std::process::id()));
    let (code, out, err) = qplay(&["quantize", "--bits", "8", "--tokens", "2049", "--report", dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    let c = &j["comparison"];
    assert!(c["delta_pct"].as_f64().unwrap().abs() < 0.5, "{c}");
    assert!(c["mean_kl"].as_f64().unwrap() < 0.002, "{c}");
    assert!(c["top1_same"].as_f64().unwrap() >= 0.98, "{c}");
    assert_eq!(c["fp32"]["tokens"], 2048);
    // The f32 settings as typed, not widened to f64's digits (0.009999999776482582).
    assert_eq!(j["config"]["damp"].to_string(), "0.01", "{}", j["config"]);
    assert_eq!(j["config"]["alpha"].to_string(), "0.5", "{}", j["config"]);
    assert_eq!(c["layers"].as_array().unwrap().len(), 6 * 7 + 1);
    assert_eq!(c["channel_ranges"].as_array().unwrap().len(), 6 * 7 + 1);
    let csv = std::fs::read_to_string(dir.join("layers.csv")).unwrap();
    assert!(csv.lines().any(|l| l.starts_with("layers.0.attention.wq,W8 per-channel,int8 weights")), "{csv}");
    assert!(csv.lines().any(|l| l.starts_with("output,f32,f32 GEMM")), "the head is skipped by default: {csv}");
    assert!(dir.join("report.json").exists());

    let toml = dir.join("w4.toml");
    std::fs::write(&toml, "weights = \"rtn\"\nbits = 4\ngroup = 32\nkv = \"int8\"\nskip = []\n").unwrap();
    let (code, out, err) = qplay(&["eval", "--config", toml.to_str().unwrap(), "--tokens", "513"]);
    assert_eq!(code, 0, "{err}");
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["label"], "W4 g32 RTN, every Linear quantized + KV int8");
    // The same settings from a share link.
    let (code, out, err) = qplay(&["eval", "--link", "http://127.0.0.1:8080/#/lm?weights=rtn&bits=4&group=32&kv=int8&skip=&colour=red", "--tokens", "513"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("\"colour\" ignored: not a setting"), "{err}");
    let k: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(k["comparison"], j["comparison"]);
    // The link's own evaluation tokens when --tokens is not given.
    let (code, out, err) = qplay(&["eval", "--link", "#/lm?weights=rtn&bits=4&group=32&kv=int8&skip=&tokens=513"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&out).unwrap()["comparison"], j["comparison"]);
    assert!(j["layers"].as_array().unwrap().iter().any(|l| l["name"] == "output" && l["format"] == "W4 g32"));
    // A page link on the larger built-in model runs on it (4 blocks of 7 projections and the head);
    // --builtin says the same, and a link made with the user's own files asks for them.
    let (code, out, err) = qplay(&["eval", "--link", "#/lm?weights=rtn&bits=4&group=32&builtin=large", "--tokens", "257"]);
    assert_eq!(code, 0, "{err}");
    let large: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(large["comparison"]["layers"].as_array().unwrap().len(), 4 * 7 + 1);
    let (code, out, err) = qplay(&["eval", "--builtin", "large", "--weights", "rtn", "--bits", "4", "--group", "32", "--tokens", "257"]);
    assert_eq!(code, 0, "{err}");
    let flag: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(flag["comparison"], large["comparison"]);
    let (code, _, err) = qplay(&["eval", "--builtin", "huge", "--tokens", "257"]);
    assert_ne!(code, 0);
    assert!(err.contains("--builtin huge: use small or large"), "{err}");
    let (code, _, err) = qplay(&["eval", "--link", "#/lm?model=stories260K.bin", "--tokens", "257"]);
    assert_ne!(code, 0);
    assert!(err.contains("your own model \"stories260K.bin\": give its files with --model"), "{err}");
}

#[test]
fn generation_is_seeded_and_bad_settings_are_named() {
    let args = ["generate", "--prompt", "ROMEO:", "--max-new", "30", "--seed", "3", "--bits", "8"];
    let (code, a, err) = qplay(&args);
    assert_eq!(code, 0, "{err}");
    assert!(a.starts_with("ROMEO:") && a.trim_end().len() > 30, "{a}");
    assert_eq!(qplay(&args).1, a, "the same seed gives the same text");
    // A page's link gives what the flags leave out: its prompt, length and sampling as well as
    // its quantization (the flags, when given, win).
    let (code, b, err) = qplay(&["generate", "--link", "#/lm?weights=rtn&bits=8&seed=3&max_new=30&prompt=ROMEO%3A"]);
    assert_eq!((code, &b), (0, &a), "{err}");
    let (code, c, err) = qplay(&["generate", "--link", "#/lm?weights=rtn&bits=8&seed=3&max_new=30&prompt=ROMEO%3A&temperature=0", "--max-new", "12"]);
    assert_eq!(code, 0, "{err}");
    let (_, greedy, _) = qplay(&["generate", "--prompt", "ROMEO:", "--max-new", "12", "--temperature", "0", "--bits", "8"]);
    assert_eq!(c, greedy);
    let (code, _, err) = qplay(&["generate", "--bits", "8"]);
    assert!(code != 0 && err.contains("--prompt: give the text to continue"), "{err}");

    for (args, needle) in [
        (vec!["eval", "--bits", "9"], "9 is not in 2..=8"),
        (vec!["eval", "--bits", "99999999999"], "99999999999 is not in 2..=8"),
        (vec!["eval", "--weights", "q4_0", "--bits", "8"], "--bits sets the grid of --weights rtn; q4_0 has its own"),
        (vec!["eval", "--weights", "f16", "--group", "32"], "--group sets the grid of --weights rtn; f16 has its own"),
        (vec!["eval", "--weights", "q4_0", "--layer-bits", "feed_forward.w2=8"], "--layer-bits sets the grid of --weights rtn; q4_0 has its own"),
        (vec!["eval", "--weights", "q8_0", "--asym"], "--asym sets the grid of --weights rtn; q8_0 has its own"),
        (vec!["eval", "--weights", "q4_1", "--narrow"], "--narrow sets the grid of --weights rtn; q4_1 has its own"),
        (vec!["eval", "--bits", "4", "--group", "48"], "group"),
        (vec!["eval", "--weights", "q5_k"], "--weights q5_k"),
        (vec!["eval", "--kv", "int4"], "--kv int4"),
        (vec!["eval", "--tokens", "1"], "--tokens 1"),
        (vec!["eval", "--weights", "f16", "--int8-acts"], "int8 activations"),
        (vec!["eval", "--bits", "8", "--static-acts"], "add --int8-acts"),
        (vec!["eval", "--bits", "4", "--group", "32", "--awq-gptq"], "--awq-gptq belongs to AWQ: add --method awq"),
        (vec!["eval", "--bits", "4", "--group", "32", "--method", "gptq", "--awq-clip"], "--awq-clip belongs to AWQ"),
        (vec!["eval", "--bits", "4", "--group", "32", "--method", "awq", "--act-order"], "add --method gptq, or --method awq --awq-gptq"),
        (vec!["eval", "--layer-bits", "wq"], "NAME=BITS"),
        (vec!["generate", "--prompt", "ROMEO\u{e9}"], "not in the model's alphabet"),
        (vec!["generate", "--prompt", "ROMEO:", "--top-p", "0"], "top_p"),
        (vec!["eval", "--model", "/dev/zero"], "not a regular file"),
        (vec!["eval", "--model", "Cargo.toml"], "no model file among"),
        (vec!["eval", "--method", "gptq", "--weights", "f16"], "GPTQ needs an integer weight format"),
        (vec!["eval", "--method", "optq"], "--method optq"),
        (vec!["eval", "--method", "gptq", "--bits", "4", "--damp", "2"], "damp"),
        (vec!["eval", "--method", "smoothquant", "--alpha", "1.5"], "alpha"),
        // A number f32 cannot hold is named as typed (it once said "inf is outside 0–1").
        (vec!["eval", "--method", "gptq", "--bits", "4", "--damp", "1e308"], "1e308 is beyond the range of f32"),
        (vec!["generate", "--prompt", "a", "--temperature", "1e-50"], "1e-50 is beyond the range of f32"),
        // A negative number is a value, checked as one (it was taken for an unknown flag "-0").
        (vec!["eval", "--method", "gptq", "--bits", "4", "--damp", "-0.5"], "damp: -0.5 is outside 0–1"),
        (vec!["eval", "--method", "smoothquant", "--alpha", "-1"], "alpha: -1 is outside 0–1"),
        (vec!["eval", "--bits", "-1"], "invalid value '-1' for '--bits"),
        (vec!["export", "--format", "gguf", "--bits", "4", "--out", "/tmp/qplay-never.gguf"], "no GGUF block type"),
        (vec!["export", "--format", "pt", "--out", "/tmp/qplay-never.pt"], "--format pt"),
        // A GGUF file holds every matrix at one type and no run-time setting; the ONNX export has
        // no KV cache: what they cannot carry is refused, not named in a label the file contradicts.
        (vec!["export", "--format", "gguf", "--weights", "q4_0", "--skip", "output", "--out", "/tmp/qplay-never.gguf"], "--skip: a GGUF export cannot carry it"),
        (vec!["export", "--format", "gguf", "--weights", "q4_0", "--layer-bits", "layers.0.feed_forward.w2=8", "--out", "/tmp/qplay-never.gguf"], "--layer-bits sets the grid of --weights rtn; q4_0 has its own"),
        (vec!["export", "--format", "gguf", "--weights", "q4_0", "--int8-acts", "--out", "/tmp/qplay-never.gguf"], "--int8-acts: a GGUF export cannot carry it"),
        (vec!["export", "--format", "gguf", "--weights", "q4_0", "--kv", "int8", "--out", "/tmp/qplay-never.gguf"], "--kv: a GGUF export cannot carry it"),
        (vec!["export", "--format", "onnx", "--kv", "int8", "--out", "/tmp/qplay-never.onnx"], "--kv int8: the ONNX export has no KV cache"),
        (vec!["export", "--format", "onnx", "--out", "/tmp"], "/tmp: is a directory"),
        // The search quantizes with RTN whatever the weights default to, names the setting in
        // its way, and chooses every width itself.
        (vec!["search", "--budget-bpw", "6", "--method", "gptq"], "the mixed-precision search quantizes with plain RTN"),
        (vec!["search", "--budget-bpw", "6", "--layer-bits", "layers.0.attention.wq=2"], "--layer-bits: the search chooses every Linear's width itself"),
        (vec!["search", "--budget-bpw", "6", "--high-bits", "9"], "9 is not in 2..=8"),
    ] {
        let (code, out, err) = qplay(&args);
        assert_ne!(code, 0, "{args:?} must fail");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?} wrote {out:?} before failing");
    }
    assert!(!std::path::Path::new("/tmp/qplay-never.gguf").exists() && !std::path::Path::new("/tmp/qplay-never.onnx").exists());
    // A write that fails part way (a file-size limit standing in for a full disk) leaves the
    // file that was there before, whole, and no partial one.
    let dir = std::env::temp_dir().join(format!("qplay-export-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("m.gguf");
    std::fs::write(&out, b"the old file").unwrap();
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -f 100; trap '' XFSZ; exec \"$0\" lm export --format gguf --weights q4_0 --out \"$1\""))
        .arg(env!("CARGO_BIN_EXE_qplay"))
        .arg(&out)
        .output()
        .unwrap();
    assert!(!status.status.success(), "the write past 100 blocks fails");
    assert!(String::from_utf8_lossy(&status.stderr).contains("m.gguf: File too large"), "{}", String::from_utf8_lossy(&status.stderr));
    assert_eq!(std::fs::read(&out).unwrap(), b"the old file");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "no partial file is left");
    let (code, _, err) = qplay(&["export", "--format", "gguf", "--weights", "q4_0", "--out", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(std::fs::read(&out).unwrap().starts_with(b"GGUF"));
    // A packed export given back as a model is named for what it is, with its one reason.
    let packed = dir.join("w4.safetensors");
    let (code, _, err) = qplay(&["export", "--format", "safetensors", "--bits", "4", "--group", "32", "--out", packed.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = qplay(&["eval", "--model", packed.to_str().unwrap(), "--tokens", "65"]);
    assert_ne!(code, 0);
    assert!(err.contains("w4.safetensors is a packed quantized export written by qplay") && !err.contains("as a qplay model"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
    let long = "a".repeat(300);
    let (code, out, err) = qplay(&["generate", "--prompt", &long]);
    assert_ne!(code, 0);
    assert!(err.contains("context holds 256"), "{err}");
    assert!(out.is_empty(), "the prompt is not echoed before the run fails: {out:?}");
    // Asking for more than the context holds: the text stops there, and stderr says why.
    let (code, text, err) = qplay(&["generate", "--prompt", "ROMEO:", "--max-new", "4096"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("stopped after 251 of the 4096 tokens asked for: the model's context of 256 tokens (prompt included) is full"), "{err}");
    assert!(text.len() > 250, "{text}");

    // TOML lists: room for every Linear of the largest model, no more; names of bounded length.
    let dir = std::env::temp_dir().join(format!("qplay-cli-lm-lists-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let toml = |name: &str, body: String| {
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        p.to_str().unwrap().to_string()
    };
    let many = toml("many.toml", format!("skip = [{}]\n", (0..8193).map(|i| format!("\"x{i}\"")).collect::<Vec<_>>().join(", ")));
    let (code, _, err) = qplay(&["eval", "--config", &many, "--tokens", "2"]);
    assert_ne!(code, 0);
    assert!(err.contains("skip: 8193 entries, more than the 8192"), "{err}");
    let wide = toml("wide.toml", format!("weights = \"rtn\"\n[layer_bits]\n\"{}\" = 4\n", "w".repeat(300)));
    let (code, _, err) = qplay(&["eval", "--config", &wide, "--tokens", "2"]);
    assert_ne!(code, 0);
    assert!(err.contains("layer_bits: a name of 300 characters (at most 256)"), "{err}");
    // A search's whole choice, one entry per Linear, reads (and a misspelt one is named).
    let mut body = "weights = \"rtn\"\ngroup = 32\n[layer_bits]\n".to_string();
    for l in 0..6 {
        for m in ["attention.wq", "attention.wk", "attention.wv", "attention.wo", "feed_forward.w1", "feed_forward.w2", "feed_forward.w3"] {
            body += &format!("\"layers.{l}.{m}\" = {}\n", if l % 2 == 0 { 4 } else { 8 });
        }
    }
    let (code, out, err) = qplay(&["eval", "--config", &toml("all.toml", body.clone()), "--tokens", "257"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"perplexity\""), "{out}");
    let (code, _, err) = qplay(&["eval", "--config", &toml("typo.toml", body + "\"layers.6.attention.wq\" = 4\n"), "--tokens", "257"]);
    assert_ne!(code, 0);
    assert!(err.contains("\"layers.6.attention.wq\" names no Linear"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

const IMPORT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/lm/import/");

/// Generation ends at the model's end-of-text token, and stderr says so. tied_f32.gguf (32 ids)
/// with its EOS id rewritten to each id in turn, greedy: the first id written ends the text
/// after one token, any other either never comes or cuts the same text shorter.
#[test]
fn generation_ends_at_the_models_end_of_text_token() {
    let gguf = std::fs::read(format!("{IMPORT}tied_f32.gguf")).unwrap();
    let key = b"tokenizer.ggml.eos_token_id";
    let at = gguf.windows(key.len()).position(|w| w == key).unwrap() + key.len();
    assert_eq!(gguf[at..at + 4], 4u32.to_le_bytes(), "a u32 value");
    assert_eq!(gguf[at + 4..at + 8], 2u32.to_le_bytes());
    let dir = std::env::temp_dir().join(format!("qplay-cli-lm-eos-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut texts = Vec::new();
    for eos in 0..32u32 {
        let mut file = gguf.clone();
        file[at + 4..at + 8].copy_from_slice(&eos.to_le_bytes());
        let path = dir.join("model.gguf");
        std::fs::write(&path, &file).unwrap();
        let (code, text, err) = qplay(&["generate", "--model", path.to_str().unwrap(), "--prompt", "ROMEO:", "--max-new", "12", "--temperature", "0"]);
        assert_eq!(code, 0, "{err}");
        let stopped = err.lines().find(|l| l.starts_with("stopped after"));
        let written = match stopped {
            None => 12,
            Some(l) => {
                assert!(l.ends_with(&format!("of the 12 tokens asked for: the model wrote its end-of-text token ({eos})")), "{l}");
                l["stopped after ".len()..].split(' ').next().unwrap().parse::<usize>().unwrap()
            }
        };
        texts.push((written, text.trim_end().to_string()));
    }
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(texts.iter().filter(|t| t.0 == 1).count(), 1, "exactly one id is the first written: {texts:?}");
    let longest = texts.iter().max_by_key(|t| t.0).unwrap().1.clone();
    assert!(texts.iter().any(|t| t.0 == 12), "{texts:?}");
    for (n, text) in &texts {
        assert!(longest.starts_with(text.as_str()), "{n} tokens: {text:?} against {longest:?}");
    }
}

#[test]
fn the_users_own_files_load_and_every_method_runs() {
    // A llama2.c v0 model with its tokenizer.bin, and a GGUF file: both read, scored on the text.
    let v0 = format!("{IMPORT}model_v0.bin");
    let tok = format!("{IMPORT}tokenizer.bin");
    let (code, out, err) = qplay(&["eval", "--model", &v0, &tok, "--tokens", "300"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("llama2.c model.bin v0"), "{err}");
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(j["perplexity"]["perplexity"].as_f64().unwrap().is_finite(), "{j}");
    assert_eq!(j["model"], "FP32", "a float file's model is FP32");
    assert!(!err.contains("scoring all"), "{err}");
    // A link made with these files carries their fingerprint: the same files say nothing, a link
    // of other contents under the same names is said (the page says the same on its drop).
    let fingerprint = qplay::lm::import::files_fingerprint(&[
        ("tokenizer.bin", &std::fs::read(&tok).unwrap()),
        ("model_v0.bin", &std::fs::read(&v0).unwrap()),
    ]);
    for (files, differ) in [(fingerprint.as_str(), false), ("12345-0123456789ab", true)] {
        let link = format!("#/lm?model=model_v0.bin%2C+tokenizer.bin&files={files}");
        let (code, _, err) = qplay(&["eval", "--model", &v0, &tok, "--tokens", "300", "--link", &link]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(err.contains("not its files' contents (the link's: 12,345 bytes, hash 0123456789ab; these: "), differ, "{err}");
    }
    // More tokens than the text has: all of them are scored, and the note says how many.
    let (code, out, err) = qplay(&["eval", "--model", &v0, &tok, "--tokens", "100000000"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("--tokens 100000000: the validation text is 380562 tokens long for this tokenizer; scoring all of them"), "{err}");
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["perplexity"]["tokens"], 380561, "{}", j["perplexity"]);
    let (code, _, err) = qplay(&["eval", "--model", &format!("{IMPORT}tied_f32.gguf"), "--tokens", "300", "--bits", "8"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("GGUF v3"), "{err}");
    // A truncated GGUF is refused with a message.
    let bytes = std::fs::read(format!("{IMPORT}tied_f32.gguf")).unwrap();
    let cut = std::env::temp_dir().join(format!("qplay-cut-{}.gguf", std::process::id()));
    std::fs::write(&cut, &bytes[..bytes.len() / 3]).unwrap();
    let (code, _, err) = qplay(&["eval", "--model", cut.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(err.contains("qplay:") && !err.contains("panicked"), "{err}");

    // Every method on the built-in model, scored against FP32 (small calibration for speed).
    for (args, label) in [
        (vec!["--method", "gptq", "--bits", "4", "--group", "32"], "W4 g32 GPTQ"),
        (vec!["--method", "awq", "--bits", "4", "--group", "32"], "W4 g32 AWQ"),
        (vec!["--method", "smoothquant", "--bits", "8", "--int8-acts", "--outliers", "4"], "W8A8 per-channel SmoothQuant α0.5, 4 outlier channels ×50"),
    ] {
        let mut a = vec!["eval", "--calib-tokens", "512", "--tokens", "513"];
        a.extend(args.iter());
        let (code, out, err) = qplay(&a);
        assert_eq!(code, 0, "{a:?}: {err}");
        let j: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert!(j["label"].as_str().unwrap().starts_with(label), "{j}");
        assert!(j["comparison"]["delta_pct"].as_f64().unwrap().abs() < 5.0, "{a:?}: {}", j["comparison"]);
    }

    // Exports: GGUF Q8_0 reads back and scores like Q8_0; the QDQ ONNX file is written.
    let dir = std::env::temp_dir().join(format!("qplay-cli-export-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let gguf = dir.join("m.gguf");
    let (code, _, err) = qplay(&["export", "--format", "gguf", "--weights", "q8_0", "--out", gguf.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = qplay(&["eval", "--model", gguf.to_str().unwrap(), "--tokens", "513"]);
    assert_eq!(code, 0, "{err}");
    let from_file: serde_json::Value = serde_json::from_str(&out).unwrap();
    // The file names the model it was made from (general.name).
    assert!(err.contains("qplay: read GGUF v3 \"qplay Shakespeare (built-in)\""), "{err}");
    // Its model is the file's Q8_0 dequantized, and is named so, not "FP32".
    assert_eq!(from_file["model"], "FP32, dequantized from the file's Q8_0 ×44", "{from_file}");
    let (code, out, err) = qplay(&["eval", "--weights", "q8_0", "--skip", "none", "--tokens", "513"]);
    assert_eq!(code, 0, "{err}");
    let in_place: serde_json::Value = serde_json::from_str(&out).unwrap();
    let (a, b) = (from_file["perplexity"]["perplexity"].as_f64().unwrap(), in_place["comparison"]["quantized"]["perplexity"].as_f64().unwrap());
    assert!((a - b).abs() / b < 1e-4, "GGUF Q8_0 read back {a}, Q8_0 in place {b}");
    let onnx = dir.join("m.onnx");
    let (code, _, err) = qplay(&["export", "--format", "onnx", "--bits", "8", "--int8-acts", "--out", onnx.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(std::fs::metadata(&onnx).unwrap().len() > 100_000);
}

#[test]
fn a_model_without_a_tokenizer_exports_and_benchmarks_but_does_not_read_text() {
    // A bare llama2.c model.bin: an RTN export and the kernel benchmark need no tokenizer (they
    // used to stop at "the model has no tokenizer"); a command that reads text names what is missing.
    let v0 = format!("{IMPORT}model_v0.bin");
    let out = std::env::temp_dir().join(format!("qplay-bare-{}.gguf", std::process::id()));
    let (code, json, err) = qplay(&["export", "--model", &v0, "--format", "gguf", "--weights", "q8_0", "--out", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(json.contains("\"label\":\"Q8_0, every Linear quantized\"") && std::fs::metadata(&out).unwrap().len() > 1000, "{json}");
    assert!(err.contains("the GGUF file has no tokenizer, which llama.cpp needs"), "{err}");
    // A llama2.c header has no name: the export is named by the weights file.
    let back = qplay::lm::import::read_gguf(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(back.title.as_deref(), Some("model_v0"));
    let (code, json, err) = qplay(&["bench", "--model", &v0, "--tokens", "2"]);
    assert_eq!(code, 0, "{err}");
    assert!(json.contains("model_fp32"), "{json}");
    for cmd in [vec!["eval"], vec!["generate", "--prompt", "hi"], vec!["eval", "--method", "gptq", "--bits", "4", "--group", "32"]] {
        let mut a = cmd.clone();
        a.extend(["--model", v0.as_str()]);
        let (code, _, err) = qplay(&a);
        assert_eq!(code, 1, "{a:?}: {err}");
        assert!(err.contains("the model has no tokenizer: give its tokenizer.json / tokenizer.bin with it"), "{a:?}: {err}");
    }
    // A tokenizer that is given but does not read stops even the commands that need none.
    let dir = std::env::temp_dir().join(format!("qplay-bad-tokenizer-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("tokenizer.json");
    std::fs::write(&bad, "{\"model\": 1}").unwrap();
    let (code, _, err) = qplay(&["bench", "--model", &v0, bad.to_str().unwrap(), "--tokens", "2"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("tokenizer.json"), "{err}");
    // A GGUF whose vocabulary is of a kind qplay does not run ("bert") exports as the page does;
    // reading text names the kind.
    use qplay::lm::import::{import_model, write_gguf, GgufWeightType, RawVocab};
    let tied = std::fs::read(format!("{IMPORT}tied_f32.gguf")).unwrap();
    let m = import_model(&[("tied.gguf".to_string(), tied.as_slice())]).unwrap();
    let Some(RawVocab::Tokens(mut v)) = m.vocab else { panic!("the fixture has a vocabulary") };
    v.model = Some("bert".into());
    let bert = dir.join("bert.gguf");
    std::fs::write(&bert, write_gguf(&m.weights, "qplay test", GgufWeightType::F32, Some(&RawVocab::Tokens(v))).unwrap()).unwrap();
    let (code, _, err) = qplay(&["export", "--model", bert.to_str().unwrap(), "--format", "gguf", "--weights", "q8_0", "--out", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = qplay(&["eval", "--model", bert.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("\"bert\" is not implemented"), "{err}");
}

/// A llama2.c v0 file (vocabulary negative: an untied head) of the given shape, weights from a
/// fixed pattern times `scale`.
fn llama2c_v0(dim: usize, hidden: usize, layers: usize, heads: usize, vocab: usize, seq: usize, scale: f32) -> Vec<u8> {
    let kv = dim; // n_kv_heads = n_heads
    let hs = dim / heads;
    let counts = [
        vocab * dim,
        layers * dim,
        layers * dim * dim,
        layers * dim * kv,
        layers * dim * kv,
        layers * dim * dim,
        layers * dim,
        layers * hidden * dim,
        layers * dim * hidden,
        layers * hidden * dim,
        dim,
        seq * hs / 2,
        seq * hs / 2,
        vocab * dim,
    ];
    let mut out = Vec::new();
    for v in [dim, hidden, layers, heads, heads] {
        out.extend_from_slice(&(v as i32).to_le_bytes());
    }
    out.extend_from_slice(&(-(vocab as i32)).to_le_bytes());
    out.extend_from_slice(&(seq as i32).to_le_bytes());
    for (i, _) in (0..counts.iter().sum::<usize>()).enumerate() {
        let x = ((i * 37 % 101) as f32 - 50.0) / 500.0 * scale;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}

#[test]
fn bench_times_only_the_formats_a_users_model_runs_and_bad_arguments_are_messages() {
    let dir = std::env::temp_dir().join(format!("qplay-cli-lm-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let tok = format!("{IMPORT}tokenizer.bin");
    // Rows of 8: no Q8_0 / Q4_0 / group 32, which the benchmark names and leaves out.
    let narrow = dir.join("narrow.bin");
    std::fs::write(&narrow, llama2c_v0(8, 16, 1, 2, 32, 8, 1.0)).unwrap();
    let (code, out, err) = qplay(&["bench", "--model", narrow.to_str().unwrap(), &tok, "--tokens", "2"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("not timed: q8_0") && err.contains("multiple of 32"), "{err}");
    assert!(out.contains("model_fp32") && out.contains("model_w8a8_per_channel") && !out.contains("model_q8_0"), "{out}");
    // Finite weights whose activations overflow: the formats that cannot run are named.
    let huge = dir.join("huge.bin");
    std::fs::write(&huge, llama2c_v0(32, 64, 1, 2, 32, 8, 1e18)).unwrap();
    let (code, _, err) = qplay(&["bench", "--model", huge.to_str().unwrap(), &tok, "--tokens", "2"]);
    assert!(code == 0 || code == 1, "exit {code}: {err}");
    assert!(!err.contains("panicked"), "{err}");
    // It times every format itself: a quantization setting would go unused, and is refused.
    let (code, _, err) = qplay(&["bench", "--model", huge.to_str().unwrap(), &tok, "--tokens", "2", "--weights", "rtn", "--bits", "4"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("lm bench times every format") && err.contains("leave out the quantization settings"), "{err}");
    // Evaluated with int8 activations: the overflow is named where it first shows, at a Linear
    // whose int8 input cannot be scaled or in the residual stream after a block.
    let (code, _, err) = qplay(&["eval", "--model", huge.to_str().unwrap(), &tok, "--bits", "8", "--int8-acts", "--skip", "none", "--tokens", "8"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("quantizing output (") || err.contains("quantizing layers.0.") || err.contains("overflow f32: value 0 of the residual stream after block 0"), "{err}");
    // An argument that is not UTF-8 (a legal Linux file name): a message, not a panic.
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let bad = std::ffi::OsStr::from_bytes(b"bad\xff.gguf");
        let out = Command::new(env!("CARGO_BIN_EXE_qplay")).args(["lm", "generate", "--model"]).arg(bad).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked") && out.status.code() != Some(101), "{err}");
        let out = Command::new(env!("CARGO_BIN_EXE_qplay")).args(["lm", "generate", "--prompt"]).arg(bad).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked") && out.status.code() == Some(2), "{err}");
    }
    // Training settings are bounded before anything is allocated.
    let (code, _, err) = qplay(&["train", "--steps", "1", "--batch", "100000000", "--out", dir.join("t.safetensors").to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("batch") && err.contains("4096"), "{err}");
    // A file that reports no size (as /proc files do) is read only up to the limit.
    #[cfg(target_os = "linux")]
    {
        let (code, _, err) = qplay(&["eval", "--model", "/proc/self/status", "--tokens", "300"]);
        assert_eq!(code, 1, "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn outputs_that_are_not_regular_files_are_refused_and_left_as_they_were() {
    // An export is written beside its path and renamed over it: over a device (/dev/full became a
    // 1.3 MB file), a pipe or a symbolic link that replaced them. Refused, naming the path.
    use std::os::unix::fs::FileTypeExt;
    let dir = std::env::temp_dir().join(format!("qplay-out-kinds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("fifo.gguf");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let real = dir.join("real.gguf");
    std::fs::write(&real, b"").unwrap();
    let link = dir.join("link.gguf");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    for out in [&fifo, &link] {
        let (code, _, err) = qplay(&["export", "--format", "gguf", "--weights", "q8_0", "--out", out.to_str().unwrap()]);
        assert!(code != 0 && err.contains("not a regular file (a device, a pipe or a symbolic link)") && err.contains(out.to_str().unwrap()), "{err}");
    }
    assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert_eq!(std::fs::metadata(&real).unwrap().len(), 0, "nothing written through the link");
    // A report folder that is a file is named as such (it was "File exists (os error 17)").
    let (code, _, err) = qplay(&["quantize", "--tokens", "65", "--report", real.to_str().unwrap()]);
    assert!(code != 0 && err.contains("not a folder; give a folder for the report files"), "{err}");
    // Training checks where the model goes before it trains (it trained, then said "Is a directory").
    let (code, _, err) = qplay(&["train", "--steps", "1", "--out", dir.to_str().unwrap()]);
    assert!(code != 0 && err.contains("is a directory; give a file name") && !err.contains("step "), "{err}");
    // Without --out, only into a models/ folder given or found here, never the source tree's.
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let (code, _, err) = qplay(&["train", "--steps", "1", "--assets", empty.to_str().unwrap()]);
    assert!(code != 0 && err.contains("no models/ folder here to write the model into; give --out FILE"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_copied_link_is_read_whole_and_another_pages_link_is_refused() {
    // The page's Copy link gives a whole address; at the defaults it has no query at all (its path
    // was read as a key, "not a setting").
    for link in ["http://127.0.0.1:8080/#/lm", "#/lm", "http://127.0.0.1:8080/#/lm?weights=rtn&bits=8&group=0"] {
        let (code, out, err) = qplay(&["eval", "--tokens", "65", "--link", link]);
        assert_eq!(code, 0, "{link}: {err}");
        assert!(!err.contains("ignored"), "{link}: {err}");
        assert!(out.contains("\"perplexity\""), "{link}");
    }
    let (code, _, err) = qplay(&["eval", "--tokens", "65", "--link", "http://127.0.0.1:8080/#/tensor?bits=4"]);
    assert!(code != 0 && err.contains("\"#/tensor\" is not the Language-model page's link (#/lm?…)"), "{err}");
}

#[test]
fn all_and_tokens_together_are_refused() {
    // --all scored the whole split (52 s) though --tokens asked for 257.
    let (code, _, err) = qplay(&["eval", "--tokens", "257", "--all"]);
    assert!(code != 0 && err.contains("--all") && err.contains("--tokens"), "{err}");
}

#[test]
fn golden_sticks_ptq_config_call_gives_the_settings_it_describes() {
    // The seeds' A8W8 call as its guide prints it: SmoothQuant, int8 activations with per-tensor
    // static scales, the head quantized (no blacklist), the embedding float.
    let call = "ptq_config = PTQConfig(weight_quant_dtype=msdtype.int8, act_quant_dtype=msdtype.int8, kvcache_quant_dtype=None,\n    outliers_suppression=OutliersSuppressionType.SMOOTH)";
    let (code, out, err) = qplay(&["eval", "--ptq-config", call, "--tokens", "257", "--calib-tokens", "256"]);
    assert_eq!(code, 0, "{err}");
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    let flags = ["eval", "--bits", "8", "--int8-acts", "--static-acts", "--method", "smoothquant", "--skip", "tok_embeddings", "--tokens", "257", "--calib-tokens", "256"];
    let (code, same, err2) = qplay(&flags);
    assert_eq!(code, 0, "{err2}");
    let k: serde_json::Value = serde_json::from_str(&same).unwrap();
    assert_eq!(j["label"], k["label"]);
    assert_eq!(j["comparison"], k["comparison"], "the call and the flags run the same model");
    // From a file, with mode / backend noted on stderr; a flag given too wins.
    let dir = std::env::temp_dir().join(format!("qplay-cli-ptq-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("rtn.py");
    std::fs::write(&file, "cfg = PTQConfig(mode=PTQMode.QUANTIZE, backend=BackendTarget.ASCEND, opname_blacklist=[\"lm_head\"])\n").unwrap();
    let (code, out, err) = qplay(&["eval", "--ptq-config", file.to_str().unwrap(), "--kv", "int8", "--tokens", "257"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("qplay: PTQConfig: mode=PTQMode.QUANTIZE") && err.contains("backend=BackendTarget.ASCEND"), "{err}");
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["label"], "W8 per-channel RTN + KV int8", "{}", j["label"]);
    // Refusals name the field; --ptq-config with --config or --link is refused.
    let (code, _, err) = qplay(&["eval", "--ptq-config", "PTQConfig(weight_quant_dtype=msdtype.int4)", "--tokens", "257"]);
    assert_ne!(code, 0);
    assert!(err.contains("--ptq-config: weight_quant_dtype=msdtype.int4: use one of INT8, QINT4X2, NONE"), "{err}");
    let (code, _, err) = qplay(&["eval", "--ptq-config", "PTQConfig()", "--link", "#/lm?bits=4", "--tokens", "257"]);
    assert_ne!(code, 0);
    assert!(err.contains("use one"), "{err}");
    let (code, _, err) = qplay(&["eval", "--ptq-config", dir.join("missing.py").to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(err.contains("missing.py"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}
