//! The store's files on disk: every path of the layout, and the file operations that write into
//! it. Nothing outside this module spells a path under the store root.
//!
//! Writes go through a temp file in `local/tmp` (so the clean-up of interrupted writes sees every
//! leftover), then a rename: create-only for content-named files ([`Layout::create_new`]),
//! replacing for the `format` file and machine-local caches ([`Layout::replace`],
//! [`Layout::write_checked`]).

use std::collections::BTreeSet;
use std::io::Write;

use super::*;
use crate::key::ArtifactKey;

/// The paths of one store directory.
#[derive(Clone, Debug)]
pub(crate) struct Layout {
    root: PathBuf,
}

impl Layout {
    /// The layout of the store directory `root` (made absolute).
    pub fn new(root: &Path) -> Layout {
        Layout {
            root: absolute(root),
        }
    }

    /// The store directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `format`: the store's format number.
    pub fn format_file(&self) -> PathBuf {
        self.root.join(FORMAT_FILE)
    }

    /// `objects/`: loose objects.
    pub fn objects_dir(&self) -> PathBuf {
        self.root.join("objects")
    }

    /// `objects/ab/cdef…`: the loose file of object `id`.
    pub fn object_path(&self, id: &ObjectId) -> PathBuf {
        let hex = id.to_hex();
        self.objects_dir().join(&hex[..2]).join(&hex[2..])
    }

    /// `packs/`: packs and their indexes.
    pub fn packs_dir(&self) -> PathBuf {
        self.root.join("packs")
    }

    /// `packs/<id>.<ext>`: a pack (`pack`) or its index (`idx`).
    pub fn pack_file(&self, id: &ObjectId, ext: &str) -> PathBuf {
        self.packs_dir().join(format!("{}.{ext}", id.to_hex()))
    }

    /// `refs/`: one directory per artifact type, then name, holding markers.
    pub fn refs_dir(&self) -> PathBuf {
        self.root.join("refs")
    }

    /// `refs/<type>/<name>/`: the markers of one artifact's records.
    pub fn artifact_dir(&self, ty: &str, name: &str) -> PathBuf {
        self.refs_dir().join(ty).join(name)
    }

    /// `renames/`: one marker per rename record (the events every command reads to know which
    /// names an artifact's records are under).
    pub fn renames_dir(&self) -> PathBuf {
        self.root.join("renames")
    }

    /// `runs/`: one directory per run, holding markers.
    pub fn runs_dir(&self) -> PathBuf {
        self.root.join("runs")
    }

    /// `runs/<run>/`: the markers of one run's records.
    pub fn run_dir(&self, run: &str) -> PathBuf {
        self.runs_dir().join(run)
    }

    /// `local/`: this machine only, never synced.
    pub fn local_dir(&self) -> PathBuf {
        self.root.join("local")
    }

    /// `local/tmp/`: temp files of writes under way (leftovers older than an hour are removed).
    pub fn tmp_dir(&self) -> PathBuf {
        self.local_dir().join("tmp")
    }

    /// `local/record.lock`: see [`Store::record_lock`].
    pub fn record_lock_file(&self) -> PathBuf {
        self.local_dir().join("record.lock")
    }

    /// `local/statcache/`: the stat cache's shards and its clock file.
    pub fn statcache_dir(&self) -> PathBuf {
        self.local_dir().join("statcache")
    }

    /// `local/cache/artifacts/<type>/<name>/`: the machine-local caches of one artifact. Each
    /// is a file of a fixed name in the artifact's own directory, never a file named after the
    /// artifact: W&B names code artifacts `source-…-train.py`, and a cache file of that name
    /// inside the project was taken for source code by W&B's `log_code(".")`.
    fn artifact_cache_dir(&self, key: &ArtifactKey) -> PathBuf {
        self.local_dir()
            .join("cache/artifacts")
            .join(&key.artifact_type)
            .join(&key.name)
    }

    /// The record cache of one artifact (`…/records`).
    pub fn record_cache_file(&self, key: &ArtifactKey) -> PathBuf {
        self.artifact_cache_dir(key).join("records")
    }

    /// The tree this machine last committed for an artifact, a hint for the next commit's delta
    /// bases (`…/last-tree`).
    pub fn last_tree_file(&self, key: &ArtifactKey) -> PathBuf {
        self.artifact_cache_dir(key).join("last-tree")
    }

    /// The per-version change counts of an artifact (`…/changes`).
    pub fn changes_cache_file(&self, key: &ArtifactKey) -> PathBuf {
        self.artifact_cache_dir(key).join("changes")
    }

    /// `dir` (a directory of this layout) when every directory from the root down to it is a
    /// real directory, not a symbolic link. A store copied from elsewhere is untrusted: anything
    /// that deletes (leftover temp files, packs without an index) must never follow a link out
    /// of the store.
    pub fn own_dir(&self, dir: PathBuf) -> Option<PathBuf> {
        let rel = dir.strip_prefix(&self.root).ok()?;
        let mut p = self.root.clone();
        for part in rel.components() {
            // Only plain names: `..` would climb out of the store.
            if !matches!(part, std::path::Component::Normal(_)) {
                return None;
            }
            p.push(part);
            if !fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir()) {
                return None;
            }
        }
        Some(dir)
    }

    /// An empty temp file in `local/tmp` (made if missing), readable by all that the umask
    /// allows (objects read-only: 0444 under umask 022), so teammates sharing the store can read
    /// what it becomes.
    pub fn new_temp(&self, prefix: &str) -> Result<tempfile::NamedTempFile> {
        let tmp_dir = self.tmp_dir();
        let make = || {
            let mut b = tempfile::Builder::new();
            b.prefix(prefix);
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                b.permissions(fs::Permissions::from_mode(0o444));
            }
            b.tempfile_in(&tmp_dir)
        };
        match make() {
            Ok(t) => Ok(t),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir_all(&tmp_dir)
                    .map_err(|e| Error::io("cannot create", &tmp_dir, e))?;
                make().map_err(|e| Error::io("cannot create a temp file in", &tmp_dir, e))
            }
            Err(e) => Err(Error::io("cannot create a temp file in", tmp_dir, e)),
        }
    }

    /// A durable (fsynced) temp file in `local/tmp` holding `bytes`.
    pub fn temp_file(&self, prefix: &str, bytes: &[u8]) -> Result<tempfile::NamedTempFile> {
        let mut tmp = self.new_temp(prefix)?;
        tmp.as_file_mut()
            .write_all(bytes)
            .and_then(|()| tmp.as_file().sync_all())
            .map_err(|e| Error::io("cannot write", tmp.path().to_path_buf(), e))?;
        Ok(tmp)
    }

    /// Writes a content-named file: temp file, fsync, then a rename that never replaces an
    /// existing name (a name that exists already holds that content, possibly in another
    /// encoding, which must stay: a delta elsewhere may depend on it). Returns whether this call
    /// created the file.
    pub fn create_new(&self, path: &Path, bytes: &[u8]) -> Result<bool> {
        let tmp = self.temp_file("obj", bytes)?;
        if let Some(parent) = path.parent() {
            self.make_dir(parent)?;
        }
        persist_new(tmp, path)
    }

    /// [`create_new`](Layout::create_new) with the bytes copied from `src` as a stream (large
    /// files in bounded memory). Returns whether this call created the file.
    #[cfg_attr(unix, allow(dead_code))]
    pub fn create_new_from(&self, path: &Path, src: &mut dyn io::Read) -> Result<bool> {
        let mut tmp = self.new_temp("obj")?;
        let tmp_path = tmp.path().to_path_buf();
        let mut w = io::BufWriter::with_capacity(1 << 20, tmp.as_file_mut());
        io::copy(src, &mut w)
            .and_then(|_| w.flush())
            .map_err(|e| Error::io("cannot write", &tmp_path, e))?;
        drop(w);
        tmp.as_file()
            .sync_all()
            .map_err(|e| Error::io("cannot write", &tmp_path, e))?;
        self.persist_new_file(tmp, path)
    }

    /// Moves a durable temp file of `local/tmp` to `path` unless `path` exists (making its
    /// directory); whether this call created it.
    pub fn persist_new_file(&self, tmp: tempfile::NamedTempFile, path: &Path) -> Result<bool> {
        if let Some(parent) = path.parent() {
            self.make_dir(parent)?;
        }
        persist_new(tmp, path)
    }

    /// Replaces `path` with `bytes` atomically (temp file, fsync, rename). Only for files that
    /// are not content-named (the `format` file).
    pub fn replace(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        let tmp = self.temp_file("tmp", bytes)?;
        tmp.persist(path)
            .map_err(|e| Error::io("cannot write", path, e.error))?;
        Ok(())
    }

    /// Makes `dir` and any missing parents durably: each directory made is a new entry of its
    /// parent, so the parents are flushed too (a fan-out directory `objects/ab` made for a new
    /// object must not vanish in a power loss that keeps a marker naming the object).
    pub fn make_dir(&self, dir: &Path) -> Result<()> {
        if dir.is_dir() {
            return Ok(());
        }
        let mut parents = BTreeSet::new();
        let mut d = dir;
        while !d.exists()
            && let Some(parent) = d.parent()
        {
            parents.insert(parent.to_path_buf());
            d = parent;
        }
        fs::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))?;
        self.sync_dirs(&parents)
    }

    /// Flushes directory entries (made by renames) to disk, so that a marker written afterwards
    /// can never survive a crash that loses the objects it names.
    pub fn sync_dirs(&self, dirs: &BTreeSet<PathBuf>) -> Result<()> {
        #[cfg(unix)]
        for d in dirs {
            fs::File::open(d)
                .and_then(|f| f.sync_all())
                .map_err(|e| Error::io("cannot sync", d, e))?;
        }
        #[cfg(not(unix))]
        let _ = dirs;
        Ok(())
    }

    /// Writes a checksummed machine-local file (`magic`, `version`, `body`, then the BLAKE3 of
    /// all before it) atomically, without fsync: a lost cache is rebuilt. Failures are ignored:
    /// caches are only an optimisation.
    pub fn write_checked(&self, path: &Path, magic: &[u8; 4], version: u8, body: &[u8]) {
        let mut bytes = Vec::with_capacity(body.len() + 37);
        bytes.extend_from_slice(magic);
        bytes.push(version);
        bytes.extend_from_slice(body);
        let sum = blake3::hash(&bytes);
        bytes.extend_from_slice(sum.as_bytes());
        let Some(dir) = path.parent() else { return };
        if fs::create_dir_all(dir).is_err() {
            return;
        }
        let Ok(mut tmp) = self.new_temp("cache") else {
            return;
        };
        if tmp.write_all(&bytes).is_ok() {
            let _ = tmp.persist(path);
        }
    }
}

/// The body of a file written by [`Layout::write_checked`] with this `magic` and `version`, or
/// None if it is absent, not a regular file, damaged or of another version.
pub(crate) fn read_checked(path: &Path, magic: &[u8; 4], version: u8) -> Option<Vec<u8>> {
    // Not following links, not blocking on a FIFO, not reading a forged sparse giant.
    let bytes = read_regular(path, 1 << 30).ok()?;
    if bytes.len() < 5 + 32 || &bytes[..4] != magic || bytes[4] != version {
        return None;
    }
    let (body, sum) = bytes.split_at(bytes.len() - 32);
    (blake3::hash(body).as_bytes() == sum).then(|| body[5..].to_vec())
}

/// Moves a durable temp file to `path` unless `path` exists; an existing name counts as done.
pub(super) fn persist_new(tmp: tempfile::NamedTempFile, path: &Path) -> Result<bool> {
    match tmp.persist_noclobber(path) {
        Ok(_) => Ok(true),
        Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(Error::io("cannot write", path, e.error)),
    }
}

/// Whether an error from [`open_regular`] means "not a regular file" (a link, a FIFO, a device,
/// a directory, or larger than allowed) rather than an I/O failure.
pub(super) fn is_refused(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::InvalidData
        || e.raw_os_error() == Some(libc::ELOOP)
        || e.kind() == io::ErrorKind::IsADirectory
}

/// Opens a file of the store for reading without following a symbolic link and without
/// blocking on a FIFO, and refuses anything that is not a regular file (a store copied from
/// elsewhere is untrusted: a FIFO would hang a reader, a link to `/dev/zero` would never end).
pub(crate) fn open_regular(path: &Path) -> io::Result<fs::File> {
    let mut opts = fs::OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let f = opts.open(path)?;
    let meta = f.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not a regular file",
        ));
    }
    Ok(f)
}

/// Reads a whole regular file of at most `max` bytes (see [`open_regular`]).
pub(crate) fn read_regular(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let f = open_regular(path)?;
    let len = f.metadata()?.len();
    if len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{len} bytes, more than the {max} allowed"),
        ));
    }
    let mut out = Vec::with_capacity(len as usize);
    f.take(max.saturating_add(1)).read_to_end(&mut out)?;
    if out.len() as u64 > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "grew while read",
        ));
    }
    Ok(out)
}

/// How old a temp file must be before it is taken for the leftover of an interrupted write.
pub(super) const STALE_TEMP: std::time::Duration = std::time::Duration::from_secs(3600);

/// Removes temp files left by writes that were interrupted (a killed process, a crash): they are
/// never visible as objects, only wasted space. A file younger than an hour may belong to a commit
/// still running, so it is left alone. Best effort.
pub(super) fn remove_stale_temp_files(tmp: &Path) {
    let Ok(entries) = fs::read_dir(tmp) else {
        return;
    };
    let now = std::time::SystemTime::now();
    for e in entries.flatten() {
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|age| age > STALE_TEMP);
        if old {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// `p` itself when it is a store directory, else `p/.codever` when that is one; else `p` (so the
/// error names what the user gave).
pub(super) fn store_dir_of(p: &Path) -> PathBuf {
    if !p.join(FORMAT_FILE).exists() && p.join(STORE_DIR_NAME).join(FORMAT_FILE).exists() {
        p.join(STORE_DIR_NAME)
    } else {
        p.to_path_buf()
    }
}

/// Names of the entries of `dir` that are valid UTF-8; an absent directory is empty.
pub(crate) fn list_dir(dir: &Path) -> Result<Vec<String>> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("cannot list", dir, e)),
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| Error::io("cannot list", dir, e))?;
        if let Ok(name) = entry.file_name().into_string() {
            out.push(name);
        }
    }
    Ok(out)
}

/// `p` made absolute against the current directory (without resolving symlinks).
pub(crate) fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// [`absolute`] with the working directory `cwd` asked once by the caller (`absolute` asks the
/// kernel for it at every relative path: one `getcwd` per file of a capture). The same path for
/// the same working directory.
pub(crate) fn absolute_in(cwd: Option<&Path>, p: &Path) -> PathBuf {
    match cwd {
        Some(cwd) if p.is_relative() => absolute(&cwd.join(p)),
        _ => absolute(p),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAGIC: &[u8; 4] = b"TEST";

    #[test]
    fn absolute_in_a_given_working_directory_is_what_absolute_gives() {
        let cwd = std::env::current_dir().unwrap();
        for p in [
            "a.py",
            "./a/./b.py",
            "a/../b/c.py",
            "./",
            "d/",
            "/etc/x",
            "//srv/y",
        ] {
            let p = Path::new(p);
            assert_eq!(absolute_in(Some(&cwd), p), absolute(p), "{p:?}");
            assert_eq!(absolute_in(None, p), absolute(p), "{p:?}");
        }
        assert_eq!(
            absolute_in(Some(Path::new("/w")), Path::new("./t/m.py")),
            Path::new("/w/t/m.py")
        );
    }

    fn layout() -> (tempfile::TempDir, Layout) {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(&dir.path().join(".codever"));
        fs::create_dir_all(layout.tmp_dir()).unwrap();
        (dir, layout)
    }

    /// No cache file is named after its artifact: W&B's `log_code(".")` takes every `*.py`,
    /// `requirements.txt` and `Dockerfile*` below the project, the store included, and a
    /// W&B code artifact is named like `source-proj-train.py`.
    #[test]
    fn cache_files_have_fixed_names_whatever_the_artifact() {
        let (_dir, layout) = layout();
        let key = ArtifactKey::new("code", "source-proj-train.py").unwrap();
        let files = [
            layout.record_cache_file(&key),
            layout.changes_cache_file(&key),
            layout.last_tree_file(&key),
        ];
        let names: Vec<_> = files
            .iter()
            .map(|f| f.file_name().unwrap().to_str().unwrap())
            .collect();
        assert_eq!(names, ["records", "changes", "last-tree"]);
        for f in &files {
            assert_eq!(
                f.parent().unwrap(),
                layout
                    .local_dir()
                    .join("cache/artifacts/code/source-proj-train.py")
            );
        }
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut n = list_dir(dir).unwrap();
        n.sort();
        n
    }

    fn mkfifo(path: &Path) {
        let made = std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .unwrap();
        assert!(made.success());
    }

    #[test]
    fn checked_files_round_trip_in_their_documented_bytes() {
        let (_dir, l) = layout();
        let path = l.local_dir().join("cache/x/y");
        for body in [&b""[..], b"body", &[0u8; 10_000]] {
            l.write_checked(&path, MAGIC, 3, body);
            let mut expected = b"TEST\x03".to_vec();
            expected.extend_from_slice(body);
            let sum = blake3::hash(&expected);
            expected.extend_from_slice(sum.as_bytes());
            assert_eq!(fs::read(&path).unwrap(), expected);
            assert_eq!(read_checked(&path, MAGIC, 3).as_deref(), Some(body));
        }
        // Rewriting replaces; no temp file is left.
        assert_eq!(names(&l.tmp_dir()), Vec::<String>::new());
        assert_eq!(read_checked(&l.local_dir().join("absent"), MAGIC, 3), None);
    }

    #[test]
    fn damaged_foreign_or_truncated_checked_files_read_as_nothing() {
        let (_dir, l) = layout();
        let path = l.local_dir().join("cache/c");
        l.write_checked(&path, MAGIC, 1, b"some cached body");
        let good = fs::read(&path).unwrap();
        assert!(read_checked(&path, MAGIC, 1).is_some());
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x01;
            fs::write(&path, &bad).unwrap();
            assert_eq!(read_checked(&path, MAGIC, 1), None, "byte {i} flipped");
        }
        for n in 0..good.len() {
            fs::write(&path, &good[..n]).unwrap();
            assert_eq!(read_checked(&path, MAGIC, 1), None, "{n} bytes");
        }
        fs::write(&path, &good).unwrap();
        assert_eq!(read_checked(&path, b"CDVC", 1), None);
        assert_eq!(read_checked(&path, MAGIC, 2), None);
        // Another version, correctly checksummed, is not this one.
        l.write_checked(&path, MAGIC, 2, b"some cached body");
        assert_eq!(read_checked(&path, MAGIC, 1), None);
        assert_eq!(
            read_checked(&path, MAGIC, 2).as_deref(),
            Some(&b"some cached body"[..])
        );
    }

    #[test]
    fn checked_files_behind_links_or_fifos_read_as_nothing_at_once() {
        let (dir, l) = layout();
        let real = dir.path().join("outside");
        l.write_checked(&real, MAGIC, 1, b"body");
        assert!(read_checked(&real, MAGIC, 1).is_some());
        let link = l.local_dir().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert_eq!(read_checked(&link, MAGIC, 1), None);
        // A FIFO would block a reader that opened it normally.
        let fifo = l.local_dir().join("fifo");
        mkfifo(&fifo);
        assert_eq!(read_checked(&fifo, MAGIC, 1), None);
        assert_eq!(read_checked(&l.local_dir(), MAGIC, 1), None);
    }

    #[test]
    fn temp_files_are_made_in_local_tmp_only() {
        let (_dir, l) = layout();
        let t = l.new_temp("probe").unwrap();
        assert_eq!(t.path().parent(), Some(l.tmp_dir().as_path()));
        assert!(
            t.path()
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("probe")
        );
        drop(t);
        // A missing local/tmp is made again by every kind of write.
        let target = l.local_dir().join("cache/file");
        fs::remove_dir_all(l.tmp_dir()).unwrap();
        l.write_checked(&target, MAGIC, 1, b"x");
        assert!(l.tmp_dir().is_dir());
        fs::remove_dir_all(l.tmp_dir()).unwrap();
        assert!(l.create_new(&l.root().join("objects/ab/cd"), b"y").unwrap());
        assert!(l.tmp_dir().is_dir());
        fs::remove_dir_all(l.tmp_dir()).unwrap();
        l.replace(&l.format_file(), b"z").unwrap();
        assert!(l.tmp_dir().is_dir());
        assert_eq!(names(&l.tmp_dir()), Vec::<String>::new());

        // When local/tmp cannot be used, nothing falls back to a temp file elsewhere: a cache
        // is not written, and a store write fails naming local/tmp.
        fs::remove_dir_all(l.tmp_dir()).unwrap();
        fs::write(l.tmp_dir(), b"a file where local/tmp belongs").unwrap();
        let other = l.local_dir().join("cache/other");
        l.write_checked(&other, MAGIC, 1, b"x");
        assert!(!other.exists());
        assert_eq!(names(&l.local_dir().join("cache")), ["file"]);
        let e = l
            .create_new(&l.root().join("objects/ab/ef"), b"y")
            .unwrap_err();
        match e {
            Error::Io { action, path, .. } => {
                assert_eq!(action, "cannot create a temp file in");
                assert_eq!(path, l.tmp_dir());
            }
            e => panic!("{e}"),
        }
        assert!(!l.root().join("objects/ab/ef").exists());
        assert_eq!(names(&l.root().join("objects/ab")), ["cd"]);
    }

    #[cfg(unix)]
    #[test]
    fn temp_files_are_readable_as_the_umask_allows_and_read_only() {
        use std::os::unix::fs::PermissionsExt;
        let (_dir, l) = layout();
        // The umask of this process (umask(2) is not in std: read it back from a file).
        let probe = l.local_dir().join("probe");
        fs::write(&probe, b"").unwrap();
        let umask = !fs::metadata(&probe).unwrap().permissions().mode() & 0o666;
        assert!(l.create_new(&l.root().join("objects/ab/cd"), b"y").unwrap());
        let mode = fs::metadata(l.root().join("objects/ab/cd"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o444 & !umask);
    }

    #[test]
    fn create_new_never_replaces_an_existing_name() {
        let (dir, l) = layout();
        let path = l.root().join("objects/ab/cdef");
        assert!(l.create_new(&path, b"first").unwrap());
        assert!(!l.create_new(&path, b"second").unwrap());
        assert_eq!(fs::read(&path).unwrap(), b"first");
        // A link in its place (even a dangling one) is kept, never written through.
        let linked = l.root().join("objects/ab/link");
        let outside = dir.path().join("outside");
        std::os::unix::fs::symlink(&outside, &linked).unwrap();
        assert!(!l.create_new(&linked, b"third").unwrap());
        assert!(!outside.exists());
        assert!(fs::symlink_metadata(&linked).unwrap().is_symlink());
        assert_eq!(names(&l.tmp_dir()), Vec::<String>::new());
        // `replace` does replace (the format file).
        l.replace(&path, b"replaced").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"replaced");
        assert_eq!(names(&l.tmp_dir()), Vec::<String>::new());
    }

    #[test]
    fn own_dir_refuses_a_path_through_a_link_or_outside_the_store() {
        let (dir, l) = layout();
        assert_eq!(l.own_dir(l.tmp_dir()), Some(l.tmp_dir()));
        assert_eq!(
            l.own_dir(l.root().to_path_buf()),
            Some(l.root().to_path_buf())
        );
        assert_eq!(l.own_dir(l.packs_dir()), None, "absent");
        assert_eq!(l.own_dir(dir.path().join("elsewhere")), None);
        // local/tmp a link to a real directory elsewhere.
        let elsewhere = dir.path().join("elsewhere");
        fs::create_dir_all(elsewhere.join("tmp")).unwrap();
        fs::remove_dir_all(l.tmp_dir()).unwrap();
        std::os::unix::fs::symlink(elsewhere.join("tmp"), l.tmp_dir()).unwrap();
        assert_eq!(l.own_dir(l.tmp_dir()), None);
        // local a link, local/tmp a real directory in its target.
        fs::remove_file(l.tmp_dir()).unwrap();
        fs::remove_dir_all(l.local_dir()).unwrap();
        std::os::unix::fs::symlink(&elsewhere, l.local_dir()).unwrap();
        assert!(l.tmp_dir().is_dir());
        assert_eq!(l.own_dir(l.tmp_dir()), None);
        // A file where a directory belongs.
        fs::create_dir_all(l.root().join("packs")).unwrap();
        fs::write(l.root().join("objects"), b"").unwrap();
        assert_eq!(l.own_dir(l.objects_dir()), None);
        assert_eq!(l.own_dir(l.packs_dir()), Some(l.packs_dir()));
        // `..` never climbs out, even through real directories.
        assert_eq!(l.own_dir(l.packs_dir().join("..").join("packs")), None);
        assert_eq!(l.own_dir(l.root().join("..")), None);
    }

    #[test]
    fn regular_reads_refuse_what_is_not_a_bounded_regular_file() {
        let (dir, l) = layout();
        let file = dir.path().join("f");
        fs::write(&file, b"12345").unwrap();
        assert_eq!(read_regular(&file, 5).unwrap(), b"12345");
        let e = read_regular(&file, 4).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert_eq!(e.to_string(), "5 bytes, more than the 4 allowed");
        assert!(is_refused(&e));
        let fifo = l.local_dir().join("fifo");
        mkfifo(&fifo);
        let e = read_regular(&fifo, 100).unwrap_err();
        assert_eq!(e.to_string(), "not a regular file");
        assert!(is_refused(&e));
        let link = l.local_dir().join("link");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert!(is_refused(&read_regular(&link, 100).unwrap_err()));
        assert!(is_refused(&read_regular(&l.local_dir(), 100).unwrap_err()));
        let absent = read_regular(&l.local_dir().join("absent"), 100).unwrap_err();
        assert_eq!(absent.kind(), io::ErrorKind::NotFound);
        assert!(!is_refused(&absent));
        // An absent directory lists as empty; names are listed, not paths.
        assert_eq!(
            list_dir(&dir.path().join("absent")).unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(names(dir.path()), [".codever", "f"]);
    }
}
