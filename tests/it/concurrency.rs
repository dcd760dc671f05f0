//! A sweep: many processes commit the same artifact at once, without any lock.

use std::time::Duration;

use crate::common::{assert_fsck_clean, codever_process, init_store, json, run_all_within, write};

#[test]
fn a_sweep_of_24_processes_makes_one_version_per_distinct_content() {
    let (tmp, store) = init_store();

    // 16 workers share one content; 8 more use four other contents (two each).
    let mut sources = Vec::new();
    for i in 0..24 {
        let dir = tmp.path().join(format!("worker{i}"));
        let content = if i < 16 {
            "lr = 3e-4\n".to_string()
        } else {
            format!("lr = {}\n", (i - 16) / 2)
        };
        write(&dir, "training/ppo.py", content.as_bytes());
        write(&dir, "training/models.py", b"hidden = 128\n");
        sources.push(dir);
    }
    let commits = sources
        .iter()
        .enumerate()
        .map(|(i, dir)| {
            let mut c = codever_process();
            c.current_dir(dir)
                .env("CODEVER_DIR", &store)
                .args(["commit", "ppo", "--type", "rl_algo_code", "training"])
                .arg("--run")
                .arg(format!("sweep-{i}"));
            c
        })
        .collect();
    for f in run_all_within(commits, Duration::from_secs(120)) {
        assert_eq!(f.code(), Some(0), "{}", f.describe());
    }

    let versions = json(&store, &["versions", "rl_algo_code/ppo"]);
    let versions = versions.as_array().unwrap();
    assert_eq!(versions.len(), 5);
    let mut per_version: Vec<usize> = versions
        .iter()
        .map(|v| v["runs"].as_array().unwrap().len())
        .collect();
    per_version.sort();
    assert_eq!(per_version, [2, 2, 2, 2, 16]);
    let runs = json(&store, &["runs"]);
    assert_eq!(runs.as_array().unwrap().len(), 24);
    // Exactly one commit per version is "new"; the others were linked.
    let new_count = runs
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["artifacts"][0]["new"] == true)
        .count();
    assert_eq!(new_count, 5);
    assert_fsck_clean(&store, "after the sweep");
}
