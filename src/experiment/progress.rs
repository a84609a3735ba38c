//! Progress of a long experiment (a sweep, a search, training), and how it is cancelled:
//! the callback returns `false` to stop, and the experiment returns
//! [`super::ExperimentError::Cancelled`] at its next step.

use serde::{Deserialize, Serialize};

use super::ExperimentError;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// What is running, e.g. "4 bits, per_channel, kl".
    pub stage: String,
    pub done: usize,
    pub total: usize,
    /// The latest value of what is being optimized, when there is one (a training loss).
    pub value: Option<f64>,
}

/// Called at every step; returns false to cancel.
pub type ProgressFn<'a> = &'a mut dyn FnMut(&Progress) -> bool;

/// Reports a step; `Err(Cancelled)` when the callback says stop.
pub fn step(on: &mut dyn FnMut(&Progress) -> bool, stage: impl Into<String>, done: usize, total: usize) -> Result<(), ExperimentError> {
    if on(&Progress { stage: stage.into(), done, total, value: None }) {
        Ok(())
    } else {
        Err(ExperimentError::Cancelled)
    }
}
