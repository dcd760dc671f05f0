//! Mistakes that can be undone: `forget`, `unforget` and `rename`, through the CLI on real
//! stores, with the exact words and exit codes a user sees; and merges of stores where one
//! machine forgets or renames while the other commits.

use std::fs;
use std::path::Path;

use codever::object::Structured;
use serde_json::{Value, json};

use crate::common::{
    assert_fsck_clean, commit_json, commit_ok, copy_missing, fixture, init_at, init_store, json,
    run_any, run_err, run_ok, write,
};

/// The id of version `spec` (64 hex).
fn id_of(store: &Path, spec: &str) -> String {
    json(store, &["show", spec])["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `(version, forgotten)` of each row of `versions --json args…`.
fn rows(store: &Path, args: &[&str]) -> Vec<(Value, bool)> {
    let mut a = vec!["versions"];
    a.extend_from_slice(args);
    json(store, &a)
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["version"].clone(), v["forgotten"].as_bool().unwrap()))
        .collect()
}

/// A command that succeeds and prints `stdout`, with exactly `stderr` beside it.
fn assert_ok(store: &Path, args: &[&str], stdout: &str, stderr: &str) {
    let (code, out, err) = run_any(store, args);
    assert_eq!(
        (code, out.as_str(), err.as_str()),
        (0, stdout, stderr),
        "{args:?}"
    );
}

/// The README's typo story: `codever commit ppo --type model_code training/ppo.py` made
/// `model_code/ppo`, and every `ppo` became ambiguous. Forgetting it, or renaming it, frees
/// `ppo`; unforgetting brings the ambiguity back; nothing is ever lost.
#[test]
fn the_typo_story_forget_unforget_rename() {
    let (_tmp, store) = init_store();
    let ppo = fixture("baseline").join("training/ppo.py");
    commit_ok(&store, "rl_algo_code/ppo", &ppo, "run-1");
    // The typo.
    commit_ok(&store, "model_code/ppo", &ppo, "run-2");
    let ambiguous = "error: artifact name \"ppo\" exists under several types: model_code/ppo, \
                     rl_algo_code/ppo\nhint: say which one, e.g. `model_code/ppo`\n";
    assert_eq!(run_err(&store, &["show", "ppo"]), ambiguous);
    let id = id_of(&store, "model_code/ppo");
    let short = &id[..12];

    // A bare name never hides a whole artifact.
    assert_eq!(
        run_err(&store, &["forget", "model_code/ppo"]),
        "error: \"model_code/ppo\" names no version\nhint: name one version \
         (`model_code/ppo:v1`, `model_code/ppo@IDPREFIX` or `model_code/ppo:latest`); for the \
         whole artifact, say so: `codever forget --artifact model_code/ppo`\n"
    );
    assert_eq!(
        run_err(&store, &["forget", "--artifact", "model_code/ppo:v0"]),
        "error: invalid version spec \"model_code/ppo:v0\": this names an artifact: give \
         [TYPE/]NAME, without a version\nhint: a spec is [TYPE/]NAME[:vN|:latest|:ALIAS|@IDPREFIX], \
         e.g. `rl_algo_code/ppo:v3`\n"
    );
    assert_ok(
        &store,
        &["forget", "--artifact", "model_code/ppo"],
        "forgot model_code/ppo: hidden from listings and bare names; nothing is deleted, \
         model_code/ppo still names it\nundo: codever unforget --artifact model_code/ppo\n",
        "",
    );
    assert_eq!(
        fs::read_to_string(store.join("format")).unwrap(),
        "codever-store-format 3\n"
    );
    // `ppo` means the one artifact listed again.
    assert_eq!(json(&store, &["show", "ppo"])["type"], "rl_algo_code");
    assert_eq!(
        run_ok(&store, &["list"]),
        format!("{:<40}   1 version(s)  latest v0\n", "rl_algo_code/ppo")
    );
    assert_eq!(
        run_ok(&store, &["list", "--all"]),
        format!(
            "{:<40}   1 version(s)  latest v0  FORGOTTEN\n{:<40}   1 version(s)  latest v0\n",
            "model_code/ppo", "rl_algo_code/ppo"
        )
    );
    // Forgetting again changes nothing.
    assert_ok(
        &store,
        &["forget", "--artifact", "model_code/ppo"],
        "model_code/ppo is already forgotten; nothing changed\n",
        "",
    );
    // Its type, or its id, still names it, with a note saying so.
    let note = "note: model_code/ppo is forgotten (hidden from listings and bare names); \
                `codever unforget --artifact model_code/ppo` brings it back\n";
    assert_ok(
        &store,
        &["cat", "model_code/ppo:v0", "ppo.py"],
        &fs::read_to_string(&ppo).unwrap(),
        note,
    );
    // (The typo logged the same file, so the listed artifact holds that id too: a bare name
    // with the id means the listed one.)
    assert_eq!(
        json(&store, &["show", &format!("ppo@{short}")])["type"],
        "rl_algo_code"
    );
    let (code, out, err) = run_any(&store, &["show", &format!("model_code/ppo@{short}")]);
    assert_eq!((code, err.as_str()), (0, note));
    assert!(
        out.starts_with(&format!(
            "model_code/ppo:v0  id {id}\nFORGOTTEN the whole artifact, at "
        )),
        "{out}"
    );
    // A bare name of only forgotten artifacts says so.
    commit_ok(&store, "model_code/only", &ppo, "run-3");
    run_ok(&store, &["forget", "--artifact", "only"]);
    assert_eq!(
        run_err(&store, &["versions", "only"]),
        "error: artifact \"only\" is forgotten (model_code/only)\nhint: name it with its type \
         to read it anyway (`model_code/only`), or bring it back with `codever unforget \
         --artifact model_code/only`\n"
    );

    // Undone: `ppo` is ambiguous again.
    let (code, value) =
        crate::common::run_any_json(&store, &["unforget", "--artifact", "model_code/ppo"]);
    assert_eq!(code, 0);
    assert_eq!(
        value,
        json!({"type": "model_code", "name": "ppo", "version": null, "id": null,
               "forgotten": false, "changed": true, "aliases": [],
               "artifact_forgotten": false})
    );
    assert_ok(
        &store,
        &["unforget", "--artifact", "model_code/ppo"],
        "model_code/ppo is not forgotten; nothing changed\n",
        "",
    );
    assert_eq!(run_err(&store, &["show", "ppo"]), ambiguous);

    // Renaming is the other way out: the name is free, the history kept.
    assert_ok(
        &store,
        &["rename", "model_code/ppo", "ppo_typo"],
        "renamed model_code/ppo to model_code/ppo_typo (1 version(s); numbers, ids, runs and \
         aliases kept)\nundo: codever rename model_code/ppo_typo model_code/ppo\n",
        "",
    );
    assert_eq!(json(&store, &["show", "ppo"])["type"], "rl_algo_code");
    assert_eq!(
        run_err(&store, &["show", "model_code/ppo"]),
        "error: model_code/ppo was renamed to model_code/ppo_typo\nhint: use the new name, \
         `model_code/ppo_typo`: its versions kept their numbers, ids, runs and aliases \
         (`codever rename model_code/ppo_typo model_code/ppo` would rename it back)\n"
    );
    // An id given with the old name still finds it.
    let (code, out, err) = run_any(&store, &["show", &format!("model_code/ppo@{short}")]);
    assert_eq!(
        (code, err.as_str()),
        (
            0,
            "note: model_code/ppo was renamed to model_code/ppo_typo\n"
        )
    );
    assert!(
        out.starts_with(&format!("model_code/ppo_typo:v0  id {id}\n")),
        "{out}"
    );
    assert_eq!(
        json(&store, &["runs", "show", "run-2"])["artifacts"][0]["name"],
        "ppo_typo"
    );
    let listed = json(&store, &["list"]);
    assert_eq!(listed[0]["name"], "ppo_typo");
    assert_eq!(listed[0]["former_names"], json!(["model_code/ppo"]));
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert_fsck_clean(&store, "after forget, unforget and rename");
}

/// Numbers never change because of forget; `vN` and aliases of a forgotten version are
/// refused; `latest` skips it; a commit of its content brings it back.
#[test]
fn forgotten_versions_keep_their_numbers_and_come_back_when_committed() {
    let (tmp, store) = init_store();
    let src = tmp.path().join("src");
    let mut ids = Vec::new();
    for (i, lr) in ["1", "2", "3"].iter().enumerate() {
        write(&src, "ppo.py", format!("lr = {lr}\n").as_bytes());
        let c = commit_json(&store, "rl/ppo", src.join("ppo.py"), &format!("r{i}"));
        assert_eq!(c["version"], i);
        ids.push(c["id"].as_str().unwrap().to_string());
    }
    run_ok(&store, &["alias", "ppo:v1", "best"]);
    let (code, forgot) = crate::common::run_any_json(&store, &["forget", "ppo:v1"]);
    assert_eq!(code, 0);
    assert_eq!(
        forgot,
        json!({"type": "rl", "name": "ppo", "version": 1, "id": ids[1], "forgotten": true,
               "changed": true, "aliases": ["best"], "artifact_forgotten": false})
    );
    // v0 and v2 keep their numbers; v1 is listed only when asked, marked.
    assert_eq!(
        rows(&store, &["ppo"]),
        [(json!(0), false), (json!(2), false)]
    );
    assert_eq!(
        rows(&store, &["ppo", "--all"]),
        [(json!(0), false), (json!(1), true), (json!(2), false)]
    );
    let list = json(&store, &["list"]);
    assert_eq!(
        (
            &list[0]["versions"],
            &list[0]["forgotten_versions"],
            &list[0]["latest"]
        ),
        (&json!(2), &json!(1), &json!(2))
    );
    let hint = format!(
        "hint: name it by id to read it anyway (`rl/ppo@{s}`), or bring it back with \
         `codever unforget rl/ppo@{s}`\n",
        s = &ids[1][..12]
    );
    assert_eq!(
        run_err(&store, &["cat", "ppo:v1", "ppo.py"]),
        format!(
            "error: rl/ppo:v1 is forgotten (id {})\n{hint}",
            &ids[1][..12]
        )
    );
    assert_eq!(
        run_err(&store, &["cat", "ppo:best", "ppo.py"]),
        format!(
            "error: rl/ppo:best is forgotten (id {})\n{hint}",
            &ids[1][..12]
        )
    );
    assert_ok(
        &store,
        &["cat", &format!("ppo@{}", &ids[1][..8]), "ppo.py"],
        "lr = 2\n",
        &format!(
            "note: rl/ppo@{s} (v1) is forgotten (hidden from listings and short specs); \
             `codever unforget rl/ppo@{s}` brings it back\n",
            s = &ids[1][..12]
        ),
    );
    assert_eq!(
        json(&store, &["show", &format!("ppo@{}", &ids[1][..8])])["forgotten"],
        true
    );

    // `latest` is the newest commit among the versions not forgotten.
    run_ok(&store, &["forget", "ppo:latest"]);
    assert_eq!(run_ok(&store, &["cat", "ppo", "ppo.py"]), "lr = 1\n");
    assert_eq!(rows(&store, &["ppo"]), [(json!(0), false)]);

    // Logging v1's content again is a new statement that it is in use: it comes back.
    write(&src, "ppo.py", b"lr = 2\n");
    let (code, out, err) = run_any(
        &store,
        &[
            "--json",
            "commit",
            "ppo",
            "--type",
            "rl",
            src.join("ppo.py").to_str().unwrap(),
            "--run",
            "r9",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        err,
        format!(
            "note: rl/ppo@{} was forgotten; this commit brings it back (logging it says it is in use)\n",
            &ids[1][..12]
        )
    );
    let c: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (&c["version"], &c["new"], &c["revived"]),
        (&json!(1), &json!(false), &json!(true))
    );
    assert_eq!(
        rows(&store, &["ppo"]),
        [(json!(0), false), (json!(1), false)]
    );
    assert_eq!(run_ok(&store, &["cat", "ppo:best", "ppo.py"]), "lr = 2\n");
    assert_eq!(run_ok(&store, &["cat", "ppo", "ppo.py"]), "lr = 2\n");
    // v2 comes back by unforget, number unchanged.
    assert_ok(
        &store,
        &["unforget", &format!("ppo@{}", &ids[2][..8])],
        &format!("rl/ppo:v2 (id {}) is listed again\n", &ids[2][..12]),
        "",
    );
    assert_eq!(
        rows(&store, &["ppo"]),
        [(json!(0), false), (json!(1), false), (json!(2), false)]
    );
    // `unforget NAME:vN` names a forgotten version by number.
    run_ok(&store, &["forget", "ppo:v0"]);
    assert_ok(
        &store,
        &["unforget", "ppo:v0"],
        &format!("rl/ppo:v0 (id {}) is listed again\n", &ids[0][..12]),
        "",
    );

    // Every version forgotten: the artifact is hidden, `latest` refused.
    for v in ["ppo:v0", "ppo:v1", "ppo:v2"] {
        run_ok(&store, &["forget", v]);
    }
    assert_eq!(
        run_err(&store, &["cat", "rl/ppo", "ppo.py"]),
        "error: every version of rl/ppo is forgotten, so it has no `latest`\nhint: `codever \
         versions rl/ppo --all` lists the forgotten versions; name one by id, or bring one back \
         with `codever unforget rl/ppo@IDPREFIX`\n"
    );
    assert_eq!(json(&store, &["list"]), json!([]));
    assert_eq!(json(&store, &["list", "--all"])[0]["forgotten"], true);
    // By its bare name: the error says what is forgotten and the hint what helps.
    assert_eq!(
        run_err(&store, &["show", "ppo"]),
        "error: every version of artifact \"ppo\" is forgotten (rl/ppo)\nhint: `codever \
         versions rl/ppo --all` lists them; name one by id, or bring one back with `codever \
         unforget rl/ppo@IDPREFIX`\n"
    );
    // Commands that show forgotten versions find it by its bare name, as `list --all` does.
    assert_eq!(
        rows(&store, &["ppo", "--all"]),
        [(json!(0), true), (json!(1), true), (json!(2), true)]
    );
    assert_eq!(json(&store, &["log", "ppo"]).as_array().unwrap().len(), 3);
    assert_ok(
        &store,
        &["unforget", "--artifact", "rl/ppo"],
        "rl/ppo is not forgotten; nothing changed\n",
        "note: every version of rl/ppo is forgotten one by one; `codever versions rl/ppo --all` \
         lists them, `codever unforget rl/ppo@IDPREFIX` brings one back\n",
    );
    // Nothing was deleted.
    for (i, lr) in ["1", "2", "3"].iter().enumerate() {
        let spec = format!("rl/ppo@{}", ids[i]);
        let (code, out, _) = run_any(&store, &["cat", &spec, "ppo.py"]);
        assert_eq!((code, out), (0, format!("lr = {lr}\n")));
    }
    assert_fsck_clean(&store, "after forgetting every version");
}

/// A forgotten artifact comes back whole when something is committed to it.
#[test]
fn a_commit_brings_a_forgotten_artifact_back() {
    let (tmp, store) = init_store();
    let src = tmp.path().join("src");
    write(&src, "a.py", b"a = 1\n");
    commit_ok(&store, "code/a", src.join("a.py"), "r1");
    write(&src, "a.py", b"a = 2\n");
    commit_ok(&store, "code/a", src.join("a.py"), "r2");
    run_ok(&store, &["forget", "a:v0"]);
    run_ok(&store, &["forget", "--artifact", "code/a"]);
    assert_eq!(json(&store, &["list"]), json!([]));
    // A listed artifact of the same name under another type: `a` means it, but an id only the
    // forgotten one holds finds that one.
    write(&src, "lib.py", b"lib = 1\n");
    commit_ok(&store, "lib/a", src.join("lib.py"), "r-lib");
    assert_eq!(json(&store, &["show", "a"])["type"], "lib");
    let v1 = id_of(&store, "code/a:v1");
    let (code, out, err) = run_any(&store, &["cat", &format!("a@{}", &v1[..6]), "a.py"]);
    assert_eq!((code, out.as_str()), (0, "a = 2\n"));
    assert_eq!(
        err,
        "note: code/a is forgotten (hidden from listings and bare names); `codever unforget \
         --artifact code/a` brings it back\n"
    );
    write(&src, "a.py", b"a = 3\n");
    let c = commit_json(&store, "code/a", src.join("a.py"), "r3");
    assert_eq!(
        (&c["version"], &c["new"], &c["revived"]),
        (&json!(2), &json!(true), &json!(true))
    );
    // Listed again, v0 still forgotten on its own.
    assert_eq!(
        rows(&store, &["code/a"]),
        [(json!(1), false), (json!(2), false)]
    );
    assert_eq!(json(&store, &["list"])[0]["forgotten"], false);
    assert_fsck_clean(&store, "revived");
}

/// Renames keep the whole history; chains, renaming back, and what is refused.
#[test]
fn renames_keep_the_history_chains_and_renaming_back() {
    let (tmp, store) = init_store();
    let src = tmp.path().join("src");
    for (i, body) in ["x = 1\n", "x = 2\n"].iter().enumerate() {
        write(&src, "x.py", body.as_bytes());
        commit_ok(&store, "code/a", src.join("x.py"), &format!("r{i}"));
    }
    run_ok(&store, &["alias", "a:v0", "best"]);
    write(&src, "other.py", b"o = 1\n");
    commit_ok(&store, "code/other", src.join("other.py"), "r9");
    let before = json(&store, &["versions", "a"]);

    // To itself, onto an existing artifact, with a version suffix: refused.
    assert_eq!(
        run_err(&store, &["rename", "a", "code/a"]),
        "error: code/a is already called code/a\nhint: give another name (or another type)\n"
    );
    assert_eq!(
        run_err(&store, &["rename", "a", "other"]),
        "error: cannot rename code/a to code/other: code/other already exists (1 version(s))\n\
         hint: choose a name no artifact has, or rename with merge to join the two histories \
         (the joined artifact's version numbers are then derived from both)\n"
    );
    // A chain: a -> b -> lib/c, the type changed on the way.
    run_ok(&store, &["rename", "a", "b"]);
    let (code, renamed) = crate::common::run_any_json(&store, &["rename", "code/b", "lib/c"]);
    assert_eq!(code, 0);
    assert_eq!(
        renamed,
        json!({"old_type": "code", "old_name": "b", "type": "lib", "name": "c", "versions": 2,
               "merged": false, "forgotten": false})
    );
    let mut after = json(&store, &["versions", "lib/c"]);
    assert_eq!(after, before, "numbers, ids, runs, aliases");
    assert_eq!(run_ok(&store, &["cat", "c:best", "x.py"]), "x = 1\n");
    assert_eq!(
        json(&store, &["list"])
            .as_array()
            .unwrap()
            .iter()
            .map(|a| format!("{}/{} {}", a["type"], a["name"], a["former_names"]))
            .collect::<Vec<_>>(),
        [r#""code"/"other" []"#, r#""lib"/"c" ["code/a","code/b"]"#]
    );
    // A commit under a former name joins the artifact under its name now.
    write(&src, "x.py", b"x = 3\n");
    let (code, out, err) = run_any(
        &store,
        &[
            "--json",
            "commit",
            "a",
            "--type",
            "code",
            src.join("x.py").to_str().unwrap(),
            "--run",
            "r3",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        err,
        "note: code/a was renamed to lib/c; the commit joined it there\n"
    );
    let c: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (&c["type"], &c["name"], &c["version"], &c["renamed_from"]),
        (&json!("lib"), &json!("c"), &json!(2), &json!("code/a"))
    );
    // Renaming onto a former name of another artifact is refused; renaming back is not.
    assert_eq!(
        run_err(&store, &["rename", "other", "code/b"]),
        "error: cannot rename code/other to code/b: code/b is a former name of lib/c\nhint: its \
         records still count as lib/c's; choose another name, or rename onto `lib/c` with merge\n"
    );
    run_ok(&store, &["rename", "lib/c", "code/a"]);
    after = json(&store, &["versions", "code/a"]);
    assert_eq!(after.as_array().unwrap().len(), 3);
    assert_eq!(after[0]["id"], before[0]["id"]);
    assert_eq!(after[1]["id"], before[1]["id"]);
    assert_eq!(
        run_err(&store, &["show", "lib/c"]),
        "error: lib/c was renamed to code/a\nhint: use the new name, `code/a`: its versions kept \
         their numbers, ids, runs and aliases (`codever rename code/a lib/c` would rename it \
         back)\n"
    );

    // Merge: the other artifact's history joins this one, numbered by commit time.
    let (code, merged) =
        crate::common::run_any_json(&store, &["rename", "other", "code/a", "--merge"]);
    assert_eq!(code, 0);
    assert_eq!(
        (&merged["merged"], &merged["versions"]),
        (&json!(true), &json!(4))
    );
    let runs: Vec<Value> = json(&store, &["versions", "a"])
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["runs"].clone())
        .collect();
    assert_eq!(
        runs,
        [json!(["r0"]), json!(["r1"]), json!(["r9"]), json!(["r3"])]
    );
    assert_fsck_clean(&store, "after renames");
}

/// Two machines forget and commit the same version independently; merged in either order, both
/// agree, and the newest statement wins.
#[test]
fn forget_on_one_machine_commit_on_the_other_merged_both_ways() {
    for commit_last in [false, true] {
        let tmp = tempfile::tempdir().unwrap();
        let base = init_at(&tmp.path().join("base"));
        let src = tmp.path().join("src");
        for (i, body) in ["x = 1\n", "x = 2\n"].iter().enumerate() {
            write(&src, "x.py", body.as_bytes());
            commit_ok(&base, "code/x", src.join("x.py"), &format!("r{i}"));
        }
        let (m1, m2) = (tmp.path().join("m1"), tmp.path().join("m2"));
        for m in [&m1, &m2] {
            fs::create_dir_all(m).unwrap();
            copy_missing(&base, m);
        }
        write(&src, "x.py", b"x = 2\n");
        let recommit = || commit_ok(&m2, "code/x", src.join("x.py"), "m2-again");
        if commit_last {
            run_ok(&m1, &["forget", "x:v1"]);
            recommit();
        } else {
            recommit();
            run_ok(&m1, &["forget", "x:v1"]);
        }
        let m1_copy = tmp.path().join("m1_copy");
        fs::create_dir_all(&m1_copy).unwrap();
        copy_missing(&m1, &m1_copy);
        copy_missing(&m2, &m1);
        copy_missing(&m1_copy, &m2);
        for args in [
            &["versions", "x", "--all"][..],
            &["list", "--all"],
            &["runs"],
        ] {
            assert_eq!(json(&m1, args), json(&m2, args), "{args:?}");
        }
        let expected = [(json!(0), false), (json!(1), !commit_last)];
        assert_eq!(
            rows(&m1, &["x", "--all"]),
            expected,
            "commit last: {commit_last}"
        );
        // m2's store kept its own format file (format 2) and reads the forget record anyway.
        assert_eq!(rows(&m2, &["x", "--all"]), expected);
        assert_fsck_clean(&m1, "machine1");
        assert_fsck_clean(&m2, "machine2");
    }
}

/// One machine renames; the other, not having seen it, commits under the old name. Merged in
/// either order, the commit joins the renamed artifact.
#[test]
fn a_commit_under_the_old_name_elsewhere_joins_the_renamed_artifact() {
    let tmp = tempfile::tempdir().unwrap();
    let base = init_at(&tmp.path().join("base"));
    let src = tmp.path().join("src");
    write(&src, "x.py", b"x = 1\n");
    commit_ok(&base, "model_code/ppo", src.join("x.py"), "r0");
    let (m1, m2) = (tmp.path().join("m1"), tmp.path().join("m2"));
    for m in [&m1, &m2] {
        fs::create_dir_all(m).unwrap();
        copy_missing(&base, m);
    }
    run_ok(&m1, &["rename", "model_code/ppo", "rl_algo_code/ppo"]);
    write(&src, "x.py", b"x = 2\n");
    assert_eq!(
        commit_json(&m2, "model_code/ppo", src.join("x.py"), "m2")["version"],
        1
    );
    // And two machines renaming one artifact to different names: the newer rename wins.
    write(&src, "y.py", b"y = 1\n");
    commit_ok(&base, "code/y", src.join("y.py"), "ry");
    for m in [&m1, &m2] {
        copy_missing(&base, m);
    }
    run_ok(&m1, &["rename", "code/y", "code/y1"]);
    run_ok(&m2, &["rename", "code/y", "code/y2"]);

    let m1_copy = tmp.path().join("m1_copy");
    fs::create_dir_all(&m1_copy).unwrap();
    copy_missing(&m1, &m1_copy);
    copy_missing(&m2, &m1);
    copy_missing(&m1_copy, &m2);
    for m in [&m1, &m2] {
        let listed: Vec<String> = json(m, &["list"])
            .as_array()
            .unwrap()
            .iter()
            .map(|a| format!("{}/{}:{}", a["type"], a["name"], a["versions"]))
            .collect();
        assert_eq!(listed, [r#""code"/"y2":1"#, r#""rl_algo_code"/"ppo":2"#]);
        let runs: Vec<Value> = json(m, &["versions", "ppo"])
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["runs"].clone())
            .collect();
        assert_eq!(runs, [json!(["r0"]), json!(["m2"])]);
        assert_eq!(
            run_err(m, &["show", "model_code/ppo"]),
            "error: model_code/ppo was renamed to rl_algo_code/ppo\nhint: use the new name, \
             `rl_algo_code/ppo`: its versions kept their numbers, ids, runs and aliases \
             (`codever rename rl_algo_code/ppo model_code/ppo` would rename it back)\n"
        );
        assert_fsck_clean(m, "after the merge");
    }
    for args in [&["versions", "ppo"][..], &["list", "--all"], &["runs"]] {
        assert_eq!(json(&m1, args), json(&m2, args), "{args:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Hostile stores: forget and rename records forged by a broken or hostile machine.

/// Writes `record` into the store at `store` and marks it in each of `dirs` (relative to the
/// store); returns its id.
fn forge<T: codever::object::Structured>(store: &Path, record: &T, dirs: &[&str]) -> String {
    let s = codever::Store::open(store).unwrap();
    let (id, _) = s.write_structured(record).unwrap();
    for d in dirs {
        crate::common::mark(&store.join(d), &id);
    }
    id.to_hex()
}

fn rename_record(from: &str, to: &str, time_ns: i64) -> codever::object::RenameRecord {
    let (ft, fname) = from.split_once('/').unwrap();
    let (tt, tname) = to.split_once('/').unwrap();
    codever::object::RenameRecord {
        from_type: ft.into(),
        from_name: fname.into(),
        to_type: tt.into(),
        to_name: tname.into(),
        time_ns,
        host: "h".into(),
    }
}

/// `fsck --json`: (exit code, corrupt (path relative to the store, reason) pairs).
fn fsck_corrupt(store: &Path) -> (i32, Vec<(String, String)>) {
    let (code, report) = crate::common::run_any_json(store, &["fsck"]);
    let corrupt = report["corrupt"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let path = c["path"].as_str().unwrap();
            let rel = Path::new(path).strip_prefix(store).unwrap();
            (
                rel.display().to_string(),
                c["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    (code, corrupt)
}

/// Two artifacts, t/small (2 versions) and t/big (1).
fn two_artifacts() -> (tempfile::TempDir, std::path::PathBuf) {
    let (tmp, store) = init_store();
    let src = tmp.path().join("src");
    for (i, body) in ["s = 1\n", "s = 2\n"].iter().enumerate() {
        write(&src, "s.py", body.as_bytes());
        commit_ok(&store, "t/small", src.join("s.py"), &format!("r{i}"));
    }
    write(&src, "b.py", b"b = 1\n");
    commit_ok(&store, "t/big", src.join("b.py"), "rb");
    (tmp, store)
}

/// A forget record of t/big, or a rename of it, marked in t/small's directory is refused there
/// (as a commit record of another artifact is): t/small is incomplete, t/big is not forgotten
/// or renamed by it, and fsck reports the marker.
#[test]
fn forget_and_rename_records_forged_into_another_artifact_are_refused() {
    let (_tmp, store) = two_artifacts();
    let big = id_of(&store, "big");
    let small_v0 = id_of(&store, "small:v0");
    let forget = codever::object::ForgetRecord {
        artifact_type: "t".into(),
        name: "big".into(),
        tree: codever::ObjectId::from_hex(&big),
        forgotten: true,
        time_ns: crate::common::now_ns(),
        host: "h".into(),
    };
    let f = forge(&store, &forget, &["refs/t/small"]);
    let r = forge(
        &store,
        &rename_record("t/big", "t/other", crate::common::now_ns()),
        &["refs/t/small"],
    );
    // t/big is untouched: listed, not forgotten, not renamed.
    assert_eq!(rows(&store, &["t/big"]), [(json!(0), false)]);
    assert_eq!(json(&store, &["show", "big"])["name"], "big");
    // t/small: its numbers are withheld, its ids still served.
    let listed = json(&store, &["list"]);
    let small = &listed[1];
    assert_eq!(
        (&small["name"], &small["complete"]),
        (&json!("small"), &json!(false))
    );
    let mut reasons: Vec<(String, String)> = small["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap().to_string(),
                p["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    reasons.sort();
    let mut expected = vec![
        (
            f.clone(),
            "misplaced: a record of t/big, not of t/small".to_string(),
        ),
        (
            r.clone(),
            "misplaced: a record of t/big, not of t/small".to_string(),
        ),
    ];
    expected.sort();
    assert_eq!(reasons, expected);
    let err = run_err(&store, &["show", "small:v0"]);
    assert!(
        err.starts_with("error: refusing t/small:v0: 2 records of t/small cannot be read"),
        "{err}"
    );
    assert_eq!(
        json(&store, &["show", &format!("small@{}", &small_v0[..8])])["id"],
        small_v0
    );
    let (code, mut corrupt) = fsck_corrupt(&store);
    corrupt.sort();
    let mut expected = vec![
        (
            format!("refs/t/small/{f}"),
            "forget record of another artifact".to_string(),
        ),
        (
            format!("refs/t/small/{r}"),
            "rename record of another artifact".to_string(),
        ),
    ];
    expected.sort();
    assert_eq!((code, corrupt), (1, expected));
}

/// Rename events forged so that a naive rule ("follow every rename") would go round in a
/// circle, with times in every order, equal times too: every command ends, each content belongs
/// to exactly one artifact, and fsck finds nothing wrong (they are valid events).
#[test]
fn a_rename_cycle_terminates() {
    let t0 = crate::common::now_ns() + 1_000_000_000;
    for times in [[1, 2, 3], [3, 2, 1], [2, 2, 2], [1, 3, 2]] {
        let (tmp, store) = init_store();
        let src = tmp.path().join("src");
        for n in ["a", "b", "c"] {
            write(&src, "f.py", format!("{n} = 1\n").as_bytes());
            commit_ok(
                &store,
                &format!("t/{n}"),
                src.join("f.py"),
                &format!("r{n}"),
            );
        }
        for (i, (from, to)) in [("t/a", "t/b"), ("t/b", "t/c"), ("t/c", "t/a")]
            .iter()
            .enumerate()
        {
            let (fd, td) = (format!("refs/{from}"), format!("refs/{to}"));
            forge(
                &store,
                &rename_record(from, to, t0 + times[i]),
                &[&fd, &td, "renames"],
            );
        }
        let mut total = 0;
        for a in json(&store, &["list"]).as_array().unwrap() {
            let f = crate::common::run_within(
                crate::common::codever_cmd(
                    &store,
                    &[
                        "--json",
                        "versions",
                        &format!(
                            "{}/{}",
                            a["type"].as_str().unwrap(),
                            a["name"].as_str().unwrap()
                        ),
                    ],
                ),
                std::time::Duration::from_secs(30),
            );
            assert_eq!(
                f.code(),
                Some(0),
                "{times:?}: {}",
                String::from_utf8_lossy(&f.stderr)
            );
            let v: Value = serde_json::from_slice(&f.stdout).unwrap();
            total += v.as_array().unwrap().len();
        }
        assert_eq!(total, 3, "{times:?}: every content in exactly one artifact");
        assert_fsck_clean(&store, &format!("{times:?}"));
    }
}

/// A marker in `renames/` that is not a valid rename record (a rename to itself, a name no
/// command accepts, another kind of record) could move any artifact's records: every history
/// is incomplete (ids still served) and fsck reports it. One whose record has not arrived is
/// "not yet synced", never corrupt.
#[test]
fn an_unusable_rename_record_makes_every_history_incomplete() {
    let (_tmp, store) = two_artifacts();
    let small_v1 = id_of(&store, "small:v1");
    let clean = json(&store, &["list"]);
    let mut bad = rename_record("t/small", "t/small", crate::common::now_ns());
    let to_itself = forge(&store, &bad, &["renames"]);
    bad.to_name = "../x".into();
    let invalid = forge(&store, &bad, &["renames"]);
    let commit = crate::common::commit_record_of(&store, "rb").to_hex();
    crate::common::mark(
        &store.join("renames"),
        &codever::ObjectId::from_hex(&commit).unwrap(),
    );
    for a in json(&store, &["list"]).as_array().unwrap() {
        assert_eq!(a["complete"], false, "{a}");
        assert_eq!(a["problems"].as_array().unwrap().len(), 3, "{a}");
    }
    assert_eq!(
        json(&store, &["show", &format!("small@{}", &small_v1[..8])])["id"],
        small_v1
    );
    let (code, mut corrupt) = fsck_corrupt(&store);
    corrupt.sort();
    let mut expected = vec![
        (
            format!("renames/{to_itself}"),
            "invalid rename record: a rename to itself".to_string(),
        ),
        (
            format!("renames/{invalid}"),
            "invalid rename record: invalid artifact name \"../x\": '/' is not allowed".to_string(),
        ),
        (format!("renames/{commit}"), "marks a commit".to_string()),
    ];
    expected.sort();
    assert_eq!((code, corrupt), (1, expected));
    // Removing them (a repair by hand) gives the same listing as before: nothing was changed.
    for id in [&to_itself, &invalid, &commit] {
        fs::remove_file(store.join("renames").join(id)).unwrap();
    }
    assert_eq!(json(&store, &["list"]), clean);
    // A rename whose record has not arrived: not yet synced, numbers withheld meanwhile.
    let missing = "ab".repeat(32);
    fs::write(store.join("renames").join(&missing), b"").unwrap();
    let listed = json(&store, &["list"]);
    assert_eq!(
        listed[0]["problems"],
        json!([{"id": missing, "missing": true, "reason": "not yet synced"}])
    );
    let (code, report) = crate::common::run_any_json(&store, &["fsck"]);
    assert_eq!((code, &report["corrupt"]), (0, &json!([])));
    assert_eq!(report["missing"][0]["id"], missing);
    // Meanwhile no rename: which names are free or former names is unknown until it arrives
    // (a rename onto a name the missing record frees or takes would undo or merge histories).
    let err = run_err(&store, &["rename", "small", "tiny"]);
    assert_eq!(
        err,
        format!(
            "error: cannot rename t/small to t/tiny while 1 record cannot be read ({} not yet synced): the names it moves are unknown\n\
             hint: finish syncing the store from the machine that renamed, or run `codever fsck` and copy the damaged records again from a healthy copy; then rename\n",
            &missing[..12]
        )
    );
}

/// An event must win over the statements it overrides even when this machine's clock is behind
/// theirs (a commit, a forget or a rename merged from a machine whose clock is ahead): it then
/// takes their time plus one instead of now.
#[test]
fn events_take_effect_even_when_the_clock_is_behind_what_they_override() {
    let (tmp, store) = init_store();
    let src = tmp.path().join("src");
    for (i, body) in ["x = 1\n", "x = 2\n", "x = 3\n"].iter().enumerate() {
        write(&src, "x.py", body.as_bytes());
        commit_ok(&store, "code/x", src.join("x.py"), &format!("r{i}"));
    }
    let lib = codever::Store::open(&store).unwrap();
    let ahead = crate::common::now_ns() + 3_600_000_000_000;
    let v1 = codever::ObjectId::from_hex(&id_of(&store, "x:v1")).unwrap();
    let v2 = codever::ObjectId::from_hex(&id_of(&store, "x:v2")).unwrap();
    // v1 committed again, an hour ahead of this clock, by another machine.
    let meta = crate::common::write_blob(&lib, b"x = 2\n");
    let tree = crate::common::write_tree(&lib, vec![crate::common::file_entry("x.py", meta)]);
    assert_eq!(tree, v1);
    crate::common::forge_version(&lib, "code/x", "ahead", v1, &[("x.py", meta)], ahead);
    // v2 listed again (unforgotten), an hour ahead.
    let unforget = codever::object::ForgetRecord {
        artifact_type: "code".into(),
        name: "x".into(),
        tree: Some(v2),
        forgotten: false,
        time_ns: ahead,
        host: "ahead".into(),
    };
    forge(&store, &unforget, &["refs/code/x"]);
    // Statements about other targets, further ahead, are no reason to move: a rename of two
    // other names, a forget of another artifact.
    let further = ahead + 3_600_000_000_000;
    forge(
        &store,
        &rename_record("code/p", "code/q", further),
        &["renames"],
    );
    let other = codever::object::ForgetRecord {
        artifact_type: "code".into(),
        name: "x".into(),
        tree: Some(codever::ObjectId::from_bytes([7; 32])),
        forgotten: true,
        time_ns: further,
        host: "ahead".into(),
    };
    forge(&store, &other, &["refs/code/x"]);
    let time_of = |dir: &str, before: &[String]| -> i64 {
        let new: Vec<String> = crate::common::file_names(&store.join(dir))
            .into_iter()
            .filter(|n| !before.contains(n))
            .collect();
        assert_eq!(new.len(), 1, "{new:?}");
        let id = codever::ObjectId::from_hex(&new[0]).unwrap();
        let (kind, raw) = lib.read_object(&id).unwrap();
        match kind {
            codever::object::Kind::Forget => {
                codever::object::ForgetRecord::decode(id, &raw)
                    .unwrap()
                    .time_ns
            }
            _ => {
                codever::object::RenameRecord::decode(id, &raw)
                    .unwrap()
                    .time_ns
            }
        }
    };
    let before = crate::common::file_names(&store.join("refs/code/x"));
    run_ok(&store, &["forget", "x:v2"]);
    assert_eq!(time_of("refs/code/x", &before), ahead + 1);
    let before = crate::common::file_names(&store.join("refs/code/x"));
    run_ok(&store, &["forget", "x:v1"]);
    assert_eq!(time_of("refs/code/x", &before), ahead + 1);
    assert_eq!(rows(&store, &["x"]), [(json!(0), false)]);
    // A rename of code/x to code/y an hour ahead: renaming back takes effect all the same.
    forge(
        &store,
        &rename_record("code/x", "code/y", ahead),
        &["refs/code/x", "refs/code/y", "renames"],
    );
    assert_eq!(json(&store, &["list", "--all"])[0]["name"], "y");
    let before = crate::common::file_names(&store.join("renames"));
    run_ok(&store, &["rename", "code/y", "code/x"]);
    assert_eq!(time_of("renames", &before), ahead + 1);
    assert_eq!(json(&store, &["list", "--all"])[0]["name"], "x");
    // Without a statement ahead, an event takes the time it is made.
    let before = crate::common::file_names(&store.join("refs/code/x"));
    let start = crate::common::now_ns();
    run_ok(&store, &["forget", "x:v0"]);
    let t = time_of("refs/code/x", &before);
    assert!(start <= t && t <= crate::common::now_ns(), "{start} {t}");
    // The whole artifact: after the rename onto it (ahead + 1), a statement that it is in use.
    let before = crate::common::file_names(&store.join("refs/code/x"));
    run_ok(&store, &["forget", "--artifact", "code/x"]);
    assert_eq!(time_of("refs/code/x", &before), ahead + 2);
    assert_eq!(json(&store, &["list"]), json!([]));
    assert_fsck_clean(&store, "events ahead");
}

/// `NAME@IDPREFIX` looks at the listed artifacts of that name first, then at forgotten ones and
/// ones renamed since; an id no artifact of that name holds is reported against the one listed.
#[test]
fn ids_find_forgotten_and_renamed_artifacts_of_a_name() {
    let (tmp, store) = init_store();
    let src = tmp.path().join("src");
    let id = |key: &str, body: &str| {
        write(&src, "f.py", body.as_bytes());
        commit_json(&store, key, src.join("f.py"), "r")["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let listed = id("a/ppo", "listed\n");
    let renamed = id("b/ppo", "renamed\n");
    let hidden1 = id("c/x", "hidden 1\n");
    let hidden2 = id("d/x", "hidden 2\n");
    run_ok(&store, &["rename", "b/ppo", "b/ppo2"]);
    run_ok(&store, &["forget", "--artifact", "c/x"]);
    run_ok(&store, &["forget", "--artifact", "d/x"]);
    let found = |spec: String| json(&store, &["show", &spec]);
    assert_eq!(found(format!("ppo@{}", &listed[..6]))["type"], "a");
    let by_old_name = found(format!("ppo@{}", &renamed[..6]));
    assert_eq!(
        (&by_old_name["type"], &by_old_name["name"]),
        (&json!("b"), &json!("ppo2"))
    );
    // Two forgotten artifacts named x: the one holding the id.
    assert_eq!(found(format!("x@{}", &hidden2[..6]))["type"], "d");
    assert_eq!(found(format!("x@{}", &hidden1[..6]))["type"], "c");
    // No such id: said of the listed artifact of that name.
    let absent = if listed.starts_with("ffff") {
        "eeee"
    } else {
        "ffff"
    };
    assert_eq!(
        run_err(&store, &["show", &format!("ppo@{absent}")]),
        format!(
            "error: no version of a/ppo has an id starting with {absent}\nhint: `codever \
             versions a/ppo` lists its versions\n"
        )
    );
}

/// What forget and unforget report through the library: how many versions are listed after.
#[test]
fn forget_outcomes_count_the_versions_left_listed() {
    let (_tmp, store) = crate::common::lib_store();
    for i in 0..3 {
        let s = crate::common::snapshot(&[("f.py", format!("f = {i}\n").as_bytes(), false)]);
        crate::common::commit_snapshot(&store, "t/a", &s, &format!("r{i}"));
    }
    let target = |spec: &str| codever::ForgetTarget::parse(spec, false, true).unwrap();
    let o = store.forget(&target("a:v1")).unwrap();
    assert_eq!((o.changed, o.forgotten, o.listed_versions), (true, true, 2));
    let o = store.forget(&target("a:v1")).unwrap();
    assert_eq!((o.changed, o.listed_versions), (false, 2));
    let o = store.unforget(&target("a:v1")).unwrap();
    assert_eq!(
        (o.changed, o.forgotten, o.listed_versions),
        (true, false, 3)
    );
    let whole = codever::ForgetTarget::parse("t/a", true, true).unwrap();
    let o = store.forget(&whole).unwrap();
    assert_eq!(
        (o.version, o.artifact_forgotten, o.listed_versions),
        (None, true, 3)
    );
    // `artifacts()` lists every artifact under its name now, forgotten ones too.
    let s = crate::common::snapshot(&[("g.py", b"g = 1\n", false)]);
    crate::common::commit_snapshot(&store, "t/b", &s, "rb");
    store
        .rename((Some("t"), "b"), (Some("u"), "c"), false)
        .unwrap();
    let keys: Vec<String> = store
        .artifacts()
        .unwrap()
        .iter()
        .map(|k| k.to_string())
        .collect();
    assert_eq!(keys, ["t/a", "u/c"]);
}

/// `runs show` lists what a run logged even when it is forgotten since, marked: the version
/// alone, or the whole artifact.
#[test]
fn runs_show_marks_what_is_forgotten_since() {
    let (tmp, store) = init_store();
    let src = tmp.path().join("src");
    write(&src, "f.py", b"f = 1\n");
    commit_ok(&store, "t/a", src.join("f.py"), "r1");
    write(&src, "f.py", b"f = 2\n");
    commit_ok(&store, "t/a", src.join("f.py"), "r2");
    let forgotten =
        |run: &str| json(&store, &["runs", "show", run])["artifacts"][0]["forgotten"].clone();
    assert_eq!(
        (forgotten("r1"), forgotten("r2")),
        (json!(false), json!(false))
    );
    run_ok(&store, &["forget", "a:v0"]);
    assert_eq!(
        (forgotten("r1"), forgotten("r2")),
        (json!(true), json!(false))
    );
    assert!(
        run_ok(&store, &["runs", "show", "r1"]).contains("  t/a:v0  "),
        "listed"
    );
    run_ok(&store, &["unforget", "a:v0"]);
    run_ok(&store, &["forget", "--artifact", "a"]);
    assert_eq!(
        (forgotten("r1"), forgotten("r2")),
        (json!(true), json!(true))
    );
    assert!(
        run_ok(&store, &["runs", "show", "r2"]).contains("(new, forgotten since)"),
        "marked"
    );
}

/// Blame and the versions a run used mark a forgotten version too: a user pointed at `v0` by
/// them would otherwise be refused by `show a:v0` without knowing why.
#[test]
fn blame_and_used_versions_mark_forgotten_versions() {
    let (tmp, store) = init_store();
    let src = tmp.path().join("src");
    write(&src, "f.py", b"a\n");
    commit_ok(&store, "t/a", src.join("f.py"), "r1");
    write(&src, "f.py", b"a\nb\n");
    commit_ok(&store, "t/a", src.join("f.py"), "r2");
    let lib = codever::Store::open(&store).unwrap();
    let key = codever::ArtifactKey::new("t", "a").unwrap();
    let v0 = codever::ObjectId::from_hex(&id_of(&store, "a:v0")).unwrap();
    lib.record_use("reader", &key, v0).unwrap();
    run_ok(&store, &["forget", "a:v0"]);
    let (code, out, err) = run_any(&store, &["blame", "a:v1", "f.py"]);
    assert_eq!((code, out.as_str()), (0, "v0* r1 1) a\nv1  r2 2) b\n"));
    assert_eq!(
        err,
        "note: v0 of t/a marked * is forgotten (`codever versions t/a --all` lists them)\n"
    );
    let b = json(&store, &["blame", "a:v1", "f.py"]);
    assert_eq!(
        (
            b["lines"][0]["forgotten"].clone(),
            b["lines"][1]["forgotten"].clone()
        ),
        (json!(true), json!(false))
    );
    let shown = json(&store, &["runs", "show", "reader"]);
    assert_eq!(shown["used"][0]["forgotten"], json!(true));
    assert!(
        run_ok(&store, &["runs", "show", "reader"]).contains("  used t/a:v0  "),
        "listed"
    );
    assert!(
        run_ok(&store, &["runs", "show", "reader"]).contains("(forgotten since)"),
        "marked"
    );
}

/// A rename is a statement that the artifact is in use: a forgotten artifact renamed is listed
/// again. And `renames/` is what counts: a rename whose marker under the new name has not
/// arrived (a copy under way) still lists the artifact under its new name.
#[test]
fn a_renamed_forgotten_artifact_is_listed_and_renames_count_from_renames_dir() {
    let (tmp, store) = init_store();
    let src = tmp.path().join("src");
    write(&src, "f.py", b"f = 1\n");
    commit_ok(&store, "t/a", src.join("f.py"), "r1");
    run_ok(&store, &["forget", "--artifact", "t/a"]);
    let (code, renamed) = crate::common::run_any_json(&store, &["rename", "t/a", "t/b"]);
    assert_eq!((code, &renamed["forgotten"]), (0, &json!(false)));
    assert_eq!(json(&store, &["list"])[0]["name"], "b");
    let marker = crate::common::file_names(&store.join("renames"));
    fs::remove_file(store.join("refs/t/b").join(&marker[0])).unwrap();
    fs::remove_dir(store.join("refs/t/b")).unwrap();
    let listed = json(&store, &["list"]);
    assert_eq!(
        (&listed[0]["name"], &listed[0]["versions"]),
        (&json!("b"), &json!(1))
    );
    assert_eq!(json(&store, &["show", "b"])["name"], "b");
}

/// Renames racing on one machine: eight artifacts renamed onto one free name at once. The
/// check that NEW is free and the rename are one step, so exactly one succeeds and the others
/// are refused as onto an existing artifact (no silent merge); every history stays whole.
/// Then twelve renames of one artifact at once: each one that reports success really renamed
/// it (they form one chain), and the artifact ends under exactly one name.
#[test]
fn concurrent_renames_never_merge_silently_and_all_reported_renames_happened() {
    let (tmp, store) = init_store();
    let names = ["a", "c", "d", "e", "f", "g", "h", "i"];
    for n in names {
        for k in 0..2 {
            write(tmp.path(), "src/f.py", format!("{n}{k}\n").as_bytes());
            commit_ok(
                &store,
                &format!("t/{n}"),
                tmp.path().join("src/f.py"),
                &format!("r{n}{k}"),
            );
        }
    }
    let cmds: Vec<_> = names
        .iter()
        .map(|n| crate::common::codever_cmd(&store, &["rename", n, "b"]))
        .collect();
    let done = crate::common::run_all_within(cmds, std::time::Duration::from_secs(60));
    let won: Vec<_> = done.iter().filter(|f| f.code() == Some(0)).collect();
    assert_eq!(
        won.len(),
        1,
        "{:?}",
        done.iter().map(|f| f.describe()).collect::<Vec<_>>()
    );
    for f in done.iter().filter(|f| f.code() != Some(0)) {
        assert_eq!(f.code(), Some(2), "{}", f.describe());
        let err = String::from_utf8_lossy(&f.stderr);
        assert!(err.contains("already exists"), "{err}");
    }
    let listed = json(&store, &["list"]);
    let listed: Vec<(String, u64)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_string(),
                a["versions"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(listed.len(), 8, "{listed:?}");
    assert!(listed.iter().all(|(_, v)| *v == 2), "{listed:?}");
    assert!(listed.iter().any(|(n, _)| n == "b"), "{listed:?}");
    assert_fsck_clean(&store, "after the renames onto b");

    // Twelve renames of one artifact at once.
    let target = listed.iter().find(|(n, _)| n != "b").unwrap().0.clone();
    let cmds: Vec<_> = (0..12)
        .map(|k| {
            crate::common::codever_cmd(&store, &["--json", "rename", &target, &format!("z{k}")])
        })
        .collect();
    let done = crate::common::run_all_within(cmds, std::time::Duration::from_secs(60));
    let mut chain: Vec<(String, String)> = Vec::new();
    for f in &done {
        if f.code() == Some(0) {
            let v: Value = serde_json::from_slice(&f.stdout).unwrap();
            chain.push((
                v["old_name"].as_str().unwrap().to_string(),
                v["name"].as_str().unwrap().to_string(),
            ));
        } else {
            assert_eq!(f.code(), Some(2), "{}", f.describe());
        }
    }
    // Each success renamed the artifact from the name the previous one gave it.
    let mut name = target.clone();
    let mut left = chain.clone();
    while let Some(pos) = left.iter().position(|(from, _)| *from == name) {
        name = left.remove(pos).1;
    }
    assert!(left.is_empty(), "renames outside one chain: {chain:?}");
    let shown = json(&store, &["show", &name]);
    assert_eq!(shown["version"], 1);
    assert_eq!(json(&store, &["list"]).as_array().unwrap().len(), 8);
    assert_fsck_clean(&store, "after the renames of one artifact");
}
