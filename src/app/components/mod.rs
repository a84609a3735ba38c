//! One component per file, each with its `Props` beside it.

pub mod app;
pub mod bench_page;
pub mod calibration_controls;
pub mod channel_table;
pub mod ctl;
pub mod experiment_form;
pub mod file_drop;
pub mod generator_controls;
pub mod job_status;
pub mod lab_page;
pub mod lm_controls;
pub mod lm_generation;
pub mod lm_page;
pub mod lm_table;
pub mod metrics_panel;
pub mod model_page;
pub mod model_source;
pub mod notices;
pub mod params_panel;
pub mod plot_canvas;
pub mod ptq_result;
pub mod range_sliders;
pub mod scheme_controls;
pub mod task_results;
pub mod tensor_page;
pub mod value_table;
