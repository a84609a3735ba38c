//! What a teacher hides or locks through the link, as TensorFlow Playground does:
//!
//! ```text
//! #/tensor?method=clip&hide=bits,round&lock=method
//! #/model?ptq.weight_bits=4&lock=ptq.weight_bits,model
//! ```
//!
//! `hide` removes the named controls from the page; `lock` shows them disabled. The names are
//! the page's own keys (the Tensor page's table, an experiment's dotted paths). Any key can be
//! named; a name no control uses does nothing. The two keys are taken out of the query before
//! the page reads its settings.

use std::collections::BTreeSet;

/// The controls hidden or locked by a link.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct View {
    pub hidden: BTreeSet<String>,
    pub locked: BTreeSet<String>,
}

/// Most names a link may hide or lock (a guard against absurd links).
pub const MAX_NAMES: usize = 64;

impl View {
    pub fn is_hidden(&self, key: &str) -> bool {
        self.hidden.contains(key)
    }

    pub fn is_locked(&self, key: &str) -> bool {
        self.locked.contains(key)
    }

    /// The `hide=…&lock=…` part of a query (empty when nothing is hidden or locked).
    pub fn to_query(&self) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (key, set) in [("hide", &self.hidden), ("lock", &self.locked)] {
            if !set.is_empty() {
                q.append_pair(key, &set.iter().cloned().collect::<Vec<_>>().join(","));
            }
        }
        q.finish()
    }
}

/// Splits `hide` and `lock` out of a query: the view, and the rest of the query, re-encoded.
pub fn split_view(query: &str) -> (View, String) {
    let mut view = View::default();
    let mut rest = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        let set = match k.as_ref() {
            "hide" => &mut view.hidden,
            "lock" => &mut view.locked,
            _ => {
                rest.append_pair(&k, &v);
                continue;
            }
        };
        for name in v.split(',').map(str::trim).filter(|n| !n.is_empty()).take(MAX_NAMES) {
            set.insert(name.chars().take(64).collect());
        }
    }
    (view, rest.finish())
}

/// Joins a page's own query and the view's into one.
pub fn join_query(settings: &str, view: &View) -> String {
    let v = view.to_query();
    match (settings.is_empty(), v.is_empty()) {
        (_, true) => settings.to_string(),
        (true, false) => v,
        (false, false) => format!("{settings}&{v}"),
    }
}
