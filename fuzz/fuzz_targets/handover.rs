//! The environment variable `pass_to` writes and `from_env` reads.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    if let Ok(value) = std::str::from_utf8(input) {
        interlock::fuzzing::handover(value);
    }
});
