#![no_main]
// See crates/fuzzing: what this target feeds its bytes to.
libfuzzer_sys::fuzz_target!(|data: &[u8]| casebook_fuzzing::csv_table(data));
