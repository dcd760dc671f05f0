//! Behaviour inside a real git repository: its ignore rules, and the HEAD/dirty state of a run.

use codever::{Snapshot, capture_run};

use crate::common::{git, write};

#[test]
fn a_directory_inside_a_repo_honours_the_repos_ignore_rules() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    write(&repo, ".gitignore", b"*.ckpt\n");
    write(&repo, ".git/info/exclude", b"scratch.py\n");
    write(&repo, "training/ppo.py", b"ppo\n");
    write(&repo, "training/model.ckpt", b"weights");
    write(&repo, "training/scratch.py", b"tmp");
    let mut s = Snapshot::default();
    s.add_dir(&repo.join("training"), None).unwrap();
    assert_eq!(s.paths().collect::<Vec<_>>(), ["ppo.py"]);
}

/// A git repository in `tmp/repo` with `main.py` (`v1`) committed; returns it and its HEAD.
fn repo_with_one_commit(tmp: &tempfile::TempDir) -> (std::path::PathBuf, String) {
    let repo = tmp.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    write(&repo, "main.py", b"v1\n");
    git(&repo, &["add", "main.py"]);
    git(&repo, &["commit", "-q", "-m", "first"]);
    let head = git(&repo, &["rev-parse", "HEAD"]).trim().to_string();
    (repo, head)
}

#[test]
fn a_run_records_the_repos_head_and_dirty_flag() {
    let tmp = tempfile::tempdir().unwrap();
    let (repo, head) = repo_with_one_commit(&tmp);

    let clean = capture_run("r1", &repo).unwrap();
    assert_eq!(clean.git_commit.as_deref(), Some(head.as_str()));
    assert_eq!(clean.git_dirty, Some(false));
    // Untracked files do not make a run dirty; edits to tracked files do.
    write(&repo, "new.py", b"x");
    assert_eq!(capture_run("r2", &repo).unwrap().git_dirty, Some(false));
    write(&repo, "main.py", b"v2\n");
    let dirty = capture_run("r3", &repo).unwrap();
    assert_eq!(dirty.git_dirty, Some(true));
    assert_eq!(dirty.git_commit.as_deref(), Some(head.as_str()));

    let outside = tempfile::tempdir().unwrap();
    let none = capture_run("r4", outside.path()).unwrap();
    assert_eq!((none.git_commit, none.git_dirty), (None, None));
}

/// A run's git state is asked for once, when the store first sees the run: later commits of a
/// known run (a sweep logging many artifacts) do not start `git` again, and the run keeps the
/// state it started with.
#[cfg(unix)]
#[test]
fn only_a_new_run_asks_git() {
    let tmp = tempfile::tempdir().unwrap();
    let (repo, head) = repo_with_one_commit(&tmp);
    // A `git` first on PATH that logs each call, then runs the real one.
    let real = String::from_utf8(
        std::process::Command::new("sh")
            .args(["-c", "command -v git"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let bin = tmp.path().join("bin");
    let log = tmp.path().join("git-calls");
    write(
        &bin,
        "git",
        format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\nexec '{}' \"$@\"\n",
            log.display(),
            real.trim()
        )
        .as_bytes(),
    );
    crate::common::set_executable(&bin.join("git"), true);
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let store = crate::common::init_at(&repo);
    let calls = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .count()
    };
    for (i, name) in ["a", "b", "c"].into_iter().enumerate() {
        write(&repo, "main.py", format!("v{}\n", i + 1).as_bytes());
        let out = crate::common::codever_process()
            .current_dir(&repo)
            .env("PATH", &path)
            .args(["commit", name, "--type", "t", "main.py", "--run", "r1"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(calls(), 1, "after commit {name}");
    }
    let run = crate::common::json(&store, &["runs", "show", "r1"]);
    assert_eq!(
        (&run["git_commit"], &run["git_dirty"]),
        (&serde_json::json!(head), &serde_json::json!(false))
    );
}
