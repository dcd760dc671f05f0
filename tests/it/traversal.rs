//! Trees nested deeper than the limit (256 levels below the root) are refused the same way by
//! every command that descends trees — never a stack overflow — and a tree exactly at the limit
//! works everywhere.

use std::fs;
use std::path::{Path, PathBuf};

use codever::ObjectId;

use crate::common::{
    assert_fsck_clean, commit_ok, dir_entry, file_entry, forge_version, init_store, json,
    lib_store, object_path, read_tree, run_any_json, run_err, run_ok, write, write_blob,
    write_tree,
};

const CONTENT: &[u8] = b"x = 1\n";

/// A store with artifact `t/deep` whose v0 has one file `d/d/…/d/f.py` below `levels` nested
/// directories (built with the library, as a synced store could hold it), and whose v1 (run r2,
/// committed with the CLI) has one file `ppo.py`. Returns the temp dir, the store, and the tree
/// ids from the root (index 0) down to the innermost tree (index `levels`).
fn nested_store(levels: usize) -> (tempfile::TempDir, PathBuf, Vec<ObjectId>) {
    let (tmp, store) = lib_store();
    let meta = write_blob(&store, CONTENT);
    let mut trees = vec![write_tree(&store, vec![file_entry("f.py", meta)])];
    for _ in 0..levels {
        let below = *trees.last().unwrap();
        trees.push(write_tree(&store, vec![dir_entry("d", below)]));
    }
    trees.reverse();
    let path = format!("{}f.py", "d/".repeat(levels));
    forge_version(
        &store,
        "t/deep",
        "r1",
        trees[0],
        &[(path.as_str(), meta)],
        1_000_000_000,
    );
    let root = store.root().to_path_buf();

    let src = tmp.path().join("src");
    write(&src, "ppo.py", b"lr = 1\n");
    commit_ok(&root, "t/deep", src.join("ppo.py"), "r2");
    (tmp, root, trees)
}

/// Runs `codever --store <store> args…`, asserting that it fails as a user error (exit 2, nothing
/// on stdout) with exactly `error` on stderr's first line.
fn fails_with(store: &Path, args: &[&str], error: &str) {
    let stderr = run_err(store, args);
    assert_eq!(stderr.lines().next(), Some(error), "{args:?}: {stderr}");
}

/// What every command says of a tree nested too deep; `tree` is the first one past the limit.
fn too_deep(tree: ObjectId) -> String {
    format!("error: object {tree} is corrupt: trees nested deeper than 256 levels")
}

/// fsck exits 1 naming `tree`, the first tree past the limit, with the same reason, and nothing
/// else.
fn assert_fsck_finds_too_deep(store: &Path, tree: ObjectId) {
    let (code, report) = run_any_json(store, &["fsck"]);
    assert_eq!(code, 1);
    assert_eq!(
        report["corrupt"],
        serde_json::json!([{
            "path": object_path(store, tree),
            "reason": "trees nested deeper than 256 levels",
        }])
    );
    assert_eq!(report["ok"], false);
}

#[test]
fn a_tree_nested_10000_deep_is_refused_by_every_command_without_overflowing() {
    let (tmp, store, trees) = nested_store(10_000);
    // The first tree past the limit is the one named: the root is level 0, so index 257.
    let error = too_deep(trees[257]);
    fails_with(&store, &["diff", "deep:v0", "deep:v1"], &error);
    fails_with(&store, &["diff", "deep:v1", "deep:v0"], &error);
    fails_with(&store, &["log", "deep"], &error);
    fails_with(&store, &["log", "deep", "ppo.py"], &error);
    fails_with(&store, &["blame", "deep:v1", "ppo.py"], &error);
    fails_with(&store, &["show", "deep:v0"], &error);
    fails_with(&store, &["cat", "deep:v0", "f.py"], &error);
    let into = tmp.path().join("out");
    fails_with(
        &store,
        &["checkout", "deep:v0", "--into", into.to_str().unwrap()],
        &error,
    );
    assert!(!into.join("d").exists());
    // v1 is unaffected.
    assert_eq!(run_ok(&store, &["cat", "deep:v1", "ppo.py"]), "lr = 1\n");

    assert_fsck_finds_too_deep(&store, trees[257]);
}

#[test]
fn a_tree_nested_exactly_256_deep_works_everywhere() {
    let (tmp, store, _) = nested_store(256);
    let path = format!("{}f.py", "d/".repeat(256));
    assert_eq!(
        run_ok(&store, &["diff", "deep:v0", "deep:v1", "--name-status"]),
        format!("D\t{path}\nA\tppo.py\n")
    );
    assert_eq!(run_ok(&store, &["cat", "deep:v0", &path]), "x = 1\n");
    let into = tmp.path().join("out");
    run_ok(
        &store,
        &["checkout", "deep:v0", "--into", into.to_str().unwrap()],
    );
    assert_eq!(fs::read(into.join(&path)).unwrap(), CONTENT);
    assert_eq!(json(&store, &["log", "deep"]).as_array().unwrap().len(), 2);
    assert_fsck_clean(&store, "256 levels");
}

#[test]
fn a_tree_nested_257_deep_is_refused() {
    let (_tmp, store, trees) = nested_store(257);
    let error = too_deep(trees[257]);
    fails_with(&store, &["diff", "deep:v0", "deep:v1"], &error);
    fails_with(&store, &["show", "deep:v0"], &error);
    assert_fsck_finds_too_deep(&store, trees[257]);
}

#[test]
fn committing_paths_deeper_than_the_limit_is_refused_before_writing() {
    let (tmp, store) = init_store();
    let src = tmp.path().join("src");
    // 257 components (256 directories and the file) is the deepest a path may be.
    let ok = format!("{}f.py", "d/".repeat(256));
    write(&src, &ok, CONTENT);
    commit_ok(&store, "t/ok", &src, "r1");
    assert_eq!(run_ok(&store, &["cat", "ok", &ok]), "x = 1\n");

    let deep = format!("{}f.py", "d/".repeat(257));
    write(&src, &deep, CONTENT);
    let objects_before = read_tree(&store.join("objects")).len();
    let error = format!(
        "error: invalid path {deep:?}: more than 257 components (trees nest at most 256 levels)"
    );
    fails_with(
        &store,
        &[
            "commit",
            "bad",
            "--type",
            "t",
            src.to_str().unwrap(),
            "--run",
            "r2",
        ],
        &error,
    );
    assert!(!store.join("refs/t/bad").exists());
    assert!(!store.join("runs/r2").exists());
    assert_eq!(read_tree(&store.join("objects")).len(), objects_before);
}
