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

#[test]
fn a_run_records_the_repos_head_and_dirty_flag() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    write(&repo, "main.py", b"v1\n");
    git(&repo, &["add", "main.py"]);
    git(&repo, &["commit", "-q", "-m", "first"]);
    let head = git(&repo, &["rev-parse", "HEAD"]).trim().to_string();

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
