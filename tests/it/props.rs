//! Property tests: commit then checkout is the identity; encode then decode is the identity.

use std::collections::BTreeMap;
use std::fs;

use codever::object::{
    AliasRecord, CommitRecord, FileMeta, Node, RunRecord, SourceRecord, Structured, Tree, TreeEntry,
};
use codever::{Md5, ObjectId};
use proptest::prelude::*;

use crate::common::{commit_dir, lib_store, read_tree_modes, set_executable};

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
