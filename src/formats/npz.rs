//! NumPy `.npz` archives: a zip of `.npy` members, as `np.savez` (stored) and
//! `np.savez_compressed` (deflated) write them.
//!
//! ```text
//! archive.npz = zip { "<name>.npy": .npy bytes, … }      np.load(f)["<name>"]
//! ```
//!
//! Every member is read, in archive order, by its name without the `.npy` suffix (NumPy's key);
//! each member is a `.npy` read by [`super::npy::read_npy_limited`] (every dtype and order it takes).
//! A member that is not a `.npy` array (a `README.txt`, or bytes without the `.npy` magic) is
//! named and passed over, as `np.load` hands such a member back as bytes beside the arrays.
//! Zip parsing and inflating are the `zip` crate's.
//!
//! Limits: the archive itself is at most [`MAX_NPZ_BYTES`]; the members' decompressed sizes add up
//! to at most [`MAX_NPZ_DECOMPRESSED`]; at most [`MAX_NPZ_MEMBERS`] members. A member is inflated
//! into memory only as far as its `.npy` header declares (whatever the zip's headers claim), and
//! not at all when that passes the limit: a bomb that declares its size stops at its header. Bytes
//! after the declared values are inflated into a count only, within the limit, so that the
//! member's CRC-32 is checked.

use std::io::{Cursor, Read, Write};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

use super::npy::{declared_bytes, header_len, read_npy_limited, write_npy_f32, MAX_HEADER_BYTES, MAX_NPY_VALUES};
use super::{FormatError, Tensor};

/// Largest `.npz` archive accepted: 256 MiB.
pub const MAX_NPZ_BYTES: usize = 256 << 20;
/// Largest total of the members' decompressed bytes: 512 MiB.
pub const MAX_NPZ_DECOMPRESSED: usize = 512 << 20;
/// Most members read from one archive.
pub const MAX_NPZ_MEMBERS: usize = 4096;

fn malformed(message: impl Into<String>) -> FormatError {
    FormatError::Malformed { format: ".npz", message: message.into() }
}

/// Reads every array of an `.npz` archive: (name, tensor) in archive order. An array of a dtype
/// qplay does not read is an error; [`read_npz_readable`] passes over it.
pub fn read_npz(bytes: &[u8]) -> Result<Vec<(String, Tensor)>, FormatError> {
    read_npz_limited(bytes, MAX_NPZ_DECOMPRESSED)
}

/// [`read_npz`] with another limit on the total decompressed bytes.
pub fn read_npz_limited(bytes: &[u8], max_decompressed: usize) -> Result<Vec<(String, Tensor)>, FormatError> {
    let NpzContents { arrays, unread, not_arrays } = read_npz_readable(bytes, max_decompressed)?;
    if let Some(name) = not_arrays.into_iter().next() {
        return Err(malformed(format!("member \"{name}\" is not a .npy array")));
    }
    match unread.into_iter().next() {
        Some((key, dtype)) => Err(in_member(&key, FormatError::UnsupportedDtype { dtype })),
        None => Ok(arrays),
    }
}

/// A member not read: its name and why (its dtype).
pub type Unread = (String, String);

/// What an archive holds.
#[derive(Debug, Default)]
pub struct NpzContents {
    /// (key, tensor) of each array read, in archive order.
    pub arrays: Vec<(String, Tensor)>,
    /// (key, dtype) of each array of a dtype qplay does not read.
    pub unread: Vec<Unread>,
    /// The names of the members that are not `.npy` arrays (np.load gives their bytes).
    pub not_arrays: Vec<String>,
}

/// The arrays of an `.npz` archive that qplay reads, (name, dtype) of those it does not
/// (strings, complex, objects, records…), which are not inflated past their header, and the
/// names of members that are not arrays at all: `np.load` reads each member on its own too.
/// Any other fault of a member (corrupt, cut short, past a limit) fails the whole archive.
pub fn read_npz_readable(bytes: &[u8], max_decompressed: usize) -> Result<NpzContents, FormatError> {
    if bytes.len() > MAX_NPZ_BYTES {
        return Err(FormatError::TooLarge { bytes: bytes.len(), limit: MAX_NPZ_BYTES });
    }
    if !bytes.starts_with(b"PK") {
        return Err(FormatError::BadMagic { format: ".npz (zip)" });
    }
    check_zip_end(bytes).map_err(malformed)?;
    let mut archive = ZipArchive::new(Cursor::new(bytes)).map_err(|e| malformed(format!("not a readable zip archive: {e}")))?;
    if archive.len() > MAX_NPZ_MEMBERS {
        return Err(malformed(format!("{} members; at most {MAX_NPZ_MEMBERS} are read", archive.len())));
    }
    let mut left = max_decompressed;
    // The f32 values of all members together take at most `max_decompressed` bytes too: the
    // byte count alone lets 1-byte members (bool, u8) grow fourfold.
    let mut values_left = max_decompressed / 4;
    let mut arrays = Vec::with_capacity(archive.len());
    let mut unread = Vec::new();
    let mut not_arrays = Vec::new();
    for i in 0..archive.len() {
        // Stored and deflated members are read (np.savez, np.savez_compressed); another method
        // is named, not given as the zip crate's number.
        if let Ok(raw) = archive.by_index_raw(i) {
            let method = raw.compression();
            if !matches!(method, CompressionMethod::Stored | CompressionMethod::Deflated) {
                let name = raw.name().map(|n| n.into_owned()).unwrap_or_else(|_| format!("#{}", i + 1));
                return Err(malformed(format!(
                    "member \"{name}\" is compressed with {method}: qplay reads stored and deflated members, as np.savez and np.savez_compressed write them"
                )));
            }
        }
        let mut member = archive.by_index(i).map_err(|e| malformed(format!("member #{}: {e}", i + 1)))?;
        if member.is_dir() {
            continue;
        }
        let name = member.name().map_err(|e| malformed(format!("member #{}: {e}", i + 1)))?.into_owned();
        let Some(key) = name.strip_suffix(".npy") else {
            not_arrays.push(name);
            continue;
        };
        let key = key.to_string();
        // The zip's sizes are only hints. The member is inflated as far as its .npy header says
        // it reaches (NumPy reads no further either) and no further than the limit: first the
        // version and header length, then the header, then the values it declares.
        let max_values = values_left.min(MAX_NPY_VALUES);
        let mut data = Vec::new();
        let mut inflate_to = |data: &mut Vec<u8>, end: usize| {
            let more = end.saturating_sub(data.len()) as u64;
            (&mut member).take(more).read_to_end(data).map(drop).map_err(|e| malformed(format!("member \"{name}\": {e}")))
        };
        inflate_to(&mut data, 12)?;
        // np.load hands a member without the magic back as bytes; this reader passes it over.
        if !data.starts_with(b"\x93NUMPY") {
            not_arrays.push(name);
            continue;
        }
        let header_end = header_len(&data).map_err(|e| in_member(&key, e))?;
        if header_end > MAX_HEADER_BYTES + 12 {
            return Err(in_member(&key, malformed(format!("the header is {header_end} bytes; the limit is {MAX_HEADER_BYTES}"))));
        }
        inflate_to(&mut data, header_end)?;
        let end = if data.len() == header_end {
            match declared_bytes(&data, MAX_NPY_VALUES) {
                Ok(end) => end,
                Err(FormatError::UnsupportedDtype { dtype }) => {
                    unread.push((key, dtype));
                    continue;
                }
                Err(e) => return Err(in_member(&key, e)),
            }
        } else {
            data.len()
        };
        if end > left {
            return Err(FormatError::DecompressedTooLarge { member: name, bytes: bytes.len(), limit: max_decompressed });
        }
        inflate_to(&mut data, end)?;
        left -= data.len();
        // Whatever follows the declared values is inflated too, into nothing but a count (within
        // the limit): at the member's end the zip crate checks its CRC-32, so a corrupt member
        // is an error, not wrong values, and the trailing bytes are then dropped, as np.load
        // drops them.
        let trailing = std::io::copy(&mut (&mut member).take(left as u64 + 1), &mut std::io::sink()).map_err(|e| malformed(format!("member \"{name}\": {e}")))?;
        if trailing > left as u64 {
            return Err(FormatError::DecompressedTooLarge { member: name, bytes: bytes.len(), limit: max_decompressed });
        }
        left -= trailing as usize;
        let tensor = read_npy_limited(&data, max_values).map_err(|e| in_member(&key, e))?;
        values_left -= tensor.values.len();
        arrays.push((key, tensor));
    }
    Ok(NpzContents { arrays, unread, not_arrays })
}

/// The end of the archive, checked before the zip crate reads it. Without an end record (its
/// signature in the last 64 KiB + 22 bytes, the comment's limit) the archive is cut short, or
/// not a zip: said so, not as the crate's "Could not find EOCD".
///
/// The zip64 end: the crate trusts the record a zip64 locator points at;
/// when that record is missing or inconsistent it searches the file for another, every record
/// signature in it (86 s natively for 256 MiB of them), and it reserves room for as many members
/// as the record declares before reading any (160 bytes each: 160 MiB for 2^20 declared in a
/// 49 MB file). So every zip64 locator (20 bytes before an end record in the file's last 64 KiB,
/// the comment's limit, whose counts or offsets say zip64) must point at a single-disk record
/// that ends at the locator and declares at most [`MAX_NPZ_MEMBERS`] members, 46 bytes each at
/// least, in a directory that ends before the record. Record layout (APPNOTE 4.3.14): signature,
/// size r (u64) of what follows it, versions, disk numbers (u32 at +16, +20), member counts on
/// this disk and in all (u64 at +24, +32), directory size and offset (u64 at +40, +48).
fn check_zip_end(bytes: &[u8]) -> Result<(), String> {
    const END: &[u8] = b"PK\x05\x06";
    const LOCATOR: &[u8] = b"PK\x06\x07";
    const RECORD: &[u8] = b"PK\x06\x06";
    let u16_at = |at: usize| bytes.get(at..at + 2).map_or(0, |b| u16::from_le_bytes([b[0], b[1]]));
    let u32_at = |at: usize| bytes.get(at..at + 4).map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let u64_at = |at: usize| bytes.get(at..at + 8).map_or(0, |b| u64::from_le_bytes(b.try_into().expect("8 bytes")));
    let tail = bytes.len().saturating_sub(22 + 4 + (1 << 16));
    if memchr::memmem::find(&bytes[tail..], END).is_none() {
        return Err("the zip's end record (after its list of members) is missing: the file is cut short, or not a zip archive".into());
    }
    for p in memchr::memmem::find_iter(&bytes[tail..], END).map(|p| tail + p) {
        // The end record's member count (+10), directory size (+12) and offset (+16) at their
        // maximum send a reader to the zip64 record.
        let zip64 = u16_at(p + 10) == u16::MAX || u32_at(p + 12) == u32::MAX || u32_at(p + 16) == u32::MAX;
        let Some(locator) = p.checked_sub(20).filter(|&l| zip64 && bytes[l..].starts_with(LOCATOR)) else { continue };
        let record = u64_at(locator + 8);
        let ends = usize::try_from(record).ok().filter(|&r| bytes[r.min(bytes.len())..].starts_with(RECORD)).and_then(|r| r.checked_add(12)?.checked_add(usize::try_from(u64_at(r + 4)).ok()?));
        let r = match (usize::try_from(record), ends) {
            (Ok(r), Some(end)) if end == locator => r,
            _ => return Err(format!("its zip64 locator at byte {locator} does not point at a zip64 end record that ends there")),
        };
        if u32_at(locator + 16) > 1 || u32_at(r + 16) != 0 || u32_at(r + 20) != 0 || u32_at(locator + 4) != 0 || u64_at(r + 24) != u64_at(r + 32) {
            return Err("its zip64 end record spans several disks".into());
        }
        let members = u64_at(r + 32);
        if members > MAX_NPZ_MEMBERS as u64 {
            return Err(format!("its zip64 directory declares {members} members; at most {MAX_NPZ_MEMBERS} are read"));
        }
        if (members * 46).saturating_add(u64_at(r + 48)) > record {
            return Err(format!("its zip64 directory declares {members} members, which do not fit before its end record"));
        }
    }
    Ok(())
}

/// Names the member in a reader's error.
fn in_member(key: &str, e: FormatError) -> FormatError {
    match e {
        FormatError::Malformed { message, .. } => malformed(format!("array \"{key}\": {message}")),
        FormatError::BadMagic { .. } => malformed(format!("array \"{key}\" is not a .npy file")),
        FormatError::TooManyValues { count, limit } => malformed(format!("array \"{key}\" holds {count} values; with the arrays before it at most {limit} more are read")),
        FormatError::UnsupportedDtype { dtype } => FormatError::UnsupportedDtype { dtype: format!("{dtype} (array \"{key}\")") },
        other => other,
    }
}

/// Writes arrays as an `.npz` (`<f4` C-order members `<name>.npy`), deflated like
/// `np.savez_compressed` or stored like `np.savez`.
pub fn write_npz(arrays: &[(String, Tensor)], compressed: bool) -> Result<Vec<u8>, FormatError> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let method = if compressed { CompressionMethod::Deflated } else { CompressionMethod::Stored };
    let options = SimpleFileOptions::default().compression_method(method).large_file(false);
    let fail = |e: &dyn std::fmt::Display| malformed(format!("cannot write: {e}"));
    for (name, t) in arrays {
        let count = t.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        if count != Some(t.values.len()) {
            return Err(FormatError::ShapeMismatch { expected: count.unwrap_or(usize::MAX), found: t.values.len() });
        }
        zip.start_file(format!("{name}.npy"), options).map_err(|e| fail(&e))?;
        zip.write_all(&write_npy_f32(&t.values, &t.shape)).map_err(|e| fail(&e))?;
    }
    Ok(zip.finish().map_err(|e| fail(&e))?.into_inner())
}
