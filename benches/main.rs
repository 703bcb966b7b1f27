//! fastnn's criterion benches: one module per area.
use criterion::{Criterion, criterion_main};

mod gemm;
mod idx;
mod train;

/// Criterion without its plots: fastnn's `plotters` renders text through
/// `ab_glyph` with a bundled font, which criterion's charts do not register
/// (they would fail with "FontUnavailable"). The numbers and the HTML
/// summaries are unaffected.
fn config() -> Criterion {
    Criterion::default().without_plots()
}

criterion_main!(gemm::benches, idx::benches, train::benches);
