//! Runs carry their scores: state records (config updates, summary, ranges) merged into the
//! run's view, order-independent across merged stores, verified by fsck; `runs --show --sort`
//! and `diff --runs --best/--worst` answer "what differed between the best and the worst run".

use std::fs;

use codever::{RunStateRecord, Store};
use serde_json::json;

use crate::common::{
    assert_fsck_clean, commit_snapshot, copy_missing, json, lib_store, mark, run_any, run_any_json,
    run_ok, snapshot,
};

fn state(run: &str, time_ns: i64, config: &str, summary: &str, ranges: &str) -> RunStateRecord {
    RunStateRecord {
        run: run.into(),
        time_ns,
        host: "h".into(),
        name: String::new(),
        job_type: String::new(),
        group: String::new(),
        config: config.into(),
        summary: summary.into(),
        ranges: ranges.into(),
        steps: 0,
        finished: true,
        exit_code: None,
    }
}

/// Run `id` logs `ppo.py` with `lr = <lr>` and finishes with summary `reward`.
fn scored_run(store: &Store, id: &str, lr: &str, reward: f64) {
    let code = format!("lr = {lr}\n");
    commit_snapshot(
        store,
        "rl_algo_code/ppo",
        &snapshot(&[("ppo.py", code.as_bytes(), false)]),
        id,
    );
    let summary = json!({"reward": reward}).to_string();
    let ranges = json!({"reward": [reward / 2.0, reward]}).to_string();
    let mut s = state(
        id,
        codever::run::now_ns(),
        &json!({"lr": lr}).to_string(),
        &summary,
        &ranges,
    );
    s.name = format!("name-{id}");
    s.steps = 10;
    store.save_run_state(&s).unwrap();
}

fn format_file(store: &Store) -> String {
    fs::read_to_string(store.root().join("format")).unwrap()
}

#[test]
fn state_records_merge_key_by_key_newest_first_and_ranges_by_min_and_max() {
    let (_tmp, store) = lib_store();
    commit_snapshot(&store, "t/a", &snapshot(&[("a.py", b"a", false)]), "r1");
    assert_eq!(format_file(&store), "codever-store-format 2\n");
    // Written out of time order: the view orders them by time, not by arrival.
    let newer = state(
        "r1",
        20,
        r#"{"lr":0.1,"seed":1}"#,
        r#"{"loss":0.5,"reward":0.9}"#,
        r#"{"loss":[0.5,2.0]}"#,
    );
    let older = state(
        "r1",
        10,
        r#"{"lr":0.3,"batch":8}"#,
        r#"{"loss":1.5,"acc":0.4}"#,
        r#"{"loss":[0.25,1.5]}"#,
    );
    store.save_run_state(&newer).unwrap();
    assert_eq!(format_file(&store), "codever-store-format 3\n");
    store.save_run_state(&older).unwrap();
    let row = json(store.root(), &["runs", "show", "r1"]);
    assert_eq!(row["config"], json!({"lr": 0.1, "seed": 1, "batch": 8}));
    assert_eq!(
        row["summary"],
        json!({"loss": 0.5, "reward": 0.9, "acc": 0.4})
    );
    assert_eq!(row["ranges"], json!({"loss": {"min": 0.25, "max": 2.0}}));
    assert_eq!(
        (row["finished"].clone(), row["steps"].clone()),
        (json!(true), json!(0))
    );
    assert_fsck_clean(store.root(), "two state records");
}

#[test]
fn tags_and_notes_edited_during_a_run_replace_those_it_started_with() {
    let (_tmp, store) = lib_store();
    let mut started = codever::capture_run("r1", store.root()).unwrap();
    started.tags = vec!["baseline".into()];
    started.notes = "n0".into();
    store.start_run(&started).unwrap();
    let shown = |args: &[&str]| {
        let row = json(store.root(), args);
        (
            row["tags"].clone(),
            row["notes"].clone(),
            row["summary"].clone(),
        )
    };
    // Until a state record carries them, the run record's.
    store
        .save_run_state(&state("r1", 10, "", r#"{"x":1}"#, ""))
        .unwrap();
    assert_eq!(
        shown(&["runs", "show", "r1"]),
        (json!(["baseline"]), json!("n0"), json!({"x": 1}))
    );
    // The newest state record's `_codever` wins, and leaves the summary; empty notes are none.
    let edited = r#"{"_codever":{"tags":["baseline","best"],"notes":"edited"},"x":2}"#;
    store
        .save_run_state(&state("r1", 30, "", edited, ""))
        .unwrap();
    let older = r#"{"_codever":{"tags":["old"],"notes":""}}"#;
    store
        .save_run_state(&state("r1", 20, "", older, ""))
        .unwrap();
    let want = (
        json!(["baseline", "best"]),
        json!("edited"),
        json!({"x": 2}),
    );
    assert_eq!(shown(&["runs", "show", "r1"]), want);
    let listed = json(store.root(), &["runs"]);
    assert_eq!(
        (listed[0]["tags"].clone(), listed[0]["notes"].clone()),
        (want.0, want.1)
    );
    let cleared = r#"{"_codever":{"tags":[],"notes":""}}"#;
    store
        .save_run_state(&state("r1", 40, "", cleared, ""))
        .unwrap();
    assert_eq!(
        shown(&["runs", "show", "r1"]),
        (json!([]), json!(null), json!({"x": 2}))
    );
    assert_fsck_clean(store.root(), "state records with tags and notes");
}

#[test]
fn two_stores_merged_in_either_order_agree_on_every_run() {
    let (_a_tmp, a) = lib_store();
    let (_b_tmp, b) = lib_store();
    scored_run(&a, "run-a", "3e-4", 0.62);
    scored_run(&b, "run-b", "1e-3", 0.91);
    // The same run finished on both machines, with other values.
    a.save_run_state(&state(
        "shared",
        5,
        r#"{"x":1}"#,
        r#"{"k":"from a"}"#,
        r#"{"m":[1,2]}"#,
    ))
    .unwrap();
    b.save_run_state(&state(
        "shared",
        6,
        r#"{"y":2}"#,
        r#"{"k":"from b"}"#,
        r#"{"m":[0,1]}"#,
    ))
    .unwrap();
    let merged = |first: &Store, second: &Store| {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join(".codever");
        fs::create_dir_all(&root).unwrap();
        copy_missing(first.root(), &root);
        copy_missing(second.root(), &root);
        let runs = json(&root, &["runs"]);
        assert_fsck_clean(&root, "merged");
        (tmp, runs)
    };
    let (_ab, ab) = merged(&a, &b);
    let (_ba, ba) = merged(&b, &a);
    assert_eq!(ab, ba);
    let shared = ab
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "shared")
        .unwrap();
    assert_eq!(shared["config"], json!({"x": 1, "y": 2}));
    assert_eq!(shared["summary"], json!({"k": "from b"}));
    assert_eq!(shared["ranges"], json!({"m": {"min": 0.0, "max": 2.0}}));
}

#[test]
fn runs_show_chosen_keys_next_to_their_code_and_sort_by_a_key() {
    let (_tmp, store) = lib_store();
    for (id, lr, reward) in [
        ("run-a", "3e-4", 0.62),
        ("run-b", "1e-3", 0.91),
        ("run-c", "5e-4", 0.75),
    ] {
        scored_run(&store, id, lr, reward);
    }
    let s = store.root();
    let text = run_ok(s, &["runs", "--show", "reward,lr", "--sort", "-reward"]);
    let lines: Vec<String> = text
        .lines()
        .map(|l| {
            // The start time sits between the id and the values: leave it out.
            let (id, rest) = l.split_once(' ').unwrap();
            format!(
                "{id} {}",
                rest.trim_start()
                    .splitn(3, ' ')
                    .nth(2)
                    .unwrap()
                    .trim_start()
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            "run-b reward=0.91  lr=1e-3  rl_algo_code/ppo:v1 (new)",
            "run-c reward=0.75  lr=5e-4  rl_algo_code/ppo:v2 (new)",
            "run-a reward=0.62  lr=3e-4  rl_algo_code/ppo:v0 (new)",
        ]
    );
    let ids = |v: serde_json::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        ids(json(s, &["runs", "--sort", "reward"])),
        ["run-a", "run-c", "run-b"]
    );
    let (code, _, err) = run_any(s, &["runs", "--sort", "rewrd"]);
    assert_eq!(code, 2);
    assert_eq!(
        err,
        "error: no run has a number for \"rewrd\" in its summary or config\n\
         hint: keys with numbers: reward; prefix a key with `-` where lower is better (`-loss`)\n"
    );
    let shown = run_ok(s, &["runs", "show", "run-b"]);
    assert!(shown.contains("\nname     name-run-b\n"), "{shown}");
    assert!(
        shown.contains("\nconfig   lr=1e-3\nsummary  reward=0.91\nfinished 10 steps\n"),
        "{shown}"
    );
}

#[test]
fn diff_runs_compares_the_best_and_the_worst_run() {
    let (_tmp, store) = lib_store();
    for (id, lr, reward) in [
        ("run-a", "3e-4", 0.62),
        ("run-b", "1e-3", 0.91),
        ("run-c", "5e-4", 0.75),
    ] {
        scored_run(&store, id, lr, reward);
    }
    let s = store.root();
    let patch = run_ok(
        s,
        &["diff", "--runs", "--best", "reward", "--worst", "reward"],
    );
    assert_eq!(
        patch,
        "# best reward: run-b (reward = 0.91)\n\
         # worst reward: run-a (reward = 0.62)\n\
         # rl_algo_code/ppo: v1 -> v0\n\
         diff --git a/rl_algo_code/ppo/ppo.py b/rl_algo_code/ppo/ppo.py\n\
         index 2c930db..cdabb93 100644\n\
         --- a/rl_algo_code/ppo/ppo.py\n\
         +++ b/rl_algo_code/ppo/ppo.py\n\
         @@ -1 +1 @@\n\
         -lr = 1e-3\n\
         +lr = 3e-4\n"
    );
    // `-KEY`: lower is better. A run id can stand for either side.
    let v = json(s, &["diff", "--runs", "--best", "-reward", "run-c"]);
    assert_eq!(v["runs"], json!(["run-a", "run-c"]));
    let v = json(s, &["diff", "--runs", "run-c", "--worst", "-reward"]);
    assert_eq!(v["runs"], json!(["run-c", "run-b"]));
    let (code, _, err) = run_any(s, &["diff", "--runs", "run-a"]);
    assert_eq!(
        (code, err.lines().next()),
        (2, Some("error: comparing runs needs two runs, 1 given"))
    );
    let (code, _, err) = run_any(
        s,
        &["diff", "--runs", "--best", "loss", "--worst", "reward"],
    );
    assert_eq!(
        (code, err.lines().next()),
        (
            2,
            Some("error: no run has a number for \"loss\" in its summary or config")
        )
    );
    let (code, _, _) = run_any(s, &["diff", "--best", "reward", "run-a"]);
    assert_eq!(code, 2); // --best needs --runs
}

#[test]
fn fsck_verifies_state_records() {
    let (_tmp, store) = lib_store();
    scored_run(&store, "r1", "1", 0.5);
    assert_fsck_clean(store.root(), "a state record");
    // A state record marked for another run, and one whose summary is not a JSON object.
    let elsewhere = state("r1", 1, "", r#"{"a":1}"#, "");
    let (id, _) = store.write_structured(&elsewhere).unwrap();
    mark(&store.root().join("runs/r2"), &id);
    let bad = state("r1", 2, "", "[1, 2]", "");
    let (bad_id, _) = store.write_structured(&bad).unwrap();
    mark(&store.root().join("runs/r1"), &bad_id);
    let (code, report) = run_any_json(store.root(), &["fsck"]);
    assert_eq!(code, 1);
    let mut reasons: Vec<String> = report["corrupt"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["reason"].as_str().unwrap().to_string())
        .collect();
    reasons.sort();
    assert_eq!(
        reasons,
        [
            "record of another run",
            "state record's summary is not a JSON object of the right shape",
        ]
    );
    // Marked for an artifact, a state record is corrupt too.
    let fresh = lib_store();
    scored_run(&fresh.1, "r1", "1", 0.5);
    let (id, _) = fresh.1.write_structured(&elsewhere).unwrap();
    mark(&fresh.1.root().join("refs/rl_algo_code/ppo"), &id);
    let (code, report) = run_any_json(fresh.1.root(), &["fsck"]);
    assert_eq!(
        (code, report["corrupt"][0]["reason"].clone()),
        (1, json!("marks a state"))
    );
    // The run's view ignores the bad record and counts it.
    let row = json(store.root(), &["runs", "show", "r1"]);
    assert_eq!(
        (row["summary"]["reward"].clone(), row["complete"].clone()),
        (json!(0.5), json!(false))
    );
}

#[test]
fn a_store_without_state_records_stays_readable_by_format_2_builds() {
    let (_tmp, store) = lib_store();
    commit_snapshot(&store, "t/a", &snapshot(&[("a.py", b"a", false)]), "r1");
    let row = json(store.root(), &["runs", "show", "r1"]);
    assert_eq!(
        (
            row["summary"].clone(),
            row["ranges"].clone(),
            row["name"].clone(),
            row["finished"].clone()
        ),
        (json!({}), json!({}), json!(null), json!(false))
    );
    assert_eq!(format_file(&store), "codever-store-format 2\n");
    // A commit with tags, or a W&B-walk directory, needs format 3 too.
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("x.py"), "x").unwrap();
    let mut s = codever::Snapshot::default();
    s.add_dir_every_file(dir.path(), None).unwrap();
    commit_snapshot(&store, "t/b", &s, "r2");
    assert_eq!(format_file(&store), "codever-store-format 3\n");
    let shown = json(store.root(), &["show", "t/b:v0"]);
    assert_eq!(shown["sources"][0]["every_file"], json!(true));
    assert_fsck_clean(store.root(), "schema-2 commit");
    // The version is compared with the disk by the walk that made it: an ignored file is
    // part of it (W&B's walk), a file the capture's rules would skip shows as added.
    assert_eq!(json(store.root(), &["diff", "t/b:v0"])["files"], json!([]));
    fs::write(dir.path().join(".gitignore"), "*.log\n").unwrap();
    fs::write(dir.path().join("run.log"), "l").unwrap();
    let names = run_ok(store.root(), &["diff", "t/b:v0", "--name-status"]);
    assert_eq!(names, "A\t.gitignore\nA\trun.log\n");
}
