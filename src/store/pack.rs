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
const VERSION: u8 = 1;
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
}

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
            let Some(pack_id) = ObjectId::from_hex(stem) else {
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
fn read_exact_at(f: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
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
