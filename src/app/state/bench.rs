//! The Benchmark page's state: its job in the worker and the lines measured so far (each case
//! adds its own as it ends, so the table fills while the benchmark runs).

use std::rc::Rc;

use yew::Reducible;

use crate::app::state::job::{Applied, JobState, JobUpdate};
use crate::app::worker::protocol::{BenchRow, Event, Outcome};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct BenchState {
    pub job: JobState<()>,
    pub rows: Vec<BenchRow>,
    pub ratios: Vec<String>,
    /// The last run ended with every case measured.
    pub done: bool,
}

impl Reducible for BenchState {
    type Action = JobUpdate<()>;

    fn reduce(self: Rc<Self>, update: JobUpdate<()>) -> Rc<Self> {
        let mut next = (*self).clone();
        match next.job.apply(update) {
            Applied::Started(()) => {
                next.rows.clear();
                next.ratios.clear();
                next.done = false;
            }
            Applied::Streamed(Event::BenchLines { rows, ratios }) | Applied::Finished((), Outcome::Bench { rows, ratios }) => {
                next.done = matches!(next.job, JobState::Idle);
                next.rows = rows;
                next.ratios = ratios;
            }
            _ => {}
        }
        Rc::new(next)
    }
}
