//! Where a capture's new blobs and trees go: [`Staging`] collects them into one pack (or a few
//! loose objects), storing each new blob as a delta against the previous version's blob of the
//! same path when it has one.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use super::statcache::StatCache;
use crate::error::Result;
use crate::id::ObjectId;
use crate::key::ArtifactKey;
use crate::object::{
    FileMeta, Kind, LARGE_FILE, MAX_DELTA_DEPTH, Structured, Tree, encode_delta, encode_envelope,
};
use crate::store::pack::PackWriter;
use crate::store::{Store, read_checked};
use crate::tree::{ManifestEntry, build_trees, flatten};

/// Called as files are captured: (files done, files in all). Called from several threads.
#[derive(Clone)]
pub struct Progress(pub std::sync::Arc<dyn Fn(usize, usize) + Send + Sync>);

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Progress(..)")
    }
}

/// Where a commit's new blobs and trees go: a [`PackWriter`], with the previous version's blob
/// of each path as a delta base.
pub(crate) struct Staging<'a> {
    store: &'a Store,
    progress: Option<(Progress, usize, std::sync::atomic::AtomicUsize)>,
    /// Source files whose bytes were read (the others were trusted from the stat cache).
    read: std::sync::atomic::AtomicUsize,
    writer: Mutex<PackWriter<'a>>,
    /// The artifact whose latest version supplies delta bases.
    key: Option<ArtifactKey>,
    /// Its files by path, computed the first time a new blob needs a base.
    bases: OnceLock<HashMap<String, ObjectId>>,
    stat: Option<StatCache>,
    /// Directories that received large blobs (written directly, outside the pack writer).
    large_dirs: Mutex<Vec<PathBuf>>,
}

impl<'a> Staging<'a> {
    pub(crate) fn new(store: &'a Store, key: Option<ArtifactKey>, stat: Option<StatCache>) -> Self {
        Staging {
            store,
            progress: None,
            read: std::sync::atomic::AtomicUsize::new(0),
            writer: Mutex::new(PackWriter::new(store.layout())),
            key,
            bases: OnceLock::new(),
            stat,
            large_dirs: Mutex::new(Vec::new()),
        }
    }

    fn bases(&self) -> &HashMap<String, ObjectId> {
        self.bases.get_or_init(|| match &self.key {
            Some(k) => self.store.delta_bases(k),
            None => HashMap::new(),
        })
    }

    /// Reports progress to `p` for a capture of `total` files.
    pub(crate) fn with_progress(mut self, p: Option<Progress>, total: usize) -> Self {
        self.progress = p.map(|p| (p, total, std::sync::atomic::AtomicUsize::new(0)));
        self
    }

    /// One more source file read from disk (not trusted from the stat cache).
    pub(crate) fn file_read(&self) {
        self.read.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// How many source files were read from disk so far.
    pub(crate) fn files_read(&self) -> usize {
        self.read.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// One more file captured.
    pub(crate) fn file_done(&self) {
        if let Some((p, total, done)) = &self.progress {
            let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            (p.0)(n, *total);
        }
    }

    /// The stat cache of this commit's sources.
    pub(crate) fn stat_cache(&self) -> Option<&StatCache> {
        self.stat.as_ref()
    }

    /// Whether the store (or this commit) already has blob `id`.
    pub(crate) fn has_blob(&self, id: &ObjectId) -> bool {
        !self.missing(id)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PackWriter<'a>> {
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn missing(&self, id: &ObjectId) -> bool {
        !self.store.has_object(id) && !self.lock().contains(id)
    }

    /// Stores the blob of `path` unless present: as a delta against the previous version's blob
    /// of the same path when there is one (and its chain is not too deep), else whole.
    pub(crate) fn put_blob(&self, path: &str, id: ObjectId, data: &[u8]) -> Result<()> {
        if !self.missing(&id) {
            return Ok(());
        }
        let bytes = match self.bases().get(path) {
            Some(base) if *base != id && (data.len() as u64) < LARGE_FILE => {
                match self.store.read_with_depth(base) {
                    Ok((_, raw, depth)) if depth < MAX_DELTA_DEPTH => {
                        encode_delta(Kind::Blob, data, *base, &raw, depth)
                    }
                    _ => encode_envelope(Kind::Blob, data),
                }
            }
            _ => encode_envelope(Kind::Blob, data),
        };
        self.lock().add(id, bytes)
    }

    /// Stores a large file's blob unless present, streaming it from `src`. Returns false when the
    /// file no longer holds that blob (it changed since it was hashed): the caller reads again.
    pub(crate) fn put_large_file(&self, src: &std::path::Path, meta: &FileMeta) -> Result<bool> {
        if !self.missing(&meta.id) {
            return Ok(true);
        }
        match self.store.store_large_file(src, &meta.id, meta.size)? {
            Some((new, dir)) => {
                if new {
                    self.large_dirs
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(dir);
                }
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Stores the trees for `files` (display paths already normalised and conflict-free) and
    /// returns the root tree id.
    pub(crate) fn write_trees(&self, files: &[ManifestEntry]) -> Result<ObjectId> {
        build_trees(files, &mut |tree| self.put_tree(tree))
    }

    /// Stores a tree unless present; returns its id.
    pub(crate) fn put_tree(&self, tree: &Tree) -> Result<ObjectId> {
        let raw = tree.encode();
        let id = ObjectId::compute(Kind::Tree, &raw);
        if self.missing(&id) {
            self.lock().add(id, encode_envelope(Kind::Tree, &raw))?;
        }
        Ok(id)
    }

    /// Writes the pack (or loose objects); returns the directories to sync before markers.
    pub(crate) fn finish(self) -> Result<Vec<PathBuf>> {
        let writer = self.writer.into_inner().unwrap_or_else(|e| e.into_inner());
        self.store.prepare_write()?;
        let mut dirs = writer.finish()?;
        self.store.note_new_pack()?;
        dirs.extend(
            self.large_dirs
                .into_inner()
                .unwrap_or_else(|e| e.into_inner()),
        );
        // The stat cache is only an optimisation: saved after the objects it names.
        if let Some(stat) = self.stat {
            stat.save();
        }
        Ok(dirs)
    }
}

/// The last-tree hint file: magic, version, then the 32-byte tree id (see
/// [`Store::remember_last_tree`]).
const LAST_TREE_MAGIC: &[u8; 4] = b"CDVL";
const LAST_TREE_VERSION: u8 = 1;

impl Store {
    /// The files of a recent version of `key`, by path: delta bases for the next commit. The
    /// tree this machine committed last for it (a hint kept in `local/cache/`) spares deriving
    /// the whole history, which costs in proportion to its length; without a usable hint, the
    /// latest version's. Bases only decide how a blob is stored (any base gives the same bytes
    /// back, and deltas are verified on read), so a stale or forged hint costs only compression.
    fn delta_bases(&self, key: &ArtifactKey) -> HashMap<String, ObjectId> {
        let files = self
            .last_tree(key)
            .and_then(|tree| flatten(self, &tree).ok())
            .or_else(|| {
                let history = self.history(key).ok()?;
                flatten(self, &history.latest()?.tree).ok()
            })
            .unwrap_or_default();
        files
            .into_iter()
            // Only bases small enough for both sides of a delta to be held (see LARGE_FILE).
            .filter(|e| e.meta.size < LARGE_FILE)
            .map(|e| (e.path, e.meta.id))
            .collect()
    }

    /// The tree this machine committed last for `key`, if the hint is there and sound.
    pub(crate) fn last_tree(&self, key: &ArtifactKey) -> Option<ObjectId> {
        let body = read_checked(
            &self.layout().last_tree_file(key),
            LAST_TREE_MAGIC,
            LAST_TREE_VERSION,
        )?;
        Some(ObjectId::from_bytes(body.as_slice().try_into().ok()?))
    }

    /// Remembers `tree` as the last one committed for `key` (when it is not already): the next
    /// commit's delta bases. A cache: failing to write it changes nothing else.
    pub(crate) fn remember_last_tree(&self, key: &ArtifactKey, tree: &ObjectId) {
        if self.last_tree(key) != Some(*tree) {
            self.layout().write_checked(
                &self.layout().last_tree_file(key),
                LAST_TREE_MAGIC,
                LAST_TREE_VERSION,
                tree.as_bytes(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::object::LARGE_FILE;
    use crate::{ArtifactKey, CommitOptions, ObjectId, Snapshot, Store, capture_run};

    /// Large blobs are stored whole even when given in memory and a previous version has a base
    /// for them: a delta would need the base and the result held at once, which is what
    /// streaming large blobs avoids. Small files changed are deltas.
    #[test]
    fn a_large_blob_is_never_a_delta() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::init(dir.path()).unwrap();
        let key = ArtifactKey::new("model", "w").unwrap();
        // Exactly the size from which a blob is large (`size >= LARGE_FILE` everywhere).
        let mut big = vec![0u8; LARGE_FILE as usize];
        let mut small = b"lr = 3e-4\n".repeat(50);
        let mut ids = Vec::new();
        for run in ["r1", "r2"] {
            let mut s = Snapshot::default();
            s.add_bytes("big.bin", big.clone(), false).unwrap();
            s.add_bytes("ppo.py", small.clone(), false).unwrap();
            let r = capture_run(run, dir.path()).unwrap();
            store
                .commit(&key, &s, &r, &CommitOptions::default())
                .unwrap();
            ids.push((
                ObjectId::compute(crate::kind::Kind::Blob, &big),
                ObjectId::compute(crate::kind::Kind::Blob, &small),
            ));
            big[1000] ^= 1;
            small[7] = b'5';
        }
        let depth = |id: &ObjectId| store.read_with_depth(id).unwrap().2;
        assert_eq!((depth(&ids[1].0), depth(&ids[1].1)), (0, 1));
        // A small file that grows to exactly that size: its small base is no reason for a delta.
        let grown = {
            let mut g = b"w = 1\n".repeat(100);
            g.resize(LARGE_FILE as usize, b'0');
            g
        };
        for (run, content) in [("r3", b"w = 1\n".repeat(100)), ("r4", grown.clone())] {
            let mut s = Snapshot::default();
            s.add_bytes("w.bin", content, false).unwrap();
            let r = capture_run(run, dir.path()).unwrap();
            store
                .commit(&key, &s, &r, &CommitOptions::default())
                .unwrap();
        }
        assert_eq!(
            depth(&ObjectId::compute(crate::kind::Kind::Blob, &grown)),
            0
        );
    }

    /// The next commit's delta bases come from the tree this machine committed last (no history
    /// derived): after v0 (A) and v1 (B, a delta on A), a hint naming v0 makes a third edit of
    /// A a delta on A (depth 1), where v1's blob would have made it depth 2. Every commit
    /// remembers its tree; a damaged hint is ignored and the latest version's files are used.
    #[test]
    fn delta_bases_come_from_the_last_committed_tree() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::init(dir.path()).unwrap();
        let key = ArtifactKey::new("code", "ppo").unwrap();
        let a = b"lr = 3e-4\n".repeat(60);
        let commit = |content: &[u8], run: &str| {
            let mut s = Snapshot::default();
            s.add_bytes("ppo.py", content.to_vec(), false).unwrap();
            let r = capture_run(run, dir.path()).unwrap();
            let o = store
                .commit(&key, &s, &r, &CommitOptions::default())
                .unwrap();
            assert_eq!(store.last_tree(&key), Some(o.tree), "remembered");
            (o.tree, ObjectId::compute(crate::kind::Kind::Blob, content))
        };
        let (v0, _) = commit(&a, "r1");
        let mut b = a.clone();
        b[3] = b'X';
        let (_, b_id) = commit(&b, "r2");
        let depth = |id: &ObjectId| store.read_with_depth(id).unwrap().2;
        assert_eq!(depth(&b_id), 1);
        store.remember_last_tree(&key, &v0);
        let mut c = a.clone();
        c[5] = b'Y';
        let (v2, c_id) = commit(&c, "r3");
        assert_eq!(depth(&c_id), 1, "a delta on v0's blob");
        // A damaged hint: the latest version (v2) gives the bases, so an edit of C is depth 2.
        let hint = store.layout().last_tree_file(&key);
        let mut bytes = std::fs::read(&hint).unwrap();
        bytes[7] ^= 1;
        std::fs::remove_file(&hint).unwrap();
        std::fs::write(&hint, &bytes).unwrap();
        assert_eq!(store.last_tree(&key), None);
        let mut d = c.clone();
        d[9] = b'Z';
        let (_, d_id) = commit(&d, "r4");
        assert_eq!(depth(&d_id), 2, "a delta on v2's blob");
        assert_ne!(store.last_tree(&key), Some(v2));
    }
}
