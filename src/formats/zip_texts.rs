//! Text files in one deflated `.zip`: a folder of reports downloaded at once (MindSpore Lite's
//! debug folder, `report_<round>.csv` for each calibration round). The files' bytes together
//! are checked against a limit as each is added, before it is compressed.

use std::io::{Cursor, Write};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

/// The most text bytes one archive holds (uncompressed).
pub const MAX_ZIP_TEXT_BYTES: usize = 256 << 20;

pub struct TextZip {
    zip: ZipWriter<Cursor<Vec<u8>>>,
    /// Text bytes added so far, and the most allowed.
    bytes: usize,
    limit: usize,
}

impl Default for TextZip {
    fn default() -> Self {
        TextZip::with_limit(MAX_ZIP_TEXT_BYTES)
    }
}

impl TextZip {
    pub fn with_limit(limit: usize) -> TextZip {
        TextZip { zip: ZipWriter::new(Cursor::new(Vec::new())), bytes: 0, limit }
    }

    /// Adds `name` holding `text`; refuses it (naming the file) when it would pass the limit.
    pub fn add(&mut self, name: &str, text: &str) -> Result<(), String> {
        let total = self.bytes.saturating_add(text.len());
        if total > self.limit {
            return Err(format!("{name}: the files come to more than {} MB, the most one download holds; use fewer calibration images", self.limit >> 20));
        }
        self.bytes = total;
        let options = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated).large_file(false);
        self.zip.start_file(name, options).map_err(|e| format!("{name}: {e}"))?;
        self.zip.write_all(text.as_bytes()).map_err(|e| format!("{name}: {e}"))
    }

    /// The archive's bytes.
    pub fn finish(self) -> Result<Vec<u8>, String> {
        Ok(self.zip.finish().map_err(|e| e.to_string())?.into_inner())
    }
}
