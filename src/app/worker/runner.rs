//! The worker's side: it answers [`Job`]s one at a time, off the page's
//! thread, so calibration, evaluation, sweeps, searches and training never
//! freeze the page. It fetches the datasets and built-in models lazily (with
//! progress), keeps them for later jobs, and caches each model's FP32 baseline.
//!
//! Cancelling is the page's business: it terminates this worker and starts a
//! new one, which stops any computation at once.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use js_sys::{Object, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent, Response};

use super::protocol::{sample_indices, BenchRow, Event, ExportFormat, Job, LoadedTensorRef, ModelSource, Outcome, PtqView, Reply, Request, Sample, LM_MODEL_MISSING};
use crate::experiment::tensor_view::{page_choice, TensorView, MAX_PAGE_VALUES};
use crate::formats::{pack_tensors, unpack_tensors};
use crate::share::TensorSettings;
use crate::bench::Measured;
use crate::data::{read_qds, Dataset};
use crate::experiment::layerwise::run_layerwise_shard;
use crate::experiment::mixed_bit::run_mixed_bit_shard;
use crate::experiment::qat::run_qat;
use crate::experiment::run::{calibration_images, eval_set, fp32_baseline, run_ptq_exec, Fp32Baseline, EVAL_BATCH};
use crate::experiment::speed::model_speed;
use crate::experiment::spec::BUILTIN_MODELS;
use crate::experiment::shard::Shard;
use crate::experiment::sweep::run_sweep;
use crate::experiment::{Experiment, Progress, Task};
use crate::formats::safetensors::read_model;
use crate::model::{Model, ModelOutline, DEFAULT_MAX_PARAMS};
use crate::ptq::{quantize_model, Scope};

/// Least time between two progress messages, in milliseconds.
pub(super) const PROGRESS_EVERY_MS: f64 = 50.0;

#[derive(Default)]
struct Cache {
    datasets: HashMap<String, Rc<Dataset>>,
    models: HashMap<String, Rc<Model>>,
    /// (model key, dataset, eval size) → baseline.
    baselines: HashMap<(String, String, usize), Rc<Fp32Baseline>>,
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
}

fn scope() -> DedicatedWorkerGlobalScope {
    js_sys::global().unchecked_into()
}

pub(super) fn now_ms() -> f64 {
    Reflect::get(&js_sys::global(), &"performance".into())
        .ok()
        .and_then(|p| Reflect::get(&p, &"now".into()).ok().and_then(|f| f.dyn_into::<js_sys::Function>().ok()).and_then(|f| f.call0(&p).ok()))
        .and_then(|v| v.as_f64())
        .unwrap_or(0.0)
}

/// Posts a reply (and a file's bytes, transferred).
pub(super) fn post(id: u32, event: Event, bytes: Option<Vec<u8>>) {
    let msg = Object::new();
    let json = serde_json::to_string(&Reply { id, event }).unwrap_or_else(|e| {
        serde_json::to_string(&Reply { id, event: Event::Failed(format!("the result could not be sent: {e}")) }).unwrap_or_default()
    });
    let _ = Reflect::set(&msg, &"json".into(), &json.into());
    let transfer = js_sys::Array::new();
    match bytes {
        Some(b) => {
            let arr = Uint8Array::from(&b[..]);
            transfer.push(&arr.buffer());
            let _ = Reflect::set(&msg, &"bytes".into(), &arr);
        }
        None => {
            let _ = Reflect::set(&msg, &"bytes".into(), &JsValue::NULL);
        }
    }
    let _ = scope().post_message_with_transfer(&msg, &transfer);
}

/// Installs the message handler. Called once by the worker binary.
pub fn start() {
    let handler = Closure::<dyn FnMut(MessageEvent)>::new(|e: MessageEvent| {
        let data = e.data();
        let json = Reflect::get(&data, &"json".into()).ok().and_then(|v| v.as_string()).unwrap_or_default();
        match serde_json::from_str::<Job>(&json) {
            Ok(job) => wasm_bindgen_futures::spawn_local(async move {
                let id = job.id;
                let bytes = match super::message_file(&data) {
                    Ok(bytes) => bytes,
                    Err(message) => return post(id, Event::Failed(message), None),
                };
                match handle(job, bytes).await {
                    Ok((outcome, file)) => post(id, Event::Done(outcome), file),
                    // The one error the page acts on rather than shows: it sends the files again.
                    Err(message) if message == LM_MODEL_MISSING => post(id, Event::LmModelMissing, None),
                    Err(message) => post(id, Event::Failed(message), None),
                }
            }),
            // Fail the job the message names, if it names one: its page is waiting for it.
            Err(e) => {
                let id = serde_json::from_str::<serde_json::Value>(&json).ok().and_then(|v| v.get("id")?.as_u64()).and_then(|i| u32::try_from(i).ok());
                if let Some(id) = id {
                    post(id, Event::Failed(format!("the worker got a message it cannot read: {e}")), None);
                }
            }
        }
    });
    scope().set_onmessage(Some(handler.as_ref().unchecked_ref()));
    handler.forget();
    // The page holds its jobs until it hears this.
    let ready = Object::new();
    let _ = Reflect::set(&ready, &"ready".into(), &JsValue::TRUE);
    let _ = scope().post_message(&ready);
}

/// Fetches `url` with progress reports, as bytes.
pub(super) async fn fetch_bytes(id: u32, url: &str, what: &str) -> Result<Vec<u8>, String> {
    let fail = |e: JsValue| format!("could not load {what} ({url}): {}", e.as_string().unwrap_or_else(|| format!("{e:?}")));
    let resp: Response = JsFuture::from(scope().fetch_with_str(url)).await.map_err(fail)?.dyn_into().map_err(fail)?;
    if !resp.ok() {
        return Err(format!("could not load {what} ({url}): HTTP {}", resp.status()));
    }
    let total = resp.headers().get("content-length").ok().flatten().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let Some(body) = resp.body() else {
        let buf = JsFuture::from(resp.array_buffer().map_err(fail)?).await.map_err(fail)?;
        return Ok(Uint8Array::new(&buf).to_vec());
    };
    let reader: web_sys::ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    let mut out = Vec::with_capacity(total as usize);
    let mut last = 0.0;
    loop {
        let chunk = JsFuture::from(reader.read()).await.map_err(fail)?;
        if Reflect::get(&chunk, &"done".into()).ok().and_then(|d| d.as_bool()).unwrap_or(true) {
            break;
        }
        if let Ok(v) = Reflect::get(&chunk, &"value".into()) {
            out.extend(Uint8Array::new(&v).to_vec());
        }
        if now_ms() - last > PROGRESS_EVERY_MS {
            last = now_ms();
            post(id, Event::Loading { what: what.into(), done: out.len() as u64, total }, None);
        }
    }
    post(id, Event::Loading { what: what.into(), done: out.len() as u64, total: total.max(out.len() as u64) }, None);
    Ok(out)
}

async fn dataset(id: u32, name: &str, split: &str) -> Result<Rc<Dataset>, String> {
    let key = format!("{name}-{split}");
    if let Some(d) = CACHE.with_borrow(|c| c.datasets.get(&key).cloned()) {
        return Ok(d);
    }
    let what = format!("the {} {split} images", if name == "fashion" { "Fashion-MNIST" } else { "MNIST" });
    let bytes = fetch_bytes(id, &format!("data/{key}.qds.gz"), &what).await?;
    let d = Rc::new(read_qds(&bytes).map_err(|e| format!("{what}: {e}"))?);
    CACHE.with_borrow_mut(|c| c.datasets.insert(key, d.clone()));
    Ok(d)
}

/// The model, and the key its baseline is cached under.
async fn model(id: u32, source: &ModelSource, bytes: Option<Vec<u8>>) -> Result<(Rc<Model>, String), String> {
    match source {
        ModelSource::Builtin(name) => {
            if let Some(m) = CACHE.with_borrow(|c| c.models.get(name).cloned()) {
                return Ok((m, name.clone()));
            }
            let file = BUILTIN_MODELS.iter().find(|(n, _, _)| n == name).map(|(_, _, f)| *f).ok_or_else(|| format!("model: unknown built-in model \"{name}\""))?;
            let b = fetch_bytes(id, &format!("models/{file}"), &format!("the {name} model")).await?;
            let m = Rc::new(read_model(&b, None, DEFAULT_MAX_PARAMS).map_err(|e| format!("{name}: {e}"))?);
            CACHE.with_borrow_mut(|c| c.models.insert(name.clone(), m.clone()));
            Ok((m, name.clone()))
        }
        ModelSource::File { name, sidecar } => {
            let b = bytes.ok_or("the model file's bytes did not arrive")?;
            let key = format!("file:{name}:{}:{}", b.len(), crate::data::fnv1a64(&[&b]));
            if let Some(m) = CACHE.with_borrow(|c| c.models.get(&key).cloned()) {
                return Ok((m, key));
            }
            let m = Rc::new(crate::formats::files::read_model_file(name, &b, sidecar.as_deref())?);
            // One user file at a time (each may be 64 MB of weights): the one read before goes,
            // with its baselines.
            CACHE.with_borrow_mut(|c| {
                c.models.retain(|k, _| !k.starts_with("file:"));
                c.baselines.retain(|(k, _, _), _| !k.starts_with("file:"));
                c.models.insert(key.clone(), m.clone());
            });
            Ok((m, key))
        }
    }
}

/// A progress callback that posts at most every [`PROGRESS_EVERY_MS`].
fn progress(id: u32) -> impl FnMut(&Progress) -> bool {
    let mut last = f64::NEG_INFINITY;
    move |p: &Progress| {
        let t = now_ms();
        if t - last >= PROGRESS_EVERY_MS || p.done >= p.total {
            last = t;
            post(id, Event::Progress(p.clone()), None);
        }
        true
    }
}

/// The samples the page shows (see [`sample_indices`]) among the images this worker predicted
/// (`quantized[i]`, None for another shard's).
fn samples(eval: &Dataset, base: &Fp32Baseline, quantized: &[Option<u8>], disagreements: &[usize]) -> Vec<Sample> {
    let p = eval.image_len();
    sample_indices(eval.len(), disagreements)
        .into_iter()
        .filter_map(|i| {
            let (q, &fp32) = (quantized.get(i).copied().flatten()?, base.predictions.get(i)?);
            Some(Sample { index: i, pixels: eval.pixels.get(i * p..(i + 1) * p)?.to_vec(), label: *eval.labels.get(i)?, fp32, quantized: q })
        })
        .collect()
}

async fn handle(job: Job, bytes: Option<Vec<u8>>) -> Result<(Outcome, Option<Vec<u8>>), String> {
    let id = job.id;
    let (exp, source, export, shard): (Experiment, ModelSource, Option<ExportFormat>, Shard) = match job.request {
        Request::Run { exp, model, shard } => (exp, model, None, shard),
        Request::Export { exp, model, format } => (exp, model, Some(format), Shard::ALL),
        Request::Bench => return bench(id).await.map(|o| (o, None)),
        Request::TensorView { hash, loaded } => return tensor_view(id, &hash, loaded, bytes),
        Request::ReadTensors { name } => {
            let b = bytes.ok_or_else(|| format!("{name}: the file's bytes did not arrive"))?;
            let file = crate::formats::files::read_tensor_file(&name, &b)?;
            drop(b);
            // Here, where the values are: the page unpacks only the tensor it shows.
            // A file of one array (.npy, text) names its tensor after itself: named once.
            let whole_file = matches!(&file.tensors[..], [(n, _)] if *n == name);
            let (chosen, cannot_show) = page_choice(&file.tensors).map_err(|why| if whole_file { why } else { format!("{name}: {why}") })?;
            let (tensors, values) = pack_tensors(&file.tensors, MAX_PAGE_VALUES);
            return Ok((Outcome::Tensors { tensors, chosen, cannot_show, file_note: file.note(), bytes: Vec::new() }, Some(values)));
        }
        Request::ReadModel { model: source } => {
            let (m, _) = model(id, &source, bytes).await?;
            let named = match &source {
                ModelSource::File { name, .. } | ModelSource::Builtin(name) => name,
            };
            crate::experiment::run::fits_the_datasets(&m).map_err(|e| format!("{named}: {e}"))?;
            return Ok((Outcome::Model(Box::new(ModelOutline::of(&m))), None));
        }
        r @ (Request::LmRun { .. } | Request::LmGenerate { .. } | Request::LmLoad { .. } | Request::LmExport { .. } | Request::LmWeights { .. } | Request::LmSearch { .. }) => {
            return super::lm::handle(id, r, bytes).await
        }
    };
    exp.validate().map_err(|e| e.to_string())?;
    shard.validate()?;
    if shard != Shard::ALL && exp.task == Task::Qat {
        return Err(format!("the task {} trains one model and cannot be shared among workers", exp.task.name()));
    }
    let (model, key) = model(id, &source, bytes).await?;
    let train = dataset(id, &exp.dataset, "train").await?;
    let test = dataset(id, &exp.dataset, "test").await?;
    if train.image_len() != model.input.len() {
        return Err(format!(
            "the model takes {} values per sample but the {} images have {}: choose a model for 28×28 images",
            model.input.len(),
            exp.dataset,
            train.image_len()
        ));
    }
    let calib = calibration_images(&exp, &train);
    let eval = eval_set(&exp, &test);
    if let Some(format) = export {
        let q = quantize_model(&model, &exp.ptq, &calib, Scope::All).map_err(|e| e.to_string())?.model;
        let names: Vec<String> = crate::ptq::quantizable_layers(&model).into_iter().map(|(_, n)| n).collect();
        let stem = crate::experiment::download_name::quantized_model_stem(&exp, &names);
        return match format {
            ExportFormat::QuantizedSafetensors => {
                let b = crate::formats::quantized::write_quantized(&q).map_err(|e| e.to_string())?;
                Ok((Outcome::File { name: format!("{stem}.safetensors"), mime: "application/octet-stream".into() }, Some(b)))
            }
            ExportFormat::QdqOnnx => {
                let x = crate::formats::onnx::write_qdq_onnx(&q).map_err(|e| e.to_string())?;
                Ok((Outcome::File { name: format!("{stem}-qdq.onnx"), mime: "application/octet-stream".into() }, Some(x.bytes)))
            }
            ExportFormat::DebugInfo => {
                post(id, Event::Progress(Progress { stage: "MindSpore Lite's debug reports, a round per calibration image".into(), done: 0, total: 1, value: None }), None);
                let mut zip = crate::formats::zip_texts::TextZip::default();
                crate::experiment::debug_rounds::write_debug_info(&q, &calib, &mut |name, text| zip.add(name, text)).map_err(|e| e.to_string())?;
                Ok((Outcome::File { name: format!("{stem}-debug_info.zip"), mime: "application/zip".into() }, Some(zip.finish()?)))
            }
        };
    }
    // The exports above need no baseline: it is computed (once per model and dataset) only for a run.
    let bkey = (key, exp.dataset.clone(), eval.len());
    let base = match CACHE.with_borrow(|c| c.baselines.get(&bkey).cloned()) {
        Some(b) => b,
        None => {
            post(id, Event::Progress(Progress { stage: "FP32 baseline".into(), done: 0, total: 1, value: None }), None);
            let b = Rc::new(fp32_baseline(&model, &eval).map_err(|e| e.to_string())?);
            CACHE.with_borrow_mut(|c| c.baselines.insert(bkey, b.clone()));
            b
        }
    };
    let mut on = progress(id);
    let e = |err: crate::experiment::ExperimentError| err.to_string();
    let outcome = match exp.task {
        Task::Ptq => {
            let t0 = now_ms();
            let (report, exec) = run_ptq_exec(&exp, &model, &calib, &eval, &base, shard).map_err(e)?;
            let millis = now_ms() - t0;
            // FP32 against the quantized model, as Neural Compressor's benchmark prints them:
            // timed once per run, by the worker of the first batch (the others may still run).
            let speed = if shard.takes(0) {
                post(id, Event::Progress(Progress { stage: "timing FP32 and the quantized model (latency, throughput)".into(), done: 0, total: 1, value: None }), None);
                model_speed(&|| now_ms() / 1e3, &model, &exec, &eval).ok()
            } else {
                None
            };
            // The shard's predictions, at their places in the evaluation set.
            let mut predicted = vec![None; eval.len()];
            let own = shard.batches(eval.len(), EVAL_BATCH).into_iter().flatten();
            for (i, &p) in own.zip(&report.predictions) {
                predicted[i] = Some(p);
            }
            let samples = samples(&eval, &base, &predicted, &report.disagreements);
            Outcome::Ptq(Box::new(PtqView { report, samples, millis, speed }))
        }
        Task::Layerwise => Outcome::Layerwise(Box::new(run_layerwise_shard(&exp, &model, &calib, &eval, &base, shard, &mut on).map_err(e)?)),
        Task::Sweep => Outcome::Sweep(Box::new(run_sweep(&exp, &model, &calib, &eval, &base, shard, &mut on).map_err(e)?)),
        Task::MixedBit | Task::SizeBudget => Outcome::MixedBit(Box::new(run_mixed_bit_shard(&exp, &model, &calib, &eval, &base, shard, &mut on).map_err(e)?)),
        Task::Qat => Outcome::Qat(Box::new(run_qat(&exp, &model, &calib, &train, &eval, &base, &mut on).map_err(e)?.report)),
    };
    Ok((outcome, None))
}

/// The Tensor page's view, computed here because it is large or slow (see
/// `TensorView::work`); the values go back as bytes.
fn tensor_view(id: u32, hash: &str, loaded: Option<LoadedTensorRef>, bytes: Option<Vec<u8>>) -> Result<(Outcome, Option<Vec<u8>>), String> {
    let (settings, _) = TensorSettings::from_hash(hash);
    let tensor = match loaded {
        Some(LoadedTensorRef { name, shape }) => {
            let b = bytes.ok_or_else(|| format!("the values of {name} did not arrive"))?;
            if shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).is_none_or(|n| n > MAX_PAGE_VALUES) {
                return Err(format!("{name}: shape {shape:?} holds more than the {MAX_PAGE_VALUES} values the page takes"));
            }
            let mut one = unpack_tensors(vec![(name, shape)], &b, MAX_PAGE_VALUES).map_err(|e| format!("the tensor's values: {e}"))?;
            one.pop()
        }
        None => None,
    };
    let mut on = progress(id);
    let view = TensorView::derive_with(&settings, tensor.as_ref().map(|(n, t)| (n.as_str(), t)), &mut on)?;
    let (parts, values) = view.to_parts();
    Ok((Outcome::TensorView { parts: Box::new(parts), bytes: Vec::new() }, Some(values)))
}

fn rows(lines: &[Measured]) -> (Vec<BenchRow>, Vec<String>) {
    let rows = lines
        .iter()
        .map(|m| BenchRow {
            suite: m.line.suite.into(),
            case: m.line.case.clone(),
            kernel: m.line.kernel.into(),
            median_s: m.line.median_s,
            rate: m.line.rate,
            unit: m.line.unit.into(),
            line: m.to_line(),
        })
        .collect();
    let lm: Vec<crate::bench::BenchLine> = lines.iter().filter(|m| m.line.suite == "lm_decode").map(|m| m.line.clone()).collect();
    let ratios = crate::bench::ratios(lines).into_iter().chain(crate::bench::int8_vs_f32(lines)).chain(crate::lm::bench::ratios_to_fp32(&lm)).collect();
    (rows, ratios)
}

/// The Benchmark page's cases, one after the other, each reported as it ends.
async fn bench(id: u32) -> Result<Outcome, String> {
    let clock = || now_ms() / 1e3;
    let mut all: Vec<Measured> = Vec::new();
    type Case = (&'static str, fn(&dyn Fn() -> f64) -> Vec<Measured>);
    let cases: [Case; 4] = [
        ("quantize kernels", |c| crate::bench::quant_kernels(c, 1 << 18)),
        ("int8 GEMM", crate::bench::gemm_i8),
        ("f32 GEMM", crate::bench::gemm_f32),
        ("the MLP at batches of 1, 64 and 10,000 images", |c| crate::bench::mlp_end_to_end(c, 10_000)),
    ];
    // The cases, the PTQ run and the language model.
    let total = cases.len() + 2;
    for (i, (name, case)) in cases.into_iter().enumerate() {
        post(id, Event::Progress(Progress { stage: name.into(), done: i, total, value: None }), None);
        all.extend(case(&clock));
        let (rows, ratios) = rows(&all);
        post(id, Event::BenchLines { rows, ratios }, None);
    }
    post(id, Event::Progress(Progress { stage: "a W8A8 PTQ run of the Fashion-MNIST MLP".into(), done: total - 2, total, value: None }), None);
    let (model, _) = model(id, &ModelSource::Builtin("mlp-fashion".into()), None).await?;
    let test = dataset(id, "fashion", "test").await?;
    let train = dataset(id, "fashion", "train").await?;
    all.extend(crate::bench::ptq_run(&clock, &model, &train.images_f32(0, 256), &test));
    let (rows_so_far, ratios) = rows(&all);
    post(id, Event::BenchLines { rows: rows_so_far, ratios }, None);
    post(id, Event::Progress(Progress { stage: "the built-in language model, decoding 128 tokens in each format".into(), done: total - 1, total, value: None }), None);
    all.extend(super::lm::builtin_decode_speed(id, &clock).await?);
    let (rows, ratios) = rows(&all);
    Ok(Outcome::Bench { rows, ratios })
}
