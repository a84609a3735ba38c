//! The embedded datasets read back with their checksums, and corrupt files get typed errors.
#![cfg(not(target_arch = "wasm32"))]

use qplay::data::read_qds;
use qplay::formats::FormatError;

fn asset(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/www/data/{name}", env!("CARGO_MANIFEST_DIR"))).expect("the dataset asset is committed")
}

#[test]
fn embedded_datasets_read_with_the_documented_sizes() {
    for (name, n) in [("mnist-train.qds.gz", 8000), ("mnist-test.qds.gz", 2000), ("fashion-train.qds.gz", 60002), ("fashion-test.qds.gz", 10000)] {
        let d = read_qds(&asset(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!((d.len(), d.rows, d.cols, d.classes), (n, 28, 28, 10), "{name}");
        // Round-robin interleave: the first 10 labels are 0..9.
        assert_eq!(&d.labels[..10], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], "{name}");
        let mean = d.pixels.iter().map(|&p| p as f64).sum::<f64>() / d.pixels.len() as f64;
        assert!(mean > 20.0 && mean < 100.0, "{name}: mean pixel {mean}");
    }
}

#[test]
fn corrupt_datasets_get_typed_errors() {
    let good = asset("mnist-test.qds.gz");
    assert!(matches!(read_qds(&good[..good.len() / 2]), Err(FormatError::Malformed { .. })), "truncated gzip");
    assert_eq!(read_qds(b"NOPE and more bytes here"), Err(FormatError::BadMagic { format: ".qds" }));
    let mut raw = Vec::new();
    use std::io::Read;
    flate2::read::GzDecoder::new(&good[..]).read_to_end(&mut raw).unwrap();
    let mut flipped = raw.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    assert!(matches!(read_qds(&flipped), Err(FormatError::Malformed { ref message, .. }) if message.contains("checksum")));
    assert!(matches!(read_qds(&raw[..raw.len() - 1]), Err(FormatError::ShapeMismatch { .. })));
    assert!(read_qds(&raw).is_ok(), "plain (uncompressed) bytes read too");
}
