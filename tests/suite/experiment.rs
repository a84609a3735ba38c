//! Experiments on the pretrained baselines and the embedded test sets: the
//! acceptance figures (accuracy against FP32, the lab's comparison, the
//! mixed-bit search, bias correction) and the validation of descriptions.
//! Native only (reads www/); `cargo test --release --test suite experiment:: -- --nocapture` prints the figures.
#![cfg(not(target_arch = "wasm32"))]

use qplay::data::Dataset;
use qplay::experiment::ini::from_ini;
use qplay::experiment::layerwise::{run_layerwise, Mode};
use qplay::experiment::mixed_bit::run_mixed_bit;
use qplay::experiment::run::{calibration_images, eval_set, fp32_baseline, run_ptq};
use qplay::experiment::shard::{interleave, Shard};
use qplay::experiment::spec::SweepSettings;
use qplay::experiment::sweep::{run_sweep, SweepReport};
use qplay::quant::calibration::CalibrationKind;
use qplay::experiment::{Experiment, Task};
use qplay::metrics::cosine_similarity;
use qplay::model::forward::Fp32Runner;
use qplay::model::{Layer, LayerKind, Linear, Model, Shape, DEFAULT_MAX_PARAMS};
use qplay::ptq::{quantize_model, PtqConfig, QuantMode, Scope, WeightGranularity};

use crate::www::{data, model};

struct Setup {
    exp: Experiment,
    model: Model,
    calib: Vec<f32>,
    eval: Dataset,
}

fn setup(exp: Experiment) -> Setup {
    let model = model(&exp.model);
    let (train, test) = (data(&format!("{}-train", exp.dataset)), data(&format!("{}-test", exp.dataset)));
    let calib = calibration_images(&exp, &train);
    let eval = eval_set(&exp, &test);
    Setup { exp, model, calib, eval }
}

/// A sweep shared among 1, 2, 3 and 5 workers and merged gives the one-run report exactly (cell
/// for cell, bit for bit), and a merge of shards that lost a cell or ran another model is refused.
#[test]
fn a_sweep_shared_among_workers_merges_into_the_one_run_report() {
    let exp = Experiment {
        task: Task::Sweep,
        eval_size: 500,
        sweep: SweepSettings { bits: vec![2, 4, 8], granularities: vec![WeightGranularity::PerTensor, WeightGranularity::PerChannel], calibrations: vec![CalibrationKind::MinMax, CalibrationKind::Mse] },
        ..Experiment::default()
    };
    let s = setup(exp);
    let base = fp32_baseline(&s.model, &s.eval).unwrap();
    let mut none = |_: &qplay::experiment::Progress| true;
    let whole = run_sweep(&s.exp, &s.model, &s.calib, &s.eval, &base, Shard::ALL, &mut none).unwrap();
    assert_eq!(whole.cells.len(), 12);
    for count in [1, 2, 3, 5] {
        let parts: Vec<SweepReport> = (0..count).map(|index| run_sweep(&s.exp, &s.model, &s.calib, &s.eval, &base, Shard::new(index, count).unwrap(), &mut none).unwrap()).collect();
        assert_eq!(parts.iter().map(|p| p.cells.len()).sum::<usize>(), 12);
        let merged = SweepReport::merge(parts.clone(), &s.exp.sweep).unwrap();
        assert_eq!(merged, whole, "{count} workers");
        for (a, b) in merged.cells.iter().zip(&whole.cells) {
            assert_eq!(a.accuracy.to_bits(), b.accuracy.to_bits());
            assert_eq!(a.output_sqnr_db.to_bits(), b.output_sqnr_db.to_bits());
        }
        if count > 1 {
            let mut lost = parts.clone();
            lost[count - 1].cells.pop();
            assert!(SweepReport::merge(lost, &s.exp.sweep).unwrap_err().contains("items where"));
            let mut other = parts.clone();
            other[0].fp32_accuracy += 0.01;
            assert!(SweepReport::merge(other, &s.exp.sweep).unwrap_err().contains("different models"));
        }
    }
    assert!(SweepReport::merge(Vec::new(), &s.exp.sweep).is_err());
    assert!(Shard::new(2, 2).is_err() && Shard::new(0, 0).is_err() && Shard::new(0, 65).is_err());
}

/// Runs `one` (the whole job) and `shard` for each count of shards in `counts` (each shard's
/// report sent through JSON, as a worker sends it), and checks that `merge`
/// of the shards' reports is the one-run report, figure for figure (as JSON, so that a NaN
/// compares too), and that a merge with a part missing is refused.
fn check_shared<R: Clone + serde::Serialize + serde::de::DeserializeOwned>(what: &str, counts: &[usize], one: R, shard: impl Fn(Shard) -> R, merge: impl Fn(Vec<R>) -> Result<R, String>) {
    let whole = serde_json::to_string(&one).unwrap();
    for &count in counts {
        // Each part goes through JSON, as it does from a worker to the page.
        let through_json = |r: R| serde_json::from_str::<R>(&serde_json::to_string(&r).unwrap()).unwrap_or_else(|e| panic!("{what}: a shard's report does not read back: {e}"));
        let parts: Vec<R> = (0..count).map(|index| through_json(shard(Shard::new(index, count).unwrap()))).collect();
        let merged = merge(parts.clone()).unwrap_or_else(|e| panic!("{what} on {count} workers: {e}"));
        assert_eq!(serde_json::to_string(&merged).unwrap(), whole, "{what} on {count} workers");
        if count > 1 {
            assert!(merge(parts[..count - 1].to_vec()).is_err(), "{what}: a merge with a part missing");
        }
    }
}

/// A PTQ run shared among workers by batches of evaluation images merges into the one-run
/// report: on the integer engine (MLP and CNN), and in dynamic mode, where a batch's own range
/// sets the activations' scale (so a batch must never be cut); 2,300 images end on a short batch.
#[test]
fn a_ptq_run_shared_among_workers_merges_into_the_one_run_report() {
    use qplay::experiment::run::{run_ptq_shard, PtqReport};
    for (model, mode) in [("mlp-fashion", QuantMode::Full), ("mlp-fashion", QuantMode::Dynamic), ("cnn-fashion", QuantMode::Full)] {
        let mut exp = Experiment { model: model.into(), eval_size: 2300, ..Experiment::default() };
        exp.ptq.mode = mode;
        let s = setup(exp);
        let base = fp32_baseline(&s.model, &s.eval).unwrap();
        let one = run_ptq(&s.exp, &s.model, &s.calib, &s.eval, &base).unwrap();
        assert!(one.share.is_none());
        let what = format!("PTQ of {model} ({mode:?}, engine {})", one.engine);
        let predictions = one.predictions.clone();
        check_shared(
            &what,
            &[1, 2, 3, 5],
            one,
            |shard| run_ptq_shard(&s.exp, &s.model, &s.calib, &s.eval, &base, shard).unwrap(),
            |parts| {
                let shared = parts.len() > 1;
                let m = PtqReport::merge(parts)?;
                // (The predictions do not travel as JSON: a one-shard report comes back without them.)
                if shared {
                    assert_eq!(m.predictions, predictions);
                }
                Ok(m)
            },
        );
    }
}

/// The layer-by-layer analysis and the mixed-bit search, shared among workers, merge into
/// their one-run reports.
#[test]
fn the_layerwise_analysis_and_the_mixed_bit_search_shared_among_workers_merge_into_one_run() {
    use qplay::experiment::layerwise::{run_layerwise_shard, LayerwiseReport};
    use qplay::experiment::mixed_bit::{run_mixed_bit_shard, MixedBitReport};
    let none = || |_: &qplay::experiment::Progress| true;
    let s = setup(Experiment { task: Task::Layerwise, eval_size: 1000, ..Experiment::default() });
    let base = fp32_baseline(&s.model, &s.eval).unwrap();
    let one = run_layerwise(&s.exp, &s.model, &s.calib, &s.eval, &base, &mut none()).unwrap();
    assert!(one.sensitivity.iter().all(|x| x.accuracy.is_finite()) && one.all_at_once_accuracy.is_finite());
    check_shared("layer by layer", &[1, 2, 3, 5], one, |shard| run_layerwise_shard(&s.exp, &s.model, &s.calib, &s.eval, &base, shard, &mut none()).unwrap(), LayerwiseReport::merge);
    for task in [Task::MixedBit, Task::SizeBudget] {
        // A small calibration set: every shard runs the whole search.
        let mut exp = Experiment { task, eval_size: 1000, calib_size: 64, ..Experiment::default() };
        exp.mixed_bit.size_budget = 60_000;
        let s = setup(exp);
        let one = run_mixed_bit(&s.exp, &s.model, &s.calib, &s.eval, &base, &mut none()).unwrap();
        assert!(one.candidates.iter().all(|c| c.accuracy.is_some()) && one.candidates.len() > 5);
        check_shared(&format!("{task:?}"), &[2, 3], one, |shard| run_mixed_bit_shard(&s.exp, &s.model, &s.calib, &s.eval, &base, shard, &mut none()).unwrap(), MixedBitReport::merge);
    }
}

/// Items taken in whole batches: every item once, in order, whatever the count of shards.
#[test]
fn batches_go_round_robin_and_come_back_in_order() {
    use qplay::experiment::shard::interleave_batches;
    for n in [0usize, 1, 499, 500, 501, 2300, 10_000] {
        for count in 1..7usize {
            let parts: Vec<Vec<usize>> = (0..count).map(|k| Shard::new(k, count).unwrap().batches(n, 500).into_iter().flatten().collect()).collect();
            assert_eq!(interleave_batches(parts.clone(), n, 500).unwrap(), (0..n).collect::<Vec<_>>(), "{n} items, {count} shards");
            if n > 0 {
                let mut short = parts.clone();
                short.iter_mut().find(|p| !p.is_empty()).unwrap().pop();
                assert!(interleave_batches(short, n, 500).is_err());
            }
        }
    }
}

/// The round-robin split and its inverse on plain lists, including more shards than items.
#[test]
fn interleave_undoes_the_round_robin_split() {
    for n in 0..12usize {
        for count in 1..8usize {
            let items: Vec<usize> = (0..n).collect();
            let parts: Vec<Vec<usize>> = (0..count).map(|k| items.iter().copied().filter(|&i| Shard::new(k, count).unwrap().takes(i)).collect()).collect();
            for (k, p) in parts.iter().enumerate() {
                assert_eq!(p.len(), Shard::new(k, count).unwrap().len_of(n));
            }
            assert_eq!(interleave(parts.clone(), n).unwrap(), items, "{n} items on {count} shards");
            if n > 0 {
                assert!(interleave(parts, n - 1).is_err(), "{n} items on {count} shards, one too few expected");
            }
        }
    }
    assert!(interleave(vec![vec![0, 2], vec![1, 3], vec![]], 4).is_err());
    assert!(interleave(Vec::<Vec<u8>>::new(), 0).is_err());
}

#[test]
fn fashion_mlp_w8a8_and_w4a16_stay_close_to_fp32() {
    // W8A8: full quantization, per-channel symmetric weights, MinMax activations on 256 images.
    let s = setup(Experiment::default());
    let base = fp32_baseline(&s.model, &s.eval).unwrap();
    let r8 = run_ptq(&s.exp, &s.model, &s.calib, &s.eval, &base).unwrap();
    // W4A16 RTN: weight-only, 4 bits per channel.
    let w4 = Experiment { ptq: PtqConfig { mode: QuantMode::WeightOnly, weight_bits: 4, ..PtqConfig::default() }, ..Experiment::default() };
    let r4 = run_ptq(&w4, &s.model, &s.calib, &s.eval, &base).unwrap();
    eprintln!(
        "fashion MLP on {} test images: FP32 {:.2} %, W8A8 per-channel {:.2} % (int8 engine; simulated {:.2} %), W4A16 per-channel {:.2} %; {} → {} bytes",
        s.eval.len(),
        100.0 * base.accuracy,
        100.0 * r8.accuracy,
        100.0 * r8.simulated_accuracy,
        100.0 * r4.accuracy,
        r8.fp32_bytes,
        r8.bytes
    );
    assert_eq!(s.eval.len(), 10_000);
    assert_eq!(r8.engine, "int8", "W8A8 per-channel runs on the integer kernels: {:?}", r8.fallback);
    assert!(base.accuracy - r8.accuracy <= 0.01, "W8A8 loses at most 1 point");
    assert!(base.accuracy - r4.accuracy <= 0.03, "W4A16 loses at most 3 points");
    assert!((r8.simulated_accuracy - r8.accuracy).abs() <= 0.003, "the simulation predicts the integer engine");
    // Every result the issue lists is there.
    assert_eq!(r8.confusion.len(), 10);
    assert_eq!(r8.confusion.iter().flatten().map(|&c| c as usize).sum::<usize>(), 10_000);
    assert!(r8.agreement > 0.97);
    assert!(r8.compression > 3.5 && r8.compression < 4.0, "int8 is about 4× smaller: {}", r8.compression);
    assert_eq!(r8.layers.len(), 3);
    for l in &r8.layers {
        assert!(l.weight.sqnr_db > 30.0 && l.weight.cosine > 0.999, "{}: {:?}", l.name, l.weight);
        assert!(l.output.cosine > 0.99, "{}: {:?}", l.name, l.output);
    }
    // Statistics: Origin + Dequant rows for 3 weights, 3 inputs and the output; parameters per channel.
    assert_eq!(r8.statistics.len(), 2 * (3 + 3 + 1));
    assert_eq!(r8.quant_params.len(), 128 + 64 + 10 + 3 + 1);
    let ops: Vec<&str> = r8.qdq.iter().map(|n| n.op.as_str()).collect();
    assert_eq!(ops.iter().filter(|o| **o == "QuantizeLinear").count(), 4, "{ops:?}");
    assert_eq!(ops.iter().filter(|o| **o == "Gemm").count(), 3);
    // With SmoothQuant the statistics of an input compare it with its dequantized values in the
    // input's own units (q̃·s against x), and the clip ratio is of x̃ = x / s on its own grid: the
    // pixels lie on the grid either way (they once read cosine 0.979, and 5 % and 10 % clipped).
    let sq = Experiment { ptq: PtqConfig { smooth_quant: Some(0.5), ..PtqConfig::default() }, ..Experiment::default() };
    let rs = run_ptq(&sq, &s.model, &s.calib, &s.eval, &base).unwrap();
    let input_rows = |r: &qplay::experiment::run::PtqReport| -> Vec<(String, f64, f64)> {
        r.statistics.iter().filter(|d| d.tensor_name.ends_with(".input") && format!("{:?}", d.data_type_flag) == "Dequant").map(|d| (d.tensor_name.clone(), d.cosine_similarity, d.clip)).collect()
    };
    for ((name, cos, clip), (_, cos8, _)) in input_rows(&rs).into_iter().zip(input_rows(&r8)) {
        assert!(cos > 0.999 && (cos - cos8).abs() < 1e-3 && clip < 0.01, "{name}: cosine {cos} (without smoothing {cos8}), clip {clip}");
    }
}

#[test]
fn the_lab_comparison_layer_by_layer_against_all_at_once() {
    let s = setup(Experiment { task: Task::Layerwise, ..Experiment::default() });
    let base = fp32_baseline(&s.model, &s.eval).unwrap();
    let r = run_layerwise(&s.exp, &s.model, &s.calib, &s.eval, &base, &mut |_| true).unwrap();
    let names: Vec<&str> = r.points.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["input", "nn1.relu", "nn2.relu", "output"], "the lab's four points");
    for p in &r.points {
        eprintln!(
            "{:>9}: MSE layer by layer {:.6}, all at once {:.6}, sequential {:.6}",
            p.name,
            p.mse(Mode::LayerByLayer),
            p.mse(Mode::AllAtOnce),
            p.mse(Mode::Sequential)
        );
        assert_eq!(p.fp32_histogram.counts.iter().sum::<f64>() as usize, p.modes[0].metrics.n, "{}: every value binned", p.name);
    }
    // Measured ordering (see the README): quantized alone, a layer's point carries only its own
    // rounding error; with every layer quantized the error upstream adds to it, so all at once has
    // the larger MSE at every point after the input (whose pixels k/255 sit on the grid exactly).
    assert_eq!(r.points[0].mse(Mode::LayerByLayer), 0.0);
    for p in &r.points[1..] {
        assert!(p.mse(Mode::AllAtOnce) > p.mse(Mode::LayerByLayer), "{}", p.name);
    }
    eprintln!("accuracy: FP32 {:.4}, all at once {:.4}, sequential {:.4}", r.fp32_accuracy, r.all_at_once_accuracy, r.sequential_accuracy);
    eprintln!("sensitivity: {:?}", r.sensitivity.iter().map(|s| (&s.layer, s.drop)).collect::<Vec<_>>());
    assert_eq!(r.sensitivity.len(), 3);
    assert!(r.sensitivity.windows(2).all(|w| w[0].drop >= w[1].drop), "ranked by drop");
}

#[test]
fn mixed_bit_search_meets_its_cosine_target_and_is_smaller_than_8_bit() {
    let exp = Experiment {
        task: Task::MixedBit,
        eval_size: 2000,
        ptq: PtqConfig { mode: QuantMode::WeightOnly, ..PtqConfig::default() },
        mixed_bit: qplay::experiment::spec::MixedBitConfig { auto_tune: true, ..Default::default() },
        ..Experiment::default()
    };
    let s = setup(exp);
    let base = fp32_baseline(&s.model, &s.eval).unwrap();
    let r = run_mixed_bit(&s.exp, &s.model, &s.calib, &s.eval, &base, &mut |_| true).unwrap();
    eprintln!(
        "mixed bit (auto_tune → init_scale {:.4}): {:?}, {} bytes against uniform 8-bit {}, cosine {:.5}",
        r.init_scale, r.selection.bits, r.selection.bytes, r.uniform8.bytes, r.selection.cosine
    );
    // The cosine is measured again here, independently of the search.
    let cfg = PtqConfig { layer_bits: r.selection.bits.clone(), ..s.exp.ptq.clone() };
    let q = quantize_model(&s.model, &cfg, &s.calib, Scope::All).unwrap().model;
    let cos = cosine_similarity(&Fp32Runner::new(s.model.clone()).forward(&s.calib).unwrap(), &q.forward(&s.calib).unwrap()).unwrap();
    assert!(cos >= 0.995, "meets the target on the calibration set: {cos}");
    assert!(r.selection.bytes < r.uniform8.bytes, "smaller than uniform 8-bit");
    assert_eq!(q.bytes(), r.selection.bytes);
    assert!(r.candidates.iter().any(|c| c.on_front), "a Pareto front");
    // No front point is dominated by another candidate.
    for c in r.candidates.iter().filter(|c| c.on_front) {
        assert!(!r.candidates.iter().any(|d| d.bytes < c.bytes && d.accuracy > c.accuracy), "{}", c.label);
    }
}

#[test]
fn the_default_mixed_bit_search_proposes_no_point_a_uniform_config_dominates() {
    // The Model page's defaults with task = mixed_bit: init_scale 0.02, max_bits 8.
    let exp = Experiment { task: Task::MixedBit, ..Experiment::default() };
    let s = setup(exp);
    let base = fp32_baseline(&s.model, &s.eval).unwrap();
    let r = run_mixed_bit(&s.exp, &s.model, &s.calib, &s.eval, &base, &mut |_| true).unwrap();
    let show = |c: &qplay::experiment::mixed_bit::Candidate| format!("{} {:?}: {} bytes, {:?}", c.label, c.bits, c.bytes, c.accuracy);
    eprintln!("proposed {}; searched {}; uniform 8-bit {}", show(&r.selection), show(&r.searched), show(&r.uniform8));
    for c in &r.candidates {
        eprintln!("  {}{}", show(c), if c.on_front { "  (front)" } else { "" });
    }
    let sel = &r.selection;
    let acc = sel.accuracy.expect("the proposal is evaluated");
    assert!(sel.bits.values().all(|&b| b <= 8), "no layer above 8 bits unless the range is widened: {:?}", sel.bits);
    assert!(r.searched.bits.values().all(|&b| b <= 8), "{:?}", r.searched.bits);
    assert!(sel.on_front, "the proposal is on the Pareto front");
    // Every uniform width, measured here independently of the search's own candidates.
    let classes = s.model.output().len();
    for bits in 2..=8u8 {
        let layer_bits = sel.bits.keys().map(|n| (n.clone(), bits)).collect();
        let cfg = PtqConfig { layer_bits, ..s.exp.ptq.clone() };
        let q = quantize_model(&s.model, &cfg, &s.calib, Scope::All).unwrap().model;
        let pred = qplay::experiment::run::predict_with(&s.eval, classes, |x| Ok(q.forward(x)?)).unwrap();
        let u_acc = qplay::experiment::run::accuracy_of(&pred, &s.eval.labels);
        let dominated = q.bytes() <= sel.bytes && u_acc >= acc && (q.bytes() < sel.bytes || u_acc > acc);
        assert!(!dominated, "uniform {bits}-bit ({} bytes, {u_acc}) dominates the proposal ({} bytes, {acc})", q.bytes(), sel.bytes);
    }
    // Only one candidate per bit assignment, and the front is what the pick list offers.
    let mut seen = std::collections::BTreeSet::new();
    assert!(r.candidates.iter().all(|c| seen.insert(format!("{:?}", c.bits))), "a bit assignment listed twice");
}

#[test]
fn max_bits_caps_what_init_scale_0_02_asks_for() {
    // Uncapped, the default init_scale wants more than 8 bits for a layer of the lab's MLP
    // (nn1 at 9 bits: 123.4 kB, larger than uniform 8-bit); max_bits = 8 (the default) caps it.
    let m = model("mlp-fashion");
    let cfg = PtqConfig::default();
    let wide = qplay::experiment::mixed_bit::mixed_bit_selection(&m, &cfg, 0.02, 16);
    let capped = qplay::experiment::mixed_bit::mixed_bit_selection(&m, &cfg, 0.02, 8);
    eprintln!("init_scale 0.02: uncapped {wide:?}, capped {capped:?}");
    assert!(wide.values().any(|&b| b > 8), "{wide:?}");
    assert_eq!(capped, wide.iter().map(|(n, &b)| (n.clone(), b.min(8))).collect());
    // The range is checked: 2–16.
    for bad in [1u8, 17] {
        let e = Experiment { mixed_bit: qplay::experiment::spec::MixedBitConfig { max_bits: bad, ..Default::default() }, ..Experiment::default() };
        assert!(e.validate().unwrap_err().to_string().contains("mixed_bit.max_bits"), "{bad}");
    }
}

#[test]
fn bias_correction_removes_a_biased_weight_error() {
    // One Linear 64 → 4 whose weights all sit 0.4 steps above a grid point, so rounding (half to
    // even) always rounds them down: ŵ = w − 0.4·s, and with positive inputs the output error
    // y − ŷ = 0.4·s·Σ x is biased. Two weights ±127·s pin the per-tensor range, so s is exact.
    let s = 0.01f32;
    let (out, fan_in) = (4, 64);
    let mut w = Vec::new();
    for o in 0..out {
        for k in 0..fan_in {
            let v = match (o, k) {
                (0, 0) => 127.0 * s,
                (0, 1) => -127.0 * s,
                _ => ((k as i32 * 7 + o as i32 * 13) % 200 - 100) as f32 * s + 0.4 * s,
            };
            w.push(v);
        }
    }
    let layer = Layer { name: "fc".into(), kind: LayerKind::Linear(Linear { in_features: fan_in, out_features: out, w, b: vec![0.1; out] }) };
    let model = Model::new(Shape::Flat(fan_in), vec![layer], DEFAULT_MAX_PARAMS).unwrap();
    let x: Vec<f32> = (0..256 * fan_in).map(|i| ((i * 37 % 101) as f32) / 100.0).collect();
    let fp = Fp32Runner::new(model.clone()).forward(&x).unwrap();
    let mean_err = |bc: bool| {
        // The narrow range [−127, 127], so that ±127·s pin s exactly (the full range's s is 127·s / 127.5).
        let cfg = PtqConfig { mode: QuantMode::WeightOnly, granularity: WeightGranularity::PerTensor, narrow_range: true, bias_correction: bc, ..PtqConfig::default() };
        let q = quantize_model(&model, &cfg, &x, Scope::All).unwrap().model;
        let y = q.forward(&x).unwrap();
        fp.iter().zip(&y).map(|(a, b)| (a - b) as f64).sum::<f64>() / y.len() as f64
    };
    let (without, with) = (mean_err(false), mean_err(true));
    eprintln!("mean output error: without bias correction {without:.6}, with {with:.2e}");
    assert!(without > 0.05, "the error is biased: {without}");
    assert!(with.abs() < without.abs() / 100.0, "bias correction removes its mean: {with}");
}

#[test]
fn invalid_descriptions_name_the_field() {
    let err = |text: &str| Experiment::from_toml(text).unwrap_err();
    assert_eq!(err("[ptq]\nweight_bits = 0\n").field, "ptq.weight_bits");
    assert_eq!(err("[ptq]\nweight_bits = 17\n").field, "ptq.weight_bits");
    assert_eq!(err("[ptq]\nact_bits = 17\n").field, "ptq.act_bits");
    assert_eq!(err("calib_size = 0\n").field, "calib_size");
    let e = err("[ptq.act_calibration]\nmethod = \"median\"\n");
    assert_eq!(e.field, "ptq.act_calibration.method");
    assert!(e.message.contains("median"), "{e}");
    let e = err("task = \"guess\"\n");
    assert_eq!(e.field, "task");
    let e = err("[ptq]\nmode = \"half\"\n");
    assert_eq!(e.field, "ptq.mode");
    assert_eq!(err("[ptq]\nbits = 8\n").field, "ptq.bits", "an unknown key is named");
    // A skip list that names no layer: checked against the model.
    let m = model("mlp-fashion");
    let cfg = PtqConfig { skip: vec!["nn9".into()], ..PtqConfig::default() };
    let e = quantize_model(&m, &cfg, &vec![0.0; 784], Scope::All).err().unwrap().to_string();
    assert!(e.starts_with("skip:") && e.contains("nn9") && e.contains("nn1, nn2, nn3"), "{e}");
    // An empty calibration set.
    let e = quantize_model(&m, &PtqConfig::default(), &[], Scope::All).err().unwrap().to_string();
    assert!(e.starts_with("calib_size:"), "{e}");
    // MindSpore Lite INI: unsupported keys and bad values are named.
    let ini = |t: &str| from_ini(t, Experiment::default()).unwrap_err().to_string();
    assert!(ini("[common_quant_param]\nquant_type=FULL_QUANT\nbit_num=17\n").starts_with("[common_quant_param] bit_num"));
    assert!(ini("[common_quant_param]\nquant_type=FULL_QUANT\nfast=true\n").starts_with("[common_quant_param] fast: unsupported key"));
    assert!(ini("[full_quant_param]\nactivation_quant_method=MEDIAN\n[common_quant_param]\nquant_type=FULL_QUANT\n").contains("activation_quant_method"));
    assert!(ini("[common_quant_param]\nbit_num=8\n").contains("quant_type"));
    // A key given twice, in one section or in the section given twice, is refused, not read as its last value.
    let twice = ini("[common_quant_param]\nquant_type=WEIGHT_QUANT\nbit_num=8\nbit_num=4\n");
    assert!(twice.starts_with("[common_quant_param] bit_num: given more than once"), "{twice}");
    let twice = ini("[common_quant_param]\nquant_type=WEIGHT_QUANT\nbit_num=8\n[common_quant_param]\nbit_num=4\n");
    assert!(twice.contains("bit_num: given more than once"), "{twice}");
    // What MindSpore Lite would refuse or never read is said in a note, and the run goes on:
    // its documented [ascend_context], a full quantization without [data_preprocess_param], a
    // section the quant_type does not read, and full / dynamic widths other than 8.
    let notes = |t: &str| from_ini(t, Experiment::default()).unwrap().notes;
    let n = notes("[common_quant_param]\nquant_type=FULL_QUANT\nbit_num=4\n[full_quant_param]\ntarget_device=ASCEND\n[ascend_context]\ninput_shape=input_1:[-1,32,32,4]\ndynamic_dims=[1~4],[8],[16]\n[mixed_bit_weight_quant_param]\ninit_scale=0.02\n");
    for needle in ["[ascend_context]: converter options", "[data_preprocess_param] is missing", "[mixed_bit_weight_quant_param] is not read under quant_type=FULL_QUANT", "bit_num=4: MindSpore Lite's FULL_QUANT supports 8 bits only"] {
        assert!(n.iter().filter(|x| x.contains(needle)).count() == 1, "{needle}: {n:?}");
    }
    let n = notes("[common_quant_param]\nquant_type=WEIGHT_QUANT\nbit_num=8\n[dynamic_quant_param]\nquant_strategy=ACWL\n[data_preprocess_param]\ncalibrate_size=100\n");
    assert!(n.iter().any(|x| x.contains("[dynamic_quant_param] is not read under quant_type=WEIGHT_QUANT")), "{n:?}");
    assert!(!n.iter().any(|x| x.contains("is missing")), "{n:?}");
    // A misspelt section is still refused.
    assert!(ini("[common_quant_param]\nquant_type=FULL_QUANT\n[ascend_contxt]\nx=1\n").starts_with("[ascend_contxt]: unsupported section"));
}

#[test]
fn descriptions_round_trip_through_toml_ini_and_links() {
    let mut exp = Experiment { model: "cnn-fashion".into(), task: Task::Sweep, seed: 9, calib_size: 128, ..Experiment::default() };
    exp.ptq.weight_bits = 4;
    exp.ptq.granularity = WeightGranularity::PerGroup { group_size: 16 };
    exp.ptq.skip = vec!["fc".into()];
    exp.ptq.layer_bits.insert("conv2".into(), 6);
    exp.ptq.bias_correction = true;
    exp.ptq.smooth_quant = Some(0.5);
    exp.ptq.act_calibration = qplay::quant::calibration::Calibration::Percentile { percentile: 99.9 };
    exp.sweep.bits = vec![2, 4, 8];
    exp.ptq.rounding = qplay::quant::Rounding::Stochastic { seed: 7 };
    assert_eq!(Experiment::from_toml(&exp.to_toml()).unwrap(), exp);
    // The README's spelling of each rounding.
    for (text, rounding) in [
        ("\"half_away\"", qplay::quant::Rounding::HalfAway),
        ("\"floor\"", qplay::quant::Rounding::Floor),
        ("{ stochastic = { seed = 7 } }", qplay::quant::Rounding::Stochastic { seed: 7 }),
    ] {
        assert_eq!(Experiment::from_toml(&format!("[ptq]\nrounding = {text}\n")).unwrap().ptq.rounding, rounding, "{text}");
    }
    let q = qplay::share::experiment::to_query(&exp);
    let (back, notices) = qplay::share::experiment::from_query(&q);
    assert!(notices.is_empty(), "{notices:?} from {q}");
    assert_eq!(back, exp, "{q}");
    let c = from_ini(
        "[common_quant_param]\nquant_type=WEIGHT_QUANT\nbit_num=0\nskip_quant_node=nn3\n[mixed_bit_weight_quant_param]\ninit_scale=0.05\nauto_tune=true\n[weight_quant_param]\nper_channel=false\nbias_correction=true\n",
        Experiment::default(),
    )
    .unwrap();
    let e = c.experiment;
    assert_eq!((e.task, e.ptq.mode, e.ptq.granularity, e.ptq.bias_correction), (Task::MixedBit, QuantMode::WeightOnly, WeightGranularity::PerTensor, true));
    assert_eq!((e.mixed_bit.init_scale, e.mixed_bit.auto_tune, e.ptq.skip.clone()), (0.05, true, vec!["nn3".to_string()]));
    // MindSpore Lite's default bias_correction is True in [weight_quant_param] as in
    // [full_quant_param]; dynamic quantization has no such setting.
    for (quant_type, bc) in [("WEIGHT_QUANT", true), ("FULL_QUANT", true), ("DYNAMIC_QUANT", false)] {
        let e = from_ini(&format!("[common_quant_param]\nquant_type={quant_type}\nbit_num=8\n"), Experiment::default()).unwrap().experiment;
        assert_eq!(e.ptq.bias_correction, bc, "{quant_type}");
    }
    let e = from_ini("[common_quant_param]\nquant_type=WEIGHT_QUANT\nbit_num=8\n[weight_quant_param]\nbias_correction=false\n", Experiment::default()).unwrap().experiment;
    assert!(!e.ptq.bias_correction);
}

#[test]
fn calibration_settings_are_range_checked_wherever_they_are_read() {
    use qplay::quant::calibration::Calibration;
    // TOML: one limit (Calibration::validate), the message names the setting and the limit.
    let e = Experiment::from_toml("[ptq.act_calibration]\nmethod = \"kl\"\nbins = 65536\n").unwrap_err();
    assert_eq!(e.field, "ptq.act_calibration");
    assert!(e.message.contains("KL bins") && e.message.contains("[128, 8192]"), "{e}");
    let e = Experiment::from_toml("[ptq.weight_calibration]\nmethod = \"percentile\"\npercentile = 0\n").unwrap_err();
    assert!(e.field == "ptq.weight_calibration" && e.message.contains("(0, 100]"), "{e}");
    let e = Experiment::from_toml("[ptq.act_calibration]\nmethod = \"moving_average_min_max\"\nbatch = 0\n").unwrap_err();
    assert!(e.message.contains("batch"), "{e}");
    // The method alone takes its default setting; an unknown key inside it is named.
    let ok = Experiment::from_toml("[ptq]\nact_calibration = { method = \"kl\" }\n").unwrap();
    assert_eq!(ok.ptq.act_calibration, Calibration::Kl { bins: 2048 });
    let ok = Experiment::from_toml("[ptq]\nact_calibration = { method = \"percentile\" }\n").unwrap();
    assert_eq!(ok.ptq.act_calibration, Calibration::Percentile { percentile: 99.99 });
    let e = Experiment::from_toml("[ptq]\nact_calibration = { method = \"kl\", bogus = 1 }\n").unwrap_err();
    assert!(e.message.contains("bogus"), "{e}");
    // A link: the same limit, named by its key.
    let (exp, notices) = qplay::share::experiment::from_query("ptq.act_calibration.method=kl&ptq.act_calibration.bins=100");
    assert_eq!(exp.ptq.act_calibration, Calibration::MinMax);
    assert!(notices.len() == 1 && notices[0].contains("ptq.act_calibration") && notices[0].contains("KL bins"), "{notices:?}");
}

/// The Tensor page's derivation (`experiment::tensor_view`), natively: the handout's first
/// tensor gives the handout's integers and the hand-computed s and Z, a loaded N-D tensor is
/// seen as [d0, d1·…·dn], and bad or oversized input is refused with a message naming it.
mod tensor_view {
    use qplay::examples::{LAB_NORMAL, LAB_NORMAL_Q};
    use qplay::experiment::tensor_view::{TensorView, INLINE_WORK, MAX_COMPARE, MAX_PAGE_VALUES, SHOWN_VALUES};
    use qplay::formats::Tensor;
    use qplay::quant::{Calibration, Granularity};
    use qplay::share::TensorSettings;

    fn typed(text: &str) -> TensorSettings {
        TensorSettings { text: text.to_string(), ..TensorSettings::default() }
    }

    #[test]
    fn the_handouts_first_tensor_gives_its_integers() {
        let text = LAB_NORMAL.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", ");
        let v = TensorView::derive(&typed(&text), None).unwrap();
        assert_eq!(*v.q, LAB_NORMAL_Q.to_vec());
        // s = (β − α) / (qmax − qmin) = (1.1885 + 1.1217) / 255; Z = round(−128 − α / s) = −4.
        let p = v.slices[0].params;
        assert!((p.scale - 2.3102 / 255.0).abs() < 1e-7, "s = {}", p.scale);
        assert_eq!(p.zero_point, -4);
        assert_eq!((v.data_min, v.data_max), (-1.1217, 1.1885));
        // Every dequantized value is (q − Z)·s and within s/2 of x (nothing lies outside [α, β]).
        for i in 0..8 {
            assert!((v.dequant[i] - (v.q[i] - p.zero_point) as f32 * p.scale).abs() < 1e-6);
        }
        assert_eq!(v.metrics.error.n, 8);
        assert!(v.outcomes.as_ref().is_ok_and(|o| o.len() >= 6), "every calibrator runs on 8 values");
    }

    #[test]
    fn a_loaded_nd_tensor_is_rows_by_the_rest_and_per_channel_gives_one_slice_per_row() {
        let t = Tensor { shape: vec![4, 2, 3], values: (0..24).map(|i| i as f32 - 11.5).collect() };
        let s = TensorSettings { granularity: Granularity::PerChannel { axis: 0 }, ..TensorSettings::default() };
        let v = TensorView::derive(&s, Some(("w.npy", &t))).unwrap();
        assert_eq!(v.shape, vec![4, 6]);
        assert_eq!(v.slices.len(), 4);
    }

    #[test]
    fn bad_and_oversized_input_is_named() {
        let e = TensorView::derive(&typed("1, two, 3"), None).unwrap_err();
        assert!(e.contains("two"), "{e}");
        assert!(TensorView::derive(&typed(""), None).is_err());
        let e = TensorView::derive(&typed("1, NaN, 3"), None).unwrap_err();
        assert!(e.to_lowercase().contains("nan"), "{e}");
        let big = Tensor { shape: vec![MAX_PAGE_VALUES + 1], values: vec![0.5; MAX_PAGE_VALUES + 1] };
        let e = TensorView::derive(&TensorSettings::default(), Some(("big.npy", &big))).unwrap_err();
        assert!(e.contains("big.npy") && e.contains(&MAX_PAGE_VALUES.to_string()), "{e}");
        // Above MAX_COMPARE values the calibrator comparison is skipped with a reason.
        let many = Tensor { shape: vec![MAX_COMPARE + 1], values: (0..=MAX_COMPARE).map(|i| (i % 97) as f32).collect() };
        let v = TensorView::derive(&TensorSettings::default(), Some(("many.npy", &many))).unwrap();
        assert!(v.outcomes.is_err());
    }

    /// What the worker computes for the page: the same view, its progress steps in order, a stop
    /// when asked, and the view through its bytes and JSON and back, bit for bit.
    #[test]
    fn the_workers_view_is_the_pages_view_through_its_parts() {
        let t = Tensor { shape: vec![16, 64], values: (0..1024).map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0).collect() };
        for s in [
            TensorSettings { calibration: Calibration::Kl { bins: 512 }, ..TensorSettings::default() },
            TensorSettings { granularity: Granularity::PerChannel { axis: 0 }, calibration: Calibration::Mse { steps: 50 }, ..TensorSettings::default() },
        ] {
            let page = TensorView::derive(&s, Some(("t.npy", &t))).unwrap();
            let mut steps = Vec::new();
            let worker = TensorView::derive_with(&s, Some(("t.npy", &t)), &mut |p| {
                steps.push((p.done, p.total));
                true
            })
            .unwrap();
            assert_eq!(worker, page);
            assert_eq!(steps.first(), Some(&(0, 10)));
            assert_eq!(steps.last(), Some(&(10, 10)));
            assert!(steps.windows(2).all(|w| w[0].0 <= w[1].0), "{steps:?}");
            // Of the values only the first SHOWN_VALUES travel (the page's table shows no more);
            // everything else arrives whole.
            let (parts, bytes) = page.to_parts();
            assert_eq!(bytes.len(), 12 * SHOWN_VALUES);
            let json = serde_json::to_string(&parts).unwrap();
            let back = TensorView::from_parts(serde_json::from_str(&json).unwrap(), &bytes).unwrap();
            let first = |v: &[f32]| v[..SHOWN_VALUES].iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(first(&back.x), first(&page.x));
            assert_eq!(first(&back.dequant), first(&page.dequant));
            assert_eq!(back.q[..], page.q[..SHOWN_VALUES]);
            assert_eq!((back.values, &back.shape, &back.slices, &back.layout, back.metrics, &back.outcomes, &back.charts), (1024, &page.shape, &page.slices, &page.layout, page.metrics, &page.outcomes, &page.charts));
            assert_eq!((back.data_min, back.data_max, back.fp16, back.bf16, back.outside_range), (page.data_min, page.data_max, page.fp16, page.bf16, page.outside_range));
            // Bytes that do not hold the announced values are refused with the reason.
            let e = TensorView::from_parts(parts.clone(), &bytes[..bytes.len() - 4]).unwrap_err();
            assert!(e.contains("512 of 1024 values"), "{e}");
            let e = TensorView::from_parts(qplay::experiment::tensor_view::TensorViewParts { shown: 1024, ..parts.clone() }, &bytes).unwrap_err();
            assert!(e.contains("1024 of 1024 values"), "{e}");
            let e = TensorView::from_parts(qplay::experiment::tensor_view::TensorViewParts { shape: vec![3, 3], ..parts }, &bytes).unwrap_err();
            assert!(e.contains("shape"), "{e}");
        }
        // Asked to stop, it stops with "cancelled".
        let mut calls = 0;
        let e = TensorView::derive_with(&TensorSettings::default(), Some(("t.npy", &t)), &mut |_| {
            calls += 1;
            calls < 3
        })
        .unwrap_err();
        assert_eq!((e.as_str(), calls), ("cancelled", 3));
    }

    /// How long a unit of [`TensorView::work`] takes natively, per granularity and calibrator
    /// (the median of 5 derives after a warm-up, random normal values): the inline limit is set from it.
    /// `cargo test --release --test suite measure_tensor_view_work -- --ignored --nocapture`
    #[test]
    #[ignore = "a measurement: prints ns per unit of work"]
    fn measure_tensor_view_work() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let default = TensorSettings::default();
        for (rows, cols) in [(128, 1024), (256, 1024), (512, 512)] {
            let values: Vec<f32> = (0..rows * cols).map(|_| rng.random::<f32>() * 2.0 - 1.0).collect();
            let t = Tensor { shape: vec![rows, cols], values };
            let granularities = [
                ("per tensor", Granularity::PerTensor),
                ("per channel", Granularity::PerChannel { axis: 0 }),
                ("groups of 128", Granularity::PerGroup { axis: 1, group_size: 128 }),
                ("groups of 32", Granularity::PerGroup { axis: 1, group_size: 32 }),
                ("groups of 4", Granularity::PerGroup { axis: 1, group_size: 4 }),
            ];
            for (name, granularity) in granularities {
                for calibration in Calibration::all_defaults() {
                    let s = TensorSettings { granularity, calibration, ..default.clone() };
                    let work = TensorView::work(&s, Some(("t", &t)));
                    // Far above the inline limit: the worker's, and slow to time.
                    if work > 4.0 * INLINE_WORK {
                        continue;
                    }
                    TensorView::derive(&s, Some(("t", &t))).unwrap();
                    let mut ns: Vec<f64> = (0..5)
                        .map(|_| {
                            let start = std::time::Instant::now();
                            std::hint::black_box(TensorView::derive(&s, Some(("t", &t))).unwrap());
                            start.elapsed().as_nanos() as f64
                        })
                        .collect();
                    ns.sort_by(f64::total_cmp);
                    println!("{rows} × {cols} {name:>13} {:>22}: {:>7.2} ms, work {:>10.0}, {:.2} ns/unit", format!("{:?}", calibration.kind()), ns[2] / 1e6, work, ns[2] / work);
                }
            }
        }
    }

    /// The page keeps small tensors and fast calibrators, and sends large tensors and slow
    /// calibrators (many KL bins, many MSE steps per channel) to the worker.
    #[test]
    fn work_sends_large_tensors_and_slow_calibrators_to_the_worker() {
        let small = Tensor { shape: vec![8, 128], values: vec![0.25; 1024] };
        let large = Tensor { shape: vec![2048, 2048], values: Vec::new() };
        let large = Tensor { values: vec![0.5; large.shape[0] * large.shape[1]], ..large };
        let at = |s: &TensorSettings, t: &Tensor| TensorView::work(s, Some(("t", t)));
        let default = TensorSettings::default();
        assert!(at(&default, &small) < INLINE_WORK);
        let typed = qplay::parse::parse_numbers(&default.text).unwrap();
        let typed = Tensor { shape: typed.shape, values: typed.values };
        assert!(at(&default, &typed) < INLINE_WORK, "the default text");
        assert!(at(&default, &large) > INLINE_WORK, "4 Mi values");
        // A quarter of a million values per tensor stay on the page (up to about 450,000 do); a million go to the worker
        // (its view took the page's thread 121–128 ms in Chromium when it stayed).
        let rows = |r: usize| Tensor { shape: vec![r, 1024], values: vec![0.5; r * 1024] };
        assert!(at(&default, &rows(256)) < INLINE_WORK, "256 × 1024");
        assert!(at(&default, &rows(1024)) > INLINE_WORK, "1024 × 1024");
        let kl = TensorSettings { calibration: Calibration::Kl { bins: 8192 }, granularity: Granularity::PerChannel { axis: 0 }, ..default.clone() };
        assert!(at(&kl, &small) > INLINE_WORK, "8 channels × 8192² bins");
        let mse = TensorSettings { calibration: Calibration::Mse { steps: 10_000 }, ..default.clone() };
        let mid = Tensor { shape: vec![64, 64], values: vec![0.1; 4096] };
        assert!(at(&mse, &mid) > INLINE_WORK, "10,000 steps over 4,096 values");
        assert!(TensorView::work(&TensorSettings { text: "1, two".into(), ..default }, None) < INLINE_WORK, "unparsable text is small");
    }
}

/// A sweep's lists are bounded before anything is reserved: each value once, at most 16 bit
/// widths, 8 granularities and the 6 calibration methods (a 10 kB link once asked for 8.5 M cells).
#[test]
fn sweep_lists_are_distinct_and_bounded() {
    use qplay::experiment::spec::MAX_SWEEP_GRANULARITIES;
    let with = |f: &dyn Fn(&mut SweepSettings)| {
        let mut e = Experiment::default();
        f(&mut e.sweep);
        e.validate()
    };
    assert!(with(&|_| ()).is_ok());
    assert!(with(&|s| s.bits = (1..=16).collect()).is_ok());
    let cases: [(&str, &dyn Fn(&mut SweepSettings)); 5] = [
        ("sweep.bits", &|s| s.bits = vec![4, 8, 4]),
        ("sweep.bits", &|s| s.bits = vec![8; 200_000]),
        ("sweep.calibrations", &|s| s.calibrations = vec![CalibrationKind::Mse; 1700]),
        ("sweep.granularities", &|s| s.granularities = vec![WeightGranularity::PerChannel, WeightGranularity::PerTensor, WeightGranularity::PerChannel]),
        ("sweep.granularities", &|s| s.granularities = (1..=MAX_SWEEP_GRANULARITIES + 1).map(|g| WeightGranularity::PerGroup { group_size: 8 * g }).collect()),
    ];
    for (field, f) in cases {
        let e = with(f).unwrap_err().to_string();
        assert!(e.contains(field) && (e.contains("twice") || e.contains("at most")), "{e}");
    }
    assert!(with(&|s| s.bits = vec![4, 8, 4]).unwrap_err().to_string().contains("entries 1 and 3"));
    // Distinct group sizes are distinct granularities.
    assert!(with(&|s| s.granularities = vec![WeightGranularity::PerGroup { group_size: 16 }, WeightGranularity::PerGroup { group_size: 32 }]).is_ok());
}

/// A model scored on a dataset has one output per class: 266 outputs once sized a 266² confusion
/// matrix (21,000 outputs: gigabytes) and wrapped argmax indices past 255 into u8 predictions.
#[test]
fn a_model_with_other_than_one_output_per_class_is_refused() {
    let eval = data("fashion-test").take(64);
    for out in [9usize, 266] {
        let w = vec![0.01f32; 784 * out];
        let layer = Layer { name: "fc".into(), kind: LayerKind::Linear(Linear { in_features: 784, out_features: out, w, b: vec![0.0; out] }) };
        let model = Model::new(Shape::Flat(784), vec![layer], DEFAULT_MAX_PARAMS).unwrap();
        let e = fp32_baseline(&model, &eval).unwrap_err().to_string();
        assert!(e.contains(&format!("the model has {out} outputs, but the images have 10 classes")), "{e}");
    }
    assert!(fp32_baseline(&model("mlp-fashion"), &eval).is_ok());
}

/// FP32 against the quantized model's speed (Neural Compressor's accuracy / latency / throughput
/// table): both models run the evaluation images, the quantized one on the engines the run
/// chose; an all-simulated model is marked as such; no images is a message, not a panic.
#[test]
#[allow(clippy::single_range_in_vec_init)]
fn model_speed_times_both_models_on_their_engines() {
    use qplay::experiment::speed::{model_speed, THROUGHPUT_BATCH, THROUGHPUT_CALL_S};
    let s = setup(Experiment { eval_size: 300, ..Experiment::default() });
    let t0 = std::time::Instant::now();
    let clock = || t0.elapsed().as_secs_f64();
    for (cfg, simulated) in [
        (PtqConfig::default(), false),
        (PtqConfig { mode: QuantMode::WeightOnly, weight_bits: 4, ..PtqConfig::default() }, false),
        // 6-bit activations have no kernel: every layer is simulated.
        (PtqConfig { act_bits: 6, ..PtqConfig::default() }, true),
    ] {
        let exec = qplay::ptq::executable(&s.model, &cfg, &s.calib).unwrap();
        assert_eq!(exec.on_kernels(), !simulated);
        let v = model_speed(&clock, &s.model, &exec, &s.eval).unwrap();
        // 100 images, unless FP32 would take longer than THROUGHPUT_CALL_S over them (a loaded machine).
        assert!(v.batch == THROUGHPUT_BATCH || (v.batch < THROUGHPUT_BATCH && v.latency_ms[0] * 1e-3 * THROUGHPUT_BATCH as f64 > THROUGHPUT_CALL_S), "{v:?}");
        assert_eq!(v.simulated, simulated);
        for x in v.latency_ms.iter().chain(&v.throughput) {
            assert!(x.is_finite() && *x > 0.0, "{v:?}");
        }
        // A batch of 100 images is not faster per image than one image alone by more than the batch.
        for i in 0..2 {
            let per_image_ms = 1e3 / v.throughput[i];
            assert!(per_image_ms < v.latency_ms[i] * 10.0 && per_image_ms > v.latency_ms[i] / 100.0, "{v:?}");
        }
        assert!((v.latency_speedup() - v.latency_ms[0] / v.latency_ms[1]).abs() < 1e-12);
    }
    // A clock on which every image takes a second: the throughput is timed one image at a time.
    let ticks = std::cell::Cell::new(0.0);
    let slow = || {
        let t = ticks.get();
        ticks.set(t + 1.0);
        t
    };
    let exec = qplay::ptq::executable(&s.model, &PtqConfig::default(), &s.calib).unwrap();
    let v = model_speed(&slow, &s.model, &exec, &s.eval).unwrap();
    assert_eq!((v.batch, v.latency_ms, v.throughput), (1, [1000.0, 1000.0], [1.0, 1.0]), "{v:?}");
    let small = s.eval.select(&[0..7]);
    let v = model_speed(&clock, &s.model, &exec, &small).unwrap();
    assert!(v.batch == 7 || v.latency_ms[0] * 1e-3 * 7.0 > THROUGHPUT_CALL_S, "a smaller set times all its images: {v:?}");
    let err = model_speed(&clock, &s.model, &exec, &s.eval.select(&[])).unwrap_err().to_string();
    assert!(err.contains("no evaluation images"), "{err}");
}

/// MindSpore Lite's debug mode round by round: one report per calibration image under full
/// quantization, each with every quantized layer's weight, input and output (FP32 against the
/// quantized model's own tensor), and the network output's cosine per round; checked against
/// the two models run here on each image and statistics computed here. Weight quantization
/// gives one report of its weights and no rounds.
#[test]
fn debug_reports_give_one_report_per_calibration_round() {
    use qplay::experiment::debug_rounds::debug_reports;
    use qplay::report::{DataTypeFlag, InOutFlag, TensorTypeFlag};
    let s = setup(Experiment::default());
    let p = s.model.input.len();
    let calib = &s.calib[..3 * p];
    let exec = qplay::ptq::executable(&s.model, &PtqConfig::default(), calib).unwrap();
    let d = debug_reports(&exec.quant, calib).unwrap();
    assert_eq!(d.rounds.len(), 3);
    assert_eq!(d.summary.len(), 3);
    let fp32 = Fp32Runner::new(s.model.clone());
    let cos = |a: &[f32], b: &[f32]| {
        let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
        let n = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
        dot / (n(a) * n(b))
    };
    for (r, rows) in d.rounds.iter().enumerate() {
        let x = &calib[r * p..(r + 1) * p];
        // 3 Linears × (weight, input, output) × (Origin, Dequant).
        assert_eq!(rows.len(), 18, "round {r}");
        let want = cos(&fp32.forward(x).unwrap(), &exec.quant.forward(x).unwrap());
        assert_eq!(d.summary[r].round, r);
        assert_eq!(d.summary[r].tensor_name, "nn3.output");
        assert!((d.summary[r].cosine_similarity - want).abs() < 1e-9, "round {r}: {} vs {want}", d.summary[r].cosine_similarity);
        let last = rows.iter().rfind(|row| row.in_out_flag == InOutFlag::Output && row.data_type_flag == DataTypeFlag::Dequant).unwrap();
        assert_eq!((last.tensor_name.as_str(), last.cosine_similarity), ("nn3.output", d.summary[r].cosine_similarity));
        // The first layer's input is the image itself: its Origin statistics are the pixels'.
        let input = rows.iter().find(|row| row.tensor_name == "nn1.input" && row.data_type_flag == DataTypeFlag::Origin).unwrap();
        let mean = x.iter().map(|&v| v as f64).sum::<f64>() / p as f64;
        let max = x.iter().fold(0f32, |a, &b| a.max(b)) as f64;
        let zeros = x.iter().filter(|&&v| v == 0.0).count() as f64 / p as f64;
        assert!((input.mean - mean).abs() < 1e-9 && input.max == max && (input.sparsity - zeros).abs() < 1e-12, "round {r}: {input:?}");
        assert!(rows.iter().all(|row| row.tensor_type_flag == TensorTypeFlag::Weight || row.tensor_name.ends_with("put")));
    }
    // The rounds see different images; the weights are the run report's.
    assert_ne!(d.summary[0].cosine_similarity, d.summary[1].cosine_similarity);
    let report = qplay::experiment::run::report_quantized(&exec, &s.model, 3, &s.eval, &fp32_baseline(&s.model, &s.eval).unwrap()).unwrap();
    let weights = |rows: &[qplay::report::DistributionRow]| rows.iter().filter(|r| r.tensor_type_flag == TensorTypeFlag::Weight).cloned().collect::<Vec<_>>();
    assert_eq!(weights(&d.rounds[2]), weights(&report.statistics));

    let wo = qplay::ptq::executable(&s.model, &PtqConfig { mode: QuantMode::WeightOnly, ..PtqConfig::default() }, calib).unwrap();
    let d = debug_reports(&wo.quant, calib).unwrap();
    assert_eq!(d.rounds.len(), 1, "weight quantization: one report");
    assert_eq!(d.rounds[0].len(), 6);
    assert!(d.summary.is_empty());
}

/// The page's debug_info .zip holds the files the CLI writes to its debug folder, byte for byte:
/// a report per round, the output summary, quant_param.csv (the run report's parameters); a
/// download past its size limit is refused naming the file, before that file is compressed.
#[test]
fn the_debug_folder_zipped_holds_what_the_cli_writes() {
    use qplay::experiment::debug_rounds::{debug_reports, write_debug_info};
    use qplay::formats::zip_texts::TextZip;
    use std::io::Read;
    let s = setup(Experiment::default());
    let p = s.model.input.len();
    let calib = &s.calib[..4 * p];
    let exec = qplay::ptq::executable(&s.model, &PtqConfig::default(), calib).unwrap();
    let mut files: Vec<(String, String)> = Vec::new();
    write_debug_info(&exec.quant, calib, &mut |n, t| {
        files.push((n.to_string(), t.to_string()));
        Ok(())
    })
    .unwrap();
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["report_0.csv", "report_1.csv", "report_2.csv", "report_3.csv", "output_summary.csv", "quant_param.csv"]);
    let d = debug_reports(&exec.quant, calib).unwrap();
    assert_eq!(files[2].1, qplay::report::distribution_csv(&d.rounds[2]).unwrap());
    let summary: Vec<&str> = files[4].1.lines().collect();
    assert_eq!(summary[0], "Round,TensorName,CosineSimilarity");
    assert_eq!(summary.len(), 5);
    assert!(summary[3].starts_with("2,nn3.output,"), "{}", summary[3]);
    let report = qplay::experiment::run::report_quantized(&exec, &s.model, 4, &s.eval, &fp32_baseline(&s.model, &s.eval).unwrap()).unwrap();
    assert_eq!(files[5].1, qplay::report::quant_param_csv(&report.quant_params).unwrap());

    let mut zip = TextZip::default();
    write_debug_info(&exec.quant, calib, &mut |n, t| zip.add(n, t)).unwrap();
    let bytes = zip.finish().unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    assert_eq!(archive.len(), files.len());
    for (name, text) in &files {
        let mut back = String::new();
        archive.by_name(name).unwrap().read_to_string(&mut back).unwrap();
        assert_eq!(&back, text, "{name}");
    }
    // The limit: refused at the file that passes it, naming it.
    let mut small = TextZip::with_limit(files[0].1.len() * 2 + 1);
    let e = write_debug_info(&exec.quant, calib, &mut |n, t| small.add(n, t)).unwrap_err().to_string();
    assert!(e.starts_with("report_2.csv: the files come to more than"), "{e}");
}
