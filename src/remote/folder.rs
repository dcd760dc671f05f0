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

    /// Fails when a directory between the remote's root and `key` (`packs`, `objects/ab`) is a
    /// link: a remote is untrusted, and its links are never followed — not only at the last
    /// component, which `open_regular` and the listing refuse themselves.
    fn no_link_on_the_way(&self, key: &str) -> std::io::Result<()> {
        let mut dir = self.layout.root().to_path_buf();
        let parts: Vec<&str> = key.trim_end_matches('/').split('/').collect();
        for part in &parts[..parts.len().saturating_sub(1)] {
            dir.push(part);
            match std::fs::symlink_metadata(&dir) {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!(
                            "{} is a link: a remote's links are never followed",
                            dir.display()
                        ),
                    ));
                }
                // Absent: whatever is below is absent too, as the caller finds.
                _ => {}
            }
        }
        Ok(())
    }

    /// Writes `key` from `src`: a temp file in the remote's `local/tmp`, fsynced, then renamed
    /// into place without replacing an existing name (unless `replace`). Every directory on the
    /// way is opened without following a link and made if missing: the folder's owner is not
    /// trusted, and a link planted as `objects/ab`, `packs` or `local/tmp` must not make this
    /// process write wherever it points. Whether this call created `key`.
    #[cfg(unix)]
    fn write(&self, key: &str, src: &mut dyn Read, replace: bool) -> Result<bool> {
        use rustix::fs::{AtFlags, Mode, OFlags, RenameFlags, openat, renameat, renameat_with};
        use rustix::io::Errno;
        let path = self.path(key)?;
        let mut parts: Vec<&str> = key.split('/').collect();
        let name = parts.pop().unwrap_or_default();
        let mut created = Vec::new();
        let dir = self.open_dir(&parts, &mut created)?;
        if !replace && rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW).is_ok() {
            return Ok(false);
        }
        let tmp_dir = self.open_dir(&["local", "tmp"], &mut Vec::new())?;
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let mut attempt = 0;
        let (tmp, fd) = loop {
            let tmp = format!("put-{}", crate::capture::new_run_id());
            match openat(&tmp_dir, tmp.as_str(), flags, Mode::from_raw_mode(0o444)) {
                Ok(fd) => break (tmp, fd),
                Err(Errno::EXIST) if attempt < 100 => attempt += 1,
                Err(e) => {
                    return Err(Error::io("cannot create a temp file for", &path, e.into()));
                }
            }
        };
        let discard = || {
            let _ = rustix::fs::unlinkat(&tmp_dir, tmp.as_str(), AtFlags::empty());
        };
        let mut file = std::fs::File::from(fd);
        let written = {
            let mut w = std::io::BufWriter::with_capacity(1 << 20, &mut file);
            std::io::copy(src, &mut w).and_then(|_| std::io::Write::flush(&mut w))
        };
        if let Err(e) = written.and_then(|()| file.sync_all()) {
            discard();
            return Err(Error::io("cannot write", &path, e));
        }
        drop(file);
        let moved = if replace {
            renameat(&tmp_dir, tmp.as_str(), &dir, name).map(|()| true)
        } else {
            match renameat_with(&tmp_dir, tmp.as_str(), &dir, name, RenameFlags::NOREPLACE) {
                Ok(()) => Ok(true),
                Err(Errno::EXIST) => Ok(false),
                // A file system without RENAME_NOREPLACE: a hard link never replaces either.
                Err(Errno::INVAL | Errno::NOSYS) => {
                    match rustix::fs::linkat(&tmp_dir, tmp.as_str(), &dir, name, AtFlags::empty()) {
                        Ok(()) => Ok(true),
                        Err(Errno::EXIST) => Ok(false),
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            }
        };
        discard();
        let created_key = moved.map_err(|e| Error::io("cannot write", &path, e.into()))?;
        let mut dirty = self.dirty.lock().unwrap_or_else(|e| e.into_inner());
        for d in created {
            if let Some(parent) = d.parent() {
                dirty.insert(parent.to_path_buf());
            }
        }
        if (created_key || replace)
            && let Some(parent) = path.parent()
        {
            dirty.insert(parent.to_path_buf());
        }
        Ok(created_key || replace)
    }

    #[cfg(not(unix))]
    fn write(&self, key: &str, src: &mut dyn Read, replace: bool) -> Result<bool> {
        let path = self.path(key)?;
        if replace {
            let mut bytes = Vec::new();
            src.read_to_end(&mut bytes)
                .map_err(|e| Error::io("cannot read", &path, e))?;
            if let Some(parent) = path.parent() {
                self.layout.make_dir(parent)?;
            }
            self.layout.replace(&path, &bytes)?;
            return Ok(true);
        }
        if std::fs::symlink_metadata(&path).is_ok() {
            return Ok(false);
        }
        let created = self.layout.create_new_from(&path, src)?;
        if created && let Some(parent) = path.parent() {
            self.dirty
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(parent.to_path_buf());
        }
        Ok(created)
    }

    /// Opens the directory `parts` below the root, each part without following a link, making
    /// the missing ones (their paths pushed to `created`).
    #[cfg(unix)]
    fn open_dir(&self, parts: &[&str], created: &mut Vec<PathBuf>) -> Result<rustix::fd::OwnedFd> {
        use rustix::fs::{Mode, OFlags, mkdirat, openat};
        use rustix::io::Errno;
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let root = self.layout.root();
        // The root is the path the remote was added with (it may itself be a link the user chose).
        let mut dir = match rustix::fs::open(root, flags, Mode::empty()) {
            Ok(d) => d,
            Err(Errno::NOENT) => {
                std::fs::create_dir_all(root).map_err(|e| Error::io("cannot create", root, e))?;
                created.push(root.to_path_buf());
                rustix::fs::open(root, flags, Mode::empty())
                    .map_err(|e| Error::io("cannot open", root, e.into()))?
            }
            Err(e) => return Err(Error::io("cannot open", root, e.into())),
        };
        let mut path = root.to_path_buf();
        for part in parts {
            path.push(part);
            let mut next = openat(&dir, *part, flags | OFlags::NOFOLLOW, Mode::empty());
            if matches!(next, Err(Errno::NOENT)) {
                match mkdirat(&dir, *part, Mode::from_raw_mode(0o777)) {
                    Ok(()) => created.push(path.clone()),
                    Err(Errno::EXIST) => {}
                    Err(e) => return Err(Error::io("cannot create", &path, e.into())),
                }
                next = openat(&dir, *part, flags | OFlags::NOFOLLOW, Mode::empty());
            }
            dir = match next {
                Ok(d) => d,
                Err(Errno::LOOP | Errno::NOTDIR) => {
                    return Err(Error::Remote {
                        remote: String::new(),
                        url: root.display().to_string(),
                        failure: crate::error::RemoteFailure::NotAStore,
                        detail: format!(
                            "`{}` is a symbolic link or a file where the store has a directory; \
                             codever never writes through a link in a remote",
                            path.strip_prefix(root).unwrap_or(&path).display()
                        ),
                    });
                }
                Err(e) => return Err(Error::io("cannot open", &path, e.into())),
            };
        }
        Ok(dir)
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
            if ft.is_file() {
                let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
                out.push(RemoteFile {
                    key: child,
                    size,
                    not_a_file: false,
                });
            } else if ft.is_symlink() || super::keys::Entry::parse(&child).is_some() {
                // A link anywhere, or a directory or FIFO named as a store's file: listed so
                // the transfer names it, never read or entered.
                out.push(RemoteFile {
                    key: child,
                    size: 0,
                    not_a_file: true,
                });
            } else if ft.is_dir() {
                self.walk(&entry.path(), &format!("{child}/"), out)?;
            }
        }
        Ok(())
    }
}

impl Transport for Folder {
    fn list(&self, prefix: &str) -> Result<Vec<RemoteFile>> {
        let dir = self.path(prefix.trim_end_matches('/'))?;
        // The prefix's own directory too (`packs` a link): the walk below follows none.
        self.no_link_on_the_way(&format!("{}/x", prefix.trim_end_matches('/')))
            .map_err(|e| Error::io("cannot list", &dir, e))?;
        // A file where the store has a folder (`refs` a file) hides everything that goes in it:
        // an error, not an empty listing.
        if std::fs::symlink_metadata(&dir).is_ok_and(|m| !m.is_dir()) {
            return Err(Error::io(
                "cannot list",
                &dir,
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "not a folder (a file where the store has a folder)",
                ),
            ));
        }
        let mut out = Vec::new();
        self.walk(&dir, prefix, &mut out)?;
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let got = self.get_range(key, 0, super::MAX_GET + 1)?;
        if got
            .as_ref()
            .is_some_and(|b| b.len() as u64 > super::MAX_GET)
        {
            return Err(super::too_large_to_get(self.path(key)?));
        }
        Ok(got)
    }

    fn get_range(&self, key: &str, offset: u64, len: u64) -> Result<Option<Vec<u8>>> {
        self.get.fetch_add(1, Ordering::Relaxed);
        let path = self.path(key)?;
        self.no_link_on_the_way(key)
            .map_err(|e| Error::io("cannot read", &path, e))?;
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
        self.write(key, &mut &bytes[..], false)
    }

    fn put_file(&self, key: &str, src: &Path) -> Result<bool> {
        self.put.fetch_add(1, Ordering::Relaxed);
        let mut f = open_regular(src).map_err(|e| Error::io("cannot read", src, e))?;
        self.write(key, &mut f, false)
    }

    fn get_to(&self, key: &str, out: &mut dyn std::io::Write) -> Result<bool> {
        self.get.fetch_add(1, Ordering::Relaxed);
        let path = self.path(key)?;
        self.no_link_on_the_way(key)
            .map_err(|e| Error::io("cannot read", &path, e))?;
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
        self.write(key, &mut &bytes[..], true)?;
        self.flush()
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

    fn folder(&self) -> Option<&Path> {
        Some(self.layout.root())
    }

    fn requests(&self) -> RequestCounts {
        RequestCounts {
            list: self.list.load(Ordering::Relaxed),
            get: self.get.load(Ordering::Relaxed),
            put: self.put.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::Transport;
    use std::fs;

    /// A whole-file get reads small files and refuses one larger than any file read whole (a
    /// folder's owner could swap a listed small object for a huge one before it is read), after
    /// reading no more than the limit.
    #[test]
    fn a_whole_file_get_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let folder = Folder::new(dir.path());
        fs::create_dir_all(dir.path().join("objects/ab")).unwrap();
        fs::write(dir.path().join("objects/ab/small"), b"small").unwrap();
        assert_eq!(
            folder.get("objects/ab/small").unwrap(),
            Some(b"small".to_vec())
        );
        assert_eq!(folder.get("objects/ab/absent").unwrap(), None);
        let at_limit = fs::File::create(dir.path().join("objects/ab/limit")).unwrap();
        at_limit.set_len(super::super::MAX_GET).unwrap();
        assert_eq!(
            folder
                .get("objects/ab/limit")
                .unwrap()
                .map(|b| b.len() as u64),
            Some(super::super::MAX_GET)
        );
        let huge = fs::File::create(dir.path().join("objects/ab/huge")).unwrap();
        huge.set_len(3 << 30).unwrap();
        let e = folder.get("objects/ab/huge").unwrap_err().to_string();
        assert!(
            e.contains("more than 64 MiB, larger than any file read whole"),
            "{e}"
        );
    }
}
