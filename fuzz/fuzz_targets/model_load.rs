//! The model loader on arbitrary bytes: never panics, errors are one line
//! naming the file, and a model that loads saves and loads back to the same
//! weights; see `fastnn::model::fuzz_load`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fastnn::model::fuzz_load(data));
