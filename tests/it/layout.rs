//! The layout's rules, checked: the service library never uses the simulator, and no
//! source file grows past what a reader takes in (700 lines).

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out
}

#[test]
fn the_service_library_never_uses_the_simulator() {
    let bin = root().join("src/bin");
    let offenders: Vec<PathBuf> = rust_files(&root().join("src"))
        .into_iter()
        .filter(|p| !p.starts_with(&bin))
        .filter(|p| std::fs::read_to_string(p).unwrap().contains("gong_sim"))
        .collect();
    assert!(offenders.is_empty(), "{offenders:?}");
}

#[test]
fn no_source_file_is_over_700_lines() {
    let dirs = ["src", "tests", "examples", "crates"];
    let long: Vec<(PathBuf, usize)> = dirs
        .iter()
        .flat_map(|d| rust_files(&root().join(d)))
        .map(|p| {
            let lines = std::fs::read_to_string(&p).unwrap().lines().count();
            (p, lines)
        })
        .filter(|(_, lines)| *lines > 700)
        .collect();
    assert!(long.is_empty(), "{long:?}");
}
