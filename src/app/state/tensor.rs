//! The Tensor page's state: the shareable settings and the notices about the
//! link. Every change goes through [`TensorAction`]; results are derived from
//! the settings, never stored.

use std::rc::Rc;

use yew::Reducible;

use crate::examples::{LAB_CLIP, LAB_NORMAL};
use crate::parse::format_numbers;
use crate::quant::Method;
use crate::share::TensorSettings;

#[derive(Clone, Debug, PartialEq, Default)]
pub struct TensorState {
    pub settings: TensorSettings,
    /// Messages about a link that could not be read in full.
    pub notices: Vec<String>,
}

pub enum TensorAction {
    SetText(String),
    /// Any other change to the settings (a control's edit), applied here.
    Edit(Rc<dyn Fn(&mut TensorSettings)>),
    /// One of the lab handout's examples: its values and its method.
    LabExample(Method),
    /// Settings read from a hash (page load, or the user edited the address).
    FromHash(String),
    DismissNotices,
}

impl TensorAction {
    pub fn edit(f: impl Fn(&mut TensorSettings) + 'static) -> TensorAction {
        TensorAction::Edit(Rc::new(f))
    }
}

impl TensorState {
    pub fn from_hash(hash: &str) -> TensorState {
        let (settings, notices) = TensorSettings::from_hash(hash);
        TensorState { settings, notices }
    }
}

impl Reducible for TensorState {
    type Action = TensorAction;

    fn reduce(self: Rc<Self>, action: TensorAction) -> Rc<Self> {
        let mut next = (*self).clone();
        match action {
            TensorAction::SetText(text) => next.settings.text = text,
            TensorAction::Edit(edit) => edit(&mut next.settings),
            TensorAction::LabExample(m) => {
                let values = if m == Method::Clip { LAB_CLIP } else { LAB_NORMAL };
                next.settings = TensorSettings { method: m, text: format_numbers(&values), ..TensorSettings::default() };
            }
            TensorAction::FromHash(hash) => {
                // The hash we wrote ourselves reads back to the same settings: keep the text as typed.
                let read = TensorState::from_hash(&hash);
                if read.settings.to_hash() != next.settings.to_hash() || !read.notices.is_empty() {
                    next = read;
                }
            }
            TensorAction::DismissNotices => next.notices.clear(),
        }
        Rc::new(next)
    }
}
