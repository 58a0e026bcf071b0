#![no_main]
//! See `warren_fuzz::frame`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| warren_fuzz::frame(data));
