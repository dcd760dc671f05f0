//! The store directory: finding and creating it, writing objects atomically, reading them
//! verified, and the add-only marker indexes under `refs/` and `runs/`.
//!
//! ```text
//! .codever/
//!   format                          "codever-store-format N" (see [`FORMAT`])
//!   objects/ab/cdef…                loose objects (records; blobs and trees of small commits)
//!   packs/<id>.pack, <id>.idx       the new blobs and trees of a larger commit (see `pack`)
//!   refs/<type>/<name>/<record-id>  empty marker: a commit, alias, forget or rename record of
//!                                   that artifact
//!   renames/<record-id>             empty marker: a rename record (read by every command)
//!   runs/<run-id>/<record-id>       empty marker: the run's run record(s) and commit records
//!   local/                          this machine only, never synced: temp files, caches
//! ```

use std::collections::{HashMap, VecDeque};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use crate::error::{Error, Result};
use crate::id::ObjectId;
use crate::object::{
    Header, Kind, MAX_DELTA_DEPTH, MAX_OBJECT_SIZE, Structured, decode_envelope_limited,
    encode_envelope, parse_header,
};
mod large;
mod layout;
pub(crate) mod markers;
mod objects;
pub(crate) mod pack;

use layout::*;
pub(crate) use layout::{
    Layout, absolute, absolute_in, list_dir, open_regular, read_checked, read_regular,
};
pub(crate) use objects::read_object_file;
use objects::*;
use pack::{Location, PackIndex};

/// The newest store format this build reads (and writes, when it has to). A store's number is
/// the oldest format able to read everything in it, so that an older build refuses a store it
/// would misread and keeps reading one it can:
///
/// - 1: the first objects, without a checksum of their stored bytes;
/// - 2 ([`WRITE_FORMAT`]): every object carries that checksum. `init` writes 2, and the first
///   command that writes to a format-1 store upgrades its number (only the number);
/// - 3 ([`EXTENDED_FORMAT`]): the store holds records a format-2 build cannot read: forget or
///   rename events (it would list forgotten versions, or an artifact under its old name), run
///   state records (W&B's config updates and summary, written at `finish`) or commit records of
///   schema 2 (W&B's `add_dir` walk, tags). Only the first such record raises the number; other
///   commits leave a format-2 store at 2.
pub const FORMAT: u32 = 3;
pub use crate::object::{EXTENDED_FORMAT, WRITE_FORMAT};
/// The format of a store holding forget or rename records.
pub const EVENTS_FORMAT: u32 = EXTENDED_FORMAT;
/// Name of the store directory inside a project.
pub const STORE_DIR_NAME: &str = ".codever";
/// Environment variable naming the store directory.
pub const STORE_ENV: &str = "CODEVER_DIR";
const FORMAT_FILE: &str = "format";
const FORMAT_PREFIX: &str = "codever-store-format ";

/// An open store.
#[derive(Clone, Debug)]
pub struct Store {
    layout: Layout,
    packs: Arc<RwLock<PackIndex>>,
    recent: Arc<Mutex<RecentObjects>>,
    /// The format number in the `format` file (1 until the first write upgrades it).
    format: Arc<std::sync::atomic::AtomicU32>,
    /// Where an object this store lacks may be fetched from (a remote; see
    /// [`Store::set_object_source`]).
    source: Option<Arc<dyn ObjectSource>>,
}

/// A place objects missing from a store can be fetched from (the default remote, for commands
/// that need a blob a `pull --metadata-only` left behind). `fetch` writes the object into the
/// store only once it is verified, and says whether it did; the store then reads it as usual.
pub trait ObjectSource: std::fmt::Debug + Send + Sync {
    /// Fetches object `id` into `store`; `Ok(false)` when the source does not have it either.
    fn fetch(&self, store: &Store, id: &ObjectId) -> Result<bool>;
}

/// Verified objects read recently (delta bases are read again and again along chains, and by
/// diff, log and blame walking consecutive versions). Bounded in bytes, oldest out first.
#[derive(Debug, Default)]
struct RecentObjects {
    map: HashMap<ObjectId, (Kind, Arc<Vec<u8>>, u8)>,
    order: VecDeque<ObjectId>,
    bytes: usize,
}

const RECENT_BYTES: usize = 32 << 20;

impl RecentObjects {
    fn get(&self, id: &ObjectId) -> Option<(Kind, Arc<Vec<u8>>, u8)> {
        self.map.get(id).cloned()
    }

    fn put(&mut self, id: ObjectId, kind: Kind, raw: Arc<Vec<u8>>, depth: u8) {
        if raw.len() > RECENT_BYTES / 8 || self.map.contains_key(&id) {
            return;
        }
        self.bytes += raw.len();
        self.map.insert(id, (kind, raw, depth));
        self.order.push_back(id);
        while self.bytes > RECENT_BYTES {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some((_, r, _)) = self.map.remove(&old) {
                self.bytes -= r.len();
            }
        }
    }
}

impl Store {
    /// Creates a store in `project_dir/.codever` (creating `project_dir` if needed).
    pub fn init(project_dir: &Path) -> Result<Store> {
        Self::init_at(&project_dir.join(STORE_DIR_NAME))
    }

    /// Creates a store in exactly the directory `root`.
    pub fn init_at(root: &Path) -> Result<Store> {
        if root.join(FORMAT_FILE).exists() {
            return Err(Error::AlreadyExists {
                path: root.to_path_buf(),
            });
        }
        let store = Store::new(root);
        let l = &store.layout;
        for p in [
            l.objects_dir(),
            l.packs_dir(),
            l.refs_dir(),
            l.runs_dir(),
            l.tmp_dir(),
        ] {
            fs::create_dir_all(&p).map_err(|e| Error::io("cannot create", p, e))?;
        }
        // The format file is written last: a store without it is not yet a store.
        l.replace(
            &l.format_file(),
            format!("{FORMAT_PREFIX}{WRITE_FORMAT}\n").as_bytes(),
        )?;
        store
            .format
            .store(WRITE_FORMAT, std::sync::atomic::Ordering::Relaxed);
        Ok(store)
    }

    /// Opens the store whose directory is `root` (the `.codever` directory itself).
    pub fn open(root: &Path) -> Result<Store> {
        let format_path = root.join(FORMAT_FILE);
        let text = match read_regular(&format_path, 4096) {
            Ok(t) => String::from_utf8_lossy(&t).into_owned(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(Error::NotAStore {
                    path: root.to_path_buf(),
                    reason: "it has no `format` file: a copy not finished, or not a store".into(),
                });
            }
            Err(e) => return Err(Error::io("cannot read", format_path, e)),
        };
        let found: u32 = text
            .trim()
            .strip_prefix(FORMAT_PREFIX)
            .and_then(|n| n.trim().parse().ok())
            .ok_or_else(|| Error::NotAStore {
                path: root.to_path_buf(),
                reason: format!("its `format` file says {:?}", text.trim()),
            })?;
        if found > FORMAT {
            return Err(Error::NewerFormat {
                path: root.to_path_buf(),
                found,
                supported: FORMAT,
            });
        }
        // local/ is machine-local and may be missing in a store copied without it. A read-only
        // store (a teammate's, a mounted snapshot) cannot have it made: reads do not need it, and
        // a write reports the failure where it happens.
        let store = Store::new(root);
        let tmp = store.layout.tmp_dir();
        if fs::create_dir_all(&tmp).is_ok()
            && let Some(tmp) = store.layout.own_dir(tmp)
        {
            remove_stale_temp_files(&tmp);
        }
        store
            .format
            .store(found, std::sync::atomic::Ordering::Relaxed);
        store.note_new_pack()?;
        Ok(store)
    }

    pub(super) fn new(root: &Path) -> Store {
        Store {
            layout: Layout::new(root),
            packs: Arc::new(RwLock::new(PackIndex::default())),
            recent: Arc::new(Mutex::new(RecentObjects::default())),
            format: Arc::new(std::sync::atomic::AtomicU32::new(FORMAT)),
            source: None,
        }
    }

    /// From now on, objects this store lacks are asked of `source` before they are reported
    /// missing (verified, then written loose like any received object).
    pub fn set_object_source(&mut self, source: Arc<dyn ObjectSource>) {
        self.source = Some(source);
    }

    /// Asks the object source, if any, for `id`; whether it was written into the store.
    pub(crate) fn fetch_missing(&self, id: &ObjectId) -> Result<bool> {
        match &self.source {
            Some(source) => source.fetch(self, id),
            None => Ok(false),
        }
    }

    /// Loads pack indexes that appeared since the last look (after writing a pack, or when an
    /// object is not found). Returns whether anything new was found.
    pub(crate) fn note_new_pack(&self) -> Result<bool> {
        let mut idx = self.packs.write().unwrap_or_else(|e| e.into_inner());
        idx.refresh(&self.layout.packs_dir())
    }

    /// The store's paths and file operations.
    pub(crate) fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Writes `bytes` as the new content-named file `path` ([`Layout::create_new`]), after
    /// upgrading an older store's format number. Returns whether this call created the file.
    pub(crate) fn create_atomic(&self, path: &Path, bytes: &[u8]) -> Result<bool> {
        self.prepare_write()?;
        self.layout.create_new(path, bytes)
    }

    /// Before the first write to a store of an older format: records that it now holds objects
    /// of this format (older codevers then refuse it clearly instead of misreading it).
    pub(crate) fn prepare_write(&self) -> Result<()> {
        self.require_format(WRITE_FORMAT)
    }

    /// Raises the store's format number to `format` unless it is there already (see
    /// [`FORMAT`]), before writing something only builds of that format can read. The number
    /// is made durable first: a record it is needed for is never written into a store that
    /// older builds would still open.
    pub(crate) fn require_format(&self, format: u32) -> Result<()> {
        use std::sync::atomic::Ordering;
        if self.format.load(Ordering::Relaxed) >= format {
            return Ok(());
        }
        self.layout.replace(
            &self.layout.format_file(),
            format!("{FORMAT_PREFIX}{format}\n").as_bytes(),
        )?;
        self.layout
            .sync_dirs(&[self.root().to_path_buf()].into_iter().collect())?;
        self.format.store(format, Ordering::Relaxed);
        Ok(())
    }

    /// Takes the store's record lock (`local/record.lock`), released when the returned file is
    /// dropped. Held only from the moment a record's time is taken until its markers exist, so
    /// that on one machine (or one shared folder with working locks) records become visible in
    /// the order of their times: a process that reads the history right after marking its
    /// record can never later see an older record appear, and so "new" and the version numbers
    /// it reports are final. Objects and packs are written before, without the lock.
    pub(crate) fn record_lock(&self) -> Result<fs::File> {
        let dir = self.layout.local_dir();
        fs::create_dir_all(&dir).map_err(|e| Error::io("cannot create", &dir, e))?;
        let path = self.layout.record_lock_file();
        let f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io("cannot open", &path, e))?;
        f.lock().map_err(|e| Error::io("cannot lock", &path, e))?;
        Ok(f)
    }

    /// The format number of the store as opened.
    pub fn format(&self) -> u32 {
        self.format.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Finds the store for `start`: the nearest `.codever` walking up from it.
    pub fn discover(start: &Path) -> Result<Store> {
        let start = absolute(start);
        let mut dir = Some(start.as_path());
        while let Some(d) = dir {
            let candidate = d.join(STORE_DIR_NAME);
            // A `.codever` directory is the store, whatever state it is in: a damaged or missing
            // `format` (a copy under way, a FIFO) is an error here, never a reason to read from
            // or write into a store further up.
            if fs::metadata(&candidate).is_ok_and(|m| m.is_dir()) {
                return Store::open(&candidate);
            }
            dir = d.parent();
        }
        Err(Error::NoStore { start })
    }

    /// Finds the store the way every command does: `explicit` (from `--store`), else
    /// `CODEVER_DIR`, else walking up from `cwd`.
    pub fn locate(explicit: Option<&Path>, cwd: &Path) -> Result<Store> {
        if let Some(p) = explicit {
            return Store::open(&store_dir_of(p));
        }
        if let Some(p) = std::env::var_os(STORE_ENV).filter(|p| !p.is_empty()) {
            return Store::open(&store_dir_of(Path::new(&p)));
        }
        Store::discover(cwd)
    }

    /// Finds the store as [`Store::locate`] does; if there is none, creates one at the root of
    /// the git repository enclosing `cwd`, or in `cwd` outside a repository. Returns the store and
    /// whether it was created (so the caller can say where).
    pub fn locate_or_create(explicit: Option<&Path>, cwd: &Path) -> Result<(Store, bool)> {
        match Store::locate(explicit, cwd) {
            Ok(s) => Ok((s, false)),
            Err(Error::NoStore { .. }) => {
                let cwd = absolute(cwd);
                let root = cwd
                    .ancestors()
                    .find(|a| a.join(".git").exists())
                    .unwrap_or(&cwd)
                    .to_path_buf();
                Ok((Store::init(&root)?, true))
            }
            Err(e) => Err(e),
        }
    }

    /// The store directory.
    pub fn root(&self) -> &Path {
        self.layout.root()
    }
}

pub use crate::object::LARGE_FILE;
