//! The language model: LmWeights::from_safetensors, then (for a model of at most 1 Mi
//! parameters) LmModel::from_weights and one short forward pass through a KV cache; and the
//! packed format (read_lm_safetensors), whose model runs the same pass.
#![no_main]
use libfuzzer_sys::fuzz_target;
use qplay::formats::lm_safetensors::read_lm_safetensors;
use qplay::lm::{KvCache, KvFormat, LmModel, LmWeights, NoProbe};
use qplay_fuzz::on_small_stack;

const MAX_PARAMS: u128 = 1 << 20;

/// One short forward pass (prompt, then one decoded token) of a model of at most 1 Mi parameters.
fn run(model: &LmModel, data: &[u8]) {
    let c = &model.config;
    if c.param_count() > MAX_PARAMS {
        return;
    }
    // One F16 cache when the last byte is odd, to reach both formats.
    let format = if data.last().is_some_and(|b| b & 1 == 1) { KvFormat::F16 } else { KvFormat::F32 };
    let Ok(mut cache) = KvCache::new(c, format) else { return };
    let n = c.seq_len.min(4);
    let tokens: Vec<u32> = (0..n).map(|i| (i * 7 % c.vocab_size.max(1)) as u32).collect();
    let _ = model.forward(&tokens, &mut cache, false, &mut NoProbe);
    let _ = model.forward(&tokens[..1], &mut cache, true, &mut NoProbe);
}

fuzz_target!(|data: &[u8]| {
    on_small_stack(|| {
        if let Ok(w) = LmWeights::from_safetensors(data) {
            if w.config.param_count() <= MAX_PARAMS {
                if let Ok(model) = LmModel::from_weights(&w) {
                    run(&model, data);
                }
            }
        }
        if let Ok(packed) = read_lm_safetensors(data) {
            run(&packed.model, data);
        }
    });
});
