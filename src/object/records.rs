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
    /// For a directory: whether every file below it was taken, links to directories followed
    /// and no ignore rule applied (W&B's `add_dir`), instead of the capture's rules
    /// (`.gitignore` honoured, links to directories not followed). Commit records of schema 1
    /// have no such sources.
    pub every_file: bool,
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
    /// Tags given when logging (W&B's `log_artifact(tags=)`). Commit records of schema 1 have
    /// none.
    pub tags: Vec<String>,
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
            tags: Vec::new(),
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

/// What is known of a run at one moment, beyond its [`RunRecord`]: W&B's `config` with its
/// later updates, the `summary` of what `wandb.log` logged, and the run's display name, job type
/// and group. Written by Python's `finish()` (and at exit), marked under `runs/<run>/` only.
/// Several may exist for one run (every process of a run writes its own); the run's view
/// merges them key by key, newest `(time_ns, record id)` first, and the ranges by min and max,
/// so the result does not depend on the order two stores were merged in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunStateRecord {
    /// The run.
    pub run: String,
    /// Nanoseconds since the Unix epoch.
    pub time_ns: i64,
    /// Host name of the machine that wrote it.
    pub host: String,
    /// Display name (W&B's `run.name`; empty for none).
    pub name: String,
    /// Job type (empty for none).
    pub job_type: String,
    /// Group (empty for none).
    pub group: String,
    /// The run's configuration: a JSON object (empty for none).
    pub config: String,
    /// The summary: a JSON object, each key's last logged (or explicitly set) value.
    pub summary: String,
    /// The range of each numeric key logged: a JSON object `{"key": [min, max]}`.
    pub ranges: String,
    /// Number of steps logged (W&B's `run.step`).
    pub steps: u64,
    /// Whether the run had finished when this was written.
    pub finished: bool,
    /// Exit code given to `finish`, if any.
    pub exit_code: Option<i32>,
}

/// A structured object: knows its kind and (de)serializes with a schema byte.
pub trait Structured: Serialize + DeserializeOwned {
    /// The object kind.
    const KIND: Kind;

    /// The oldest store format whose builds can read this record (see `store::FORMAT`): a
    /// store's `format` file is raised to it before the record is written.
    fn format(&self) -> u32 {
        crate::object::WRITE_FORMAT
    }

    /// Raw content: schema byte then postcard.
    fn encode(&self) -> Vec<u8> {
        encode_with_schema(SCHEMA, self)
    }

    /// Parses raw content; `id` is only used in the error.
    fn decode(id: ObjectId, raw: &[u8]) -> Result<Self> {
        match raw.split_first() {
            Some((&SCHEMA, rest)) => decode_whole(id, Self::KIND, rest),
            other => Err(bad_schema(
                id,
                Self::KIND,
                other.map(|(s, _)| *s),
                &[SCHEMA],
            )),
        }
    }
}

/// `schema` followed by the postcard encoding of `value`.
fn encode_with_schema(schema: u8, value: &impl Serialize) -> Vec<u8> {
    // Serializing into a Vec cannot fail for these plain data types.
    match postcard::to_extend(value, vec![schema]) {
        Ok(v) => v,
        Err(e) => unreachable!("postcard encoding into a Vec failed: {e}"),
    }
}

/// Decodes one value from the start of `bytes`; returns it and the bytes after it.
fn decode_part<T: DeserializeOwned>(id: ObjectId, kind: Kind, bytes: &[u8]) -> Result<(T, &[u8])> {
    postcard::take_from_bytes(bytes).map_err(|e| Error::CorruptObject {
        id,
        reason: format!("undecodable {}: {e}", kind.name()),
    })
}

/// Decodes one value that must fill `bytes` exactly.
fn decode_whole<T: DeserializeOwned>(id: ObjectId, kind: Kind, bytes: &[u8]) -> Result<T> {
    let (value, tail) = decode_part(id, kind, bytes)?;
    no_tail(id, kind, tail)?;
    Ok(value)
}

fn no_tail(id: ObjectId, kind: Kind, tail: &[u8]) -> Result<()> {
    if tail.is_empty() {
        return Ok(());
    }
    Err(Error::CorruptObject {
        id,
        reason: format!("{} trailing bytes after {}", tail.len(), kind.name()),
    })
}

fn bad_schema(id: ObjectId, kind: Kind, found: Option<u8>, known: &[u8]) -> Error {
    let reason = match found {
        Some(other) => {
            let known: Vec<String> = known.iter().map(u8::to_string).collect();
            format!(
                "{} schema {other} is unknown to this codever (it knows {}); upgrade codever",
                kind.name(),
                known.join(" and ")
            )
        }
        None => "empty structured object".into(),
    };
    Error::CorruptObject { id, reason }
}

/// Schema of commit records with W&B-walk sources or tags (schema 1, followed by
/// [`CommitExtension`]). Records without either are still written as schema 1, byte for byte
/// as before, so older builds keep reading them.
pub const COMMIT_SCHEMA_2: u8 = 2;

/// A source as schema 1 encodes it.
#[derive(Serialize, Deserialize)]
struct SourceV1 {
    path: String,
    display: String,
    is_dir: bool,
}

/// A commit record as schema 1 encodes it (and schema 2 begins with).
#[derive(Serialize, Deserialize)]
struct CommitV1 {
    artifact_type: String,
    name: String,
    tree: ObjectId,
    digest: crate::id::Md5,
    files: u64,
    bytes: u64,
    run: String,
    time_ns: i64,
    host: String,
    message: String,
    description: String,
    metadata: String,
    sources: Vec<SourceV1>,
    include: Vec<String>,
    exclude: Vec<String>,
}

/// What schema 2 adds after the schema-1 body: one `every_file` flag per source, and tags.
#[derive(Serialize, Deserialize)]
struct CommitExtension {
    every_file: Vec<bool>,
    tags: Vec<String>,
}

impl CommitRecord {
    /// Whether the record needs schema 2 (see [`COMMIT_SCHEMA_2`]).
    fn extended(&self) -> bool {
        !self.tags.is_empty() || self.sources.iter().any(|s| s.every_file)
    }

    fn v1(&self) -> CommitV1 {
        let c = self.clone();
        CommitV1 {
            artifact_type: c.artifact_type,
            name: c.name,
            tree: c.tree,
            digest: c.digest,
            files: c.files,
            bytes: c.bytes,
            run: c.run,
            time_ns: c.time_ns,
            host: c.host,
            message: c.message,
            description: c.description,
            metadata: c.metadata,
            sources: (c.sources.into_iter())
                .map(|s| SourceV1 {
                    path: s.path,
                    display: s.display,
                    is_dir: s.is_dir,
                })
                .collect(),
            include: c.include,
            exclude: c.exclude,
        }
    }

    fn from_v1(v: CommitV1, ext: CommitExtension) -> CommitRecord {
        CommitRecord {
            artifact_type: v.artifact_type,
            name: v.name,
            tree: v.tree,
            digest: v.digest,
            files: v.files,
            bytes: v.bytes,
            run: v.run,
            time_ns: v.time_ns,
            host: v.host,
            message: v.message,
            description: v.description,
            metadata: v.metadata,
            sources: (v.sources.into_iter().zip(ext.every_file))
                .map(|(s, every_file)| SourceRecord {
                    path: s.path,
                    display: s.display,
                    is_dir: s.is_dir,
                    every_file,
                })
                .collect(),
            include: v.include,
            exclude: v.exclude,
            tags: ext.tags,
        }
    }
}

impl Structured for Tree {
    const KIND: Kind = Kind::Tree;
}
impl Structured for CommitRecord {
    const KIND: Kind = Kind::Commit;

    fn format(&self) -> u32 {
        if self.extended() {
            crate::object::EXTENDED_FORMAT
        } else {
            crate::object::WRITE_FORMAT
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = encode_with_schema(SCHEMA, &self.v1());
        if self.extended() {
            out[0] = COMMIT_SCHEMA_2;
            let ext = CommitExtension {
                every_file: self.sources.iter().map(|s| s.every_file).collect(),
                tags: self.tags.clone(),
            };
            match postcard::to_extend(&ext, out) {
                Ok(v) => out = v,
                Err(e) => unreachable!("postcard encoding into a Vec failed: {e}"),
            }
        }
        out
    }

    fn decode(id: ObjectId, raw: &[u8]) -> Result<Self> {
        let kind = Self::KIND;
        match raw.split_first() {
            Some((&SCHEMA, rest)) => {
                let v1: CommitV1 = decode_whole(id, kind, rest)?;
                let every_file = vec![false; v1.sources.len()];
                let ext = CommitExtension {
                    every_file,
                    tags: Vec::new(),
                };
                Ok(CommitRecord::from_v1(v1, ext))
            }
            Some((&COMMIT_SCHEMA_2, rest)) => {
                let (v1, rest): (CommitV1, _) = decode_part(id, kind, rest)?;
                let ext: CommitExtension = decode_whole(id, kind, rest)?;
                if ext.every_file.len() != v1.sources.len() {
                    return Err(Error::CorruptObject {
                        id,
                        reason: format!(
                            "commit record has {} sources but {} source flags",
                            v1.sources.len(),
                            ext.every_file.len()
                        ),
                    });
                }
                Ok(CommitRecord::from_v1(v1, ext))
            }
            other => Err(bad_schema(
                id,
                kind,
                other.map(|(s, _)| *s),
                &[SCHEMA, COMMIT_SCHEMA_2],
            )),
        }
    }
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

    fn format(&self) -> u32 {
        crate::object::EXTENDED_FORMAT
    }
}
impl Structured for RenameRecord {
    const KIND: Kind = Kind::Rename;

    fn format(&self) -> u32 {
        crate::object::EXTENDED_FORMAT
    }
}
impl Structured for RunStateRecord {
    const KIND: Kind = Kind::State;

    fn format(&self) -> u32 {
        crate::object::EXTENDED_FORMAT
    }
}
