//! The `interlock` command's argument vector (NUL between words, any bytes in them) through its
//! real parser: a usage error or a consistent `run` that renders back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    interlock_cli::fuzzing::argv(input);
});
