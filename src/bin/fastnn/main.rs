//! The `fastnn` command-line tool.
fn main() {}
