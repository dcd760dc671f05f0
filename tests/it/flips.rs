//! One flipped byte anywhere in a stored object, a pack or a pack index: `fsck` must exit 1, and
//! no `cat` or `checkout` may exit 0 with bytes other than the ones committed (it fails, or it
//! serves the right bytes from another copy).
//!
//! Regions are found by parsing: an object starts with magic (4 bytes), envelope format (1),
//! kind (1), encoding (1), then for a delta the base id (32) and depth (1); an envelope of format
//! 2 or later ends with a 16-byte checksum. Pack objects are located through the pack's index.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::{
    blob_id, code_files, codever_cmd, commit_json, commit_ok, commit_record_of, copy_missing,
    init_store, object_path, on_threads, pack_files, read_tree, rewrite, run_all_within, run_ok,
    sorted, write_files,
};

type Files = Vec<(String, Vec<u8>)>;

/// A store with two artifacts, and what every version must contain.
struct Pristine {
    _tmp: tempfile::TempDir,
    store: PathBuf,
    /// (spec, files) for every version of both artifacts.
    versions: Vec<(String, Files)>,
    /// `ppo.py` of small:v0..v3.
    ppo: Vec<Vec<u8>>,
    /// Root tree ids of small:v0..v3.
    small_trees: Vec<String>,
    /// The pack of big:v0 (whole objects) and of big:v1 (deltas against v0).
    packs: [String; 2],
}

fn ppo_content(n: usize) -> Vec<u8> {
    let mut s = String::from("import torch\n\n\nclass PPO:\n");
    for i in 0..60 {
        s.push_str(&format!(
            "    w_{i} = init({}, \"{}\")\n",
            i * 7919 % 1000,
            i * 31 % 97
        ));
        if i % 15 == 0 {
            for k in 0..n {
                s.push_str(&format!("    # change {k} of block {i}\n"));
            }
        }
    }
    s.into_bytes()
}

/// small: 3 files, v0..v3 changing `ppo.py` (loose objects, `ppo.py` as loose deltas from v1
/// on), alias `best` on v2; big: 24 files, v0 and v1 (two packs, v1's blobs deltas of v0's).
fn pristine() -> Pristine {
    let (tmp, store) = init_store();
    let mut versions = Vec::new();
    let mut ppo = Vec::new();
    let mut small_trees = Vec::new();
    for n in 0..4 {
        let files: Files = vec![
            ("models.py".into(), b"hidden = 64\n".to_vec()),
            ("ppo.py".into(), ppo_content(n)),
            ("utils.py".into(), b"def clip(x):\n    return x\n".to_vec()),
        ];
        let src = tmp.path().join(format!("small{n}"));
        write_files(&src, &files);
        let out = commit_json(&store, "code/small", &src, &format!("s{n}"));
        assert_eq!(out["version"], n);
        small_trees.push(out["id"].as_str().unwrap().to_string());
        ppo.push(files[1].1.clone());
        versions.push((format!("code/small:v{n}"), files));
    }
    run_ok(&store, &["alias", "small:v2", "best"]);
    let mut packs = Vec::new();
    for n in 0..2 {
        let files = code_files(42, 24, n);
        let src = tmp.path().join(format!("big{n}"));
        write_files(&src, &files);
        let before = pack_files(&store);
        commit_ok(&store, "code/big", &src, &format!("b{n}"));
        let new: Vec<PathBuf> = pack_files(&store)
            .into_iter()
            .filter(|p| !before.contains(p))
            .collect();
        assert_eq!(new.len(), 1, "big:v{n} is one pack");
        packs.push(new[0].file_stem().unwrap().to_str().unwrap().to_string());
        versions.push((format!("code/big:v{n}"), files));
    }
    Pristine {
        _tmp: tmp,
        store,
        versions,
        ppo,
        small_trees,
        packs: [packs[0].clone(), packs[1].clone()],
    }
}

/// Offsets of each region of an object envelope, relative to its start.
fn envelope_regions(b: &[u8]) -> Vec<(&'static str, usize)> {
    assert!(b.len() > 8 && &b[..4] == b"CDVO", "not an object envelope");
    let format = b[4];
    let end = if format >= 2 { b.len() - 16 } else { b.len() };
    let mut r = vec![("magic", 0), ("format", 4), ("kind", 5), ("encoding", 6)];
    let payload = if b[6] == 1 {
        r.extend([("base id", 7), ("base id end", 38), ("depth", 39)]);
        40
    } else {
        7
    };
    r.extend([
        ("payload start", payload),
        ("payload middle", (payload + end) / 2),
        ("payload end", end - 1),
    ]);
    if format >= 2 {
        r.extend([("checksum", b.len() - 16), ("checksum end", b.len() - 1)]);
    }
    r
}

/// (object id hex, offset, length) of every entry of a pack index, checking the layout is the
/// documented one: "CDVX", version, pack id (32), u32 count, count × (id 32, u64 offset, u32
/// length), 32-byte checksum.
fn index_entries(idx: &[u8]) -> Vec<(String, usize, usize)> {
    assert_eq!(&idx[..4], b"CDVX");
    let count = u32::from_le_bytes(idx[37..41].try_into().unwrap()) as usize;
    assert_eq!(
        idx.len(),
        41 + count * 44 + 32,
        "the pack index layout changed: update tests/it/flips.rs"
    );
    (0..count)
        .map(|i| {
            let e = &idx[41 + i * 44..41 + (i + 1) * 44];
            let hex: String = e[..32].iter().map(|b| format!("{b:02x}")).collect();
            let off = u64::from_le_bytes(e[32..40].try_into().unwrap()) as usize;
            let len = u32::from_le_bytes(e[40..44].try_into().unwrap()) as usize;
            (hex, off, len)
        })
        .collect()
}

/// One byte to flip: a file relative to the store, an offset, and what region it is in.
struct Target {
    what: String,
    file: String,
    offset: usize,
    /// What the flip can affect, so only that is read back.
    scope: Scope,
}

/// Which reads to check after a flip (each is one process; all of them for every flip would
/// take most of the test budget).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// Objects of small: checkout and `cat ppo.py` of every version, `latest` and `best`.
    Small,
    /// Records of small (they decide what numbers mean): `cat ppo.py` of every version,
    /// `latest` and `best`.
    SmallNumbers,
    /// Objects of big: checkout of both versions.
    Big,
}

fn envelope_targets(
    what: &str,
    file: &str,
    bytes: &[u8],
    base: usize,
    scope: Scope,
) -> Vec<Target> {
    envelope_regions(bytes)
        .into_iter()
        .map(|(region, off)| Target {
            what: format!("{what}: {region}"),
            file: file.to_string(),
            offset: base + off,
            scope,
        })
        .collect()
}

fn loose_targets(
    p: &Pristine,
    what: &str,
    hex: &str,
    expect_delta: bool,
    scope: Scope,
) -> Vec<Target> {
    let file = format!("objects/{}/{}", &hex[..2], &hex[2..]);
    let bytes = fs::read(object_path(&p.store, hex))
        .unwrap_or_else(|e| panic!("{what} is expected loose: {e}"));
    assert_eq!(
        bytes[6] == 1,
        expect_delta,
        "{what}: expected a {} object",
        if expect_delta { "delta" } else { "whole" }
    );
    envelope_targets(what, &file, &bytes, 0, scope)
}

/// Flips byte `t.offset` of `t.file` in a fresh copy of the store and returns what went wrong.
fn damage_and_check(p: &Pristine, t: &Target, scratch: &Path) -> Vec<String> {
    let _ = fs::remove_dir_all(scratch);
    let store = scratch.join("store");
    fs::create_dir_all(&store).unwrap();
    copy_missing(&p.store, &store);
    rewrite(&store.join(&t.file), |bytes| bytes[t.offset] ^= 0x01);

    // (command, the files it must produce if it exits 0): a checkout directory or cat's stdout.
    enum Expect<'a> {
        Fsck,
        Tree(PathBuf, &'a Files),
        Bytes(&'a [u8]),
    }
    let mut cmds = vec![codever_cmd(&store, &["fsck"])];
    let mut expect = vec![Expect::Fsck];
    for (i, (spec, files)) in p.versions.iter().enumerate() {
        let small = spec.starts_with("code/small:");
        if (t.scope == Scope::Small && !small) || (t.scope == Scope::Big && small) {
            continue;
        }
        if t.scope == Scope::SmallNumbers {
            continue;
        }
        let into = scratch.join(format!("out{i}"));
        let c = codever_cmd(
            &store,
            &["checkout", spec, "--into", into.to_str().unwrap()],
        );
        cmds.push(c);
        expect.push(Expect::Tree(into, files));
    }
    let mut cats: Vec<(String, &[u8])> = (0..4)
        .map(|n| (format!("small:v{n}"), &p.ppo[n][..]))
        .collect();
    cats.push(("small:latest".into(), &p.ppo[3]));
    cats.push(("small:best".into(), &p.ppo[2]));
    if t.scope == Scope::Big {
        cats.clear();
    }
    for (spec, content) in &cats {
        cmds.push(codever_cmd(&store, &["cat", spec, "ppo.py"]));
        expect.push(Expect::Bytes(content));
    }

    let mut problems = Vec::new();
    for (f, e) in run_all_within(cmds, Duration::from_secs(60))
        .iter()
        .zip(expect)
    {
        let short = f.what.rsplit("--store").next().unwrap_or_default();
        match e {
            Expect::Fsck if f.code() != Some(1) => {
                let out = String::from_utf8_lossy(&f.stdout);
                problems.push(format!(
                    "fsck did not exit 1 ({}): {}",
                    f.how(),
                    out.lines().last().unwrap_or_default()
                ));
            }
            Expect::Fsck => {}
            _ if f.code() == Some(2) => {}
            _ if f.code() != Some(0) => problems.push(f.describe()),
            Expect::Tree(into, files) => {
                if read_tree(&into) != sorted(files) {
                    problems.push(format!("exit 0 with wrong bytes:{short}"));
                }
            }
            Expect::Bytes(content) => {
                if f.stdout != content {
                    problems.push(format!("exit 0 with wrong bytes:{short}"));
                }
            }
        }
    }
    problems
}

/// Runs every target (a few side by side) and fails with all the problems found.
fn check_all(p: &Pristine, targets: Vec<Target>) {
    let scratch = tempfile::tempdir().unwrap();
    let failures: Vec<String> = on_threads(&targets, 3, |w, t| {
        let problems = damage_and_check(p, t, &scratch.path().join(format!("w{w}")));
        (!problems.is_empty()).then(|| {
            format!(
                "{} (byte {} of {}):\n  {}",
                t.what,
                t.offset,
                t.file,
                problems.join("\n  ")
            )
        })
    })
    .into_iter()
    .flatten()
    .collect();
    assert!(
        failures.is_empty(),
        "{} of {} flipped bytes were mishandled:\n{}",
        failures.len(),
        targets.len(),
        failures.join("\n")
    );
}

#[test]
fn a_flipped_byte_in_a_loose_object_is_caught_and_never_served() {
    let p = pristine();
    let mut targets = Vec::new();
    targets.extend(loose_targets(
        &p,
        "loose whole blob (small:v0 ppo.py)",
        &blob_id(&p.ppo[0]).to_hex(),
        false,
        Scope::Small,
    ));
    targets.extend(loose_targets(
        &p,
        "loose delta blob (small:v2 ppo.py)",
        &blob_id(&p.ppo[2]).to_hex(),
        true,
        Scope::Small,
    ));
    targets.extend(loose_targets(
        &p,
        "loose tree (small:v1)",
        &p.small_trees[1],
        false,
        Scope::Small,
    ));
    check_all(&p, targets);
}

#[test]
fn a_flipped_byte_in_a_commit_record_never_gives_another_versions_bytes() {
    let p = pristine();
    let mut targets = Vec::new();
    for n in 0..4 {
        let hex = commit_record_of(&p.store, &format!("s{n}")).to_hex();
        targets.extend(loose_targets(
            &p,
            &format!("commit record of small:v{n}"),
            &hex,
            false,
            Scope::SmallNumbers,
        ));
    }
    check_all(&p, targets);
}

#[test]
fn a_flipped_byte_in_a_pack_or_its_index_is_caught_and_never_served() {
    let p = pristine();
    let mut targets = Vec::new();
    for (k, pack) in p.packs.iter().enumerate() {
        let pack_file = format!("packs/{pack}.pack");
        let idx_file = format!("packs/{pack}.idx");
        let bytes = fs::read(p.store.join(&pack_file)).unwrap();
        let idx = fs::read(p.store.join(&idx_file)).unwrap();
        let entries = index_entries(&idx);
        if k == 0 {
            targets.push(Target {
                what: "pack: magic".into(),
                file: pack_file.clone(),
                offset: 0,
                scope: Scope::Big,
            });
            targets.push(Target {
                what: "pack: version".into(),
                file: pack_file.clone(),
                offset: 4,
                scope: Scope::Big,
            });
        }
        // big:v0's pack holds whole blobs and trees; big:v1's holds deltas.
        let (want_kind, want_encoding, what) = if k == 0 {
            (1, 0, "packed whole blob")
        } else {
            (1, 1, "packed delta blob")
        };
        let &(_, off, len) = entries
            .iter()
            .find(|(_, off, _)| bytes[off + 5] == want_kind && bytes[off + 6] == want_encoding)
            .unwrap_or_else(|| panic!("no {what} in {pack_file}"));
        targets.push(Target {
            what: format!("{what}: length prefix"),
            file: pack_file.clone(),
            offset: off - 4,
            scope: Scope::Big,
        });
        targets.extend(envelope_targets(
            what,
            &pack_file,
            &bytes[off..off + len],
            off,
            Scope::Big,
        ));
        if k == 1 {
            let last = 41 + (entries.len() - 1) * 44;
            for (region, offset) in [
                ("magic", 0),
                ("version", 4),
                ("pack id", 5),
                ("count", 37),
                ("first entry id", 41),
                ("first entry offset", 41 + 32),
                ("first entry length", 41 + 40),
                ("last entry id", last),
                ("last entry offset", last + 32),
                ("checksum", idx.len() - 32),
                ("checksum end", idx.len() - 1),
            ] {
                targets.push(Target {
                    what: format!("pack index: {region}"),
                    file: idx_file.clone(),
                    offset,
                    scope: Scope::Big,
                });
            }
        }
    }
    check_all(&p, targets);
}
