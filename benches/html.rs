//! HTML benchmarks (issue 10's targets): `codever ui` serving the compare of two
//! transformers-sized trees (1,700 Python files in 40 packages, 500 of them changed in three
//! places each), `diff --html` rendering the same compare whole, and the page of one file with
//! 10,000 changed lines.
//!
//! Run with `cargo bench --bench html`; figures are in BENCHMARKS.md.

use std::net::SocketAddr;

use codever::html::{self, compare};
use codever::ui::Ui;
use codever::{ArtifactKey, CommitOptions, ObjectId, Snapshot, Store, capture_run};
use criterion::{Criterion, criterion_group, criterion_main};

const DIRS: usize = 40;
const FILES: usize = 1_700;

/// A module of about 300 lines: classes, methods, docstrings, like a model file.
fn module(i: usize, rev: usize) -> Vec<u8> {
    let mut s = format!("\"\"\"Module {i}.\"\"\"\nimport torch\nfrom torch import nn\n\n");
    for c in 0..10 {
        s.push_str(&format!(
            "\nclass Block{c}(nn.Module):\n    \"\"\"Block {c} of module {i}.\"\"\"\n\n"
        ));
        s.push_str("    def __init__(self, config):\n        super().__init__()\n");
        for k in 0..12 {
            let edited = rev > 0 && i % 17 < 5 && k == 5 && c % 4 == 1;
            let value = if edited {
                format!("{}", k * rev + 7)
            } else {
                k.to_string()
            };
            s.push_str(&format!(
                "        self.layer_{k} = nn.Linear(config.hidden_size, config.hidden_size * {value})\n"
            ));
        }
        s.push_str("\n    def forward(self, x):\n");
        for k in 0..8 {
            s.push_str(&format!("        x = self.layer_{k}(x)  # step {k}\n"));
        }
        s.push_str("        return x\n");
    }
    s.into_bytes()
}

fn commit(store: &Store, name: &str, files: Vec<(String, Vec<u8>)>, run: &str) -> ObjectId {
    let mut s = Snapshot::default();
    for (p, c) in files {
        s.add_bytes(&p, c, false).unwrap();
    }
    let r = capture_run(run, std::path::Path::new("/")).unwrap();
    store
        .commit(
            &ArtifactKey::new("code", name).unwrap(),
            &s,
            &r,
            &CommitOptions::default(),
        )
        .unwrap()
        .tree
}

fn tree(rev: usize) -> Vec<(String, Vec<u8>)> {
    (0..FILES)
        .map(|i| {
            (
                format!("src/transformers/pkg{}/mod{i}.py", i % DIRS),
                module(i, rev),
            )
        })
        .collect()
}

fn bench_html(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::init(tmp.path()).unwrap();
    let (a, b) = (
        commit(&store, "tf", tree(0), "r0"),
        commit(&store, "tf", tree(1), "r1"),
    );
    let big = |tag: &str| -> Vec<(String, Vec<u8>)> {
        let text: String = (0..10_000)
            .map(|i| format!("value_{i} = compute({i}, \"{tag}\")\n"))
            .collect();
        vec![("gen.py".to_string(), text.into_bytes())]
    };
    let (ba, bb) = (
        commit(&store, "big", big("old"), "r0"),
        commit(&store, "big", big("new"), "r1"),
    );
    let diff = store.diff_versions(a, b, &Default::default()).unwrap();
    assert_eq!(diff.files.len(), 500);
    let addr: SocketAddr = "127.0.0.1:9999".parse().unwrap();
    let ui = Ui::new(Store::open(&tmp.path().join(".codever")).unwrap(), addr);
    let host = Some("127.0.0.1:9999");

    let text = module(3, 0);
    let lines = codever::diff::split_lines(&text);
    let n = lines.len();
    c.bench_function(&format!("colour {n} lines of Python"), |bn| {
        let lang = html::highlight::language("m.py", b"");
        bn.iter(|| html::highlight::lines(lang, &lines, &[]).len())
    });
    c.bench_function("tree diff alone: 1,700 files, 500 changed", |bn| {
        bn.iter(|| {
            store
                .diff_versions(a, b, &Default::default())
                .unwrap()
                .files
                .len()
        })
    });
    c.bench_function("ui: compare page of 1,700 files, 500 changed", |bn| {
        bn.iter(|| {
            let r = ui.handle("GET", "/compare/tf%3Av0...tf%3Av1", host);
            assert_eq!(r.status, 200);
            r.body.len()
        })
    });
    let mut bare = Ui::new(Store::open(&tmp.path().join(".codever")).unwrap(), addr);
    bare.lazy_after = 0;
    c.bench_function(
        "ui: compare page of 1,700 files, 500 changed, no file inline",
        |bn| {
            bn.iter(|| {
                bare.handle("GET", "/compare/tf%3Av0...tf%3Av1", host)
                    .body
                    .len()
            })
        },
    );
    c.bench_function("ui: one lazily loaded file of that compare", |bn| {
        bn.iter(|| {
            ui.handle("GET", "/compare/tf%3Av0...tf%3Av1?file=300", host)
                .body
                .len()
        })
    });
    c.bench_function(
        "diff --html: the whole compare (500 files in the page)",
        |bn| {
            bn.iter(|| {
                let d = store.diff_versions(a, b, &Default::default()).unwrap();
                let cmp = compare::Compare {
                    left: "tf:v0",
                    right: "tf:v1",
                    diff: &d,
                    runs: None,
                };
                html::standalone(&cmp, &store).len()
            })
        },
    );
    c.bench_function("ui: page of one file with 10,000 changed lines", |bn| {
        bn.iter(|| {
            ui.handle("GET", "/compare/big%3Av0...big%3Av1", host)
                .body
                .len()
        })
    });
    c.bench_function("diff --html: one file with 10,000 changed lines", |bn| {
        bn.iter(|| {
            let d = store.diff_versions(ba, bb, &Default::default()).unwrap();
            let cmp = compare::Compare {
                left: "big:v0",
                right: "big:v1",
                diff: &d,
                runs: None,
            };
            html::standalone(&cmp, &store).len()
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench_html
}
criterion_main!(benches);
