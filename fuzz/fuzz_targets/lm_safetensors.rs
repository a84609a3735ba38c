//! The language model: LmWeights::from_safetensors, then (for a model of at most 1 Mi
//! parameters) LmModel::from_weights and one short forward pass through a KV cache.
#![no_main]
use libfuzzer_sys::fuzz_target;
use qplay::lm::{KvCache, KvFormat, LmModel, LmWeights, NoProbe};
use qplay_fuzz::on_small_stack;

const MAX_PARAMS: u128 = 1 << 20;

fuzz_target!(|data: &[u8]| {
    on_small_stack(|| {
        let Ok(w) = LmWeights::from_safetensors(data) else { return };
        let c = w.config.clone();
        if c.param_count() > MAX_PARAMS {
            return;
        }
        let Ok(model) = LmModel::from_weights(&w) else { return };
        // One F16 cache when the last byte is odd, to reach both formats.
        let format = if data.last().is_some_and(|b| b & 1 == 1) { KvFormat::F16 } else { KvFormat::F32 };
        let Ok(mut cache) = KvCache::new(&c, format) else { return };
        let n = c.seq_len.min(4);
        let tokens: Vec<u32> = (0..n).map(|i| (i * 7 % c.vocab_size.max(1)) as u32).collect();
        let _ = model.forward(&tokens, &mut cache, false, &mut NoProbe);
        let _ = model.forward(&tokens[..1], &mut cache, true, &mut NoProbe);
    });
});
