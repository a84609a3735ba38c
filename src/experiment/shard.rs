//! A job's independent items shared among workers. Shard `index` of `count` takes the items
//! i with i mod count = index (round robin, so that slow and fast items spread evenly: in a
//! sweep the bit widths vary fastest), and [`interleave`] puts the shards' results back in the
//! order one run gives them. Each item is computed the same way whichever worker computes it,
//! so the merged result is identical to the one-worker result.

use serde::{Deserialize, Serialize};

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
