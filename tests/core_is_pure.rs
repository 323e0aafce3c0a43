//! The core decides and never does: no I/O crate, no clock, no randomness may appear in
//! `src/core/`. This test keeps the split enforced rather than hoped for.

use std::path::{Path, PathBuf};

const FORBIDDEN: &[&str] = &[
    "tokio",
    "rusqlite",
    "lettre",
    "async_imap",
    "std::fs",
    "std::net",
    "std::process",
    "SystemTime",
    "Utc::now",
    "Local::now",
    "Instant::now",
    "rand::",
    "std::env",
];

/// Every `.rs` file under `dir`, sub-folders (`templates/`) included.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut files = vec![];
    for entry in std::fs::read_dir(dir).expect("readable folder") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

#[test]
fn core_uses_no_io_clock_or_randomness() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/core");
    let files = sources(&dir);
    for path in &files {
        let text = std::fs::read_to_string(path).expect("readable");
        // Doc comments may name what the core avoids; code may not use it.
        let code: Vec<&str> = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect();
        for word in FORBIDDEN {
            for line in &code {
                assert!(
                    !line.contains(word),
                    "{} uses {word}: the core must stay pure\n{line}",
                    path.display()
                );
            }
        }
    }
    assert!(
        files.len() >= 5,
        "expected the core modules, found {}",
        files.len()
    );
    assert!(
        files.iter().any(|p| p.ends_with("templates/customer.rs")),
        "the templates are part of the core and must be checked too"
    );
}
