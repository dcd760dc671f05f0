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

/// The file at display path `path` under tree `root`, reading only the trees on its way (each
/// checked by [`validate_tree`]); `None` when there is no such file.
pub fn lookup(store: &Store, root: &ObjectId, path: &str) -> Result<Option<FileMeta>> {
    let mut id = *root;
    let mut parts = path.split('/').enumerate().peekable();
    while let Some((depth, part)) = parts.next() {
        if depth > MAX_TREE_DEPTH {
            return Ok(None);
        }
        let tree: Tree = store.read_structured(&id)?;
        validate_tree(id, &tree, depth)?;
        let Ok(at) = tree
            .entries
            .binary_search_by(|e| e.name.as_bytes().cmp(part.as_bytes()))
        else {
            return Ok(None);
        };
        match (&tree.entries[at].node, parts.peek().is_none()) {
            (Node::File(meta), true) => return Ok(Some(*meta)),
            (Node::Dir(sub), false) => id = *sub,
            _ => return Ok(None),
        }
    }
    Ok(None)
}

/// Reads a tree and everything below it as `(path, meta)` sorted by path bytes.
///
/// Iterative, and every tree is checked by [`validate_tree`]: names come from a store that may
/// have been synced from elsewhere, so an unsafe, unsorted or repeated name, an implausible size
/// or nesting deeper than [`MAX_TREE_DEPTH`] is reported as corruption.
pub fn flatten(store: &Store, root: &ObjectId) -> Result<Vec<ManifestEntry>> {
    flatten_within(store, root, MAX_ENTRIES)
}

/// [`flatten`], refusing a version that expands to more than `max_entries` files and
/// directories (tested with small limits).
fn flatten_within(store: &Store, root: &ObjectId, max_entries: u64) -> Result<Vec<ManifestEntry>> {
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
        if entries > max_entries {
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

    /// Stores the trees of `files` and returns the root's id.
    fn stored(store: &Store, files: &[ManifestEntry]) -> ObjectId {
        build_trees(files, &mut |t| store.write_structured(t).map(|(id, _)| id)).unwrap()
    }

    #[test]
    fn lookup_finds_files_at_every_depth_and_nothing_else() {
        let (_d, store) = store();
        let deepest = format!("{}f.py", "d/".repeat(MAX_TREE_DEPTH));
        let files = [
            manifest("a/b/c.py", b"c"),
            manifest("a/top.py", b"top"),
            manifest("z.py", b"z"),
            manifest(&deepest, b"deep"),
        ];
        let root = stored(&store, &files);
        for f in &files {
            assert_eq!(
                lookup(&store, &root, &f.path).unwrap(),
                Some(f.meta),
                "{}",
                f.path
            );
        }
        // Directories, paths through files, absent names: no file.
        for path in ["a", "a/b", "a/b/c.py/x", "a/nope.py", "nope/c.py", ""] {
            assert_eq!(lookup(&store, &root, path).unwrap(), None, "{path:?}");
        }
        // One level deeper than any tree may be: no file, and no error.
        let deeper = format!("d/{deepest}");
        assert_eq!(lookup(&store, &root, &deeper).unwrap(), None);
    }

    #[test]
    fn flatten_takes_a_version_of_exactly_the_limit_and_refuses_one_more() {
        let (_d, store) = store();
        // 3 files and 1 directory: 4 entries.
        let files = [
            manifest("a/x.py", b"x"),
            manifest("a/y.py", b"y"),
            manifest("b.py", b"b"),
        ];
        let root = stored(&store, &files);
        assert_eq!(flatten_within(&store, &root, 4).unwrap().len(), 3);
        let e = flatten_within(&store, &root, 3).unwrap_err();
        assert!(
            matches!(e, Error::CorruptObject { id, .. } if id == root),
            "{e}"
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

    fn dir(name: &str, id: ObjectId) -> TreeEntry {
        TreeEntry {
            name: name.into(),
            node: Node::Dir(id),
        }
    }

    fn manifest(path: &str, content: &[u8]) -> ManifestEntry {
        ManifestEntry {
            path: path.into(),
            meta: FileMeta {
                id: ObjectId::compute(Kind::Blob, content),
                size: content.len() as u64,
                md5: Md5::of(content),
                executable: path.ends_with(".sh"),
            },
        }
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::init(dir.path()).unwrap();
        (dir, store)
    }

    /// The error of `r`, which must be `CorruptObject` about `id`.
    fn corrupt_reason<T: std::fmt::Debug>(r: Result<T>, id: ObjectId) -> String {
        match r {
            Err(Error::CorruptObject { id: got, reason }) => {
                assert_eq!(got, id, "{reason}");
                reason
            }
            other => panic!("expected CorruptObject, got {other:?}"),
        }
    }

    #[test]
    fn every_unsafe_name_is_refused_with_its_reason() {
        for (name, why) in [
            ("", "\"\" is not a file name"),
            (".", "\".\" is not a file name"),
            ("..", "\"..\" is not a file name"),
            ("a/b", "a name contains `/`"),
            ("/", "a name contains `/`"),
            ("a\\b", "backslashes are not allowed (use `/`)"),
            ("a\nb", "control characters are not allowed"),
            ("\u{0}", "control characters are not allowed"),
            (".git", "\".git\" is reserved"),
            (".GIT", "\".GIT\" is reserved"),
            (".codever", "\".codever\" is reserved"),
        ] {
            // As a file and as a directory alike.
            for entry in [file(name, 1), dir(name, ObjectId::compute(Kind::Tree, b""))] {
                let tree = Tree {
                    entries: vec![entry],
                };
                assert_eq!(
                    reason(&tree, 0),
                    format!("unsafe entry name {name:?}: {why}"),
                    "{name:?}"
                );
            }
        }
        // Names that look odd but are safe.
        let odd = Tree {
            entries: vec![file("...", 1), file(".gitignore", 1), file("a b", 1)],
        };
        validate_tree(ObjectId::compute(Kind::Tree, &odd.encode()), &odd, 0).unwrap();
    }

    #[test]
    fn order_is_by_name_bytes_and_the_first_broken_rule_is_reported() {
        let sub = ObjectId::compute(Kind::Tree, b"");
        // Bytes, not characters or case: "B" < "a" < "a.py" < "z" < "é".
        let ok = Tree {
            entries: vec![
                file("B", 1),
                dir("a", sub),
                file("a.py", 1),
                file("z", 1),
                file("é", 1),
            ],
        };
        validate_tree(ObjectId::compute(Kind::Tree, &ok.encode()), &ok, 0).unwrap();
        let unsorted = Tree {
            entries: vec![file("a", 1), file("B", 1)],
        };
        assert_eq!(reason(&unsorted, 0), "entries not sorted by name at \"B\"");
        // A file and a directory of one name are repeated too.
        let repeated = Tree {
            entries: vec![dir("a", sub), file("a", 1)],
        };
        assert_eq!(reason(&repeated, 0), "repeated entry \"a\"");
        // Entries are checked in order; depth before anything.
        let many = Tree {
            entries: vec![file("b", 1), file("a", u64::MAX), file("..", 1)],
        };
        assert_eq!(reason(&many, 0), "entries not sorted by name at \"a\"");
        assert_eq!(
            reason(&many, MAX_TREE_DEPTH + 1),
            "trees nested deeper than 256 levels"
        );
        let size_first = Tree {
            entries: vec![file("a", MAX_FILE_SIZE + 1), file("..", 1)],
        };
        assert_eq!(
            reason(&size_first, 0),
            "file \"a\" claims 68719476737 bytes (at most 68719476736 are possible)"
        );
        let empty = Tree { entries: vec![] };
        validate_tree(ObjectId::compute(Kind::Tree, &empty.encode()), &empty, 0).unwrap();
    }

    #[test]
    fn trees_are_built_sorted_bottom_up_and_hash_as_stored() {
        let files = vec![
            manifest("b.py", b"b"),
            manifest("a/y/z.py", b"z"),
            manifest("a.py", b"a"),
            manifest("B", b"B"),
            manifest("a/x.sh", b"x"),
            manifest("a/y/é", b"e"),
        ];
        let (root, trees) = hash_trees(&files).unwrap();
        assert_eq!(trees.len(), 3);
        for (id, tree) in &trees {
            assert_eq!(ObjectId::compute(Kind::Tree, &tree.encode()), *id);
            validate_tree(*id, tree, 0).unwrap();
        }
        let names = |id: &ObjectId| -> Vec<String> {
            trees[id].entries.iter().map(|e| e.name.clone()).collect()
        };
        assert_eq!(names(&root), ["B", "a", "a.py", "b.py"]);
        let Node::Dir(a) = trees[&root].entries[1].node else {
            panic!("a is a directory")
        };
        assert_eq!(names(&a), ["x.sh", "y"]);
        let Node::Dir(y) = trees[&a].entries[1].node else {
            panic!("y is a directory")
        };
        assert_eq!(names(&y), ["z.py", "é"]);
        assert_eq!(
            trees[&a].entries[0].node,
            Node::File(files[4].meta),
            "file metadata kept, executable bit included"
        );

        // Bottom-up: every subtree is handed over before the tree naming it.
        let mut order = Vec::new();
        let same = build_trees(&files, &mut |t| {
            let id = ObjectId::compute(Kind::Tree, &t.encode());
            for e in &t.entries {
                if let Node::Dir(sub) = e.node {
                    assert!(order.contains(&sub));
                }
            }
            order.push(id);
            Ok(id)
        })
        .unwrap();
        assert_eq!((same, order.last()), (root, Some(&root)));
        // The order of the input does not matter.
        let mut reversed = files.clone();
        reversed.reverse();
        assert_eq!(hash_trees(&reversed).unwrap().0, root);

        // Stored through a store: the same root, which flattens back to the files.
        let (_dir, store) = store();
        let staging = crate::capture::staging::Staging::new(&store, None, None);
        assert_eq!(staging.write_trees(&files).unwrap(), root);
        staging.finish().unwrap();
        let mut sorted = files.clone();
        sorted.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
        assert_eq!(flatten(&store, &root).unwrap(), sorted);

        // No files: the empty tree.
        let (empty, trees) = hash_trees(&[]).unwrap();
        assert_eq!(
            empty,
            ObjectId::compute(Kind::Tree, &Tree::default().encode())
        );
        assert_eq!(trees.len(), 1);
        // A path deeper than trees may nest is refused before any tree is made.
        let deep = format!("{}f", "d/".repeat(MAX_TREE_DEPTH + 1));
        let e = build_trees(&[manifest(&deep, b"")], &mut |_| panic!("no tree")).unwrap_err();
        assert!(
            matches!(&e, Error::InvalidPath { path, reason } if *path == deep
                && reason == "more than 257 components (trees nest at most 256 levels)"),
            "{e}"
        );
    }

    #[test]
    fn flatten_refuses_what_breaks_the_tree_rule_naming_the_tree() {
        let (_dir, store) = store();
        let bad = Tree {
            entries: vec![file("b", 1), file("a", 1)],
        };
        let (bad_id, _) = store.write_structured(&bad).unwrap();
        let root = Tree {
            entries: vec![file("f", 1), dir("sub", bad_id)],
        };
        let (root_id, _) = store.write_structured(&root).unwrap();
        assert_eq!(
            corrupt_reason(flatten(&store, &root_id), bad_id),
            "entries not sorted by name at \"a\""
        );
        // A blob where a tree must be.
        let (blob, _) = store.write_object(Kind::Blob, b"not a tree").unwrap();
        assert_eq!(
            corrupt_reason(flatten(&store, &blob), blob),
            "expected a tree, found a blob"
        );
        // An absent subtree is missing, not corrupt.
        let absent = ObjectId::compute(Kind::Tree, b"absent");
        let (root_id, _) = store
            .write_structured(&Tree {
                entries: vec![dir("d", absent)],
            })
            .unwrap();
        assert!(matches!(
            flatten(&store, &root_id),
            Err(Error::MissingObject { id }) if id == absent
        ));
    }

    #[test]
    fn flatten_refuses_nesting_deeper_than_the_limit() {
        let (_dir, store) = store();
        // A chain of MAX_TREE_DEPTH + 2 trees: the deepest is MAX_TREE_DEPTH + 1 levels down.
        let staging = crate::capture::staging::Staging::new(&store, None, None);
        let mut chain = vec![staging.put_tree(&Tree::default()).unwrap()];
        for _ in 0..=MAX_TREE_DEPTH {
            let below = *chain.last().unwrap();
            chain.push(
                staging
                    .put_tree(&Tree {
                        entries: vec![dir("d", below)],
                    })
                    .unwrap(),
            );
        }
        staging.finish().unwrap();
        // chain[i] has height i: from chain[MAX_TREE_DEPTH] the deepest is at the limit.
        assert_eq!(flatten(&store, &chain[MAX_TREE_DEPTH]).unwrap(), []);
        let root = chain[MAX_TREE_DEPTH + 1];
        assert_eq!(
            corrupt_reason(flatten(&store, &root), chain[0]),
            "trees nested deeper than 256 levels"
        );
    }

    #[test]
    fn flatten_refuses_a_tree_expanding_past_the_entries_limit() {
        let (_dir, store) = store();
        // Three small objects: a root naming one subtree 1,001 times, which names the empty
        // tree 1,000 times: 1,001 + 1,001 × 1,000 entries.
        let names = |n: usize| (0..n).map(|i| format!("{i:04}"));
        let (empty, _) = store.write_structured(&Tree::default()).unwrap();
        let wide = Tree {
            entries: names(1000).map(|n| dir(&n, empty)).collect(),
        };
        let (wide, _) = store.write_structured(&wide).unwrap();
        let root = Tree {
            entries: names(1001).map(|n| dir(&n, wide)).collect(),
        };
        let (root, _) = store.write_structured(&root).unwrap();
        assert_eq!(
            corrupt_reason(flatten(&store, &root), root),
            "the version expands to more than 1000000 files and directories (a tree that \
             names the same subtree many times?)"
        );
        // The subtree alone is well within it.
        assert_eq!(flatten(&store, &wide).unwrap(), []);
    }
}
