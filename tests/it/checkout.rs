//! Checkout never writes outside its target: not through `..`, not through a symlink already in
//! the target, not from a hostile store.

use std::fs;

use codever::object::Kind;
use codever::{Error, Spec, Store};

use crate::common::{
    commit_snapshot, file_entry, forge_version, lib_store, mkfifo, rewrite, run_err, snapshot,
    write, write_blob, write_tree,
};

/// A store holding t/n v0 = `files` (none executable): (temp dir, store, the version's tree).
fn store_with(files: &[(&str, &[u8])]) -> (tempfile::TempDir, Store, codever::ObjectId) {
    let (tmp, store) = lib_store();
    let files: Vec<(&str, &[u8], bool)> = files.iter().map(|(p, c)| (*p, *c, false)).collect();
    let tree = commit_snapshot(&store, "t/n", &snapshot(&files), "r").tree;
    (tmp, store, tree)
}

#[cfg(unix)]
#[test]
fn a_symlinked_directory_in_the_target_is_not_followed() {
    let (tmp, store, tree) = store_with(&[("training/ppo.py", b"new\n")]);
    let outside = tmp.path().join("outside");
    fs::create_dir_all(&outside).unwrap();
    let into = tmp.path().join("into");
    fs::create_dir_all(&into).unwrap();
    std::os::unix::fs::symlink(&outside, into.join("training")).unwrap();
    for force in [false, true] {
        let e = store.checkout(&tree, &into, force).unwrap_err();
        assert!(matches!(e, Error::UnsafeCheckout { .. }), "{e}");
        assert_eq!(
            e.to_string(),
            format!(
                "refusing to write {}: it is a symlink, and checkout never writes through one",
                into.join("training").display()
            )
        );
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
    }
}

#[cfg(unix)]
#[test]
fn a_symlinked_file_is_replaced_never_written_through() {
    let (tmp, store, tree) = store_with(&[("ppo.py", b"new\n")]);
    let secret = tmp.path().join("secret.txt");
    fs::write(&secret, "keep me\n").unwrap();
    let into = tmp.path().join("into");
    fs::create_dir_all(&into).unwrap();
    std::os::unix::fs::symlink(&secret, into.join("ppo.py")).unwrap();
    // Without --force: the link is a differing file; nothing is written.
    let e = store.checkout(&tree, &into, false).unwrap_err();
    assert!(matches!(e, Error::WouldOverwrite { .. }), "{e}");
    // With --force: the link itself is replaced by the file.
    store.checkout(&tree, &into, true).unwrap();
    assert_eq!(fs::read_to_string(&secret).unwrap(), "keep me\n");
    assert!(
        !fs::symlink_metadata(into.join("ppo.py"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(fs::read(into.join("ppo.py")).unwrap(), b"new\n");
}

#[test]
fn differing_files_are_kept_unless_forced_and_nothing_is_half_written() {
    let (tmp, store, tree) = store_with(&[("a.py", b"A\n"), ("b.py", b"B\n")]);
    let into = tmp.path().join("into");
    write(&into, "b.py", b"my local edit\n");
    let e = store.checkout(&tree, &into, false).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "checkout would overwrite 1 modified file(s) in {}: b.py",
            into.display()
        )
    );
    // a.py was not written either: the check comes before any write.
    assert!(!into.join("a.py").exists());
    assert_eq!(fs::read(into.join("b.py")).unwrap(), b"my local edit\n");
    let r = store.checkout(&tree, &into, true).unwrap();
    assert_eq!(r.written, ["a.py", "b.py"]);
    assert_eq!(fs::read(into.join("b.py")).unwrap(), b"B\n");
}

/// A hostile store: a tree whose entries try to climb out (`..`, `a/b` smuggling a separator,
/// `.git`). Such records may arrive by sync; checkout must refuse them and write nothing.
#[test]
fn a_hostile_tree_from_a_synced_store_is_refused() {
    for bad in ["..", "../evil", ".git", "a/../../evil", "", "/abs"] {
        let (tmp, store) = lib_store();
        let blob = write_blob(&store, b"pwned\n");
        let tree = write_tree(&store, vec![file_entry(bad, blob)]);
        // Mark it as a version, as a synced commit would.
        forge_version(&store, "t/evil", "r", tree, &[(bad, blob)], 1);

        let codever::Resolved {
            history: h,
            index: i,
        } = store.resolve(&Spec::parse("t/evil").unwrap()).unwrap();
        let into = tmp.path().join("deep/into");
        let e = store
            .checkout(&h.versions[i].tree, &into, true)
            .unwrap_err();
        assert!(matches!(e, Error::CorruptObject { .. }), "{bad:?}: {e}");
        assert!(!tmp.path().join("evil").exists());
        assert!(!tmp.path().join("deep/evil").exists());
        // The CLI says the same, exit 2, and fsck flags the tree.
        let err = run_err(
            store.root(),
            &["checkout", "t/evil", "--into", into.to_str().unwrap()],
        );
        assert!(e.to_string().contains("unsafe entry name"), "{bad:?}: {e}");
        assert_eq!(err.lines().next(), Some(format!("error: {e}").as_str()));
        let report = store.fsck().unwrap();
        let reasons: Vec<String> = report
            .corrupt
            .iter()
            .map(|c| format!("object {tree} is corrupt: {}", c.reason))
            .collect();
        assert_eq!(reasons, [e.to_string()], "{bad:?}");
    }
}

#[test]
fn missing_blobs_stop_checkout_before_any_write() {
    let (tmp, store, tree) = store_with(&[("a.py", b"A\n"), ("b.py", b"B\n")]);
    let b = codever::ObjectId::compute(Kind::Blob, b"B\n");
    fs::remove_file(store.object_path(&b)).unwrap();
    let into = tmp.path().join("into");
    let e = store.checkout(&tree, &into, false).unwrap_err();
    assert!(matches!(e, Error::MissingObject { .. }), "{e}");
    assert!(!into.join("a.py").exists());
}

#[test]
fn a_fifo_where_a_file_must_go_differs_and_never_blocks() {
    let (tmp, store, tree) = store_with(&[("empty.txt", b""), ("a.py", b"a = 1\n")]);
    let into = tmp.path().join("out");
    fs::create_dir_all(&into).unwrap();
    mkfifo(&into.join("empty.txt"));
    // Without --force: the FIFO differs, so nothing is written; with it, it is replaced.
    let e = store.checkout(&tree, &into, false).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "checkout would overwrite 1 modified file(s) in {}: empty.txt",
            into.display()
        )
    );
    assert!(!into.join("a.py").exists());
    store.checkout(&tree, &into, true).unwrap();
    assert!(
        fs::symlink_metadata(into.join("empty.txt"))
            .unwrap()
            .is_file()
    );
    assert_eq!(fs::read(into.join("a.py")).unwrap(), b"a = 1\n");
    // Already in place: recognised as unchanged (hashed in pieces).
    let report = store.checkout(&tree, &into, false).unwrap();
    assert_eq!(report.unchanged, ["a.py", "empty.txt"], "{report:?}");
}

#[test]
fn a_corrupt_blob_leaves_the_target_as_it_was() {
    let (tmp, store, tree) = store_with(&[
        ("a.py", b"a = 1\n"),
        ("b.py", b"b = 2\n"),
        ("c.py", b"c = 3\n"),
    ]);
    let b = codever::flatten(&store, &tree).unwrap()[1].meta.id;
    rewrite(&store.object_path(&b), |bytes| {
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x10;
    });
    let into = tmp.path().join("out");
    let e = Store::open(store.root())
        .unwrap()
        .checkout(&tree, &into, false)
        .unwrap_err();
    assert!(matches!(e, Error::CorruptObject { .. }), "{e}");
    // Nothing written: not a.py before the damage, no temp file left, and the directory the
    // checkout made for the target is removed again.
    assert!(!into.exists());
}

/// A checkout into a directory holding another version says how many files there are not part
/// of the version; `--clean` removes exactly those, and nothing ignored, nothing in `.git/`,
/// nothing through a symlink, nothing outside the directory.
#[cfg(unix)]
#[test]
fn clean_removes_only_the_files_a_capture_would_see_that_the_version_lacks() {
    let (tmp, store) = crate::common::init_store();
    let src = tmp.path().join("src");
    let files: [(&str, &[u8]); 4] = [
        (".gitignore", b"*.bin\n"),
        ("a.py", b"a = 0\n"),
        ("sub/b.py", b"b = 0\n"),
        ("sub/deep/c.py", b"c = 0\n"),
    ];
    for (p, c) in files {
        write(&src, p, c);
    }
    crate::common::commit_ok(&store, "t/code", &src, "r0");
    fs::remove_dir_all(src.join("sub")).unwrap();
    write(&src, "a.py", b"a = 1\n");
    crate::common::commit_ok(&store, "t/code", &src, "r1");

    let into = tmp.path().join("work");
    let into_s = into.to_str().unwrap();
    crate::common::run_ok(&store, &["checkout", "code:v0", "--into", into_s]);
    // Things that are not the version's and must survive any clean.
    write(&into, "ckpt.bin", b"weights");
    write(&into, ".git/HEAD", b"ref: refs/heads/main\n");
    write(&into, "sub/deep/cache.bin", b"ignored too");
    let outside = tmp.path().join("outside");
    write(&outside, "keep.py", b"keep = 1\n");
    std::os::unix::fs::symlink(&outside, into.join("linked")).unwrap();
    // And one that is not the version's and is seen.
    write(&into, "notes.py", b"n = 1\n");

    let text = crate::common::run_ok(
        &store,
        &["checkout", "code:v1", "--into", into_s, "--force"],
    );
    assert_eq!(
        text,
        format!(
            "checked out t/code:v1 into {into_s}: 1 file(s) written, 1 already up to date; 3 \
             file(s) there are not part of the version (left in place; --clean removes them)\n"
        )
    );
    let report = crate::common::json(&store, &["checkout", "code:v1", "--into", into_s]);
    assert_eq!(
        (&report["extra"], &report["removed"]),
        (
            &serde_json::json!(["notes.py", "sub/b.py", "sub/deep/c.py"]),
            &serde_json::json!([])
        )
    );

    let text = crate::common::run_ok(
        &store,
        &["checkout", "code:v1", "--into", into_s, "--clean"],
    );
    assert_eq!(
        text,
        format!(
            "checked out t/code:v1 into {into_s}: 0 file(s) written, 2 already up to date; 3 \
             file(s) not part of the version removed\n"
        )
    );
    let mut left: Vec<String> = crate::common::read_tree(&into)
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    left.sort();
    // (`read_tree` follows the link: `linked/keep.py` is the file outside, still there.)
    assert_eq!(
        left,
        [
            ".git/HEAD",
            ".gitignore",
            "a.py",
            "ckpt.bin",
            "linked/keep.py",
            "sub/deep/cache.bin"
        ]
    );
    assert!(
        fs::symlink_metadata(into.join("linked"))
            .unwrap()
            .is_symlink()
    );
    assert_eq!(fs::read(outside.join("keep.py")).unwrap(), b"keep = 1\n");
    // The directory now captures as exactly that version: committing it links, nothing new.
    let again = crate::common::commit_json(&store, "t/code", &into, "r2");
    assert_eq!(
        (again["version"].as_u64(), again["new"].as_bool()),
        (Some(1), Some(false))
    );
    // Nothing left to clean.
    let report = crate::common::json(
        &store,
        &["checkout", "code:v1", "--into", into_s, "--clean"],
    );
    assert_eq!(
        (&report["extra"], &report["removed"]),
        (&serde_json::json!([]), &serde_json::json!([]))
    );
}
