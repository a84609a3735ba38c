//! Numbers as text: a file or a paste, read into a [`Tensor`].
//!
//! Two forms are taken:
//!
//! - a JSON array of numbers, 1-D (`[1, 2.5, -3]`) or 2-D (`[[1, 2], [3, 4]]`), read with
//!   `serde_json`. A 2-D array must be rectangular: a ragged one is an error naming the first row
//!   whose length differs (rows counted from 1, like the parser's values);
//! - anything else goes to [`crate::parse::parse_numbers`]: values separated by commas, spaces,
//!   tabs, semicolons or new lines. Nested brackets make the rows, as in JSON, so NumPy's and
//!   PyTorch's printed arrays (`[[1. 2.]\n [3. 4.]]`, `tensor([[…], […]])`) paste as they are, a
//!   ragged one is an error naming the first row that differs, and deeper nesting is refused.
//!   Without brackets each line is a row (lines of equal length give a 2-D tensor, others one
//!   row). Text that starts like JSON but is not valid JSON (NumPy's print has no commas) is read
//!   this way too.
//!
//! Limits: [`MAX_TEXT_BYTES`] of text and [`crate::parse::MAX_VALUES`] values. Every value must be
//! finite in f32 (a JSON 1e39 overflows f32 and is an error naming it).
//!
//! Writing: [`write_text`] (one row per line, comma separated) and [`write_json`] give the shortest
//! decimal of each f32 that reads back to the same f32, so a round trip is exact.

use serde_json::Value;

use super::{FormatError, Tensor};
use crate::parse::{parse_numbers, ParseError, MAX_VALUES};

/// Largest text accepted: 32 MiB (about a million values with their separators).
pub const MAX_TEXT_BYTES: usize = 32 << 20;

fn json_error(message: impl Into<String>) -> FormatError {
    FormatError::Malformed { format: "JSON", message: message.into() }
}

/// Reads a tensor from text bytes (UTF-8).
pub fn read_text(bytes: &[u8]) -> Result<Tensor, FormatError> {
    if bytes.len() > MAX_TEXT_BYTES {
        return Err(FormatError::TooLarge { bytes: bytes.len(), limit: MAX_TEXT_BYTES });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| FormatError::Malformed {
        format: "text",
        message: format!("byte {} is not UTF-8 text (is this a binary file?)", e.valid_up_to()),
    })?;
    read_str(text)
}

/// Reads a tensor from text (see the module header).
pub fn read_str(text: &str) -> Result<Tensor, FormatError> {
    if text.len() > MAX_TEXT_BYTES {
        return Err(FormatError::TooLarge { bytes: text.len(), limit: MAX_TEXT_BYTES });
    }
    let trimmed = text.trim();
    if trimmed.starts_with('[') {
        // Valid JSON is read as JSON; anything else that starts with '[' is a printed array.
        if let Ok(value) = serde_json::from_str::<Value>(trimmed) {
            return from_json(&value);
        }
    }
    let parsed = parse_numbers(text).map_err(FormatError::Text)?;
    Ok(Tensor { shape: parsed.shape, values: parsed.values })
}

/// A JSON number as a finite f32; `index` counts values from 1 for messages.
fn number(v: &Value, index: usize) -> Result<f32, FormatError> {
    let Some(x) = v.as_f64() else {
        return Err(json_error(format!("value #{index} is {}, not a number", kind(v))));
    };
    let x = x as f32;
    if !x.is_finite() {
        return Err(FormatError::Text(ParseError::NonFinite { index, token: v.to_string() }));
    }
    Ok(x)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn from_json(value: &Value) -> Result<Tensor, FormatError> {
    let Value::Array(items) = value else { unreachable!("called on a JSON array") };
    if items.is_empty() {
        return Err(FormatError::Text(ParseError::Empty));
    }
    if !matches!(items[0], Value::Array(_)) {
        // 1-D: every item a number.
        if items.len() > MAX_VALUES {
            return Err(FormatError::Text(ParseError::TooMany { limit: MAX_VALUES }));
        }
        let values = items.iter().enumerate().map(|(i, v)| number(v, i + 1)).collect::<Result<Vec<_>, _>>()?;
        return Ok(Tensor { shape: vec![values.len()], values });
    }
    // 2-D: every item an array of numbers, all of the first row's length.
    let cols = items[0].as_array().map_or(0, Vec::len);
    if cols == 0 {
        return Err(json_error("row #1 is empty: a 2-D array needs at least one value per row"));
    }
    if items.len().saturating_mul(cols) > MAX_VALUES {
        return Err(FormatError::Text(ParseError::TooMany { limit: MAX_VALUES }));
    }
    let mut values = Vec::with_capacity(items.len() * cols);
    for (r, row) in items.iter().enumerate() {
        let Value::Array(row) = row else {
            return Err(json_error(format!("row #{} is {}: a 2-D array holds only arrays of numbers", r + 1, kind(row))));
        };
        if row.len() != cols {
            return Err(FormatError::Text(ParseError::Ragged { row: r + 1, len: row.len(), first: cols }));
        }
        for v in row {
            if v.is_array() {
                return Err(json_error(format!(
                    "row #{} holds an array: only 1-D and 2-D arrays are read (use .npy for more dimensions)",
                    r + 1
                )));
            }
            values.push(number(v, values.len() + 1)?);
        }
    }
    Ok(Tensor { shape: vec![items.len(), cols], values })
}

/// Text for a 1-D or 2-D tensor: comma separated, one row per line for 2-D (any other rank is
/// written flat, on one line). Each value is the shortest decimal that reads back to the same f32.
pub fn write_text(t: &Tensor) -> String {
    let row = |vals: &[f32]| vals.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", ");
    match t.shape[..] {
        [_, cols] if cols > 0 => t.values.chunks(cols).map(row).collect::<Vec<_>>().join("\n") + "\n",
        _ => row(&t.values) + "\n",
    }
}

/// A JSON array: nested [rows][cols] for a 2-D tensor, flat otherwise.
pub fn write_json(t: &Tensor) -> String {
    // serde_json writes an f32 as its shortest decimal (ryu), not the widened f64's.
    let json = match t.shape[..] {
        [_, cols] if cols > 0 => serde_json::to_string(&t.values.chunks(cols).collect::<Vec<_>>()),
        _ => serde_json::to_string(&t.values),
    };
    json.expect("a list of f32 serialises")
}
