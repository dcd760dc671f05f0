//! Comparing two trees: a traversal that skips every subtree whose id is equal on both sides,
//! rename detection (exact by id, then by similarity), and line diffs with hunks.
//!
//! The result, [`TreeDiff`], is plain data; [`crate::render`] turns it into a git-style patch,
//! `--stat`, `--name-status` or JSON.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde::Serialize;
use sha1::Digest as _;
use similar::{Algorithm, DiffOp};

use crate::capture::snapshot::Snapshot;
use crate::error::{Error, Result};
use crate::id::ObjectId;
use crate::object::{FileMeta, Kind, Node, Tree, TreeEntry};
use crate::store::Store;
use crate::tree::{ChangeCounts, hash_trees, validate_tree};

/// How many bytes at the start of a file are searched for a NUL to call it binary (git's value).
pub const BINARY_SNIFF_LEN: usize = 8000;

/// How to compare.
#[derive(Clone, Debug)]
pub struct DiffOptions {
    /// Lines of context around changes (`-U`).
    pub context: usize,
    /// Minimum similarity, in percent, for an added/deleted pair to count as a rename; `None`
    /// turns off inexact rename detection (exact renames are always found).
    pub rename_threshold: Option<u8>,
    /// Time allowed for the line diff of one file; past it the diff is still correct but may be
    /// larger than necessary.
    pub deadline: Duration,
    /// Prepare git's binary patch format for binary files (`--binary`).
    pub binary: bool,
    /// Only list the changed files: no content is read except to find renames, and no lines are
    /// counted (`--name-status`).
    pub names_only: bool,
}

impl Default for DiffOptions {
    fn default() -> Self {
        DiffOptions {
            context: 3,
            rename_threshold: Some(50),
            deadline: Duration::from_secs(2),
            binary: false,
            names_only: false,
        }
    }
}

/// What happened to a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Only on the right.
    Added,
    /// Only on the left.
    Deleted,
    /// On both sides at the same path, content or executable bit changed.
    Modified,
    /// Moved (and possibly changed).
    Renamed,
}

impl Status {
    /// The letter `--name-status` prints.
    pub fn letter(self) -> char {
        match self {
            Status::Added => 'A',
            Status::Deleted => 'D',
            Status::Modified => 'M',
            Status::Renamed => 'R',
        }
    }
}

/// The kind of a line in a hunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum LineKind {
    /// Unchanged context.
    #[serde(rename = " ")]
    Context,
    /// Only on the right.
    #[serde(rename = "+")]
    Added,
    /// Only on the left.
    #[serde(rename = "-")]
    Deleted,
}

/// One line of a hunk. `text` keeps the line's ending (`\n`, or `\r\n`); a last line without
/// one is "No newline at end of file".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// Context, added or deleted.
    pub kind: LineKind,
    /// The bytes of the line, with its line ending if it has one.
    pub text: Vec<u8>,
}

impl Line {
    /// Whether the line ends with `\n`.
    pub fn has_newline(&self) -> bool {
        self.text.last() == Some(&b'\n')
    }
}

/// A hunk: a run of changes with context. Starts are 1-based as in `@@ -a,b +c,d @@`; a side
/// with no lines has the number of the line before it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hunk {
    /// First line on the left.
    pub old_start: usize,
    /// Lines on the left.
    pub old_lines: usize,
    /// First line on the right.
    pub new_start: usize,
    /// Lines on the right.
    pub new_lines: usize,
    /// The nearest line above the hunk that starts with a letter, `_` or `$` (git's default
    /// function context), trimmed, at most 80 bytes.
    pub function: Option<Vec<u8>>,
    /// The lines.
    pub lines: Vec<Line>,
}

/// One changed file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileDiff {
    /// What happened.
    pub status: Status,
    /// Path on the left (None when added).
    pub old_path: Option<String>,
    /// Path on the right (None when deleted).
    pub new_path: Option<String>,
    /// Left metadata.
    pub old: Option<FileMeta>,
    /// Right metadata.
    pub new: Option<FileMeta>,
    /// Git blob id (SHA-1 hex) of the left content, when the content changed.
    pub old_git: Option<String>,
    /// Git blob id (SHA-1 hex) of the right content, when the content changed.
    pub new_git: Option<String>,
    /// Similarity in percent, for renames.
    pub similarity: Option<u8>,
    /// Whether either side is binary (a NUL in its first 8000 bytes).
    pub binary: bool,
    /// Added lines in the hunks.
    pub additions: usize,
    /// Deleted lines in the hunks.
    pub deletions: usize,
    /// The hunks (empty for binary files, pure renames and mode changes).
    pub hunks: Vec<Hunk>,
    /// Git's binary patch body (`GIT binary patch` …) when asked for and binary.
    pub binary_patch: Option<Vec<u8>>,
}

impl FileDiff {
    /// The path to show: the right one, else the left one.
    pub fn path(&self) -> &str {
        self.new_path
            .as_deref()
            .or(self.old_path.as_deref())
            .unwrap_or_default()
    }

    /// Whether the content differs (as opposed to a pure rename or mode change).
    pub fn content_changed(&self) -> bool {
        match (&self.old, &self.new) {
            (Some(o), Some(n)) => o.id != n.id,
            _ => true,
        }
    }
}

/// All changes between two trees, sorted by path.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TreeDiff {
    /// Changed files.
    pub files: Vec<FileDiff>,
}

impl TreeDiff {
    /// Whether the two sides are equal.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Total added lines.
    pub fn additions(&self) -> usize {
        self.files.iter().map(|f| f.additions).sum()
    }

    /// Total deleted lines.
    pub fn deletions(&self) -> usize {
        self.files.iter().map(|f| f.deletions).sum()
    }

    /// Files added, modified and deleted (a rename counts as one added and one deleted).
    pub fn change_counts(&self) -> ChangeCounts {
        let mut c = ChangeCounts::default();
        for f in &self.files {
            match f.status {
                Status::Added => c.added += 1,
                Status::Modified => c.modified += 1,
                Status::Deleted => c.deleted += 1,
                Status::Renamed => {
                    c.added += 1;
                    c.deleted += 1;
                }
            }
        }
        c
    }

    /// Puts every path under `prefix/` (used to combine the diffs of several artifacts).
    pub fn prefix_paths(&mut self, prefix: &str) {
        for f in &mut self.files {
            for p in [&mut f.old_path, &mut f.new_path].into_iter().flatten() {
                *p = format!("{prefix}/{p}");
            }
        }
    }
}

/// Where objects come from: the store, plus trees and files of a capture that was hashed but not
/// stored (the working tree).
pub struct Objects<'a> {
    store: &'a Store,
    trees: HashMap<ObjectId, Tree>,
    files: HashMap<ObjectId, Source>,
}

enum Source {
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
        for (path, meta) in &manifest {
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

    fn tree(&self, id: &ObjectId) -> Result<Tree> {
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
struct Sha1Writer(sha1::Sha1);

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
    fn git_id(&self, meta: &FileMeta) -> Result<String> {
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

/// A file present on one side before pairing.
type Side = (String, FileMeta);

/// A left/right pair of files with the rename similarity, if paired as a rename.
type Paired = (Option<Side>, Option<Side>, Option<u8>);

/// Compares two trees (either may be absent: everything added or deleted).
pub fn diff_trees(
    objects: &Objects<'_>,
    old: Option<ObjectId>,
    new: Option<ObjectId>,
    opts: &DiffOptions,
) -> Result<TreeDiff> {
    let mut pairs: Vec<(Option<Side>, Option<Side>)> = Vec::new();
    walk(objects, old, new, &mut pairs)?;
    let pairs = detect_renames(objects, pairs, opts)?;
    let mut files = pairs
        .into_par_iter()
        .map(|(o, n, sim)| file_diff(objects, o, n, sim, opts))
        .collect::<Result<Vec<_>>>()?;
    files.sort_by(|a, b| a.path().as_bytes().cmp(b.path().as_bytes()));
    Ok(TreeDiff { files })
}

/// One directory being walked: the entries of both sides and how far each side has got.
struct Level {
    prefix: String,
    depth: usize,
    a: Vec<TreeEntry>,
    b: Vec<TreeEntry>,
    i: usize,
    j: usize,
}

/// Walks both trees together, descending only where ids differ. Iterative (an explicit stack of
/// directories, visited in the order a recursive walk would take), and every tree read is checked
/// by [`validate_tree`], so a hostile tree can neither inject lines into a patch nor nest deeper
/// than [`crate::tree::MAX_TREE_DEPTH`].
fn walk(
    objects: &Objects<'_>,
    old: Option<ObjectId>,
    new: Option<ObjectId>,
    out: &mut Vec<(Option<Side>, Option<Side>)>,
) -> Result<()> {
    let entries = std::cell::Cell::new(0u64);
    let seen: std::cell::RefCell<std::collections::HashMap<ObjectId, Tree>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
    let load = |id: Option<ObjectId>, depth: usize| -> Result<Vec<TreeEntry>> {
        let Some(id) = id else { return Ok(Vec::new()) };
        if depth > crate::tree::MAX_TREE_DEPTH {
            return Err(crate::tree::too_deep(id));
        }
        let cached = seen.borrow().get(&id).cloned();
        let tree = match cached {
            Some(t) => t,
            None => {
                let t = objects.tree(&id)?;
                seen.borrow_mut().insert(id, t.clone());
                t
            }
        };
        validate_tree(id, &tree, depth)?;
        // Bounded however often a forged tree names the same subtree (see MAX_ENTRIES).
        entries.set(entries.get() + tree.entries.len() as u64);
        if entries.get() > 2 * crate::tree::MAX_ENTRIES {
            return Err(crate::tree::too_many_entries(id));
        }
        Ok(tree.entries)
    };
    if old == new {
        return Ok(());
    }
    let mut stack = vec![Level {
        prefix: String::new(),
        depth: 0,
        a: load(old, 0)?,
        b: load(new, 0)?,
        i: 0,
        j: 0,
    }];
    while let Some(level) = stack.last_mut() {
        let order = match (level.a.get(level.i), level.b.get(level.j)) {
            (None, None) => {
                stack.pop();
                continue;
            }
            (Some(x), Some(y)) => x.name.as_bytes().cmp(y.name.as_bytes()),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
        };
        let (left, right) = match order {
            std::cmp::Ordering::Less => {
                level.i += 1;
                (level.a.get(level.i - 1), None)
            }
            std::cmp::Ordering::Greater => {
                level.j += 1;
                (None, level.b.get(level.j - 1))
            }
            std::cmp::Ordering::Equal => {
                level.i += 1;
                level.j += 1;
                (level.a.get(level.i - 1), level.b.get(level.j - 1))
            }
        };
        let name = left.or(right).map(|e| e.name.as_str()).unwrap_or_default();
        let path = if level.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}/{name}", level.prefix)
        };
        let file = |e: Option<&TreeEntry>| match e.map(|e| e.node) {
            Some(Node::File(m)) => Some((path.clone(), m)),
            _ => None,
        };
        let dir = |e: Option<&TreeEntry>| match e.map(|e| e.node) {
            Some(Node::Dir(id)) => Some(id),
            _ => None,
        };
        let (lf, rf) = (file(left), file(right));
        match (&lf, &rf) {
            (Some(l), Some(r)) if l.1.id == r.1.id && l.1.executable == r.1.executable => {}
            (None, None) => {}
            _ => out.push((lf, rf)),
        }
        // A path that is a file on one side and a directory on the other: the file is paired
        // above (added or deleted) and the directory walked next.
        let (ld, rd) = (dir(left), dir(right));
        if ld != rd {
            let depth = level.depth + 1;
            let next = Level {
                a: load(ld, depth)?,
                b: load(rd, depth)?,
                prefix: path,
                depth,
                i: 0,
                j: 0,
            };
            stack.push(next);
        }
    }
    Ok(())
}

/// Pairs deleted and added files into renames: identical content first, then by similarity.
fn detect_renames(
    objects: &Objects<'_>,
    pairs: Vec<(Option<Side>, Option<Side>)>,
    opts: &DiffOptions,
) -> Result<Vec<Paired>> {
    let mut out = Vec::new();
    let mut deleted = Vec::new();
    let mut added = Vec::new();
    for p in pairs {
        match p {
            (Some(o), None) => deleted.push(o),
            (None, Some(n)) => added.push(n),
            (o, n) => out.push((o, n, None)),
        }
    }
    // Exact: same blob. Among several candidates, prefer the same basename.
    let mut by_id: HashMap<ObjectId, Vec<usize>> = HashMap::new();
    for (i, d) in deleted.iter().enumerate() {
        by_id.entry(d.1.id).or_default().push(i);
    }
    let mut used_del = vec![false; deleted.len()];
    let mut rest_added = Vec::new();
    for a in added {
        let cands = by_id.get(&a.1.id).cloned().unwrap_or_default();
        let free: Vec<usize> = cands.into_iter().filter(|&i| !used_del[i]).collect();
        let pick = free
            .iter()
            .copied()
            .find(|&i| basename(&deleted[i].0) == basename(&a.0))
            .or_else(|| free.first().copied());
        match pick {
            Some(i) if a.1.size > 0 => {
                used_del[i] = true;
                out.push((Some(deleted[i].clone()), Some(a), Some(100)));
            }
            _ => rest_added.push(a),
        }
    }
    let rest_deleted: Vec<Side> = deleted
        .into_iter()
        .zip(used_del)
        .filter(|(_, u)| !u)
        .map(|(d, _)| d)
        .collect();

    // Similarity: bounded like git's rename limit.
    let mut inexact = Vec::new();
    if let Some(threshold) = opts.rename_threshold
        && !rest_deleted.is_empty()
        && !rest_added.is_empty()
        && rest_deleted.len() * rest_added.len() <= 1_000_000
    {
        let sig = |s: &Side| -> Result<Option<Signature>> {
            // Empty files are never paired; large ones only when identical (read in pieces
            // elsewhere, never whole for a similarity score).
            if s.1.size == 0 || s.1.size >= crate::store::LARGE_FILE {
                return Ok(None);
            }
            Ok(Some(Signature::of(&objects.blob(&s.1.id)?)))
        };
        let dsig = rest_deleted
            .par_iter()
            .map(sig)
            .collect::<Result<Vec<_>>>()?;
        let asig = rest_added.par_iter().map(sig).collect::<Result<Vec<_>>>()?;
        let mut cands = Vec::new();
        for (i, d) in dsig.iter().enumerate() {
            let Some(d) = d else { continue };
            for (j, a) in asig.iter().enumerate() {
                let Some(a) = a else { continue };
                let (small, big) = (d.size.min(a.size), d.size.max(a.size));
                // The score cannot reach the threshold when sizes differ too much.
                if small * 100 < big * u64::from(threshold) {
                    continue;
                }
                let score = d.similarity(a);
                if score >= threshold {
                    let same_base = basename(&rest_deleted[i].0) == basename(&rest_added[j].0);
                    cands.push((score, same_base, i, j));
                }
            }
        }
        cands.sort_by(|x, y| {
            y.0.cmp(&x.0)
                .then(y.1.cmp(&x.1))
                .then(rest_deleted[x.2].0.cmp(&rest_deleted[y.2].0))
                .then(rest_added[x.3].0.cmp(&rest_added[y.3].0))
        });
        let mut dused = vec![false; rest_deleted.len()];
        let mut aused = vec![false; rest_added.len()];
        for (score, _, i, j) in cands {
            if !dused[i] && !aused[j] {
                dused[i] = true;
                aused[j] = true;
                inexact.push((i, j, score));
            }
        }
        for (i, j, score) in &inexact {
            out.push((
                Some(rest_deleted[*i].clone()),
                Some(rest_added[*j].clone()),
                Some(*score),
            ));
        }
        for (i, d) in rest_deleted.into_iter().enumerate() {
            if !dused[i] {
                out.push((Some(d), None, None));
            }
        }
        for (j, a) in rest_added.into_iter().enumerate() {
            if !aused[j] {
                out.push((None, Some(a), None));
            }
        }
    } else {
        out.extend(rest_deleted.into_iter().map(|d| (Some(d), None, None)));
        out.extend(rest_added.into_iter().map(|a| (None, Some(a), None)));
    }
    Ok(out)
}

fn basename(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

/// Line fingerprints of a file, for similarity: like git's, the share of bytes the two files
/// have in common, divided by the size of the larger. Kept as (line hash, count, line length)
/// sorted by hash, so two signatures are compared by one merge.
struct Signature {
    size: u64,
    lines: Vec<(u64, u64, u64)>,
}

impl Signature {
    fn of(data: &[u8]) -> Signature {
        let mut counts: FxHashMap<u64, (u64, u64)> = FxHashMap::default();
        for line in data.split_inclusive(|&b| b == b'\n') {
            let mut h = rustc_hash::FxHasher::default();
            std::hash::Hasher::write(&mut h, line);
            let e = counts
                .entry(std::hash::Hasher::finish(&h))
                .or_insert((0, line.len() as u64));
            e.0 += 1;
        }
        let mut lines: Vec<(u64, u64, u64)> =
            counts.into_iter().map(|(h, (c, l))| (h, c, l)).collect();
        lines.sort_unstable();
        Signature {
            size: data.len() as u64,
            lines,
        }
    }

    fn similarity(&self, other: &Signature) -> u8 {
        let (a, b) = (&self.lines, &other.lines);
        let (mut i, mut j, mut common) = (0, 0, 0u64);
        while i < a.len() && j < b.len() {
            match a[i].0.cmp(&b[j].0) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    common += a[i].1.min(b[j].1) * a[i].2;
                    i += 1;
                    j += 1;
                }
            }
        }
        let max = self.size.max(other.size).max(1);
        u8::try_from(common * 100 / max).unwrap_or(100)
    }
}

fn file_diff(
    objects: &Objects<'_>,
    old: Option<Side>,
    new: Option<Side>,
    similarity: Option<u8>,
    opts: &DiffOptions,
) -> Result<FileDiff> {
    let status = match (&old, &new) {
        (None, _) => Status::Added,
        (_, None) => Status::Deleted,
        (Some(o), Some(n)) if o.0 != n.0 => Status::Renamed,
        _ => Status::Modified,
    };
    let mut fd = FileDiff {
        status,
        old_path: old.as_ref().map(|s| s.0.clone()),
        new_path: new.as_ref().map(|s| s.0.clone()),
        old: old.as_ref().map(|s| s.1),
        new: new.as_ref().map(|s| s.1),
        old_git: None,
        new_git: None,
        similarity,
        binary: false,
        additions: 0,
        deletions: 0,
        hunks: Vec::new(),
        binary_patch: None,
    };
    // Without lines to show or count, only whether the content changed matters (as for git's
    // --name-status).
    if !fd.content_changed() || opts.names_only {
        return Ok(fd);
    }
    // Large files are shown as binary, their git ids hashed in pieces: neither side is held in
    // memory (unless a binary patch is asked for, which needs both).
    let large = |s: &Option<Side>| {
        s.as_ref()
            .is_some_and(|(_, m)| m.size >= crate::store::LARGE_FILE)
    };
    if (large(&old) || large(&new)) && !opts.binary {
        let git = |s: &Option<Side>| -> Result<Option<String>> {
            s.as_ref().map(|(_, m)| objects.git_id(m)).transpose()
        };
        fd.old_git = git(&old)?;
        fd.new_git = git(&new)?;
        fd.binary = true;
        return Ok(fd);
    }
    let read = |s: &Option<Side>| -> Result<Vec<u8>> {
        match s {
            Some((_, m)) => objects.blob(&m.id),
            None => Ok(Vec::new()),
        }
    };
    let (a, b) = (read(&old)?, read(&new)?);
    fd.old_git = old.as_ref().map(|_| git_blob_id(&a));
    fd.new_git = new.as_ref().map(|_| git_blob_id(&b));
    fd.binary = is_binary(&a) || is_binary(&b);
    if fd.binary {
        if opts.binary {
            fd.binary_patch = Some(binary_patch(&a, &b));
        }
        return Ok(fd);
    }
    let hunks = line_hunks(&a, &b, opts.context, Instant::now() + opts.deadline);
    for h in &hunks {
        for l in &h.lines {
            match l.kind {
                LineKind::Added => fd.additions += 1,
                LineKind::Deleted => fd.deletions += 1,
                LineKind::Context => {}
            }
        }
    }
    fd.hunks = hunks;
    Ok(fd)
}

/// Whether content counts as binary: a NUL in its first 8000 bytes, as git decides.
pub fn is_binary(data: &[u8]) -> bool {
    data[..data.len().min(BINARY_SNIFF_LEN)].contains(&0)
}

/// Git's blob id (SHA-1 of `"blob <len>\0"` and the content), for `index` lines.
pub fn git_blob_id(data: &[u8]) -> String {
    let mut h = sha1::Sha1::new();
    h.update(format!("blob {}\0", data.len()).as_bytes());
    h.update(data);
    crate::id::hex(&h.finalize())
}

/// Splits content into lines as git does: only `\n` ends a line (a `\r` stays in the line).
pub fn split_lines(data: &[u8]) -> Vec<&[u8]> {
    data.split_inclusive(|&c| c == b'\n').collect()
}

/// Below this many lines in all, a diff cannot take long enough to need a deadline (and checking
/// the clock is a noticeable share of the work).
const DEADLINE_FROM_LINES: usize = 4000;

/// The Patience diff operations between the lines of `old` and `new`.
///
/// Lines are interned to integers first (each line hashed once), and the common prefix and
/// suffix are matched directly before the algorithm sees the rest, as git's xdiff does.
pub fn line_ops<'a>(old: &[&'a [u8]], new: &[&'a [u8]], deadline: Instant) -> Vec<DiffOp> {
    let prefix = old.iter().zip(new).take_while(|(a, b)| a == b).count();
    let max_suffix = old.len().min(new.len()) - prefix;
    let suffix = old
        .iter()
        .rev()
        .zip(new.iter().rev())
        .take(max_suffix)
        .take_while(|(a, b)| a == b)
        .count();
    let (old_mid, new_mid) = (
        &old[prefix..old.len() - suffix],
        &new[prefix..new.len() - suffix],
    );
    let mut ids: FxHashMap<&'a [u8], u32> =
        FxHashMap::with_capacity_and_hasher(old_mid.len() + new_mid.len(), Default::default());
    let mut a = Vec::with_capacity(old_mid.len());
    let mut b = Vec::with_capacity(new_mid.len());
    for (lines, out) in [(old_mid, &mut a), (new_mid, &mut b)] {
        for l in lines {
            let n = ids.len() as u32;
            out.push(*ids.entry(*l).or_insert(n));
        }
    }
    let deadline = (a.len() + b.len() > DEADLINE_FROM_LINES).then_some(deadline);
    let mut ops = Vec::new();
    if prefix > 0 {
        ops.push(DiffOp::Equal {
            old_index: 0,
            new_index: 0,
            len: prefix,
        });
    }
    for op in similar::capture_diff_slices_deadline(Algorithm::Patience, &a, &b, deadline) {
        ops.push(shift(op, prefix));
    }
    if suffix > 0 {
        ops.push(DiffOp::Equal {
            old_index: old.len() - suffix,
            new_index: new.len() - suffix,
            len: suffix,
        });
    }
    ops
}

/// `op` with both sides moved `by` lines down.
fn shift(op: DiffOp, by: usize) -> DiffOp {
    match op {
        DiffOp::Equal {
            old_index,
            new_index,
            len,
        } => DiffOp::Equal {
            old_index: old_index + by,
            new_index: new_index + by,
            len,
        },
        DiffOp::Delete {
            old_index,
            old_len,
            new_index,
        } => DiffOp::Delete {
            old_index: old_index + by,
            old_len,
            new_index: new_index + by,
        },
        DiffOp::Insert {
            old_index,
            new_index,
            new_len,
        } => DiffOp::Insert {
            old_index: old_index + by,
            new_index: new_index + by,
            new_len,
        },
        DiffOp::Replace {
            old_index,
            old_len,
            new_index,
            new_len,
        } => DiffOp::Replace {
            old_index: old_index + by,
            old_len,
            new_index: new_index + by,
            new_len,
        },
    }
}

/// The Patience line diff of `a` and `b` as hunks with `context` lines around changes.
pub fn line_hunks(a: &[u8], b: &[u8], context: usize, deadline: Instant) -> Vec<Hunk> {
    let old_lines = split_lines(a);
    let new_lines = split_lines(b);
    let ops = line_ops(&old_lines, &new_lines, deadline);
    let mut hunks = Vec::new();
    for group in similar::group_diff_ops(ops, context) {
        let (Some(first), Some(last)) = (group.first(), group.last()) else {
            continue;
        };
        let old_range = first.old_range().start..last.old_range().end;
        let new_range = first.new_range().start..last.new_range().end;
        let mut lines = Vec::new();
        for op in &group {
            let push = |lines: &mut Vec<Line>, kind, src: &[&[u8]], r: std::ops::Range<usize>| {
                for i in r {
                    lines.push(Line {
                        kind,
                        text: src[i].to_vec(),
                    });
                }
            };
            match *op {
                DiffOp::Equal { .. } => {
                    push(&mut lines, LineKind::Context, &old_lines, op.old_range())
                }
                DiffOp::Delete { .. } => {
                    push(&mut lines, LineKind::Deleted, &old_lines, op.old_range())
                }
                DiffOp::Insert { .. } => {
                    push(&mut lines, LineKind::Added, &new_lines, op.new_range())
                }
                DiffOp::Replace { .. } => {
                    push(&mut lines, LineKind::Deleted, &old_lines, op.old_range());
                    push(&mut lines, LineKind::Added, &new_lines, op.new_range());
                }
            }
        }
        let start = |r: &std::ops::Range<usize>| if r.is_empty() { r.start } else { r.start + 1 };
        hunks.push(Hunk {
            old_start: start(&old_range),
            old_lines: old_range.len(),
            new_start: start(&new_range),
            new_lines: new_range.len(),
            function: function_context(&old_lines, old_range.start),
            lines,
        });
    }
    hunks
}

/// Git's default hunk-header context: the nearest line before `before` that starts with a letter,
/// `_` or `$`, cut to 80 bytes, trailing white space trimmed.
fn function_context(lines: &[&[u8]], before: usize) -> Option<Vec<u8>> {
    lines[..before.min(lines.len())].iter().rev().find_map(|l| {
        let first = *l.first()?;
        if !(first.is_ascii_alphabetic() || first == b'_' || first == b'$') {
            return None;
        }
        let mut s = &l[..l.len().min(80)];
        while let Some((last, rest)) = s.split_last() {
            if last.is_ascii_whitespace() || *last == 0x0b {
                s = rest;
            } else {
                break;
            }
        }
        Some(s.to_vec())
    })
}

/// Git's binary patch body: the new content as a zlib `literal`, then the old content (reverse).
fn binary_patch(old: &[u8], new: &[u8]) -> Vec<u8> {
    let mut out = b"GIT binary patch\n".to_vec();
    for data in [new, old] {
        out.extend_from_slice(format!("literal {}\n", data.len()).as_bytes());
        let deflated = deflate(data);
        for chunk in deflated.chunks(52) {
            let n = chunk.len() as u8;
            out.push(if n <= 26 { b'A' + n - 1 } else { b'a' + n - 27 });
            encode_85(chunk, &mut out);
            out.push(b'\n');
        }
        out.push(b'\n');
    }
    out
}

fn deflate(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    // Writing into a Vec cannot fail.
    let _ = e.write_all(data);
    e.finish().unwrap_or_default()
}

/// Git's base-85 (the alphabet of `base85.c`), 4 bytes to 5 characters, zero-padded.
fn encode_85(data: &[u8], out: &mut Vec<u8>) {
    const EN85: &[u8; 85] =
        b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$%&()*+-;<=>?@^_`{|}~";
    for chunk in data.chunks(4) {
        let mut acc: u32 = 0;
        for (i, b) in chunk.iter().enumerate() {
            acc |= u32::from(*b) << (24 - 8 * i);
        }
        let mut buf = [0u8; 5];
        for slot in buf.iter_mut().rev() {
            *slot = EN85[(acc % 85) as usize];
            acc /= 85;
        }
        out.extend_from_slice(&buf);
    }
}

/// Compares the version `tree` with the files on disk at the sources a commit recorded.
pub fn diff_worktree(
    store: &Store,
    tree: ObjectId,
    record: &crate::object::CommitRecord,
    opts: &DiffOptions,
) -> Result<TreeDiff> {
    let snapshot = Snapshot::from_record(record)?;
    let mut objects = Objects::new(store);
    let disk = objects.add_snapshot(&snapshot)?;
    diff_trees(&objects, Some(tree), Some(disk), opts)
}

/// Whether every source a commit recorded exists on this machine.
pub fn sources_present(record: &crate::object::CommitRecord) -> bool {
    record.sources.iter().all(|s| Path::new(&s.path).exists())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(h: &[Hunk]) -> Vec<(usize, usize, usize, usize, String)> {
        h.iter()
            .map(|h| {
                let body: String = h
                    .lines
                    .iter()
                    .map(|l| {
                        let k = match l.kind {
                            LineKind::Context => ' ',
                            LineKind::Added => '+',
                            LineKind::Deleted => '-',
                        };
                        format!("{k}{}", String::from_utf8_lossy(&l.text))
                    })
                    .collect();
                (h.old_start, h.old_lines, h.new_start, h.new_lines, body)
            })
            .collect()
    }

    #[test]
    fn hunks_have_git_numbers() {
        let far = Instant::now() + Duration::from_secs(5);
        let a = b"1\n2\n3\n4\n5\n6\n7\n8\n9\n";
        let b = b"1\n2\n3\n4\nfive\n6\n7\n8\n9\n";
        assert_eq!(
            render(&line_hunks(a, b, 3, far)),
            [(
                2,
                7,
                2,
                7,
                " 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n".to_string()
            )]
        );
        // Adding to an empty file: old side is "-0,0".
        assert_eq!(render(&line_hunks(b"", b"x\n", 3, far))[0].0, 0);
        // Missing final newline is its own line content.
        let h = line_hunks(b"a\nb", b"a\nb\n", 3, far);
        assert_eq!(render(&h), [(1, 2, 1, 2, " a\n-b+b\n".to_string())]);
        assert!(!h[0].lines[1].has_newline());
    }

    #[test]
    fn function_context_is_gits_default() {
        let lines: Vec<&[u8]> = vec![
            b"class PPO:\n",
            b"    def f(self):   \n",
            b"        x = 1\n",
        ];
        assert_eq!(function_context(&lines, 3), Some(b"class PPO:".to_vec()));
        assert_eq!(function_context(&lines, 0), None);
    }

    #[test]
    fn binary_detection_and_git_ids() {
        assert!(is_binary(b"ab\0c"));
        assert!(!is_binary(b"plain text\n"));
        let mut late = vec![b'a'; BINARY_SNIFF_LEN];
        late.push(0);
        assert!(!is_binary(&late));
        // `git hash-object` of "hello\n" and of the empty file.
        assert_eq!(
            git_blob_id(b"hello\n"),
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
        assert_eq!(git_blob_id(b""), "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
    }

    #[test]
    fn base85_matches_git() {
        // From git's base85: 4 zero bytes encode to "00000".
        let mut out = Vec::new();
        encode_85(&[0, 0, 0, 0], &mut out);
        assert_eq!(out, b"00000");
        let mut out = Vec::new();
        encode_85(&[0xff, 0xff, 0xff, 0xff], &mut out);
        assert_eq!(out, b"|NsC0");
    }

    #[test]
    fn similarity_is_shared_bytes_over_the_larger_size() {
        let a = Signature::of(b"one\ntwo\nthree\nfour\n");
        let b = Signature::of(b"one\ntwo\nthree\nFOUR\n");
        assert_eq!(a.similarity(&b), 73); // 14 of 19 bytes
        assert_eq!(a.similarity(&a), 100);
    }
}
