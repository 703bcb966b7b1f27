//! `parse` on arbitrary bytes: never panics, and on `Ok` the header
//! describes the input exactly (dims product × element size + header length
//! == input length); see `fastnn::idx::fuzz_parse`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fastnn::idx::fuzz_parse(data));
