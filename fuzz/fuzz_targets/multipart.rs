//! See `peregrine::__private::check_multipart` for the oracle.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    peregrine::__private::check_multipart(data);
});
