//! The 64-byte segment header every mapping is validated by: any bytes, any file length.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    // The first 8 bytes choose the file's length (as `fstat` would report it); the rest is
    // the file's head.
    if input.len() < 8 {
        return;
    }
    let (len, bytes) = input.split_at(8);
    let file_len = u64::from_le_bytes(len.try_into().expect("8 bytes")) % (1 << 20);
    interlock::fuzzing::header(bytes, file_len);
});
