//! Files the user drops or picks in the page (read in its worker) or names on the command
//! line: which reader a file goes to, by its name, and the message shown when it cannot be read.
//! Nothing already loaded is replaced unless the new file reads.

use super::{npy, npz, onnx, safetensors, text, FormatError, Tensor};
use crate::model::{Model, DEFAULT_MAX_PARAMS};

/// Largest file the page accepts at all (each reader also has its own limit).
pub const MAX_FILE_BYTES: usize = 256 << 20;

fn ext(name: &str) -> String {
    name.rsplit('.').next().unwrap_or("").to_ascii_lowercase()
}

fn describe(name: &str, e: FormatError) -> String {
    format!("{name}: {e}")
}

/// A model from a `.safetensors` or `.onnx` file (with an optional architecture JSON sidecar).
pub fn read_model_file(name: &str, bytes: &[u8], sidecar: Option<&str>) -> Result<Model, String> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(describe(name, FormatError::TooLarge { bytes: bytes.len(), limit: MAX_FILE_BYTES }));
    }
    match ext(name).as_str() {
        "onnx" => onnx::read_onnx(bytes, DEFAULT_MAX_PARAMS).map_err(|e| describe(name, e)),
        "safetensors" => safetensors::read_model(bytes, sidecar, DEFAULT_MAX_PARAMS).map_err(|e| describe(name, e)),
        other => Err(format!("{name}: a model must be a .safetensors or .onnx file, not .{other}")),
    }
}

/// Every tensor in a `.npy`, `.npz`, `.safetensors`, `.txt` / `.csv` or `.json` file, by name.
pub fn read_tensor_file(name: &str, bytes: &[u8]) -> Result<Vec<(String, Tensor)>, String> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(describe(name, FormatError::TooLarge { bytes: bytes.len(), limit: MAX_FILE_BYTES }));
    }
    let list = match ext(name).as_str() {
        "npy" => vec![(name.to_string(), npy::read_npy(bytes).map_err(|e| describe(name, e))?)],
        "npz" => npz::read_npz(bytes).map_err(|e| describe(name, e))?,
        "safetensors" => safetensors::read_safetensors(bytes).map_err(|e| describe(name, e))?.tensors.into_iter().map(|t| (t.name, t.tensor)).collect(),
        "txt" | "csv" | "json" | "tsv" => vec![(name.to_string(), text::read_text(bytes).map_err(|e| describe(name, e))?)],
        other => return Err(format!("{name}: a tensor must be a .npy, .npz, .safetensors, .txt, .csv or .json file, not .{other}")),
    };
    if list.is_empty() {
        return Err(format!("{name}: the file holds no tensors"));
    }
    Ok(list)
}

/// The tensor a file opens on: the largest (most values) that `fits` takes, the first of equals;
/// `None` when it takes none. The page and `qplay tensor` both open a file this way.
pub fn largest_tensor(list: &[(String, Tensor)], fits: impl Fn(&str, &Tensor) -> bool) -> Option<usize> {
    list.iter()
        .enumerate()
        .filter(|(_, (n, t))| fits(n, t))
        .max_by_key(|(i, (_, t))| (t.values.len(), std::cmp::Reverse(*i)))
        .map(|(i, _)| i)
}
