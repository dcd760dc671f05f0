//! The `codever` command as a user runs it: real processes, exact output, exit codes.

use std::fs;

use predicates::prelude::*;
use serde_json::json;

use crate::common::{
    assert_fsck_clean, codever, commit_json, commit_ok, fixture, init_store, json, read_tree,
    run_err, run_ok, set_executable, write,
};

#[test]
fn commit_prints_new_then_unchanged_and_json_has_the_documented_keys() {
    let (tmp, _store) = init_store();
    let repo = fixture("baseline");
    let commit = |run: &str| {
        codever()
            .current_dir(&repo)
            .env("CODEVER_DIR", tmp.path().join(".codever"))
            .args([
                "commit",
                "ppo",
                "--type",
                "rl_algo_code",
                "training/ppo.py",
                "--run",
                run,
            ])
            .output()
            .unwrap()
    };
    let first = String::from_utf8(commit("r1").stdout).unwrap();
    assert!(first.starts_with("ppo:v0 (new)  id "), "{first}");
    assert!(first.ends_with("  run r1  1 file(s)\n"), "{first}");
    let second = String::from_utf8(commit("r2").stdout).unwrap();
    assert!(second.starts_with("ppo:v0 (unchanged)  id "), "{second}");
    assert!(
        second.contains("run r2  linked to the existing version"),
        "{second}"
    );

    let out = codever()
        .current_dir(fixture("ppo-lr"))
        .env("CODEVER_DIR", tmp.path())
        .env("CODEVER_RUN_ID", "r3")
        .args([
            "commit",
            "ppo",
            "--type",
            "rl_algo_code",
            "training/ppo.py",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "digest",
            "id",
            "name",
            "new",
            "renamed_from",
            "revived",
            "run",
            "type",
            "version"
        ]
    );
    assert_eq!(
        (&v["revived"], &v["renamed_from"]),
        (&json!(false), &json!(null))
    );
    assert_eq!(v["version"], 1);
    assert_eq!(v["new"], true);
    assert_eq!(v["run"], "r3");
    assert_eq!(v["type"], "rl_algo_code");
    assert_eq!(v["id"].as_str().unwrap().len(), 64);
    // The W&B digest of {"ppo.py": v2's bytes}.
    let md5 = codever::Md5::of(&fs::read(fixture("ppo-lr").join("training/ppo.py")).unwrap());
    assert_eq!(
        v["digest"],
        codever::wandb_digest([("ppo.py", md5)]).to_hex().as_str()
    );
}

#[test]
fn a_fresh_run_id_is_made_and_printed_when_none_is_given() {
    let (_tmp, store) = init_store();
    let out = json(
        &store,
        &[
            "commit",
            "m",
            "--type",
            "t",
            fixture("baseline").join("main.py").to_str().unwrap(),
        ],
    );
    let run = out["run"].as_str().unwrap();
    assert_eq!(run.len(), 8);
    assert_eq!(json(&store, &["runs", "show", run])["id"], run);
}

#[test]
fn inspect_commands_report_versions_files_and_runs() {
    let (tmp, store) = init_store();
    for (v, run) in [("baseline", "r1"), ("ppo-lr", "r2"), ("tuned", "r4")] {
        let src = format!(
            "{}=models.py",
            fixture(v).join("training/models.py").display()
        );
        let ppo = fixture(v).join("training/ppo.py");
        commit_ok(&store, "model_code/model_code", src, run);
        commit_ok(&store, "rl_algo_code/ppo", ppo, run);
    }
    assert_eq!(
        json(&store, &["list"]),
        json!([
            {"type": "model_code", "name": "model_code", "versions": 2, "latest": 1,
             "complete": true, "problems": [], "forgotten": false, "forgotten_versions": 0,
             "former_names": []},
            {"type": "rl_algo_code", "name": "ppo", "versions": 2, "latest": 0,
             "complete": true, "problems": [], "forgotten": false, "forgotten_versions": 0,
             "former_names": []},
        ])
    );
    assert_eq!(
        json(&store, &["list", "--type", "model_code"])
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let versions = json(&store, &["versions", "ppo"]);
    let versions = versions.as_array().unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0]["version"], 0);
    assert_eq!(versions[0]["runs"], json!(["r1", "r4"]));
    assert_eq!(versions[0]["aliases"], json!(["latest"]));
    assert_eq!(versions[1]["runs"], json!(["r2"]));
    assert_eq!(versions[0]["complete"], true);
    assert_eq!(versions[0]["problems"], json!([]));
    for k in ["version", "id", "digest", "created", "runs", "aliases"] {
        assert!(versions[0].get(k).is_some(), "{k}");
    }
    let text = run_ok(&store, &["versions", "ppo"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "rl_algo_code/ppo");
    assert!(
        lines[1].starts_with("v0    ")
            && lines[1].contains("+1")
            && lines[1].ends_with("runs r1, r4  [latest]"),
        "{text}"
    );
    assert!(
        lines[2].contains("~1") && lines[2].ends_with("runs r2"),
        "{text}"
    );

    let show = json(&store, &["show", "model_code:v1"]);
    let bytes = fs::read(fixture("tuned").join("training/models.py")).unwrap();
    assert_eq!(show["type"], "model_code");
    assert_eq!(show["version"], 1);
    assert_eq!(show["runs"], json!(["r4"]));
    assert_eq!(
        show["files"],
        json!([{
            "path": "models.py",
            "size": bytes.len(),
            "md5": codever::Md5::of(&bytes).to_base64(),
            "blake3": codever::ObjectId::compute(codever::object::Kind::Blob, &bytes).to_hex(),
            "executable": false,
        }])
    );

    // cat prints the raw bytes.
    assert_eq!(
        run_ok(&store, &["cat", "model_code:v0", "models.py"]),
        fs::read_to_string(fixture("baseline").join("training/models.py")).unwrap()
    );

    let r2 = json(&store, &["runs", "show", "r2"]);
    assert_eq!(r2["id"], "r2");
    assert_eq!(
        r2["artifacts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| (
                a["type"].clone(),
                a["name"].clone(),
                a["version"].clone(),
                a["new"].clone()
            ))
            .collect::<Vec<_>>(),
        [
            (
                json!("model_code"),
                json!("model_code"),
                json!(0),
                json!(false)
            ),
            (json!("rl_algo_code"), json!("ppo"), json!(1), json!(true)),
        ]
    );
    assert_eq!(r2["cwd"], json!(std::env::current_dir().unwrap()));
    let runs = json(&store, &["runs"]);
    assert_eq!(
        runs.as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].clone())
            .collect::<Vec<_>>(),
        [json!("r1"), json!("r2"), json!("r4")]
    );
    drop(tmp);
}

#[test]
fn directory_sources_keep_relative_paths_modes_and_honour_ignores() {
    let (tmp, store) = init_store();
    let repo = tmp.path().join("repo");
    write(&repo, "main.py", b"main\n");
    write(&repo, "training/ppo.py", b"ppo\n");
    write(&repo, "training/run.sh", b"#!/bin/sh\n");
    write(&repo, "data/big.bin", b"data");
    write(&repo, ".gitignore", b"data/\n");
    set_executable(&repo.join("training/run.sh"), true);
    let src = format!("{}=code", repo.display());
    run_ok(
        &store,
        &[
            "commit",
            "repo",
            "--type",
            "code",
            &src,
            "--exclude",
            "*.sh",
            "--run",
            "a",
        ],
    );
    let files = json(&store, &["show", "repo"])["files"].clone();
    let paths: Vec<&str> = files
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        ["code/.gitignore", "code/main.py", "code/training/ppo.py"]
    );

    run_ok(
        &store,
        &[
            "commit",
            "repo2",
            "--type",
            "code",
            repo.to_str().unwrap(),
            "--include",
            "training/**",
            "--run",
            "a",
        ],
    );
    let files = json(&store, &["show", "repo2"])["files"].clone();
    assert_eq!(files[0]["path"], "training/ppo.py");
    assert_eq!(files[1]["path"], "training/run.sh");
    #[cfg(unix)]
    {
        assert_eq!(files[1]["executable"], true);
        let out = tmp.path().join("out");
        run_ok(
            &store,
            &["checkout", "repo2", "--into", out.to_str().unwrap()],
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(out.join("training/run.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
    }
}

#[test]
fn the_store_is_found_by_walking_up_or_by_override() {
    let (tmp, store) = init_store();
    let deep = tmp.path().join("a/b");
    fs::create_dir_all(&deep).unwrap();
    write(&deep, "x.py", b"x\n");
    codever()
        .current_dir(&deep)
        .args(["commit", "x", "--type", "t", "x.py", "--run", "r"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("x:v0 (new)"));
    assert_eq!(json(&store, &["list"]).as_array().unwrap().len(), 1);
    // --store wins over CODEVER_DIR, which wins over walking up.
    let (_other_tmp, other) = init_store();
    codever()
        .current_dir(&deep)
        .env("CODEVER_DIR", &other)
        .args(["--json", "list"])
        .assert()
        .success()
        .stdout("[]\n");
    codever()
        .current_dir(&deep)
        .env("CODEVER_DIR", &other)
        .arg("--store")
        .arg(&store)
        .args(["--json", "list"])
        .assert()
        .success()
        .stdout(predicate::str::contains("\"x\""));
}

/// Every user error: exit 2, one line naming the problem and one hint, exactly as a user reads
/// them; nothing written.
#[test]
fn errors_are_one_line_with_a_hint_and_exit_2() {
    let (tmp, store) = init_store();
    let py = fixture("baseline").join("main.py");
    let py = py.to_str().unwrap();
    commit_ok(&store, "a/ppo", py, "r");
    commit_ok(&store, "b/ppo", py, "r");
    let before = read_tree(&store);
    let up = format!("{py}=../x.py");
    let abs = format!("{py}=/abs.py");
    let empty = format!("{py}=");
    let same = format!("{py}=main.py");

    let two_sources =
        format!("error: two sources map to the display path \"main.py\": {py} and {py}");
    let names = "hint: names use letters, digits, `_`, `.` and `-`, 1 to 128 characters";
    let reserved = "hint: pick another name for the alias, e.g. `best`, `prod` or `lr-sweep`";
    let display =
        "hint: display paths are relative, `/`-separated, without `..`, e.g. `training/models.py`";

    let cases: Vec<(Vec<&str>, &str, &str)> = vec![
        (
            vec!["commit", "bad name", "--type", "t", py],
            "error: invalid artifact name \"bad name\": ' ' is not allowed",
            names,
        ),
        (
            vec!["commit", "n", "--type", "a/b", py],
            "error: invalid type \"a/b\": '/' is not allowed",
            names,
        ),
        (
            vec!["commit", "n", "--type", "t", "/no/such.py"],
            "error: source not found: /no/such.py",
            "hint: check the path; use PATH=DISPLAY to store a file under another name",
        ),
        (
            vec!["commit", "n", "--type", "t", &up],
            "error: invalid path \"../x.py\": `..` is not allowed",
            display,
        ),
        (
            vec!["commit", "n", "--type", "t", &abs],
            "error: invalid path \"/abs.py\": absolute paths are not allowed",
            display,
        ),
        (
            vec!["commit", "n", "--type", "t", &empty],
            "error: invalid path \"\": it names no file",
            display,
        ),
        (
            vec!["commit", "n", "--type", "t", py, &same],
            &two_sources,
            "hint: give one of the sources another display path with PATH=DISPLAY",
        ),
        (
            vec!["commit", "n", "--type", "t", py, "--alias", "latest"],
            "error: alias \"latest\" is reserved: `latest` and `vN` already name versions",
            reserved,
        ),
        (
            vec!["commit", "n", "--type", "t", py, "--run", "a/b"],
            "error: invalid run id \"a/b\": '/' is not allowed",
            names,
        ),
        (
            vec!["show", "nope"],
            "error: unknown artifact \"nope\"",
            "hint: `codever list` shows the artifacts in this store",
        ),
        (
            vec!["show", "ppo"],
            "error: artifact name \"ppo\" exists under several types: a/ppo, b/ppo",
            "hint: say which one, e.g. `a/ppo`",
        ),
        (
            vec!["show", "a/ppo:v5"],
            "error: a/ppo has no version v5 (it has v0..v0)",
            "hint: `codever versions a/ppo` lists its versions",
        ),
        (
            vec!["show", "a/ppo:best"],
            "error: a/ppo has no alias \"best\"",
            "hint: set an alias with `codever alias SPEC ALIAS`",
        ),
        (
            vec!["show", "a/ppo@ffff"],
            "error: no version of a/ppo has an id starting with ffff",
            "hint: `codever versions a/ppo` lists its versions",
        ),
        (
            vec!["show", "a/ppo:"],
            "error: invalid version spec \"a/ppo:\": invalid alias \"\": it is empty",
            "hint: a spec is [TYPE/]NAME[:vN|:latest|:ALIAS|@IDPREFIX], e.g. `rl_algo_code/ppo:v3`",
        ),
        (
            vec!["cat", "a/ppo", "nope.py"],
            "error: a/ppo:v0 has no file \"nope.py\"",
            "hint: `codever show SPEC` lists the files of a version",
        ),
        (
            vec!["runs", "show", "nope"],
            "error: unknown run \"nope\"",
            "hint: `codever runs` lists the runs in this store",
        ),
        (
            vec!["alias", "a/ppo", "v2"],
            "error: alias \"v2\" is reserved: `latest` and `vN` already name versions",
            reserved,
        ),
        // Typos get a "did you mean".
        (
            vec!["show", "a/ppp"],
            "error: unknown artifact \"a/ppp\"",
            "hint: did you mean `a/ppo`? `codever list` shows the artifacts in this store",
        ),
        (
            vec!["show", "pop"],
            "error: unknown artifact \"pop\"",
            "hint: did you mean `a/ppo` or `b/ppo`? `codever list` shows the artifacts in this store",
        ),
        (
            vec!["show", "a/ppo:0"],
            "error: a/ppo has no alias \"0\"",
            "hint: did you mean `a/ppo:v0`? set an alias with `codever alias SPEC ALIAS`",
        ),
        (
            vec!["show", "a/ppo:V0"],
            "error: a/ppo has no alias \"V0\"",
            "hint: did you mean `a/ppo:v0`? set an alias with `codever alias SPEC ALIAS`",
        ),
        // A number that is not a version gets no suggestion (a/ppo has only v0).
        (
            vec!["show", "a/ppo:1"],
            "error: a/ppo has no alias \"1\"",
            "hint: set an alias with `codever alias SPEC ALIAS`",
        ),
        (
            vec!["show", "a/ppo:lastest"],
            "error: a/ppo has no alias \"lastest\"",
            "hint: did you mean `a/ppo:latest`? set an alias with `codever alias SPEC ALIAS`",
        ),
    ];
    for (args, error, hint) in &cases {
        let err = run_err(&store, args);
        assert_eq!(err.lines().collect::<Vec<_>>(), [*error, *hint], "{args:?}");
        // With --json: the same words as one JSON object on one line of stderr, and a kind
        // to branch on; nothing on stdout; exit 2.
        let mut json_args = vec!["--json"];
        json_args.extend(args);
        let out = crate::common::output(&store, &json_args);
        assert_eq!(
            (out.status.code(), out.stdout.as_slice()),
            (Some(2), &b""[..]),
            "{args:?}"
        );
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        let row: serde_json::Value = serde_json::from_str(&stderr).unwrap();
        assert_eq!(
            (row["error"].as_str(), row["hint"].as_str()),
            (error.strip_prefix("error: "), hint.strip_prefix("hint: ")),
            "{args:?}"
        );
        assert_eq!(row.as_object().unwrap().len(), 3, "{row}");
    }
    let kind = |args: &[&str]| {
        let out = crate::common::output(&store, args);
        let row: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
        row["kind"].as_str().unwrap().to_string()
    };
    assert_eq!(kind(&["--json", "show", "nope"]), "unknown_artifact");
    assert_eq!(kind(&["--json", "show", "ppo"]), "ambiguous_name");
    assert_eq!(kind(&["--json", "alias", "a/ppo", "v2"]), "reserved_alias");
    assert_eq!(kind(&["--json", "runs", "show", "nope"]), "unknown_run");
    // Usage errors too, wherever --json is given.
    let out = crate::common::output(&store, &["shwo", "a/ppo", "--json"]);
    assert_eq!(out.status.code(), Some(2));
    let row: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(
        row,
        serde_json::json!({
            "error": "unrecognized subcommand 'shwo'",
            "hint": "a similar subcommand exists: 'show'; Usage: codever [OPTIONS] <COMMAND>; \
                     run `codever --help` for every command and option",
            "kind": "usage",
        })
    );
    // Without --json, the parser's own text, with its "did you mean".
    let text = run_err(&store, &["shwo"]);
    assert!(
        text.starts_with(
            "error: unrecognized subcommand 'shwo'\n\n  tip: a similar subcommand exists: 'show'\n"
        ),
        "{text}"
    );
    // None of the failed commits wrote anything.
    assert_eq!(read_tree(&store), before);

    // Outside any store.
    let elsewhere = tempfile::tempdir().unwrap();
    codever()
        .current_dir(elsewhere.path())
        .args(["list"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(format!(
            "error: no codever store found in {} or any parent directory\n\
             hint: run `codever init` in your project, or pass --store PATH / set CODEVER_DIR\n",
            elsewhere.path().display()
        ));
    // A newer store format.
    fs::write(store.join("format"), "codever-store-format 99\n").unwrap();
    assert_eq!(
        run_err(&store, &["list"]),
        format!(
            "error: store {} has format 99, but this codever reads format 3 at most\n\
             hint: upgrade codever to read this store\n",
            store.display()
        )
    );
    // init twice.
    codever()
        .arg("init")
        .arg(tmp.path())
        .assert()
        .code(2)
        .stdout("")
        .stderr(format!(
            "error: a codever store already exists at {}\n\
             hint: use the existing store; nothing was changed\n",
            store.display()
        ));
}

#[test]
fn checkout_and_alias_from_the_cli() {
    let (tmp, store) = init_store();
    let repo = fixture("layernorm");
    run_ok(
        &store,
        &[
            "commit",
            "safelife",
            "--type",
            "code",
            repo.to_str().unwrap(),
            "--run",
            "r",
            "--alias",
            "best",
        ],
    );
    let out = tmp.path().join("out");
    let text = run_ok(
        &store,
        &["checkout", "safelife:best", "--into", out.to_str().unwrap()],
    );
    assert_eq!(
        text,
        format!(
            "checked out code/safelife:v0 into {}: 5 file(s) written, 0 already up to date\n",
            out.display()
        )
    );
    assert_eq!(
        fs::read(out.join("training/models.py")).unwrap(),
        fs::read(repo.join("training/models.py")).unwrap()
    );
    fs::write(out.join("main.py"), "edited\n").unwrap();
    let err = run_err(
        &store,
        &["checkout", "safelife", "--into", out.to_str().unwrap()],
    );
    assert!(
        err.contains("would overwrite 1 modified file(s)") && err.contains("main.py"),
        "{err}"
    );
    assert_eq!(fs::read_to_string(out.join("main.py")).unwrap(), "edited\n");
    run_ok(
        &store,
        &[
            "checkout",
            "safelife",
            "--into",
            out.to_str().unwrap(),
            "--force",
        ],
    );
    assert_eq!(
        fs::read(out.join("main.py")).unwrap(),
        fs::read(repo.join("main.py")).unwrap()
    );

    assert_eq!(
        run_ok(&store, &["alias", "safelife:v0", "prod"]),
        "code/safelife:prod -> v0\n"
    );
    assert_eq!(
        json(&store, &["versions", "safelife"])[0]["aliases"],
        json!(["latest", "best", "prod"])
    );
}

#[test]
fn an_empty_directory_is_an_empty_artifact_with_the_wandb_empty_digest() {
    let (tmp, store) = init_store();
    let empty = tmp.path().join("empty");
    fs::create_dir_all(&empty).unwrap();
    let v = commit_json(&store, "t/nothing", &empty, "r");
    assert_eq!(v["digest"], "64e7c61456b10382e2f3b571ac24b659");
}

#[test]
fn a_run_that_used_a_version_lists_it_and_fsck_checks_it() {
    let (_tmp, store) = init_store();
    commit_ok(&store, "t/m", fixture("baseline").join("main.py"), "maker");
    let s = codever::Store::open(&store).unwrap();
    let codever::Resolved {
        history: h,
        index: i,
    } = s.resolve(&codever::Spec::parse("m").unwrap()).unwrap();
    s.record_use("reader", &h.key, h.versions[i].tree).unwrap();
    let shown = json(&store, &["runs", "show", "reader"]);
    assert_eq!(
        shown["used"],
        json!([{"type": "t", "name": "m", "version": 0, "id": h.versions[i].tree.to_hex(),
                "complete": true, "forgotten": false}])
    );
    assert!(run_ok(&store, &["runs", "show", "reader"]).contains("  used t/m:v0  "));
    assert_fsck_clean(&store, "a run that used a version");
    assert!(s.record_use("bad/run", &h.key, h.versions[i].tree).is_err());
}

/// `codever completions bash` prints a script that bash loads and that completes commands and
/// their options; other shells get their scripts; an unknown shell is a usage error.
#[test]
fn shell_completions_complete_commands_and_options() {
    let script = codever().args(["completions", "bash"]).output().unwrap();
    assert!(script.status.success());
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("codever.bash");
    fs::write(&path, &script.stdout).unwrap();
    let complete = |words: &str, cword: usize, cur: &str, prev: &str| {
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!(
                "source '{}'; COMP_WORDS=({words}); COMP_CWORD={cword}; \
                 _codever codever '{cur}' '{prev}'; echo \"${{COMPREPLY[@]}}\"",
                path.display()
            ))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    assert_eq!(complete("codever che", 1, "che", "codever"), "checkout");
    assert_eq!(
        complete("codever checkout --c", 2, "--c", "checkout"),
        "--clean --color"
    );
    assert_eq!(complete("codever ver", 1, "ver", "codever"), "versions");
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let out = codever().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            text.contains("checkout") && text.contains("clean"),
            "{shell}"
        );
    }
    let err = codever().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(err.status.code(), Some(2));
}

/// A store whose `format` cannot be read (here a directory in its place) is named with the
/// reason, not taken for "not a store": the user must see which file to look at.
#[test]
fn a_format_file_that_cannot_be_read_is_named_not_taken_for_no_store() {
    let (_tmp, store) = crate::common::init_store();
    let format = store.join("format");
    std::fs::remove_file(&format).unwrap();
    std::fs::create_dir(&format).unwrap();
    let err = crate::common::run_err(&store, &["list"]);
    assert_eq!(
        err,
        format!(
            "error: cannot read {}: not a regular file\n",
            format.display()
        )
    );
}
