//! Stray entries in `refs/` and `runs/` (a `.DS_Store`, a sync tool's leftovers, a file where a
//! directory belongs or the reverse) are ignored by every command: output is byte for byte what
//! it is without them.

use std::fs;
use std::path::{Path, PathBuf};

use crate::common::{assert_fsck_clean, commit_ok, init_store, json, output, run_err, write};

/// A store with artifact `t/a` (two versions, runs r1 and r2); returns (tmp, store).
fn store() -> (tempfile::TempDir, PathBuf) {
    let (tmp, store) = init_store();
    let src = tmp.path().join("src");
    for (run, body) in [("r1", "a = 1\n"), ("r2", "a = 2\n")] {
        write(&src, "a.py", body.as_bytes());
        commit_ok(&store, "t/a", src.join("a.py"), run);
    }
    (tmp, store)
}

/// Where strays are met, relative to the store.
const LOCATIONS: [&str; 5] = ["refs", "refs/t", "refs/t/a", "runs", "runs/r1"];

/// Every read command, text and JSON.
const COMMANDS: [&[&str]; 14] = [
    &["list"],
    &["--json", "list"],
    &["list", "--type", "t"],
    &["runs"],
    &["--json", "runs"],
    &["runs", "show", "r1"],
    &["--json", "runs", "show", "r2"],
    &["versions", "a"],
    &["--json", "versions", "t/a"],
    &["show", "a:v1"],
    &["--json", "show", "t/a"],
    &["cat", "a:v0", "a.py"],
    &["log", "a"],
    &["diff", "a:v0", "a:v1"],
];

fn outputs(store: &Path) -> Vec<(i32, Vec<u8>, Vec<u8>)> {
    COMMANDS
        .iter()
        .map(|args| {
            let out = output(store, args);
            (out.status.code().unwrap_or(-1), out.stdout, out.stderr)
        })
        .collect()
}

#[test]
fn ds_store_files_and_directories_are_ignored_everywhere() {
    let (_tmp, store) = store();
    let clean = outputs(&store);
    assert!(
        clean
            .iter()
            .all(|(code, _, err)| *code == 0 && err.is_empty())
    );
    for loc in LOCATIONS {
        for as_dir in [false, true] {
            let stray = store.join(loc).join(".DS_Store");
            if as_dir {
                fs::create_dir(&stray).unwrap();
                fs::write(stray.join("x"), b"junk").unwrap();
            } else {
                fs::write(&stray, b"\0\0\0\x01Bud1").unwrap();
            }
            let got = outputs(&store);
            for ((args, want), got) in COMMANDS.iter().zip(&clean).zip(&got) {
                assert_eq!(
                    got,
                    want,
                    "{args:?} with {loc}/.DS_Store as a {}: {}",
                    if as_dir { "directory" } else { "file" },
                    String::from_utf8_lossy(&got.2)
                );
            }
            if as_dir {
                fs::remove_dir_all(&stray).unwrap();
            } else {
                fs::remove_file(&stray).unwrap();
            }
        }
    }
}

#[test]
fn files_where_directories_belong_are_not_artifacts_or_runs() {
    let (_tmp, store) = store();
    let clean = outputs(&store);
    // Names that are valid artifact types, names and run ids, but files, not directories.
    fs::write(store.join("refs/u"), b"").unwrap();
    fs::write(store.join("refs/t/b"), b"").unwrap();
    fs::write(store.join("runs/r3"), b"").unwrap();
    // Directories without a marker are not artifacts or runs either.
    fs::create_dir_all(store.join("refs/t/empty/.hidden")).unwrap();
    fs::create_dir_all(store.join("runs/r4")).unwrap();
    assert_eq!(outputs(&store), clean);
    for (args, what) in [
        (&["show", "t/b"][..], "error: unknown artifact \"t/b\"\n"),
        (
            &["show", "empty"][..],
            "error: unknown artifact \"empty\"\n",
        ),
        (&["runs", "show", "r3"][..], "error: unknown run \"r3\"\n"),
        (&["runs", "show", "r4"][..], "error: unknown run \"r4\"\n"),
    ] {
        let stderr = run_err(&store, args);
        assert!(stderr.starts_with(what), "{args:?}: {stderr}");
    }
    // A run whose directory is empty is still recorded when it commits.
    commit_ok(
        &store,
        "t/a",
        store.parent().unwrap().join("src/a.py"),
        "r4",
    );
    // The host is this machine's name as the kernel has it (what `hostname` prints).
    let host = json(&store, &["runs", "show", "r4"])["host"].clone();
    #[cfg(target_os = "linux")]
    assert_eq!(
        host,
        fs::read_to_string("/proc/sys/kernel/hostname")
            .unwrap()
            .trim()
    );
    assert!(host.as_str().is_some_and(|h| !h.is_empty()), "{host}");
}

/// Records of one run filed (by a copy, a sync tool) under another run's directory are never
/// shown as that run's, and are counted: the run says it is not complete.
#[test]
fn records_of_another_run_are_counted_not_shown() {
    let (_tmp, store) = store();
    let lib = codever::Store::open(&store).unwrap();
    let tree = codever::ObjectId::from_hex(json(&store, &["show", "a:v0"])["id"].as_str().unwrap())
        .unwrap();
    lib.record_use("r2", &crate::common::artifact("t/a"), tree)
        .unwrap();
    let before = json(&store, &["runs", "show", "r1"]);
    assert_eq!(before["complete"], true);
    // r2 holds its run record, its commit and its use: each copied under r1.
    let markers = crate::common::file_names(&store.join("runs/r2"));
    assert_eq!(markers.len(), 3, "{markers:?}");
    for m in &markers {
        fs::copy(store.join("runs/r2").join(m), store.join("runs/r1").join(m)).unwrap();
    }
    let after = json(&store, &["runs", "show", "r1"]);
    assert_eq!(after["complete"], false);
    assert_eq!(
        (&after["artifacts"], &after["used"], &after["time"]),
        (&before["artifacts"], &before["used"], &before["time"])
    );
    let text = crate::common::run_ok(&store, &["runs", "show", "r1"]);
    assert!(
        text.ends_with("  … 3 unreadable record(s) ignored; `codever fsck` says more\n"),
        "{text}"
    );
}

#[test]
fn a_directory_named_like_a_marker_is_not_a_marker() {
    let (_tmp, store) = store();
    let clean = outputs(&store);
    let fake = "ab".repeat(32);
    fs::create_dir(store.join("refs/t/a").join(&fake)).unwrap();
    fs::create_dir(store.join("runs/r1").join(&fake)).unwrap();
    assert_eq!(outputs(&store), clean);
}

#[test]
fn fsck_lists_strays_and_passes() {
    let (_tmp, store) = store();
    let mut strays = Vec::new();
    for loc in LOCATIONS {
        let file = store.join(loc).join(".DS_Store");
        fs::write(&file, b"x").unwrap();
        strays.push(file);
    }
    let dir = store.join("refs/.Trash");
    fs::create_dir(&dir).unwrap();
    strays.push(dir);
    let report = assert_fsck_clean(&store, "strays everywhere");
    let mut listed: Vec<PathBuf> = report["stray"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| PathBuf::from(p.as_str().unwrap()))
        .collect();
    listed.sort();
    strays.sort();
    assert_eq!(listed, strays);
}

/// A marker spelled in upper-case hex (a hostile or case-folding sync) is not a second marker of
/// the same record: every command prints what it prints without it, and fsck lists it as a
/// stray. (A hostile review saw `runs show` list the commit twice.)
#[test]
fn an_upper_case_marker_is_a_stray_not_a_second_marker() {
    let (_tmp, store) = store();
    let clean = outputs(&store);
    let mut added = Vec::new();
    for dir in ["runs/r1", "refs/t/a"] {
        for e in fs::read_dir(store.join(dir)).unwrap() {
            let name = e.unwrap().file_name().into_string().unwrap();
            let upper = store.join(dir).join(name.to_uppercase());
            fs::write(&upper, b"").unwrap();
            added.push(upper);
        }
    }
    assert_eq!(outputs(&store), clean);
    let fsck = json(&store, &["fsck"]);
    let mut stray: Vec<PathBuf> = fsck["stray"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| PathBuf::from(p.as_str().unwrap()))
        .collect();
    stray.sort();
    added.sort();
    assert_eq!(stray, added);
}
