//! Listing `refs/` and `runs/`: which artifacts, runs and records are marked.
//!
//! Both trees are synced by copying files, so they can hold anything a file manager or a sync
//! tool leaves behind (`.DS_Store`, `._x`, an rsync temp file, a file where a directory belongs,
//! a directory where a marker belongs). Only conforming entries count:
//!
//! - `refs/<type>/` and `refs/<type>/<name>/`: directories (not links) with valid names;
//! - `runs/<run>/`: directories (not links) with valid run ids;
//! - markers: regular files (not links) named by a 64-hex record id;
//! - an artifact or a run exists when its directory holds at least one marker.
//!
//! Everything else is ignored by every command; `fsck` lists it as stray.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::id::ObjectId;
use crate::names::validate_name;
use crate::object::Structured;
use crate::store::Store;

/// What an entry of a marker tree must be to count.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Want {
    Dir,
    // Markers are listed without `entries` on Linux.
    #[cfg_attr(target_os = "linux", allow(dead_code))]
    File,
}

/// The entries of `dir` as they are read; a `dir` that is absent, or is not a directory, has
/// none.
fn read_entries(dir: &Path) -> Result<impl Iterator<Item = Result<fs::DirEntry>> + '_> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => Some(rd),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            None
        }
        Err(e) => return Err(Error::io("cannot list", dir, e)),
    };
    Ok(rd
        .into_iter()
        .flatten()
        .map(move |e| e.map_err(|e| Error::io("cannot list", dir, e))))
}

/// The entries of `dir`; a `dir` that is absent, or is not a directory, has none.
pub(super) fn dir_entries(dir: &Path) -> Result<Vec<fs::DirEntry>> {
    read_entries(dir)?.collect()
}

/// Names (valid UTF-8) of the entries of `dir` of the wanted type, links never followed.
pub(super) fn entries(dir: &Path, want: Want) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for entry in dir_entries(dir)? {
        // `file_type` does not follow links (and costs no system call where the directory
        // listing gives the type). An entry that vanished meanwhile is skipped.
        let Ok(ft) = entry.file_type() else { continue };
        let wanted = match want {
            Want::Dir => ft.is_dir(),
            Want::File => ft.is_file(),
        };
        if wanted && let Ok(name) = entry.file_name().into_string() {
            out.push(name);
        }
    }
    Ok(out)
}

/// The record ids marked in `dir`, sorted: regular files named by 64 hex characters.
pub(crate) fn marker_ids(dir: &Path) -> Result<Vec<ObjectId>> {
    #[cfg(target_os = "linux")]
    let mut ids = raw_marker_ids(dir)?;
    #[cfg(not(target_os = "linux"))]
    let mut ids: Vec<ObjectId> = entries(dir, Want::File)?
        .iter()
        .filter_map(|n| ObjectId::from_file_name(n))
        .collect();
    ids.sort_unstable();
    Ok(ids)
}

/// [`marker_ids`] unsorted, read with `getdents64` into one buffer: no allocation per entry (a
/// long history's directory holds one marker per run that logged the artifact, and `std`'s
/// listing made three allocations for each; 10,000 markers took 27 M instructions).
#[cfg(target_os = "linux")]
fn raw_marker_ids(dir: &Path) -> Result<Vec<ObjectId>> {
    use rustix::fs::{AtFlags, FileType, Mode, OFlags, RawDir, open, statat};
    use rustix::io::Errno;
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let fd = match open(dir, flags, Mode::empty()) {
        Ok(fd) => fd,
        // Absent, or not a directory: no markers (as `entries` has it).
        Err(Errno::NOENT | Errno::NOTDIR) => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("cannot list", dir, e.into())),
    };
    let mut ids = Vec::new();
    // getdents64 fills it with as many entries as fit (an entry takes at most 280 bytes).
    let mut buf: Vec<u8> = Vec::with_capacity(64 << 10);
    let mut entries = RawDir::new(&fd, buf.spare_capacity_mut());
    while let Some(entry) = entries.next() {
        let entry = entry.map_err(|e| Error::io("cannot list", dir, e.into()))?;
        let name = entry.file_name();
        let Some(id) = std::str::from_utf8(name.to_bytes())
            .ok()
            .and_then(ObjectId::from_file_name)
        else {
            continue;
        };
        let is_file = is_regular_entry(entry.file_type(), || {
            statat(&fd, name, AtFlags::SYMLINK_NOFOLLOW)
                .ok()
                .map(|st| FileType::from_raw_mode(st.st_mode))
        });
        if is_file {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// Whether a directory entry the listing says is of type `listed` is a regular file. Links are
/// never followed; a type the listing does not give (`Unknown`: filesystems without `d_type`,
/// some network and older XFS ones) is asked for with `ask` (a `stat` that does not follow
/// links) — else every marker there would be missed and the history read as empty.
#[cfg(target_os = "linux")]
fn is_regular_entry(
    listed: rustix::fs::FileType,
    ask: impl FnOnce() -> Option<rustix::fs::FileType>,
) -> bool {
    use rustix::fs::FileType;
    match listed {
        FileType::RegularFile => true,
        FileType::Unknown => ask() == Some(FileType::RegularFile),
        _ => false,
    }
}

/// The record ids marked in `dir` (see [`marker_ids`]).
pub(crate) fn markers_in(store: &Store, dir: &Path) -> Result<Vec<ObjectId>> {
    store.markers(dir)
}

/// Whether `dir` holds at least one marker. Stops at the first one: a long history's directory
/// is not listed to answer this.
pub(crate) fn has_markers(dir: &Path) -> Result<bool> {
    for entry in read_entries(dir)? {
        let entry = entry?;
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        if is_file
            && entry
                .file_name()
                .to_str()
                .and_then(ObjectId::from_file_name)
                .is_some()
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Subdirectories of `dir` whose names are valid `what` names, sorted.
pub(super) fn named_dirs(dir: &Path, what: &'static str) -> Result<Vec<String>> {
    let mut names: Vec<String> = entries(dir, Want::Dir)?
        .into_iter()
        .filter(|n| validate_name(what, n).is_ok())
        .collect();
    names.sort();
    Ok(names)
}

/// Artifacts marked under `refs` (the store's `refs/`), as sorted (type, name) pairs; with
/// `only_name`, only the artifacts of that name (the others' directories are not opened).
pub(crate) fn artifact_keys_named(
    refs: &Path,
    only_name: Option<&str>,
) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for ty in named_dirs(refs, "type")? {
        for name in named_dirs(&refs.join(&ty), "artifact name")? {
            if only_name.is_none_or(|n| n == name) && has_markers(&refs.join(&ty).join(&name))? {
                out.push((ty.clone(), name));
            }
        }
    }
    Ok(out)
}

/// Artifacts marked under `refs` (the store's `refs/`), as sorted (type, name) pairs.
pub(crate) fn artifact_keys(refs: &Path) -> Result<Vec<(String, String)>> {
    artifact_keys_named(refs, None)
}

/// Runs marked under `runs` (the store's `runs/`), sorted.
pub(crate) fn run_ids(runs: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for id in named_dirs(runs, "run id")? {
        if has_markers(&runs.join(&id))? {
            out.push(id);
        }
    }
    Ok(out)
}

impl Store {
    /// Directory of the markers of artifact (`ty`, `name`).
    pub(crate) fn artifact_dir(&self, ty: &str, name: &str) -> PathBuf {
        self.layout.artifact_dir(ty, name)
    }

    /// Directory of the markers of run `run`.
    pub(crate) fn run_dir(&self, run: &str) -> PathBuf {
        self.layout.run_dir(run)
    }

    /// Adds an empty marker file `dir/<id>`. An empty file is complete the moment it exists, so
    /// this needs no temp file.
    pub(crate) fn add_marker(&self, dir: &Path, id: &ObjectId) -> Result<()> {
        self.layout.make_dir(dir)?;
        let path = dir.join(id.to_hex());
        fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io("cannot write", path, e))?;
        Ok(())
    }

    /// The record ids marked in `dir`, sorted. Files that are not 64-hex names (an rsync temp
    /// file, `.DS_Store`) are ignored here and reported by fsck.
    pub(crate) fn markers(&self, dir: &Path) -> Result<Vec<ObjectId>> {
        self::marker_ids(dir)
    }
}

/// Records written and the markers that will make them visible: the one way records are
/// published. [`Store::publish`] makes the records durable, then adds the markers in the order
/// given (the commit point last), then makes the markers durable.
#[derive(Debug, Default)]
pub(crate) struct Publication {
    object_dirs: BTreeSet<PathBuf>,
    markers: Vec<(PathBuf, ObjectId)>,
}

impl Publication {
    /// Directories that received new objects (blobs, trees, packs) to sync before any marker.
    pub fn objects_in(&mut self, dirs: impl IntoIterator<Item = PathBuf>) {
        self.object_dirs.extend(dirs);
    }

    /// Marks record `id` in `dir` (markers are added in the order they are asked for).
    pub fn mark(&mut self, dir: PathBuf, id: ObjectId) {
        self.markers.push((dir, id));
    }
}

impl Store {
    /// Writes record `value` (create-only; an identical record already stored is reused) and
    /// notes its directory for [`Store::publish`].
    pub(crate) fn write_record<T: Structured>(
        &self,
        value: &T,
        publication: &mut Publication,
    ) -> Result<ObjectId> {
        self.require_format(value.format())?;
        let (id, new) = self.write_structured(value)?;
        if new && let Some(p) = self.object_path(&id).parent() {
            publication.object_dirs.insert(p.to_path_buf());
        }
        Ok(id)
    }

    /// Publishes records: syncs the directories of their objects, adds the markers in order,
    /// then syncs the marker directories and the directories that received new ones, so a
    /// record reported published survives a power loss and a marker never survives without
    /// its record.
    pub(crate) fn publish(&self, publication: Publication) -> Result<()> {
        self.layout.sync_dirs(&publication.object_dirs)?;
        // A marker directory made now is flushed into its parents as it is made (`make_dir`).
        let mut marker_dirs = BTreeSet::new();
        for (dir, id) in &publication.markers {
            self.add_marker(dir, id)?;
            marker_dirs.insert(dir.clone());
        }
        self.layout.sync_dirs(&marker_dirs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "14cc0fbb8a27b9d400580a38ea79e246d8d91a1617d04bdd5c017c4b745f04a8";

    fn touch(p: &Path) {
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, b"").unwrap();
    }

    /// A listing that gives no type (filesystems without `d_type`) is asked; one that gives it
    /// is trusted, and only regular files are markers (never a link, even to a file).
    #[cfg(target_os = "linux")]
    #[test]
    fn an_entry_of_unknown_type_is_asked_for_and_only_regular_files_count() {
        use rustix::fs::FileType;
        let never = || -> Option<FileType> { panic!("asked although the listing gave the type") };
        assert!(is_regular_entry(FileType::RegularFile, never));
        for t in [FileType::Directory, FileType::Symlink, FileType::Fifo] {
            assert!(!is_regular_entry(t, never));
        }
        assert!(is_regular_entry(FileType::Unknown, || Some(
            FileType::RegularFile
        )));
        assert!(!is_regular_entry(FileType::Unknown, || Some(
            FileType::Symlink
        )));
        assert!(!is_regular_entry(FileType::Unknown, || None));
    }

    /// A directory that is absent, or a file where it should be, has no entries; one that
    /// exists but cannot be read is an error, never taken for empty (versions would vanish).
    #[cfg(unix)]
    #[test]
    fn a_directory_that_cannot_be_read_is_an_error_not_empty() {
        let tmp = tempfile::tempdir().unwrap();
        let (absent, file, looped) = (
            tmp.path().join("absent"),
            tmp.path().join("file"),
            tmp.path().join("loop"),
        );
        touch(&file);
        std::os::unix::fs::symlink(&looped, &looped).unwrap();
        assert_eq!(entries(&absent, Want::Dir).unwrap(), Vec::<String>::new());
        assert_eq!(entries(&file, Want::Dir).unwrap(), Vec::<String>::new());
        let e = entries(&looped, Want::Dir).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("cannot list {}", looped.display())),
            "{e}"
        );
        let e = crate::store::list_dir(&looped).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("cannot list {}", looped.display())),
            "{e}"
        );
        assert_eq!(
            crate::store::list_dir(&absent).unwrap(),
            Vec::<String>::new()
        );
    }

    #[test]
    fn only_conforming_entries_count() {
        let tmp = tempfile::tempdir().unwrap();
        let refs = tmp.path().join("refs");
        touch(&refs.join("t/a").join(ID));
        // Strays at every level, as files and as directories.
        touch(&refs.join(".DS_Store"));
        fs::create_dir_all(refs.join("t/.DS_Store")).unwrap();
        touch(&refs.join("t/a/.DS_Store"));
        fs::create_dir_all(refs.join("t/a/._x")).unwrap();
        // A directory named like a marker is not a marker; a file named like a type is not one.
        fs::create_dir_all(refs.join("t/empty").join(ID.replace('1', "2"))).unwrap();
        touch(&refs.join("u"));
        // A link to a marker is not a marker.
        #[cfg(unix)]
        std::os::unix::fs::symlink(refs.join("t/a").join(ID), refs.join("t/b").join(ID))
            .or_else(|_| {
                fs::create_dir_all(refs.join("t/b"))?;
                std::os::unix::fs::symlink(refs.join("t/a").join(ID), refs.join("t/b").join(ID))
            })
            .unwrap();
        assert_eq!(
            artifact_keys(&refs).unwrap(),
            [("t".to_string(), "a".to_string())]
        );
        assert_eq!(
            marker_ids(&refs.join("t/a")).unwrap(),
            [ObjectId::from_hex(ID).unwrap()]
        );
        let runs = tmp.path().join("runs");
        touch(&runs.join("r1").join(ID));
        touch(&runs.join("r1/.DS_Store"));
        touch(&runs.join(".DS_Store"));
        fs::create_dir_all(runs.join("r2/.x")).unwrap();
        assert_eq!(run_ids(&runs).unwrap(), ["r1"]);
        // A file where a directory belongs lists as empty instead of failing.
        assert!(marker_ids(&refs.join("u")).unwrap().is_empty());
        assert!(marker_ids(&refs.join("absent")).unwrap().is_empty());
        // Neither the link nor the directory named like markers is one.
        assert!(marker_ids(&refs.join("t/b")).unwrap().is_empty());
        assert!(marker_ids(&refs.join("t/empty")).unwrap().is_empty());
    }

    /// A long history's directory: thousands of markers (more than one directory read returns),
    /// listed sorted, with strays of every kind among them left out.
    #[test]
    fn thousands_of_markers_are_listed_sorted_and_only_markers() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("refs/t/a");
        fs::create_dir_all(&dir).unwrap();
        let mut want: Vec<ObjectId> = (0..3000u32)
            .map(|i| ObjectId::from_bytes(*blake3::hash(&i.to_le_bytes()).as_bytes()))
            .collect();
        for id in &want {
            fs::write(dir.join(id.to_hex()), b"").unwrap();
        }
        let stray =
            |i: u32| ObjectId::from_bytes(*blake3::hash(&(i + 10_000).to_le_bytes()).as_bytes());
        fs::write(dir.join(stray(0).to_hex().to_uppercase()), b"").unwrap();
        fs::write(dir.join(&stray(1).to_hex()[..63]), b"").unwrap();
        fs::create_dir(dir.join(stray(2).to_hex())).unwrap();
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(dir.join(want[0].to_hex()), dir.join(stray(3).to_hex()))
                .unwrap();
            let fifo = dir.join(stray(4).to_hex());
            rustix::fs::mknodat(
                rustix::fs::CWD,
                &fifo,
                rustix::fs::FileType::Fifo,
                rustix::fs::Mode::from_raw_mode(0o644),
                0,
            )
            .unwrap();
            use std::os::unix::ffi::OsStrExt;
            fs::write(
                dir.join(std::ffi::OsStr::from_bytes(b"\xff-not-utf-8")),
                b"",
            )
            .unwrap();
        }
        want.sort();
        assert_eq!(marker_ids(&dir).unwrap(), want);
    }
}
