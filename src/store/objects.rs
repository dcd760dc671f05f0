//! Reading and writing objects: every stored copy (loose or packed) is a candidate, verified
//! on read; writes are create-only.

use super::*;

impl Store {
    /// Reads from a pack through a handle kept open for the life of this `Store`.
    pub(super) fn read_packed(
        &self,
        path: &Path,
        loc: Location,
        limit: u64,
    ) -> io::Result<Vec<u8>> {
        let idx = self.packs.read().unwrap_or_else(|e| e.into_inner());
        let handle = idx.packs.get(loc.pack).map(|p| &p.file).and_then(|cell| {
            use std::sync::atomic::Ordering;
            if cell.get().is_none()
                && idx.open.load(Ordering::Relaxed) < pack::MAX_OPEN_PACKS
                && let Ok(f) = open_regular(path)
                && cell.set(f).is_ok()
            {
                idx.open.fetch_add(1, Ordering::Relaxed);
            }
            // None: `read_at` opens the file for this read only.
            cell.get()
        });
        pack::read_at(path, handle, loc, limit)
    }

    /// Every place object `id` is stored: its loose file first, then each pack that indexes it
    /// (a merge of stores can leave one id in several places, with different encodings).
    pub(super) fn places(&self, id: &ObjectId) -> Result<Vec<Place>> {
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
        if out.is_empty() && packed.is_empty() && self.fetch_missing(id)? {
            out.push(Place::Loose(self.object_path(id)));
        }
        out.extend(
            packed
                .into_iter()
                .map(|(p, l, present)| Place::Packed(p, l, present)),
        );
        Ok(out)
    }

    pub(super) fn pack_locations(&self, id: &ObjectId) -> Vec<(PathBuf, Location, bool)> {
        let idx = self.packs.read().unwrap_or_else(|e| e.into_inner());
        idx.locate_all(id)
            .into_iter()
            .map(|loc| {
                let pack = &idx.packs[loc.pack];
                let path = self.layout.pack_file(&pack.id, "pack");
                (path, loc, pack.present)
            })
            .collect()
    }

    /// The stored bytes (an envelope) of `id` at one place.
    pub(super) fn place_bytes(&self, id: &ObjectId, place: &Place, limit: u64) -> Result<Vec<u8>> {
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
        self.layout.object_path(id)
    }

    /// Whether an object is present, loose or in a pack whose file is present (not verified).
    pub fn has_object(&self, id: &ObjectId) -> bool {
        self.pack_locations(id)
            .iter()
            .any(|(_, _, present)| *present)
            || self.object_path(id).is_file()
            || (self.source.is_some() && self.places(id).is_ok_and(|p| !p.is_empty()))
    }

    /// Whether an object is present here, without asking an object source.
    pub(crate) fn has_object_here(&self, id: &ObjectId) -> bool {
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
    pub(super) fn resolve_fresh(&self, id: &ObjectId, limit: u64) -> Result<(Kind, Vec<u8>, u8)> {
        let first = self.resolve_object(id, limit, &mut Resolution::default());
        match first {
            Err(e) if self.note_new_pack()? => {
                drop(e);
                self.resolve_object(id, limit, &mut Resolution::default())
            }
            r => r,
        }
    }

    /// Verifies the envelope `bytes` of object `id` as stored at one particular place (fsck
    /// checks every copy, not only the one a read would pick); bases are resolved from any place,
    /// other copies of `id` itself included.
    pub(crate) fn decode_stored(&self, id: &ObjectId, bytes: &[u8]) -> Result<(Kind, Vec<u8>)> {
        let header = parse_header(*id, bytes)?;
        let attempt = || {
            let mut res = Resolution::default();
            decode_envelope_limited(
                *id,
                bytes,
                &mut |base| {
                    self.resolve_object(base, header.base_limit(), &mut res)
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

    /// Resolves `id` through any of its places; returns its kind, raw content and the length of
    /// the delta chain read (0 for a whole copy).
    ///
    /// A delta's base may be served by any encoding of the base that does not lead back to an
    /// object already being resolved: every delta was written against a base resolved through
    /// a chain of encodings that existed then, and each object read is verified against its
    /// id, so any acyclic chain gives the right bytes. (Machines merged by copying files keep
    /// only one loose file per id: machine A's delta Q on P must be readable through machine
    /// B's P, a delta on Y, whatever depth B's chain has.) Cycles (P→Q in one pack, Q→P in
    /// another, or a forged X→Y→X) are cut by the stack of ids being resolved, and chains by
    /// [`MAX_CHAIN`], so recursion is bounded. Whole copies are tried first, then shallower
    /// encodings; a place that fails (damaged, base absent) moves on to the next. Failures that
    /// did not depend on the stack are remembered per id, and the work is bounded by the number
    /// of encodings tried.
    pub(super) fn resolve_object(
        &self,
        id: &ObjectId,
        limit: u64,
        res: &mut Resolution,
    ) -> Result<(Kind, Vec<u8>, u8)> {
        if let Some((kind, raw, depth)) = self.recent().get(id)
            && raw.len() as u64 <= limit
        {
            return Ok((kind, raw.as_ref().clone(), depth));
        }
        if let Some(e) = res.failed.get(id) {
            return Err(e.clone_shallow());
        }
        // A base already being resolved (a cycle), or a chain past the limit: this path is
        // closed, which says nothing about other paths, so it is not remembered as a failure.
        if res.stack.contains(id) || res.stack.len() >= MAX_CHAIN {
            res.cut += 1;
            return Err(Error::MissingObject { id: *id });
        }
        let cut_before = res.cut;
        let mut error = Error::MissingObject { id: *id };
        let mut candidates: Vec<(Header, Vec<u8>)> = Vec::new();
        for place in self.places(id)? {
            match self
                .place_bytes(id, &place, limit)
                .and_then(|b| parse_header(*id, &b).map(|h| (h, b)))
            {
                Ok((h, b)) => candidates.push((h, b)),
                Err(e) => error = worse(error, e),
            }
        }
        candidates.sort_by_key(|(h, _)| h.depth());
        res.stack.push(*id);
        let mut found = None;
        for (header, bytes) in candidates {
            res.tried += 1;
            if res.tried > res.max_tried {
                error = Error::CorruptObject {
                    id: *id,
                    reason: format!(
                        "resolving it needed more than {} stored encodings",
                        res.max_tried
                    ),
                };
                break;
            }
            // A base is never large (both sides of a delta must be held): a forged delta on a
            // base that claims gigabytes is refused before the base is decoded.
            let base_limit = header.base_limit();
            let mut chain = 0u8;
            let decoded = decode_envelope_limited(
                *id,
                &bytes,
                &mut |base| {
                    self.resolve_object(base, base_limit, res)
                        .map(|(_, raw, d)| {
                            chain = d.saturating_add(1);
                            raw
                        })
                },
                limit,
            );
            match decoded {
                Ok((kind, raw)) => {
                    found = Some((kind, raw, chain));
                    break;
                }
                // The base leads back into the chain being read: what is missing is a copy of
                // this object that does not (the one its writer used has not arrived).
                Err(Error::MissingObject { id: m }) if res.stack.contains(&m) => {
                    error = worse(error, Error::MissingObject { id: *id })
                }
                Err(e) => error = worse(error, e),
            }
        }
        res.stack.pop();
        if let Some((kind, raw, chain)) = found {
            if worth_keeping(kind, chain) {
                let raw = Arc::new(raw);
                self.recent().put(*id, kind, Arc::clone(&raw), chain);
                let raw = Arc::try_unwrap(raw).unwrap_or_else(|r| r.as_ref().clone());
                return Ok((kind, raw, chain));
            }
            return Ok((kind, raw, chain));
        }
        if res.cut == cut_before {
            res.failed.insert(*id, error.clone_shallow());
        }
        Err(error)
    }

    pub(super) fn recent(&self) -> std::sync::MutexGuard<'_, RecentObjects> {
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
}

/// Where one stored copy of an object is.
pub(super) enum Place {
    /// `objects/ab/cdef…`.
    Loose(PathBuf),
    /// In a pack (path, location, whether the pack file is present).
    Packed(PathBuf, Location, bool),
}

/// State of one object resolution: encodings tried, the ids being resolved (innermost last),
/// paths cut by a cycle or the chain limit, and ids that could not be resolved whatever the
/// stack (so a hostile store cannot make the search exponential).
pub(super) struct Resolution {
    tried: usize,
    /// The most encodings tried before the read is refused ([`MAX_ENCODINGS_TRIED`]).
    max_tried: usize,
    stack: Vec<ObjectId>,
    cut: u64,
    failed: HashMap<ObjectId, Error>,
}

impl Default for Resolution {
    fn default() -> Self {
        Resolution {
            tried: 0,
            max_tried: MAX_ENCODINGS_TRIED,
            stack: Vec::new(),
            cut: 0,
            failed: HashMap::new(),
        }
    }
}

/// Longest delta chain a read follows. One writer's chains are at most [`MAX_DELTA_DEPTH`]
/// long; stores merged by copying files can chain one machine's delta onto another's, so a
/// read allows eight such chains end to end. Bounds recursion (each level is a few stack
/// frames of modest size).
pub(super) const MAX_CHAIN: usize = 8 * MAX_DELTA_DEPTH as usize;

/// Whether a read object is kept in the recent-objects cache: blobs and delta-encoded objects
/// are what chains read again. Speed only: every object is verified again on a miss.
fn worth_keeping(kind: Kind, chain: u8) -> bool {
    chain > 0 || kind == Kind::Blob
}

/// Most stored encodings one read may try (real chains need at most 17).
pub(super) const MAX_ENCODINGS_TRIED: usize = 4096;

/// Of two reasons an object could not be read, the one to report: corruption of something
/// present outranks a missing object, which outranks nothing.
pub(super) fn worse(a: Error, b: Error) -> Error {
    match (&a, &b) {
        (Error::MissingObject { .. }, _) => b,
        // `b` missing, or both corrupt: the first reason found.
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

/// Largest loose object file read (the largest object plus its envelope).
pub(super) const MAX_OBJECT_FILE: u64 = MAX_OBJECT_SIZE + (1 << 20);

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

#[cfg(test)]
mod tests {
    use super::*;

    /// An object in a pack whose file has gone since the store was opened is missing (not yet
    /// synced, or removed), and one whose pack cannot be opened for another reason (here `packs`
    /// replaced by a file) is an error naming the pack: neither is called corruption.
    #[test]
    fn a_packed_object_whose_pack_is_gone_or_unreadable_is_missing_or_an_error() {
        use crate::{ArtifactKey, CommitOptions, Snapshot, capture_run};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::init(dir.path()).unwrap();
        let mut s = Snapshot::default();
        for i in 0..20 {
            s.add_bytes(
                &format!("f{i:02}.py"),
                format!("x = {i}\n").into_bytes(),
                false,
            )
            .unwrap();
        }
        let run = capture_run("r1", dir.path()).unwrap();
        let key = ArtifactKey::new("t", "a").unwrap();
        store
            .commit(&key, &s, &run, &CommitOptions::default())
            .unwrap();
        let id = ObjectId::compute(Kind::Blob, b"x = 7\n");
        let packs = store.layout().packs_dir();
        let moved = dir.path().join("packs-moved");

        let opened = Store::open(store.root()).unwrap();
        assert!(!opened.object_path(&id).exists() && opened.has_object(&id));
        fs::rename(&packs, &moved).unwrap();
        fs::write(&packs, b"").unwrap();
        let e = opened.read_object(&id).unwrap_err();
        assert!(
            matches!(&e, Error::Io { .. }) && e.to_string().contains(&*packs.to_string_lossy()),
            "{e}"
        );

        fs::remove_file(&packs).unwrap();
        fs::rename(&moved, &packs).unwrap();
        let opened_with_pack = Store::open(store.root()).unwrap();
        assert!(opened_with_pack.has_object(&id));
        for f in list_dir(&packs).unwrap() {
            if f.ends_with(".pack") {
                fs::remove_file(packs.join(f)).unwrap();
            }
        }
        let e = opened_with_pack.read_object(&id).unwrap_err();
        assert!(
            matches!(e, Error::MissingObject { id: m } if m == id),
            "{e}"
        );
        drop(opened);
    }

    /// A handle opened before another process wrote a pack reads that pack's objects, and
    /// fsck through it verifies a delta whose base only that pack holds: a failed lookup looks
    /// for new pack indexes once (a training sweep's processes share one store).
    #[test]
    fn a_handle_finds_objects_in_packs_written_after_it_opened() {
        use crate::{ArtifactKey, CommitOptions, Snapshot, capture_run};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::init(dir.path()).unwrap();
        let (early, early_fsck) = (
            Store::open(store.root()).unwrap(),
            Store::open(store.root()).unwrap(),
        );
        let key = ArtifactKey::new("t", "a").unwrap();
        let text = |v: usize, i: usize| format!("x = {i}\n{}", "# a longer line\n".repeat(40 + v));
        for v in 0..2 {
            let mut s = Snapshot::default();
            // v0: 20 files (a pack); v1: one of them changed (a loose delta on the packed blob).
            for i in 0..20 {
                s.add_bytes(
                    &format!("f{i:02}.py"),
                    text(if i == 3 { v } else { 0 }, i).into_bytes(),
                    false,
                )
                .unwrap();
            }
            let run = capture_run(&format!("r{v}"), dir.path()).unwrap();
            store
                .commit(&key, &s, &run, &CommitOptions::default())
                .unwrap();
        }
        let packed = ObjectId::compute(Kind::Blob, text(0, 7).as_bytes());
        assert!(!early.object_path(&packed).exists());
        assert_eq!(
            early.read_object(&packed).unwrap().1,
            text(0, 7).into_bytes()
        );
        let delta = ObjectId::compute(Kind::Blob, text(1, 3).as_bytes());
        assert!(store.object_path(&delta).exists());
        assert_eq!(store.read_with_depth(&delta).unwrap().2, 1);
        let r = early_fsck.fsck().unwrap();
        assert_eq!((r.corrupt.len(), r.missing.len()), (0, 0), "{r:?}");
    }

    /// A read tries at most so many stored encodings (a store merged from many machines, or a
    /// hostile one, may hold an id in every pack): one copy past the bound is refused as
    /// corrupt, naming the bound; within it, every copy is tried and a missing base is named.
    #[test]
    fn a_read_tries_at_most_the_bound_of_stored_encodings() {
        use crate::object::encode_delta;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::init(dir.path()).unwrap();
        let raw = b"x = 1\n".repeat(20);
        let x = ObjectId::compute(Kind::Blob, &raw);
        // Four packs, each with its own copy of x: a delta on a base no store holds.
        for k in 0..4 {
            let base = format!("base {k}\n").repeat(20).into_bytes();
            let bid = ObjectId::compute(Kind::Blob, &base);
            pack_with_fillers(&store, x, encode_delta(Kind::Blob, &raw, bid, &base, 0), k);
        }
        let store = Store::open(store.root()).unwrap();
        assert_eq!(store.places(&x).unwrap().len(), 4);
        let read = |max_tried: usize| {
            let mut res = Resolution {
                max_tried,
                ..Resolution::default()
            };
            store
                .resolve_object(&x, MAX_OBJECT_SIZE, &mut res)
                .map(|_| ())
                .unwrap_err()
        };
        let e = read(3);
        assert!(
            matches!(&e, Error::CorruptObject { id, reason } if *id == x
                && reason == "resolving it needed more than 3 stored encodings"),
            "{e}"
        );
        assert!(
            matches!(read(4), Error::MissingObject { .. }),
            "{}",
            read(4)
        );
    }

    /// Reading a loose object file: absent is a missing object; a path that cannot be opened
    /// for another reason (under a regular file) is an I/O error naming it; a directory where
    /// the file goes is refused as corrupt.
    #[test]
    fn a_loose_file_absent_unopenable_or_a_directory_is_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let id = ObjectId::compute(Kind::Blob, b"x");
        let read = |p: &Path| read_object_file(&id, p, MAX_OBJECT_SIZE).unwrap_err();
        assert!(matches!(
            read(&dir.path().join("absent")),
            Error::MissingObject { .. }
        ));
        let file = dir.path().join("file");
        fs::write(&file, b"").unwrap();
        let e = read(&file.join("under"));
        assert!(
            matches!(&e, Error::Io { .. }) && e.to_string().starts_with("cannot read"),
            "{e}"
        );
        let sub = dir.path().join("sub");
        fs::create_dir(&sub).unwrap();
        assert!(
            matches!(read(&sub), Error::CorruptObject { .. }),
            "{}",
            read(&sub)
        );
    }

    /// An object's fan-out directory that cannot be looked in (here a link to itself) is an
    /// error naming the path, never taken for "no such object" (which reads as "not yet synced"
    /// and would send the reader to the packs or a remote).
    #[cfg(unix)]
    #[test]
    fn an_object_path_that_cannot_be_looked_up_is_an_error_not_absent() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::init(dir.path()).unwrap();
        let (id, _) = store.write_object(Kind::Blob, b"x = 1\n").unwrap();
        let loose = store.object_path(&id);
        let fan = loose.parent().unwrap().to_path_buf();
        fs::remove_dir_all(&fan).unwrap();
        std::os::unix::fs::symlink(&fan, &fan).unwrap();
        let e = Store::open(store.root())
            .unwrap()
            .read_object(&id)
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with(&format!("cannot read {}", loose.display())),
            "{e}"
        );
    }

    /// Each record raises the store's `format` file to the oldest format whose builds read it,
    /// never lowers it: an alias record a format-1 store (made by an old build) to 2, a forget
    /// or rename record to 3; the file says so to every other build that opens the store.
    #[test]
    fn a_record_raises_the_store_format_to_what_it_needs() {
        use crate::object::{AliasRecord, ForgetRecord, RenameRecord};
        let dir = tempfile::tempdir().unwrap();
        let root = Store::init(dir.path()).unwrap().root().to_path_buf();
        fs::write(root.join("format"), "codever-store-format 1\n").unwrap();
        let on_disk = || Store::open(&root).unwrap().format();
        assert_eq!(on_disk(), 1);
        let store = Store::open(&root).unwrap();
        let mut publication = crate::store::markers::Publication::default();
        let alias = AliasRecord {
            artifact_type: "t".into(),
            name: "a".into(),
            alias: "best".into(),
            tree: ObjectId::compute(Kind::Tree, b""),
            time_ns: 1,
            run: String::new(),
        };
        store.write_record(&alias, &mut publication).unwrap();
        assert_eq!((store.format(), on_disk()), (2, 2));
        let forget = ForgetRecord {
            artifact_type: "t".into(),
            name: "a".into(),
            tree: None,
            forgotten: true,
            time_ns: 2,
            host: String::new(),
        };
        store.write_record(&forget, &mut publication).unwrap();
        assert_eq!((store.format(), on_disk()), (3, 3));
        // Never lowered, and a rename needs 3 too.
        store.write_record(&alias, &mut publication).unwrap();
        assert_eq!(on_disk(), 3);
        let other = tempfile::tempdir().unwrap();
        let fresh = Store::init(other.path()).unwrap();
        let rename = RenameRecord {
            from_type: "t".into(),
            from_name: "a".into(),
            to_type: "t".into(),
            to_name: "b".into(),
            time_ns: 3,
            host: String::new(),
        };
        fresh.write_record(&rename, &mut publication).unwrap();
        assert_eq!(Store::open(fresh.root()).unwrap().format(), 3);
    }

    #[test]
    fn init_open_and_refuse_newer_formats() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::init(dir.path()).unwrap();
        assert!(matches!(
            Store::init(dir.path()),
            Err(Error::AlreadyExists { .. })
        ));
        // A new store is format 2 (WRITE_FORMAT): a format-2 build reads it until it holds a
        // record only a format-3 build reads.
        assert_eq!(store.format(), crate::store::WRITE_FORMAT);
        assert_eq!(
            Store::open(store.root()).unwrap().format(),
            crate::store::WRITE_FORMAT
        );
        let (id, new) = store.write_object(Kind::Blob, b"abc").unwrap();
        assert!(new);
        assert!(!store.write_object(Kind::Blob, b"abc").unwrap().1);
        assert_eq!(store.read_blob(&id).unwrap(), b"abc");
        // A tree read of a blob is an error, not a misinterpretation.
        assert!(store.read_kind(&id, Kind::Tree).is_err());

        let root = dir.path().join(".codever");
        fs::write(root.join("format"), "codever-store-format 3\n").unwrap();
        assert_eq!(Store::open(&root).unwrap().format(), 3);
        fs::write(root.join("format"), "codever-store-format 4\n").unwrap();
        let e = Store::open(&root).unwrap_err();
        assert!(
            matches!(
                e,
                Error::NewerFormat {
                    found: 4,
                    supported: 3,
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
        let mut w = pack::PackWriter::new(store.layout());
        for (id, bytes) in objects {
            w.add(id, bytes).unwrap();
        }
        w.finish().unwrap();
    }

    /// Writes object `id` (its stored `bytes`) as one pack, with as many filler blobs (named by
    /// `tag`) as a pack needs.
    fn pack_with_fillers(store: &Store, id: ObjectId, bytes: Vec<u8>, tag: usize) {
        let mut objects = vec![(id, bytes)];
        for i in 1..pack::PACK_MIN_OBJECTS {
            let filler = format!("filler {tag} {i}\n").into_bytes();
            objects.push((
                ObjectId::compute(Kind::Blob, &filler),
                encode_envelope(Kind::Blob, &filler),
            ));
        }
        pack_of(store, objects);
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
        // Each needs a copy of the other that does not lead back to itself, which is not here:
        // missing, reported at once (as "not yet synced": a sync could still bring it), never
        // a hang.
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

    /// A copy that failed only because a cycle cut its path is not remembered as a failure of
    /// that id: the same read may need the id again from a place where the cycle is not open.
    /// X's first copy is a delta on A that is damaged; A's first copy needs F, whose only copy
    /// needs A (a cycle: cut), A's second copy is sound. X's second copy needs F, which is
    /// readable once A is not being resolved.
    #[test]
    fn a_failure_cut_by_a_cycle_is_not_remembered_for_other_paths() {
        use crate::object::encode_delta;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::init(dir.path()).unwrap();
        let (w, a, f, x) = (code(1, 60), code(2, 60), code(3, 60), code(4, 60));
        let id = |raw: &[u8]| ObjectId::compute(Kind::Blob, raw);
        let (wid, aid, fid, xid) = (id(&w), id(&a), id(&f), id(&x));
        store.write_object(Kind::Blob, &w).unwrap();
        // Loose: A on F (depth 1), F on A (depth 3), X's damaged copy on A (depth 1).
        put_delta(&store, &a, &f, 0);
        put_delta(&store, &f, &a, 2);
        let damaged = encode_delta(Kind::Blob, &code(5, 60), aid, &a, 0);
        store
            .create_atomic(&store.object_path(&xid), &damaged)
            .unwrap();
        // Packed: A on W (depth 2), X on F (depth 4).
        for (k, (oid, bytes)) in [
            (aid, encode_delta(Kind::Blob, &a, wid, &w, 1)),
            (xid, encode_delta(Kind::Blob, &x, fid, &f, 3)),
        ]
        .into_iter()
        .enumerate()
        {
            pack_with_fillers(&store, oid, bytes, k);
        }
        let store = Store::open(store.root()).unwrap();
        assert_eq!(
            (
                store.places(&aid).unwrap().len(),
                store.places(&xid).unwrap().len()
            ),
            (2, 2)
        );
        assert_eq!(store.read_object(&xid).unwrap(), (Kind::Blob, x));
    }

    /// A read resolves at most `MAX_CHAIN` objects at once (eight writers' chains end to end):
    /// a longer chain, which only a forged or damaged store holds, is not read through
    /// (recursion stays bounded), while the longest allowed one is.
    #[test]
    fn a_delta_chain_longer_than_the_limit_is_not_followed() {
        // The contract: eight writers' longest chains end to end (a merge of stores can chain
        // one machine's delta onto another's).
        let limit = 8 * usize::from(MAX_DELTA_DEPTH);
        let dir = tempfile::tempdir().unwrap();
        let store = Store::init(dir.path()).unwrap();
        let mut prev = code(0, 20);
        store.write_object(Kind::Blob, &prev).unwrap();
        let mut ids = Vec::new();
        for i in 1..=limit + 1 {
            let next = code(i, 20);
            ids.push(put_delta(&store, &next, &prev, 0));
            prev = next;
        }
        let store = Store::open(store.root()).unwrap();
        // A read resolves at most that many objects at once, the whole one included: the object
        // limit - 1 deltas away from it reads back; one more delta does not.
        let last = ids[limit - 2];
        assert_eq!(store.read_object(&last).unwrap().1, code(limit - 1, 20));
        let store = Store::open(store.root()).unwrap();
        let e = store.read_object(&ids[limit - 1]).unwrap_err();
        assert!(matches!(e, Error::MissingObject { .. }), "{e}");
    }

    /// A handle whose only known copy of a delta's base leads back to the delta (a cycle from a
    /// merge) finds the whole copy another process packed after it opened: a read, and fsck's
    /// check of the delta, look for new packs once when a read fails for want of a usable copy.
    #[test]
    fn a_base_packed_after_the_handle_opened_breaks_a_cycle_it_knew() {
        use crate::object::encode_delta;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::init(dir.path()).unwrap();
        let (x, b) = (code(1, 60), code(2, 60));
        let (xid, bid) = (
            ObjectId::compute(Kind::Blob, &x),
            ObjectId::compute(Kind::Blob, &b),
        );
        put_delta(&store, &x, &b, 0);
        let pack = |base: Vec<u8>, k: usize| pack_with_fillers(&store, bid, base, k);
        // Known to the handles: B as a delta on X. Packed after they opened: B whole.
        pack(encode_delta(Kind::Blob, &b, xid, &x, 0), 1);
        let before = Store::open(store.root()).unwrap();
        assert!(
            before.read_object(&xid).is_err(),
            "a cycle, before the whole copy"
        );
        let (reader, checker) = (
            Store::open(store.root()).unwrap(),
            Store::open(store.root()).unwrap(),
        );
        pack(encode_envelope(Kind::Blob, &b), 2);
        assert_eq!(reader.read_object(&xid).unwrap().1, x);
        let r = checker.fsck().unwrap();
        assert_eq!((r.corrupt.len(), r.missing.len()), (0, 0), "{r:?}");
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
        // Exactly the limit is written and read back; one byte more is refused. (The notes'
        // length prefix is 1 byte when empty and 3 bytes at this size.)
        let exact = MAX_RECORD_SIZE as usize - run(0).encode().len() - 2;
        assert_eq!(run(exact).encode().len() as u64, MAX_RECORD_SIZE);
        let (id, _) = store.write_structured(&run(exact)).unwrap();
        assert_eq!(store.read_object(&id).unwrap().1, run(exact).encode());
        let e = store.write_structured(&run(exact + 1)).unwrap_err();
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
