//! A real sweep: 64 processes started at once commit one artifact with 5 distinct contents of 45
//! files each, big enough that commits go to packs and later contents are stored as deltas of
//! earlier ones. Ten rounds add to the same store (each round with 5 new contents continuing the
//! chain), so every round is a full race and also checks that the versions of earlier rounds
//! survive it, with their numbers, and that delta chains past the depth cap stay readable.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use crate::common::{
    code_files, codever_cmd, init_store, read_tree, run_all_within, run_within, sorted, write_files,
};

const PROCESSES: usize = 64;
const CONTENTS: usize = 5;
const FILES: usize = 45;
const ROUNDS: usize = 10;

/// `versions --json` of the artifact as (number, id) pairs, in listed order.
fn versions(store: &Path) -> Vec<(u64, String)> {
    let f = run_within(
        codever_cmd(store, &["--json", "versions", "code/sweep"]),
        Duration::from_secs(60),
    );
    assert_eq!(f.code(), Some(0), "{}", f.describe());
    let v: serde_json::Value = serde_json::from_slice(&f.stdout).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["version"].as_u64().unwrap(),
                v["id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Checks out each of `numbers` and compares it byte for byte with the files it was made from;
/// returns what went wrong.
fn check_out_exact(
    store: &Path,
    scratch: &Path,
    numbers: &[(u64, String)],
    source_of: &BTreeMap<String, Vec<(String, Vec<u8>)>>,
) -> Vec<String> {
    let mut cmds = Vec::new();
    for (n, _) in numbers {
        let into = scratch.join(format!("checkout-v{n}"));
        let spec = format!("code/sweep:v{n}");
        let c = codever_cmd(
            store,
            &["checkout", &spec, "--into", into.to_str().unwrap()],
        );
        cmds.push(c);
    }
    let done = run_all_within(cmds, Duration::from_secs(120));
    let mut problems = Vec::new();
    for ((n, id), f) in numbers.iter().zip(done) {
        let into = scratch.join(format!("checkout-v{n}"));
        if f.code() != Some(0) {
            problems.push(format!("v{n}: {}", f.describe()));
        } else if source_of.get(id).map(|s| sorted(s)) != Some(read_tree(&into)) {
            problems.push(format!(
                "v{n} ({id}) checked out with other bytes than were committed"
            ));
        }
        let _ = std::fs::remove_dir_all(&into);
    }
    problems
}

#[test]
fn a_sweep_of_64_processes_with_packs_and_deltas_loses_nothing_in_10_rounds() {
    let (tmp, store) = init_store();
    let scratch = tmp.path().join("scratch");
    // Version id -> the files it was committed from.
    let mut source_of: BTreeMap<String, Vec<(String, Vec<u8>)>> = BTreeMap::new();
    let mut listed: Vec<(u64, String)> = Vec::new();

    for round in 0..ROUNDS {
        // Five contents continuing one chain: step 5r+k is step 5r+k-1 with a line added or
        // changed in each of the 45 files.
        let contents: Vec<Vec<(String, Vec<u8>)>> = (0..CONTENTS)
            .map(|k| code_files(7, FILES, round * CONTENTS + k))
            .collect();
        let dirs: Vec<_> = (0..CONTENTS)
            .map(|k| {
                let d = tmp.path().join(format!("round{round}/content{k}"));
                write_files(&d, &contents[k]);
                d
            })
            .collect();
        let cmds = (0..PROCESSES)
            .map(|i| {
                let run = format!("r{round}-w{i}");
                let mut c = codever_cmd(&store, &["--json", "commit", "sweep", "--type", "code"]);
                c.arg(&dirs[i % CONTENTS]).args(["--run", &run]);
                c
            })
            .collect();
        let done = run_all_within(cmds, Duration::from_secs(300));

        // Every problem of the round is collected, so a failure shows all of them at once.
        let mut problems: Vec<String> = Vec::new();

        // Every commit succeeded; all commits of one content got one id; exactly one was new.
        let mut ids: Vec<BTreeSet<String>> = vec![BTreeSet::new(); CONTENTS];
        let mut news = [0usize; CONTENTS];
        for (i, f) in done.iter().enumerate() {
            if f.code() != Some(0) {
                problems.push(f.describe());
                continue;
            }
            let out: serde_json::Value = serde_json::from_slice(&f.stdout)
                .unwrap_or_else(|e| panic!("round {round} worker {i}: {e}: {}", f.describe()));
            ids[i % CONTENTS].insert(out["id"].as_str().unwrap().to_string());
            if out["new"] == true {
                news[i % CONTENTS] += 1;
            }
        }
        for k in 0..CONTENTS {
            if ids[k].len() != 1 {
                problems.push(format!("content {k} was given the ids {:?}", ids[k]));
            }
            if news[k] != 1 {
                problems.push(format!(
                    "content {k}: {} processes reported `new`, not exactly one",
                    news[k]
                ));
            }
            for id in &ids[k] {
                if source_of.insert(id.clone(), contents[k].clone()).is_some() {
                    problems.push(format!("content {k} has the id of an earlier content"));
                }
            }
        }

        // Exactly five more versions, numbered on; the earlier ones kept their numbers and ids.
        let now = versions(&store);
        let numbers: Vec<u64> = now.iter().map(|(n, _)| *n).collect();
        let expected: Vec<u64> = (0..(CONTENTS * (round + 1)) as u64).collect();
        if numbers != expected {
            problems.push(format!("versions {numbers:?}, expected {expected:?}"));
        }
        if now.get(..listed.len()) != Some(&listed[..]) {
            problems.push("versions of earlier rounds were renumbered or lost".into());
        }
        let new_ids: BTreeSet<String> = now
            .get(listed.len()..)
            .unwrap_or_default()
            .iter()
            .map(|(_, id)| id.clone())
            .collect();
        let round_ids: BTreeSet<String> = ids.iter().flatten().cloned().collect();
        if new_ids != round_ids {
            problems.push(format!(
                "the new versions are {new_ids:?}, the round committed {round_ids:?}"
            ));
        }

        let fsck = run_within(
            codever_cmd(&store, &["fsck", "--strict"]),
            Duration::from_secs(120),
        );
        if fsck.code() != Some(0) {
            problems.push(format!(
                "{}\n{}",
                fsck.describe(),
                String::from_utf8_lossy(&fsck.stdout)
            ));
        }
        // The round's versions byte for byte; after the last round every version again (a
        // later round must not have damaged an earlier one).
        let check = if round + 1 == ROUNDS {
            &now[..]
        } else {
            now.get(listed.len()..).unwrap_or_default()
        };
        problems.extend(check_out_exact(&store, &scratch, check, &source_of));
        assert!(
            problems.is_empty(),
            "round {round}:\n{}",
            problems.join("\n")
        );
        listed = now;
    }
}
