//! File names of downloads, built in one place from the experiment that ran: the model, the
//! task, and the bits and mode that really ran (never a fixed "w8a8").
//!
//! ```text
//! PTQ             mlp-fashion-w8a8           every quantized layer at 8 bits, activations 8 bits
//!                 mlp-fashion-w4-8a8         per-layer weight bits from 4 to 8
//!                 mlp-fashion-w8a32          weight-only (activations stay FP32)
//!                 mlp-fashion-w8a8-dynamic   activations quantized at run time
//! comparison      mlp-fashion-layerwise-w8a8
//! sweep           mlp-fashion-sweep-w2-16a2-16   (full / dynamic: W b A b for each b)
//!                 mlp-fashion-sweep-w2-16a32     (weight-only)
//! mixed bit       mlp-fashion-mixed-bit-w1-8a8   (the bits the search may give: 1 to max_bits)
//! size budget     mlp-fashion-size-budget-60000B-w1-8a8
//! QAT             mlp-fashion-qat-w4a8
//! ```
//!
//! A model loaded from a file is named `model` (its file name may not be a safe file name).

use super::spec::{Experiment, Task, FILE_MODEL};
use crate::ptq::{PtqConfig, QuantMode};

/// `w{bits}` or `w{lo}-{hi}` for a range of bits (`lo` ≤ `hi`).
fn bits_range(prefix: char, lo: u8, hi: u8) -> String {
    if lo == hi {
        format!("{prefix}{lo}")
    } else {
        format!("{prefix}{lo}-{hi}")
    }
}

/// The activation part of a tag: the mode's activation bits (weight-only: a32), and `-dynamic`
/// for activations quantized at run time.
fn act_tag(mode: QuantMode, act: String) -> String {
    match mode {
        QuantMode::WeightOnly => "a32".into(),
        QuantMode::Full => act,
        QuantMode::Dynamic => format!("{act}-dynamic"),
    }
}

/// The bits a PTQ run with `ptq` uses on the quantized layers `layers` (names of the model's
/// quantizable layers; skipped ones do not count): `w8a8`, `w4-8a8`, `w8a32`, `w8a8-dynamic`.
pub fn ptq_tag(ptq: &PtqConfig, layers: &[String]) -> String {
    let ran = layers.iter().filter(|n| !ptq.skip.contains(n)).map(|n| ptq.bits_of(n));
    let (lo, hi) = ran.fold((u8::MAX, 0), |(lo, hi), b| (lo.min(b), hi.max(b)));
    let (lo, hi) = if lo > hi { (ptq.weight_bits, ptq.weight_bits) } else { (lo, hi) };
    format!("{}{}", bits_range('w', lo, hi), act_tag(ptq.mode, bits_range('a', ptq.act_bits, ptq.act_bits)))
}

/// The model's part of a name.
fn model_part(exp: &Experiment) -> &str {
    if exp.model == FILE_MODEL {
        "model"
    } else {
        &exp.model
    }
}

/// The stem of an exported quantized model (`.safetensors`, QDQ `.onnx`): the model quantized
/// with `exp.ptq`, whatever the task, e.g. `mlp-fashion-w4-8a8`.
pub fn quantized_model_stem(exp: &Experiment, layers: &[String]) -> String {
    format!("{}-{}", model_part(exp), ptq_tag(&exp.ptq, layers))
}

/// The stem of a result's downloads (reports, JSON): the model, the task and its bits (see the
/// module header). `layers` are the names of the model's quantizable layers.
pub fn download_stem(exp: &Experiment, layers: &[String]) -> String {
    let model = model_part(exp);
    let p = &exp.ptq;
    // The search's layers get 1 to max_bits (MindSpore Lite's selection can reach 1 bit).
    let searched = || format!("{}{}", bits_range('w', 1, exp.mixed_bit.max_bits), act_tag(p.mode, bits_range('a', p.act_bits, p.act_bits)));
    match exp.task {
        Task::Ptq => quantized_model_stem(exp, layers),
        Task::Layerwise => format!("{model}-layerwise-{}", ptq_tag(p, layers)),
        Task::Sweep => {
            let bits = &exp.sweep.bits;
            let (lo, hi) = (bits.iter().copied().min().unwrap_or(p.weight_bits), bits.iter().copied().max().unwrap_or(p.weight_bits));
            format!("{model}-sweep-{}{}", bits_range('w', lo, hi), act_tag(p.mode, bits_range('a', lo, hi)))
        }
        Task::MixedBit => format!("{model}-mixed-bit-{}", searched()),
        Task::SizeBudget => format!("{model}-size-budget-{}B-{}", exp.mixed_bit.size_budget, searched()),
        Task::Qat => format!("{model}-qat-{}", bits_range('w', p.weight_bits, p.weight_bits) + &bits_range('a', p.act_bits, p.act_bits)),
    }
}

/// A configuration's label as a file-name part: lower case, each run of other characters one
/// hyphen, α spelt out ("W4A8 g32 SmoothQuant α0.5" → "w4a8-g32-smoothquant-alpha0-5").
pub fn label_tag(label: &str) -> String {
    let mut tag = String::with_capacity(label.len());
    for c in label.replace('α', "alpha").chars() {
        if c.is_ascii_alphanumeric() {
            tag.push(c.to_ascii_lowercase());
        } else if !tag.is_empty() && !tag.ends_with('-') {
            tag.push('-');
        }
    }
    tag.trim_end_matches('-').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::spec::{MixedBitConfig, SweepSettings};

    fn layers() -> Vec<String> {
        ["nn1", "nn2", "nn3"].map(String::from).to_vec()
    }

    fn exp(task: Task, ptq: PtqConfig) -> Experiment {
        Experiment { task, ptq, ..Experiment::default() }
    }

    #[test]
    fn names_carry_the_bits_and_mode_that_ran() {
        let w4a8 = PtqConfig { weight_bits: 4, act_bits: 8, ..PtqConfig::default() };
        assert_eq!(download_stem(&exp(Task::Ptq, PtqConfig::default()), &layers()), "mlp-fashion-w8a8");
        assert_eq!(download_stem(&exp(Task::Ptq, w4a8.clone()), &layers()), "mlp-fashion-w4a8");
        let weight_only = PtqConfig { mode: QuantMode::WeightOnly, weight_bits: 4, ..PtqConfig::default() };
        assert_eq!(download_stem(&exp(Task::Ptq, weight_only.clone()), &layers()), "mlp-fashion-w4a32");
        let dynamic = PtqConfig { mode: QuantMode::Dynamic, act_bits: 16, ..PtqConfig::default() };
        assert_eq!(download_stem(&exp(Task::Ptq, dynamic), &layers()), "mlp-fashion-w8a16-dynamic");
        // Per-layer bits, and a skipped layer that does not count.
        let mut mixed = PtqConfig::default();
        mixed.layer_bits.insert("nn1".into(), 3);
        mixed.layer_bits.insert("nn2".into(), 6);
        assert_eq!(download_stem(&exp(Task::Ptq, mixed.clone()), &layers()), "mlp-fashion-w3-8a8");
        mixed.skip.push("nn3".into());
        assert_eq!(download_stem(&exp(Task::Ptq, mixed), &layers()), "mlp-fashion-w3-6a8");
        // QAT and the comparison: their bits, not 8.
        assert_eq!(download_stem(&exp(Task::Qat, w4a8.clone()), &layers()), "mlp-fashion-qat-w4a8");
        assert_eq!(download_stem(&exp(Task::Layerwise, w4a8), &layers()), "mlp-fashion-layerwise-w4a8");
        // Sweeps: the range of bits swept, W b A b in full mode, A32 in weight-only mode.
        let sweep = |ptq: PtqConfig, bits: Vec<u8>| Experiment { sweep: SweepSettings { bits, ..SweepSettings::default() }, ..exp(Task::Sweep, ptq) };
        assert_eq!(download_stem(&sweep(PtqConfig::default(), vec![4, 2, 6]), &layers()), "mlp-fashion-sweep-w2-6a2-6");
        assert_eq!(download_stem(&sweep(weight_only.clone(), vec![2, 3, 4, 5, 6, 7, 8, 16]), &layers()), "mlp-fashion-sweep-w2-16a32");
        assert_eq!(download_stem(&sweep(PtqConfig::default(), vec![4]), &layers()), "mlp-fashion-sweep-w4a4");
        // Searches: the range they may give, and the budget.
        let search = |task, max_bits| Experiment { mixed_bit: MixedBitConfig { max_bits, size_budget: 60_000, ..MixedBitConfig::default() }, ..exp(task, weight_only.clone()) };
        assert_eq!(download_stem(&search(Task::MixedBit, 8), &layers()), "mlp-fashion-mixed-bit-w1-8a32");
        assert_eq!(download_stem(&search(Task::SizeBudget, 12), &layers()), "mlp-fashion-size-budget-60000B-w1-12a32");
    }

    #[test]
    fn an_export_is_named_by_its_ptq_bits_whatever_the_task() {
        let mut e = exp(Task::MixedBit, PtqConfig { weight_bits: 6, ..PtqConfig::default() });
        e.ptq.layer_bits.insert("nn3".into(), 2);
        assert_eq!(quantized_model_stem(&e, &layers()), "mlp-fashion-w2-6a8");
        e.model = FILE_MODEL.into();
        assert_eq!(quantized_model_stem(&e, &layers()), "model-w2-6a8");
        // No quantizable layer known: the model's weight bits.
        assert_eq!(quantized_model_stem(&e, &[]), "model-w6a8");
    }

    #[test]
    fn a_label_becomes_one_hyphen_per_gap() {
        assert_eq!(label_tag("W4A8 g32 SmoothQuant α0.5"), "w4a8-g32-smoothquant-alpha0-5");
        assert_eq!(label_tag("W8 per-channel RTN, static activation scales"), "w8-per-channel-rtn-static-activation-scales");
        assert_eq!(label_tag("  F32 + KV int8 "), "f32-kv-int8");
        assert_eq!(label_tag("α"), "alpha");
        assert_eq!(label_tag("—"), "");
    }
}
