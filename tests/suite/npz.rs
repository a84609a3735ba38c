//! `.npz` archives: NumPy-made fixtures (np.savez and np.savez_compressed, from
//! scripts/make_format_fixtures.py), round trips, the decompressed-size guard, and typed errors.
//! Runs natively and in the browser.

use std::io::{Cursor, Write};

use qplay::formats::npz::{read_npz, read_npz_limited, write_npz, MAX_NPZ_DECOMPRESSED};
use qplay::formats::{FormatError, Tensor};


const BASE: [f32; 6] = [0.6004, -1.0151, 1.1885, 0.9948, -0.3187, -1.1111];

fn get<'a>(arrays: &'a [(String, Tensor)], name: &str) -> &'a Tensor {
    &arrays.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no array {name}")).1
}

/// A zip with the given (name, bytes, deflated) members, written by the zip crate.
fn zip_of(members: &[(&str, &[u8], bool)]) -> Vec<u8> {
    let mut z = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, bytes, deflate) in members {
        let m = if *deflate { zip::CompressionMethod::Deflated } else { zip::CompressionMethod::Stored };
        z.start_file(*name, zip::write::SimpleFileOptions::default().compression_method(m)).unwrap();
        z.write_all(bytes).unwrap();
    }
    z.finish().unwrap().into_inner()
}

both! {
    numpy_savez_and_savez_compressed_read_every_member {
        for (label, bytes) in [("savez", &fixture!("arrays_savez.npz")[..]), ("savez_compressed", &fixture!("arrays_savez_compressed.npz")[..])] {
            let a = read_npz(bytes).unwrap_or_else(|e| panic!("{label}: {e}"));
            let names: Vec<&str> = a.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(names, ["f4", "f8_fortran", "f2", "i1", "u2", "b1"], "{label}: archive order, .npy dropped");
            assert_eq!(get(&a, "f4"), &Tensor { shape: vec![2, 3], values: BASE.to_vec() }, "{label}");
            // Fortran order becomes C order.
            assert_eq!(get(&a, "f8_fortran"), &Tensor { shape: vec![2, 3], values: vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0] }, "{label}");
            // f16 keeps 11 significant bits: |error| ≤ 2^-11 · |x|.
            for (got, want) in get(&a, "f2").values.iter().zip(BASE) {
                assert!((got - want).abs() <= want.abs() * 4.9e-4, "{label}: {got} vs {want}");
            }
            assert_eq!(get(&a, "i1").values, vec![-128.0, -1.0, 0.0, 127.0], "{label}");
            assert_eq!(get(&a, "u2").values, vec![0.0, 65535.0], "{label}");
            assert_eq!(get(&a, "b1").values, vec![1.0, 0.0], "{label}");
        }
    }

    written_archives_read_back_identically {
        let arrays = vec![
            ("weights".to_string(), Tensor { shape: vec![2, 3, 4], values: (0..24).map(|i| (i as f32 - 11.5) * 0.37).collect() }),
            ("bias".to_string(), Tensor { shape: vec![3], values: vec![f32::MIN_POSITIVE, -0.0, f32::MAX] }),
            ("scalar".to_string(), Tensor { shape: vec![], values: vec![2.5] }),
            ("empty".to_string(), Tensor { shape: vec![0, 4], values: vec![] }),
        ];
        for compressed in [false, true] {
            let bytes = write_npz(&arrays, compressed).unwrap();
            assert_eq!(read_npz(&bytes).unwrap(), arrays, "compressed = {compressed}");
        }
        // Deflate pays off on repetitive data.
        let zeros = vec![("z".to_string(), Tensor { shape: vec![4096], values: vec![0.0; 4096] })];
        assert!(write_npz(&zeros, true).unwrap().len() < write_npz(&zeros, false).unwrap().len() / 10);
        // A shape that does not match the values is an error, not a panic.
        let bad = vec![("x".to_string(), Tensor { shape: vec![2, 2], values: vec![1.0] })];
        assert!(matches!(write_npz(&bad, false), Err(FormatError::ShapeMismatch { expected: 4, found: 1 })));
    }

    a_zip_bomb_stops_at_the_limit {
        // 16 MiB of zeros behind a valid .npy header deflate to ~16 KB; with a 1 MiB limit the reader
        // stops at the header, which declares 16 MiB, whatever the zip headers claim.
        let n = (16usize << 20) / 4;
        let mut z = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        z.start_file("bomb.npy", opts).unwrap();
        z.write_all(&qplay::formats::npy::write_npy_f32(&vec![0.0; n], &[n])).unwrap();
        let bomb = z.finish().unwrap().into_inner();
        assert!(bomb.len() < 64 << 10, "the bomb is small: {} bytes", bomb.len());
        match read_npz_limited(&bomb, 1 << 20) {
            Err(e @ FormatError::DecompressedTooLarge { .. }) => {
                let FormatError::DecompressedTooLarge { ref member, bytes, limit } = e else { unreachable!() };
                assert_eq!((member.as_str(), bytes, limit), ("bomb.npy", bomb.len(), 1 << 20));
                // The message gives the archive's real size and the decompressed limit, not the
                // limit plus one as the file's size.
                let text = e.to_string();
                assert!(text.contains(&format!("({})", qplay::units::bytes_exact(bomb.len() as u128))) && text.contains("decompresses to more than the limit of 1,048,576 bytes (1 MiB)"), "{text}");
            }
            other => panic!("expected DecompressedTooLarge, got {other:?}"),
        }
        // A header declaring 1,000 values followed by zeros: the values are read and the rest is
        // inflated into a count only (NumPy's np.load drops it too), within the limit.
        let mut padded = qplay::formats::npy::write_npy_f32(&[0.5; 1000], &[1000]);
        padded.resize(padded.len() + (512 << 10), 0);
        let trailing = zip_of(&[("t.npy", &padded, true)]);
        let (got, largest) = crate::alloc_probe::largest_allocation(|| read_npz_limited(&trailing, 1 << 20).unwrap());
        assert_eq!((got[0].0.as_str(), got[0].1.values.len()), ("t", 1000));
        assert!(got[0].1.values.iter().all(|&v| v == 0.5));
        assert!(largest < 256 << 10, "the trailing zeros are not kept: an allocation of {largest} bytes");
        padded.resize(padded.len() + (16 << 20), 0);
        let bomb = zip_of(&[("t.npy", &padded, true)]);
        assert!(matches!(read_npz_limited(&bomb, 1 << 20), Err(FormatError::DecompressedTooLarge { .. })));
        // A corrupt member with trailing bytes (its values changed): its CRC-32 says so.
        let mut body = qplay::formats::npy::write_npy_f32(&[0.5; 1000], &[1000]);
        body.push(0);
        let mut corrupt = zip_of(&[("c.npy", &body, false)]);
        let at = memchr::memmem::find(&corrupt, &body).unwrap() + 200;
        corrupt[at] ^= 0x40;
        let e = read_npz_limited(&corrupt, 1 << 20).unwrap_err().to_string();
        assert!(e.contains("member \"c.npy\"") && e.to_lowercase().contains("checksum"), "{e}");
        // A member whose bytes no longer match its CRC-32 is an error, not wrong values.
        let body = qplay::formats::npy::write_npy_f32(&[0.5; 1000], &[1000]);
        let mut corrupt = zip_of(&[("c.npy", &body, false)]);
        let at = memchr::memmem::find(&corrupt, &body).unwrap() + body.len() - 1;
        corrupt[at] ^= 0x40;
        let e = read_npz_limited(&corrupt, 1 << 20).unwrap_err().to_string();
        assert!(e.contains("member \"c.npy\"") && e.to_lowercase().contains("checksum"), "{e}");
        // The limit counts every member together.
        let small = qplay::formats::npy::write_npy_f32(&[0.0; 1000], &[1000]);
        let two = zip_of(&[("a.npy", &small, true), ("b.npy", &small, true)]);
        assert!(read_npz_limited(&two, small.len() + 10).is_err());
        assert_eq!(read_npz_limited(&two, 2 * small.len()).unwrap().len(), 2);
        const { assert!(MAX_NPZ_DECOMPRESSED >= 256 << 20, "the default leaves room for a maximal .npy") };
    }

    one_byte_members_cannot_grow_fourfold {
        // `|b1` / `u1` members pass a byte limit yet become 4 bytes a value: the f32 values of
        // all members together are held to the same limit (values ≤ limit / 4).
        let member = |descr: &str, n: usize, body: usize| {
            let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': ({n},), }}");
            while (10 + header.len() + 1) % 64 != 0 {
                header.push(' ');
            }
            header.push('\n');
            let mut b = b"\x93NUMPY\x01\x00".to_vec();
            b.extend_from_slice(&(header.len() as u16).to_le_bytes());
            b.extend_from_slice(header.as_bytes());
            b.extend(std::iter::repeat_n(1u8, body));
            b
        };
        let (a, b) = (member("|u1", 1000, 1000), member("|b1", 100, 100));
        let both = zip_of(&[("a.npy", &a, true), ("b.npy", &b, true)]);
        // 1,356 bytes inflated, under 4,096; but 1,100 values, over 4,096 / 4.
        assert!(a.len() + b.len() < 4096);
        match read_npz_limited(&both, 4096) {
            Err(e @ FormatError::Malformed { .. }) => assert!(e.to_string().contains("array \"b\" holds 100 values; with the arrays before it at most 24 more"), "{e}"),
            other => panic!("expected the value limit, got {other:?}"),
        }
        let got = read_npz_limited(&both, 4400).unwrap();
        assert_eq!((get(&got, "a").values.len(), get(&got, "b").values.len()), (1000, 100));
        assert!(get(&got, "b").values.iter().all(|&v| v == 1.0));
        // A lone .npy is held to MAX_NPY_VALUES from its header, before its body is read.
        match qplay::formats::npy::read_npy(&member("|u1", qplay::formats::npy::MAX_NPY_VALUES + 1, 0)) {
            Err(FormatError::TooManyValues { count, limit }) => assert_eq!((count, limit), (limit + 1, 64 << 20)),
            other => panic!("expected TooManyValues, got {other:?}"),
        }
    }

    bad_archives_get_typed_errors {
        assert_eq!(read_npz(b"\x93NUMPY not a zip"), Err(FormatError::BadMagic { format: ".npz (zip)" }));
        let good = fixture!("arrays_savez_compressed.npz");
        for cut in [4, 30, good.len() / 2, good.len() - 1] {
            let e = read_npz(&good[..cut]).expect_err("a truncated archive fails");
            assert!(matches!(e, FormatError::Malformed { .. }), "cut {cut}: {e:?}");
        }
        let e = read_npz(&zip_of(&[("notes.txt", b"hello", false)])).unwrap_err();
        assert!(e.to_string().contains("\"notes.txt\" is not a .npy"), "{e}");
        let e = read_npz(&zip_of(&[("x.npy", b"not numpy at all", true)])).unwrap_err();
        assert!(e.to_string().contains("member \"x.npy\" is not a .npy array"), "{e}");
        // Cut before its end record (the zip's list of members): said so, not as the zip
        // crate's "Could not find EOCD".
        for cut in [30, good.len() / 2, good.len() - 23] {
            let e = read_npz(&good[..cut]).unwrap_err().to_string();
            assert!(e.contains("end record (after its list of members) is missing: the file is cut short"), "cut {cut}: {e}");
        }
        let e = read_npz(&zip_of(&[("s.npy", fixture!("str_unsupported.npy"), false)])).unwrap_err();
        assert!(matches!(e, FormatError::UnsupportedDtype { ref dtype } if dtype.contains("array \"s\"")), "{e:?}");
        // A member compressed with bzip2 (method 12 in its local and central headers) is named
        // with its method, not the zip crate's "not supported: 12".
        let mut bz = zip_of(&[("a.npy", &qplay::formats::npy::write_npy_f32(&[1.0], &[1]), false)]);
        let central = bz.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
        bz[8] = 12;
        bz[central + 10] = 12;
        let e = read_npz(&bz).unwrap_err().to_string();
        assert!(e.contains("member \"a.npy\" is compressed with Bzip2: qplay reads stored and deflated members"), "{e}");
        // Flip a byte inside deflated data: the CRC (or inflate) catches it.
        let mut flipped = good.to_vec();
        flipped[60] ^= 0x55;
        assert!(read_npz(&flipped).is_err());
    }

    members_of_a_dtype_qplay_does_not_read_are_named_and_the_others_read {
        use qplay::formats::files::read_tensor_file;
        // NumPy's archive: strings, a float array, complex and objects (a pickle, never parsed).
        let bytes = fixture!("arrays_some_unreadable.npz");
        let file = read_tensor_file("mixed.npz", bytes).expect("the float member reads");
        assert_eq!(file.tensors.len(), 1);
        assert_eq!(file.tensors[0].0, "w");
        assert_eq!(file.tensors[0].1.shape, vec![2, 3]);
        assert_eq!(file.tensors[0].1.values[..3], BASE[..3]);
        let dtypes: Vec<(&str, &str)> = file.unread.iter().map(|(n, d)| (n.as_str(), d.as_str())).collect();
        assert_eq!(dtypes, vec![("labels", "<U3"), ("z", "<c8"), ("o", "|O")]);
        let note = file.note().unwrap();
        assert!(note.contains("\"labels\" (<U3), \"z\" (<c8), \"o\" (|O)"), "{note}");
        assert!(file.missing("mixed.npz", "z").contains("tensor \"z\" is of dtype <c8"), "{}", file.missing("mixed.npz", "z"));
        assert!(file.missing("mixed.npz", "q").contains("no tensor \"q\"; it holds w, labels, z, o"), "{}", file.missing("mixed.npz", "q"));
        // The strict reader (qplay's own fixtures) still refuses the archive, naming the member.
        let e = read_npz(bytes).unwrap_err();
        assert!(matches!(e, FormatError::UnsupportedDtype { ref dtype } if dtype.contains("array \"labels\"")), "{e:?}");
        // A file of nothing qplay reads is refused, every member named.
        let only = zip_of(&[("s.npy", fixture!("str_unsupported.npy"), true)]);
        let e = read_tensor_file("s.npz", &only).unwrap_err();
        assert!(e.contains("s.npz: no tensor of a dtype qplay reads") && e.contains("\"s\" (<U2)"), "{e}");
        // Members that are not arrays (np.load hands them back as bytes: `f["README.txt"]` is
        // b"hello", `f["x"]` b"not numpy at all", beside `f["w"]`, with NumPy 2) are named and
        // passed over; a file of nothing else says what it holds.
        let w = qplay::formats::npy::write_npy_f32(&[1.0, 2.0], &[2]);
        let archive = zip_of(&[("README.txt", b"hello", false), ("w.npy", &w, true), ("x.npy", b"not numpy at all", true)]);
        let file = read_tensor_file("notes.npz", &archive).expect("the array beside the notes reads");
        assert_eq!((file.tensors.len(), &file.tensors[0].0, &file.tensors[0].1.values), (1, &"w".to_string(), &vec![1.0, 2.0]));
        assert_eq!(file.not_arrays, ["README.txt", "x.npy"]);
        assert_eq!(file.note().unwrap(), "not arrays, passed over: \"README.txt\", \"x.npy\"");
        assert_eq!(file.missing("notes.npz", "README.txt"), "notes.npz: member \"README.txt\" is not a .npy array");
        let e = read_tensor_file("notes.npz", &zip_of(&[("README.txt", b"hello", false)])).unwrap_err();
        assert_eq!(e, "notes.npz: no .npy arrays; its members: \"README.txt\"");
        let e = read_tensor_file("mixed.npz", &zip_of(&[("s.npy", fixture!("str_unsupported.npy"), true), ("a.txt", b"", false)])).unwrap_err();
        assert!(e.contains("\"s\" (<U2); not arrays: \"a.txt\""), "{e}");
        // Both kinds in one note.
        let archive = zip_of(&[("s.npy", fixture!("str_unsupported.npy"), true), ("w.npy", &w, false), ("a.txt", b"", false)]);
        let note = read_tensor_file("both.npz", &archive).unwrap().note().unwrap();
        assert_eq!(note, "not read, of a dtype qplay does not read: \"s\" (<U2); not arrays, passed over: \"a.txt\"");
        // An empty file says so, whatever its kind.
        for name in ["e.npy", "e.npz", "e.safetensors"] {
            assert_eq!(read_tensor_file(name, &[]).unwrap_err(), format!("{name}: the file is empty (0 bytes)"));
        }
        // An unreadable member past the size limit is still only named: it is never inflated.
        let mut huge = b"\x93NUMPY\x01\x00".to_vec();
        let header = "{'descr': '<U9', 'fortran_order': False, 'shape': (100000000000,), }";
        let header = format!("{header:<117}\n");
        huge.extend_from_slice(&(header.len() as u16).to_le_bytes());
        huge.extend_from_slice(header.as_bytes());
        let archive = zip_of(&[("big.npy", &huge, true), ("w.npy", &qplay::formats::npy::write_npy_f32(&[1.0, 2.0], &[2]), false)]);
        let file = read_tensor_file("big.npz", &archive).unwrap();
        assert_eq!((file.tensors.len(), file.unread.len()), (1, 1));
    }

    tensors_travel_between_page_and_worker_bit_for_bit_and_bad_shapes_are_named {
        use qplay::formats::{pack_tensors, unpack_tensors};
        // NumPy's archive, read, packed as the worker sends it (names and shapes as JSON, the
        // values as bytes) and unpacked as the page does: every value bit for bit, in order.
        let read = read_npz(fixture!("arrays_savez.npz")).unwrap();
        let mut with_nan = read.clone();
        with_nan.push(("odd".into(), Tensor { shape: vec![3, 0, 2], values: vec![] }));
        with_nan.push(("nan".into(), Tensor { shape: vec![2], values: vec![f32::NAN, -0.0] }));
        let (shapes, bytes) = pack_tensors(&with_nan, usize::MAX);
        let shapes = serde_json::from_str(&serde_json::to_string(&shapes).unwrap()).unwrap();
        let back = unpack_tensors(shapes, &bytes, usize::MAX).unwrap();
        assert_eq!(back.len(), with_nan.len());
        for ((n, t), (m, u)) in with_nan.iter().zip(&back) {
            assert_eq!((n, &t.shape), (m, &u.shape));
            assert_eq!(t.values.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), u.values.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), "{n}");
        }
        // Shapes that do not account for exactly the bytes: named, nothing allocated for them.
        let four = 1f32.to_le_bytes();
        let half = usize::MAX / 2 + 1;
        for (shape, bytes) in [
            (vec![2usize], &four[..]),
            (vec![1], &four[..3]),
            (vec![half, 2], &four[..]),
            (vec![half, 4, 1], &four[..]),
            (vec![usize::MAX, usize::MAX], &four[..]),
        ] {
            let e = unpack_tensors(vec![("t".into(), shape.clone())], bytes, usize::MAX).unwrap_err();
            assert!(matches!(e, FormatError::ShapeMismatch { found, .. } if found == bytes.len() / 4), "{shape:?}: {e}");
        }
        // Two tensors whose counts overflow only when added.
        assert!(unpack_tensors(vec![("a".into(), vec![usize::MAX]), ("b".into(), vec![1])], &four, usize::MAX).is_err());
        // A saturated product times a zero dimension is truly empty.
        let empty = unpack_tensors(vec![("z".into(), vec![usize::MAX, 2, 0]), ("one".into(), vec![1])], &four, usize::MAX).unwrap();
        assert_eq!((empty[0].1.values.len(), empty[1].1.values.clone()), (0, vec![1.0]));
        // With a limit, as between the page and the worker: a tensor of more values travels by
        // its shape alone, counted by its shape, and the others keep their values in order.
        let (shapes, bytes) = pack_tensors(&with_nan, 4);
        let kept: usize = with_nan.iter().map(|(_, t)| t.values.len()).filter(|&n| n <= 4).sum();
        assert_eq!(bytes.len(), 4 * kept);
        assert!(kept < with_nan.iter().map(|(_, t)| t.values.len()).sum::<usize>(), "the fixture has a tensor past the limit");
        let back = unpack_tensors(shapes, &bytes, 4).unwrap();
        for ((n, t), (m, u)) in with_nan.iter().zip(&back) {
            assert_eq!((n, &t.shape, t.count()), (m, &u.shape, u.count()));
            let expect: Vec<u32> = if t.values.len() <= 4 { t.values.iter().map(|v| v.to_bits()).collect() } else { vec![] };
            assert_eq!(u.values.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), expect, "{n}");
        }
        // A shape past the limit sends nothing, so bytes for it are a mismatch.
        assert!(unpack_tensors(vec![("t".into(), vec![5])], &[0u8; 20], 4).is_err());
        // Kept packed, as the page keeps a file: each tensor unpacked alone is the one all
        // unpacked at once gives; past the end, none; a mismatch as above.
        use qplay::formats::PackedTensors;
        let (shapes, bytes) = pack_tensors(&with_nan, 4);
        let packed = PackedTensors::new(shapes.clone(), bytes.clone(), 4).unwrap();
        let all = unpack_tensors(shapes, &bytes, 4).unwrap();
        assert_eq!(packed.len(), all.len());
        for (i, (n, t)) in all.iter().enumerate() {
            let (m, u) = packed.tensor(i).unwrap();
            assert_eq!((n, &t.shape), (&m, &u.shape));
            assert_eq!(packed.shapes()[i], (n.clone(), t.shape.clone()));
            assert_eq!(t.values.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), u.values.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), "{n}");
        }
        assert!(packed.tensor(all.len()).is_none());
        assert!(PackedTensors::new(vec![("t".into(), vec![5])], vec![0u8; 20], 4).is_err());
        assert!(PackedTensors::new(vec![("t".into(), vec![2])], vec![0u8; 7], 4).is_err());
    }
}

/// The zip64 end of an archive whose central directory of `dir` bytes starts at `start`,
/// declaring `count` members, for bytes that end at `record` (where the zip64 record goes): the
/// zip64 record, its locator, and an end record that sends readers to them (counts 0xFFFF).
#[cfg(not(target_arch = "wasm32"))]
fn zip64_end(count: u64, start: u64, dir: u64, record: u64) -> Vec<u8> {
    let mut z = Vec::new();
    z.extend(b"PK\x06\x06");
    z.extend(44u64.to_le_bytes());
    z.extend([45, 0, 45, 0]);
    z.extend([0u8; 8]); // this disk, the directory's disk
    z.extend(count.to_le_bytes());
    z.extend(count.to_le_bytes());
    z.extend(dir.to_le_bytes());
    z.extend(start.to_le_bytes());
    z.extend(b"PK\x06\x07");
    z.extend(0u32.to_le_bytes());
    z.extend(record.to_le_bytes());
    z.extend(1u32.to_le_bytes());
    z.extend(b"PK\x05\x06");
    z.extend([0u8; 4]);
    z.extend([0xff; 4]);
    z.extend([0xff; 8]);
    z.extend([0u8; 2]);
    z
}

/// A zip64 archive whose end records declare `count` members in a central directory of `dir`
/// bytes at offset `start` (zeros: no real member), as a hostile file would.
#[cfg(not(target_arch = "wasm32"))]
fn zip64_declaring(count: u64, start: u64, dir: u64) -> Vec<u8> {
    let mut z = vec![0u8; (start + dir) as usize];
    z[..4].copy_from_slice(b"PK\x03\x04");
    let end = zip64_end(count, start, dir, z.len() as u64);
    z.extend(end);
    z
}

#[cfg(not(target_arch = "wasm32"))]
#[test]
fn a_zip64_member_count_past_the_limit_is_refused_before_the_directory_is_read() {
    use crate::alloc_probe::largest_allocation;
    use qplay::formats::npz::MAX_NPZ_MEMBERS;
    // The zip crate reserved 160 bytes per declared member before reading any: 10 MiB for
    // 65,536, 160 MiB for 2^20 members declared in a 49 MB file (~930 MB for 256 MiB).
    for c in [1u64 << 16, 1 << 20] {
        let bytes = zip64_declaring(c, c, 46 * c);
        let (r, largest) = largest_allocation(|| read_npz(&bytes).map(|v| v.len()));
        let e = r.unwrap_err().to_string();
        assert!(e.contains(&format!("declares {c} members; at most {MAX_NPZ_MEMBERS}")), "{e}");
        assert!(largest < 1 << 20, "{c} members declared: largest allocation {largest} bytes");
    }
    // A declared count within the limit goes on to the crate, which finds no member there.
    let few = zip64_declaring(100, 100, 4600);
    assert!(!read_npz(&few).unwrap_err().to_string().contains("declares"));
    // A real archive given a zip64 end (its one member declared there) still reads.
    let plain = zip_of(&[("a.npy", &qplay::formats::npy::write_npy_f32(&[1.5, -2.0], &[2]), true)]);
    let eocd = plain.len() - 22;
    let u32_at = |at: usize| u32::from_le_bytes(plain[at..at + 4].try_into().unwrap()) as u64;
    let mut zip64 = plain[..eocd].to_vec();
    zip64.extend(zip64_end(1, u32_at(eocd + 16), u32_at(eocd + 12), eocd as u64));
    assert_eq!(read_npz(&zip64).unwrap()[0].1.values, vec![1.5, -2.0]);
    // ... and declaring 5,000 members refuses it, by the count.
    let mut many = plain[..eocd].to_vec();
    many.extend(zip64_end(5000, u32_at(eocd + 16), u32_at(eocd + 12), eocd as u64));
    assert!(read_npz(&many).unwrap_err().to_string().contains("declares 5000 members"));
}

#[cfg(not(target_arch = "wasm32"))]
#[test]
fn a_zip64_locator_that_points_nowhere_is_refused_before_the_crate_searches_the_file() {
    // 16 MiB of zip64 record signatures, and a locator that points at none of them: the zip
    // crate searched every signature for a record ending at the locator (86 s natively for
    // 256 MiB). Refused by name, in one pass over the file's last 64 KiB.
    let mut bytes: Vec<u8> = b"PK\x06\x06".iter().copied().cycle().take(16 << 20).collect();
    bytes[..4].copy_from_slice(b"PK\x03\x04");
    let n = bytes.len();
    let end = zip64_end(1, 0, 0, 0);
    bytes[n - end.len()..].copy_from_slice(&end);
    let t = std::time::Instant::now();
    let e = read_npz(&bytes).unwrap_err().to_string();
    eprintln!("16 MiB of zip64 record signatures, locator pointing at none: {e} in {:.3} s", t.elapsed().as_secs_f64());
    assert!(e.contains("zip64 locator at byte") && e.contains("does not point at a zip64 end record"), "{e}");
    // The same with the locator pointing at the record before it: read by the crate, which finds
    // no member at offset 0.
    let end = zip64_end(1, 0, 0, (n - 98) as u64);
    bytes[n - end.len()..].copy_from_slice(&end);
    assert!(!read_npz(&bytes).unwrap_err().to_string().contains("zip64"));
    // A record on another disk, or declaring more members than fit before it: named.
    let mut other_disk = zip64_end(1, 0, 0, (n - 98) as u64);
    other_disk[16] = 1;
    bytes[n - other_disk.len()..].copy_from_slice(&other_disk);
    assert!(read_npz(&bytes).unwrap_err().to_string().contains("several disks"));
    let crowded = zip64_end(4000, (n - 98 - 100) as u64, 100, (n - 98) as u64);
    bytes[n - crowded.len()..].copy_from_slice(&crowded);
    assert!(read_npz(&bytes).unwrap_err().to_string().contains("do not fit before its end record"));
}
