//! NumPy `.npy` files: any float dtype (f2, f4, f8), the integer dtypes and
//! bool, either byte order, C or Fortran order, any shape. Values become f32
//! (f8 and 64-bit integers are rounded to the nearest f32).

use npyz::{DType, NpyFile, Order, TypeChar, WriterBuilder};

use super::{FormatError, Tensor};

/// Largest `.npy` accepted: 256 MiB.
pub const MAX_NPY_BYTES: usize = 256 << 20;

const MAGIC: &[u8] = b"\x93NUMPY";

fn malformed(e: impl std::fmt::Display) -> FormatError {
    FormatError::Malformed { format: ".npy", message: e.to_string() }
}

/// npyz's error for a header that does not parse is its Python-literal parser's drawing ("could
/// not parse Python expression: syntax error:  --> 1:54 | … | ^--- | = expected value"): said
/// as where the header stops being a dict literal and what was expected there.
fn header_error(e: impl std::fmt::Display) -> FormatError {
    let m = e.to_string();
    if !m.contains("could not parse Python expression") {
        return malformed(m);
    }
    let column = m.split_once(" --> ").and_then(|(_, rest)| rest.split_whitespace().next()).and_then(|at| at.split_once(':')).map(|(_, c)| c.to_string());
    let expected = m.lines().rev().find_map(|l| l.trim().strip_prefix("= ")).map(|x| crate::clip::clip(x, 160));
    let at = column.map_or(String::new(), |c| format!(" at character {c}"));
    let what = expected.map_or(String::new(), |x| format!(" ({x})"));
    malformed(format!("the header is not a Python dict literal as NumPy writes it: it stops reading{at}{what}"))
}

/// Most values a `.npy` file is converted to: 64 Mi (256 MiB of f32), so a 256 MiB file of
/// 1-byte values cannot become 1 GiB.
pub const MAX_NPY_VALUES: usize = MAX_NPY_BYTES / 4;

/// Reads a `.npy` file from its bytes.
pub fn read_npy(bytes: &[u8]) -> Result<Tensor, FormatError> {
    read_npy_limited(bytes, MAX_NPY_VALUES)
}

/// [`read_npy`] converting at most `max_values` values (checked from the header, before any
/// allocation).
pub fn read_npy_limited(bytes: &[u8], max_values: usize) -> Result<Tensor, FormatError> {
    if bytes.len() > MAX_NPY_BYTES {
        return Err(FormatError::TooLarge { bytes: bytes.len(), limit: MAX_NPY_BYTES });
    }
    let Header { npy, shape, count, ts, item } = read_header(bytes, max_values)?;
    // The header's shape must match the body before anything is allocated.
    let body = bytes.len().saturating_sub(header_len(bytes)?);
    if count.checked_mul(item).is_none_or(|need| need > body) {
        return Err(FormatError::ShapeMismatch { expected: count, found: body / item.max(1) });
    }
    let order = npy.order();
    let values: Vec<f32> = match (ts.type_char(), item) {
        (TypeChar::Float, 2) => convert(npy.into_vec::<half::f16>(), |v| v.to_f32())?,
        (TypeChar::Float, 4) => npy.into_vec::<f32>().map_err(malformed)?,
        (TypeChar::Float, 8) => {
            let wide = npy.into_vec::<f64>().map_err(malformed)?;
            // A finite f64 past f32's range would read as ∞: named with its own value, as typed text's is.
            if let Some(i) = wide.iter().position(|&v| v.is_finite() && (v as f32).is_infinite()) {
                return Err(FormatError::Text(crate::parse::ParseError::NonFinite { index: i + 1, token: crate::decimal::short_text(wide[i]) }));
            }
            wide.into_iter().map(|v| v as f32).collect()
        }
        (TypeChar::Int, 1) => convert(npy.into_vec::<i8>(), |v| v as f32)?,
        (TypeChar::Int, 2) => convert(npy.into_vec::<i16>(), |v| v as f32)?,
        (TypeChar::Int, 4) => convert(npy.into_vec::<i32>(), |v| v as f32)?,
        (TypeChar::Int, _) => convert(npy.into_vec::<i64>(), |v| v as f32)?,
        (TypeChar::Uint, 1) => convert(npy.into_vec::<u8>(), |v| v as f32)?,
        (TypeChar::Uint, 2) => convert(npy.into_vec::<u16>(), |v| v as f32)?,
        (TypeChar::Uint, 4) => convert(npy.into_vec::<u32>(), |v| v as f32)?,
        (TypeChar::Uint, _) => convert(npy.into_vec::<u64>(), |v| v as f32)?,
        _ => convert(npy.into_vec::<bool>(), |v| v as u8 as f32)?,
    };
    if values.len() != count {
        return Err(FormatError::ShapeMismatch { expected: count, found: values.len() });
    }
    let values = match order {
        Order::C => values,
        Order::Fortran => fortran_to_c(&values, &shape),
    };
    Ok(Tensor { shape, values })
}

/// What a `.npy` header declares, checked: the shape, its count (at most `max_values`) and a dtype
/// qplay reads, `item` bytes a value.
struct Header<'a> {
    npy: NpyFile<&'a [u8]>,
    shape: Vec<usize>,
    count: usize,
    ts: npyz::TypeStr,
    item: usize,
}

fn read_header(bytes: &[u8], max_values: usize) -> Result<Header<'_>, FormatError> {
    if !bytes.starts_with(MAGIC) {
        return Err(FormatError::BadMagic { format: ".npy" });
    }
    // npyz allocates the header's claimed length before reading it: check it against the file first.
    if header_len(bytes)? > bytes.len() {
        return Err(malformed("the header is longer than the file"));
    }
    let header = &bytes[header_start(bytes)?..header_len(bytes)?.min(bytes.len())];
    check_header_nesting(header)?;
    check_shape_product(header)?;
    let npy = NpyFile::new(bytes).map_err(header_error)?;
    // The dtype first: an array qplay does not read is named as such, whatever its size.
    let DType::Plain(ts) = npy.dtype() else {
        return Err(FormatError::UnsupportedDtype { dtype: describe(&npy.dtype()) });
    };
    let item = ts.num_bytes().unwrap_or(0);
    let supported = matches!(
        (ts.type_char(), item),
        (TypeChar::Float, 2 | 4 | 8) | (TypeChar::Int | TypeChar::Uint, 1 | 2 | 4 | 8) | (TypeChar::Bool, 1)
    );
    if !supported {
        return Err(FormatError::UnsupportedDtype { dtype: ts.to_string() });
    }
    // try_from, not `as`: on wasm32 a dimension of 2^32 + 1 would read as 1.
    let shape: Vec<usize> = npy
        .shape()
        .iter()
        .map(|&d| usize::try_from(d))
        .collect::<Result<_, _>>()
        .map_err(|_| malformed(format!("the shape {:?} has a dimension that does not fit this platform's sizes", npy.shape())))?;
    let count = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or_else(|| malformed(format!("the shape {shape:?} overflows: it holds more values than a size can count")))?;
    if count > max_values {
        return Err(FormatError::TooManyValues { count, limit: max_values });
    }
    Ok(Header { npy, shape, count, ts, item })
}

/// The bytes a `.npy` file takes by its header (magic, version, header, then count × item), read
/// from its first bytes (at least the whole header) with the header's checks: a `.npz` member is
/// inflated only that far.
pub(super) fn declared_bytes(head: &[u8], max_values: usize) -> Result<usize, FormatError> {
    let h = read_header(head, max_values)?;
    h.count.checked_mul(h.item).and_then(|b| b.checked_add(header_len(head).ok()?)).ok_or_else(|| malformed(format!("the shape {:?} overflows: it holds more bytes than a size can count", h.shape)))
}

fn convert<T>(v: std::io::Result<Vec<T>>, f: impl Fn(T) -> f32) -> Result<Vec<f32>, FormatError> {
    Ok(v.map_err(malformed)?.into_iter().map(f).collect())
}

/// Bytes taken by the magic, version and header of a `.npy` file.
pub(super) fn header_len(bytes: &[u8]) -> Result<usize, FormatError> {
    let short = || malformed("the header is truncated");
    match bytes.get(6).ok_or_else(short)? {
        1 => Ok(10 + u16::from_le_bytes([*bytes.get(8).ok_or_else(short)?, *bytes.get(9).ok_or_else(short)?]) as usize),
        2 | 3 => {
            let b = bytes.get(8..12).ok_or_else(short)?;
            // In u64: 12 + a u32 wraps a 32-bit usize (wasm32) to a length that looks short.
            let len = 12 + u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u64;
            usize::try_from(len).map_err(|_| malformed("the header is longer than the file"))
        }
        v => Err(malformed(format!("unknown format version {v}"))),
    }
}

/// Where the header's text starts: after the magic, the version and the length field.
fn header_start(bytes: &[u8]) -> Result<usize, FormatError> {
    Ok(if header_len(bytes)? >= 12 && matches!(bytes.get(6), Some(2 | 3)) { 12 } else { 10 })
}

/// A Python int literal (decimal, 0x / 0o / 0b, `_` between digits), when it fits in u64. Python
/// 2's `L` suffix is stripped so that its digits are checked too; npyz then refuses the suffix.
fn python_uint(token: &str) -> Option<u64> {
    let t = token.trim_end_matches(['L', 'l']).replace('_', "");
    let (digits, radix) = match t.get(..2) {
        Some("0x" | "0X") => (&t[2..], 16),
        Some("0o" | "0O") => (&t[2..], 8),
        Some("0b" | "0B") => (&t[2..], 2),
        _ => (&t[..], 10),
    };
    u64::from_str_radix(digits, radix).ok()
}

/// npyz multiplies the header's `shape` in u64 unchecked, which panics on overflow where
/// overflow checks are on (a fuzzed header with shape (13358428034712644262, 3)) and wraps
/// where they are off: each `shape` key's tuple is read first, and dimensions that are not
/// whole numbers of u64, or whose running product passes u64 in either direction, are refused.
/// One pass over the header.
fn check_shape_product(header: &[u8]) -> Result<(), FormatError> {
    let text = String::from_utf8_lossy(header);
    for key in ["'shape'", "\"shape\""] {
        let mut rest = &text[..];
        while let Some(at) = rest.find(key) {
            rest = &rest[at + key.len()..];
            let after = rest.trim_start().strip_prefix(':').map(str::trim_start);
            let Some(tuple) = after.and_then(|a| a.strip_prefix(['(', '['])) else { continue };
            let body = &tuple[..tuple.find([')', ']']).unwrap_or(tuple.len())];
            let mut dims = Vec::new();
            for token in body.split([',', ' ', '\t', '\n', '\r', '+', '-']).filter(|t| !t.is_empty()) {
                dims.push(python_uint(token).ok_or_else(|| malformed(format!("the shape's dimension {token:?} is not a whole number below 2^64")))?);
            }
            // npyz folds the shape front to back (the count, Fortran strides) and back to front
            // (C strides): neither may overflow, even where a later 0 would make the count 0.
            let fits = |p: Option<u64>, &d: &u64| p?.checked_mul(d);
            if dims.iter().fold(Some(1), fits).is_none() || dims.iter().rev().fold(Some(1), fits).is_none() {
                return Err(malformed(format!("the shape {dims:?} overflows")));
            }
        }
    }
    Ok(())
}

/// Longest header text accepted (NumPy writes under 200 bytes even for record dtypes of
/// dozens of fields).
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// Deepest nesting of `{`, `[` and `(` outside quotes: the dict, a record dtype's list, a field
/// tuple and a sub-array shape.
pub const MAX_HEADER_DEPTH: usize = 4;

/// The header is a Python dict literal; npyz's parser (py_literal) backtracks exponentially on
/// deep nesting (a 64-byte header of twelve `{` took longer than 30 s), so the nesting is
/// checked first, in one linear pass: one `{` in all, at most [`MAX_HEADER_DEPTH`] levels.
fn check_header_nesting(header: &[u8]) -> Result<(), FormatError> {
    if header.len() > MAX_HEADER_BYTES {
        return Err(malformed(format!("the header is {} bytes; the limit is {MAX_HEADER_BYTES}", header.len())));
    }
    let (mut quote, mut depth, mut braces) = (None::<u8>, 0usize, 0usize);
    for &b in header {
        match (quote, b) {
            (Some(q), _) if b == q => quote = None,
            (Some(_), _) => {}
            (None, b'\'' | b'"') => quote = Some(b),
            (None, b'{' | b'[' | b'(') => {
                braces += usize::from(b == b'{');
                depth += 1;
                if braces > 1 {
                    return Err(malformed("the header is not one dict (a second '{')"));
                }
                if depth > MAX_HEADER_DEPTH {
                    return Err(malformed(format!("the header nests deeper than {MAX_HEADER_DEPTH} levels")));
                }
            }
            (None, b'}' | b']' | b')') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Reorders column-major (Fortran) data into row-major (C) order.
/// Element (i0, …, ik) sits at Σ i_j · Π_{l<j} d_l in Fortran order.
fn fortran_to_c(values: &[f32], shape: &[usize]) -> Vec<f32> {
    let mut fstrides = vec![1usize; shape.len()];
    for j in 1..shape.len() {
        fstrides[j] = fstrides[j - 1] * shape[j - 1];
    }
    let mut out = Vec::with_capacity(values.len());
    let mut index = vec![0usize; shape.len()];
    for _ in 0..values.len() {
        out.push(values[index.iter().zip(&fstrides).map(|(i, s)| i * s).sum::<usize>()]);
        // Advance the C-order multi-index (last axis fastest).
        for j in (0..shape.len()).rev() {
            index[j] += 1;
            if index[j] < shape[j] {
                break;
            }
            index[j] = 0;
        }
    }
    out
}

/// Writes f32 values with `shape` as a little-endian `<f4` C-order `.npy`.
pub fn write_npy_f32(values: &[f32], shape: &[usize]) -> Vec<u8> {
    write_with(values, shape)
}

/// Writes integers with `shape` in the narrowest dtype that holds [lo, hi]:
/// i1/u1 for 8 bits and less, i2/u2 up to 16 bits, i4 otherwise.
pub fn write_npy_int(values: &[i32], shape: &[usize], lo: i32, hi: i32) -> Vec<u8> {
    if lo >= i8::MIN as i32 && hi <= i8::MAX as i32 {
        write_with(&values.iter().map(|&v| v as i8).collect::<Vec<_>>(), shape)
    } else if lo >= 0 && hi <= u8::MAX as i32 {
        write_with(&values.iter().map(|&v| v as u8).collect::<Vec<_>>(), shape)
    } else if lo >= i16::MIN as i32 && hi <= i16::MAX as i32 {
        write_with(&values.iter().map(|&v| v as i16).collect::<Vec<_>>(), shape)
    } else if lo >= 0 && hi <= u16::MAX as i32 {
        write_with(&values.iter().map(|&v| v as u16).collect::<Vec<_>>(), shape)
    } else {
        write_with(values, shape)
    }
}

fn write_with<T: npyz::AutoSerialize + Copy>(values: &[T], shape: &[usize]) -> Vec<u8> {
    let mut buf = Vec::new();
    let shape: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
    let mut w = npyz::WriteOptions::new()
        .default_dtype()
        .shape(&shape)
        .writer(&mut buf)
        .begin_nd()
        .expect("writing to a Vec cannot fail");
    w.extend(values.iter().copied()).expect("writing to a Vec cannot fail");
    w.finish().expect("the shape matches the values");
    buf
}

/// A dtype as NumPy would name it, for messages: `<f4`, `a record of fields a: <f4, b: <i4`,
/// `a subarray of 3 × <f4` (never Rust's debug form).
fn describe(d: &DType) -> String {
    match d {
        DType::Plain(ts) => ts.to_string(),
        DType::Array(n, inner) => match &**inner {
            DType::Plain(ts) => format!("a subarray of {n} × {ts}"),
            _ => format!("a subarray of {n} × a nested dtype"),
        },
        DType::Record(fields) => {
            let list: Vec<String> = fields
                .iter()
                .take(8)
                .map(|f| match &f.dtype {
                    DType::Plain(ts) => format!("{}: {ts}", f.name),
                    _ => format!("{}: (nested)", f.name),
                })
                .collect();
            let more = if fields.len() > 8 { format!(", … ({} fields)", fields.len()) } else { String::new() };
            format!("a record (structured array) of fields {}{more}", list.join(", "))
        }
    }
}
