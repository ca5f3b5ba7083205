//! Replays every committed fuzzing input on stable: the corpus `cargo fuzz`
//! grew (fuzz/corpus/TARGET/) and the inputs that once crashed a reader
//! (fuzz/regressions/TARGET/). Each must be read without a panic.

use std::path::Path;

#[test]
fn every_corpus_and_regression_input_is_read_without_a_panic() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    for (target, read) in casebook_fuzzing::TARGETS {
        let mut replayed = 0;
        for folder in ["corpus", "regressions"] {
            let Ok(entries) = std::fs::read_dir(fuzz.join(folder).join(target)) else {
                continue;
            };
            for entry in entries {
                let path = entry.unwrap().path();
                let bytes = std::fs::read(&path).unwrap();
                let outcome = std::panic::catch_unwind(|| read(&bytes));
                assert!(outcome.is_ok(), "{target}: {} panicked", path.display());
                replayed += 1;
            }
        }
        assert!(replayed > 0, "no corpus for {target} in {}", fuzz.display());
    }
}
