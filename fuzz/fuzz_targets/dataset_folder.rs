#![no_main]
//! A whole folder dataset from bytes: four files and a classes.txt checked
//! as `Dataset::open` checks them; on success the class names are clean
//! and every label names one, an error is one line naming a file; see
//! `fastnn::dataset::fuzz_folder`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| fastnn::dataset::fuzz_folder(data));
