//! Versions are derived, never stored: `vN` of an artifact is the N-th distinct tree among its
//! commit records, ordered by the time of each tree's first commit (ties broken by record id).
//! Aliases are add-only events; the newest event of each alias wins. `latest` is the version of
//! the most recent commit record.
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

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;

use rayon::prelude::*;

mod cache;
mod spec;

pub(crate) use cache::CachedRecord;
pub use spec::{Selector, Spec};

use crate::error::{Error, RecordProblem, Result};
use crate::id::{Md5, ObjectId};
pub use crate::key::ArtifactKey;
use crate::names::validate_alias;
use crate::object::{AliasRecord, CommitRecord, Kind, Structured};
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
    /// The artifact.
    pub key: ArtifactKey,
    /// Versions, `v0` first.
    pub versions: Vec<Version>,
    /// Index of `latest` in `versions`; `None` while the history is incomplete.
    pub latest: Option<usize>,
    /// Alias → version index; empty while the history is incomplete.
    pub aliases: BTreeMap<String, usize>,
    /// Records marked in the store whose objects have not arrived yet.
    pub incomplete: Vec<ObjectId>,
    /// Records that are present but corrupt or do not belong here, with the reason.
    pub invalid: Vec<(ObjectId, String)>,
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

impl Store {
    /// The artifact a name (and optional type) means: with no type, the name must exist under
    /// exactly one type.
    pub fn resolve_key(&self, artifact_type: Option<&str>, name: &str) -> Result<ArtifactKey> {
        if let Some(t) = artifact_type {
            let key = ArtifactKey::new(t, name)?;
            if !refs::has_markers(&self.artifact_dir(t, name))? {
                let all = refs::artifact_keys(&self.layout().refs_dir())?;
                let typed: Vec<String> = all.iter().map(|(t, n)| format!("{t}/{n}")).collect();
                let wanted = key.to_string();
                return Err(Error::UnknownArtifact {
                    suggestions: crate::error::close_to(&wanted, typed.iter().map(String::as_str)),
                    artifact: wanted,
                });
            }
            return Ok(key);
        }
        let candidates = refs::artifact_keys_named(&self.layout().refs_dir(), Some(name))?;
        match candidates.as_slice() {
            [] => {
                // A close name that exists under several types is suggested with each type.
                let all = refs::artifact_keys(&self.layout().refs_dir())?;
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
                Err(Error::UnknownArtifact {
                    artifact: name.to_string(),
                    suggestions,
                })
            }
            [(t, n)] => ArtifactKey::new(t, n),
            many => Err(Error::AmbiguousName {
                name: name.to_string(),
                candidates: many.iter().map(|(t, n)| format!("{t}/{n}")).collect(),
            }),
        }
    }

    /// Every artifact of the store, sorted by type and name. Entries of `refs/` that are not an
    /// artifact's marker directory (`.DS_Store`, a sync tool's temp file) are ignored.
    pub fn artifacts(&self) -> Result<Vec<ArtifactKey>> {
        refs::artifact_keys(&self.layout().refs_dir())?
            .iter()
            .map(|(t, n)| ArtifactKey::new(t, n))
            .collect()
    }

    /// Loads and derives the history of an artifact. Missing or corrupt records are listed in the
    /// result, never fatal.
    pub fn history(&self, key: &ArtifactKey) -> Result<History> {
        self.history_with(key, Vec::new())
    }

    /// [`Store::history`], given records the caller has just written and so need not be read.
    pub(crate) fn history_with(
        &self,
        key: &ArtifactKey,
        known: Vec<(ObjectId, CachedRecord)>,
    ) -> Result<History> {
        let ids = refs::markers_in(self, &self.artifact_dir(&key.artifact_type, &key.name))?;
        let mut cached = cache::load(self, key);
        let in_cache_file: rustc_hash::FxHashSet<ObjectId> = cached.keys().copied().collect();
        cached.extend(known);
        let to_read: Vec<ObjectId> = ids
            .iter()
            .filter(|id| !cached.contains_key(id))
            .copied()
            .collect();
        let loaded: Vec<(ObjectId, std::result::Result<CachedRecord, RecordProblem>)> = to_read
            .par_iter()
            .map(|id| (*id, self.load_artifact_record(id, key)))
            .collect();
        let mut incomplete = Vec::new();
        let mut invalid = Vec::new();
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
        let mut commits = Vec::new();
        let mut alias_events = Vec::new();
        for (id, r) in records {
            match r {
                CachedRecord::Commit(record) => commits.push(CommitInfo { id, record }),
                CachedRecord::Alias(a) => alias_events.push((id, a)),
            }
        }
        Ok(derive(
            key.clone(),
            commits,
            alias_events,
            incomplete,
            invalid,
        ))
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
            other => Err(problem(Error::CorruptObject {
                id: *id,
                reason: format!("a {} is marked as an artifact record", other.name()),
            })),
        }
    }

    /// Resolves a spec to the artifact's history and the selected version.
    pub fn resolve(&self, spec: &Spec) -> Result<Resolved> {
        let key = self.resolve_key(spec.artifact_type.as_deref(), &spec.name)?;
        let history = self.history(&key)?;
        let index = select(&history, &spec.selector)?;
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

fn derive(
    key: ArtifactKey,
    commits: Vec<CommitInfo>,
    alias_events: Vec<(ObjectId, AliasRecord)>,
    incomplete: Vec<ObjectId>,
    invalid: Vec<(ObjectId, String)>,
) -> History {
    // A record that cannot be read could be older than any other, or newer, or an alias event:
    // numbers, `latest` and aliases are then unknown, not merely shifted.
    let complete = incomplete.is_empty() && invalid.is_empty();
    let latest_tree = commits
        .iter()
        .max_by_key(|c| c.order_key())
        .map(|c| c.record.tree);
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
        .map(|(index, commits)| Version {
            index,
            number: complete.then_some(index),
            tree: commits[0].record.tree,
            digest: commits[0].record.digest,
            commits,
            aliases: Vec::new(),
        })
        .collect();
    let index_of: FxHashMap<ObjectId, usize> = versions.iter().map(|v| (v.tree, v.index)).collect();
    let mut latest = None;
    let mut aliases = BTreeMap::new();
    if complete {
        latest = latest_tree.and_then(|t| index_of.get(&t).copied());
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
    }
}

/// The version index a selector picks in `history`. `vN`, `latest` and aliases are refused while
/// the history is incomplete ([`Error::IncompleteArtifact`]); id prefixes always work.
pub fn select(history: &History, selector: &Selector) -> Result<usize> {
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
        Selector::Latest => history.latest.ok_or(Error::NoVersions { artifact }),
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
                let h = derive(key.clone(), commits(), order, Vec::new(), Vec::new());
                assert_eq!(h.aliases.get("best"), Some(&1), "rotation {rotation}");
                assert_eq!(h.latest, Some(2));
            }
        }
    }
}
