//! Diff benchmarks: a large tree with one change (cost must follow the change, not the tree),
//! and many changed files; then line diffs alone, on the 1,512 modified files of the corpus's
//! history (fixtures/corpus/, read with git) and on a large file, with each algorithm and with
//! the engine used before git's algorithms (`similar`'s Patience), for the ratio in one run.
//!
//! Run with `cargo bench --bench diff`; `benches/diff_vs_git.sh` times the same tree shapes
//! against `git diff`. Figures are in BENCHMARKS.md.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use codever::diff::{Algorithm, DiffOptions, line_changes, split_lines};
use codever::{ArtifactKey, CommitOptions, ObjectId, Snapshot, Store, capture_run, render};
use criterion::{Criterion, criterion_group, criterion_main};
use rustc_hash::FxHashMap;

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

fn git(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}");
    out.stdout
}

/// The (old, new) contents of every file modified between consecutive commits of the corpus.
fn corpus_pairs() -> Vec<(Vec<u8>, Vec<u8>)> {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path();
    let bundle = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/corpus/cleanrl.bundle");
    git(repo, &["init", "-q"]);
    let spec = "refs/heads/main:refs/heads/corpus";
    git(repo, &["fetch", "-q", bundle.to_str().unwrap(), spec]);
    let list = String::from_utf8(git(repo, &["rev-list", "--reverse", "corpus"])).unwrap();
    let mut trees: Vec<HashMap<String, String>> = Vec::new();
    for c in list.lines() {
        let out = String::from_utf8(git(repo, &["ls-tree", "-r", c])).unwrap();
        trees.push(
            out.lines()
                .filter_map(|l| {
                    let (meta, path) = l.split_once('\t')?;
                    Some((path.to_string(), meta.split(' ').nth(2)?.to_string()))
                })
                .collect(),
        );
    }
    let mut ids: Vec<(String, String)> = Vec::new();
    for w in trees.windows(2) {
        for (path, new) in &w[1] {
            if let Some(old) = w[0].get(path).filter(|old| *old != new) {
                ids.push((old.clone(), new.clone()));
            }
        }
    }
    let blob = |id: &str| git(repo, &["cat-file", "blob", id]);
    let mut cache: HashMap<String, Vec<u8>> = HashMap::new();
    let mut get = |id: &str| {
        cache
            .entry(id.to_string())
            .or_insert_with(|| blob(id))
            .clone()
    };
    ids.iter().map(|(a, b)| (get(a), get(b))).collect()
}

/// The line diff engine before git's algorithms (`similar`'s Patience after trimming the common
/// ends, lines interned), kept here as the baseline.
fn similar_patience(old: &[&[u8]], new: &[&[u8]]) -> usize {
    let prefix = old.iter().zip(new).take_while(|(a, b)| a == b).count();
    let max_suffix = old.len().min(new.len()) - prefix;
    let suffix = (old.iter().rev().zip(new.iter().rev()))
        .take(max_suffix)
        .take_while(|(a, b)| a == b)
        .count();
    let (om, nm) = (
        &old[prefix..old.len() - suffix],
        &new[prefix..new.len() - suffix],
    );
    let mut ids: FxHashMap<&[u8], u32> = FxHashMap::default();
    let mut a = Vec::with_capacity(om.len());
    let mut b = Vec::with_capacity(nm.len());
    for (lines, out) in [(om, &mut a), (nm, &mut b)] {
        for l in lines {
            let n = ids.len() as u32;
            out.push(*ids.entry(*l).or_insert(n));
        }
    }
    let far = Instant::now() + Duration::from_secs(60);
    similar::capture_diff_slices_deadline(similar::Algorithm::Patience, &a, &b, Some(far)).len()
}

/// A 20,000-line Python-like file and a copy with 200 scattered edits.
fn large_pair() -> (Vec<u8>, Vec<u8>) {
    let line = |i: usize| match i % 7 {
        0 => String::new(),
        1 => format!("def f_{i}(x):"),
        2 | 3 => format!("    y_{} = x * {}", i % 50, i % 13),
        4 => "    if y:".to_string(),
        5 => "        return y".to_string(),
        _ => "    return None".to_string(),
    };
    let a: Vec<String> = (0..20_000).map(line).collect();
    let mut b = a.clone();
    for k in (0..200).rev() {
        let at = k * 100 + (k * 37) % 90;
        match k % 3 {
            0 => b[at] = format!("    changed_{k} = 1"),
            1 => b.insert(at, format!("    added_{k} = 2")),
            _ => {
                b.remove(at);
            }
        }
    }
    let join = |v: &[String]| (v.join("\n") + "\n").into_bytes();
    (join(&a), join(&b))
}

fn bench_lines(c: &mut Criterion) {
    let pairs = corpus_pairs();
    type Lines<'a> = Vec<&'a [u8]>;
    let split: Vec<(Lines, Lines)> = pairs
        .iter()
        .map(|(a, b)| (split_lines(a), split_lines(b)))
        .collect();
    let far = Instant::now() + Duration::from_secs(3600);
    let name = format!("line diff, corpus ({} modified files)", split.len());
    c.bench_function(&format!("{name}, similar's patience (before)"), |b| {
        b.iter(|| {
            split
                .iter()
                .map(|(o, n)| similar_patience(o, n))
                .sum::<usize>()
        })
    });
    for alg in Algorithm::ALL {
        c.bench_function(&format!("{name}, {alg}"), |b| {
            b.iter(|| {
                (split.iter())
                    .map(|(o, n)| line_changes(o, n, alg, far).len())
                    .sum::<usize>()
            })
        });
    }
    // The files of the tree benchmarks above: 40 lines, one changed.
    let (a, b) = (content(7, 3, 0), content(7, 3, 1));
    let (o, n) = (split_lines(&a), split_lines(&b));
    let name = "line diff, 40 lines, 1 changed";
    c.bench_function(&format!("{name}, similar's patience (before)"), |bn| {
        bn.iter(|| similar_patience(&o, &n))
    });
    c.bench_function(&format!("{name}, myers"), |bn| {
        bn.iter(|| line_changes(&o, &n, Algorithm::Myers, far).len())
    });
    let (a, b) = large_pair();
    let (o, n) = (split_lines(&a), split_lines(&b));
    let name = "line diff, 20,000 lines, 200 edits";
    c.bench_function(&format!("{name}, similar's patience (before)"), |bn| {
        bn.iter(|| similar_patience(&o, &n))
    });
    for alg in Algorithm::ALL {
        c.bench_function(&format!("{name}, {alg}"), |bn| {
            bn.iter(|| line_changes(&o, &n, alg, far).len())
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench_diff, bench_lines
}
criterion_main!(benches);
