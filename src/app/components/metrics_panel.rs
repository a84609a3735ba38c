//! The error figures of the quantized tensor, beside FP16 and BF16.

use crate::decimal::fixed;
use yew::prelude::*;

use crate::metrics::{ErrorMetrics, QuantErrorMetrics};
use crate::parse::plural;

#[derive(Properties, PartialEq)]
pub struct MetricsPanelProps {
    pub m: QuantErrorMetrics,
    pub fp16: ErrorMetrics,
    pub bf16: ErrorMetrics,
    pub bits: u8,
}

#[function_component(MetricsPanel)]
pub fn metrics_panel(props: &MetricsPanelProps) -> Html {
    let m = &props.m;
    let e = &m.error;
    let row = |name: &str, tip: &str, value: String, id: &str| {
        html! {
            <>
                <dt tabindex="0" title={tip.to_string()}>{ name.to_string() }</dt>
                <dd data-testid={id.to_string()}>{ value }</dd>
            </>
        }
    };
    html! {
        <section class="metrics" aria-label="Error">
            <h2>{"Error"}</h2>
            <dl>
                { row("MSE", "Mean squared error: (1/n) Σ (r' − r)²", format!("{:.6e}", e.mse), "mse") }
                { row("MSE from clipping", "The part of the MSE from the clipped values (those the clamp moved to qmin or qmax)", format!("{:.6e}", m.mse_clip), "mse-clip") }
                { row("MSE from rounding", "The part of the MSE from the values the clamp did not move (rounding alone)", format!("{:.6e}", m.mse_round), "mse-round") }
                { row("RMSE", "√MSE", fixed(e.rmse, 6, false), "rmse") }
                { row("MAE", "(1/n) Σ |r' − r|", fixed(e.mae, 6, false), "mae") }
                { row("max abs error", "The largest |r' − r|", fixed(e.max_abs, 6, false), "max-abs") }
                { row("SQNR", "Signal to quantization noise: 10·log10(Σ r² / Σ (r − r')²), shown within ±400 dB (an exact reconstruction is +∞, an all-zero signal with error −∞)", db(e.sqnr_db), "sqnr") }
                { row("cosine", "Cosine similarity of r and r'", format!("{:.6}", e.cosine), "cosine") }
                { row("KL divergence", "KL divergence between the histograms of r and r'", format!("{:.4e}", e.kl_divergence), "kl") }
                { row("clip ratio", "Fraction of values whose r / s + Z rounds (to nearest) outside [qmin, qmax], so that the clamp moves them to qmin or qmax: their error is at least s/2. A value up to half a step past the grid's last level (the rounding of Z moves the grid by up to s/2) rounds onto qmin or qmax itself and is not clipped", format!("{:.2} % ({})", m.clip_ratio * 100.0, plural(m.clipped, "value")), "clip-ratio") }
                { row("RMSE / s", "Rounding noise in steps. Uniform rounding error has RMS 1/√12 ≈ 0.2887 of a step.", format!("{:.4} (ideal {:.4})", m.rmse_over_scale, m.uniform_noise_rms), "rmse-over-scale") }
            </dl>
            <h3>{"16-bit floats, for comparison"}</h3>
            <dl>
                { row("FP16 SQNR", "Round-trip through IEEE half precision", float16_db(&props.fp16, "FP16's ±65504"), "fp16-sqnr") }
                { row("BF16 SQNR", "Round-trip through bfloat16", float16_db(&props.bf16, "BF16's ±3.39e38"), "bf16-sqnr") }
                { row(&format!("int{} SQNR", props.bits), "This quantization", db(e.sqnr_db), "int-sqnr") }
            </dl>
        </section>
    }
}

/// A 16-bit float's SQNR, or −∞ when values past its largest (`limit`) became ±∞.
fn float16_db(e: &ErrorMetrics, limit: &str) -> String {
    match e.overflowed {
        0 => db(e.sqnr_db),
        n => format!("−∞ dB: {} past {limit} became ±∞", plural(n, "value")),
    }
}

/// An SQNR as the page shows it: at the ±400 dB cap of [`crate::metrics::SQNR_CAP_DB`] (where the
/// ratio is beyond it, or infinite) "≥ 400 dB" / "≤ −400 dB", never a figure that looks measured.
pub fn db(v: f64) -> String {
    let cap = crate::metrics::SQNR_CAP_DB;
    if v >= cap {
        format!("≥ {cap:.0} dB")
    } else if v <= -cap {
        format!("≤ −{cap:.0} dB")
    } else {
        format!("{v:.2} dB")
    }
}
