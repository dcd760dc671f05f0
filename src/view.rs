//! What the front-ends show: the JSON documents of the CLI's `--json` and of the Python
//! extension, defined once here so that the two cannot drift, and the labels both print.
//!
//! Each row borrows from a library result and only serializes it (`serde::Serialize`); the keys
//! are those README's "JSON" section documents. A front-end builds the rows from what it
//! asked the library and writes them out as it likes: the CLI prints objects with their keys
//! sorted (as `serde_json::Value` holds them) and streams `versions` rows in field order; Python
//! receives them as JSON text.
//!
//! ```
//! # fn main() -> codever::Result<()> {
//! # let dir = tempfile::tempdir().unwrap();
//! # let store = codever::Store::init(dir.path())?;
//! # let key = codever::ArtifactKey::new("code", "ppo")?;
//! # let mut code = codever::Snapshot::default();
//! # code.add_bytes("ppo.py", b"lr = 3e-4\n".to_vec(), false)?;
//! # let run = codever::capture_run("run1", dir.path())?;
//! # store.commit(&key, &code, &run, &codever::CommitOptions::default())?;
//! use codever::view::{VersionList, number};
//!
//! let history = store.history(&key)?;
//! let rows = serde_json::to_value(VersionList::new(&history)).unwrap();
//! assert_eq!(rows[0]["version"], 0);
//! assert_eq!(rows[0]["runs"], serde_json::json!(["run1"]));
//! assert_eq!(number(history.versions[0].number), "v0");
//! # Ok(())
//! # }
//! ```

use std::borrow::Cow;
use std::path::Path;

use serde::Serialize;
use serde::ser::{SerializeSeq, Serializer};
use serde_json::Value;

use crate::checkout::CheckoutReport;
use crate::commit::CommitOutcome;
use crate::compare::{BlameLine, RunsDiff};
use crate::diff::{FileDiff, Status};
use crate::error::RecordProblem;
use crate::forget::{ForgetOutcome, RenameOutcome};
use crate::fsck::FsckReport;
use crate::history::{ArtifactKey, CommitInfo, History, Version};
use crate::id::{Md5, ObjectId};
use crate::object::{FileMeta, SourceRecord};
use crate::run::RunView;

/// `v2`, or `v?` while the artifact's numbers are withheld (some of its records cannot be read).
pub fn number(n: Option<usize>) -> String {
    n.map_or_else(|| "v?".to_string(), |n| format!("v{n}"))
}

/// The instant `ns` nanoseconds after the Unix epoch (the epoch itself if out of range).
pub fn timestamp(ns: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_nanosecond(i128::from(ns)).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

/// A time as JSON shows it: RFC 3339 in UTC, e.g. `2025-03-01T12:00:00.5Z`.
pub fn time(ns: i64) -> String {
    timestamp(ns).to_string()
}

/// The aliases of version `v` as listings show them: `latest` first when it points here, then
/// the aliases set on it.
pub fn aliases(h: &History, v: &Version) -> Vec<String> {
    let mut a = Vec::with_capacity(v.aliases.len() + 1);
    if h.latest == Some(v.index) {
        a.push("latest".to_string());
    }
    a.extend(v.aliases.iter().cloned());
    a
}

/// A path in JSON: a string (a path that is not UTF-8 is shown with U+FFFD in place of the
/// bytes that are not).
fn path<S: Serializer>(p: &Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&p.to_string_lossy())
}

fn paths<S: Serializer, P: AsRef<Path>>(ps: &[P], s: S) -> Result<S::Ok, S::Error> {
    let mut seq = s.serialize_seq(Some(ps.len()))?;
    for p in ps {
        seq.serialize_element(&p.as_ref().to_string_lossy())?;
    }
    seq.end()
}

/// `init`: `{"store"}`, the store directory.
#[derive(Serialize)]
pub struct StoreRow<'a> {
    #[serde(serialize_with = "path")]
    store: &'a Path,
}

impl<'a> StoreRow<'a> {
    /// The row of a store whose directory is `root`.
    pub fn new(root: &'a Path) -> Self {
        StoreRow { store: root }
    }
}

/// `commit`: `{"type", "name", "version", "id", "new", "run", "digest", "revived",
/// "renamed_from"}` (`revived`: the version or artifact was forgotten and this commit brought it
/// back; `renamed_from`: `TYPE/NAME` the commit was asked for when the artifact has since been
/// renamed to `type`/`name`, else null).
#[derive(Serialize)]
pub struct CommitRow<'a> {
    #[serde(rename = "type")]
    artifact_type: &'a str,
    name: &'a str,
    version: Option<usize>,
    id: String,
    new: bool,
    run: &'a str,
    digest: String,
    revived: bool,
    renamed_from: Option<String>,
}

impl<'a> CommitRow<'a> {
    /// The row of a commit's outcome.
    pub fn new(o: &'a CommitOutcome) -> Self {
        CommitRow {
            artifact_type: &o.key.artifact_type,
            name: &o.key.name,
            version: o.version,
            id: o.tree.to_hex(),
            new: o.new,
            run: &o.run,
            digest: o.digest.to_hex(),
            revived: o.revived,
            renamed_from: o.renamed_from.as_ref().map(ToString::to_string),
        }
    }
}

/// A record of an artifact that cannot be read: `{"id", "missing", "reason"}` (`missing`: not
/// yet synced, as opposed to corrupt).
#[derive(Clone, Serialize)]
pub struct ProblemRow {
    id: String,
    missing: bool,
    reason: String,
}

impl ProblemRow {
    /// The rows of an artifact's unreadable records (empty when its history is complete).
    pub fn all(h: &History) -> Vec<ProblemRow> {
        h.problems().iter().map(ProblemRow::new).collect()
    }

    /// The row of one record problem.
    pub fn new(p: &RecordProblem) -> Self {
        ProblemRow {
            id: p.id.to_hex(),
            missing: p.missing,
            reason: p.reason.clone(),
        }
    }
}

/// `list`: `{"type", "name", "versions", "latest", "complete", "problems", "forgotten",
/// "forgotten_versions", "former_names"}`; `versions` counts the versions that can be read and
/// are not forgotten, `forgotten_versions` those that are; `forgotten` is true when the whole
/// artifact is hidden (forgotten, or every version of it is); `former_names` are the `TYPE/NAME`
/// it had before renames.
#[derive(Serialize)]
pub struct ArtifactRow<'a> {
    #[serde(rename = "type")]
    artifact_type: &'a str,
    name: &'a str,
    versions: usize,
    latest: Option<usize>,
    complete: bool,
    problems: Vec<ProblemRow>,
    forgotten: bool,
    forgotten_versions: usize,
    former_names: Vec<String>,
}

impl<'a> ArtifactRow<'a> {
    /// The row of an artifact.
    pub fn new(h: &'a History) -> Self {
        let listed = h.listed().count();
        ArtifactRow {
            artifact_type: &h.key.artifact_type,
            name: &h.key.name,
            versions: listed,
            latest: h.latest,
            complete: h.is_complete(),
            problems: ProblemRow::all(h),
            forgotten: h.is_hidden(),
            forgotten_versions: h.versions.len() - listed,
            former_names: h.former_names.iter().map(ToString::to_string).collect(),
        }
    }
}

/// One version: `{"version", "id", "digest", "created", "runs", "aliases", "files", "message",
/// "complete", "problems", "forgotten"}`, fields in that order, and in `versions` `"counts"`
/// (`{"added", "modified", "deleted"}` against the version before, `null` while not yet synced). `files` is the number of files in
/// listings (`F = u64`) and the files themselves in [`VersionShow`]; `aliases` includes
/// `latest`; `complete` and `problems` are the artifact's; `forgotten` is the version's own
/// state (a forgotten version keeps its number; its aliases are withheld from specs).
#[derive(Serialize)]
pub struct VersionRow<'a, F = u64> {
    version: Option<usize>,
    id: String,
    digest: String,
    created: String,
    runs: Vec<&'a str>,
    aliases: Vec<String>,
    files: F,
    message: &'a str,
    complete: bool,
    problems: Cow<'a, [ProblemRow]>,
    forgotten: bool,
    /// `versions` only: how many files the version added, modified and deleted against the one
    /// before, `null` while its tree (or that one's) has not been synced (the text's "(not yet
    /// synced)").
    #[serde(skip_serializing_if = "Option::is_none")]
    counts: Option<Option<crate::ChangeCounts>>,
}

impl<'a> VersionRow<'a> {
    /// The row of version `v` of `h`.
    pub fn new(h: &History, v: &'a Version) -> Self {
        VersionRow::with(h, v, v.first().record.files, Cow::Owned(ProblemRow::all(h)))
    }
}

impl<'a, F> VersionRow<'a, F> {
    fn with(h: &History, v: &'a Version, files: F, problems: Cow<'a, [ProblemRow]>) -> Self {
        VersionRow {
            version: v.number,
            id: v.tree.to_hex(),
            digest: v.digest.to_hex(),
            created: time(v.created_ns()),
            runs: v.runs(),
            aliases: aliases(h, v),
            files,
            message: &v.first().record.message,
            complete: h.is_complete(),
            problems,
            forgotten: v.forgotten.is_some(),
            counts: None,
        }
    }
}

/// `versions`: the versions of an artifact, oldest first, as [`VersionRow`]s: those not
/// forgotten, or all of them. Rows are made while they are serialized, so a long history is
/// written without building them all first.
pub struct VersionList<'a> {
    history: &'a History,
    problems: Vec<ProblemRow>,
    all: bool,
    changes: Option<Vec<Option<crate::ChangeCounts>>>,
}

impl<'a> VersionList<'a> {
    /// The versions of `history` that listings show (not forgotten).
    pub fn new(history: &'a History) -> Self {
        VersionList {
            history,
            problems: ProblemRow::all(history),
            all: false,
            changes: None,
        }
    }

    /// Every version of `history`, forgotten ones too (marked `"forgotten": true`).
    pub fn all(history: &'a History) -> Self {
        VersionList {
            all: true,
            ..VersionList::new(history)
        }
    }

    /// Each row with `"counts"`: `changes[i]` for version `i` of the history
    /// ([`Store::version_changes`](crate::Store::version_changes)), `null` where not yet synced.
    pub fn with_changes(mut self, changes: Vec<Option<crate::ChangeCounts>>) -> Self {
        self.changes = Some(changes);
        self
    }
}

impl Serialize for VersionList<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let h = self.history;
        let shown: Vec<&Version> = h
            .versions
            .iter()
            .filter(|v| self.all || v.forgotten.is_none())
            .collect();
        let mut seq = s.serialize_seq(Some(shown.len()))?;
        for v in shown {
            let problems = Cow::Borrowed(self.problems.as_slice());
            let mut row = VersionRow::with(h, v, v.first().record.files, problems);
            row.counts = self
                .changes
                .as_ref()
                .map(|c| c.get(v.index).copied().flatten());
            seq.serialize_element(&row)?;
        }
        seq.end()
    }
}

/// A file of a version: `{"path", "size", "md5", "blake3", "executable"}` (`md5` base64 as in
/// W&B manifests, `blake3` the hex id of the file's blob).
#[derive(Serialize)]
pub struct FileRow<'a> {
    path: &'a str,
    size: u64,
    md5: String,
    blake3: String,
    executable: bool,
}

impl<'a> FileRow<'a> {
    /// The row of the file at display path `path`.
    pub fn new(path: &'a str, meta: &FileMeta) -> Self {
        FileRow {
            path,
            size: meta.size,
            md5: meta.md5.to_base64(),
            blake3: meta.id.to_hex(),
            executable: meta.executable,
        }
    }
}

/// `show`: the [`VersionRow`] plus `"type"`, `"name"`, `"files"` (the files themselves) and how
/// the version was captured by its first commit: `"sources"` (`[{"path", "display", "dir"}]`,
/// each source as given on the committing machine and where its files went) and the
/// `"include"`/`"exclude"` globs applied to directory sources.
#[derive(Serialize)]
pub struct VersionShow<'a> {
    #[serde(rename = "type")]
    artifact_type: &'a str,
    name: &'a str,
    #[serde(flatten)]
    version: VersionRow<'a, Vec<FileRow<'a>>>,
    sources: Vec<SourceRow<'a>>,
    include: &'a [String],
    exclude: &'a [String],
    tags: Vec<&'a str>,
    commits: Vec<VersionCommitRow<'a>>,
}

impl<'a> VersionShow<'a> {
    /// Version `v` of `h`, holding `files`.
    pub fn new(h: &'a History, v: &'a Version, files: Vec<FileRow<'a>>) -> Self {
        let record = &v.first().record;
        VersionShow {
            artifact_type: &h.key.artifact_type,
            name: &h.key.name,
            version: VersionRow::with(h, v, files, Cow::Owned(ProblemRow::all(h))),
            sources: record.sources.iter().map(SourceRow::new).collect(),
            include: &record.include,
            exclude: &record.exclude,
            tags: tags(v),
            commits: v.commits.iter().map(VersionCommitRow::new).collect(),
        }
    }
}

/// The tags of a version: those of its commits, in the order they were first given.
pub fn tags(v: &Version) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for t in v.commits.iter().flat_map(|c| &c.record.tags) {
        if !out.contains(&t.as_str()) {
            out.push(t);
        }
    }
    out
}

/// A commit of a version's content, oldest first (the first made the version, later ones
/// linked to it): `{"run", "time", "message"}`.
#[derive(Serialize)]
pub struct VersionCommitRow<'a> {
    run: &'a str,
    time: String,
    message: &'a str,
}

impl<'a> VersionCommitRow<'a> {
    /// The row of commit `c`.
    pub fn new(c: &'a CommitInfo) -> Self {
        VersionCommitRow {
            run: &c.record.run,
            time: time(c.record.time_ns),
            message: &c.record.message,
        }
    }
}

/// A source of a commit: `{"path", "display", "dir"}`: the path as given on the committing
/// machine (absolute), the display path (file) or prefix (directory; empty for none) its files
/// were stored under, and whether it was a directory.
#[derive(Serialize)]
pub struct SourceRow<'a> {
    path: &'a str,
    display: &'a str,
    dir: bool,
    every_file: bool,
}

impl<'a> SourceRow<'a> {
    /// The row of `source`.
    pub fn new(source: &'a SourceRecord) -> Self {
        SourceRow {
            path: &source.path,
            display: &source.display,
            dir: source.is_dir,
            every_file: source.every_file,
        }
    }

    /// One line of text: `PATH` when its files kept their names (a directory stored at the top,
    /// a file under its own name), else `PATH as DISPLAY`; a directory's path and prefix end
    /// in `/`.
    pub fn text(&self) -> String {
        let slash = if self.dir { "/" } else { "" };
        let path = self.path.trim_end_matches('/');
        let display = self.display.trim_end_matches('/');
        let kept = if self.dir {
            display.is_empty()
        } else {
            Path::new(path).file_name().is_some_and(|n| n == display)
        };
        // W&B's walk: every file, links to directories followed, no ignore rules.
        let every = if self.every_file { " (every file)" } else { "" };
        if kept {
            format!("{path}{slash}{every}")
        } else {
            format!("{path}{slash} as {display}{slash}{every}")
        }
    }
}

/// What Python's `Artifact` reads of a version: [`VersionShow`] plus the `"description"` and
/// `"metadata"` (JSON text, empty for none) it was logged with.
#[derive(Serialize)]
pub struct VersionDetail<'a> {
    #[serde(flatten)]
    show: VersionShow<'a>,
    description: &'a str,
    metadata: &'a str,
}

impl<'a> VersionDetail<'a> {
    /// Version `v` of `h`, holding `files`.
    pub fn new(h: &'a History, v: &'a Version, files: Vec<FileRow<'a>>) -> Self {
        let record = &v.first().record;
        VersionDetail {
            show: VersionShow::new(h, v, files),
            description: &record.description,
            metadata: &record.metadata,
        }
    }
}

/// A snapshot not yet logged (Python's `Artifact.manifest` and `digest`): `{"digest", "files"}`.
#[derive(Serialize)]
pub struct ManifestRow<'a> {
    digest: String,
    files: Vec<FileRow<'a>>,
}

impl<'a> ManifestRow<'a> {
    /// The manifest of `files`, whose W&B digest is `digest`.
    pub fn new(digest: Md5, files: Vec<FileRow<'a>>) -> Self {
        ManifestRow {
            digest: digest.to_hex(),
            files,
        }
    }
}

/// `log`: the [`VersionRow`] plus `"changes"`, the files changed from the version before.
#[derive(Serialize)]
pub struct LogRow<'a> {
    #[serde(flatten)]
    version: VersionRow<'a>,
    changes: Vec<ChangeRow<'a>>,
}

impl<'a> LogRow<'a> {
    /// Version `v` of `h`, with the changes `files`.
    pub fn new(h: &History, v: &'a Version, files: &'a [FileDiff]) -> Self {
        LogRow {
            version: VersionRow::new(h, v),
            changes: files.iter().map(ChangeRow::new).collect(),
        }
    }
}

/// A changed file in `log`: `{"status", "old_path", "new_path", "similarity", "binary",
/// "additions", "deletions"}`.
#[derive(Serialize)]
pub struct ChangeRow<'a> {
    status: Status,
    old_path: Option<&'a str>,
    new_path: Option<&'a str>,
    similarity: Option<u8>,
    binary: bool,
    additions: usize,
    deletions: usize,
}

impl<'a> ChangeRow<'a> {
    /// The row of one file's change.
    pub fn new(f: &'a FileDiff) -> Self {
        ChangeRow {
            status: f.status,
            old_path: f.old_path.as_deref(),
            new_path: f.new_path.as_deref(),
            similarity: f.similarity,
            binary: f.binary,
            additions: f.additions,
            deletions: f.deletions,
        }
    }
}

/// `runs` and `runs show`: `{"id", "time", "host", "user", "cwd", "git_commit", "git_dirty",
/// "project", "config", "notes", "tags", "name", "job_type", "group", "summary", "ranges",
/// "steps", "finished", "exit_code", "complete", "artifacts", "used"}`. Without the run's own
/// record (not yet synced) the fields it holds are null; `complete` is false when some record
/// of the run cannot be read. `config` is the run's configuration with its later updates,
/// `summary` each key's last value, `ranges` `{"key": {"min", "max"}}` (see
/// [`crate::run::RunState`]).
#[derive(Serialize)]
pub struct RunRow<'a> {
    id: &'a str,
    time: String,
    host: Option<&'a str>,
    user: Option<&'a str>,
    cwd: Option<&'a str>,
    git_commit: Option<&'a str>,
    git_dirty: Option<bool>,
    project: Option<&'a str>,
    config: Option<Value>,
    notes: Option<&'a str>,
    tags: &'a [String],
    name: Option<&'a str>,
    job_type: Option<&'a str>,
    group: Option<&'a str>,
    summary: &'a serde_json::Map<String, Value>,
    ranges: std::collections::BTreeMap<&'a str, RangeRow>,
    steps: u64,
    finished: bool,
    exit_code: Option<i32>,
    complete: bool,
    artifacts: Vec<RunArtifactRow<'a>>,
    used: Vec<RunUseRow<'a>>,
}

/// The smallest and largest value a run logged for a key: `{"min", "max"}`.
#[derive(Serialize)]
pub struct RangeRow {
    min: f64,
    max: f64,
}

impl<'a> RunRow<'a> {
    /// The row of a run.
    pub fn new(r: &'a RunView) -> Self {
        let info = r.info.as_ref();
        let text = |f: fn(&crate::RunRecord) -> &String| {
            info.map(|i| f(i).as_str()).filter(|s| !s.is_empty())
        };
        RunRow {
            id: &r.id,
            time: time(r.start_ns()),
            host: text(|i| &i.host),
            user: text(|i| &i.user),
            cwd: text(|i| &i.cwd),
            git_commit: info.and_then(|i| i.git_commit.as_deref()),
            git_dirty: info.and_then(|i| i.git_dirty),
            project: text(|i| &i.project),
            // Config that is not JSON (a forged record) is shown as null rather than failing.
            config: if r.state.config.is_empty() {
                text(|i| &i.config).and_then(|c| serde_json::from_str(c).ok())
            } else {
                Some(Value::Object(r.state.config.clone()))
            },
            // Edited during the run (a state record's), else as the run started.
            notes: match &r.state.notes {
                Some(n) => Some(n.as_str()).filter(|s| !s.is_empty()),
                None => text(|i| &i.notes),
            },
            tags: match &r.state.tags {
                Some(t) => t.as_slice(),
                None => info.map_or(&[], |i| i.tags.as_slice()),
            },
            name: Some(r.state.name.as_str()).filter(|s| !s.is_empty()),
            job_type: Some(r.state.job_type.as_str()).filter(|s| !s.is_empty()),
            group: Some(r.state.group.as_str()).filter(|s| !s.is_empty()),
            summary: &r.state.summary,
            ranges: (r.state.ranges.iter())
                .map(|(k, (min, max))| {
                    (
                        k.as_str(),
                        RangeRow {
                            min: *min,
                            max: *max,
                        },
                    )
                })
                .collect(),
            steps: r.state.steps,
            finished: r.state.finished,
            exit_code: r.state.exit_code,
            complete: r.incomplete == 0 && r.corrupt == 0,
            artifacts: r
                .artifacts
                .iter()
                .map(|a| RunArtifactRow {
                    artifact_type: &a.key.artifact_type,
                    name: &a.key.name,
                    version: a.version,
                    id: a.tree.to_hex(),
                    new: a.new,
                    complete: a.complete,
                    message: &a.message,
                    forgotten: a.forgotten,
                })
                .collect(),
            used: r
                .used
                .iter()
                .map(|u| RunUseRow {
                    artifact_type: &u.key.artifact_type,
                    name: &u.key.name,
                    version: u.version,
                    id: u.tree.to_hex(),
                    complete: u.complete,
                    forgotten: u.forgotten,
                })
                .collect(),
        }
    }
}

/// What a run logged: `{"type", "name", "version", "id", "new", "complete", "message",
/// "forgotten"}` (the message of the run's commit, kept when it only linked to an existing
/// version; `forgotten` when the version or its artifact is; the artifact under its name now).
#[derive(Serialize)]
pub struct RunArtifactRow<'a> {
    #[serde(rename = "type")]
    artifact_type: &'a str,
    name: &'a str,
    version: Option<usize>,
    id: String,
    new: bool,
    complete: bool,
    message: &'a str,
    forgotten: bool,
}

/// What a run used (Python's `use_artifact`): `{"type", "name", "version", "id", "complete",
/// "forgotten"}` (`forgotten` when the version or its artifact is, since).
#[derive(Serialize)]
pub struct RunUseRow<'a> {
    #[serde(rename = "type")]
    artifact_type: &'a str,
    name: &'a str,
    version: Option<usize>,
    id: String,
    complete: bool,
    forgotten: bool,
}

/// `checkout`: `{"type", "name", "version", "id", "into", "written", "unchanged"}`.
#[derive(Serialize)]
pub struct CheckoutRow<'a> {
    #[serde(rename = "type")]
    artifact_type: &'a str,
    name: &'a str,
    version: Option<usize>,
    id: String,
    #[serde(serialize_with = "path")]
    into: &'a Path,
    written: &'a [String],
    unchanged: &'a [String],
    extra: &'a [String],
    removed: &'a [String],
}

impl<'a> CheckoutRow<'a> {
    /// Version `v` of `key` checked out into `into`.
    pub fn new(key: &'a ArtifactKey, v: &Version, into: &'a Path, r: &'a CheckoutReport) -> Self {
        CheckoutRow {
            artifact_type: &key.artifact_type,
            name: &key.name,
            version: v.number,
            id: v.tree.to_hex(),
            into,
            written: &r.written,
            unchanged: &r.unchanged,
            extra: &r.extra,
            removed: &r.removed,
        }
    }
}

/// `alias`: `{"type", "name", "alias", "version", "id"}`.
#[derive(Serialize)]
pub struct AliasRow<'a> {
    #[serde(rename = "type")]
    artifact_type: &'a str,
    name: &'a str,
    alias: &'a str,
    version: Option<usize>,
    id: String,
}

impl<'a> AliasRow<'a> {
    /// `alias` of `key` set on version `v`.
    pub fn new(key: &'a ArtifactKey, alias: &'a str, v: &Version) -> Self {
        AliasRow {
            artifact_type: &key.artifact_type,
            name: &key.name,
            alias,
            version: v.number,
            id: v.tree.to_hex(),
        }
    }
}

/// `forget` and `unforget`: `{"type", "name", "version", "id", "forgotten", "changed",
/// "aliases", "artifact_forgotten"}`; `version` and `id` are null for a whole artifact, `changed`
/// false when it already was in that state (nothing written), `aliases` those of the version
/// (withheld while it is forgotten), `artifact_forgotten` whether the whole artifact is.
#[derive(Serialize)]
pub struct ForgetRow<'a> {
    #[serde(rename = "type")]
    artifact_type: &'a str,
    name: &'a str,
    version: Option<usize>,
    id: Option<String>,
    forgotten: bool,
    changed: bool,
    aliases: &'a [String],
    artifact_forgotten: bool,
}

impl<'a> ForgetRow<'a> {
    /// The row of what a forget or an unforget did.
    pub fn new(o: &'a ForgetOutcome) -> Self {
        ForgetRow {
            artifact_type: &o.key.artifact_type,
            name: &o.key.name,
            version: o.version.and_then(|(n, _)| n),
            id: o.version.map(|(_, id)| id.to_hex()),
            forgotten: o.forgotten,
            changed: o.changed,
            aliases: &o.aliases,
            artifact_forgotten: o.artifact_forgotten,
        }
    }
}

/// `rename`: `{"old_type", "old_name", "type", "name", "versions", "merged", "forgotten"}`:
/// `versions` counts the versions under the new name (forgotten ones too), `merged` whether
/// they joined an artifact that already had that name, `forgotten` whether it is hidden.
#[derive(Serialize)]
pub struct RenameRow<'a> {
    old_type: &'a str,
    old_name: &'a str,
    #[serde(rename = "type")]
    artifact_type: &'a str,
    name: &'a str,
    versions: usize,
    merged: bool,
    forgotten: bool,
}

impl<'a> RenameRow<'a> {
    /// The row of what a rename did.
    pub fn new(o: &'a RenameOutcome) -> Self {
        RenameRow {
            old_type: &o.from.artifact_type,
            old_name: &o.from.name,
            artifact_type: &o.to.artifact_type,
            name: &o.to.name,
            versions: o.history.versions.len(),
            merged: o.merged,
            forgotten: o.history.is_hidden(),
        }
    }
}

/// `diff --runs`: one artifact the two runs logged, `{"type", "name", "left", "right"}`, each
/// side `{"version", "id"}` or null when that run did not log it.
#[derive(Serialize)]
pub struct RunsArtifactRow<'a> {
    #[serde(rename = "type")]
    artifact_type: &'a str,
    name: &'a str,
    left: Option<SideRow>,
    right: Option<SideRow>,
}

/// One side of a [`RunsArtifactRow`].
#[derive(Serialize)]
pub struct SideRow {
    version: Option<usize>,
    id: String,
}

impl<'a> RunsArtifactRow<'a> {
    /// The rows of the artifacts two runs logged.
    pub fn all(rd: &'a RunsDiff) -> Vec<Self> {
        let side = |s: &Option<(Option<usize>, ObjectId)>| {
            s.map(|(version, id)| SideRow {
                version,
                id: id.to_hex(),
            })
        };
        rd.artifacts
            .iter()
            .map(|a| RunsArtifactRow {
                artifact_type: &a.key.artifact_type,
                name: &a.key.name,
                left: side(&a.left),
                right: side(&a.right),
            })
            .collect()
    }
}

/// `blame`: `{"type", "name", "version", "id", "path", "lines"}`, each line `{"line",
/// "version", "id", "run", "forgotten", "text"}` (the version and run that introduced it, and
/// whether that version is forgotten; the text without its newline, invalid UTF-8 replaced by
/// U+FFFD).
#[derive(Serialize)]
pub struct BlameRow<'a> {
    #[serde(rename = "type")]
    artifact_type: &'a str,
    name: &'a str,
    version: Option<usize>,
    id: String,
    path: &'a str,
    lines: Vec<BlameLineRow<'a>>,
}

/// One line of a [`BlameRow`].
#[derive(Serialize)]
pub struct BlameLineRow<'a> {
    line: usize,
    version: Option<usize>,
    id: String,
    run: &'a str,
    forgotten: bool,
    text: Cow<'a, str>,
}

impl<'a> BlameRow<'a> {
    /// The blame of `path` (normalised) at version `index` of `h`.
    pub fn new(h: &'a History, index: usize, path: &'a str, lines: &'a [BlameLine]) -> Self {
        let v = &h.versions[index];
        BlameRow {
            artifact_type: &h.key.artifact_type,
            name: &h.key.name,
            version: v.number,
            id: v.tree.to_hex(),
            path,
            lines: lines
                .iter()
                .map(|l| {
                    let origin = &h.versions[l.version];
                    BlameLineRow {
                        line: l.line,
                        version: origin.number,
                        id: origin.tree.to_hex(),
                        run: &origin.first().record.run,
                        forgotten: origin.forgotten.is_some(),
                        text: String::from_utf8_lossy(
                            l.text.strip_suffix(b"\n").unwrap_or(&l.text),
                        ),
                    }
                })
                .collect(),
        }
    }
}

/// `fsck`: `{"objects", "markers", "corrupt": [{"path", "reason"}], "missing": [{"id",
/// "needed_by"}], "unlinked": [{"record", "marker", "missing_marker"}], "interrupted": [same],
/// "stray", "repaired": [{"action", "path"}], "ok"}`.
#[derive(Serialize)]
pub struct FsckRow<'a> {
    objects: usize,
    markers: usize,
    corrupt: Vec<CorruptRow<'a>>,
    missing: Vec<MissingRow<'a>>,
    unlinked: Vec<UnlinkedRow<'a>>,
    interrupted: Vec<UnlinkedRow<'a>>,
    #[serde(serialize_with = "paths")]
    stray: &'a [std::path::PathBuf],
    repaired: Vec<RepairRow<'a>>,
    ok: bool,
}

#[derive(Serialize)]
struct CorruptRow<'a> {
    #[serde(serialize_with = "path")]
    path: &'a Path,
    reason: &'a str,
}

#[derive(Serialize)]
struct MissingRow<'a> {
    id: String,
    needed_by: &'a str,
}

#[derive(Serialize)]
struct UnlinkedRow<'a> {
    record: String,
    #[serde(serialize_with = "path")]
    marker: &'a Path,
    #[serde(serialize_with = "path")]
    missing_marker: &'a Path,
}

#[derive(Serialize)]
struct RepairRow<'a> {
    action: &'static str,
    #[serde(serialize_with = "path")]
    path: &'a Path,
}

impl<'a> FsckRow<'a> {
    /// The row of a report; `ok` is false exactly when the report fails at this strictness.
    pub fn new(r: &'a FsckReport, strict: bool) -> Self {
        let unlinked = |u: &'a crate::Unlinked| UnlinkedRow {
            record: u.record.to_hex(),
            marker: &u.marker,
            missing_marker: &u.missing_marker,
        };
        FsckRow {
            objects: r.objects,
            markers: r.markers,
            corrupt: (r.corrupt.iter())
                .map(|c| CorruptRow {
                    path: &c.path,
                    reason: &c.reason,
                })
                .collect(),
            missing: (r.missing.iter())
                .map(|m| MissingRow {
                    id: m.id.to_hex(),
                    needed_by: &m.needed_by,
                })
                .collect(),
            unlinked: r.unlinked.iter().map(unlinked).collect(),
            interrupted: r.interrupted.iter().map(unlinked).collect(),
            stray: &r.stray,
            repaired: (r.repaired.iter())
                .map(|p| RepairRow {
                    action: p.action.as_str(),
                    path: &p.path,
                })
                .collect(),
            ok: !r.failed(strict),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_withheld_as_v_question_mark() {
        assert_eq!(number(Some(3)), "v3");
        assert_eq!(number(None), "v?");
    }

    #[test]
    fn times_are_rfc3339_in_utc() {
        assert_eq!(time(0), "1970-01-01T00:00:00Z");
        assert_eq!(time(1_500_000_000), "1970-01-01T00:00:01.5Z");
    }

    #[cfg(unix)]
    #[test]
    fn paths_that_are_not_utf8_are_shown_lossily() {
        use std::os::unix::ffi::OsStrExt;
        let p = Path::new(std::ffi::OsStr::from_bytes(b"/tmp/a\xffb"));
        let v = serde_json::to_value(StoreRow::new(p)).unwrap();
        assert_eq!(v, serde_json::json!({"store": "/tmp/a\u{fffd}b"}));
    }
}
