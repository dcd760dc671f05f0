//! Capturing files: sources (`PATH`, `PATH=DISPLAY`, directories) mapped to display paths,
//! `.gitignore` and glob filtering, and hashing the content.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};
use rayon::prelude::*;

use super::run::now_ns;
use super::staging::Staging;
use super::statcache::{Entry, StatKey};
use crate::error::{Error, Result};
use crate::id::{BlobHasher, Md5, ObjectId, wandb_digest};
use crate::names::normalize_path;
use crate::object::{CommitRecord, FileMeta, Kind, SourceRecord};
use crate::store::{LARGE_FILE, STORE_DIR_NAME, absolute, absolute_in};

/// Include and exclude globs applied to files found in directory sources, matched against the
/// path relative to that directory (`**/*.py`, `data/**`).
#[derive(Clone, Debug, Default)]
pub struct Filter {
    include: Vec<String>,
    exclude: Vec<String>,
    include_set: Option<GlobSet>,
    exclude_set: Option<GlobSet>,
}

impl Filter {
    /// Builds a filter; an empty include list includes everything.
    pub fn new(include: &[String], exclude: &[String]) -> Result<Filter> {
        Ok(Filter {
            include: include.to_vec(),
            exclude: exclude.to_vec(),
            include_set: glob_set(include)?,
            exclude_set: glob_set(exclude)?,
        })
    }

    /// Whether a file at `rel` (relative to its directory source) is kept.
    pub fn accepts(&self, rel: &str) -> bool {
        self.include_set.as_ref().is_none_or(|s| s.is_match(rel))
            && !self.exclude_set.as_ref().is_some_and(|s| s.is_match(rel))
    }

    /// The include globs.
    pub fn include(&self) -> &[String] {
        &self.include
    }

    /// The exclude globs.
    pub fn exclude(&self) -> &[String] {
        &self.exclude
    }
}

fn glob_set(globs: &[String]) -> Result<Option<GlobSet>> {
    if globs.is_empty() {
        return Ok(None);
    }
    let mut b = GlobSetBuilder::new();
    for g in globs {
        let glob = globset::GlobBuilder::new(g)
            .literal_separator(false)
            .build()
            .map_err(|e| Error::InvalidGlob {
                glob: g.clone(),
                reason: e.kind().to_string(),
            })?;
        b.add(glob);
        // `dir/` or `dir` also means everything below it, as in .gitignore.
        let below = format!("{}/**", g.trim_end_matches('/'));
        if let Ok(glob) = Glob::new(&below) {
            b.add(glob);
        }
    }
    b.build().map(Some).map_err(|e| Error::InvalidGlob {
        glob: globs.join(" "),
        reason: e.to_string(),
    })
}

/// Where a file's bytes come from.
#[derive(Clone, Debug)]
enum Content {
    File(PathBuf),
    Bytes(Vec<u8>, bool),
    /// A file already in the store (from a version an incremental artifact builds on).
    Stored(FileMeta),
}

#[derive(Clone, Debug)]
struct Pending {
    content: Content,
    /// The source as the user named it, for error messages.
    origin: String,
    /// Index of the source (in `sources`) the file came from, for the stat cache.
    source: Option<usize>,
}

/// A set of files to commit, each under its display path.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    files: BTreeMap<String, Pending>,
    sources: Vec<SourceRecord>,
    filter: Filter,
}

pub use crate::tree::ManifestEntry;

impl Snapshot {
    /// An empty snapshot whose directory sources are filtered by `filter`.
    pub fn new(filter: Filter) -> Snapshot {
        Snapshot {
            filter,
            ..Snapshot::default()
        }
    }

    /// Adds a source as written on the command line: `PATH` or `PATH=DISPLAY`. A path that
    /// exists as written is taken whole, even if it contains `=`.
    pub fn add_source_arg(&mut self, arg: &str) -> Result<()> {
        let (path, display) = split_source(arg);
        let meta = fs::metadata(path).map_err(|_| Error::SourceNotFound {
            path: path.to_string(),
        })?;
        if meta.is_dir() {
            self.add_dir(Path::new(path), display)
        } else if meta.is_file() {
            self.add_file(Path::new(path), display)
        } else {
            Err(Error::UnsupportedSource { path: path.into() })
        }
    }

    /// Adds one file, under `display` or else its basename (W&B's rule).
    pub fn add_file(&mut self, path: &Path, display: Option<&str>) -> Result<()> {
        let meta = fs::metadata(path).map_err(|_| Error::SourceNotFound {
            path: path.display().to_string(),
        })?;
        if !meta.is_file() {
            return Err(Error::UnsupportedSource { path: path.into() });
        }
        let display = match display {
            Some(d) => d.to_string(),
            None => path
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| Error::InvalidPath {
                    path: path.display().to_string(),
                    reason:
                        "the file name is not valid UTF-8; give a display path with PATH=DISPLAY"
                            .into(),
                })?
                .to_string(),
        };
        let display = normalize_path(&display)?;
        let source = self.sources.len();
        self.sources.push(SourceRecord {
            path: absolute(path).to_string_lossy().into_owned(),
            display: display.clone(),
            is_dir: false,
            every_file: false,
        });
        self.insert(
            display,
            Content::File(path.to_path_buf()),
            path.display().to_string(),
            Some(source),
        )
    }

    /// Adds the files below a directory, with paths relative to it (under `prefix/` if given),
    /// honouring `.gitignore` (inside it and, in a git repository, the repository's rules) and the
    /// snapshot's filter. `.git/` and `.codever/` are always skipped; other dotfiles are kept.
    pub fn add_dir(&mut self, dir: &Path, prefix: Option<&str>) -> Result<()> {
        self.add_walked_dir(dir, prefix, false).map(|_| ())
    }

    /// Adds every file below a directory as W&B's `Artifact.add_dir` does: no ignore rule,
    /// dotfiles kept, links to directories followed (a loop of links is an error, where W&B
    /// would recurse until the path is too long), links to files stored as the file's bytes.
    /// The snapshot's filter still applies. `.git/` and `.codever/` directories are still never
    /// stored (checkout could not write them back): returns the paths of those skipped, relative
    /// to `dir`, so the caller can say that the digest will differ from W&B's.
    pub fn add_dir_every_file(&mut self, dir: &Path, prefix: Option<&str>) -> Result<Vec<String>> {
        self.add_walked_dir(dir, prefix, true)
    }

    fn add_walked_dir(
        &mut self,
        dir: &Path,
        prefix: Option<&str>,
        every_file: bool,
    ) -> Result<Vec<String>> {
        let prefix = match prefix {
            Some(p) if !p.trim_matches('/').trim_start_matches("./").is_empty() => {
                Some(normalize_path(p)?)
            }
            _ => None,
        };
        let walked = walk_files(dir, every_file, &self.filter)?;
        let source = self.sources.len();
        self.sources.push(SourceRecord {
            path: absolute(dir).to_string_lossy().into_owned(),
            display: prefix.clone().unwrap_or_default(),
            is_dir: true,
            every_file,
        });
        for (rel, path) in walked.files {
            let display = match &prefix {
                Some(p) => format!("{p}/{rel}"),
                None => rel,
            };
            let display = normalize_path(&display)?;
            let origin = path.display().to_string();
            self.insert(display, Content::File(path), origin, Some(source))?;
        }
        Ok(walked.skipped)
    }

    /// Captures again the sources a commit recorded (paths on this machine), with its include and
    /// exclude globs: the files on disk "where the version was committed from". A file or
    /// directory that no longer exists contributes nothing (its files show as deleted).
    pub fn from_record(record: &CommitRecord) -> Result<Snapshot> {
        let mut s = Snapshot::new(Filter::new(&record.include, &record.exclude)?);
        for src in &record.sources {
            let path = Path::new(&src.path);
            let display = (!src.display.is_empty()).then_some(src.display.as_str());
            match fs::metadata(path) {
                Ok(m) if src.is_dir && m.is_dir() => {
                    s.add_walked_dir(path, display, src.every_file)?;
                }
                Ok(m) if !src.is_dir && m.is_file() => s.add_file(path, display)?,
                _ => {}
            }
        }
        Ok(s)
    }

    /// The file on disk behind a display path, if it came from a file.
    pub(crate) fn file_source(&self, display: &str) -> Option<&Path> {
        match &self.files.get(display)?.content {
            Content::File(p) => Some(p),
            Content::Bytes(..) | Content::Stored(_) => None,
        }
    }

    /// In-memory content behind a display path, if it was added as bytes.
    pub(crate) fn bytes_source(&self, display: &str) -> Option<&[u8]> {
        match &self.files.get(display)?.content {
            Content::Bytes(b, _) => Some(b),
            Content::File(_) | Content::Stored(_) => None,
        }
    }

    /// Adds a file the store already holds, as `meta` describes it, under `display`: a file of
    /// the version an incremental artifact builds on (W&B's `incremental=True`, `new_draft`).
    /// Nothing is read; a commit checks that the store has the blob.
    pub fn add_stored(&mut self, display: &str, meta: FileMeta) -> Result<()> {
        let display = normalize_path(display)?;
        self.insert(
            display.clone(),
            Content::Stored(meta),
            format!("<stored {display}>"),
            None,
        )
    }

    /// Whether a file is already under display path `display`.
    pub fn has_path(&self, display: &str) -> bool {
        self.files.contains_key(display)
    }

    /// Adds in-memory content under `display`.
    pub fn add_bytes(&mut self, display: &str, bytes: Vec<u8>, executable: bool) -> Result<()> {
        let display = normalize_path(display)?;
        self.insert(
            display.clone(),
            Content::Bytes(bytes, executable),
            format!("<generated {display}>"),
            None,
        )
    }

    fn insert(
        &mut self,
        display: String,
        content: Content,
        origin: String,
        source: Option<usize>,
    ) -> Result<()> {
        if let Some(prev) = self.files.get(&display) {
            return Err(Error::DuplicatePath {
                path: display,
                first: prev.origin.clone(),
                second: origin,
            });
        }
        self.files.insert(
            display,
            Pending {
                content,
                origin,
                source,
            },
        );
        Ok(())
    }

    /// Number of files.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether there are no files.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Display paths, sorted.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }

    /// The sources added, in order.
    pub fn sources(&self) -> &[SourceRecord] {
        &self.sources
    }

    /// The filter applied to directory sources.
    pub fn filter(&self) -> &Filter {
        &self.filter
    }

    /// Fails if a display path is used both as a file and as a directory.
    pub fn check_conflicts(&self) -> Result<()> {
        for path in self.files.keys() {
            let mut end = 0;
            while let Some(i) = path[end..].find('/') {
                end += i;
                let parent = &path[..end];
                if self.files.contains_key(parent) {
                    return Err(Error::PathConflict {
                        path: parent.to_string(),
                        child: path.clone(),
                    });
                }
                end += 1;
            }
        }
        Ok(())
    }

    /// Hashes every file (in parallel) and, when staging, stores the blobs the store lacks.
    /// Returns the entries sorted by path.
    pub(crate) fn stage(&self, staging: Option<&Staging<'_>>) -> Result<Vec<ManifestEntry>> {
        self.check_conflicts()?;
        // The stat cache knows files by their real path: asked once per source (and the working
        // directory once), not per file, so that `./src`, `../x/src` and a link to it share
        // the cache.
        let cwd = std::env::current_dir().ok();
        let roots = if staging.is_some_and(|s| s.stat_cache().is_some()) {
            self.cache_roots()
        } else {
            Vec::new()
        };
        self.files
            .par_iter()
            .map(|(path, pending)| {
                let root = pending.source.and_then(|i| roots.get(i));
                let meta = stage_one(staging, path, pending, root, cwd.as_deref())?;
                if let Some(s) = staging {
                    s.file_done();
                }
                Ok(ManifestEntry {
                    path: path.clone(),
                    meta,
                })
            })
            .collect()
    }

    /// Each source as the stat cache knows it (see [`CacheRoot`]), in order.
    pub(crate) fn cache_roots(&self) -> Vec<CacheRoot> {
        self.sources.iter().map(CacheRoot::of).collect()
    }

    /// The files' metadata (hashes, sizes, modes) without storing anything.
    pub fn manifest(&self) -> Result<Vec<ManifestEntry>> {
        self.stage(None)
    }

    /// The W&B artifact digest the snapshot would have.
    pub fn digest(&self) -> Result<Md5> {
        let m = self.manifest()?;
        Ok(wandb_digest(
            m.iter().map(|e| (e.path.as_str(), e.meta.md5)),
        ))
    }
}

fn stage_one(
    staging: Option<&Staging<'_>>,
    path: &str,
    pending: &Pending,
    root: Option<&CacheRoot>,
    cwd: Option<&Path>,
) -> Result<FileMeta> {
    let (data, executable): (&[u8], bool) = match &pending.content {
        Content::Bytes(b, x) => (b, *x),
        Content::File(p) => return stage_file(staging, path, p, root, cwd),
        Content::Stored(meta) => {
            if let Some(s) = staging
                && !s.has_blob(&meta.id)
            {
                return Err(Error::MissingObject { id: meta.id });
            }
            return Ok(*meta);
        }
    };
    let meta = hash_file(data, executable);
    if let Some(staging) = staging {
        staging.put_blob(path, meta.id, data)?;
    }
    Ok(meta)
}

/// A source as the stat cache knows it: its path as recorded (absolute, as given) and its real
/// path (links and `..` resolved), under which its files are remembered.
pub(crate) struct CacheRoot {
    recorded: PathBuf,
    /// The real path: the name of the source's stat cache shard.
    pub(crate) real: String,
}

impl CacheRoot {
    fn of(source: &SourceRecord) -> CacheRoot {
        let recorded = PathBuf::from(&source.path);
        let real = fs::canonicalize(&recorded).unwrap_or_else(|_| recorded.clone());
        CacheRoot {
            recorded,
            real: real.to_string_lossy().into_owned(),
        }
    }

    /// The cache's name of file `p` of this source: its path below the source's real path.
    fn key(&self, cwd: Option<&Path>, p: &Path) -> PathBuf {
        let abs = absolute_in(cwd, p);
        // (A file source's own name gets a trailing `/`: a name, the same at every commit.)
        match abs.strip_prefix(&self.recorded) {
            Ok(rel) => Path::new(&self.real).join(rel),
            Err(_) => abs,
        }
    }
}

/// How many times a file that changes while it is read is read again before the commit fails.
const READ_TRIES: u32 = 3;
/// A file whose timestamps are this close to the start of its read may have been written during
/// the read without its timestamps showing it (they advance by clock ticks of up to 10 ms).
const RACY_MARGIN: std::time::Duration = std::time::Duration::from_millis(25);

/// Hashes (and, when staging, stores) one file from disk. The file's stat is compared before
/// and after reading: a file rewritten meanwhile may have been read half old, half new, so it is
/// read again, and after [`READ_TRIES`] reads the commit fails naming it. Files of
/// [`LARGE_FILE`] bytes or more are streamed (hashed, then compressed while hashed again).
fn stage_file(
    staging: Option<&Staging<'_>>,
    path: &str,
    p: &Path,
    root: Option<&CacheRoot>,
    cwd: Option<&Path>,
) -> Result<FileMeta> {
    // The id of the previous read when it was racy (see below).
    let mut racy_read: Option<(StatKey, ObjectId)> = None;
    for attempt in 0..READ_TRIES + 1 {
        if attempt > 0 {
            // Give a writer a moment, and the filesystem clock a tick.
            std::thread::sleep(RACY_MARGIN);
        }
        let started_ns = now_ns();
        let meta = fs::metadata(p).map_err(|e| Error::io("cannot read", p, e))?;
        let executable = is_executable(&meta);
        let key = StatKey::of(&meta);
        let cache = staging.and_then(|s| {
            let root = root?;
            Some((s, s.stat_cache()?, root.real.as_str(), root.key(cwd, p)))
        });
        if let Some((st, cache, root, abs)) = &cache
            && let Some((id, md5)) = cache.lookup(root, abs, &key)
            && st.has_blob(&id)
        {
            return Ok(FileMeta {
                id,
                size: key.size,
                md5,
                executable,
            });
        }
        let read_at = cache
            .as_ref()
            .map(|(_, c, _, _)| c.read_time(&key, now_ns()));
        let unchanged = || fs::metadata(p).is_ok_and(|m| StatKey::of(&m) == key);
        let (file, data) = if key.size >= LARGE_FILE {
            match hash_stream(p, key.size)? {
                Some((id, md5)) if unchanged() => (
                    FileMeta {
                        id,
                        size: key.size,
                        md5,
                        executable,
                    },
                    None,
                ),
                _ => continue,
            }
        } else {
            let read = fs::read(p).map_err(|e| Error::io("cannot read", p, e))?;
            if !unchanged() || read.len() as u64 != key.size {
                continue;
            }
            (hash_file(&read, executable), Some(read))
        };
        // File timestamps come from a coarse clock: a write during the read within the same tick
        // leaves the stat unchanged. A file changed that recently is accepted only when a second
        // read, after a pause, finds the same stat and the same bytes.
        let margin = RACY_MARGIN.as_nanos() as i64;
        let racy = key.mtime_ns >= started_ns - margin || key.ctime_ns >= started_ns - margin;
        if racy && racy_read != Some((key, file.id)) {
            racy_read = Some((key, file.id));
            continue;
        }
        if let Some(st) = staging {
            match &data {
                Some(d) => st.put_blob(path, file.id, d)?,
                None => {
                    if !st.put_large_file(p, &file)? {
                        continue;
                    }
                }
            }
        }
        if let Some(st) = staging {
            st.file_read();
        }
        if let Some((_, cache, root, abs)) = &cache
            && let Some((read_at_ns, fs_clock)) = read_at
        {
            cache.record(
                root,
                abs,
                Entry {
                    key,
                    read_at_ns,
                    fs_clock,
                    id: file.id,
                    md5: file.md5,
                },
            );
        }
        return Ok(file);
    }
    Err(Error::SourceChanged {
        path: p.to_path_buf(),
        tries: READ_TRIES + 1,
    })
}

/// The blob id and MD5 of a large file read in pieces; None if it was not `size` bytes long.
fn hash_stream(p: &Path, size: u64) -> Result<Option<(ObjectId, Md5)>> {
    use std::io::Read;
    let mut f = fs::File::open(p).map_err(|e| Error::io("cannot read", p, e))?;
    let mut hasher = BlobHasher::new(size);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| Error::io("cannot read", p, e))?;
        if n == 0 {
            return Ok(hasher.finish());
        }
        hasher.update(&buf[..n]);
    }
}

fn hash_file(data: &[u8], executable: bool) -> FileMeta {
    let (id, md5) = if data.len() >= 1 << 20 {
        rayon::join(|| ObjectId::compute(Kind::Blob, data), || Md5::of(data))
    } else {
        (ObjectId::compute(Kind::Blob, data), Md5::of(data))
    };
    FileMeta {
        id,
        size: data.len() as u64,
        md5,
        executable,
    }
}

/// Whether a file's mode has an executable bit.
pub(crate) fn is_executable(meta: &fs::Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        false
    }
}

/// What a walk of a directory source found.
struct Walked {
    /// (path relative to the directory with `/` separators, path on disk), in no set order.
    files: Vec<(String, PathBuf)>,
    /// `.git` and `.codever` directories skipped by a walk of every file, relative to the
    /// directory, sorted.
    skipped: Vec<String>,
}

/// The files below `dir` that a directory source takes, filtered by `filter`: with `every_file`
/// W&B's walk (every file, links to directories followed), else the capture's (`.gitignore`
/// honoured, links to directories not followed). Walks on every core: on large trees the walk
/// (and reading .gitignore files) is most of the cost of a commit whose files are in the stat
/// cache.
fn walk_files(dir: &Path, every_file: bool, filter: &Filter) -> Result<Walked> {
    let skipped = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let walk = if every_file {
        every_file_walker(dir, skipped.clone())
    } else {
        walker(dir, |_| false)
    };
    let found: std::sync::Mutex<Vec<(String, PathBuf)>> = std::sync::Mutex::new(Vec::new());
    let failure: std::sync::Mutex<Option<Error>> = std::sync::Mutex::new(None);
    walk.build_parallel().run(|| {
        Box::new(|entry| {
            use ignore::WalkState;
            let fail = |e: Error| {
                *failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                WalkState::Quit
            };
            let entry = match entry {
                Ok(e) => e,
                Err(e) => return fail(walk_error(dir, e)),
            };
            let Some(ft) = entry.file_type() else {
                return WalkState::Continue;
            };
            let path = entry.path();
            let is_file = if ft.is_symlink() {
                // A link to a file is stored as that file's bytes. Links to directories are
                // followed only by the W&B walk (the capture's could loop or leave the
                // directory); a broken link is an error there, as it is in W&B.
                match fs::metadata(path) {
                    Ok(m) => m.is_file(),
                    Err(_) if every_file => {
                        return fail(Error::SourceNotFound {
                            path: format!("{} (a broken link)", path.display()),
                        });
                    }
                    Err(_) => false,
                }
            } else {
                ft.is_file()
            };
            if !is_file {
                return WalkState::Continue;
            }
            let rel = path.strip_prefix(dir).unwrap_or(path);
            let Some(rel) = rel_to_slash(rel) else {
                return fail(Error::InvalidPath {
                    path: path.display().to_string(),
                    reason: "the path is not valid UTF-8 (exclude it to commit the rest)".into(),
                });
            };
            if filter.accepts(&rel) {
                found
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push((rel, path.to_path_buf()));
            }
            WalkState::Continue
        })
    });
    if let Some(e) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    let mut skipped = std::mem::take(&mut *skipped.lock().unwrap_or_else(|p| p.into_inner()));
    skipped.sort();
    Ok(Walked {
        files: found.into_inner().unwrap_or_else(|p| p.into_inner()),
        skipped,
    })
}

/// The files a directory source takes (see [`Snapshot::add_dir`] and
/// [`Snapshot::add_dir_every_file`]), as sorted paths relative to `dir`, and the `.git` and
/// `.codever` directories the W&B walk skipped.
pub fn dir_files(dir: &Path, every_file: bool) -> Result<(Vec<String>, Vec<String>)> {
    if !fs::metadata(dir).is_ok_and(|m| m.is_dir()) {
        return Err(Error::SourceNotFound {
            path: dir.display().to_string(),
        });
    }
    let walked = walk_files(dir, every_file, &Filter::default())?;
    let mut files: Vec<String> = walked.files.into_iter().map(|(rel, _)| rel).collect();
    files.sort();
    Ok((files, walked.skipped))
}

/// The files below `root` that a code capture considers (W&B's `log_code`), as paths relative to
/// it: `.gitignore` honoured (and the enclosing repository's rules), `.git/` and `.codever/`
/// skipped, and no virtualenv entered (a directory holding `pyvenv.cfg`, or named `site-packages`
/// or `__pycache__`). Sorted.
pub fn code_files(root: &Path) -> Result<Vec<String>> {
    let walk = walker(root, is_environment);
    let mut out = Vec::new();
    for entry in walk.build() {
        let entry = entry.map_err(|e| walk_error(root, e))?;
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let rel = entry.path().strip_prefix(root).unwrap_or(entry.path());
        if let Some(rel) = rel_to_slash(rel) {
            out.push(rel);
        }
    }
    out.sort();
    Ok(out)
}

/// [`code_files`], best effort: what cannot be read (a directory without permission, a name
/// that is not UTF-8) is skipped instead of failing, and checkout's own temp files
/// (`.codever-tmp*`) are left out. For reports about a directory, never for a capture.
pub(crate) fn code_files_lenient(root: &Path) -> Vec<String> {
    let walk = walker(root, is_environment);
    let mut out: Vec<String> = walk
        .build()
        .filter_map(|entry| entry.ok())
        .filter(|e| e.file_type().is_some_and(|t| t.is_file()))
        .filter(|e| !e.file_name().to_string_lossy().starts_with(".codever-tmp"))
        .filter_map(|e| rel_to_slash(e.path().strip_prefix(root).unwrap_or(e.path())))
        .collect();
    out.sort();
    out
}

/// A directory a code capture never enters: a virtualenv (it holds `pyvenv.cfg`),
/// `site-packages` or `__pycache__`.
fn is_environment(e: &ignore::DirEntry) -> bool {
    let n = e.file_name();
    e.file_type().is_some_and(|t| t.is_dir())
        && (n == "site-packages" || n == "__pycache__" || e.path().join("pyvenv.cfg").exists())
}

/// A walk of `dir` as every capture does it: `.gitignore` files inside it honoured (and, inside a
/// git repository, the repository's rules above it), dotfiles kept, links not followed, `.git/`
/// and `.codever/` never entered, nor anything `skip` rejects.
fn walker(dir: &Path, skip: fn(&ignore::DirEntry) -> bool) -> ignore::WalkBuilder {
    let in_git_repo = absolute(dir).ancestors().any(|a| a.join(".git").exists());
    let mut walk = ignore::WalkBuilder::new(dir);
    walk.hidden(false)
        .ignore(false)
        .parents(in_git_repo)
        .git_ignore(true)
        .git_exclude(true)
        .git_global(true)
        .require_git(false)
        .follow_links(false)
        .filter_entry(move |e| {
            let n = e.file_name();
            !(e.depth() > 0 && (n == ".git" || n == STORE_DIR_NAME || skip(e)))
        });
    walk
}

/// W&B's walk of `dir` (`os.walk(followlinks=True)`): no ignore rules, dotfiles kept, links to
/// directories followed, loops of links reported as errors. Only `.git/` and `.codever/` are
/// never entered; their paths relative to `dir` are added to `skipped`.
fn every_file_walker(
    dir: &Path,
    skipped: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) -> ignore::WalkBuilder {
    let root = dir.to_path_buf();
    let mut walk = ignore::WalkBuilder::new(dir);
    walk.standard_filters(false)
        .follow_links(true)
        .filter_entry(move |e| {
            let n = e.file_name();
            let skip = e.depth() > 0 && (n == ".git" || n == STORE_DIR_NAME);
            if skip {
                let rel = e.path().strip_prefix(&root).unwrap_or(e.path());
                if let Some(rel) = rel_to_slash(rel) {
                    skipped.lock().unwrap_or_else(|p| p.into_inner()).push(rel);
                }
            }
            !skip
        });
    walk
}

/// Splits `PATH=DISPLAY`; a path that exists as written wins.
fn split_source(arg: &str) -> (&str, Option<&str>) {
    if Path::new(arg).exists() {
        return (arg, None);
    }
    // The first `=` whose left side exists; else the last `=` (so the error names the path).
    let positions: Vec<usize> = arg.match_indices('=').map(|(i, _)| i).collect();
    for &i in &positions {
        if Path::new(&arg[..i]).exists() {
            return (&arg[..i], Some(&arg[i + 1..]));
        }
    }
    match positions.last() {
        Some(&i) => (&arg[..i], Some(&arg[i + 1..])),
        None => (arg, None),
    }
}

fn rel_to_slash(rel: &Path) -> Option<String> {
    let mut parts = Vec::new();
    for c in rel.components() {
        parts.push(c.as_os_str().to_str()?);
    }
    Some(parts.join("/"))
}

fn walk_error(dir: &Path, e: ignore::Error) -> Error {
    match e.io_error() {
        Some(io) => Error::io(
            "cannot walk",
            dir,
            std::io::Error::new(io.kind(), e.to_string()),
        ),
        None => Error::io("cannot walk", dir, std::io::Error::other(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(p: &Path, s: &str) {
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, s).unwrap();
    }

    #[test]
    fn basename_default_and_explicit_display() {
        let d = tempfile::tempdir().unwrap();
        write(&d.path().join("training/ppo.py"), "ppo");
        write(&d.path().join("training/models.py"), "m");
        let mut s = Snapshot::default();
        s.add_file(&d.path().join("training/ppo.py"), None).unwrap();
        let arg = format!(
            "{}=nets/./models.py",
            d.path().join("training/models.py").display()
        );
        s.add_source_arg(&arg).unwrap();
        assert_eq!(s.paths().collect::<Vec<_>>(), ["nets/models.py", "ppo.py"]);
    }

    #[test]
    fn duplicates_and_conflicts_are_rejected() {
        let d = tempfile::tempdir().unwrap();
        write(&d.path().join("a/x.py"), "1");
        write(&d.path().join("b/x.py"), "2");
        let mut s = Snapshot::default();
        s.add_file(&d.path().join("a/x.py"), None).unwrap();
        let e = s.add_file(&d.path().join("b/x.py"), None).unwrap_err();
        assert!(
            matches!(e, Error::DuplicatePath { ref path, .. } if path == "x.py"),
            "{e}"
        );

        let mut s = Snapshot::default();
        s.add_file(&d.path().join("a/x.py"), Some("m")).unwrap();
        s.add_file(&d.path().join("b/x.py"), Some("m/y.py"))
            .unwrap();
        let e = s.check_conflicts().unwrap_err();
        assert!(
            matches!(e, Error::PathConflict { ref path, .. } if path == "m"),
            "{e}"
        );
    }

    #[test]
    fn directories_honour_gitignore_and_globs() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("proj");
        write(&root.join(".gitignore"), "*.log\nbuild/\n");
        write(&root.join("main.py"), "m");
        write(&root.join("run.log"), "l");
        write(&root.join("build/out.py"), "b");
        write(&root.join(".env.example"), "e");
        write(&root.join("training/ppo.py"), "p");
        write(&root.join("training/notes.txt"), "n");
        write(&root.join(".git/config"), "g");
        write(&root.join(".codever/format"), "c");
        let mut s = Snapshot::default();
        s.add_dir(&root, None).unwrap();
        assert_eq!(
            s.paths().collect::<Vec<_>>(),
            [
                ".env.example",
                ".gitignore",
                "main.py",
                "training/notes.txt",
                "training/ppo.py"
            ]
        );
        let f = Filter::new(&["*.py".into()], &["training/notes*".into()]).unwrap();
        let mut s = Snapshot::new(f);
        s.add_dir(&root, Some("code")).unwrap();
        assert_eq!(
            s.paths().collect::<Vec<_>>(),
            ["code/main.py", "code/training/ppo.py"]
        );
        let f = Filter::new(&[], &["training".into()]).unwrap();
        let mut s = Snapshot::new(f);
        s.add_dir(&root, None).unwrap();
        assert!(s.paths().all(|p| !p.starts_with("training")));
    }

    #[test]
    fn bad_globs_and_missing_sources_are_clear() {
        assert!(matches!(
            Filter::new(&["a[".into()], &[]),
            Err(Error::InvalidGlob { .. })
        ));
        let mut s = Snapshot::default();
        let e = s.add_source_arg("/no/such/file.py").unwrap_err();
        assert_eq!(e.to_string(), "source not found: /no/such/file.py");
    }

    #[test]
    fn code_files_skip_virtualenvs_and_ignored_files() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        write(&root.join("main.py"), "m");
        write(&root.join("training/ppo.py"), "p");
        write(&root.join(".venv/pyvenv.cfg"), "home = /usr");
        write(
            &root.join(".venv/lib/python3.11/site-packages/torch/x.py"),
            "t",
        );
        write(&root.join("env2/pyvenv.cfg"), "home = /usr");
        write(&root.join("env2/y.py"), "y");
        write(&root.join("training/__pycache__/ppo.cpython-311.pyc"), "c");
        write(&root.join(".gitignore"), "wandb/\n");
        write(&root.join("wandb/run.py"), "w");
        assert_eq!(
            code_files(root).unwrap(),
            [".gitignore", "main.py", "training/ppo.py"]
        );
    }

    #[test]
    fn digest_matches_wandb() {
        let mut s = Snapshot::default();
        s.add_bytes("a.py", b"print('a')\n".to_vec(), false)
            .unwrap();
        s.add_bytes("training/b.py", b"x = 1\n".to_vec(), false)
            .unwrap();
        assert_eq!(
            s.digest().unwrap().to_hex(),
            "74bc2832439434534c7d552dd8787632"
        );
    }
}
