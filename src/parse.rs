//! Reading numbers that a user typed or pasted.
//!
//! Values are separated by commas, spaces, tabs, semicolons or newlines.
//! Square brackets are ignored, so a printed `tensor([ 0.6004, -1.0151 ])`
//! or a JSON array pastes as it is. Each line is one row, so a 2-D paste
//! keeps its shape when every non-empty line has the same length.

use std::fmt;

/// Largest number of values accepted from text.
pub const MAX_VALUES: usize = 1 << 20;

#[derive(Clone, Debug, PartialEq)]
pub struct Parsed {
    pub values: Vec<f32>,
    /// [rows, cols] when the text has several lines of equal length, else [n].
    pub shape: Vec<usize>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ParseError {
    Empty,
    /// A token that is not a number; `index` counts values from 1.
    NotANumber { index: usize, token: String },
    /// NaN or ±Inf, which cannot be quantized.
    NonFinite { index: usize, token: String },
    TooMany { limit: usize },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Empty => write!(f, "no numbers yet: type or paste values separated by commas, spaces or new lines"),
            ParseError::NotANumber { index, token } => write!(f, "value #{index} \"{token}\" is not a number"),
            ParseError::NonFinite { index, token } => {
                write!(f, "value #{index} is {token}: only finite numbers can be quantized")
            }
            ParseError::TooMany { limit } => write!(f, "too many values: at most {limit} are accepted"),
        }
    }
}

impl std::error::Error for ParseError {}

fn is_separator(c: char) -> bool {
    c == ',' || c == ';' || c == '[' || c == ']' || c.is_whitespace()
}

/// Parses `text` into finite f32 values, with the shape described above.
pub fn parse_numbers(text: &str) -> Result<Parsed, ParseError> {
    // Strip a leading `tensor(` / `array(` wrapper and its closing parenthesis.
    let body = text.trim();
    let body = ["tensor(", "array("]
        .iter()
        .find_map(|p| body.strip_prefix(p).map(|b| b.trim_end().trim_end_matches(')')))
        .unwrap_or(body);
    let mut values = Vec::new();
    let mut row_lens = Vec::new();
    for line in body.lines() {
        let before = values.len();
        for token in line.split(is_separator).filter(|t| !t.is_empty()) {
            let index = values.len() + 1;
            if values.len() >= MAX_VALUES {
                return Err(ParseError::TooMany { limit: MAX_VALUES });
            }
            let v: f32 = token.parse().map_err(|_| ParseError::NotANumber { index, token: short(token) })?;
            if !v.is_finite() {
                return Err(ParseError::NonFinite { index, token: short(token) });
            }
            values.push(v);
        }
        if values.len() > before {
            row_lens.push(values.len() - before);
        }
    }
    if values.is_empty() {
        return Err(ParseError::Empty);
    }
    let shape = if row_lens.len() > 1 && row_lens.iter().all(|&l| l == row_lens[0]) {
        vec![row_lens.len(), row_lens[0]]
    } else {
        vec![values.len()]
    };
    Ok(Parsed { values, shape })
}

/// A token cut to 24 characters for messages.
fn short(token: &str) -> String {
    let mut s: String = token.chars().take(24).collect();
    if token.chars().count() > 24 {
        s.push('…');
    }
    s
}

/// Formats values for a text box or a share link: the shortest text that
/// parses back to the same f32, comma separated.
pub fn format_numbers(values: &[f32]) -> String {
    values.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", ")
}
