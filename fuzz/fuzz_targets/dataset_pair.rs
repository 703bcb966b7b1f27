//! An image file and a label file cut from one input, checked as a dataset
//! split: never panics, errors are one line naming the file, and on `Ok` the
//! shapes describe both files exactly; see `fastnn::dataset::fuzz_pair`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fastnn::dataset::fuzz_pair(data));
