//! fastnn's integration tests: one binary, one module per area.

// mod cli;
mod model;
mod presets;
mod train;
mod util;

mod gemm;
mod viz;
