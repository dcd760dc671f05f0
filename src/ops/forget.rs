//! Mistakes that can be undone: forgetting a version or a whole artifact (and bringing it back),
//! and renaming an artifact. Each is one add-only record — a forget or a rename event — so a
//! merge of stores carries it like every other record, and nothing is ever removed: forgetting
//! hides, it never deletes an object (a later gc may reclaim what only forgotten versions use).
//!
//! Write order, as for aliases: the record, a flush of its directory, then its markers, under
//! the record lock (see `Store::record_lock`). A rename is marked in the old name's and the new
//! name's directories first (so that a build too old to read rename records sees a record it
//! cannot read there and refuses those artifacts' numbers instead of misnumbering them), and in
//! `renames/` last: that marker is the moment the rename happens.

use crate::capture::{host_name, now_ns};
use crate::error::{Error, Result};
use crate::history::{History, Renames, Spec};
use crate::id::ObjectId;
use crate::key::ArtifactKey;
use crate::object::{ForgetRecord, RenameRecord};
use crate::store::markers::Publication;
use crate::store::{EVENTS_FORMAT, Store};

/// What `forget` and `unforget` act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ForgetTarget {
    /// One version, named explicitly (`NAME:vN`, `NAME@IDPREFIX`, `NAME:latest`, an alias).
    Version(Spec),
    /// A whole artifact, `[TYPE/]NAME`.
    Artifact {
        /// The type, when given (a bare name must then mean one artifact).
        artifact_type: Option<String>,
        /// The name.
        name: String,
    },
}

impl ForgetTarget {
    /// Parses what forget (`forgotten`) and unforget are given. A version must be named
    /// explicitly: a bare name is [`Error::VersionNotNamed`] unless `whole_artifact` says it
    /// means the artifact, so that no one hides a whole artifact by leaving out `:v1`.
    pub fn parse(text: &str, whole_artifact: bool, forgotten: bool) -> Result<ForgetTarget> {
        if whole_artifact {
            let (artifact_type, name) = Spec::parse_artifact(text)?;
            return Ok(ForgetTarget::Artifact {
                artifact_type,
                name,
            });
        }
        let spec = Spec::parse(text)?;
        if !Spec::names_version(text) {
            return Err(Error::VersionNotNamed {
                spec: text.to_string(),
                operation: if forgotten { "forget" } else { "unforget" },
            });
        }
        Ok(ForgetTarget::Version(spec))
    }
}

/// What a forget or an unforget did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForgetOutcome {
    /// The artifact (its name now).
    pub key: ArtifactKey,
    /// The version acted on: its number (`None` while numbers are withheld) and id; `None` for
    /// the whole artifact.
    pub version: Option<(Option<usize>, ObjectId)>,
    /// Whether the target is forgotten now.
    pub forgotten: bool,
    /// False when it already was in that state: nothing was written.
    pub changed: bool,
    /// The forget record written.
    pub record: Option<ObjectId>,
    /// The aliases of the version (withheld while it is forgotten).
    pub aliases: Vec<String>,
    /// Whether the whole artifact is forgotten (then none of its versions is listed, whatever
    /// their own state).
    pub artifact_forgotten: bool,
    /// How many of its versions are not forgotten themselves, after this.
    pub listed_versions: usize,
}

/// What a rename did.
#[derive(Clone, Debug)]
pub struct RenameOutcome {
    /// The name before.
    pub from: ArtifactKey,
    /// The name now.
    pub to: ArtifactKey,
    /// The artifact's history under its new name.
    pub history: History,
    /// Whether the new name already held an artifact whose history this one joined.
    pub merged: bool,
    /// The rename record.
    pub record: ObjectId,
}

/// The time for a new event about a target whose newest statement so far is `newest`: now, or
/// just after that statement when this machine's clock is behind it (an event that sorted before
/// it would have no effect).
fn event_time(newest: Option<i64>) -> i64 {
    let now = now_ns();
    match newest {
        Some(t) if t >= now => t.saturating_add(1),
        _ => now,
    }
}

impl Store {
    /// Hides a version or a whole artifact from listings and short specs.
    pub fn forget(&self, target: &ForgetTarget) -> Result<ForgetOutcome> {
        self.set_forgotten(target, true)
    }

    /// Shows a forgotten version or artifact again.
    pub fn unforget(&self, target: &ForgetTarget) -> Result<ForgetOutcome> {
        self.set_forgotten(target, false)
    }

    /// Forgets (`forgotten`) or unforgets `target`; writes nothing when it already is so.
    pub fn set_forgotten(&self, target: &ForgetTarget, forgotten: bool) -> Result<ForgetOutcome> {
        let (history, tree) = match target {
            ForgetTarget::Version(spec) => {
                let r = self.resolve_any(spec)?;
                let tree = r.version().tree;
                (r.history, Some(tree))
            }
            ForgetTarget::Artifact {
                artifact_type,
                name,
            } => {
                let renames = Renames::load(self)?;
                let h = self.lookup(&renames, artifact_type.as_deref(), name, true)?;
                (h, None)
            }
        };
        let key = history.key.clone();
        let version = tree.and_then(|t| history.by_tree(&t));
        let now = match version {
            Some(v) => v.forgotten.is_some(),
            None => history.forgotten.is_some(),
        };
        let mut outcome = ForgetOutcome {
            key: key.clone(),
            version: version.map(|v| (v.number, v.tree)),
            forgotten,
            changed: now != forgotten,
            record: None,
            aliases: version.map(|v| v.aliases.clone()).unwrap_or_default(),
            artifact_forgotten: history.forgotten.is_some(),
            listed_versions: history.listed().count(),
        };
        if !outcome.changed {
            return Ok(outcome);
        }
        // The newest statement about the target so far: its events and commits.
        let newest = history
            .forget_events
            .iter()
            .filter(|(_, f)| f.tree == tree)
            .map(|(_, f)| f.time_ns)
            .chain(
                history
                    .versions
                    .iter()
                    .filter(|v| tree.is_none_or(|t| v.tree == t))
                    .flat_map(|v| v.commits.iter().map(|c| c.record.time_ns)),
            )
            // A rename onto the artifact is a statement about the whole artifact only.
            .chain(
                history
                    .renamed_in
                    .iter()
                    .filter(|_| tree.is_none())
                    .map(|(t, _)| *t),
            )
            .max();
        self.require_format(EVENTS_FORMAT)?;
        let mut publication = Publication::default();
        let _lock = self.record_lock()?;
        let record = ForgetRecord {
            artifact_type: key.artifact_type.clone(),
            name: key.name.clone(),
            tree,
            forgotten,
            time_ns: event_time(newest),
            host: host_name(),
        };
        let id = self.write_record(&record, &mut publication)?;
        publication.mark(self.artifact_dir(&key.artifact_type, &key.name), id);
        self.publish(publication)?;
        outcome.record = Some(id);
        match version {
            None => outcome.artifact_forgotten = forgotten,
            Some(_) if forgotten => outcome.listed_versions -= 1,
            Some(_) => outcome.listed_versions += 1,
        }
        Ok(outcome)
    }

    /// Renames the artifact `[TYPE/]OLD` to `[TYPE/]NEW` (NEW's type defaults to OLD's): from
    /// then on it is known only as NEW, with its whole history (numbers, ids, runs, aliases), and
    /// OLD names nothing. NEW must be free, or a former name of this artifact (renaming back);
    /// with `merge`, NEW may be an existing artifact, whose history this one then joins (the
    /// numbers of the joined history are derived from both, by commit time).
    pub fn rename(
        &self,
        old: (Option<&str>, &str),
        new: (Option<&str>, &str),
        merge: bool,
    ) -> Result<RenameOutcome> {
        // The checks (NEW free, not a former name) and the record are one step under the
        // record lock: two renames onto one free name at once cannot both find it free, and a
        // commit under NEW cannot slip between the check and the rename.
        let lock = self.record_lock()?;
        let renames = Renames::load(self)?;
        let from = self.lookup(&renames, old.0, old.1, true)?;
        let to = ArtifactKey::new(new.0.unwrap_or(&from.key.artifact_type), new.1)?;
        if !renames.problems.is_empty() {
            return Err(Error::RenamesUnreadable {
                old: from.key.to_string(),
                new: to.to_string(),
                problems: renames.problems.clone(),
            });
        }
        if to == from.key {
            return Err(Error::RenameToItself {
                name: to.to_string(),
            });
        }
        let current = renames.current(&to);
        let mut merged = false;
        if current != to {
            // A former name: of this artifact (renaming back) or of another one.
            if current != from.key {
                return Err(Error::RenameTargetIsFormerName {
                    old: from.key.to_string(),
                    new: to.to_string(),
                    current: current.to_string(),
                });
            }
        } else {
            let existing = self.history_in(&renames, &to, Vec::new())?;
            if !existing.versions.is_empty() || !existing.is_complete() {
                if !merge {
                    return Err(Error::RenameTargetExists {
                        old: from.key.to_string(),
                        new: to.to_string(),
                        versions: existing.versions.len(),
                    });
                }
                merged = true;
            }
        }
        // The newest event involving either name: this one must sort after it.
        let newest = renames
            .events()
            .iter()
            .filter(|e| {
                [&from.key, &to]
                    .iter()
                    .any(|k| *k == &e.from || *k == &e.to)
            })
            .map(|e| e.time_ns)
            .max();
        self.require_format(EVENTS_FORMAT)?;
        let mut publication = Publication::default();
        let record = RenameRecord {
            from_type: from.key.artifact_type.clone(),
            from_name: from.key.name.clone(),
            to_type: to.artifact_type.clone(),
            to_name: to.name.clone(),
            time_ns: event_time(newest),
            host: host_name(),
        };
        let id = self.write_record(&record, &mut publication)?;
        publication.mark(
            self.artifact_dir(&from.key.artifact_type, &from.key.name),
            id,
        );
        publication.mark(self.artifact_dir(&to.artifact_type, &to.name), id);
        publication.mark(self.layout().renames_dir(), id);
        self.publish(publication)?;
        drop(lock);
        let history = self.history(&to)?;
        Ok(RenameOutcome {
            from: from.key,
            to,
            history,
            merged,
            record: id,
        })
    }
}
