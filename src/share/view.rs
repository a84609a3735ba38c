//! What a teacher hides or locks through the link, as TensorFlow Playground does:
//!
//! ```text
//! #/tensor?method=clip&hide=bits,round&lock=method
//! #/model?ptq.weight_bits=4&lock=ptq.weight_bits,model
//! ```
//!
//! `hide` removes the named controls from the page; `lock` shows them disabled. The names are
//! the page's own keys (the Tensor page's table, an experiment's dotted paths) and `all`. A name
//! no control of the page uses does nothing, and the page names it in a notice
//! ([`View::unknown_notice`]) so a misspelt lock does not pass for a working one; the page then
//! keeps only the names it knows ([`View::keep_known`]), so the teacher's note counts only what is
//! really hidden or locked ([`View::summary`]) and the page's own link drops the misspelt names.
//! The two keys are taken out of the query before the page reads its settings.

use std::collections::BTreeSet;

/// The controls hidden or locked by a link.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct View {
    pub hidden: BTreeSet<String>,
    pub locked: BTreeSet<String>,
}

/// Most names a link may hide or lock (a guard against absurd links).
pub const MAX_NAMES: usize = 64;

/// (setting, the setting it overrides): a lock on the second covers the first, since changing it
/// would change what the lock fixes. Per-layer widths override the model's (Model and Lab pages:
/// `ptq.layer_bits` over `ptq.weight_bits`; Language model: `layer_bits` over `bits`), and a
/// language model's weight format fixes its width (Q8_0 is 8 bits whatever `bits` says).
pub const OVERRIDES: &[(&str, &str)] = &[("ptq.layer_bits", "ptq.weight_bits"), ("layer_bits", "bits"), ("weights", "bits")];

impl View {
    /// Whether the control of `key` is hidden: named, or `all`.
    pub fn is_hidden(&self, key: &str) -> bool {
        self.hidden.contains(key) || self.hidden.contains("all")
    }

    /// Whether the setting of `key` is fixed by the link: locked (named, `all`, or a setting it
    /// overrides, [`OVERRIDES`]) or hidden (a hidden setting keeps the link's value: nothing else
    /// on the page, an example button or a chart's pick, changes it behind the student's back).
    pub fn is_locked(&self, key: &str) -> bool {
        self.is_hidden(key)
            || self.locked.contains(key)
            || self.locked.contains("all")
            || OVERRIDES.iter().any(|&(k, over)| k == key && (self.locked.contains(over) || self.hidden.contains(over)))
    }

    /// Whether the link fixes every control (`lock=all` or `hide=all`).
    pub fn fixes_all(&self) -> bool {
        self.locked.contains("all") || self.hidden.contains("all")
    }

    /// `lock=all`.
    pub fn lock_all() -> View {
        View::default().and_lock_all()
    }

    /// This view with every control locked as well (`lock=all` beside what it hides and locks).
    pub fn and_lock_all(mut self) -> View {
        self.locked.insert("all".into());
        self
    }

    /// Whether the link fixes any setting (hides or locks anything; the page then says so).
    pub fn is_set(&self) -> bool {
        !self.hidden.is_empty() || !self.locked.is_empty()
    }

    /// The names hidden or locked that are neither `all` nor one of `known` (the keys the page's
    /// controls use), in order, each once.
    pub fn unknown_names(&self, known: &[&str]) -> Vec<String> {
        let names: BTreeSet<&String> = self.hidden.iter().chain(&self.locked).collect();
        names.into_iter().filter(|n| n.as_str() != "all" && !known.contains(&n.as_str())).cloned().collect()
    }

    /// A notice naming the unknown names of [`View::unknown_names`], or `None`.
    pub fn unknown_notice(&self, known: &[&str]) -> Option<String> {
        let unknown = self.unknown_names(known);
        if unknown.is_empty() {
            return None;
        }
        let names = unknown.iter().map(|n| format!("\"{}\"", super::clip(n))).collect::<Vec<_>>().join(", ");
        Some(format!(
            "The link hides or locks {names}, which no control on this page uses: nothing was hidden or locked for {}. The keys are: all, {}.",
            if unknown.len() == 1 { "it" } else { "them" },
            known.join(", ")
        ))
    }

    /// Drops the names that are neither `all` nor one of `known`, and returns the notice naming
    /// them ([`View::unknown_notice`]), if any.
    pub fn keep_known(&mut self, known: &[&str]) -> Option<String> {
        let notice = self.unknown_notice(known);
        let keep = |n: &String| n == "all" || known.contains(&n.as_str());
        self.hidden.retain(keep);
        self.locked.retain(keep);
        notice
    }

    /// What the link hides and locks, for the teacher's note: "every control is locked",
    /// "2 locked, 1 hidden"; `None` when it hides and locks nothing. Counts the names as they
    /// are: call [`View::keep_known`] first so a misspelt name is not counted.
    pub fn summary(&self) -> Option<String> {
        if !self.is_set() {
            return None;
        }
        let count = |set: &BTreeSet<String>, word: &str| match (set.contains("all"), set.len()) {
            (true, _) => Some(format!("every control is {word}")),
            (false, 0) => None,
            (false, 1) => Some(format!("1 control {word}")),
            (false, n) => Some(format!("{n} controls {word}")),
        };
        // Hiding everything leaves nothing to lock.
        if self.hidden.contains("all") {
            return count(&self.hidden, "hidden");
        }
        Some([count(&self.locked_shown(), "locked"), count(&self.hidden, "hidden")].into_iter().flatten().collect::<Vec<_>>().join(", "))
    }

    /// The locked names whose controls are shown: a control both hidden and locked is counted
    /// and named once, as hidden (`all` stays: every control shown is locked).
    pub fn locked_shown(&self) -> BTreeSet<String> {
        self.locked.iter().filter(|k| !self.hidden.contains(*k)).cloned().collect()
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

/// Splits `hide` and `lock` out of a query: the view (at most [`MAX_NAMES`] names in each set,
/// however many keys bring them), and the rest of the query as it was written, so that a page
/// still sees its %-escapes (a broken one is named by [`super::broken_escapes`], which the
/// re-encoded U+FFFD would hide).
pub fn split_view(query: &str) -> (View, String) {
    let mut view = View::default();
    let mut rest: Vec<&str> = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let Some((k, v)) = form_urlencoded::parse(pair.as_bytes()).next() else { continue };
        let set = match k.as_ref() {
            "hide" => &mut view.hidden,
            "lock" => &mut view.locked,
            _ => {
                rest.push(pair);
                continue;
            }
        };
        for name in v.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if set.len() == MAX_NAMES {
                break;
            }
            set.insert(name.chars().take(64).collect());
        }
    }
    (view, rest.join("&"))
}

/// A link too long to be read shows the defaults: its hide / lock go too, for they would fix the
/// defaults, not what the teacher meant. The notice, when it had any.
pub fn set_aside(view: &mut View) -> Option<String> {
    let notice = view.is_set().then(|| "Its hide= / lock= were not applied either: they would fix the defaults, not the link's settings.".to_string());
    *view = View::default();
    notice
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

/// The keys a link may hide or lock on the Model page: the controls of its form.
pub const MODEL_VIEW_KEYS: &[&str] = &[
    "model", "task", "ptq.mode", "ptq.weight_bits", "ptq.act_bits", "ptq.granularity.kind", "ptq.dynamic_strategy",
    "ptq.granularity.group_size", "ptq.weight_symmetric", "ptq.narrow_range", "ptq.method", "ptq.rounding",
    "ptq.rounding.stochastic.seed", "ptq.act_calibration.method",
    "ptq.act_calibration.percentile", "ptq.act_calibration.ratio", "ptq.act_calibration.bins", "ptq.act_calibration.steps",
    "ptq.act_calibration.momentum", "ptq.act_calibration.batch", "calib_size", "eval_size", "ptq.bias_correction", "ptq.smooth_quant", "seed", "ptq.skip", "ptq.layer_bits",
    "mixed_bit.init_scale", "mixed_bit.auto_tune", "mixed_bit.target_cosine", "mixed_bit.size_budget", "mixed_bit.max_bits", "qat.epochs", "qat.lr",
    "qat.train_size",
];

/// The keys a link may hide or lock on the Lab page (its Bits select sets `ptq.weight_bits` and
/// `ptq.act_bits` together: either key fixes it).
pub const LAB_VIEW_KEYS: &[&str] = &["dataset", "ptq.method", "ptq.weight_bits", "ptq.act_bits"];

/// The keys a link may hide or lock on the Language-model page: its settings, `model` (the drop
/// zone and the choice of model: the built-in ones, `builtin` in the link, and the user's) and
/// `search` (the whole mixed-precision search; `search_low` … each of its settings).
pub const LM_VIEW_KEYS: &[&str] = &[
    "model", "weights", "bits", "group", "symmetric", "narrow", "int8_acts", "static_acts", "kv", "skip", "layer_bits", "method", "calib_tokens", "damp",
    "alpha", "act_order", "awq_clip", "awq_gptq", "outliers", "outlier_scale", "tokens", "prompt", "max_new", "temperature", "top_k", "top_p", "seed",
    "search", "search_low", "search_high", "search_target", "search_value", "search_tokens",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_misspelt_name_is_reported_and_all_is_not() {
        let (view, _) = split_view("lock=all,bitz&hide=method");
        assert_eq!(view.unknown_names(&["method", "bits"]), vec!["bitz".to_string()]);
        assert!(view.unknown_notice(&["method", "bits"]).unwrap().contains("\"bitz\""));
        let (ok, _) = split_view("lock=bits");
        assert_eq!(ok.unknown_notice(&["bits"]), None);
    }

    #[test]
    fn the_teacher_note_counts_only_the_names_the_page_knows() {
        // Two misspelt locks and one good one; one good hide.
        let (mut view, _) = split_view("lock=bitz,methdo,bits&hide=round");
        let notice = view.keep_known(&["bits", "method", "round"]).expect("a notice");
        assert!(notice.contains("\"bitz\", \"methdo\"") && notice.contains("them"), "{notice}");
        assert_eq!(view.summary().as_deref(), Some("1 control locked, 1 control hidden"));
        // A control hidden and locked is one control, hidden.
        let (both, _) = split_view("hide=prompt,seed&lock=prompt");
        assert_eq!(both.summary().as_deref(), Some("2 controls hidden"));
        let (both, _) = split_view("hide=prompt&lock=prompt,bits");
        assert_eq!(both.summary().as_deref(), Some("1 control locked, 1 control hidden"));
        assert_eq!(view.to_query(), "hide=round&lock=bits", "the page's link keeps what works");
        // Only misspelt names: nothing is hidden or locked, so no note at all.
        let (mut typo, _) = split_view("lock=bitz");
        assert!(typo.keep_known(&["bits"]).is_some());
        assert_eq!((typo.is_set(), typo.summary()), (false, None));
        // all, and counts above one.
        let (mut all, _) = split_view("lock=all,bitz&hide=bits,round");
        all.keep_known(&["bits", "round"]);
        assert_eq!(all.summary().as_deref(), Some("every control is locked, 2 controls hidden"));
        let (hide_all, _) = split_view("hide=all&lock=bits");
        assert_eq!(hide_all.summary().as_deref(), Some("every control is hidden"));
        // `all` hides or locks every key, named or not (and what is hidden is fixed too).
        assert!(hide_all.is_hidden("bits") && hide_all.is_hidden("ptq.method") && hide_all.is_locked("round"));
        assert!(all.is_locked("model") && !all.is_hidden("model") && all.is_hidden("round"));
    }

    #[test]
    fn the_rest_of_a_link_keeps_its_escapes_and_the_names_are_capped_per_set() {
        // The page's own parser must still see a broken escape (it was re-encoded as U+FFFD,
        // which reads as meant, and no notice named it).
        let (view, rest) = split_view("prompt=ROMEO%FF&lock=bits&seed=7&&hide=seed");
        assert_eq!(rest, "prompt=ROMEO%FF&seed=7");
        assert!(view.is_locked("bits") && view.is_hidden("seed"));
        let notice = crate::share::broken_escapes(&rest).expect("a notice");
        assert!(notice.contains("\"prompt\""), "{notice}");
        // 64 names at most in a set, however many `lock=` keys bring them.
        let many: Vec<String> = (0..10).map(|k| format!("lock={}", (0..64).map(|i| format!("n{k}_{i}")).collect::<Vec<_>>().join(","))).collect();
        let (view, rest) = split_view(&many.join("&"));
        assert_eq!((view.locked.len(), rest.as_str()), (MAX_NAMES, ""));
    }

    #[test]
    fn a_lock_covers_the_settings_that_override_it_and_not_the_other_way() {
        let (model, _) = split_view("lock=ptq.weight_bits");
        assert!(model.is_locked("ptq.weight_bits") && model.is_locked("ptq.layer_bits"));
        assert!(!model.is_locked("ptq.act_bits") && !model.is_locked("bits"));
        let (lm, _) = split_view("lock=bits");
        assert!(lm.is_locked("layer_bits") && lm.is_locked("weights") && !lm.is_locked("group"));
        let (per_layer, _) = split_view("lock=layer_bits");
        assert!(per_layer.is_locked("layer_bits") && !per_layer.is_locked("bits"));
        // The summary counts what the link names.
        assert_eq!(lm.summary().as_deref(), Some("1 control locked"));
        // A hidden setting is fixed as a locked one is, and so are the settings that override it.
        let (hidden, _) = split_view("hide=ptq.weight_bits");
        assert!(hidden.is_locked("ptq.weight_bits") && hidden.is_locked("ptq.layer_bits") && !hidden.is_locked("ptq.act_bits"));
    }
}
