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
    // The pages keep only the names they know (View::keep_known), so a misspelt name is named in
    // the page's notice and never counted here.
    let Some(what) = props.view.summary() else {
        return html! {};
    };
    // Nothing is greyed out where nothing is locked, or where everything is hidden.
    let locked = props.view.locked_shown();
    let greyed = !locked.is_empty() && !props.view.hidden.contains("all");
    let greyed = if greyed { " Locked controls are greyed out." } else { "" };
    // The names the link gives (its keys), so that a student can tell which control is which.
    let named = |set: &std::collections::BTreeSet<String>, word: &str| match set.contains("all") || set.is_empty() {
        true => String::new(),
        false => format!(" {word}: {}.", set.iter().map(|k| crate::clip::clip(k, 48)).collect::<Vec<_>>().join(", ")),
    };
    let names = if props.view.hidden.contains("all") { String::new() } else { named(&locked, "Locked") + &named(&props.view.hidden, "Hidden") };
    html! {
        <div class="notice teacher-note" role="note" data-testid="teacher-note">
            <p>{ format!("Some controls are set by your teacher ({what}): the link you opened fixes them, so everyone works on the same example.{names}{greyed}") }</p>
        </div>
    }
}
