//! `cargo fuzz run events`: see `switchboard::invariants::event_bodies`.
#![no_main]

libfuzzer_sys::fuzz_target!(|input: &[u8]| switchboard::invariants::event_bodies(input));
