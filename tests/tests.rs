//! fastnn's integration tests: one binary, one module per area.

mod cli;
mod dataset;
mod features;
mod gemm;
mod hostile;
mod idx;
mod model;
mod onnx;
mod parallel;
mod presets;
mod sweep;
mod train;
mod util;
mod viz;
