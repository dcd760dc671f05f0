//! The tree walk: every subtree whose id is equal on both sides is skipped; what differs is
//! paired by path, then renames are detected and each file's line diff is made.

use super::*;
use crate::object::LARGE_FILE;
use crate::tree::ManifestEntry;

/// A left/right pair of files (either may be absent: added or deleted), with the rename
/// similarity when paired as a rename.
pub(super) struct Paired {
    pub old: Option<ManifestEntry>,
    pub new: Option<ManifestEntry>,
    pub similarity: Option<u8>,
}

impl Paired {
    /// A file only on the old side.
    pub fn deleted(old: ManifestEntry) -> Paired {
        Paired {
            old: Some(old),
            new: None,
            similarity: None,
        }
    }

    /// A file only on the new side.
    pub fn added(new: ManifestEntry) -> Paired {
        Paired {
            old: None,
            new: Some(new),
            similarity: None,
        }
    }
}

/// Compares two trees (either may be absent: everything added or deleted).
pub fn diff_trees(
    objects: &Objects<'_>,
    old: Option<ObjectId>,
    new: Option<ObjectId>,
    opts: &DiffOptions,
) -> Result<TreeDiff> {
    let mut pairs: Vec<(Option<ManifestEntry>, Option<ManifestEntry>)> = Vec::new();
    walk(objects, old, new, &mut pairs)?;
    let pairs = detect_renames(objects, pairs, opts)?;
    let mut files = pairs
        .into_par_iter()
        .map(|p| file_diff(objects, p.old, p.new, p.similarity, opts))
        .collect::<Result<Vec<_>>>()?;
    files.sort_by(|a, b| a.path().as_bytes().cmp(b.path().as_bytes()));
    Ok(TreeDiff { files })
}

/// The one file of [`diff_trees`] whose new path is `path` (after rename detection), with only
/// that file's line diff made: what `log` and `blame` of one file need, without reading every
/// other changed file (a version's first diff adds every file). `None` when `path` did not
/// change.
pub fn diff_trees_at(
    objects: &Objects<'_>,
    old: Option<ObjectId>,
    new: Option<ObjectId>,
    opts: &DiffOptions,
    path: &str,
) -> Result<Option<FileDiff>> {
    let mut pairs: Vec<(Option<ManifestEntry>, Option<ManifestEntry>)> = Vec::new();
    walk(objects, old, new, &mut pairs)?;
    let pairs = detect_renames(objects, pairs, opts)?;
    for p in pairs {
        if p.new.as_ref().is_some_and(|n| n.path == path) {
            return file_diff(objects, p.old, p.new, p.similarity, opts).map(Some);
        }
    }
    Ok(None)
}

/// One directory being walked: the entries of both sides and how far each side has got.
pub(super) struct Level {
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
pub(super) fn walk(
    objects: &Objects<'_>,
    old: Option<ObjectId>,
    new: Option<ObjectId>,
    out: &mut Vec<(Option<ManifestEntry>, Option<ManifestEntry>)>,
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
            Some(Node::File(meta)) => Some(ManifestEntry {
                path: path.clone(),
                meta,
            }),
            _ => None,
        };
        let dir = |e: Option<&TreeEntry>| match e.map(|e| e.node) {
            Some(Node::Dir(id)) => Some(id),
            _ => None,
        };
        let (lf, rf) = (file(left), file(right));
        match (&lf, &rf) {
            (Some(l), Some(r))
                if l.meta.id == r.meta.id && l.meta.executable == r.meta.executable => {}
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

pub(super) fn file_diff(
    objects: &Objects<'_>,
    old: Option<ManifestEntry>,
    new: Option<ManifestEntry>,
    similarity: Option<u8>,
    opts: &DiffOptions,
) -> Result<FileDiff> {
    let status = match (&old, &new) {
        (None, _) => Status::Added,
        (_, None) => Status::Deleted,
        (Some(o), Some(n)) if o.path != n.path => Status::Renamed,
        _ => Status::Modified,
    };
    let mut fd = FileDiff {
        status,
        old_path: old.as_ref().map(|s| s.path.clone()),
        new_path: new.as_ref().map(|s| s.path.clone()),
        old: old.as_ref().map(|s| s.meta),
        new: new.as_ref().map(|s| s.meta),
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
    let large = |s: &Option<ManifestEntry>| s.as_ref().is_some_and(|e| e.meta.size >= LARGE_FILE);
    if (large(&old) || large(&new)) && !opts.binary {
        let git = |s: &Option<ManifestEntry>| -> Result<Option<String>> {
            s.as_ref().map(|e| objects.git_id(&e.meta)).transpose()
        };
        fd.old_git = git(&old)?;
        fd.new_git = git(&new)?;
        fd.binary = true;
        return Ok(fd);
    }
    let read = |s: &Option<ManifestEntry>| -> Result<Vec<u8>> {
        match s {
            Some(e) => objects.blob(&e.meta.id),
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
    let hunks = line_hunks(
        &a,
        &b,
        opts.context,
        opts.algorithm,
        Instant::now() + opts.deadline,
    );
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
