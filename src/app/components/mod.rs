//! One component per file, each with its `Props` beside it.

pub mod app;
pub mod bench_page;
pub mod calibration_controls;
pub mod channel_table;
pub mod generator_controls;
pub mod histogram;
pub mod metrics_panel;
pub mod notices;
pub mod params_panel;
pub mod range_sliders;
pub mod scheme_controls;
pub mod tensor_page;
pub mod value_table;
