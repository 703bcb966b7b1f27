#![no_main]
//! A user's picture for `predict --image`: any bytes either give a 28×28
//! MNIST-style image or a one-line reason, within the decoder's limits;
//! see `fastnn::viz::fuzz_image`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| fastnn::viz::fuzz_image(data));
