//! Two machines commit independently; their stores are merged by copying missing files (as
//! rsync --ignore-existing or `cp -rn` would). Nothing may be lost and both sides must agree.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::{
    assert_fsck_clean, blob_id, code_files, codever_cmd, commit_json, copy_all, copy_missing,
    file_names, init_at, json, object_path, on_threads, pack_files, read_tree, run_all_within,
    run_any, run_err, run_ok, sorted, write, write_files,
};

#[test]
fn forks_merged_both_ways_lose_nothing_and_agree() {
    let tmp = tempfile::tempdir().unwrap();
    let base_store = init_at(&tmp.path().join("base"));
    let src = tmp.path().join("src");
    write(&src, "train.py", b"lr = 1\n");
    assert_eq!(
        commit_json(&base_store, "code/train", &src, "r0")["version"],
        0
    );

    // Copy the store to two machines.
    let m1 = tmp.path().join("machine1");
    let m2 = tmp.path().join("machine2");
    for m in [&m1, &m2] {
        fs::create_dir_all(m).unwrap();
        copy_missing(&base_store, m);
    }

    // Each machine commits something of its own, and both commit the same new content.
    let a = tmp.path().join("a");
    write(&a, "train.py", b"lr = 2\n");
    let b = tmp.path().join("b");
    write(&b, "train.py", b"lr = 3\n");
    let same = tmp.path().join("same");
    write(&same, "train.py", b"lr = 4\n");
    let extra = tmp.path().join("extra");
    write(&extra, "eval.py", b"print('eval')\n");

    assert_eq!(commit_json(&m1, "code/train", &a, "m1-a")["version"], 1);
    assert_eq!(
        commit_json(&m1, "code/train", &same, "m1-same")["version"],
        2
    );
    assert_eq!(commit_json(&m2, "code/train", &b, "m2-b")["version"], 1);
    assert_eq!(
        commit_json(&m2, "code/train", &same, "m2-same")["version"],
        2
    );
    assert_eq!(
        commit_json(&m2, "code/eval", &extra, "m2-extra")["version"],
        0
    );
    run_ok(&m1, &["alias", "train:v1", "best"]);

    // Merge both ways.
    let m1_copy = tmp.path().join("m1_copy");
    fs::create_dir_all(&m1_copy).unwrap();
    copy_missing(&m1, &m1_copy);
    copy_missing(&m2, &m1);
    copy_missing(&m1_copy, &m2);

    // Identical listings on both sides.
    for args in [
        &["versions", "code/train"][..],
        &["versions", "code/eval"],
        &["list"],
        &["runs"],
        &["show", "train:best"],
    ] {
        assert_eq!(json(&m1, args), json(&m2, args), "{args:?}");
        assert_eq!(run_ok(&m1, args), run_ok(&m2, args), "{args:?}");
    }

    // Nothing lost: lr=1, lr=2, lr=3, lr=4 are all versions; the shared content is ONE version
    // linked to both machines' runs; every run is there.
    let versions = json(&m1, &["versions", "code/train"]);
    let versions = versions.as_array().unwrap();
    assert_eq!(versions.len(), 4);
    let mut contents = Vec::new();
    for v in versions {
        let spec = format!("code/train:v{}", v["version"]);
        contents.push(run_ok(&m1, &["cat", &spec, "train.py"]));
    }
    contents.sort();
    assert_eq!(contents, ["lr = 1\n", "lr = 2\n", "lr = 3\n", "lr = 4\n"]);
    let shared = versions
        .iter()
        .find(|v| v["runs"].as_array().unwrap().len() == 2)
        .unwrap();
    let mut runs: Vec<&str> = shared["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    runs.sort();
    assert_eq!(runs, ["m1-same", "m2-same"]);
    assert_eq!(json(&m1, &["runs"]).as_array().unwrap().len(), 6);
    // The alias set on machine1 survived the merge and means the same version everywhere.
    assert_eq!(run_ok(&m2, &["cat", "train:best", "train.py"]), "lr = 2\n");
    assert_fsck_clean(&m1, "machine1 after the merge");
    assert_fsck_clean(&m2, "machine2 after the merge");
}

#[test]
fn a_partially_synced_store_lists_what_it_has_and_withholds_numbers() {
    let tmp = tempfile::tempdir().unwrap();
    let full_store = init_at(&tmp.path().join("full"));
    let src = tmp.path().join("src");
    write(&src, "train.py", b"lr = 1\n");
    let first = commit_json(&full_store, "code/train", &src, "r1");

    // The other machine has everything up to r1 ...
    let partial = tmp.path().join("partial");
    fs::create_dir_all(&partial).unwrap();
    copy_missing(&full_store, &partial);

    // ... and then only the markers of r2 arrive (refs/ and runs/), not its objects.
    write(&src, "train.py", b"lr = 2\n");
    let second = commit_json(&full_store, "code/train", &src, "r2");
    copy_missing(&full_store.join("refs"), &partial.join("refs"));
    copy_missing(&full_store.join("runs"), &partial.join("runs"));
    let missing_record = file_names(&full_store.join("refs/code/train"))
        .into_iter()
        .find(|m| !object_path(&partial, m).exists())
        .unwrap();

    // versions works: the version that arrived is listed, without a number (the missing record
    // could be older and shift it), and the artifact is marked incomplete.
    let (code, versions, stderr) = run_any(&partial, &["--json", "versions", "train"]);
    assert_eq!(code, 0);
    let versions: serde_json::Value = serde_json::from_str(&versions).unwrap();
    let versions = versions.as_array().unwrap();
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0]["id"], first["id"]);
    assert_eq!(versions[0]["version"], serde_json::Value::Null);
    assert_eq!(versions[0]["aliases"], serde_json::json!([]));
    assert_eq!(versions[0]["complete"], false);
    assert_eq!(
        versions[0]["problems"],
        serde_json::json!([{"id": missing_record, "missing": true, "reason": "not yet synced"}])
    );
    assert_eq!(
        stderr,
        "warning: code/train is incomplete (1 record not yet synced): version numbers, `latest` \
         and aliases are withheld; `codever fsck` says more\n"
    );
    // Numbers, latest and aliases are refused, saying why and what to do; the id still works.
    for spec in ["train:v0", "train", "train:latest"] {
        let stderr = run_err(&partial, &["cat", spec, "train.py"]);
        let requested = spec.split_once(':').map_or("latest", |(_, r)| r);
        assert_eq!(
            stderr,
            format!(
                "error: refusing code/train:{requested}: 1 record of code/train cannot be read \
                 ({} not yet synced), so its version numbers, `latest` and aliases could name the \
                 wrong version\n\
                 hint: finish syncing the missing records from the machine that made them; \
                 meanwhile name the version by id, as `code/train@IDPREFIX` (`codever versions \
                 code/train` lists the ids)\n",
                &missing_record[..12]
            )
        );
    }
    let by_id = format!("train@{}", &first["id"].as_str().unwrap()[..8]);
    assert_eq!(run_ok(&partial, &["cat", &by_id, "train.py"]), "lr = 1\n");
    // runs show of the half-arrived run (its run and commit records missing) does not fail either.
    assert!(run_ok(&partial, &["runs", "show", "r2"]).contains("  … 2 record(s) not yet synced\n"));
    // fsck: missing, not corrupt; exit 0, and 1 with --strict.
    let f = json(&partial, &["fsck"]);
    assert_eq!(f["corrupt"].as_array().unwrap().len(), 0, "{f}");
    assert_eq!(f["missing"].as_array().unwrap().len(), 2, "{f}");
    assert_eq!(run_any(&partial, &["fsck", "--strict"]).0, 1);

    // Once the objects arrive, both stores agree, and numbers are back.
    copy_missing(&full_store, &partial);
    assert_eq!(
        json(&partial, &["versions", "train"]),
        json(&full_store, &["versions", "train"])
    );
    assert_eq!(json(&partial, &["show", "train:v1"])["id"], second["id"]);
    assert_eq!(run_ok(&partial, &["cat", "train", "train.py"]), "lr = 2\n");
}

/// Machine A logs P then Q, machine B logs Q then P (Q = P with a line added or changed in each
/// of 24 files, so both commits are packs and the second of each machine is stored as deltas).
/// Each blob then exists in two packs with opposite delta bases; merged both ways by copying
/// what is missing, both stores must still read both versions, byte for byte. 20 trials with
/// different contents, so the packs' names (and the order they are listed in) vary.
#[test]
fn opposite_order_commits_merged_both_ways_stay_readable_in_20_trials() {
    const TRIALS: u64 = 20;
    // Trials wait mostly on fsync, so a few run side by side.
    let trials: Vec<u64> = (0..TRIALS).collect();
    let failures: Vec<String> = on_threads(&trials, 4, |_, &t| opposite_order_trial(t))
        .into_iter()
        .flatten()
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {TRIALS} trials lost data:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// One trial of the test above; returns what went wrong.
fn opposite_order_trial(trial: u64) -> Option<String> {
    let tmp = tempfile::tempdir().unwrap();
    let p_files = code_files(1000 + trial, 24, 0);
    let q_files = code_files(1000 + trial, 24, 1);
    let p = tmp.path().join("p");
    let q = tmp.path().join("q");
    write_files(&p, &p_files);
    write_files(&q, &q_files);
    let a = init_at(&tmp.path().join("a"));
    let b = init_at(&tmp.path().join("b"));
    let p_id = commit_json(&a, "code/model", &p, "a-p")["id"].clone();
    let q_id = commit_json(&a, "code/model", &q, "a-q")["id"].clone();
    assert_eq!(commit_json(&b, "code/model", &q, "b-q")["id"], q_id);
    assert_eq!(commit_json(&b, "code/model", &p, "b-p")["id"], p_id);
    for m in [&a, &b] {
        assert_eq!(
            pack_files(m).len(),
            2,
            "trial {trial}: both commits of a machine are packs"
        );
    }

    copy_missing(&b, &a);
    copy_missing(&a, &b);

    // Both list the same versions: P first (committed first, on A), then Q.
    let mut problems = Vec::new();
    let listed: Vec<_> = [&a, &b]
        .iter()
        .map(|m| json(m, &["versions", "code/model"]))
        .collect();
    if listed[0] != listed[1] {
        problems.push(format!(
            "the stores list different versions:\n{}\n{}",
            listed[0], listed[1]
        ));
    }
    for (m, l) in ["a", "b"].iter().zip(&listed) {
        let ids: Vec<_> = l
            .as_array()
            .unwrap()
            .iter()
            .map(|v| (v["version"].clone(), v["id"].clone()))
            .collect();
        if ids != [(0.into(), p_id.clone()), (1.into(), q_id.clone())] {
            problems.push(format!("{m} lists {ids:?}"));
        }
    }
    // Every version byte for byte on both, and fsck clean on both.
    let mut cmds = Vec::new();
    let mut checks = Vec::new();
    for (m, store) in [("a", &a), ("b", &b)] {
        for (n, files) in [(0, &p_files), (1, &q_files)] {
            let into = tmp.path().join(format!("out-{m}-v{n}"));
            let spec = format!("code/model:v{n}");
            let c = codever_cmd(
                store,
                &["checkout", &spec, "--into", into.to_str().unwrap()],
            );
            cmds.push(c);
            checks.push(Some((into, files)));
        }
        cmds.push(codever_cmd(store, &["fsck", "--strict"]));
        checks.push(None);
    }
    for (f, check) in run_all_within(cmds, Duration::from_secs(120))
        .iter()
        .zip(checks)
    {
        if f.code() != Some(0) {
            let stdout = String::from_utf8_lossy(&f.stdout);
            let head: Vec<&str> = stdout.lines().take(3).collect();
            problems.push(format!("{} {}", f.describe(), head.join(" | ")));
        } else if let Some((into, files)) = check
            && read_tree(&into) != sorted(files)
        {
            problems.push(format!("{} wrote other bytes than were committed", f.what));
        }
    }
    (!problems.is_empty()).then(|| format!("trial {trial}:\n{}", problems.join("\n")))
}

/// Loose objects merged with `cp -rn`: one loose file per id survives, so a delta from one
/// machine may have to read its base through the other machine's encoding of it, whatever that
/// encoding's depth. Machine A commits P then Q (P whole, Q's blobs deltas on P's); machine B
/// commits Y then P (P's blobs deltas on Y's). Merged into B, B's P (a delta) is what A's Q must
/// be read through. Both directions must read every version byte for byte, list the same
/// versions, and pass `fsck --strict`. (Found by a hostile review: Q was lost in B.)
#[test]
fn loose_deltas_read_through_the_other_machines_encoding_after_cp_n_merges() {
    for trial in 0..3u64 {
        let tmp = tempfile::tempdir().unwrap();
        let files = |step| code_files(7000 + trial, 3, step);
        let (y_files, p_files, q_files) = (files(0), files(1), files(2));
        let dirs: Vec<PathBuf> = ["y", "p", "q"]
            .iter()
            .zip([&y_files, &p_files, &q_files])
            .map(|(n, f)| {
                let d = tmp.path().join(n);
                write_files(&d, f);
                d
            })
            .collect();
        let a = init_at(&tmp.path().join("a"));
        let b = init_at(&tmp.path().join("b"));
        commit_json(&a, "code/m", &dirs[1], "a-p");
        let q_id = commit_json(&a, "code/m", &dirs[2], "a-q")["id"].clone();
        commit_json(&b, "code/m", &dirs[0], "b-y");
        commit_json(&b, "code/m", &dirs[1], "b-p");
        // The scenario needs loose deltas on both machines: A's Q and B's P.
        for (store, content) in [(&a, &q_files[0].1), (&b, &p_files[0].1)] {
            let stored = fs::read(object_path(store, blob_id(content))).unwrap();
            assert_eq!(stored[6], 1, "trial {trial}: expected a loose delta");
        }
        assert!(pack_files(&a).is_empty() && pack_files(&b).is_empty());
        let ab = tmp.path().join("ab/.codever");
        let ba = tmp.path().join("ba/.codever");
        copy_all(&a, &ab);
        copy_missing(&b, &ab);
        copy_all(&b, &ba);
        copy_missing(&a, &ba);
        let listed: Vec<_> = [&ab, &ba]
            .iter()
            .map(|m| json(m, &["versions", "code/m"]))
            .collect();
        assert_eq!(listed[0], listed[1], "trial {trial}");
        for store in [&ab, &ba] {
            for (spec, want) in [
                (format!("code/m@{}", q_id.as_str().unwrap()), &q_files),
                ("code/m:v0".to_string(), &p_files),
            ] {
                let into = tmp.path().join(format!("out-{}", rand_name(store, &spec)));
                run_ok(
                    store,
                    &["checkout", &spec, "--into", into.to_str().unwrap()],
                );
                assert_eq!(read_tree(&into), sorted(want), "trial {trial}: {spec}");
            }
            assert_fsck_clean(store, &format!("trial {trial}"));
            run_ok(store, &["fsck", "--strict"]);
        }
    }
}

/// A directory name for one checkout of `spec` from `store`.
fn rand_name(store: &Path, spec: &str) -> String {
    format!(
        "{}-{}",
        store
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy(),
        spec.replace(['/', ':', '@'], "_")
    )
}
