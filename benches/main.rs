//! fastnn's criterion benches: one module per area.
use criterion::criterion_main;

mod gemm;
mod idx;

criterion_main!(gemm::benches, idx::benches);
