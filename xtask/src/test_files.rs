//! Where host tests live, checked on the host (a test, run with `cargo test`): in the
//! portable crates (`abi`, `kernel/core`) a module's tests are a file of their own
//! (`x/tests.rs` or a `tests/` folder beside `x.rs`), never an inline `mod tests { … }`
//! block, so that a module's file shows its code and its tests are found in one place.

use std::fs;
use std::path::{Path, PathBuf};

/// The crates whose tests must be in files of their own.
const CRATES: [&str; 2] = ["abi/src", "kernel/core/src"];

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Whether `text` has an inline test module.
fn has_inline_tests(text: &str) -> bool {
    text.lines()
        .any(|l| l.trim_start().starts_with("mod tests {"))
}

#[test]
fn portable_tests_are_files_of_their_own() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let mut files = Vec::new();
    for c in CRATES {
        rust_files(&root.join(c), &mut files);
    }
    assert!(files.len() > 20, "found the portable crates' files");
    let inline: Vec<String> = files
        .iter()
        .filter(|f| fs::read_to_string(f).is_ok_and(|t| has_inline_tests(&t)))
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        inline.is_empty(),
        "inline test modules (move them to tests.rs):\n{}",
        inline.join("\n")
    );
}

#[test]
fn an_inline_test_module_is_found() {
    assert!(has_inline_tests(
        "fn a() {}\n#[cfg(test)]\nmod tests {\n}\n"
    ));
    assert!(!has_inline_tests("#[cfg(test)]\nmod tests;\n"));
}
