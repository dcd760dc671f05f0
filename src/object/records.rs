//! The structured objects: trees and the records (commit, run, alias, use, forget, rename), and
//! how they are
//! encoded as raw content (one schema byte, then postcard). Field order and variant numbers are
//! part of the on-disk format; the golden-byte tests in `object/mod.rs` pin them.

use serde::{Deserialize, Serialize, de::DeserializeOwned};

use super::SCHEMA;
use crate::error::{Error, Result};
use crate::id::{Md5, ObjectId};
use crate::kind::Kind;

/// A file's metadata inside a tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileMeta {
    /// Id of the blob holding the bytes.
    pub id: ObjectId,
    /// Size in bytes.
    pub size: u64,
    /// MD5 of the bytes (W&B's entry digest).
    pub md5: Md5,
    /// Whether the executable bit is set.
    pub executable: bool,
}

/// What a tree entry points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Node {
    /// A file.
    File(FileMeta),
    /// A subdirectory (the id of its tree).
    Dir(ObjectId),
}

/// One entry of a tree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeEntry {
    /// One path component.
    pub name: String,
    /// File or directory.
    pub node: Node,
}

/// One directory. Entries are sorted by the bytes of their names, which are unique.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tree {
    /// The entries, sorted by name.
    pub entries: Vec<TreeEntry>,
}

/// A source given to a commit, kept so the files on disk can be compared with the version later.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceRecord {
    /// Absolute path of the source as it was on the committing machine.
    pub path: String,
    /// Display path (file) or prefix (directory, empty for none).
    pub display: String,
    /// Whether the source was a directory.
    pub is_dir: bool,
}

/// One commit of an artifact by a run: "run R logged (TYPE, NAME) with tree T".
///
/// Several commit records with the same tree are the same version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitRecord {
    /// Artifact type.
    pub artifact_type: String,
    /// Artifact name.
    pub name: String,
    /// Root tree of the content.
    pub tree: ObjectId,
    /// W&B artifact digest of the content.
    pub digest: Md5,
    /// Number of files.
    pub files: u64,
    /// Total bytes of the files.
    pub bytes: u64,
    /// Run that made the commit.
    pub run: String,
    /// Nanoseconds since the Unix epoch.
    pub time_ns: i64,
    /// Host name of the committing machine.
    pub host: String,
    /// Commit message (may be empty).
    pub message: String,
    /// Description of the artifact (may be empty).
    pub description: String,
    /// Metadata as JSON text (empty for none).
    pub metadata: String,
    /// The sources as given.
    pub sources: Vec<SourceRecord>,
    /// Include globs applied to directory sources.
    pub include: Vec<String>,
    /// Exclude globs applied to directory sources.
    pub exclude: Vec<String>,
}

#[cfg(test)]
impl CommitRecord {
    /// A minimal commit record of `artifact_type/name` with `tree` by `run` at `time_ns`, for
    /// tests that need records without committing.
    pub(crate) fn for_test(key: (&str, &str), tree: ObjectId, run: &str, time_ns: i64) -> Self {
        CommitRecord {
            artifact_type: key.0.into(),
            name: key.1.into(),
            tree,
            digest: Md5::from_bytes([0; 16]),
            files: 1,
            bytes: 1,
            run: run.into(),
            time_ns,
            host: "h".into(),
            message: String::new(),
            description: String::new(),
            metadata: String::new(),
            sources: Vec::new(),
            include: Vec::new(),
            exclude: Vec::new(),
        }
    }
}

/// What is known of a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Run id.
    pub id: String,
    /// Nanoseconds since the Unix epoch when the run was first recorded.
    pub time_ns: i64,
    /// Host name.
    pub host: String,
    /// User name.
    pub user: String,
    /// Working directory.
    pub cwd: String,
    /// HEAD commit of the enclosing git repository, if any.
    pub git_commit: Option<String>,
    /// Whether tracked files differed from HEAD, if in a git repository.
    pub git_dirty: Option<bool>,
    /// Project name (may be empty).
    pub project: String,
    /// Run configuration as JSON text (empty for none).
    pub config: String,
    /// Free-form notes.
    pub notes: String,
    /// Tags.
    pub tags: Vec<String>,
}

/// "From now on ALIAS of (TYPE, NAME) points at the version with tree T."
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliasRecord {
    /// Artifact type.
    pub artifact_type: String,
    /// Artifact name.
    pub name: String,
    /// The alias.
    pub alias: String,
    /// Tree of the version it points at.
    pub tree: ObjectId,
    /// Nanoseconds since the Unix epoch.
    pub time_ns: i64,
    /// Run that set it (empty when set by hand).
    pub run: String,
}

/// "Run RUN used the version with tree T of (TYPE, NAME)" — an input of the run, as W&B's
/// `use_artifact` records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UseRecord {
    /// The run.
    pub run: String,
    /// Artifact type.
    pub artifact_type: String,
    /// Artifact name.
    pub name: String,
    /// Tree of the version used.
    pub tree: ObjectId,
    /// Nanoseconds since the Unix epoch.
    pub time_ns: i64,
}

/// "From now on the version with tree T of (TYPE, NAME) — or, with no tree, the whole artifact —
/// is forgotten" (`forgotten`), or "is shown again" (not `forgotten`): an event, like an alias
/// event. The newest event of each target wins; a later commit of the content (of any content,
/// for the whole artifact) is a newer statement that it is in use and shows it again.
///
/// Nothing is removed: the records, trees and blobs stay, and ids keep resolving.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForgetRecord {
    /// Artifact type.
    pub artifact_type: String,
    /// Artifact name.
    pub name: String,
    /// Tree of the version; `None` for the whole artifact.
    pub tree: Option<ObjectId>,
    /// True to forget, false to show again (unforget).
    pub forgotten: bool,
    /// Nanoseconds since the Unix epoch.
    pub time_ns: i64,
    /// Host name of the machine that wrote it.
    pub host: String,
}

/// "From now on the artifact (FROM_TYPE, FROM_NAME) is known as (TO_TYPE, TO_NAME)": an event.
/// The records of the old name stay where they are; readers count them as the new name's (see
/// `history`), so the history keeps its numbers, runs and aliases, and a commit made under the
/// old name by a machine that had not seen the rename joins it after a merge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenameRecord {
    /// Type before.
    pub from_type: String,
    /// Name before.
    pub from_name: String,
    /// Type after.
    pub to_type: String,
    /// Name after.
    pub to_name: String,
    /// Nanoseconds since the Unix epoch.
    pub time_ns: i64,
    /// Host name of the machine that wrote it.
    pub host: String,
}

/// A structured object: knows its kind and (de)serializes with a schema byte.
pub trait Structured: Serialize + DeserializeOwned {
    /// The object kind.
    const KIND: Kind;

    /// Raw content: schema byte then postcard.
    fn encode(&self) -> Vec<u8> {
        let out = vec![SCHEMA];
        // Serializing into a Vec cannot fail for these plain data types.
        match postcard::to_extend(self, out) {
            Ok(v) => v,
            Err(e) => unreachable!("postcard encoding into a Vec failed: {e}"),
        }
    }

    /// Parses raw content; `id` is only used in the error.
    fn decode(id: ObjectId, raw: &[u8]) -> Result<Self> {
        match raw.split_first() {
            Some((&SCHEMA, rest)) => {
                let (value, tail) =
                    postcard::take_from_bytes(rest).map_err(|e| Error::CorruptObject {
                        id,
                        reason: format!("undecodable {}: {e}", Self::KIND.name()),
                    })?;
                if !tail.is_empty() {
                    return Err(Error::CorruptObject {
                        id,
                        reason: format!(
                            "{} trailing bytes after {}",
                            tail.len(),
                            Self::KIND.name()
                        ),
                    });
                }
                Ok(value)
            }
            Some((other, _)) => Err(Error::CorruptObject {
                id,
                reason: format!(
                    "{} schema {other} is unknown to this codever (it knows {SCHEMA}); upgrade codever",
                    Self::KIND.name()
                ),
            }),
            None => Err(Error::CorruptObject {
                id,
                reason: "empty structured object".into(),
            }),
        }
    }
}

impl Structured for Tree {
    const KIND: Kind = Kind::Tree;
}
impl Structured for CommitRecord {
    const KIND: Kind = Kind::Commit;
}
impl Structured for RunRecord {
    const KIND: Kind = Kind::Run;
}
impl Structured for AliasRecord {
    const KIND: Kind = Kind::Alias;
}
impl Structured for UseRecord {
    const KIND: Kind = Kind::Use;
}
impl Structured for ForgetRecord {
    const KIND: Kind = Kind::Forget;
}
impl Structured for RenameRecord {
    const KIND: Kind = Kind::Rename;
}
