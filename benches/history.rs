//! History and snapshot benchmarks (issue 4): `versions` on an artifact with 10,000 versions
//! and a commit into it (issue 13), first snapshot of a large tree, re-commit of an unchanged tree, commit after editing 1%.
//!
//! Run with `cargo bench --bench history`. Figures are in BENCHMARKS.md.

use std::fs;
use std::path::Path;
use std::process::Command;

use codever::object::{FileMeta, Kind, Node, Tree, TreeEntry};
use codever::{ArtifactKey, CommitOptions, Md5, ObjectId, Snapshot, Store, capture_run};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

const VERSIONS: usize = 10_000;

/// Writes 10,000 versions of `code/model` directly as records (one tree each, one run each):
/// what 10,000 commits leave behind, without spending minutes making them.
fn ten_thousand_versions(store: &Store) {
    let dir = store.root().join("refs/code/model");
    fs::create_dir_all(&dir).unwrap();
    for i in 0..VERSIONS {
        let content = format!("hidden = {i}\n");
        let file = FileMeta {
            id: ObjectId::compute(Kind::Blob, content.as_bytes()),
            size: content.len() as u64,
            md5: Md5::of(content.as_bytes()),
            executable: false,
        };
        let (tree, _) = store
            .write_structured(&Tree {
                entries: vec![TreeEntry {
                    name: "model.py".into(),
                    node: Node::File(file),
                }],
            })
            .unwrap();
        let record = codever::object::CommitRecord {
            artifact_type: "code".into(),
            name: "model".into(),
            tree,
            digest: codever::wandb_digest([("model.py", file.md5)]),
            files: 1,
            bytes: file.size,
            run: format!("run{i}"),
            time_ns: 1_700_000_000_000_000_000 + i as i64,
            host: "bench".into(),
            message: String::new(),
            description: String::new(),
            metadata: String::new(),
            sources: vec![],
            include: vec![],
            exclude: vec![],
            tags: vec![],
        };
        let (id, _) = store.write_structured(&record).unwrap();
        fs::write(dir.join(id.to_hex()), b"").unwrap();
    }
}

fn bench_versions(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::init(tmp.path()).unwrap();
    ten_thousand_versions(&store);
    let key = ArtifactKey::new("code", "model").unwrap();
    assert_eq!(store.history(&key).unwrap().versions.len(), VERSIONS);
    c.bench_function("history of a 10,000-version artifact (library)", |b| {
        b.iter(|| store.history(&key).unwrap())
    });
    // Issue 13: what one more commit costs when the history is long (a sweep that logs every
    // run): a 1-file commit of new content, each one a new version.
    let run_record = capture_run("bench-commit", tmp.path()).unwrap();
    let mut n = 0;
    c.bench_function(
        "1-file commit into a 10,000-version artifact (library)",
        |b| {
            b.iter_batched(
                || {
                    n += 1;
                    let mut s = Snapshot::default();
                    s.add_bytes("model.py", format!("hidden = -{n}\n").into_bytes(), false)
                        .unwrap();
                    s
                },
                |s| {
                    store
                        .commit(&key, &s, &run_record, &CommitOptions::default())
                        .unwrap()
                },
                BatchSize::PerIteration,
            )
        },
    );
    let bin = env!("CARGO_BIN_EXE_codever");
    let run = |args: &[&str]| {
        let out = Command::new(bin)
            .arg("--store")
            .arg(store.root())
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success());
    };
    run(&["versions", "model"]); // warms the change-count cache, as any earlier listing would
    c.bench_function("codever --json versions, 10,000 versions (process)", |b| {
        b.iter(|| run(&["--json", "versions", "model"]))
    });
    c.bench_function("codever versions (text), 10,000 versions (process)", |b| {
        b.iter(|| run(&["versions", "model"]))
    });
}

/// A tree like a mid-sized ML repo: 2,000 files of ~2 KiB in 40 directories.
fn write_tree(root: &Path, rev: usize, edit_every: usize) {
    for d in 0..40 {
        let dir = root.join(format!("pkg{d}"));
        fs::create_dir_all(&dir).unwrap();
        for f in 0..50 {
            let n = d * 50 + f;
            let r = if edit_every > 0 && n % edit_every == 0 {
                rev
            } else {
                0
            };
            let body: String = (0..50)
                .map(|l| format!("    x_{n}_{l} = layer({l}, {r})\n"))
                .collect();
            // Only files whose bytes change are written, as an editor would.
            let path = dir.join(format!("mod{f}.py"));
            if fs::read(&path).ok().as_deref() != Some(body.as_bytes()) {
                fs::write(path, body).unwrap();
            }
        }
    }
}

fn snapshot(root: &Path) -> Snapshot {
    let mut s = Snapshot::default();
    s.add_dir(root, None).unwrap();
    s
}

fn bench_snapshots(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    write_tree(&src, 0, 0);
    let key = ArtifactKey::new("code", "repo").unwrap();
    let run = capture_run("bench", tmp.path()).unwrap();
    let opts = CommitOptions::default();
    let mut n = 0;
    c.bench_function("first snapshot, 2,000 files", |b| {
        b.iter_batched(
            || {
                n += 1;
                Store::init(&tmp.path().join(format!("s{n}"))).unwrap()
            },
            |store| store.commit(&key, &snapshot(&src), &run, &opts).unwrap(),
            BatchSize::PerIteration,
        )
    });

    let store = Store::init(&tmp.path().join("main")).unwrap();
    store.commit(&key, &snapshot(&src), &run, &opts).unwrap();
    // Past the racy window, as a later run of the training script would be.
    std::thread::sleep(std::time::Duration::from_millis(20));
    store.commit(&key, &snapshot(&src), &run, &opts).unwrap();
    c.bench_function("re-commit of the unchanged 2,000 files", |b| {
        b.iter(|| store.commit(&key, &snapshot(&src), &run, &opts).unwrap())
    });

    let mut rev = 0;
    // Past the racy window for the unchanged files.
    std::thread::sleep(std::time::Duration::from_millis(20));
    c.bench_function("commit after editing 1% (20 of 2,000 files)", |b| {
        b.iter_batched(
            || {
                rev += 1;
                write_tree(&src, rev, 100);
            },
            |()| store.commit(&key, &snapshot(&src), &run, &opts).unwrap(),
            BatchSize::PerIteration,
        )
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench_versions, bench_snapshots
}
criterion_main!(benches);
