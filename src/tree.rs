//! Trees: building one tree object per directory from a flat list of files, and reading a tree
//! back as a flat, validated list.

use std::collections::{BTreeMap, HashMap};

use crate::commit::Staging;
use crate::error::{Error, Result};
use crate::id::ObjectId;
use crate::names::check_component;
use crate::object::{FileMeta, Kind, Node, Structured, Tree, TreeEntry};
use crate::snapshot::ManifestEntry;
use crate::store::Store;

#[derive(Default)]
struct DirNode {
    files: BTreeMap<String, FileMeta>,
    dirs: BTreeMap<String, DirNode>,
}

/// Stores the trees for `files` (display paths already normalised and conflict-free) and returns
/// the root tree id.
pub(crate) fn write_trees(staging: &Staging<'_>, files: &[ManifestEntry]) -> Result<ObjectId> {
    build_trees(files, &mut |tree| staging.put_tree(tree))
}

/// Computes the trees for `files` without storing them: returns the root id and every tree by id.
pub(crate) fn hash_trees(files: &[ManifestEntry]) -> (ObjectId, HashMap<ObjectId, Tree>) {
    let mut trees = HashMap::new();
    let root = build_trees(files, &mut |tree| {
        let id = ObjectId::compute(Kind::Tree, &tree.encode());
        trees.insert(id, tree.clone());
        Ok(id)
    });
    // The sink above cannot fail.
    (
        root.unwrap_or_else(|_| ObjectId::compute(Kind::Tree, &Tree::default().encode())),
        trees,
    )
}

/// Builds one tree per directory bottom-up, handing each to `put`, which returns its id.
fn build_trees(
    files: &[ManifestEntry],
    put: &mut dyn FnMut(&Tree) -> Result<ObjectId>,
) -> Result<ObjectId> {
    let mut root = DirNode::default();
    for (path, meta) in files {
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

/// Reads a tree and everything below it as `(path, meta)` sorted by path bytes.
///
/// Names come from a store that may have been synced from elsewhere, so each is checked: a name
/// that is not one safe path component, a repeated name or a cycle is reported as corruption.
pub fn flatten(store: &Store, root: &ObjectId) -> Result<Vec<ManifestEntry>> {
    let mut out = Vec::new();
    let mut stack = vec![(String::new(), *root, 0usize)];
    while let Some((prefix, id, depth)) = stack.pop() {
        if depth > 256 {
            return Err(Error::CorruptObject {
                id,
                reason: "trees nested deeper than 256 levels".into(),
            });
        }
        let tree: Tree = store.read_structured(&id)?;
        let mut prev: Option<&str> = None;
        for e in &tree.entries {
            check_component(&e.name).map_err(|reason| Error::CorruptObject {
                id,
                reason: format!("unsafe entry name {:?}: {reason}", e.name),
            })?;
            if prev.is_some_and(|p| p.as_bytes() >= e.name.as_bytes()) {
                return Err(Error::CorruptObject {
                    id,
                    reason: format!("entries unsorted or repeated at {:?}", e.name),
                });
            }
            prev = Some(&e.name);
            let path = if prefix.is_empty() {
                e.name.clone()
            } else {
                format!("{prefix}/{}", e.name)
            };
            match e.node {
                Node::File(meta) => out.push((path, meta)),
                Node::Dir(sub) => stack.push((path, sub, depth + 1)),
            }
        }
    }
    out.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    Ok(out)
}

/// How many files were added, modified (content or mode) and deleted between two manifests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChangeCounts {
    /// Paths only in the new manifest.
    pub added: usize,
    /// Paths in both whose content or executable bit differ.
    pub modified: usize,
    /// Paths only in the old manifest.
    pub deleted: usize,
}
