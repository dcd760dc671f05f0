//! A full disk (ENOSPC) on a small tmpfs: a commit that cannot be stored fails with a clear
//! message and exit 2, the store stays valid and readable while the disk is full, and the commit
//! succeeds once there is room.
//!
//! Mounting needs privileges (root, and a sandbox that allows it); skipped with a message when
//! `mount` fails.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::common::{
    assert_fsck_clean, commit_ok, file_names, init_at, json, output, read_tree, write,
};

/// A tmpfs mounted at a directory, unmounted when dropped (also when a test fails).
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (as `mount -o size=` takes it) at `dir`; `Err` says why not.
    fn mount(dir: &Path, size: &str) -> Result<Tmpfs, String> {
        fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        Ok(Tmpfs {
            dir: dir.to_path_buf(),
        })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            // Busy (a child still has a file open): detach it now, freed when closed.
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
    }
}

/// Fills the filesystem of `dir` with `dir/filler`, then frees `free` bytes of it (whole
/// pages, as tmpfs counts).
fn fill_leaving(dir: &Path, free: u64) {
    let path = dir.join("filler");
    let _ = fs::remove_file(&path);
    let mut f = fs::File::create(&path).unwrap();
    let chunk = vec![0xa5u8; 4096];
    let mut len = 0u64;
    loop {
        match f.write(&chunk) {
            Ok(0) => break,
            Ok(n) => len += n as u64,
            Err(e) if e.raw_os_error() == Some(28) => break,
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
    f.set_len(len.saturating_sub(free)).unwrap();
}

/// Bytes that do not compress, from a seed.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A commit of `src` as dataset_code/data by run `run`, which may fail.
fn commit(store: &Path, src: &Path, run: &str) -> Output {
    let src = src.to_str().unwrap();
    output(
        store,
        &[
            "--json",
            "commit",
            "data",
            "--type",
            "dataset_code",
            src,
            "--run",
            run,
        ],
    )
}

/// Commits of a pack-sized and of a loose-sized content while the disk has 0, 4 KiB, 8 KiB, …
/// free: every attempt short of room fails cleanly, the first with room succeeds.
#[test]
fn a_full_disk_fails_the_commit_cleanly_and_keeps_the_store_valid() {
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("mnt");
    let disk = match Tmpfs::mount(&mnt, "2m") {
        Ok(d) => d,
        Err(why) => {
            eprintln!("skipped: cannot mount a tmpfs here ({why})");
            return;
        }
    };
    let store = init_at(&disk.dir);
    let src = tmp.path().join("src");
    write(&src, "prep.py", b"rows = 10\n");
    let first = commit_ok(&store, "dataset_code/data", &src, "r0");
    assert!(first.starts_with("data:v0 (new)"), "{first}");
    let v0 = read_tree(&src);

    let mut expected_versions = vec![v0];
    // 20 files (a pack, then deltas against it), then 3 files (loose objects).
    for (round, files) in [(1u64, 20usize), (2, 3)] {
        let _ = fs::remove_dir_all(&src);
        for i in 0..files {
            write(
                &src,
                &format!("shard{i:02}.bin"),
                &noise(round * 100 + i as u64, 3000),
            );
        }
        write(&src, "prep.py", format!("rows = {round}\n").as_bytes());
        let content = read_tree(&src);

        let mut free = 0;
        let succeeded = loop {
            fill_leaving(&disk.dir, free);
            let run = format!("r{round}-{free}");
            let out = commit(&store, &src, &run);
            if out.status.success() {
                break out;
            }
            let ctx = format!("round {round}, {free} bytes free");
            check_failed_commit(&ctx, &out);
            // Still full: reads work, earlier versions are intact, nothing is half there.
            check_store(&ctx, &store, &expected_versions, false);
            free += 4096;
            assert!(
                free <= 256 * 1024,
                "{ctx}: still failing with room to spare"
            );
        };
        let v: Value = serde_json::from_slice(&succeeded.stdout).unwrap();
        assert_eq!(v["version"], expected_versions.len(), "{v}");
        assert_eq!(v["new"], true, "{v}");
        expected_versions.push(content);
        check_store(
            &format!("round {round} committed with {free} bytes free"),
            &store,
            &expected_versions,
            true,
        );
    }

    // With the disk freed, commits work as usual.
    fs::remove_file(disk.dir.join("filler")).unwrap();
    write(&src, "prep.py", b"rows = 1000\n");
    let out = commit(&store, &src, "r-free");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["version"], expected_versions.len(), "{v}");
    expected_versions.push(read_tree(&src));
    check_store("after freeing the disk", &store, &expected_versions, true);
}

/// Exit 2, one error naming the cause once, and a hint: with `--json` (as [`commit`] runs),
/// one stderr line holding `{"error", "hint", "kind"}`.
fn check_failed_commit(ctx: &str, out: &Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{ctx}: {stderr}");
    assert!(out.stdout.is_empty(), "{ctx}: printed a result");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{ctx}: {stderr}");
    let e: Value = serde_json::from_str(lines[0]).unwrap();
    let error = e["error"].as_str().unwrap();
    assert_eq!(
        error.matches("No space left on device").count(),
        1,
        "{ctx}: {stderr}"
    );
    // The path once: not repeated by a wrapped error ("… at path …").
    assert!(!error.contains(" at path "), "{ctx}: {stderr}");
    assert_eq!(
        (e["hint"].as_str(), e["kind"].as_str()),
        (
            Some("free some space on that disk, then run the command again"),
            Some("io")
        ),
        "{ctx}"
    );
}

/// fsck --strict clean (no temp file left in `local/tmp` to hold the space), the versions exactly
/// `expected`, byte for byte (every file, or with `!all` the first and last of each version).
fn check_store(ctx: &str, store: &Path, expected: &[Vec<(String, Vec<u8>)>], all: bool) {
    assert_fsck_clean(store, ctx);
    let leftovers = file_names(&store.join("local/tmp"));
    assert!(
        leftovers.is_empty(),
        "{ctx}: temp files left: {leftovers:?}"
    );

    let versions = json(store, &["versions", "dataset_code/data"]);
    let versions = versions.as_array().unwrap();
    assert_eq!(versions.len(), expected.len(), "{ctx}: {versions:?}");
    for (n, files) in expected.iter().enumerate() {
        assert_eq!(versions[n]["version"], n, "{ctx}");
        let sample = [files.first(), files.last()];
        let files: Vec<_> = if all {
            files.iter().collect()
        } else {
            sample.into_iter().flatten().collect()
        };
        for (path, bytes) in files {
            let out = output(store, &["cat", &format!("dataset_code/data:v{n}"), path]);
            assert!(
                out.status.success(),
                "{ctx}: cat v{n} {path}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(out.stdout == *bytes, "{ctx}: v{n} {path}: wrong bytes");
        }
    }
}
