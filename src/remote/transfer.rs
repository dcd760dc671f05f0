//! `push`, `pull` and `sync`: what each side lacks, sent in the order data → records → markers,
//! verified on receipt, written create-only, and reported.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;

use serde::Serialize;

use super::keys::{Entry, MarkerDir, PREFIXES, local_entries};
use super::{Remote, RemoteConfig, RequestCounts};
use crate::error::{Error, RemoteFailure, Result};
use crate::id::ObjectId;
use crate::kind::Kind;
use crate::object::{LARGE_FILE, MAX_OBJECT_SIZE, decode_envelope_limited, parse_header};

/// The most bytes a stored object can take (a blob of `MAX_OBJECT_SIZE` and its envelope).
const MAX_OBJECT_FILE: u64 = MAX_OBJECT_SIZE + (1 << 20);
use crate::store::{Store, pack, read_checked, read_regular};

/// Files and bytes moved one way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Files written on the receiving side.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
}

impl Counts {
    fn add(&mut self, bytes: usize) {
        self.add_u64(bytes as u64);
    }

    fn add_u64(&mut self, bytes: u64) {
        self.files += 1;
        self.bytes += bytes;
    }
}

/// Versions of one artifact, by their labels (`v3`; `@3fa9c2e1b0d4` while numbers are withheld).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ArtifactVersions {
    /// `TYPE/NAME`.
    pub artifact: String,
    /// The versions.
    pub versions: Vec<String>,
}

/// Versions of one artifact made on both sides without either seeing the other's (offline):
/// their numbers are settled by commit time, so some of them were renumbered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConcurrentVersions {
    /// `TYPE/NAME`.
    pub artifact: String,
    /// Each version made on one side only: its label now, the host that made it, and its
    /// label before on the side that had it, when that differs.
    pub versions: Vec<ConcurrentVersion>,
}

/// One of [`ConcurrentVersions`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConcurrentVersion {
    /// Its label now (`v5`).
    pub version: String,
    /// The host that made it.
    pub host: String,
    /// Its label before, where it was `vN` with another N.
    pub was: Option<String>,
}

/// A file refused: damaged or forged (its bytes do not hash to its name), or a marker whose
/// record could not be received.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Refused {
    /// The remote's key of the file (`objects/ab/…`, `packs/….pack`, `refs/…`).
    pub key: String,
    /// Why.
    pub reason: String,
}

/// What a push, pull or sync did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TransferReport {
    /// The remote's name.
    pub remote: String,
    /// Its URL.
    pub url: String,
    /// Files and bytes written to the remote.
    pub sent: Counts,
    /// Files and bytes written to this store.
    pub received: Counts,
    /// Versions this store has now that it did not have.
    pub new_here: Vec<ArtifactVersions>,
    /// Versions the remote has now that it did not have.
    pub new_there: Vec<ArtifactVersions>,
    /// Versions made concurrently on both sides, some renumbered.
    pub concurrent: Vec<ConcurrentVersions>,
    /// Files refused (named), the rest of the transfer done.
    pub refused: Vec<Refused>,
    /// Files of the remote skipped as not yet synced: what they need has not reached the
    /// remote (a push still running or interrupted, e.g. a pack whose objects' delta bases are
    /// in packs not sent yet). Nothing is wrong with them; a later pull takes them.
    pub waiting: Vec<Refused>,
    /// Requests made to the remote.
    pub requests: RequestCounts,
}

/// What `pull` fetches.
#[derive(Clone, Debug, Default)]
pub struct PullOptions {
    /// Only records and markers (so `list`, `versions`, `runs`, `log` work); blobs and trees
    /// are fetched later, when a command needs them.
    pub metadata_only: bool,
    /// Records and markers, and the data of this artifact's versions only
    /// (`TYPE/NAME[:SPEC]`; without a version, every version).
    pub only: Option<String>,
    /// Told the bytes fetched so far and in all, as the transfer goes.
    pub progress: Option<crate::capture::Progress>,
}

/// How `push` runs.
#[derive(Clone, Debug, Default)]
pub struct PushOptions {
    /// List the remote first instead of trusting what this machine remembers it holds.
    pub full: bool,
    /// Told the bytes sent so far and in all, as the transfer goes.
    pub progress: Option<crate::capture::Progress>,
}

/// How `sync` runs.
#[derive(Clone, Debug, Default)]
pub struct SyncOptions {
    /// Told the bytes moved so far and in all (both ways), as the transfer goes.
    pub progress: Option<crate::capture::Progress>,
}

/// A pack index's entries: (object id, offset, length).
type IndexEntries = Vec<(ObjectId, u64, u32)>;

/// Opens remote `name` (the default one when `None`) of `store`.
pub(crate) fn open_remote(store: &Store, name: Option<&str>) -> Result<Remote> {
    let config = RemoteConfig::load(store)?;
    let (name, entry) = config.get(name)?;
    Remote::open(&name, &entry)
}

// ---------------------------------------------------------------------------------------------
// The cache of what a remote holds.

const CACHE_MAGIC: &[u8; 4] = b"CDVR";
const CACHE_VERSION: u8 = 1;

/// What this machine knows a remote holds: the keys seen in its last listing or written to it
/// since, and copies of its pack indexes. Never trusted over the remote: every listing replaces
/// the keys, and a create-only write of a key the cache wrongly says is absent is harmless.
pub(crate) struct RemoteCache {
    dir: PathBuf,
    pub keys: BTreeSet<String>,
    /// Remote packs whose every object this store has already (not fetched again).
    pub covered: BTreeSet<String>,
    /// Whether `keys` came from a file (else nothing was known).
    pub loaded: bool,
}

impl RemoteCache {
    pub fn load(store: &Store, remote: &str) -> RemoteCache {
        let dir = store.layout().local_dir().join("remotes").join(remote);
        let mut cache = RemoteCache {
            dir,
            keys: BTreeSet::new(),
            covered: BTreeSet::new(),
            loaded: false,
        };
        if let Some(body) = read_checked(&cache.dir.join("known"), CACHE_MAGIC, CACHE_VERSION) {
            for line in String::from_utf8_lossy(&body).lines() {
                if let Some(k) = line.strip_prefix("K ") {
                    cache.keys.insert(k.to_string());
                } else if let Some(k) = line.strip_prefix("C ") {
                    cache.covered.insert(k.to_string());
                }
            }
            cache.loaded = true;
        }
        cache
    }

    pub fn save(&self, store: &Store) {
        let mut body = String::new();
        for k in &self.keys {
            body.push_str("K ");
            body.push_str(k);
            body.push('\n');
        }
        for k in &self.covered {
            body.push_str("C ");
            body.push_str(k);
            body.push('\n');
        }
        store.layout().write_checked(
            &self.dir.join("known"),
            CACHE_MAGIC,
            CACHE_VERSION,
            body.as_bytes(),
        );
    }

    fn idx_path(&self, pack: &ObjectId) -> PathBuf {
        self.dir.join("idx").join(format!("{}.idx", pack.to_hex()))
    }

    /// The parsed index of remote pack `pack`: from the cached copy, else fetched (and cached).
    pub fn remote_index(
        &self,
        store: &Store,
        remote: &Remote,
        pack: &ObjectId,
        listed: Option<(u64, u64)>,
    ) -> Result<std::result::Result<IndexEntries, String>> {
        // The same pack here has the same index (content-named), else the cached copy.
        for path in [store.layout().pack_file(pack, "idx"), self.idx_path(pack)] {
            if let Ok(bytes) = read_regular(&path, pack::MAX_INDEX_FILE)
                && let Ok(entries) = pack::parse_index(&bytes, pack)
            {
                return Ok(Ok(entries));
            }
        }
        // Bounded before anything is downloaded: an index is at most MAX_INDEX_FILE bytes
        // (4 million entries), and never much larger than its pack (an entry takes 44 bytes of
        // index and at least 27 bytes of pack).
        let mut max = pack::MAX_INDEX_FILE;
        if let Some((idx_size, pack_size)) = listed {
            let need = pack_size.saturating_mul(2).saturating_add(128);
            if idx_size > max || idx_size > need {
                return Ok(Err(format!(
                    "its index claims {idx_size} bytes, more than a pack of {pack_size} bytes \
                     can need (at most {}); not downloaded",
                    max.min(need)
                )));
            }
            max = idx_size;
        }
        let key = Entry::Index(*pack).key();
        let mut buf = BoundedVec {
            bytes: Vec::new(),
            max,
        };
        match remote.transport.get_to(&key, &mut buf) {
            Ok(true) => {}
            Ok(false) => return Ok(Err("its index is gone from the remote".into())),
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::InvalidData => {
                return Ok(Err(format!(
                    "its index is larger than {max} bytes (the most it may be); not downloaded \
                     further"
                )));
            }
            Err(e) => return Err(remote.named(e)),
        }
        Ok(self.keep_index(store, pack, &buf.bytes))
    }

    /// Parses index bytes of remote pack `pack` and keeps a copy when they are sound.
    pub fn keep_index(
        &self,
        store: &Store,
        pack: &ObjectId,
        bytes: &[u8],
    ) -> std::result::Result<Vec<(ObjectId, u64, u32)>, String> {
        match pack::parse_index(bytes, pack) {
            Ok(entries) => {
                let path = self.idx_path(pack);
                if let Some(dir) = path.parent()
                    && std::fs::create_dir_all(dir).is_ok()
                    && let Ok(tmp) = store.layout().temp_file("idx", bytes)
                {
                    let _ = tmp.persist(&path);
                }
                Ok(entries)
            }
            Err(e) => Err(e.to_string()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Verification of received objects.

/// Verifies the stored bytes of `id` (hash of the decoded content, through its delta base),
/// taking bases from `pending` (received with it, not yet visible) or from the store. Returns
/// the object's kind.
pub(crate) fn verify_received(
    store: &Store,
    id: &ObjectId,
    bytes: &[u8],
    pending: &dyn Pending,
) -> Result<Kind> {
    decode_pending(store, id, bytes, pending, u8::MAX).map(|(k, _)| k)
}

/// Objects received together (a batch of loose files, or one pack) and not visible yet, which
/// deltas among them may use as bases.
pub(crate) trait Pending {
    /// The stored size of `id` when it is among them.
    fn size_of(&self, id: &ObjectId) -> Option<u64>;
    /// The stored bytes of `id`, one of them.
    fn bytes_of(&self, id: &ObjectId) -> Result<Vec<u8>>;
}

impl Pending for HashMap<ObjectId, &[u8]> {
    fn size_of(&self, id: &ObjectId) -> Option<u64> {
        self.get(id).map(|b| b.len() as u64)
    }
    fn bytes_of(&self, id: &ObjectId) -> Result<Vec<u8>> {
        Ok(self.get(id).map(|b| b.to_vec()).unwrap_or_default())
    }
}

fn decode_pending(
    store: &Store,
    id: &ObjectId,
    bytes: &[u8],
    pending: &dyn Pending,
    below: u8,
) -> Result<(Kind, Vec<u8>)> {
    let header = parse_header(*id, bytes)?;
    let depth = header.depth();
    if depth >= below {
        // The copy a delta's writer used is shallower; this one cannot serve it.
        return Err(Error::MissingObject { id: *id });
    }
    let base_limit = header.base_limit();
    decode_envelope_limited(
        *id,
        bytes,
        &mut |base| {
            if store.has_object_here(base) {
                return store.read_object(base).map(|(_, raw)| raw);
            }
            match pending.size_of(base) {
                Some(len) if len <= base_limit.saturating_mul(2) + 4096 => {
                    let b = pending.bytes_of(base)?;
                    decode_pending(store, base, &b, pending, depth).map(|(_, raw)| raw)
                }
                Some(_) => Err(Error::CorruptObject {
                    id: *base,
                    reason: "a delta base larger than a base may be".into(),
                }),
                None => Err(Error::MissingObject { id: *base }),
            }
        },
        MAX_OBJECT_SIZE,
    )
}

/// Objects whose listed size is at least this are received through a temp file (a large
/// blob never in memory whole); smaller ones in memory, many at once.
const STREAM_FROM: u64 = 1 << 20;

/// How much of a received object's envelope is looked at to bound the rest.
const PEEK: usize = crate::object::HEADER_LEN + 18;

/// The raw size a whole-stored blob's envelope declares (its zstd frame's content size).
fn whole_blob_size(head: &[u8]) -> Option<u64> {
    use crate::object::{ENCODING_ZSTD, HEADER_LEN};
    if head.len() < PEEK || head.get(5) != Some(&(Kind::Blob as u8)) || head[6] != ENCODING_ZSTD {
        return None;
    }
    zstd::zstd_safe::get_frame_content_size(&head[HEADER_LEN..])
        .ok()
        .flatten()
}

/// Whether stored bytes (or their first [`PEEK`] bytes) are a large blob stored whole, which
/// is verified as a stream rather than decoded in memory.
fn is_large_blob(head: &[u8]) -> bool {
    whole_blob_size(head).is_some_and(|n| n >= LARGE_FILE)
}

/// A writer into memory that refuses more than `max` bytes.
struct BoundedVec {
    bytes: Vec<u8>,
    max: u64,
}

impl std::io::Write for BoundedVec {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() as u64 + buf.len() as u64 > self.max {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "more bytes than allowed",
            ));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A writer of a received pack into a temp file that refuses more than `max` bytes (what its
/// index accounts for) and anything that does not start as a pack, as soon as its first bytes
/// arrive. It hashes what it writes, so the pack's name is checked without reading it again.
struct PackSink<'a> {
    file: std::io::BufWriter<&'a std::fs::File>,
    hasher: blake3::Hasher,
    head: Vec<u8>,
    written: u64,
    max: u64,
    /// Why writing the temp file failed, if it did (the transport reports it as its own).
    local: Option<std::io::Error>,
}

/// The error a sink returns to stop a download when the transfer was interrupted (see
/// [`crate::signals::stop_transfers_on_interrupt`]); not `ErrorKind::Interrupted`, which
/// `io::copy` retries.
fn stop_if_interrupted() -> std::io::Result<()> {
    if crate::signals::interrupted() {
        return Err(std::io::Error::other("interrupted"));
    }
    Ok(())
}

impl std::io::Write for PackSink<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        stop_if_interrupted()?;
        if self.written.saturating_add(buf.len() as u64) > self.max {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("more than the {} bytes its index accounts for", self.max),
            ));
        }
        if self.head.len() < 5 {
            let before = self.head.len();
            let n = (5 - before).min(buf.len());
            self.head.extend_from_slice(&buf[..n]);
            if before < 4 && self.head.len() >= 4 && !pack::has_pack_magic(&self.head) {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "not a pack (bad magic); not downloaded further",
                ));
            }
        }
        if let Err(e) = self.file.write_all(buf) {
            self.local = Some(std::io::Error::new(e.kind(), e.to_string()));
            return Err(e);
        }
        self.hasher.update(buf);
        self.written += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// A pack received into a temp file of `local/tmp`, whose objects are read from it one at a
/// time: a pack of any size is verified in the memory of its largest object and delta chain.
/// The file is open only while the pack is verified: a pull may hold hundreds of packs that
/// wait for delta bases from others.
struct ReceivedPack {
    id: ObjectId,
    path: tempfile::TempPath,
    file: std::cell::OnceCell<std::fs::File>,
    entries: IndexEntries,
    at: HashMap<ObjectId, (u64, u32)>,
    len: u64,
}

impl ReceivedPack {
    /// Checks a downloaded pack as a whole: its magic and version, its name (the hash of its
    /// bytes), and that its index's entries tile it exactly — the header, then each object after
    /// its 4-byte length — so that no byte of it is unaccounted for and no two entries share
    /// bytes; the reason when it cannot be used.
    fn check(
        id: ObjectId,
        tmp: tempfile::NamedTempFile,
        entries: IndexEntries,
        sink: (&[u8], blake3::Hash, u64),
    ) -> Result<std::result::Result<ReceivedPack, String>> {
        let (head, hash, len) = sink;
        if head.len() < 5 || !pack::has_pack_magic(head) {
            return Ok(Err("not a pack (bad magic)".into()));
        }
        if head[4] != pack::VERSION {
            return Ok(Err(format!(
                "pack version {} is unknown; upgrade codever",
                head[4]
            )));
        }
        if hash.as_bytes() != id.as_bytes() {
            return Ok(Err(
                "its bytes do not hash to its name (damaged or forged)".into()
            ));
        }
        let mut by_offset: Vec<(u64, u32)> = entries.iter().map(|(_, o, n)| (*o, *n)).collect();
        by_offset.sort_unstable();
        let mut end = 5u64;
        for (offset, n) in by_offset {
            let mut prefix = [0u8; 4];
            if offset != end + 4
                || offset.checked_add(u64::from(n)).is_none_or(|e| e > len)
                || pack::read_exact_at(tmp.as_file(), &mut prefix, end).is_err()
                || u32::from_le_bytes(prefix) != n
            {
                return Ok(Err(format!(
                    "its index does not account for its bytes exactly (an entry at byte {offset} \
                     of {len}): damaged or forged"
                )));
            }
            end = offset + u64::from(n);
        }
        if end != len {
            return Ok(Err(format!(
                "its index accounts for {end} of its {len} bytes: damaged or forged"
            )));
        }
        let at = entries.iter().map(|(o, off, n)| (*o, (*off, *n))).collect();
        let path = tmp.into_temp_path();
        Ok(Ok(ReceivedPack {
            id,
            path,
            file: std::cell::OnceCell::new(),
            entries,
            at,
            len,
        }))
    }

    /// The stored bytes of the object at `offset`; an entry longer than the object its
    /// envelope starts can be stored in is refused before anything is allocated for it.
    fn read(&self, offset: u64, len: u32) -> Result<Vec<u8>> {
        let io = |e| Error::io("cannot read", self.path.to_path_buf(), e);
        let file = match self.file.get() {
            Some(f) => f,
            None => {
                let f = std::fs::File::open(&self.path).map_err(io)?;
                self.file.get_or_init(|| f)
            }
        };
        // Bounded by what the envelope it starts with may take, as a loose object is received
        // (`BoundedFile`): its magic, then the size its frame declares, else its kind's limit.
        let mut head = vec![0u8; PEEK.min(len as usize)];
        pack::read_exact_at(file, &mut head, offset).map_err(io)?;
        let corrupt = |reason: String| Error::CorruptObject {
            id: self.id,
            reason,
        };
        if head.get(..4) != Some(&crate::object::MAGIC[..]) {
            return Err(corrupt(
                "an entry that is not a stored object (bad magic); not read further".into(),
            ));
        }
        let limit = match whole_blob_size(&head) {
            Some(n) => n,
            None if head.get(6) == Some(&crate::object::ENCODING_ZSTD) => MAX_OBJECT_SIZE,
            None => LARGE_FILE,
        };
        if u64::from(len) > crate::object::stored_bound(&head, limit) {
            return Err(corrupt(format!(
                "an entry of {len} bytes, more than the object it starts as can be stored in"
            )));
        }
        let loc = pack::Location {
            pack: 0,
            offset,
            len,
        };
        pack::read_at(&self.path, Some(file), loc, MAX_OBJECT_SIZE).map_err(|e| {
            if e.kind() == std::io::ErrorKind::InvalidData {
                // Bounded by its envelope: what the remote sent, not a local failure.
                Error::CorruptObject {
                    id: self.id,
                    reason: e.to_string(),
                }
            } else {
                io(e)
            }
        })
    }

    /// Closes the file until the pack is verified again.
    fn close(&mut self) {
        self.file = std::cell::OnceCell::new();
    }
}

impl Pending for ReceivedPack {
    fn size_of(&self, id: &ObjectId) -> Option<u64> {
        self.at.get(id).map(|(_, n)| u64::from(*n))
    }
    fn bytes_of(&self, id: &ObjectId) -> Result<Vec<u8>> {
        match self.at.get(id) {
            Some((offset, n)) => self.read(*offset, *n),
            None => Ok(Vec::new()),
        }
    }
}

/// A writer into a temp file that refuses more than an object with the envelope it starts with
/// can take (`object::stored_bound` of the size it declares), so a remote cannot fill the disk
/// by sending a file without end.
struct BoundedFile<'a> {
    file: std::io::BufWriter<&'a std::fs::File>,
    head: Vec<u8>,
    written: u64,
    bound: u64,
}

impl std::io::Write for BoundedFile<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        stop_if_interrupted()?;
        if self.head.len() < PEEK {
            let n = (PEEK - self.head.len()).min(buf.len());
            self.head.extend_from_slice(&buf[..n]);
            if self.head.len() == PEEK {
                if self.head[..4] != crate::object::MAGIC {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        "not a stored object (bad magic); not downloaded further",
                    ));
                }
                // Whole blobs may be large; anything else (deltas, trees, records) is bounded
                // by its kind, and a delta's content is never large.
                let limit = match whole_blob_size(&self.head) {
                    Some(n) => n,
                    None if self.head[6] == crate::object::ENCODING_ZSTD => MAX_OBJECT_SIZE,
                    None => LARGE_FILE,
                };
                self.bound = crate::object::stored_bound(&self.head, limit);
            }
        }
        self.written += buf.len() as u64;
        if self.written > self.bound {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "more bytes than the object it starts as can be stored in",
            ));
        }
        self.file.write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// A loose object received into a temp file.
pub(crate) enum Received {
    /// The remote does not have it.
    Absent,
    /// A large blob, verified as a stream and installed: the bytes written.
    Installed(u64),
    /// Anything else, read back into memory for the caller to verify.
    Bytes(Vec<u8>),
}

/// Receives loose object `id` of the remote through a temp file in `local/tmp`: a large
/// whole blob is verified as a stream and installed create-only; anything else comes back in
/// memory (bounded by what its kind may take) for the usual verification.
pub(crate) fn receive_loose(store: &Store, remote: &Remote, id: &ObjectId) -> Result<Received> {
    let layout = store.layout();
    let tmp = layout.new_temp("recv")?;
    let tmp_path = tmp.path().to_path_buf();
    let found = {
        let mut w = BoundedFile {
            file: std::io::BufWriter::with_capacity(1 << 20, tmp.as_file()),
            head: Vec::with_capacity(PEEK),
            written: 0,
            bound: MAX_OBJECT_SIZE,
        };
        let found = match remote.transport.get_to(&Entry::Loose(*id).key(), &mut w) {
            Ok(found) => found,
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::InvalidData => {
                return Err(Error::CorruptObject {
                    id: *id,
                    reason: source.to_string(),
                });
            }
            Err(_) if crate::signals::interrupted() => return Err(Error::Interrupted),
            Err(e) => return Err(remote.named(e)),
        };
        std::io::Write::flush(&mut w).map_err(|e| Error::io("cannot write", &tmp_path, e))?;
        found
    };
    if !found {
        return Ok(Received::Absent);
    }
    finish_received(store, id, tmp)
}

/// What [`receive_loose`] does with the temp file once the bytes are in it.
fn finish_received(store: &Store, id: &ObjectId, tmp: tempfile::NamedTempFile) -> Result<Received> {
    let tmp_path = tmp.path().to_path_buf();
    let mut head = vec![0u8; PEEK];
    let n = {
        use std::io::Read;
        let mut f = tmp
            .reopen()
            .map_err(|e| Error::io("cannot read", &tmp_path, e))?;
        f.read(&mut head)
            .map_err(|e| Error::io("cannot read", &tmp_path, e))?
    };
    head.truncate(n);
    if is_large_blob(&head) {
        return match store.verify_large_loose(id, &tmp_path) {
            Some(Ok(_)) => {
                tmp.as_file()
                    .sync_all()
                    .map_err(|e| Error::io("cannot write", &tmp_path, e))?;
                let len = tmp
                    .as_file()
                    .metadata()
                    .map_err(|e| Error::io("cannot read", &tmp_path, e))?
                    .len();
                store.prepare_write()?;
                let layout = store.layout();
                let created = layout.persist_new_file(tmp, &layout.object_path(id))?;
                Ok(Received::Installed(if created { len } else { 0 }))
            }
            Some(Err(e)) => Err(e),
            None => Err(Error::CorruptObject {
                id: *id,
                reason: "stored bytes do not match their checksum".into(),
            }),
        };
    }
    let bytes = read_regular(
        &tmp_path,
        crate::object::stored_bound(&head, LARGE_FILE.max(crate::object::MAX_STRUCTURED_SIZE)),
    )
    .map_err(|e| Error::io("cannot read", &tmp_path, e))?;
    Ok(Received::Bytes(bytes))
}

/// Installs a large blob received in memory (a small file that declares a large content) by
/// way of a temp file, verified as a stream.
fn install_large_bytes(store: &Store, id: &ObjectId, bytes: &[u8]) -> Result<u64> {
    let tmp = store.layout().temp_file("recv", bytes)?;
    match finish_received(store, id, tmp)? {
        Received::Installed(n) => Ok(n),
        _ => Err(Error::CorruptObject {
            id: *id,
            reason: "not the large blob it declares".into(),
        }),
    }
}

fn reason(e: &Error) -> String {
    match e {
        Error::MissingObject { id } => {
            format!(
                "its delta base {} has not reached the remote yet",
                id.short()
            )
        }
        Error::CorruptObject { reason, .. } => format!("corrupt or forged: {reason}"),
        e => e.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Version snapshots, for the report.

#[derive(Clone, Debug)]
struct VersionInfo {
    artifact: String,
    tree: ObjectId,
    number: Option<usize>,
    host: String,
    commits: Vec<ObjectId>,
}

impl VersionInfo {
    fn label(&self) -> String {
        match self.number {
            Some(n) => format!("v{n}"),
            None => format!("@{}", self.tree.short()),
        }
    }
}

fn versions_of(store: &Store) -> Result<Vec<VersionInfo>> {
    let mut out = Vec::new();
    for h in store.artifact_histories()? {
        let artifact = h.key.to_string();
        for v in &h.versions {
            out.push(VersionInfo {
                artifact: artifact.clone(),
                tree: v.tree,
                number: v.number,
                host: v.first().record.host.clone(),
                commits: v.commits.iter().map(|c| c.id).collect(),
            });
        }
    }
    Ok(out)
}

fn group(versions: &[&VersionInfo]) -> Vec<ArtifactVersions> {
    let mut by: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for v in versions {
        by.entry(&v.artifact).or_default().push(v.label());
    }
    by.into_iter()
        .map(|(a, versions)| ArtifactVersions {
            artifact: a.to_string(),
            versions,
        })
        .collect()
}

/// Fills the report's versions: `before` (this store before), `after` (this store after),
/// `remote_records` (the record ids the remote had marked before), `sent_records` (the
/// records whose markers this transfer sent to the remote).
fn report_versions(
    report: &mut TransferReport,
    before: &[VersionInfo],
    after: &[VersionInfo],
    remote_records: &HashSet<ObjectId>,
    sent_records: &HashSet<ObjectId>,
) {
    let had: HashMap<(&str, ObjectId), &VersionInfo> = before
        .iter()
        .map(|v| ((v.artifact.as_str(), v.tree), v))
        .collect();
    let on_remote = |v: &VersionInfo| v.commits.iter().any(|c| remote_records.contains(c));
    let new_here: Vec<&VersionInfo> = after
        .iter()
        .filter(|v| !had.contains_key(&(v.artifact.as_str(), v.tree)))
        .collect();
    let new_there: Vec<&VersionInfo> = after
        .iter()
        .filter(|v| !on_remote(v) && v.commits.iter().any(|c| sent_records.contains(c)))
        .collect();
    report.new_here = group(&new_here);
    report.new_there = group(&new_there);
    // Versions made apart on both sides: where what arrived is numbered before versions this
    // store had, those were renumbered (numbers follow commit time; ids never change).
    // (Numbers withheld now — the artifact incomplete — are not a renumbering: nothing is said.)
    let renumbered: Vec<&VersionInfo> = after
        .iter()
        .filter(|v| {
            had.get(&(v.artifact.as_str(), v.tree)).is_some_and(|old| {
                old.number.is_some() && v.number.is_some() && old.number != v.number
            })
        })
        .collect();
    let artifacts: BTreeSet<&str> = renumbered.iter().map(|v| v.artifact.as_str()).collect();
    for a in artifacts {
        let mut versions: Vec<&VersionInfo> = new_here
            .iter()
            .chain(renumbered.iter())
            .filter(|v| v.artifact == a)
            .copied()
            .collect();
        versions.sort_by_key(|v| (v.number, v.tree));
        report.concurrent.push(ConcurrentVersions {
            artifact: a.to_string(),
            versions: versions
                .into_iter()
                .map(|v| ConcurrentVersion {
                    version: v.label(),
                    host: v.host.clone(),
                    was: had
                        .get(&(v.artifact.as_str(), v.tree))
                        .map(|old| old.label())
                        .filter(|l| *l != v.label()),
                })
                .collect(),
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Reading the remote.

const FORMAT_PREFIX: &str = "codever-store-format ";

/// The remote's format number; `None` when it has no `format` file.
pub(crate) fn remote_format(remote: &Remote) -> Result<Option<u32>> {
    let Some(bytes) = remote
        .transport
        .get("format")
        .map_err(|e| remote.named(e))?
    else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&bytes);
    let n = text
        .trim()
        .strip_prefix(FORMAT_PREFIX)
        .and_then(|n| n.trim().parse::<u32>().ok())
        .ok_or_else(|| {
            remote.error(
                RemoteFailure::NotAStore,
                format!("its `format` file says {:?}", text.trim()),
            )
        })?;
    if n > crate::store::FORMAT {
        return Err(remote.error(
            RemoteFailure::NewerFormat,
            format!("format {n}; this codever reads {}", crate::store::FORMAT),
        ));
    }
    Ok(Some(n))
}

/// Every file of the remote, as entries with sizes; also refreshes the cache's keys. What is
/// not a regular file where a store has files (a link, a directory or FIFO named as a marker) is
/// named in `report` as refused and left out.
fn list_remote(
    remote: &Remote,
    cache: &mut RemoteCache,
    report: &mut TransferReport,
) -> Result<BTreeMap<Entry, u64>> {
    let mut out = BTreeMap::new();
    let mut keys = BTreeSet::new();
    for prefix in PREFIXES {
        for f in remote.transport.list(prefix).map_err(|e| remote.named(e))? {
            if f.not_a_file {
                // A marker holds nothing but its name: one planted as a directory or link still
                // says its record is marked there, and dropping it would renumber the others.
                let marker = match Entry::parse(&f.key) {
                    Some(e @ Entry::Marker(..)) => Some(e),
                    _ => None,
                };
                report.refused.push(Refused {
                    reason: if marker.is_some() {
                        "not a regular file (a link, or a directory or FIFO where a marker goes): \
                         never read, taken as the marker its name is; the remote needs repair"
                    } else {
                        "not a regular file (a link, or a directory or FIFO where a file goes): \
                         never read"
                    }
                    .into(),
                    key: f.key,
                });
                if let Some(e) = marker {
                    out.insert(e, 0);
                }
                continue;
            }
            if let Some(entry) = Entry::parse(&f.key) {
                keys.insert(f.key);
                out.insert(entry, f.size);
            }
        }
    }
    cache.keys = keys;
    cache.loaded = true;
    Ok(out)
}

/// Data prefixes: what a push must never wrongly believe the remote holds.
const DATA_PREFIXES: [&str; 2] = ["packs/", "objects/"];

/// What a push without `--full` takes the remote to hold: its data files as listed now (few: a
/// push packs its loose objects) and the markers the cache remembers. `None` when a data file the
/// cache remembers is gone (the remote was wiped, re-created or restored from an older copy):
/// then nothing the cache says can be trusted, and the caller lists everything.
fn list_data(remote: &Remote, cache: &mut RemoteCache) -> Result<Option<BTreeMap<Entry, u64>>> {
    let mut out = BTreeMap::new();
    let mut keys = BTreeSet::new();
    for prefix in DATA_PREFIXES {
        for f in remote.transport.list(prefix).map_err(|e| remote.named(e))? {
            if f.not_a_file {
                continue;
            }
            if let Some(entry) = Entry::parse(&f.key) {
                keys.insert(f.key);
                out.insert(entry, f.size);
            }
        }
    }
    let cached_data = cache
        .keys
        .iter()
        .filter(|k| DATA_PREFIXES.iter().any(|p| k.starts_with(p)));
    if cached_data.clone().any(|k| !keys.contains(k)) {
        return Ok(None);
    }
    let markers: Vec<String> = cache
        .keys
        .iter()
        .filter(|k| !DATA_PREFIXES.iter().any(|p| k.starts_with(p)))
        .cloned()
        .collect();
    for k in &markers {
        if let Some(e) = Entry::parse(k) {
            out.insert(e, 0);
        }
    }
    keys.extend(markers);
    cache.keys = keys;
    Ok(Some(out))
}

fn marker_stage(dir: &MarkerDir) -> u8 {
    match dir {
        MarkerDir::Run(_) => 0,
        MarkerDir::Ref(..) => 1,
        MarkerDir::Renames => 2,
    }
}

fn chunks<T: Clone>(items: &[T], n: usize) -> Vec<Vec<T>> {
    items.chunks(n.max(1)).map(<[T]>::to_vec).collect()
}

/// Small loose objects a pull fetches together in memory: at most this many bytes (as listed)
/// in one batch, and at most [`PULL_BATCH_FILES`] files.
const PULL_BATCH_BYTES: u64 = 64 << 20;
const PULL_BATCH_FILES: usize = 512;
/// Loose objects a push packs together: at most this many bytes (stored) in one pack.
const PUSH_PACK_BYTES: u64 = 8 << 20;

/// `items` in batches of at most `max_items` items and `max_bytes` of `size` (an item larger
/// than that is a batch of its own), so what a batch holds in memory is bounded.
fn batches<T: Copy>(
    items: &[T],
    size: impl Fn(&T) -> u64,
    max_items: usize,
    max_bytes: u64,
) -> Vec<Vec<T>> {
    let mut out: Vec<Vec<T>> = Vec::new();
    let mut bytes = 0u64;
    for item in items {
        let n = size(item);
        match out.last_mut() {
            Some(last) if last.len() < max_items && bytes.saturating_add(n) <= max_bytes => {
                last.push(*item);
                bytes = bytes.saturating_add(n);
            }
            _ => {
                out.push(vec![*item]);
                bytes = n;
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Push.

/// Opens remote `name` (the default when `None`) with its cache, and an empty report of a
/// transfer with it.
fn begin(
    store: &Store,
    name: Option<&str>,
    progress: Option<crate::capture::Progress>,
) -> Result<(Remote, RemoteCache, TransferReport)> {
    let remote = open_remote(store, name)?.with_progress(progress);
    let cache = RemoteCache::load(store, &remote.name);
    let report = TransferReport {
        remote: remote.name.clone(),
        url: remote.url.clone(),
        ..Default::default()
    };
    Ok((remote, cache, report))
}

/// Sends every file of `store` that remote `name` (the default when `None`) lacks: packs, the
/// loose blobs and trees as one new pack, records, then markers. `full` lists the remote first
/// instead of trusting the cache of what it holds.
pub fn push(store: &Store, name: Option<&str>, opts: &PushOptions) -> Result<TransferReport> {
    let full = opts.full;
    let (remote, mut cache, mut report) = begin(store, name, opts.progress.clone())?;
    let (remote_records, sent_records) = push_with(store, &remote, &mut cache, full, &mut report)?;
    let now = versions_of(store)?;
    report_versions(&mut report, &now, &now, &remote_records, &sent_records);
    report.requests = remote.transport.requests();
    Ok(report)
}

/// Pushes; returns the record ids the remote had marked under `refs/` before, and those whose
/// artifact markers this push sent.
type PushedRecords = (HashSet<ObjectId>, HashSet<ObjectId>);

fn push_with(
    store: &Store,
    remote: &Remote,
    cache: &mut RemoteCache,
    full: bool,
    report: &mut TransferReport,
) -> Result<PushedRecords> {
    let t: &dyn super::Transport = remote.transport.as_ref();
    let named = |e| remote.named(e);
    let format = remote_format(remote)?;
    // A first push makes the folder (and, for `PROJECT/.codever`, the project's), not the
    // folders above it: a missing parent there is a mistyped path, not a place to create.
    let made_from = |dir: &std::path::Path| -> Option<std::path::PathBuf> {
        let base = match dir.file_name() {
            Some(n) if n == crate::store::STORE_DIR_NAME => dir.parent()?,
            _ => dir,
        };
        base.parent().map(std::path::Path::to_path_buf)
    };
    if format.is_none()
        && let Some(dir) = t.folder()
        && !dir.is_dir()
        && !made_from(dir).is_some_and(|p| p.is_dir())
    {
        return Err(remote.error(
            RemoteFailure::NotAStore,
            format!(
                "neither {} nor the folder it would be made in exists: is it mounted, is the path \
                 right?",
                dir.display()
            ),
        ));
    }
    let there = if full || !cache.loaded || format.is_none() {
        list_remote(remote, cache, report)?
    } else {
        match list_data(remote, cache)? {
            Some(there) => there,
            None => list_remote(remote, cache, report)?,
        }
    };
    // Another machine's first push writes `format` before any other file: if its files were
    // listed, its `format` is there by now (two first pushes at once must both go through).
    let format = match format {
        None if !there.is_empty() => remote_format(remote)?,
        f => f,
    };
    match format {
        None => {
            if !there.is_empty() {
                return Err(remote.error(
                    RemoteFailure::NotAStore,
                    "it holds store files but no `format` file",
                ));
            }
            let line = format!("{FORMAT_PREFIX}{}\n", store.format().max(2));
            t.put_new("format", line.as_bytes()).map_err(named)?;
        }
        Some(n) if n < store.format() => {
            // Records only newer builds read may follow: the number rises first.
            let line = format!("{FORMAT_PREFIX}{}\n", store.format());
            t.put_replace("format", line.as_bytes()).map_err(named)?;
        }
        Some(_) => {}
    }
    let remote_records: HashSet<ObjectId> = there
        .keys()
        .filter_map(|e| match e {
            Entry::Marker(MarkerDir::Ref(..), id) => Some(*id),
            _ => None,
        })
        .collect();
    let here = local_entries(store)?;

    // What the remote holds: in its packs (from the indexes, cached, else fetched once) and
    // loose.
    let mut remote_ids: HashSet<ObjectId> = HashSet::new();
    for e in there.keys() {
        match e {
            Entry::Index(p) => {
                let sizes = there
                    .get(&Entry::Pack(*p))
                    .zip(there.get(e))
                    .filter(|(pack_size, _)| **pack_size > 0)
                    .map(|(pack_size, idx_size)| (*idx_size, *pack_size));
                if let Ok(entries) = cache.remote_index(store, remote, p, sizes)? {
                    remote_ids.extend(entries.into_iter().map(|(id, _, _)| id));
                }
            }
            Entry::Loose(id) => {
                remote_ids.insert(*id);
            }
            _ => {}
        }
    }
    let mut sent_keys = Vec::new();

    // 1-2. Data: packs and the loose blobs and trees, in rounds (see `push_data`).
    let (records, available) = push_data(
        store,
        remote,
        cache,
        &here,
        &there,
        remote_ids,
        report,
        &mut sent_keys,
    )?;

    // A version whose data neither side has (this store pulled its records only) is not sent:
    // the remote would list a version nobody can read from it.
    let lacking = lacking_data(store, &here, &there, &available)?;
    let records: Vec<(String, Vec<u8>)> = records
        .into_iter()
        .filter(|(key, _)| match Entry::parse(key) {
            Some(Entry::Loose(id)) => !lacking.contains_key(&id),
            _ => true,
        })
        .collect();
    for (e, missing) in here.keys().filter_map(|e| match e {
        Entry::Marker(MarkerDir::Ref(..), id) if !there.contains_key(e) => {
            lacking.get(id).map(|m| (e, m))
        }
        _ => None,
    }) {
        report.refused.push(Refused {
            key: e.key(),
            reason: format!(
                "not sent: this store lacks the data of that version (object {} and maybe more: \
                 its records were pulled without it); run `codever pull` from a remote that has \
                 it, then push again",
                missing.short()
            ),
        });
    }

    // 3. Records.
    for group in chunks(&records, 256) {
        send(t, &remote.meter, &group, report, &mut sent_keys).map_err(named)?;
    }
    t.flush().map_err(named)?;

    // A marker whose record this store does not hold (not yet synced here, or damaged here) is
    // not sent: named, so that a push never passes on an artifact with a version silently left
    // out (the remote's readers would number the others without it).
    for e in here.keys() {
        if let Entry::Marker(MarkerDir::Ref(..) | MarkerDir::Run(_), id) = e
            && !there.contains_key(e)
            && !store.has_object_here(id)
        {
            report.refused.push(Refused {
                key: e.key(),
                reason: format!(
                    "not sent: this store lacks its record {} (not yet synced here); pull it \
                     from where it is, then push again",
                    id.short()
                ),
            });
        }
    }
    // 4. Markers whose record is here (a marker never goes before its record), runs' first,
    // artifacts' next, renames last: the order of a commit's own publication.
    let mut sent_records = HashSet::new();
    for stage in 0..3 {
        let markers: Vec<(String, Vec<u8>)> = here
            .keys()
            .filter_map(|e| match e {
                Entry::Marker(dir, id)
                    if marker_stage(dir) == stage
                        && !there.contains_key(e)
                        && store.has_object_here(id)
                        && !lacking.contains_key(id) =>
                {
                    if let MarkerDir::Ref(..) = dir {
                        sent_records.insert(*id);
                    }
                    Some((e.key(), Vec::new()))
                }
                _ => None,
            })
            .collect();
        for group in chunks(&markers, 1024) {
            send(t, &remote.meter, &group, report, &mut sent_keys).map_err(named)?;
        }
        t.flush().map_err(named)?;
    }
    cache.keys.extend(sent_keys);
    cache.save(store);
    remote.meter.finish();
    Ok((remote_records, sent_records))
}

/// Loose records to send: their keys and bytes.
type Records = Vec<(String, Vec<u8>)>;

/// A local pack the remote lacks (or lacks the index of).
struct PackToSend {
    id: ObjectId,
    /// Whether the pack file itself must be sent (else only its index).
    send_pack: bool,
    idx: Vec<u8>,
    objects: Vec<ObjectId>,
    /// Delta bases of its objects that are not in it.
    bases: HashSet<ObjectId>,
}

/// A loose blob or tree the remote lacks: its stored size and its delta base (its bytes are
/// read again when it is sent, so a push holds at most one pack's worth of them).
type LooseToSend = (ObjectId, u64, Option<ObjectId>);

/// How many of `objects` each one's delta chain goes through before it reaches an object
/// outside them (0: its base is not among them, or it is whole).
fn generations(objects: &[LooseToSend]) -> HashMap<ObjectId, usize> {
    let base: HashMap<ObjectId, Option<ObjectId>> =
        objects.iter().map(|(id, _, b)| (*id, *b)).collect();
    let mut out: HashMap<ObjectId, usize> = HashMap::new();
    for (id, _, _) in objects {
        // Walk down to a known generation or the chain's end (a forged cycle ends at the
        // length of the list), then number the walk back up.
        let mut walk = vec![*id];
        let mut at = *id;
        let start = loop {
            if let Some(g) = out.get(&at) {
                break *g + 1;
            }
            match base.get(&at).copied().flatten() {
                Some(b) if base.contains_key(&b) && walk.len() <= objects.len() => {
                    walk.push(b);
                    at = b;
                }
                _ => break 0,
            }
        };
        // `walk` ends with the object whose generation is `start` - 1 when it was known, or
        // `start` (0) when it is the chain's end.
        let known = out.contains_key(&at);
        for (g, o) in (start..).zip(walk.iter().rev().skip(usize::from(known))) {
            out.entry(*o).or_insert(g);
        }
    }
    out
}

/// The delta base named in the stored bytes of `id`, if it is a delta.
fn base_of(id: &ObjectId, bytes: &[u8]) -> Option<ObjectId> {
    parse_header(*id, bytes)
        .ok()
        .and_then(|h| h.base.map(|(b, _)| b))
}

/// Sends the data the remote lacks: large blobs (never deltas, never bases), then rounds of
/// packs and loose blobs and trees. A round holds what can be read with what the remote
/// already has: the packs whose delta bases are there, and the loose objects whose bases are
/// there or among themselves (packed into one new pack, sorted by id, so a push killed and run
/// again builds the same pack). Each round's packs go first, then, once flushed, their indexes
/// (an index is what makes a pack visible): so a push killed at any moment never leaves the
/// remote a visible object whose delta base is not there. Returns the loose records to send and
/// the objects the remote has now.
#[allow(clippy::too_many_arguments)]
fn push_data(
    store: &Store,
    remote: &Remote,
    cache: &mut RemoteCache,
    here: &BTreeMap<Entry, u64>,
    there: &BTreeMap<Entry, u64>,
    mut available: HashSet<ObjectId>,
    report: &mut TransferReport,
    sent_keys: &mut Vec<String>,
) -> Result<(Records, HashSet<ObjectId>)> {
    let t: &dyn super::Transport = remote.transport.as_ref();
    let named = |e| remote.named(e);
    let layout = store.layout();

    // Local packs whose index the remote lacks, with the bases their objects need.
    let mut packs: Vec<PackToSend> = Vec::new();
    let mut in_packs: HashSet<ObjectId> = HashSet::new();
    for e in here.keys() {
        let Entry::Pack(p) = e else { continue };
        if there.contains_key(&Entry::Index(*p)) {
            continue;
        }
        let idx_path = layout.pack_file(p, "idx");
        let idx = read_regular(&idx_path, pack::MAX_INDEX_FILE)
            .map_err(|e| Error::io("cannot read", &idx_path, e))?;
        let entries = pack::parse_index(&idx, p)?;
        let pack_path = layout.pack_file(p, "pack");
        let objects: Vec<ObjectId> = entries.iter().map(|(id, _, _)| *id).collect();
        let own: HashSet<ObjectId> = objects.iter().copied().collect();
        let mut bases = HashSet::new();
        // One object in memory at a time: a pack may hold gigabytes. One that cannot be read
        // is sent as it is (its receiver judges it).
        if let Ok(file) = crate::store::open_regular(&pack_path) {
            for (id, offset, len) in &entries {
                let loc = pack::Location {
                    pack: 0,
                    offset: *offset,
                    len: *len,
                };
                if let Ok(b) = pack::read_at(&pack_path, Some(&file), loc, MAX_OBJECT_SIZE)
                    && let Some(base) = base_of(id, &b)
                    && !own.contains(&base)
                {
                    bases.insert(base);
                }
            }
        }
        in_packs.extend(objects.iter().copied());
        packs.push(PackToSend {
            id: *p,
            send_pack: !there.contains_key(e),
            idx,
            objects,
            bases,
        });
    }

    // Loose objects the remote lacks: blobs and trees to pack, large blobs apart, records after.
    let mut loose: Vec<LooseToSend> = Vec::new();
    let mut large = Vec::new();
    let mut records = Vec::new();
    for (e, size) in here {
        let Entry::Loose(id) = e else { continue };
        if available.contains(id) || in_packs.contains(id) {
            continue;
        }
        let path = layout.object_path(id);
        if *size >= LARGE_FILE {
            large.push(*id);
            continue;
        }
        let bytes =
            read_regular(&path, MAX_OBJECT_SIZE).map_err(|e| Error::io("cannot read", &path, e))?;
        if is_large_blob(&bytes) {
            // A large blob that compresses well: still sent loose, never packed, so a receiver
            // verifies it as a stream.
            large.push(*id);
            continue;
        }
        match bytes.get(5).and_then(|b| Kind::from_byte(*b)) {
            Some(Kind::Blob | Kind::Tree) => {
                let base = base_of(id, &bytes);
                loose.push((*id, bytes.len() as u64, base));
            }
            _ => records.push((e.key(), bytes)),
        }
    }

    let large_sizes: Vec<u64> = large
        .iter()
        .map(|id| {
            std::fs::metadata(layout.object_path(id))
                .map(|m| m.len())
                .unwrap_or(0)
        })
        .collect();
    remote.meter.add_total(
        large_sizes.iter().sum::<u64>()
            + packs
                .iter()
                .map(|p| {
                    p.idx.len() as u64
                        + if p.send_pack {
                            here.get(&Entry::Pack(p.id)).copied().unwrap_or(0)
                        } else {
                            0
                        }
                })
                .sum::<u64>()
            + loose.iter().map(|(_, len, _)| len + 4).sum::<u64>()
            + records.iter().map(|(_, b)| b.len() as u64).sum::<u64>(),
    );
    for (id, len) in large.into_iter().zip(large_sizes) {
        if crate::signals::interrupted() {
            return Err(Error::Interrupted);
        }
        remote.meter.advance(len);
        // Streamed from the file: a large blob is never held in memory whole.
        let path = layout.object_path(&id);
        let key = Entry::Loose(id).key();
        if t.put_file(&key, &path).map_err(named)? {
            report.sent.files += 1;
            report.sent.bytes += len;
        }
        sent_keys.push(key);
    }
    t.flush().map_err(named)?;

    while !packs.is_empty() || !loose.is_empty() {
        if crate::signals::interrupted() {
            return Err(Error::Interrupted);
        }
        let (mut ready_packs, waiting_packs): (Vec<PackToSend>, Vec<PackToSend>) = packs
            .into_iter()
            .partition(|p| p.bases.iter().all(|b| available.contains(b)));
        packs = waiting_packs;
        // Loose objects whose base is there or among the ready ones (chains, to a fixpoint).
        let mut ready_ids: HashSet<ObjectId> = HashSet::new();
        loop {
            let before = ready_ids.len();
            for (id, _, base) in &loose {
                if !ready_ids.contains(id)
                    && base.is_none_or(|b| available.contains(&b) || ready_ids.contains(&b))
                {
                    ready_ids.insert(*id);
                }
            }
            if ready_ids.len() == before {
                break;
            }
        }
        let (mut ready_loose, waiting_loose): (Vec<LooseToSend>, Vec<LooseToSend>) = loose
            .into_iter()
            .partition(|(id, _, _)| ready_ids.contains(id));
        loose = waiting_loose;
        if ready_packs.is_empty() && ready_loose.is_empty() {
            // Bases that are nowhere to be sent first (this store lacks them too, or copies
            // merged from two machines chain into each other): the rest goes as it is.
            ready_packs = std::mem::take(&mut packs);
            ready_loose = std::mem::take(&mut loose);
        }
        let mut idxs: Vec<(String, Vec<u8>)> = Vec::new();
        // A pack damaged here is never sent, nor its index (puts are create-only: a damaged copy
        // on the remote could never be replaced by a sound one from another machine).
        let mut damaged = HashSet::new();
        // Small packs four at a time through memory, larger ones streamed from their files.
        let (small, big): (Vec<&PackToSend>, Vec<&PackToSend>) =
            ready_packs.iter().filter(|p| p.send_pack).partition(|p| {
                here.get(&Entry::Pack(p.id))
                    .is_some_and(|n| *n < STREAM_FROM)
            });
        for group in small.chunks(4) {
            let mut items: Vec<(String, Vec<u8>)> = Vec::new();
            for p in group {
                let path = layout.pack_file(&p.id, "pack");
                let bytes = read_regular(&path, STREAM_FROM)
                    .map_err(|e| Error::io("cannot read", &path, e))?;
                if blake3::hash(&bytes).as_bytes() == p.id.as_bytes() {
                    items.push((Entry::Pack(p.id).key(), bytes));
                } else {
                    damaged.insert(p.id);
                }
            }
            send(t, &remote.meter, &items, report, sent_keys).map_err(named)?;
        }
        let big: Vec<&PackToSend> = big
            .into_iter()
            .filter(|p| {
                let sound = holds_pack(&layout.pack_file(&p.id, "pack"), &p.id);
                if !sound {
                    damaged.insert(p.id);
                }
                sound
            })
            .collect();
        for id in &damaged {
            report.refused.push(Refused {
                key: Entry::Pack(*id).key(),
                reason: "damaged here (its bytes do not hash to its name): not sent; \
                         `codever fsck` says more"
                    .into(),
            });
        }
        for p in big {
            let len = here.get(&Entry::Pack(p.id)).copied().unwrap_or(0);
            remote.meter.advance(len);
            let key = Entry::Pack(p.id).key();
            if t.put_file(&key, &layout.pack_file(&p.id, "pack"))
                .map_err(named)?
            {
                report.sent.files += 1;
                report.sent.bytes += len;
            }
            sent_keys.push(key);
        }
        ready_packs.retain(|p| !damaged.contains(&p.id));
        for p in &mut ready_packs {
            idxs.push((Entry::Index(p.id).key(), std::mem::take(&mut p.idx)));
            available.extend(p.objects.iter().copied());
        }
        let read_loose = |id: &ObjectId| {
            let path = layout.object_path(id);
            read_regular(&path, MAX_OBJECT_SIZE).map_err(|e| Error::io("cannot read", &path, e))
        };
        if ready_loose.len() >= 2 {
            // Packs of at most PUSH_PACK_BYTES, read when built: a push's memory is bounded
            // whatever the number and size of the loose objects it sends. Each object goes
            // after its delta base (by generation: 0 when the base is on the remote), so a pack
            // needs only what earlier packs hold — never a cycle of packs a receiver could not
            // verify one at a time; by id within a generation, so a push killed and run again
            // builds the same packs.
            let generation = generations(&ready_loose);
            ready_loose.sort_by_key(|(id, _, _)| (generation.get(id).copied().unwrap_or(0), *id));
            for part in batches(&ready_loose, |(_, len, _)| *len, 20_000, PUSH_PACK_BYTES) {
                let part: Vec<(ObjectId, Vec<u8>)> = part
                    .iter()
                    .map(|(id, _, _)| read_loose(id).map(|b| (*id, b)))
                    .collect::<Result<_>>()?;
                let (pack_id, pack_bytes, idx_bytes) = pack::build_pack(&part)?;
                let ids: Vec<ObjectId> = part.iter().map(|(id, _)| *id).collect();
                drop(part);
                send(
                    t,
                    &remote.meter,
                    &[(Entry::Pack(pack_id).key(), pack_bytes)],
                    report,
                    sent_keys,
                )
                .map_err(named)?;
                let _ = cache.keep_index(store, &pack_id, &idx_bytes);
                idxs.push((Entry::Index(pack_id).key(), idx_bytes));
                available.extend(ids);
            }
        } else {
            let items: Vec<(String, Vec<u8>)> = ready_loose
                .into_iter()
                .map(|(id, _, _)| {
                    available.insert(id);
                    read_loose(&id).map(|b| (Entry::Loose(id).key(), b))
                })
                .collect::<Result<_>>()?;
            send(t, &remote.meter, &items, report, sent_keys).map_err(named)?;
        }
        // The packs are durable before the indexes that make them visible.
        t.flush().map_err(named)?;
        for group in idxs.chunks(64) {
            send(t, &remote.meter, group, report, sent_keys).map_err(named)?;
        }
        t.flush().map_err(named)?;
    }
    Ok((records, available))
}

/// The commit records of this store, not marked on the remote yet, whose data is neither here
/// nor on the remote (`available`): each with the first object found missing. Trees are walked
/// once however many versions share them.
fn lacking_data(
    store: &Store,
    here: &BTreeMap<Entry, u64>,
    there: &BTreeMap<Entry, u64>,
    available: &HashSet<ObjectId>,
) -> Result<HashMap<ObjectId, ObjectId>> {
    let has = |id: &ObjectId| available.contains(id) || store.has_object_here(id);
    let mut complete: HashSet<ObjectId> = HashSet::new();
    let mut out = HashMap::new();
    for e in here.keys() {
        let Entry::Marker(MarkerDir::Ref(..) | MarkerDir::Run(_), id) = e else {
            continue;
        };
        if there.contains_key(e) || out.contains_key(id) || !store.has_object_here(id) {
            continue;
        }
        let Ok((Kind::Commit, raw)) = store.read_object(id) else {
            continue;
        };
        let Ok(commit) =
            <crate::object::CommitRecord as crate::object::Structured>::decode(*id, &raw)
        else {
            continue;
        };
        // Trees walked for this version join `complete` only when nothing under them is missing.
        let mut walked = Vec::new();
        let mut stack = vec![(commit.tree, 0usize)];
        let mut missing = None;
        while let Some((t, depth)) = stack.pop() {
            if complete.contains(&t) {
                continue;
            }
            if !store.has_object_here(&t) {
                if !available.contains(&t) {
                    missing = Some(t);
                    break;
                }
                // On the remote already: what it names was sent with it.
                continue;
            }
            let tree: crate::object::Tree = match store.read_structured(&t) {
                Ok(tree) if crate::tree::validate_tree(t, &tree, depth).is_ok() => tree,
                _ => {
                    missing = Some(t);
                    break;
                }
            };
            walked.push(t);
            for entry in tree.entries {
                match entry.node {
                    crate::object::Node::Dir(d) => stack.push((d, depth + 1)),
                    crate::object::Node::File(meta) if !has(&meta.id) => {
                        missing = Some(meta.id);
                        break;
                    }
                    crate::object::Node::File(_) => {}
                }
            }
            if missing.is_some() {
                break;
            }
        }
        if missing.is_none() {
            complete.extend(walked);
        }
        if let Some(m) = missing {
            out.insert(*id, m);
        }
    }
    Ok(out)
}

/// Create-only puts of `items`, counted; keys already there count as done (not sent).
fn send(
    t: &dyn super::Transport,
    meter: &super::Meter,
    items: &[(String, Vec<u8>)],
    report: &mut TransferReport,
    sent_keys: &mut Vec<String>,
) -> Result<()> {
    for ((key, bytes), result) in items.iter().zip(t.put_many(items)) {
        if result? {
            report.sent.add(bytes.len());
        }
        meter.advance(bytes.len() as u64);
        sent_keys.push(key.clone());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Pull.

/// Fetches every file of remote `name` (the default when `None`) that `store` lacks, verified
/// before it becomes visible: packs, loose objects, then markers whose record arrived.
pub fn pull(store: &Store, name: Option<&str>, opts: &PullOptions) -> Result<TransferReport> {
    let (remote, mut cache, mut report) = begin(store, name, opts.progress.clone())?;
    // An unmounted share or a mistyped path is not an empty remote (a sync's push may make the
    // folder; a pull has nothing to take from one that is not there).
    if let Some(dir) = remote.transport.folder()
        && !dir.is_dir()
    {
        return Err(remote.error(
            RemoteFailure::NotAStore,
            format!(
                "{} does not exist: is it mounted, is the path right?",
                dir.display()
            ),
        ));
    }
    let before = versions_of(store)?;
    let remote_records = pull_with(store, &remote, &mut cache, opts, &mut report)?;
    let after = versions_of(store)?;
    report_versions(
        &mut report,
        &before,
        &after,
        &remote_records,
        &HashSet::new(),
    );
    report.requests = remote.transport.requests();
    Ok(report)
}

/// Pulls; returns the record ids the remote had marked under `refs/`.
fn pull_with(
    store: &Store,
    remote: &Remote,
    cache: &mut RemoteCache,
    opts: &PullOptions,
    report: &mut TransferReport,
) -> Result<HashSet<ObjectId>> {
    let named = |e| remote.named(e);
    let mut format = remote_format(remote)?;
    let there = list_remote(remote, cache, report)?;
    if format.is_none() && !there.is_empty() {
        // A first push writes `format` before any other file: one that began after `format`
        // was read has written it by now.
        format = remote_format(remote)?;
    }
    let remote_records: HashSet<ObjectId> = there
        .keys()
        .filter_map(|e| match e {
            Entry::Marker(MarkerDir::Ref(..), id) => Some(*id),
            _ => None,
        })
        .collect();
    let Some(format) = format else {
        if there.is_empty() {
            cache.save(store);
            return Ok(remote_records);
        }
        return Err(remote.error(
            RemoteFailure::NotAStore,
            "it holds store files but no `format` file",
        ));
    };
    // Records only newer builds read may come: the number rises before they are written.
    store.require_format(format.max(crate::store::WRITE_FORMAT))?;
    let data = !(opts.metadata_only || opts.only.is_some());
    if data {
        pull_packs(store, remote, cache, &there, report)?;
        let loose: Vec<(ObjectId, u64)> = there
            .iter()
            .filter_map(|(e, size)| match e {
                Entry::Loose(id) if !store.has_object_here(id) => Some((*id, *size)),
                _ => None,
            })
            .collect();
        pull_loose(store, remote, &loose, report)?;
    } else {
        // Only the records the markers name.
        let wanted: BTreeSet<ObjectId> = there
            .keys()
            .filter_map(|e| match e {
                Entry::Marker(_, id) if !store.has_object_here(id) => Some(*id),
                _ => None,
            })
            .collect();
        let loose: Vec<(ObjectId, u64)> = wanted
            .iter()
            .filter_map(|id| there.get(&Entry::Loose(*id)).map(|size| (*id, *size)))
            .collect();
        pull_loose(store, remote, &loose, report)?;
        // Records kept in a pack on the remote (rare): one object at a time.
        let fetcher = super::lazy::RemoteSource::new(remote, cache);
        for id in wanted.iter().filter(|id| !store.has_object_here(id)) {
            match fetcher.fetch_into(store, id) {
                Ok(Some(n)) => report.received.add(n),
                Ok(None) => {}
                Err(Error::CorruptObject { reason, .. }) => report.refused.push(Refused {
                    key: Entry::Loose(*id).key(),
                    reason: format!("corrupt or forged: {reason}"),
                }),
                Err(e) => return Err(named(e)),
            }
        }
    }
    // The artifact markers this pull brings, for the data check below.
    let layout = store.layout();
    let new_refs: BTreeMap<Entry, u64> = there
        .iter()
        .filter(|(e, _)| match e {
            Entry::Marker(MarkerDir::Ref(t, n), id) => {
                !layout.artifact_dir(t, n).join(id.to_hex()).is_file()
            }
            _ => false,
        })
        .map(|(e, s)| (e.clone(), *s))
        .collect();
    pull_markers(store, &there, report)?;
    if data {
        // A version whose data the remote lacks (its pack or index gone, or a pack waiting) is
        // listed here, as on the remote, but cannot be checked out yet: said, not left silent.
        let lacking = lacking_data(store, &new_refs, &BTreeMap::new(), &HashSet::new())?;
        for (e, missing) in new_refs.keys().filter_map(|e| match e {
            Entry::Marker(_, id) => lacking.get(id).map(|m| (e, m)),
            _ => None,
        }) {
            report.waiting.push(Refused {
                key: e.key(),
                reason: format!(
                    "its data is not on the remote (object {} and maybe more): the version is \
                     listed as not yet synced until a pull brings it",
                    missing.short()
                ),
            });
        }
    }
    if let Some(spec) = &opts.only {
        pull_only(store, remote, cache, spec, report)?;
    }
    cache.save(store);
    remote.meter.finish();
    Ok(remote_records)
}

/// Fetches the remote's packs this store lacks, verifies every object in them, and installs
/// each pack (pack, then index) — or, when some objects are refused, a pack of the others.
fn pull_packs(
    store: &Store,
    remote: &Remote,
    cache: &mut RemoteCache,
    there: &BTreeMap<Entry, u64>,
    report: &mut TransferReport,
) -> Result<()> {
    let named = |e| remote.named(e);
    let layout = store.layout();
    let mut todo = Vec::new();
    for e in there.keys() {
        let Entry::Index(p) = e else { continue };
        if layout.pack_file(p, "idx").is_file() || cache.covered.contains(&e.key()) {
            continue;
        }
        let pack_key = Entry::Pack(*p).key();
        if !there.contains_key(&Entry::Pack(*p)) {
            // An index whose pack has not arrived on the remote (a copy under way), or is not
            // a regular file there: nothing to fetch yet, and said so.
            report.waiting.push(Refused {
                key: e.key(),
                reason: format!(
                    "not yet synced: its pack {pack_key} is not on the remote (not arrived yet, or \
                     not a regular file there)"
                ),
            });
            continue;
        }
        let sizes = there
            .get(&Entry::Pack(*p))
            .zip(there.get(e))
            .map(|(pack_size, idx_size)| (*idx_size, *pack_size));
        match cache.remote_index(store, remote, p, sizes)? {
            Ok(entries) => {
                if entries.iter().all(|(id, _, _)| store.has_object_here(id)) {
                    cache.covered.insert(e.key());
                } else {
                    todo.push((*p, entries));
                }
            }
            Err(reason) => report.refused.push(Refused {
                key: e.key(),
                reason: format!("{reason}; its pack {pack_key} was not fetched"),
            }),
        }
    }
    // A pack and its index (read above, or from the cache) are what a pull receives.
    let weight = |p: &ObjectId| {
        there.get(&Entry::Pack(*p)).copied().unwrap_or(0)
            + there.get(&Entry::Index(*p)).copied().unwrap_or(0)
    };
    remote
        .meter
        .add_total(todo.iter().map(|(p, _)| weight(p)).sum());
    // Packs whose objects need bases from packs later in the list, by the object they wait for.
    let mut waiting: HashMap<ObjectId, Vec<ReceivedPack>> = HashMap::new();
    for (p, entries) in todo {
        let key = Entry::Pack(p).key();
        // A pack is its 5-byte header and the objects its index places in it: a listed size
        // that differs is refused unread, and the download stops at that size.
        let expected = entries
            .iter()
            .map(|(_, offset, len)| offset.saturating_add(u64::from(*len)))
            .max()
            .unwrap_or(5)
            .max(5);
        let listed = there.get(&Entry::Pack(p)).copied().unwrap_or(0);
        if listed != expected {
            remote.meter.advance(weight(&p));
            report.refused.push(Refused {
                key,
                reason: format!(
                    "corrupt or forged: listed at {listed} bytes where its index places {expected} \
                     bytes of objects; not downloaded"
                ),
            });
            continue;
        }
        // Into a temp file, never into memory whole: a pack may hold gigabytes.
        let tmp = store.layout().new_temp("recv")?;
        let tmp_path = tmp.path().to_path_buf();
        let download = {
            let mut sink = PackSink {
                file: std::io::BufWriter::with_capacity(1 << 20, tmp.as_file()),
                hasher: blake3::Hasher::new(),
                head: Vec::with_capacity(5),
                written: 0,
                max: expected,
                local: None,
            };
            let got = remote.transport.get_to(&key, &mut sink).and_then(|found| {
                std::io::Write::flush(&mut sink)
                    .map_err(|e| Error::io("cannot write", &tmp_path, e))?;
                Ok(found.then(|| (sink.head.clone(), sink.hasher.finalize(), sink.written)))
            });
            match sink.local.take() {
                // This side failed (a full disk): named as this side, not as the remote.
                Some(e) if got.is_err() => Err(Error::io("cannot write", &tmp_path, e)),
                _ => got,
            }
        };
        remote.meter.advance(weight(&p));
        if crate::signals::interrupted() {
            // The temp file goes with `tmp`; what was installed before stays.
            return Err(Error::Interrupted);
        }
        let (head, hash, written) = match download {
            Ok(Some(got)) => got,
            Ok(None) => continue,
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::InvalidData => {
                report.refused.push(Refused {
                    key,
                    reason: format!("corrupt or forged: {source}"),
                });
                continue;
            }
            Err(e) => return Err(named(e)),
        };
        let received = match ReceivedPack::check(p, tmp, entries, (&head, hash, written))? {
            Ok(r) => r,
            Err(reason) => {
                report.refused.push(Refused { key, reason });
                continue;
            }
        };
        install_or_wait(store, received, &mut waiting, report)?;
    }
    // What still waits needs objects no received pack holds — not yet synced — or objects held
    // by packs that wait in turn. Following each pack's wait from pack to pack ends either at an
    // object no pack holds (waiting, rightly) or back at a pack already on the path: a cycle of
    // deltas across packs, forged or damaged, that no later transfer can complete.
    let never = cycle_objects(&waiting);
    for (_, packs) in waiting {
        for received in packs {
            install_pack(store, received, report, true, &never)?;
        }
    }
    Ok(())
}

/// The objects of the waiting packs (filed by the object each waits for) whose wait, followed
/// from pack to pack, comes back to a pack already passed: they can never be read.
fn cycle_objects(waiting: &HashMap<ObjectId, Vec<ReceivedPack>>) -> HashSet<ObjectId> {
    let mut waits_for: HashMap<ObjectId, ObjectId> = HashMap::new();
    let mut holder: HashMap<ObjectId, ObjectId> = HashMap::new();
    for (base, packs) in waiting {
        for r in packs {
            waits_for.insert(r.id, *base);
            for (id, _, _) in &r.entries {
                holder.insert(*id, r.id);
            }
        }
    }
    let mut dead: HashSet<ObjectId> = HashSet::new();
    for start in waits_for.keys() {
        let mut path = vec![*start];
        let mut at = *start;
        while let Some(next) = waits_for.get(&at).and_then(|base| holder.get(base)) {
            if dead.contains(next) || path.contains(next) {
                dead.extend(path);
                break;
            }
            path.push(*next);
            at = *next;
        }
    }
    waiting
        .values()
        .flatten()
        .filter(|r| dead.contains(&r.id))
        .flat_map(|r| r.entries.iter().map(|(id, _, _)| *id))
        .collect()
}

/// Installs `received`, then every pack that was waiting for an object it brought (and so on):
/// a chain of packs is installed in one pass whatever order they came in. A pack that waits is
/// filed under the object it waits for.
fn install_or_wait(
    store: &Store,
    received: ReceivedPack,
    waiting: &mut HashMap<ObjectId, Vec<ReceivedPack>>,
    report: &mut TransferReport,
) -> Result<()> {
    let mut queue = vec![received];
    while let Some(received) = queue.pop() {
        let brought: Vec<ObjectId> = received.entries.iter().map(|(id, _, _)| *id).collect();
        match install_pack(store, received, report, false, &HashSet::new())? {
            Installed::Waits(received, base) => waiting.entry(base).or_default().push(received),
            Installed::Done => {
                for id in brought {
                    if let Some(ready) = waiting.remove(&id) {
                        queue.extend(ready);
                    }
                }
            }
        }
    }
    Ok(())
}

/// What [`install_pack`] did with a received pack.
enum Installed {
    /// Installed, or refused (the report says which).
    Done,
    /// Nothing written: an object in it is a delta on this object, which is not here yet.
    Waits(ReceivedPack, ObjectId),
}

/// Verifies and installs one received pack, reading its objects from its temp file one at a
/// time. Gives the pack back (nothing written, its file closed) when some object waits for a
/// delta base not here yet and `last` is false; with `last`, such objects are reported as
/// waiting, the damaged ones as refused — and so are deltas on objects in `never` (whose
/// remote copies wait on a cycle of packs, see [`cycle_objects`]).
fn install_pack(
    store: &Store,
    mut received: ReceivedPack,
    report: &mut TransferReport,
    last: bool,
    never: &HashSet<ObjectId>,
) -> Result<Installed> {
    let p = received.id;
    let key = Entry::Pack(p).key();
    let mut good = Vec::new();
    let mut bad = Vec::new();
    let mut waiting = Vec::new();
    for (id, offset, len) in &received.entries {
        let verified = received
            .read(*offset, *len)
            .and_then(|b| verify_received(store, id, &b, &received));
        match verified {
            Ok(_) => good.push((*id, *offset, *len)),
            Err(Error::MissingObject { id: base }) if !last => {
                received.close();
                return Ok(Installed::Waits(received, base));
            }
            // Its base is in this very pack, yet cannot serve it: the copy here is no shallower
            // than the delta (a writer always uses a shallower one), so no later transfer can
            // complete it. Damaged or forged, not "not yet synced".
            Err(Error::MissingObject { id: base })
                if received.entries.iter().any(|(e, _, _)| *e == base) =>
            {
                bad.push((
                    *id,
                    format!(
                        "a delta on {}, whose copy in the same pack is as deep or deeper: it can \
                         never be read",
                        base.short()
                    ),
                ));
            }
            Err(Error::MissingObject { id: base }) if never.contains(&base) => {
                bad.push((
                    *id,
                    format!(
                        "a delta on {}, whose copy on the remote is in a pack that waits, in \
                         turn, for this one (a cycle of packs): it can never be read",
                        base.short()
                    ),
                ));
            }
            Err(Error::MissingObject { id: base }) => waiting.push(base),
            Err(e @ Error::Io { .. }) => return Err(e),
            Err(e) => bad.push((*id, reason(&e))),
        }
    }
    if let Some(first) = waiting.first() {
        // An incomplete transfer, not a forgery: the pack is taken whole by a later pull,
        // once what it needs is on the remote. What is damaged in it is named now.
        report.waiting.push(Refused {
            key,
            reason: format!(
                "not yet synced: {} of its objects are deltas on objects that have not reached \
                 the remote yet (such as {})",
                waiting.len(),
                first.short()
            ),
        });
        for (id, why) in bad {
            report.refused.push(Refused {
                key: format!("{} (object {})", Entry::Pack(p).key(), id.to_hex()),
                reason: why,
            });
        }
        return Ok(Installed::Done);
    }
    store.prepare_write()?;
    let layout = store.layout();
    if bad.is_empty() {
        // The temp file is the pack: made durable, then renamed into place create-only.
        let tmp_path = received.path.to_path_buf();
        std::fs::File::open(&tmp_path)
            .and_then(|f| f.sync_all())
            .map_err(|e| Error::io("cannot write", &tmp_path, e))?;
        received.close();
        let idx = pack::index_bytes(&p, &received.entries);
        let dest = layout.pack_file(&p, "pack");
        layout.make_dir(&layout.packs_dir())?;
        match received.path.persist_noclobber(&dest) {
            Ok(()) => report.received.add_u64(received.len),
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {
                // A file of that name is here already, without an index (else the pack would
                // have been skipped): the index is written for it only if it is this pack.
                if !holds_pack(&dest, &p) {
                    report.refused.push(Refused {
                        key,
                        reason: format!(
                            "a damaged copy of it is in the way here ({}, unused: it has no \
                             index): remove that file, then pull again",
                            dest.display()
                        ),
                    });
                    return Ok(Installed::Done);
                }
            }
            Err(e) => return Err(Error::io("cannot write", &dest, e.error)),
        }
        write_index(store, &p, &idx, report)?;
    } else {
        for (id, why) in bad {
            report.refused.push(Refused {
                key: format!("{key} (object {})", id.to_hex()),
                reason: why,
            });
        }
        if !good.is_empty() {
            // A pack of the sound objects, built as a commit builds one (through a temp file).
            let mut writer = pack::PackWriter::new(layout);
            for (id, offset, len) in good {
                let b = received.read(offset, len)?;
                report.received.add(b.len());
                writer.add(id, b)?;
            }
            let dirs = writer.finish()?;
            layout.sync_dirs(&dirs.into_iter().collect())?;
            store.note_new_pack()?;
        }
    }
    Ok(Installed::Done)
}

/// Whether the file at `path` is pack `id` (its bytes hash to its name), read as a stream.
fn holds_pack(path: &std::path::Path, id: &ObjectId) -> bool {
    let Ok(f) = crate::store::open_regular(path) else {
        return false;
    };
    let mut h = blake3::Hasher::new();
    h.update_reader(std::io::BufReader::new(f)).is_ok() && h.finalize().as_bytes() == id.as_bytes()
}

/// Writes a pack's index create-only once its pack is durable, and makes it visible.
fn write_index(
    store: &Store,
    id: &ObjectId,
    idx: &[u8],
    report: &mut TransferReport,
) -> Result<()> {
    let layout = store.layout();
    layout.sync_dirs(&[layout.packs_dir()].into_iter().collect())?;
    if layout.create_new(&layout.pack_file(id, "idx"), idx)? {
        report.received.add(idx.len());
    }
    layout.sync_dirs(&[layout.packs_dir()].into_iter().collect())?;
    store.note_new_pack()?;
    Ok(())
}

/// Fetches loose objects, verifies them and writes them create-only: blobs and trees first,
/// records after (a record never becomes readable before the data it names).
fn pull_loose(
    store: &Store,
    remote: &Remote,
    ids: &[(ObjectId, u64)],
    report: &mut TransferReport,
) -> Result<()> {
    let layout = store.layout();
    remote
        .meter
        .add_total(ids.iter().map(|(_, size)| *size).sum());
    let sizes: HashMap<ObjectId, u64> = ids.iter().copied().collect();
    // Big files one at a time through a temp file (large blobs verified as streams).
    let mut small = Vec::new();
    for (id, size) in ids {
        if *size > MAX_OBJECT_FILE {
            remote.meter.advance(*size);
            report.refused.push(Refused {
                key: Entry::Loose(*id).key(),
                reason: format!(
                    "corrupt or forged: listed at {size} bytes, more than any object can be \
                     stored in; not downloaded"
                ),
            });
            continue;
        }
        if *size < STREAM_FROM {
            small.push(*id);
            continue;
        }
        let key = Entry::Loose(*id).key();
        let received = receive_loose(store, remote, id);
        remote.meter.advance(*size);
        match received {
            Ok(Received::Absent) => {}
            Ok(Received::Installed(n)) => {
                if n > 0 {
                    report.received.files += 1;
                    report.received.bytes += n;
                }
            }
            Ok(Received::Bytes(b))
                if !matches!(
                    b.get(5).and_then(|k| Kind::from_byte(*k)),
                    Some(Kind::Blob | Kind::Tree)
                ) =>
            {
                // A record goes with the others, after the data.
                small.push(*id);
            }
            Ok(Received::Bytes(b)) => {
                let none = HashMap::new();
                match verify_received(store, id, &b, &none) {
                    Ok(_) => {
                        store.prepare_write()?;
                        let path = layout.object_path(id);
                        if layout.create_new(&path, &b)? {
                            report.received.add(b.len());
                        }
                    }
                    Err(e @ Error::MissingObject { .. }) => report.waiting.push(Refused {
                        key,
                        reason: format!("not yet synced: {}", reason(&e)),
                    }),
                    Err(e) => report.refused.push(Refused {
                        key,
                        reason: reason(&e),
                    }),
                }
            }
            Err(e @ Error::CorruptObject { .. }) => report.refused.push(Refused {
                key,
                reason: reason(&e),
            }),
            Err(e) => return Err(e),
        }
    }
    layout.sync_dirs(&[layout.objects_dir()].into_iter().collect())?;
    let ids = small;
    let size = |id: &ObjectId| sizes.get(id).copied().unwrap_or(0);
    for part in batches(&ids, size, PULL_BATCH_FILES, PULL_BATCH_BYTES) {
        if crate::signals::interrupted() {
            return Err(Error::Interrupted);
        }
        let keys: Vec<String> = part.iter().map(|id| Entry::Loose(*id).key()).collect();
        let fetched = remote.transport.get_many(&keys);
        remote
            .meter
            .advance(part.iter().filter_map(|id| sizes.get(id)).sum());
        let mut got: Vec<(ObjectId, Vec<u8>)> = Vec::new();
        for (id, r) in part.iter().zip(fetched) {
            if let Some(bytes) = r.map_err(|e| remote.named(e))? {
                got.push((*id, bytes));
            }
        }
        let pending: HashMap<ObjectId, &[u8]> =
            got.iter().map(|(id, b)| (*id, b.as_slice())).collect();
        let mut verified: Vec<(Kind, ObjectId, &[u8])> = Vec::new();
        for (id, b) in &got {
            if is_large_blob(b) {
                match install_large_bytes(store, id, b) {
                    Ok(n) => {
                        if n > 0 {
                            report.received.files += 1;
                            report.received.bytes += n;
                        }
                    }
                    Err(e) => report.refused.push(Refused {
                        key: Entry::Loose(*id).key(),
                        reason: reason(&e),
                    }),
                }
                continue;
            }
            match verify_received(store, id, b, &pending) {
                Ok(kind) => verified.push((kind, *id, b)),
                Err(e @ Error::MissingObject { .. }) => report.waiting.push(Refused {
                    key: Entry::Loose(*id).key(),
                    reason: format!("not yet synced: {}", reason(&e)),
                }),
                Err(e) => report.refused.push(Refused {
                    key: Entry::Loose(*id).key(),
                    reason: reason(&e),
                }),
            }
        }
        store.prepare_write()?;
        let mut dirs = BTreeSet::new();
        verified.sort_by_key(|(k, id, _)| (!matches!(k, Kind::Blob | Kind::Tree), *id));
        let mut records_started = false;
        for (kind, id, b) in verified {
            if !records_started && !matches!(kind, Kind::Blob | Kind::Tree) {
                layout.sync_dirs(&std::mem::take(&mut dirs))?;
                records_started = true;
            }
            let path = layout.object_path(&id);
            if layout.create_new(&path, b)? {
                report.received.add(b.len());
                if let Some(d) = path.parent() {
                    dirs.insert(d.to_path_buf());
                }
            }
        }
        layout.sync_dirs(&dirs)?;
    }
    Ok(())
}

/// Adds the remote's markers this store lacks whose record is here now and belongs where it is
/// marked (runs' first, then artifacts', renames last). A marker whose record did not arrive, or
/// belongs elsewhere (the rules `fsck` applies to this store's markers), is left out and named,
/// every one; except that a run's or an artifact's marker whose record was refused as damaged is
/// kept, so the artifact stays incomplete here, as it is on the remote, instead of losing a
/// version (a damaged record is evidence of a version; a bare marker, which anyone can plant, is
/// not).
fn pull_markers(
    store: &Store,
    there: &BTreeMap<Entry, u64>,
    report: &mut TransferReport,
) -> Result<()> {
    use crate::ops::fsck::{MarkerFit, MarkerPlace, marker_fit};
    let layout = store.layout();
    let refused_records: HashSet<String> = report
        .refused
        .iter()
        .chain(&report.waiting)
        .map(|r| r.key.clone())
        .collect();
    // Records refused as damaged or forged (loose, or an object of a pack).
    let damaged: HashSet<ObjectId> = report
        .refused
        .iter()
        .filter_map(|r| match Entry::parse(&r.key) {
            Some(Entry::Loose(id)) => Some(id),
            _ => r
                .key
                .rsplit_once("(object ")
                .and_then(|(_, rest)| ObjectId::from_hex(rest.trim_end_matches(')'))),
        })
        .collect();
    let mut misplaced = Vec::new();
    for stage in 0..3 {
        let mut dirs = BTreeSet::new();
        for e in there.keys() {
            let Entry::Marker(dir, id) = e else { continue };
            if marker_stage(dir) != stage {
                continue;
            }
            let path = match dir {
                MarkerDir::Run(r) => layout.run_dir(r),
                MarkerDir::Ref(t, n) => layout.artifact_dir(t, n),
                MarkerDir::Renames => layout.renames_dir(),
            };
            if path.join(id.to_hex()).is_file() {
                continue;
            }
            if !store.has_object_here(id) {
                if damaged.contains(id) && !matches!(dir, MarkerDir::Renames) {
                    // The record's refusal is named; its marker keeps the version counted
                    // (the artifact incomplete here, as on the remote) instead of the others
                    // being renumbered as if it never was.
                    store.add_marker(&path, id)?;
                    report.received.add(0);
                    dirs.insert(path);
                    continue;
                }
                // Not on the remote at all: not copied (a marker alone, which anyone can plant,
                // must not hold this store's numbers back), and every marker of it is named.
                let rkey = Entry::Loose(*id).key();
                if !refused_records.contains(&rkey) {
                    report.refused.push(Refused {
                        key: e.key(),
                        reason: format!(
                            "its record {} is not on the remote (its copy there is incomplete): \
                             not copied; this store numbers the artifact without it",
                            id.short()
                        ),
                    });
                }
                continue;
            }
            let key = match dir {
                MarkerDir::Ref(t, n) => Some(crate::key::ArtifactKey {
                    artifact_type: t.clone(),
                    name: n.clone(),
                }),
                _ => None,
            };
            let place = match (dir, &key) {
                (MarkerDir::Run(r), _) => MarkerPlace::Run(r),
                (MarkerDir::Ref(..), Some(k)) => MarkerPlace::Artifact(k),
                _ => MarkerPlace::Renames,
            };
            let (fit, kind) = match store.read_object(id) {
                Ok((kind, raw)) => (marker_fit(&place, *id, kind, &raw), Some(kind)),
                Err(e) => (MarkerFit::Misplaced(e.to_string()), None),
            };
            // The store's format rises to what the record needs before the marker makes it
            // visible, whatever the remote's `format` file said.
            let needed = match (&fit, kind) {
                (MarkerFit::Commit(c), _) => crate::object::Structured::format(c.as_ref()),
                (_, Some(Kind::Forget | Kind::Rename | Kind::State)) => {
                    crate::object::EXTENDED_FORMAT
                }
                _ => crate::store::WRITE_FORMAT,
            };
            if !matches!(fit, MarkerFit::Misplaced(_)) {
                store.require_format(needed)?;
            }
            if let MarkerFit::Misplaced(why) = fit {
                misplaced.push(Refused {
                    key: e.key(),
                    reason: format!(
                        "its record {} does not belong there ({why}); not copied",
                        id.short()
                    ),
                });
                continue;
            }
            store.add_marker(&path, id)?;
            report.received.add(0);
            dirs.insert(path);
        }
        layout.sync_dirs(&dirs)?;
    }
    report.refused.extend(misplaced);
    Ok(())
}

/// The data of one artifact's versions (`TYPE/NAME[:SPEC]`), fetched object by object.
fn pull_only(
    store: &Store,
    remote: &Remote,
    cache: &RemoteCache,
    spec: &str,
    report: &mut TransferReport,
) -> Result<()> {
    let parsed = crate::history::Spec::parse(spec)?;
    let has_version = spec.contains(':') || spec.contains('@');
    let history = store.resolve_artifact(parsed.artifact_type.as_deref(), &parsed.name)?;
    let trees: Vec<ObjectId> = if has_version {
        vec![store.resolve_any(&parsed)?.version().tree]
    } else {
        history.versions.iter().map(|v| v.tree).collect()
    };
    let source = super::lazy::RemoteSource::new(remote, cache);
    let mut want = Vec::new();
    let mut seen = HashSet::new();
    // Trees first (each read verified, under the tree rule), then every blob.
    let mut stack: Vec<(ObjectId, usize)> = trees.into_iter().map(|t| (t, 0)).collect();
    while let Some((t, depth)) = stack.pop() {
        if !seen.insert(t) {
            continue;
        }
        if !store.has_object_here(&t)
            && let Some(n) = source.fetch_into(store, &t).map_err(|e| remote.named(e))?
        {
            report.received.add(n);
        }
        let tree: crate::object::Tree = store.read_structured(&t)?;
        crate::tree::validate_tree(t, &tree, depth)?;
        for entry in tree.entries {
            match entry.node {
                crate::object::Node::Dir(d) => stack.push((d, depth + 1)),
                crate::object::Node::File(meta) => want.push(meta.id),
            }
        }
    }
    for id in want {
        if seen.insert(id)
            && !store.has_object_here(&id)
            && let Some(n) = source.fetch_into(store, &id).map_err(|e| remote.named(e))?
        {
            report.received.add(n);
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Sync.

/// Pull, then push: afterwards both sides hold the same records, so both list the same
/// versions.
pub fn sync(store: &Store, name: Option<&str>, opts: &SyncOptions) -> Result<TransferReport> {
    let (remote, mut cache, mut report) = begin(store, name, opts.progress.clone())?;
    let before = versions_of(store)?;
    let remote_records = pull_with(
        store,
        &remote,
        &mut cache,
        &PullOptions::default(),
        &mut report,
    )?;
    // The push after a pull that listed everything knows exactly what the remote holds.
    let mut push_report = TransferReport::default();
    let (_, sent_records) = push_with(store, &remote, &mut cache, false, &mut push_report)?;
    report.refused.extend(push_report.refused);
    report.sent = push_report.sent;
    let after = versions_of(store)?;
    report_versions(&mut report, &before, &after, &remote_records, &sent_records);
    report.requests = remote.transport.requests();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> ObjectId {
        ObjectId::from_bytes([n; 32])
    }

    #[test]
    fn batches_are_bounded_by_count_and_bytes_and_keep_the_order() {
        let sizes = [3u64, 3, 3, 10, 1, 1, 1, 1];
        let items: Vec<usize> = (0..sizes.len()).collect();
        let got = batches(&items, |i| sizes[*i], 3, 6);
        // 3+3 fits 6, a third 3 does not; 10 is a batch of its own; then three 1s (the count
        // limit), then the last.
        assert_eq!(
            got,
            vec![vec![0, 1], vec![2], vec![3], vec![4, 5, 6], vec![7]]
        );
        assert_eq!(batches(&items, |i| sizes[*i], 100, 6).concat(), items);
        assert!(batches::<usize>(&[], |_| 1, 3, 6).is_empty());
    }

    #[test]
    fn generations_put_every_object_after_its_base() {
        // 4 -> 3 -> 2 -> 1 (1's base is not among them), 5 whole, 6 -> 2.
        let objects: Vec<LooseToSend> = vec![
            (id(4), 1, Some(id(3))),
            (id(6), 1, Some(id(2))),
            (id(1), 1, Some(id(9))),
            (id(3), 1, Some(id(2))),
            (id(5), 1, None),
            (id(2), 1, Some(id(1))),
        ];
        let g = generations(&objects);
        let want = [(1, 0), (2, 1), (3, 2), (4, 3), (5, 0), (6, 2)];
        for (n, generation) in want {
            assert_eq!(g.get(&id(n)), Some(&generation), "object {n}");
        }
        // A forged cycle ends: every object gets a generation.
        let cycle: Vec<LooseToSend> = vec![(id(1), 1, Some(id(2))), (id(2), 1, Some(id(1)))];
        assert_eq!(generations(&cycle).len(), 2);
    }
}
