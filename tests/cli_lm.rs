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
    assert_eq!(j["label"], "W4 g32 RTN + KV int8");
    // The same settings from a share link.
    let (code, out, err) = qplay(&["eval", "--link", "http://127.0.0.1:8080/#/lm?weights=rtn&bits=4&group=32&kv=int8&skip=&colour=red", "--tokens", "513"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("\"colour\" ignored: not a setting"), "{err}");
    let k: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(k["comparison"], j["comparison"]);
    assert!(j["layers"].as_array().unwrap().iter().any(|l| l["name"] == "output" && l["format"] == "W4 g32"));
}

#[test]
fn generation_is_seeded_and_bad_settings_are_named() {
    let args = ["generate", "--prompt", "ROMEO:", "--max-new", "30", "--seed", "3", "--bits", "8"];
    let (code, a, err) = qplay(&args);
    assert_eq!(code, 0, "{err}");
    assert!(a.starts_with("ROMEO:") && a.trim_end().len() > 30, "{a}");
    assert_eq!(qplay(&args).1, a, "the same seed gives the same text");

    for (args, needle) in [
        (vec!["eval", "--bits", "9"], "bits"),
        (vec!["eval", "--bits", "4", "--group", "48"], "group"),
        (vec!["eval", "--weights", "q5_k"], "--weights q5_k"),
        (vec!["eval", "--kv", "int4"], "--kv int4"),
        (vec!["eval", "--tokens", "1"], "--tokens 1"),
        (vec!["eval", "--weights", "f16", "--int8-acts"], "int8 activations"),
        (vec!["eval", "--layer-bits", "wq"], "NAME=BITS"),
        (vec!["generate", "--prompt", "ROMEO\u{e9}"], "not in the model's alphabet"),
        (vec!["generate", "--prompt", "ROMEO:", "--top-p", "0"], "top_p"),
        (vec!["eval", "--model", "/dev/zero"], "not a regular file"),
        (vec!["eval", "--model", "Cargo.toml"], "not a .safetensors file"),
    ] {
        let (code, _, err) = qplay(&args);
        assert_ne!(code, 0, "{args:?} must fail");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    let long = "a".repeat(300);
    let (code, _, err) = qplay(&["generate", "--prompt", &long]);
    assert_ne!(code, 0);
    assert!(err.contains("context holds 256"), "{err}");
}
