//! Choosing the next token: greedy, or sampling with a temperature, top-k and top-p from a
//! seeded ChaCha8 stream (portable: the same seed gives the same draws on every platform).
//!
//! ```text
//! p = softmax(logits / temperature)   (in f64)
//! top-k: keep the k most probable;  top-p: keep the smallest prefix (by probability) whose mass ≥ p
//! draw u ∈ [0, 1) and take the first token whose cumulative kept mass exceeds u · (kept mass)
//! ```

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::{KvCache, KvFormat, LmError, LmModel, NoProbe};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SampleConfig {
    /// 0 = greedy (argmax).
    #[serde(serialize_with = "crate::decimal::shortest_f32")]
    pub temperature: f32,
    /// 0 = no top-k cut.
    pub top_k: usize,
    /// 1 = no nucleus cut.
    #[serde(serialize_with = "crate::decimal::shortest_f32")]
    pub top_p: f32,
    pub seed: u64,
}

impl Default for SampleConfig {
    fn default() -> Self {
        SampleConfig { temperature: 0.8, top_k: 40, top_p: 0.95, seed: 42 }
    }
}

impl SampleConfig {
    pub fn validate(&self) -> Result<(), LmError> {
        if !(self.temperature.is_finite() && (0.0..=10.0).contains(&self.temperature)) {
            return Err(LmError::Setting { name: "temperature", message: format!("{} is outside 0–10", crate::decimal::short_text(self.temperature)) });
        }
        if !(self.top_p.is_finite() && self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(LmError::Setting { name: "top_p", message: format!("{} is outside (0, 1]", crate::decimal::short_text(self.top_p)) });
        }
        Ok(())
    }
}

/// The next token from one row of logits.
pub fn sample(logits: &[f32], cfg: &SampleConfig, rng: &mut ChaCha8Rng) -> u32 {
    let greedy = || logits.iter().enumerate().fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &v)| if v > bv { (i, v) } else { (bi, bv) }).0 as u32;
    if cfg.temperature == 0.0 {
        return greedy();
    }
    let max = logits.iter().fold(f32::NEG_INFINITY, |m, &z| m.max(z)) as f64;
    let mut probs: Vec<(usize, f64)> =
        logits.iter().enumerate().map(|(i, &z)| (i, ((z as f64 - max) / cfg.temperature as f64).exp())).collect();
    let total: f64 = probs.iter().map(|p| p.1).sum();
    for p in &mut probs {
        p.1 /= total;
    }
    // Most probable first; ties by id, so the order is total and portable. With a top-k or top-p
    // cut only the first are ordered: selecting them is linear in the vocabulary (a 128k-token
    // head sorted on every token cost more than the draw), and a total order makes them, in
    // order, exactly the first of the whole sort.
    let order = |a: &(usize, f64), b: &(usize, f64)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    if cfg.top_k > 0 && cfg.top_k < probs.len() {
        probs.select_nth_unstable_by(cfg.top_k - 1, order);
        probs.truncate(cfg.top_k);
    }
    if cfg.top_p < 1.0 {
        // The nucleus is a prefix of the order: order the next chunk of the rest and carry the
        // running mass on through it, the same sums in the same order as over a whole sort. The
        // first chunk: 64 tokens, or as many as the nucleus has at least (the most probable
        // token's p is 1 / total, so at least top_p · total tokens make up top_p); then 16 times
        // as many; the whole rest once a chunk would be half of it.
        let at_least = (cfg.top_p as f64 * total).ceil().min(probs.len() as f64) as usize;
        let (mut sorted, mut chunk, mut mass) = (0, at_least.max(64), 0.0);
        let keep = loop {
            let rest = &mut probs[sorted..];
            if rest.is_empty() {
                break None;
            }
            let take = if 2 * chunk >= rest.len() { rest.len() } else { chunk };
            if take < rest.len() {
                rest.select_nth_unstable_by(take - 1, order);
            }
            rest[..take].sort_by(order);
            let found = rest[..take].iter().position(|p| {
                mass += p.1;
                mass >= cfg.top_p as f64
            });
            if let Some(i) = found {
                break Some(sorted + i);
            }
            sorted += take;
            chunk *= 16;
        };
        if let Some(i) = keep {
            probs.truncate(i + 1);
        }
    } else {
        probs.sort_by(order);
    }
    let kept: f64 = probs.iter().map(|p| p.1).sum();
    let u = rng.random::<f64>() * kept;
    let mut acc = 0.0;
    for &(i, p) in &probs {
        acc += p;
        if u < acc {
            return i as u32;
        }
    }
    probs.last().map(|p| p.0 as u32).unwrap_or_else(greedy)
}

/// One generated token with the probability the model gave it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Generated {
    pub token: u32,
    pub prob: f64,
}

/// Generation one token at a time: the prompt is read when the generator is made, and each
/// [`Generator::step`] samples one token and feeds it back (so two models can be stepped in turn
/// and their texts stream side by side).
pub struct Generator<'m> {
    model: &'m LmModel,
    cfg: SampleConfig,
    rng: ChaCha8Rng,
    cache: KvCache,
    /// The next-token logits; None once the context is full or an end-of-text token is written.
    logits: Option<Vec<f32>>,
    /// The ids that end the text ([`Generator::stopping_at`]).
    end_of_text: Vec<u32>,
    /// Whether the last token was one of them.
    wrote_end: bool,
    /// The ids below this are the ones the tokenizer can write ([`Generator::writing_only`]).
    writable: usize,
}

impl<'m> Generator<'m> {
    /// Reads `prompt` (checked against the context) into a fresh cache of format `kv`.
    pub fn new(model: &'m LmModel, prompt: &[u32], kv: KvFormat, cfg: &SampleConfig) -> Result<Generator<'m>, LmError> {
        cfg.validate()?;
        let t = model.config.seq_len;
        if prompt.is_empty() {
            return Err(LmError::Tokens("the prompt is empty".into()));
        }
        if prompt.len() >= t {
            return Err(LmError::Tokens(format!(
                "the prompt has {} tokens; the model's context holds {t}, so at most {} leave room to generate",
                prompt.len(),
                t - 1
            )));
        }
        let mut cache = KvCache::new(&model.config, kv)?;
        let logits = model.forward(prompt, &mut cache, true, &mut NoProbe)?;
        Ok(Generator {
            model,
            cfg: cfg.clone(),
            rng: ChaCha8Rng::seed_from_u64(cfg.seed),
            cache,
            logits: Some(logits),
            end_of_text: Vec::new(),
            wrote_end: false,
            writable: usize::MAX,
        })
    }

    /// Ends the text after any of `ids` is written (the tokenizer's
    /// [`end_of_text`](super::Tokenizer::end_of_text) ids); that token is the last one returned.
    pub fn stopping_at(mut self, ids: &[u32]) -> Self {
        self.end_of_text = ids.to_vec();
        self
    }

    /// Writes only the ids below `n`, the ones the tokenizer can write (`vocab_len`): a model's
    /// head may be wider than its vocabulary (the built-in one has 128 ids for its 83
    /// characters), and at a high temperature an unused id was drawn and printed as "�". Such a
    /// draw is drawn again among the writable ids; any other draw, and so every text that never
    /// drew one, is unchanged.
    pub fn writing_only(mut self, n: usize) -> Self {
        self.writable = n.max(1);
        self
    }

    /// Whether the text ended because the model wrote an end-of-text token (rather than filling
    /// its context).
    pub fn wrote_end_of_text(&self) -> bool {
        self.wrote_end
    }

    /// The next token and its probability; None when the context is full or the last token
    /// ended the text.
    pub fn step(&mut self) -> Result<Option<Generated>, LmError> {
        let Some(logits) = self.logits.take() else { return Ok(None) };
        let mut token = sample(&logits, &self.cfg, &mut self.rng);
        if token as usize >= self.writable {
            let mut writable = logits.clone();
            writable[self.writable.min(logits.len())..].fill(f32::NEG_INFINITY);
            token = sample(&writable, &self.cfg, &mut self.rng);
            // The draw's last resort (rounding past the kept mass) is the last of its order,
            // which may be an unwritable id at p = 0: the most probable writable one instead.
            if token as usize >= self.writable {
                token = sample(&writable, &SampleConfig { temperature: 0.0, ..self.cfg.clone() }, &mut self.rng);
            }
        }
        // The model's own probability of the token, over its whole head.
        let prob = super::eval::log_prob(&logits, token as usize).exp();
        if self.end_of_text.contains(&token) {
            self.wrote_end = true;
        } else if self.cache.len() < self.model.config.seq_len {
            self.logits = Some(self.model.forward(&[token], &mut self.cache, true, &mut NoProbe)?);
        }
        Ok(Some(Generated { token, prob }))
    }

    /// Up to `max_new` tokens, stopping where [`Generator::step`] does; `on_token` sees each one
    /// as it comes (return false to stop).
    pub fn run(mut self, max_new: usize, mut on_token: impl FnMut(&Generated) -> bool) -> Result<Vec<Generated>, LmError> {
        let mut out = Vec::new();
        while out.len() < max_new {
            let Some(g) = self.step()? else { break };
            let go_on = on_token(&g);
            out.push(g);
            if !go_on {
                break;
            }
        }
        Ok(out)
    }
}

/// The probability a model gives each token of a text that another model writes, one token at a
/// time (teacher forcing: the text is fed to this model's own cache as it arrives).
pub struct Scorer<'m> {
    model: &'m LmModel,
    cache: KvCache,
    logits: Option<Vec<f32>>,
}

impl<'m> Scorer<'m> {
    pub fn new(model: &'m LmModel, prompt: &[u32]) -> Result<Scorer<'m>, LmError> {
        let mut cache = KvCache::new(&model.config, KvFormat::F32)?;
        if prompt.is_empty() || prompt.len() >= model.config.seq_len {
            return Err(LmError::Tokens(format!("the prompt has {} tokens for a context of {}", prompt.len(), model.config.seq_len)));
        }
        let logits = model.forward(prompt, &mut cache, true, &mut NoProbe)?;
        Ok(Scorer { model, cache, logits: Some(logits) })
    }

    /// p(token | the text so far), then `token` joins the text; None past the context.
    pub fn score(&mut self, token: u32) -> Result<Option<f64>, LmError> {
        let Some(logits) = self.logits.take() else { return Ok(None) };
        let p = super::eval::log_softmax(&logits).get(token as usize).map_or(0.0, |l| l.exp());
        if self.cache.len() < self.model.config.seq_len {
            self.logits = Some(self.model.forward(&[token], &mut self.cache, true, &mut NoProbe)?);
        }
        Ok(Some(p))
    }
}

/// Generates up to `max_new` tokens after `prompt`, stopping at the end of the context or after
/// a token of `end_of_text`; `on_token` sees each one as it comes (return false to stop).
pub fn generate(
    model: &LmModel,
    prompt: &[u32],
    max_new: usize,
    kv: KvFormat,
    cfg: &SampleConfig,
    end_of_text: &[u32],
    on_token: impl FnMut(&Generated) -> bool,
) -> Result<Vec<Generated>, LmError> {
    Generator::new(model, prompt, kv, cfg)?.stopping_at(end_of_text).run(max_new, on_token)
}
