//! `fastnn bench`: the library side of the benchmark commands.

pub mod kernels;
pub mod train;
