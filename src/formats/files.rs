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

/// The tensors of a file that qplay reads, and the ones it holds in a dtype qplay does not read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TensorFile {
    pub tensors: Vec<(String, Tensor)>,
    /// (name, dtype) of each tensor passed over: strings, complex, 8-bit floats…
    pub unread: Vec<(String, String)>,
    /// The members of an archive that are not arrays (a `README.txt` in an `.npz`).
    pub not_arrays: Vec<String>,
    /// A text whose lines are of unequal length, read as one row: what happened ([`crate::parse::Parsed::notice`]).
    pub lines_note: Option<String>,
}

impl TensorFile {
    /// What reading the file has to say: "not read, of a dtype qplay does not read: "labels"
    /// (<U5), "z" (<c8)", "not arrays, passed over: "README.txt"", how a text's lines of unequal
    /// length were read; `None` when every member was read as it stands.
    pub fn note(&self) -> Option<String> {
        let dtypes = (!self.unread.is_empty()).then(|| format!("not read, of a dtype qplay does not read: {}", unread_list(&self.unread)));
        let others = (!self.not_arrays.is_empty()).then(|| format!("not arrays, passed over: {}", name_list(&self.not_arrays)));
        let lines = self.lines_note.as_ref().map(|n| n.trim_end_matches('.').to_string());
        let notes: Vec<String> = dtypes.into_iter().chain(others).chain(lines).collect();
        (!notes.is_empty()).then(|| notes.join("; "))
    }

    /// Why `wanted` is not among the tensors: of a dtype qplay does not read, or not in the file
    /// (the message lists the names).
    pub fn missing(&self, file: &str, wanted: &str) -> String {
        if let Some((_, dtype)) = self.unread.iter().find(|(n, _)| n == wanted) {
            return format!("{file}: tensor \"{wanted}\" is of dtype {dtype}, which qplay does not read: use a float (f2, f4, f8), integer or bool array");
        }
        if self.not_arrays.iter().any(|n| n == wanted) {
            return format!("{file}: member \"{wanted}\" is not a .npy array");
        }
        let names: Vec<&str> = self.tensors.iter().map(|(n, _)| n.as_str()).chain(self.unread.iter().map(|(n, _)| n.as_str())).chain(self.not_arrays.iter().map(String::as_str)).collect();
        let more = if names.len() > 20 { format!(" and {} more", names.len() - 20) } else { String::new() };
        format!("{file}: no tensor \"{wanted}\"; it holds {}{more}", names[..names.len().min(20)].join(", "))
    }
}

/// Every tensor in a `.npy`, `.npz`, `.safetensors`, `.txt` / `.csv` or `.json` file, by name.
/// An archive's tensors of a dtype qplay does not read are listed in [`TensorFile::unread`], an
/// `.npz`'s members that are not arrays in [`TensorFile::not_arrays`]; a file with no tensor
/// that it reads is an error.
pub fn read_tensor_file(name: &str, bytes: &[u8]) -> Result<TensorFile, String> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(describe(name, FormatError::TooLarge { bytes: bytes.len(), limit: MAX_FILE_BYTES }));
    }
    if bytes.is_empty() && matches!(ext(name).as_str(), "npy" | "npz" | "safetensors") {
        return Err(format!("{name}: the file is empty (0 bytes)"));
    }
    let one = |t: Result<Tensor, FormatError>| t.map(|t| TensorFile { tensors: vec![(name.to_string(), t)], ..TensorFile::default() }).map_err(|e| describe(name, e));
    let file = match ext(name).as_str() {
        "npy" => one(npy::read_npy(bytes))?,
        "npz" => {
            let npz::NpzContents { arrays, unread, not_arrays } = npz::read_npz_readable(bytes, npz::MAX_NPZ_DECOMPRESSED).map_err(|e| describe(name, e))?;
            TensorFile { tensors: arrays, unread, not_arrays, lines_note: None }
        }
        "safetensors" => {
            let (file, unread) = safetensors::SafetensorsHeader::parse(bytes, safetensors::MAX_SAFETENSORS_BYTES).and_then(|h| h.read_readable()).map_err(|e| describe(name, e))?;
            TensorFile { tensors: file.tensors.into_iter().map(|t| (t.name, t.tensor)).collect(), unread, not_arrays: Vec::new(), lines_note: None }
        }
        "txt" | "csv" | "json" | "tsv" => {
            let (tensor, lines_note) = text::read_text_noted(bytes).map_err(|e| describe(name, e))?;
            TensorFile { tensors: vec![(name.to_string(), tensor)], lines_note, ..TensorFile::default() }
        }
        other => return Err(format!("{name}: a tensor must be a .npy, .npz, .safetensors, .txt, .csv or .json file, not .{other}")),
    };
    if file.tensors.is_empty() {
        return Err(match (file.unread.is_empty(), file.not_arrays.is_empty()) {
            (false, no_others) => {
                let others = if no_others { String::new() } else { format!("; not arrays: {}", name_list(&file.not_arrays)) };
                format!("{name}: no tensor of a dtype qplay reads (a float, integer or bool array): {}{others}", unread_list(&file.unread))
            }
            (true, false) => format!("{name}: no .npy arrays; its members: {}", name_list(&file.not_arrays)),
            (true, true) => format!("{name}: the file holds no tensors"),
        });
    }
    Ok(file)
}

/// "\"labels\" (<U5), \"z\" (<c8)", the first 8 (names cut at 60 characters), then how many more.
fn unread_list(unread: &[(String, String)]) -> String {
    first_eight(unread.iter().map(|(n, d)| format!("\"{}\" ({d})", crate::clip::clip(n, 60))), unread.len())
}

/// "\"README.txt\", \"notes\"", the first 8 (names cut at 60 characters), then how many more.
fn name_list(names: &[String]) -> String {
    first_eight(names.iter().map(|n| format!("\"{}\"", crate::clip::clip(n, 60))), names.len())
}

/// The first 8 items of `count`, then "and N more".
fn first_eight(items: impl Iterator<Item = String>, count: usize) -> String {
    let mut list: Vec<String> = items.take(8).collect();
    if count > 8 {
        list.push(format!("and {} more", count - 8));
    }
    list.join(", ")
}

/// The tensor a file opens on: the largest (most values) of those `fits` takes (by index), the
/// first of equals; `None` when it takes none. The page and `qplay tensor` both open a file this
/// way.
pub fn largest_tensor(list: &[(String, Tensor)], fits: impl Fn(usize) -> bool) -> Option<usize> {
    list.iter()
        .enumerate()
        .filter(|&(i, _)| fits(i))
        .max_by_key(|(i, (_, t))| (t.count(), std::cmp::Reverse(*i)))
        .map(|(i, _)| i)
}
