//! The one place that owns the app's state: one reducer per page, each with
//! its `Action` enum. The Model and Lab pages' states live in the app shell
//! (shared through contexts), so switching pages never loses a loaded file or
//! a long result.
//!
//! - [`bench`]: the Benchmark page's job and the lines measured so far.
//! - [`job`]: a job in the worker, tracked the same way by every page.
//! - [`experiment_job`]: an experiment as one job shared among the pool of workers.
//! - [`tensor`]: the Tensor page's settings and link notices.
//! - [`model`]: the Model page's experiment, loaded file, running job and results.
//! - [`lab`]: the Lab walkthrough's steps and their results.
//! - [`scaling`]: the Benchmark page's worker-scaling measurement.
//! - [`lm`]: the Language-model page's experiment, comparison table and generation.

pub mod bench;
pub mod experiment_job;
pub mod job;
pub mod lab;
pub mod lm;
pub mod model;
pub mod scaling;
pub mod tensor;

pub use tensor::{TensorAction, TensorState};
