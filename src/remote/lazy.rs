//! Fetching single objects from a remote when a command needs one this store lacks (after
//! `pull --metadata-only`, or for `pull --only`): the loose file when the remote has one, else
//! the object's bytes in one of the remote's packs (a ranged read, found through the remote's
//! indexes, cached). Every object is verified before it is written; delta bases are fetched the
//! same way first.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::keys::Entry;
use super::transfer::{Received, RemoteCache, open_remote, receive_loose, verify_received};
use super::{Remote, RemoteConfig};
use crate::error::{Error, RemoteFailure, Result};
use crate::id::ObjectId;
use crate::object::MAX_DELTA_DEPTH;
use crate::store::{ObjectSource, Store};

/// Where each object of the remote's packs is: id → (pack, offset, length).
type PackMap = HashMap<ObjectId, (ObjectId, u64, u32)>;

/// Fetches objects of one remote into a store.
pub(crate) struct RemoteSource<'a> {
    remote: &'a Remote,
    cache: &'a RemoteCache,
    packs: Mutex<Option<PackMap>>,
}

impl<'a> RemoteSource<'a> {
    pub fn new(remote: &'a Remote, cache: &'a RemoteCache) -> Self {
        RemoteSource {
            remote,
            cache,
            packs: Mutex::new(None),
        }
    }

    /// Fetches `id` into `store`, verified; the bytes written, or `None` when the remote does
    /// not have it either.
    pub fn fetch_into(&self, store: &Store, id: &ObjectId) -> Result<Option<usize>> {
        self.fetch_depth(store, id, 0)
    }

    fn fetch_depth(&self, store: &Store, id: &ObjectId, depth: u8) -> Result<Option<usize>> {
        if store.has_object_here(id) {
            return Ok(Some(0));
        }
        if depth > MAX_DELTA_DEPTH {
            return Ok(None);
        }
        let t = &self.remote.transport;
        // The loose file through a temp file: a large blob is verified and installed as a
        // stream, never held whole.
        let loose = match receive_loose(store, self.remote, id)? {
            Received::Installed(n) => return Ok(Some(n as usize)),
            Received::Bytes(b) => Some(b),
            Received::Absent => None,
        };
        let bytes = match loose {
            Some(b) => b,
            None => match self.locate(store, id)? {
                Some((pack, offset, len)) => {
                    match t.get_range(&Entry::Pack(pack).key(), offset, u64::from(len))? {
                        Some(b) => b,
                        None => return Ok(None),
                    }
                }
                None => return Ok(None),
            },
        };
        // A delta's base first (fetched the same way), then the object itself.
        let none = HashMap::new();
        let verified = match verify_received(store, id, &bytes, &none) {
            Err(Error::MissingObject { id: base }) if base != *id => {
                let mut fetched = self.fetch_depth(store, &base, depth + 1)?.unwrap_or(0);
                verify_received(store, id, &bytes, &none)?;
                fetched += bytes.len();
                fetched
            }
            Err(e) => return Err(e),
            Ok(_) => bytes.len(),
        };
        store.prepare_write()?;
        let layout = store.layout();
        let path = layout.object_path(id);
        layout.create_new(&path, &bytes)?;
        if let Some(d) = path.parent() {
            layout.sync_dirs(&[d.to_path_buf()].into_iter().collect())?;
        }
        Ok(Some(verified))
    }

    /// Where `id` is in the remote's packs (their indexes loaded once).
    fn locate(&self, store: &Store, id: &ObjectId) -> Result<Option<(ObjectId, u64, u32)>> {
        let mut packs = self.packs.lock().unwrap_or_else(|e| e.into_inner());
        if packs.is_none() {
            let mut map = PackMap::new();
            let keys: Vec<ObjectId> = if self.cache.loaded {
                self.cache
                    .keys
                    .iter()
                    .filter_map(|k| match Entry::parse(k) {
                        Some(Entry::Index(p)) => Some(p),
                        _ => None,
                    })
                    .collect()
            } else {
                self.remote
                    .transport
                    .list("packs/")?
                    .into_iter()
                    .filter(|f| !f.not_a_file)
                    .filter_map(|f| match Entry::parse(&f.key) {
                        Some(Entry::Index(p)) => Some(p),
                        _ => None,
                    })
                    .collect()
            };
            for p in keys {
                if let Ok(entries) = self.cache.remote_index(store, self.remote, &p, None)? {
                    for (oid, off, len) in entries {
                        map.entry(oid).or_insert((p, off, len));
                    }
                }
            }
            *packs = Some(map);
        }
        Ok(packs.as_ref().and_then(|m| m.get(id).copied()))
    }
}

/// What lazy fetching brought in during one command (the CLI says so on stderr).
#[derive(Debug, Default)]
pub struct FetchLog {
    /// The remote's name.
    pub remote: String,
    /// Objects fetched.
    pub objects: AtomicU64,
    /// Their bytes.
    pub bytes: AtomicU64,
}

struct Lazy {
    remote: Remote,
    cache: RemoteCache,
    packs: Mutex<Option<PackMap>>,
    log: Arc<FetchLog>,
}

impl std::fmt::Debug for Lazy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "remote {}", self.remote.name)
    }
}

impl ObjectSource for Lazy {
    fn fetch(&self, store: &Store, id: &ObjectId) -> Result<bool> {
        let source = RemoteSource {
            remote: &self.remote,
            cache: &self.cache,
            packs: Mutex::new(self.packs.lock().unwrap_or_else(|e| e.into_inner()).take()),
        };
        let got = source.fetch_into(store, id).map_err(|e| match e {
            // The remote's copy, not this store's, is damaged.
            Error::CorruptObject { id: bad, reason } => self.remote.error(
                RemoteFailure::Damaged,
                format!("its copy of {} is corrupt or forged: {reason}", bad.short()),
            ),
            e => self.remote.named(e),
        });
        *self.packs.lock().unwrap_or_else(|e| e.into_inner()) =
            source.packs.into_inner().unwrap_or_else(|e| e.into_inner());
        match got? {
            Some(n) => {
                self.log.objects.fetch_add(1, Ordering::Relaxed);
                self.log.bytes.fetch_add(n as u64, Ordering::Relaxed);
                Ok(true)
            }
            None => {
                // Say so when the remote is not there at all (an unmounted share, a wrong URL),
                // rather than only that the object is missing here.
                if matches!(super::transfer::remote_format(&self.remote), Ok(None)) {
                    return Err(self.remote.error(
                        RemoteFailure::NotAStore,
                        format!(
                            "{} is not there to fetch from: no store (no `format` file); is it \
                             mounted, is the URL right?",
                            id.short()
                        ),
                    ));
                }
                Ok(false)
            }
        }
    }
}

/// With a default remote set, makes `store` fetch the objects it lacks from it (verified),
/// for commands that need blobs a metadata-only pull left behind (`cat`, `checkout`, `diff`,
/// `blame`). Returns the log of what was fetched, `None` without a default remote.
pub fn attach_default_remote(store: &mut Store) -> Result<Option<Arc<FetchLog>>> {
    let config = RemoteConfig::load(store)?;
    if config.default.is_none() {
        return Ok(None);
    }
    let remote = open_remote(store, None)?;
    let cache = RemoteCache::load(store, &remote.name);
    let log = Arc::new(FetchLog {
        remote: remote.name.clone(),
        ..Default::default()
    });
    store.set_object_source(Arc::new(Lazy {
        remote,
        cache,
        packs: Mutex::new(None),
        log: Arc::clone(&log),
    }));
    Ok(Some(log))
}
