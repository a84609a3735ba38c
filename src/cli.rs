//! Native command-line tool.
//!
//! `qplay tensor [--method normal|clip] [--bits N] VALUES…` quantizes a list
//! of numbers and prints the parameters and the per-value table as JSON.

use qplay::parse::parse_numbers;
use qplay::quant::{quantize_tensor, Method, Scheme};

pub fn run(args: Vec<String>) -> i32 {
    match args.first().map(String::as_str) {
        Some("tensor") => match tensor(&args[1..]) {
            Ok(out) => {
                println!("{out}");
                0
            }
            Err(e) => {
                eprintln!("qplay tensor: {e}");
                2
            }
        },
        _ => {
            eprintln!("usage: qplay tensor [--method normal|clip] [--bits N] VALUES...");
            2
        }
    }
}

fn tensor(args: &[String]) -> Result<String, String> {
    let (mut method, mut bits, mut text) = (Method::Normal, 8u8, String::new());
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--method" => {
                let v = it.next().ok_or("--method needs a value")?;
                method = Method::from_name(v).ok_or_else(|| format!("unknown method {v:?}"))?;
            }
            "--bits" => {
                let v = it.next().ok_or("--bits needs a value")?;
                bits = v.parse().map_err(|_| format!("--bits {v:?} is not a whole number"))?;
            }
            other => {
                text.push_str(other);
                text.push(' ');
            }
        }
    }
    let parsed = parse_numbers(&text).map_err(|e| e.to_string())?;
    let r = quantize_tensor(&parsed.values, &Scheme::lab(method, bits)).map_err(|e| e.to_string())?;
    let out = serde_json::json!({
        "params": r.params,
        "q": r.q,
        "dequant": r.dequant,
    });
    Ok(serde_json::to_string_pretty(&out).expect("plain JSON values serialize"))
}
