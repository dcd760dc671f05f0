//! The store directory: finding and creating it, writing objects atomically, reading them
//! verified, and the add-only marker indexes under `refs/` and `runs/`.
//!
//! ```text
//! .codever/
//!   format                          "codever-store-format 1"
//!   objects/ab/cdef…                loose objects (records; blobs and trees of small commits)
//!   packs/<id>.pack, <id>.idx       the new blobs and trees of a larger commit (see `pack`)
//!   refs/<type>/<name>/<record-id>  empty marker: a commit or alias record of that artifact
//!   runs/<run-id>/<record-id>       empty marker: the run's run record(s) and commit records
//!   local/                          this machine only, never synced: temp files, caches
//! ```

use std::collections::BTreeSet;
use std::collections::{HashMap, VecDeque};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use crate::error::{Error, Result};
use crate::id::ObjectId;
use crate::names::validate_name;
use crate::object::{
    Kind, MAX_DELTA_DEPTH, Structured, decode_envelope, encode_envelope, parse_header,
};
use crate::pack::{self, Location, PackIndex};

/// The store format this build writes and the newest it reads.
pub const FORMAT: u32 = 1;
/// Name of the store directory inside a project.
pub const STORE_DIR_NAME: &str = ".codever";
/// Environment variable naming the store directory.
pub const STORE_ENV: &str = "CODEVER_DIR";
const FORMAT_FILE: &str = "format";
const FORMAT_PREFIX: &str = "codever-store-format ";

/// An open store.
#[derive(Clone, Debug)]
pub struct Store {
    root: PathBuf,
    packs: Arc<RwLock<PackIndex>>,
    recent: Arc<Mutex<RecentObjects>>,
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
        for sub in ["objects", "packs", "refs", "runs", "local/tmp"] {
            let p = root.join(sub);
            fs::create_dir_all(&p).map_err(|e| Error::io("cannot create", p, e))?;
        }
        let store = Store::new(root);
        // The format file is written last: a store without it is not yet a store.
        store.write_atomic(
            &root.join(FORMAT_FILE),
            format!("{FORMAT_PREFIX}{FORMAT}\n").as_bytes(),
        )?;
        Ok(store)
    }

    /// Opens the store whose directory is `root` (the `.codever` directory itself).
    pub fn open(root: &Path) -> Result<Store> {
        let format_path = root.join(FORMAT_FILE);
        let text = match fs::read_to_string(&format_path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(Error::NotAStore {
                    path: root.to_path_buf(),
                    reason: "it has no `format` file".into(),
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
        // local/ is machine-local and may be missing in a store copied without it.
        let tmp = root.join("local/tmp");
        fs::create_dir_all(&tmp).map_err(|e| Error::io("cannot create", &tmp, e))?;
        remove_stale_temp_files(&tmp);
        let store = Store::new(root);
        store.note_new_pack()?;
        Ok(store)
    }

    fn new(root: &Path) -> Store {
        Store {
            root: absolute(root),
            packs: Arc::new(RwLock::new(PackIndex::default())),
            recent: Arc::new(Mutex::new(RecentObjects::default())),
        }
    }

    /// Loads pack indexes that appeared since the last look (after writing a pack, or when an
    /// object is not found). Returns whether anything new was found.
    pub(crate) fn note_new_pack(&self) -> Result<bool> {
        let mut idx = self.packs.write().unwrap_or_else(|e| e.into_inner());
        idx.refresh(&self.root.join("packs"))
    }

    /// Reads from a pack through a handle kept open for the life of this `Store`.
    fn read_packed(&self, path: &Path, loc: Location) -> io::Result<Vec<u8>> {
        let idx = self.packs.read().unwrap_or_else(|e| e.into_inner());
        let handle = idx.packs.get(loc.pack).map(|p| &p.file).and_then(|cell| {
            if cell.get().is_none()
                && let Ok(f) = fs::File::open(path)
            {
                let _ = cell.set(f);
            }
            cell.get()
        });
        pack::read_at(path, handle, loc)
    }

    fn pack_location(&self, id: &ObjectId) -> Option<(PathBuf, Location, bool)> {
        let idx = self.packs.read().unwrap_or_else(|e| e.into_inner());
        let loc = idx.locate(id)?;
        let pack = &idx.packs[loc.pack];
        let path = self
            .root
            .join("packs")
            .join(format!("{}.pack", pack.id.to_hex()));
        Some((path, loc, pack.present))
    }

    /// Finds the store for `start`: the nearest `.codever` walking up from it.
    pub fn discover(start: &Path) -> Result<Store> {
        let start = absolute(start);
        let mut dir = Some(start.as_path());
        while let Some(d) = dir {
            let candidate = d.join(STORE_DIR_NAME);
            if candidate.join(FORMAT_FILE).is_file() {
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
        &self.root
    }

    /// Path of an object file.
    pub fn object_path(&self, id: &ObjectId) -> PathBuf {
        let hex = id.to_hex();
        self.root.join("objects").join(&hex[..2]).join(&hex[2..])
    }

    /// Whether an object is present, loose or in a pack whose file is present (not verified).
    pub fn has_object(&self, id: &ObjectId) -> bool {
        matches!(self.pack_location(id), Some((_, _, true))) || self.object_path(id).is_file()
    }

    /// The stored bytes of an object (its envelope), from a loose file or a pack.
    pub(crate) fn object_bytes(&self, id: &ObjectId) -> Result<Vec<u8>> {
        let path = self.object_path(id);
        match fs::read(&path) {
            Ok(b) => return Ok(b),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("cannot read", path, e)),
        }
        let mut found = self.pack_location(id);
        if found.is_none() && self.note_new_pack()? {
            found = self.pack_location(id);
        }
        match found {
            Some((pack, loc, _)) => match self.read_packed(&pack, loc) {
                Ok(b) => Ok(b),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    Err(Error::MissingObject { id: *id })
                }
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(Error::CorruptObject {
                    id: *id,
                    reason: format!("pack {} is truncated", pack.display()),
                }),
                Err(e) => Err(Error::io("cannot read", pack, e)),
            },
            None => Err(Error::MissingObject { id: *id }),
        }
    }

    /// Stores `raw` as an object of `kind`, unless an object with that id is already present.
    /// Returns the id and whether a new file was written.
    pub fn write_object(&self, kind: Kind, raw: &[u8]) -> Result<(ObjectId, bool)> {
        let id = ObjectId::compute(kind, raw);
        let new = self.write_known(kind, id, raw)?;
        Ok((id, new))
    }

    /// Stores `raw` under `id`, which the caller computed as `ObjectId::compute(kind, raw)`.
    /// Returns whether a new file was written.
    pub(crate) fn write_known(&self, kind: Kind, id: ObjectId, raw: &[u8]) -> Result<bool> {
        debug_assert_eq!(id, ObjectId::compute(kind, raw));
        let path = self.object_path(&id);
        if path.is_file() {
            return Ok(false);
        }
        self.write_atomic(&path, &encode_envelope(kind, raw))?;
        Ok(true)
    }

    /// Stores a structured object.
    pub fn write_structured<T: Structured>(&self, value: &T) -> Result<(ObjectId, bool)> {
        self.write_object(T::KIND, &value.encode())
    }

    /// How an object is stored: its kind and, for a delta, its base and depth (not verified).
    pub fn object_header(&self, id: &ObjectId) -> Result<crate::object::Header> {
        parse_header(*id, &self.object_bytes(id)?)
    }

    /// Reads and verifies an object, returning its kind and raw content.
    pub fn read_object(&self, id: &ObjectId) -> Result<(Kind, Vec<u8>)> {
        self.read_budget(id, MAX_DELTA_DEPTH + 1)
            .map(|(k, raw, _)| (k, raw))
    }

    /// Reads an object and its delta depth (0 when stored whole).
    pub(crate) fn read_with_depth(&self, id: &ObjectId) -> Result<(Kind, Vec<u8>, u8)> {
        self.read_budget(id, MAX_DELTA_DEPTH + 1)
    }

    /// Reads an object following at most `budget` objects of a delta chain, so that a forged
    /// cycle of deltas is reported as corruption instead of recursing forever.
    fn read_budget(&self, id: &ObjectId, budget: u8) -> Result<(Kind, Vec<u8>, u8)> {
        if budget == 0 {
            return Err(Error::CorruptObject {
                id: *id,
                reason: "delta chain longer than allowed".into(),
            });
        }
        if let Some((kind, raw, depth)) = self.recent().get(id) {
            return Ok((kind, raw.as_ref().clone(), depth));
        }
        let bytes = self.object_bytes(id)?;
        let header = parse_header(*id, &bytes)?;
        let depth = header.base.map_or(0, |(_, d)| d);
        let (kind, raw) = decode_envelope(*id, &bytes, &mut |base| {
            match self.read_budget(base, budget - 1) {
                Ok((_, raw, base_depth)) if base_depth < depth => Ok(raw),
                Ok(_) => Err(Error::CorruptObject {
                    id: *id,
                    reason: "delta base is not shallower than the delta".into(),
                }),
                // A base that has not arrived makes this object not yet readable, not corrupt.
                Err(e) => Err(e),
            }
        })?;
        // Only delta-encoded objects and their bases are worth keeping: they are what chains
        // read again.
        if depth > 0 || kind == Kind::Blob {
            let raw = Arc::new(raw);
            self.recent().put(*id, kind, Arc::clone(&raw), depth);
            return Ok((
                kind,
                Arc::try_unwrap(raw).unwrap_or_else(|r| r.as_ref().clone()),
                depth,
            ));
        }
        Ok((kind, raw, depth))
    }

    fn recent(&self) -> std::sync::MutexGuard<'_, RecentObjects> {
        self.recent.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads an object that must be of `kind`.
    pub fn read_kind(&self, id: &ObjectId, kind: Kind) -> Result<Vec<u8>> {
        let (found, raw) = self.read_object(id)?;
        if found != kind {
            return Err(Error::CorruptObject {
                id: *id,
                reason: format!("expected a {}, found a {}", kind.name(), found.name()),
            });
        }
        Ok(raw)
    }

    /// Reads and decodes a structured object.
    pub fn read_structured<T: Structured>(&self, id: &ObjectId) -> Result<T> {
        let raw = self.read_kind(id, T::KIND)?;
        T::decode(*id, &raw)
    }

    /// Reads a blob (a file's bytes), verified.
    pub fn read_blob(&self, id: &ObjectId) -> Result<Vec<u8>> {
        self.read_kind(id, Kind::Blob)
    }

    /// Writes `bytes` to `path` atomically: temp file in `local/tmp`, fsync, rename.
    pub(crate) fn write_atomic(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        let tmp_dir = self.root.join("local/tmp");
        let mut tmp = match tempfile::Builder::new().prefix("obj").tempfile_in(&tmp_dir) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir_all(&tmp_dir)
                    .map_err(|e| Error::io("cannot create", &tmp_dir, e))?;
                tempfile::Builder::new()
                    .prefix("obj")
                    .tempfile_in(&tmp_dir)
                    .map_err(|e| Error::io("cannot create a temp file in", &tmp_dir, e))?
            }
            Err(e) => return Err(Error::io("cannot create a temp file in", tmp_dir, e)),
        };
        tmp.write_all(bytes)
            .and_then(|()| tmp.as_file().sync_all())
            .map_err(|e| Error::io("cannot write", tmp.path().to_path_buf(), e))?;
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| Error::io("cannot create", parent, e))?;
        }
        // Rename replaces an existing file atomically; an existing object has the same content.
        tmp.persist(path)
            .map_err(|e| Error::io("cannot write", path, e.error))?;
        Ok(())
    }

    /// Flushes directory entries (made by renames) to disk, so that a marker written afterwards can
    /// never survive a crash that loses the objects it names.
    pub(crate) fn sync_dirs(&self, dirs: &BTreeSet<PathBuf>) -> Result<()> {
        #[cfg(unix)]
        for d in dirs {
            fs::File::open(d)
                .and_then(|f| f.sync_all())
                .map_err(|e| Error::io("cannot sync", d, e))?;
        }
        #[cfg(not(unix))]
        let _ = dirs;
        Ok(())
    }

    /// Directory of the markers of artifact (`ty`, `name`).
    pub(crate) fn artifact_dir(&self, ty: &str, name: &str) -> PathBuf {
        self.root.join("refs").join(ty).join(name)
    }

    /// Directory of the markers of run `run`.
    pub(crate) fn run_dir(&self, run: &str) -> PathBuf {
        self.root.join("runs").join(run)
    }

    /// Adds an empty marker file `dir/<id>`. An empty file is complete the moment it exists, so
    /// this needs no temp file.
    pub(crate) fn add_marker(&self, dir: &Path, id: &ObjectId) -> Result<()> {
        fs::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))?;
        let path = dir.join(id.to_hex());
        fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io("cannot write", path, e))?;
        Ok(())
    }

    /// The record ids marked in `dir`, sorted. Files that are not 64-hex names (an rsync temp
    /// file, `.DS_Store`) are ignored here and reported by fsck.
    pub(crate) fn markers(&self, dir: &Path) -> Result<Vec<ObjectId>> {
        let mut ids: Vec<ObjectId> = list_dir(dir)?
            .iter()
            .filter_map(|n| ObjectId::from_hex(n))
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// Artifacts present in `refs/`, as sorted (type, name) pairs with valid names.
    pub fn artifact_keys(&self) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        let refs = self.root.join("refs");
        for ty in list_dir(&refs)? {
            if validate_name("type", &ty).is_err() {
                continue;
            }
            for name in list_dir(&refs.join(&ty))? {
                if validate_name("artifact name", &name).is_ok() {
                    out.push((ty.clone(), name));
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Run ids present in `runs/`, sorted.
    pub fn run_ids(&self) -> Result<Vec<String>> {
        let mut ids: Vec<String> = list_dir(&self.root.join("runs"))?
            .into_iter()
            .filter(|r| validate_name("run id", r).is_ok())
            .collect();
        ids.sort();
        Ok(ids)
    }
}

/// How old a temp file must be before it is taken for the leftover of an interrupted write.
const STALE_TEMP: std::time::Duration = std::time::Duration::from_secs(3600);

/// Removes temp files left by writes that were interrupted (a killed process, a crash): they are
/// never visible as objects, only wasted space. A file younger than an hour may belong to a commit
/// still running, so it is left alone. Best effort.
fn remove_stale_temp_files(tmp: &Path) {
    let Ok(entries) = fs::read_dir(tmp) else {
        return;
    };
    let now = std::time::SystemTime::now();
    for e in entries.flatten() {
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|age| age > STALE_TEMP);
        if old {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// `p` itself when it is a store directory, else `p/.codever` when that is one; else `p` (so the
/// error names what the user gave).
fn store_dir_of(p: &Path) -> PathBuf {
    if !p.join(FORMAT_FILE).exists() && p.join(STORE_DIR_NAME).join(FORMAT_FILE).exists() {
        p.join(STORE_DIR_NAME)
    } else {
        p.to_path_buf()
    }
}

/// Names of the entries of `dir` that are valid UTF-8; an absent directory is empty.
pub(crate) fn list_dir(dir: &Path) -> Result<Vec<String>> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("cannot list", dir, e)),
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| Error::io("cannot list", dir, e))?;
        if let Ok(name) = entry.file_name().into_string() {
            out.push(name);
        }
    }
    Ok(out)
}

/// `p` made absolute against the current directory (without resolving symlinks).
pub(crate) fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_open_and_refuse_newer_formats() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::init(dir.path()).unwrap();
        assert!(matches!(
            Store::init(dir.path()),
            Err(Error::AlreadyExists { .. })
        ));
        let (id, new) = store.write_object(Kind::Blob, b"abc").unwrap();
        assert!(new);
        assert!(!store.write_object(Kind::Blob, b"abc").unwrap().1);
        assert_eq!(store.read_blob(&id).unwrap(), b"abc");
        // A tree read of a blob is an error, not a misinterpretation.
        assert!(store.read_kind(&id, Kind::Tree).is_err());

        let root = dir.path().join(".codever");
        fs::write(root.join("format"), "codever-store-format 2\n").unwrap();
        let e = Store::open(&root).unwrap_err();
        assert!(
            matches!(
                e,
                Error::NewerFormat {
                    found: 2,
                    supported: 1,
                    ..
                }
            ),
            "{e}"
        );
        fs::write(root.join("format"), "junk").unwrap();
        assert!(matches!(Store::open(&root), Err(Error::NotAStore { .. })));
    }

    #[test]
    fn discover_walks_up_and_locate_accepts_project_dirs() {
        let dir = tempfile::tempdir().unwrap();
        Store::init(dir.path()).unwrap();
        let deep = dir.path().join("a/b/c");
        fs::create_dir_all(&deep).unwrap();
        let s = Store::discover(&deep).unwrap();
        assert_eq!(s.root(), absolute(&dir.path().join(".codever")));
        let s = Store::locate(Some(dir.path()), Path::new("/")).unwrap();
        assert_eq!(s.root(), absolute(&dir.path().join(".codever")));
        let other = tempfile::tempdir().unwrap();
        assert!(matches!(
            Store::discover(other.path()),
            Err(Error::NoStore { .. })
        ));
    }

    #[test]
    fn leftovers_of_interrupted_writes_are_removed_but_not_running_ones() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::init(dir.path()).unwrap();
        let tmp = store.root().join("local/tmp");
        let old = tmp.join("pack-interrupted");
        let young = tmp.join("pack-running");
        fs::write(&old, b"half a pack").unwrap();
        fs::write(&young, b"being written").unwrap();
        let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
        fs::File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(two_hours_ago)
            .unwrap();
        Store::open(store.root()).unwrap();
        assert!(!old.exists());
        assert!(young.exists());
    }

    #[test]
    fn missing_and_corrupt_objects_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::init(dir.path()).unwrap();
        let id = ObjectId::compute(Kind::Blob, b"never written");
        assert!(matches!(
            store.read_blob(&id),
            Err(Error::MissingObject { .. })
        ));
        let (id, _) = store.write_object(Kind::Blob, b"data").unwrap();
        let path = store.object_path(&id);
        let mut bytes = fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        fs::write(&path, bytes).unwrap();
        assert!(matches!(
            store.read_blob(&id),
            Err(Error::CorruptObject { .. })
        ));
    }
}
