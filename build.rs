//! With the `onnx` feature: generates the ONNX message types from the
//! vendored `src/onnx/onnx.proto` (ONNX 1.23, Apache-2.0) into `OUT_DIR`,
//! with rust-protobuf's pure-Rust parser, so no `protoc` is needed.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "onnx")]
    {
        println!("cargo:rerun-if-changed=src/onnx/onnx.proto");
        protobuf_codegen::Codegen::new()
            .pure()
            .include("src/onnx")
            .input("src/onnx/onnx.proto")
            .cargo_out_dir("onnx_proto")
            .run_from_script();
    }
}
