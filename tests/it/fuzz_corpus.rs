//! The seed corpus of the fuzz targets (fuzz/corpus/<target>/): a few valid encodings made with
//! the library's own encoders, so each target starts from inputs that reach deep.
//!
//! `CODEVER_WRITE_FUZZ_CORPUS=1 cargo test --test it fuzz_corpus` (re)writes them, after a
//! format change for instance; the test then checks that every seed in the repository is one of
//! these and still decodes.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use codever::object::{
    AliasRecord, CommitRecord, FileMeta, ForgetRecord, Kind, Node, RenameRecord, RunRecord,
    RunStateRecord, SourceRecord, Structured, Tree, TreeEntry, UseRecord, decode_envelope,
    encode_delta, encode_envelope,
};
use codever::{Md5, ObjectId, Spec};

/// The base of every delta in the object_envelope target (the same constant is in
/// fuzz/fuzz_targets/object_envelope.rs).
const BASE: &[u8] = b"import torch\n\nclass PPO:\n    learning_rate = 3e-4\n    gamma = 0.99\n";

fn id(n: u8) -> ObjectId {
    ObjectId::from_bytes([n; 32])
}

fn tree() -> Tree {
    let file = |n, size| FileMeta {
        id: id(n),
        size,
        md5: Md5::from_bytes([n; 16]),
        executable: n % 2 == 0,
    };
    Tree {
        entries: vec![
            TreeEntry {
                name: "models.py".into(),
                node: Node::File(file(1, 120)),
            },
            TreeEntry {
                name: "ppo.py".into(),
                node: Node::File(file(2, 64)),
            },
            TreeEntry {
                name: "training".into(),
                node: Node::Dir(id(3)),
            },
        ],
    }
}

fn commit_record() -> CommitRecord {
    CommitRecord {
        artifact_type: "rl_algo_code".into(),
        name: "ppo".into(),
        tree: id(4),
        digest: Md5::from_bytes([5; 16]),
        files: 3,
        bytes: 184,
        run: "run-1".into(),
        time_ns: 1_700_000_000_000_000_000,
        host: "gpu-7".into(),
        message: "lr 1e-3".into(),
        description: "PPO".into(),
        metadata: "{\"seed\": 1}".into(),
        sources: vec![SourceRecord {
            path: "/home/me/proj/training".into(),
            display: "training".into(),
            is_dir: true,
            every_file: false,
        }],
        include: vec!["*.py".into()],
        exclude: vec!["tests/**".into()],
        tags: Vec::new(),
    }
}

/// A commit record of schema 2: a W&B-walk directory source and tags.
fn commit_record_v2() -> CommitRecord {
    let mut c = commit_record();
    c.sources[0].every_file = true;
    c.tags = vec!["rl".into(), "sweep 1".into()];
    c
}

fn state_record() -> RunStateRecord {
    RunStateRecord {
        run: "run-1".into(),
        time_ns: 1_700_000_000_000_000_000,
        host: "gpu-7".into(),
        name: "ppo-lr3e-4".into(),
        job_type: "train".into(),
        group: "sweep".into(),
        config: "{\"lr\":0.0003}".into(),
        summary: "{\"reward\":0.91}".into(),
        ranges: "{\"reward\":[0.1,0.91]}".into(),
        steps: 100,
        finished: true,
        exit_code: Some(0),
    }
}

fn run_record() -> RunRecord {
    RunRecord {
        id: "run-1".into(),
        time_ns: 1_700_000_000_000_000_000,
        host: "gpu-7".into(),
        user: "me".into(),
        cwd: "/home/me/proj".into(),
        git_commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
        git_dirty: Some(true),
        project: "safelife".into(),
        config: "{\"lr\": 0.001}".into(),
        notes: "first try".into(),
        tags: vec!["baseline".into()],
    }
}

fn alias_record() -> AliasRecord {
    AliasRecord {
        artifact_type: "rl_algo_code".into(),
        name: "ppo".into(),
        alias: "best".into(),
        tree: id(4),
        time_ns: 1_700_000_000_000_000_001,
        run: "run-1".into(),
    }
}

fn forget_record() -> ForgetRecord {
    ForgetRecord {
        artifact_type: "model_code".into(),
        name: "ppo".into(),
        tree: Some(ObjectId::from_bytes([0x5a; 32])),
        forgotten: true,
        time_ns: 1_700_000_000_000_000_000,
        host: "laptop".into(),
    }
}

fn rename_record() -> RenameRecord {
    RenameRecord {
        from_type: "model_code".into(),
        from_name: "ppo".into(),
        to_type: "model_code".into(),
        to_name: "ppo_typo".into(),
        time_ns: 1_700_000_000_000_000_001,
        host: "laptop".into(),
    }
}

fn use_record() -> UseRecord {
    UseRecord {
        run: "run-2".into(),
        artifact_type: "rl_algo_code".into(),
        name: "ppo".into(),
        tree: id(4),
        time_ns: 1_700_000_000_000_000_002,
    }
}

/// An object file as the object_envelope target takes it: the id, then the file's bytes.
fn named(raw_kind: Kind, raw: &[u8], file: Vec<u8>) -> Vec<u8> {
    let mut out = ObjectId::compute(raw_kind, raw).as_bytes().to_vec();
    out.extend_from_slice(&file);
    out
}

/// A pack index without its checksum (the pack_index target appends it): two entries.
fn index_body() -> Vec<u8> {
    let mut body = b"CDVX\x01".to_vec();
    body.extend_from_slice(&[7u8; 32]); // pack id (the target replaces it as needed)
    body.extend_from_slice(&2u32.to_le_bytes());
    for (n, offset, len) in [(1u8, 5u64, 60u32), (2, 69, 58)] {
        body.extend_from_slice(id(n).as_bytes());
        body.extend_from_slice(&offset.to_le_bytes());
        body.extend_from_slice(&len.to_le_bytes());
    }
    body
}

/// A whole-object file whose zstd frame claims 36 GB (under the 64 GiB the reader accepts) for one
/// byte of content: decoding it must not allocate what the frame claims. Found by the
/// object_envelope target; kept as a regression seed.
fn frame_claiming_36gb() -> Vec<u8> {
    let mut file = b"CDVO\x01\x01\x00".to_vec(); // magic, envelope 1, blob, whole
    file.extend_from_slice(&[0x28, 0xb5, 0x2f, 0xfd]); // zstd magic
    file.push(0xe0); // 8-byte content size, single segment, no checksum
    file.extend_from_slice(&36_000_000_000u64.to_le_bytes());
    file.extend_from_slice(&[0x09, 0x00, 0x00, b'x']); // last block, raw, 1 byte
    [[0u8; 32].as_slice(), &file].concat()
}

/// An index entry whose offset plus length overflows: fsck must call it corrupt, not panic.
/// Found by the pack_index target; kept as a regression seed.
fn index_offset_overflow() -> Vec<u8> {
    let mut body = b"CDVX\x01".to_vec();
    body.extend_from_slice(&[7u8; 32]);
    body.extend_from_slice(&1u32.to_le_bytes());
    body.extend_from_slice(id(1).as_bytes());
    body.extend_from_slice(&(u64::MAX - 7).to_le_bytes());
    body.extend_from_slice(&16u32.to_le_bytes());
    body
}

/// Every seed: target → file name → bytes. Names starting with `regress_` are inputs that made a
/// target fail once; they are not valid encodings.
fn seeds() -> BTreeMap<&'static str, BTreeMap<&'static str, Vec<u8>>> {
    let blob = b"class PPO:\n    learning_rate = 1e-3\n".to_vec();
    let mut changed = BASE.to_vec();
    changed.extend_from_slice(b"    clip_eps = 0.1\n");
    let base_id = ObjectId::compute(Kind::Blob, BASE);
    let tree_raw = tree().encode();
    let commit_raw = commit_record().encode();

    let mut all = BTreeMap::new();
    all.insert(
        "object_envelope",
        BTreeMap::from([
            (
                "blob",
                named(Kind::Blob, &blob, encode_envelope(Kind::Blob, &blob)),
            ),
            (
                "delta",
                named(
                    Kind::Blob,
                    &changed,
                    encode_delta(Kind::Blob, &changed, base_id, BASE, 0),
                ),
            ),
            (
                "tree",
                named(
                    Kind::Tree,
                    &tree_raw,
                    encode_envelope(Kind::Tree, &tree_raw),
                ),
            ),
            (
                "commit",
                named(
                    Kind::Commit,
                    &commit_raw,
                    encode_envelope(Kind::Commit, &commit_raw),
                ),
            ),
            ("regress_frame_claims_36gb", frame_claiming_36gb()),
        ]),
    );
    all.insert(
        "tree",
        BTreeMap::from([
            ("three_entries", tree_raw),
            ("empty", Tree::default().encode()),
        ]),
    );
    let record = |which: u8, raw: Vec<u8>| [vec![which], raw].concat();
    all.insert(
        "records",
        BTreeMap::from([
            ("commit", record(0, commit_raw)),
            ("run", record(1, run_record().encode())),
            ("alias", record(2, alias_record().encode())),
            ("use", record(3, use_record().encode())),
            ("commit_schema_2", record(0, commit_record_v2().encode())),
            ("forget", record(4, forget_record().encode())),
            ("rename", record(5, rename_record().encode())),
            ("state", record(6, state_record().encode())),
        ]),
    );
    all.insert(
        "pack_index",
        BTreeMap::from([
            ("two_entries", index_body()),
            ("regress_offset_overflow", index_offset_overflow()),
        ]),
    );
    let text = |s: &str| s.as_bytes().to_vec();
    all.insert(
        "spec_and_names",
        BTreeMap::from([
            ("spec_bare", text("ppo")),
            ("spec_typed_number", text("rl_algo_code/ppo:v3")),
            ("spec_id_prefix", text("ppo@3fa9c2e1")),
            ("spec_alias", text("code/safelife:best")),
            ("spec_latest", text("ppo:latest")),
            ("path_plain", text("training/models.py")),
            ("path_to_normalise", text("./training//utils.py/")),
            ("path_unsafe", text("../.git/config")),
        ]),
    );
    all
}

/// Whether a committed seed of `target` is still a valid encoding.
fn check_seed(target: &str, name: &str, bytes: &[u8]) {
    let ctx = format!("fuzz/corpus/{target}/{name}");
    if name.starts_with("regress_") {
        return;
    }
    match target {
        "object_envelope" => {
            let mut id = [0u8; 32];
            id.copy_from_slice(&bytes[..32]);
            let mut base = |_: &ObjectId| Ok(BASE.to_vec());
            let decoded = decode_envelope(ObjectId::from_bytes(id), &bytes[32..], &mut base);
            assert!(decoded.is_ok(), "{ctx}: {decoded:?}");
        }
        "tree" => {
            let r = Tree::decode(ObjectId::compute(Kind::Tree, bytes), bytes);
            assert!(r.is_ok(), "{ctx}: {r:?}");
        }
        "records" => {
            let (which, raw) = bytes.split_first().unwrap();
            let any = ObjectId::from_bytes([0; 32]);
            let ok = match which % 7 {
                0 => CommitRecord::decode(any, raw).is_ok(),
                1 => RunRecord::decode(any, raw).is_ok(),
                2 => AliasRecord::decode(any, raw).is_ok(),
                3 => UseRecord::decode(any, raw).is_ok(),
                4 => ForgetRecord::decode(any, raw).is_ok(),
                5 => RenameRecord::decode(any, raw).is_ok(),
                _ => RunStateRecord::decode(any, raw).is_ok(),
            };
            assert!(ok, "{ctx} does not decode");
        }
        "pack_index" => {
            assert_eq!(&bytes[..5], b"CDVX\x01", "{ctx}");
            let count = u32::from_le_bytes(bytes[37..41].try_into().unwrap()) as usize;
            assert_eq!(bytes.len(), 41 + count * 44, "{ctx}");
        }
        "spec_and_names" => {
            let text = std::str::from_utf8(bytes).unwrap();
            if name.starts_with("spec_") {
                assert!(Spec::parse(text).is_ok(), "{ctx}");
            } else {
                let normal = codever::names::normalize_path(text);
                assert_eq!(normal.is_ok(), name != "path_unsafe", "{ctx}: {normal:?}");
            }
        }
        other => panic!("no check for fuzz target {other}"),
    }
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus")
}

#[test]
fn the_fuzz_seed_corpus_is_made_of_valid_encodings() {
    let seeds = seeds();
    if std::env::var_os("CODEVER_WRITE_FUZZ_CORPUS").is_some() {
        for (target, files) in &seeds {
            let dir = corpus_dir().join(target);
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            for (name, bytes) in files {
                fs::write(dir.join(name), bytes).unwrap();
            }
        }
    }
    let regenerate =
        "regenerate with `CODEVER_WRITE_FUZZ_CORPUS=1 cargo test --test it fuzz_corpus`";
    for (target, files) in &seeds {
        let dir = corpus_dir().join(target);
        let mut committed: Vec<String> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}; {regenerate}", dir.display()))
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        committed.sort();
        let expected: Vec<String> = files.keys().map(|k| k.to_string()).collect();
        assert_eq!(committed, expected, "{}: {regenerate}", dir.display());
        for name in files.keys() {
            check_seed(target, name, &fs::read(dir.join(name)).unwrap());
        }
    }
    // Every target has seeds.
    let targets: Vec<String> = fs::read_dir(corpus_dir().parent().unwrap().join("fuzz_targets"))
        .unwrap()
        .map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            name.trim_end_matches(".rs").to_string()
        })
        .collect();
    for t in targets {
        assert!(
            seeds.contains_key(t.as_str()),
            "no seeds for fuzz target {t}"
        );
    }
}
