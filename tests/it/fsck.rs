//! fsck tells corrupt from missing; a corrupt object is never served.

use std::fs;

use crate::common::{codever, json, run_ok, write};

fn setup() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    codever().arg("init").arg(tmp.path()).assert().success();
    let store = tmp.path().join(".codever");
    let src = tmp.path().join("src");
    write(&src, "ppo.py", b"lr = 1\n");
    write(&src, "models.py", b"hidden = 64\n");
    run_ok(
        &store,
        &[
            "commit",
            "ppo",
            "--type",
            "t",
            src.to_str().unwrap(),
            "--run",
            "r1",
        ],
    );
    (tmp, store)
}

fn blob_path(store: &std::path::Path, content: &[u8]) -> std::path::PathBuf {
    let id = codever::ObjectId::compute(codever::object::Kind::Blob, content).to_hex();
    store.join("objects").join(&id[..2]).join(&id[2..])
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
    let p = blob_path(&store, b"lr = 1\n");
    let mut bytes = fs::read(&p).unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 0x55;
    fs::write(&p, bytes).unwrap();

    let out = codever()
        .arg("--store")
        .arg(&store)
        .arg("fsck")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("corrupt: "), "{text}");
    assert!(text.contains(&p.display().to_string()), "{text}");

    // cat and checkout refuse to hand out the bad bytes.
    codever()
        .arg("--store")
        .arg(&store)
        .args(["cat", "ppo", "ppo.py"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicates::str::contains("is corrupt"));
    let into = store.parent().unwrap().join("out");
    codever()
        .arg("--store")
        .arg(&store)
        .args(["checkout", "ppo", "--into"])
        .arg(&into)
        .assert()
        .code(2);
    // The other file is still readable.
    assert_eq!(
        run_ok(&store, &["cat", "ppo", "models.py"]),
        "hidden = 64\n"
    );
}

#[test]
fn missing_objects_are_not_corruption() {
    let (_tmp, store) = setup();
    fs::remove_file(blob_path(&store, b"hidden = 64\n")).unwrap();
    let report = json(&store, &["fsck"]);
    assert_eq!(report["ok"], true);
    assert_eq!(report["corrupt"].as_array().unwrap().len(), 0);
    assert_eq!(report["missing"].as_array().unwrap().len(), 1);
    codever()
        .arg("--store")
        .arg(&store)
        .args(["fsck", "--strict"])
        .assert()
        .code(1)
        .stdout(predicates::str::contains("missing (not yet synced)"));
    codever()
        .arg("--store")
        .arg(&store)
        .args(["cat", "ppo", "models.py"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("not yet synced"));
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
