//! A canvas that plotters draws the value histogram on.

use std::rc::Rc;

use wasm_bindgen::JsCast;
use web_sys::HtmlCanvasElement;
use yew::prelude::*;

use crate::app::chart::draw_histogram;
use crate::quant::QParams;

#[derive(Properties, PartialEq)]
pub struct HistogramProps {
    pub values: Rc<Vec<f32>>,
    pub params: QParams,
}

#[function_component(Histogram)]
pub fn histogram(props: &HistogramProps) -> Html {
    let canvas = use_node_ref();
    let error = use_state(|| None::<String>);
    {
        let (canvas, error) = (canvas.clone(), error.clone());
        use_effect_with((props.values.clone(), props.params), move |(values, params)| {
            if let Some(c) = canvas.get().and_then(|n| n.dyn_into::<HtmlCanvasElement>().ok()) {
                let result = draw_histogram(c, values, params).err();
                if *error != result {
                    error.set(result);
                }
            }
        });
    }
    html! {
        <figure class="chart">
            <canvas ref={canvas} width="720" height="300" data-testid="histogram"
                aria-label="Histogram of the FP32 values with the quantization grid and the clamp limits"></canvas>
            if let Some(e) = &*error { <p class="error">{ format!("The chart could not be drawn: {e}") }</p> }
        </figure>
    }
}
