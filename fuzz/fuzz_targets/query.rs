//! Query iteration and percent-decoding must never panic, never grow the
//! text, and agree between their decoding paths.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    peregrine::__private::check_query(data);
});
