//! Remotes: push, pull and sync to a folder (another store) and to S3 (moto's server on
//! loopback, started by `scripts/s3-server.sh`; when `CODEVER_TEST_S3_ENDPOINT` is not set,
//! the first S3 test starts it, and it stops when this test process ends).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::common::*;

/// Where a test's remote lives.
#[derive(Clone, Copy, Debug)]
enum Place {
    Folder,
    S3,
}

/// The S3 test server's environment (endpoint, bucket, credentials).
fn s3_env() -> &'static BTreeMap<String, String> {
    static ENV: OnceLock<BTreeMap<String, String>> = OnceLock::new();
    ENV.get_or_init(|| {
        let keys = [
            "CODEVER_TEST_S3_ENDPOINT",
            "CODEVER_TEST_S3_BUCKET",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_DEFAULT_REGION",
        ];
        if std::env::var_os("CODEVER_TEST_S3_ENDPOINT").is_some() {
            return keys
                .iter()
                .map(|k| (k.to_string(), std::env::var(k).unwrap_or_default()))
                .collect();
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/s3-server.sh");
        let out = Command::new("bash")
            .arg(&script)
            .args(["start", "--watch", &std::process::id().to_string()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "the S3 tests need moto's server: `scripts/s3-server.sh start` failed (it needs python3 \
             and PyPI); or run them as `scripts/s3-server.sh run -- cargo test --test it remote::`\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .filter_map(|l| l.strip_prefix("export "))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    })
}

/// A fresh remote for one test: its URL (a new folder, or a new prefix in the test bucket).
struct TestRemote {
    place: Place,
    url: String,
    _dir: tempfile::TempDir,
}

impl TestRemote {
    fn new(place: Place) -> TestRemote {
        let dir = tempfile::tempdir().unwrap();
        let url = match place {
            Place::Folder => dir.path().join("remote").to_str().unwrap().to_string(),
            Place::S3 => {
                let env = s3_env();
                let unique = dir
                    .path()
                    .file_name()
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_lowercase();
                format!("s3://{}/{unique}", env["CODEVER_TEST_S3_BUCKET"])
            }
        };
        TestRemote {
            place,
            url,
            _dir: dir,
        }
    }

    /// `codever --store STORE args…` with the remote's environment.
    fn cmd(&self, store: &Path, args: &[&str]) -> Command {
        let mut c = codever_cmd(store, args);
        if let Place::S3 = self.place {
            c.envs(s3_env());
        }
        c
    }

    fn run(&self, store: &Path, args: &[&str]) -> (i32, String, String) {
        let out = self.cmd(store, args).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    }

    fn ok(&self, store: &Path, args: &[&str]) -> String {
        let (code, out, err) = self.run(store, args);
        assert_eq!(code, 0, "codever {args:?}: {err}");
        out
    }

    fn json(&self, store: &Path, args: &[&str]) -> serde_json::Value {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        serde_json::from_str(&self.ok(store, &a)).unwrap()
    }

    /// Adds this remote to `store` as `origin`.
    fn add(&self, store: &Path) {
        let mut args = vec!["remote", "add", "origin", self.url.as_str()];
        let endpoint;
        if let Place::S3 = self.place {
            endpoint = s3_env()["CODEVER_TEST_S3_ENDPOINT"].clone();
            args.extend(["--endpoint-url", endpoint.as_str()]);
        }
        assert_eq!(self.ok(store, &args), "added remote origin\n");
    }

    /// Replaces the remote's file `key` with `bytes` (a damaged or forged copy).
    fn overwrite(&self, key: &str, bytes: &[u8]) {
        match self.place {
            Place::Folder => {
                let p = PathBuf::from(&self.url).join(key);
                let _ = std::fs::remove_file(&p);
                std::fs::write(p, bytes).unwrap();
            }
            Place::S3 => {
                let env = s3_env();
                let python =
                    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/s3-venv/bin/python");
                let tmp = tempfile::NamedTempFile::new().unwrap();
                std::fs::write(tmp.path(), bytes).unwrap();
                let (bucket, prefix) = self.url["s3://".len()..].split_once('/').unwrap();
                let status = Command::new(python)
                    .envs(env)
                    .args([
                        "-c",
                        "import sys, boto3; boto3.client('s3', endpoint_url=sys.argv[1]).put_object(\
                         Bucket=sys.argv[2], Key=sys.argv[3], Body=open(sys.argv[4], 'rb').read())",
                        &env["CODEVER_TEST_S3_ENDPOINT"],
                        bucket,
                        &format!("{prefix}/{key}"),
                        tmp.path().to_str().unwrap(),
                    ])
                    .status()
                    .unwrap();
                assert!(status.success());
            }
        }
    }
}

impl TestRemote {
    /// Removes the remote's file `key`.
    fn remove(&self, key: &str) {
        match self.place {
            Place::Folder => std::fs::remove_file(PathBuf::from(&self.url).join(key)).unwrap(),
            Place::S3 => {
                let env = s3_env();
                let python =
                    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/s3-venv/bin/python");
                let (bucket, prefix) = self.url["s3://".len()..].split_once('/').unwrap();
                let status = Command::new(python)
                    .envs(env)
                    .args([
                        "-c",
                        "import sys, boto3; boto3.client('s3', endpoint_url=sys.argv[1])\
                         .delete_object(Bucket=sys.argv[2], Key=sys.argv[3])",
                        &env["CODEVER_TEST_S3_ENDPOINT"],
                        bucket,
                        &format!("{prefix}/{key}"),
                    ])
                    .status()
                    .unwrap();
                assert!(status.success());
            }
        }
    }
}

/// A project with a store and 20 files (a commit of them is a pack), committed as `code/app`
/// by run `r1`, then one file changed by `r2` (a few loose objects).
fn project() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let (tmp, store) = init_store();
    let src = tmp.path().join("src");
    for i in 0..20 {
        write(
            &src,
            &format!("m{i:02}.py"),
            format!("value = {i}\n").as_bytes(),
        );
    }
    commit_ok(&store, "code/app", &src, "r1");
    write(&src, "m00.py", b"value = 'changed'\n");
    commit_ok(&store, "code/app", &src, "r2");
    (tmp, store, src)
}

fn versions(r: &TestRemote, store: &Path) -> serde_json::Value {
    r.json(store, &["versions", "code/app"])
}

fn round_trip(place: Place) {
    let remote = TestRemote::new(place);
    let (_a, a, src) = project();
    remote.add(&a);
    let pushed = remote.json(&a, &["push"]);
    assert_eq!(
        pushed["new_there"],
        serde_json::json!([{"artifact": "code/app", "versions": ["v0", "v1"]}])
    );
    assert!(pushed["sent"]["files"].as_u64().unwrap() > 0);
    // Nothing is sent twice — nor when this machine has forgotten what the remote holds (its
    // cache lost: the push lists the remote whole).
    let again = remote.json(&a, &["push"]);
    assert_eq!(again["sent"], serde_json::json!({"files": 0, "bytes": 0}));
    assert_eq!(again["requests"]["put"], 0, "{again}");
    std::fs::remove_dir_all(a.join("local/remotes/origin")).unwrap();
    let again = remote.json(&a, &["push"]);
    assert_eq!(again["sent"], serde_json::json!({"files": 0, "bytes": 0}));
    assert_eq!(again["requests"]["put"], 0, "{again}");

    let (_b, b) = init_store();
    remote.add(&b);
    let pulled = remote.json(&b, &["pull"]);
    assert_eq!(
        pulled["new_here"],
        serde_json::json!([{"artifact": "code/app", "versions": ["v0", "v1"]}])
    );
    assert_eq!(pulled["refused"], serde_json::json!([]));
    assert_eq!(versions(&remote, &b), versions(&remote, &a));
    assert_eq!(checked_out(&b, "code/app:v1"), read_tree(&src));
    assert_fsck_clean(&b, "after pull");
    let again = remote.json(&b, &["pull"]);
    assert_eq!(
        again["received"],
        serde_json::json!({"files": 0, "bytes": 0})
    );
}

#[test]
fn a_folder_round_trip_is_byte_exact_and_sends_nothing_twice() {
    round_trip(Place::Folder);
}

#[test]
fn an_s3_round_trip_is_byte_exact_and_sends_nothing_twice() {
    round_trip(Place::S3);
}

fn concurrent_pushers(place: Place) {
    let remote = TestRemote::new(place);
    let (ta, a) = init_store();
    let (tb, b) = init_store();
    // The same content on both, and one different version each.
    for (tmp, store, own) in [(&ta, &a, "a"), (&tb, &b, "b")] {
        let shared = tmp.path().join("shared");
        write(&shared, "common.py", b"shared = True\n");
        commit_ok(store, "code/app", &shared, &format!("run-{own}-1"));
        let mine = tmp.path().join("mine");
        for i in 0..20 {
            write(
                &mine,
                &format!("f{i}.py"),
                format!("{own} {i}\n").as_bytes(),
            );
        }
        commit_ok(store, "code/app", &mine, &format!("run-{own}-2"));
        remote.add(store);
    }
    // Both push at the same moment.
    let mut pa = remote.cmd(&a, &["push"]).spawn().unwrap();
    let mut pb = remote.cmd(&b, &["push"]).spawn().unwrap();
    assert!(pa.wait().unwrap().success());
    assert!(pb.wait().unwrap().success());
    let sa = remote.json(&a, &["pull"]);
    let sb = remote.json(&b, &["pull"]);
    let va = versions(&remote, &a);
    assert_eq!(va, versions(&remote, &b));
    assert_eq!(va.as_array().unwrap().len(), 3, "{va}");
    let runs: Vec<String> = va
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|v| {
            v["runs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap().to_string())
        })
        .collect();
    for r in ["run-a-1", "run-b-1", "run-a-2", "run-b-2"] {
        assert!(runs.contains(&r.to_string()), "{r} lost: {va}");
    }
    // A committed first: its numbers stand; B's own version moved from v1 to v2, reported as
    // made concurrently with A's v1.
    assert_eq!(sa["concurrent"], serde_json::json!([]), "{sa}");
    assert_eq!(
        sa["new_here"],
        serde_json::json!([{"artifact": "code/app", "versions": ["v2"]}])
    );
    let host = sb["concurrent"][0]["versions"][0]["host"].clone();
    assert!(host.as_str().is_some_and(|h| !h.is_empty()), "{sb}");
    assert_eq!(
        sb["concurrent"],
        serde_json::json!([{"artifact": "code/app", "versions": [
            {"version": "v1", "host": host, "was": null},
            {"version": "v2", "host": host, "was": "v1"}]}]),
        "{sb}"
    );
    assert_fsck_clean(&a, "a");
    assert_fsck_clean(&b, "b");
}

#[test]
fn two_stores_pushing_to_one_folder_at_once_lose_nothing() {
    concurrent_pushers(Place::Folder);
}

#[test]
fn two_stores_pushing_to_one_bucket_at_once_lose_nothing() {
    concurrent_pushers(Place::S3);
}

/// A history whose data depends on itself across files: versions of 24 files (each a pack
/// whose blobs are deltas on the previous version's), a small commit (loose deltas on a pack),
/// then a pack of deltas on those loose objects.
fn chained_history() -> (tempfile::TempDir, PathBuf) {
    let (tmp, a) = init_store();
    let dir = tmp.path().join("src");
    let body = |v: usize, i: usize| {
        let mut text = format!("# version {v}\n");
        for line in 0..60 {
            text.push_str(&format!(
                "def f{i}_{line}(x):\n    return x * {line} + {i}\n"
            ));
        }
        text
    };
    for v in 0..4 {
        for i in 0..24 {
            write(&dir, &format!("f{i:02}.py"), body(v, i).as_bytes());
        }
        commit_ok(&a, "code/app", &dir, &format!("r{v}"));
    }
    for i in 0..2 {
        write(&dir, &format!("f{i:02}.py"), body(10, i).as_bytes());
    }
    commit_ok(&a, "code/app", &dir, "r4");
    for i in 0..24 {
        write(&dir, &format!("f{i:02}.py"), body(20, i).as_bytes());
    }
    commit_ok(&a, "code/app", &dir, "r5");
    (tmp, a)
}

#[test]
fn a_pack_whose_delta_bases_have_not_arrived_waits_for_them() {
    // A remote holding a pack of deltas whose bases (the previous version's pack) are not
    // there yet, as a copy made by hand or a push from an older build may leave it.
    let (tmp, a) = init_store();
    let src = tmp.path().join("src");
    let packs_now = |s: &Path| -> BTreeSet<PathBuf> { pack_files(s).into_iter().collect() };
    let mut packs = Vec::new();
    for v in 0..2 {
        for i in 0..20 {
            let text = format!(
                "# {v}\n{}",
                format!("line {i} of a longer file\n").repeat(40)
            );
            write(&src, &format!("f{i}.py"), text.as_bytes());
        }
        let before = packs_now(&a);
        commit_ok(&a, "code/app", &src, &format!("r{v}"));
        let new: Vec<PathBuf> = packs_now(&a).difference(&before).cloned().collect();
        packs.push(new);
    }
    let remote = TestRemote::new(Place::Folder);
    let root = PathBuf::from(&remote.url);
    std::fs::create_dir_all(root.join("packs")).unwrap();
    std::fs::copy(a.join("format"), root.join("format")).unwrap();
    let copy = |files: &[PathBuf]| {
        for f in files {
            for f in [f.clone(), f.with_extension("idx")] {
                std::fs::copy(&f, root.join("packs").join(f.file_name().unwrap())).unwrap();
            }
        }
    };
    assert_eq!(packs[1].len(), 1, "{packs:?}");
    copy(&packs[1]);
    let (_b, b) = init_store();
    remote.add(&b);
    let pack_name = packs[1][0]
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let (code, out, err) = remote.run(&b, &["pull"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.starts_with(&format!(
            "skipped packs/{pack_name}: not yet synced: 20 of its objects are deltas on \
             objects that have not reached the remote yet (such as "
        )) && err.ends_with(")\n")
            && err.lines().count() == 1,
        "{err}"
    );
    assert!(
        out.ends_with(
            "1 file(s) skipped, not yet synced on origin (see above): a push to it is unfinished; \
             pull again once it is done\n"
        ),
        "{out}"
    );
    assert!(pack_files(&b).is_empty());
    // Once the bases are there, the same pack is taken whole.
    copy(&packs[0]);
    let pulled = remote.json(&b, &["pull"]);
    assert_eq!(pulled["waiting"], serde_json::json!([]), "{pulled}");
    assert_eq!(pulled["refused"], serde_json::json!([]), "{pulled}");
    let mut got: Vec<PathBuf> = pack_files(&b)
        .iter()
        .map(|p| PathBuf::from(p.file_name().unwrap()))
        .collect();
    let mut want: Vec<PathBuf> = packs
        .iter()
        .flatten()
        .map(|p| PathBuf::from(p.file_name().unwrap()))
        .collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    assert_fsck_clean(&b, "after the bases arrived");
}

/// A push killed after each file it creates on the remote, run again until it completes: after
/// every kill, a pull sees only complete versions, exits 0, refuses nothing, and takes what is
/// there (a pack whose bases have not arrived is left for later, never refused).
fn interrupted_push(place: Place) {
    use std::os::unix::process::ExitStatusExt;
    let remote = TestRemote::new(place);
    let (_a_tmp, a) = chained_history();
    remote.add(&a);
    let (_c_tmp, c) = init_store();
    remote.add(&c);
    let mut kills = 0;
    loop {
        let status = remote
            .cmd(&a, &["push", "--full"])
            .env("CODEVER_TEST_KILL_AFTER_PUTS", "1")
            .output()
            .unwrap()
            .status;
        if status.success() {
            break;
        }
        assert_eq!(status.signal(), Some(9), "push: {status}");
        kills += 1;
        assert!(kills < 200, "the push never completes");
        // What a killed push left: a pull takes it without refusing anything, and what it
        // shows is complete (fsck --strict: nothing missing, nothing corrupt).
        let (code, out, err) = remote.run(&c, &["--json", "pull"]);
        assert_eq!(code, 0, "after {kills} file(s): {err}");
        let report: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(report["refused"], serde_json::json!([]), "{report}");
        // Push sends a pack's index only once the bases of its deltas are on the remote: a
        // pull never even finds one it must leave for later.
        assert_eq!(report["waiting"], serde_json::json!([]), "{report}");
        assert_fsck_clean(&c, &format!("pulled after {kills} file(s)"));
    }
    // Each file came from its own run of push, and the last run had nothing left to send.
    assert!(kills > 30, "{kills}");
    let last = remote.json(&a, &["push", "--full"]);
    assert_eq!(last["sent"], serde_json::json!({"files": 0, "bytes": 0}));
    let pulled = remote.json(&c, &["pull"]);
    assert_eq!(pulled["waiting"], serde_json::json!([]), "{pulled}");
    assert_eq!(versions(&remote, &c), versions(&remote, &a));
    for v in 0..6 {
        let spec = format!("code/app:v{v}");
        assert_eq!(checked_out(&c, &spec), checked_out(&a, &spec), "{spec}");
    }
    assert_fsck_clean(&c, "after the completed push");
}

#[test]
fn a_push_killed_half_way_to_a_folder_resumes() {
    interrupted_push(Place::Folder);
}

#[test]
fn a_push_killed_half_way_to_a_bucket_resumes() {
    interrupted_push(Place::S3);
}

fn corrupted_object(place: Place) {
    let remote = TestRemote::new(place);
    let (tmp, a, src) = project();
    let other = tmp.path().join("other");
    write(&other, "o.py", b"other = 1\n");
    commit_ok(&a, "code/other", &other, "r3");
    remote.add(&a);
    remote.ok(&a, &["push"]);
    // The commit record of code/other, damaged on the remote.
    let record = commit_record_of(&a, "r3");
    let hex = record.to_string();
    let key = format!("objects/{}/{}", &hex[..2], &hex[2..]);
    let mut bytes = std::fs::read(object_path(&a, record)).unwrap();
    let last = bytes.len() - 20;
    bytes[last] ^= 0x40;
    remote.overwrite(&key, &bytes);

    let (_b, b) = init_store();
    remote.add(&b);
    let (code, out, err) = remote.run(&b, &["--json", "pull"]);
    assert_eq!(code, 1, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["refused"][0]["key"], key, "{report}");
    assert!(
        err.contains(&format!("refused {key}: corrupt or forged")),
        "{err}"
    );
    // The rest arrived, byte-exact; the damaged record is not installed, but its marker is:
    // code/other is incomplete here as on the remote (not a store without that version).
    assert_eq!(checked_out(&b, "code/app:v1"), read_tree(&src));
    assert!(!object_path(&b, record).exists());
    assert!(b.join("refs/code/other").join(&hex).is_file());
    let listed = remote.ok(&b, &["versions", "code/other"]);
    assert!(
        listed.contains("INCOMPLETE: 1 record not yet synced"),
        "{listed}"
    );
    let (code, fsck) = run_any_json(&b, &["fsck"]);
    assert_eq!(code, 0);
    assert_eq!(
        fsck["missing"],
        serde_json::json!([{"id": hex, "needed_by": "refs/code/other"}])
    );
    // Once the remote holds a sound copy again, the next pull completes it.
    remote.overwrite(&key, &std::fs::read(object_path(&a, record)).unwrap());
    remote.ok(&b, &["pull"]);
    assert_eq!(
        remote.json(&b, &["versions", "code/other"]),
        remote.json(&a, &["versions", "code/other"])
    );
    assert_fsck_clean(&b, "after the record arrived");
}

#[test]
fn a_corrupted_object_in_a_folder_is_refused_and_named() {
    corrupted_object(Place::Folder);
}

#[test]
fn a_corrupted_object_in_a_bucket_is_refused_and_named() {
    corrupted_object(Place::S3);
}

fn lazy_cat(place: Place) {
    let remote = TestRemote::new(place);
    let (_a, a, src) = project();
    remote.add(&a);
    remote.ok(&a, &["push"]);
    let (_b, b) = init_store();
    remote.add(&b);
    remote.ok(&b, &["pull", "--metadata-only"]);
    // Records and markers only: listings work, no data is here (so no file counts yet).
    let without_counts = |v: serde_json::Value| -> Vec<serde_json::Value> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let mut r = r.clone();
                r.as_object_mut().unwrap().remove("counts");
                r
            })
            .collect()
    };
    let listed = versions(&remote, &b);
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["counts"].is_null()),
        "{listed}"
    );
    assert_eq!(
        without_counts(listed),
        without_counts(versions(&remote, &a))
    );
    assert!(pack_files(&b).is_empty());
    let out = remote
        .cmd(&b, &["cat", "code/app:v1", "m00.py"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, std::fs::read(src.join("m00.py")).unwrap());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.starts_with("note: fetched 2 object(s), ")
            && err.ends_with(" bytes, from remote origin (verified)\n"),
        "{err}"
    );
    // What was fetched is here now, verified.
    let out = remote
        .cmd(&b, &["cat", "code/app:v1", "m00.py"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(out.stderr).unwrap(), "");
    // pull --only fetches one artifact's files.
    let (_c, c) = init_store();
    remote.add(&c);
    remote.ok(&c, &["pull", "--only", "code/app:v0"]);
    assert_eq!(checked_out(&c, "code/app:v0").len(), 20);
}

#[test]
fn a_metadata_only_pull_from_a_folder_fetches_blobs_when_cat_needs_them() {
    lazy_cat(Place::Folder);
}

#[test]
fn a_metadata_only_pull_from_a_bucket_fetches_blobs_when_cat_needs_them() {
    lazy_cat(Place::S3);
}

#[test]
fn a_pull_never_overwrites_a_local_file() {
    let remote = TestRemote::new(Place::Folder);
    let (_a, a, _src) = project();
    remote.add(&a);
    remote.ok(&a, &["push"]);
    let (_b, b) = init_store();
    remote.add(&b);
    // B holds a (damaged) copy of a record the remote has: the pull leaves it as it is.
    let record = commit_record_of(&a, "r2");
    let path = object_path(&b, record);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, b"local bytes").unwrap();
    remote.run(&b, &["pull"]);
    assert_eq!(std::fs::read(&path).unwrap(), b"local bytes");
}

#[test]
fn s3_failures_are_one_clear_line_without_credentials() {
    let env = s3_env();
    let (_a, a, _src) = project();
    let endpoint = env["CODEVER_TEST_S3_ENDPOINT"].as_str();
    let bucket = env["CODEVER_TEST_S3_BUCKET"].as_str();
    let remote_url = format!("s3://{bucket}/errors");
    let run = |args: &[&str], secret: &str| {
        let out = codever_cmd(&a, args)
            .envs(env)
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .output()
            .unwrap();
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(!err.contains(secret), "{err}");
        assert!(!err.contains(&env["AWS_SECRET_ACCESS_KEY"]), "{err}");
        err
    };
    let secret = env["AWS_SECRET_ACCESS_KEY"].clone();
    run_ok(
        &a,
        &[
            "remote",
            "add",
            "good",
            &remote_url,
            "--endpoint-url",
            endpoint,
        ],
    );
    assert_eq!(
        run(&["push", "good"], "wrong-secret-key-1234"),
        format!(
            "error: remote good ({remote_url}): the credentials were refused\nhint: set AWS_ACCESS_KEY_ID and \
             AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) to credentials allowed to use the bucket\n"
        )
    );
    // No credentials anywhere: said so, not "refused".
    let home = tempfile::tempdir().unwrap();
    let out = codever_cmd(&a, &["push", "good"])
        .envs(env)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_PROFILE")
        .env("HOME", home.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!(
            "error: remote good ({remote_url}): no credentials were found\nhint: set \
             AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE naming a profile of \
             ~/.aws/credentials (codever looked there, in the environment, and for an instance \
             role)\n"
        )
    );
    run_ok(
        &a,
        &[
            "remote",
            "add",
            "nob",
            "s3://no-such-bucket/x",
            "--endpoint-url",
            endpoint,
        ],
    );
    assert_eq!(
        run(&["push", "nob"], &secret),
        "error: remote nob (s3://no-such-bucket/x): the bucket does not exist\nhint: create the \
         bucket first, or check its name in the URL\n"
    );
    run_ok(
        &a,
        &[
            "remote",
            "add",
            "down",
            &remote_url,
            "--endpoint-url",
            "http://127.0.0.1:1",
        ],
    );
    assert_eq!(
        run(&["pull", "down"], &secret),
        format!(
            "error: remote down ({remote_url}): cannot reach the endpoint\nhint: check the endpoint URL \
             (`remote add … --endpoint-url`, AWS_ENDPOINT_URL) and the network\n"
        )
    );
}

#[test]
fn remotes_are_added_listed_and_removed() {
    let (_t, s) = init_store();
    assert_eq!(
        run_ok(&s, &["remote", "add", "origin", "/srv/share/.codever"]),
        "added remote origin\n"
    );
    assert_eq!(
        run_ok(
            &s,
            &[
                "remote",
                "add",
                "cloud",
                "s3://team-bucket/ml",
                "--endpoint-url",
                "http://minio:9000"
            ]
        ),
        "added remote cloud\n"
    );
    assert_eq!(
        run_ok(&s, &["remote", "list"]),
        "  cloud\ts3://team-bucket/ml  (endpoint http://minio:9000)\n* origin\t/srv/share/.codever\n"
    );
    assert_eq!(
        run_err(&s, &["remote", "add", "sp", "s3://team-bucket/my runs"]),
        "error: invalid remote URL \"s3://team-bucket/my runs\": the prefix must not hold spaces, \
         control characters, `*` or `~` (S3 refuses the signature of a listing of such a prefix); \
         use `-` or `_`\nhint: a remote is a path, `file:///path`, or `s3://bucket/prefix`\n"
    );
    let err = run_err(&s, &["remote", "add", "x", "http://example.com/x"]);
    assert!(
        err.starts_with("error: invalid remote URL \"http://example.com/x\""),
        "{err}"
    );
    assert_eq!(
        run_ok(&s, &["remote", "remove", "origin"]),
        "removed remote origin\n"
    );
    let err = run_err(&s, &["push"]);
    assert_eq!(
        err,
        "error: no remote given, and this store has no default remote\nhint: remotes: cloud (`codever remote list`)\n"
    );
}

/// Versions made concurrently offline on two machines, each synced: both sides (and a third
/// that pulls) list the same versions with the same numbers; the later one was renumbered and
/// the report says so.
fn sync_both_ways(place: Place) {
    let remote = TestRemote::new(place);
    let (ta, a) = init_store();
    let (tb, b) = init_store();
    remote.add(&a);
    remote.add(&b);
    let src_a = ta.path().join("src");
    write(&src_a, "train.py", b"lr = 0.1\n");
    commit_ok(&a, "code/app", &src_a, "a-0");
    let first = remote.json(&a, &["sync"]);
    assert_eq!(
        first["new_there"],
        serde_json::json!([{"artifact": "code/app", "versions": ["v0"]}])
    );
    let got = remote.json(&b, &["sync"]);
    assert_eq!(
        got["new_here"],
        serde_json::json!([{"artifact": "code/app", "versions": ["v0"]}])
    );
    assert_eq!(got["new_there"], serde_json::json!([]));
    // Offline: A makes one version, then B another.
    write(&src_a, "train.py", b"lr = 0.2\n");
    commit_ok(&a, "code/app", &src_a, "a-1");
    let src_b = tb.path().join("src");
    write(&src_b, "train.py", b"lr = 0.3\n");
    commit_ok(&b, "code/app", &src_b, "b-1");
    let sa = remote.json(&a, &["sync"]);
    assert_eq!(sa["new_here"], serde_json::json!([]), "{sa}");
    assert_eq!(
        sa["new_there"],
        serde_json::json!([{"artifact": "code/app", "versions": ["v1"]}])
    );
    let sb = remote.json(&b, &["sync"]);
    assert_eq!(
        sb["new_here"],
        serde_json::json!([{"artifact": "code/app", "versions": ["v1"]}]),
        "{sb}"
    );
    assert_eq!(
        sb["new_there"],
        serde_json::json!([{"artifact": "code/app", "versions": ["v2"]}]),
        "{sb}"
    );
    let host = sb["concurrent"][0]["versions"][0]["host"].clone();
    assert!(host.as_str().is_some_and(|h| !h.is_empty()), "{sb}");
    assert_eq!(
        sb["concurrent"],
        serde_json::json!([{"artifact": "code/app", "versions": [
            {"version": "v1", "host": host, "was": null},
            {"version": "v2", "host": host, "was": "v1"}]}])
    );
    let sa = remote.json(&a, &["sync"]);
    assert_eq!(
        sa["new_here"],
        serde_json::json!([{"artifact": "code/app", "versions": ["v2"]}])
    );
    assert_eq!(sa["concurrent"], serde_json::json!([]), "{sa}");
    assert_eq!(sa["sent"], serde_json::json!({"files": 0, "bytes": 0}));
    // Both sides list the same versions, and so does a store that only pulls.
    let (_c, c) = init_store();
    remote.add(&c);
    remote.ok(&c, &["pull"]);
    let va = versions(&remote, &a);
    assert_eq!(va.as_array().unwrap().len(), 3, "{va}");
    assert_eq!(versions(&remote, &b), va);
    assert_eq!(versions(&remote, &c), va);
    for (v, text) in [
        ("v0", "lr = 0.1\n"),
        ("v1", "lr = 0.2\n"),
        ("v2", "lr = 0.3\n"),
    ] {
        let spec = format!("code/app:{v}");
        for s in [&a, &b, &c] {
            assert_eq!(run_ok(s, &["cat", &spec, "train.py"]), text, "{spec}");
        }
    }
    // In sync: nothing moves either way.
    let again = remote.json(&b, &["sync"]);
    assert_eq!(again["sent"], serde_json::json!({"files": 0, "bytes": 0}));
    assert_eq!(
        again["received"],
        serde_json::json!({"files": 0, "bytes": 0})
    );
}

#[test]
fn sync_with_a_folder_leaves_both_sides_listing_the_same_versions() {
    sync_both_ways(Place::Folder);
}

#[test]
fn sync_with_a_bucket_leaves_both_sides_listing_the_same_versions() {
    sync_both_ways(Place::S3);
}

/// After a metadata-only pull, `diff`, `blame` and `checkout` fetch the objects they need
/// (verified, said on stderr) and give what they give on the store that made the versions.
fn lazy_commands(place: Place) {
    let remote = TestRemote::new(place);
    let (_a, a, src) = project();
    remote.add(&a);
    remote.ok(&a, &["push"]);
    let out_dir = tempfile::tempdir().unwrap();
    let into = out_dir.path().join("out");
    let into = into.to_str().unwrap();
    // diff and blame: the two trees and m00.py's two blobs (blame's log makes only the followed
    // file's diff, so v0's other 19 files are not read); checkout: v1's tree and its 20 blobs.
    for (args, objects) in [
        (vec!["diff", "code/app:v0", "code/app:v1"], 4),
        (vec!["blame", "code/app:v1", "m00.py"], 4),
        (vec!["checkout", "code/app:v1", "--into", into], 21),
    ] {
        let (_b, b) = init_store();
        remote.add(&b);
        remote.ok(&b, &["pull", "--metadata-only"]);
        assert!(pack_files(&b).is_empty());
        let _ = std::fs::remove_dir_all(into);
        let out = remote.cmd(&b, &args).output().unwrap();
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(out.status.success(), "{args:?}: {err}");
        assert!(
            err.starts_with(&format!("note: fetched {objects} object(s), "))
                && err.ends_with(" bytes, from remote origin (verified)\n"),
            "{args:?}: {err}"
        );
        if args[0] == "checkout" {
            assert_eq!(read_tree(Path::new(into)), read_tree(&src));
            continue;
        }
        let _ = std::fs::remove_dir_all(into);
        let here = codever_cmd(&a, &args).output().unwrap();
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(here.stdout).unwrap(),
            "{args:?}"
        );
        // Fetched once: the same command fetches nothing more.
        let out = remote.cmd(&b, &args).output().unwrap();
        assert_eq!(String::from_utf8(out.stderr).unwrap(), "", "{args:?}");
    }
}

/// A checkout after a metadata-only pull whose blobs the remote no longer has fails before
/// anything is written: every blob is looked for (here and on the remote) first, and the target
/// directory is never made, even when some blobs are here.
#[test]
fn a_checkout_whose_blobs_are_on_neither_side_fails_before_writing() {
    let remote = TestRemote::new(Place::Folder);
    let (_a, a, _src) = project();
    remote.add(&a);
    remote.ok(&a, &["push"]);
    let (_b, b) = init_store();
    remote.add(&b);
    remote.ok(&b, &["pull", "--metadata-only"]);
    // The trees and one file's blobs fetched (a blame), then the remote loses its packs.
    remote.ok(&b, &["blame", "code/app:v1", "m00.py"]);
    let root = PathBuf::from(&remote.url);
    for f in file_names(&root.join("packs")) {
        std::fs::remove_file(root.join("packs").join(f)).unwrap();
    }
    let out_dir = tempfile::tempdir().unwrap();
    let into = out_dir.path().join("out");
    let (code, _, err) = remote.run(
        &b,
        &["checkout", "code/app:v1", "--into", into.to_str().unwrap()],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is missing"), "{err}");
    assert!(!into.exists(), "the target was made: {err}");
}

#[test]
fn diff_blame_and_checkout_fetch_what_they_need_from_a_folder() {
    lazy_commands(Place::Folder);
}

#[test]
fn diff_blame_and_checkout_fetch_what_they_need_from_a_bucket() {
    lazy_commands(Place::S3);
}

/// A pack on the remote with one damaged object in it, named and indexed as a consistent pack
/// (as a forger would make it): the object is refused and named, the pack's other objects are
/// taken.
fn corrupt_object_in_a_pack(place: Place) {
    let remote = TestRemote::new(place);
    let (_a, a, src) = project();
    remote.add(&a);
    remote.ok(&a, &["push"]);
    // v0's pack (20 blobs and a tree), as pushed.
    let packs = pack_files(&a);
    assert_eq!(packs.len(), 1, "{packs:?}");
    let pack = std::fs::read(&packs[0]).unwrap();
    let idx = std::fs::read(packs[0].with_extension("idx")).unwrap();
    let entries: Vec<([u8; 32], u64, u32)> = idx[41..idx.len() - 32]
        .chunks(44)
        .map(|e| {
            (
                e[..32].try_into().unwrap(),
                u64::from_le_bytes(e[32..40].try_into().unwrap()),
                u32::from_le_bytes(e[40..44].try_into().unwrap()),
            )
        })
        .collect();
    assert_eq!(entries.len(), 21);
    // m05.py's blob, one byte of it flipped; the pack renamed to its new hash, its index
    // rewritten to match.
    let victim = blob_id(b"value = 5\n");
    let (_, offset, len) = *entries
        .iter()
        .find(|(id, _, _)| id == victim.as_bytes())
        .unwrap();
    let mut forged = pack.clone();
    forged[(offset + u64::from(len) / 2) as usize] ^= 0x20;
    let forged_id = blake3::hash(&forged);
    let mut forged_idx = idx[..idx.len() - 32].to_vec();
    forged_idx[5..37].copy_from_slice(forged_id.as_bytes());
    let sum = blake3::hash(&forged_idx);
    forged_idx.extend_from_slice(sum.as_bytes());
    let old_name = packs[0].file_stem().unwrap().to_str().unwrap().to_string();
    remote.remove(&format!("packs/{old_name}.idx"));
    remote.remove(&format!("packs/{old_name}.pack"));
    let forged_key = format!("packs/{}.pack", forged_id.to_hex());
    remote.overwrite(&forged_key, &forged);
    remote.overwrite(&format!("packs/{}.idx", forged_id.to_hex()), &forged_idx);

    let (_b, b) = init_store();
    remote.add(&b);
    let (code, out, err) = remote.run(&b, &["--json", "pull"]);
    assert_eq!(code, 1, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let key = format!("{forged_key} (object {victim})");
    assert_eq!(report["refused"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(report["refused"][0]["key"], key, "{report}");
    assert!(
        report["refused"][0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("corrupt or forged: "),
        "{report}"
    );
    assert!(
        err.starts_with(&format!("refused {key}: corrupt or forged: ")),
        "{err}"
    );
    // Every other file arrived, byte-exact; the damaged one is missing, not wrong.
    for i in (1..20).filter(|i| *i != 5) {
        let name = format!("m{i:02}.py");
        assert_eq!(
            run_ok(&b, &["cat", "code/app:v1", &name]).as_bytes(),
            std::fs::read(src.join(&name)).unwrap(),
            "{name}"
        );
    }
    // cat fetches the missing blob from the remote, and refuses the damaged copy it finds.
    let (code, _, err) = remote.run(&b, &["cat", "code/app:v1", "m05.py"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.starts_with(&format!(
            "error: remote origin ({}): its copy is damaged (its copy of {} is corrupt or forged: ",
            remote.url,
            &victim.to_string()[..12]
        )),
        "{err}"
    );
    assert!(!object_path(&b, victim).exists());
    let (_, fsck) = run_any_json(&b, &["fsck"]);
    assert_eq!(fsck["corrupt"], serde_json::json!([]), "{fsck}");
    assert_eq!(fsck["missing"][0]["id"], victim.to_string(), "{fsck}");
}

#[test]
fn a_corrupt_object_in_a_pack_in_a_folder_is_refused_and_the_rest_taken() {
    corrupt_object_in_a_pack(Place::Folder);
}

#[test]
fn a_corrupt_object_in_a_pack_in_a_bucket_is_refused_and_the_rest_taken() {
    corrupt_object_in_a_pack(Place::S3);
}

#[test]
fn s3_credentials_region_and_endpoint_come_from_an_aws_profile() {
    let env = s3_env();
    let home = tempfile::tempdir().unwrap();
    let aws = home.path().join(".aws");
    std::fs::create_dir_all(&aws).unwrap();
    std::fs::write(
        aws.join("credentials"),
        format!(
            "[default]\naws_access_key_id = {}\naws_secret_access_key = wrong-default-secret\n\n\
             # the team's key\n[team]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            env["AWS_ACCESS_KEY_ID"], env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
        ),
    )
    .unwrap();
    std::fs::write(
        aws.join("config"),
        format!(
            "[default]\nregion = us-east-1\nendpoint_url = {0}\n\n[profile team]\nregion = \
             us-east-1\nendpoint_url = {0}\n",
            env["CODEVER_TEST_S3_ENDPOINT"]
        ),
    )
    .unwrap();
    // Nothing from the environment but HOME and the profile's name.
    let cmd = |store: &Path, args: &[&str], profile: Option<&str>| {
        let mut c = codever_cmd(store, args);
        for k in [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_S3",
            "AWS_SHARED_CREDENTIALS_FILE",
            "AWS_CONFIG_FILE",
            "AWS_PROFILE",
        ] {
            c.env_remove(k);
        }
        c.env("HOME", home.path());
        if let Some(p) = profile {
            c.env("AWS_PROFILE", p);
        }
        c.output().unwrap()
    };
    let url = format!("s3://{}/profiles", env["CODEVER_TEST_S3_BUCKET"]);
    let (_a, a, src) = project();
    run_ok(&a, &["remote", "add", "origin", &url]);
    let out = cmd(&a, &["push"], Some("team"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_b, b) = init_store();
    run_ok(&b, &["remote", "add", "origin", &url]);
    let out = cmd(&b, &["pull"], Some("team"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(checked_out(&b, "code/app:v1"), read_tree(&src));
    // The default profile's secret is refused, and never printed.
    let out = cmd(&b, &["pull"], None);
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(
        err,
        format!(
            "error: remote origin ({url}): the credentials were refused\nhint: set \
             AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) to credentials allowed \
             to use the bucket\n"
        )
    );
}

/// The remote's `format` follows the newest store pushed to it: a forget record needs format
/// 3, so the remote says 3 before the record is there, and a store that pulls it becomes 3; a
/// remote newer than this build reads is refused in one line.
fn format_raised(place: Place) {
    let remote = TestRemote::new(place);
    let (_a, a, _src) = project();
    remote.add(&a);
    remote.ok(&a, &["push"]);
    let remote_format = || {
        let (_c, c) = init_store();
        remote.add(&c);
        remote.ok(&c, &["pull", "--metadata-only"]);
        std::fs::read_to_string(c.join("format")).unwrap()
    };
    assert_eq!(remote_format(), "codever-store-format 2\n");
    run_ok(&a, &["forget", "code/app:v0"]);
    assert_eq!(
        std::fs::read_to_string(a.join("format")).unwrap(),
        "codever-store-format 3\n"
    );
    remote.ok(&a, &["push"]);
    if let Place::Folder = place {
        assert_eq!(
            std::fs::read_to_string(PathBuf::from(&remote.url).join("format")).unwrap(),
            "codever-store-format 3\n"
        );
    }
    assert_eq!(remote_format(), "codever-store-format 3\n");
    let (_b, b) = init_store();
    remote.add(&b);
    remote.ok(&b, &["pull"]);
    assert_eq!(
        std::fs::read_to_string(b.join("format")).unwrap(),
        "codever-store-format 3\n"
    );
    assert_eq!(versions(&remote, &b), versions(&remote, &a));
    // A remote written by a newer build.
    remote.overwrite("format", b"codever-store-format 9\n");
    let (code, _, err) = remote.run(&b, &["pull"]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(
        err.lines().next().unwrap(),
        format!(
            "error: remote origin ({}): its store format is newer than this codever reads \
             (format 9; this codever reads 3)",
            remote.url
        )
    );
}

#[test]
fn a_folder_remotes_format_is_raised_by_a_push_of_a_newer_store() {
    format_raised(Place::Folder);
}

#[test]
fn a_buckets_format_is_raised_by_a_push_of_a_newer_store() {
    format_raised(Place::S3);
}

/// Runs `cmd` under a Python parent that reports the most memory (max RSS, KiB) it used.
fn max_rss_kib(cmd: Command) -> (std::process::Output, u64) {
    let mut wrapped = Command::new("python3");
    wrapped.args([
        "-c",
        "import resource, subprocess, sys\n\
         r = subprocess.run(sys.argv[1:])\n\
         print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n\
         sys.exit(r.returncode)",
    ]);
    wrapped.arg(cmd.get_program()).args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => wrapped.env(k, v),
            None => wrapped.env_remove(k),
        };
    }
    let out = wrapped.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let rss = err
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("no max RSS: {err}"));
    (out, rss)
}

/// Runs `cmd`, asserting it succeeds with a peak memory under `limit` KiB (`what` and `of`
/// name the command and the data in the message). Returns its output.
fn succeeds_within(what: &str, cmd: Command, limit: u64, of: &str) -> std::process::Output {
    let (out, rss) = max_rss_kib(cmd);
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(rss < limit, "{what} used {rss} KiB for a {of}");
    out
}

/// `size` incompressible bytes (xorshift from `seed`).
fn noise(size: usize, seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(size + 8);
    let mut x = seed | 1;
    while out.len() < size {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(size);
    out
}

/// A commit of 24 incompressible 4 MiB files is one 96 MiB pack (each file is below the
/// large-file size, so none is streamed on its own): the pack is pushed from its file and pulled
/// into a temp file, its objects verified one at a time; 96 MiB more of loose objects are packed
/// by the push a few at a time. Each command uses under half of either in memory; what arrives
/// is byte-exact.
fn big_pack_streamed(place: Place) {
    let remote = TestRemote::new(place);
    let (tmp, a) = init_store();
    let src = tmp.path().join("data");
    std::fs::create_dir_all(&src).unwrap();
    for i in 0..24u64 {
        std::fs::write(
            src.join(format!("shard{i:02}.bin")),
            noise(4 << 20, (i + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)),
        )
        .unwrap();
    }
    commit_ok(&a, "data/shards", &src, "r1");
    let packs = pack_files(&a);
    assert_eq!(packs.len(), 1, "{packs:?}");
    let pack_len = std::fs::metadata(&packs[0]).unwrap().len();
    assert!(pack_len > 96 << 20, "{pack_len}");
    // And 96 MiB of loose objects: six small commits of four new 4 MiB files each (too few
    // objects for a pack; new names, so whole blobs, not deltas whose chains a reader decodes),
    // which a push packs on the way.
    let small = tmp.path().join("small");
    for c in 0..6u64 {
        let _ = std::fs::remove_dir_all(&small);
        std::fs::create_dir_all(&small).unwrap();
        for f in 0..4u64 {
            let seed = (100 + c * 4 + f).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            std::fs::write(small.join(format!("c{c}f{f}.bin")), noise(4 << 20, seed)).unwrap();
        }
        commit_ok(&a, "data/parts", &small, &format!("p{c}"));
    }
    assert_eq!(pack_files(&a).len(), 1);
    remote.add(&a);
    let limit = 48 << 10; // KiB: under half the pack
    let measured = |what: &str, cmd: Command| succeeds_within(what, cmd, limit, "96 MiB pack");
    let out = measured("push", remote.cmd(&a, &["--json", "push"]));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        report["sent"]["bytes"].as_u64().unwrap() > pack_len,
        "{report}"
    );
    let (_b, b) = init_store();
    remote.add(&b);
    let out = measured("pull", remote.cmd(&b, &["--json", "pull"]));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["refused"], serde_json::json!([]), "{report}");
    assert!(
        report["received"]["bytes"].as_u64().unwrap() > pack_len,
        "{report}"
    );
    // The pack arrived as it was sent (same name, so same bytes), nothing left in local/tmp.
    assert!(pack_files(&b).contains(&b.join("packs").join(packs[0].file_name().unwrap())));
    assert_eq!(file_names(&b.join("local/tmp")), Vec::<String>::new());
    assert_eq!(checked_out(&b, "data/shards"), read_tree(&src));
    assert_eq!(checked_out(&b, "data/parts:v5"), read_tree(&small));
    let listed = |s: &Path| run_ok(s, &["--json", "versions", "data/parts"]);
    assert_eq!(listed(&b), listed(&a));
    assert_fsck_clean(&b, "after pulling a big pack");
}

#[test]
fn a_big_pack_goes_to_a_folder_and_back_in_bounded_memory() {
    big_pack_streamed(Place::Folder);
}

#[test]
fn a_big_pack_goes_to_a_bucket_and_back_in_bounded_memory() {
    big_pack_streamed(Place::S3);
}

/// Loose objects that are deltas on one another (six small commits changing the same four
/// 1 MiB files) fill several of the packs a push builds; each pack needs only what earlier ones
/// hold, so a pull verifies and installs every one of them (with packs in id order, a pack
/// could need a base from a pack that needed one of its own: neither could ever be taken).
#[test]
fn delta_chains_split_over_several_pushed_packs_all_arrive() {
    let remote = TestRemote::new(Place::Folder);
    let (tmp, a) = init_store();
    let src = tmp.path().join("w");
    std::fs::create_dir_all(&src).unwrap();
    for c in 0..6u64 {
        for f in 0..4u64 {
            let seed = (c * 4 + f + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            std::fs::write(src.join(format!("layer{f}.bin")), noise(1 << 20, seed)).unwrap();
        }
        commit_ok(&a, "model/w", &src, &format!("r{c}"));
    }
    assert_eq!(pack_files(&a).len(), 0);
    remote.add(&a);
    remote.ok(&a, &["push"]);
    let pushed = pack_files(Path::new(&remote.url)).len();
    assert!(pushed >= 3, "{pushed} packs");
    let (_b, b) = init_store();
    remote.add(&b);
    let pulled = remote.json(&b, &["pull"]);
    assert_eq!(pulled["waiting"], serde_json::json!([]), "{pulled}");
    assert_eq!(pulled["refused"], serde_json::json!([]), "{pulled}");
    assert_eq!(checked_out(&b, "model/w:v5"), read_tree(&src));
    assert_fsck_clean(&b, "after pulling chains split over packs");
}

/// A 100 MiB file (incompressible: stored as big as it is) goes to the remote and back, and is
/// fetched lazily, each command using well under the blob's size in memory.
fn large_blob_streamed(place: Place) {
    let remote = TestRemote::new(place);
    let (tmp, a) = init_store();
    let src = tmp.path().join("data");
    std::fs::create_dir_all(&src).unwrap();
    let size = 100usize << 20;
    let big = noise(size, 0x2545_f491_4f6c_dd1d);
    std::fs::write(src.join("weights.bin"), &big).unwrap();
    write(&src, "train.py", b"epochs = 3\n");
    commit_ok(&a, "model/w", &src, "r1");
    remote.add(&a);
    let limit = 48 << 10; // KiB: under half the blob
    let measured = |what: &str, cmd: Command| succeeds_within(what, cmd, limit, "100 MiB blob");
    let out = measured("push", remote.cmd(&a, &["--json", "push"]));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        report["sent"]["bytes"].as_u64().unwrap() > size as u64,
        "{report}"
    );
    let (_b, b) = init_store();
    remote.add(&b);
    let out = measured("pull", remote.cmd(&b, &["--json", "pull"]));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // The streamed blob counts in what the pull reports received, as one file: the report's
    // files are exactly the files the pull made in this (new) store.
    assert!(
        report["received"]["bytes"].as_u64().unwrap() > size as u64,
        "{report}"
    );
    let made: usize = ["objects", "packs", "refs", "runs", "renames"]
        .iter()
        .filter(|d| b.join(d).is_dir())
        .map(|d| read_tree(&b.join(d)).len())
        .sum();
    assert_eq!(report["received"]["files"], made as u64, "{report}");
    let out = measured("cat", remote.cmd(&b, &["cat", "model/w", "weights.bin"]));
    assert!(out.stdout == big, "the pulled blob differs");
    assert_fsck_clean(&b, "after pulling a large blob");
    // Lazily: a metadata-only pull, then cat fetches the blob as a stream.
    let (_c, c) = init_store();
    remote.add(&c);
    remote.ok(&c, &["pull", "--metadata-only"]);
    let out = measured(
        "lazy cat",
        remote.cmd(&c, &["cat", "model/w", "weights.bin"]),
    );
    assert!(out.stdout == big, "the fetched blob differs");
    // A damaged copy on the remote is refused, not installed.
    let (_d, d) = init_store();
    remote.add(&d);
    let id = blob_id(&big);
    let hex = id.to_string();
    let key = format!("objects/{}/{}", &hex[..2], &hex[2..]);
    let mut stored = std::fs::read(object_path(&a, id)).unwrap();
    let mid = stored.len() / 2;
    stored[mid] ^= 1;
    remote.overwrite(&key, &stored);
    let (code, _, err) = remote.run(&d, &["pull"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.starts_with(&format!("refused {key}: corrupt or forged: ")),
        "{err}"
    );
    assert!(!object_path(&d, id).exists());
}

#[test]
fn a_large_blob_goes_to_a_folder_and_back_in_bounded_memory() {
    large_blob_streamed(Place::Folder);
}

#[test]
fn a_large_blob_goes_to_a_bucket_and_back_in_bounded_memory() {
    large_blob_streamed(Place::S3);
}

/// An index on the remote larger than any index may be (or than its pack could need) is
/// refused without being downloaded; the rest of the pull goes on.
fn oversized_index(place: Place) {
    let remote = TestRemote::new(place);
    let (_a, a, src) = project();
    remote.add(&a);
    remote.ok(&a, &["push"]);
    // A pack of 100 bytes whose index claims 1 MiB.
    let fake = blob_id(b"not a pack id");
    let (pack_key, idx_key) = (format!("packs/{fake}.pack"), format!("packs/{fake}.idx"));
    remote.overwrite(&pack_key, &[7u8; 100]);
    remote.overwrite(&idx_key, &vec![0u8; 1 << 20]);
    let (_b, b) = init_store();
    remote.add(&b);
    let (code, out, err) = remote.run(&b, &["--json", "pull"]);
    assert_eq!(code, 1, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        report["refused"],
        serde_json::json!([{"key": idx_key, "reason": format!(
            "its index claims 1048576 bytes, more than a pack of 100 bytes can need (at most \
             328); not downloaded; its pack {pack_key} was not fetched")}]),
        "{report}"
    );
    assert_eq!(checked_out(&b, "code/app:v1"), read_tree(&src));
    if let Place::Folder = place {
        // An index and pack of gigabytes (sparse files): refused at once by the absolute
        // bound, nothing read.
        let root = PathBuf::from(&remote.url);
        for (key, len) in [(&pack_key, 3u64 << 30), (&idx_key, 3u64 << 30)] {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(root.join(key))
                .unwrap();
            f.set_len(len).unwrap();
        }
        let (_c, c) = init_store();
        remote.add(&c);
        let started = std::time::Instant::now();
        let (code, out, err) = remote.run(&c, &["--json", "pull"]);
        assert_eq!(code, 1, "{err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
        let report: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            report["refused"][0]["reason"],
            format!(
                "its index claims 3221225472 bytes, more than a pack of 3221225472 bytes can need \
                 (at most 176000073); not downloaded; its pack {pack_key} was not fetched"
            ),
            "{report}"
        );
    }
}

#[test]
fn an_oversized_index_in_a_folder_is_refused_without_downloading_it() {
    oversized_index(Place::Folder);
}

#[test]
fn an_oversized_index_in_a_bucket_is_refused_without_downloading_it() {
    oversized_index(Place::S3);
}

#[test]
fn transfers_report_their_progress_in_bytes() {
    use std::sync::{Arc, Mutex};
    let remote = TestRemote::new(Place::Folder);
    let (_a, a, _src) = project();
    remote.add(&a);
    let seen: Arc<Mutex<Vec<(usize, usize)>>> = Arc::default();
    let progress = || {
        let s = Arc::clone(&seen);
        Some(codever::Progress(Arc::new(move |d, t| {
            s.lock().unwrap().push((d, t))
        })))
    };
    let check = |what: &str, bytes: u64| {
        let mut seen = seen.lock().unwrap();
        let (done, total) = *seen.last().unwrap();
        assert_eq!(done, total, "{what}: {seen:?}");
        // Nothing is counted twice: the total is what the files moved weigh.
        assert!(
            (total as u64).abs_diff(bytes) * 10 < bytes,
            "{what}: {total} for {bytes}"
        );
        assert!(
            seen.windows(2).all(|w| w[0].0 <= w[1].0),
            "{what}: {seen:?}"
        );
        seen.clear();
    };
    let store = codever::Store::open(&a).unwrap();
    let opts = codever::remote::PushOptions {
        full: false,
        progress: progress(),
    };
    let pushed = codever::remote::push(&store, None, &opts).unwrap();
    check("push", pushed.sent.bytes);
    let (_b, b) = init_store();
    remote.add(&b);
    let store = codever::Store::open(&b).unwrap();
    let opts = codever::remote::PullOptions {
        progress: progress(),
        ..Default::default()
    };
    let pulled = codever::remote::pull(&store, None, &opts).unwrap();
    check("pull", pulled.received.bytes);
}

/// On a terminal, `push` and `pull` draw a progress bar in bytes on stderr once the transfer has
/// taken `$CODEVER_PROGRESS_DELAY_MS` (a second by default; 0 here, so the small transfer shows
/// one), and clear it before the report; a pipe never gets one. Runs the CLI on a
/// pseudo-terminal (`script`).
#[cfg(unix)]
#[test]
fn a_transfer_on_a_terminal_draws_a_byte_progress_bar_a_pipe_gets_none() {
    let remote = TestRemote::new(Place::Folder);
    let (_a, a, _src) = project();
    remote.add(&a);
    let bin = assert_cmd::cargo::cargo_bin!("codever");
    let on_terminal = |store: &Path, args: &str, delay: &str| -> String {
        let cmd = format!("'{}' --store '{}' {args}", bin.display(), store.display());
        let out = Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .env("CODEVER_PROGRESS_DELAY_MS", delay)
            .env("NO_COLOR", "1")
            .env("TERM", "xterm")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n");
        assert!(out.status.success(), "{args}: {text}");
        text
    };
    let bar = |text: &str, what: &str| {
        // `pushing ████ 1.21 KiB/1.21 KiB 0 B/s 0s`, drawn and then cleared.
        text.lines()
            .flat_map(|l| l.split('\r'))
            .any(|l| l.contains(&format!("{what} ")) && l.contains("B/") && l.contains("iB"))
    };
    let pushed = on_terminal(&a, "push", "0");
    assert!(bar(&pushed, "pushing"), "{pushed:?}");
    // Cleared (erase-line) before the report, which follows in full.
    assert!(
        pushed.contains("\r\u{1b}[2Kpush origin (")
            && pushed.ends_with("new on origin: code/app v0, v1\n"),
        "{pushed:?}"
    );

    let (_b, b) = init_store();
    remote.add(&b);
    // Under the delay, no bar: a quick transfer prints only its report.
    let quick = on_terminal(&b, "pull --metadata-only", "600000");
    assert!(!bar(&quick, "pulling"), "{quick:?}");
    let pulled = on_terminal(&b, "pull", "0");
    assert!(bar(&pulled, "pulling"), "{pulled:?}");
    // A pipe gets no bar, whatever the delay.
    let (_c, c) = init_store();
    remote.add(&c);
    let piped = codever_cmd(&c, &["pull"])
        .env("CODEVER_PROGRESS_DELAY_MS", "0")
        .output()
        .unwrap();
    assert!(piped.status.success());
    assert!(!bar(&String::from_utf8_lossy(&piped.stderr), "pulling"));
}

#[test]
fn a_marker_planted_in_the_wrong_directory_of_a_remote_is_refused_and_named() {
    let remote = TestRemote::new(Place::Folder);
    let (tmp, a, _src) = project();
    let tiny = tmp.path().join("tiny");
    write(&tiny, "t.py", b"tiny = 1\n");
    commit_ok(&a, "code/tiny", &tiny, "r3");
    remote.add(&a);
    remote.ok(&a, &["push"]);
    // Empty markers naming code/tiny's commit record, planted under code/app and renames/ (a
    // marker there would make code/app, or every artifact, incomplete).
    let record = commit_record_of(&a, "r3").to_string();
    let root = PathBuf::from(&remote.url);
    std::fs::write(root.join("refs/code/app").join(&record), b"").unwrap();
    std::fs::create_dir_all(root.join("renames")).unwrap();
    std::fs::write(root.join("renames").join(&record), b"").unwrap();

    let (_b, b) = init_store();
    remote.add(&b);
    let (code, out, err) = remote.run(&b, &["--json", "pull"]);
    assert_eq!(code, 1, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let short = &record[..12];
    assert_eq!(
        report["refused"],
        serde_json::json!([
            {"key": format!("refs/code/app/{record}"),
             "reason": format!("its record {short} does not belong there (commit record of another artifact); not copied")},
            {"key": format!("renames/{record}"),
             "reason": format!("its record {short} does not belong there (marks a commit); not copied")},
        ])
    );
    assert_eq!(
        report["new_here"],
        serde_json::json!([
            {"artifact": "code/app", "versions": ["v0", "v1"]},
            {"artifact": "code/tiny", "versions": ["v0"]},
        ])
    );
    assert_eq!(report["concurrent"], serde_json::json!([]));
    assert!(!b.join("refs/code/app").join(&record).exists());
    assert!(!b.join("renames").join(&record).exists());
    assert_eq!(versions(&remote, &b), versions(&remote, &a));
    assert_fsck_clean(&b, "after refusing planted markers");
}

#[test]
fn a_store_without_the_data_of_its_versions_does_not_push_them() {
    let remote = TestRemote::new(Place::Folder);
    let (_a, a, src) = project();
    remote.add(&a);
    remote.ok(&a, &["push"]);
    // b has the records and markers, and the trees (a listing of the files fetches them), not
    // the files' data.
    let (_b, b) = init_store();
    remote.add(&b);
    remote.ok(&b, &["pull", "--metadata-only"]);
    for v in ["code/app:v0", "code/app:v1"] {
        remote.ok(&b, &["show", v]);
        let tree = json(&b, &["show", v])["id"].as_str().unwrap().to_string();
        let b_store = codever::Store::open(&b).unwrap();
        let tree = codever::ObjectId::from_hex(&tree).unwrap();
        assert!(b_store.read_object(&tree).is_ok(), "{v}'s tree is here");
    }
    let backup = tempfile::tempdir().unwrap();
    let backup_url = backup.path().join("backup");
    run_ok(
        &b,
        &["remote", "add", "backup", backup_url.to_str().unwrap()],
    );
    let (code, out, err) = remote.run(&b, &["--json", "push", "backup"]);
    assert_eq!(code, 1, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let refused: Vec<&str> = report["refused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap())
        .collect();
    let mut expected: Vec<String> = ["r1", "r2"]
        .iter()
        .map(|r| format!("refs/code/app/{}", commit_record_of(&a, r)))
        .collect();
    expected.sort();
    assert_eq!(refused, expected);
    assert!(
        report["refused"][0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("not sent: this store lacks the data of that version (object "),
        "{report}"
    );
    assert_eq!(report["new_there"], serde_json::json!([]));
    // The backup lists no version it cannot serve.
    let fsck = json(&backup_url, &["fsck", "--strict"]);
    assert_eq!(fsck["missing"], serde_json::json!([]), "{fsck}");
    assert_eq!(run_any(&backup_url, &["versions", "code/app"]).0, 2);
    // With the data fetched, the push goes through.
    remote.ok(&b, &["pull"]);
    let pushed = remote.json(&b, &["push", "backup"]);
    assert_eq!(
        pushed["new_there"],
        serde_json::json!([{"artifact": "code/app", "versions": ["v0", "v1"]}])
    );
    assert_eq!(checked_out(&backup_url, "code/app:v1"), read_tree(&src));
    assert_fsck_clean(&backup_url, "after the push of the data");
}

#[test]
fn a_push_after_the_remote_was_wiped_and_recreated_sends_everything_it_lacks() {
    let remote = TestRemote::new(Place::Folder);
    let (tmp, a, src) = project();
    remote.add(&a);
    remote.ok(&a, &["push"]);
    // The remote is lost, then created again by another store's push.
    std::fs::remove_dir_all(&remote.url).unwrap();
    let (_c, c) = init_store();
    let other = tmp.path().join("other");
    write(&other, "o.py", b"other = 1\n");
    commit_ok(&c, "code/other", &other, "r9");
    remote.add(&c);
    remote.ok(&c, &["push"]);
    // A push without --full must not trust what it remembers of the old remote.
    write(&src, "m01.py", b"value = 'again'\n");
    commit_ok(&a, "code/app", &src, "r3");
    let pushed = remote.json(&a, &["push"]);
    assert_eq!(
        pushed["new_there"],
        serde_json::json!([{"artifact": "code/app", "versions": ["v0", "v1", "v2"]}])
    );
    let root = PathBuf::from(&remote.url);
    assert_fsck_clean(&root, "the re-created remote after the push");
    assert_eq!(checked_out(&root, "code/app:v0").len(), 20);
    assert_eq!(checked_out(&root, "code/app:v2"), read_tree(&src));
}

#[test]
fn a_push_never_writes_through_a_link_planted_in_a_folder_remote() {
    let remote = TestRemote::new(Place::Folder);
    let (tmp, a, src) = project();
    remote.add(&a);
    let root = PathBuf::from(&remote.url);
    std::fs::create_dir_all(&root).unwrap();
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    // The folder's owner links the remote's temp directory, then its packs, somewhere else.
    for link in ["local", "packs"] {
        std::os::unix::fs::symlink(&outside, root.join(link)).unwrap();
        let (code, _, err) = remote.run(&a, &["push"]);
        assert_eq!(code, 2, "{err}");
        // `packs` is listed first (and never read through); `local` is only written.
        let said = if link == "packs" {
            format!(
                "{} is a link: a remote's links are never followed",
                root.join(link).display()
            )
        } else {
            format!(
                "`{link}` is a symbolic link or a file where the store has a directory; codever \
                 never writes through a link in a remote"
            )
        };
        assert!(err.contains(&said), "{err}");
        assert_eq!(
            file_names(&outside),
            Vec::<String>::new(),
            "written through {link}"
        );
        std::fs::remove_file(root.join(link)).unwrap();
    }
    // And a fan-out directory of objects/ (a single loose object goes loose).
    let id = commit_record_of(&a, "r2").to_string();
    std::fs::create_dir_all(root.join("objects")).unwrap();
    std::os::unix::fs::symlink(&outside, root.join("objects").join(&id[..2])).unwrap();
    let (code, _, err) = remote.run(&a, &["push"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!("`objects/{}` is a symbolic link", &id[..2])),
        "{err}"
    );
    assert_eq!(file_names(&outside), Vec::<String>::new());
    std::fs::remove_file(root.join("objects").join(&id[..2])).unwrap();
    remote.ok(&a, &["push"]);
    assert_eq!(checked_out(&root, "code/app:v1"), read_tree(&src));
    assert_fsck_clean(&root, "after the links were removed");
}

#[test]
fn giant_files_in_a_folder_remote_are_refused_unread() {
    let remote = TestRemote::new(Place::Folder);
    let (_a, a, src) = project();
    remote.add(&a);
    remote.ok(&a, &["push"]);
    let root = PathBuf::from(&remote.url);
    // A sparse 10 GiB file under a loose object's name, and a real pack grown to 1 GiB.
    let junk = format!("objects/ab/{}", "ab".repeat(31));
    std::fs::create_dir_all(root.join("objects/ab")).unwrap();
    std::fs::File::create(root.join(&junk))
        .unwrap()
        .set_len(10 << 30)
        .unwrap();
    let pack = file_names(&root.join("packs"))
        .into_iter()
        .find(|n| n.ends_with(".pack"))
        .unwrap();
    let pack_path = root.join("packs").join(&pack);
    let pack_len = std::fs::metadata(&pack_path).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&pack_path)
        .unwrap()
        .set_len(1 << 30)
        .unwrap();

    let (_b, b) = init_store();
    remote.add(&b);
    let (out, rss) = max_rss_kib(remote.cmd(&b, &["--json", "pull"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(rss < 64 << 10, "pull used {rss} KiB");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let refused: BTreeMap<&str, &str> = report["refused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["key"].as_str().unwrap(), r["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(
        refused[format!("packs/{pack}").as_str()],
        format!(
            "corrupt or forged: listed at {} bytes where its index places {pack_len} bytes of \
             objects; not downloaded",
            1u64 << 30
        )
    );
    assert_eq!(
        refused[junk.as_str()],
        "corrupt or forged: not a stored object (bad magic); not downloaded further"
    );
    assert_eq!(file_names(&b.join("local/tmp")), Vec::<String>::new());
    // The pack restored, the rest arrives.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&pack_path)
        .unwrap()
        .set_len(pack_len)
        .unwrap();
    std::fs::remove_file(root.join(&junk)).unwrap();
    remote.ok(&b, &["pull"]);
    assert_eq!(checked_out(&b, "code/app:v1"), read_tree(&src));
}

#[test]
fn a_refused_first_version_keeps_the_artifact_incomplete_instead_of_renumbered() {
    let remote = TestRemote::new(Place::Folder);
    let (_a, a, _src) = project();
    remote.add(&a);
    remote.ok(&a, &["push"]);
    // v0's commit record is damaged on the remote.
    let hex = commit_record_of(&a, "r1").to_string();
    let key = format!("objects/{}/{}", &hex[..2], &hex[2..]);
    let mut bytes = std::fs::read(object_path(&a, &hex)).unwrap();
    let at = bytes.len() - 20;
    bytes[at] ^= 0x40;
    remote.overwrite(&key, &bytes);
    let (_b, b) = init_store();
    remote.add(&b);
    let (code, _, err) = remote.run(&b, &["pull"]);
    assert_eq!(code, 1, "{err}");
    // Not a one-version artifact whose v0 is the remote's v1.
    let (code, _, err) = remote.run(&b, &["cat", "code/app:v0", "m00.py"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("version numbers, `latest` and aliases"),
        "{err}"
    );
    let listed = remote.ok(&b, &["versions", "code/app"]);
    assert!(listed.contains("INCOMPLETE"), "{listed}");
    assert!(!listed.contains("v1 "), "{listed}");
}

#[test]
fn a_folder_remote_is_remembered_absolute_and_as_the_store_it_holds() {
    let (tmp, a) = init_store();
    // A project folder holding a store means that store.
    let (project_dir, _c) = init_store();
    run_ok(
        &a,
        &[
            "remote",
            "add",
            "proj",
            project_dir.path().to_str().unwrap(),
        ],
    );
    // A relative path is resolved where `remote add` runs, once.
    let out = codever_cmd(&a, &["remote", "add", "rel", "shared/remote"])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let list = json(&a, &["remote", "list"]);
    assert_eq!(list[0]["name"], "proj");
    assert_eq!(
        list[0]["url"],
        project_dir.path().join(".codever").to_str().unwrap()
    );
    assert_eq!(list[1]["name"], "rel");
    assert_eq!(
        list[1]["url"],
        tmp.path().join("shared/remote").to_str().unwrap()
    );
    // A folder holding other files is not written into.
    let docs = tmp.path().join("docs");
    write(&docs, "notes.txt", b"mine\n");
    assert_eq!(
        run_err(&a, &["remote", "add", "docs", docs.to_str().unwrap()]),
        format!(
            "error: remote docs ({0}): it is not a codever store ({0} holds files and no codever \
             store; a folder remote is an empty or new folder, a store, or a project holding one \
             in `.codever`)\nhint: point the remote at an empty place or at a codever store\n",
            docs.display()
        )
    );
    assert_eq!(json(&a, &["remote", "list"]).as_array().unwrap().len(), 2);
    // Pushing to the project's remote fills its store, not the project folder.
    commit_ok(&a, "code/app", tmp.path().join("docs"), "r1");
    run_ok(&a, &["push", "proj"]);
    assert_eq!(file_names(project_dir.path()), vec![".codever".to_string()]);
    assert_eq!(
        json(
            &project_dir.path().join(".codever"),
            &["versions", "code/app"]
        )
        .as_array()
        .unwrap()
        .len(),
        1
    );
}

#[test]
fn a_lazy_fetch_names_the_remote_when_it_is_gone_or_serves_damaged_bytes() {
    let remote = TestRemote::new(Place::Folder);
    let (_a, a, _src) = project();
    remote.add(&a);
    remote.ok(&a, &["push"]);
    let (_b, b) = init_store();
    remote.add(&b);
    remote.ok(&b, &["pull", "--metadata-only"]);
    let content = b"value = 'changed'\n";
    let id = blob_id(content).to_string();
    // The remote folder is gone (an unmounted share).
    let away = PathBuf::from(format!("{}.away", remote.url));
    std::fs::rename(&remote.url, &away).unwrap();
    let (code, _, err) = remote.run(&b, &["cat", "code/app:v1", "m00.py"]);
    assert_eq!(code, 2);
    // (The version's tree is the first object it needs.)
    let first = err.lines().next().unwrap();
    assert!(
        first.starts_with(&format!(
            "error: remote origin ({}): it is not a codever store (",
            remote.url
        )) && first.ends_with(
            " is not there to fetch from: no store (no `format` file); is it mounted, is the URL \
             right?)"
        ),
        "{err}"
    );
    std::fs::rename(&away, &remote.url).unwrap();
    // The remote serves a damaged copy (loose files are tried first).
    let mut stored = codever::object::encode_envelope(codever::object::Kind::Blob, content);
    let last = stored.len() - 1;
    stored[last] ^= 0xff;
    std::fs::create_dir_all(PathBuf::from(&remote.url).join("objects").join(&id[..2])).unwrap();
    remote.overwrite(&format!("objects/{}/{}", &id[..2], &id[2..]), &stored);
    let (code, _, err) = remote.run(&b, &["cat", "code/app:v1", "m00.py"]);
    assert_eq!(code, 2);
    // (After the note of the tree it fetched.)
    let lines: Vec<&str> = err
        .lines()
        .skip_while(|l| l.starts_with("note: "))
        .collect();
    assert!(
        lines[0].starts_with(&format!(
            "error: remote origin ({}): its copy is damaged (its copy of {} is corrupt or forged: ",
            remote.url,
            &id[..12]
        )),
        "{err}"
    );
    assert_eq!(
        lines[1],
        "hint: this store is intact: repair the remote (`codever --store REMOTE fsck`, then push \
         to it from a sound copy) or set another default remote"
    );
    let (_, fsck) = run_any_json(&b, &["fsck"]);
    assert_eq!(fsck["corrupt"], serde_json::json!([]));
}

#[test]
fn a_pull_raises_the_format_to_what_the_records_it_receives_need() {
    let remote = TestRemote::new(Place::Folder);
    let (_a, a, _src) = project();
    run_ok(&a, &["forget", "code/app:v0"]);
    remote.add(&a);
    remote.ok(&a, &["push"]);
    // The remote's format file says less than its records need (a copy made by hand).
    let format = PathBuf::from(&remote.url).join("format");
    std::fs::remove_file(&format).unwrap();
    std::fs::write(&format, "codever-store-format 2\n").unwrap();
    let (_b, b) = init_store();
    remote.add(&b);
    remote.ok(&b, &["pull"]);
    assert_eq!(
        std::fs::read_to_string(b.join("format")).unwrap(),
        std::fs::read_to_string(a.join("format")).unwrap()
    );
    assert_eq!(
        std::fs::read_to_string(b.join("format")).unwrap(),
        "codever-store-format 3\n"
    );
    assert_eq!(versions(&remote, &b), versions(&remote, &a));
}

#[test]
fn a_key_s3_cannot_list_is_named_with_what_to_do() {
    let remote = TestRemote::new(Place::S3);
    let (_a, a, _src) = project();
    remote.add(&a);
    remote.ok(&a, &["push"]);
    remote.overwrite("refs/code/../x/junk", b"");
    let (_b, b) = init_store();
    remote.add(&b);
    let (code, _, err) = remote.run(&b, &["pull"]);
    assert_eq!(code, 2);
    let prefix = remote.url.rsplit_once('/').unwrap().1;
    assert_eq!(
        err,
        format!(
            "error: remote origin ({}): it holds a key that cannot be listed (\"{prefix}/refs/code/../x/junk\": \
             a `..`, `.` or empty segment, or a control character)\nhint: that key is no file of \
             codever's: delete it (e.g. `aws s3 rm` with its full key), then run the command again\n",
            remote.url
        )
    );
    remote.remove("refs/code/../x/junk");
    remote.ok(&b, &["pull"]);
    assert_eq!(versions(&remote, &b), versions(&remote, &a));
}

/// A pack and its index as a pusher would write them, from objects' stored bytes, with `gap`
/// bytes of filler between objects (0: a sound pack). Returns (pack id hex, pack, index).
fn forge_pack(objects: &[(codever::ObjectId, Vec<u8>)], gap: usize) -> (String, Vec<u8>, Vec<u8>) {
    forge_pack_with_magic(objects, gap, b"CDVP")
}

/// [`forge_pack`] with the pack's first four bytes `magic`.
fn forge_pack_with_magic(
    objects: &[(codever::ObjectId, Vec<u8>)],
    gap: usize,
    magic: &[u8; 4],
) -> (String, Vec<u8>, Vec<u8>) {
    let mut pack = magic.to_vec();
    pack.push(1);
    let mut entries = Vec::new();
    for (n, (id, bytes)) in objects.iter().enumerate() {
        if n > 0 {
            pack.extend(std::iter::repeat_n(b'#', gap));
        }
        pack.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        entries.push((*id, pack.len() as u64, bytes.len() as u32));
        pack.extend_from_slice(bytes);
    }
    let id = blake3::hash(&pack);
    entries.sort_by_key(|e| e.0);
    let mut idx = b"CDVX\x01".to_vec();
    idx.extend_from_slice(id.as_bytes());
    idx.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    for (oid, offset, len) in entries {
        idx.extend_from_slice(oid.as_bytes());
        idx.extend_from_slice(&offset.to_le_bytes());
        idx.extend_from_slice(&len.to_le_bytes());
    }
    let sum = blake3::hash(&idx);
    idx.extend_from_slice(sum.as_bytes());
    (id.to_hex().to_string(), pack, idx)
}

/// A remote pack whose index does not account for every byte of it (filler between its
/// objects), or whose one entry claims gigabytes, is refused as a whole before any object of it
/// is read whole: nothing of it is kept, and memory stays small.
#[test]
fn a_pack_its_index_does_not_tile_is_refused_unread() {
    use codever::object::{Kind, encode_envelope};
    let remote = TestRemote::new(Place::Folder);
    let (_a, a, _src) = project();
    remote.add(&a);
    remote.ok(&a, &["push"]);
    let root = PathBuf::from(&remote.url);
    let blob = |s: &str| {
        (
            blob_id(s.as_bytes()),
            encode_envelope(Kind::Blob, s.as_bytes()),
        )
    };
    let objects = [blob("filler = 1\n"), blob("filler = 2\n")];
    // The sound pack of the same objects is taken; the one with filler between them is not.
    let (good, pack, idx) = forge_pack(&objects, 0);
    let (bad, padded, padded_idx) = forge_pack(&objects, 1 << 20);
    for (name, p, i) in [(&good, &pack, &idx), (&bad, &padded, &padded_idx)] {
        std::fs::write(root.join(format!("packs/{name}.pack")), p).unwrap();
        std::fs::write(root.join(format!("packs/{name}.idx")), i).unwrap();
    }
    let (_b, b) = init_store();
    remote.add(&b);
    let (code, out, err) = remote.run(&b, &["--json", "pull"]);
    assert_eq!(code, 1, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let refused = report["refused"].as_array().unwrap();
    assert_eq!(refused.len(), 1, "{report}");
    assert_eq!(refused[0]["key"], format!("packs/{bad}.pack"), "{report}");
    assert!(
        refused[0]["reason"]
            .as_str()
            .unwrap()
            .contains("its index does not account for its bytes exactly"),
        "{report}"
    );
    assert!(b.join(format!("packs/{good}.pack")).is_file());
    assert!(!b.join(format!("packs/{bad}.pack")).exists());
    assert_eq!(file_names(&b.join("local/tmp")), Vec::<String>::new());
    assert_fsck_clean(&b, "after refusing a padded pack");
}

/// A remote pack whose deltas are bases of each other (each claims a shallower copy than the
/// pack holds: a forged cycle) can never be completed by a later transfer: refused and named,
/// exit 1, never "not yet synced"; the rest of the pack is taken.
#[test]
fn a_pack_whose_deltas_form_a_cycle_is_refused_not_left_waiting() {
    use codever::object::{Kind, encode_delta, encode_envelope};
    let remote = TestRemote::new(Place::Folder);
    let (_a, a, _src) = project();
    remote.add(&a);
    remote.ok(&a, &["push"]);
    let root = PathBuf::from(&remote.url);
    let (x, y, z) = (
        "x = 1\n".repeat(50),
        "y = 2\n".repeat(50),
        "z = 3\n".repeat(50),
    );
    let (xid, yid, zid) = (
        blob_id(x.as_bytes()),
        blob_id(y.as_bytes()),
        blob_id(z.as_bytes()),
    );
    let objects = [
        (
            xid,
            encode_delta(Kind::Blob, x.as_bytes(), yid, y.as_bytes(), 1),
        ),
        (
            yid,
            encode_delta(Kind::Blob, y.as_bytes(), xid, x.as_bytes(), 1),
        ),
        (zid, encode_envelope(Kind::Blob, z.as_bytes())),
    ];
    let (name, pack, idx) = forge_pack(&objects, 0);
    std::fs::write(root.join(format!("packs/{name}.pack")), pack).unwrap();
    std::fs::write(root.join(format!("packs/{name}.idx")), idx).unwrap();
    let (_b, b) = init_store();
    remote.add(&b);
    let (code, out, err) = remote.run(&b, &["--json", "pull"]);
    assert_eq!(code, 1, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["waiting"], serde_json::json!([]), "{report}");
    let refused = refusals(&report);
    let mut want = vec![
        (
            format!("packs/{name}.pack (object {xid})"),
            format!(
                "a delta on {}, whose copy in the same pack is as deep or deeper: it can never be read",
                yid.short()
            ),
        ),
        (
            format!("packs/{name}.pack (object {yid})"),
            format!(
                "a delta on {}, whose copy in the same pack is as deep or deeper: it can never be read",
                xid.short()
            ),
        ),
    ];
    want.sort();
    assert_eq!(refused, want);
    // The sound object of the pack is taken, and the store stays clean.
    let store = codever::Store::open(&b).unwrap();
    assert_eq!(
        store.read_object(&zid).unwrap(),
        (Kind::Blob, z.into_bytes())
    );
    assert!(!store.has_object(&xid) && !store.has_object(&yid));
    assert_fsck_clean(&b, "after refusing a pack with a delta cycle");
}

/// Two remote packs whose deltas are based on each other (X in one on Y, Y in the other on X)
/// can never be read, whatever arrives later: refused and named, not "not yet synced" for ever.
/// A pack that waits for a pack that waits for an object no pack holds is still waiting: that
/// object may yet arrive.
#[test]
fn packs_whose_deltas_wait_on_each_other_are_refused_and_a_chain_to_the_absent_waits() {
    use codever::object::{Kind, encode_delta, encode_envelope};
    let remote = TestRemote::new(Place::Folder);
    let (_a, a, _src) = project();
    remote.add(&a);
    remote.ok(&a, &["push"]);
    let root = PathBuf::from(&remote.url);
    let body = |c: &str| format!("{c} = 1\n").repeat(50);
    let [x, y, p, q, u, v, w] = ["x", "y", "p", "q", "u", "v", "w"].map(body);
    let id = |t: &String| blob_id(t.as_bytes());
    let delta = |t: &String, base: &String| {
        encode_delta(Kind::Blob, t.as_bytes(), id(base), base.as_bytes(), 1)
    };
    let plain = |t: &String| encode_envelope(Kind::Blob, t.as_bytes());
    let mut names = Vec::new();
    for objects in [
        vec![(id(&x), delta(&x, &y)), (id(&p), plain(&p))],
        vec![(id(&y), delta(&y, &x)), (id(&q), plain(&q))],
        // u on v, v on w; w is in no pack.
        vec![(id(&u), delta(&u, &v))],
        vec![(id(&v), delta(&v, &w))],
    ] {
        let (name, pack, idx) = forge_pack(&objects, 0);
        std::fs::write(root.join(format!("packs/{name}.pack")), pack).unwrap();
        std::fs::write(root.join(format!("packs/{name}.idx")), idx).unwrap();
        names.push(name);
    }
    let (_b, b) = init_store();
    remote.add(&b);
    let (code, out, err) = remote.run(&b, &["--json", "pull"]);
    assert_eq!(code, 1, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let never = |pack: &str, obj: &String, base: &String| {
        (
            format!("packs/{pack}.pack (object {})", id(obj)),
            format!(
                "a delta on {}, whose copy on the remote is in a pack that waits, in turn, for \
                 this one (a cycle of packs): it can never be read",
                id(base).short()
            ),
        )
    };
    let mut want = vec![never(&names[0], &x, &y), never(&names[1], &y, &x)];
    want.sort();
    assert_eq!(refusals(&report), want, "{report}");
    let waiting: Vec<String> = listed(&report, "waiting")
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    let mut want_waiting = vec![
        format!("packs/{}.pack", names[2]),
        format!("packs/{}.pack", names[3]),
    ];
    want_waiting.sort();
    assert_eq!(waiting, want_waiting, "{report}");
    // The sound objects of the two refused packs are taken; the store stays clean.
    let store = codever::Store::open(&b).unwrap();
    for t in [&p, &q] {
        assert_eq!(
            store.read_object(&id(t)).unwrap(),
            (Kind::Blob, t.clone().into_bytes())
        );
    }
    for t in [&x, &y, &u, &v] {
        assert!(!store.has_object(&id(t)));
    }
    assert_fsck_clean(&b, "after refusing a cycle of packs");
}

/// A remote pack that does not start as a pack (bad magic), though it hashes to its name and its
/// index tiles it, is refused after its first bytes and nothing of it is kept.
#[test]
fn a_remote_pack_with_a_bad_magic_is_refused() {
    use codever::object::{Kind, encode_envelope};
    let remote = TestRemote::new(Place::Folder);
    let (_a, a, _src) = project();
    remote.add(&a);
    remote.ok(&a, &["push"]);
    let root = PathBuf::from(&remote.url);
    let body = "magic = 1\n";
    let (id, bytes) = (
        blob_id(body.as_bytes()),
        encode_envelope(Kind::Blob, body.as_bytes()),
    );
    let (name, pack, idx) = forge_pack_with_magic(&[(id, bytes)], 0, b"NOPE");
    std::fs::write(root.join(format!("packs/{name}.pack")), &pack).unwrap();
    std::fs::write(root.join(format!("packs/{name}.idx")), &idx).unwrap();
    let (_b, b) = init_store();
    remote.add(&b);
    let (code, out, err) = remote.run(&b, &["--json", "pull"]);
    assert_eq!(code, 1, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        report["refused"],
        serde_json::json!([{"key": format!("packs/{name}.pack"), "reason": "corrupt or forged: not a pack (bad magic); not downloaded further"}]),
        "{report}"
    );
    assert!(!b.join(format!("packs/{name}.pack")).exists());
    assert!(!codever::Store::open(&b).unwrap().has_object(&id));
}

/// A remote pack whose one entry is 256 MB of zeros (a sparse file: no disk) is refused by the
/// first bytes of that entry, never read into memory whole.
#[test]
fn a_huge_entry_of_a_remote_pack_is_refused_by_its_header_in_bounded_memory() {
    use std::io::Write;
    let remote = TestRemote::new(Place::Folder);
    let (_a, a, _src) = project();
    remote.add(&a);
    remote.ok(&a, &["push"]);
    let root = PathBuf::from(&remote.url);
    let len: u32 = 256 << 20;
    let tmp = root.join("packs/forging");
    {
        let mut f = std::fs::File::create(&tmp).unwrap();
        f.write_all(b"CDVP\x01").unwrap();
        f.write_all(&len.to_le_bytes()).unwrap();
        f.set_len(9 + u64::from(len)).unwrap();
    }
    let mut h = blake3::Hasher::new();
    h.update_reader(std::fs::File::open(&tmp).unwrap()).unwrap();
    let id = h.finalize();
    let claimed = blob_id(b"anything\n");
    let mut idx = b"CDVX\x01".to_vec();
    idx.extend_from_slice(id.as_bytes());
    idx.extend_from_slice(&1u32.to_le_bytes());
    idx.extend_from_slice(claimed.as_bytes());
    idx.extend_from_slice(&9u64.to_le_bytes());
    idx.extend_from_slice(&len.to_le_bytes());
    let sum = blake3::hash(&idx);
    idx.extend_from_slice(sum.as_bytes());
    std::fs::rename(&tmp, root.join(format!("packs/{}.pack", id.to_hex()))).unwrap();
    std::fs::write(root.join(format!("packs/{}.idx", id.to_hex())), &idx).unwrap();
    let (_b, b) = init_store();
    remote.add(&b);
    let (out, rss) = max_rss_kib(remote.cmd(&b, &["--json", "pull"]));
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(rss < 64 << 10, "the pull used {rss} KiB");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["refused"][0]["key"],
        format!("packs/{}.pack (object {})", id.to_hex(), claimed),
        "{report}"
    );
    assert_eq!(file_names(&b.join("local/tmp")), Vec::<String>::new());
    assert_fsck_clean(&b, "after refusing a huge entry");
}

/// Packs that need one another's objects, pulled in whatever order the listing gives: 150 packs
/// in a chain of deltas (each commit changes the same 16 files), pulled with at most 100 open
/// files (a store keeps at most 64 pack files open). Every pack waiting for another is filed under the object it waits for with its file
/// closed, and installed as soon as that object arrives.
#[test]
fn a_long_chain_of_packs_is_pulled_with_few_open_files() {
    let remote = TestRemote::new(Place::Folder);
    let (tmp, a) = init_store();
    let src = tmp.path().join("w");
    std::fs::create_dir_all(&src).unwrap();
    for c in 0..150 {
        for f in 0..16 {
            let body: String = (0..40)
                .map(|l| format!("line_{l} = {}\n", if l == c % 40 { c } else { f }))
                .collect();
            std::fs::write(src.join(format!("f{f:02}.py")), body).unwrap();
        }
        commit_ok(&a, "code/chain", &src, &format!("r{c}"));
    }
    assert!(pack_files(&a).len() >= 140, "{}", pack_files(&a).len());
    remote.add(&a);
    remote.ok(&a, &["push"]);
    let (_b, b) = init_store();
    remote.add(&b);
    let bin = assert_cmd::cargo::cargo_bin!("codever");
    let out = Command::new("sh")
        .args([
            "-c",
            "ulimit -n 100 && exec \"$0\" --store \"$1\" --json pull",
        ])
        .arg(bin)
        .arg(&b)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["waiting"], serde_json::json!([]), "{report}");
    assert_eq!(report["refused"], serde_json::json!([]), "{report}");
    assert_eq!(checked_out(&b, "code/chain:v149"), read_tree(&src));
    assert_fsck_clean(&b, "after pulling a chain of packs");
}

/// A pack file left here without its index (a copy cut short) is never made visible by a pull
/// that brings the sound pack of that name: the pull names it and writes no index for it.
#[test]
fn a_damaged_local_copy_of_a_pulled_pack_is_named_not_indexed() {
    let remote = TestRemote::new(Place::Folder);
    let (_a, a, src) = project();
    remote.add(&a);
    remote.ok(&a, &["push"]);
    let pack = pack_files(&a).remove(0);
    let name = pack.file_name().unwrap().to_owned();
    let (_b, b) = init_store();
    remote.add(&b);
    std::fs::create_dir_all(b.join("packs")).unwrap();
    let bytes = std::fs::read(&pack).unwrap();
    std::fs::write(b.join("packs").join(&name), &bytes[..bytes.len() / 2]).unwrap();
    let (code, out, err) = remote.run(&b, &["--json", "pull"]);
    assert_eq!(code, 1, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let reason = report["refused"][0]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("a damaged copy of it is in the way here ("),
        "{report}"
    );
    assert!(
        reason.ends_with("remove that file, then pull again"),
        "{report}"
    );
    assert!(!b.join("packs").join(&name).with_extension("idx").exists());
    // As it says: removed, the next pull takes the pack.
    std::fs::remove_file(b.join("packs").join(&name)).unwrap();
    remote.ok(&b, &["pull"]);
    assert_eq!(checked_out(&b, "code/app:v1"), read_tree(&src));
    assert_fsck_clean(&b, "after the pull that followed");
}

/// A pack damaged here is not pushed (puts are create-only: a damaged copy on the remote could
/// never be replaced by a sound one), nor its index; the push names it and fails.
#[test]
fn a_pack_damaged_here_is_not_pushed() {
    let remote = TestRemote::new(Place::Folder);
    let (_a, a, _src) = project();
    remote.add(&a);
    let pack = pack_files(&a).remove(0);
    rewrite(&pack, |b| {
        let mid = b.len() / 2;
        b[mid] ^= 1;
    });
    let (code, out, err) = remote.run(&a, &["--json", "push"]);
    assert_eq!(code, 1, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let key = format!("packs/{}", pack.file_name().unwrap().to_str().unwrap());
    assert_eq!(report["refused"][0]["key"], key, "{report}");
    assert!(
        report["refused"][0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("damaged here (its bytes do not hash to its name): not sent"),
        "{report}"
    );
    let there = PathBuf::from(&remote.url).join(&key);
    assert!(!there.exists());
    assert!(!there.with_extension("idx").exists());
}

/// Ctrl-C during a pull: the pull stops at its next piece of data, removes its temp file and
/// says it was interrupted (exit 130); what it installed stays, nothing half-received is
/// visible, and running it again completes. (Through the S3 server, slow enough that the
/// signal arrives while the 96 MiB pack is on its way.)
#[test]
fn an_interrupted_pull_removes_its_temp_file_and_can_be_run_again() {
    let remote = TestRemote::new(Place::S3);
    let (tmp, a) = init_store();
    let src = tmp.path().join("data");
    std::fs::create_dir_all(&src).unwrap();
    for i in 0..24u64 {
        let seed = (i + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        std::fs::write(src.join(format!("shard{i:02}.bin")), noise(4 << 20, seed)).unwrap();
    }
    commit_ok(&a, "data/shards", &src, "r1");
    remote.add(&a);
    remote.ok(&a, &["push"]);
    let (_b, b) = init_store();
    remote.add(&b);
    let mut cmd = remote.cmd(&b, &["--json", "pull"]);
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let incoming = b.join("local/tmp");
    let started = std::time::Instant::now();
    let mut child = child;
    loop {
        let receiving = std::fs::read_dir(&incoming).is_ok_and(|d| {
            d.flatten()
                .any(|e| e.metadata().is_ok_and(|m| m.len() > (1 << 20)))
        });
        if receiving {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the pull ended before it was interrupted"
        );
        assert!(started.elapsed().as_secs() < 120, "no temp file appeared");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(err["kind"], "interrupted", "{err}");
    assert_eq!(file_names(&incoming), Vec::<String>::new());
    assert!(pack_files(&b).is_empty());
    remote.ok(&b, &["pull"]);
    assert_eq!(checked_out(&b, "data/shards"), read_tree(&src));
    assert_fsck_clean(&b, "after an interrupted pull and another");
}

/// An index on the remote whose pack is not there (a copy of the remote under way, or a pack
/// that is not a regular file) is named as waiting, not skipped in silence; the pull takes the
/// rest, and a later pull takes the pack once it is there.
#[test]
fn an_index_whose_pack_is_not_on_the_remote_is_named_as_waiting() {
    let remote = TestRemote::new(Place::Folder);
    let (_a, a, src) = project();
    remote.add(&a);
    remote.ok(&a, &["push"]);
    let pack = pack_files(&a).remove(0);
    let name = pack.file_name().unwrap().to_str().unwrap().to_string();
    let there = PathBuf::from(&remote.url).join("packs").join(&name);
    let kept = std::fs::read(&there).unwrap();
    std::fs::remove_file(&there).unwrap();
    let (_b, b) = init_store();
    remote.add(&b);
    let (code, out, err) = remote.run(&b, &["--json", "pull"]);
    assert_eq!(code, 0, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let idx = format!("packs/{}", name.replace(".pack", ".idx"));
    // The index is named, and so is the one loose object that is a delta on a blob of it.
    assert_eq!(
        report["waiting"][0],
        serde_json::json!({
            "key": idx,
            "reason": format!("not yet synced: its pack packs/{name} is not on the remote (not arrived yet, or not a regular file there)")
        }),
        "{report}"
    );
    // And each version whose data that makes incomplete here: listed, not yet checkable out.
    let waiting = report["waiting"].as_array().unwrap();
    let versions: Vec<&str> = waiting[2..]
        .iter()
        .map(|w| w["key"].as_str().unwrap())
        .collect();
    let mut want: Vec<String> = ["r1", "r2"]
        .iter()
        .map(|r| format!("refs/code/app/{}", commit_record_of(&a, r)))
        .collect();
    want.sort();
    assert_eq!(
        (waiting.len(), versions),
        (4, want.iter().map(String::as_str).collect()),
        "{report}"
    );
    for w in &waiting[2..] {
        assert!(
            w["reason"]
                .as_str()
                .unwrap()
                .starts_with("its data is not on the remote (object "),
            "{w}"
        );
    }
    assert_eq!(report["refused"], serde_json::json!([]), "{report}");
    let listed = json(&b, &["versions", "code/app"]);
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
    std::fs::write(&there, kept).unwrap();
    remote.ok(&b, &["pull"]);
    assert_eq!(checked_out(&b, "code/app:v1"), read_tree(&src));
}

/// A pull from a store directory used as a folder remote (its objects loose, as a commit left
/// them; one of 2 MiB, read whole rather than streamed) reads each of its files once: the
/// objects and the `format` file, nothing fetched twice.
#[test]
fn a_pull_from_another_stores_directory_reads_each_file_once() {
    let (tmp, a) = init_store();
    let src = tmp.path().join("src");
    let mut big = vec![0u8; 2 << 20];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for b in big.iter_mut() {
        // Bytes that do not compress, so the stored object is over 1 MiB too.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    write(&src, "big.bin", &big);
    write(&src, "m.py", b"x = 1\n");
    commit_ok(&a, "code/app", &src, "r1");
    let loose = read_tree(&a.join("objects")).len();
    assert!(loose >= 4, "{loose}");
    let (_b, b) = init_store();
    run_ok(&b, &["remote", "add", "origin", a.to_str().unwrap()]);
    let pulled = json(&b, &["pull"]);
    assert_eq!(pulled["requests"]["get"], loose as u64 + 1, "{pulled}");
    assert_eq!(pulled["requests"]["put"], 0);
    assert_eq!(checked_out(&b, "code/app:v0"), read_tree(&src));
    // Again: nothing is fetched twice — only `format` is read.
    let again = json(&b, &["pull"]);
    assert_eq!(
        (&again["requests"]["get"], &again["received"]["files"]),
        (&serde_json::json!(1), &serde_json::json!(0)),
        "{again}"
    );
}

/// The refusals of a damaged folder remote, as `pull --json` reports them: (key, reason), sorted.
fn refusals(report: &serde_json::Value) -> Vec<(String, String)> {
    listed(report, "refused")
}

/// A transfer report's `refused` or `waiting` list: (key, reason), sorted.
fn listed(report: &serde_json::Value, what: &str) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = report[what]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["key"].as_str().unwrap().into(),
                r["reason"].as_str().unwrap().into(),
            )
        })
        .collect();
    v.sort();
    v
}

/// A folder remote damaged where markers are: a directory planted where a marker goes is named
/// and still counts as that marker (its name is all a marker holds), so the numbers match the
/// store that made the versions; a record gone from the remote is named at every marker of it,
/// which are not copied (a bare marker must not hold numbers back), and a later pull that brings
/// it numbers as the maker did; a record the remote holds damaged keeps the artifact waiting,
/// which is not reported as a renumbering.
#[test]
fn a_planted_marker_counts_and_a_lost_or_damaged_record_is_named() {
    let remote = TestRemote::new(Place::Folder);
    let (_a, a, src) = project();
    remote.add(&a);
    remote.ok(&a, &["push"]);
    let root = PathBuf::from(&remote.url);
    let v0 = commit_record_of(&a, "r1").to_hex();
    let copy = |name: &str| {
        let to = root.with_file_name(name);
        let out = Command::new("cp")
            .arg("-a")
            .arg(&root)
            .arg(&to)
            .output()
            .unwrap();
        assert!(out.status.success());
        to
    };
    let pull_from = |url: &Path| {
        let (_t, s) = init_store();
        run_ok(&s, &["remote", "add", "origin", url.to_str().unwrap()]);
        let (code, out, err) = run_any(&s, &["--json", "pull"]);
        let report: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
        (_t, s, code, report, err)
    };
    // A directory where v0's marker goes: named, and taken as the marker its name is.
    let planted = copy("planted");
    let marker = planted.join("refs/code/app").join(&v0);
    std::fs::remove_file(&marker).unwrap();
    std::fs::create_dir(&marker).unwrap();
    let (_t, b, code, report, err) = pull_from(&planted);
    assert_eq!(code, 1, "{err}");
    assert_eq!(
        refusals(&report),
        [(
            format!("refs/code/app/{v0}"),
            "not a regular file (a link, or a directory or FIFO where a marker goes): never \
             read, taken as the marker its name is; the remote needs repair"
                .to_string()
        )]
    );
    assert_eq!(versions(&remote, &b), versions(&remote, &a));
    assert_eq!(checked_out(&b, "code/app:v1"), read_tree(&src));
    // v0's record gone from the remote: every marker of it named, none copied (a bare marker,
    // which anyone can plant, must not hold numbers back); the store numbers what it has.
    let gone = copy("gone");
    std::fs::remove_file(gone.join("objects").join(&v0[..2]).join(&v0[2..])).unwrap();
    let (_t, c, code, report, err) = pull_from(&gone);
    assert_eq!(code, 1, "{err}");
    let why = format!(
        "its record {} is not on the remote (its copy there is incomplete): not copied; this \
         store numbers the artifact without it",
        &v0[..12]
    );
    assert_eq!(
        refusals(&report),
        [
            (format!("refs/code/app/{v0}"), why.clone()),
            (format!("runs/r1/{v0}"), why)
        ]
    );
    assert_eq!(versions(&remote, &c).as_array().unwrap().len(), 1);
    // Once the record is back, the pull completes the store, numbered as where it was made.
    std::fs::copy(
        root.join("objects").join(&v0[..2]).join(&v0[2..]),
        gone.join("objects").join(&v0[..2]).join(&v0[2..]),
    )
    .unwrap();
    run_ok(&c, &["pull"]);
    assert_eq!(versions(&remote, &c), versions(&remote, &a));
    assert_fsck_clean(&c, "after the record came back");
    // A store that had the versions numbered: a new version whose record the remote holds
    // damaged makes the artifact wait for it (numbers withheld), not reported as a renumbering.
    write(&src, "m01.py", b"value = 'third'\n");
    commit_ok(&a, "code/app", &src, "r3");
    remote.ok(&a, &["push"]);
    let v2 = commit_record_of(&a, "r3").to_hex();
    let record = root.join("objects").join(&v2[..2]).join(&v2[2..]);
    std::fs::remove_file(&record).unwrap();
    std::fs::write(&record, b"garbage").unwrap();
    run_ok(&c, &["remote", "add", "first", root.to_str().unwrap()]);
    let (code, out, err) = run_any(&c, &["--json", "pull", "first"]);
    assert_eq!(code, 1, "{err}");
    let (code, _, err) = run_any(&c, &["show", "code/app:v1"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("version numbers"), "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["concurrent"], serde_json::json!([]), "{report}");
    assert_eq!(refusals(&report).len(), 1, "{report}");
    // Such a store passes no gapped history on: the marker it holds without its record is named.
    let onward = root.with_file_name("onward");
    run_ok(&c, &["remote", "add", "onward", onward.to_str().unwrap()]);
    let (code, out, err) = run_any(&c, &["--json", "push", "onward"]);
    assert_eq!(code, 1, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let why = format!(
        "not sent: this store lacks its record {} (not yet synced here); pull it from where it \
         is, then push again",
        &v2[..12]
    );
    assert_eq!(
        refusals(&report),
        [
            (format!("refs/code/app/{v2}"), why.clone()),
            (format!("runs/r3/{v2}"), why)
        ],
        "{report}"
    );
}

/// A folder remote whose `packs` is a link elsewhere is not read through; a pull from a folder
/// that does not exist is an error, not an empty remote; a first push makes the remote's folder
/// but not the folders above it; a remote added before `codever init` made a store there
/// means that store.
#[test]
fn a_folder_remote_is_never_read_through_a_link_and_must_exist_to_pull_from() {
    let remote = TestRemote::new(Place::Folder);
    let (tmp, a, src) = project();
    remote.add(&a);
    remote.ok(&a, &["push"]);
    let root = PathBuf::from(&remote.url);
    let outside = tmp.path().join("outside-packs");
    std::fs::rename(root.join("packs"), &outside).unwrap();
    std::os::unix::fs::symlink(&outside, root.join("packs")).unwrap();
    let (_b, b) = init_store();
    remote.add(&b);
    let (code, _, err) = remote.run(&b, &["pull"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!(
            "{} is a link: a remote's links are never followed",
            root.join("packs").display()
        )),
        "{err}"
    );
    assert_eq!(run_any(&b, &["versions", "code/app"]).0, 2, "nothing taken");
    // A file where a folder goes hides what goes in it: an error, not an empty remote.
    std::fs::remove_file(root.join("packs")).unwrap();
    std::fs::rename(&outside, root.join("packs")).unwrap();
    let refs = root.join("refs");
    std::fs::rename(&refs, tmp.path().join("refs-aside")).unwrap();
    std::fs::write(&refs, b"hi\n").unwrap();
    let (code, _, err) = remote.run(&b, &["pull"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("not a folder (a file where the store has a folder)"),
        "{err}"
    );
    std::fs::remove_file(&refs).unwrap();
    std::fs::rename(tmp.path().join("refs-aside"), &refs).unwrap();
    // Not there at all.
    let missing = tmp.path().join("no-such-share");
    run_ok(&b, &["remote", "add", "gone", missing.to_str().unwrap()]);
    let (code, _, err) = run_any(&b, &["pull", "gone"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!(
            "{} does not exist: is it mounted, is the path right?",
            missing.display()
        )),
        "{err}"
    );
    let deep = tmp.path().join("no-such-mount/remote");
    run_ok(&a, &["remote", "add", "deep", deep.to_str().unwrap()]);
    let (code, _, err) = run_any(&a, &["push", "deep"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("nor the folder it would be made in exists"),
        "{err}"
    );
    assert!(!tmp.path().join("no-such-mount").exists());
    // Added while absent; then made a project with a store: pushes go into that store.
    let late = tmp.path().join("late");
    run_ok(&a, &["remote", "add", "late", late.to_str().unwrap()]);
    let init = codever_process().arg("init").arg(&late).output().unwrap();
    assert!(init.status.success(), "{init:?}");
    run_ok(&a, &["push", "late"]);
    let store = late.join(".codever");
    assert_eq!(checked_out(&store, "code/app:v1"), read_tree(&src));
    assert_eq!(file_names(&late), [".codever"]);
}

/// A password in an endpoint's URL is never printed: not by `remote list` (text or JSON), not in
/// the error of a transfer that cannot reach it.
#[test]
fn a_password_in_an_endpoint_url_is_never_printed() {
    let (_a, a, _src) = project();
    let endpoint = "http://user:TOPSECRETPW@127.0.0.1:1";
    run_ok(
        &a,
        &[
            "remote",
            "add",
            "ui",
            "s3://bkt/p",
            "--endpoint-url",
            endpoint,
        ],
    );
    let text = run_ok(&a, &["remote", "list"]);
    assert_eq!(
        text,
        "* ui\ts3://bkt/p  (endpoint http://user:***@127.0.0.1:1)\n"
    );
    let list = json(&a, &["remote", "list"]);
    assert_eq!(list[0]["endpoint_url"], "http://user:***@127.0.0.1:1");
    let out = codever_cmd(&a, &["push"])
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "not-a-real-secret")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    // Nothing listens there: one clear line, exit 2, and the password nowhere.
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(
        err.lines().next(),
        Some("error: remote ui (s3://bkt/p): cannot reach the endpoint"),
        "{err}"
    );
    assert!(
        !format!("{}{err}", String::from_utf8_lossy(&out.stdout)).contains("TOPSECRETPW"),
        "{err}"
    );
    // A malformed endpoint is refused where it is given, without echoing its password…
    let (code, _, err) = run_any(
        &a,
        &[
            "remote",
            "add",
            "z3",
            "s3://bkt/p",
            "--endpoint-url",
            "user:TOPSECRETPW@host:9000",
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.starts_with("error: invalid remote URL \"user:***@host:9000\": as --endpoint-url: it must start with http:// or https://"),
        "{err}"
    );
    // …and from the environment, where a push says so instead of crashing.
    run_ok(&a, &["remote", "add", "plain", "s3://bkt/q"]);
    let out = codever_cmd(&a, &["--json", "push", "plain"])
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "not-a-real-secret")
        .env("AWS_ENDPOINT_URL", "localhost:9000")
        .env_remove("AWS_ENDPOINT_URL_S3")
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(
        (out.status.code(), report["kind"].as_str()),
        (Some(2), Some("invalid_remote_url")),
        "{report}"
    );
}
