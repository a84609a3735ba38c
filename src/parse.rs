//! Reading numbers that a user typed or pasted.
//!
//! Values are separated by commas, spaces, tabs, semicolons or newlines, each bare or in one pair
//! of quotes (a spreadsheet's CSV may quote every field). A leading `tensor(` or
//! `array(` and its closing parenthesis (with any `, dtype=…` after the last `]`) are dropped, so
//! a printed PyTorch or NumPy array pastes as it is. The shape comes from the brackets, or
//! without brackets from the lines:
//!
//! - no brackets: each line is one row, so lines of equal length give a 2-D tensor
//!   ([lines, values per line]). Lines of unequal length stay one row (a 1-D tensor): a printed
//!   1-D tensor wraps over lines with a shorter last line. [`Parsed::notice`] says so.
//! - brackets nested one deep: one group (`[1, 2, 3]`, also when it wraps over lines) is a 1-D
//!   tensor; several groups (`[1, 2]` on one line, `[3, 4]` on the next) are rows.
//! - brackets nested two deep (JSON `[[1, 2], [3, 4]]`, NumPy's `[[1. 2.]\n [3. 4.]]`, PyTorch's
//!   `tensor([[1., 2.],\n [3., 4.]])`): each inner group is a row, wherever the lines break.
//!
//! Rows given by brackets must all have the first row's length ([`ParseError::Ragged`] names the
//! first row that differs). Deeper nesting, values outside the rows' brackets and unbalanced
//! brackets are errors that say what is read instead. The same rules serve a text file
//! ([`crate::formats::text`]), which reads valid JSON with `serde_json` first.

use std::fmt;

/// Largest number of values accepted from text.
pub const MAX_VALUES: usize = 1 << 20;

#[derive(Clone, Debug, PartialEq)]
pub struct Parsed {
    pub values: Vec<f32>,
    /// [rows, cols] for rows given by brackets or by lines of equal length, else [n].
    pub shape: Vec<usize>,
    /// Set when several lines of unequal length were read as one row: what happened and how to
    /// get a 2-D tensor instead.
    pub notice: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ParseError {
    Empty,
    /// A token that is not a number; `index` counts values from 1.
    NotANumber { index: usize, token: String },
    /// NaN or ±Inf, which cannot be quantized.
    NonFinite { index: usize, token: String },
    TooMany { limit: usize },
    /// Rows given by brackets of unequal length: `row` (from 1) has `len` values, row #1 has `first`.
    Ragged { row: usize, len: usize, first: usize },
    /// Brackets nested deeper than two (a 3-D or higher array).
    TooDeep,
    /// Several `[[…]]` arrays one after another.
    Stacked,
    /// Value `index` stands outside the brackets that make the rows.
    OutsideRow { index: usize },
    /// A `]` without its `[` (`open` false), or a `[` never closed (`open` true).
    Unbalanced { open: bool },
    /// Two commas (or semicolons) with nothing but spaces between them: value `index` is missing.
    /// Reading on would move every later value one place (a CSV's empty field).
    Missing { index: usize },
}

/// `n` and `what`, plural unless n is 1: "1 value", "3 values".
pub fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Empty => write!(f, "no numbers yet: type or paste values separated by commas, spaces or new lines"),
            ParseError::NotANumber { index, token } => write!(f, "value #{index} \"{token}\" is not a number"),
            // "1e40" is a finite number that f32 cannot hold (it reads as ∞); "inf" and "NaN" are not finite.
            ParseError::NonFinite { index, token } if token.parse::<f64>().is_ok_and(f64::is_finite) => {
                write!(f, "value #{index} is {token}: beyond the range of f32 (±3.4e38), the type every value is held in")
            }
            ParseError::NonFinite { index, token } => {
                write!(f, "value #{index} is {token}: only finite numbers can be quantized")
            }
            ParseError::TooMany { limit } => write!(f, "too many values: at most {limit} are accepted"),
            ParseError::Ragged { row, len, first } => write!(
                f,
                "row #{row} has {}, row #1 has {first}: every row of a 2-D tensor needs the same number of values",
                plural(*len, "value")
            ),
            ParseError::TooDeep => write!(
                f,
                "brackets nested more than two deep: only 1-D ([1, 2]) and 2-D ([[1, 2], [3, 4]]) tensors are read as text (use a .npy file for more dimensions)"
            ),
            ParseError::Stacked => write!(
                f,
                "more than one [[…]] array: only one 2-D tensor is read as text (use a .npy file for more dimensions)"
            ),
            ParseError::OutsideRow { index } => {
                write!(f, "value #{index} is outside the rows' brackets: write every row in its own [ … ], or leave the brackets out")
            }
            ParseError::Unbalanced { open: true } => write!(f, "a \"[\" is never closed: every row needs its \"]\""),
            ParseError::Unbalanced { open: false } => write!(f, "a \"]\" has no \"[\" before it"),
            ParseError::Missing { index } => write!(
                f,
                "value #{index} is missing: two commas with nothing between them (write the value, or remove one comma)"
            ),
        }
    }
}

impl std::error::Error for ParseError {}

fn is_separator(c: char) -> bool {
    c == ',' || c == ';' || c.is_whitespace()
}

/// The text without a `tensor(` / `array(` wrapper, its closing parenthesis and any keyword
/// arguments after the last `]` (`, dtype=torch.float16`, `, requires_grad=True`).
fn unwrap(text: &str) -> &str {
    let body = text.trim();
    let Some(inner) = ["tensor(", "array("].iter().find_map(|p| body.strip_prefix(p)) else {
        return body;
    };
    let inner = inner.trim_end().trim_end_matches(')');
    match inner.rfind(']') {
        Some(i) if inner[i + 1..].trim_start().starts_with(',') && inner[i + 1..].contains('=') => &inner[..=i],
        _ => inner,
    }
}

/// Parses `text` into finite f32 values, with the shape described in the module header.
pub fn parse_numbers(text: &str) -> Result<Parsed, ParseError> {
    parse_at_most(text, MAX_VALUES)
}

/// As [`parse_numbers`] with at most `limit` values: the same result for a text of at most
/// `limit` tokens; past them [`ParseError::TooMany`] (even where `parse_numbers` would name a
/// later token that is not a number). It stops at token limit + 1, so a short answer about a long
/// text (does it fit in a link?) costs what reading its first values does.
pub fn parse_at_most(text: &str, limit: usize) -> Result<Parsed, ParseError> {
    let limit = limit.min(MAX_VALUES);
    // A UTF-8 byte-order mark (Excel's "CSV UTF-8" starts with one) is no value.
    let body = unwrap(text.strip_prefix('\u{FEFF}').unwrap_or(text));
    let mut values: Vec<f32> = Vec::new();
    // Values per non-empty line, with the line's number (from 1).
    let mut lines: Vec<(usize, usize)> = Vec::new();
    let mut line = 1;
    // The values directly inside each open bracket, innermost last.
    let mut open: Vec<usize> = Vec::new();
    // Values directly inside each closed group, by its depth (1 or 2).
    let mut groups: [Vec<usize>; 2] = [Vec::new(), Vec::new()];
    let mut deepest = 0;
    // The first value (counted from 1) at depth 0, 1 and 2.
    let mut first_at = [None::<usize>; 3];

    let mut push = |token: &str, values: &mut Vec<f32>, open: &mut Vec<usize>, lines: &mut Vec<(usize, usize)>, line: usize| -> Result<(), ParseError> {
        let index = values.len() + 1;
        if values.len() >= limit {
            return Err(ParseError::TooMany { limit });
        }
        // A spreadsheet's CSV may quote every field ("1.5","2.5"): one pair of quotes around a
        // number is no part of it.
        let bare = ['"', '\''].iter().find_map(|&q| token.strip_prefix(q)?.strip_suffix(q)).unwrap_or(token);
        let v: f32 = bare.parse().map_err(|_| ParseError::NotANumber { index, token: short(token) })?;
        if !v.is_finite() {
            return Err(ParseError::NonFinite { index, token: short(token) });
        }
        values.push(v);
        first_at[open.len()].get_or_insert(index);
        if let Some(n) = open.last_mut() {
            *n += 1;
        }
        match lines.last_mut() {
            Some((l, n)) if *l == line => *n += 1,
            _ => lines.push((line, 1)),
        }
        Ok(())
    };

    let mut start = None::<usize>;
    // A comma or semicolon since the last value, bracket or line break: a second one is an
    // empty field. A trailing comma (`[1, 2,]`, `1,2,` at a line's end) stays allowed.
    let mut comma = false;
    // The first missing value, reported once the text is known to hold some (",," alone is empty).
    let mut missing = None::<usize>;
    for (i, c) in body.char_indices() {
        let structural = is_separator(c) || c == '[' || c == ']';
        if !structural {
            start.get_or_insert(i);
            continue;
        }
        if let Some(s) = start.take() {
            push(&body[s..i], &mut values, &mut open, &mut lines, line)?;
            comma = false;
        }
        match c {
            ',' | ';' if comma => {
                missing.get_or_insert(values.len() + 1);
            }
            ',' | ';' => comma = true,
            // A line ends at "\n", "\r\n" or a lone "\r" (classic Mac OS line ends).
            '\n' => {
                line += 1;
                comma = false;
            }
            '\r' if body.as_bytes().get(i + 1) != Some(&b'\n') => {
                line += 1;
                comma = false;
            }
            '[' => {
                if open.len() == 2 {
                    return Err(ParseError::TooDeep);
                }
                open.push(0);
                deepest = deepest.max(open.len());
                comma = false;
            }
            ']' => {
                comma = false;
                let depth = open.len();
                let n = open.pop().ok_or(ParseError::Unbalanced { open: false })?;
                groups[depth - 1].push(n);
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        push(&body[s..], &mut values, &mut open, &mut lines, line)?;
    }
    if !open.is_empty() {
        return Err(ParseError::Unbalanced { open: true });
    }
    if values.is_empty() {
        return Err(ParseError::Empty);
    }
    if let Some(index) = missing {
        return Err(ParseError::Missing { index });
    }
    // With brackets, every value sits in a row: at the deepest level.
    if let Some(index) = first_at[..deepest].iter().flatten().min() {
        return Err(ParseError::OutsideRow { index: *index });
    }
    let rows: &[usize] = match deepest {
        0 => return Ok(by_lines(values, &lines)),
        1 => &groups[0],
        _ => {
            if groups[0].len() > 1 {
                return Err(ParseError::Stacked);
            }
            &groups[1]
        }
    };
    if deepest == 1 && rows.len() == 1 {
        let n = values.len();
        return Ok(Parsed { values, shape: vec![n], notice: None });
    }
    if let Some((r, &len)) = rows.iter().enumerate().find(|&(_, &len)| len != rows[0]) {
        return Err(ParseError::Ragged { row: r + 1, len, first: rows[0] });
    }
    Ok(Parsed { values, shape: vec![rows.len(), rows[0]], notice: None })
}

/// Text without brackets: one row per line when the lines have equal length, else one row.
fn by_lines(values: Vec<f32>, lines: &[(usize, usize)]) -> Parsed {
    let n = values.len();
    let Some(&(_, first)) = lines.first() else {
        return Parsed { values, shape: vec![n], notice: None };
    };
    match lines.iter().find(|&&(_, len)| len != first) {
        None if lines.len() > 1 => Parsed { values, shape: vec![lines.len(), first], notice: None },
        None => Parsed { values, shape: vec![n], notice: None },
        Some(&(line, len)) => {
            let notice = format!(
                "Line {line} has {}, line {} has {first}: the lines were read as one row of {n} values (lines of equal length give a 2-D tensor).",
                plural(len, "value"),
                lines[0].0
            );
            Parsed { values, shape: vec![n], notice: Some(notice) }
        }
    }
}

/// A token cut to 24 characters for messages ([`crate::clip::clip`]).
fn short(token: &str) -> String {
    crate::clip::clip(token, 24)
}

/// Formats values for a text box or a share link: the shortest text that
/// parses back to the same f32, comma separated.
pub fn format_numbers(values: &[f32]) -> String {
    // 1e-30, not thirty-one digits of 0.000…1; both read back to the same f32.
    values.iter().map(|&v| crate::decimal::short_text(v)).collect::<Vec<_>>().join(", ")
}

/// Formats values of `shape` for the text box so that [`parse_numbers`] reads back the same values
/// and shape: [rows, cols] as one line per row (one row as `[[…]]`), anything else on one line.
pub fn format_rows(values: &[f32], shape: &[usize]) -> String {
    match *shape {
        [1, cols] if cols == values.len() => format!("[[{}]]", format_numbers(values)),
        [rows, cols] if rows > 1 && cols > 0 && rows * cols == values.len() => {
            values.chunks(cols).map(format_numbers).collect::<Vec<_>>().join("\n")
        }
        _ => format_numbers(values),
    }
}
