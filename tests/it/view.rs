//! The JSON rows front-ends share (`codever::view`) and what the CLI and Python do the same way
//! (`codever::frontend`): one shape per thing, whichever command shows it.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::{codever, fixture, json, run_ok};

/// A store with `rl_algo_code/ppo` v0 (run r1), v1 (run r2) and v0 again (run r3), alias `best`
/// on v1.
fn store() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    codever().arg("init").arg(tmp.path()).assert().success();
    let store = tmp.path().join(".codever");
    for (v, run) in [("baseline", "r1"), ("ppo-lr", "r2"), ("baseline", "r3")] {
        let ppo = fixture(v).join("training/ppo.py");
        let args = ["commit", "ppo", "--type", "rl_algo_code"];
        let mut args = args.to_vec();
        args.extend([ppo.to_str().unwrap(), "--run", run, "-m", v]);
        run_ok(&store, &args);
    }
    run_ok(&store, &["alias", "ppo:v1", "best"]);
    (tmp, store)
}

fn without(v: &Value, drop: &[&str]) -> Value {
    let mut v = v.clone();
    let o = v.as_object_mut().unwrap();
    for k in drop {
        o.remove(*k);
    }
    v
}

#[test]
fn versions_show_and_log_rows_are_one_shape() {
    let before = jiff::Timestamp::now();
    let (_tmp, store) = store();
    let after = jiff::Timestamp::now();
    // versions streams its rows with the fields in their declared order.
    let text = run_ok(&store, &["--json", "versions", "ppo"]);
    let first_row: Vec<&str> = text
        .lines()
        .take_while(|l| *l != "  },")
        .filter_map(|l| l.strip_prefix("    \"")?.split('"').next())
        .collect();
    assert_eq!(
        first_row,
        [
            "version",
            "id",
            "digest",
            "created",
            "runs",
            "aliases",
            "files",
            "message",
            "complete",
            "problems",
            "forgotten",
            "counts"
        ]
    );
    let versions: Value = serde_json::from_str(&text).unwrap();
    // What each version changed against the one before, as the text's `+a ~m -d`.
    assert_eq!(
        versions[1]["counts"],
        serde_json::json!({"added": 0, "modified": 1, "deleted": 0})
    );
    let versions: Value = versions
        .as_array()
        .unwrap()
        .iter()
        .map(|v| without(v, &["counts"]))
        .collect();
    let v1 = &versions[1];
    assert_eq!(v1["aliases"], serde_json::json!(["best"]));
    assert_eq!(versions[0]["aliases"], serde_json::json!(["latest"]));
    assert_eq!(versions[0]["runs"], serde_json::json!(["r1", "r3"]));
    // A version was created by its first commit (r1 for v0, not r3's later link to it).
    let created =
        |v: &Value| -> jiff::Timestamp { v["created"].as_str().unwrap().parse().unwrap() };
    let (c0, c1) = (created(&versions[0]), created(&versions[1]));
    assert!(
        before <= c0 && c0 < c1 && c1 <= after,
        "{before} {c0} {c1} {after}"
    );

    // show: the same row plus type, name, the files themselves, how they were captured and
    // every commit of the content.
    let show = json(&store, &["show", "ppo:v1"]);
    assert_eq!(show["type"], "rl_algo_code");
    assert_eq!(show["name"], "ppo");
    assert_eq!(show["files"][0]["path"], "ppo.py");
    assert_eq!(
        without(
            &show,
            &[
                "type", "name", "files", "sources", "include", "exclude", "tags", "commits"
            ]
        ),
        without(v1, &["files"])
    );
    assert_eq!(v1["files"], 1);

    // log: the same rows, newest first, plus the changes.
    let log = json(&store, &["log", "ppo"]);
    assert_eq!(without(&log[0], &["changes"]), versions[1]);
    assert_eq!(without(&log[1], &["changes"]), versions[0]);
    assert_eq!(log[0]["changes"][0]["status"], "modified");
    assert_eq!(log[1]["changes"][0]["status"], "added");
}

#[test]
fn every_json_document_is_sorted_and_indented_like_before() {
    let (_tmp, store) = store();
    let out = run_ok(&store, &["--json", "alias", "ppo:v0", "prod"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        out,
        format!(
            "{{\n  \"alias\": \"prod\",\n  \"id\": \"{}\",\n  \"name\": \"ppo\",\n  \"type\": \"rl_algo_code\",\n  \"version\": 0\n}}\n",
            v["id"].as_str().unwrap()
        )
    );
}

#[test]
fn a_checkout_into_a_path_that_is_not_utf8_reports_it_lossily() {
    use std::os::unix::ffi::OsStrExt;
    let (tmp, store) = store();
    let into = tmp.path().join(std::ffi::OsStr::from_bytes(b"out-\xff"));
    let out = codever()
        .arg("--store")
        .arg(&store)
        .args(["--json", "checkout", "ppo:v1", "--into"])
        .arg(&into)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["into"], into.to_string_lossy().as_ref());
    assert_eq!(v["written"], serde_json::json!(["ppo.py"]));
    assert!(into.join("ppo.py").is_file());
}

fn commit_run(store: &Path, run_arg: Option<&str>, env: Option<&str>) -> String {
    let mut c = codever();
    c.arg("--store")
        .arg(store)
        .args(["--json", "commit", "m", "--type", "t"]);
    c.arg(fixture("baseline").join("main.py"));
    if let Some(r) = run_arg {
        c.args(["--run", r]);
    }
    if let Some(e) = env {
        c.env("CODEVER_RUN_ID", e);
    }
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["run"].as_str().unwrap().to_string()
}

#[test]
fn the_run_id_is_the_flag_else_codever_run_id_else_fresh() {
    let (_tmp, store) = store();
    assert_eq!(commit_run(&store, Some("flag"), Some("env")), "flag");
    assert_eq!(commit_run(&store, None, Some("env")), "env");
    let fresh = commit_run(&store, None, Some(""));
    assert_eq!(fresh.len(), 8);
    assert_ne!(fresh, commit_run(&store, None, None));
}

#[test]
fn find_file_names_the_version_by_number_or_by_id() {
    let (_tmp, store) = store();
    let s = codever::Store::open(&store).unwrap();
    let codever::Resolved {
        history: h,
        index: i,
    } = s.resolve(&codever::Spec::parse("ppo:v1").unwrap()).unwrap();
    let meta = codever::frontend::find_file(&s, &h, i, "./ppo.py").unwrap();
    assert_eq!(
        s.read_blob(&meta.id).unwrap(),
        std::fs::read(fixture("ppo-lr").join("training/ppo.py")).unwrap()
    );
    let e = codever::frontend::find_file(&s, &h, i, "nope.py").unwrap_err();
    assert_eq!(e.to_string(), "rl_algo_code/ppo:v1 has no file \"nope.py\"");
    assert!(matches!(
        codever::frontend::find_file(&s, &h, i, "../x"),
        Err(codever::Error::InvalidPath { .. })
    ));
}

/// The library's hints name operations; the CLI words the ones that ask for an option with its
/// own flags, exactly as it always has.
#[test]
fn the_cli_words_option_hints_with_its_flags() {
    let (tmp, store) = store();
    let dirty = tmp.path().join("dirty");
    std::fs::create_dir(&dirty).unwrap();
    std::fs::write(dirty.join("ppo.py"), "edited\n").unwrap();
    let nowhere = tempfile::tempdir().unwrap();
    let main = fixture("baseline").join("main.py");
    let (main, dirty) = (main.to_str().unwrap(), dirty.to_str().unwrap());
    let with_store = |args: &[&str]| {
        let mut c = codever();
        c.arg("--store").arg(&store).args(args);
        c
    };
    let mut not_a_store = codever();
    not_a_store.args(["--store", dirty, "list"]);
    let mut no_store = codever();
    no_store.current_dir(nowhere.path()).arg("list");
    let cases = [
        (
            with_store(&["checkout", "ppo:v1", "--into", dirty]),
            "pass --force to overwrite them, or check out into another directory",
        ),
        (
            with_store(&["commit", "x", "--type", "t", "/nonexistent/a.py"]),
            "check the path; use PATH=DISPLAY to store a file under another name",
        ),
        (
            with_store(&["commit", "x", "--type", "t", main, main]),
            "give one of the sources another display path with PATH=DISPLAY",
        ),
        (
            not_a_store,
            "point --store or CODEVER_DIR at a `.codever` directory made by `codever init`",
        ),
        (
            no_store,
            "run `codever init` in your project, or pass --store PATH / set CODEVER_DIR",
        ),
    ];
    for (mut c, hint) in cases {
        let out = c.output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{c:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 2, "{c:?}: {err}");
        assert!(lines[0].starts_with("error: "), "{c:?}: {err}");
        assert_eq!(lines[1], format!("hint: {hint}"), "{c:?}");
    }
}

/// `show` says how a version was captured by the commit that made it: each source as given,
/// where its files went, and the globs that filtered directories.
#[test]
fn show_says_where_a_version_came_from() {
    let tmp = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(tmp.path()).unwrap();
    crate::common::write(&root, "repo/training/ppo.py", b"lr = 3e-4\n");
    crate::common::write(&root, "repo/training/ppo.pyc", b"\0junk");
    crate::common::write(&root, "repo/main.py", b"import training\n");
    codever().arg("init").arg(&root).assert().success();
    let store = root.join(".codever");
    let repo = root.join("repo");
    let arg = |rel: &str| repo.join(rel).to_str().unwrap().to_string();
    let (training, main) = (arg("training"), arg("main.py"));
    let main_as = format!("{main}=entry.py");
    let args = [
        "commit",
        "code",
        "--type",
        "t",
        &training,
        &main_as,
        "--exclude",
        "*.pyc",
        "--include",
        "*.py",
        "--run",
        "r1",
    ];
    run_ok(&store, &args);
    let show = json(&store, &["show", "code"]);
    assert_eq!(
        (&show["sources"], &show["include"], &show["exclude"]),
        (
            &serde_json::json!([
                {"path": training, "display": "", "dir": true, "every_file": false},
                {"path": main, "display": "entry.py", "dir": false, "every_file": false},
            ]),
            &serde_json::json!(["*.py"]),
            &serde_json::json!(["*.pyc"])
        )
    );
    let text = run_ok(&store, &["show", "code"]);
    let from = text.find("source").unwrap();
    let to = text.find("files ").unwrap();
    assert_eq!(
        &text[from..to],
        format!(
            "source   {training}/\nsource   {main} as entry.py\ninclude  *.py\nexclude  *.pyc\n"
        )
    );
    // A later commit of the same content (another filter, same files) links to the version,
    // which still says how it was made.
    let relog = [
        "commit",
        "code",
        "--type",
        "t",
        &training,
        &main_as,
        "--exclude",
        "*.pyc",
        "--run",
        "r2",
    ];
    run_ok(&store, &relog);
    let again = json(&store, &["show", "code"]);
    assert_eq!(
        (&again["version"], &again["runs"]),
        (&serde_json::json!(0), &serde_json::json!(["r1", "r2"]))
    );
    assert_eq!(again["include"], serde_json::json!(["*.py"]));
}

/// `runs` lists runs by when they started (not by id), each with its start time.
#[test]
fn runs_are_listed_by_start_time() {
    let (_tmp, store) = crate::common::init_store();
    let src = store.parent().unwrap().join("src");
    let mut started = Vec::new();
    for (i, run) in ["zeta", "alpha", "mid"].into_iter().enumerate() {
        crate::common::write(&src, "a.py", format!("a = {i}\n").as_bytes());
        let before = jiff::Timestamp::now();
        crate::common::commit_ok(&store, "t/a", src.join("a.py"), run);
        started.push((before, jiff::Timestamp::now()));
    }
    let runs = json(&store, &["runs"]);
    let ids: Vec<&str> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["zeta", "alpha", "mid"]);
    for (r, (before, after)) in runs.as_array().unwrap().iter().zip(started) {
        let t: jiff::Timestamp = r["time"].as_str().unwrap().parse().unwrap();
        assert!(before <= t && t <= after, "{r}");
    }
    let text = run_ok(&store, &["runs"]);
    let order: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(order, ["zeta", "alpha", "mid"], "{text}");
}

/// `-m` on a commit whose content is unchanged is kept with the run's link to the version:
/// `runs show` gives it for that run, `show` lists it under the version's own message.
#[test]
fn a_message_on_an_unchanged_commit_is_kept() {
    let (_tmp, store) = store();
    let ppo = fixture("ppo-lr").join("training/ppo.py");
    let args = [
        "commit",
        "ppo",
        "--type",
        "rl_algo_code",
        ppo.to_str().unwrap(),
    ];
    let mut args = args.to_vec();
    args.extend(["--run", "r4", "-m", "same code, seed 2"]);
    let out = run_ok(&store, &args);
    assert!(out.starts_with("ppo:v1 (unchanged)"), "{out}");
    let run = json(&store, &["runs", "show", "r4"]);
    assert_eq!(
        (
            &run["artifacts"][0]["version"],
            &run["artifacts"][0]["new"],
            &run["artifacts"][0]["message"]
        ),
        (
            &serde_json::json!(1),
            &serde_json::json!(false),
            &serde_json::json!("same code, seed 2")
        )
    );
    let text = run_ok(&store, &["runs", "show", "r4"]);
    assert!(text.contains("  rl_algo_code/ppo:v1  "), "{text}");
    assert!(
        text.contains("  (unchanged)  same code, seed 2\n"),
        "{text}"
    );
    let show = json(&store, &["show", "ppo:v1"]);
    let commits: Vec<(&str, &str)> = show["commits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["run"].as_str().unwrap(), c["message"].as_str().unwrap()))
        .collect();
    assert_eq!(commits, [("r2", "ppo-lr"), ("r4", "same code, seed 2")]);
    let text = run_ok(&store, &["show", "ppo:v1"]);
    assert!(
        text.contains("\nmessage  ppo-lr\n         r4: same code, seed 2\n"),
        "{text}"
    );
}

/// A version linked by many runs (a sweep) lists a few run ids per text line and counts the
/// rest; JSON lists them all.
#[test]
fn list_lines_show_a_few_runs_and_count_the_rest() {
    let (_tmp, store) = crate::common::init_store();
    let src = store.parent().unwrap().join("src");
    crate::common::write(&src, "a.py", b"a = 1\n");
    let runs: Vec<String> = (1..=5).map(|i| format!("sweep-{i}")).collect();
    for run in &runs {
        crate::common::commit_ok(&store, "t/a", src.join("a.py"), run);
    }
    let versions = run_ok(&store, &["versions", "a"]);
    assert!(
        versions.contains("  runs sweep-1, sweep-2, sweep-3 … and 2 more  [latest]\n"),
        "{versions}"
    );
    let log = run_ok(&store, &["log", "a"]);
    assert!(
        log.contains("  runs sweep-1, sweep-2, sweep-3 … and 2 more  [latest]\n"),
        "{log}"
    );
    assert_eq!(
        json(&store, &["versions", "a"])[0]["runs"],
        serde_json::json!(runs)
    );
    let show = run_ok(&store, &["show", "a"]);
    assert!(
        show.contains("\nruns     sweep-1, sweep-2, sweep-3, sweep-4, sweep-5\n"),
        "{show}"
    );
}
