//! Commit benchmarks: the path a training script takes on every run.
//!
//! Run with `cargo bench --bench commit`. Figures are recorded in BENCHMARKS.md.

use std::fs;
use std::time::{Duration, Instant};

use codever::{ArtifactKey, CommitOptions, Snapshot, Store, capture_run};
use criterion::{Criterion, criterion_group, criterion_main};

/// Three files of the size of the example repo's modules (~1-2 KiB each).
fn three_files(dir: &std::path::Path, salt: u64) {
    fs::create_dir_all(dir.join("training")).unwrap();
    let body = "    x = torch.relu(self.fc(x))  # a typical line of model code\n".repeat(20);
    fs::write(dir.join("main.py"), format!("# main\n{body}")).unwrap();
    fs::write(dir.join("training/models.py"), format!("# models\n{body}")).unwrap();
    fs::write(dir.join("training/ppo.py"), format!("# ppo {salt}\n{body}")).unwrap();
}

fn snapshot(dir: &std::path::Path) -> Snapshot {
    let mut s = Snapshot::default();
    s.add_file(&dir.join("main.py"), None).unwrap();
    s.add_file(&dir.join("training/models.py"), Some("models.py"))
        .unwrap();
    s.add_file(&dir.join("training/ppo.py"), None).unwrap();
    s
}

/// Commits into a fresh store every 50 commits, so the figure is that of an artifact with a few
/// dozen records (the history a sweep builds up), not of one that grows during the benchmark.
fn bench_commit(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let key = ArtifactKey::new("code", "three").unwrap();
    let run = capture_run("bench", tmp.path()).unwrap();
    let opts = CommitOptions::default();
    three_files(&src, 0);
    let counter = std::cell::Cell::new(0u64);
    let fresh = || {
        counter.set(counter.get() + 1);
        let store = Store::init(&tmp.path().join(format!("store{}", counter.get()))).unwrap();
        store.commit(&key, &snapshot(&src), &run, &opts).unwrap();
        store
    };

    c.bench_function("commit 3 files, unchanged (links the run)", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut store = fresh();
            for i in 0..iters {
                if i % 50 == 49 {
                    store = fresh();
                }
                let t = Instant::now();
                store.commit(&key, &snapshot(&src), &run, &opts).unwrap();
                total += t.elapsed();
            }
            total
        })
    });

    c.bench_function("commit 3 files, one changed (new version)", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut store = fresh();
            for i in 0..iters {
                if i % 50 == 49 {
                    store = fresh();
                }
                three_files(&src, i + 1);
                let t = Instant::now();
                store.commit(&key, &snapshot(&src), &run, &opts).unwrap();
                total += t.elapsed();
            }
            three_files(&src, 0);
            total
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50);
    targets = bench_commit
}
criterion_main!(benches);
