//! Where a diff's objects come from: the store, plus the trees and files of a capture hashed
//! but not stored (a diff against the files on disk).

use super::*;
use crate::tree::ManifestEntry;

/// Where objects come from: the store, plus trees and files of a capture that was hashed but not
/// stored (the working tree).
pub struct Objects<'a> {
    store: &'a Store,
    trees: HashMap<ObjectId, Tree>,
    files: HashMap<ObjectId, Source>,
}

pub(super) enum Source {
    Path(PathBuf),
    Bytes(Vec<u8>),
}

impl<'a> Objects<'a> {
    /// Objects of `store` only.
    pub fn new(store: &'a Store) -> Self {
        Objects {
            store,
            trees: HashMap::new(),
            files: HashMap::new(),
        }
    }

    /// Hashes a snapshot (without storing it) so it can be compared; returns its root tree id.
    pub fn add_snapshot(&mut self, snapshot: &Snapshot) -> Result<ObjectId> {
        let manifest = snapshot.manifest()?;
        for ManifestEntry { path, meta } in &manifest {
            let src = match (snapshot.file_source(path), snapshot.bytes_source(path)) {
                (Some(p), _) => Source::Path(p.to_path_buf()),
                (None, Some(b)) => Source::Bytes(b.to_vec()),
                (None, None) => continue,
            };
            self.files.insert(meta.id, src);
        }
        let (root, trees) = hash_trees(&manifest)?;
        self.trees.extend(trees);
        Ok(root)
    }

    /// The store behind these objects.
    pub fn store(&self) -> &Store {
        self.store
    }

    pub(super) fn tree(&self, id: &ObjectId) -> Result<Tree> {
        match self.trees.get(id) {
            Some(t) => Ok(t.clone()),
            None => self.store.read_structured(id),
        }
    }

    /// A file's bytes, verified against `id`.
    pub fn blob(&self, id: &ObjectId) -> Result<Vec<u8>> {
        match self.files.get(id) {
            Some(Source::Bytes(b)) => Ok(b.clone()),
            Some(Source::Path(p)) => {
                let bytes = std::fs::read(p).map_err(|e| Error::io("cannot read", p, e))?;
                if ObjectId::compute(Kind::Blob, &bytes) != *id {
                    return Err(Error::ChangedWhileReading { path: p.clone() });
                }
                Ok(bytes)
            }
            None => self.store.read_blob(id),
        }
    }
}

/// Feeds what is written to a SHA-1 (git's blob id of a streamed file).
pub(super) struct Sha1Writer(sha1::Sha1);

impl std::io::Write for Sha1Writer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Objects<'_> {
    /// git's blob id of file `meta`, read in pieces (for large files).
    pub(super) fn git_id(&self, meta: &FileMeta) -> Result<String> {
        let mut w = Sha1Writer(sha1::Sha1::new());
        w.0.update(format!("blob {}\0", meta.size).as_bytes());
        match self.files.get(&meta.id) {
            Some(Source::Bytes(b)) => return Ok(git_blob_id(b)),
            Some(Source::Path(p)) => {
                // The working tree: hashed as it is now, checked against the id it had.
                let mut f = std::fs::File::open(p).map_err(|e| Error::io("cannot read", p, e))?;
                let mut check = crate::id::BlobHasher::new(meta.size);
                let mut buf = vec![0u8; 1 << 20];
                loop {
                    let n = std::io::Read::read(&mut f, &mut buf)
                        .map_err(|e| Error::io("cannot read", p, e))?;
                    if n == 0 {
                        break;
                    }
                    check.update(&buf[..n]);
                    w.0.update(&buf[..n]);
                }
                if check.finish().map(|(id, _)| id) != Some(meta.id) {
                    return Err(Error::ChangedWhileReading { path: p.clone() });
                }
            }
            None => self.store.write_blob_to(&meta.id, meta.size, &mut w)?,
        }
        Ok(crate::id::hex(&w.0.finalize()))
    }
}
