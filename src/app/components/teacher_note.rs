//! The note a student sees when the link they opened hides or locks controls (`hide=`, `lock=`):
//! without it a disabled control looks broken and a hidden one is simply missing.

use yew::prelude::*;

use crate::share::view::View;

#[derive(Properties, PartialEq)]
pub struct TeacherNoteProps {
    pub view: View,
}

#[function_component(TeacherNote)]
pub fn teacher_note(props: &TeacherNoteProps) -> Html {
    let v = &props.view;
    if !v.is_set() {
        return html! {};
    }
    let what = match (v.locked.contains("all"), v.locked.len(), v.hidden.len()) {
        (true, _, 0) => "every control is locked".to_string(),
        (true, _, h) => format!("every control is locked, {h} hidden"),
        (false, l, h) => [(l, "locked"), (h, "hidden")]
            .iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, w)| format!("{n} {w}"))
            .collect::<Vec<_>>()
            .join(", "),
    };
    html! {
        <div class="notice teacher-note" role="note" data-testid="teacher-note">
            <p>{ format!("Some controls are set by your teacher ({what}): the link you opened fixes them, so everyone works on the same example. Locked controls are greyed out.") }</p>
        </div>
    }
}
