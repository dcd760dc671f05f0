//! Property tests: commit then checkout is the identity; encode then decode is the identity;
//! stores where two machines commit, forget, unforget and rename independently agree once merged,
//! whichever way they are merged.

use std::collections::BTreeMap;
use std::fs;

use codever::object::{
    AliasRecord, CommitRecord, FileMeta, Node, RunRecord, SourceRecord, Structured, Tree, TreeEntry,
};
use codever::{Md5, ObjectId};
use proptest::prelude::*;

use crate::common::{
    artifact, commit_dir, commit_snapshot, copy_missing, lib_store, read_tree_modes,
    set_executable, snapshot,
};

/// A path component: short, from a small alphabet so that directories are shared, plus some
/// awkward characters (space, unicode, `=`, a leading dot).
fn component() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-c]{1,2}",
        "[a-z0-9_]{1,12}(\\.py)?",
        Just("spa ce".to_string()),
        Just("ünï".to_string()),
        Just("a=b".to_string()),
        Just(".hidden".to_string()),
    ]
}

fn contents() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(Vec::new()),
        proptest::collection::vec(any::<u8>(), 0..300),
        "[ -~\n]{0,200}".prop_map(String::into_bytes),
        Just(vec![0xff, 0xfe, 0x00, b'\n', 0x80]),
    ]
}

fn tree_spec() -> impl Strategy<Value = BTreeMap<String, (Vec<u8>, bool)>> {
    proptest::collection::vec(
        (
            proptest::collection::vec(component(), 1..7),
            contents(),
            any::<bool>(),
        ),
        0..20,
    )
    .prop_map(|files| {
        let mut out: BTreeMap<String, (Vec<u8>, bool)> = BTreeMap::new();
        for (parts, data, exe) in files {
            let path = parts.join("/");
            // Drop a file that would sit where a directory is, or the reverse.
            let clash = out
                .keys()
                .any(|p| p.starts_with(&format!("{path}/")) || path.starts_with(&format!("{p}/")));
            if !clash {
                out.insert(path, (data, exe));
            }
        }
        out
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn commit_then_checkout_is_the_identity(files in tree_spec()) {
        let (tmp, store) = lib_store();
        let src = tmp.path().join("src");
        fs::create_dir_all(&src).unwrap();
        for (path, (data, exe)) in &files {
            let p = src.join(path);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, data).unwrap();
            set_executable(&p, *exe);
        }
        let o = commit_dir(&store, "t/n", &src, "prop");
        prop_assert_eq!(o.files, files.len());

        let out = tmp.path().join("out");
        store.checkout(&o.tree, &out, false).unwrap();
        prop_assert_eq!(read_tree_modes(&out), files);

        // Committing the restored tree again is the same version.
        let o2 = commit_dir(&store, "t/n", &out, "prop");
        prop_assert_eq!((o2.version, o2.new, o2.tree), (Some(0), false, o.tree));
    }

    #[test]
    fn encode_then_decode_is_the_identity(
        names in proptest::collection::vec("\\PC{0,20}", 0..6),
        bytes in any::<[u8; 32]>(),
        size in any::<u64>(),
        time in any::<i64>(),
        flag in any::<bool>(),
        text in "\\PC{0,40}",
        opt in proptest::option::of("\\PC{0,10}"),
    ) {
        let id = ObjectId::from_bytes(bytes);
        let md5 = Md5::from_bytes(bytes[..16].try_into().unwrap());
        let tree = Tree {
            entries: names
                .iter()
                .enumerate()
                .map(|(i, n)| TreeEntry {
                    name: n.clone(),
                    node: if i % 2 == 0 {
                        Node::File(FileMeta { id, size, md5, executable: flag })
                    } else {
                        Node::Dir(id)
                    },
                })
                .collect(),
        };
        prop_assert_eq!(Tree::decode(id, &tree.encode()).unwrap(), tree);
        let commit = CommitRecord {
            artifact_type: text.clone(),
            name: text.clone(),
            tree: id,
            digest: md5,
            files: size,
            bytes: size / 2,
            run: text.clone(),
            time_ns: time,
            host: text.clone(),
            message: text.clone(),
            description: String::new(),
            metadata: text.clone(),
            sources: names
                .iter()
                .map(|n| SourceRecord {
                    path: n.clone(),
                    display: text.clone(),
                    is_dir: flag,
                    every_file: flag && n.len() % 2 == 0,
                })
                .collect(),
            include: names.clone(),
            exclude: vec![],
            // Schema 1 without tags or W&B-walk sources, schema 2 with either.
            tags: if flag { names.clone() } else { vec![] },
        };
        prop_assert_eq!(CommitRecord::decode(id, &commit.encode()).unwrap(), commit);
        let run = RunRecord {
            id: text.clone(),
            time_ns: time,
            host: text.clone(),
            user: String::new(),
            cwd: text.clone(),
            git_commit: opt.clone(),
            git_dirty: Some(flag),
            project: text.clone(),
            config: text.clone(),
            notes: String::new(),
            tags: names.clone(),
        };
        prop_assert_eq!(RunRecord::decode(id, &run.encode()).unwrap(), run);
        let alias = AliasRecord {
            artifact_type: text.clone(),
            name: text.clone(),
            alias: text.clone(),
            tree: id,
            time_ns: time,
            run: opt.unwrap_or_default(),
        };
        prop_assert_eq!(AliasRecord::decode(id, &alias.encode()).unwrap(), alias);
    }
}

/// What two machines do between merges: commit one of a few contents to one of a few
/// artifacts, forget or unforget a version or an artifact, rename an artifact.
#[derive(Clone, Debug)]
enum Op {
    Commit {
        m2: bool,
        art: usize,
        content: usize,
    },
    Forget {
        m2: bool,
        art: usize,
        content: Option<usize>,
        forgotten: bool,
    },
    Rename {
        m2: bool,
        from: usize,
        to: usize,
        merge: bool,
    },
}

const ARTIFACTS: [&str; 3] = ["t/a", "t/b", "u/a"];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (any::<bool>(), 0..3usize, 0..3usize)
            .prop_map(|(m2, art, content)| Op::Commit { m2, art, content }),
        2 => (any::<bool>(), 0..3usize, proptest::option::of(0..3usize), any::<bool>())
            .prop_map(|(m2, art, content, forgotten)| Op::Forget { m2, art, content, forgotten }),
        1 => (any::<bool>(), 0..3usize, 0..3usize, any::<bool>())
            .prop_map(|(m2, from, to, merge)| Op::Rename { m2, from, to, merge }),
    ]
}

fn content(i: usize) -> codever::Snapshot {
    snapshot(&[("x.py", format!("x = {i}\n").as_bytes(), false)])
}

/// Everything a reader derives from a store, to compare two stores by.
fn derived(store: &codever::Store) -> Vec<String> {
    store
        .artifact_histories()
        .unwrap()
        .iter()
        .map(|h| {
            let versions: Vec<String> = h
                .versions
                .iter()
                .map(|v| {
                    format!(
                        "{:?}@{} forgotten={} aliases={:?} runs={:?}",
                        v.number,
                        v.tree.short(),
                        v.forgotten.is_some(),
                        v.aliases,
                        v.runs()
                    )
                })
                .collect();
            format!(
                "{} hidden={} forgotten={} former={:?} latest={:?} complete={} {versions:?}",
                h.key,
                h.is_hidden(),
                h.forgotten.is_some(),
                h.former_names,
                h.latest,
                h.is_complete()
            )
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Two machines start from one store, each commits, forgets, unforgets and renames on its
    /// own (operations a machine refuses, such as a rename onto an existing artifact, are
    /// skipped); merged by copying what is missing, both ways, they derive the same artifacts,
    /// names, numbers, forgotten states, aliases and `latest`; nothing committed is lost; fsck
    /// finds nothing corrupt.
    #[test]
    fn merges_with_forget_and_rename_events_are_order_independent(
        ops in proptest::collection::vec(op(), 1..10)
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let stores: Vec<codever::Store> = ["m1", "m2"]
            .iter()
            .map(|m| codever::Store::init(&tmp.path().join(m)).unwrap())
            .collect();
        // The tree of each content, to name versions by id.
        let (_scratch, scratch) = lib_store();
        let trees: Vec<ObjectId> = (0..3)
            .map(|i| commit_snapshot(&scratch, "t/a", &content(i), "scratch").tree)
            .collect();
        let mut committed = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            let run = format!("r{i}");
            match *op {
                Op::Commit { m2, art, content: c } => {
                    let o = commit_snapshot(&stores[m2 as usize], ARTIFACTS[art], &content(c), &run);
                    committed.push(o.tree);
                }
                Op::Forget { m2, art, content: c, forgotten } => {
                    let target = match c {
                        Some(c) => codever::ForgetTarget::Version(
                            codever::Spec::parse(&format!("{}@{}", ARTIFACTS[art], trees[c].to_hex()))
                                .unwrap(),
                        ),
                        None => {
                            let key = artifact(ARTIFACTS[art]);
                            codever::ForgetTarget::Artifact {
                                artifact_type: Some(key.artifact_type),
                                name: key.name,
                            }
                        }
                    };
                    let _ = stores[m2 as usize].set_forgotten(&target, forgotten);
                }
                Op::Rename { m2, from, to, merge } => {
                    let (f, t) = (artifact(ARTIFACTS[from]), artifact(ARTIFACTS[to]));
                    let _ = stores[m2 as usize].rename(
                        (Some(&f.artifact_type), &f.name),
                        (Some(&t.artifact_type), &t.name),
                        merge,
                    );
                }
            }
        }
        let (m1, m2) = (stores[0].root().to_path_buf(), stores[1].root().to_path_buf());
        let m1_copy = tmp.path().join("m1_copy");
        fs::create_dir_all(&m1_copy).unwrap();
        copy_missing(&m1, &m1_copy);
        copy_missing(&m2, &m1);
        copy_missing(&m1_copy, &m2);
        let (a, b) = (
            codever::Store::open(&m1).unwrap(),
            codever::Store::open(&m2).unwrap(),
        );
        let derived_a = derived(&a);
        prop_assert_eq!(&derived_a, &derived(&b), "{:?}", ops);
        // Nothing committed is lost: every content is a version of some artifact.
        for tree in committed {
            prop_assert!(
                a.artifact_histories().unwrap().iter().any(|h| h.by_tree(&tree).is_some()),
                "{} lost: {:?}", tree, derived_a
            );
        }
        for s in [&a, &b] {
            let r = s.fsck().unwrap();
            prop_assert!(r.corrupt.is_empty(), "{:?}", r.corrupt);
        }
    }
}
