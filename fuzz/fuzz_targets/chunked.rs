//! The chunked decoder must never panic, and must decode the same data,
//! use the same bytes and reach the same verdict however its input is split.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    peregrine::__private::check_chunked(data);
});
