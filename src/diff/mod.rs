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

use crate::capture::snapshot::Snapshot;
use crate::error::{Error, Result};
use crate::id::ObjectId;
use crate::object::{FileMeta, Kind, Node, Tree, TreeEntry};
use crate::store::Store;
use crate::tree::{hash_trees, validate_tree};

mod lines;
mod objects;
mod renames;
pub mod render;
mod walk;
mod xdiff;

use lines::*;
pub use lines::{git_blob_id, is_binary, line_changes, line_hunks, split_lines};
pub use objects::Objects;
use renames::*;
use walk::*;
pub use walk::{diff_trees, diff_trees_at};
pub use xdiff::{Algorithm, Change};

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
    /// The line diff algorithm; whichever it is, hunks are those `git diff` prints with the same
    /// algorithm (`git diff`, `--minimal`, `--patience`, `--histogram`).
    pub algorithm: Algorithm,
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
            algorithm: Algorithm::Myers,
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

    /// Every path that differs, on either side, sorted: a renamed file gives its old and its new
    /// path (what `verify` names, so a file moved away is never hidden behind where it went).
    pub fn paths(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self
            .files
            .iter()
            .flat_map(|f| [f.old_path.as_deref(), f.new_path.as_deref()])
            .flatten()
            .collect();
        out.sort_unstable();
        out.dedup();
        out
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

/// How many files were added, modified (content or mode) and deleted between two manifests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChangeCounts {
    /// Paths only in the new manifest.
    pub added: usize,
    /// Paths in both whose content or executable bit differ.
    pub modified: usize,
    /// Paths only in the old manifest.
    pub deleted: usize,
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
