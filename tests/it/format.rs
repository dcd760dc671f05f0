//! The store format as a contract: stores of format 1 keep being read byte for byte and are
//! upgraded by the first write; files honour the umask; a read-only store serves every read.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{
    assert_fsck_clean, codever_in_shell, commit_json, copy_missing, json, run_ok, write,
};

/// A copy of the format-1 fixture store (tests/fixtures/store-format1) in a temp dir.
fn format1_copy() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join(".codever");
    fs::create_dir_all(&store).unwrap();
    copy_missing(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-format1"),
        &store,
    );
    (tmp, store)
}

/// Module `i` of the fixture's generator at round `r` (see tests/fixtures/README.md).
fn module(i: usize, r: usize) -> Vec<u8> {
    let mut s = String::new();
    for j in 0..40 {
        s += &format!(
            "def f_{i}_{j}(x):\n    return x * {} + {j}\n",
            (i * 7919 + j * 31) % 1000
        );
    }
    for k in 0..r {
        s += &format!("# round {k} of module {i}\n");
    }
    s.into_bytes()
}

/// Commits a third content of `ppo.py` (`lr = 5e-5`) to the fixture's store as run r3; returns
/// the commit's JSON.
fn commit_ppo_v2(tmp: &tempfile::TempDir, store: &Path) -> serde_json::Value {
    let src = tmp.path().join("src");
    write(&src, "ppo.py", b"lr = 5e-5\n");
    commit_json(store, "rl_algo_code/ppo", src.join("ppo.py"), "r3")
}

fn format_number(store: &Path) -> String {
    fs::read_to_string(store.join("format")).unwrap()
}

#[test]
fn a_format_1_store_is_read_byte_for_byte_and_upgraded_by_the_first_write() {
    let (tmp, store) = format1_copy();
    // Reads leave the format alone.
    let versions = json(&store, &["versions", "code/lib"]);
    let ids: Vec<&str> = versions
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids[0].starts_with("e15901f3e135"), "{ids:?}");
    assert!(ids[1].starts_with("010eee8d0791"), "{ids:?}");
    assert_eq!(run_ok(&store, &["cat", "ppo:v0", "ppo.py"]), "lr = 3e-4\n");
    assert_eq!(run_ok(&store, &["cat", "ppo:v1", "ppo.py"]), "lr = 1e-4\n");
    assert_eq!(
        run_ok(&store, &["cat", "ppo:best", "ppo.py"]),
        "lr = 1e-4\n"
    );
    // v1 of lib is a pack of deltas against v0's pack.
    let out = tmp.path().join("out");
    run_ok(
        &store,
        &["checkout", "code/lib:v1", "--into", out.to_str().unwrap()],
    );
    for i in 1..=20 {
        assert_eq!(
            fs::read(out.join(format!("mod{i}.py"))).unwrap(),
            module(i, 1),
            "mod{i}.py"
        );
    }
    assert_fsck_clean(&store, "format 1");
    assert_eq!(format_number(&store), "codever-store-format 1\n");

    // The first write upgrades the number, and everything old still reads.
    let c = commit_ppo_v2(&tmp, &store);
    assert_eq!(
        (c["version"].as_u64(), c["new"].as_bool()),
        (Some(2), Some(true))
    );
    assert_eq!(format_number(&store), "codever-store-format 2\n");
    assert_eq!(run_ok(&store, &["cat", "ppo:v2", "ppo.py"]), "lr = 5e-5\n");
    assert_eq!(run_ok(&store, &["cat", "ppo:v0", "ppo.py"]), "lr = 3e-4\n");
    assert_fsck_clean(&store, "upgraded to format 2");
}

/// Forget and rename records need format 3, and only they: a new store is format 2, commits
/// leave it so (older builds keep reading it), the first forget makes it 3 (older builds then
/// refuse it instead of listing what was forgotten). A format-1 store goes straight to 3.
#[test]
fn only_forget_and_rename_records_make_a_store_format_3() {
    let tmp = tempfile::tempdir().unwrap();
    let store = crate::common::init_at(tmp.path());
    assert_eq!(format_number(&store), "codever-store-format 2\n");
    let src = tmp.path().join("src");
    write(&src, "a.py", b"a = 1\n");
    commit_json(&store, "code/a", src.join("a.py"), "r1");
    run_ok(&store, &["alias", "a:v0", "best"]);
    assert_eq!(format_number(&store), "codever-store-format 2\n");
    // Refused before anything is written: still 2.
    let (code, _, _) = crate::common::run_any(&store, &["forget", "a"]);
    assert_eq!(code, 2);
    assert_eq!(format_number(&store), "codever-store-format 2\n");
    run_ok(&store, &["forget", "a:v0"]);
    assert_eq!(format_number(&store), "codever-store-format 3\n");
    assert_fsck_clean(&store, "format 3");

    let (tmp1, store1) = format1_copy();
    run_ok(&store1, &["rename", "ppo", "ppo2"]);
    assert_eq!(format_number(&store1), "codever-store-format 3\n");
    assert_eq!(
        run_ok(&store1, &["cat", "ppo2:best", "ppo.py"]),
        "lr = 1e-4\n"
    );
    assert_fsck_clean(&store1, "format 1 renamed");
    drop(tmp1);
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// Every regular file below `dir`.
fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_below(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn stored_files_honour_the_umask_so_teammates_can_read_them() {
    for (umask, object_mode, marker_mode) in [("022", 0o444, 0o644), ("077", 0o400, 0o600)] {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        for i in 0..20 {
            // 20 files: one pack and its index, plus loose records.
            write(&src, &format!("m{i}.py"), format!("x = {i}\n").as_bytes());
        }
        let store = tmp.path().join(".codever");
        let umask = format!("umask {umask}");
        let init = codever_in_shell(&umask)
            .arg("init")
            .arg(tmp.path())
            .status()
            .unwrap();
        assert!(init.success());
        let commit = codever_in_shell(&umask)
            .arg("--store")
            .arg(&store)
            .args(["commit", "lib", "--type", "code"])
            .arg(&src)
            .args(["--run", "r1"])
            .status()
            .unwrap();
        assert!(commit.success());
        let objects: Vec<PathBuf> = files_below(&store.join("objects"))
            .into_iter()
            .chain(files_below(&store.join("packs")))
            .collect();
        assert!(objects.len() >= 4, "{objects:?}");
        for p in objects.iter().chain([&store.join("format")]) {
            assert_eq!(mode(p), object_mode, "umask {umask}: {}", p.display());
        }
        let markers = files_below(&store.join("refs"));
        assert_eq!(markers.len(), 1);
        assert_eq!(mode(&markers[0]), marker_mode, "umask {umask}");
    }
}

/// Runs the binary as user `nobody` (a read-only store for it), or None where that cannot be
/// done here.
fn as_nobody(args: &[&str]) -> Option<std::process::Output> {
    let bin = assert_cmd::cargo::cargo_bin!("codever");
    let probe = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "true"])
        .status()
        .ok()?;
    if !probe.success() {
        return None;
    }
    Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(bin)
        .args(args)
        .env_remove("CODEVER_DIR")
        .env_remove("CODEVER_RUN_ID")
        .output()
        .ok()
}

fn chmod_tree(p: &Path, dir_mode: u32, file_mode: u32) {
    if p.is_dir() {
        fs::set_permissions(p, fs::Permissions::from_mode(dir_mode)).unwrap();
        for e in fs::read_dir(p).unwrap() {
            chmod_tree(&e.unwrap().path(), dir_mode, file_mode);
        }
    } else {
        fs::set_permissions(p, fs::Permissions::from_mode(file_mode)).unwrap();
    }
}

#[test]
fn a_read_only_store_without_local_serves_every_read_command() {
    let (tmp, store) = format1_copy();
    // Upgrade it and add a version, then take local/ away and make it read-only for `nobody`.
    commit_ppo_v2(&tmp, &store);
    let src = tmp.path().join("src");
    fs::remove_dir_all(store.join("local")).unwrap();
    chmod_tree(tmp.path(), 0o755, 0o444);
    let out_dir = tempfile::tempdir().unwrap();
    fs::set_permissions(out_dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let s = store.to_str().unwrap();
    let checkout_to = out_dir.path().join("co");
    let co = checkout_to.to_str().unwrap();
    let reads: Vec<Vec<&str>> = vec![
        vec!["list"],
        vec!["versions", "ppo"],
        vec!["show", "ppo:v2"],
        vec!["runs"],
        vec!["runs", "show", "r3"],
        vec!["cat", "ppo:v2", "ppo.py"],
        vec!["diff", "ppo:v0", "ppo:v2"],
        vec!["log", "ppo"],
        vec!["blame", "ppo:v2", "ppo.py"],
        vec!["fsck"],
        vec!["checkout", "code/lib:v1", "--into", co],
    ];
    for args in reads {
        let mut full = vec!["--store", s];
        full.extend_from_slice(&args);
        let Some(out) = as_nobody(&full) else {
            eprintln!("skipped: cannot run a command as another user here (setpriv)");
            return;
        };
        assert!(
            out.status.success(),
            "{args:?} on a read-only store: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if args[0] == "cat" {
            assert_eq!(out.stdout, b"lr = 5e-5\n");
        }
    }
    assert_eq!(fs::read(checkout_to.join("mod3.py")).unwrap(), module(3, 1));
    assert!(!store.join("local").exists());
    // A write fails with a message naming the problem, and changes nothing.
    let out = as_nobody(&[
        "--store",
        s,
        "commit",
        "ppo",
        "--type",
        "rl_algo_code",
        src.join("ppo.py").to_str().unwrap(),
        "--run",
        "r4",
    ])
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Permission denied"), "{err}");
}
