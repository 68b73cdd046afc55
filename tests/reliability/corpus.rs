//! Point 8 of docs/reliability.md.
//!
//! The fuzz targets' kept corpus (`fuzz/corpus/<target>/`), replayed on
//! every test run through the very checks the fuzz targets run
//! (`fuzz/src/lib.rs`), so a parser change that breaks an input the
//! fuzzer once found interesting fails here, without a fuzzer.
//!
//! Inputs that once showed a bug are kept in `fuzz/findings/<target>/`;
//! `fuzz_findings_are_fixed` replays them so the bugs stay fixed.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use crate::fuzz_checks;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// Runs every file under `dir/<target>/` through its target's checks;
/// returns how many files ran and which failed, with why.
fn replay(dir: &Path) -> (usize, Vec<String>) {
    let mut ran = 0;
    let mut failed = Vec::new();
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for target_dir in entries {
        let target_dir = target_dir.unwrap().path();
        let target = target_dir
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(
            fuzz_checks::TARGETS.contains(&target.as_str()),
            "{} names no fuzz target",
            target_dir.display()
        );
        for file in std::fs::read_dir(&target_dir).unwrap() {
            let file = file.unwrap().path();
            let data = std::fs::read(&file).unwrap();
            ran += 1;
            let outcome = catch_unwind(AssertUnwindSafe(|| fuzz_checks::run(&target, &data)));
            match outcome {
                Ok(true) => {}
                Ok(false) => failed.push(format!("{}: unknown target", file.display())),
                Err(panic) => {
                    let why = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    failed.push(format!("{}: {why}", file.display()));
                }
            }
        }
    }
    (ran, failed)
}

#[test]
fn the_kept_fuzz_corpus_still_passes() {
    let corpus = fuzz_dir().join("corpus");
    for target in fuzz_checks::TARGETS {
        let n = std::fs::read_dir(corpus.join(target))
            .unwrap_or_else(|e| panic!("no corpus for {target}: {e}"))
            .count();
        assert!(n > 0, "the corpus of {target} is empty");
    }
    // Every target in the corpus is a binary of the fuzz crate too.
    let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
    for target in fuzz_checks::TARGETS {
        assert!(
            manifest.contains(&format!("name = \"{target}\"")),
            "fuzz/Cargo.toml has no target {target}"
        );
    }
    let (ran, failed) = replay(&corpus);
    assert!(
        failed.is_empty(),
        "corpus inputs the parsers no longer pass:\n{}",
        failed.join("\n")
    );
    eprintln!("[corpus] {ran} inputs replayed");
}

#[test]
fn fuzz_findings_are_fixed() {
    let (ran, failed) = replay(&fuzz_dir().join("findings"));
    assert!(ran > 0);
    assert!(
        failed.is_empty(),
        "inputs that still show a bug:\n{}",
        failed.join("\n")
    );
}
