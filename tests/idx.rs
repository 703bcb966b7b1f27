//! The IDX format: round trips for every type, one test per error, the gzip
//! cache, and properties of `parse` on arbitrary bytes.

use std::path::Path;

use fastnn::Error;
use fastnn::idx::{self, ElemType, Element, IdxError, IdxView, MAX_DIMS, parse};
use fastnn::idx_file::{self, IdxFile, cached_path, open_with_cache};
use proptest::prelude::*;

use crate::util::{self, files_in, gzip, idx_bytes, idx_u8, temp_dir, write};

/// Writes `values` as an IDX file of `dims` (big-endian by hand), opens it
/// raw and gzipped, and checks header and values.
fn round_trip<T: Element + PartialEq + std::fmt::Debug>(dims: &[u32], values: &[T]) {
    let mut data = Vec::new();
    for &v in values {
        data.extend_from_slice(bytemuck::bytes_of(&v.to_be()));
    }
    let bytes = idx_bytes(T::TYPE.byte(), dims, &data);
    let dir = temp_dir();
    let raw = write(dir.path(), "a.idx", &bytes);
    let gz = write(dir.path(), "a.idx.gz", &gzip(&bytes));
    for path in [raw, gz] {
        let file = IdxFile::open(&path).unwrap();
        let want: Vec<usize> = dims.iter().map(|&d| d as usize).collect();
        assert_eq!(file.header().dims(), &want[..], "{}", path.display());
        assert_eq!(file.header().elem_type(), T::TYPE);
        assert_eq!(file.header().count(), values.len());
        assert_eq!(file.view().to_vec::<T>().unwrap(), values);
        let back: Vec<T> = file.view().values::<T>().unwrap().rev().collect();
        assert!(back.iter().eq(values.iter().rev()));
    }
}

#[test]
fn round_trip_every_type_and_several_ndims() {
    let shapes: [&[u32]; 5] = [&[7], &[2, 3], &[2, 3, 4], &[1, 2, 1, 3], &[0, 5]];
    for dims in shapes {
        let n = dims.iter().product::<u32>() as usize;
        let u: Vec<u8> = (0..n).map(|i| (i * 37) as u8).collect();
        round_trip::<u8>(dims, &u);
        round_trip::<i8>(dims, &u.iter().map(|&b| b as i8).collect::<Vec<_>>());
        let i16s: Vec<i16> = (0..n).map(|i| (i as i16 - 3) * 1031).collect();
        round_trip::<i16>(dims, &i16s);
        let i32s: Vec<i32> = (0..n).map(|i| (i as i32 - 5) * 0x0102_0304).collect();
        round_trip::<i32>(dims, &i32s);
        let f32s: Vec<f32> = (0..n).map(|i| i as f32 * -1.25 + 0.1).collect();
        round_trip::<f32>(dims, &f32s);
        let f64s: Vec<f64> = (0..n).map(|i| i as f64 * 1e300 - 0.3).collect();
        round_trip::<f64>(dims, &f64s);
    }
}

#[test]
fn multi_byte_values_are_big_endian() {
    // 0x0102 as i16, 0x01020304 as i32, 1.0f32 and -2.0f64, written by hand.
    let cases: [(u8, &[u8]); 4] = [
        (0x0B, &[0x01, 0x02]),
        (0x0C, &[1, 2, 3, 4]),
        (0x0D, &[0x3f, 0x80, 0, 0]),
        (0x0E, &[0xc0, 0, 0, 0, 0, 0, 0, 0]),
    ];
    let views: Vec<Vec<u8>> = cases.iter().map(|(t, d)| idx_bytes(*t, &[1], d)).collect();
    let v = |i: usize| IdxView::new(&views[i]).unwrap();
    assert_eq!(v(0).to_vec::<i16>().unwrap(), [0x0102]);
    assert_eq!(v(1).to_vec::<i32>().unwrap(), [0x0102_0304]);
    assert_eq!(v(2).to_vec::<f32>().unwrap(), [1.0]);
    assert_eq!(v(3).to_vec::<f64>().unwrap(), [-2.0]);
}

#[test]
fn u8_and_i8_views_borrow_in_place() {
    let bytes = idx_u8(&[2, 2], &[1, 2, 250, 4]);
    let view = IdxView::new(&bytes).unwrap();
    let slice = view.slice::<u8>().unwrap();
    assert_eq!(slice.as_ptr(), bytes[12..].as_ptr());
    let signed = idx_bytes(0x09, &[2], &[0xff, 1]);
    assert_eq!(
        IdxView::new(&signed).unwrap().slice::<i8>().unwrap(),
        [-1, 1]
    );
}

#[test]
fn raw_files_are_memory_mapped() {
    let dir = temp_dir();
    let path = write(dir.path(), "m.idx", &idx_u8(&[3], &[1, 2, 3]));
    let file = IdxFile::open(&path).unwrap();
    assert!(file.is_mapped());
    assert_eq!(file.data(), [1, 2, 3]);
}

#[test]
fn in_memory_files_validate_like_mapped_ones() {
    let file = IdxFile::from_bytes("mem.idx", idx_u8(&[2], &[3, 4])).unwrap();
    assert!(!file.is_mapped());
    assert_eq!(
        (file.path(), file.data()),
        (Path::new("mem.idx"), &[3, 4][..])
    );
    let err = IdxFile::from_bytes("mem.idx", vec![0, 0, 8]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "mem.idx: truncated header: needs 4 bytes, file has 3"
    );
}

#[test]
fn header_reports_lengths() {
    let bytes = idx_bytes(0x0D, &[2, 3], &[0; 24]);
    let h = parse(&bytes).unwrap();
    assert_eq!((h.header_len(), h.data_len(), h.file_len()), (12, 24, 36));
    assert_eq!(h.to_string(), "f32 2×3");
}

/// Writes `bytes` as `name` in a temp dir, opens it, and checks that the
/// error is one line: the file's path, then `problem` (a prefix of the rest).
fn expect_open_err(name: &str, bytes: &[u8], problem: &str) {
    let dir = temp_dir();
    let path = write(dir.path(), name, bytes);
    let msg = IdxFile::open(&path).unwrap_err().to_string();
    assert!(!msg.contains('\n'), "one line: {msg:?}");
    let want = format!("{}: {problem}", path.display());
    assert!(msg.starts_with(&want), "{msg}\nwanted: {want}");
}

#[test]
fn error_truncated_header() {
    let msg = "truncated header: needs 4 bytes, file has 3";
    expect_open_err("short.idx", &[0, 0, 8], msg);
    // Three dimensions need 16 header bytes; only 8 are present.
    let msg = "truncated header: needs 16 bytes, file has 8";
    expect_open_err("short-dims.idx", &[0, 0, 8, 3, 0, 0, 0, 5], msg);
}

#[test]
fn error_truncated_data() {
    let mut bytes = idx_u8(&[2, 3], &[1; 6]);
    bytes.pop();
    let msg = "truncated data: header declares 2×3 of u8 = 18 bytes in all, file has 17";
    expect_open_err("cut.idx", &bytes, msg);
}

#[test]
fn error_trailing_bytes() {
    let mut bytes = idx_bytes(0x0B, &[2], &[0; 4]);
    bytes.extend_from_slice(&[9, 9, 9]);
    let msg =
        "3 trailing bytes from offset 12: header declares 2 of i16 = 12 bytes in all, file has 15";
    expect_open_err("long.idx", &bytes, msg);
}

#[test]
fn error_bad_magic() {
    let msg = "bad magic at offset 0: expected 00 00, found 1f 8b";
    expect_open_err("magic.idx", &[0x1f, 0x8b, 8, 1, 0, 0, 0, 0], msg);
}

#[test]
fn error_bad_type_byte() {
    let msg = "unknown element type 0x0a at offset 2 (expected one of 0x08, 0x09, 0x0b, 0x0c, 0x0d, 0x0e)";
    expect_open_err("type.idx", &idx_bytes(0x0A, &[1], &[0]), msg);
}

#[test]
fn error_zero_dims() {
    let msg = "bad dimension count 0 at offset 3 (expected 1 to 16)";
    expect_open_err("zero.idx", &[0, 0, 8, 0], msg);
}

#[test]
fn error_too_many_dims() {
    let dims = vec![1u32; MAX_DIMS + 1];
    let msg = "bad dimension count 17 at offset 3 (expected 1 to 16)";
    expect_open_err("many.idx", &idx_bytes(8, &dims, &[7]), msg);
}

#[test]
fn error_dims_overflow() {
    let bytes = idx_bytes(0x0E, &[u32::MAX, u32::MAX, 3], &[]);
    let msg = "dimensions 4294967295×4294967295×3 of f64 overflow the address space";
    expect_open_err("huge.idx", &bytes, msg);
    // Fits in u64 elements, but not in bytes once times 8.
    let h = parse(&idx_bytes(0x0E, &[u32::MAX, u32::MAX >> 2], &[]));
    assert!(matches!(h, Err(IdxError::Overflow { .. })), "{h:?}");
}

#[test]
fn error_missing_file() {
    let dir = temp_dir();
    let path = dir.path().join("absent.idx");
    let msg = IdxFile::open(&path).unwrap_err().to_string();
    assert!(msg.starts_with(&path.display().to_string()), "{msg}");
    assert!(msg.contains("No such file"), "{msg}");
    let gz = dir.path().join("absent.idx.gz");
    let msg = IdxFile::open(&gz).unwrap_err().to_string();
    assert!(
        msg.contains("absent.idx.gz: ") && msg.contains("No such file"),
        "{msg}"
    );
}

#[test]
fn error_corrupt_gzip() {
    let good = gzip(&idx_u8(&[100], &[5; 100]));
    let msg = "corrupt gzip data after 0 decompressed bytes: invalid gzip header";
    expect_open_err("bad.idx.gz", b"this is not gzip at all", msg);
    // Cut the stream: the decoder runs out before the end.
    let msg = "corrupt gzip data after ";
    expect_open_err("cut.idx.gz", &good[..good.len() - 12], msg);
    // Flip a byte in the trailer: the CRC check fails.
    let mut crc = good.clone();
    let at = crc.len() - 6;
    crc[at] ^= 0xff;
    expect_open_err("crc.idx.gz", &crc, msg);
}

#[test]
fn error_gzip_contents_checked_like_raw() {
    let mut long = idx_u8(&[4], &[1; 4]);
    long.push(0);
    let msg = "gzip data decompresses past the 12 bytes its IDX header declares (4 of u8)";
    expect_open_err("long.idx.gz", &gzip(&long), msg);
    let short = gzip(&idx_u8(&[4], &[1; 4])[..10]);
    let msg = "truncated data: header declares 4 of u8 = 12 bytes in all, file has 10";
    expect_open_err("short.idx.gz", &short, msg);
    let msg = "bad magic at offset 0";
    expect_open_err("magic.idx.gz", &gzip(&[1, 0, 8, 1, 0, 0, 0, 0]), msg);
}

#[test]
fn error_gzip_bomb_stops_at_header_length() {
    // A header declaring 16 bytes, followed by 64 MiB of zeros: refused
    // while streaming, and nothing is left in the cache folder.
    let dir = temp_dir();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    use std::io::Write;
    enc.write_all(&idx_u8(&[8], &[0; 8])).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..64 {
        enc.write_all(&zeros).unwrap();
    }
    let path = write(dir.path(), "bomb.idx.gz", &enc.finish().unwrap());
    let cache = dir.path().join("cache");
    let err = open_with_cache(&path, &cache).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Idx {
                source: IdxError::Oversized { expected: 16, .. },
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(files_in(&cache), Vec::<std::path::PathBuf>::new());
}

#[test]
fn error_wrong_element_type() {
    let bytes = idx_bytes(0x0C, &[1], &[0; 4]);
    let view = IdxView::new(&bytes).unwrap();
    let err = view.values::<f32>().unwrap_err();
    assert_eq!(err.to_string(), "element type is i32, expected f32");
    assert!(view.slice::<u8>().is_err());
}

/// The one cache file of `gz` in `cache`.
fn only_cache_file(cache: &Path) -> std::path::PathBuf {
    let files = files_in(cache);
    assert_eq!(files.len(), 1, "{files:?}");
    files.into_iter().next().unwrap()
}

#[test]
fn gz_cache_is_built_once_and_reused() {
    let dir = temp_dir();
    let cache = dir.path().join("cache");
    let gz = write(dir.path(), "x.idx.gz", &gzip(&idx_u8(&[3], &[1, 2, 3])));
    let file = open_with_cache(&gz, &cache).unwrap();
    assert!(file.is_mapped());
    assert_eq!(file.path(), gz);
    let built = only_cache_file(&cache);
    assert_eq!(built, cached_path(&gz, &cache).unwrap());
    let modified = std::fs::metadata(&built).unwrap().modified().unwrap();
    let again = open_with_cache(&gz, &cache).unwrap();
    assert_eq!(again.data(), [1, 2, 3]);
    assert_eq!(
        std::fs::metadata(&built).unwrap().modified().unwrap(),
        modified
    );
}

#[test]
fn stale_cache_is_rebuilt() {
    let dir = temp_dir();
    let cache = dir.path().join("cache");
    let gz = write(dir.path(), "x.idx.gz", &gzip(&idx_u8(&[3], &[1, 2, 3])));
    open_with_cache(&gz, &cache).unwrap();
    let old = only_cache_file(&cache);
    // New contents of the same length; set the time explicitly so that a
    // coarse file-system clock cannot hide the change.
    std::fs::write(&gz, gzip(&idx_u8(&[3], &[7, 8, 9]))).unwrap();
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
    std::fs::File::options()
        .write(true)
        .open(&gz)
        .unwrap()
        .set_modified(later)
        .unwrap();
    let file = open_with_cache(&gz, &cache).unwrap();
    assert_eq!(file.data(), [7, 8, 9]);
    let new = only_cache_file(&cache);
    assert_ne!(old, new, "the stale cache file is replaced");
}

#[test]
fn corrupt_cache_is_rebuilt() {
    let dir = temp_dir();
    let cache = dir.path().join("cache");
    let gz = write(
        dir.path(),
        "x.idx.gz",
        &gzip(&idx_u8(&[2, 2], &[1, 2, 3, 4])),
    );
    open_with_cache(&gz, &cache).unwrap();
    let built = only_cache_file(&cache);
    // Truncated (as by a crash of some older writer), then garbage.
    for bad in [&idx_u8(&[2, 2], &[1, 2, 3, 4])[..14], b"garbage"] {
        std::fs::write(&built, bad).unwrap();
        let file = open_with_cache(&gz, &cache).unwrap();
        assert_eq!(file.data(), [1, 2, 3, 4]);
        assert_eq!(
            std::fs::read(&built).unwrap(),
            idx_u8(&[2, 2], &[1, 2, 3, 4])
        );
    }
}

#[test]
fn unwritable_cache_dir_falls_back_to_the_user_cache() {
    let dir = temp_dir();
    // A regular file where the cache folder should be: it cannot be created.
    let blocker = write(dir.path(), "not-a-dir", b"");
    let gz = write(dir.path(), "fallback.idx.gz", &gzip(&idx_u8(&[2], &[4, 2])));
    let file = open_with_cache(&gz, &blocker).unwrap();
    assert_eq!(file.data(), [4, 2]);
    // Never the shared temporary folder, where others could plant a file.
    let shared = std::env::temp_dir().join("fastnn-cache");
    assert!(!cached_path(&gz, &shared).unwrap().exists());
    if let Some(user) = idx_file::user_cache_dir() {
        let cached = cached_path(&gz, &user).unwrap();
        assert!(cached.is_file(), "{}", cached.display());
        std::fs::remove_file(cached).unwrap();
    }
}

#[cfg(unix)]
#[test]
fn caches_in_folders_others_can_write_are_not_trusted() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir();
    let gz = write(dir.path(), "t.idx.gz", &gzip(&idx_u8(&[2], &[4, 2])));
    let shared = dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
    // A planted "cache" with other labels, at the very name fastnn uses.
    let planted = cached_path(&gz, &shared).unwrap();
    std::fs::write(&planted, idx_u8(&[2], &[9, 9])).unwrap();
    let file = open_with_cache(&gz, &shared).unwrap();
    assert_eq!(file.data(), [4, 2], "the planted file was trusted");
    assert_eq!(std::fs::read(&planted).unwrap(), idx_u8(&[2], &[9, 9]));
    if let Some(user) = idx_file::user_cache_dir() {
        let _ = std::fs::remove_file(cached_path(&gz, &user).unwrap());
    }
}

#[test]
fn a_replaced_gz_of_the_same_length_and_time_gets_a_new_cache() {
    let dir = temp_dir();
    let cache = dir.path().join("cache");
    let gz = write(dir.path(), "r.idx.gz", &gzip(&idx_u8(&[2], &[1, 2])));
    let stamp = std::fs::metadata(&gz).unwrap().modified().unwrap();
    assert_eq!(open_with_cache(&gz, &cache).unwrap().data(), [1, 2]);
    let other = gzip(&idx_u8(&[2], &[3, 4]));
    assert_eq!(other.len(), std::fs::metadata(&gz).unwrap().len() as usize);
    std::fs::write(&gz, &other).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&gz)
        .unwrap()
        .set_modified(stamp)
        .unwrap();
    assert_eq!(open_with_cache(&gz, &cache).unwrap().data(), [3, 4]);
    // The stale cache is gone.
    assert_eq!(files_in(&cache).len(), 1);
}

#[test]
fn gz_with_zero_padding_is_read_like_gzip_reads_it() {
    let dir = temp_dir();
    let cache = dir.path().join("cache");
    let data = idx_u8(&[3], &[7, 8, 9]);
    let mut padded = gzip(&data);
    padded.extend_from_slice(&[0u8; 4096]);
    let gz = write(dir.path(), "p.idx.gz", &padded);
    assert_eq!(open_with_cache(&gz, &cache).unwrap().data(), [7, 8, 9]);
    // Two members, as `cat a.gz b.gz` makes: one file.
    let (a, b) = data.split_at(6);
    let mut two = gzip(a);
    two.extend_from_slice(&gzip(b));
    let gz = write(dir.path(), "m.idx.gz", &two);
    assert_eq!(open_with_cache(&gz, &cache).unwrap().data(), [7, 8, 9]);
    // Anything else after the data is an error naming the file.
    let mut junk = gzip(&data);
    junk.extend_from_slice(b"junk");
    let gz = write(dir.path(), "j.idx.gz", &junk);
    let err = open_with_cache(&gz, &cache).unwrap_err().to_string();
    assert!(
        err.contains("j.idx.gz") && err.contains("trailing garbage"),
        "{err}"
    );
}

#[test]
fn info_reports_type_dims_and_histogram() {
    let dir = temp_dir();
    let labels = write(dir.path(), "labels.idx", &idx_u8(&[6], &[0, 2, 2, 1, 2, 0]));
    let info = idx_file::info(&labels).unwrap();
    assert_eq!(info.histogram.as_deref(), Some(&[2, 1, 3][..]));
    let text = info.to_string();
    assert!(text.starts_with(&format!(
        "{}: u8 6, 6 values, 14 bytes on disk",
        labels.display()
    )));
    assert!(
        text.ends_with("\n  classes: 3; histogram: 0:2 1:1 2:3"),
        "{text}"
    );
    let images = write(dir.path(), "img.idx", &idx_bytes(0x0D, &[2, 1, 1], &[0; 8]));
    let info = idx_file::info(&images).unwrap();
    assert!(info.histogram.is_none());
    assert!(info.to_string().contains("img.idx: f32 2×1×1, 2 values"));
    let err = idx_file::info(dir.path().join("nope"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("nope"), "{err}");
}

#[test]
fn real_file_info() {
    let dir = fastnn::dataset::builtin_dir("mnist").unwrap();
    let path = dir.join("t10k-labels-idx1-ubyte.gz");
    let info = idx_file::info(&path).unwrap();
    assert_eq!(info.header.dims(), [10000]);
    let hist = info.histogram.unwrap();
    assert_eq!(hist.iter().sum::<u64>(), 10000);
    assert_eq!(hist.len(), 10);
    // Streamed, not cached: no cache folder appears beside the file.
    assert!(!dir.join(".cache").exists());
}

#[test]
fn gz_info_matches_raw_info() {
    let dir = temp_dir();
    let labels = idx_u8(&[6], &[0, 3, 3, 1, 0, 3]);
    let raw = write(dir.path(), "labels", &labels);
    let gz = write(dir.path(), "labels.gz", &gzip(&labels));
    let (a, b) = (idx_file::info(&raw).unwrap(), idx_file::info(&gz).unwrap());
    assert_eq!(a.header, b.header);
    assert_eq!(a.histogram, Some(vec![2, 1, 0, 3]));
    assert_eq!(a.histogram, b.histogram);
    assert_eq!(files_in(dir.path()).len(), 2, "nothing written");
}

#[test]
fn fuzz_seeds_replay() {
    let inputs = util::fuzz_inputs("idx_parse");
    assert!(inputs.len() >= 8, "seed corpus present");
    for (path, bytes) in inputs {
        let result = std::panic::catch_unwind(|| idx::fuzz_parse(&bytes));
        assert!(result.is_ok(), "{}", path.display());
    }
}

/// A well-formed header for an arbitrary type and small dims, and how far
/// the data length is off from what it declares.
fn header_and_offset() -> impl Strategy<Value = (u8, Vec<u32>, i8)> {
    (
        prop::sample::select(ElemType::ALL.map(ElemType::byte).to_vec()),
        prop::collection::vec(0u32..6, 1..5),
        -3i8..4,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parse_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = parse(&bytes);
        idx::fuzz_parse(&bytes);
    }

    #[test]
    fn parse_never_panics_near_valid_headers(
        ty in any::<u8>(), nd in 0u8..20, dims in prop::collection::vec(any::<u32>(), 0..20),
        tail in prop::collection::vec(any::<u8>(), 0..32),
    ) {
        let mut bytes = vec![0, 0, ty, nd];
        for d in dims { bytes.extend_from_slice(&d.to_be_bytes()); }
        bytes.extend(tail);
        idx::fuzz_parse(&bytes);
    }

    #[test]
    fn typed_values_round_trip(
        dims in prop::collection::vec(0u32..5, 1..5),
        seed in prop::collection::vec(any::<i32>(), 256),
    ) {
        let n = dims.iter().product::<u32>() as usize;
        let values = &seed[..n];
        let data: Vec<u8> = values.iter().flat_map(|v| v.to_be_bytes()).collect();
        let bytes = idx_bytes(0x0C, &dims, &data);
        let view = IdxView::new(&bytes).unwrap();
        prop_assert_eq!(view.to_vec::<i32>().unwrap(), values);
        let floats: Vec<f64> = values.iter().map(|&v| f64::from(v) / 3.0).collect();
        let data: Vec<u8> = floats.iter().flat_map(|v| v.to_be_bytes()).collect();
        let bytes = idx_bytes(0x0E, &dims, &data);
        prop_assert_eq!(IdxView::new(&bytes).unwrap().to_vec::<f64>().unwrap(), floats);
    }

    #[test]
    fn parse_accepts_exactly_the_declared_length((ty, dims, off) in header_and_offset()) {
        let elem = ElemType::from_byte(ty).unwrap();
        let n = dims.iter().product::<u32>() as usize * elem.size();
        let len = (n as isize + off as isize).max(0) as usize;
        let bytes = idx_bytes(ty, &dims, &vec![0x5a; len]);
        let result = parse(&bytes);
        if len == n {
            let h = result.unwrap();
            prop_assert_eq!(h.file_len(), bytes.len());
            prop_assert_eq!(h.elem_type(), elem);
        } else if len < n {
            let is_truncated = matches!(result, Err(IdxError::TruncatedData { .. }));
            prop_assert!(is_truncated);
        } else {
            let is_trailing = matches!(result, Err(IdxError::TrailingBytes { .. }));
            prop_assert!(is_trailing);
        }
    }
}
