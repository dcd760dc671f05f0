//! fsck tells corrupt from missing and from unlinked; a corrupt object is never served; repairs
//! are the safe ones only.

use std::fs;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use codever::object::TreeEntry;
use codever::{FileMeta, FsckOptions, Md5, ObjectId, Repair, RepairAction, Store};
use serde_json::json;

use crate::common::{
    blob_id, commit_ok, commit_record_of, file_entry, forge_version, init_store, json, lib_store,
    object_path, rewrite, run_any, run_any_json, run_err, run_ok, set_mtime, write, write_blob,
    write_tree,
};

/// A store with artifact t/ppo v0 = {ppo.py, models.py}, committed by run r1.
fn setup() -> (tempfile::TempDir, PathBuf) {
    let (tmp, store) = init_store();
    let src = tmp.path().join("src");
    write(&src, "ppo.py", b"lr = 1\n");
    write(&src, "models.py", b"hidden = 64\n");
    commit_ok(&store, "t/ppo", &src, "r1");
    (tmp, store)
}

#[test]
fn a_clean_store_passes() {
    let (_tmp, store) = setup();
    assert_eq!(
        run_ok(&store, &["fsck"]),
        "checked 5 object(s), 3 marker(s)\nok\n"
    );
}

#[test]
fn corruption_is_reported_exit_1_and_never_served() {
    let (_tmp, store) = setup();
    let p = object_path(&store, blob_id(b"lr = 1\n"));
    rewrite(&p, |bytes| {
        let n = bytes.len();
        bytes[n - 3] ^= 0x55;
    });

    let (code, text, _) = run_any(&store, &["fsck"]);
    assert_eq!(code, 1);
    assert!(text.contains("corrupt: "), "{text}");
    assert!(text.contains(&p.display().to_string()), "{text}");

    // cat and checkout refuse to hand out the bad bytes.
    let err = run_err(&store, &["cat", "ppo", "ppo.py"]);
    assert!(err.contains("is corrupt"), "{err}");
    let into = store.parent().unwrap().join("out");
    run_err(
        &store,
        &["checkout", "ppo", "--into", into.to_str().unwrap()],
    );
    // The other file is still readable.
    assert_eq!(
        run_ok(&store, &["cat", "ppo", "models.py"]),
        "hidden = 64\n"
    );
}

#[test]
fn missing_objects_are_not_corruption() {
    let (_tmp, store) = setup();
    fs::remove_file(object_path(&store, blob_id(b"hidden = 64\n"))).unwrap();
    let report = json(&store, &["fsck"]);
    assert_eq!(report["ok"], true);
    assert_eq!(report["corrupt"].as_array().unwrap().len(), 0);
    assert_eq!(report["missing"].as_array().unwrap().len(), 1);
    let (code, text, _) = run_any(&store, &["fsck", "--strict"]);
    assert_eq!(code, 1);
    assert!(text.contains("missing (not yet synced)"), "{text}");
    let err = run_err(&store, &["cat", "ppo", "models.py"]);
    assert!(err.contains("not yet synced"), "{err}");
}

#[test]
fn stray_files_are_listed_but_harmless() {
    let (_tmp, store) = setup();
    fs::write(store.join("refs/t/ppo/.DS_Store"), b"x").unwrap();
    let report = json(&store, &["fsck"]);
    assert_eq!(report["ok"], true);
    assert_eq!(report["stray"].as_array().unwrap().len(), 1);
    assert_eq!(
        json(&store, &["versions", "ppo"]).as_array().unwrap().len(),
        1
    );
}

/// A store holding artifact `t/forged` v0, committed by run `r1`, whose root tree holds the
/// entries `build` returns (made with the library) and claims the files it returns.
fn forged(build: impl FnOnce(&Store) -> (Vec<TreeEntry>, Vec<(&'static str, FileMeta)>)) -> Forged {
    let (tmp, store) = lib_store();
    let (entries, files) = build(&store);
    let tree = write_tree(&store, entries);
    forge_version(&store, "t/forged", "r1", tree, &files, 1_000_000_000);
    let root = store.root().to_path_buf();
    Forged {
        _tmp: tmp,
        tree,
        tree_path: object_path(&root, tree),
        root,
    }
}

struct Forged {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    /// The root tree, and its object file.
    tree: ObjectId,
    tree_path: PathBuf,
}

#[test]
fn a_file_whose_size_or_md5_differs_from_its_blob_is_corrupt() {
    let mut ids = Vec::new();
    let f = forged(|store| {
        let mut a = write_blob(store, b"lr = 1\n");
        a.size = 8;
        let mut b = write_blob(store, b"gamma = 0.99\n");
        b.md5 = Md5::of(b"gamma = 0.9\n");
        ids.extend([a.id, b.id]);
        let entries = vec![file_entry("a.py", a), file_entry("b.py", b)];
        (entries, vec![("a.py", a), ("b.py", b)])
    });
    let (code, report) = run_any_json(&f.root, &["fsck"]);
    assert_eq!(code, 1);
    assert_eq!(
        report["corrupt"],
        json!([
            {
                "path": f.tree_path,
                "reason": format!("file \"a.py\": the tree says 8 bytes, its blob {} has 7", ids[0].short()),
            },
            {
                "path": f.tree_path,
                "reason": format!(
                    "file \"b.py\": the tree says MD5 {}, its blob {} has {}",
                    Md5::of(b"gamma = 0.9\n").to_base64(),
                    ids[1].short(),
                    Md5::of(b"gamma = 0.99\n").to_base64()
                ),
            },
        ])
    );
    assert_eq!(report["ok"], false);
    let (code, text, _) = run_any(&f.root, &["fsck"]);
    assert_eq!(code, 1);
    assert_eq!(
        text.lines().nth(1),
        Some(
            format!(
                "corrupt: {}: file \"a.py\": the tree says 8 bytes, its blob {} has 7",
                f.tree_path.display(),
                ids[0].short()
            )
            .as_str()
        )
    );
    assert!(!text.contains("\nok\n"), "{text}");
}

#[test]
fn an_implausible_file_size_is_corrupt() {
    let f = forged(|store| {
        let mut a = write_blob(store, b"lr = 1\n");
        a.size = u64::MAX;
        (vec![file_entry("a.py", a)], vec![("a.py", a)])
    });
    let (code, report) = run_any_json(&f.root, &["fsck"]);
    assert_eq!(code, 1);
    let reasons: Vec<&str> = report["corrupt"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["reason"].as_str().unwrap())
        .collect();
    // Implausible, and unlike the blob's 7 bytes.
    let blob = blob_id(b"lr = 1\n").short();
    assert_eq!(
        reasons,
        [
            "file \"a.py\" claims 18446744073709551615 bytes (at most 68719476736 are possible)"
                .to_string(),
            format!(
                "file \"a.py\": the tree says 18446744073709551615 bytes, its blob {blob} has 7"
            ),
        ]
    );
    assert_eq!(
        run_err(&f.root, &["cat", "forged", "a.py"]),
        format!(
            "error: object {} is corrupt: file \"a.py\" claims 18446744073709551615 bytes (at most \
             68719476736 are possible)\n\
             hint: run `codever fsck`; copy the object again from a healthy copy of the store\n",
            f.tree
        )
    );
}

#[test]
fn an_unsorted_tree_is_corrupt_and_never_served() {
    let f = forged(|store| {
        let a = write_blob(store, b"a\n");
        let b = write_blob(store, b"b\n");
        let entries = vec![file_entry("b.py", b), file_entry("a.py", a)];
        (entries, vec![("a.py", a), ("b.py", b)])
    });
    let (code, report) = run_any_json(&f.root, &["fsck"]);
    assert_eq!(code, 1);
    assert_eq!(
        report["corrupt"],
        json!([{"path": f.tree_path, "reason": "entries not sorted by name at \"a.py\""}])
    );
    let stderr = run_err(&f.root, &["cat", "forged", "a.py"]);
    assert_eq!(
        stderr.lines().next(),
        Some(
            format!(
                "error: object {} is corrupt: entries not sorted by name at \"a.py\"",
                f.tree
            )
            .as_str()
        )
    );
}

#[test]
fn a_commit_its_run_does_not_list_is_unlinked_until_repaired() {
    let (_tmp, store) = setup();
    let record = commit_record_of(&store, "r1").to_hex();
    let refs_marker = store.join("refs/t/ppo").join(&record);
    let runs_marker = store.join("runs/r1").join(&record);
    // A crash between the artifact's marker and the run's marker.
    fs::remove_file(&runs_marker).unwrap();
    assert_eq!(
        json(&store, &["runs", "show", "r1"])["artifacts"],
        json!([])
    );

    // What a copy under way leaves too (rsync brings refs/ before runs/): only a strict check
    // fails on it.
    let (code, report) = run_any_json(&store, &["fsck"]);
    assert_eq!(code, 0);
    assert_eq!(
        report["unlinked"],
        json!([{"record": record, "marker": refs_marker, "missing_marker": runs_marker}])
    );
    assert_eq!(report["corrupt"], json!([]));
    assert_eq!(report["repaired"], json!([]));
    assert_eq!(report["ok"], true);
    assert_eq!(run_any_json(&store, &["fsck", "--strict"]).0, 1);
    let (code, text, stderr) = run_any(&store, &["fsck"]);
    assert_eq!(code, 0);
    assert_eq!(
        text,
        format!(
            "checked 5 object(s), 2 marker(s)\nunlinked: {} has no marker {}\n",
            refs_marker.display(),
            runs_marker.display()
        )
    );
    assert_eq!(
        stderr,
        "hint: `codever fsck --repair` adds the missing markers\n"
    );

    let (code, report) = run_any_json(&store, &["fsck", "--repair"]);
    assert_eq!(code, 0);
    assert_eq!(report["unlinked"], json!([]));
    assert_eq!(
        report["repaired"],
        json!([{"action": "add_marker", "path": runs_marker}])
    );
    assert_eq!(report["ok"], true);
    assert!(runs_marker.is_file());
    assert_eq!(
        run_ok(&store, &["fsck", "--strict"]),
        "checked 5 object(s), 3 marker(s)\nok\n"
    );
    let artifacts = &json(&store, &["runs", "show", "r1"])["artifacts"];
    assert_eq!(artifacts[0]["name"], "ppo");
    assert_eq!(artifacts[0]["version"], 0);
}

#[test]
fn a_commit_only_its_run_marks_is_an_interrupted_invisible_commit() {
    // What a crash just before the artifact's marker (the commit point) leaves.
    let (_tmp, store) = setup();
    let record = commit_record_of(&store, "r1").to_hex();
    let refs_marker = store.join("refs/t/ppo").join(&record);
    let runs_marker = store.join("runs/r1").join(&record);
    fs::remove_file(&refs_marker).unwrap();

    let (code, report) = run_any_json(&store, &["fsck", "--strict"]);
    assert_eq!(code, 0);
    assert_eq!(report["unlinked"], json!([]));
    assert_eq!(
        report["interrupted"],
        json!([{"record": record, "marker": runs_marker, "missing_marker": refs_marker}])
    );
    // Invisible everywhere: the run lists no commit, the artifact has no version.
    assert_eq!(
        json(&store, &["runs", "show", "r1"])["artifacts"],
        json!([])
    );
    assert_eq!(json(&store, &["list"]), json!([]));

    // Repair leaves it alone (it never completed; a sync may still bring the marker).
    let (code, text, _) = run_any(&store, &["fsck", "--repair"]);
    assert_eq!(code, 0);
    assert_eq!(
        text,
        format!(
            "checked 5 object(s), 2 marker(s)\ninterrupted commit (invisible): {} has no marker {}\nstray file (ignored): {}\nok\n",
            runs_marker.display(),
            refs_marker.display(),
            store.join("refs/t/ppo").display()
        )
    );
    assert!(!refs_marker.exists());
}

#[test]
fn stray_files_anywhere_in_refs_and_runs_are_listed_never_fatal() {
    let (_tmp, store) = setup();
    let files = [
        "refs/.DS_Store",
        "refs/t/.DS_Store",
        "refs/t/ppo/.DS_Store",
        "runs/.DS_Store",
        "runs/r1/.DS_Store",
        "runs/r1/rsync.tmp",
    ];
    for f in files {
        fs::write(store.join(f), b"x").unwrap();
    }
    let dirs = [
        "refs/.DS_Store.d",
        "refs/t/ppo/.DS_Store.d",
        "runs/not a run",
    ];
    for d in dirs {
        fs::create_dir(store.join(d)).unwrap();
    }
    let mut expected: Vec<PathBuf> = files.iter().chain(&dirs).map(|p| store.join(p)).collect();
    expected.sort();

    let (code, report) = run_any_json(&store, &["fsck", "--strict"]);
    assert_eq!(code, 0);
    assert_eq!(report["stray"], json!(expected));
    assert_eq!(report["corrupt"], json!([]));
    assert_eq!(report["markers"], 3);
    assert_eq!(report["ok"], true);
    // --repair never removes anything outside local/ and packs/.
    let (code, report) = run_any_json(&store, &["fsck", "--repair"]);
    assert_eq!(code, 0);
    assert_eq!(report["repaired"], json!([]));
    assert!(expected.iter().all(|p| p.exists()));
    assert_eq!(
        json(&store, &["versions", "t/ppo"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn repair_removes_packs_without_index_only_once_they_are_old() {
    let (_tmp, store) = setup();
    let pack = store
        .join("packs")
        .join(format!("{}.pack", "ab".repeat(32)));
    fs::write(
        &pack,
        b"CDVP\x01 a pack whose writer stopped before its index",
    )
    .unwrap();
    // Copied in with an old modification time (rsync -a): still young here, kept.
    set_mtime(&pack, SystemTime::now() - Duration::from_secs(7200));
    let (code, report) = run_any_json(&store, &["fsck", "--repair"]);
    assert_eq!(code, 0);
    assert_eq!(report["stray"], json!([pack]));
    assert_eq!(report["repaired"], json!([]));
    assert!(pack.exists());

    // Through the library, with "old" meaning older than nothing.
    let tmp_file = store.join("local/tmp/obj-interrupted");
    fs::write(&tmp_file, b"half an object").unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let s = Store::open(&store).unwrap();
    let young = s
        .fsck_with(&FsckOptions {
            repair: true,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(young.repaired, vec![]);
    assert!(tmp_file.exists() && pack.exists());
    let r = s
        .fsck_with(&FsckOptions {
            repair: true,
            stale_after: Duration::ZERO,
        })
        .unwrap();
    assert_eq!(
        r.repaired,
        vec![
            Repair {
                action: RepairAction::RemovedTempFile,
                path: tmp_file.clone(),
            },
            Repair {
                action: RepairAction::RemovedPack,
                path: pack.clone(),
            },
        ]
    );
    assert_eq!(r.stray, Vec::<PathBuf>::new());
    assert!(!r.failed(true));
    assert!(!tmp_file.exists() && !pack.exists());
    assert_eq!(run_ok(&store, &["cat", "ppo", "ppo.py"]), "lr = 1\n");
}
