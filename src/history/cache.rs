//! Machine-local cache of decoded artifact records, in `local/cache/`.
//!
//! Records are immutable and named by the hash of their content, so a record decoded (and
//! verified) once can be remembered by id forever. The cache only saves re-reading record objects;
//! it is never synced, never authoritative (the markers in `refs/` say which records exist) and
//! is rebuilt when absent, damaged or from another version of codever.
//!
//! File layout: magic `CDVC`, version byte, postcard `Vec<(ObjectId, kind byte, raw bytes)>`
//! (each record's raw content as its object holds it, so that checking an entry is one hash of
//! those bytes, not an encoding of the decoded record and a hash of that), then the 32-byte
//! BLAKE3 of everything before it.

use rustc_hash::FxHashMap;

use serde::{Deserialize, Serialize};

use crate::id::ObjectId;
use crate::key::ArtifactKey;
use crate::kind::Kind;
use crate::object::{AliasRecord, CommitRecord, ForgetRecord, RenameRecord, Structured};
use crate::store::{Store, read_checked};

const MAGIC: &[u8; 4] = b"CDVC";
// 2: commit records carry tags and W&B-walk sources; 3: and forget and rename records; 4: raw
// record bytes instead of decoded records (a cache of an older version is rebuilt, never
// misread).
const VERSION: u8 = 4;

/// A verified, decoded record of an artifact.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum CachedRecord {
    // Boxed: records are moved around a lot while a history is derived (same encoding).
    Commit(Box<CommitRecord>),
    Alias(AliasRecord),
    Forget(ForgetRecord),
    /// A rename from or to this name (marked here too, so that older builds refuse the
    /// artifact's numbers; `renames/` is what counts).
    Rename(RenameRecord),
}

impl CachedRecord {
    /// Its kind and raw content.
    fn encode(&self) -> (Kind, Vec<u8>) {
        match self {
            CachedRecord::Commit(c) => (Kind::Commit, c.encode()),
            CachedRecord::Alias(a) => (Kind::Alias, a.encode()),
            CachedRecord::Forget(f) => (Kind::Forget, f.encode()),
            CachedRecord::Rename(r) => (Kind::Rename, r.encode()),
        }
    }

    /// The record of `kind` whose raw content is `raw`, when `raw` is that record and `id` is its
    /// name (a cache is never authoritative, and one copied from elsewhere — a shared folder
    /// holds `local/` too — could map a record id to other content).
    fn decode(id: &ObjectId, kind: u8, raw: &[u8]) -> Option<CachedRecord> {
        let kind = Kind::from_byte(kind)?;
        if ObjectId::compute(kind, raw) != *id {
            return None;
        }
        match kind {
            Kind::Commit => CommitRecord::decode(*id, raw)
                .ok()
                .map(|c| CachedRecord::Commit(Box::new(c))),
            Kind::Alias => AliasRecord::decode(*id, raw).ok().map(CachedRecord::Alias),
            Kind::Forget => ForgetRecord::decode(*id, raw)
                .ok()
                .map(CachedRecord::Forget),
            Kind::Rename => RenameRecord::decode(*id, raw)
                .ok()
                .map(CachedRecord::Rename),
            _ => None,
        }
    }
}

/// Reads the cache of `key`; anything unreadable is an empty cache, an entry that is not the
/// record its id names or not a record of `key` is left out.
pub(crate) fn load(store: &Store, key: &ArtifactKey) -> FxHashMap<ObjectId, CachedRecord> {
    let Some(body) = read_checked(&store.layout().record_cache_file(key), MAGIC, VERSION) else {
        return FxHashMap::default();
    };
    match postcard::from_bytes::<Vec<(ObjectId, u8, &[u8])>>(&body) {
        Ok(v) => v
            .into_iter()
            .filter_map(|(id, kind, raw)| {
                CachedRecord::decode(&id, kind, raw)
                    .filter(|r| belongs(r, key))
                    .map(|r| (id, r))
            })
            .collect(),
        Err(_) => FxHashMap::default(),
    }
}

fn belongs(r: &CachedRecord, key: &ArtifactKey) -> bool {
    let (t, n) = match r {
        CachedRecord::Commit(c) => (&c.artifact_type, &c.name),
        CachedRecord::Alias(a) => (&a.artifact_type, &a.name),
        CachedRecord::Forget(f) => (&f.artifact_type, &f.name),
        CachedRecord::Rename(r) => {
            return key.owns(&r.from_type, &r.from_name) || key.owns(&r.to_type, &r.to_name);
        }
    };
    key.owns(t, n)
}

/// Replaces the cache of `key`.
pub(crate) fn save(store: &Store, key: &ArtifactKey, records: &[(ObjectId, CachedRecord)]) {
    let encoded: Vec<(ObjectId, Kind, Vec<u8>)> = records
        .iter()
        .map(|(id, r)| {
            let (kind, raw) = r.encode();
            (*id, kind, raw)
        })
        .collect();
    let entries: Vec<(ObjectId, u8, &[u8])> = encoded
        .iter()
        .map(|(id, kind, raw)| (*id, *kind as u8, raw.as_slice()))
        .collect();
    if let Ok(body) = postcard::to_stdvec(&entries) {
        store.layout().write_checked(
            &store.layout().record_cache_file(key),
            MAGIC,
            VERSION,
            &body,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CommitOptions, Snapshot, capture_run};
    use std::fs;

    /// A store holding 33 versions of `t/a` (enough that reading its history rewrites the cache),
    /// and no record cache.
    fn store_with_history() -> (tempfile::TempDir, Store, ArtifactKey) {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::init(tmp.path()).unwrap();
        let key = ArtifactKey::new("t", "a").unwrap();
        write_versions(&store, &key, 0..33);
        assert!(!store.root().join("local/cache").exists());
        (tmp, store, key)
    }

    /// Writes the commit records of versions `range` of `key` (run `r<i>`, a tree of its own,
    /// time `i`) with their artifact markers: what history and its cache read, in one pack
    /// instead of one commit (and its fsyncs) each, so that these tests stay fast. Returns
    /// the record ids.
    fn write_versions(
        store: &Store,
        key: &ArtifactKey,
        range: std::ops::Range<usize>,
    ) -> Vec<ObjectId> {
        use crate::object::{Kind, Structured, encode_envelope};
        let mut pack = crate::store::pack::PackWriter::new(store.layout());
        let mut ids = Vec::new();
        for i in range {
            let record = CommitRecord::for_test(
                (&key.artifact_type, &key.name),
                ObjectId::compute(Kind::Tree, format!("tree {i}").as_bytes()),
                &format!("r{i}"),
                1_000 + i as i64,
            );
            let raw = record.encode();
            let id = ObjectId::compute(Kind::Commit, &raw);
            pack.add(id, encode_envelope(Kind::Commit, &raw)).unwrap();
            ids.push(id);
        }
        pack.finish().unwrap();
        store.note_new_pack().unwrap();
        let dir = store.artifact_dir(&key.artifact_type, &key.name);
        for id in &ids {
            store.add_marker(&dir, id).unwrap();
        }
        ids
    }

    fn check_reads_work_without_a_cache(store: &Store, key: &ArtifactKey) {
        // Reading the history wants to write the cache (33 records missing from it): it cannot,
        // and says nothing.
        let h = store.history(key).unwrap();
        assert_eq!(h.versions.len(), 33);
        assert_eq!(h.latest, Some(32));
        assert!(load(store, key).is_empty());
        let path = store.layout().record_cache_file(key);
        store.layout().write_checked(&path, MAGIC, VERSION, b"body");
        assert_eq!(read_checked(&path, MAGIC, VERSION), None);
    }

    /// A rename record is cached under both of its names, and under no other.
    #[test]
    fn a_rename_record_belongs_to_both_its_names() {
        let r = CachedRecord::Rename(RenameRecord {
            from_type: "t".into(),
            from_name: "a".into(),
            to_type: "u".into(),
            to_name: "b".into(),
            time_ns: 1,
            host: String::new(),
        });
        let key = |t: &str, n: &str| ArtifactKey::new(t, n).unwrap();
        assert!(belongs(&r, &key("t", "a")));
        assert!(belongs(&r, &key("u", "b")));
        assert!(!belongs(&r, &key("t", "b")));
        assert!(!belongs(&r, &key("u", "a")));
    }

    #[test]
    fn a_cache_that_cannot_be_written_is_skipped_quietly() {
        let (_tmp, store, key) = store_with_history();
        // `local` is a file: nothing can be created below it, whoever runs the test.
        fs::remove_dir_all(store.root().join("local")).unwrap();
        fs::write(store.root().join("local"), b"").unwrap();
        check_reads_work_without_a_cache(&store, &key);
    }

    #[cfg(unix)]
    #[test]
    fn a_read_only_local_directory_is_skipped_quietly() {
        use std::os::unix::fs::PermissionsExt;
        let (_tmp, store, key) = store_with_history();
        let local = store.root().join("local");
        fs::set_permissions(&local, fs::Permissions::from_mode(0o555)).unwrap();
        if fs::create_dir(local.join("probe")).is_ok() {
            eprintln!("skipped: permissions do not bind this user (root)");
            return;
        }
        check_reads_work_without_a_cache(&store, &key);
        fs::set_permissions(&local, fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn a_cache_entry_that_is_not_its_record_is_ignored() {
        let (_tmp, store, key) = store_with_history();
        let history = store.history(&key).unwrap();
        let (v0, v1) = (&history.versions[0], &history.versions[1]);
        assert_eq!(load(&store, &key).len(), 33);
        // A forged cache: v0's record id mapped to v1's record.
        let mut forged = load(&store, &key)
            .into_iter()
            .collect::<Vec<(ObjectId, CachedRecord)>>();
        let v1_record = CachedRecord::Commit(v1.first().record.clone());
        for (id, r) in forged.iter_mut() {
            if *id == v0.first().id {
                *r = v1_record.clone();
            }
        }
        save(&store, &key, &forged);
        assert_eq!(load(&store, &key).len(), 32);
        let again = store.history(&key).unwrap();
        assert_eq!(again.versions.len(), 33);
        assert_eq!(again.versions[0].tree, v0.tree);
    }

    /// Commits versions `range` of `t/a` (file `a.py` holding `a = i`); returns the record ids.
    fn commit_versions(
        store: &Store,
        key: &ArtifactKey,
        range: std::ops::Range<usize>,
    ) -> Vec<ObjectId> {
        range
            .map(|i| {
                let mut s = Snapshot::default();
                s.add_bytes("a.py", format!("a = {i}\n").into_bytes(), false)
                    .unwrap();
                let run = capture_run(&format!("r{i}"), store.root()).unwrap();
                store
                    .commit(key, &s, &run, &CommitOptions::default())
                    .unwrap()
                    .record
            })
            .collect()
    }

    /// The inode of the cache file of `key`: a rewrite (temp file, rename) changes it.
    fn cache_inode(store: &Store, key: &ArtifactKey) -> Option<u64> {
        use std::os::unix::fs::MetadataExt;
        fs::metadata(store.layout().record_cache_file(key))
            .ok()
            .map(|m| m.ino())
    }

    fn sorted(mut ids: Vec<ObjectId>) -> Vec<ObjectId> {
        ids.sort();
        ids
    }

    fn cached_ids(store: &Store, key: &ArtifactKey) -> Vec<ObjectId> {
        sorted(load(store, key).into_keys().collect())
    }

    #[test]
    fn the_cache_is_rewritten_only_when_enough_records_are_missing_or_some_are_stale() {
        use crate::history::CACHE_REWRITE_AFTER;
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::init(tmp.path()).unwrap();
        let key = ArtifactKey::new("t", "a").unwrap();
        let mut records = write_versions(&store, &key, 0..CACHE_REWRITE_AFTER - 1);
        // One record short of the threshold: a read does not write the cache (the records
        // are read from their objects each time).
        assert_eq!(cache_inode(&store, &key), None);
        let h = store.history(&key).unwrap();
        assert_eq!(h.versions.len(), CACHE_REWRITE_AFTER - 1);
        assert_eq!(cache_inode(&store, &key), None);
        // The commit that makes it CACHE_REWRITE_AFTER missing (its own record, known without
        // reading, included) writes it.
        records.extend(commit_versions(
            &store,
            &key,
            CACHE_REWRITE_AFTER - 1..CACHE_REWRITE_AFTER,
        ));
        let written = cache_inode(&store, &key).expect("cache written");
        assert_eq!(cached_ids(&store, &key), sorted(records.clone()));
        // One more record: read from its object each time, the cache left as it is.
        records.extend(commit_versions(
            &store,
            &key,
            CACHE_REWRITE_AFTER..CACHE_REWRITE_AFTER + 1,
        ));
        let h = store.history(&key).unwrap();
        assert_eq!(h.versions.len(), CACHE_REWRITE_AFTER + 1);
        assert_eq!(h.latest, Some(CACHE_REWRITE_AFTER));
        assert_eq!(cache_inode(&store, &key), Some(written));
        assert_eq!(cached_ids(&store, &key).len(), CACHE_REWRITE_AFTER);
        // A cached record whose marker is gone is stale: the cache is rewritten at once, to the
        // marked records only.
        let v0 = records.remove(0);
        fs::remove_file(store.artifact_dir("t", "a").join(v0.to_hex())).unwrap();
        let h = store.history(&key).unwrap();
        assert_eq!(h.versions.len(), CACHE_REWRITE_AFTER);
        assert!(h.versions.iter().all(|v| v.first().id != v0));
        let rewritten = cache_inode(&store, &key).unwrap();
        assert_ne!(rewritten, written);
        assert_eq!(cached_ids(&store, &key), sorted(records.clone()));
        // Nothing missing, nothing stale: left alone.
        store.history(&key).unwrap();
        assert_eq!(cache_inode(&store, &key), Some(rewritten));
    }

    #[test]
    fn a_damaged_or_foreign_cache_is_ignored_and_the_history_stays_right() {
        let (_tmp, store, key) = store_with_history();
        let right = store.history(&key).unwrap();
        let ids = |h: &crate::History| -> Vec<(ObjectId, ObjectId)> {
            h.versions.iter().map(|v| (v.tree, v.first().id)).collect()
        };
        let path = store.layout().record_cache_file(&key);
        let good = fs::read(&path).unwrap();
        assert_eq!(load(&store, &key).len(), 33);
        let check = |what: &str| {
            assert!(load(&store, &key).is_empty(), "{what}");
            let h = store.history(&key).unwrap();
            assert_eq!(ids(&h), ids(&right), "{what}");
            assert_eq!(h.latest, Some(32), "{what}");
            assert!(h.is_complete(), "{what}");
            // Rebuilt: all 33 records were missing from it.
            assert_eq!(load(&store, &key).len(), 33, "{what}");
        };
        let mut flipped = good.clone();
        flipped[good.len() / 2] ^= 0x01;
        fs::remove_file(&path).unwrap();
        fs::write(&path, &flipped).unwrap();
        check("a flipped byte");
        fs::remove_file(&path).unwrap();
        fs::write(&path, &good[..good.len() - 1]).unwrap();
        check("truncated");
        store
            .layout()
            .write_checked(&path, MAGIC, VERSION + 1, &good[5..good.len() - 32]);
        check("another version");
        store
            .layout()
            .write_checked(&path, MAGIC, VERSION, b"\xff\xff\xff");
        check("a body that does not decode");
        // Another artifact's cache copied over this one: its records are not this artifact's.
        let other = ArtifactKey::new("t", "b").unwrap();
        write_versions(&store, &other, 0..1);
        let records: Vec<(ObjectId, CachedRecord)> = load(&store, &key).into_iter().collect();
        save(&store, &other, &records);
        assert!(load(&store, &other).is_empty());
        let h = store.history(&other).unwrap();
        assert_eq!(h.versions.len(), 1);
        assert!(h.is_complete());
        assert_eq!(ids(&store.history(&key).unwrap()), ids(&right));
    }
}
