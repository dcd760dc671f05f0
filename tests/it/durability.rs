//! Durability order, read from the system calls of real commands (`strace -f -y`): a directory
//! that received a new entry (a renamed object or pack, a made directory, a marker) is flushed
//! with `fsync` before the first marker makes anything visible, and every marker directory is
//! flushed before the command ends. A crash test cannot see a missing directory flush (a killed
//! process loses nothing the kernel holds); a power loss would.
//!
//! Needs `strace` that can ptrace (`scripts/test-tools.sh`); skipped with a message otherwise.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::common::*;

/// The calls of `codever --store STORE args…` that touch names or flush them, in order, with
/// the halves of calls interrupted by another thread joined again.
fn trace(store: &Path, args: &[&str]) -> Vec<String> {
    let log = store.with_extension("strace");
    let mut c = std::process::Command::new("strace");
    c.args(["-f", "-qq", "-y", "-o"])
        .arg(&log)
        .args([
            "-e",
            "trace=fsync,fdatasync,openat,mkdir,mkdirat,rename,renameat,renameat2,link,linkat",
        ])
        .arg(assert_cmd::cargo::cargo_bin!("codever"))
        .arg("--store")
        .arg(store)
        .args(args)
        .env_remove("CODEVER_DIR")
        .env_remove("CODEVER_RUN_ID");
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "codever {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&log).unwrap();
    let mut pending: BTreeMap<String, String> = BTreeMap::new();
    let mut calls = Vec::new();
    for line in text.lines() {
        let Some((pid, rest)) = line.split_once(' ') else {
            continue;
        };
        let rest = rest.trim_start();
        if let Some(start) = rest.strip_suffix("<unfinished ...>") {
            pending.insert(pid.to_string(), start.to_string());
        } else if rest.starts_with("<...") {
            if let (Some(start), Some((_, end))) =
                (pending.remove(pid), rest.split_once("resumed>"))
            {
                calls.push(format!("{start}{end}"));
            }
        } else {
            calls.push(rest.to_string());
        }
    }
    calls
}

/// The quoted path arguments of a call, in order, made absolute: a name relative to a directory
/// descriptor (`openat(4</store/packs>, "x.pack", …)`, as `strace -y` shows it) is joined to
/// that directory's path.
fn quoted(call: &str) -> Vec<PathBuf> {
    let parts: Vec<&str> = call.split('"').collect();
    (1..parts.len())
        .step_by(2)
        .map(|i| {
            let name = PathBuf::from(parts[i]);
            if name.is_absolute() {
                return name;
            }
            // The text before the name ends with `N</dir>, ` when a descriptor is given.
            let before = parts[i - 1].trim_end().trim_end_matches(',');
            match before
                .rsplit_once('<')
                .and_then(|(_, d)| d.strip_suffix('>'))
            {
                Some(dir) if before.ends_with('>') => Path::new(dir).join(name),
                _ => name,
            }
        })
        .collect()
}

/// Whether a call succeeded (its result is not negative). strace pads short calls so that
/// results line up (`fsync(3</s>)          = 0`).
fn succeeded(call: &str) -> bool {
    call.rsplit_once(')')
        .and_then(|(_, r)| r.trim_start().strip_prefix('='))
        .is_some_and(|r| !r.trim_start().starts_with('-'))
}

/// The order problems in the calls of one command on the store `root`.
fn order_problems(root: &Path, calls: &[String]) -> Vec<String> {
    let local = root.join("local");
    let is_marker = |p: &Path| p.starts_with(root.join("refs")) || p.starts_with(root.join("runs"));
    let mut dirty: BTreeMap<PathBuf, String> = BTreeMap::new();
    let mut problems = Vec::new();
    let mut markers_seen = false;
    let mut artifact_marker_seen = false;
    for call in calls {
        let name = call.split('(').next().unwrap_or("");
        let paths = quoted(call);
        let touched = |dirty: &mut BTreeMap<PathBuf, String>, p: &Path| {
            if let Some(parent) = p.parent()
                && !parent.starts_with(&local)
                && parent.starts_with(root)
            {
                dirty.insert(parent.to_path_buf(), call.clone());
            }
        };
        match name {
            "rename" | "renameat" | "renameat2" | "link" | "linkat" if succeeded(call) => {
                if let Some(to) = paths.get(1) {
                    touched(&mut dirty, to);
                }
            }
            "mkdir" | "mkdirat" if succeeded(call) => touched(&mut dirty, &paths[0]),
            "openat" if call.contains("O_CREAT") && succeeded(call) => {
                let p = &paths[0];
                if is_marker(p) {
                    if !markers_seen {
                        // Marker directories are made with the markers; everything else first.
                        for (dir, why) in dirty.iter().filter(|(d, _)| !is_marker(d)) {
                            problems.push(format!(
                                "{} not flushed before the first marker (after {why})",
                                dir.display()
                            ));
                        }
                        markers_seen = true;
                    }
                    if p.starts_with(root.join("refs")) {
                        artifact_marker_seen = true;
                    } else if artifact_marker_seen {
                        problems.push(format!(
                            "run marker after the artifact's (the commit point): {call}"
                        ));
                    }
                    touched(&mut dirty, p);
                }
            }
            "fsync" | "fdatasync" if succeeded(call) => {
                if let Some(path) = call.split_once('<').and_then(|(_, r)| r.split_once(">)")) {
                    dirty.remove(Path::new(path.0));
                }
            }
            _ => {}
        }
    }
    for (dir, why) in &dirty {
        problems.push(format!(
            "{} not flushed before the command ended (after {why})",
            dir.display()
        ));
    }
    problems
}

#[test]
fn commits_flush_every_new_name_before_their_markers_and_their_markers_before_they_end() {
    if !strace_works() {
        return;
    }
    let (tmp, store) = init_store();
    let root = std::fs::canonicalize(&store).unwrap();
    let small = tmp.path().join("small");
    write_files(&small, &code_files(1, 3, 1));
    let large = tmp.path().join("large");
    write_files(&large, &code_files(2, 40, 1));
    let mut problems = Vec::new();
    // Loose objects in new fan-out directories, a new run, a new artifact; then a pack and
    // an alias (a record published alone).
    for (what, args) in [
        (
            "loose objects",
            vec![
                "commit",
                "m",
                "--type",
                "code",
                small.to_str().unwrap(),
                "--run",
                "r1",
            ],
        ),
        (
            "a pack",
            vec![
                "commit",
                "m",
                "--type",
                "code",
                large.to_str().unwrap(),
                "--run",
                "r2",
            ],
        ),
        ("an alias", vec!["alias", "m:v0", "best"]),
    ] {
        for p in order_problems(&root, &trace(&root, &args)) {
            problems.push(format!("{what}: {p}"));
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

/// A push to a folder remote flushes every directory of the remote that received a new name
/// (objects, packs, records, markers, the directories made for them) before it ends: the remote
/// survives a power loss as a store does. (Its names are written relative to open directories,
/// `renameat2(4</remote/packs>, …)`, which the checker resolves.)
#[test]
fn a_push_to_a_folder_flushes_the_remote_as_a_commit_flushes_a_store() {
    if !strace_works() {
        return;
    }
    let (tmp, store) = init_store();
    let root = std::fs::canonicalize(&store).unwrap();
    let src = tmp.path().join("src");
    write_files(&src, &code_files(3, 40, 1));
    run_ok(
        &root,
        &[
            "commit",
            "m",
            "--type",
            "code",
            src.to_str().unwrap(),
            "--run",
            "r1",
        ],
    );
    write_files(&src, &code_files(4, 3, 1));
    run_ok(
        &root,
        &[
            "commit",
            "m",
            "--type",
            "code",
            src.to_str().unwrap(),
            "--run",
            "r2",
        ],
    );
    let remote = tmp.path().join("remote");
    std::fs::create_dir_all(&remote).unwrap();
    let remote = std::fs::canonicalize(&remote).unwrap();
    run_ok(
        &root,
        &["remote", "add", "origin", remote.to_str().unwrap()],
    );
    let problems = order_problems(&remote, &trace(&root, &["push"]));
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
    assert!(remote.join("refs").is_dir(), "the push wrote the remote");
}
