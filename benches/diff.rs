//! Diff benchmarks: a large tree with one change (cost must follow the change, not the tree),
//! and many changed files.
//!
//! Run with `cargo bench --bench diff`; `benches/diff_vs_git.sh` times the same shapes against
//! `git diff`. Figures are in BENCHMARKS.md.

use codever::diff::DiffOptions;
use codever::{ArtifactKey, CommitOptions, ObjectId, Snapshot, Store, capture_run, render};
use criterion::{Criterion, criterion_group, criterion_main};

const DIRS: usize = 200;
const FILES_PER_DIR: usize = 100;

fn content(d: usize, f: usize, rev: usize) -> Vec<u8> {
    let mut s = String::new();
    for line in 0..40 {
        if line == 20 && rev > 0 {
            s.push_str(&format!("    value = {rev}  # edited\n"));
        } else {
            s.push_str(&format!("    x_{d}_{f}_{line} = compute({line}, {f})\n"));
        }
    }
    s.into_bytes()
}

/// Commits 20,000 files; files with `f < changed_per_dir` get revision `rev`.
fn commit(store: &Store, rev: usize, changed: &dyn Fn(usize, usize) -> bool) -> ObjectId {
    let mut s = Snapshot::default();
    for d in 0..DIRS {
        for f in 0..FILES_PER_DIR {
            let r = if changed(d, f) { rev } else { 0 };
            s.add_bytes(&format!("pkg{d}/mod{f}.py"), content(d, f, r), false)
                .unwrap();
        }
    }
    let run = capture_run("bench", std::path::Path::new("/")).unwrap();
    store
        .commit(
            &ArtifactKey::new("code", "big").unwrap(),
            &s,
            &run,
            &CommitOptions::default(),
        )
        .unwrap()
        .tree
}

fn bench_diff(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::init(tmp.path()).unwrap();
    let base = commit(&store, 0, &|_, _| false);
    let one = commit(&store, 1, &|d, f| d == 7 && f == 3);
    let many = commit(&store, 2, &|_, f| f < 5); // 1,000 files
    let opts = DiffOptions::default();

    c.bench_function("diff 20,000 files, 1 changed (patch)", |b| {
        b.iter(|| render::patch(&store.diff_versions(base, one, &opts).unwrap(), false))
    });
    c.bench_function("diff 20,000 files, 1,000 changed (patch)", |b| {
        b.iter(|| render::patch(&store.diff_versions(base, many, &opts).unwrap(), false))
    });
    c.bench_function("diff 20,000 files, 1,000 changed (--stat)", |b| {
        b.iter(|| render::stat(&store.diff_versions(base, many, &opts).unwrap()))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench_diff
}
criterion_main!(benches);
