//! Helpers shared by the integration tests.

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// The bundled example repo at version `v` (`v1`..`v4`).
pub fn fixture(v: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/safelife")
        .join(v)
}

/// The `codever` binary with a clean environment (no store or run from the caller).
pub fn codever() -> Command {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin!("codever"));
    c.env_remove("CODEVER_DIR").env_remove("CODEVER_RUN_ID");
    c
}

/// `codever --store <store> args…`, asserting success; returns stdout.
pub fn run_ok(store: &Path, args: &[&str]) -> String {
    let out = codever()
        .arg("--store")
        .arg(store)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "codever {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Parses JSON printed by a command.
pub fn json(store: &Path, args: &[&str]) -> serde_json::Value {
    let mut a = vec!["--json"];
    a.extend_from_slice(args);
    serde_json::from_str(&run_ok(store, &a)).unwrap()
}

/// Writes `content` at `root/rel`, creating directories.
pub fn write(root: &Path, rel: &str, content: &[u8]) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, content).unwrap();
}

/// Copies every file of `src` that `dst` lacks, skipping `local/`: what
/// `rsync -a --ignore-existing --exclude local/` or `cp -rn` does.
pub fn copy_missing(src: &Path, dst: &Path) {
    for entry in fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if src.join("format").exists() && name == "local" {
            continue;
        }
        let from = entry.path();
        let to = dst.join(&name);
        if entry.file_type().unwrap().is_dir() {
            fs::create_dir_all(&to).unwrap();
            copy_missing(&from, &to);
        } else if !to.exists() {
            fs::copy(&from, &to).unwrap();
        }
    }
}

/// Every file below `root` as (relative path, bytes), sorted.
pub fn read_tree(root: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.push((rel, fs::read(&p).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}
