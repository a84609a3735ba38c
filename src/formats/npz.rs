//! NumPy `.npz` archives: a zip of `.npy` members, as `np.savez` (stored) and
//! `np.savez_compressed` (deflated) write them.
//!
//! ```text
//! archive.npz = zip { "<name>.npy": .npy bytes, … }      np.load(f)["<name>"]
//! ```
//!
//! Every member is read, in archive order, by its name without the `.npy` suffix (NumPy's key);
//! each member is a `.npy` read by [`super::npy::read_npy_limited`] (every dtype and order it takes).
//! Zip parsing and inflating are the `zip` crate's.
//!
//! Limits: the archive itself is at most [`MAX_NPZ_BYTES`]; the members' decompressed sizes add up
//! to at most [`MAX_NPZ_DECOMPRESSED`] (counted while inflating, whatever the headers claim: a zip
//! bomb stops at the limit); at most [`MAX_NPZ_MEMBERS`] members.

use std::io::{Cursor, Read, Write};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

use super::npy::{read_npy_limited, write_npy_f32, MAX_NPY_VALUES};
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

/// Reads every array of an `.npz` archive: (name, tensor) in archive order.
pub fn read_npz(bytes: &[u8]) -> Result<Vec<(String, Tensor)>, FormatError> {
    read_npz_limited(bytes, MAX_NPZ_DECOMPRESSED)
}

/// [`read_npz`] with another limit on the total decompressed bytes.
pub fn read_npz_limited(bytes: &[u8], max_decompressed: usize) -> Result<Vec<(String, Tensor)>, FormatError> {
    if bytes.len() > MAX_NPZ_BYTES {
        return Err(FormatError::TooLarge { bytes: bytes.len(), limit: MAX_NPZ_BYTES });
    }
    if !bytes.starts_with(b"PK") {
        return Err(FormatError::BadMagic { format: ".npz (zip)" });
    }
    let declared = zip64_declared_members(bytes);
    if declared > MAX_NPZ_MEMBERS as u64 {
        return Err(malformed(format!("its zip64 directory declares {declared} members; at most {MAX_NPZ_MEMBERS} are read")));
    }
    let mut archive = ZipArchive::new(Cursor::new(bytes)).map_err(|e| malformed(format!("not a readable zip archive: {e}")))?;
    if archive.len() > MAX_NPZ_MEMBERS {
        return Err(malformed(format!("{} members; at most {MAX_NPZ_MEMBERS} are read", archive.len())));
    }
    let mut left = max_decompressed;
    // The f32 values of all members together take at most `max_decompressed` bytes too: the
    // byte count alone lets 1-byte members (bool, u8) grow fourfold.
    let mut values_left = max_decompressed / 4;
    let mut arrays = Vec::with_capacity(archive.len());
    for i in 0..archive.len() {
        let mut member = archive.by_index(i).map_err(|e| malformed(format!("member #{}: {e}", i + 1)))?;
        if member.is_dir() {
            continue;
        }
        let name = member.name().map_err(|e| malformed(format!("member #{}: {e}", i + 1)))?.into_owned();
        let Some(key) = name.strip_suffix(".npy") else {
            return Err(malformed(format!("member \"{name}\" is not a .npy array")));
        };
        let key = key.to_string();
        // The header's size is only a hint: count what actually comes out.
        let mut data = Vec::with_capacity((member.size() as usize).min(left).min(1 << 20));
        (&mut member)
            .take(left as u64 + 1)
            .read_to_end(&mut data)
            .map_err(|e| malformed(format!("member \"{name}\": {e}")))?;
        if data.len() > left {
            return Err(FormatError::DecompressedTooLarge { member: name, bytes: bytes.len(), limit: max_decompressed });
        }
        left -= data.len();
        let tensor = read_npy_limited(&data, values_left.min(MAX_NPY_VALUES)).map_err(|e| in_member(&key, e))?;
        values_left -= tensor.values.len();
        arrays.push((key, tensor));
    }
    Ok(arrays)
}

/// The most members a zip64 end record of the archive declares (0 without one), read before
/// the zip crate reads the directory: the crate reserves room for as many members as the record
/// declares (up to one per 46 bytes of the file, 160 bytes each: ~170 MB for a 49 MB file)
/// before it reads the first. A record counts as the crate accepts one: it ends exactly at a
/// zip64 locator that sits just before an end-of-directory record in the file's last 64 KiB
/// (the comment's limit). One pass over the bytes.
fn zip64_declared_members(bytes: &[u8]) -> u64 {
    const END: &[u8] = b"PK\x05\x06";
    const LOCATOR: &[u8] = b"PK\x06\x07";
    const RECORD: &[u8] = b"PK\x06\x06";
    let u64_at = |at: usize| bytes.get(at..at + 8).map_or(0, |b| u64::from_le_bytes(b.try_into().expect("8 bytes")));
    // Locators: 20 bytes before an end record.
    let tail = bytes.len().saturating_sub(22 + 4 + (1 << 16));
    let locators: std::collections::HashSet<usize> = memchr::memmem::find_iter(&bytes[tail..], END)
        .filter_map(|p| (tail + p).checked_sub(20))
        .filter(|&l| bytes[l..].starts_with(LOCATOR))
        .collect();
    if locators.is_empty() {
        return 0;
    }
    // Records: "PK\x06\x06", the record's size r (u64) after it, ending at s + 12 + r; the
    // member counts (this disk, all disks) at s + 24 and s + 32.
    memchr::memmem::find_iter(bytes, RECORD)
        .filter(|&s| usize::try_from(u64_at(s + 4)).ok().and_then(|r| (s + 12).checked_add(r)).is_some_and(|end| locators.contains(&end)))
        .map(|s| u64_at(s + 24).max(u64_at(s + 32)))
        .max()
        .unwrap_or(0)
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
