//! A remote that is a directory: another store, on this disk, a mounted share or NFS. Writes
//! go as the store's own do: a temp file in the remote's `local/tmp`, fsync, then a rename that
//! never replaces an existing name; directories that received names are flushed before the
//! next stage of a transfer.

use std::collections::BTreeSet;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;

use super::{RemoteFile, RequestCounts, Transport};
use crate::error::{Error, Result};
use crate::store::{Layout, open_regular};

pub(crate) struct Folder {
    layout: Layout,
    /// Directories that received new names since the last flush.
    dirty: Mutex<BTreeSet<PathBuf>>,
    list: AtomicU64,
    get: AtomicU64,
    put: AtomicU64,
}

impl Folder {
    pub fn new(root: &Path) -> Folder {
        Folder {
            layout: Layout::new(root),
            dirty: Mutex::new(BTreeSet::new()),
            list: AtomicU64::new(0),
            get: AtomicU64::new(0),
            put: AtomicU64::new(0),
        }
    }

    /// The path of `key`, which must be a relative path of plain components.
    fn path(&self, key: &str) -> Result<PathBuf> {
        let ok = !key.is_empty()
            && key
                .split('/')
                .all(|p| !p.is_empty() && p != "." && p != ".." && !p.contains('\\'));
        if !ok {
            return Err(Error::InvalidPath {
                path: key.to_string(),
                reason: "not a key of a store".into(),
            });
        }
        Ok(self.layout.root().join(key))
    }

    fn walk(&self, dir: &Path, key: &str, out: &mut Vec<RemoteFile>) -> Result<()> {
        self.list.fetch_add(1, Ordering::Relaxed);
        let rd = match std::fs::read_dir(dir) {
            Ok(rd) => rd,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                return Ok(());
            }
            Err(e) => return Err(Error::io("cannot list", dir, e)),
        };
        for entry in rd {
            let entry = entry.map_err(|e| Error::io("cannot list", dir, e))?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            // Links are never followed: a remote is untrusted.
            let Ok(ft) = entry.file_type() else { continue };
            let child = format!("{key}{name}");
            if ft.is_dir() {
                self.walk(&entry.path(), &format!("{child}/"), out)?;
            } else if ft.is_file() {
                let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
                out.push(RemoteFile { key: child, size });
            }
        }
        Ok(())
    }
}

impl Transport for Folder {
    fn list(&self, prefix: &str) -> Result<Vec<RemoteFile>> {
        let dir = self.path(prefix.trim_end_matches('/'))?;
        let mut out = Vec::new();
        self.walk(&dir, prefix, &mut out)?;
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.get.fetch_add(1, Ordering::Relaxed);
        let path = self.path(key)?;
        let mut f = match open_regular(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("cannot read", path, e)),
        };
        let mut out = Vec::new();
        f.read_to_end(&mut out)
            .map_err(|e| Error::io("cannot read", &path, e))?;
        Ok(Some(out))
    }

    fn get_range(&self, key: &str, offset: u64, len: u64) -> Result<Option<Vec<u8>>> {
        self.get.fetch_add(1, Ordering::Relaxed);
        let path = self.path(key)?;
        let mut f = match open_regular(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("cannot read", path, e)),
        };
        let mut out = Vec::new();
        f.seek(SeekFrom::Start(offset))
            .and_then(|_| (&mut f).take(len).read_to_end(&mut out))
            .map_err(|e| Error::io("cannot read", &path, e))?;
        Ok(Some(out))
    }

    fn put_new(&self, key: &str, bytes: &[u8]) -> Result<bool> {
        self.put.fetch_add(1, Ordering::Relaxed);
        let path = self.path(key)?;
        if std::fs::symlink_metadata(&path).is_ok() {
            return Ok(false);
        }
        let created = self.layout.create_new(&path, bytes)?;
        if created && let Some(parent) = path.parent() {
            self.dirty
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(parent.to_path_buf());
        }
        Ok(created)
    }

    fn put_file(&self, key: &str, src: &Path) -> Result<bool> {
        self.put.fetch_add(1, Ordering::Relaxed);
        let path = self.path(key)?;
        if std::fs::symlink_metadata(&path).is_ok() {
            return Ok(false);
        }
        let mut f = open_regular(src).map_err(|e| Error::io("cannot read", src, e))?;
        let created = self.layout.create_new_from(&path, &mut f)?;
        if created && let Some(parent) = path.parent() {
            self.dirty
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(parent.to_path_buf());
        }
        Ok(created)
    }

    fn get_to(&self, key: &str, out: &mut dyn std::io::Write) -> Result<bool> {
        self.get.fetch_add(1, Ordering::Relaxed);
        let path = self.path(key)?;
        let mut f = match open_regular(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(Error::io("cannot read", path, e)),
        };
        std::io::copy(&mut f, out).map_err(|e| Error::io("cannot read", &path, e))?;
        Ok(true)
    }

    fn put_replace(&self, key: &str, bytes: &[u8]) -> Result<()> {
        self.put.fetch_add(1, Ordering::Relaxed);
        let path = self.path(key)?;
        if let Some(parent) = path.parent() {
            self.layout.make_dir(parent)?;
        }
        self.layout.replace(&path, bytes)?;
        self.layout
            .sync_dirs(&path.parent().map(Path::to_path_buf).into_iter().collect())
    }

    fn flush(&self) -> Result<()> {
        let dirs = std::mem::take(&mut *self.dirty.lock().unwrap_or_else(|e| e.into_inner()));
        self.layout.sync_dirs(&dirs)
    }

    fn get_many(&self, keys: &[String]) -> Vec<Result<Option<Vec<u8>>>> {
        keys.par_iter().map(|k| self.get(k)).collect()
    }

    fn put_many(&self, items: &[(String, Vec<u8>)]) -> Vec<Result<bool>> {
        items.par_iter().map(|(k, b)| self.put_new(k, b)).collect()
    }

    fn requests(&self) -> RequestCounts {
        RequestCounts {
            list: self.list.load(Ordering::Relaxed),
            get: self.get.load(Ordering::Relaxed),
            put: self.put.load(Ordering::Relaxed),
        }
    }
}
