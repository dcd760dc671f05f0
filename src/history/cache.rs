//! Machine-local cache of decoded artifact records, in `local/cache/`.
//!
//! Records are immutable and named by the hash of their content, so a record decoded (and
//! verified) once can be remembered by id forever. The cache only saves re-reading record objects;
//! it is never synced, never authoritative (the markers in `refs/` say which records exist) and
//! is rebuilt when absent, damaged or from another version of codever.
//!
//! File layout: magic `CDVC`, version byte, postcard `Vec<(ObjectId, CachedRecord)>`, then the
//! 32-byte BLAKE3 of everything before it.

use rustc_hash::FxHashMap;

use serde::{Deserialize, Serialize};

use crate::id::ObjectId;
use crate::key::ArtifactKey;
use crate::object::{AliasRecord, CommitRecord};
use crate::store::{Store, read_checked};

const MAGIC: &[u8; 4] = b"CDVC";
const VERSION: u8 = 1;

/// A verified, decoded record of an artifact.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum CachedRecord {
    // Boxed: records are moved around a lot while a history is derived (same encoding).
    Commit(Box<CommitRecord>),
    Alias(AliasRecord),
}

/// Reads the cache of `key`; anything unreadable is an empty cache.
pub(crate) fn load(store: &Store, key: &ArtifactKey) -> FxHashMap<ObjectId, CachedRecord> {
    let Some(body) = read_checked(&store.layout().record_cache_file(key), MAGIC, VERSION) else {
        return FxHashMap::default();
    };
    match postcard::from_bytes::<Vec<(ObjectId, CachedRecord)>>(&body) {
        // Each entry must hash to its id: a cache is never authoritative, and one copied from
        // elsewhere (a shared folder holds `local/` too) could map a record id to other content.
        Ok(v) => v
            .into_iter()
            .filter(|(id, r)| belongs(r, key) && hashes_to(r, id))
            .collect(),
        Err(_) => FxHashMap::default(),
    }
}

/// Whether `r` is the record `id` names.
fn hashes_to(r: &CachedRecord, id: &ObjectId) -> bool {
    use crate::object::Structured;
    let (kind, raw) = match r {
        CachedRecord::Commit(c) => (crate::object::Kind::Commit, c.encode()),
        CachedRecord::Alias(a) => (crate::object::Kind::Alias, a.encode()),
    };
    ObjectId::compute(kind, &raw) == *id
}

fn belongs(r: &CachedRecord, key: &ArtifactKey) -> bool {
    let (t, n) = match r {
        CachedRecord::Commit(c) => (&c.artifact_type, &c.name),
        CachedRecord::Alias(a) => (&a.artifact_type, &a.name),
    };
    key.owns(t, n)
}

/// Replaces the cache of `key`.
pub(crate) fn save(store: &Store, key: &ArtifactKey, records: &[(ObjectId, CachedRecord)]) {
    if let Ok(body) = postcard::to_stdvec(records) {
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

    /// A store holding 33 versions of `t/a` (enough that reading its history rewrites the cache).
    fn store_with_history() -> (tempfile::TempDir, Store, ArtifactKey) {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::init(tmp.path()).unwrap();
        let key = ArtifactKey::new("t", "a").unwrap();
        for i in 0..33 {
            let mut s = Snapshot::default();
            s.add_bytes("a.py", format!("a = {i}\n").into_bytes(), false)
                .unwrap();
            let run = capture_run(&format!("r{i}"), tmp.path()).unwrap();
            store
                .commit(&key, &s, &run, &CommitOptions::default())
                .unwrap();
        }
        fs::remove_dir_all(store.root().join("local/cache")).unwrap();
        (tmp, store, key)
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
}
