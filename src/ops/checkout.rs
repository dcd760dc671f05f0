//! Restoring a version's files into a directory, never writing outside it.
//!
//! Paths come from the store, which may have been synced from an untrusted machine: every
//! component is re-validated ([`crate::tree::flatten`]), no existing symlink is followed, and
//! files are written by rename, which replaces a link instead of writing through it.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::capture::snapshot::is_executable;
use crate::error::{Error, Result};
use crate::id::ObjectId;
use crate::object::FileMeta;
use crate::store::Store;
use crate::tree::ManifestEntry;
use crate::tree::flatten;

/// What a checkout did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckoutReport {
    /// Files written.
    pub written: Vec<String>,
    /// Files already identical, left alone.
    pub unchanged: Vec<String>,
}

enum Plan {
    Write,
    Unchanged,
}

impl Store {
    /// Writes the files of tree `tree` into `into` (created if needed).
    ///
    /// Without `force`, nothing is written when any existing file differs. Refuses to write
    /// through a symlink or a non-directory in the way, with or without `force`.
    pub fn checkout(&self, tree: &ObjectId, into: &Path, force: bool) -> Result<CheckoutReport> {
        let files = flatten(self, tree)?;
        // Every blob must be present before anything is written.
        for ManifestEntry { meta, .. } in &files {
            if !self.has_object(&meta.id) {
                return Err(Error::MissingObject { id: meta.id });
            }
        }
        fs::create_dir_all(into).map_err(|e| Error::io("cannot create", into, e))?;
        let mut plans = Vec::with_capacity(files.len());
        let mut differing = Vec::new();
        for ManifestEntry { path, meta } in &files {
            let plan = plan_file(into, path, meta)?;
            if let Some(p) = plan {
                plans.push(p);
            } else {
                differing.push(path.clone());
                plans.push(Plan::Write);
            }
        }
        if !differing.is_empty() && !force {
            return Err(Error::WouldOverwrite {
                dir: into.to_path_buf(),
                paths: differing,
            });
        }
        // Two phases: every file is first written and verified into a temp file beside its
        // target, then all are renamed into place. A blob found corrupt on the way leaves the
        // target as it was (the temp files are dropped), never half checked out.
        let mut report = CheckoutReport::default();
        let mut staged = Vec::new();
        for (ManifestEntry { path, meta }, plan) in files.iter().zip(plans) {
            match plan {
                Plan::Unchanged => report.unchanged.push(path.clone()),
                Plan::Write => {
                    staged.push(stage_file(self, into, path, meta)?);
                    report.written.push(path.clone());
                }
            }
        }
        for (tmp, target) in staged {
            // rename replaces whatever is at `target` (a symlink is replaced, not followed).
            tmp.persist(&target)
                .map_err(|e| Error::io("cannot write", &target, e.error))?;
        }
        Ok(report)
    }
}

/// Checks the way to `into/path`: `Some(Write)` when the file is absent, `Some(Unchanged)` when
/// it is identical, `None` when a different file is there.
fn plan_file(into: &Path, path: &str, meta: &FileMeta) -> Result<Option<Plan>> {
    let (dir, target) = safe_parent(into, path, false)?;
    if dir.is_none() {
        return Ok(Some(Plan::Write));
    }
    match fs::symlink_metadata(&target) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Some(Plan::Write)),
        Err(e) => Err(Error::io("cannot inspect", target, e)),
        Ok(m) if m.file_type().is_symlink() => Ok(None),
        Ok(m) if m.is_dir() => Err(Error::UnsafeCheckout {
            path: target,
            reason: "a directory is where a file must go".into(),
        }),
        // A FIFO, socket or device where a file must go differs (it is never opened: a FIFO
        // would block the checkout).
        Ok(m) if !m.is_file() => Ok(None),
        Ok(m) => {
            if m.len() != meta.size || is_executable(&m) != meta.executable {
                return Ok(None);
            }
            // Hashed in pieces: a large file already in place costs no memory.
            if same_content(&target, meta).map_err(|e| Error::io("cannot read", &target, e))? {
                Ok(Some(Plan::Unchanged))
            } else {
                Ok(None)
            }
        }
    }
}

/// Whether the regular file at `target` holds exactly the blob `meta` names.
fn same_content(target: &Path, meta: &FileMeta) -> io::Result<bool> {
    use std::io::Read;
    let mut f = crate::store::open_regular(target)?;
    let mut hasher = crate::id::BlobHasher::new(meta.size);
    let mut buf = vec![0u8; (1 << 20).min(meta.size as usize + 1)];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finish().is_some_and(|(id, _)| id == meta.id))
}

/// Walks the parent directories of `into/path` without following symlinks. Returns the parent
/// directory (None if some part of it does not exist yet) and the target path. With `create`,
/// missing directories are made.
fn safe_parent(into: &Path, path: &str, create: bool) -> Result<(Option<PathBuf>, PathBuf)> {
    let parts: Vec<&str> = path.split('/').collect();
    let mut dir = into.to_path_buf();
    let mut exists = true;
    for part in &parts[..parts.len() - 1] {
        dir.push(part);
        if !exists {
            continue;
        }
        match fs::symlink_metadata(&dir) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(Error::UnsafeCheckout {
                    path: dir,
                    reason: "it is a symlink, and checkout never writes through one".into(),
                });
            }
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(Error::UnsafeCheckout {
                    path: dir,
                    reason: "a file is where a directory must go".into(),
                });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if create {
                    fs::create_dir(&dir).map_err(|e| Error::io("cannot create", &dir, e))?;
                } else {
                    exists = false;
                }
            }
            Err(e) => return Err(Error::io("cannot inspect", dir, e)),
        }
    }
    let target = dir.join(parts[parts.len() - 1]);
    Ok((exists.then_some(dir), target))
}

/// Writes the file `path` of a version into a temp file beside its target, verified against its
/// id and with its mode set; returns it (closed: a checkout of many files holds no descriptors)
/// and the target it must be renamed to.
fn stage_file(
    store: &Store,
    into: &Path,
    path: &str,
    meta: &FileMeta,
) -> Result<(tempfile::TempPath, PathBuf)> {
    let (dir, target) = safe_parent(into, path, true)?;
    let dir = dir.unwrap_or_else(|| into.to_path_buf());
    let tmp = tempfile::Builder::new()
        .prefix(".codever-tmp")
        .tempfile_in(&dir)
        .map_err(|e| Error::io("cannot create a temp file in", &dir, e))?;
    // Streamed for large files; verified against the id as it is written.
    {
        let mut w = io::BufWriter::with_capacity(1 << 20, tmp.as_file());
        store.write_blob_to(&meta.id, meta.size, &mut w)?;
        w.flush()
            .map_err(|e| Error::io("cannot write", tmp.path().to_path_buf(), e))?;
    }
    set_mode(tmp.as_file(), meta.executable)
        .map_err(|e| Error::io("cannot set the mode of", tmp.path().to_path_buf(), e))?;
    Ok((tmp.into_temp_path(), target))
}

fn set_mode(file: &fs::File, executable: bool) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = if executable { 0o755 } else { 0o644 };
        file.set_permissions(fs::Permissions::from_mode(mode))
    }
    #[cfg(not(unix))]
    {
        let _ = (file, executable);
        Ok(())
    }
}
