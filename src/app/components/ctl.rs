//! One control as a teacher's link sees it: hidden by `hide=<name>`, disabled by `lock=<name>` or
//! `lock=all` (a disabled `<fieldset>` disables every input inside it; what a fieldset does not
//! disable, such as a drop zone, reads [`Locked`]). The names are the page's link keys; the page
//! provides its [`View`] as a context.

use yew::prelude::*;

use crate::share::view::View;

#[derive(Properties, PartialEq)]
pub struct CtlProps {
    /// The link key the control sets, e.g. `bits`.
    pub name: AttrValue,
    /// Other keys whose lock also disables this control, comma-separated: the keys of settings it
    /// would change (the Generate button replaces the tensor `x`; the text box replaces `gen`);
    /// `*` for a control that resets every setting, which any lock or hide disables.
    #[prop_or_default]
    pub also: AttrValue,
    #[prop_or_default]
    pub children: Html,
}

/// Whether the [`Ctl`] around a component is locked, for what a disabled fieldset does not stop
/// (drag and drop).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Locked(pub bool);

#[function_component(Ctl)]
pub fn ctl(props: &CtlProps) -> Html {
    let view = use_context::<View>().unwrap_or_default();
    if view.is_hidden(&props.name) {
        return html! {};
    }
    let locked = view.is_locked(&props.name)
        || props.also.split(',').any(|k| (k == "*" && view.is_set()) || (!k.is_empty() && view.is_locked(k)));
    html! {
        <fieldset class="ctl" disabled={locked} data-ctl={props.name.clone()}
            title={locked.then_some("Locked by the link you opened")}>
            <ContextProvider<Locked> context={Locked(locked)}>{ props.children.clone() }</ContextProvider<Locked>>
        </fieldset>
    }
}
