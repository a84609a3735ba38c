//! The app's own assets under www/ (the pretrained models and the datasets), read from disk by
//! the native tests.
#![cfg(not(target_arch = "wasm32"))]

use qplay::data::{read_qds, Dataset};
use qplay::formats::safetensors::read_model;
use qplay::model::{Model, DEFAULT_MAX_PARAMS};

/// The bytes of www/`path`.
pub fn asset(path: &str) -> Vec<u8> {
    std::fs::read(format!("{}/www/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A built-in model: www/models/`name`.safetensors.
pub fn model(name: &str) -> Model {
    read_model(&asset(&format!("models/{name}.safetensors")), None, DEFAULT_MAX_PARAMS).unwrap()
}

/// A dataset split: www/data/`name`.qds.gz.
pub fn data(name: &str) -> Dataset {
    read_qds(&asset(&format!("data/{name}.qds.gz"))).unwrap()
}
