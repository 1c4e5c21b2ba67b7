//! A `Format::Slots` shared file as found on disk: damaged, forged or foreign.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    interlock::fuzzing::slots(input);
});
