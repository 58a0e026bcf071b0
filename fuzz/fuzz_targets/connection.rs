#![no_main]
//! See `warren_fuzz::connection`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| warren_fuzz::connection(data));
