//! The text loader: separated values, JSON arrays (1-D, 2-D, ragged rows named), printed NumPy
//! arrays, limits and typed errors, and exact round trips through `write_text` / `write_json`.
//! Runs natively and in the browser.

use qplay::formats::text::{read_str, read_text, write_json, write_text, MAX_TEXT_BYTES};
use qplay::formats::{FormatError, Tensor};
use qplay::parse::ParseError;


fn t(text: &str) -> Tensor {
    read_str(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

/// Every kind of f32 a round trip must keep: signs, zero, subnormals, extremes, awkward decimals.
fn awkward_values() -> Vec<f32> {
    let mut v = vec![0.0, -0.0, 1.0, -1.0, 0.1, 1.0 / 3.0, f32::MAX, f32::MIN, f32::MIN_POSITIVE, 1e-45, -1e-45, 16777217.0, 3.4028233e38];
    v.extend((0..50).map(|i| ((i as f32) * 0.7368 - 17.0).exp2() * if i % 2 == 0 { 1.0 } else { -1.0 }));
    v
}

both! {
    separated_values_and_lines_read_with_their_shape {
        assert_eq!(t("1, 2.5  -3\n4"), Tensor { shape: vec![4], values: vec![1.0, 2.5, -3.0, 4.0] });
        assert_eq!(t("1 2\n3 4\n5 6\n"), Tensor { shape: vec![3, 2], values: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0] });
        assert_eq!(t("tensor([0.5, -1.0])").values, vec![0.5, -1.0]);
        // NumPy's print is not JSON (no commas): read as separated values, rows kept.
        assert_eq!(t("[[1. 2.]\n [3. 4.]]"), Tensor { shape: vec![2, 2], values: vec![1.0, 2.0, 3.0, 4.0] });
    }

    a_files_byte_order_mark_and_line_ends_and_ragged_lines {
        // Excel's "CSV UTF-8" starts with a byte-order mark: no value (it was "value #1 "\u{FEFF}1" is not a number").
        let bom = t("\u{FEFF}1,2,3\n4,5,6\n");
        assert_eq!((bom.shape, bom.values), (vec![2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]));
        assert_eq!(read_text(b"\xEF\xBB\xBF[[1, 2], [3, 4]]").unwrap().shape, vec![2, 2]);
        // A spreadsheet that quotes every field: the quotes are no part of the number; a header,
        // a lone quote or a quoted decimal comma is still named.
        let quoted = t("\"1.5\",\"-2\",'3e1'\r\n\"4\",5,\"6\"\r\n");
        assert_eq!((quoted.shape, quoted.values), (vec![2, 3], vec![1.5, -2.0, 30.0, 4.0, 5.0, 6.0]));
        for (text, said) in [
            ("\"a\",\"b\"\n1,2", "value #1 \"\"a\"\" is not a number"),
            ("\"1.5,2\"", "value #1 \"\"1.5\" is not a number"),
            ("1,\"", "value #2 \"\"\" is not a number"),
            ("1,\"2'", "value #2 \"\"2'\" is not a number"),
            ("\"\"1\"\"", "value #1 \"\"\"1\"\"\" is not a number"),
        ] {
            assert_eq!(read_str(text).unwrap_err().to_string(), said, "{text}");
        }
        // Lines ended by "\r\n" or by a lone "\r" (classic Mac OS) are rows, as with "\n".
        assert_eq!(t("1,2,3\r\n4,5,6\r\n").shape, vec![2, 3]);
        assert_eq!(t("1,2,3\r4,5,6\r").shape, vec![2, 3]);
        // A file of lines of unequal length is read as one row, and the file's note says so, as
        // the box's does (the page showed a file's [5] without a word).
        let file = qplay::formats::files::read_tensor_file("ragged.csv", b"1,2,3\n4,5\n").unwrap();
        assert_eq!(file.tensors[0].1.shape, vec![5]);
        assert_eq!(file.note().as_deref(), Some("Line 2 has 2 values, line 1 has 3: the lines were read as one row of 5 values (lines of equal length give a 2-D tensor)"));
        assert_eq!(qplay::formats::files::read_tensor_file("even.csv", b"1,2,3\n4,5,6\n").unwrap().note(), None);
    }

    json_arrays_read_in_one_and_two_dimensions {
        assert_eq!(t("[1, 2.5, -3e2]"), Tensor { shape: vec![3], values: vec![1.0, 2.5, -300.0] });
        assert_eq!(t(" [[1, 2, 3], [4, 5, 6]] "), Tensor { shape: vec![2, 3], values: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0] });
        // One row is still 2-D: [[…]] says so.
        assert_eq!(t("[[7, 8]]").shape, vec![1, 2]);
        assert_eq!(read_text(b"[\n  [1, 2],\n  [3, 4]\n]\n").unwrap().shape, vec![2, 2]);
    }

    ragged_and_bad_json_get_errors_that_name_the_place {
        let e = read_str("[[1, 2, 3], [4, 5, 6], [7, 8]]").unwrap_err();
        // The same error, and words, as typed text's ragged rows.
        assert_eq!(e, FormatError::Text(ParseError::Ragged { row: 3, len: 2, first: 3 }));
        assert!(e.to_string().contains("row #3 has 2 values, row #1 has 3"), "{e}");
        let msg = read_str("[[1, 2], 3]").unwrap_err().to_string();
        assert!(msg.contains("row #2") && msg.contains("a number"), "{msg}");
        let msg = read_str("[[[1, 2]], [[3, 4]]]").unwrap_err().to_string();
        assert!(msg.contains("1-D and 2-D"), "{msg}");
        let msg = read_str("[1, \"two\", 3]").unwrap_err().to_string();
        assert!(msg.contains("value #2") && msg.contains("a string"), "{msg}");
        let msg = read_str("[1, null]").unwrap_err().to_string();
        assert!(msg.contains("value #2") && msg.contains("null"), "{msg}");
        // 1e39 is finite in JSON (f64) but not in f32.
        assert!(matches!(read_str("[1, 1e39]"), Err(FormatError::Text(ParseError::NonFinite { index: 2, .. }))));
        assert_eq!(read_str("[]"), Err(FormatError::Text(ParseError::Empty)));
        assert!(read_str("[[]]").unwrap_err().to_string().contains("row #1 is empty"));
    }

    bad_text_gets_typed_errors {
        assert_eq!(read_str("   \n "), Err(FormatError::Text(ParseError::Empty)));
        assert!(matches!(read_str("1, 2, x3"), Err(FormatError::Text(ParseError::NotANumber { index: 3, .. }))));
        assert!(matches!(read_str("1 NaN"), Err(FormatError::Text(ParseError::NonFinite { index: 2, .. }))));
        let e = read_text(&[b'1', b' ', 0xff, 0xfe]).unwrap_err();
        assert!(matches!(e, FormatError::Malformed { format: "text", .. }) && e.to_string().contains("byte 2"), "{e:?}");
        let big = vec![b' '; MAX_TEXT_BYTES + 1];
        assert_eq!(read_text(&big), Err(FormatError::TooLarge { bytes: MAX_TEXT_BYTES + 1, limit: MAX_TEXT_BYTES }));
        // More values than the parser takes (2^20): a typed error, not a huge allocation.
        let many = "0,".repeat((1 << 20) + 1);
        assert!(matches!(read_str(&many), Err(FormatError::Text(ParseError::TooMany { .. }))));
        let many_json = format!("[{}0]", "0,".repeat(1 << 20));
        assert!(matches!(read_str(&many_json), Err(FormatError::Text(ParseError::TooMany { .. }))));
    }

    json_is_read_as_it_is_parsed_in_memory_bounded_by_the_values {
        // 4 MiB of objects (some 300 bytes each as JSON values: 180 MiB) stop at the first one;
        // 4 MiB of numbers become their f32 values, not 2 million 16–32-byte JSON values first.
        let objects = format!("[{}{{\"\":0}}]", "{\"\":0},".repeat(600_000));
        let (r, largest) = crate::alloc_probe::largest_allocation(|| read_str(&objects));
        let msg = r.unwrap_err().to_string();
        assert!(msg.contains("value #1 is an object"), "{msg}");
        assert!(largest < (1 << 16), "{largest}");
        let numbers = format!("[{}0]", "0,".repeat(1 << 19));
        let (r, largest) = crate::alloc_probe::largest_allocation(|| read_str(&numbers));
        assert_eq!(r.unwrap().values.len(), (1 << 19) + 1);
        assert!(largest <= 4 << 20, "{largest}");
        // Rows too: [[0,0],[0,0],…].
        let rows = format!("[{}[0,0]]", "[0,0],".repeat(200_000));
        let t = read_str(&rows).unwrap();
        assert_eq!(t.shape, vec![200_001, 2]);
    }

    text_and_json_round_trips_are_exact {
        let values = awkward_values();
        let n = values.len();
        for shape in [vec![n], vec![n / 3, 3]] {
            let k: usize = shape.iter().product();
            let x = Tensor { shape: shape.clone(), values: values[..k].to_vec() };
            for (form, text) in [("text", write_text(&x)), ("json", write_json(&x))] {
                let back = read_str(&text).unwrap_or_else(|e| panic!("{form}: {e}\n{text}"));
                assert_eq!(back.shape, shape, "{form}");
                let same = back.values.iter().zip(&x.values).all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "{form}: {:?} vs {:?}", back.values, x.values);
            }
        }
        // 2-D text is one row per line.
        assert_eq!(write_text(&Tensor { shape: vec![2, 2], values: vec![1.0, 2.0, 3.0, 0.5] }), "1, 2\n3, 0.5\n");
        assert_eq!(write_json(&Tensor { shape: vec![2, 2], values: vec![1.0, 2.0, 3.0, 0.5] }), "[[1.0,2.0],[3.0,0.5]]");
    }
}

/// JSON numbers go through f64 on the way in: check that every shortest f32 decimal still lands
/// on its own f32 (no double rounding), over many random bit patterns.
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn json_f32_values_survive_the_f64_detour() {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut values = Vec::with_capacity(200_000);
    while values.len() < 200_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let v = f32::from_bits(state as u32);
        if v.is_finite() {
            values.push(v);
        }
    }
    let x = Tensor { shape: vec![values.len()], values };
    let back = read_str(&write_json(&x)).unwrap();
    let bad: Vec<_> = back.values.iter().zip(&x.values).filter(|(a, b)| a.to_bits() != b.to_bits()).take(5).collect();
    assert!(bad.is_empty(), "values that did not survive: {bad:?}");
}
