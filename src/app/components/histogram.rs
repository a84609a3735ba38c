//! A canvas that plotters draws on, redrawn when its data changes.

use std::rc::Rc;

use wasm_bindgen::JsCast;
use web_sys::HtmlCanvasElement;
use yew::prelude::*;

use crate::app::chart::{draw_calibrators, draw_histogram};
use crate::quant::calibration::CalibrationOutcome;
use crate::quant::QParams;

/// What to draw.
#[derive(Clone, PartialEq)]
pub enum Plot {
    /// The values with one grid and its clamp limits.
    Grid { values: Rc<Vec<f32>>, params: QParams, caption: String },
    /// The values with every calibrator's range.
    Calibrators { values: Rc<Vec<f32>>, outcomes: Rc<Vec<CalibrationOutcome>> },
}

#[derive(Properties, PartialEq)]
pub struct PlotCanvasProps {
    pub plot: Plot,
    pub label: AttrValue,
    pub testid: AttrValue,
}

#[function_component(PlotCanvas)]
pub fn plot_canvas(props: &PlotCanvasProps) -> Html {
    let canvas = use_node_ref();
    let error = use_state(|| None::<String>);
    {
        let (canvas, error) = (canvas.clone(), error.clone());
        use_effect_with(props.plot.clone(), move |plot| {
            if let Some(c) = canvas.get().and_then(|n| n.dyn_into::<HtmlCanvasElement>().ok()) {
                let result = match plot {
                    Plot::Grid { values, params, caption } => draw_histogram(c, values, params, caption),
                    Plot::Calibrators { values, outcomes } => draw_calibrators(c, values, outcomes),
                }
                .err();
                if *error != result {
                    error.set(result);
                }
            }
        });
    }
    html! {
        <figure class="chart">
            <canvas ref={canvas} width="720" height="320" data-testid={props.testid.clone()} aria-label={props.label.clone()}></canvas>
            if let Some(e) = &*error { <p class="error">{ format!("The chart could not be drawn: {e}") }</p> }
        </figure>
    }
}
