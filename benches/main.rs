//! fastnn's criterion benches: one module per area.
use criterion::criterion_main;

mod idx;

criterion_main!(idx::benches);
