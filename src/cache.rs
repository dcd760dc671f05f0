//! Machine-local cache of decoded artifact records, in `local/cache/`.
//!
//! Records are immutable and named by the hash of their content, so a record decoded (and
//! verified) once can be remembered by id forever. The cache only saves re-reading record objects;
//! it is never synced, never authoritative (the markers in `refs/` say which records exist) and
//! is rebuilt when absent, damaged or from another version of codever.
//!
//! File layout: magic `CDVC`, version byte, postcard `Vec<(ObjectId, CachedRecord)>`, then the
//! 32-byte BLAKE3 of everything before it.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::history::ArtifactKey;
use crate::id::ObjectId;
use crate::object::{AliasRecord, CommitRecord};
use crate::store::Store;

const MAGIC: &[u8; 4] = b"CDVC";
const VERSION: u8 = 1;

/// A verified, decoded record of an artifact.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum CachedRecord {
    Commit(CommitRecord),
    Alias(AliasRecord),
}

fn cache_path(store: &Store, key: &ArtifactKey) -> PathBuf {
    store
        .root()
        .join("local/cache/refs")
        .join(&key.artifact_type)
        .join(&key.name)
}

/// Reads the cache of `key`; anything unreadable is an empty cache.
pub(crate) fn load(store: &Store, key: &ArtifactKey) -> HashMap<ObjectId, CachedRecord> {
    let Ok(bytes) = fs::read(cache_path(store, key)) else {
        return HashMap::new();
    };
    if bytes.len() < 5 + 32 || &bytes[..4] != MAGIC || bytes[4] != VERSION {
        return HashMap::new();
    }
    let (body, sum) = bytes.split_at(bytes.len() - 32);
    if blake3::hash(body).as_bytes() != sum {
        return HashMap::new();
    }
    match postcard::from_bytes::<Vec<(ObjectId, CachedRecord)>>(&body[5..]) {
        Ok(v) => v.into_iter().filter(|(_, r)| belongs(r, key)).collect(),
        Err(_) => HashMap::new(),
    }
}

fn belongs(r: &CachedRecord, key: &ArtifactKey) -> bool {
    let (t, n) = match r {
        CachedRecord::Commit(c) => (&c.artifact_type, &c.name),
        CachedRecord::Alias(a) => (&a.artifact_type, &a.name),
    };
    *t == key.artifact_type && *n == key.name
}

/// Replaces the cache of `key`. Failures are ignored: the cache is only an optimisation.
pub(crate) fn save(store: &Store, key: &ArtifactKey, records: &[(ObjectId, CachedRecord)]) {
    let Ok(body) = postcard::to_stdvec(records) else {
        return;
    };
    let mut bytes = Vec::with_capacity(body.len() + 37);
    bytes.extend_from_slice(MAGIC);
    bytes.push(VERSION);
    bytes.extend_from_slice(&body);
    let sum = blake3::hash(&bytes);
    bytes.extend_from_slice(sum.as_bytes());
    let path = cache_path(store, key);
    let Some(dir) = path.parent() else { return };
    if fs::create_dir_all(dir).is_err() {
        return;
    }
    // Temp file + rename so readers never see half a cache; no fsync: after a crash a lost or
    // stale cache is simply rebuilt.
    let Ok(mut tmp) = tempfile::Builder::new().prefix(".cache").tempfile_in(dir) else {
        return;
    };
    if tmp.write_all(&bytes).is_ok() {
        let _ = tmp.persist(&path);
    }
}
