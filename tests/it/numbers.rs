//! A number means one thing or nothing: while a record of an artifact cannot be read, `vN`,
//! `latest` and aliases are refused (they could name another version), ids keep working, and
//! listings show what is known without numbers.

use std::fs;
use std::path::PathBuf;

use serde_json::{Value, json};

use crate::common::{
    commit_json, commit_record_of, file_names, init_store, json, object_path, rewrite, run_any,
    run_err, run_ok, write,
};

/// A store with `t/small` at v0..v3 (`v = N\n` in `ppo.py`, committed by runs r0..r3), alias
/// `best` on v2. Returns (tmp, store, version ids).
fn four_versions() -> (tempfile::TempDir, PathBuf, Vec<String>) {
    let (tmp, store) = init_store();
    let src = tmp.path().join("src");
    let mut ids = Vec::new();
    for i in 0..4 {
        write(&src, "ppo.py", format!("v = {i}\n").as_bytes());
        let o = commit_json(&store, "t/small", src.join("ppo.py"), &format!("r{i}"));
        assert_eq!(o["version"], i);
        ids.push(o["id"].as_str().unwrap().to_string());
    }
    run_ok(&store, &["alias", "small:v2", "best"]);
    (tmp, store, ids)
}

#[test]
fn a_corrupt_commit_record_refuses_numbers_latest_and_aliases_but_not_ids() {
    let (_tmp, store, ids) = four_versions();
    let record = commit_record_of(&store, "r1").to_hex();
    let path = object_path(&store, &record);
    let good = rewrite(&path, |bytes| *bytes.last_mut().unwrap() ^= 1);
    let short = &record[..12];
    let v0_by_id = format!("small@{}", &ids[0][..8]);
    let into = store.parent().unwrap().join("unused");

    // The case: `cat small:v2` used to print v3's bytes with exit 0. Every command that
    // takes a number, `latest` or an alias now refuses, saying why and what to do.
    let cases: [(&[&str], &str); 9] = [
        (&["cat", "small:v2", "ppo.py"], "v2"),
        (&["cat", "small", "ppo.py"], "latest"),
        (&["cat", "t/small:latest", "ppo.py"], "latest"),
        (&["cat", "small:best", "ppo.py"], "best"),
        (&["show", "small:v0"], "v0"),
        (
            &["checkout", "small:v1", "--into", into.to_str().unwrap()],
            "v1",
        ),
        (&["diff", &v0_by_id, "small:v3"], "v3"),
        (&["blame", "small:v2", "ppo.py"], "v2"),
        (&["log", "small:v2"], "v2"),
    ];
    for (args, requested) in cases {
        let stderr = run_err(&store, args);
        let (message, hint) = stderr.split_once('\n').unwrap();
        assert!(
            message.starts_with(&format!(
                "error: refusing t/small:{requested}: 1 record of t/small cannot be read \
                 ({short} corrupt: "
            )) && message.ends_with(
                "), so its version numbers, `latest` and aliases could name the wrong version"
            ),
            "{args:?}: {stderr}"
        );
        assert_eq!(
            hint,
            "hint: run `codever fsck` and copy the damaged records again from a healthy copy of \
             the store; meanwhile name the version by id, as `t/small@IDPREFIX` (`codever \
             versions t/small` lists the ids)\n",
            "{args:?}"
        );
    }
    assert!(!into.exists());

    // Ids keep working, byte for byte, with a warning on stderr.
    let warning = "warning: t/small is incomplete (1 unreadable record): version numbers, \
                   `latest` and aliases are withheld; `codever fsck` says more\n";
    for (i, id) in ids.iter().enumerate().filter(|(i, _)| *i != 1) {
        assert_eq!(
            run_any(&store, &["cat", &format!("small@{}", &id[..8]), "ppo.py"]),
            (0, format!("v = {i}\n"), warning.to_string())
        );
    }
    assert_eq!(
        run_err(
            &store,
            &["cat", &format!("small@{}", &ids[2][..8]), "nope.py"]
        ),
        format!(
            "{warning}error: t/small@{} has no file \"nope.py\"\nhint: `codever show SPEC` lists \
             the files of a version\n",
            &ids[2][..12]
        )
    );
    // v1's only record is the damaged one: its id is not found, and the message says why.
    assert_eq!(
        run_err(
            &store,
            &["cat", &format!("small@{}", &ids[1][..8]), "ppo.py"]
        ),
        format!(
            "error: no version of t/small has an id starting with {} among its readable records \
             (1 cannot be read)\nhint: `codever fsck` lists the records that cannot be read; copy \
             them again from a healthy copy of the store, or finish syncing it\n",
            &ids[1][..8]
        )
    );

    // The library reports the same refusal with structured fields.
    let s = codever::Store::open(&store).unwrap();
    match s.resolve(&codever::Spec::parse("small:v2").unwrap()) {
        Err(codever::Error::IncompleteArtifact {
            artifact,
            requested,
            problems,
        }) => {
            assert_eq!((artifact.as_str(), requested.as_str()), ("t/small", "v2"));
            assert_eq!(problems.len(), 1);
            assert_eq!(problems[0].id.to_hex(), record);
            assert!(!problems[0].missing);
            assert!(problems[0].reason.starts_with("corrupt: "), "{problems:?}");
        }
        other => panic!("expected IncompleteArtifact, got {other:?}"),
    }

    // Listings show what is known, marked incomplete, with no number to trust wrongly.
    let problems = json(&store, &["versions", "small"])[0]["problems"].clone();
    assert_eq!(problems[0]["id"], record.as_str());
    assert_eq!(problems[0]["missing"], false);
    let listed = json(&store, &["versions", "small"]);
    let rows: Vec<(Value, Value, Value, Value)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["version"].clone(),
                v["id"].clone(),
                v["aliases"].clone(),
                v["complete"].clone(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [0, 2, 3]
            .iter()
            .map(|&i| (Value::Null, json!(ids[i]), json!([]), json!(false)))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        json(&store, &["list"]),
        json!([{"type": "t", "name": "small", "versions": 3, "latest": null,
                "complete": false, "problems": problems, "forgotten": false,
                "forgotten_versions": 0, "former_names": []}])
    );
    let text = run_ok(&store, &["versions", "small"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    assert_eq!(lines[0], "t/small");
    assert_eq!(
        lines[1],
        "INCOMPLETE: 1 unreadable record; version numbers, `latest` and aliases are withheld \
         (v?); name a version by id, as t/small@ID; `codever fsck` says more"
    );
    for (line, i) in lines[2..].iter().zip([0, 2, 3]) {
        assert!(
            line.starts_with(&format!("v?    {}  ", &ids[i][..12])),
            "{text}"
        );
        assert!(!line.contains('['), "no alias or latest shown: {text}");
    }
    let list = run_ok(&store, &["list"]);
    assert_eq!(
        list,
        format!(
            "{:<40}   3 version(s)  latest ?  INCOMPLETE (1 unreadable record): numbers \
             withheld\n",
            "t/small"
        )
    );
    let shown = json(&store, &["show", &format!("small@{}", &ids[2][..8])]);
    assert_eq!(
        (&shown["version"], &shown["complete"], &shown["aliases"]),
        (&Value::Null, &json!(false), &json!([]))
    );
    let run = json(&store, &["runs", "show", "r3"]);
    assert_eq!(
        run["artifacts"],
        json!([{"type": "t", "name": "small", "version": null, "id": ids[3], "new": true,
                "complete": false, "message": "", "forgotten": false}])
    );
    assert!(run_ok(&store, &["runs"]).ends_with(
        "INCOMPLETE t/small: some of its records cannot be read, numbers withheld (v?); \
         `codever fsck` says more\n"
    ));
    // A bare name in log is a listing: it works, without numbers.
    let log = run_ok(&store, &["log", "small"]);
    assert!(log.starts_with("INCOMPLETE: "), "{log}");
    assert!(log.contains(&format!("\nv?  {}  ", &ids[3][..12])), "{log}");
    // fsck names the damage.
    assert_eq!(run_any(&store, &["fsck"]).0, 1);

    // Committing still works; the number it reports is withheld.
    let src = store.parent().unwrap().join("src/ppo.py");
    fs::write(&src, "v = 4\n").unwrap();
    let (code, out, stderr) = run_any(
        &store,
        &[
            "--json",
            "commit",
            "small",
            "--type",
            "t",
            src.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0);
    let o: Value = serde_json::from_str(&out).unwrap();
    assert_eq!((&o["version"], &o["new"]), (&Value::Null, &json!(true)));
    assert_eq!(
        stderr,
        "warning: some records of t/small cannot be read, so its version numbers are withheld; \
         `codever fsck` says more\n"
    );

    // Repaired (the record copied again), every number means what it meant.
    fs::write(&path, good).unwrap();
    assert_eq!(run_ok(&store, &["cat", "small:v2", "ppo.py"]), "v = 2\n");
    assert_eq!(run_ok(&store, &["cat", "small:best", "ppo.py"]), "v = 2\n");
    assert_eq!(run_ok(&store, &["cat", "small:v4", "ppo.py"]), "v = 4\n");
    assert_eq!(run_ok(&store, &["cat", "small", "ppo.py"]), "v = 4\n");
    assert_eq!(json(&store, &["list"])[0]["complete"], true);
}

#[test]
fn a_record_of_another_artifact_marked_here_is_refused() {
    let (_tmp, store, ids) = four_versions();
    let tmp2 = store.parent().unwrap();
    let other = tmp2.join("other.py");
    fs::write(&other, "x = 1\n").unwrap();
    run_ok(
        &store,
        &["commit", "big", "--type", "t", other.to_str().unwrap()],
    );
    // A marker of t/big copied into t/small's directory (what a case-insensitive filesystem
    // makes of two names differing only by case).
    let stray = file_names(&store.join("refs/t/big")).remove(0);
    fs::write(store.join("refs/t/small").join(&stray), b"").unwrap();
    assert_eq!(
        run_err(&store, &["cat", "small:v3", "ppo.py"]),
        format!(
            "error: refusing t/small:v3: 1 record of t/small cannot be read ({} misplaced: a \
             record of t/big, not of t/small), so its version numbers, `latest` and aliases could name \
             the wrong version\n\
             hint: run `codever fsck` and copy the damaged records again from a healthy copy of \
             the store; meanwhile name the version by id, as `t/small@IDPREFIX` (`codever \
             versions t/small` lists the ids)\n",
            &stray[..12]
        )
    );
    let versions = json(&store, &["versions", "small"]);
    assert_eq!(versions.as_array().unwrap().len(), 4);
    assert_eq!(
        versions[0]["problems"],
        json!([{"id": stray, "missing": false, "reason": "misplaced: a record of t/big, not of t/small"}])
    );
    // Ids still work; t/big itself is complete.
    let by_id = format!("small@{}", &ids[3][..8]);
    assert_eq!(run_ok(&store, &["cat", &by_id, "ppo.py"]), "v = 3\n");
    assert_eq!(run_ok(&store, &["cat", "big:v0", "other.py"]), "x = 1\n");
}
