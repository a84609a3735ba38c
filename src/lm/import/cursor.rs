//! A little-endian reader over a file's bytes that never reads past the end: every
//! read is checked against what is left and fails with a typed error that names the
//! format, the field and the offset. Nothing is copied: slices borrow the file.

use crate::formats::FormatError;
use crate::lm::LmError;

/// `LmError::Format(Malformed)` for `format`.
pub(crate) fn malformed(format: &'static str, message: impl Into<String>) -> LmError {
    LmError::Format(FormatError::Malformed { format, message: message.into() })
}

/// A position in a borrowed byte slice.
pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    format: &'static str,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(bytes: &'a [u8], format: &'static str) -> Cursor<'a> {
        Cursor { bytes, pos: 0, format }
    }

    /// A cursor that starts at `pos` (clamped to the end).
    pub(crate) fn at(bytes: &'a [u8], pos: usize, format: &'static str) -> Cursor<'a> {
        Cursor { bytes, pos: pos.min(bytes.len()), format }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The error for this format.
    pub(crate) fn error(&self, message: impl Into<String>) -> LmError {
        malformed(self.format, message)
    }

    /// The bytes from `start` (a position already passed) to the current position.
    pub(crate) fn passed(&self, start: usize) -> &'a [u8] {
        &self.bytes[start.min(self.pos)..self.pos]
    }

    /// The next `n` bytes (n is a u64 straight from the file: checked before any use).
    pub(crate) fn take(&mut self, n: u64, what: &str) -> Result<&'a [u8], LmError> {
        let left = self.remaining();
        match usize::try_from(n) {
            Ok(n) if n <= left => {
                let s = &self.bytes[self.pos..self.pos + n];
                self.pos += n;
                Ok(s)
            }
            _ => Err(self.error(format!(
                "the file is truncated: {what} needs {n} bytes at offset {}, only {left} are left",
                self.pos
            ))),
        }
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], LmError> {
        let s = self.take(N as u64, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    pub(crate) fn u8(&mut self, what: &str) -> Result<u8, LmError> {
        Ok(self.array::<1>(what)?[0])
    }

    pub(crate) fn u16(&mut self, what: &str) -> Result<u16, LmError> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }

    pub(crate) fn u32(&mut self, what: &str) -> Result<u32, LmError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    pub(crate) fn i32(&mut self, what: &str) -> Result<i32, LmError> {
        Ok(i32::from_le_bytes(self.array(what)?))
    }

    pub(crate) fn u64(&mut self, what: &str) -> Result<u64, LmError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    pub(crate) fn f32(&mut self, what: &str) -> Result<f32, LmError> {
        Ok(f32::from_le_bytes(self.array(what)?))
    }
}

/// Little-endian f32 values of `bytes` (a multiple of 4 bytes, checked by the caller).
pub(crate) fn f32_values(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// Fails with [`LmError::NonFinite`] at the first NaN or infinite value of tensor `name`.
pub(crate) fn check_finite(name: &str, values: &[f32]) -> Result<(), LmError> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(LmError::NonFinite { tensor: name.to_string(), index }),
        None => Ok(()),
    }
}

/// A name from the file cut to 80 characters for a message ([`crate::clip::clip`]).
pub(crate) fn clip(name: &str) -> String {
    crate::clip::clip(name, 80)
}
