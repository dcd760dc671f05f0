//! The user's workflow, through the library: four runs of the example repo.

use std::fs;

use codever::{CommitOptions, Error, Snapshot, Spec, Store, capture_run, flatten};

use crate::common::{artifact, commit_dir, commit_snapshot, fixture, lib_store, read_tree};

/// Commits `files` (path in fixture `v`, display path) as artifact `key` by run `run`; returns
/// (version number, new).
fn commit_file(
    store: &Store,
    key: &str,
    run: &str,
    files: &[(&str, Option<&str>)],
    v: &str,
) -> (usize, bool) {
    let mut s = Snapshot::default();
    for (path, display) in files {
        s.add_file(&fixture(v).join(path), *display).unwrap();
    }
    let o = commit_snapshot(store, key, &s, run);
    (
        o.version.expect("a complete history numbers its versions"),
        o.new,
    )
}

#[test]
fn four_runs_of_the_example_repo() {
    let (dir, store) = lib_store();
    let mut got = Vec::new();
    let mut latest_ppo = Vec::new();
    for v in ["baseline", "ppo-lr", "layernorm", "tuned"] {
        let run = format!("run-{v}");
        let ppo = commit_file(
            &store,
            "rl_algo_code/ppo",
            &run,
            &[("training/ppo.py", None)],
            v,
        );
        let dqn = commit_file(
            &store,
            "rl_algo_code/dqn",
            &run,
            &[("training/dqn.py", None)],
            v,
        );
        let model = commit_file(
            &store,
            "model_code/model_code",
            &run,
            &[("training/models.py", Some("models.py"))],
            v,
        );
        let o = commit_dir(&store, "code/safelife", &fixture(v), &run);
        got.push((v, ppo, dqn, model, (o.version.expect("numbered"), o.new)));
        latest_ppo.push(store.resolve(&Spec::parse("ppo").unwrap()).unwrap().index);
    }
    // ppo-lr changes ppo; layernorm changes the model; tuned reverts ppo to the baseline's content
    // and changes dqn.
    assert_eq!(
        got,
        [
            ("baseline", (0, true), (0, true), (0, true), (0, true)),
            ("ppo-lr", (1, true), (0, false), (0, false), (1, true)),
            ("layernorm", (1, false), (0, false), (1, true), (2, true)),
            ("tuned", (0, false), (1, true), (1, false), (3, true)),
        ]
    );

    // `latest` is the version the newest commit made or linked: v1 while runs 2 and 3 used it,
    // v0 again after the revert (not merely the oldest version).
    assert_eq!(latest_ppo, [0, 1, 1, 0]);
    // After the revert v0 is linked to both runs that used it.
    let codever::Resolved {
        history: h,
        index: i,
    } = store.resolve(&Spec::parse("ppo").unwrap()).unwrap();
    assert_eq!(i, 0);
    assert_eq!(h.versions.len(), 2);
    assert_eq!(h.versions[0].runs(), ["run-baseline", "run-tuned"]);
    assert_eq!(h.versions[1].runs(), ["run-ppo-lr", "run-layernorm"]);

    // Display paths: basename by default, explicit name, directory-relative (gitignore honoured:
    // v4's __pycache__ is left out).
    let codever::Resolved {
        history: h,
        index: i,
    } = store
        .resolve(&Spec::parse("model_code:v1").unwrap())
        .unwrap();
    let files = flatten(&store, &h.versions[i].tree).unwrap();
    assert_eq!(
        files.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(),
        ["models.py"]
    );
    let codever::Resolved {
        history: h,
        index: i,
    } = store
        .resolve(&Spec::parse("code/safelife:v3").unwrap())
        .unwrap();
    let files = flatten(&store, &h.versions[i].tree).unwrap();
    assert_eq!(
        files.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(),
        [
            ".gitignore",
            "main.py",
            "training/dqn.py",
            "training/models.py",
            "training/ppo.py",
            "training/utils.py"
        ]
    );

    // Checkout gives back the committed bytes.
    let out = dir.path().join("restored");
    store.checkout(&h.versions[i].tree, &out, false).unwrap();
    let mut expected = read_tree(&fixture("tuned"));
    expected.retain(|(p, _)| !p.contains("__pycache__"));
    assert_eq!(read_tree(&out), expected);
    // A second checkout finds everything up to date.
    let r = store.checkout(&h.versions[i].tree, &out, false).unwrap();
    assert_eq!((r.written.len(), r.unchanged.len()), (0, 6));

    // Every run is recorded with what it logged.
    let runs = store.runs().unwrap();
    assert_eq!(runs.len(), 4);
    let r4 = store.run("run-tuned").unwrap();
    let summary: Vec<(String, Option<usize>, bool)> = r4
        .artifacts
        .iter()
        .map(|a| (a.key.to_string(), a.version, a.new))
        .collect();
    assert_eq!(
        summary,
        [
            ("rl_algo_code/ppo".to_string(), Some(0), false),
            ("rl_algo_code/dqn".to_string(), Some(1), true),
            ("model_code/model_code".to_string(), Some(1), false),
            ("code/safelife".to_string(), Some(3), true),
        ]
    );
    assert!(store.fsck().unwrap().corrupt.is_empty());
}

#[test]
fn same_name_under_two_types_is_two_artifacts() {
    let (_dir, store) = lib_store();
    assert_eq!(
        commit_file(
            &store,
            "rl_algo_code/ppo",
            "r1",
            &[("training/ppo.py", None)],
            "baseline"
        ),
        (0, true)
    );
    // Same name, other type, same bytes: a separate artifact with its own v0.
    assert_eq!(
        commit_file(
            &store,
            "baseline/ppo",
            "r1",
            &[("training/ppo.py", None)],
            "baseline"
        ),
        (0, true)
    );
    assert_eq!(
        commit_file(
            &store,
            "baseline/ppo",
            "r2",
            &[("training/ppo.py", None)],
            "ppo-lr"
        ),
        (1, true)
    );
    let e = store.resolve(&Spec::parse("ppo").unwrap()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "artifact name \"ppo\" exists under several types: baseline/ppo, rl_algo_code/ppo"
    );
    let codever::Resolved { history: h, .. } = store
        .resolve(&Spec::parse("rl_algo_code/ppo").unwrap())
        .unwrap();
    assert_eq!(h.versions.len(), 1);
}

#[test]
fn digests_match_wandb() {
    let (dir, store) = lib_store();
    let src = dir.path().join("src");
    fs::create_dir_all(src.join("training")).unwrap();
    fs::write(src.join("a.py"), "print('a')\n").unwrap();
    fs::write(src.join("training/b.py"), "x = 1\n").unwrap();
    let o = commit_dir(&store, "t/n", &src, "r");
    assert_eq!(o.digest.to_hex(), "74bc2832439434534c7d552dd8787632");
    let empty = commit_snapshot(&store, "t/empty", &Snapshot::default(), "r");
    assert_eq!(empty.digest.to_hex(), "64e7c61456b10382e2f3b571ac24b659");
    let codever::Resolved {
        history: h,
        index: i,
    } = store.resolve(&Spec::parse("t/n").unwrap()).unwrap();
    let files = flatten(&store, &h.versions[i].tree).unwrap();
    assert_eq!(
        files[0].meta.md5.to_base64(),
        codever::Md5::of(b"print('a')\n").to_base64()
    );
}

#[test]
fn aliases_newest_wins_and_reserved_names_are_refused() {
    let (dir, store) = lib_store();
    commit_file(
        &store,
        "t/ppo",
        "r1",
        &[("training/ppo.py", None)],
        "baseline",
    );
    let key = artifact("t/ppo");
    let mut s = Snapshot::default();
    s.add_file(&fixture("ppo-lr").join("training/ppo.py"), None)
        .unwrap();
    let opts = CommitOptions {
        aliases: vec!["best".into()],
        ..CommitOptions::default()
    };
    let o = store
        .commit(&key, &s, &capture_run("r2", dir.path()).unwrap(), &opts)
        .unwrap();
    assert_eq!(o.version, Some(1));
    assert_eq!(
        store
            .resolve(&Spec::parse("ppo:best").unwrap())
            .unwrap()
            .index,
        1
    );
    store
        .set_alias(&Spec::parse("ppo:v0").unwrap(), "best")
        .unwrap();
    assert_eq!(
        store
            .resolve(&Spec::parse("ppo:best").unwrap())
            .unwrap()
            .index,
        0
    );
    for bad in ["latest", "v3", "a/b", "a:b"] {
        assert!(
            store
                .set_alias(&Spec::parse("ppo:v0").unwrap(), bad)
                .is_err(),
            "{bad}"
        );
    }
    match store.resolve(&Spec::parse("ppo:prod").unwrap()) {
        Err(Error::UnknownAlias { known, .. }) => assert_eq!(known, ["best"]),
        other => panic!("{other:?}"),
    }
    // An invalid alias at commit time writes nothing.
    let bad = CommitOptions {
        aliases: vec!["latest".into()],
        ..CommitOptions::default()
    };
    let mut s = Snapshot::default();
    s.add_file(&fixture("baseline").join("main.py"), None)
        .unwrap();
    assert!(
        store
            .commit(&key, &s, &capture_run("r3", dir.path()).unwrap(), &bad)
            .is_err()
    );
    assert_eq!(store.history(&key).unwrap().versions.len(), 2);
}

#[test]
fn id_prefix_and_out_of_range_specs() {
    let (_dir, store) = lib_store();
    commit_file(
        &store,
        "t/ppo",
        "r1",
        &[("training/ppo.py", None)],
        "baseline",
    );
    commit_file(
        &store,
        "t/ppo",
        "r2",
        &[("training/ppo.py", None)],
        "ppo-lr",
    );
    let codever::Resolved { history: h, .. } = store.resolve(&Spec::parse("ppo").unwrap()).unwrap();
    let id1 = h.versions[1].tree.to_hex();
    let spec = format!("ppo@{}", &id1[..8]);
    assert_eq!(
        store.resolve(&Spec::parse(&spec).unwrap()).unwrap().index,
        1
    );
    let e = store.resolve(&Spec::parse("ppo:v7").unwrap()).unwrap_err();
    assert_eq!(e.to_string(), "t/ppo has no version v7 (it has v0..v1)");
}

#[test]
fn the_local_cache_never_changes_an_answer() {
    let (_dir, store) = lib_store();
    // Enough commits for the record cache to be written (it is rewritten in batches).
    for i in 0..40 {
        let v = ["baseline", "ppo-lr", "baseline", "tuned"][i % 4];
        commit_file(
            &store,
            "t/ppo",
            &format!("r{i}"),
            &[("training/ppo.py", None)],
            v,
        );
    }
    let key = artifact("t/ppo");
    let summary = |h: &codever::History| {
        h.versions
            .iter()
            .map(|v| (v.number, v.tree, v.runs().join(",")))
            .collect::<Vec<_>>()
    };
    let with_cache = summary(&store.history(&key).unwrap());
    assert_eq!(with_cache.len(), 2); // v4 reverts ppo.py to v1
    let cache = store.root().join("local/cache/artifacts/t/ppo/records");
    assert!(cache.is_file());
    // A damaged cache is ignored and rebuilt.
    fs::write(&cache, b"CDVC\x01garbage-garbage-garbage-garbage-garbage").unwrap();
    assert_eq!(summary(&store.history(&key).unwrap()), with_cache);
    // No cache at all: the same answer from the objects.
    fs::remove_dir_all(store.root().join("local/cache")).unwrap();
    assert_eq!(summary(&store.history(&key).unwrap()), with_cache);
    // A cached record whose marker is gone does not count.
    let first = store.history(&key).unwrap().versions[0].first().id;
    fs::remove_file(store.root().join("refs/t/ppo").join(first.to_hex())).unwrap();
    let h = store.history(&key).unwrap();
    assert!(
        h.versions
            .iter()
            .all(|v| v.commits.iter().all(|c| c.id != first))
    );
}
