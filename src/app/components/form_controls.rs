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
        self.view.is_locked(key) || self.view.is_locked("all")
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

    /// A number box; a value that does not parse as a finite number is not applied.
    #[allow(clippy::too_many_arguments)]
    pub fn number(&self, key: &'static str, label: &str, tip: &str, value: String, min: &str, max: &str, step: &str, apply: Rc<dyn Fn(&mut T, f64)>) -> Html {
        self.number_unless(key, label, tip, value, [min, max, step], false, apply)
    }

    /// A number box ([min, max, step]) that `off` disables whatever the link says (a setting
    /// the other settings make irrelevant).
    #[allow(clippy::too_many_arguments)]
    pub fn number_unless(&self, key: &'static str, label: &str, tip: &str, value: String, [min, max, step]: [&str; 3], off: bool, apply: Rc<dyn Fn(&mut T, f64)>) -> Html {
        if !self.shown(key) {
            return html! {};
        }
        let on = self.on_edit.clone();
        let onchange = Callback::from(move |ev: Event| {
            if let Ok(v) = input_value(&ev).trim().parse::<f64>() {
                if v.is_finite() {
                    let apply = apply.clone();
                    on.emit(Rc::new(move |x: &mut T| apply(x, v)));
                }
            }
        });
        html! {
            <label title={tip.to_string()}>{ label.to_string() }
                <input type="number" class="small" value={value} min={min.to_string()} max={max.to_string()} step={step.to_string()}
                    {onchange} disabled={self.locked(key) || off} data-testid={self.testid(key)} />
            </label>
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
