//! The Tensor page's state: the shareable settings and the notices about the
//! link. Every change goes through [`TensorAction`]; results are derived from
//! the settings on the page, except for a large tensor or a slow calibrator, whose view the
//! worker computes: that view is kept with the key of the settings and file it is for.

use std::rc::Rc;

use yew::Reducible;

use crate::app::state::job::{Applied, JobState, JobUpdate};
use crate::app::worker::protocol::Outcome;
use crate::examples::{LAB_CLIP, LAB_NORMAL};
use crate::experiment::tensor_view::{TensorView, MAX_PAGE_VALUES};
use crate::formats::{PackedTensors, Tensor};
use crate::parse::format_numbers;
use crate::quant::Method;
use crate::share::view::{join_query, split_view, View};
use crate::share::tensor::MAX_LINK_VALUES;
use crate::share::{page_hash, query_of, Page, TensorSettings, TENSOR_FIELDS};

#[derive(Clone, Debug, PartialEq, Default)]
pub struct TensorState {
    pub settings: TensorSettings,
    /// Messages about a link that could not be read in full.
    pub notices: Vec<String>,
    /// A tensor file the user loaded; while `Some`, the page shows its chosen tensor instead of the text.
    pub file: Option<Rc<LoadedTensors>>,
    /// Why the last file could not be read (whatever was shown before stays).
    pub file_error: Option<String>,
    /// Controls a teacher's link hides or locks.
    pub view: View,
    /// The worker's view of a large tensor or a slow calibrator, with its [`TensorState::view_key`].
    pub computed: Option<(String, Rc<Result<TensorView, String>>)>,
    /// The worker's job for it (its kind is the key it computes).
    pub job: JobState<String>,
    /// Counts the loaded file's changes (a new file, another of its tensors, closed).
    pub file_generation: u32,
    /// The worker reading a dropped file (its kind is the file's name).
    pub reading: JobState<String>,
    /// Counts the typed text's changes.
    pub text_generation: u32,
}

/// The tensors of a loaded file, and which one is shown: the file's values stay packed as the
/// worker sent them, and only the chosen tensor is converted (on the page's thread, at most the
/// page's 4 Mi values, not the file's up to 64 Mi).
#[derive(Debug)]
pub struct LoadedTensors {
    pub name: String,
    /// Shared by every choice of tensor (choosing one never copies the file's values).
    pub tensors: Rc<PackedTensors>,
    pub chosen: usize,
    /// The chosen tensor's name and values.
    current: Option<(String, Tensor)>,
    /// Per tensor, why the page cannot show it (None: it can).
    pub cannot_show: Rc<Vec<Option<String>>>,
    /// What reading the file has to say (`TensorFile::note`): tensors not read, lines read as one row.
    pub file_note: Option<String>,
}

/// The same file read once (not another read of equal values) with the same tensor chosen: a
/// pointer comparison, so that the page's memos do not compare millions of values on every render.
impl PartialEq for LoadedTensors {
    fn eq(&self, other: &LoadedTensors) -> bool {
        self.name == other.name && Rc::ptr_eq(&self.tensors, &other.tensors) && self.chosen == other.chosen
    }
}

impl LoadedTensors {
    /// Tensor `chosen` of the file (the last one past the end).
    pub fn choosing(name: String, tensors: Rc<PackedTensors>, cannot_show: Rc<Vec<Option<String>>>, chosen: usize, file_note: Option<String>) -> LoadedTensors {
        let chosen = chosen.min(tensors.len().saturating_sub(1));
        LoadedTensors { current: tensors.tensor(chosen), name, tensors, cannot_show, chosen, file_note }
    }

    /// Why the page cannot show tensor `i` (None: it can).
    pub fn why_not(&self, i: usize) -> Option<&str> {
        self.cannot_show.get(i)?.as_deref()
    }

    pub fn current(&self) -> Option<&(String, Tensor)> {
        self.current.as_ref()
    }
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
    /// A file the page could not hand to the worker (too large, unreadable by the browser).
    FileError(String),
    /// The worker's job reading a dropped file: its tensors (the largest is shown), or why not.
    Read(JobUpdate<String>),
    /// Show another tensor of the loaded file.
    ChooseTensor(usize),
    /// Back to the text box.
    CloseFile,
    /// The worker's job computing the view.
    Job(JobUpdate<String>),
}

impl TensorAction {
    pub fn edit(f: impl Fn(&mut TensorSettings) + 'static) -> TensorAction {
        TensorAction::Edit(Rc::new(f))
    }
}

impl TensorState {
    pub fn from_hash(hash: &str) -> TensorState {
        let (settings, mut notices) = TensorSettings::from_hash(hash);
        let (mut view, _) = split_view(query_of(hash));
        let keys: Vec<&str> = TENSOR_FIELDS.iter().map(|f| f.key).collect();
        notices.extend(view.keep_known(&keys));
        if crate::share::tensor::too_long(hash) {
            notices.extend(crate::share::view::set_aside(&mut view));
        }
        TensorState { settings, notices, view, ..TensorState::default() }
    }

    /// What the view depends on: the settings, the loaded file's tensor and the typed text.
    pub fn view_key(&self) -> String {
        format!("{}#file{}#text{}", self.settings.to_hash(), self.file_generation, self.text_generation)
    }

    /// What the link leaves out of the tensor on show, as a sentence (None when it carries it):
    /// a file's values, or typed text that is not a list of at most [`MAX_LINK_VALUES`] numbers.
    pub fn link_leaves_out(&self) -> Option<String> {
        if self.settings.generator.is_some() {
            return None;
        }
        if let Some(f) = &self.file {
            return Some(format!("The link carries the settings, not the values of {}: it opens with the lab's example tensor.", f.name));
        }
        let text = self.settings.text.trim();
        match crate::parse::parse_at_most(text, MAX_LINK_VALUES) {
            _ if text.is_empty() => None,
            Ok(_) => None,
            Err(crate::parse::ParseError::TooMany { .. }) => Some(format!(
                "The link carries the settings, not the typed tensor (a link holds a list of at most {MAX_LINK_VALUES} numbers): it opens with the lab's example tensor."
            )),
            Err(_) => Some("The link carries the settings, not the typed text, which does not read as a list of numbers: it opens with the lab's example tensor.".into()),
        }
    }

    /// The link of this state: the settings, and the teacher's view.
    pub fn to_hash(&self) -> String {
        page_hash(Page::Tensor, &join_query(query_of(&self.settings.to_hash()), &self.view))
    }
}

impl Reducible for TensorState {
    type Action = TensorAction;

    fn reduce(self: Rc<Self>, action: TensorAction) -> Rc<Self> {
        let mut next = (*self).clone();
        match action {
            // The user has moved on: a refused file's message ("Nothing else changed") goes.
            TensorAction::SetText(text) => {
                next.settings.text = text;
                next.file_error = None;
            }
            TensorAction::Edit(edit) => {
                edit(&mut next.settings);
                next.file_error = None;
            }
            TensorAction::LabExample(m) => {
                let values = if m == Method::Clip { LAB_CLIP } else { LAB_NORMAL };
                next.settings = TensorSettings { method: m, text: format_numbers(&values), ..TensorSettings::default() };
                next.file = None;
            }
            TensorAction::FromHash(hash) => {
                // The hash we wrote ourselves reads back to the same settings: keep the text as typed.
                let read = TensorState::from_hash(&hash);
                if read.settings.to_hash() != next.settings.to_hash() {
                    next.settings = read.settings;
                }
                // The page's own link coming back keeps the notices of the link it was opened
                // with; any other link replaces them (an empty list when it reads cleanly).
                if query_of(&hash) != query_of(&self.to_hash()) {
                    next.notices = read.notices;
                }
                next.view = read.view;
            }
            TensorAction::DismissNotices => next.notices.clear(),
            TensorAction::Read(update) => match next.reading.apply(update) {
                // The worker chose the tensor shown first; a file with none the page can show
                // is its error, and keeps what was shown.
                Applied::Finished(name, Outcome::Tensors { tensors, chosen, cannot_show, file_note, bytes }) => match PackedTensors::new(tensors, bytes, MAX_PAGE_VALUES) {
                    Ok(tensors) if chosen < tensors.len() => {
                        next.file = Some(Rc::new(LoadedTensors::choosing(name, Rc::new(tensors), Rc::new(cannot_show), chosen, file_note)));
                        next.file_error = None;
                        next.settings.generator = None;
                        next.settings.range = None;
                    }
                    Ok(_) => next.file_error = Some(format!("{name}: the worker chose tensor #{} of fewer", chosen + 1)),
                    Err(e) => next.file_error = Some(format!("{name}: the worker's tensors: {e}")),
                },
                Applied::Finished(name, _) => next.file_error = Some(format!("{name}: the worker answered something other than its tensors")),
                // A new file's reading: the message about the one before goes.
                Applied::Started(_) => next.file_error = None,
                // A Cancel is the user's own choice, not a failure: the page says so from
                // `reading` itself, as a note.
                _ => {
                    if let JobState::Failed { message, .. } = &next.reading {
                        next.file_error = Some(message.clone());
                    }
                }
            },
            TensorAction::FileError(message) => next.file_error = Some(message),
            TensorAction::ChooseTensor(i) => {
                if let Some(f) = &next.file {
                    next.file = Some(Rc::new(LoadedTensors::choosing(f.name.clone(), f.tensors.clone(), f.cannot_show.clone(), i, f.file_note.clone())));
                    next.settings.range = None;
                    next.file_error = None;
                }
            }
            TensorAction::CloseFile => {
                next.file = None;
                next.file_error = None;
            }
            TensorAction::Job(update) => match next.job.apply(update) {
                Applied::Finished(key, Outcome::TensorView { parts, bytes }) => next.computed = Some((key, Rc::new(TensorView::from_parts(*parts, &bytes)))),
                Applied::Finished(key, _) => next.computed = Some((key, Rc::new(Err("the worker answered something other than a tensor view".into())))),
                _ => {
                    if let JobState::Failed { kind, message } = &next.job {
                        next.computed = Some((kind.clone(), Rc::new(Err(message.clone()))));
                    }
                }
            },
        }
        let same_file = match (&self.file, &next.file) {
            (Some(a), Some(b)) => Rc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        if !same_file {
            next.file_generation = next.file_generation.wrapping_add(1);
        }
        // A typed tensor the link cannot carry (more than 256 values) is not in the settings'
        // hash: its edits are counted, so that the worker's view is for this text.
        if next.settings.text != self.settings.text {
            next.text_generation = next.text_generation.wrapping_add(1);
        }
        Rc::new(next)
    }
}
