//! Comparing versions: exact output on the fixtures (checked against git itself), renames, modes,
//! binary files, the working tree, runs, log and blame.

use std::fs;
use std::path::PathBuf;

use codever::diff::{DiffOptions, Status};
use codever::{Spec, render};
use serde_json::json;

use crate::common::{
    codever_cmd, commit_ok, commit_snapshot, copy_all, dir_entry, file_entry, fixture, git,
    git_apply, init_store, json, lib_store, run_any, run_err, run_ok, snapshot, write, write_blob,
    write_tree,
};

/// A store with the four fixture versions logged as code/safelife (v0..v3) by runs r1..r4, plus
/// ppo (rl_algo_code) from the same runs.
fn fixture_store() -> (tempfile::TempDir, PathBuf) {
    let (tmp, store) = init_store();
    for (i, v) in ["baseline", "ppo-lr", "layernorm", "tuned"]
        .iter()
        .enumerate()
    {
        let run = format!("r{}", i + 1);
        let dir = fixture(v);
        commit_ok(&store, "code/safelife", &dir, &run);
        commit_ok(
            &store,
            "rl_algo_code/ppo",
            dir.join("training/ppo.py"),
            &run,
        );
    }
    (tmp, store)
}

#[test]
fn the_ppo_change_as_a_user_sees_it() {
    let (_tmp, store) = fixture_store();
    assert_eq!(
        run_ok(&store, &["diff", "ppo:v0", "ppo:v1"]),
        "diff --git a/ppo.py b/ppo.py
index 85f4b70..39cd54b 100644
--- a/ppo.py
+++ b/ppo.py
@@ -2,9 +2,9 @@ import torch
 
 
 class PPO:
-    learning_rate = 3e-4
+    learning_rate = 1e-3
     gamma = 0.99
-    clip_eps = 0.2
+    clip_eps = 0.1
     epochs = 4
 
     def __init__(self, net):
"
    );
    assert_eq!(
        run_ok(&store, &["diff", "ppo:v0", "ppo:v1", "-U", "0"]),
        "diff --git a/ppo.py b/ppo.py
index 85f4b70..39cd54b 100644
--- a/ppo.py
+++ b/ppo.py
@@ -5 +5 @@ class PPO:
-    learning_rate = 3e-4
+    learning_rate = 1e-3
@@ -7 +7 @@ class PPO:
-    clip_eps = 0.2
+    clip_eps = 0.1
"
    );
    assert_eq!(
        run_ok(
            &store,
            &["diff", "code/safelife:v0", "safelife:latest", "--stat"]
        ),
        // v4 reverted ppo.py to v1's content, so it is not listed.
        " training/dqn.py    | 2 +-
 training/models.py | 1 +
 training/utils.py  | 3 +++
 3 files changed, 5 insertions(+), 1 deletion(-)
"
    );
    assert_eq!(
        run_ok(
            &store,
            &["diff", "safelife:v2", "safelife:v3", "--name-status"]
        ),
        "M\ttraining/dqn.py\nM\ttraining/ppo.py\nA\ttraining/utils.py\n"
    );
}

/// The same trees in a git repository: `git diff` must print exactly what codever prints, patch,
/// stat and name-status alike, with each diff algorithm.
#[test]
fn output_is_identical_to_git_diff_on_the_fixtures() {
    let (tmp, store) = fixture_store();
    let repo = tmp.path().join("repo");
    fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    for v in ["baseline", "ppo-lr", "layernorm", "tuned"] {
        for e in fs::read_dir(&repo).unwrap() {
            let p = e.unwrap().path();
            if p.file_name().unwrap() != ".git" {
                if p.is_dir() {
                    fs::remove_dir_all(&p).unwrap();
                } else {
                    fs::remove_file(&p).unwrap();
                }
            }
        }
        copy_all(&fixture(v), &repo);
        git(&repo, &["add", "-A"]);
        git(&repo, &["commit", "-q", "-m", v]);
    }
    for (a, b) in [(0, 1), (1, 2), (2, 3), (0, 3), (3, 0)] {
        let (ga, gb) = (format!("HEAD~{}", 3 - a), format!("HEAD~{}", 3 - b));
        let (ca, cb) = (format!("safelife:v{a}"), format!("safelife:v{b}"));
        for (gflags, cflags) in [
            (vec![], vec![]),
            (vec!["--patience"], vec!["--patience"]),
            (vec!["--histogram"], vec!["--histogram"]),
            (vec!["--minimal"], vec!["--minimal"]),
            (
                vec!["--diff-algorithm=patience"],
                vec!["--diff-algorithm=patience"],
            ),
            (vec!["--stat"], vec!["--stat"]),
            (vec!["--name-status"], vec!["--name-status"]),
            (vec!["-U1"], vec!["-U1"]),
            (vec!["--patience", "-U1"], vec!["--patience", "-U1"]),
        ] {
            let mut gargs = vec!["diff"];
            gargs.extend(&gflags);
            gargs.extend([ga.as_str(), gb.as_str()]);
            let mut cargs = vec!["diff", ca.as_str(), cb.as_str()];
            cargs.extend(&cflags);
            assert_eq!(run_ok(&store, &cargs), git(&repo, &gargs), "{cargs:?}");
        }
    }
}

const BODY: &[u8] = b"import torch\n\nclass Net:\n    def forward(self, x):\n        return x\n";

#[test]
fn renames_modes_and_binary_files() {
    let (tmp, store) = lib_store();
    let a = snapshot(&[
        ("old.py", BODY, false),
        ("edit_me.py", b"a\nb\nc\nd\ne\nf\ng\nh\n", false),
        ("run.sh", b"echo hi\n", false),
        ("w.bin", b"\x00\x01\x02", false),
    ]);
    let b = snapshot(&[
        ("nets/new.py", BODY, false),
        ("edited.py", b"a\nb\nc\nd\ne\nf\ng\nH\n", false),
        ("run.sh", b"echo hi\n", true),
        ("w.bin", b"\x00\x01\x03\x04", false),
    ]);
    let a = commit_snapshot(&store, "t/n", &a, "r").tree;
    let b = commit_snapshot(&store, "t/n", &b, "r").tree;
    let diff = store.diff_versions(a, b, &DiffOptions::default()).unwrap();
    let summary: Vec<(Status, Option<u8>, &str)> = diff
        .files
        .iter()
        .map(|f| (f.status, f.similarity, f.path()))
        .collect();
    assert_eq!(
        summary,
        [
            (Status::Renamed, Some(87), "edited.py"),
            (Status::Renamed, Some(100), "nets/new.py"),
            (Status::Modified, None, "run.sh"),
            (Status::Modified, None, "w.bin"),
        ]
    );
    // Byte for byte what git prints for the same two trees (checked with git 2.47).
    let text = String::from_utf8(render::patch(&diff, false)).unwrap();
    assert_eq!(
        text,
        "diff --git a/edit_me.py b/edited.py
similarity index 87%
rename from edit_me.py
rename to edited.py
index 71ac1b5..b9a82af 100644
--- a/edit_me.py
+++ b/edited.py
@@ -5,4 +5,4 @@ d
 e
 f
 g
-h
+H
diff --git a/old.py b/nets/new.py
similarity index 100%
rename from old.py
rename to nets/new.py
diff --git a/run.sh b/run.sh
old mode 100644
new mode 100755
diff --git a/w.bin b/w.bin
index 8352675..ef2caff 100644
Binary files a/w.bin and b/w.bin differ
"
    );
    assert_eq!(
        render::name_status(&diff),
        "R087\tedit_me.py\tedited.py\nR100\told.py\tnets/new.py\nM\trun.sh\nM\tw.bin\n"
    );
    // Exactly what `git diff --stat` prints for the same two trees.
    assert_eq!(
        render::stat(&diff),
        " edit_me.py => edited.py |   2 +-
 old.py => nets/new.py   |   0
 run.sh                  |   0
 w.bin                   | Bin 3 -> 4 bytes
 4 files changed, 1 insertion(+), 1 deletion(-)
"
    );
    // Without inexact rename detection the edited file is a delete and an add.
    let opts = DiffOptions {
        rename_threshold: None,
        ..DiffOptions::default()
    };
    let plain = store.diff_versions(a, b, &opts).unwrap();
    assert_eq!(plain.files.len(), 5);

    // With --binary everything, the binary change included, applies with git.
    let opts = DiffOptions {
        binary: true,
        ..DiffOptions::default()
    };
    let patch = render::patch(&store.diff_versions(a, b, &opts).unwrap(), false);
    let work = tmp.path().join("work");
    store.checkout(&a, &work, false).unwrap();
    git_apply(&work, &patch, false).unwrap();
    assert_eq!(fs::read(work.join("w.bin")).unwrap(), b"\x00\x01\x03\x04");
    assert_eq!(fs::read(work.join("nets/new.py")).unwrap(), BODY);
    assert!(!work.join("old.py").exists());
}

/// Two roots that share a subtree whose object was never stored: the diff must succeed, which
/// proves an equal subtree is skipped without being read.
#[test]
fn equal_subtrees_are_never_read() {
    let (_tmp, store) = lib_store();
    let never_stored = codever::ObjectId::compute(
        codever::object::Kind::Tree,
        b"a subtree that is not in the store",
    );
    let root = |content: &[u8]| {
        let small = write_blob(&store, content);
        write_tree(
            &store,
            vec![
                dir_entry("big", never_stored),
                file_entry("small.py", small),
            ],
        )
    };
    let (a, b) = (root(b"x = 1\n"), root(b"x = 2\n"));
    let diff = store.diff_versions(a, b, &DiffOptions::default()).unwrap();
    assert_eq!(diff.files.len(), 1);
    assert_eq!(diff.files[0].path(), "small.py");
    // Reading the missing subtree would have failed like this:
    assert!(codever::flatten(&store, &a).is_err());
}

#[test]
fn a_zero_deadline_still_gives_a_patch_that_applies() {
    let (tmp, store) = lib_store();
    let old: Vec<u8> = (0..400)
        .flat_map(|i| format!("line {}\n", i * 7 % 13).into_bytes())
        .collect();
    let new: Vec<u8> = (0..400)
        .flat_map(|i| format!("line {}\n", i * 5 % 11).into_bytes())
        .collect();
    let a = commit_snapshot(&store, "t/n", &snapshot(&[("f.py", &old, false)]), "r").tree;
    let b = commit_snapshot(&store, "t/n", &snapshot(&[("f.py", &new, false)]), "r").tree;
    let opts = DiffOptions {
        deadline: std::time::Duration::ZERO,
        ..DiffOptions::default()
    };
    let patch = render::patch(&store.diff_versions(a, b, &opts).unwrap(), false);
    let work = tmp.path().join("w");
    store.checkout(&a, &work, false).unwrap();
    git_apply(&work, &patch, false).unwrap();
    assert_eq!(fs::read(work.join("f.py")).unwrap(), new);
}

#[test]
fn cli_flags_exit_codes_json_and_colour() {
    let (_tmp, store) = fixture_store();
    assert_eq!(
        run_any(&store, &["diff", "ppo:v0", "ppo:v0", "--exit-code"]),
        (0, String::new(), String::new())
    );
    let (code, patch, _) = run_any(&store, &["diff", "ppo:v0", "ppo:v1", "--exit-code"]);
    assert_eq!(code, 1);
    assert_eq!(patch, run_ok(&store, &["diff", "ppo:v0", "ppo:v1"]));
    assert_eq!(
        run_err(&store, &["diff", "ppo:v0", "ppo:v9"]),
        "error: rl_algo_code/ppo has no version v9 (it has v0..v1)\n\
         hint: `codever versions rl_algo_code/ppo` lists its versions\n"
    );

    let v = json(&store, &["diff", "ppo:v0", "ppo:v1"]);
    let f = &v["files"][0];
    let mut keys: Vec<&str> = f.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "additions",
            "binary",
            "deletions",
            "hunks",
            "new_id",
            "new_mode",
            "new_path",
            "old_id",
            "old_mode",
            "old_path",
            "similarity",
            "status"
        ]
    );
    assert_eq!(f["status"], "modified");
    assert_eq!(
        (f["additions"].clone(), f["deletions"].clone()),
        (json!(2), json!(2))
    );
    assert_eq!(f["hunks"][0]["header"], "@@ -2,9 +2,9 @@ import torch");
    assert_eq!(
        f["hunks"][0]["lines"][3],
        json!({"kind": "-", "text": "    learning_rate = 3e-4", "newline": true})
    );

    let text = run_ok(&store, &["diff", "ppo:v0", "ppo:v1", "--color=always"]);
    // Red deletion with the changed words in reverse video, green addition likewise.
    assert!(
        text.contains("\x1b[31m-    learning_rate = \x1b[7m3e\x1b[27m-\x1b[7m4\x1b[27m\x1b[m"),
        "{text:?}"
    );
    assert!(
        text.contains("\x1b[32m+    learning_rate = \x1b[7m1e\x1b[27m-\x1b[7m3\x1b[27m\x1b[m"),
        "{text:?}"
    );
    // auto: not a terminal here, so no colour; NO_COLOR too.
    let plain = codever_cmd(&store, &["diff", "ppo:v0", "ppo:v1"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(plain.status.code(), Some(0));
    assert!(!String::from_utf8(plain.stdout).unwrap().contains("\x1b["));
}

#[test]
fn a_version_against_the_files_on_disk() {
    let (tmp, store) = init_store();
    let repo = tmp.path().join("repo");
    write(&repo, "training/ppo.py", b"lr = 1\n");
    write(&repo, "main.py", b"main\n");
    let ppo = repo.join("training/ppo.py");
    commit_ok(&store, "t/code", &repo, "r");
    commit_ok(&store, "t/ppo", format!("{}=algo.py", ppo.display()), "r");
    assert_eq!(
        run_any(&store, &["diff", "code", "--exit-code"]),
        (0, String::new(), String::new())
    );

    write(&repo, "training/ppo.py", b"lr = 2\n");
    write(&repo, "training/new.py", b"new\n");
    fs::remove_file(repo.join("main.py")).unwrap();
    assert_eq!(
        run_ok(&store, &["diff", "code", "--name-status"]),
        "D\tmain.py\nA\ttraining/new.py\nM\ttraining/ppo.py\n"
    );
    // A file source keeps its display path.
    assert_eq!(
        run_ok(&store, &["diff", "ppo"]),
        "diff --git a/algo.py b/algo.py\nindex 616f8d9..af33a70 100644\n--- a/algo.py\n+++ b/algo.py\n@@ -1 +1 @@\n-lr = 1\n+lr = 2\n"
    );
    assert_eq!(run_any(&store, &["diff", "ppo", "--exit-code"]).0, 1);
}

#[test]
fn two_runs_compared_artifact_by_artifact() {
    let (_tmp, store) = fixture_store();
    let extra = tempfile::tempdir().unwrap();
    write(extra.path(), "notes.md", b"n\n");
    commit_ok(&store, "doc/notes", extra.path(), "r4");
    assert_eq!(
        run_ok(&store, &["diff", "--runs", "r1", "r4", "--name-status"]),
        "# code/safelife: v0 -> v3
# doc/notes:v0 only in run r4
# rl_algo_code/ppo: v0 (same)
M\tcode/safelife/training/dqn.py
M\tcode/safelife/training/models.py
A\tcode/safelife/training/utils.py
"
    );
    let v = json(&store, &["diff", "--runs", "r1", "r2"]);
    assert_eq!(v["artifacts"].as_array().unwrap().len(), 2);
    assert_eq!(v["artifacts"][1]["left"]["version"], 0);
    assert_eq!(v["artifacts"][1]["right"]["version"], 1);
    assert_eq!(v["files"][0]["new_path"], "code/safelife/training/ppo.py");
    assert_eq!(v["files"][1]["new_path"], "rl_algo_code/ppo/ppo.py");
}

/// A file that is renamed and edited along the way: log follows it, blame is exact.
#[test]
fn log_follows_renames_and_blame_names_the_run_of_each_line() {
    let (_tmp, store) = lib_store();
    type Files<'a> = &'a [(&'a str, &'a [u8])];
    let versions: [(&str, Files); 4] = [
        ("r0", &[("a.py", b"a\nb\nc\n"), ("other.py", b"o\n")]),
        ("r1", &[("a.py", b"a\nB\nc\nd\n"), ("other.py", b"o\n")]),
        ("r2", &[("a.py", b"a\nB\nc\nd\n"), ("other.py", b"o2\n")]),
        (
            "r3",
            &[("x/b.py", b"z\na\nB\nc\nd\n"), ("other.py", b"o2\n")],
        ),
    ];
    for (run, files) in versions {
        let files: Vec<(&str, &[u8], bool)> = files.iter().map(|(p, c)| (*p, *c, false)).collect();
        commit_snapshot(&store, "t/n", &snapshot(&files), run);
    }
    let codever::Resolved {
        history: h,
        index: i,
    } = store.resolve(&Spec::parse("n").unwrap()).unwrap();
    let log = store
        .log(&h, i, Some("x/b.py"), &DiffOptions::default())
        .unwrap();
    let seen: Vec<(usize, Status, Option<String>)> = log
        .iter()
        .map(|e| {
            (
                e.version,
                e.diff.files[0].status,
                e.diff.files[0].old_path.clone(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (3, Status::Renamed, Some("a.py".into())),
            (1, Status::Modified, Some("a.py".into())),
            (0, Status::Added, None),
        ]
    );
    assert_eq!(
        store
            .log(&h, i, None, &DiffOptions::default())
            .unwrap()
            .len(),
        4
    );

    let blame = store.blame(&h, i, "x/b.py").unwrap();
    let got: Vec<(usize, &str)> = blame
        .iter()
        .map(|l| (l.version, std::str::from_utf8(&l.text).unwrap()))
        .collect();
    assert_eq!(
        got,
        [(3, "z\n"), (0, "a\n"), (1, "B\n"), (0, "c\n"), (1, "d\n")]
    );
    // Blame at an older version, and a file that does not exist there.
    let at1 = store.blame(&h, 1, "a.py").unwrap();
    assert_eq!(
        at1.iter().map(|l| l.version).collect::<Vec<_>>(),
        [0, 1, 0, 1]
    );
    assert!(store.blame(&h, 1, "x/b.py").is_err());
}

/// `blame --first-seen`: old code that comes back is credited to the version that first had
/// it, across a deleted line, a deleted and re-added file, and a rename; the default stays git's.
#[test]
fn blame_first_seen_credits_lines_that_came_back_to_their_first_version() {
    let (_tmp, store) = lib_store();
    type Files<'a> = &'a [(&'a str, &'a [u8])];
    let versions: [(&str, Files); 6] = [
        ("r0", &[("a.py", b"a\nb\nc\n"), ("o.py", b"o\n")]),
        ("r1", &[("a.py", b"a\nc\n"), ("o.py", b"o\n")]),
        ("r2", &[("a.py", b"a\nb\nc\nd\n"), ("o.py", b"o\n")]),
        ("r3", &[("o.py", b"o\n")]),
        ("r4", &[("a.py", b"a\nb\nc\nd\ne\n"), ("o.py", b"o\n")]),
        ("r5", &[("x/a.py", b"z\na\nb\nc\nd\ne\n"), ("o.py", b"o\n")]),
    ];
    for (run, files) in versions {
        let files: Vec<(&str, &[u8], bool)> = files.iter().map(|(p, c)| (*p, *c, false)).collect();
        commit_snapshot(&store, "t/n", &snapshot(&files), run);
    }
    let h = store.history(&crate::common::artifact("t/n")).unwrap();
    let origins = |lines: Vec<codever::compare::BlameLine>| -> Vec<(usize, String)> {
        (lines.into_iter())
            .map(|l| (l.version, String::from_utf8(l.text).unwrap()))
            .collect()
    };
    let pairs = |v: &[(usize, &str)]| -> Vec<(usize, String)> {
        v.iter().map(|(n, t)| (*n, format!("{t}\n"))).collect()
    };
    // At v2: `b` was deleted in v1 and came back in v2.
    assert_eq!(
        origins(store.blame(&h, 2, "a.py").unwrap()),
        pairs(&[(0, "a"), (2, "b"), (0, "c"), (2, "d")])
    );
    assert_eq!(
        origins(store.blame_first_seen(&h, 2, "a.py").unwrap()),
        pairs(&[(0, "a"), (0, "b"), (0, "c"), (2, "d")])
    );
    // At v5: the file was deleted in v3, added again in v4 and renamed in v5.
    assert_eq!(
        origins(store.blame(&h, 5, "x/a.py").unwrap()),
        pairs(&[(5, "z"), (4, "a"), (4, "b"), (4, "c"), (4, "d"), (4, "e")])
    );
    assert_eq!(
        origins(store.blame_first_seen(&h, 5, "x/a.py").unwrap()),
        pairs(&[(5, "z"), (0, "a"), (0, "b"), (0, "c"), (2, "d"), (4, "e")])
    );
    // At v0 nothing is older.
    assert_eq!(
        origins(store.blame_first_seen(&h, 0, "a.py").unwrap()),
        pairs(&[(0, "a"), (0, "b"), (0, "c")])
    );
}

#[test]
fn log_and_blame_from_the_cli() {
    let (_tmp, store) = fixture_store();
    let log = run_ok(&store, &["log", "safelife", "training/models.py"]);
    let heads: Vec<&str> = log.lines().filter(|l| l.starts_with('v')).collect();
    assert_eq!(heads.len(), 2);
    assert!(
        heads[0].starts_with("v2  ") && heads[0].ends_with("runs r3"),
        "{log}"
    );
    assert!(
        heads[1].starts_with("v0  ") && heads[1].ends_with("runs r1"),
        "{log}"
    );
    assert!(log.contains("    M training/models.py (+1 -0)\n"), "{log}");
    let all = json(&store, &["log", "safelife"]);
    assert_eq!(
        all.as_array()
            .unwrap()
            .iter()
            .map(|e| e["version"].clone())
            .collect::<Vec<_>>(),
        [json!(3), json!(2), json!(1), json!(0)]
    );
    assert_eq!(
        json(&store, &["log", "safelife:v1"])
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let blame = run_ok(&store, &["blame", "safelife:v2", "training/ppo.py"]);
    let lines: Vec<&str> = blame.lines().collect();
    assert_eq!(lines[4], "v1 r2  5)     learning_rate = 1e-3");
    assert_eq!(lines[0], "v0 r1  1) import torch");
    let b = json(&store, &["blame", "safelife:v2", "training/ppo.py"]);
    assert_eq!(b["lines"][4]["run"], "r2");
    assert_eq!(b["lines"][4]["version"], 1);
    assert_eq!(b["lines"][4]["text"], "    learning_rate = 1e-3");
    // Nothing came back in the fixtures: --first-seen agrees with the default there.
    let first = run_ok(
        &store,
        &["blame", "--first-seen", "safelife:v2", "training/ppo.py"],
    );
    assert_eq!(first, blame);
}

/// A file that was binary (or too large) at some older version is still blamed at a text
/// version: the line of descent starts again at the first text version after it, whose lines
/// are its own. Only the version blamed must be text.
#[test]
fn blame_starts_again_after_a_binary_version_and_refuses_only_a_binary_target() {
    let (tmp, store) = init_store();
    let src = tmp.path().join("src");
    let states: [&[u8]; 4] = [
        b"a = 1\nb = 2\n",
        b"a = 1\x00\nb = 2\n",
        b"a = 1\nb = 2\nc = 3\n",
        b"a = 1\nb = 20\nc = 3\n",
    ];
    for (i, body) in states.iter().enumerate() {
        write(&src, "t.py", body);
        commit_ok(&store, "code/q", &src, &format!("r{i}"));
    }
    let blame = run_ok(&store, &["blame", "q:v3", "t.py"]);
    assert_eq!(blame, "v2 r2 1) a = 1\nv3 r3 2) b = 20\nv2 r2 3) c = 3\n");
    let first = run_ok(&store, &["blame", "--first-seen", "q:v3", "t.py"]);
    assert_eq!(first, "v0 r0 1) a = 1\nv3 r3 2) b = 20\nv2 r2 3) c = 3\n");
    let err = run_err(&store, &["blame", "q:v1", "t.py"]);
    assert!(
        err.starts_with("error: cannot blame \"t.py\": binary at v1"),
        "{err}"
    );
}

/// `--color=always` colours listings as git does: version labels yellow, aliases bold green,
/// added counts and `+` bars green, deleted red; `never` (and a pipe) prints plain text.
#[test]
fn color_always_colours_versions_log_blame_and_stat() {
    let (_tmp, store) = fixture_store();
    let versions = run_ok(&store, &["versions", "safelife", "--color=always"]);
    let last = versions.lines().last().unwrap();
    assert!(last.starts_with("\x1b[33mv3   \x1b[m "), "{versions:?}");
    assert!(last.ends_with("  [\x1b[1;32mlatest\x1b[m]"), "{versions:?}");
    let plain = run_ok(&store, &["versions", "safelife"]);
    assert!(!plain.contains('\x1b'), "{plain:?}");
    assert_eq!(
        plain,
        run_ok(&store, &["versions", "safelife", "--color=never"])
    );

    let log = run_ok(
        &store,
        &["log", "safelife", "training/models.py", "--color=always"],
    );
    assert!(
        log.contains("    M training/models.py (\x1b[32m+1\x1b[m \x1b[31m-0\x1b[m)\n"),
        "{log:?}"
    );
    assert!(log.starts_with("\x1b[33mv2\x1b[m  "), "{log:?}");

    let stat = run_ok(
        &store,
        &[
            "diff",
            "safelife:v1",
            "safelife:v2",
            "--stat",
            "--color=always",
        ],
    );
    assert!(stat.contains("| 1 \x1b[32m+\x1b[m\n"), "{stat:?}");
    let plain_stat = run_ok(&store, &["diff", "safelife:v1", "safelife:v2", "--stat"]);
    assert!(plain_stat.contains("| 1 +\n"), "{plain_stat:?}");

    let blame = run_ok(
        &store,
        &["blame", "safelife:v2", "training/ppo.py", "--color=always"],
    );
    assert_eq!(
        blame.lines().next(),
        Some("\x1b[33mv0\x1b[m r1  1) import torch")
    );
}

/// The algorithm flags: git's names, one at a time; `log` takes them for its counts.
#[test]
fn algorithm_flags_are_gits_and_exclusive() {
    let (_tmp, store) = fixture_store();
    let (code, out, err) = run_any(
        &store,
        &["diff", "ppo:v0", "ppo:v1", "--patience", "--histogram"],
    );
    assert_eq!((code, out.as_str()), (2, ""));
    assert!(
        err.starts_with("error: the argument '--patience' cannot be used with '--histogram'"),
        "{err}"
    );
    let (code, _, err) = run_any(
        &store,
        &["diff", "ppo:v0", "ppo:v1", "--diff-algorithm=fast"],
    );
    assert_eq!(code, 2);
    assert!(
        err.contains(
            "unknown diff algorithm \"fast\": expected myers, minimal, patience or histogram"
        ),
        "{err}"
    );
    let default = run_ok(&store, &["diff", "ppo:v0", "ppo:v1"]);
    for name in ["myers", "default", "MYERS"] {
        let flag = format!("--diff-algorithm={name}");
        assert_eq!(
            run_ok(&store, &["diff", "ppo:v0", "ppo:v1", &flag]),
            default
        );
    }
    let log = run_ok(&store, &["log", "safelife", "--stat"]);
    for flag in [
        "--patience",
        "--histogram",
        "--minimal",
        "--diff-algorithm=histogram",
    ] {
        assert_eq!(
            run_ok(&store, &["log", "safelife", "--stat", flag]),
            log,
            "{flag}"
        );
    }
}

/// `--stat` is git's at 80 columns, also where git scales the bars (changes of hundreds of
/// lines) and shortens names (paths of up to 140 characters): the same trees in a git
/// repository, compared for mixes of change sizes and name lengths, and a binary file.
#[test]
fn stat_is_identical_to_git_where_bars_are_scaled_and_names_shortened() {
    let (tmp, store) = init_store();
    let (src, repo) = (tmp.path().join("src"), tmp.path().join("repo"));
    fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    let lines =
        |n: usize, tag: &str| -> String { (0..n).map(|i| format!("{tag} {i}\n")).collect() };
    let deep = |len: usize, name: &str| -> String {
        let dir = "d/".repeat(len.saturating_sub(name.len()) / 2);
        format!("{dir}{name}")
    };
    // Each case: (path, lines before, lines after, lines kept); the first case has no long
    // names and small changes (no scaling), the later ones push each rule of git's layout.
    let cases: Vec<Vec<(String, usize, usize, usize)>> = vec![
        vec![("a.py".into(), 10, 12, 9), ("b.py".into(), 5, 3, 3)],
        vec![
            ("a.py".into(), 10, 300, 9),
            ("b.py".into(), 400, 20, 10),
            ("c.py".into(), 3, 4, 3),
        ],
        vec![
            (deep(70, "long_module_name.py"), 50, 80, 40),
            ("x.py".into(), 1000, 10, 5),
            (deep(140, "very_long.py"), 2, 9, 1),
        ],
        vec![
            (deep(45, "m.py"), 200, 1, 0),
            (deep(60, "n.py"), 0, 250, 0),
            ("z.py".into(), 30, 31, 29),
        ],
        // A long name with no `/` to cut at, a one-line edit beside a 2,000-line file (its bar
        // still shows both signs), an added and a deleted file.
        vec![
            (format!("{}.py", "n".repeat(120)), 5, 5, 4),
            ("big.py".into(), 0, 2000, 0),
            ("small.py".into(), 3, 3, 2),
            ("gone.py".into(), 40, 0, 0),
            // As many lines added as deleted: which sign rounds down decides the bar.
            ("even.py".into(), 170, 170, 0),
            ("even2.py".into(), 333, 333, 0),
        ],
        // Ten names of about 60 characters, changes from 100 to 1,000 lines.
        (0..10)
            .map(|i| {
                (
                    deep(60, &format!("mod_{i}.py")),
                    50 * i,
                    100 * (i + 1),
                    10 * i,
                )
            })
            .collect(),
    ];
    for (c, files) in cases.iter().enumerate() {
        for version in 0..2 {
            let _ = fs::remove_dir_all(&src);
            fs::create_dir_all(&src).unwrap();
            for e in fs::read_dir(&repo).unwrap() {
                let p = e.unwrap().path();
                if p.file_name().unwrap() != ".git" {
                    fs::remove_dir_all(&p)
                        .or_else(|_| fs::remove_file(&p))
                        .unwrap();
                }
            }
            for (path, before, after, kept) in files {
                let text = if version == 0 {
                    lines(*before, "old")
                } else {
                    lines(*kept, "old") + &lines(after - kept, "new")
                };
                if text.is_empty() {
                    continue;
                }
                write(&src, path, text.as_bytes());
                write(&repo, path, text.as_bytes());
            }
            let bin = [0u8, 1, 2, version as u8].repeat(10 + version);
            write(&src, "weights.bin", &bin);
            write(&repo, "weights.bin", &bin);
            commit_ok(
                &store,
                &format!("code/c{c}"),
                &src,
                &format!("r{c}{version}"),
            );
            git(&repo, &["add", "-A"]);
            git(&repo, &["commit", "-q", "-m", "v"]);
        }
        let ours = run_ok(
            &store,
            &["diff", &format!("c{c}:v0"), &format!("c{c}:v1"), "--stat"],
        );
        let theirs = git(&repo, &["diff", "--stat", "HEAD~1", "HEAD"]);
        assert_eq!(ours, theirs, "case {c}");
    }
}

/// Rename pairing at its edges, as git pairs: among identical deleted files, and among equally
/// similar ones, the one with the added file's name is its source; a file half the size of the
/// deleted one it came from (a similarity of exactly 50 %, git's default threshold) is still a
/// rename.
#[test]
fn renames_at_their_edges_pair_as_git_pairs() {
    let (tmp, store) = init_store();
    let (src, repo) = (tmp.path().join("src"), tmp.path().join("repo"));
    fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    let same = "import torch\n".repeat(20);
    let long: String = (0..40)
        .map(|i| format!("line {i:03} of a file\n"))
        .collect();
    let half = &long[..long.len() / 2];
    // Two deleted files equally like an added one: the one with its name is its source.
    let body: String = (0..20).map(|i| format!("w{i} = layer({i})\n")).collect();
    let (model_a, model_b, model_c) = (
        body.clone() + "a = 1\n",
        body.clone() + "b = 1\n",
        body + "c = 1\n",
    );
    let versions: [Vec<(&str, &str)>; 2] = [
        vec![
            ("a/one.py", &same),
            ("b/two.py", &same),
            ("big.txt", &long),
            ("p/model.py", &model_a),
            ("q/other.py", &model_b),
        ],
        vec![
            ("c/two.py", &same),
            ("small.txt", half),
            ("r/model.py", &model_c),
        ],
    ];
    for (v, files) in versions.iter().enumerate() {
        for dir in [&src, &repo] {
            for e in fs::read_dir(dir).into_iter().flatten() {
                let p = e.unwrap().path();
                if p.file_name().unwrap() != ".git" {
                    fs::remove_dir_all(&p)
                        .or_else(|_| fs::remove_file(&p))
                        .unwrap();
                }
            }
            for (p, c) in files {
                write(dir, p, c.as_bytes());
            }
        }
        commit_ok(&store, "code/r", &src, &format!("r{v}"));
        git(&repo, &["add", "-A"]);
        git(&repo, &["commit", "-q", "-m", "v"]);
    }
    let ours = run_ok(&store, &["diff", "r:v0", "r:v1", "--name-status"]);
    let theirs = git(&repo, &["diff", "-M", "--name-status", "HEAD~1", "HEAD"]);
    assert_eq!(ours, theirs);
    assert!(ours.contains("R100\tb/two.py\tc/two.py\n"), "{ours}");
    assert!(ours.contains("R050\tbig.txt\tsmall.txt\n"), "{ours}");
    assert!(ours.contains("\tp/model.py\tr/model.py\n"), "{ours}");
}
