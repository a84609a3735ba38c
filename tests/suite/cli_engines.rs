//! `qplay run` in every mode `qplay run --help` lists, on both built-in Fashion-MNIST models
//! (the MLP and the CNN): the engine the report names for every quantized layer, in the JSON,
//! in layers.csv and on stderr, and the reason when a layer is simulated.
#![cfg(not(target_arch = "wasm32"))]

use std::process::Command;

use qplay::ptq::QuantMode;

fn qplay(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_qplay")).args(args).output().expect("the CLI runs");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

/// (settings beyond the mode, the engine kind of every layer, the fallback code when simulated).
fn variants(mode: QuantMode) -> Vec<(Vec<&'static str>, &'static str, Option<&'static str>)> {
    match mode {
        QuantMode::Full => vec![
            (vec![], "int8_static", None),
            (vec!["ptq.weight_bits=4"], "int8_static", None),
            (vec!["ptq.act_bits=6"], "simulated", Some("bits_without_kernel")),
            (vec!["ptq.weight_symmetric=false"], "simulated", Some("asymmetric_weights")),
        ],
        QuantMode::Dynamic => vec![
            (vec!["ptq.dynamic_strategy=ALWC"], "int8_dynamic", None),
            (vec!["ptq.dynamic_strategy=ACWL"], "simulated", Some("per_channel_activations")),
            (vec!["ptq.act_bits=4"], "simulated", Some("bits_without_kernel")),
        ],
        QuantMode::WeightOnly => vec![
            (vec!["ptq.weight_bits=8"], "weight_only", None),
            (vec!["ptq.weight_bits=4"], "weight_only", None),
            (vec!["ptq.weight_bits=2"], "weight_only", None),
            (vec!["ptq.weight_bits=5"], "simulated", Some("bits_without_kernel")),
        ],
    }
}

/// The names of a built-in model's Linear and Conv2d layers.
fn weighted(model: &str) -> Vec<String> {
    let bytes = std::fs::read(format!("{}/www/models/{model}.safetensors", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let m = qplay::formats::safetensors::read_model(&bytes, None, qplay::model::DEFAULT_MAX_PARAMS).unwrap();
    qplay::ptq::quantizable_layers(&m).into_iter().map(|(_, n)| n).collect()
}

#[test]
fn every_mode_of_qplay_run_reports_the_engine_of_every_layer_on_both_models() {
    let (code, help, err) = qplay(&["run", "--help"]);
    assert_eq!(code, 0, "{err}");
    for mode in QuantMode::ALL {
        assert!(help.contains(&format!("  {}", mode.name())), "`qplay run --help` lists the mode {}:\n{help}", mode.name());
    }
    let dir = std::env::temp_dir().join(format!("qplay-cli-engines-{}", std::process::id()));
    for model in ["mlp-fashion", "cnn-fashion"] {
        for mode in QuantMode::ALL {
            for (sets, kind, code_want) in variants(mode) {
                let out = dir.join(format!("{model}-{}-{}", mode.name(), sets.join("-")));
                let mode_set = format!("ptq.mode={}", mode.name());
                let mut args = vec!["run", "--model", model, "--set", &mode_set, "--set", "eval_size=300", "--set", "calib_size=64", "--out", out.to_str().unwrap()];
                for s in &sets {
                    args.extend(["--set", s]);
                }
                let (code, stdout, stderr) = qplay(&args);
                let what = format!("{model} {} {sets:?}", mode.name());
                assert_eq!(code, 0, "{what}: {stderr}");
                let j: serde_json::Value = serde_json::from_str(&stdout).unwrap();
                let r = &j["report"];
                let layers = r["layers"].as_array().unwrap();
                let names: Vec<&str> = layers.iter().map(|l| l["name"].as_str().unwrap()).collect();
                assert_eq!(names, weighted(model), "{what}: every Linear / Conv2d is quantized and reported");
                if model == "cnn-fashion" {
                    assert!(layers.iter().any(|l| l["kind"] == "Conv2d"), "{what}: the CNN's Conv2d layers are reported");
                }
                for l in layers {
                    let name = l["name"].as_str().unwrap();
                    let e = &l["engine"];
                    assert_eq!(e["kind"], kind, "{what}: layer {name}: {e}");
                    match code_want {
                        Some(c) => {
                            assert_eq!(e["reason"]["code"], c, "{what}: layer {name}: {e}");
                            assert!(stderr.contains(&format!("layer {name}: simulated (")), "{what}: stderr names the reason:\n{stderr}");
                        }
                        None => assert!(e.get("reason").is_none(), "{what}: layer {name}: {e}"),
                    }
                    if kind == "weight_only" {
                        assert_eq!(e["bits"], l["bits"], "{what}: layer {name}: the kernel runs the layer's bits");
                    }
                }
                // The summary and the accuracies: kernels beside the simulation when a kernel ran.
                let summary = r["engine"].as_str().unwrap();
                match kind {
                    "simulated" => {
                        assert_eq!(summary, "simulated", "{what}");
                        assert!(r["kernel_accuracy"].is_null() && r["fallback"].is_string(), "{what}: {r}");
                    }
                    _ => {
                        assert_ne!(summary, "simulated", "{what}");
                        let (k, s) = (r["kernel_accuracy"].as_f64().unwrap(), r["simulated_accuracy"].as_f64().unwrap());
                        assert!((k - s).abs() <= 0.01, "{what}: kernels {k} vs simulation {s}");
                        assert!(r["kernel_agreement"].as_f64().unwrap() >= 0.98, "{what}: {}", r["kernel_agreement"]);
                        assert_eq!(r["accuracy"].as_f64().unwrap(), k, "{what}: the headline accuracy is the kernels'");
                    }
                }
                // layers.csv carries the same engine per layer.
                let mut csv = csv::Reader::from_path(out.join("layers.csv")).unwrap();
                let col = csv.headers().unwrap().iter().position(|h| h == "engine").expect("an engine column");
                let rows: Vec<csv::StringRecord> = csv.records().map(Result::unwrap).collect();
                assert_eq!(rows.len(), layers.len(), "{what}: layers.csv");
                for (row, l) in rows.iter().zip(layers) {
                    let cell = &row[col];
                    let name = match kind {
                        "int8_static" => "int8".to_string(),
                        "int8_dynamic" => "int8 dynamic".to_string(),
                        "weight_only" => format!("weight-only W{}", l["bits"]),
                        _ => "simulated".to_string(),
                    };
                    assert_eq!(cell, name, "{what}: layers.csv");
                }
            }
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// `qplay run --benchmark` prints FP32 and the quantized model's accuracy, latency and
/// throughput (as Neural Compressor's benchmark does) and writes benchmark.csv beside a
/// report.json that holds no timing; another task is refused by name.
#[test]
fn run_benchmark_prints_and_writes_both_models_speed_beside_their_accuracy() {
    let dir = std::env::temp_dir().join(format!("qplay-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (code, out, err) = qplay(&["run", "--model", "cnn-fashion", "--set", "eval_size=500", "--benchmark", "--out", dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let fp32 = format!("FP32 (fp32): accuracy {:.2} %, latency (batch 1) ", 100.0 * report["report"]["fp32_accuracy"].as_f64().unwrap());
    let quant = format!("quantized (int8): accuracy {:.2} %, latency (batch 1) ", 100.0 * report["report"]["accuracy"].as_f64().unwrap());
    assert!(err.contains(&fp32) && err.contains(&quant) && err.contains(", throughput (batch "), "{err}");
    assert!(!out.contains("latency"), "report.json holds no timing");
    let csv = std::fs::read_to_string(dir.join("benchmark.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "model,engine,accuracy,bytes,latency_ms,throughput_batch,throughput_images_per_s");
    assert_eq!(lines.len(), 3, "{csv}");
    for line in &lines[1..] {
        let f: Vec<&str> = line.split(',').collect();
        // 100 images, fewer when FP32 would take longer than 0.25 s over them (a loaded machine).
        let batch: usize = f[5].parse().unwrap();
        assert!((1..=100).contains(&batch) && err.contains(&format!("throughput (batch {batch}) ")), "{line}");
        assert!(f[4].parse::<f64>().unwrap() > 0.0 && f[6].parse::<f64>().unwrap() > 0.0, "{line}");
    }
    let (code, _, err) = qplay(&["run", "--set", "task=sweep", "--benchmark"]);
    assert_eq!(code, 1);
    assert!(err.contains("--benchmark times a PTQ run's two models; the task is sweep"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A MindSpore Lite config with `debug_info_save_path` writes MindSpore Lite's debug files under
/// their own names: `report_<round>.csv` for each calibration round, `output_summary.csv`, and
/// `quant_param.csv` (qplay's `statistics.csv` and `quant_params.csv` beside them).
#[test]
fn an_ini_debug_path_gets_one_report_per_calibration_round() {
    let dir = std::env::temp_dir().join(format!("qplay-debug-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("debug");
    let ini = dir.join("full.ini");
    std::fs::write(&ini, format!("[common_quant_param]\nquant_type=FULL_QUANT\nbit_num=8\ndebug_info_save_path={}\n\n[data_preprocess_param]\ncalibrate_size=4\n\n[full_quant_param]\nactivation_quant_method=MAX_MIN\n", out.display())).unwrap();
    let (code, _, err) = qplay(&["run", ini.to_str().unwrap(), "--model", "cnn-fashion"]);
    assert_eq!(code, 0, "{err}");
    for r in 0..4 {
        let report = std::fs::read_to_string(out.join(format!("report_{r}.csv"))).unwrap();
        assert!(report.starts_with("NodeName,NodeType,TensorName,InOutFlag,DataTypeFlag,TensorTypeFlag,Min,Q1,Median,Q3,MAX,Mean,Var,Sparsity,Clip,CosineSimilarity\n"));
        assert!(report.contains(",Output,Dequant,Activation,"), "{report}");
    }
    assert!(!out.join("report_4.csv").exists());
    let summary = std::fs::read_to_string(out.join("output_summary.csv")).unwrap();
    let lines: Vec<&str> = summary.lines().collect();
    assert_eq!(lines[0], "Round,TensorName,CosineSimilarity");
    assert_eq!(lines.len(), 5, "{summary}");
    for (r, l) in lines[1..].iter().enumerate() {
        let f: Vec<&str> = l.split(',').collect();
        assert_eq!(f[0], r.to_string());
        let c: f64 = f[2].parse().unwrap();
        assert!(c > 0.99 && c <= 1.0 + 1e-12, "{l}");
    }
    assert_eq!(std::fs::read(out.join("quant_param.csv")).unwrap(), std::fs::read(out.join("quant_params.csv")).unwrap());

    // Weight quantization: one report, no rounds.
    let wout = dir.join("weight");
    std::fs::write(&ini, format!("[common_quant_param]\nquant_type=WEIGHT_QUANT\nbit_num=8\ndebug_info_save_path={}\n", wout.display())).unwrap();
    let (code, _, err) = qplay(&["run", ini.to_str().unwrap(), "--model", "mlp-fashion"]);
    assert_eq!(code, 0, "{err}");
    assert!(wout.join("report_0.csv").exists() && !wout.join("report_1.csv").exists() && !wout.join("output_summary.csv").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// A static layer simulated because of another layer of the integer-only network says so; the
/// layer the reason names gets the reason alone.
#[test]
fn a_layer_simulated_for_another_layers_reason_says_so() {
    let (code, _, err) = qplay(&["run", "--set", "ptq.act_bits=6"]);
    assert_eq!(code, 0, "{err}");
    let why = "layer nn1: no kernel for W8A6 (the int8 kernels take weights of at most 8 bits and signed 8-bit activations)";
    assert!(err.contains(&format!("layer nn1: simulated ({why})\n")), "{err}");
    for other in ["nn2", "nn3"] {
        assert!(err.contains(&format!("layer {other}: simulated (with the whole integer-only network, which runs all static layers or none: {why})\n")), "{err}");
    }
    let (code, _, err) = qplay(&["run", "--set", "ptq.skip=nn2"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("layer nn1: simulated (with the whole integer-only network, which runs all static layers or none: layer nn2 is not quantized (skipped)"), "{err}");
}
