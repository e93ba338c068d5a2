//! `cargo fuzz run decision`: see `switchboard::invariants::decision`.
#![no_main]

libfuzzer_sys::fuzz_target!(|input: &[u8]| switchboard::invariants::decision(input));
