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
use crate::object::{
    Header, Kind, MAX_DELTA_DEPTH, MAX_OBJECT_SIZE, Structured, decode_envelope_limited,
    encode_envelope, parse_header,
};
use crate::pack::{self, Location, PackIndex};

/// The store format this build writes and the newest it reads. Format 2 added the checksum of
/// stored bytes to every object; format-1 stores are read as they are and upgraded (the number
/// in `format` only) by the first command that writes to them.
pub const FORMAT: u32 = 2;
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
    /// The format number in the `format` file (1 until the first write upgrades it).
    format: Arc<std::sync::atomic::AtomicU32>,
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
        store.replace_atomic(
            &root.join(FORMAT_FILE),
            format!("{FORMAT_PREFIX}{FORMAT}\n").as_bytes(),
        )?;
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
        let tmp = root.join("local/tmp");
        if fs::create_dir_all(&tmp).is_ok()
            && let Some(tmp) = own_dir(root, "local/tmp")
        {
            remove_stale_temp_files(&tmp);
        }
        let store = Store::new(root);
        store
            .format
            .store(found, std::sync::atomic::Ordering::Relaxed);
        store.note_new_pack()?;
        Ok(store)
    }

    fn new(root: &Path) -> Store {
        Store {
            root: absolute(root),
            packs: Arc::new(RwLock::new(PackIndex::default())),
            recent: Arc::new(Mutex::new(RecentObjects::default())),
            format: Arc::new(std::sync::atomic::AtomicU32::new(FORMAT)),
        }
    }

    /// Loads pack indexes that appeared since the last look (after writing a pack, or when an
    /// object is not found). Returns whether anything new was found.
    pub(crate) fn note_new_pack(&self) -> Result<bool> {
        let mut idx = self.packs.write().unwrap_or_else(|e| e.into_inner());
        idx.refresh(&self.root.join("packs"))
    }

    /// Reads from a pack through a handle kept open for the life of this `Store`.
    fn read_packed(&self, path: &Path, loc: Location, limit: u64) -> io::Result<Vec<u8>> {
        let idx = self.packs.read().unwrap_or_else(|e| e.into_inner());
        let handle = idx.packs.get(loc.pack).map(|p| &p.file).and_then(|cell| {
            if cell.get().is_none()
                && let Ok(f) = open_regular(path)
            {
                let _ = cell.set(f);
            }
            cell.get()
        });
        pack::read_at(path, handle, loc, limit)
    }

    /// Every place object `id` is stored: its loose file first, then each pack that indexes it
    /// (a merge of stores can leave one id in several places, with different encodings).
    fn places(&self, id: &ObjectId) -> Result<Vec<Place>> {
        let mut out = Vec::new();
        let loose = self.object_path(id);
        match fs::symlink_metadata(&loose) {
            Ok(_) => out.push(Place::Loose(loose)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("cannot read", loose, e)),
        }
        let mut packed = self.pack_locations(id);
        if out.is_empty() && packed.is_empty() && self.note_new_pack()? {
            packed = self.pack_locations(id);
        }
        out.extend(
            packed
                .into_iter()
                .map(|(p, l, present)| Place::Packed(p, l, present)),
        );
        Ok(out)
    }

    fn pack_locations(&self, id: &ObjectId) -> Vec<(PathBuf, Location, bool)> {
        let idx = self.packs.read().unwrap_or_else(|e| e.into_inner());
        idx.locate_all(id)
            .into_iter()
            .map(|loc| {
                let pack = &idx.packs[loc.pack];
                let path = self
                    .root
                    .join("packs")
                    .join(format!("{}.pack", pack.id.to_hex()));
                (path, loc, pack.present)
            })
            .collect()
    }

    /// The stored bytes (an envelope) of `id` at one place.
    fn place_bytes(&self, id: &ObjectId, place: &Place, limit: u64) -> Result<Vec<u8>> {
        match place {
            Place::Loose(path) => read_object_file(id, path, limit),
            Place::Packed(_, _, false) => Err(Error::MissingObject { id: *id }),
            Place::Packed(pack, loc, true) => match self.read_packed(pack, *loc, limit) {
                Ok(b) => Ok(b),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    Err(Error::MissingObject { id: *id })
                }
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(Error::CorruptObject {
                    id: *id,
                    reason: format!("pack {} is truncated", pack.display()),
                }),
                Err(e) if is_refused(&e) => Err(Error::CorruptObject {
                    id: *id,
                    reason: format!("in pack {}: {e}", pack.display()),
                }),
                Err(e) => Err(Error::io("cannot read", pack.clone(), e)),
            },
        }
    }

    /// Path of an object file.
    pub fn object_path(&self, id: &ObjectId) -> PathBuf {
        let hex = id.to_hex();
        self.root.join("objects").join(&hex[..2]).join(&hex[2..])
    }

    /// Whether an object is present, loose or in a pack whose file is present (not verified).
    pub fn has_object(&self, id: &ObjectId) -> bool {
        self.pack_locations(id)
            .iter()
            .any(|(_, _, present)| *present)
            || self.object_path(id).is_file()
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
        self.create_atomic(&path, &encode_envelope(kind, raw))
    }

    /// Stores a structured object; one larger than readers accept for its kind is refused.
    pub fn write_structured<T: Structured>(&self, value: &T) -> Result<(ObjectId, bool)> {
        let raw = value.encode();
        if raw.len() as u64 > T::KIND.max_size() {
            return Err(Error::TooLarge {
                what: T::KIND.name(),
                size: raw.len() as u64,
                limit: T::KIND.max_size(),
            });
        }
        self.write_object(T::KIND, &raw)
    }

    /// How an object is stored at its first readable place: its kind and, for a delta, its base
    /// and depth (the stored bytes' checksum is verified, the content is not).
    pub fn object_header(&self, id: &ObjectId) -> Result<Header> {
        let mut last = Error::MissingObject { id: *id };
        for place in self.places(id)? {
            match self
                .place_bytes(id, &place, MAX_OBJECT_SIZE)
                .and_then(|b| parse_header(*id, &b))
            {
                Ok(h) => return Ok(h),
                Err(e) => last = worse(last, e),
            }
        }
        Err(last)
    }

    /// Reads and verifies an object, returning its kind and raw content.
    pub fn read_object(&self, id: &ObjectId) -> Result<(Kind, Vec<u8>)> {
        self.read_with_depth(id).map(|(k, raw, _)| (k, raw))
    }

    /// Reads an object and the delta depth of the encoding that served it (0 when whole).
    pub(crate) fn read_with_depth(&self, id: &ObjectId) -> Result<(Kind, Vec<u8>, u8)> {
        self.resolve_fresh(id, MAX_OBJECT_SIZE)
    }

    /// Resolves `id`; when that fails, looks for pack indexes written since the store was opened
    /// and, if there are any, tries once more. A delta written by another process may need the
    /// copy of its base that process read, in a pack this process has not loaded yet (an id can
    /// be in several packs, so finding *some* copy of the base says nothing about newer ones).
    fn resolve_fresh(&self, id: &ObjectId, limit: u64) -> Result<(Kind, Vec<u8>, u8)> {
        let first = self.resolve_object(id, MAX_DELTA_DEPTH + 1, limit, &mut Resolution::default());
        match first {
            Err(e) if self.note_new_pack()? => {
                drop(e);
                self.resolve_object(id, MAX_DELTA_DEPTH + 1, limit, &mut Resolution::default())
            }
            r => r,
        }
    }

    /// Verifies the envelope `bytes` of object `id` as stored at one particular place (fsck
    /// checks every copy, not only the one a read would pick); bases are resolved from any place.
    pub(crate) fn decode_stored(&self, id: &ObjectId, bytes: &[u8]) -> Result<(Kind, Vec<u8>)> {
        let header = parse_header(*id, bytes)?;
        let depth = header.depth();
        let attempt = || {
            let mut res = Resolution::default();
            decode_envelope_limited(
                *id,
                bytes,
                &mut |base| {
                    self.resolve_object(base, depth, header.base_limit(), &mut res)
                        .map(|(_, raw, _)| raw)
                },
                MAX_OBJECT_SIZE,
            )
        };
        match attempt() {
            Err(_) if self.note_new_pack()? => attempt(),
            r => r,
        }
    }

    /// Resolves `id` through any of its places, using only encodings whose delta depth is below
    /// `below`.
    ///
    /// Every delta was written against a base resolved through a chain of encodings that still
    /// exist (nothing is ever replaced or deleted), and its depth is one more than that chain's
    /// depth. So requiring each base to be strictly shallower than its delta always leaves the
    /// chain the writer used, excludes every cycle (two packs merged from machines that stored
    /// P→Q and Q→P), and bounds recursion by [`MAX_DELTA_DEPTH`]. Whole copies are tried first,
    /// then shallower chains; a place that fails (damaged, base absent) moves on to the next.
    /// Failures are remembered per id and the work is bounded by the number of encodings tried.
    fn resolve_object(
        &self,
        id: &ObjectId,
        below: u8,
        limit: u64,
        res: &mut Resolution,
    ) -> Result<(Kind, Vec<u8>, u8)> {
        if let Some((kind, raw, depth)) = self.recent().get(id)
            && depth < below
            && raw.len() as u64 <= limit
        {
            return Ok((kind, raw.as_ref().clone(), depth));
        }
        if let Some((failed_below, e)) = res.failed.get(id)
            && *failed_below >= below
        {
            return Err(e.clone_shallow());
        }
        let mut error = Error::MissingObject { id: *id };
        let mut candidates: Vec<(Header, Vec<u8>)> = Vec::new();
        for place in self.places(id)? {
            match self
                .place_bytes(id, &place, limit)
                .and_then(|b| parse_header(*id, &b).map(|h| (h, b)))
            {
                Ok((h, b)) if h.depth() < below => candidates.push((h, b)),
                // Too deep to serve this delta: the copy its writer used (shallower) is not here
                // yet, which is "missing" (a sync still bringing it), as when no copy is here.
                Ok(_) => {}
                Err(e) => error = worse(error, e),
            }
        }
        candidates.sort_by_key(|(h, _)| h.depth());
        for (header, bytes) in candidates {
            res.tried += 1;
            if res.tried > MAX_ENCODINGS_TRIED {
                return Err(Error::CorruptObject {
                    id: *id,
                    reason: format!(
                        "resolving it needed more than {MAX_ENCODINGS_TRIED} stored encodings"
                    ),
                });
            }
            let depth = header.depth();
            // A base is never large (both sides of a delta must be held): a forged delta on a
            // base that claims gigabytes is refused before the base is decoded.
            let base_limit = header.base_limit();
            let decoded = decode_envelope_limited(
                *id,
                &bytes,
                &mut |base| {
                    self.resolve_object(base, depth, base_limit, res)
                        .map(|(_, raw, _)| raw)
                },
                limit,
            );
            match decoded {
                Ok((kind, raw)) => {
                    // Blobs and delta-encoded objects are what chains read again.
                    if depth > 0 || kind == Kind::Blob {
                        let raw = Arc::new(raw);
                        self.recent().put(*id, kind, Arc::clone(&raw), depth);
                        let raw = Arc::try_unwrap(raw).unwrap_or_else(|r| r.as_ref().clone());
                        return Ok((kind, raw, depth));
                    }
                    return Ok((kind, raw, depth));
                }
                Err(e) => error = worse(error, e),
            }
        }
        res.failed.insert(*id, (below, error.clone_shallow()));
        Err(error)
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

    /// Reads the blob of a file whose tree entry says it has `size` bytes: a stored frame that
    /// claims more is refused before anything is allocated for it, and a blob of another size
    /// is corruption (the tree and the blob disagree).
    pub fn read_file_blob(&self, id: &ObjectId, size: u64) -> Result<Vec<u8>> {
        let (kind, raw, _) = self.resolve_fresh(id, size)?;
        if kind != Kind::Blob {
            return Err(Error::CorruptObject {
                id: *id,
                reason: format!("expected a blob, found a {}", kind.name()),
            });
        }
        if raw.len() as u64 != size {
            return Err(Error::CorruptObject {
                id: *id,
                reason: format!("the tree says {size} bytes, the blob has {}", raw.len()),
            });
        }
        Ok(raw)
    }

    /// Stores the file at `src` as blob `id` of `size` bytes without holding it in memory: one
    /// zstd frame streamed into a loose object (large blobs are never deltas and never packed).
    /// The bytes are hashed again as they are compressed; if they are not the blob `id` any more
    /// (the file changed since it was hashed) nothing is stored and `Ok(None)` is returned.
    /// Otherwise returns whether a new object file was made, and its directory.
    pub(crate) fn store_large_file(
        &self,
        src: &Path,
        id: &ObjectId,
        size: u64,
    ) -> Result<Option<(bool, PathBuf)>> {
        use std::io::Read;
        let path = self.object_path(id);
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        if path.is_file() {
            return Ok(Some((false, dir)));
        }
        self.prepare_write()?;
        let tmp = self.new_temp("obj")?;
        let tmp_path = tmp.path().to_path_buf();
        let werr = |e: io::Error| Error::io("cannot write", tmp_path.clone(), e);
        let mut out = ChecksumWriter {
            inner: io::BufWriter::with_capacity(1 << 20, tmp.as_file()),
            hasher: blake3::Hasher::new(),
        };
        out.write_all(&crate::object::envelope_header(Kind::Blob))
            .map_err(werr)?;
        let mut enc =
            zstd::stream::write::Encoder::new(&mut out, crate::object::ZSTD_LEVEL).map_err(werr)?;
        enc.set_pledged_src_size(Some(size)).map_err(werr)?;
        enc.include_contentsize(true).map_err(werr)?;
        let mut file = fs::File::open(src).map_err(|e| Error::io("cannot read", src, e))?;
        let mut hasher = crate::id::BlobHasher::new(size);
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0u64;
        loop {
            let n = file
                .read(&mut buf)
                .map_err(|e| Error::io("cannot read", src, e))?;
            if n == 0 {
                break;
            }
            total += n as u64;
            if total > size {
                return Ok(None);
            }
            hasher.update(&buf[..n]);
            enc.write_all(&buf[..n]).map_err(werr)?;
        }
        if total != size {
            return Ok(None);
        }
        enc.finish().map_err(werr)?;
        let sum = out.hasher.finalize();
        out.inner
            .write_all(&sum.as_bytes()[..crate::object::CHECKSUM_LEN])
            .and_then(|()| out.inner.flush())
            .map_err(werr)?;
        drop(out);
        if hasher.finish().map(|(got, _)| got) != Some(*id) {
            return Ok(None);
        }
        tmp.as_file().sync_all().map_err(werr)?;
        fs::create_dir_all(&dir).map_err(|e| Error::io("cannot create", &dir, e))?;
        Ok(Some((persist_new(tmp, &path)?, dir)))
    }

    /// Writes the bytes of blob `id`, which its tree says has `size` bytes, to `out`. Large
    /// blobs stored whole are streamed (their stored checksum is verified first, their id as
    /// they are written: a mismatch is an error after the fact, so a caller writing to a file
    /// must only keep it on success). Everything else is read, verified, then written.
    pub fn write_blob_to(&self, id: &ObjectId, size: u64, out: &mut dyn Write) -> Result<()> {
        if size >= LARGE_FILE {
            for place in self.places(id)? {
                let streamed = match &place {
                    Place::Loose(path) => self.stream_whole(id, size, path, out)?.is_some(),
                    Place::Packed(pack, loc, true) => match open_regular(pack) {
                        Ok(f) => self.stream_packed(id, pack, &f, *loc, out)?.is_some(),
                        Err(_) => false,
                    },
                    Place::Packed(_, _, false) => false,
                };
                if streamed {
                    return Ok(());
                }
            }
        }
        let bytes = self.read_file_blob(id, size)?;
        out.write_all(&bytes)
            .map_err(|e| Error::io("cannot write", PathBuf::from("the output"), e))
    }

    /// Verifies a large loose blob file as a stream (fsck): `None` when `path` is not one (small,
    /// a delta, damaged), for the caller to verify it the ordinary way.
    /// Returns the blob's size and MD5 when it is sound.
    pub(crate) fn verify_large_loose(
        &self,
        id: &ObjectId,
        path: &Path,
    ) -> Option<Result<(u64, crate::id::Md5)>> {
        use crate::object::{ENCODING_ZSTD, ENVELOPE_FORMAT, HEADER_LEN, MAGIC};
        use std::io::Read;
        let mut f = open_regular(path).ok()?;
        let mut head = [0u8; HEADER_LEN + 18];
        f.read_exact(&mut head).ok()?;
        if head[..4] != MAGIC
            || head[4] != ENVELOPE_FORMAT
            || head[5] != Kind::Blob as u8
            || head[6] != ENCODING_ZSTD
        {
            return None;
        }
        let size = zstd::zstd_safe::get_frame_content_size(&head[HEADER_LEN..]).ok()??;
        let len = f.metadata().ok()?.len();
        if len > crate::object::stored_bound(&head, size) {
            return Some(Err(Error::CorruptObject {
                id: *id,
                reason: format!("{len} bytes, more than {size} bytes of content can be stored in"),
            }));
        }
        if size < LARGE_FILE {
            return None;
        }
        match self.stream_whole(id, size, path, &mut io::sink()) {
            Ok(Some(md5)) => Some(Ok((size, md5))),
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        }
    }

    /// Streams a loose, whole-stored blob; `Ok(None)` when that file is not such an object
    /// (a delta, damaged), leaving the caller to try the other ways.
    fn stream_whole(
        &self,
        id: &ObjectId,
        size: u64,
        path: &Path,
        out: &mut dyn Write,
    ) -> Result<Option<crate::id::Md5>> {
        let Ok(file) = open_regular(path) else {
            return Ok(None);
        };
        let len = file
            .metadata()
            .map_err(|e| Error::io("cannot read", path, e))?
            .len();
        self.stream_range(id, size, path, &file, 0, len, out)
    }

    /// Streams the whole-stored blob `id` whose envelope is `len` bytes at `offset` of `file`
    /// (a loose object file, or an entry of a pack); `Ok(None)` when those bytes are not such an
    /// object or fail their checksum, leaving the caller to try the other ways.
    #[allow(clippy::too_many_arguments)]
    fn stream_range(
        &self,
        id: &ObjectId,
        size: u64,
        path: &Path,
        file: &fs::File,
        offset: u64,
        len: u64,
        out: &mut dyn Write,
    ) -> Result<Option<crate::id::Md5>> {
        use crate::object::{CHECKSUM_LEN, ENCODING_ZSTD, ENVELOPE_FORMAT, HEADER_LEN, MAGIC};
        use std::io::Read;
        let rerr = |e: io::Error| Error::io("cannot read", path, e);
        let file_len = file.metadata().map_err(rerr)?.len();
        if len < (HEADER_LEN + CHECKSUM_LEN) as u64
            || offset.checked_add(len).is_none_or(|end| end > file_len)
        {
            return Ok(None);
        }
        let range = |from: u64, n: u64| RangeReader {
            file,
            pos: offset + from,
            end: offset + from + n,
        };
        let mut head = [0u8; HEADER_LEN];
        if range(0, HEADER_LEN as u64).read_exact(&mut head).is_err() {
            return Ok(None);
        }
        if head[..4] != MAGIC
            || head[4] != ENVELOPE_FORMAT
            || head[5] != Kind::Blob as u8
            || head[6] != ENCODING_ZSTD
        {
            return Ok(None);
        }
        // The stored bytes first: a damaged copy is never decoded.
        let body = len - CHECKSUM_LEN as u64;
        let mut hasher = blake3::Hasher::new();
        io::copy(&mut range(0, body), &mut HashSink(&mut hasher)).map_err(rerr)?;
        let mut sum = [0u8; CHECKSUM_LEN];
        range(body, CHECKSUM_LEN as u64)
            .read_exact(&mut sum)
            .map_err(rerr)?;
        if hasher.finalize().as_bytes()[..CHECKSUM_LEN] != sum {
            return Ok(None);
        }
        let frame = range(HEADER_LEN as u64, body - HEADER_LEN as u64);
        let mut dec = zstd::stream::read::Decoder::new(frame).map_err(rerr)?;
        let mut blob = crate::id::BlobHasher::new(size);
        let mut buf = vec![0u8; 1 << 20];
        let corrupt = |reason: String| Error::CorruptObject { id: *id, reason };
        loop {
            let n = dec
                .read(&mut buf)
                .map_err(|e| corrupt(format!("cannot decompress: {e}")))?;
            if n == 0 {
                break;
            }
            blob.update(&buf[..n]);
            out.write_all(&buf[..n])
                .map_err(|e| Error::io("cannot write", PathBuf::from("the output"), e))?;
        }
        match blob.finish() {
            Some((got, md5)) if got == *id => Ok(Some(md5)),
            _ => Err(corrupt(
                "the streamed content does not hash to its id".into(),
            )),
        }
    }

    /// Streams the large whole blob `id` if the pack entry `loc` of `pack` holds one (fsck and
    /// reads of packed large blobs); `Ok(None)` otherwise.
    pub(crate) fn stream_packed(
        &self,
        id: &ObjectId,
        pack: &Path,
        file: &fs::File,
        loc: Location,
        out: &mut dyn Write,
    ) -> Result<Option<(u64, crate::id::Md5)>> {
        use crate::object::HEADER_LEN;
        use std::io::Read;
        let mut head = [0u8; HEADER_LEN + 18];
        let n = head.len().min(loc.len as usize);
        if (RangeReader {
            file,
            pos: loc.offset,
            end: loc.offset.saturating_add(n as u64),
        })
        .read_exact(&mut head[..n])
        .is_err()
            || n < head.len()
            || head[5] != Kind::Blob as u8
        {
            return Ok(None);
        }
        let Some(size) = zstd::zstd_safe::get_frame_content_size(&head[HEADER_LEN..])
            .ok()
            .flatten()
        else {
            return Ok(None);
        };
        if size < LARGE_FILE {
            return Ok(None);
        }
        Ok(self
            .stream_range(id, size, pack, file, loc.offset, u64::from(loc.len), out)?
            .map(|md5| (size, md5)))
    }

    /// Writes `bytes` as the new file `path`, atomically and create-only: temp file in
    /// `local/tmp`, fsync, then a rename that never replaces an existing name. Objects, packs
    /// and indexes are named by their content, so a name that exists already holds that
    /// content (possibly in another encoding, which must stay: a delta elsewhere may depend on
    /// it). Returns whether this call created the file.
    pub(crate) fn create_atomic(&self, path: &Path, bytes: &[u8]) -> Result<bool> {
        self.prepare_write()?;
        let tmp = self.temp_file("obj", bytes)?;
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| Error::io("cannot create", parent, e))?;
        }
        persist_new(tmp, path)
    }

    /// Replaces `path` with `bytes` atomically (temp file, fsync, rename). Only for files that
    /// are not content-named (the `format` file, machine-local caches).
    pub(crate) fn replace_atomic(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        let tmp = self.temp_file("tmp", bytes)?;
        tmp.persist(path)
            .map_err(|e| Error::io("cannot write", path, e.error))?;
        Ok(())
    }

    /// A durable temp file in `local/tmp` holding `bytes`, created with the permissions the
    /// umask allows (objects read-only: 0444 under umask 022), so teammates sharing the store
    /// can read it.
    pub(crate) fn temp_file(&self, prefix: &str, bytes: &[u8]) -> Result<tempfile::NamedTempFile> {
        let mut tmp = self.new_temp(prefix)?;
        tmp.as_file_mut()
            .write_all(bytes)
            .and_then(|()| tmp.as_file().sync_all())
            .map_err(|e| Error::io("cannot write", tmp.path().to_path_buf(), e))?;
        Ok(tmp)
    }

    /// An empty temp file in `local/tmp` (made if missing), readable by all that the umask allows.
    pub(crate) fn new_temp(&self, prefix: &str) -> Result<tempfile::NamedTempFile> {
        let tmp_dir = self.root.join("local/tmp");
        let make = || {
            let mut b = tempfile::Builder::new();
            b.prefix(prefix);
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                b.permissions(fs::Permissions::from_mode(0o444));
            }
            b.tempfile_in(&tmp_dir)
        };
        match make() {
            Ok(t) => Ok(t),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir_all(&tmp_dir)
                    .map_err(|e| Error::io("cannot create", &tmp_dir, e))?;
                make().map_err(|e| Error::io("cannot create a temp file in", &tmp_dir, e))
            }
            Err(e) => Err(Error::io("cannot create a temp file in", tmp_dir, e)),
        }
    }

    /// Before the first write to a store of an older format: records that it now holds objects
    /// of this format (older codevers then refuse it clearly instead of misreading it).
    pub(crate) fn prepare_write(&self) -> Result<()> {
        use std::sync::atomic::Ordering;
        if self.format.load(Ordering::Relaxed) >= FORMAT {
            return Ok(());
        }
        self.replace_atomic(
            &self.root.join(FORMAT_FILE),
            format!("{FORMAT_PREFIX}{FORMAT}\n").as_bytes(),
        )?;
        self.sync_dirs(&[self.root.clone()].into_iter().collect())?;
        self.format.store(FORMAT, Ordering::Relaxed);
        Ok(())
    }

    /// Takes the store's record lock (`local/record.lock`), released when the returned file is
    /// dropped. Held only from the moment a record's time is taken until its markers exist, so
    /// that on one machine (or one shared folder with working locks) records become visible in
    /// the order of their times: a process that reads the history right after marking its
    /// record can never later see an older record appear, and so "new" and the version numbers
    /// it reports are final. Objects and packs are written before, without the lock.
    pub(crate) fn record_lock(&self) -> Result<fs::File> {
        let dir = self.root.join("local");
        fs::create_dir_all(&dir).map_err(|e| Error::io("cannot create", &dir, e))?;
        let path = dir.join("record.lock");
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
        &self.root
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
        crate::refs::marker_ids(dir)
    }

    /// Artifacts present in `refs/`, as sorted (type, name) pairs: conforming entries only (see
    /// `refs`), so a stray `.DS_Store` is never taken for an artifact.
    pub fn artifact_keys(&self) -> Result<Vec<(String, String)>> {
        crate::refs::artifact_keys(&self.root.join("refs"))
    }

    /// Run ids present in `runs/`, sorted (conforming entries only).
    pub fn run_ids(&self) -> Result<Vec<String>> {
        crate::refs::run_ids(&self.root.join("runs"))
    }
}

pub use crate::object::LARGE_FILE;

/// A writer that also hashes what goes through it (the checksum of a streamed envelope).
struct ChecksumWriter<W: Write> {
    inner: W,
    hasher: blake3::Hasher,
}

impl<W: Write> Write for ChecksumWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Reads the bytes `pos..end` of a file with positioned reads (no shared cursor).
struct RangeReader<'a> {
    file: &'a fs::File,
    pos: u64,
    end: u64,
}

impl std::io::Read for RangeReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = (self.end.saturating_sub(self.pos)).min(buf.len() as u64) as usize;
        if want == 0 {
            return Ok(0);
        }
        #[cfg(unix)]
        let n = {
            use std::os::unix::fs::FileExt;
            self.file.read_at(&mut buf[..want], self.pos)?
        };
        #[cfg(not(unix))]
        let n = {
            use std::io::{Seek, SeekFrom};
            let mut f = self.file;
            f.seek(SeekFrom::Start(self.pos))?;
            std::io::Read::read(&mut f, &mut buf[..want])?
        };
        self.pos += n as u64;
        Ok(n)
    }
}

/// Feeds what is written to a hasher.
struct HashSink<'a>(&'a mut blake3::Hasher);

impl Write for HashSink<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Where one stored copy of an object is.
enum Place {
    /// `objects/ab/cdef…`.
    Loose(PathBuf),
    /// In a pack (path, location, whether the pack file is present).
    Packed(PathBuf, Location, bool),
}

/// State of one object resolution: encodings tried, and ids that could not be resolved below a
/// depth (so a hostile store cannot make the search exponential).
#[derive(Default)]
struct Resolution {
    tried: usize,
    failed: HashMap<ObjectId, (u8, Error)>,
}

/// Most stored encodings one read may try (real chains need at most 17).
const MAX_ENCODINGS_TRIED: usize = 4096;

/// Of two reasons an object could not be read, the one to report: corruption of something
/// present outranks a missing object, which outranks nothing.
fn worse(a: Error, b: Error) -> Error {
    match (&a, &b) {
        (Error::MissingObject { .. }, _) => b,
        (_, Error::MissingObject { .. }) => a,
        _ => a,
    }
}

impl Error {
    /// A copy of the errors a resolution remembers (others become their message).
    fn clone_shallow(&self) -> Error {
        match self {
            Error::MissingObject { id } => Error::MissingObject { id: *id },
            Error::CorruptObject { id, reason } => Error::CorruptObject {
                id: *id,
                reason: reason.clone(),
            },
            Error::Io {
                action,
                path,
                source,
            } => Error::Io {
                action,
                path: path.clone(),
                source: io::Error::new(source.kind(), source.to_string()),
            },
            other => Error::Io {
                action: "cannot read",
                path: PathBuf::new(),
                source: io::Error::other(other.to_string()),
            },
        }
    }
}

/// Moves a durable temp file to `path` unless `path` exists; an existing name counts as done.
fn persist_new(tmp: tempfile::NamedTempFile, path: &Path) -> Result<bool> {
    match tmp.persist_noclobber(path) {
        Ok(_) => Ok(true),
        Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(Error::io("cannot write", path, e.error)),
    }
}

/// Largest loose object file read (the largest object plus its envelope).
const MAX_OBJECT_FILE: u64 = MAX_OBJECT_SIZE + (1 << 20);

/// Reads a loose object file, refusing anything that is not a regular file, and anything larger
/// than an object of its kind within `limit` can be stored in (checked before reading).
pub(crate) fn read_object_file(id: &ObjectId, path: &Path, limit: u64) -> Result<Vec<u8>> {
    let read = || -> io::Result<Vec<u8>> {
        use std::io::Read;
        let mut f = open_regular(path)?;
        let len = f.metadata()?.len();
        let mut head = [0u8; crate::object::HEADER_LEN];
        let n = f.read(&mut head)?;
        let bound = crate::object::stored_bound(&head[..n], limit).min(MAX_OBJECT_FILE);
        if len > bound {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{len} bytes, more than such an object can be stored in ({bound})"),
            ));
        }
        let mut out = Vec::with_capacity(len as usize);
        out.extend_from_slice(&head[..n]);
        f.take(bound.saturating_sub(n as u64).saturating_add(1))
            .read_to_end(&mut out)?;
        if out.len() as u64 > bound {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "grew while read",
            ));
        }
        Ok(out)
    };
    match read() {
        Ok(b) => Ok(b),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::MissingObject { id: *id }),
        Err(e) if is_refused(&e) => Err(Error::CorruptObject {
            id: *id,
            reason: format!("{}: {e}", path.display()),
        }),
        Err(e) => Err(Error::io("cannot read", path, e)),
    }
}

/// Whether an error from [`open_regular`] means "not a regular file" (a link, a FIFO, a device,
/// a directory, or larger than allowed) rather than an I/O failure.
fn is_refused(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::InvalidData
        || e.raw_os_error() == Some(libc::ELOOP)
        || e.kind() == io::ErrorKind::IsADirectory
}

/// Opens a file of the store for reading without following a symbolic link and without
/// blocking on a FIFO, and refuses anything that is not a regular file (a store copied from
/// elsewhere is untrusted: a FIFO would hang a reader, a link to `/dev/zero` would never end).
pub(crate) fn open_regular(path: &Path) -> io::Result<fs::File> {
    let mut opts = fs::OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let f = opts.open(path)?;
    let meta = f.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not a regular file",
        ));
    }
    Ok(f)
}

/// Reads a whole regular file of at most `max` bytes (see [`open_regular`]).
pub(crate) fn read_regular(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let f = open_regular(path)?;
    let len = f.metadata()?.len();
    if len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{len} bytes, more than the {max} allowed"),
        ));
    }
    let mut out = Vec::with_capacity(len as usize);
    f.take(max.saturating_add(1)).read_to_end(&mut out)?;
    if out.len() as u64 > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "grew while read",
        ));
    }
    Ok(out)
}

/// `root/rel` when every directory from `root` down to it is a real directory, not a symbolic
/// link. A store copied from elsewhere is untrusted: anything that deletes (leftover temp files,
/// packs without an index) must never follow a link out of the store.
pub(crate) fn own_dir(root: &Path, rel: &str) -> Option<PathBuf> {
    let mut p = root.to_path_buf();
    for part in rel.split('/') {
        p.push(part);
        if !fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir()) {
            return None;
        }
    }
    Some(p)
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
        fs::write(root.join("format"), "codever-store-format 3\n").unwrap();
        let e = Store::open(&root).unwrap_err();
        assert!(
            matches!(
                e,
                Error::NewerFormat {
                    found: 3,
                    supported: 2,
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

    /// Text of `n` varied code-like lines, so deltas are much smaller than whole objects.
    fn code(seed: usize, n: usize) -> Vec<u8> {
        (0..n)
            .flat_map(|i| {
                format!("w_{i} = init({}, {})\n", (i * 7919 + seed) % 1000, i * 31).into_bytes()
            })
            .collect()
    }

    /// Stores `raw` as a loose delta against `base` (whose own depth is `base_depth`), whatever
    /// is already stored; returns its id.
    fn put_delta(store: &Store, raw: &[u8], base: &[u8], base_depth: u8) -> ObjectId {
        let id = ObjectId::compute(Kind::Blob, raw);
        let bid = ObjectId::compute(Kind::Blob, base);
        let bytes = crate::object::encode_delta(Kind::Blob, raw, bid, base, base_depth);
        store
            .create_atomic(&store.object_path(&id), &bytes)
            .unwrap();
        id
    }

    /// Two consecutive versions of a file and their blob ids (base first).
    fn two_versions() -> (Vec<u8>, Vec<u8>, ObjectId, ObjectId) {
        let (base, new) = (code(1, 100), code(1, 101));
        let (bid, nid) = (
            ObjectId::compute(Kind::Blob, &base),
            ObjectId::compute(Kind::Blob, &new),
        );
        (base, new, bid, nid)
    }

    /// Writes `objects` (id, envelope) as one pack, as a commit would.
    fn pack_of(store: &Store, objects: Vec<(ObjectId, Vec<u8>)>) {
        let mut w = pack::PackWriter::new(store);
        for (id, bytes) in objects {
            w.add(id, bytes).unwrap();
        }
        w.finish().unwrap();
    }

    #[test]
    fn an_id_stored_twice_with_opposite_delta_bases_still_reads() {
        use crate::object::encode_delta;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::init(dir.path()).unwrap();
        let p = code(1, 300);
        let mut q = p.clone();
        q.extend_from_slice(b"one more line\n");
        let (pid, qid) = (
            ObjectId::compute(Kind::Blob, &p),
            ObjectId::compute(Kind::Blob, &q),
        );
        // Machine A stored P whole and Q against P; machine B the opposite. Padding objects make
        // each a real pack (16 or more objects).
        let pad = |seed: usize| -> Vec<(ObjectId, Vec<u8>)> {
            (0..16)
                .map(|i| {
                    let raw = code(seed * 100 + i, 3);
                    (
                        ObjectId::compute(Kind::Blob, &raw),
                        encode_envelope(Kind::Blob, &raw),
                    )
                })
                .collect()
        };
        let mut a = vec![
            (pid, encode_envelope(Kind::Blob, &p)),
            (qid, encode_delta(Kind::Blob, &q, pid, &p, 0)),
        ];
        a.extend(pad(1));
        let mut b = vec![
            (qid, encode_envelope(Kind::Blob, &q)),
            (pid, encode_delta(Kind::Blob, &p, qid, &q, 0)),
        ];
        b.extend(pad(2));
        pack_of(&store, a);
        pack_of(&store, b);
        // Both orders of pack discovery.
        for _ in 0..2 {
            let fresh = Store::open(store.root()).unwrap();
            assert_eq!(fresh.read_blob(&pid).unwrap(), p);
            assert_eq!(fresh.read_blob(&qid).unwrap(), q);
            assert_eq!(
                fresh.read_with_depth(&qid).unwrap().2,
                0,
                "whole copies first"
            );
        }
        // Every copy checks out on its own.
        let report = store.fsck().unwrap();
        assert!(report.corrupt.is_empty(), "{:?}", report.corrupt);
    }

    #[test]
    fn a_forged_cycle_of_deltas_is_corruption_not_a_hang() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::init(dir.path()).unwrap();
        let (x, y) = (code(1, 50), code(2, 50));
        // Each claims depth 1 against the other: no chain ends at a whole object.
        let xid = put_delta(&store, &x, &y, 0);
        put_delta(&store, &y, &x, 0);
        // Each needs a whole (depth 0) copy of the other, which is not here: missing, reported
        // at once (as "not yet synced": a sync could still bring it), never a hang.
        let e = store.read_blob(&xid).unwrap_err();
        assert!(
            matches!(&e, Error::MissingObject { id } if *id == ObjectId::compute(Kind::Blob, &y)),
            "{e}"
        );
        // Deeper forgeries: a loop of depth claims 2 → 1 → 2 ends the same way.
        let zid = put_delta(&store, &code(3, 50), &x, 1);
        assert!(matches!(
            store.read_blob(&zid),
            Err(Error::MissingObject { .. })
        ));
        // fsck names what is missing and fails with --strict.
        let report = store.fsck().unwrap();
        assert!(!report.missing.is_empty());
        assert!(report.failed(true));
    }

    #[test]
    fn an_object_name_once_present_is_never_replaced() {
        use crate::object::encode_delta;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::init(dir.path()).unwrap();
        let (base, new, bid, nid) = two_versions();
        store.write_object(Kind::Blob, &base).unwrap();
        store.write_object(Kind::Blob, &new).unwrap();
        let path = store.object_path(&nid);
        let first = fs::read(&path).unwrap();
        // Another encoding of the same id (a concurrent writer's delta) does not replace it.
        let created = store
            .create_atomic(&path, &encode_delta(Kind::Blob, &new, bid, &base, 0))
            .unwrap();
        assert!(!created);
        assert_eq!(fs::read(&path).unwrap(), first);
        assert!(
            fs::read_dir(store.root().join("local/tmp"))
                .unwrap()
                .next()
                .is_none()
        );
    }

    #[test]
    fn a_flipped_byte_anywhere_in_a_delta_is_corruption_even_without_its_base() {
        use crate::object::{HEADER_LEN, encode_delta};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::init(dir.path()).unwrap();
        let (base, new, bid, nid) = two_versions();
        // The base is never stored: only the checksum can tell damage from "not yet synced".
        let good = encode_delta(Kind::Blob, &new, bid, &base, 0);
        let path = store.object_path(&nid);
        for offset in [
            0,
            4,
            5,
            6,
            HEADER_LEN,
            HEADER_LEN + 31,
            HEADER_LEN + 32,
            HEADER_LEN + 33,
            good.len() - 1,
        ] {
            let mut bad = good.clone();
            bad[offset] ^= 0x01;
            let _ = fs::remove_file(&path);
            store.create_atomic(&path, &bad).unwrap();
            let fresh = Store::open(store.root()).unwrap();
            let e = fresh.read_blob(&nid).unwrap_err();
            assert!(
                matches!(e, Error::CorruptObject { .. }),
                "offset {offset}: {e}"
            );
        }
        let _ = fs::remove_file(&path);
        store.create_atomic(&path, &good).unwrap();
        let fresh = Store::open(store.root()).unwrap();
        assert!(matches!(fresh.read_blob(&nid), Err(Error::MissingObject { id }) if id == bid));
    }

    #[test]
    fn fifos_links_and_oversized_claims_are_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::init(dir.path()).unwrap();
        let fifo_id = ObjectId::compute(Kind::Blob, b"fifo");
        let fifo = store.object_path(&fifo_id);
        fs::create_dir_all(fifo.parent().unwrap()).unwrap();
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        assert!(matches!(
            store.read_blob(&fifo_id),
            Err(Error::CorruptObject { .. })
        ));

        let link_id = ObjectId::compute(Kind::Blob, b"link");
        let link = store.object_path(&link_id);
        fs::create_dir_all(link.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        assert!(matches!(
            store.read_blob(&link_id),
            Err(Error::CorruptObject { .. })
        ));

        // A frame without a content size (streamed) is refused, whatever it would expand to.
        let raw = vec![0u8; 1 << 20];
        let mut frame = Vec::new();
        let mut enc = zstd::stream::write::Encoder::new(&mut frame, 3).unwrap();
        enc.include_contentsize(false).unwrap();
        std::io::Write::write_all(&mut enc, &raw).unwrap();
        enc.finish().unwrap();
        let mut env = b"CDVO\x02\x01\x00".to_vec();
        env.extend_from_slice(&frame);
        let sum = blake3::hash(&env);
        env.extend_from_slice(&sum.as_bytes()[..16]);
        let id = ObjectId::compute(Kind::Blob, &raw);
        store.create_atomic(&store.object_path(&id), &env).unwrap();
        let e = store.read_blob(&id).unwrap_err();
        assert!(
            e.to_string().contains("does not declare its content size"),
            "{e}"
        );

        // A blob larger than its tree says is refused before it is decoded.
        let (id, _) = store.write_object(Kind::Blob, &[7u8; 1000]).unwrap();
        assert_eq!(store.read_file_blob(&id, 1000).unwrap(), vec![7u8; 1000]);
        let e = Store::open(store.root())
            .unwrap()
            .read_file_blob(&id, 999)
            .unwrap_err();
        assert!(e.to_string().contains("claims 1000 bytes"), "{e}");
    }

    #[test]
    fn a_small_file_stored_against_a_larger_base_reads_at_its_own_size() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::init(dir.path()).unwrap();
        let base = code(1, 200);
        let small = base[..base.len() / 2].to_vec();
        store.write_object(Kind::Blob, &base).unwrap();
        let sid = put_delta(&store, &small, &base, 0);
        // The tree's size bounds this blob's frame, not its base's.
        let fresh = Store::open(store.root()).unwrap();
        assert_eq!(
            fresh.read_file_blob(&sid, small.len() as u64).unwrap(),
            small
        );
    }

    #[test]
    fn a_delta_on_a_base_larger_than_any_base_is_refused_before_decoding_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::init(dir.path()).unwrap();
        // Zeros: a tiny object on disk that claims 40 MiB.
        let base = vec![0u8; 40 << 20];
        store.write_object(Kind::Blob, &base).unwrap();
        let small = vec![0u8; 100];
        let sid = put_delta(&store, &small, &base, 0);
        let e = Store::open(store.root())
            .unwrap()
            .read_file_blob(&sid, 100)
            .unwrap_err();
        assert!(
            e.to_string().contains("more than the 33554432 allowed"),
            "{e}"
        );
    }

    #[test]
    fn records_larger_than_readers_accept_are_refused_when_written() {
        use crate::object::{MAX_RECORD_SIZE, RunRecord};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::init(dir.path()).unwrap();
        let run = |notes: usize| RunRecord {
            id: "r".into(),
            time_ns: 0,
            host: String::new(),
            user: String::new(),
            cwd: String::new(),
            git_commit: None,
            git_dirty: None,
            project: String::new(),
            config: String::new(),
            notes: "n".repeat(notes),
            tags: Vec::new(),
        };
        assert!(store.write_structured(&run(1000)).is_ok());
        let e = store
            .write_structured(&run(MAX_RECORD_SIZE as usize))
            .unwrap_err();
        assert!(matches!(e, Error::TooLarge { what: "run", .. }), "{e}");
    }

    #[test]
    fn a_pack_entry_past_any_end_is_not_streamed_and_does_not_overflow() {
        // Found by the pack_index fuzz target: an offset near u64::MAX.
        let dir = tempfile::tempdir().unwrap();
        let store = Store::init(dir.path()).unwrap();
        let path = dir.path().join("p");
        fs::write(&path, b"CDVP\x01").unwrap();
        let file = fs::File::open(&path).unwrap();
        let id = ObjectId::compute(Kind::Blob, b"x");
        for offset in [u64::MAX, u64::MAX - 3, 1 << 40] {
            let loc = Location {
                pack: 0,
                offset,
                len: u32::MAX,
            };
            let r = store.stream_packed(&id, &path, &file, loc, &mut io::sink());
            assert!(matches!(r, Ok(None)), "{offset}");
        }
    }
}
