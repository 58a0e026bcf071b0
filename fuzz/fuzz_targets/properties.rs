#![no_main]
//! See `warren_fuzz::properties`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| warren_fuzz::properties(data));
