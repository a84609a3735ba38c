//! A job's independent items shared among workers. Shard `index` of `count` takes the items
//! i with i mod count = index (round robin, so that slow and fast items spread evenly: in a
//! sweep the bit widths vary fastest), and [`interleave`] puts the shards' results back in the
//! order one run gives them. Each item is computed the same way whichever worker computes it,
//! so the merged result is identical to the one-worker result.

use serde::{Deserialize, Serialize};

use super::spec::{Experiment, Task};

/// The most workers a job is shared among.
pub const MAX_SHARDS: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Default for Shard {
    fn default() -> Shard {
        Shard::ALL
    }
}

impl Shard {
    /// Every item: the whole job in one worker.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Shard `index` of `count`; the error names what is wrong.
    pub fn new(index: usize, count: usize) -> Result<Shard, String> {
        if count == 0 || count > MAX_SHARDS {
            return Err(format!("a job can be shared among 1 to {MAX_SHARDS} workers, not {count}"));
        }
        if index >= count {
            return Err(format!("shard {index} does not exist among {count}"));
        }
        Ok(Shard { index, count })
    }

    /// Checks a shard that came from outside (a message).
    pub fn validate(&self) -> Result<(), String> {
        Shard::new(self.index, self.count).map(|_| ())
    }

    /// Whether item `i` is this shard's.
    pub fn takes(&self, i: usize) -> bool {
        i % self.count == self.index
    }

    /// How many of `n` items are this shard's.
    pub fn len_of(&self, n: usize) -> usize {
        n / self.count + usize::from(self.index < n % self.count)
    }

    /// This shard's ranges of `n` items taken in batches of `batch` (batch b is shard
    /// b mod count's), in order. A batch is never cut, so a batch statistic (a dynamic range)
    /// is the same whichever worker computes it.
    pub fn batches(&self, n: usize, batch: usize) -> Vec<std::ops::Range<usize>> {
        let batch = batch.max(1);
        (0..n.div_ceil(batch)).filter(|&b| self.takes(b)).map(|b| b * batch..(b * batch + batch).min(n)).collect()
    }
}

/// [`interleave`] for items taken in batches (see [`Shard::batches`]): `parts[k]` holds shard
/// k's items of its batches, in order; the result holds all `n` items in one run's order.
pub fn interleave_batches<T>(parts: Vec<Vec<T>>, n: usize, batch: usize) -> Result<Vec<T>, String> {
    let count = parts.len();
    let mut chunked: Vec<Vec<Vec<T>>> = Vec::with_capacity(count);
    for (k, part) in parts.into_iter().enumerate() {
        let ranges = Shard { index: k, count }.batches(n, batch);
        let due: usize = ranges.iter().map(|r| r.len()).sum();
        if part.len() != due {
            return Err(format!("shard {k} of {count} returned {} items where {due} were due", part.len()));
        }
        let mut items = part.into_iter();
        chunked.push(ranges.iter().map(|r| items.by_ref().take(r.len()).collect()).collect());
    }
    Ok(interleave(chunked, n.div_ceil(batch.max(1)))?.into_iter().flatten().collect())
}

/// The shards' results in one run's order: item i is the (i div n)-th result of shard i mod n,
/// with `parts[k]` shard k's results in its own order. Errors unless the parts are exactly the
/// shares of `total` items (a shard that lost or gained items).
pub fn interleave<T>(parts: Vec<Vec<T>>, total: usize) -> Result<Vec<T>, String> {
    let count = parts.len();
    if count == 0 {
        return Err("no shard reported".into());
    }
    for (k, p) in parts.iter().enumerate() {
        let expected = Shard { index: k, count }.len_of(total);
        if p.len() != expected {
            return Err(format!("shard {k} of {count} returned {} items where {expected} were due", p.len()));
        }
    }
    let mut iters: Vec<_> = parts.into_iter().map(Vec::into_iter).collect();
    let mut out = Vec::with_capacity(total);
    for i in 0..total {
        // The lengths were checked above, so every shard still has its item.
        if let Some(x) = iters[i % count].next() {
            out.push(x);
        }
    }
    Ok(out)
}

/// How many items `exp`'s task splits into (at most this many workers help), for a model with
/// `layers` quantizable layers: a PTQ run's batches of evaluation images, the layer-by-layer
/// analysis's models (all at once, sequential and each layer alone), a sweep's cells, and the
/// mixed-bit search's candidates (known only once searched: at least the eight uniform ones,
/// 1 to 8 bits). QAT trains one model and does not split.
pub fn items(exp: &Experiment, layers: usize) -> usize {
    let test = crate::data::split_sizes(&exp.dataset).map_or(crate::data::TEST_IMAGES, |(_, test)| test);
    let images = if exp.eval_size == 0 { test } else { exp.eval_size.min(test) };
    match exp.task {
        Task::Ptq => images.div_ceil(super::run::EVAL_BATCH),
        Task::Layerwise => layers.saturating_sub(exp.ptq.skip.len()) + 2,
        Task::Sweep => exp.sweep.bits.len() * exp.sweep.granularities.len() * exp.sweep.calibrations.len(),
        Task::MixedBit | Task::SizeBudget => 8,
        Task::Qat => 1,
    }
}
