//! `cargo fuzz run event_data`: see `switchboard::invariants::event_data`.
#![no_main]

libfuzzer_sys::fuzz_target!(|input: &[u8]| switchboard::invariants::event_data(input));
