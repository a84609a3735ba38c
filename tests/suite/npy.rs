//! `.npy` reading and writing: NumPy-made fixtures (scripts/make_npy_fixtures.py),
//! round trips, and typed errors for bad files. Runs natively and in the browser.

use qplay::formats::npy::{read_npy, write_npy_f32, write_npy_int};
use qplay::formats::FormatError;

const BASE: [f64; 6] = [0.6004, -1.0151, 1.1885, 0.9948, -0.3187, -1.1111];


fn assert_base(bytes: &[u8], tol: f32) {
    let t = read_npy(bytes).expect("a NumPy fixture reads");
    assert_eq!(t.shape, vec![2, 3]);
    for (got, want) in t.values.iter().zip(BASE) {
        assert!((got - want as f32).abs() <= tol, "{got} vs {want}");
    }
}

both! {
    numpy_float_fixtures_read_in_every_dtype_and_order {
        assert_base(fixture!("f8_2x3.npy"), 0.0);
        assert_base(fixture!("f4_2x3.npy"), 0.0);
        assert_base(fixture!("f4_be_2x3.npy"), 0.0);
        assert_base(fixture!("f4_2x3_fortran.npy"), 0.0);
        // f16 keeps 11 significant bits: |error| ≤ 2^-11 · |x| ≤ 0.0006 here.
        assert_base(fixture!("f2_2x3.npy"), 6e-4);
        let t = read_npy(fixture!("f4_2x3x2_fortran.npy")).unwrap();
        assert_eq!(t.shape, vec![2, 3, 2]);
        assert_eq!(t.values, (0..12).map(|v| v as f32).collect::<Vec<_>>(), "Fortran order becomes C order");
    }

    numpy_integer_and_bool_fixtures_read {
        assert_eq!(read_npy(fixture!("i1_4.npy")).unwrap().values, vec![-128.0, -1.0, 0.0, 127.0]);
        assert_eq!(read_npy(fixture!("u1_4.npy")).unwrap().values, vec![0.0, 1.0, 128.0, 255.0]);
        assert_eq!(read_npy(fixture!("i8_3.npy")).unwrap().values, vec![-(2f32.powi(40)), 0.0, 7.0]);
        assert_eq!(read_npy(fixture!("bool_3.npy")).unwrap().values, vec![1.0, 0.0, 1.0]);
    }

    written_files_read_back_identically {
        let x: Vec<f32> = (0..24).map(|i| (i as f32 - 11.5) * 0.37).collect();
        let t = read_npy(&write_npy_f32(&x, &[2, 3, 4])).unwrap();
        assert_eq!((t.shape, t.values), (vec![2, 3, 4], x));
        for (lo, hi) in [(-128, 127), (0, 255), (-32768, 32767), (0, 65535), (-70000, 70000)] {
            let q: Vec<i32> = vec![lo, 0.max(lo), hi];
            let bytes = write_npy_int(&q, &[3], lo, hi);
            let back: Vec<i32> = read_npy(&bytes).unwrap().values.iter().map(|&v| v as i32).collect();
            assert_eq!(back, q, "integers in [{lo}, {hi}]");
        }
        // The narrowest dtype is chosen: 8-bit integers take one byte each.
        assert!(write_npy_int(&[1; 100], &[100], -128, 127).len() < 100 + 130);
    }

    bad_files_get_typed_errors {
        assert_eq!(read_npy(b"PK\x03\x04 not npy"), Err(FormatError::BadMagic { format: ".npy" }));
        // A header that is not a dict literal is said so, with where it stops and what was
        // expected, not as the literal parser's drawing of carets.
        let mut header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,".to_string();
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let bytes = [&b"\x93NUMPY\x01\x00"[..], &(header.len() as u16).to_le_bytes(), header.as_bytes(), &[0u8; 8]].concat();
        let e = read_npy(&bytes).unwrap_err().to_string();
        assert!(e.contains("the header is not a Python dict literal as NumPy writes it: it stops reading at character ") && !e.contains("-->") && !e.contains('^'), "{e}");
        assert!(e.contains("(expected "), "{e}");
        assert!(matches!(read_npy(fixture!("str_unsupported.npy")), Err(FormatError::UnsupportedDtype { .. })));
        let good = fixture!("f4_2x3.npy");
        for cut in [6, 9, 40, good.len() - 1] {
            let e = read_npy(&good[..cut]).expect_err("a truncated file fails");
            assert!(matches!(e, FormatError::Malformed { .. } | FormatError::ShapeMismatch { .. }), "cut {cut}: {e:?}");
        }
        // A header that claims far more values than the body holds allocates nothing.
        let mut liar = write_npy_f32(&[1.0, 2.0], &[2]);
        let text = String::from_utf8_lossy(&liar).replace("(2,)", "(9999999999,)");
        liar = text.into_bytes();
        assert!(read_npy(&liar).is_err());
        // A float64 past f32's range (it would read as ∞) is named with its value; ∞ itself is not refused here.
        let f8 = |values: &[f64]| {
            let h = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': ({},), }}\n", values.len());
            let mut b = b"\x93NUMPY\x01\x00".to_vec();
            b.extend((h.len() as u16).to_le_bytes());
            b.extend(h.as_bytes());
            values.iter().for_each(|v| b.extend(v.to_le_bytes()));
            b
        };
        let e = read_npy(&f8(&[1.0, -1e300])).unwrap_err().to_string();
        assert_eq!(e, "value #2 is -1e300: beyond the range of f32 (±3.4e38), the type every value is held in");
        assert_eq!(read_npy(&f8(&[0.5, f64::from(f32::MAX)])).unwrap().values, vec![0.5, f32::MAX]);
    }
}

both! {
    a_record_dtype_is_named_as_numpy_would {
        let header = "{'descr': [('a', '<f4'), ('b', '<i4')], 'fortran_order': False, 'shape': (2,), }";
        let mut h = header.to_string();
        while !(10 + h.len() + 1).is_multiple_of(64) {
            h.push(' ');
        }
        h.push('\n');
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend((h.len() as u16).to_le_bytes());
        bytes.extend(h.as_bytes());
        bytes.extend([0u8; 16]);
        let e = read_npy(&bytes).unwrap_err();
        assert!(matches!(e, FormatError::UnsupportedDtype { .. }), "{e:?}");
        let text = e.to_string();
        assert!(text.contains("record") && text.contains("a: <f4") && text.contains("b: <i4"), "{text}");
        assert!(!text.contains("TypeStr") && !text.contains("Field {"), "no Rust debug dump: {text}");
    }
}

both! {
    header_lengths_and_dimensions_past_32_bits_are_errors_on_every_platform {
        // Version 2 stores the header length in 4 bytes: 12 + 0xFFFFFFFF once wrapped a 32-bit
        // usize (wasm32) to 11, and npyz then allocated 4 GiB (a panic); 0xFFFFFFF4 wrapped to 0
        // and sliced bytes[10..0] (a panic).
        for len in [[0xff, 0xff, 0xff, 0xff], [0xf4, 0xff, 0xff, 0xff]] {
            let mut b = b"\x93NUMPY\x02\x00".to_vec();
            b.extend(len);
            let e = read_npy(&b).unwrap_err().to_string();
            assert!(e.contains("header is longer than the file"), "{e}");
        }
        // A dimension of 2^32 + 1 read as 1 on wasm32 (past the value limit unnoticed).
        let h = b"{'descr': '<f4', 'fortran_order': False, 'shape': (4294967297,), }";
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend((h.len() as u16).to_le_bytes());
        b.extend_from_slice(h);
        b.extend([0u8; 4]);
        assert!(read_npy(&b).is_err());
    }

    deeply_nested_headers_are_refused_at_once {
        // Found by cargo-fuzz: npyz's header parser backtracks exponentially on nesting; twelve
        // '{' in a 64-byte file took longer than 30 s before the nesting was checked first.
        let header = |h: &[u8]| {
            let mut b = b"\x93NUMPY\x01\x00".to_vec();
            b.extend((h.len() as u16).to_le_bytes());
            b.extend_from_slice(h);
            b
        };
        let mut braces = b"{".repeat(12);
        braces.extend(b" ".repeat(41));
        braces.push(b'\n');
        for (bytes, needle) in [
            (header(&braces), "second '{'"),
            (header(&[b"{".as_slice(), &b"[".repeat(22), b"'descr': '<f4', 'fortran_order': False, 'shape': (1,), }\n"].concat()), "deeper"),
            (fixture!("fuzz_npy_nested_1.npy").to_vec(), "second '{'"),
        ] {
            let e = read_npy(&bytes).unwrap_err();
            assert!(e.to_string().contains(needle), "{e}");
        }
        // Quoted brackets are text, not nesting; a record dtype (dict, list, tuple, shape) still reads.
        let ok = header(b"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }        \n");
        let mut ok = ok;
        ok.extend(1f32.to_le_bytes());
        ok.extend(2f32.to_le_bytes());
        assert_eq!(read_npy(&ok).unwrap().values, vec![1.0, 2.0]);
    }

    a_shape_whose_product_overflows_is_refused_before_npyz_multiplies_it {
        // Found by cargo-fuzz: npyz multiplies the shape in u64 unchecked, which panics where
        // overflow checks are on (debug builds, the fuzzer) and wraps where they are off.
        let header = |shape: &str, order: &str| {
            let mut h = format!("{{'descr': '<f4', 'fortran_order': {order}, 'shape': {shape}, }}").into_bytes();
            h.extend(b" ".repeat(64 - (h.len() + 11) % 64));
            h.push(b'\n');
            let mut b = b"\x93NUMPY\x01\x00".to_vec();
            b.extend((h.len() as u16).to_le_bytes());
            b.extend(h);
            b.extend([0u8; 24]);
            b
        };
        let fuzzed: &[u8] = b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order'   : True                  , 'shape': (0000013358428034712644262, 3), }               `        er': Tru                \x0a\xd0\xb3\x19\xcc\xee\x81\xbf?2\xab~?\xcc\xee\x81\xbf\xa5,\xa3\xbe\xc5\x01\x00?\x868\x8e\xbf";
        let e = read_npy(fuzzed).unwrap_err().to_string();
        assert!(e.contains("overflows"), "{e}");
        // The count's product, and the strides' in either order, where a 0 makes the count 0.
        for (shape, order) in [
            ("(4294967296, 4294967296)", "False"),
            ("(9223372036854775808, 4, 0)", "True"),
            ("(0, 4294967296, 4294967296)", "False"),
            ("(0x8000000000000000, 2)", "False"),
            ("(18446744073709551616,)", "False"),
        ] {
            let e = read_npy(&header(shape, order)).unwrap_err().to_string();
            assert!(e.contains("overflows") || e.contains("not a whole number below 2^64"), "{shape}: {e}");
        }
        // Shapes that fit read on, an empty one too (where usize holds 2^32: on wasm32 that
        // dimension is named, as it once read as 0 and gave the shape [0, 0]).
        match usize::BITS {
            64 => assert_eq!(read_npy(&header("(0, 4294967296)", "False")).unwrap().values.len(), 0),
            _ => assert!(read_npy(&header("(0, 4294967296)", "False")).unwrap_err().to_string().contains("does not fit this platform")),
        }
        assert_eq!(read_npy(&header("(2, 3)", "True")).unwrap().shape, [2, 3]);
    }
}
