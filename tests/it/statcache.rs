//! The stat cache: files unchanged since a commit read them are trusted from their stat and not
//! read again; any change to a file's stat (content, mode, even a rewrite that restores the
//! mtime) makes it read.

use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

use codever::{ArtifactKey, CommitOptions, CommitOutcome, Snapshot, Store, capture_run};

/// Sets the mtime of `path` an hour back: well outside the racy window of any read.
fn age(path: &Path) {
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(3600))
        .unwrap();
}

/// A temp dir with `src/` of `n` files `m{i}.py` (contents by `body`), aged an hour, and a new
/// store beside it.
fn aged_tree(
    n: usize,
    body: impl Fn(usize) -> String,
) -> (tempfile::TempDir, std::path::PathBuf, Store) {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    fs::create_dir(&src).unwrap();
    for i in 0..n {
        let p = src.join(format!("m{i}.py"));
        fs::write(&p, body(i)).unwrap();
        age(&p);
    }
    // Ageing the files set their ctime to now. A file whose ctime falls in the same clock tick
    // as the commit's read is (rightly) not trusted later, so step out of that tick first.
    std::thread::sleep(Duration::from_millis(50));
    let store = Store::init(&tmp.path().join("proj")).unwrap();
    (tmp, src, store)
}

fn commit(store: &Store, src: &Path, run: &str) -> CommitOutcome {
    let mut s = Snapshot::default();
    s.add_dir(src, None).unwrap();
    let run = capture_run(run, src).unwrap();
    let key = ArtifactKey::new("code", "train").unwrap();
    store
        .commit(&key, &s, &run, &CommitOptions::default())
        .unwrap()
}

#[test]
fn an_unchanged_tree_is_not_read_again_and_every_change_is() {
    let (_tmp, src, store) = aged_tree(20, |i| format!("lr = {i}e-4\n"));
    let first = commit(&store, &src, "r1");
    assert_eq!(
        (first.version, first.new, first.files, first.files_read),
        (Some(0), true, 20, 20)
    );
    let again = commit(&store, &src, "r2");
    assert_eq!(
        (again.version, again.new, again.files, again.files_read),
        (Some(0), false, 20, 0)
    );
    // Same size, mtime put back: the ctime still moved, so the file is read and the edit seen.
    let edited = src.join("m3.py");
    fs::write(&edited, "lr = 9e-4\n").unwrap();
    age(&edited);
    let third = commit(&store, &src, "r3");
    assert_eq!(
        (third.version, third.new, third.files_read),
        (Some(1), true, 1)
    );
    // Only the executable bit: read again (the mode is part of the stat), a new version.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&edited, fs::Permissions::from_mode(0o755)).unwrap();
        let fourth = commit(&store, &src, "r4");
        assert_eq!(
            (fourth.version, fourth.new, fourth.files_read),
            (Some(2), true, 1)
        );
    }
    // A store whose stat cache is lost reads everything again and finds the same version.
    fs::remove_dir_all(store.root().join("local/statcache")).unwrap();
    let rebuilt = commit(&store, &src, "r5");
    assert_eq!(
        (rebuilt.version, rebuilt.new, rebuilt.files_read),
        (Some(2), false, 20)
    );
}

/// The stat cache vouches for a file's content, not for the store: a blob lost from the store
/// (deleted by hand, or by a sync that replaced `objects/`) is read and stored again by the
/// next commit of the unchanged file, so the store heals instead of pointing at nothing.
#[test]
fn a_cached_file_whose_blob_is_gone_is_stored_again() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    fs::create_dir(&src).unwrap();
    for (name, body) in [("ppo.py", "lr = 3e-4\n"), ("dqn.py", "gamma = 0.99\n")] {
        fs::write(src.join(name), body).unwrap();
        age(&src.join(name));
    }
    std::thread::sleep(Duration::from_millis(50));
    let store = Store::init(&tmp.path().join("proj")).unwrap();
    let first = commit(&store, &src, "r1");
    assert_eq!((first.files_read, first.new), (2, true));
    let lost = crate::common::blob_id(b"lr = 3e-4\n");
    let path = store.object_path(&lost);
    fs::remove_file(&path).unwrap();
    let again = commit(&store, &src, "r2");
    assert_eq!(
        (again.version, again.new, again.files_read),
        (Some(0), false, 1)
    );
    assert!(path.is_file(), "the lost blob is stored again");
    let fsck = store.fsck().unwrap();
    assert!(!fsck.failed(true), "{fsck:?}");
}

/// The cache knows a file by its real path: the same tree committed through a path relative to
/// the working directory (`./src`, `../x/src`) or through a link is trusted as much as through
/// its absolute path.
#[test]
fn a_tree_named_by_a_relative_path_is_trusted_from_the_cache_too() {
    let (tmp, src, store) = aged_tree(5, |i| format!("x = {i}\n"));
    let first = commit(&store, &src, "r1");
    assert_eq!((first.version, first.files_read), (Some(0), 5));
    // The temporary directory seen from this process's working directory, spelled with `..`
    // up to the root and `.` inside: what a user's `codever commit ./src` gives the library.
    let cwd = std::env::current_dir().unwrap();
    let mut relative = std::path::PathBuf::new();
    for _ in cwd.components().skip(1) {
        relative.push("..");
    }
    relative.push(src.strip_prefix("/").unwrap());
    let relative = relative.join(".");
    assert!(relative.is_relative() && relative.is_dir());
    let again = commit(&store, &relative, "r2");
    assert_eq!(
        (again.version, again.new, again.files, again.files_read),
        (Some(0), false, 5, 0)
    );
    // And through a link to the directory.
    #[cfg(unix)]
    {
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&src, &link).unwrap();
        let linked = commit(&store, &link, "r3");
        assert_eq!(
            (linked.version, linked.new, linked.files, linked.files_read),
            (Some(0), false, 5, 0)
        );
    }
}
