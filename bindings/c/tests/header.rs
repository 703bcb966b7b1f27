//! The checked-in `include/fastnn.h` is what cbindgen generates from
//! `src/lib.rs` now; `FASTNN_BLESS=1` rewrites it.

use std::path::Path;

#[test]
fn the_checked_in_header_is_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_src(dir.join("src/lib.rs"))
        .with_config(config)
        .generate()
        .expect("cbindgen reads src/lib.rs");
    let mut generated = Vec::new();
    bindings.write(&mut generated);
    let header = dir.join("include/fastnn.h");
    if std::env::var_os("FASTNN_BLESS").is_some() {
        std::fs::write(&header, &generated).expect("write include/fastnn.h");
        return;
    }
    let current = std::fs::read(&header).unwrap_or_default();
    assert!(
        current == generated,
        "bindings/c/include/fastnn.h is stale: the C API in bindings/c/src/lib.rs changed. \
         Regenerate it with `FASTNN_BLESS=1 cargo test -p fastnn-c --test header` and commit it."
    );
}
