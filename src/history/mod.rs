//! Versions are derived, never stored: `vN` of an artifact is the N-th distinct tree among its
//! commit records, ordered by the time of each tree's first commit (ties broken by record id).
//! Aliases are add-only events; the newest event of each alias wins. `latest` is the version of
//! the most recent commit record (among the versions not forgotten).
//!
//! Because nothing here depends on which machine wrote a record first, two stores merged by
//! copying files yield the same version list on both sides.
//!
//! **A number means one thing or nothing.** Numbers, `latest` and aliases depend on every record
//! of the artifact: one record that cannot be read (corrupt, not yet synced, the record of another
//! artifact) could shift them all. So while any marked record cannot be read, the history is
//! *incomplete*: its versions carry no number, `latest` and aliases are withheld, and selecting
//! by `vN`, `latest` or an alias fails with [`Error::IncompleteArtifact`]. Ids never depend on
//! other records, so `NAME@IDPREFIX` keeps working.
//!
//! **Forgetting hides, renaming renames; neither changes a number.** Forget events (one version,
//! or the whole artifact) are add-only like alias events: for each target the newest statement
//! wins, where a commit of the content (of any content, for the whole artifact, and a rename
//! onto it) is a statement that it is in use. A forgotten version keeps its number; listings and
//! short specs (`vN`, aliases, `latest`, a bare name) skip it, ids still name it. A renamed
//! artifact's records stay under its old name and count under the new one (see `renames`).

use std::collections::{BTreeMap, BTreeSet};

use rustc_hash::FxHashMap;

use rayon::prelude::*;

mod cache;
mod renames;
mod spec;

pub(crate) use cache::CachedRecord;
pub use renames::{RenameEvent, Renames};
pub use spec::{Selector, Spec};

use crate::error::{Error, RecordProblem, Result};
use crate::id::{Md5, ObjectId};
pub use crate::key::ArtifactKey;
use crate::names::validate_alias;
use crate::object::{AliasRecord, CommitRecord, ForgetRecord, Kind, RenameRecord, Structured};
use crate::store::Store;
use crate::store::markers as refs;

/// How many records missing from the record cache make it worth rewriting.
const CACHE_REWRITE_AFTER: usize = 32;

/// One commit record with its id.
#[derive(Clone, Debug)]
pub struct CommitInfo {
    /// Id of the commit record.
    pub id: ObjectId,
    /// The record.
    pub record: Box<CommitRecord>,
}

impl CommitInfo {
    fn order_key(&self) -> (i64, ObjectId) {
        (self.record.time_ns, self.id)
    }
}

/// The forget event in force for a version or an artifact: it is hidden from listings and short
/// specs until an unforget, or a commit of it, newer than this event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Forgotten {
    /// The forget record.
    pub record: ObjectId,
    /// When it was forgotten (ns since the epoch).
    pub time_ns: i64,
    /// The host that forgot it.
    pub host: String,
}

impl Forgotten {
    fn of(id: ObjectId, f: &ForgetRecord) -> Forgotten {
        Forgotten {
            record: id,
            time_ns: f.time_ns,
            host: f.host.clone(),
        }
    }
}

/// One version: a distinct tree, with every commit that logged it.
#[derive(Clone, Debug)]
pub struct Version {
    /// Position in [`History::versions`] (oldest first).
    pub index: usize,
    /// `N` of `vN`; `None` while the history is incomplete (the number could be wrong).
    pub number: Option<usize>,
    /// The content's root tree: the version's id.
    pub tree: ObjectId,
    /// W&B artifact digest.
    pub digest: Md5,
    /// Commits of this content, oldest first. The first one made the version.
    pub commits: Vec<CommitInfo>,
    /// Aliases currently pointing here, sorted.
    pub aliases: Vec<String>,
    /// The forget event in force, when the version is forgotten (it keeps its number).
    pub forgotten: Option<Forgotten>,
}

impl Version {
    /// The commit that made the version.
    pub fn first(&self) -> &CommitInfo {
        &self.commits[0]
    }

    /// Creation time: the first commit's time (ns since the epoch).
    pub fn created_ns(&self) -> i64 {
        self.first().record.time_ns
    }

    /// Runs linked to this version, in order of their first commit of it, without repeats.
    pub fn runs(&self) -> Vec<&str> {
        let mut seen = Vec::new();
        for c in &self.commits {
            if !seen.contains(&c.record.run.as_str()) {
                seen.push(c.record.run.as_str());
            }
        }
        seen
    }
}

/// Everything known of one artifact.
#[derive(Clone, Debug)]
pub struct History {
    /// The artifact (its name now, after any rename).
    pub key: ArtifactKey,
    /// Versions, `v0` first.
    pub versions: Vec<Version>,
    /// Index of `latest` in `versions`: the version of the newest commit among the versions not
    /// forgotten; `None` while the history is incomplete or when every version is forgotten.
    pub latest: Option<usize>,
    /// Alias → version index (a forgotten version's aliases included: selecting one is
    /// refused); empty while the history is incomplete.
    pub aliases: BTreeMap<String, usize>,
    /// Records marked in the store whose objects have not arrived yet.
    pub incomplete: Vec<ObjectId>,
    /// Records that are present but corrupt or do not belong here, with the reason.
    pub invalid: Vec<(ObjectId, String)>,
    /// The names the artifact had before (renamed away; their records count here), sorted.
    pub former_names: Vec<ArtifactKey>,
    /// The forget event in force when the whole artifact is forgotten.
    pub forgotten: Option<Forgotten>,
    /// Every forget and unforget event of the artifact and its versions.
    pub(crate) forget_events: Vec<(ObjectId, ForgetRecord)>,
    /// Renames onto one of its names, as (time, record id): statements that it is in use.
    pub(crate) renamed_in: Vec<(i64, ObjectId)>,
}

impl History {
    /// The version whose id (root tree) is `tree`.
    pub fn by_tree(&self, tree: &ObjectId) -> Option<&Version> {
        self.versions.iter().find(|v| &v.tree == tree)
    }

    /// The version `latest` points at.
    pub fn latest(&self) -> Option<&Version> {
        self.latest.map(|i| &self.versions[i])
    }

    /// Whether the commit record `id` is the one that made its version.
    pub fn made_version(&self, id: &ObjectId) -> bool {
        self.versions.iter().any(|v| &v.first().id == id)
    }

    /// Whether every record marked for the artifact could be read. Only then do version numbers,
    /// `latest` and aliases mean anything.
    pub fn is_complete(&self) -> bool {
        self.incomplete.is_empty() && self.invalid.is_empty()
    }

    /// Whether listings and bare names skip the artifact: it is forgotten, or every one of its
    /// versions is.
    pub fn is_hidden(&self) -> bool {
        self.forgotten.is_some()
            || (!self.versions.is_empty() && self.versions.iter().all(|v| v.forgotten.is_some()))
    }

    /// The versions listings show: those not forgotten, oldest first.
    pub fn listed(&self) -> impl Iterator<Item = &Version> {
        self.versions.iter().filter(|v| v.forgotten.is_none())
    }

    /// Whether the version with tree `tree`, or the whole artifact, was forgotten just before
    /// the moment `at` (a record's `(time, id)`): a commit made then brought it back.
    pub(crate) fn hidden_before(&self, tree: &ObjectId, at: (i64, ObjectId)) -> bool {
        // Every statement about the version, and about the artifact: (order key, forget?).
        let mut version = Vec::new();
        let mut whole = Vec::new();
        for (id, f) in &self.forget_events {
            let k = ((f.time_ns, *id), f.forgotten);
            match f.tree {
                None => whole.push(k),
                Some(t) if &t == tree => version.push(k),
                Some(_) => {}
            }
        }
        for v in &self.versions {
            for c in &v.commits {
                whole.push((c.order_key(), false));
                if &v.tree == tree {
                    version.push((c.order_key(), false));
                }
            }
        }
        whole.extend(self.renamed_in.iter().map(|k| (*k, false)));
        // The newest of them before `at` was a forget.
        let forgotten_then = |statements: Vec<((i64, ObjectId), bool)>| {
            statements
                .into_iter()
                .filter(|(k, _)| *k < at)
                .max_by_key(|(k, _)| *k)
                .is_some_and(|(_, forgotten)| forgotten)
        };
        forgotten_then(version) || forgotten_then(whole)
    }

    /// The records that cannot be read, and why: not yet synced first, then the others.
    pub fn problems(&self) -> Vec<RecordProblem> {
        let missing = self.incomplete.iter().map(|id| RecordProblem {
            id: *id,
            missing: true,
            reason: "not yet synced".to_string(),
        });
        let invalid = self.invalid.iter().map(|(id, reason)| RecordProblem {
            id: *id,
            missing: false,
            reason: reason.clone(),
        });
        missing.chain(invalid).collect()
    }
}

/// What an unknown alias `a` of `history` probably meant: `TYPE/NAME:vN` when it is a version
/// number without its `v` (`1`) or with a capital (`V1`) and that version exists, else the
/// aliases spelled close to it (`TYPE/NAME:ALIAS`). The type is always given: the bare name
/// may be ambiguous.
fn alias_suggestions(history: &History, a: &str) -> Vec<String> {
    let name = &history.key;
    let digits = a.strip_prefix(['v', 'V']).unwrap_or(a);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return match digits.parse::<usize>() {
            Ok(n) if n < history.versions.len() => vec![format!("{name}:v{n}")],
            _ => Vec::new(),
        };
    }
    let mut known: Vec<&str> = history.aliases.keys().map(String::as_str).collect();
    known.push("latest");
    crate::error::close_to(a, known)
        .into_iter()
        .map(|alias| format!("{name}:{alias}"))
        .collect()
}

/// What a `[TYPE/]NAME` can mean in a store.
#[derive(Default)]
struct Named {
    /// Artifacts of that name that listings show.
    shown: Vec<History>,
    /// Artifacts of that name that are forgotten (or all of whose versions are).
    hidden: Vec<History>,
    /// Former names that match, with the name each artifact has now.
    renamed: Vec<(ArtifactKey, ArtifactKey)>,
}

impl Store {
    /// The artifact a name (and optional type) means: with no type, the name must exist under
    /// exactly one type among the artifacts listings show (forgotten ones are skipped); with a
    /// type, a forgotten artifact is found too. A former name is [`Error::Renamed`].
    pub fn resolve_key(&self, artifact_type: Option<&str>, name: &str) -> Result<ArtifactKey> {
        Ok(self.resolve_artifact(artifact_type, name)?.key)
    }

    /// The history of the artifact a name (and optional type) means, as [`Store::resolve_key`]
    /// finds it (without deriving it twice).
    pub fn resolve_artifact(&self, artifact_type: Option<&str>, name: &str) -> Result<History> {
        let renames = Renames::load(self)?;
        self.lookup(&renames, artifact_type, name, false)
    }

    /// As [`Store::resolve_artifact`], but a bare name finds a forgotten artifact too (for
    /// commands that show forgotten versions: `versions --all`, `log`), as `list --all` shows
    /// it.
    pub fn resolve_artifact_all(&self, artifact_type: Option<&str>, name: &str) -> Result<History> {
        let renames = Renames::load(self)?;
        self.lookup(&renames, artifact_type, name, true)
    }

    /// The artifacts and former names matching `[TYPE/]NAME`.
    fn named(&self, renames: &Renames, artifact_type: Option<&str>, name: &str) -> Result<Named> {
        let wanted = |t: &str, n: &str| n == name && artifact_type.is_none_or(|w| w == t);
        let mut keys = BTreeSet::new();
        for (t, n) in refs::artifact_keys_named(&self.layout().refs_dir(), Some(name))? {
            if wanted(&t, &n) {
                keys.insert(ArtifactKey::new(&t, &n)?);
            }
        }
        keys.extend(
            renames
                .names()
                .filter(|k| wanted(&k.artifact_type, &k.name))
                .cloned(),
        );
        let mut named = Named::default();
        for key in keys {
            let current = renames.current(&key);
            if current != key {
                named.renamed.push((key, current));
                continue;
            }
            let h = self.history_in(renames, &key, Vec::new())?;
            // A name that holds nothing of its own (a rename that lost to a newer one).
            if h.versions.is_empty() && h.is_complete() {
                continue;
            }
            if h.is_hidden() {
                named.hidden.push(h);
            } else {
                named.shown.push(h);
            }
        }
        Ok(named)
    }

    /// The history a `[TYPE/]NAME` means (see [`Store::resolve_key`]); with `include_hidden`,
    /// a bare name finds forgotten artifacts too.
    pub(crate) fn lookup(
        &self,
        renames: &Renames,
        artifact_type: Option<&str>,
        name: &str,
        include_hidden: bool,
    ) -> Result<History> {
        let mut named = self.named(renames, artifact_type, name)?;
        let mut pool = std::mem::take(&mut named.shown);
        if include_hidden || artifact_type.is_some() {
            pool.append(&mut named.hidden);
        }
        if pool.len() > 1 {
            return Err(Error::AmbiguousName {
                name: name.to_string(),
                candidates: pool.iter().map(|h| h.key.to_string()).collect(),
            });
        }
        if let Some(h) = pool.pop() {
            return Ok(h);
        }
        if !named.hidden.is_empty() {
            return Err(Error::ForgottenArtifact {
                name: name.to_string(),
                artifacts: named.hidden.iter().map(|h| h.key.to_string()).collect(),
                versions_only: named.hidden.iter().all(|h| h.forgotten.is_none()),
            });
        }
        if let Some((old, new)) = named.renamed.first() {
            return Err(Error::Renamed {
                old: match artifact_type {
                    Some(_) => old.to_string(),
                    None => old.name.clone(),
                },
                new: new.to_string(),
            });
        }
        Err(self.unknown_artifact(artifact_type, name)?)
    }

    /// The error for an artifact that does not exist, with the names close to it.
    fn unknown_artifact(&self, artifact_type: Option<&str>, name: &str) -> Result<Error> {
        let all = refs::artifact_keys(&self.layout().refs_dir())?;
        if let Some(t) = artifact_type {
            let typed: Vec<String> = all.iter().map(|(t, n)| format!("{t}/{n}")).collect();
            let wanted = format!("{t}/{name}");
            return Ok(Error::UnknownArtifact {
                suggestions: crate::error::close_to(&wanted, typed.iter().map(String::as_str)),
                artifact: wanted,
            });
        }
        // A close name that exists under several types is suggested with each type.
        let close = crate::error::close_to(name, all.iter().map(|(_, n)| n.as_str()));
        let suggestions = close
            .iter()
            .flat_map(|c| {
                let types: Vec<&String> =
                    all.iter().filter(|(_, n)| n == c).map(|(t, _)| t).collect();
                match types.as_slice() {
                    [_] => vec![c.clone()],
                    many => many.iter().map(|t| format!("{t}/{c}")).collect(),
                }
            })
            .collect();
        Ok(Error::UnknownArtifact {
            artifact: name.to_string(),
            suggestions,
        })
    }

    /// The history `NAME@IDPREFIX` means: an id names one content for good, so forgotten
    /// artifacts and former names count too. Among several artifacts of that name, the one
    /// holding such a version is taken, the listed ones first.
    fn lookup_by_id(
        &self,
        renames: &Renames,
        artifact_type: Option<&str>,
        name: &str,
        prefix: &str,
    ) -> Result<History> {
        let named = self.named(renames, artifact_type, name)?;
        let holds = |h: &History| {
            h.versions
                .iter()
                .any(|v| v.tree.to_hex().starts_with(prefix))
        };
        let one = |mut found: Vec<History>| -> Result<Option<History>> {
            match found.len() {
                0 => Ok(None),
                1 => Ok(found.pop()),
                _ => Err(Error::AmbiguousName {
                    name: name.to_string(),
                    candidates: found.iter().map(|h| h.key.to_string()).collect(),
                }),
            }
        };
        let Named {
            shown,
            hidden,
            renamed,
        } = named;
        let listed: Vec<History> = shown.iter().filter(|h| holds(h)).cloned().collect();
        if let Some(h) = one(listed)? {
            return Ok(h);
        }
        // No listed artifact of that name holds it: a forgotten one, or one renamed since.
        let mut others = hidden;
        for (_, current) in &renamed {
            if others.iter().chain(&shown).all(|h| &h.key != current) {
                others.push(self.history_in(renames, current, Vec::new())?);
            }
        }
        others.sort_by(|a, b| a.key.cmp(&b.key));
        if shown.is_empty() && others.len() == 1 {
            return Ok(others.remove(0));
        }
        if let Some(h) = one(others.into_iter().filter(|h| holds(h)).collect())? {
            return Ok(h);
        }
        match <[History; 1]>::try_from(shown) {
            // The one artifact of that name: selecting the id says it is not there.
            Ok([h]) => Ok(h),
            // Otherwise the ordinary lookup says what the name means, or why not.
            Err(_) => self.lookup(renames, artifact_type, name, false),
        }
    }

    /// Every artifact of the store under its name now, sorted by type and name: forgotten ones
    /// too (see [`History::is_hidden`]), former names never. Entries of `refs/` that are not an
    /// artifact's marker directory (`.DS_Store`, a sync tool's temp file) are ignored.
    pub fn artifacts(&self) -> Result<Vec<ArtifactKey>> {
        let renames = Renames::load(self)?;
        self.current_keys(&renames)
    }

    fn current_keys(&self, renames: &Renames) -> Result<Vec<ArtifactKey>> {
        let mut keys = BTreeSet::new();
        for (t, n) in refs::artifact_keys(&self.layout().refs_dir())? {
            keys.insert(renames.current(&ArtifactKey::new(&t, &n)?));
        }
        keys.extend(renames.names().map(|k| renames.current(k)));
        Ok(keys.into_iter().collect())
    }

    /// The history of every artifact (see [`Store::artifacts`]) that holds anything: forgotten
    /// ones too, sorted by type and name.
    pub fn artifact_histories(&self) -> Result<Vec<History>> {
        let renames = Renames::load(self)?;
        let mut out = Vec::new();
        for key in self.current_keys(&renames)? {
            let h = self.history_in(&renames, &key, Vec::new())?;
            if !h.versions.is_empty() || !h.is_complete() {
                out.push(h);
            }
        }
        Ok(out)
    }

    /// Loads and derives the history of an artifact; a former name gives the history of the
    /// artifact under its name now. Missing or corrupt records are listed in the result, never
    /// fatal.
    pub fn history(&self, key: &ArtifactKey) -> Result<History> {
        self.history_with(key, Vec::new())
    }

    /// [`Store::history`], given records the caller has just written and so need not be read.
    pub(crate) fn history_with(
        &self,
        key: &ArtifactKey,
        known: Vec<(ObjectId, CachedRecord)>,
    ) -> Result<History> {
        let renames = Renames::load(self)?;
        self.history_in(&renames, key, known)
    }

    /// [`Store::history_with`] with the store's renames already loaded.
    pub(crate) fn history_in(
        &self,
        renames: &Renames,
        key: &ArtifactKey,
        known: Vec<(ObjectId, CachedRecord)>,
    ) -> Result<History> {
        let current = renames.current(key);
        let former = renames.former_names(&current);
        let mut names = vec![current.clone()];
        names.extend(former.iter().cloned());
        let mut commits = Vec::new();
        let mut alias_events = Vec::new();
        let mut forget_events = Vec::new();
        let mut incomplete = Vec::new();
        let mut invalid = Vec::new();
        let mut seen = rustc_hash::FxHashSet::default();
        for name in &names {
            let records = self.records_of(name, &known, &mut incomplete, &mut invalid)?;
            for (id, r) in records {
                // One record marked under two names of the artifact counts once.
                if !seen.insert(id) {
                    continue;
                }
                match r {
                    CachedRecord::Commit(record) => commits.push(CommitInfo { id, record }),
                    CachedRecord::Alias(a) => alias_events.push((id, a)),
                    CachedRecord::Forget(f) => forget_events.push((id, f)),
                    // `renames/` says which renames count.
                    CachedRecord::Rename(_) => {}
                }
            }
        }
        for p in &renames.problems {
            if p.missing {
                incomplete.push(p.id);
            } else {
                invalid.push((p.id, p.reason.clone()));
            }
        }
        let renamed_in = renames.onto(&names).map(|e| (e.time_ns, e.id)).collect();
        let mut history = derive(
            current,
            commits,
            alias_events,
            forget_events,
            renamed_in,
            incomplete,
            invalid,
        );
        history.former_names = former;
        Ok(history)
    }

    /// The usable records marked under `key`'s own directory; the others are added to
    /// `incomplete` (not yet synced) or `invalid`.
    fn records_of(
        &self,
        key: &ArtifactKey,
        known: &[(ObjectId, CachedRecord)],
        incomplete: &mut Vec<ObjectId>,
        invalid: &mut Vec<(ObjectId, String)>,
    ) -> Result<Vec<(ObjectId, CachedRecord)>> {
        let ids = refs::markers_in(self, &self.artifact_dir(&key.artifact_type, &key.name))?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut cached = cache::load(self, key);
        let in_cache_file: rustc_hash::FxHashSet<ObjectId> = cached.keys().copied().collect();
        cached.extend(known.iter().cloned());
        let to_read: Vec<ObjectId> = ids
            .iter()
            .filter(|id| !cached.contains_key(id))
            .copied()
            .collect();
        let loaded: Vec<(ObjectId, std::result::Result<CachedRecord, RecordProblem>)> = to_read
            .par_iter()
            .map(|id| (*id, self.load_artifact_record(id, key)))
            .collect();
        for (id, r) in loaded {
            match r {
                Ok(rec) => {
                    cached.insert(id, rec);
                }
                Err(p) if p.missing => incomplete.push(id),
                Err(p) => invalid.push((id, p.reason)),
            }
        }
        // Only records whose marker exists count (a record known to the caller or the cache but
        // not marked is not part of the store yet).
        let records: Vec<(ObjectId, CachedRecord)> = ids
            .iter()
            .filter_map(|id| cached.remove(id).map(|r| (*id, r)))
            .collect();
        // Rewriting the cache costs as much as reading it, so it is rewritten only once enough
        // marked records are missing from it (fewer are read from their objects each time), or
        // when it holds records whose markers are gone.
        let from_file = records
            .iter()
            .filter(|(id, _)| in_cache_file.contains(id))
            .count();
        let missing_from_file = records.len() - from_file;
        let stale = in_cache_file.len() - from_file;
        if missing_from_file >= CACHE_REWRITE_AFTER || stale > 0 {
            cache::save(self, key, &records);
        }
        Ok(records)
    }

    /// Reads one record marked for `key`; a record that cannot be used comes back as the problem.
    fn load_artifact_record(
        &self,
        id: &ObjectId,
        key: &ArtifactKey,
    ) -> std::result::Result<CachedRecord, RecordProblem> {
        let problem = |e: Error| RecordProblem::from_error(*id, &e);
        let misplaced = |t: &str, n: &str| RecordProblem {
            id: *id,
            missing: false,
            reason: format!("misplaced: a record of {t}/{n}, not of {key}"),
        };
        let (kind, raw) = self.read_object(id).map_err(problem)?;
        match kind {
            Kind::Commit => {
                let r = CommitRecord::decode(*id, &raw).map_err(problem)?;
                if !key.owns(&r.artifact_type, &r.name) {
                    return Err(misplaced(&r.artifact_type, &r.name));
                }
                Ok(CachedRecord::Commit(Box::new(r)))
            }
            Kind::Alias => {
                let a = AliasRecord::decode(*id, &raw).map_err(problem)?;
                if !key.owns(&a.artifact_type, &a.name) {
                    return Err(misplaced(&a.artifact_type, &a.name));
                }
                if let Err(e) = validate_alias(&a.alias) {
                    return Err(problem(Error::CorruptObject {
                        id: *id,
                        reason: e.to_string(),
                    }));
                }
                Ok(CachedRecord::Alias(a))
            }
            Kind::Forget => {
                let f = ForgetRecord::decode(*id, &raw).map_err(problem)?;
                if !key.owns(&f.artifact_type, &f.name) {
                    return Err(misplaced(&f.artifact_type, &f.name));
                }
                Ok(CachedRecord::Forget(f))
            }
            Kind::Rename => {
                let r = RenameRecord::decode(*id, &raw).map_err(problem)?;
                if !key.owns(&r.from_type, &r.from_name) && !key.owns(&r.to_type, &r.to_name) {
                    return Err(misplaced(&r.from_type, &r.from_name));
                }
                renames::event_of(*id, r.clone()).map_err(|reason| {
                    problem(Error::CorruptObject {
                        id: *id,
                        reason: format!("invalid rename record: {reason}"),
                    })
                })?;
                Ok(CachedRecord::Rename(r))
            }
            other => Err(problem(Error::CorruptObject {
                id: *id,
                reason: format!("a {} is marked as an artifact record", other.name()),
            })),
        }
    }

    /// Resolves a spec to the artifact's history and the selected version. Short specs (a bare
    /// name, `vN`, `latest`, an alias) skip what is forgotten; `NAME@IDPREFIX` finds any version,
    /// forgotten or of an artifact since renamed (see [`Store::resolve_any`]).
    pub fn resolve(&self, spec: &Spec) -> Result<Resolved> {
        self.resolve_with(spec, false)
    }

    /// [`Store::resolve`] that finds forgotten versions and artifacts by every spec (`vN` of a
    /// forgotten version, a bare name of a forgotten artifact): what forget and unforget need.
    pub fn resolve_any(&self, spec: &Spec) -> Result<Resolved> {
        self.resolve_with(spec, true)
    }

    fn resolve_with(&self, spec: &Spec, include_forgotten: bool) -> Result<Resolved> {
        let renames = Renames::load(self)?;
        let (t, name) = (spec.artifact_type.as_deref(), spec.name.as_str());
        let history = match &spec.selector {
            Selector::IdPrefix(p) => self.lookup_by_id(&renames, t, name, p)?,
            _ => self.lookup(&renames, t, name, include_forgotten)?,
        };
        let index = select_with(&history, &spec.selector, include_forgotten)?;
        Ok(Resolved { history, index })
    }
}

/// A spec resolved: the artifact's history and which of its versions the spec selects.
#[derive(Clone, Debug)]
pub struct Resolved {
    /// The artifact's history.
    pub history: History,
    /// The index of the selected version in `history.versions`.
    pub index: usize,
}

impl Resolved {
    /// The selected version.
    pub fn version(&self) -> &Version {
        &self.history.versions[self.index]
    }
}

/// The newest of the statements about one target (forget or unforget events, commits, renames
/// onto it): the forget event in force, if the newest is a forget.
fn in_force<'a>(
    events: impl Iterator<Item = ((i64, ObjectId), Option<&'a ForgetRecord>)>,
) -> Option<Forgotten> {
    match events.max_by_key(|(k, _)| *k) {
        Some(((_, id), Some(f))) if f.forgotten => Some(Forgotten::of(id, f)),
        _ => None,
    }
}

fn derive(
    key: ArtifactKey,
    commits: Vec<CommitInfo>,
    alias_events: Vec<(ObjectId, AliasRecord)>,
    forget_events: Vec<(ObjectId, ForgetRecord)>,
    renamed_in: Vec<(i64, ObjectId)>,
    incomplete: Vec<ObjectId>,
    invalid: Vec<(ObjectId, String)>,
) -> History {
    // A record that cannot be read could be older than any other, or newer, or an alias event:
    // numbers, `latest` and aliases are then unknown, not merely shifted.
    let complete = incomplete.is_empty() && invalid.is_empty();
    // The artifact as a whole: the newest of its forget events, its commits and renames onto it.
    let forgotten = in_force(
        forget_events
            .iter()
            .filter(|(_, f)| f.tree.is_none())
            .map(|(id, f)| ((f.time_ns, *id), Some(f)))
            .chain(commits.iter().map(|c| (c.order_key(), None)))
            .chain(renamed_in.iter().map(|k| (*k, None))),
    );
    let mut by_tree: FxHashMap<ObjectId, Vec<CommitInfo>> = FxHashMap::default();
    for c in commits {
        by_tree.entry(c.record.tree).or_default().push(c);
    }
    let mut groups: Vec<Vec<CommitInfo>> = by_tree.into_values().collect();
    for g in &mut groups {
        g.sort_by_key(CommitInfo::order_key);
    }
    groups.sort_by_key(|g| g[0].order_key());
    let mut versions: Vec<Version> = groups
        .into_iter()
        .enumerate()
        .map(|(index, commits)| {
            let tree = commits[0].record.tree;
            // The version: the newest of its forget events and its commits.
            let forgotten = in_force(
                forget_events
                    .iter()
                    .filter(|(_, f)| f.tree == Some(tree))
                    .map(|(id, f)| ((f.time_ns, *id), Some(f)))
                    .chain(commits.iter().map(|c| (c.order_key(), None))),
            );
            Version {
                index,
                number: complete.then_some(index),
                tree,
                digest: commits[0].record.digest,
                commits,
                aliases: Vec::new(),
                forgotten,
            }
        })
        .collect();
    let index_of: FxHashMap<ObjectId, usize> = versions.iter().map(|v| (v.tree, v.index)).collect();
    let mut latest = None;
    let mut aliases = BTreeMap::new();
    if complete {
        // The version of the newest commit, among the versions not forgotten.
        latest = versions
            .iter()
            .filter(|v| v.forgotten.is_none())
            .max_by_key(|v| v.commits.last().map(CommitInfo::order_key))
            .map(|v| v.index);
        let mut newest: BTreeMap<String, (i64, ObjectId, ObjectId)> = BTreeMap::new();
        for (id, a) in alias_events {
            let cand = (a.time_ns, id, a.tree);
            let e = newest.entry(a.alias).or_insert(cand);
            if (cand.0, cand.1) > (e.0, e.1) {
                *e = cand;
            }
        }
        for (alias, (_, _, tree)) in newest {
            // An alias whose version is not (yet) among the records points nowhere for now.
            if let Some(&i) = index_of.get(&tree) {
                versions[i].aliases.push(alias.clone());
                aliases.insert(alias, i);
            }
        }
    }
    History {
        key,
        versions,
        latest,
        aliases,
        incomplete,
        invalid,
        former_names: Vec::new(),
        forgotten,
        forget_events,
        renamed_in,
    }
}

/// The version index a selector picks in `history`. `vN`, `latest` and aliases are refused while
/// the history is incomplete ([`Error::IncompleteArtifact`]) and skip forgotten versions
/// ([`Error::ForgottenVersion`]); id prefixes always work.
pub fn select(history: &History, selector: &Selector) -> Result<usize> {
    select_with(history, selector, false)
}

/// [`select`]; with `include_forgotten`, `vN` and aliases may name forgotten versions.
pub fn select_with(
    history: &History,
    selector: &Selector,
    include_forgotten: bool,
) -> Result<usize> {
    let index = select_any(history, selector)?;
    let v = &history.versions[index];
    let requested = match selector {
        Selector::Number(n) => format!("v{n}"),
        Selector::Alias(a) => a.clone(),
        Selector::Latest | Selector::IdPrefix(_) => return Ok(index),
    };
    if v.forgotten.is_some() && !include_forgotten {
        return Err(Error::ForgottenVersion {
            artifact: history.key.to_string(),
            requested,
            id: v.tree,
        });
    }
    Ok(index)
}

fn select_any(history: &History, selector: &Selector) -> Result<usize> {
    let artifact = history.key.to_string();
    let requested = match selector {
        Selector::Latest => Some("latest".to_string()),
        Selector::Number(n) => Some(format!("v{n}")),
        Selector::Alias(a) => Some(a.clone()),
        Selector::IdPrefix(_) => None,
    };
    if let Some(requested) = requested
        && !history.is_complete()
    {
        return Err(Error::IncompleteArtifact {
            artifact,
            requested,
            problems: history.problems(),
        });
    }
    if history.versions.is_empty() {
        return Err(Error::NoVersions { artifact });
    }
    match selector {
        Selector::Latest => history
            .latest
            .ok_or(Error::AllVersionsForgotten { artifact }),
        Selector::Number(n) => {
            let last = history.versions.len() - 1;
            usize::try_from(*n)
                .ok()
                .filter(|&i| i <= last)
                .ok_or(Error::VersionOutOfRange {
                    artifact,
                    requested: *n,
                    last,
                })
        }
        Selector::Alias(a) => history
            .aliases
            .get(a)
            .copied()
            .ok_or_else(|| Error::UnknownAlias {
                suggestions: alias_suggestions(history, a),
                artifact,
                alias: a.clone(),
                known: history.aliases.keys().cloned().collect(),
            }),
        Selector::IdPrefix(p) => {
            let matches: Vec<&Version> = history
                .versions
                .iter()
                .filter(|v| v.tree.to_hex().starts_with(p.as_str()))
                .collect();
            match matches.as_slice() {
                [] => Err(Error::UnknownIdPrefix {
                    artifact,
                    prefix: p.clone(),
                    unreadable: history.incomplete.len() + history.invalid.len(),
                }),
                [v] => Ok(v.index),
                many => Err(Error::AmbiguousIdPrefix {
                    artifact,
                    prefix: p.clone(),
                    candidates: many
                        .iter()
                        .map(|v| match v.number {
                            Some(n) => format!("v{n}@{}", v.tree.short()),
                            None => format!("@{}", v.tree.short()),
                        })
                        .collect(),
                }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_parsing() {
        let s = Spec::parse("rl_algo_code/ppo:v3").unwrap();
        assert_eq!(s.artifact_type.as_deref(), Some("rl_algo_code"));
        assert_eq!(s.name, "ppo");
        assert_eq!(s.selector, Selector::Number(3));
        assert_eq!(Spec::parse("ppo").unwrap().selector, Selector::Latest);
        assert_eq!(Spec::parse("ppo:v0").unwrap().selector, Selector::Number(0));
        let e = Spec::parse("ppo:v01").unwrap_err().to_string();
        assert!(e.contains("without leading zeros (v1)"), "{e}");
        assert!(Spec::parse("ppo:v00").is_err());
        assert_eq!(
            Spec::parse("ppo:latest").unwrap().selector,
            Selector::Latest
        );
        assert_eq!(
            Spec::parse("ppo:best").unwrap().selector,
            Selector::Alias("best".into())
        );
        assert_eq!(
            Spec::parse("ppo@3FA9").unwrap().selector,
            Selector::IdPrefix("3fa9".into())
        );
        for bad in [
            "", "ppo:", "ppo@3f", "ppo@xyzw", "a/b/c", "/ppo", "ppo:a/b", "p p",
        ] {
            assert!(Spec::parse(bad).is_err(), "{bad:?}");
        }
    }
    fn commit(tree: u8, time_ns: i64) -> CommitInfo {
        let record = CommitRecord::for_test(
            ("t", "n"),
            ObjectId::from_bytes([tree; 32]),
            &format!("r{time_ns}"),
            time_ns,
        );
        CommitInfo {
            id: ObjectId::compute(Kind::Commit, &record.encode()),
            record: Box::new(record),
        }
    }

    fn alias(tree: u8, time_ns: i64) -> (ObjectId, AliasRecord) {
        let a = AliasRecord {
            artifact_type: "t".into(),
            name: "n".into(),
            alias: "best".into(),
            tree: ObjectId::from_bytes([tree; 32]),
            time_ns,
            run: String::new(),
        };
        (ObjectId::compute(Kind::Alias, &a.encode()), a)
    }

    fn forget(tree: Option<u8>, forgotten: bool, time_ns: i64) -> (ObjectId, ForgetRecord) {
        let f = ForgetRecord {
            artifact_type: "t".into(),
            name: "n".into(),
            tree: tree.map(|t| ObjectId::from_bytes([t; 32])),
            forgotten,
            time_ns,
            host: "h".into(),
        };
        (ObjectId::compute(Kind::Forget, &f.encode()), f)
    }

    /// Which versions are forgotten, whether the artifact is, and `latest`.
    type State = (Vec<bool>, bool, Option<usize>);

    fn state(h: &History) -> State {
        let v = h.versions.iter().map(|v| v.forgotten.is_some()).collect();
        (v, h.forgotten.is_some(), h.latest)
    }

    /// For each version and for the artifact, the newest statement wins — forget, unforget or a
    /// commit of it — whatever order the records are read in; numbers never move.
    #[test]
    fn the_newest_forget_statement_wins_in_any_order() {
        let key = ArtifactKey::new("t", "n").unwrap();
        // v0 at 10 and again at 70, v1 at 20, v2 at 30.
        let commits = || vec![commit(1, 10), commit(2, 20), commit(3, 30), commit(1, 70)];
        let cases: Vec<(Vec<(ObjectId, ForgetRecord)>, State)> = vec![
            // v2 forgotten: latest is the newest commit among the others (v0 at 70).
            (
                vec![forget(Some(3), true, 40)],
                (vec![false, false, true], false, Some(0)),
            ),
            // v1 forgotten at 40, unforgotten at 50, forgotten at 60: forgotten.
            (
                vec![
                    forget(Some(2), true, 40),
                    forget(Some(2), false, 50),
                    forget(Some(2), true, 60),
                ],
                (vec![false, true, false], false, Some(0)),
            ),
            // v0 forgotten at 40, but committed again at 70: listed.
            (
                vec![forget(Some(1), true, 40)],
                (vec![false, false, false], false, Some(0)),
            ),
            // v0 forgotten at 80, after its last commit: latest falls back to v2 (at 30).
            (
                vec![forget(Some(1), true, 80)],
                (vec![true, false, false], false, Some(2)),
            ),
            // The artifact forgotten at 60 is brought back by the commit at 70; at 80 it is not.
            (
                vec![forget(None, true, 60)],
                (vec![false, false, false], false, Some(0)),
            ),
            (
                vec![forget(None, true, 80)],
                (vec![false, false, false], true, Some(0)),
            ),
            (
                vec![forget(None, true, 80), forget(None, false, 90)],
                (vec![false, false, false], false, Some(0)),
            ),
            // Every version forgotten: no latest.
            (
                vec![
                    forget(Some(1), true, 80),
                    forget(Some(2), true, 80),
                    forget(Some(3), true, 80),
                ],
                (vec![true, true, true], false, None),
            ),
        ];
        for (events, expected) in cases {
            for rotation in 0..events.len() {
                let mut e = events.clone();
                e.rotate_left(rotation);
                for order in [e.clone(), e.into_iter().rev().collect()] {
                    let h = derive(
                        key.clone(),
                        commits(),
                        Vec::new(),
                        order,
                        Vec::new(),
                        Vec::new(),
                        Vec::new(),
                    );
                    assert_eq!(state(&h), expected, "{events:?}");
                    let numbers: Vec<Option<usize>> = h.versions.iter().map(|v| v.number).collect();
                    assert_eq!(numbers, [Some(0), Some(1), Some(2)]);
                }
            }
        }
        // A rename onto the artifact is a statement that it is in use, like a commit.
        let renamed_in = vec![(90, ObjectId::from_bytes([9; 32]))];
        let h = derive(
            key,
            commits(),
            Vec::new(),
            vec![forget(None, true, 80)],
            renamed_in,
            Vec::new(),
            Vec::new(),
        );
        assert_eq!(h.forgotten, None);
    }

    /// `select` (what `resolve` applies) refuses numbers and aliases of forgotten versions and
    /// skips them for `latest`; ids find them.
    #[test]
    fn select_skips_forgotten_versions_but_ids_find_them() {
        let key = ArtifactKey::new("t", "n").unwrap();
        let (aid, a) = alias(2, 40);
        let h = derive(
            key,
            vec![commit(1, 10), commit(2, 20), commit(3, 30)],
            vec![(aid, a)],
            vec![forget(Some(3), true, 50), forget(Some(2), true, 50)],
            Vec::new(),
            Vec::new(),
            Vec::new(),
        );
        assert_eq!(select(&h, &Selector::Number(0)).unwrap(), 0);
        assert_eq!(select(&h, &Selector::Latest).unwrap(), 0);
        for (selector, requested) in [
            (Selector::Number(1), "v1"),
            (Selector::Number(2), "v2"),
            (Selector::Alias("best".into()), "best"),
        ] {
            match select(&h, &selector) {
                Err(Error::ForgottenVersion { requested: r, .. }) => assert_eq!(r, requested),
                other => panic!("{selector:?}: {other:?}"),
            }
            assert!(select_with(&h, &selector, true).is_ok());
        }
        let hex = ObjectId::from_bytes([3; 32]).to_hex();
        assert_eq!(select(&h, &Selector::IdPrefix(hex[..6].into())).unwrap(), 2);
    }

    /// A commit "brings back" its version when the newest statement about that version before
    /// it — its own forget events and commits, not other versions' — was a forget; or the
    /// artifact's, when the newest artifact-wide statement before it was a forget.
    #[test]
    fn a_commit_revives_what_the_newest_earlier_statement_forgot() {
        let key = ArtifactKey::new("t", "n").unwrap();
        let tree = |t: u8| ObjectId::from_bytes([t; 32]);
        let history = |events: Vec<(ObjectId, ForgetRecord)>| {
            derive(
                key.clone(),
                vec![commit(1, 10), commit(2, 20), commit(1, 50)],
                Vec::new(),
                events,
                Vec::new(),
                Vec::new(),
                Vec::new(),
            )
        };
        let at = |time: i64| (time, ObjectId::from_bytes([0xff; 32]));
        // v1 forgotten at 30, listed again at 40: a commit at 60 revives nothing, whatever
        // order the events are read in.
        let pair = vec![forget(Some(2), true, 30), forget(Some(2), false, 40)];
        for order in [pair.clone(), pair.into_iter().rev().collect()] {
            assert!(!history(order).hidden_before(&tree(2), at(60)));
        }
        // v1 forgotten at 30: a commit of it at 60 revives it, one at 25 does not.
        let h = history(vec![forget(Some(2), true, 30)]);
        assert!(h.hidden_before(&tree(2), at(60)));
        assert!(!h.hidden_before(&tree(2), at(25)));
        // Another version's forget and commits say nothing about v1: v0 forgotten at 30 (and
        // committed again at 50) does not make a commit of v1 at 60 a revival; v1 forgotten at
        // 30 stays forgotten until v1 itself is committed, whatever v0's commit at 50 says.
        let h = history(vec![forget(Some(1), true, 30)]);
        assert!(!h.hidden_before(&tree(2), at(60)));
        assert!(h.hidden_before(&tree(1), at(45)));
        assert!(!h.hidden_before(&tree(1), at(55)));
        // The whole artifact forgotten at 55: any commit after it revives it, one before does not.
        let h = history(vec![forget(None, true, 55)]);
        assert!(h.hidden_before(&tree(3), at(60)));
        assert!(!h.hidden_before(&tree(3), at(52)));
    }

    /// The newest event of an alias wins, whatever order the records are read in (a directory
    /// listing, a merge of two stores).
    #[test]
    fn the_newest_alias_event_wins_in_any_order() {
        let key = ArtifactKey::new("t", "n").unwrap();
        let commits = || vec![commit(1, 10), commit(2, 20), commit(3, 30)];
        // best: v0 at 40, v2 at 50, v1 at 60 (newest), v0 at 45.
        let events = vec![alias(1, 40), alias(3, 50), alias(2, 60), alias(1, 45)];
        for rotation in 0..events.len() {
            let mut e = events.clone();
            e.rotate_left(rotation);
            for order in [e.clone(), e.into_iter().rev().collect()] {
                let h = derive(
                    key.clone(),
                    commits(),
                    order,
                    Vec::new(),
                    Vec::new(),
                    Vec::new(),
                    Vec::new(),
                );
                assert_eq!(h.aliases.get("best"), Some(&1), "rotation {rotation}");
                assert_eq!(h.latest, Some(2));
            }
        }
    }
}
