//! Restoring a version's files into a directory, never writing outside it.
//!
//! Paths come from the store, which may have been synced from an untrusted machine: every
//! component is re-validated ([`crate::tree::flatten`]), no existing symlink is followed, and
//! files are written by rename, which replaces a link instead of writing through it.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::capture::snapshot::is_executable;
use crate::error::{Error, Obstacle, Result};
use crate::history::History;
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
    /// Files found in the directory that are not part of the version, left in place. Only files
    /// a capture of the directory would consider are listed: ignored files (`.gitignore`),
    /// `.git/`, `.codever/`, the store, virtualenvs and unreadable directories never are.
    pub extra: Vec<String>,
    /// Files not part of the version that [`CheckoutOptions::clean`] removed.
    pub removed: Vec<String>,
}

/// How a checkout treats what is already in the directory.
#[derive(Clone, Copy, Debug, Default)]
pub struct CheckoutOptions<'a> {
    /// Overwrite files that differ from the version (otherwise nothing is written when any
    /// does).
    pub force: bool,
    /// The checked-out version's artifact: once the version is in place, remove the files of
    /// the directory that the version does not have but that are an unchanged copy of the same
    /// path in some version of this artifact, so that the store can give every removed byte
    /// back. Anything else not part of the version (a file never logged, one edited since, one
    /// that cannot be removed) is left and listed in [`CheckoutReport::extra`]. Removal never
    /// follows a symlink, never leaves the directory and never touches what a capture ignores.
    pub clean: Option<&'a History>,
}

impl Store {
    /// Writes the files of tree `tree` into `into` (created if needed).
    ///
    /// Without `force`, nothing is written when any existing file differs. Refuses to write
    /// through a symlink or a non-directory in the way, with or without `force`, and refuses a
    /// target inside the store or a `.git` directory.
    pub fn checkout(&self, tree: &ObjectId, into: &Path, force: bool) -> Result<CheckoutReport> {
        let opts = CheckoutOptions { force, clean: None };
        self.checkout_with(tree, into, &opts)
    }

    /// [`Store::checkout`] with every option: see [`CheckoutOptions`]. Files of the directory
    /// not part of the version are listed in the report (`extra`, and `removed` with `clean`).
    pub fn checkout_with(
        &self,
        tree: &ObjectId,
        into: &Path,
        opts: &CheckoutOptions<'_>,
    ) -> Result<CheckoutReport> {
        let force = opts.force;
        refuse_special_target(self, into)?;
        let files = flatten(self, tree)?;
        // Every blob must be present before anything is written.
        for ManifestEntry { meta, .. } in &files {
            if !self.has_object(&meta.id) {
                return Err(Error::MissingObject { id: meta.id });
            }
        }
        // The files that are not part of the version, found before anything is written.
        let extra = if into.is_dir() {
            extra_files(self, into, &files)
        } else {
            Vec::new()
        };
        // Directories made by this checkout, outermost first: removed again (when still empty)
        // if it fails, so a failed checkout leaves the target as it was.
        let mut created: Vec<PathBuf> = into
            .ancestors()
            .take_while(|d| !d.as_os_str().is_empty() && fs::symlink_metadata(d).is_err())
            .map(Path::to_path_buf)
            .collect();
        created.reverse();
        fs::create_dir_all(into).map_err(|e| Error::io("cannot create", into, e))?;
        // Held from now on: files are written and cleaned in this directory even if its path
        // is made to point elsewhere meanwhile.
        let result = Root::open(self, into).and_then(|root| {
            Ok((
                write_files(self, &root, into, &files, force, &mut created)?,
                root,
            ))
        });
        if result.is_err() {
            for dir in created.iter().rev() {
                let _ = fs::remove_dir(dir);
            }
        }
        let (mut report, root) = result?;
        match opts.clean {
            Some(history) => {
                let (removed, left) = clean(self, &root, extra, history)?;
                report.removed = removed;
                report.extra = left;
            }
            None => report.extra = extra,
        }
        Ok(report)
    }
}

/// `into` made absolute with every existing part resolved (the parts that do not exist yet
/// appended as given).
fn resolved(into: &Path) -> PathBuf {
    let abs = crate::store::absolute(into);
    let mut missing = Vec::new();
    let mut base = abs.as_path();
    loop {
        if let Ok(real) = fs::canonicalize(base) {
            let mut out = real;
            out.extend(missing.iter().rev());
            return out;
        }
        match (base.parent(), base.file_name()) {
            (Some(parent), Some(name)) => {
                missing.push(name.to_os_string());
                base = parent;
            }
            _ => return abs,
        }
    }
}

/// Refuses a target that is the store or inside it, or inside a `.git` directory: what is
/// there belongs to codever or git, and writing (or cleaning) there would damage it.
fn refuse_special_target(store: &Store, into: &Path) -> Result<()> {
    let target = resolved(into);
    let root = resolved(store.root());
    let reason = if target.starts_with(&root) {
        Some(Obstacle::InsideStore)
    } else if target.components().any(|c| c.as_os_str() == ".git") {
        Some(Obstacle::InsideGit)
    } else {
        None
    };
    match reason {
        Some(reason) => Err(Error::UnsafeCheckout {
            path: into.to_path_buf(),
            reason,
        }),
        None => Ok(()),
    }
}

/// The files below `into` that a capture would consider, that are not among `files` and not
/// in the store (which may sit in the directory under any name).
fn extra_files(store: &Store, into: &Path, files: &[ManifestEntry]) -> Vec<String> {
    let wanted: HashSet<&str> = files.iter().map(|e| e.path.as_str()).collect();
    let store_rel = resolved(store.root())
        .strip_prefix(resolved(into))
        .ok()
        .map(|p| p.to_string_lossy().into_owned());
    crate::capture::snapshot::code_files_lenient(into)
        .into_iter()
        .filter(|p| !wanted.contains(p.as_str()))
        .filter(|p| {
            store_rel
                .as_deref()
                .is_none_or(|s| !s.is_empty() && !p.starts_with(&format!("{s}/")))
        })
        .collect()
}

/// Removes the files of `extra` that are unchanged copies of the same path in some version of
/// `history`; returns (removed, left).
fn clean(
    store: &Store,
    root: &Root,
    extra: Vec<String>,
    history: &History,
) -> Result<(Vec<String>, Vec<String>)> {
    if extra.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let wanted: HashSet<&str> = extra.iter().map(String::as_str).collect();
    let mut known: HashMap<String, HashSet<ObjectId>> = HashMap::new();
    for v in &history.versions {
        for e in flatten(store, &v.tree)? {
            if wanted.contains(e.path.as_str()) {
                known.entry(e.path).or_default().insert(e.meta.id);
            }
        }
    }
    let (mut removed, mut left) = (Vec::new(), Vec::new());
    for rel in extra {
        let outcome = match known.get(&rel) {
            // A failure to remove one file leaves it, listed; the others go on.
            Some(ids) => root.remove_if_copy(&rel, ids).unwrap_or(Removal::Kept),
            None => Removal::Kept,
        };
        match outcome {
            Removal::Removed => removed.push(rel),
            Removal::Kept => left.push(rel),
            // Removed meanwhile by someone else: neither ours nor left.
            Removal::Gone => {}
        }
    }
    Ok((removed, left))
}

/// What became of a file `--clean` looked at.
#[derive(Debug, PartialEq, Eq)]
enum Removal {
    Removed,
    Kept,
    Gone,
}

/// The target directory of a clean, opened once: every removal is made relative to it.
#[cfg(unix)]
struct Root(rustix::fd::OwnedFd);

/// The target directory of a clean (by path where directories cannot be held open).
#[cfg(not(unix))]
struct Root(PathBuf);

/// Whether `file` holds one of the blobs `ids` (read in pieces).
fn holds_one_of(file: &mut fs::File, size: u64, ids: &HashSet<ObjectId>) -> io::Result<bool> {
    use std::io::Read;
    let mut hasher = crate::id::BlobHasher::new(size);
    let mut buf = vec![0u8; (1 << 20).min(size as usize + 1)];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finish().is_some_and(|(id, _)| ids.contains(&id)))
}

#[cfg(unix)]
impl Root {
    /// Opens `into` and checks, on the opened directory itself, that it is the directory the
    /// path names now and not in the store or a `.git` directory.
    fn open(store: &Store, into: &Path) -> Result<Root> {
        use rustix::fs::{Mode, OFlags, fstat};
        use std::os::unix::fs::MetadataExt;
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let fd = rustix::fs::open(into, flags, Mode::empty())
            .map_err(|e| Error::io("cannot open", into, e.into()))?;
        refuse_special_target(store, into)?;
        let st = fstat(&fd).map_err(|e| Error::io("cannot inspect", into, e.into()))?;
        let now = fs::metadata(resolved(into)).map_err(|e| Error::io("cannot inspect", into, e))?;
        if (now.dev(), now.ino()) != (st.st_dev, st.st_ino) {
            return Err(Error::UnsafeCheckout {
                path: into.to_path_buf(),
                reason: Obstacle::Replaced,
            });
        }
        Ok(Root(fd))
    }

    /// Removes `rel` if it is a regular file holding one of the blobs `ids` and unchanged
    /// while it was read, then the directories that held it if they are left empty (never the
    /// target itself). Every directory on the way is opened without following links and the
    /// file is removed relative to its opened directory, so a link put in the way at any moment
    /// can neither redirect the removal outside the target nor make it remove something that
    /// was not checked. (A write to the file in the instant between its last check and its
    /// removal is the one change this cannot see.)
    fn remove_if_copy(&self, rel: &str, ids: &HashSet<ObjectId>) -> io::Result<Removal> {
        use rustix::fs::{AtFlags, FileType, Mode, OFlags, fstat, openat, statat, unlinkat};
        let parts: Vec<&str> = rel.split('/').collect();
        let Some((name, parents)) = parts.split_last() else {
            return Ok(Removal::Kept);
        };
        let dir_flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let gone = |e: rustix::io::Errno| {
            if e == rustix::io::Errno::NOENT {
                Ok(Removal::Gone)
            } else {
                Err(io::Error::from(e))
            }
        };
        let mut dirs = Vec::with_capacity(parents.len());
        for part in parents {
            let parent = dirs.last().unwrap_or(&self.0);
            match openat(parent, *part, dir_flags, Mode::empty()) {
                Ok(d) => dirs.push(d),
                Err(e) => return gone(e),
            }
        }
        let dir = dirs.last().unwrap_or(&self.0);
        let file_flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let fd = match openat(dir, *name, file_flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(e) => return gone(e),
        };
        let before = fstat(&fd)?;
        if FileType::from_raw_mode(before.st_mode) != FileType::RegularFile {
            return Ok(Removal::Kept);
        }
        let mut file = fs::File::from(fd);
        if !holds_one_of(&mut file, before.st_size as u64, ids)? {
            return Ok(Removal::Kept);
        }
        // Not written while it was read (any write moves the ctime), and still the file that
        // was read under that name.
        let stamp = |s: &rustix::fs::Stat| {
            (
                s.st_dev,
                s.st_ino,
                s.st_size,
                s.st_mtime,
                s.st_mtime_nsec,
                s.st_ctime,
                s.st_ctime_nsec,
            )
        };
        let after = fstat(&file)?;
        let named = match statat(dir, *name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(e) => return gone(e),
        };
        if stamp(&after) != stamp(&before) || stamp(&named) != stamp(&before) {
            return Ok(Removal::Kept);
        }
        if let Err(e) = unlinkat(dir, *name, AtFlags::empty()) {
            return gone(e);
        }
        for i in (0..parents.len()).rev() {
            let parent = if i == 0 { &self.0 } else { &dirs[i - 1] };
            if unlinkat(parent, parents[i], AtFlags::REMOVEDIR).is_err() {
                break;
            }
        }
        Ok(Removal::Removed)
    }
}

/// A version's file written into a temp file beside its target, to be renamed into place.
struct Staged {
    /// The target directory, for messages.
    into: PathBuf,
    /// The directories from the target down to the file's.
    parents: Vec<String>,
    /// The temp file's name in that directory.
    tmp: String,
    /// The file's name there.
    name: String,
    /// The file's path, for messages.
    target: PathBuf,
}

/// Writes the blob of `meta` into `file`, verified against its id as it is written, and sets
/// its mode.
fn fill(store: &Store, file: &fs::File, meta: &FileMeta, shown: &Path) -> Result<()> {
    // Streamed for large files; verified against the id as it is written.
    let mut w = io::BufWriter::with_capacity(1 << 20, file);
    store.write_blob_to(&meta.id, meta.size, &mut w)?;
    w.flush()
        .map_err(|e| Error::io("cannot write", shown.to_path_buf(), e))?;
    drop(w);
    set_mode(file, meta.executable)
        .map_err(|e| Error::io("cannot set the mode of", shown.to_path_buf(), e))
}

#[cfg(unix)]
impl Root {
    /// Opens the directory `parents` below the target, each part without following a link;
    /// with `created`, makes the missing ones (recording their paths below `into`).
    fn dir(
        &self,
        into: &Path,
        parents: &[String],
        mut created: Option<&mut Vec<PathBuf>>,
    ) -> Result<rustix::fd::OwnedFd> {
        use rustix::fs::{Mode, OFlags, mkdirat, openat};
        use rustix::io::Errno;
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let mut path = into.to_path_buf();
        let mut dir =
            rustix::io::dup(&self.0).map_err(|e| Error::io("cannot open", into, e.into()))?;
        for part in parents {
            path.push(part);
            let next = match openat(&dir, part.as_str(), flags, Mode::empty()) {
                Err(Errno::NOENT) if created.is_some() => {
                    mkdirat(&dir, part.as_str(), Mode::from_raw_mode(0o777))
                        .map_err(|e| Error::io("cannot create", &path, e.into()))?;
                    if let Some(c) = created.as_deref_mut() {
                        c.push(path.clone());
                    }
                    openat(&dir, part.as_str(), flags, Mode::empty())
                }
                r => r,
            };
            dir = match next {
                Ok(d) => d,
                // A link, or a file, where a directory must go.
                Err(Errno::LOOP | Errno::NOTDIR) => {
                    let is_link = fs::symlink_metadata(&path).is_ok_and(|m| m.is_symlink());
                    return Err(Error::UnsafeCheckout {
                        path,
                        reason: if is_link {
                            Obstacle::Symlink
                        } else {
                            Obstacle::FileForDirectory
                        },
                    });
                }
                Err(e) => return Err(Error::io("cannot open", path, e.into())),
            };
        }
        Ok(dir)
    }

    /// Writes the file `path` of a version into a new temp file beside its target, made in the
    /// directory opened without following links (and created as needed).
    fn stage(
        &self,
        store: &Store,
        into: &Path,
        path: &str,
        meta: &FileMeta,
        created: &mut Vec<PathBuf>,
    ) -> Result<Staged> {
        use rustix::fs::{Mode, OFlags, openat};
        let mut parts: Vec<String> = path.split('/').map(str::to_string).collect();
        let name = parts.pop().unwrap_or_default();
        let dir = self.dir(into, &parts, Some(created))?;
        let target = into.join(path);
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let mut attempt = 0;
        let (tmp, fd) = loop {
            let tmp = format!(".codever-tmp-{}", crate::capture::new_run_id());
            match openat(&dir, tmp.as_str(), flags, Mode::from_raw_mode(0o600)) {
                Ok(fd) => break (tmp, fd),
                Err(rustix::io::Errno::EXIST) if attempt < 100 => attempt += 1,
                Err(e) => return Err(Error::io("cannot create a temp file for", target, e.into())),
            }
        };
        let staged = Staged {
            into: into.to_path_buf(),
            parents: parts,
            tmp,
            name,
            target,
        };
        let file = fs::File::from(fd);
        if let Err(e) = fill(store, &file, meta, &staged.target) {
            drop(file);
            self.discard(&staged);
            return Err(e);
        }
        Ok(staged)
    }

    /// Renames a staged file into place, in its directory opened again without following links.
    fn persist(&self, s: &Staged) -> Result<()> {
        let dir = self.dir(&s.into, &s.parents, None)?;
        rustix::fs::renameat(&dir, s.tmp.as_str(), &dir, s.name.as_str())
            .map_err(|e| Error::io("cannot write", &s.target, e.into()))
    }

    /// Removes a staged file (a checkout that failed), best effort.
    fn discard(&self, s: &Staged) {
        if let Ok(dir) = self.dir(&s.into, &s.parents, None) {
            let _ = rustix::fs::unlinkat(&dir, s.tmp.as_str(), rustix::fs::AtFlags::empty());
        }
    }
}

// Elsewhere than Unix, by paths (`checkout_portable.rs`: not built, so not mutation-tested, here).
#[cfg(not(unix))]
#[path = "checkout_portable.rs"]
mod portable;

enum Plan {
    Write,
    Unchanged,
}

/// The checkout of `files` into the existing directory `into`; records every directory it
/// makes in `created`.
fn write_files(
    store: &Store,
    root: &Root,
    into: &Path,
    files: &[ManifestEntry],
    force: bool,
    created: &mut Vec<PathBuf>,
) -> Result<CheckoutReport> {
    let mut plans = Vec::with_capacity(files.len());
    let mut differing = Vec::new();
    for ManifestEntry { path, meta } in files {
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
    let result = (|| {
        for (ManifestEntry { path, meta }, plan) in files.iter().zip(plans) {
            match plan {
                Plan::Unchanged => report.unchanged.push(path.clone()),
                Plan::Write => {
                    staged.push(root.stage(store, into, path, meta, created)?);
                    report.written.push(path.clone());
                }
            }
        }
        // rename replaces whatever is at the target (a symlink is replaced, not followed).
        for s in &staged {
            root.persist(s)?;
        }
        Ok(())
    })();
    if result.is_err() {
        for s in &staged {
            root.discard(s);
        }
    }
    result.map(|()| report)
}

/// Checks the way to `into/path`: `Some(Write)` when the file is absent, `Some(Unchanged)` when
/// it is identical, `None` when a different file is there.
fn plan_file(into: &Path, path: &str, meta: &FileMeta) -> Result<Option<Plan>> {
    let (dir, target) = safe_parent(into, path, None)?;
    if dir.is_none() {
        return Ok(Some(Plan::Write));
    }
    match fs::symlink_metadata(&target) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Some(Plan::Write)),
        Err(e) => Err(Error::io("cannot inspect", target, e)),
        Ok(m) if m.file_type().is_symlink() => Ok(None),
        Ok(m) if m.is_dir() => Err(Error::UnsafeCheckout {
            path: target,
            reason: Obstacle::DirectoryForFile,
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
    let mut f = crate::store::open_regular(target)?;
    holds_one_of(&mut f, meta.size, &HashSet::from([meta.id]))
}

/// Walks the parent directories of `into/path` without following symlinks. Returns the parent
/// directory (None if some part of it does not exist yet) and the target path. With `create`,
/// missing directories are made and pushed onto it.
fn safe_parent(
    into: &Path,
    path: &str,
    mut create: Option<&mut Vec<PathBuf>>,
) -> Result<(Option<PathBuf>, PathBuf)> {
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
                    reason: Obstacle::Symlink,
                });
            }
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(Error::UnsafeCheckout {
                    path: dir,
                    reason: Obstacle::FileForDirectory,
                });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if let Some(created) = create.as_deref_mut() {
                    fs::create_dir(&dir).map_err(|e| Error::io("cannot create", &dir, e))?;
                    created.push(dir.clone());
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ArtifactKey, CommitOptions, Snapshot, capture_run};
    use std::os::unix::fs::PermissionsExt;

    /// A directory swapped for a link between staging a file and renaming it into place (as a
    /// racing process could) fails the checkout: the file outside is never replaced.
    #[test]
    fn a_link_swapped_in_before_the_rename_is_not_followed() {
        let (tmp, store, tree) = store_with(&[("zzz/last", b"from the version\n", false)]);
        let files = flatten(&store, &tree).unwrap();
        let into = tmp.path().join("into");
        fs::create_dir_all(&into).unwrap();
        let root = Root::open(&store, &into).unwrap();
        let mut created = Vec::new();
        let staged = root
            .stage(&store, &into, "zzz/last", &files[0].meta, &mut created)
            .unwrap();
        assert_eq!(created, [into.join("zzz")]);
        // The directory is moved away and replaced by a link to a victim holding the temp file.
        let victim = tmp.path().join("victim");
        fs::rename(into.join("zzz"), &victim).unwrap();
        fs::write(victim.join("last"), b"PRECIOUS\n").unwrap();
        std::os::unix::fs::symlink(&victim, into.join("zzz")).unwrap();
        let e = root.persist(&staged).unwrap_err();
        assert!(
            matches!(
                e,
                Error::UnsafeCheckout {
                    reason: Obstacle::Symlink,
                    ..
                }
            ),
            "{e}"
        );
        assert_eq!(fs::read(victim.join("last")).unwrap(), b"PRECIOUS\n");
    }

    /// The removal primitive of `--clean` never goes through a link: a directory on the way
    /// swapped for a link to an exact copy outside (as a racing process could) is refused, the
    /// copy outside kept; a link where the file was is not followed either. The target itself
    /// is held open: making its path a link afterwards changes nothing.
    #[test]
    fn cleaning_never_follows_a_link_put_in_the_way() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::init(&tmp.path().join("project")).unwrap();
        let into = tmp.path().join("into");
        let outside = tmp.path().join("outside");
        fs::create_dir_all(into.join("sub")).unwrap();
        fs::create_dir_all(&outside).unwrap();
        let content = b"b = 0\n";
        let ids: HashSet<ObjectId> = [ObjectId::compute(crate::kind::Kind::Blob, content)].into();
        fs::write(outside.join("b.py"), content).unwrap();
        let root = Root::open(&store, &into).unwrap();
        // The directory on the way is a link.
        fs::remove_dir(into.join("sub")).unwrap();
        std::os::unix::fs::symlink(&outside, into.join("sub")).unwrap();
        assert!(root.remove_if_copy("sub/b.py", &ids).is_err());
        assert_eq!(fs::read(outside.join("b.py")).unwrap(), content);
        // The file itself is a link.
        std::os::unix::fs::symlink(outside.join("b.py"), into.join("b.py")).unwrap();
        assert!(root.remove_if_copy("b.py", &ids).is_err());
        assert!(
            fs::symlink_metadata(into.join("b.py"))
                .unwrap()
                .is_symlink()
        );
        // A real copy: removed, and so is the directory left empty, never the target.
        fs::create_dir_all(into.join("d/e")).unwrap();
        fs::write(into.join("d/e/b.py"), content).unwrap();
        assert_eq!(
            root.remove_if_copy("d/e/b.py", &ids).unwrap(),
            Removal::Removed
        );
        assert!(!into.join("d").exists() && into.is_dir());
        assert_eq!(
            root.remove_if_copy("d/e/b.py", &ids).unwrap(),
            Removal::Gone
        );
        // Other bytes at that path: kept.
        fs::write(into.join("c.py"), b"b = 1\n").unwrap();
        assert_eq!(root.remove_if_copy("c.py", &ids).unwrap(), Removal::Kept);
        assert!(into.join("c.py").is_file());
        // A FIFO is never opened for reading (it would block) and never removed.
        let fifo = into.join("f.py");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        assert_eq!(root.remove_if_copy("f.py", &ids).unwrap(), Removal::Kept);
        assert!(fs::symlink_metadata(&fifo).is_ok());
        // The target's path now points at the outside directory: removals still happen in the
        // directory that was opened, and the copy outside is kept.
        fs::write(into.join("b2.py"), content).unwrap();
        fs::write(outside.join("b2.py"), content).unwrap();
        fs::rename(&into, tmp.path().join("into.real")).unwrap();
        std::os::unix::fs::symlink(&outside, &into).unwrap();
        assert_eq!(
            root.remove_if_copy("b2.py", &ids).unwrap(),
            Removal::Removed
        );
        assert_eq!(fs::read(outside.join("b2.py")).unwrap(), content);
        assert!(!tmp.path().join("into.real/b2.py").exists());
        // Opening a target that is now a link into the store is refused.
        let _ = fs::remove_file(&into);
        std::os::unix::fs::symlink(store.root(), &into).unwrap();
        assert!(matches!(
            Root::open(&store, &into),
            Err(Error::UnsafeCheckout {
                reason: Obstacle::InsideStore,
                ..
            })
        ));
    }

    /// A store holding one version of `files` (path, content, executable); returns its tree.
    fn store_with(files: &[(&str, &[u8], bool)]) -> (tempfile::TempDir, Store, ObjectId) {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::init(&tmp.path().join("project")).unwrap();
        let mut s = Snapshot::default();
        for (path, content, exec) in files {
            s.add_bytes(path, content.to_vec(), *exec).unwrap();
        }
        let run = capture_run("r1", tmp.path()).unwrap();
        let key = ArtifactKey::new("code", "c").unwrap();
        let tree = store
            .commit(&key, &s, &run, &CommitOptions::default())
            .unwrap()
            .tree;
        (tmp, store, tree)
    }

    const FILES: &[(&str, &[u8], bool)] = &[
        ("a.py", b"a = 1\n", false),
        ("run.sh", b"#!/bin/sh\n", true),
        ("sub/c.py", b"c = 3\n", false),
    ];

    /// Every path below `root` (directories with a trailing `/`, links with ` -> target`),
    /// with file contents: what a checkout must leave alone when it refuses.
    fn listing(root: &Path) -> Vec<(String, Vec<u8>)> {
        fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
            let mut entries: Vec<_> = fs::read_dir(dir).unwrap().map(|e| e.unwrap()).collect();
            entries.sort_by_key(|e| e.file_name());
            for e in entries {
                let p = e.path();
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                let m = fs::symlink_metadata(&p).unwrap();
                if m.is_symlink() {
                    let to = fs::read_link(&p).unwrap();
                    out.push((format!("{rel} -> {}", to.display()), Vec::new()));
                } else if m.is_dir() {
                    out.push((format!("{rel}/"), Vec::new()));
                    walk(root, &p, out);
                } else if m.is_file() {
                    out.push((rel, fs::read(&p).unwrap()));
                } else {
                    out.push((format!("{rel} (special)"), Vec::new()));
                }
            }
        }
        let mut out = Vec::new();
        walk(root, root, &mut out);
        out
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn mkfifo(path: &Path) {
        let made = std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .unwrap();
        assert!(made.success());
    }

    /// Asserts `e` is `UnsafeCheckout` at `path` for `reason`.
    fn assert_unsafe(e: Error, path: &Path, reason: &str) {
        match e {
            Error::UnsafeCheckout { path: p, reason: r } => {
                assert_eq!((p.as_path(), r.to_string().as_str()), (path, reason));
            }
            e => panic!("expected UnsafeCheckout, got {e}"),
        }
    }

    #[test]
    fn a_different_file_is_kept_unless_forced_and_nothing_else_is_written() {
        let (tmp, store, tree) = store_with(FILES);
        let into = tmp.path().join("out");
        fs::create_dir_all(&into).unwrap();
        fs::write(into.join("run.sh"), b"edited\n").unwrap();
        let before = listing(&into);
        match store.checkout(&tree, &into, false).unwrap_err() {
            Error::WouldOverwrite { dir, paths } => {
                assert_eq!(dir, into);
                assert_eq!(paths, ["run.sh"]);
            }
            e => panic!("{e}"),
        }
        assert_eq!(listing(&into), before);
        let report = store.checkout(&tree, &into, true).unwrap();
        assert_eq!(report.written, ["a.py", "run.sh", "sub/c.py"]);
        assert!(report.unchanged.is_empty());
        assert_eq!(fs::read(into.join("run.sh")).unwrap(), b"#!/bin/sh\n");
        assert_eq!(mode(&into.join("run.sh")), 0o755);
        assert_eq!(mode(&into.join("a.py")), 0o644);
        // Everything in place: nothing written, nothing refused.
        let report = store.checkout(&tree, &into, false).unwrap();
        assert!(report.written.is_empty());
        assert_eq!(report.unchanged, ["a.py", "run.sh", "sub/c.py"]);
        // Same size and mode, other bytes: different (the content is hashed, not trusted).
        fs::write(into.join("a.py"), b"a = 9\n").unwrap();
        match store.checkout(&tree, &into, false).unwrap_err() {
            Error::WouldOverwrite { paths, .. } => assert_eq!(paths, ["a.py"]),
            e => panic!("{e}"),
        }
        assert_eq!(
            store.checkout(&tree, &into, true).unwrap().written,
            ["a.py"]
        );
        assert_eq!(fs::read(into.join("a.py")).unwrap(), b"a = 1\n");
        // No temp file left beside any target.
        assert_eq!(
            listing(&into)
                .into_iter()
                .map(|(p, _)| p)
                .collect::<Vec<_>>(),
            ["a.py", "run.sh", "sub/", "sub/c.py"]
        );
    }

    #[test]
    fn an_executable_bit_difference_is_an_update_other_mode_bits_are_not() {
        let (tmp, store, tree) = store_with(FILES);
        let into = tmp.path().join("out");
        store.checkout(&tree, &into, false).unwrap();
        // Same bytes, executable bit lost (run.sh) and gained (a.py).
        fs::set_permissions(into.join("run.sh"), fs::Permissions::from_mode(0o644)).unwrap();
        fs::set_permissions(into.join("a.py"), fs::Permissions::from_mode(0o744)).unwrap();
        // Only read and write bits differ: the same file.
        fs::set_permissions(into.join("sub/c.py"), fs::Permissions::from_mode(0o600)).unwrap();
        match store.checkout(&tree, &into, false).unwrap_err() {
            Error::WouldOverwrite { paths, .. } => assert_eq!(paths, ["a.py", "run.sh"]),
            e => panic!("{e}"),
        }
        assert_eq!(mode(&into.join("run.sh")), 0o644);
        let report = store.checkout(&tree, &into, true).unwrap();
        assert_eq!(report.written, ["a.py", "run.sh"]);
        assert_eq!(report.unchanged, ["sub/c.py"]);
        assert_eq!(mode(&into.join("run.sh")), 0o755);
        assert_eq!(mode(&into.join("a.py")), 0o644);
        assert_eq!(mode(&into.join("sub/c.py")), 0o600);
    }

    #[test]
    fn a_parent_that_is_a_symlink_or_a_file_is_refused_even_with_force() {
        let (tmp, store, tree) = store_with(FILES);
        let outside = tmp.path().join("outside");
        fs::create_dir_all(&outside).unwrap();
        for force in [false, true] {
            let into = tmp.path().join(format!("out-{force}"));
            fs::create_dir_all(&into).unwrap();
            std::os::unix::fs::symlink(&outside, into.join("sub")).unwrap();
            let before = listing(&into);
            assert_unsafe(
                store.checkout(&tree, &into, force).unwrap_err(),
                &into.join("sub"),
                "it is a symlink, and checkout never writes through one",
            );
            assert_eq!(listing(&into), before, "force {force}");
            assert_eq!(listing(&outside), []);

            fs::remove_file(into.join("sub")).unwrap();
            fs::write(into.join("sub"), b"a file").unwrap();
            let before = listing(&into);
            assert_unsafe(
                store.checkout(&tree, &into, force).unwrap_err(),
                &into.join("sub"),
                "a file is where a directory must go",
            );
            assert_eq!(listing(&into), before, "force {force}");

            fs::remove_file(into.join("sub")).unwrap();
            fs::create_dir(into.join("a.py")).unwrap();
            let before = listing(&into);
            assert_unsafe(
                store.checkout(&tree, &into, force).unwrap_err(),
                &into.join("a.py"),
                "a directory is where a file must go",
            );
            assert_eq!(listing(&into), before, "force {force}");
        }
        // A link deeper down, to a directory inside the target itself, is refused the same.
        let (tmp, store, tree) =
            store_with(&[("a/b/c.py", b"c\n", false), ("z.py", b"z\n", false)]);
        let into = tmp.path().join("out");
        fs::create_dir_all(into.join("a/real")).unwrap();
        std::os::unix::fs::symlink(into.join("a/real"), into.join("a/b")).unwrap();
        let before = listing(&into);
        assert_unsafe(
            store.checkout(&tree, &into, true).unwrap_err(),
            &into.join("a/b"),
            "it is a symlink, and checkout never writes through one",
        );
        assert_eq!(listing(&into), before);
    }

    #[test]
    fn a_fifo_or_a_link_where_a_file_goes_differs_and_is_replaced_only_with_force() {
        let (tmp, store, tree) = store_with(FILES);
        let into = tmp.path().join("out");
        fs::create_dir_all(into.join("sub")).unwrap();
        mkfifo(&into.join("a.py"));
        let target = tmp.path().join("link-target");
        fs::write(&target, b"#!/bin/sh\n").unwrap();
        std::os::unix::fs::symlink(&target, into.join("run.sh")).unwrap();
        let before = listing(&into);
        match store.checkout(&tree, &into, false).unwrap_err() {
            Error::WouldOverwrite { paths, .. } => assert_eq!(paths, ["a.py", "run.sh"]),
            e => panic!("{e}"),
        }
        assert_eq!(listing(&into), before);
        let report = store.checkout(&tree, &into, true).unwrap();
        assert_eq!(report.written, ["a.py", "run.sh", "sub/c.py"]);
        for f in ["a.py", "run.sh"] {
            assert!(fs::symlink_metadata(into.join(f)).unwrap().is_file(), "{f}");
        }
        assert_eq!(fs::read(into.join("a.py")).unwrap(), b"a = 1\n");
        // The link was replaced, never written through.
        assert_eq!(fs::read(&target).unwrap(), b"#!/bin/sh\n");
        assert_eq!(mode(&target), 0o644);
    }

    /// A FIFO where an empty file goes (same size, zero) differs and never blocks the checkout
    /// (refused by type in `plan_file`, and again by `open_regular`, which opens without
    /// blocking and takes regular files only). The checkout runs on a thread so that a
    /// regression fails this test instead of hanging the suite.
    #[test]
    fn a_fifo_where_an_empty_file_goes_is_never_opened() {
        let (tmp, store, tree) = store_with(&[("empty.txt", b"", false)]);
        let into = tmp.path().join("out");
        fs::create_dir_all(&into).unwrap();
        mkfifo(&into.join("empty.txt"));
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let r = store
                .checkout(&tree, &into, false)
                .map(|_| ())
                .map_err(|e| e.to_string());
            let _ = tx.send(r);
        });
        let r = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("the checkout opened the FIFO and blocked");
        let e = r.unwrap_err();
        assert!(e.contains("empty.txt"), "{e}");
    }

    #[test]
    fn a_missing_blob_stops_checkout_before_the_target_is_made() {
        let (tmp, store, tree) = store_with(FILES);
        let c = ObjectId::compute(crate::object::Kind::Blob, b"c = 3\n");
        fs::remove_file(store.object_path(&c)).unwrap();
        let into = tmp.path().join("out");
        assert!(matches!(
            store.checkout(&tree, &into, true),
            Err(Error::MissingObject { id }) if id == c
        ));
        assert!(!into.exists());
    }

    /// A blob found corrupt while staging: the temp files are removed and so are the
    /// directories made for the files staged so far (here `d/` and `z/`), so the target is
    /// exactly as it was.
    #[test]
    fn a_corrupt_blob_leaves_the_target_exactly_as_it_was() {
        let (tmp, store, tree) = store_with(&[
            ("a.py", b"a = 1\n", false),
            ("d/b.py", b"b = 2\n", false),
            ("z/c.py", b"c = 3\n", false),
        ]);
        let c = ObjectId::compute(crate::object::Kind::Blob, b"c = 3\n");
        let path = store.object_path(&c);
        let mut bytes = fs::read(&path).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x10;
        fs::remove_file(&path).unwrap();
        fs::write(&path, bytes).unwrap();
        let into = tmp.path().join("out");
        fs::create_dir_all(&into).unwrap();
        fs::write(into.join("keep"), b"mine").unwrap();
        let before = listing(&into);
        let e = Store::open(store.root())
            .unwrap()
            .checkout(&tree, &into, true)
            .unwrap_err();
        assert!(
            matches!(e, Error::CorruptObject { id, .. } if id == c),
            "{e}"
        );
        assert_eq!(listing(&into), before);
        // A target the checkout made itself is removed again too.
        let fresh = tmp.path().join("new/out");
        Store::open(store.root())
            .unwrap()
            .checkout(&tree, &fresh, true)
            .unwrap_err();
        assert!(!tmp.path().join("new").exists());
        // An empty directory that was there before is not the checkout's to remove: only the
        // directories it made go.
        let mine = tmp.path().join("mine");
        fs::create_dir(&mine).unwrap();
        Store::open(store.root())
            .unwrap()
            .checkout(&tree, &mine.join("out"), true)
            .unwrap_err();
        assert!(mine.is_dir() && !mine.join("out").exists());
    }
}
