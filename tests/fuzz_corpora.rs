//! Replays every file of the fuzzing corpora (`fuzz/corpus/TARGET/`, seeds and what the fuzzer
//! kept, crashes included once fixed) through the same entry points the cargo-fuzz targets
//! call: a regression found by fuzzing stays found.

use std::path::Path;

#[test]
fn every_corpus_file_goes_through_its_target_without_a_panic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let mut total = 0;
    for (name, target) in p2p::fuzzing::TARGETS {
        let dir = root.join(name);
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e} (every target keeps a corpus)", dir.display()));
        let mut n = 0;
        for entry in entries {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| target(&data));
            assert!(outcome.is_ok(), "{name}: {} panics", path.display());
            n += 1;
        }
        assert!(n > 0, "{name}: empty corpus");
        total += n;
    }
    eprintln!("replayed {total} corpus files");
}
