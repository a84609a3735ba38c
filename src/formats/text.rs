//! Numbers as text: a file or a paste, read into a [`Tensor`].
//!
//! Two forms are taken:
//!
//! - a JSON array of numbers, 1-D (`[1, 2.5, -3]`) or 2-D (`[[1, 2], [3, 4]]`), read with
//!   `serde_json` as it is parsed, straight into f32 values (memory bounded by the values, not
//!   by JSON values of the text; the first item of the wrong kind stops it). A 2-D array must be
//!   rectangular: a ragged one is an error naming the first row whose length differs (rows
//!   counted from 1, like the parser's values);
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

use std::cell::RefCell;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::{FormatError, Tensor};
use crate::parse::{parse_numbers, ParseError, MAX_VALUES};

/// Largest text accepted: 32 MiB (about a million values with their separators).
pub const MAX_TEXT_BYTES: usize = 32 << 20;

fn json_error(message: impl Into<String>) -> FormatError {
    FormatError::Malformed { format: "JSON", message: message.into() }
}

/// Reads a tensor from text bytes (UTF-8).
pub fn read_text(bytes: &[u8]) -> Result<Tensor, FormatError> {
    read_text_noted(bytes).map(|(t, _)| t)
}

/// [`read_text`], with the note on lines of unequal length read as one row, if they were.
pub fn read_text_noted(bytes: &[u8]) -> Result<(Tensor, Option<String>), FormatError> {
    if bytes.len() > MAX_TEXT_BYTES {
        return Err(FormatError::TooLarge { bytes: bytes.len(), limit: MAX_TEXT_BYTES });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| FormatError::Malformed {
        format: "text",
        message: format!("byte {} is not UTF-8 text (is this a binary file?)", e.valid_up_to()),
    })?;
    read_str_noted(text)
}

/// Reads a tensor from text (see the module header).
pub fn read_str(text: &str) -> Result<Tensor, FormatError> {
    read_str_noted(text).map(|(t, _)| t)
}

/// [`read_str`], with the note on lines of unequal length read as one row, if they were.
fn read_str_noted(text: &str) -> Result<(Tensor, Option<String>), FormatError> {
    // A UTF-8 byte-order mark (Excel's "CSV UTF-8" starts with one) is no value. `parse_at_most`
    // skips it too (a pasted text may carry one); the JSON reader below needs it gone first.
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    if text.len() > MAX_TEXT_BYTES {
        return Err(FormatError::TooLarge { bytes: text.len(), limit: MAX_TEXT_BYTES });
    }
    let trimmed = text.trim();
    if trimmed.starts_with('[') {
        // Valid JSON is read as JSON; anything else that starts with '[' is a printed array.
        let state = RefCell::new(JsonState::default());
        let mut de = serde_json::Deserializer::from_str(trimmed);
        let read = JsonArray(&state).deserialize(&mut de).and_then(|()| de.end());
        let state = state.into_inner();
        if let Some(e) = state.error {
            return Err(e);
        }
        if read.is_ok() {
            return state.tensor().map(|t| (t, None));
        }
    }
    let parsed = parse_numbers(text).map_err(FormatError::Text)?;
    Ok((Tensor { shape: parsed.shape, values: parsed.values }, parsed.notice))
}

// ------------------------------------------------------------------------------------------------
// JSON, read as it is parsed: numbers go straight into f32 values (a Value per number would take
// 16–32 bytes for every 2 bytes of text, and an object some 300), and the first value that is not
// what the array's form needs stops the parse with its error.

/// The array read so far: its form (set by its first item), values and rows, and the error that
/// stopped it.
#[derive(Default)]
struct JsonState {
    /// None until the first item; then whether items are rows.
    rows_form: Option<bool>,
    values: Vec<f32>,
    rows: usize,
    cols: usize,
    error: Option<FormatError>,
}

impl JsonState {
    fn tensor(self) -> Result<Tensor, FormatError> {
        match self.rows_form {
            None => Err(FormatError::Text(ParseError::Empty)),
            Some(false) => Ok(Tensor { shape: vec![self.values.len()], values: self.values }),
            Some(true) => Ok(Tensor { shape: vec![self.rows, self.cols], values: self.values }),
        }
    }

    /// Appends one JSON number as a finite f32 (value #index counted from 1).
    fn push(&mut self, x: f64, token: impl FnOnce() -> String) -> Result<(), FormatError> {
        if self.values.len() == MAX_VALUES {
            return Err(FormatError::Text(ParseError::TooMany { limit: MAX_VALUES }));
        }
        let v = x as f32;
        if !v.is_finite() {
            return Err(FormatError::Text(ParseError::NonFinite { index: self.values.len() + 1, token: token() }));
        }
        self.values.push(v);
        Ok(())
    }
}

/// Records `e` as the array's error and stops the parse.
fn stop<E: serde::de::Error>(state: &RefCell<JsonState>, e: FormatError) -> E {
    state.borrow_mut().error = Some(e);
    E::custom("stopped")
}

/// The outer array.
struct JsonArray<'a>(&'a RefCell<JsonState>);

impl<'de> DeserializeSeed<'de> for JsonArray<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for JsonArray<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON array")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Element { state: self.0, in_row: false })?.is_some() {}
        Ok(())
    }
}

/// One element: an item of the outer array (`in_row` false: a number for 1-D or a row for 2-D,
/// as the first item decides) or a value of a row (`in_row`: a number).
struct Element<'a> {
    state: &'a RefCell<JsonState>,
    in_row: bool,
}

impl Element<'_> {
    /// An element that is not what its place needs: `kind` names it.
    fn other<E: serde::de::Error>(&self, kind: &str) -> E {
        let e = {
            let s = self.state.borrow();
            match (self.in_row, s.rows_form) {
                (true, _) if kind == "an array" => json_error(format!("row #{} holds an array: only 1-D and 2-D arrays are read (use .npy for more dimensions)", s.rows + 1)),
                (false, Some(true)) => json_error(format!("row #{} is {kind}: a 2-D array holds only arrays of numbers", s.rows + 1)),
                _ => json_error(format!("value #{} is {kind}, not a number", s.values.len() + 1)),
            }
        };
        stop(self.state, e)
    }

    fn number<E: serde::de::Error>(&self, x: f64, token: impl FnOnce() -> String) -> Result<(), E> {
        let mut s = self.state.borrow_mut();
        if !self.in_row {
            if s.rows_form == Some(true) {
                drop(s);
                return Err(self.other("a number"));
            }
            s.rows_form = Some(false);
        }
        let pushed = s.push(x, token);
        drop(s);
        pushed.map_err(|e| stop(self.state, e))
    }

    /// A row of the 2-D form: its values, then its length against the first row's.
    fn row<'de, A: SeqAccess<'de>>(&self, mut seq: A) -> Result<(), A::Error> {
        {
            let mut s = self.state.borrow_mut();
            if s.rows_form == Some(false) {
                drop(s);
                return Err(self.other("an array"));
            }
            s.rows_form = Some(true);
        }
        let before = self.state.borrow().values.len();
        while seq.next_element_seed(Element { state: self.state, in_row: true })?.is_some() {}
        let mut s = self.state.borrow_mut();
        let (len, row) = (s.values.len() - before, s.rows + 1);
        let e = match row {
            1 if len == 0 => Some(json_error("row #1 is empty: a 2-D array needs at least one value per row")),
            1 => {
                s.cols = len;
                None
            }
            _ if len != s.cols => Some(FormatError::Text(ParseError::Ragged { row, len, first: s.cols })),
            _ => None,
        };
        s.rows = row;
        drop(s);
        match e {
            Some(e) => Err(stop(self.state, e)),
            None => Ok(()),
        }
    }
}

impl<'de> DeserializeSeed<'de> for Element<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Element<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a number or an array of numbers")
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<(), E> {
        self.number(v as f64, || v.to_string())
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<(), E> {
        self.number(v as f64, || v.to_string())
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<(), E> {
        self.number(v, || v.to_string())
    }
    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<(), E> {
        Err(self.other("a string"))
    }
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<(), E> {
        Err(self.other("a boolean"))
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        Err(self.other("null"))
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(self.other("an object"))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        match self.in_row {
            true => Err(self.other("an array")),
            false => self.row(seq),
        }
    }
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
