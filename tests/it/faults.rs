//! Everyday faults (issue 15's smaller breaks): a full output device, a crash between the two
//! markers of a commit, the umask, a file rewritten while it is committed.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::{
    assert_no_problems, code_files, codever_cmd, codever_in_shell, commit_ok, commit_record_of,
    init_store, pack_files, run_all_within, run_within, write, write_files,
};

const DEADLINE: Duration = Duration::from_secs(30);

/// A store with artifact code/ppo v0 (committed by run r1) and v1 (run r2).
fn base() -> (tempfile::TempDir, PathBuf) {
    let (tmp, store) = init_store();
    let src = tmp.path().join("src");
    for (run, lr) in [("r1", "1"), ("r2", "2")] {
        write(&src, "ppo.py", format!("lr = {lr}\n").as_bytes());
        commit_ok(&store, "code/ppo", &src, run);
    }
    (tmp, store)
}

#[test]
fn output_to_a_full_device_is_an_error() {
    let (_tmp, store) = base();
    let mut problems = Vec::new();
    for args in [
        &["cat", "ppo:v0", "ppo.py"][..],
        &["show", "ppo:v1"],
        &["diff", "ppo:v0", "ppo:v1"],
        &["versions", "ppo"],
    ] {
        let out = codever_cmd(&store, args)
            .stdout(fs::File::create("/dev/full").unwrap())
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        if out.status.code() != Some(2)
            || out.stderr
                != b"error: cannot write to standard output: No space left on device (os error \
                      28)\nhint: free some space on that disk, then run the command again\n"
        {
            problems.push(format!(
                "{args:?} > /dev/full: {}, stderr {:?}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    assert_no_problems(problems);
}

#[test]
fn a_commit_marked_for_its_artifact_but_not_its_run_fails_strict_fsck() {
    // What a crash between the artifact's marker and the run's marker leaves.
    let (_tmp, store) = base();
    let record = commit_record_of(&store, "r2");
    fs::remove_file(store.join("runs/r2").join(record.to_hex())).unwrap();
    let f = run_within(codever_cmd(&store, &["fsck", "--strict"]), DEADLINE);
    assert_eq!(
        f.code(),
        Some(1),
        "{}\n{}",
        f.describe(),
        String::from_utf8_lossy(&f.stdout)
    );
}

// A commit marked for its run but not its artifact is an interrupted, invisible commit (the
// artifact's marker is the commit point): `fsck::a_commit_only_its_run_marks_is_an_interrupted_invisible_commit`.

/// Every file and directory below `root` whose permission bits miss `want` (or, for `deny`,
/// have any of them), as "path mode" lines.
fn modes_not_matching(root: &Path, want: u32, deny: u32) -> Vec<String> {
    let mut bad = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let m = fs::symlink_metadata(&p).unwrap();
        let mode = m.permissions().mode() & 0o777;
        // Directories need x where files need r; compare the read bits of both.
        if mode & want != want || mode & deny != 0 {
            bad.push(format!("{} {mode:o}", p.display()));
        }
        if m.is_dir() {
            for e in fs::read_dir(&p).unwrap() {
                let e = e.unwrap();
                if e.file_name() != "local" {
                    stack.push(e.path());
                }
            }
        }
    }
    bad.sort();
    bad
}

/// Makes a store (loose objects, a pack, markers) with `umask` and returns the store.
fn store_made_with_umask(tmp: &Path, umask: &str) -> PathBuf {
    let small = tmp.join("small");
    write(&small, "ppo.py", b"lr = 1\n");
    let big = tmp.join("big");
    write_files(&big, &code_files(5, 20, 0));
    let sh = |args: &[&str]| {
        let mut c = codever_in_shell(&format!("umask {umask}"));
        c.args(args);
        let f = run_within(c, DEADLINE);
        assert_eq!(f.code(), Some(0), "{}", f.describe());
    };
    let project = tmp.join("project");
    sh(&["init", project.to_str().unwrap()]);
    let store = project.join(".codever");
    let s = store.to_str().unwrap();
    sh(&[
        "--store",
        s,
        "commit",
        "ppo",
        "--type",
        "code",
        small.to_str().unwrap(),
        "--run",
        "r1",
    ]);
    sh(&[
        "--store",
        s,
        "commit",
        "big",
        "--type",
        "code",
        big.to_str().unwrap(),
        "--run",
        "r1",
    ]);
    assert!(
        !pack_files(&store).is_empty(),
        "the big commit is expected to write a pack"
    );
    store
}

#[test]
fn store_files_honour_a_umask_of_022_so_a_team_can_read_them() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_made_with_umask(tmp.path(), "022");
    let bad = modes_not_matching(&store, 0o044, 0o022);
    assert!(
        bad.is_empty(),
        "not readable by group and others (or writable by them) under umask 022:\n{}",
        bad.join("\n")
    );
}

#[test]
fn store_files_honour_a_umask_of_077_so_nobody_else_can_read_them() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_made_with_umask(tmp.path(), "077");
    let bad = modes_not_matching(&store, 0o400, 0o077);
    assert!(
        bad.is_empty(),
        "accessible to group or others under umask 077:\n{}",
        bad.join("\n")
    );
}

#[test]
fn a_file_rewritten_while_it_is_committed_is_never_stored_torn() {
    // Two contents of one size; a writer rewrites the file in place, alternating, in small
    // pieces, for as long as the commits run. Each commit must store one of the two exactly,
    // or fail naming the file.
    let (tmp, store) = init_store();
    let size = 4 << 20;
    let a: Vec<u8> = (0..size).map(|i| b"abcdefghij\n"[i % 11]).collect();
    let b: Vec<u8> = (0..size).map(|i| b"ABCDEFGHIJ\n"[i % 11]).collect();
    let src = tmp.path().join("src");
    write(&src, "weights.py", &a);
    let path = src.join("weights.py");

    let stop = std::sync::atomic::AtomicBool::new(false);
    // Whether the writer was ever held up mid-rewrite long enough (a loaded machine) that a
    // half-rewritten file really sat on disk unchanged: storing that state is then correct.
    let stalled = std::sync::atomic::AtomicBool::new(false);
    let results = std::thread::scope(|s| {
        s.spawn(|| {
            use std::io::{Seek, SeekFrom, Write};
            let mut f = fs::OpenOptions::new().write(true).open(&path).unwrap();
            let mut n = 0usize;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let content = if n.is_multiple_of(2) { &b } else { &a };
                f.seek(SeekFrom::Start(0)).unwrap();
                let mut last = std::time::Instant::now();
                for chunk in content.chunks(64 << 10) {
                    f.write_all(chunk).unwrap();
                    if last.elapsed() > Duration::from_millis(10) {
                        stalled.store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                    last = std::time::Instant::now();
                }
                n += 1;
            }
        });
        let mut results = Vec::new();
        for i in 0..8 {
            let run = format!("r{i}");
            let f = run_within(
                codever_cmd(
                    &store,
                    &[
                        "--json",
                        "commit",
                        "weights",
                        "--type",
                        "code",
                        src.to_str().unwrap(),
                        "--run",
                        &run,
                    ],
                ),
                Duration::from_secs(60),
            );
            results.push(f);
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        results
    });

    let mut problems = Vec::new();
    let mut versions = Vec::new();
    for f in &results {
        match f.code() {
            Some(0) => {
                let out: serde_json::Value = serde_json::from_slice(&f.stdout).unwrap();
                versions.push(format!("weights@{}", out["id"].as_str().unwrap()));
            }
            Some(2) if String::from_utf8_lossy(&f.stderr).contains("weights.py") => {}
            _ => problems.push(f.describe()),
        }
    }
    let cats: Vec<_> = versions
        .iter()
        .map(|v| codever_cmd(&store, &["cat", v, "weights.py"]))
        .collect();
    for (v, f) in versions.iter().zip(run_all_within(cats, DEADLINE)) {
        if f.code() != Some(0) {
            problems.push(f.describe());
        } else if f.stdout != a
            && f.stdout != b
            && !stalled.load(std::sync::atomic::Ordering::Relaxed)
        {
            let prefix = |c: &[u8]| f.stdout.iter().zip(c).take_while(|(x, y)| x == y).count();
            problems.push(format!(
                "{v} stored a torn file of {} bytes: the first {} come from one content, later \
                 ones from the other",
                f.stdout.len(),
                prefix(&a).max(prefix(&b))
            ));
        }
    }
    assert_no_problems(problems);
}

/// `codever --store STORE args…` under strace with `strace_args` (what to trace and the fault to
/// inject); its output.
fn codever_with_fault(store: &Path, strace_args: &[&str], args: &[&str]) -> std::process::Output {
    std::process::Command::new("strace")
        .args(["-f", "-qq", "-o", "/dev/null"])
        .args(strace_args)
        .arg(assert_cmd::cargo::cargo_bin!("codever"))
        .arg("--store")
        .arg(store)
        .args(args)
        .env_remove("CODEVER_DIR")
        .env_remove("CODEVER_RUN_ID")
        .output()
        .unwrap()
}

/// Twenty small files in `dir` (enough for a commit to write one pack).
fn twenty_files(dir: &Path) {
    for i in 0..20 {
        write(dir, &format!("f{i:02}.py"), format!("x = {i}\n").as_bytes());
    }
}

/// A disk that fails a read (EIO, injected by strace on the pack file only) is reported as
/// that error on that file, exit 2 — never as a corrupt store, which would send the user to
/// repair or re-pull what is sound.
#[test]
fn a_pack_the_disk_cannot_read_is_an_error_not_corruption() {
    if !crate::common::strace_works() {
        return;
    }
    let (tmp, store) = init_store();
    let src = tmp.path().join("src");
    twenty_files(&src);
    commit_ok(&store, "code/app", &src, "r1");
    let packs = pack_files(&store);
    assert_eq!(packs.len(), 1, "{packs:?}");
    let pack = packs[0].to_str().unwrap();
    let out = codever_with_fault(
        &store,
        &[
            "-P",
            pack,
            "-e",
            "trace=openat",
            "-e",
            "inject=openat:error=EIO",
        ],
        &["cat", "code/app:v0", "f07.py"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(
        err.lines().next().unwrap_or_default(),
        format!(
            "error: cannot read {}: Input/output error (os error 5)",
            packs[0].display()
        ),
        "{err}"
    );
    assert!(!err.contains("corrupt"), "{err}");
    // The same read without the fault gives the file.
    assert_eq!(
        crate::common::run_ok(&store, &["cat", "code/app:v0", "f07.py"]),
        "x = 7\n"
    );
}

/// An object or a pack that cannot be moved into place (its rename fails with EIO, injected by
/// strace on the commit's first `renameat2`: the pack's for twenty files, the first loose
/// object's for one) fails the commit, exit 2, naming the file — never a commit reported made
/// whose objects are not stored, nor taken for "already stored".
#[test]
fn an_object_or_pack_that_cannot_be_put_in_place_fails_the_commit() {
    if !crate::common::strace_works() {
        return;
    }
    for (pack, ends) in [
        (true, ".pack: Input/output error (os error 5)"),
        (false, ": Input/output error (os error 5)"),
    ] {
        let (tmp, store) = init_store();
        let src = tmp.path().join("src");
        if pack {
            twenty_files(&src);
        } else {
            write(&src, "a.py", b"a = 1\n");
        }
        let out = codever_with_fault(
            &store,
            &[
                "-e",
                "trace=renameat2",
                "-e",
                "inject=renameat2:error=EIO:when=1",
            ],
            &crate::common::commit_args("code/app", &src, "r1"),
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        let first = err.lines().next().unwrap_or_default();
        let dir = store.join(if pack { "packs" } else { "objects" });
        assert!(
            first.starts_with(&format!("error: cannot write {}", dir.display()))
                && first.ends_with(ends),
            "{err}"
        );
        assert_eq!(
            pack_files(&store),
            Vec::<PathBuf>::new(),
            "no pack, no index"
        );
        assert_eq!(
            crate::common::run_ok(&store, &["--json", "list"]),
            "[]\n",
            "no version was made"
        );
    }
}
