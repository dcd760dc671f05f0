//! Trees: building one tree object per directory from a flat list of files, and reading a tree
//! back as a flat, validated list.

use std::collections::{BTreeMap, HashMap};

use crate::error::{Error, Result};
use crate::id::ObjectId;
use crate::names::check_component;
use crate::object::{FileMeta, Kind, Node, Structured, Tree, TreeEntry};
use crate::store::Store;

/// One file of a version: its display path and metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestEntry {
    /// The display path (`/`-separated, normalised).
    pub path: String,
    /// Blob id, size, MD5 and executable bit.
    pub meta: FileMeta,
}

#[derive(Default)]
struct DirNode {
    files: BTreeMap<String, FileMeta>,
    dirs: BTreeMap<String, DirNode>,
}

/// Computes the trees for `files` without storing them: returns the root id and every tree by id.
pub(crate) fn hash_trees(files: &[ManifestEntry]) -> Result<(ObjectId, HashMap<ObjectId, Tree>)> {
    let mut trees = HashMap::new();
    let root = build_trees(files, &mut |tree| {
        let id = ObjectId::compute(Kind::Tree, &tree.encode());
        trees.insert(id, tree.clone());
        Ok(id)
    })?;
    Ok((root, trees))
}

/// Builds one tree per directory bottom-up, handing each to `put`, which returns its id.
pub(crate) fn build_trees(
    files: &[ManifestEntry],
    put: &mut dyn FnMut(&Tree) -> Result<ObjectId>,
) -> Result<ObjectId> {
    let mut root = DirNode::default();
    for ManifestEntry { path, meta } in files {
        check_path_depth(path)?;
        let mut node = &mut root;
        let mut parts = path.split('/').peekable();
        while let Some(part) = parts.next() {
            if parts.peek().is_none() {
                node.files.insert(part.to_string(), *meta);
            } else {
                node = node.dirs.entry(part.to_string()).or_default();
            }
        }
    }
    build_node(root, put)
}

/// Builds the tree of `node` after those of its subdirectories (recursion depth is bounded by
/// [`check_path_depth`]).
fn build_node(node: DirNode, put: &mut dyn FnMut(&Tree) -> Result<ObjectId>) -> Result<ObjectId> {
    let mut entries = Vec::with_capacity(node.files.len() + node.dirs.len());
    for (name, meta) in node.files {
        entries.push(TreeEntry {
            name,
            node: Node::File(meta),
        });
    }
    for (name, dir) in node.dirs {
        let id = build_node(dir, put)?;
        entries.push(TreeEntry {
            name,
            node: Node::Dir(id),
        });
    }
    entries.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    put(&Tree { entries })
}

/// How deep trees may nest: the root tree is level 0 and a tree more than this many levels below
/// it is refused (by commit, flatten, diff, log, blame, checkout and fsck alike), so a path has at
/// most `MAX_TREE_DEPTH + 1` components. Bounds every traversal whatever a store holds.
pub const MAX_TREE_DEPTH: usize = 256;

/// Most entries (files and directories) one version may expand to. Trees are shared by id, so a
/// forged tree of a few objects can name the same subtree four times at each of twenty levels:
/// 4^20 paths. Every reader that expands a version stops here instead of hanging; commit refuses
/// larger snapshots, and fsck reports trees that expand past it.
pub const MAX_ENTRIES: u64 = 1_000_000;

/// The error for tree `id` that expands to more than [`MAX_ENTRIES`] entries.
pub(crate) fn too_many_entries(id: ObjectId) -> Error {
    Error::CorruptObject {
        id,
        reason: format!(
            "the version expands to more than {MAX_ENTRIES} files and directories (a tree that \
             names the same subtree many times?)"
        ),
    }
}

/// Largest file size a tree may claim (64 GiB, the largest object a frame may declare).
pub const MAX_FILE_SIZE: u64 = crate::object::MAX_OBJECT_SIZE;

/// The error for tree `id` found more than [`MAX_TREE_DEPTH`] levels below a root.
pub(crate) fn too_deep(id: ObjectId) -> Error {
    Error::CorruptObject {
        id,
        reason: format!("trees nested deeper than {MAX_TREE_DEPTH} levels"),
    }
}

/// The one rule for a tree read from a store, applied by every reader (flatten, diff, fsck):
/// tree `id`, found `depth` levels below a root, must be at most [`MAX_TREE_DEPTH`] deep; its
/// entries must be safe path components ([`check_component`]), sorted by the bytes of their
/// names and unique; each file must claim a plausible size (at most [`MAX_FILE_SIZE`]).
///
/// A store may have been synced from an untrusted machine: a tree breaking any rule is
/// `CorruptObject`.
pub fn validate_tree(id: ObjectId, tree: &Tree, depth: usize) -> Result<()> {
    if depth > MAX_TREE_DEPTH {
        return Err(too_deep(id));
    }
    let corrupt = |reason: String| Err(Error::CorruptObject { id, reason });
    let mut prev: Option<&str> = None;
    for e in &tree.entries {
        if let Err(reason) = check_component(&e.name) {
            return corrupt(format!("unsafe entry name {:?}: {reason}", e.name));
        }
        match prev.map(|p| p.as_bytes().cmp(e.name.as_bytes())) {
            Some(std::cmp::Ordering::Equal) => {
                return corrupt(format!("repeated entry {:?}", e.name));
            }
            Some(std::cmp::Ordering::Greater) => {
                return corrupt(format!("entries not sorted by name at {:?}", e.name));
            }
            _ => {}
        }
        prev = Some(&e.name);
        if let Node::File(meta) = &e.node
            && meta.size > MAX_FILE_SIZE
        {
            return corrupt(format!(
                "file {:?} claims {} bytes (at most {MAX_FILE_SIZE} are possible)",
                e.name, meta.size
            ));
        }
    }
    Ok(())
}

/// Refuses a display path that would need trees nested deeper than [`MAX_TREE_DEPTH`].
pub(crate) fn check_path_depth(path: &str) -> Result<()> {
    if path.split('/').count() > MAX_TREE_DEPTH + 1 {
        return Err(Error::InvalidPath {
            path: path.to_string(),
            reason: format!(
                "more than {} components (trees nest at most {MAX_TREE_DEPTH} levels)",
                MAX_TREE_DEPTH + 1
            ),
        });
    }
    Ok(())
}

/// Reads a tree and everything below it as `(path, meta)` sorted by path bytes.
///
/// Iterative, and every tree is checked by [`validate_tree`]: names come from a store that may
/// have been synced from elsewhere, so an unsafe, unsorted or repeated name, an implausible size
/// or nesting deeper than [`MAX_TREE_DEPTH`] is reported as corruption.
pub fn flatten(store: &Store, root: &ObjectId) -> Result<Vec<ManifestEntry>> {
    let mut out = Vec::new();
    let mut stack = vec![(String::new(), *root, 0usize)];
    let mut entries = 0u64;
    let mut seen: std::collections::HashMap<ObjectId, std::rc::Rc<Tree>> =
        std::collections::HashMap::new();
    while let Some((prefix, id, depth)) = stack.pop() {
        if depth > MAX_TREE_DEPTH {
            return Err(too_deep(id));
        }
        // Each distinct tree is read and checked once, however often it is named.
        let tree = match seen.get(&id) {
            Some(t) => std::rc::Rc::clone(t),
            None => {
                let t: Tree = store.read_structured(&id)?;
                let t = std::rc::Rc::new(t);
                seen.insert(id, std::rc::Rc::clone(&t));
                t
            }
        };
        validate_tree(id, &tree, depth)?;
        entries += tree.entries.len() as u64;
        if entries > MAX_ENTRIES {
            return Err(too_many_entries(*root));
        }
        for e in tree.entries.iter().cloned() {
            let path = if prefix.is_empty() {
                e.name
            } else {
                format!("{prefix}/{}", e.name)
            };
            match e.node {
                Node::File(meta) => out.push(ManifestEntry { path, meta }),
                Node::Dir(sub) => stack.push((path, sub, depth + 1)),
            }
        }
    }
    out.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::Md5;

    fn file(name: &str, size: u64) -> TreeEntry {
        TreeEntry {
            name: name.into(),
            node: Node::File(FileMeta {
                id: ObjectId::compute(Kind::Blob, name.as_bytes()),
                size,
                md5: Md5::of(name.as_bytes()),
                executable: false,
            }),
        }
    }

    fn reason(tree: &Tree, depth: usize) -> String {
        match validate_tree(ObjectId::compute(Kind::Tree, &tree.encode()), tree, depth) {
            Err(Error::CorruptObject { reason, .. }) => reason,
            other => panic!("expected CorruptObject, got {other:?}"),
        }
    }

    #[test]
    fn one_rule_for_every_tree_read() {
        let ok = Tree {
            entries: vec![file("B", 1), file("a", 2), file("a.py", MAX_FILE_SIZE)],
        };
        let id = ObjectId::compute(Kind::Tree, &ok.encode());
        validate_tree(id, &ok, 0).unwrap();
        validate_tree(id, &ok, MAX_TREE_DEPTH).unwrap();
        assert_eq!(
            reason(&ok, MAX_TREE_DEPTH + 1),
            "trees nested deeper than 256 levels"
        );
        let unsorted = Tree {
            entries: vec![file("b", 1), file("a", 1)],
        };
        assert_eq!(reason(&unsorted, 0), "entries not sorted by name at \"a\"");
        let repeated = Tree {
            entries: vec![file("a", 1), file("a", 2)],
        };
        assert_eq!(reason(&repeated, 0), "repeated entry \"a\"");
        let unsafe_name = Tree {
            entries: vec![file("..", 1)],
        };
        assert_eq!(
            reason(&unsafe_name, 0),
            "unsafe entry name \"..\": \"..\" is not a file name"
        );
        let huge = Tree {
            entries: vec![file("a", u64::MAX)],
        };
        assert_eq!(
            reason(&huge, 0),
            "file \"a\" claims 18446744073709551615 bytes (at most 68719476736 are possible)"
        );
    }

    #[test]
    fn paths_deeper_than_the_limit_are_refused() {
        let deepest = format!("{}f", "d/".repeat(MAX_TREE_DEPTH));
        check_path_depth(&deepest).unwrap();
        let too_deep = format!("d/{deepest}");
        assert!(matches!(
            check_path_depth(&too_deep),
            Err(Error::InvalidPath { .. })
        ));
    }
}
