//! fastnn's criterion benches: one module per area.
use criterion::criterion_main;

mod gemm;
mod idx;
mod train;

criterion_main!(gemm::benches, idx::benches, train::benches);
