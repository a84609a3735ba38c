//! The Tensor page: type or paste numbers, choose the method and bits, and
//! see the scale, zero point, every value's integer and error, and the
//! histogram with the quantization grid. It updates as the user types.

use std::rc::Rc;

use gloo::events::EventListener;
use wasm_bindgen::JsCast;
use web_sys::{HtmlInputElement, HtmlTextAreaElement};
use yew::prelude::*;

use super::histogram::Histogram;
use super::notices::Notices;
use super::params_panel::ParamsPanel;
use super::range_sliders::RangeSliders;
use super::scheme_controls::SchemeControls;
use super::value_table::ValueTable;
use crate::app::state::{TensorAction, TensorState};
use crate::app::url;
use crate::metrics::error_metrics;
use crate::parse::parse_numbers;
use crate::quant::{min_max, quantize_with_range, Method, QParams, RangeGuard};
use crate::share::TensorSettings;

/// Everything the page shows, derived from the settings.
#[derive(PartialEq)]
struct Derived {
    x: Rc<Vec<f32>>,
    q: Rc<Vec<i32>>,
    dequant: Rc<Vec<f32>>,
    params: QParams,
    guard: RangeGuard,
    data_min: f32,
    data_max: f32,
    mse: f64,
    max_abs: f64,
}

fn derive(s: &TensorSettings) -> Result<Derived, String> {
    let parsed = parse_numbers(&s.text).map_err(|e| e.to_string())?;
    let (data_min, data_max) = min_max(&parsed.values).map_err(|e| e.to_string())?;
    let (alpha, beta) = s.range.unwrap_or((data_min, data_max));
    let r = quantize_with_range(&parsed.values, alpha, beta, &s.scheme()).map_err(|e| e.to_string())?;
    let m = error_metrics(&parsed.values, &r.dequant);
    Ok(Derived {
        x: Rc::new(parsed.values),
        q: Rc::new(r.q),
        dequant: Rc::new(r.dequant),
        params: r.params,
        guard: r.guard,
        data_min,
        data_max,
        mse: m.mse,
        max_abs: m.max_abs,
    })
}

#[function_component(TensorPage)]
pub fn tensor_page() -> Html {
    let state = use_reducer_eq(|| TensorState::from_hash(&url::read_hash()));
    let settings = state.settings.clone();

    // The URL follows the settings.
    use_effect_with(settings.clone(), |s| url::replace_hash(&s.to_hash()));
    // A hash edited by hand in the address bar is read back.
    {
        let dispatch = state.dispatcher();
        use_effect_with((), move |_| {
            let listener = EventListener::new(&gloo::utils::window(), "hashchange", move |_| {
                dispatch.dispatch(TensorAction::FromHash(url::read_hash()));
            });
            move || drop(listener)
        });
    }

    let derived = use_memo(settings.clone(), derive);
    let copy_status = use_state(|| None::<String>);

    let on_text = {
        let d = state.dispatcher();
        Callback::from(move |e: InputEvent| {
            let v = e.target_unchecked_into::<HtmlTextAreaElement>().value();
            d.dispatch(TensorAction::SetText(v));
        })
    };
    let on_action = {
        let d = state.dispatcher();
        Callback::from(move |a: TensorAction| d.dispatch(a))
    };
    let example = |m: Method| {
        let d = state.dispatcher();
        Callback::from(move |_: MouseEvent| d.dispatch(TensorAction::LabExample(m)))
    };
    let on_dismiss = {
        let d = state.dispatcher();
        Callback::from(move |_| d.dispatch(TensorAction::DismissNotices))
    };
    let link = url::link_for(&settings.to_hash());
    let on_copy = {
        let (link, status) = (link.clone(), copy_status.clone());
        Callback::from(move |_: MouseEvent| copy_to_clipboard(&link, status.clone()))
    };
    let on_focus_link = Callback::from(|e: FocusEvent| e.target_unchecked_into::<HtmlInputElement>().select());

    html! {
        <div class="tensor-page">
            <Notices notices={state.notices.clone()} {on_dismiss} />
            <section class="inputs" aria-label="Tensor and settings">
                <h2>{"Tensor"}</h2>
                <div class="examples">
                    <button onclick={example(Method::Normal)} data-testid="example-normal"
                        title="The handout's first tensor, quantized with the normal method">{"Lab example: normal"}</button>
                    <button onclick={example(Method::Clip)} data-testid="example-clip"
                        title="The handout's second tensor, quantized with the clip method">{"Lab example: clip"}</button>
                </div>
                <label for="tensor-text">{"Values (separated by commas, spaces or new lines)"}</label>
                <textarea id="tensor-text" data-testid="tensor-text" rows="4" spellcheck="false"
                    value={settings.text.clone()} oninput={on_text} />
                <SchemeControls settings={settings.clone()} on_action={on_action.clone()} />
                <div class="share">
                    <button onclick={on_copy} data-testid="copy-link"
                        title="Copy a link that opens this page with the same tensor and settings">{"Copy link"}</button>
                    <input class="link" readonly=true value={link} aria-label="Share link" data-testid="share-link"
                        onfocus={on_focus_link} />
                    if let Some(s) = &*copy_status { <span class="copy-status" role="status">{ s.clone() }</span> }
                </div>
            </section>
            { match &*derived {
                Err(message) => html! {
                    <p class="error" role="alert" data-testid="input-error">{ message.clone() }</p>
                },
                Ok(d) => html! {
                    <>
                        <section class="range" aria-label="Float range">
                            <h2>{"Float range [α, β]"}</h2>
                            <RangeSliders data_min={d.data_min} data_max={d.data_max} alpha={d.params.alpha}
                                beta={d.params.beta} manual={settings.range.is_some()} on_action={on_action.clone()} />
                        </section>
                        <ParamsPanel params={d.params} guard={d.guard} method={settings.method}
                            symmetric={settings.symmetric} manual={settings.range.is_some()} />
                        <section class="metrics" aria-label="Error">
                            <h2>{"Error"}</h2>
                            <dl>
                                <dt title="Mean squared error: (1/n) Σ (r' − r)²">{"MSE"}</dt>
                                <dd data-testid="mse">{ format!("{:.6e}", d.mse) }</dd>
                                <dt title="The largest |r' − r| over all values">{"max abs error"}</dt>
                                <dd data-testid="max-abs">{ format!("{:.6}", d.max_abs) }</dd>
                                <dt title="Half a step: the largest rounding error of a value inside the clamp limits">{"s / 2"}</dt>
                                <dd>{ format!("{:.6}", d.params.scale / 2.0) }</dd>
                            </dl>
                        </section>
                        <Histogram values={d.x.clone()} params={d.params} />
                        <ValueTable x={d.x.clone()} q={d.q.clone()} dequant={d.dequant.clone()}
                            qmin={d.params.qmin} qmax={d.params.qmax} />
                    </>
                },
            } }
        </div>
    }
}

/// Writes `text` with the async Clipboard API (called through JS reflection:
/// web-sys keeps it behind an unstable flag) and reports the outcome.
fn copy_to_clipboard(text: &str, status: UseStateHandle<Option<String>>) {
    let navigator = gloo::utils::window().navigator();
    let clipboard = js_sys::Reflect::get(&navigator, &"clipboard".into()).ok().filter(|c| !c.is_undefined());
    let write = clipboard.as_ref().and_then(|c| js_sys::Reflect::get(c, &"writeText".into()).ok());
    let promise = match (clipboard, write.and_then(|f| f.dyn_into::<js_sys::Function>().ok())) {
        (Some(c), Some(f)) => f.call1(&c, &text.into()).ok().and_then(|p| p.dyn_into::<js_sys::Promise>().ok()),
        _ => None,
    };
    let Some(promise) = promise else {
        status.set(Some("This browser cannot copy for us: select the link and press Ctrl+C.".into()));
        return;
    };
    yew::platform::spawn_local(async move {
        let message = match wasm_bindgen_futures::JsFuture::from(promise).await {
            Ok(_) => "Link copied.",
            Err(_) => "Copying was blocked: select the link and press Ctrl+C.",
        };
        status.set(Some(message.into()));
    });
}
