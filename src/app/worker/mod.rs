//! Heavy work off the page's thread: a Web Worker runs calibration,
//! evaluation, sweeps, searches and training, reports progress, and is
//! terminated to cancel.
//!
//! - [`protocol`]: the messages (serde JSON, plus a file's bytes).
//! - [`host`]: the page's side (start, send, route replies, cancel).
//! - [`runner`]: the worker's side (fetch assets, cache, run jobs).
//! - [`lm`]: the worker's language-model jobs (the Language-model page).

pub mod host;
pub mod lm;
pub mod protocol;
pub mod runner;
