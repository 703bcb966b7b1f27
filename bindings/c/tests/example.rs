//! Builds the library, compiles `examples/train.c` with the system C
//! compiler (`$CC`, else `cc`) against `include/fastnn.h` and the static
//! library, and runs it: training from the program's own buffers,
//! prediction into its own buffer, save, load, and errors as statuses.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `target/<profile>`, where this test binary and the libraries lie.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>")
        .to_path_buf()
}

#[test]
fn the_c_example_trains_predicts_saves_and_loads() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let profile = profile_dir();
    // `cargo test` does not build a cdylib/staticlib for its tests.
    let mut build = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    build.args(["build", "--quiet", "--lib", "-p", "fastnn-c"]);
    if profile.file_name().is_some_and(|n| n == "release") {
        build.arg("--release");
    }
    let status = build.current_dir(dir).status().expect("run cargo");
    assert!(status.success(), "cargo build -p fastnn-c failed");
    let lib = profile.join("libfastnn.a");
    assert!(lib.exists(), "{} was not built", lib.display());

    let tmp = tempfile::tempdir().unwrap();
    let exe = tmp.path().join("train");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let compiled = Command::new(&cc)
        .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"])
        .arg(dir.join("examples/train.c"))
        .arg("-I")
        .arg(dir.join("include"))
        .arg(&lib)
        .args(["-lpthread", "-ldl", "-lm", "-o"])
        .arg(&exe)
        .output()
        .expect("run the C compiler");
    assert!(
        compiled.status.success(),
        "{cc} failed:\n{}",
        String::from_utf8_lossy(&compiled.stderr)
    );

    let model = tmp.path().join("model.safetensors");
    let run = Command::new(&exe).arg(&model).output().unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "the C example failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.contains("trained 16-16-3, accuracy "), "{stdout}");
    assert!(
        stdout.contains("loaded back: the same probabilities"),
        "{stdout}"
    );
    assert!(
        stdout.contains("no-such-model.safetensors: No such file or directory"),
        "{stdout}"
    );
    assert!(stdout.contains("probabilities holds 10 floats"), "{stdout}");
    assert!(
        stdout.contains("label 3 of image 0 is not below the 3 classes"),
        "{stdout}"
    );
    // The model the C program saved is an ordinary fastnn model.
    let loaded = fastnn::load_model(&model).expect("the C program's model loads");
    let arch = loaded.network.architecture();
    assert_eq!(
        (arch.rows, arch.cols, &arch.hidden[..], arch.classes),
        (4, 4, &[16][..], 3)
    );
}
