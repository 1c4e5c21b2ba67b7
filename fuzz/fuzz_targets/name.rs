//! Lock names, which become file names in the namespace directory.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    if let Ok(name) = std::str::from_utf8(input) {
        interlock::fuzzing::name(name);
    }
});
