//! A `--wait` DURATION (and a `--mode` OCTAL): parsed to what it spells, or refused with a
//! reason; never a panic or an overflow.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    if let Ok(s) = std::str::from_utf8(input) {
        interlock_cli::fuzzing::duration(s);
    }
});
