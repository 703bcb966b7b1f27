//! fastnn's criterion benches: one module per area.
use criterion::criterion_main;

mod gemm;

criterion_main!(gemm::benches);
