//! fastnn's criterion benches: one module per area.
use criterion::criterion_main;

criterion_main!();
