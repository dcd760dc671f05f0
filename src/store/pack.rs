//! Packs: the new objects of one commit written as one immutable file with an immutable index
//! beside it (restic's design), instead of one small file (and one fsync) per object.
//!
//! ```text
//! packs/<pack-id>.pack   "CDVP", version 1, then per object: u32 LE length, object bytes
//!                        (exactly a loose object file's bytes); pack id = BLAKE3 of the file
//! packs/<pack-id>.idx    "CDVX", version 1, pack id, u32 LE count, count × (object id,
//!                        u64 LE offset, u32 LE length) sorted by id, BLAKE3 of all before it
//! ```
//!
//! Both are named by content and never change, so packs merge by copying like everything else.
//! The pack is made durable before its index: an index is what makes objects visible, and an
//! index whose pack has not arrived yet means "not yet synced". A commit with only a few new
//! objects writes them loose (`objects/ab/…`) instead, which keeps small commits to few files.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::Write;
#[cfg(not(unix))]
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::layout::{Layout, list_dir, open_regular, read_regular};
use crate::error::{Error, Result};
use crate::id::ObjectId;

const PACK_MAGIC: &[u8; 4] = b"CDVP";
const IDX_MAGIC: &[u8; 4] = b"CDVX";
pub(crate) const VERSION: u8 = 1;
const IDX_ENTRY: usize = 32 + 8 + 4;
/// Largest index file read: 4 million objects (176 MB), far above any real commit (the first
/// snapshot of Django is 6,627 objects), so that a forged sparse index cannot exhaust memory.
pub(crate) const MAX_INDEX_FILE: u64 = 41 + 32 + 4_000_000 * IDX_ENTRY as u64;
/// A commit with fewer new objects than this writes them loose.
pub const PACK_MIN_OBJECTS: usize = 16;

/// Where an object lives inside a pack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Location {
    pub pack: usize,
    pub offset: u64,
    pub len: u32,
}

/// One loaded pack index: its sorted entries kept as bytes and searched in place (as git does
/// with its .idx files), so opening a store does not build a map of every packed object.
#[derive(Debug)]
pub(crate) struct LoadedPack {
    pub id: ObjectId,
    pub present: bool,
    entries: Vec<u8>,
    pub file: std::sync::OnceLock<File>,
}

impl LoadedPack {
    fn count(&self) -> usize {
        self.entries.len() / IDX_ENTRY
    }

    fn entry(&self, i: usize) -> &[u8] {
        &self.entries[i * IDX_ENTRY..(i + 1) * IDX_ENTRY]
    }

    /// Binary search for `id`; returns (offset, length).
    fn find(&self, id: &ObjectId) -> Option<(u64, u32)> {
        let (mut lo, mut hi) = (0, self.count());
        while lo < hi {
            let mid = (lo + hi) / 2;
            let e = self.entry(mid);
            match e[..32].cmp(id.as_bytes()) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => {
                    let offset = u64::from_le_bytes(e[32..40].try_into().ok()?);
                    let len = u32::from_le_bytes(e[40..44].try_into().ok()?);
                    return Some((offset, len));
                }
            }
        }
        None
    }
}

/// Every pack index of a store.
#[derive(Debug, Default)]
pub(crate) struct PackIndex {
    pub packs: Vec<LoadedPack>,
    loaded: HashSet<String>,
    /// How many of the packs' files are kept open (see [`MAX_OPEN_PACKS`]).
    pub open: std::sync::atomic::AtomicUsize,
}

/// At most this many pack files are kept open by a store; reads from others open and close
/// their file each time. A history of 1,100 commits of 20 files each is 1,100 packs, and a
/// process may open only 1,024 files by default.
pub(crate) const MAX_OPEN_PACKS: usize = 64;

impl PackIndex {
    /// Every loaded pack that holds `id` (merged stores can hold one id in several packs).
    pub fn locate_all(&self, id: &ObjectId) -> Vec<Location> {
        self.packs
            .iter()
            .enumerate()
            .filter_map(|(n, p)| {
                p.find(id).map(|(offset, len)| Location {
                    pack: n,
                    offset,
                    len,
                })
            })
            .collect()
    }

    /// Reads the index files of `dir` not yet loaded. Unreadable or damaged indexes are skipped
    /// (fsck reports them); their objects are then simply not visible.
    pub fn refresh(&mut self, dir: &Path) -> Result<bool> {
        let mut changed = false;
        for name in list_dir(dir)? {
            let Some(stem) = name.strip_suffix(".idx") else {
                continue;
            };
            if self.loaded.contains(&name) {
                continue;
            }
            let Some(pack_id) = ObjectId::from_file_name(stem) else {
                continue;
            };
            let Ok(bytes) = read_regular(&dir.join(&name), MAX_INDEX_FILE) else {
                continue;
            };
            let Ok(entries) = checked_entries(&bytes, &pack_id) else {
                continue;
            };
            self.packs.push(LoadedPack {
                id: pack_id,
                present: dir.join(format!("{stem}.pack")).is_file(),
                entries: entries.to_vec(),
                file: std::sync::OnceLock::new(),
            });
            self.loaded.insert(name);
            changed = true;
        }
        // A pack that was missing may have arrived since.
        for p in &mut self.packs {
            if !p.present && dir.join(format!("{}.pack", p.id.to_hex())).is_file() {
                p.present = true;
                changed = true;
            }
        }
        Ok(changed)
    }
}

/// Checks an index file (magic, version, checksum, pack id, length, sorted ids) and returns its
/// entries region.
fn checked_entries<'b>(bytes: &'b [u8], pack_id: &ObjectId) -> Result<&'b [u8]> {
    let bad = |reason: &str| Error::CorruptObject {
        id: *pack_id,
        reason: format!("pack index: {reason}"),
    };
    if bytes.len() < 4 + 1 + 32 + 4 + 32 || &bytes[..4] != IDX_MAGIC {
        return Err(bad("bad magic or too short"));
    }
    if bytes[4] != VERSION {
        return Err(bad(&format!(
            "version {} is unknown; upgrade codever",
            bytes[4]
        )));
    }
    let (body, sum) = bytes.split_at(bytes.len() - 32);
    if blake3::hash(body).as_bytes() != sum {
        return Err(bad("checksum mismatch"));
    }
    if &body[5..37] != pack_id.as_bytes() {
        return Err(bad("names another pack"));
    }
    let count = u32::from_le_bytes(body[37..41].try_into().map_err(|_| bad("count"))?) as usize;
    let entries = &body[41..];
    if entries.len() != count * IDX_ENTRY {
        return Err(bad("length does not match the count"));
    }
    let sorted = entries
        .chunks_exact(IDX_ENTRY)
        .zip(entries.chunks_exact(IDX_ENTRY).skip(1))
        .all(|(a, b)| a[..32] < b[..32]);
    if !sorted {
        return Err(bad("entries not sorted"));
    }
    Ok(entries)
}

/// Parses an index file into (object id, offset, length) entries, after the same checks.
pub(crate) fn parse_index(bytes: &[u8], pack_id: &ObjectId) -> Result<Vec<(ObjectId, u64, u32)>> {
    let entries = checked_entries(bytes, pack_id)?;
    Ok(entries
        .chunks_exact(IDX_ENTRY)
        .map(|e| {
            let mut id = [0u8; 32];
            id.copy_from_slice(&e[..32]);
            let mut off = [0u8; 8];
            off.copy_from_slice(&e[32..40]);
            let mut len = [0u8; 4];
            len.copy_from_slice(&e[40..44]);
            (
                ObjectId::from_bytes(id),
                u64::from_le_bytes(off),
                u32::from_le_bytes(len),
            )
        })
        .collect())
}

/// Reads the bytes of one object from a pack file, through an already open handle if given.
/// An index entry that points past the end of its pack is reported as a truncated pack, and one
/// longer than an object of its kind within `limit` can be stored in is refused, before anything
/// is allocated for it (an index is untrusted input: it could claim 4 GiB).
pub(crate) fn read_at(
    path: &Path,
    open: Option<&File>,
    loc: Location,
    limit: u64,
) -> std::io::Result<Vec<u8>> {
    let owned;
    let f = match open {
        Some(f) => f,
        None => {
            owned = open_regular(path)?;
            &owned
        }
    };
    let len = f.metadata()?.len();
    if loc
        .offset
        .checked_add(u64::from(loc.len))
        .is_none_or(|end| end > len)
    {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the index points past the end of the pack",
        ));
    }
    let mut head = [0u8; crate::object::HEADER_LEN];
    let n = head.len().min(loc.len as usize);
    read_exact_at(f, &mut head[..n], loc.offset)?;
    let bound = crate::object::stored_bound(&head[..n], limit);
    if u64::from(loc.len) > bound {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "an entry of {} bytes, more than such an object can be stored in ({bound})",
                loc.len
            ),
        ));
    }
    let mut buf = vec![0u8; loc.len as usize];
    read_exact_at(f, &mut buf, loc.offset)?;
    Ok(buf)
}

/// Reads exactly `buf.len()` bytes at `offset`.
pub(crate) fn read_exact_at(f: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        f.read_exact_at(buf, offset)
    }
    #[cfg(not(unix))]
    {
        let mut f = f;
        f.seek(SeekFrom::Start(offset))?;
        f.read_exact(buf)
    }
}

/// Collects the new objects of one commit; see the module docs.
pub(crate) struct PackWriter<'a> {
    layout: &'a Layout,
    pending: Vec<(ObjectId, Vec<u8>)>,
    file: Option<tempfile::NamedTempFile>,
    hasher: blake3::Hasher,
    offset: u64,
    entries: Vec<(ObjectId, u64, u32)>,
    seen: HashSet<ObjectId>,
}

impl<'a> PackWriter<'a> {
    pub fn new(layout: &'a Layout) -> Self {
        PackWriter {
            layout,
            pending: Vec::new(),
            file: None,
            hasher: blake3::Hasher::new(),
            offset: 0,
            entries: Vec::new(),
            seen: HashSet::new(),
        }
    }

    /// Whether `id` was already added to this writer.
    pub fn contains(&self, id: &ObjectId) -> bool {
        self.seen.contains(id)
    }

    /// Adds an object's on-disk bytes (an envelope).
    pub fn add(&mut self, id: ObjectId, bytes: Vec<u8>) -> Result<()> {
        if !self.seen.insert(id) {
            return Ok(());
        }
        if self.file.is_none() {
            self.pending.push((id, bytes));
            if self.pending.len() >= PACK_MIN_OBJECTS {
                self.start_file()?;
            }
            return Ok(());
        }
        self.append(id, &bytes)
    }

    fn start_file(&mut self) -> Result<()> {
        let mut f = self.layout.new_temp("pack")?;
        let header = [&PACK_MAGIC[..], &[VERSION]].concat();
        f.as_file_mut()
            .write_all(&header)
            .map_err(|e| Error::io("cannot write", f.path().to_path_buf(), e))?;
        self.hasher.update(&header);
        self.offset = header.len() as u64;
        self.file = Some(f);
        for (id, bytes) in std::mem::take(&mut self.pending) {
            self.append(id, &bytes)?;
        }
        Ok(())
    }

    fn append(&mut self, id: ObjectId, bytes: &[u8]) -> Result<()> {
        let Some(f) = self.file.as_mut() else {
            return Ok(());
        };
        let len = u32::try_from(bytes.len()).map_err(|_| Error::UnsupportedSource {
            path: PathBuf::from(format!("object {id} larger than 4 GiB")),
        })?;
        let path = f.path().to_path_buf();
        f.as_file_mut()
            .write_all(&len.to_le_bytes())
            .and_then(|()| f.as_file_mut().write_all(bytes))
            .map_err(|e| Error::io("cannot write", path, e))?;
        self.hasher.update(&len.to_le_bytes());
        self.hasher.update(bytes);
        self.entries.push((id, self.offset + 4, len));
        self.offset += 4 + u64::from(len);
        Ok(())
    }

    /// Makes everything added durable and visible (except through markers, which the caller
    /// writes afterwards). Returns the directories that must be synced before markers. The caller
    /// upgrades an older store's format number before (`Store::prepare_write`) and loads the new
    /// index after (`Store::note_new_pack`).
    pub fn finish(mut self) -> Result<Vec<PathBuf>> {
        let mut dirs = Vec::new();
        let Some(mut file) = self.file.take() else {
            // Few objects: loose files.
            for (id, bytes) in std::mem::take(&mut self.pending) {
                let path = self.layout.object_path(&id);
                if !path.is_file()
                    && self.layout.create_new(&path, &bytes)?
                    && let Some(p) = path.parent()
                {
                    dirs.push(p.to_path_buf());
                }
            }
            return Ok(dirs);
        };
        let pack_id = ObjectId::from_bytes(*self.hasher.finalize().as_bytes());
        let packs = self.layout.packs_dir();
        fs::create_dir_all(&packs).map_err(|e| Error::io("cannot create", &packs, e))?;
        let tmp_path = file.path().to_path_buf();
        file.flush()
            .and_then(|()| file.as_file().sync_all())
            .map_err(|e| Error::io("cannot write", &tmp_path, e))?;
        let pack_path = packs.join(format!("{}.pack", pack_id.to_hex()));
        // Create-only: a pack of that name already has these bytes.
        match file.persist_noclobber(&pack_path) {
            Ok(_) => {}
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io("cannot write", &pack_path, e.error)),
        }
        // The pack's name must be durable before the index that makes it visible.
        self.layout
            .sync_dirs(&[packs.clone()].into_iter().collect())?;

        self.entries.sort_by_key(|e| e.0);
        let mut idx = Vec::with_capacity(41 + self.entries.len() * IDX_ENTRY + 32);
        idx.extend_from_slice(IDX_MAGIC);
        idx.push(VERSION);
        idx.extend_from_slice(pack_id.as_bytes());
        idx.extend_from_slice(&(self.entries.len() as u32).to_le_bytes());
        for (id, offset, len) in &self.entries {
            idx.extend_from_slice(id.as_bytes());
            idx.extend_from_slice(&offset.to_le_bytes());
            idx.extend_from_slice(&len.to_le_bytes());
        }
        let sum = blake3::hash(&idx);
        idx.extend_from_slice(sum.as_bytes());
        self.layout
            .create_new(&packs.join(format!("{}.idx", pack_id.to_hex())), &idx)?;
        dirs.push(packs);
        Ok(dirs)
    }
}

/// Builds a pack and its index in memory from objects' stored bytes (envelopes), in the order
/// given: `(pack id, pack bytes, index bytes)`. Used to send many loose objects to a remote as
/// two files; the same bytes a [`PackWriter`] would write for them.
pub(crate) fn build_pack(objects: &[(ObjectId, Vec<u8>)]) -> Result<(ObjectId, Vec<u8>, Vec<u8>)> {
    let mut pack = Vec::with_capacity(5 + objects.iter().map(|(_, b)| b.len() + 4).sum::<usize>());
    pack.extend_from_slice(PACK_MAGIC);
    pack.push(VERSION);
    let mut entries = Vec::with_capacity(objects.len());
    let mut seen = HashSet::new();
    for (id, bytes) in objects {
        if !seen.insert(*id) {
            continue;
        }
        let len = u32::try_from(bytes.len()).map_err(|_| Error::TooLarge {
            what: "packed object",
            size: bytes.len() as u64,
            limit: u64::from(u32::MAX),
        })?;
        pack.extend_from_slice(&len.to_le_bytes());
        entries.push((*id, pack.len() as u64, len));
        pack.extend_from_slice(bytes);
    }
    let pack_id = ObjectId::from_bytes(*blake3::hash(&pack).as_bytes());
    let idx = index_bytes(&pack_id, &entries);
    Ok((pack_id, pack, idx))
}

/// The bytes of the index of pack `pack_id` holding `entries` (sorted here): the same bytes for
/// the same entries, whoever writes them.
pub(crate) fn index_bytes(pack_id: &ObjectId, entries: &[(ObjectId, u64, u32)]) -> Vec<u8> {
    let mut entries = entries.to_vec();
    entries.sort_by_key(|e| e.0);
    let mut idx = Vec::with_capacity(41 + entries.len() * IDX_ENTRY + 32);
    idx.extend_from_slice(IDX_MAGIC);
    idx.push(VERSION);
    idx.extend_from_slice(pack_id.as_bytes());
    idx.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    for (id, offset, len) in &entries {
        idx.extend_from_slice(id.as_bytes());
        idx.extend_from_slice(&offset.to_le_bytes());
        idx.extend_from_slice(&len.to_le_bytes());
    }
    let sum = blake3::hash(&idx);
    idx.extend_from_slice(sum.as_bytes());
    idx
}

/// Whether `bytes` (at least 4) start as a pack file does.
pub(crate) fn has_pack_magic(bytes: &[u8]) -> bool {
    bytes.get(..4) == Some(&PACK_MAGIC[..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::{Kind, encode_envelope};
    use crate::store::Store;

    /// Object `i`: its id and its envelope (what a pack or a loose file holds).
    fn object(i: usize) -> (ObjectId, Vec<u8>) {
        let raw = format!("object number {i}\n").into_bytes();
        (
            ObjectId::compute(Kind::Blob, &raw),
            encode_envelope(Kind::Blob, &raw),
        )
    }

    fn objects(range: std::ops::Range<usize>) -> Vec<(ObjectId, Vec<u8>)> {
        range.map(object).collect()
    }

    /// An index file as the module docs describe it, with `count` written as given (a forger
    /// can make it lie and still fix the checksum).
    fn index_bytes(pack_id: &ObjectId, count: u32, entries: &[(ObjectId, u64, u32)]) -> Vec<u8> {
        let mut idx = IDX_MAGIC.to_vec();
        idx.push(VERSION);
        idx.extend_from_slice(pack_id.as_bytes());
        idx.extend_from_slice(&count.to_le_bytes());
        for (id, offset, len) in entries {
            idx.extend_from_slice(id.as_bytes());
            idx.extend_from_slice(&offset.to_le_bytes());
            idx.extend_from_slice(&len.to_le_bytes());
        }
        let sum = blake3::hash(&idx);
        idx.extend_from_slice(sum.as_bytes());
        idx
    }

    /// Sorted entries for `ids` at made-up places.
    fn entries_for(ids: &[ObjectId]) -> Vec<(ObjectId, u64, u32)> {
        let mut ids = ids.to_vec();
        ids.sort();
        ids.iter()
            .enumerate()
            .map(|(i, id)| (*id, 5 + 100 * i as u64, 96))
            .collect()
    }

    /// The reason `parse_index` refuses `bytes` with, checking the error names the pack.
    fn refusal(bytes: &[u8], pack_id: &ObjectId) -> String {
        match parse_index(bytes, pack_id) {
            Err(Error::CorruptObject { id, reason }) => {
                assert_eq!(id, *pack_id);
                reason
            }
            other => panic!("expected CorruptObject, got {other:?}"),
        }
    }

    /// Writes `objects` through a `PackWriter`; returns what `finish` returned.
    fn write_all(layout: &Layout, objects: &[(ObjectId, Vec<u8>)]) -> Vec<PathBuf> {
        let mut w = PackWriter::new(layout);
        for (id, bytes) in objects {
            w.add(*id, bytes.clone()).unwrap();
        }
        w.finish().unwrap()
    }

    /// The sorted names in `dir` (empty when absent).
    fn names(dir: &Path) -> Vec<String> {
        let mut n = list_dir(dir).unwrap();
        n.sort();
        n
    }

    fn load(dir: &Path) -> PackIndex {
        let mut index = PackIndex::default();
        assert!(index.refresh(dir).unwrap());
        index
    }

    #[test]
    fn index_search_finds_every_id_its_first_and_last_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let objs = objects(0..40);
        write_all(&layout, &objs);
        let packs = layout.packs_dir();
        let index = load(&packs);
        assert_eq!(index.packs.len(), 1);
        assert!(index.packs[0].present);
        let pack_id = index.packs[0].id;
        let pack_path = layout.pack_file(&pack_id, "pack");
        let idx = fs::read(layout.pack_file(&pack_id, "idx")).unwrap();
        let parsed = parse_index(&idx, &pack_id).unwrap();
        assert_eq!(parsed.len(), 40);
        // Sorted by id, so the first and last entries are the smallest and largest ids: the
        // ends of the binary search.
        let mut ids: Vec<ObjectId> = objs.iter().map(|(id, _)| *id).collect();
        ids.sort();
        assert_eq!(parsed.first().unwrap().0, ids[0]);
        assert_eq!(parsed.last().unwrap().0, ids[39]);
        for (id, offset, len) in &parsed {
            assert_eq!(
                index.locate_all(id),
                [Location {
                    pack: 0,
                    offset: *offset,
                    len: *len
                }]
            );
        }
        // Every object reads back byte for byte from where its entry says.
        for (id, bytes) in &objs {
            let loc = index.locate_all(id)[0];
            assert_eq!(
                &read_at(&pack_path, None, loc, crate::object::MAX_OBJECT_SIZE).unwrap(),
                bytes
            );
        }
        // Absent ids: below the first, above the last, between two, and a near miss of one.
        let mut near = *ids[20].as_bytes();
        near[31] ^= 1;
        for absent in [
            ObjectId::from_bytes([0; 32]),
            ObjectId::from_bytes([0xff; 32]),
            object(40).0,
            ObjectId::compute(Kind::Tree, b"object number 3\n"),
            ObjectId::from_bytes(near),
        ] {
            assert!(index.locate_all(&absent).is_empty(), "{absent}");
        }
        // Nothing new on a second look.
        let mut index = index;
        assert!(!index.refresh(&packs).unwrap());
        assert_eq!(index.packs.len(), 1);
    }

    #[test]
    fn an_id_in_two_packs_is_found_in_both() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        // Objects 10..20 are in both packs (two machines logged the same files).
        write_all(&layout, &objects(0..20));
        write_all(&layout, &objects(10..30));
        let index = load(&layout.packs_dir());
        assert_eq!(index.packs.len(), 2);
        for i in 0..30 {
            let (id, bytes) = object(i);
            let found = index.locate_all(&id);
            let mut packs: Vec<usize> = found.iter().map(|l| l.pack).collect();
            packs.dedup();
            let copies = if (10..20).contains(&i) { 2 } else { 1 };
            assert_eq!(packs.len(), copies, "object {i}: {found:?}");
            for loc in found {
                let path = layout.pack_file(&index.packs[loc.pack].id, "pack");
                assert_eq!(read_at(&path, None, loc, u64::MAX).unwrap(), bytes);
            }
        }
    }

    /// The index of a large commit (200,000 objects, 8.8 MB) is loaded: the size limit on index
    /// files is that of 4,000,000 entries.
    #[test]
    fn the_index_of_a_large_commit_is_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let pack_id = ObjectId::compute(Kind::Blob, b"a large pack");
        let ids: Vec<ObjectId> = (0..200_000u32)
            .map(|i| ObjectId::compute(Kind::Blob, &i.to_le_bytes()))
            .collect();
        let idx = index_bytes(&pack_id, ids.len() as u32, &entries_for(&ids));
        assert!(idx.len() > 8_000_000);
        fs::write(dir.path().join(format!("{}.idx", pack_id.to_hex())), idx).unwrap();
        let index = load(dir.path());
        for id in [ids[0], ids[123_456], ids[199_999]] {
            assert_eq!(index.locate_all(&id).len(), 1);
        }
    }

    #[test]
    fn an_index_with_no_entries_finds_nothing() {
        let pack_id = ObjectId::compute(Kind::Blob, b"pack");
        let idx = index_bytes(&pack_id, 0, &[]);
        assert_eq!(idx.len(), 4 + 1 + 32 + 4 + 32);
        assert_eq!(parse_index(&idx, &pack_id).unwrap(), []);
    }

    #[test]
    fn every_truncation_of_an_index_is_refused_never_a_panic() {
        let pack_id = ObjectId::compute(Kind::Blob, b"pack");
        let ids: Vec<ObjectId> = objects(0..3).into_iter().map(|(id, _)| id).collect();
        let idx = index_bytes(&pack_id, 3, &entries_for(&ids));
        assert_eq!(parse_index(&idx, &pack_id).unwrap(), entries_for(&ids));
        for n in 0..idx.len() {
            let expected = if n < 4 + 1 + 32 + 4 + 32 {
                "pack index: bad magic or too short"
            } else {
                "pack index: checksum mismatch"
            };
            assert_eq!(refusal(&idx[..n], &pack_id), expected, "{n} bytes");
        }
        // Too long: trailing bytes after the checksum.
        let mut longer = idx.clone();
        longer.push(0);
        assert_eq!(refusal(&longer, &pack_id), "pack index: checksum mismatch");
    }

    #[test]
    fn a_damaged_or_forged_index_is_refused_with_its_reason() {
        let pack_id = ObjectId::compute(Kind::Blob, b"pack");
        let ids: Vec<ObjectId> = objects(0..3).into_iter().map(|(id, _)| id).collect();
        let entries = entries_for(&ids);
        let good = index_bytes(&pack_id, 3, &entries);
        // A flipped byte anywhere: the checksum (magic and version are checked first).
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x20;
            let expected = match i {
                0..4 => "pack index: bad magic or too short".to_string(),
                4 => "pack index: version 33 is unknown; upgrade codever".to_string(),
                _ => "pack index: checksum mismatch".to_string(),
            };
            assert_eq!(refusal(&bad, &pack_id), expected, "byte {i}");
        }
        // Forgeries with a correct checksum.
        let mut other_magic = good.clone();
        other_magic[..4].copy_from_slice(PACK_MAGIC);
        assert_eq!(
            refusal(&other_magic, &pack_id),
            "pack index: bad magic or too short"
        );
        let mut v2 = index_bytes(&pack_id, 3, &entries);
        v2[4] = 2;
        assert_eq!(
            refusal(&v2, &pack_id),
            "pack index: version 2 is unknown; upgrade codever"
        );
        let other = ObjectId::compute(Kind::Blob, b"another pack");
        assert_eq!(
            refusal(&index_bytes(&other, 3, &entries), &pack_id),
            "pack index: names another pack"
        );
        // An entry count that lies, either way.
        for count in [0, 2, 4, 1 << 20, u32::MAX] {
            assert_eq!(
                refusal(&index_bytes(&pack_id, count, &entries), &pack_id),
                "pack index: length does not match the count",
                "count {count}"
            );
        }
        // A partial entry.
        let mut partial = index_bytes(&pack_id, 3, &entries);
        partial.truncate(partial.len() - 32 - 1);
        let sum = blake3::hash(&partial);
        partial.extend_from_slice(sum.as_bytes());
        assert_eq!(
            refusal(&partial, &pack_id),
            "pack index: length does not match the count"
        );
        // Unsorted, and one id twice (a binary search could miss either copy).
        let mut unsorted = entries.clone();
        unsorted.swap(0, 2);
        assert_eq!(
            refusal(&index_bytes(&pack_id, 3, &unsorted), &pack_id),
            "pack index: entries not sorted"
        );
        let repeated = [entries[0], entries[0], entries[1]];
        assert_eq!(
            refusal(&index_bytes(&pack_id, 3, &repeated), &pack_id),
            "pack index: entries not sorted"
        );
    }

    #[test]
    fn damaged_indexes_are_skipped_and_a_late_pack_is_noticed() {
        let dir = tempfile::tempdir().unwrap();
        let packs = dir.path().join("packs");
        fs::create_dir_all(&packs).unwrap();
        let ids: Vec<ObjectId> = objects(0..3).into_iter().map(|(id, _)| id).collect();
        let entries = entries_for(&ids);
        // A damaged index, an index named by no id, an index naming another pack, a directory
        // named like an index: none is loaded.
        let damaged = ObjectId::compute(Kind::Blob, b"damaged");
        let mut bytes = index_bytes(&damaged, 3, &entries);
        bytes[50] ^= 1;
        fs::write(packs.join(format!("{}.idx", damaged.to_hex())), bytes).unwrap();
        fs::write(
            packs.join("not-an-id.idx"),
            index_bytes(&damaged, 3, &entries),
        )
        .unwrap();
        let elsewhere = ObjectId::compute(Kind::Blob, b"elsewhere");
        fs::write(
            packs.join(format!("{}.idx", elsewhere.to_hex())),
            index_bytes(&damaged, 3, &entries),
        )
        .unwrap();
        let a_dir = ObjectId::compute(Kind::Blob, b"a directory");
        fs::create_dir(packs.join(format!("{}.idx", a_dir.to_hex()))).unwrap();
        let mut index = PackIndex::default();
        assert!(!index.refresh(&packs).unwrap());
        assert!(index.packs.is_empty());
        assert!(index.locate_all(&ids[0]).is_empty());

        // A sound index whose pack has not arrived: loaded, not present.
        let late = ObjectId::compute(Kind::Blob, b"late");
        fs::write(
            packs.join(format!("{}.idx", late.to_hex())),
            index_bytes(&late, 3, &entries),
        )
        .unwrap();
        assert!(index.refresh(&packs).unwrap());
        assert_eq!(index.packs.len(), 1);
        assert!(!index.packs[0].present);
        assert_eq!(index.locate_all(&ids[1]).len(), 1);
        assert!(!index.refresh(&packs).unwrap());
        // Its pack arrives.
        fs::write(packs.join(format!("{}.pack", late.to_hex())), b"CDVP\x01").unwrap();
        assert!(index.refresh(&packs).unwrap());
        assert!(index.packs[0].present);
        assert!(!index.refresh(&packs).unwrap());
    }

    #[test]
    fn entries_past_the_end_of_their_pack_are_refused_before_reading() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.pack");
        let (_, envelope) = object(1);
        let mut pack = b"CDVP\x01".to_vec();
        pack.extend_from_slice(&(envelope.len() as u32).to_le_bytes());
        pack.extend_from_slice(&envelope);
        fs::write(&path, &pack).unwrap();
        let end = pack.len() as u64;
        let whole = Location {
            pack: 0,
            offset: 9,
            len: envelope.len() as u32,
        };
        assert_eq!(read_at(&path, None, whole, u64::MAX).unwrap(), envelope);
        for (offset, len) in [
            (9, envelope.len() as u32 + 1),
            (end, 1),
            (end + 1, 0),
            (u64::MAX, 1),
            (u64::MAX - 3, u32::MAX),
            (0, u32::MAX),
        ] {
            let loc = Location {
                pack: 0,
                offset,
                len,
            };
            let e = read_at(&path, None, loc, u64::MAX).unwrap_err();
            assert_eq!(
                e.kind(),
                std::io::ErrorKind::UnexpectedEof,
                "{offset} {len}"
            );
            assert_eq!(e.to_string(), "the index points past the end of the pack");
        }
        // Longer than an object of its kind within the limit can be stored in.
        let mut big = b"CDVP\x01".to_vec();
        big.extend_from_slice(&crate::object::envelope_header(Kind::Blob));
        big.resize(5 + 5000, 0);
        fs::write(&path, &big).unwrap();
        let loc = Location {
            pack: 0,
            offset: 5,
            len: 5000,
        };
        let e = read_at(&path, None, loc, 10).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
        assert_eq!(
            e.to_string(),
            "an entry of 5000 bytes, more than such an object can be stored in (4106)"
        );
        // A FIFO or a link is not a pack.
        let link = dir.path().join("link.pack");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        let e = read_at(&link, None, whole, u64::MAX).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ELOOP), "{e}");
    }

    #[test]
    fn a_truncated_pack_or_a_lying_entry_is_a_corrupt_object_to_readers() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::init(dir.path()).unwrap();
        let objs = objects(0..20);
        write_all(store.layout(), &objs);
        let pack_id = {
            let n = names(&store.layout().packs_dir());
            ObjectId::from_hex(n[0].strip_suffix(".idx").unwrap()).unwrap()
        };
        let pack_path = store.layout().pack_file(&pack_id, "pack");
        // The last object added is the last in the pack: cut its final byte.
        let bytes = fs::read(&pack_path).unwrap();
        fs::remove_file(&pack_path).unwrap();
        fs::write(&pack_path, &bytes[..bytes.len() - 1]).unwrap();
        let store = Store::open(store.root()).unwrap();
        let (last, _) = &objs[19];
        let e = store.read_blob(last).unwrap_err();
        match e {
            Error::CorruptObject { id, reason } => {
                assert_eq!(id, *last);
                assert_eq!(reason, format!("pack {} is truncated", pack_path.display()));
            }
            e => panic!("{e}"),
        }
        // The others are whole.
        assert_eq!(store.read_blob(&objs[0].0).unwrap(), b"object number 0\n");

        // A forged index pointing a small file's blob at a larger entry: refused by the size the
        // tree states, before it is read.
        let forged_pack = ObjectId::compute(Kind::Blob, b"forged");
        let mut pack = b"CDVP\x01".to_vec();
        pack.extend_from_slice(&crate::object::envelope_header(Kind::Blob));
        pack.resize(5 + 5000, 0);
        let forged_path = store.layout().pack_file(&forged_pack, "pack");
        fs::write(&forged_path, &pack).unwrap();
        let victim = ObjectId::compute(Kind::Blob, b"ten bytes!");
        fs::write(
            store.layout().pack_file(&forged_pack, "idx"),
            index_bytes(&forged_pack, 1, &[(victim, 5, 5000)]),
        )
        .unwrap();
        let store = Store::open(store.root()).unwrap();
        match store.read_file_blob(&victim, 10).unwrap_err() {
            Error::CorruptObject { id, reason } => {
                assert_eq!(id, victim);
                assert_eq!(
                    reason,
                    format!(
                        "in pack {}: an entry of 5000 bytes, more than such an object can be \
                         stored in (4106)",
                        forged_path.display()
                    )
                );
            }
            e => panic!("{e}"),
        }
    }

    /// An index of more than 90,909 entries (4 MB: a commit of 100,000 files writes one) is
    /// loaded like any other; only past `MAX_INDEX_FILE` (4 million entries) is one refused.
    #[test]
    fn an_index_of_a_hundred_thousand_files_is_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let objs = objects(0..91_000);
        let mut w = PackWriter::new(&layout);
        for (id, bytes) in &objs {
            w.add(*id, bytes.clone()).unwrap();
        }
        w.finish().unwrap();
        let idx = names(&layout.packs_dir())
            .into_iter()
            .find(|n| n.ends_with(".idx"))
            .unwrap();
        let len = fs::metadata(layout.packs_dir().join(idx)).unwrap().len();
        assert!(len > 4_000_000 && len < MAX_INDEX_FILE, "{len}");
        let index = load(&layout.packs_dir());
        for (id, _) in [&objs[0], &objs[45_000], &objs[90_999]] {
            assert_eq!(index.locate_all(id).len(), 1);
        }
    }

    #[test]
    fn fewer_than_the_minimum_objects_are_written_loose() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let objs = objects(0..PACK_MIN_OBJECTS - 1);
        let mut w = PackWriter::new(&layout);
        for (id, bytes) in &objs {
            assert!(!w.contains(id));
            w.add(*id, bytes.clone()).unwrap();
            assert!(w.contains(id));
            // The same id again (even another encoding of it) is stored once, and does not
            // count towards a pack.
            w.add(*id, b"another encoding".to_vec()).unwrap();
        }
        let mut dirs = w.finish().unwrap();
        dirs.sort();
        dirs.dedup();
        let mut expected: Vec<PathBuf> = objs
            .iter()
            .map(|(id, _)| layout.object_path(id).parent().unwrap().to_path_buf())
            .collect();
        expected.sort();
        expected.dedup();
        assert_eq!(dirs, expected);
        for (id, bytes) in &objs {
            assert_eq!(&fs::read(layout.object_path(id)).unwrap(), bytes);
        }
        assert_eq!(names(&layout.packs_dir()), Vec::<String>::new());
        assert_eq!(names(&layout.tmp_dir()), Vec::<String>::new());

        // A loose file already there is kept as it is (it may be another encoding a delta
        // elsewhere depends on), and its directory is not reported as new.
        let (id, bytes) = object(100);
        let path = layout.object_path(&id);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, b"already here").unwrap();
        let mut w = PackWriter::new(&layout);
        w.add(id, bytes).unwrap();
        assert_eq!(w.finish().unwrap(), Vec::<PathBuf>::new());
        assert_eq!(fs::read(&path).unwrap(), b"already here");
    }

    #[test]
    fn the_minimum_objects_make_one_pack_and_index_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let objs = objects(0..PACK_MIN_OBJECTS + 4);
        let mut w = PackWriter::new(&layout);
        for (i, (id, bytes)) in objs.iter().enumerate() {
            w.add(*id, bytes.clone()).unwrap();
            // Before and after the pack file is started: duplicates are dropped.
            if i == 3 || i == PACK_MIN_OBJECTS + 1 {
                w.add(*id, b"another encoding".to_vec()).unwrap();
            }
        }
        let dirs = w.finish().unwrap();
        assert_eq!(dirs, [layout.packs_dir()]);
        // The pack: magic, version, then each object in the order added.
        let mut expected = b"CDVP\x01".to_vec();
        let mut entries = Vec::new();
        for (id, bytes) in &objs {
            expected.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            entries.push((*id, expected.len() as u64, bytes.len() as u32));
            expected.extend_from_slice(bytes);
        }
        let pack_id = ObjectId::from_bytes(*blake3::hash(&expected).as_bytes());
        assert_eq!(
            names(&layout.packs_dir()),
            [
                format!("{}.idx", pack_id.to_hex()),
                format!("{}.pack", pack_id.to_hex())
            ]
        );
        assert_eq!(
            fs::read(layout.pack_file(&pack_id, "pack")).unwrap(),
            expected
        );
        entries.sort_by_key(|e| e.0);
        let idx = fs::read(layout.pack_file(&pack_id, "idx")).unwrap();
        assert_eq!(idx, index_bytes(&pack_id, entries.len() as u32, &entries));
        assert_eq!(parse_index(&idx, &pack_id).unwrap(), entries);
        // No loose objects, no temp file left.
        assert_eq!(names(&layout.objects_dir()), Vec::<String>::new());
        assert_eq!(names(&layout.tmp_dir()), Vec::<String>::new());

        // Writing the same objects again makes the same pack, which is kept as it is.
        write_all(&layout, &objs);
        assert_eq!(names(&layout.packs_dir()).len(), 2);
        assert_eq!(
            fs::read(layout.pack_file(&pack_id, "pack")).unwrap(),
            expected
        );
    }

    #[test]
    fn a_pack_built_for_a_push_holds_each_object_once_as_a_pack_writer_writes_it() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let objs = objects(0..PACK_MIN_OBJECTS + 2);
        // A push may list an object twice (reached from two versions): it is sent once.
        let mut listed = objs.clone();
        listed.insert(2, objs[0].clone());
        listed.push(objs[3].clone());
        let (pack_id, pack, idx) = build_pack(&listed).unwrap();
        write_all(&layout, &objs);
        assert_eq!(pack, fs::read(layout.pack_file(&pack_id, "pack")).unwrap());
        assert_eq!(idx, fs::read(layout.pack_file(&pack_id, "idx")).unwrap());
        // And the receiver reads back every object from those two files.
        let entries = parse_index(&idx, &pack_id).unwrap();
        assert_eq!(entries.len(), objs.len());
        for (id, bytes) in &objs {
            let (_, offset, len) = entries.iter().find(|e| e.0 == *id).unwrap();
            let at = *offset as usize;
            assert_eq!(&pack[at..at + *len as usize], &bytes[..]);
        }
    }

    #[test]
    fn at_most_max_open_packs_files_are_kept_open_and_every_read_still_works() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::init(dir.path()).unwrap();
        let n = PACK_MIN_OBJECTS;
        let packs = MAX_OPEN_PACKS + 2;
        for p in 0..packs {
            write_all(store.layout(), &objects(p * n..(p + 1) * n));
        }
        let store = Store::open(store.root()).unwrap();
        let open = |s: &Store| {
            let idx = s.packs.read().unwrap();
            let kept = idx.packs.iter().filter(|p| p.file.get().is_some()).count();
            (idx.open.load(std::sync::atomic::Ordering::Relaxed), kept)
        };
        assert_eq!(open(&store), (0, 0));
        for p in 0..packs {
            let (id, _) = object(p * n + 1);
            let want = format!("object number {}\n", p * n + 1);
            assert_eq!(store.read_blob(&id).unwrap(), want.as_bytes());
            // A handle kept for each pack read, up to the bound; then each read opens its own.
            assert_eq!(
                open(&store),
                ((p + 1).min(MAX_OPEN_PACKS), (p + 1).min(MAX_OPEN_PACKS))
            );
        }
    }
}
