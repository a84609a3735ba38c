//! One control as a teacher's link sees it: hidden by `hide=<name>`, disabled by `lock=<name>` or
//! `lock=all` (a disabled `<fieldset>` disables every input inside it). The names are the page's
//! link keys; the page provides its [`View`] as a context.

use yew::prelude::*;

use crate::share::view::View;

#[derive(Properties, PartialEq)]
pub struct CtlProps {
    /// The link key the control sets, e.g. `bits`.
    pub name: AttrValue,
    /// Other keys whose lock also disables this control, comma-separated: the keys of settings it
    /// would change (the Generate button replaces the tensor `x`; the text box replaces `gen`).
    #[prop_or_default]
    pub also: AttrValue,
    #[prop_or_default]
    pub children: Html,
}

#[function_component(Ctl)]
pub fn ctl(props: &CtlProps) -> Html {
    let view = use_context::<View>().unwrap_or_default();
    if view.is_hidden(&props.name) {
        return html! {};
    }
    let locked = view.is_locked(&props.name)
        || props.also.split(',').any(|k| !k.is_empty() && view.is_locked(k));
    html! {
        <fieldset class="ctl" disabled={locked} data-ctl={props.name.clone()}
            title={locked.then_some("Locked by the link you opened")}>{ props.children.clone() }</fieldset>
    }
}
