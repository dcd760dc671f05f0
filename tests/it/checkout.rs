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
/// of the version. `--clean` removes only those the store can give back (unchanged copies of
/// the same path in another version of the artifact): never a file the artifact never logged,
/// one edited since, anything ignored, in `.git/`, through a symlink or outside the directory.
#[cfg(unix)]
#[test]
fn clean_removes_only_what_the_store_can_give_back() {
    let (tmp, store) = crate::common::init_store();
    let src = tmp.path().join("src");
    let files: [(&str, &[u8]); 5] = [
        (".gitignore", b"*.bin\n"),
        ("a.py", b"a = 0\n"),
        ("sub/b.py", b"b = 0\n"),
        ("sub/deep/c.py", b"c = 0\n"),
        ("edited.py", b"e = 0\n"),
    ];
    for (p, c) in files {
        write(&src, p, c);
    }
    crate::common::commit_ok(&store, "t/code", &src, "r0");
    fs::remove_dir_all(src.join("sub")).unwrap();
    fs::remove_file(src.join("edited.py")).unwrap();
    write(&src, "a.py", b"a = 1\n");
    crate::common::commit_ok(&store, "t/code", &src, "r1");

    let into = tmp.path().join("work");
    let into_s = into.to_str().unwrap();
    crate::common::run_ok(&store, &["checkout", "code:v0", "--into", into_s]);
    // Edited since it was checked out: the store has no copy of these bytes.
    write(&into, "edited.py", b"e = 0  # my unsaved idea\n");
    // Never logged by this artifact, whatever their names.
    write(&into, "notes.py", b"n = 1\n");
    write(&into, "ckpt.bin", b"weights");
    write(&into, ".git/HEAD", b"ref: refs/heads/main\n");
    write(&into, "sub/deep/cache.bin", b"ignored too");
    // Behind a link: an exact copy of a removable file, outside the directory.
    let outside = tmp.path().join("outside");
    write(&outside, "b.py", b"b = 0\n");
    std::os::unix::fs::symlink(&outside, into.join("linked")).unwrap();

    let text = crate::common::run_ok(
        &store,
        &["checkout", "code:v1", "--into", into_s, "--force"],
    );
    assert_eq!(
        text,
        format!(
            "checked out t/code:v1 into {into_s}: 1 file(s) written, 1 already up to date; 4 \
             file(s) there are not part of the version, left in place (--clean removes those the \
             store keeps a copy of)\n"
        )
    );
    let report = crate::common::json(&store, &["checkout", "code:v1", "--into", into_s]);
    assert_eq!(
        (&report["extra"], &report["removed"]),
        (
            &serde_json::json!(["edited.py", "notes.py", "sub/b.py", "sub/deep/c.py"]),
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
            "checked out t/code:v1 into {into_s}: 0 file(s) written, 2 already up to date; 2 \
             file(s) of other versions removed (the store keeps them); 2 file(s) there are not \
             part of the version, left in place (never logged in this artifact, changed since, \
             or not removable)\n"
        )
    );
    let mut left: Vec<String> = crate::common::read_tree(&into)
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    left.sort();
    // (`read_tree` follows the link: `linked/b.py` is the file outside, still there.)
    assert_eq!(
        left,
        [
            ".git/HEAD",
            ".gitignore",
            "a.py",
            "ckpt.bin",
            "edited.py",
            "linked/b.py",
            "notes.py",
            "sub/deep/cache.bin"
        ]
    );
    assert_eq!(
        fs::read(into.join("edited.py")).unwrap(),
        b"e = 0  # my unsaved idea\n"
    );
    assert!(
        fs::symlink_metadata(into.join("linked"))
            .unwrap()
            .is_symlink()
    );
    assert_eq!(fs::read(outside.join("b.py")).unwrap(), b"b = 0\n");
    // What was removed comes back from the store, byte for byte.
    let back = tmp.path().join("back");
    crate::common::run_ok(
        &store,
        &["checkout", "code:v0", "--into", back.to_str().unwrap()],
    );
    assert_eq!(fs::read(back.join("sub/deep/c.py")).unwrap(), b"c = 0\n");
    // Cleaning again removes nothing more.
    let report = crate::common::json(
        &store,
        &["checkout", "code:v1", "--into", into_s, "--clean"],
    );
    assert_eq!(
        (&report["extra"], &report["removed"]),
        (
            &serde_json::json!(["edited.py", "notes.py"]),
            &serde_json::json!([])
        )
    );
}

/// A checkout never writes into the store or a `.git` directory (their files are not the
/// user's to replace or clean), whatever the path is called.
#[cfg(unix)]
#[test]
fn a_checkout_into_the_store_or_git_is_refused() {
    let (tmp, store) = crate::common::init_store();
    let src = tmp.path().join("src");
    write(&src, "a.py", b"a = 0\n");
    crate::common::commit_ok(&store, "t/code", &src, "r0");
    let before = crate::common::read_tree(&store);
    write(
        &tmp.path().join("repo"),
        ".git/HEAD",
        b"ref: refs/heads/main\n",
    );
    let renamed = tmp.path().join("elsewhere");
    std::os::unix::fs::symlink(&store, &renamed).unwrap();
    for (into, reason) in [
        (
            store.clone(),
            "it is inside the store, which holds only codever's own files",
        ),
        (
            store.join("objects"),
            "it is inside the store, which holds only codever's own files",
        ),
        (
            renamed.join("new"),
            "it is inside the store, which holds only codever's own files",
        ),
        (
            tmp.path().join("repo/.git/hooks"),
            "it is inside a .git directory, which holds only git's own files",
        ),
    ] {
        let err = run_err(
            &store,
            &[
                "checkout",
                "code",
                "--into",
                into.to_str().unwrap(),
                "--clean",
            ],
        );
        assert_eq!(
            err,
            format!(
                "error: refusing to write {}: {reason}\nhint: check out into a directory of your \
                 project, outside `.codever` and `.git`\n",
                into.display()
            )
        );
    }
    assert_eq!(crate::common::read_tree(&store), before);
    assert!(!tmp.path().join("repo/.git/hooks").exists());
    crate::common::assert_fsck_clean(&store, "after refused checkouts");
}

/// The store may sit inside the directory under any name (`--store`): it is never listed as
/// extra nor cleaned.
#[cfg(unix)]
#[test]
fn a_store_inside_the_target_is_left_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("project");
    let store = crate::common::init_at(&project);
    let moved = project.join("mystore");
    fs::rename(&store, &moved).unwrap();
    write(&project, "a.py", b"a = 0\n");
    crate::common::commit_ok(&moved, "t/code", project.join("a.py"), "r0");
    write(&project, "a.py", b"a = 1\n");
    crate::common::commit_ok(&moved, "t/code", project.join("a.py"), "r1");
    let before = crate::common::read_tree(&moved);
    let report = crate::common::json(
        &moved,
        &[
            "checkout",
            "code:v0",
            "--into",
            project.to_str().unwrap(),
            "--force",
            "--clean",
        ],
    );
    assert_eq!(
        (&report["written"], &report["extra"], &report["removed"]),
        (
            &serde_json::json!(["a.py"]),
            &serde_json::json!([]),
            &serde_json::json!([])
        )
    );
    // The store's own files are as they were (checkout writes nothing into it).
    assert_eq!(crate::common::read_tree(&moved), before);
    crate::common::assert_fsck_clean(&moved, "the store inside the target");
}

/// `--clean` in a project that holds its own store (`codever checkout --into .` beside
/// `.codever`): the files of other versions are removed as anywhere else, and nothing of the
/// store is touched.
#[test]
fn clean_works_in_the_directory_that_holds_the_store() {
    let (tmp, store) = crate::common::init_store();
    let project = tmp.path();
    assert!(store.starts_with(project));
    // The sources live outside the project, so that only the checkout's files are in it.
    let src = tempfile::tempdir().unwrap();
    write(src.path(), "a.py", b"a = 0\n");
    write(src.path(), "old.py", b"o = 0\n");
    crate::common::commit_ok(&store, "t/code", src.path(), "r0");
    fs::remove_file(src.path().join("old.py")).unwrap();
    write(src.path(), "a.py", b"a = 1\n");
    crate::common::commit_ok(&store, "t/code", src.path(), "r1");
    let into = project.to_str().unwrap();
    crate::common::run_ok(&store, &["checkout", "code:v0", "--into", into]);
    let store_files = crate::common::file_names(&store.join("objects"));
    let report = crate::common::json(
        &store,
        &["checkout", "code:v1", "--into", into, "--clean", "--force"],
    );
    assert_eq!(report["removed"], serde_json::json!(["old.py"]), "{report}");
    assert!(!project.join("old.py").exists());
    assert_eq!(fs::read(project.join("a.py")).unwrap(), b"a = 1\n");
    assert_eq!(
        crate::common::file_names(&store.join("objects")),
        store_files
    );
    crate::common::assert_fsck_clean(&store, "after --clean beside the store");
}
