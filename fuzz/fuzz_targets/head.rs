//! Request-head parsing must never panic, whatever the bytes, and must
//! agree with itself when the same head arrives in two pieces.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    peregrine::__private::check_head_parser(data);
});
