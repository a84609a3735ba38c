//! The controls of a settings form (the Model page's experiment, the Language-model page's):
//! a labelled select, number box or check box for one setting, named by its link key so that a
//! teacher's `hide=` removes it and `lock=` (or `lock=all`) disables it, with its tooltip on the
//! label, and its change sent to the page's reducer as an edit of the experiment `T`.

use std::rc::Rc;

use yew::prelude::*;

use crate::share::view::View;

pub fn select_value(e: &Event) -> String {
    e.target_unchecked_into::<web_sys::HtmlSelectElement>().value()
}

pub fn input_value(e: &Event) -> String {
    e.target_unchecked_into::<web_sys::HtmlInputElement>().value()
}

pub fn checked(e: &Event) -> bool {
    e.target_unchecked_into::<web_sys::HtmlInputElement>().checked()
}

/// The controls of one form over an experiment of type `T`.
pub struct Controls<'a, T: 'static> {
    view: &'a View,
    on_edit: Callback<Rc<dyn Fn(&mut T)>>,
    /// Put before each key in the `data-testid` ("lm-" on the Language-model page).
    prefix: &'static str,
}

impl<'a, T: 'static> Controls<'a, T> {
    pub fn new(view: &'a View, on_edit: Callback<Rc<dyn Fn(&mut T)>>, prefix: &'static str) -> Self {
        Controls { view, on_edit, prefix }
    }

    fn shown(&self, key: &str) -> bool {
        !self.view.is_hidden(key)
    }

    fn locked(&self, key: &str) -> bool {
        self.view.is_locked(key)
    }

    fn testid(&self, key: &str) -> String {
        format!("{}{}", self.prefix, key.replace('.', "-"))
    }

    /// A select of (value, text) options; `off` disables it whatever the link says.
    #[allow(clippy::too_many_arguments)]
    pub fn select(&self, key: &'static str, label: &str, tip: &str, value: String, options: Vec<(String, String)>, off: bool, apply: Rc<dyn Fn(&mut T, &str)>) -> Html {
        if !self.shown(key) {
            return html! {};
        }
        let on = self.on_edit.clone();
        let onchange = Callback::from(move |ev: Event| {
            let v = select_value(&ev);
            let apply = apply.clone();
            on.emit(Rc::new(move |x: &mut T| apply(x, &v)));
        });
        html! {
            <label title={tip.to_string()}>{ label.to_string() }
                <select {onchange} ~value={value.clone()} disabled={self.locked(key) || off} data-testid={self.testid(key)}>
                    { for options.into_iter().map(|(v, text)| html! { <option value={v.clone()} selected={v == value}>{ text }</option> }) }
                </select>
            </label>
        }
    }

    /// A number box (see [`NumberBox`]).
    #[allow(clippy::too_many_arguments)]
    pub fn number(&self, key: &'static str, label: &str, tip: &str, value: String, min: &str, max: &str, step: &str, apply: Rc<dyn Fn(&mut T, f64)>) -> Html {
        self.number_unless(key, label, tip, value, [min, max, step], false, apply)
    }

    /// A number box ([min, max, step]) that `off` disables whatever the link says (a setting
    /// the other settings make irrelevant). See [`NumberBox`] for what a typed value does.
    #[allow(clippy::too_many_arguments)]
    pub fn number_unless(&self, key: &'static str, label: &str, tip: &str, value: String, bounds: [&str; 3], off: bool, apply: Rc<dyn Fn(&mut T, f64)>) -> Html {
        self.number_box(key, label, tip, value, bounds, false, off, apply)
    }

    /// [`Controls::number_unless`] over (min, max]: min itself is not a value (a share of
    /// probability mass, top-p, must keep some).
    #[allow(clippy::too_many_arguments)]
    pub fn number_above(&self, key: &'static str, label: &str, tip: &str, value: String, bounds: [&str; 3], off: bool, apply: Rc<dyn Fn(&mut T, f64)>) -> Html {
        self.number_box(key, label, tip, value, bounds, true, off, apply)
    }

    #[allow(clippy::too_many_arguments)]
    fn number_box(&self, key: &'static str, label: &str, tip: &str, value: String, [min, max, step]: [&str; 3], exclusive_min: bool, off: bool, apply: Rc<dyn Fn(&mut T, f64)>) -> Html {
        if !self.shown(key) {
            return html! {};
        }
        let on = self.on_edit.clone();
        let on_value = Callback::from(move |v: f64| {
            let apply = apply.clone();
            on.emit(Rc::new(move |x: &mut T| apply(x, v)));
        });
        html! {
            <NumberBox testid={self.testid(key)} label={label.to_string()} tip={tip.to_string()} {value}
                min={min.to_string()} max={max.to_string()} step={step.to_string()} {exclusive_min} disabled={self.locked(key) || off} {on_value} />
        }
    }

    /// A check box; `off` disables it whatever the link says.
    pub fn check(&self, key: &'static str, label: &str, tip: &str, value: bool, off: bool, apply: Rc<dyn Fn(&mut T, bool)>) -> Html {
        if !self.shown(key) {
            return html! {};
        }
        let on = self.on_edit.clone();
        let onchange = Callback::from(move |ev: Event| {
            let v = checked(&ev);
            let apply = apply.clone();
            on.emit(Rc::new(move |x: &mut T| apply(x, v)));
        });
        html! {
            <label class="check" title={tip.to_string()}>
                <input type="checkbox" checked={value} {onchange} disabled={self.locked(key) || off} data-testid={self.testid(key)} />
                { label.to_string() }
            </label>
        }
    }
}

#[derive(Properties, PartialEq)]
pub struct NumberBoxProps {
    pub testid: String,
    pub label: String,
    pub tip: String,
    /// The setting's value as the form shows it.
    pub value: String,
    /// The bounds and step as the input's attributes; an empty bound is open.
    pub min: String,
    pub max: String,
    /// A whole step (1, 100, 1000) makes a box of whole numbers: a fraction is rounded, with a note.
    pub step: String,
    pub disabled: bool,
    /// min itself is outside the range (a percentile is in (0, 100]): a value at or below it is
    /// not applied, since there is no nearest value inside to clamp it to.
    #[prop_or_default]
    pub exclusive_min: bool,
    /// max itself is outside the range (an outlier ratio is in [0, 0.5)), likewise.
    #[prop_or_default]
    pub exclusive_max: bool,
    /// Receives a finite value within the range (whole when the step is).
    pub on_value: Callback<f64>,
}

/// A number box for one setting. A typed value outside [min, max] is clamped to it (a value
/// beyond an excluded bound is not applied), a fraction in a box of whole numbers is rounded, and
/// one that is not a number is not applied; each time a note beside the box says so, and the box
/// shows the setting's value, not the text that was typed.
#[function_component(NumberBox)]
pub fn number_box(p: &NumberBoxProps) -> Html {
    let note = use_state(|| None::<String>);
    // The text being typed, over the setting's value it was typed on. Yew writes `value` into
    // the box on every render where they differ, so a render while typing (the note's clearing
    // below) must show the typed text, not put the setting back under the caret; a new setting
    // (a link, a Use button) shows itself.
    let typing = use_state(|| None::<(String, String)>);
    let shown = match &*typing {
        Some((base, text)) if *base == p.value => text.clone(),
        _ => p.value.clone(),
    };
    let bound = |b: &str, open: f64| b.trim().parse::<f64>().ok().filter(|v| v.is_finite()).unwrap_or(open);
    let (min, max) = (bound(&p.min, f64::NEG_INFINITY), bound(&p.max, f64::INFINITY));
    // A whole step (1, 100, 1000) makes a box of whole numbers.
    let whole = p.step.trim().parse::<f64>().is_ok_and(|s| s >= 1.0 && s.fract() == 0.0);
    let onchange = {
        let (note, typing, value, on_value) = (note.clone(), typing.clone(), p.value.clone(), p.on_value.clone());
        let (lo, hi) = (p.min.clone(), p.max.clone());
        let (ex_lo, ex_hi) = (p.exclusive_min && !p.min.is_empty(), p.exclusive_max && !p.max.is_empty());
        Callback::from(move |ev: Event| {
            let input = ev.target_unchecked_into::<web_sys::HtmlInputElement>();
            let typed = input.value();
            typing.set(None);
            // The box shows the setting: the old value until the form re-renders with the new one.
            input.set_value(&value);
            let range = match (lo.is_empty(), hi.is_empty()) {
                (false, false) if ex_lo || ex_hi => format!("{}{lo}, {hi}{}", if ex_lo { '(' } else { '[' }, if ex_hi { ')' } else { ']' }),
                (false, false) => format!("{lo}–{hi}"),
                (false, true) => format!("{} {lo}", if ex_lo { "more than" } else { "at least" }),
                (true, false) => format!("{} {hi}", if ex_hi { "less than" } else { "at most" }),
                (true, true) => "any number".into(),
            };
            match typed.trim().parse::<f64>() {
                Ok(v) if v.is_finite() && ((ex_lo && v <= min) || (ex_hi && v >= max)) => {
                    note.set(Some(format!("{} is outside {range}: kept {value}", typed.trim())));
                }
                // The settings of fractions are 32-bit floats: 1e-300 would become 0 out of sight.
                Ok(v) if !whole && v != 0.0 && v.abs() < f32::MIN_POSITIVE as f64 => {
                    note.set(Some(format!("{} is too close to 0 to hold (nearer than {:e}): kept {value}", typed.trim(), f32::MIN_POSITIVE)));
                }
                Ok(v) if v.is_finite() => {
                    let clamped = v.clamp(min, max);
                    // + 0.0 turns a typed −0 into 0 (the link would say "-0").
                    let used = (if whole { clamped.round().clamp(min, max) } else { clamped }) + 0.0;
                    note.set(if clamped != v {
                        Some(format!("{} is outside {range}: using {used}", typed.trim()))
                    } else if used != v {
                        Some(format!("{} is not a whole number: using {used}", typed.trim()))
                    } else {
                        None
                    });
                    on_value.emit(used);
                }
                // A number box's value is "" for text that is not a number, and in Chromium for
                // a number past f64's ±1.8e308 (400 nines): the box does not tell them apart.
                _ => note.set(Some(format!("not a number, or too large to read ({range}): kept {value}"))),
            }
        })
    };
    // Typing again clears the last note: it was about the text typed before (a value typed to
    // equal the box's own fires no change event, so the note would stay).
    let oninput = {
        let (note, typing, value) = (note.clone(), typing.clone(), p.value.clone());
        Callback::from(move |ev: InputEvent| {
            if note.is_some() || typing.is_some() {
                typing.set(Some((value.clone(), ev.target_unchecked_into::<web_sys::HtmlInputElement>().value())));
                note.set(None);
            }
        })
    };
    html! {
        <label title={p.tip.clone()}>{ p.label.clone() }
            // The note is the box's description while it stands, and marks the typed value invalid.
            <input type="number" class="small" value={shown} min={p.min.clone()} max={p.max.clone()} step={p.step.clone()}
                {onchange} {oninput} disabled={p.disabled} data-testid={p.testid.clone()}
                aria-invalid={note.is_some().then_some("true")} aria-describedby={note.is_some().then(|| format!("{}-note", p.testid))} />
            if let Some(n) = &*note {
                <span class="error-inline" role="status" id={format!("{}-note", p.testid)} data-testid={format!("{}-note", p.testid)}>{ n.clone() }</span>
            }
        </label>
    }
}
