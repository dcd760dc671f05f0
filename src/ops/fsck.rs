//! Checking a store: every object against its hash, every marker against its record, every
//! record's tree down to the blobs (names, order, depth, sizes and MD5s), and every commit record
//! against both of its markers (its artifact's and its run's). Missing objects ("not yet synced")
//! are told apart from corrupt ones. With [`FsckOptions::repair`], the safe repairs are made:
//! missing markers added, stale temp files and index-less packs removed.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::id::{Md5, ObjectId};
use crate::key::ArtifactKey;
use crate::names::{validate_alias, validate_name};
use crate::object::MAX_OBJECT_SIZE;
use crate::object::{
    AliasRecord, CommitRecord, FileMeta, ForgetRecord, Kind, Node, RenameRecord, RunRecord,
    RunStateRecord, Structured, Tree, UseRecord,
};
use crate::store::pack;
use crate::store::{Store, list_dir};
use crate::tree::{MAX_TREE_DEPTH, too_deep, validate_tree};

/// A problem with something present in the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Corruption {
    /// The file concerned.
    pub path: PathBuf,
    /// What is wrong.
    pub reason: String,
}

/// An object referenced but absent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Missing {
    /// The object id.
    pub id: ObjectId,
    /// Who needs it (a marker path or a tree id).
    pub needed_by: String,
}

/// A commit record marked on one side only: in its artifact's markers but not its run's, or the
/// reverse (a crash between the two marker writes, or a sync that has copied one directory and
/// not yet the other). Nothing is lost — the record is there — but the artifact's versions and
/// the run's view disagree until the missing marker is added.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unlinked {
    /// The commit record.
    pub record: ObjectId,
    /// The marker that exists.
    pub marker: PathBuf,
    /// The marker that should exist too.
    pub missing_marker: PathBuf,
}

/// What a repair did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RepairAction {
    /// Added a missing marker (see [`Unlinked`]); markers are add-only, so this is always safe.
    AddedMarker,
    /// Removed a temp file of an interrupted write from `local/tmp`.
    RemovedTempFile,
    /// Removed a pack file whose index never arrived (its objects were invisible).
    RemovedPack,
}

impl RepairAction {
    /// The name used in JSON output: `add_marker`, `remove_temp_file`, `remove_pack`.
    pub fn as_str(self) -> &'static str {
        match self {
            RepairAction::AddedMarker => "add_marker",
            RepairAction::RemovedTempFile => "remove_temp_file",
            RepairAction::RemovedPack => "remove_pack",
        }
    }
}

/// One repair made by [`Store::fsck_with`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repair {
    /// What was done.
    pub action: RepairAction,
    /// The file added or removed.
    pub path: PathBuf,
}

/// How [`Store::fsck_with`] runs.
#[derive(Clone, Debug)]
pub struct FsckOptions {
    /// Make the safe repairs: add missing markers, remove temp files and index-less packs older
    /// than `stale_after`.
    pub repair: bool,
    /// How old a temp file (by modification time) or an index-less pack (by the later of its
    /// modification and status-change times, so a pack just copied in with an old mtime is young)
    /// must be before a repair removes it: younger ones may belong to a command still running or
    /// a copy still under way. One hour by default.
    pub stale_after: Duration,
}

impl Default for FsckOptions {
    fn default() -> Self {
        FsckOptions {
            repair: false,
            stale_after: Duration::from_secs(3600),
        }
    }
}

/// The result of [`Store::fsck`].
#[derive(Clone, Debug, Default)]
pub struct FsckReport {
    /// Objects read and verified.
    pub objects: usize,
    /// Markers checked.
    pub markers: usize,
    /// Corrupt objects, bad records, unsafe names, trees that break the tree rule, files whose
    /// size or MD5 in their tree differs from their blob.
    pub corrupt: Vec<Corruption>,
    /// Referenced objects that are not (yet) present.
    pub missing: Vec<Missing>,
    /// Commit records marked for their artifact but not their run (after a repair: those it
    /// could not fix). A commit marks its run first, so no crash leaves this state; a copy under
    /// way does (rsync copies `refs/` before `runs/`), so it fails only a strict check.
    pub unlinked: Vec<Unlinked>,
    /// Commit records marked for their run but not (yet) their artifact: a commit interrupted
    /// before its last marker (the artifact's, which is what makes a commit visible), or a copy
    /// that has brought `runs/` before `refs/`. Invisible everywhere, so nothing disagrees;
    /// listed, never a failure, and left alone by repair.
    pub interrupted: Vec<Unlinked>,
    /// Files that are not part of the format (ignored by every command).
    pub stray: Vec<PathBuf>,
    /// What a repair did (empty without [`FsckOptions::repair`]).
    pub repaired: Vec<Repair>,
}

impl FsckReport {
    /// Whether anything present is corrupt.
    pub fn has_corruption(&self) -> bool {
        !self.corrupt.is_empty()
    }

    /// Whether fsck fails: anything corrupt; with `strict`, also anything missing (not yet
    /// synced) or unlinked (a copy that has brought `refs/` before `runs/`, as rsync's sorted
    /// order does, looks exactly like this). Stray files never fail it.
    pub fn failed(&self, strict: bool) -> bool {
        self.has_corruption() || (strict && (!self.missing.is_empty() || !self.unlinked.is_empty()))
    }
}

impl Store {
    /// Verifies the whole store (without repairing anything).
    pub fn fsck(&self) -> Result<FsckReport> {
        self.fsck_with(&FsckOptions::default())
    }

    /// Verifies the whole store and, with `opts.repair`, makes the safe repairs.
    pub fn fsck_with(&self, opts: &FsckOptions) -> Result<FsckReport> {
        let mut report = FsckReport::default();
        let kinds = self.check_objects(&mut report)?;
        let missing_seen = report.missing.iter().map(|m| m.id).collect();
        let mut checker = Checker {
            store: self,
            kinds: &kinds,
            report: &mut report,
            trees_done: HashSet::new(),
            subtrees: HashMap::new(),
            heights: HashMap::new(),
            expands: HashMap::new(),
            entry_counts: HashMap::new(),
            missing_seen,
            in_refs: HashMap::new(),
            in_runs: HashMap::new(),
        };
        checker.check_refs()?;
        checker.check_renames()?;
        checker.check_runs()?;
        checker.check_links();
        if opts.repair {
            self.repair(&mut report, opts.stale_after)?;
        }
        report
            .corrupt
            .sort_by(|a, b| (&a.path, &a.reason).cmp(&(&b.path, &b.reason)));
        report.corrupt.dedup();
        report.missing.sort_by_key(|m| m.id);
        report.missing.dedup_by_key(|m| m.id);
        report
            .unlinked
            .sort_by(|a, b| a.missing_marker.cmp(&b.missing_marker));
        report.stray.sort();
        Ok(report)
    }

    /// Verifies every object file; returns what is known of each sound object.
    fn check_objects(&self, report: &mut FsckReport) -> Result<HashMap<ObjectId, Sound>> {
        let objects = self.layout().objects_dir();
        let mut files = Vec::new();
        for fan in list_dir(&objects)? {
            let dir = objects.join(&fan);
            if fan.len() != 2 || !dir.is_dir() {
                report.stray.push(dir);
                continue;
            }
            for name in list_dir(&dir)? {
                let path = dir.join(&name);
                // `fan` has two characters: a valid id makes `name` the other 62.
                match ObjectId::from_file_name(&format!("{fan}{name}")) {
                    Some(id) => files.push((id, path)),
                    None => report.stray.push(path),
                }
            }
        }
        let results: Vec<(ObjectId, PathBuf, Result<Sound>)> = files
            .into_par_iter()
            .map(|(id, path)| {
                // Large blobs are verified as a stream, in bounded memory.
                if let Some(r) = self.verify_large_loose(&id, &path) {
                    let r = r.map(|(size, md5)| Sound {
                        kind: Kind::Blob,
                        content: Some((size, md5)),
                    });
                    return (id, path, r);
                }
                // This copy itself, not whichever copy a read would pick.
                let r = crate::store::read_object_file(&id, &path, MAX_OBJECT_SIZE)
                    .and_then(|bytes| self.decode_stored(&id, &bytes))
                    .map(|(k, raw)| Sound::of(k, &raw));
                (id, path, r)
            })
            .collect();
        let mut kinds = HashMap::new();
        self.check_packs(report, &mut kinds)?;
        for (id, path, r) in results {
            report.objects += 1;
            self.note_verified(report, &mut kinds, id, path, r);
        }
        Ok(kinds)
    }
}

impl Store {
    /// Verifies every pack against its name and every indexed object against its id.
    fn check_packs(
        &self,
        report: &mut FsckReport,
        kinds: &mut HashMap<ObjectId, Sound>,
    ) -> Result<()> {
        let dir = self.layout().packs_dir();
        let names = list_dir(&dir)?;
        for name in &names {
            let path = dir.join(name);
            let (stem, is_idx) = match (name.strip_suffix(".idx"), name.strip_suffix(".pack")) {
                (Some(s), _) => (s, true),
                (None, Some(s)) => (s, false),
                _ => {
                    report.stray.push(path);
                    continue;
                }
            };
            let Some(pack_id) = ObjectId::from_file_name(stem) else {
                report.stray.push(path);
                continue;
            };
            if !is_idx {
                if !names.contains(&format!("{stem}.idx")) {
                    // Its index has not arrived (or its writer stopped before it): invisible.
                    report.stray.push(path);
                }
                continue;
            }
            let entries = match crate::store::read_regular(&path, pack::MAX_INDEX_FILE)
                .map_err(|e| Error::CorruptObject {
                    id: pack_id,
                    reason: format!("cannot read the pack index: {e}"),
                })
                .and_then(|b| pack::parse_index(&b, &pack_id))
            {
                Ok(e) => e,
                Err(e) => {
                    report.corrupt.push(Corruption {
                        path,
                        reason: e.to_string(),
                    });
                    continue;
                }
            };
            let pack_path = dir.join(format!("{stem}.pack"));
            // The pack is hashed as a stream and its objects read one by one: a forged sparse
            // pack of many gigabytes costs time, never that much memory.
            let file = match crate::store::open_regular(&pack_path) {
                Ok(f) => f,
                // Not yet synced: objects only it holds count as missing where referenced.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    report.corrupt.push(Corruption {
                        path: pack_path.clone(),
                        reason: format!("cannot read the pack: {e}"),
                    });
                    continue;
                }
            };
            report.objects += entries.len();
            let mut hasher = blake3::Hasher::new();
            let hashed = std::io::copy(&mut &file, &mut hasher);
            if hashed.is_err() || hasher.finalize().as_bytes() != pack_id.as_bytes() {
                report.corrupt.push(Corruption {
                    path: pack_path.clone(),
                    reason: "pack content does not hash to its name".into(),
                });
            }
            let results: Vec<(ObjectId, Result<Sound>)> = entries
                .par_iter()
                .map(|(id, offset, len)| {
                    let loc = pack::Location {
                        pack: 0,
                        offset: *offset,
                        len: *len,
                    };
                    // Large whole blobs are verified as a stream, in bounded memory.
                    match self.stream_packed(id, &pack_path, &file, loc, &mut std::io::sink()) {
                        Ok(Some((size, md5))) => {
                            let sound = Sound {
                                kind: Kind::Blob,
                                content: Some((size, md5)),
                            };
                            return (*id, Ok(sound));
                        }
                        Err(e) => return (*id, Err(e)),
                        Ok(None) => {}
                    }
                    let r = pack::read_at(&pack_path, Some(&file), loc, MAX_OBJECT_SIZE)
                        .map_err(|e| Error::CorruptObject {
                            id: *id,
                            reason: format!("index entry: {e}"),
                        })
                        .and_then(|obj| self.decode_stored(id, &obj))
                        .map(|(k, raw)| Sound::of(k, &raw));
                    (*id, r)
                })
                .collect();
            for (id, r) in results {
                self.note_verified(report, kinds, id, pack_path.clone(), r);
            }
        }
        Ok(())
    }
}

impl Store {
    /// Records the outcome of verifying object `id` (stored at `path`): its kind when sound; the
    /// base as missing when it is a delta whose base has not arrived (not corruption: it cannot
    /// be checked yet); corruption otherwise.
    fn note_verified(
        &self,
        report: &mut FsckReport,
        kinds: &mut HashMap<ObjectId, Sound>,
        id: ObjectId,
        path: PathBuf,
        result: Result<Sound>,
    ) {
        match result {
            Ok(sound) => {
                kinds.insert(id, sound);
            }
            Err(Error::MissingObject { id: base }) => {
                if let Ok(h) = self.object_header(&id) {
                    kinds.insert(
                        id,
                        Sound {
                            kind: h.kind,
                            content: None,
                        },
                    );
                }
                report.missing.push(Missing {
                    id: base,
                    needed_by: format!("delta {}", id.short()),
                });
            }
            Err(Error::CorruptObject { reason, .. }) => {
                report.corrupt.push(Corruption { path, reason })
            }
            Err(e) => report.corrupt.push(Corruption {
                path,
                reason: format!("object {id}: {e}"),
            }),
        }
    }
}

/// What fsck knows of a sound object: its kind and, for a blob whose content could be read, its
/// size and MD5 (to check against the trees that name it).
#[derive(Clone, Copy, Debug)]
struct Sound {
    kind: Kind,
    content: Option<(u64, Md5)>,
}

impl Sound {
    fn of(kind: Kind, raw: &[u8]) -> Sound {
        Sound {
            kind,
            content: (kind == Kind::Blob).then(|| (raw.len() as u64, Md5::of(raw))),
        }
    }
}

/// Where a commit record is marked: the artifact (type, name) and the run it names.
#[derive(Clone, Debug)]
struct Marked {
    artifact_type: String,
    name: String,
    run: String,
    marker: PathBuf,
}

struct Checker<'a> {
    store: &'a Store,
    kinds: &'a HashMap<ObjectId, Sound>,
    report: &'a mut FsckReport,
    /// Trees entered (each is checked once, whatever refers to it).
    trees_done: HashSet<ObjectId>,
    /// The subtrees of each tree checked.
    subtrees: HashMap<ObjectId, Vec<ObjectId>>,
    /// Levels of trees below each tree checked (0 for a tree without subtrees).
    heights: HashMap<ObjectId, usize>,
    /// Entries (files and directories) each tree checked expands to, counting shared subtrees
    /// once per path (saturating).
    expands: HashMap<ObjectId, u64>,
    /// Entries of each tree checked.
    entry_counts: HashMap<ObjectId, u64>,
    missing_seen: HashSet<ObjectId>,
    /// Commit records marked under `refs/`, by id.
    in_refs: HashMap<ObjectId, Marked>,
    /// Commit records marked under `runs/`, by id.
    in_runs: HashMap<ObjectId, Marked>,
}

/// The directory a marker is in: what its record must belong to.
pub(crate) enum MarkerPlace<'a> {
    /// `refs/<type>/<name>/`.
    Artifact(&'a ArtifactKey),
    /// `runs/<run>/`.
    Run(&'a str),
    /// `renames/`.
    Renames,
}

/// Whether a marked record belongs where it is marked.
pub(crate) enum MarkerFit {
    /// It belongs (a record other than a commit).
    Fits,
    /// A commit record that belongs.
    Commit(Box<CommitRecord>),
    /// It does not belong there: why.
    Misplaced(String),
}

/// Whether record `id` (of `kind`, decoded contents `raw`) belongs in the marker directory
/// `place`: its kind is one that directory holds and it names that artifact or run. The rules
/// `fsck` applies to this store's markers and `pull` to every marker a remote offers (a marker
/// in the wrong directory would make an artifact incomplete, or every artifact, for nothing).
pub(crate) fn marker_fit(place: &MarkerPlace, id: ObjectId, kind: Kind, raw: &[u8]) -> MarkerFit {
    let misplaced = |reason: &str| MarkerFit::Misplaced(reason.to_string());
    let failed = |e: Error| MarkerFit::Misplaced(e.to_string());
    match place {
        MarkerPlace::Artifact(key) => match kind {
            Kind::Commit => match CommitRecord::decode(id, raw) {
                Ok(c) if !key.owns(&c.artifact_type, &c.name) => {
                    misplaced("commit record of another artifact")
                }
                Ok(c) if validate_name("run id", &c.run).is_err() => {
                    MarkerFit::Misplaced(format!("invalid run id {:?}", c.run))
                }
                Ok(c) => MarkerFit::Commit(Box::new(c)),
                Err(e) => failed(e),
            },
            Kind::Alias => match AliasRecord::decode(id, raw) {
                Ok(a)
                    if key.owns(&a.artifact_type, &a.name) && validate_alias(&a.alias).is_ok() =>
                {
                    MarkerFit::Fits
                }
                Ok(_) => misplaced("invalid alias record"),
                Err(e) => failed(e),
            },
            Kind::Forget => match ForgetRecord::decode(id, raw) {
                Ok(f) if key.owns(&f.artifact_type, &f.name) => MarkerFit::Fits,
                Ok(_) => misplaced("forget record of another artifact"),
                Err(e) => failed(e),
            },
            // Marked here for builds that cannot read renames (see `forget`); `renames/` is what
            // counts.
            Kind::Rename => match RenameRecord::decode(id, raw) {
                Ok(r)
                    if !key.owns(&r.from_type, &r.from_name)
                        && !key.owns(&r.to_type, &r.to_name) =>
                {
                    misplaced("rename record of another artifact")
                }
                Ok(r) => invalid_rename(&r).map_or(MarkerFit::Fits, MarkerFit::Misplaced),
                Err(e) => failed(e),
            },
            other => MarkerFit::Misplaced(format!("marks a {}", other.name())),
        },
        MarkerPlace::Renames => match kind {
            Kind::Rename => match RenameRecord::decode(id, raw) {
                Ok(r) => invalid_rename(&r).map_or(MarkerFit::Fits, MarkerFit::Misplaced),
                Err(e) => failed(e),
            },
            other => MarkerFit::Misplaced(format!("marks a {}", other.name())),
        },
        MarkerPlace::Run(run) => {
            let ok = match kind {
                Kind::Run => RunRecord::decode(id, raw).map(|r| r.id == *run),
                Kind::Use => UseRecord::decode(id, raw).map(|u| u.run == *run),
                Kind::State => match RunStateRecord::decode(id, raw) {
                    Ok(st) if st.run != *run => Ok(false),
                    Ok(st) => match crate::ops::run::check_state(&st) {
                        Ok(()) => Ok(true),
                        Err(reason) => return MarkerFit::Misplaced(reason),
                    },
                    Err(e) => Err(e),
                },
                Kind::Commit => match CommitRecord::decode(id, raw) {
                    Ok(c) if c.run != *run => Ok(false),
                    Ok(c) => {
                        if validate_name("type", &c.artifact_type).is_err()
                            || validate_name("artifact name", &c.name).is_err()
                        {
                            return misplaced("commit record of an invalid artifact name");
                        }
                        return MarkerFit::Commit(Box::new(c));
                    }
                    Err(e) => Err(e),
                },
                other => return MarkerFit::Misplaced(format!("marks a {}", other.name())),
            };
            match ok {
                Ok(true) => MarkerFit::Fits,
                Ok(false) => misplaced("record of another run"),
                Err(e) => failed(e),
            }
        }
    }
}

/// Why a rename record is not valid (a name no command accepts, or a rename to itself).
fn invalid_rename(r: &RenameRecord) -> Option<String> {
    for (what, value) in [
        ("type", &r.from_type),
        ("artifact name", &r.from_name),
        ("type", &r.to_type),
        ("artifact name", &r.to_name),
    ] {
        if let Err(e) = validate_name(what, value) {
            return Some(format!("invalid rename record: {e}"));
        }
    }
    if (&r.from_type, &r.from_name) == (&r.to_type, &r.to_name) {
        return Some("invalid rename record: a rename to itself".into());
    }
    None
}

/// The reason of a verification error, without the "object … is corrupt" wrapping.
fn reason_of(e: Error) -> String {
    match e {
        Error::CorruptObject { reason, .. } => reason,
        e => e.to_string(),
    }
}

/// Whether `path` is a directory (not following a symlink: a link is not part of the format).
fn is_real_dir(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
}

impl Checker<'_> {
    fn corrupt(&mut self, path: PathBuf, reason: impl Into<String>) {
        self.report.corrupt.push(Corruption {
            path,
            reason: reason.into(),
        });
    }

    fn missing(&mut self, id: ObjectId, needed_by: String) {
        if self.missing_seen.insert(id) {
            self.report.missing.push(Missing { id, needed_by });
        }
    }

    /// What is known of a present, sound object; None (after reporting) otherwise.
    fn expect(&mut self, id: ObjectId, needed_by: &str) -> Option<Sound> {
        match self.kinds.get(&id) {
            Some(s) => Some(*s),
            None => {
                // Corrupt objects were reported when read; only absent ones are missing.
                if !self.store.has_object(&id) {
                    self.missing(id, needed_by.to_string());
                }
                None
            }
        }
    }

    /// The non-empty subdirectories of `dir` whose names pass `validate_name(what, …)`; anything
    /// else (a `.DS_Store` file or directory, a name no command would use, an empty directory
    /// left by a crash) is listed as stray.
    fn subdirs(&mut self, dir: &Path, what: &'static str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for name in list_dir(dir)? {
            let path = dir.join(&name);
            let non_empty = || std::fs::read_dir(&path).is_ok_and(|mut d| d.next().is_some());
            if validate_name(what, &name).is_ok() && is_real_dir(&path) && non_empty() {
                out.push(name);
            } else {
                self.report.stray.push(path);
            }
        }
        out.sort();
        Ok(out)
    }

    fn check_refs(&mut self) -> Result<()> {
        let refs = self.store.layout().refs_dir();
        for ty in self.subdirs(&refs, "type")? {
            let ty_dir = refs.join(&ty);
            for name in self.subdirs(&ty_dir, "artifact name")? {
                let dir = ty_dir.join(&name);
                let key = ArtifactKey {
                    artifact_type: ty.clone(),
                    name: name.clone(),
                };
                for (marker, id) in self.markers_in(&dir)? {
                    let needed_by = format!("refs/{ty}/{name}");
                    let Some(sound) = self.expect(id, &needed_by) else {
                        continue;
                    };
                    let raw = self.store.read_object(&id)?.1;
                    match marker_fit(&MarkerPlace::Artifact(&key), id, sound.kind, &raw) {
                        MarkerFit::Fits => {}
                        MarkerFit::Commit(c) => {
                            self.check_tree(c.tree, &format!("commit {}", id.short()))?;
                            self.in_refs.insert(
                                id,
                                Marked {
                                    artifact_type: c.artifact_type,
                                    name: c.name,
                                    run: c.run,
                                    marker,
                                },
                            );
                        }
                        MarkerFit::Misplaced(reason) => self.corrupt(marker, reason),
                    }
                }
            }
        }
        Ok(())
    }

    /// Every marker in `renames/` must be a valid rename record.
    fn check_renames(&mut self) -> Result<()> {
        let dir = self.store.layout().renames_dir();
        if std::fs::symlink_metadata(&dir).is_err() {
            return Ok(());
        }
        if !is_real_dir(&dir) {
            self.report.stray.push(dir);
            return Ok(());
        }
        for (marker, id) in self.markers_in(&dir)? {
            let Some(sound) = self.expect(id, "renames") else {
                continue;
            };
            let raw = self.store.read_object(&id)?.1;
            if let MarkerFit::Misplaced(reason) =
                marker_fit(&MarkerPlace::Renames, id, sound.kind, &raw)
            {
                self.corrupt(marker, reason);
            }
        }
        Ok(())
    }

    fn check_runs(&mut self) -> Result<()> {
        let runs = self.store.layout().runs_dir();
        for run in self.subdirs(&runs, "run id")? {
            let dir = runs.join(&run);
            for (marker, id) in self.markers_in(&dir)? {
                let Some(sound) = self.expect(id, &format!("runs/{run}")) else {
                    continue;
                };
                let raw = self.store.read_object(&id)?.1;
                match marker_fit(&MarkerPlace::Run(&run), id, sound.kind, &raw) {
                    MarkerFit::Fits => {}
                    MarkerFit::Commit(c) => {
                        self.in_runs.insert(
                            id,
                            Marked {
                                artifact_type: c.artifact_type,
                                name: c.name,
                                run: c.run,
                                marker: marker.clone(),
                            },
                        );
                    }
                    MarkerFit::Misplaced(reason) => self.corrupt(marker, reason),
                }
            }
        }
        Ok(())
    }

    /// Every commit record marked for its artifact must be marked for its run; one marked for
    /// its run only is an interrupted (invisible) commit.
    fn check_links(&mut self) {
        let layout = self.store.layout();
        for (id, m) in &self.in_refs {
            if !self.in_runs.contains_key(id) {
                self.report.unlinked.push(Unlinked {
                    record: *id,
                    marker: m.marker.clone(),
                    missing_marker: layout.run_dir(&m.run).join(id.to_hex()),
                });
            }
        }
        for (id, m) in &self.in_runs {
            if !self.in_refs.contains_key(id) {
                self.report.interrupted.push(Unlinked {
                    record: *id,
                    marker: m.marker.clone(),
                    missing_marker: layout
                        .artifact_dir(&m.artifact_type, &m.name)
                        .join(id.to_hex()),
                });
            }
        }
    }

    fn markers_in(&mut self, dir: &Path) -> Result<Vec<(PathBuf, ObjectId)>> {
        let mut out = Vec::new();
        for name in list_dir(dir)? {
            let path = dir.join(&name);
            let is_file = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file());
            match ObjectId::from_file_name(&name) {
                Some(id) if is_file => {
                    self.report.markers += 1;
                    out.push((path, id));
                }
                _ => self.report.stray.push(path),
            }
        }
        out.sort();
        Ok(out)
    }

    /// Checks tree `root` and everything below it, each tree once: the tree rule
    /// ([`validate_tree`]), the kind of every object named, each file's size and MD5 against its
    /// blob, and the nesting depth. Iterative: a post-order walk computes the height of every
    /// tree (trees are shared between versions, so a depth along one path is not a property of
    /// the tree; its height is).
    fn check_tree(&mut self, root: ObjectId, needed_by: &str) -> Result<()> {
        enum Step {
            Enter(ObjectId, String),
            Leave(ObjectId),
        }
        let mut stack = vec![Step::Enter(root, needed_by.to_string())];
        while let Some(step) = stack.pop() {
            let (id, needed_by) = match step {
                Step::Leave(id) => {
                    let height = self.subtrees.get(&id).map_or(0, |subs| {
                        subs.iter()
                            .map(|s| self.heights.get(s).copied().unwrap_or(0) + 1)
                            .max()
                            .unwrap_or(0)
                    });
                    self.heights.insert(id, height);
                    let below: u64 = self.subtrees.get(&id).map_or(0, |subs| {
                        subs.iter()
                            .map(|s| self.expands.get(s).copied().unwrap_or(0))
                            .fold(0u64, u64::saturating_add)
                    });
                    let own = self.entry_counts.get(&id).copied().unwrap_or(0);
                    self.expands.insert(id, below.saturating_add(own));
                    continue;
                }
                Step::Enter(id, needed_by) => (id, needed_by),
            };
            // Entered before: done, or (impossible with hashes) an ancestor of itself.
            if !self.trees_done.insert(id) {
                continue;
            }
            let path = self.store.object_path(&id);
            match self.expect(id, &needed_by).map(|s| s.kind) {
                None => continue,
                Some(Kind::Tree) => {}
                Some(k) => {
                    self.corrupt(path, format!("expected a tree, found a {}", k.name()));
                    continue;
                }
            }
            let raw = self.store.read_object(&id)?.1;
            let tree = match Tree::decode(id, &raw) {
                Ok(t) => t,
                Err(e) => {
                    self.corrupt(path, reason_of(e));
                    continue;
                }
            };
            // Depth is checked below, from the heights.
            if let Err(e) = validate_tree(id, &tree, 0) {
                self.corrupt(path.clone(), reason_of(e));
            }
            stack.push(Step::Leave(id));
            let by = format!("tree {}", id.short());
            let mut subs = Vec::new();
            for e in &tree.entries {
                match e.node {
                    Node::Dir(sub) => {
                        subs.push(sub);
                        stack.push(Step::Enter(sub, by.clone()));
                    }
                    Node::File(f) => self.check_file(&path, &e.name, &f, &by),
                }
            }
            self.entry_counts.insert(id, tree.entries.len() as u64);
            self.subtrees.insert(id, subs);
        }
        if self
            .expands
            .get(&root)
            .is_some_and(|n| *n > crate::tree::MAX_ENTRIES)
        {
            self.corrupt(
                self.store.object_path(&root),
                reason_of(crate::tree::too_many_entries(root)),
            );
        }
        if self.heights.get(&root).is_some_and(|h| *h > MAX_TREE_DEPTH) {
            // Name the first tree past the limit along a deepest path, as readers do.
            let mut id = root;
            for _ in 0..=MAX_TREE_DEPTH {
                let next = self.subtrees.get(&id).and_then(|subs| {
                    subs.iter()
                        .max_by_key(|s| self.heights.get(s).copied().unwrap_or(0))
                });
                match next {
                    Some(n) => id = *n,
                    None => break,
                }
            }
            self.corrupt(self.store.object_path(&id), reason_of(too_deep(id)));
        }
        Ok(())
    }

    /// Checks file `name` of the tree stored at `tree_path` against its blob.
    fn check_file(&mut self, tree_path: &Path, name: &str, f: &FileMeta, by: &str) {
        let Some(sound) = self.expect(f.id, by) else {
            return;
        };
        if sound.kind != Kind::Blob {
            self.corrupt(
                self.store.object_path(&f.id),
                format!("expected a blob, found a {}", sound.kind.name()),
            );
            return;
        }
        // A delta whose base has not arrived cannot be read yet: nothing to compare.
        let Some((size, md5)) = sound.content else {
            return;
        };
        if size != f.size {
            self.corrupt(
                tree_path.to_path_buf(),
                format!(
                    "file {name:?}: the tree says {} bytes, its blob {} has {size}",
                    f.size,
                    f.id.short()
                ),
            );
        } else if md5 != f.md5 {
            self.corrupt(
                tree_path.to_path_buf(),
                format!(
                    "file {name:?}: the tree says MD5 {}, its blob {} has {}",
                    f.md5.to_base64(),
                    f.id.short(),
                    md5.to_base64()
                ),
            );
        }
    }
}

impl Store {
    /// The safe repairs: adds the missing marker of every unlinked commit record (markers are
    /// add-only, so adding one can never lose anything), removes temp files in `local/tmp` and
    /// packs without an index that are older than `stale_after`. Unlinked records fixed and
    /// packs removed leave the report; everything done is listed in `report.repaired`.
    fn repair(&self, report: &mut FsckReport, stale_after: Duration) -> Result<()> {
        let now = SystemTime::now();
        let older = |t: SystemTime| now.duration_since(t).is_ok_and(|age| age > stale_after);
        for u in std::mem::take(&mut report.unlinked) {
            let Some(dir) = u.missing_marker.parent() else {
                report.unlinked.push(u);
                continue;
            };
            self.add_marker(dir, &u.record)?;
            // A directory listed as stray because it was empty is not any more.
            report.stray.retain(|p| !u.missing_marker.starts_with(p));
            report.repaired.push(Repair {
                action: RepairAction::AddedMarker,
                path: u.missing_marker,
            });
        }
        // Only inside the store's own directories: never through a link out of it.
        let tmp = self.layout().own_dir(self.layout().tmp_dir());
        let mut temps = match &tmp {
            Some(dir) => list_dir(dir)?,
            None => Vec::new(),
        };
        temps.sort();
        for name in temps {
            let Some(path) = tmp.as_ref().map(|d| d.join(name)) else {
                break;
            };
            let stale = std::fs::symlink_metadata(&path)
                .is_ok_and(|m| m.is_file() && m.modified().is_ok_and(older));
            if stale {
                remove(&path)?;
                report.repaired.push(Repair {
                    action: RepairAction::RemovedTempFile,
                    path,
                });
            }
        }
        let packs = self.layout().packs_dir();
        let mut kept = Vec::new();
        for path in std::mem::take(&mut report.stray) {
            let indexless = self.layout().own_dir(packs.clone()).is_some()
                && path.parent() == Some(packs.as_path())
                && path.extension().is_some_and(|e| e == "pack")
                && !path.with_extension("idx").exists();
            if indexless
                && std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file() && older(changed(&m)))
            {
                remove(&path)?;
                report.repaired.push(Repair {
                    action: RepairAction::RemovedPack,
                    path,
                });
            } else {
                kept.push(path);
            }
        }
        report.stray = kept;
        Ok(())
    }
}

/// When a file last changed here: the later of its modification time and (on Unix) its status
/// change time, which a copy that preserves modification times still sets to the copy's time.
fn changed(m: &std::fs::Metadata) -> SystemTime {
    let modified = m.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let ctime = u64::try_from(m.ctime())
            .ok()
            .and_then(|s| {
                SystemTime::UNIX_EPOCH.checked_add(Duration::new(
                    s,
                    m.ctime_nsec().clamp(0, 999_999_999) as u32,
                ))
            })
            .unwrap_or(SystemTime::UNIX_EPOCH);
        modified.max(ctime)
    }
    #[cfg(not(unix))]
    modified
}

fn remove(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        // Removed meanwhile (by a store opening): the repair is done either way.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("cannot remove", path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CommitOptions, Snapshot, capture_run};
    use std::fs;

    /// One commit of `t/a` by run `r1`: the store and what each object and marker is.
    struct Fixture {
        tmp: tempfile::TempDir,
        store: Store,
        tree: ObjectId,
        record: ObjectId,
        a: ObjectId,
        b: ObjectId,
    }

    impl Fixture {
        fn new() -> Fixture {
            let tmp = tempfile::tempdir().unwrap();
            let store = Store::init(tmp.path()).unwrap();
            let mut s = Snapshot::default();
            s.add_bytes("a.py", b"a = 1\n".to_vec(), false).unwrap();
            s.add_bytes("b.py", b"b = 2\n".to_vec(), false).unwrap();
            let run = capture_run("r1", tmp.path()).unwrap();
            let key = ArtifactKey::new("t", "a").unwrap();
            let out = store
                .commit(&key, &s, &run, &CommitOptions::default())
                .unwrap();
            Fixture {
                tmp,
                store,
                tree: out.tree,
                record: out.record,
                a: ObjectId::compute(Kind::Blob, b"a = 1\n"),
                b: ObjectId::compute(Kind::Blob, b"b = 2\n"),
            }
        }

        fn refs_marker(&self) -> PathBuf {
            self.store.artifact_dir("t", "a").join(self.record.to_hex())
        }

        fn runs_marker(&self) -> PathBuf {
            self.store.run_dir("r1").join(self.record.to_hex())
        }

        fn fsck(&self) -> FsckReport {
            // A fresh handle: nothing remembered from before the damage.
            Store::open(self.store.root()).unwrap().fsck().unwrap()
        }

        /// fsck --repair through the handle opened before the damage (opening a store removes
        /// stale temp files itself).
        fn repair(&self, stale_after: Duration) -> FsckReport {
            self.store
                .fsck_with(&FsckOptions {
                    repair: true,
                    stale_after,
                })
                .unwrap()
        }
    }

    /// A store with one commit of 20 files: its blobs and trees are in one pack.
    fn packed_store() -> (tempfile::TempDir, Store) {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::init(tmp.path()).unwrap();
        let mut s = Snapshot::default();
        for i in 0..20 {
            let content = format!("x = {i}\n").into_bytes();
            s.add_bytes(&format!("f{i:02}.py"), content, false).unwrap();
        }
        let run = capture_run("r1", tmp.path()).unwrap();
        let key = ArtifactKey::new("t", "a").unwrap();
        store
            .commit(&key, &s, &run, &CommitOptions::default())
            .unwrap();
        (tmp, store)
    }

    /// (failed, failed --strict).
    fn verdicts(r: &FsckReport) -> (bool, bool) {
        (r.failed(false), r.failed(true))
    }

    /// Sets a file's modification time two hours back.
    fn age(path: &Path) {
        let then = SystemTime::now() - Duration::from_secs(7200);
        fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(then)
            .unwrap();
    }

    #[test]
    fn each_finding_fails_fsck_as_documented() {
        let id = ObjectId::compute(Kind::Blob, b"x");
        let path = PathBuf::from("p");
        let link = Unlinked {
            record: id,
            marker: path.clone(),
            missing_marker: path.clone(),
        };
        let clean = FsckReport::default();
        assert_eq!(verdicts(&clean), (false, false));
        assert!(!clean.has_corruption());
        let corrupt = FsckReport {
            corrupt: vec![Corruption {
                path: path.clone(),
                reason: "r".into(),
            }],
            ..FsckReport::default()
        };
        assert_eq!(verdicts(&corrupt), (true, true));
        assert!(corrupt.has_corruption());
        let missing = FsckReport {
            missing: vec![Missing {
                id,
                needed_by: "n".into(),
            }],
            ..FsckReport::default()
        };
        assert_eq!(verdicts(&missing), (false, true));
        let unlinked = FsckReport {
            unlinked: vec![link.clone()],
            ..FsckReport::default()
        };
        assert_eq!(verdicts(&unlinked), (false, true));
        // Never a failure: an interrupted commit is invisible, a stray file ignored, a repair
        // done.
        let interrupted = FsckReport {
            interrupted: vec![link],
            ..FsckReport::default()
        };
        assert_eq!(verdicts(&interrupted), (false, false));
        let stray = FsckReport {
            stray: vec![path.clone()],
            ..FsckReport::default()
        };
        assert_eq!(verdicts(&stray), (false, false));
        let repaired = FsckReport {
            repaired: vec![Repair {
                action: RepairAction::AddedMarker,
                path,
            }],
            ..FsckReport::default()
        };
        assert_eq!(verdicts(&repaired), (false, false));
        assert_eq!(
            [
                RepairAction::AddedMarker,
                RepairAction::RemovedTempFile,
                RepairAction::RemovedPack
            ]
            .map(RepairAction::as_str),
            ["add_marker", "remove_temp_file", "remove_pack"]
        );
    }

    #[test]
    fn a_clean_store_passes_strictly() {
        let f = Fixture::new();
        let r = f.fsck();
        // Two blobs, a tree, the run record and the commit record; the commit's marker in refs/
        // and in runs/, and the run record's marker.
        assert_eq!((r.objects, r.markers), (5, 3));
        assert_eq!(r.corrupt, []);
        assert_eq!(r.missing, []);
        assert_eq!(r.unlinked, []);
        assert_eq!(r.interrupted, []);
        assert_eq!(r.stray, Vec::<PathBuf>::new());
        assert_eq!(r.repaired, []);
        assert_eq!(verdicts(&r), (false, false));
    }

    #[test]
    fn a_damaged_object_is_corrupt_and_fails() {
        let f = Fixture::new();
        let path = f.store.object_path(&f.a);
        let mut bytes = fs::read(&path).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x01;
        fs::remove_file(&path).unwrap();
        fs::write(&path, bytes).unwrap();
        let r = f.fsck();
        assert_eq!(
            r.corrupt,
            [Corruption {
                path,
                reason: "stored bytes do not match their checksum (damaged on disk)".into(),
            }]
        );
        // Present, so not missing as well.
        assert_eq!(r.missing, []);
        assert_eq!(verdicts(&r), (true, true));
    }

    #[test]
    fn a_missing_object_fails_only_a_strict_check() {
        let f = Fixture::new();
        fs::remove_file(f.store.object_path(&f.b)).unwrap();
        let r = f.fsck();
        assert_eq!(r.corrupt, []);
        assert_eq!(
            r.missing,
            [Missing {
                id: f.b,
                needed_by: format!("tree {}", f.tree.short()),
            }]
        );
        assert_eq!(verdicts(&r), (false, true));
        // Nothing a repair can do.
        let r = f.repair(Duration::ZERO);
        assert_eq!(r.repaired, []);
        assert_eq!(verdicts(&r), (false, true));
    }

    #[test]
    fn an_unlinked_commit_fails_strictly_until_repair_adds_its_marker() {
        let f = Fixture::new();
        fs::remove_file(f.runs_marker()).unwrap();
        let r = f.fsck();
        assert_eq!(
            r.unlinked,
            [Unlinked {
                record: f.record,
                marker: f.refs_marker(),
                missing_marker: f.runs_marker(),
            }]
        );
        assert_eq!(r.interrupted, []);
        assert_eq!(verdicts(&r), (false, true));
        let r = f.repair(FsckOptions::default().stale_after);
        assert_eq!(
            r.repaired,
            [Repair {
                action: RepairAction::AddedMarker,
                path: f.runs_marker(),
            }]
        );
        assert_eq!(r.unlinked, []);
        assert_eq!(verdicts(&r), (false, false));
        assert!(f.runs_marker().is_file());
        let r = f.fsck();
        assert_eq!((r.unlinked.len(), r.repaired.len()), (0, 0));
        assert_eq!(verdicts(&r), (false, false));
    }

    #[test]
    fn an_interrupted_commit_is_listed_never_failed_and_left_alone() {
        let f = Fixture::new();
        fs::remove_file(f.refs_marker()).unwrap();
        let r = f.fsck();
        assert_eq!(
            r.interrupted,
            [Unlinked {
                record: f.record,
                marker: f.runs_marker(),
                missing_marker: f.refs_marker(),
            }]
        );
        assert_eq!(r.unlinked, []);
        // The artifact's marker directory is now empty: listed as stray.
        assert_eq!(r.stray, [f.store.artifact_dir("t", "a")]);
        assert_eq!(verdicts(&r), (false, false));
        let r = f.repair(Duration::ZERO);
        assert_eq!(r.repaired, []);
        assert_eq!(r.interrupted.len(), 1);
        assert!(!f.refs_marker().exists());
    }

    #[test]
    fn stray_files_are_listed_and_never_fail() {
        let f = Fixture::new();
        let root = f.store.root();
        let strays = [
            root.join("objects/.DS_Store"),
            root.join("objects/zz"),
            root.join("objects/abc/x"),
            root.join("objects/ab/not-an-object"),
            root.join("packs/notes.txt"),
            root.join("refs/t/.DS_Store"),
            f.store.run_dir("r1").join("rsync.tmp"),
        ];
        for p in &strays {
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, b"").unwrap();
        }
        // Links are not part of the format: an artifact directory or `renames/` that is a link
        // to a real directory (here, `refs/t/a` with its markers) is a stray, never followed.
        let links = [root.join("refs/t/link"), root.join("renames")];
        for l in &links {
            std::os::unix::fs::symlink(root.join("refs/t/a"), l).unwrap();
        }
        // A marker must be a regular file: a link named like one, to a marker, is a stray.
        let linked_marker = root
            .join("refs/t/a")
            .join(ObjectId::compute(Kind::Blob, b"not marked").to_hex());
        std::os::unix::fs::symlink(f.refs_marker(), &linked_marker).unwrap();
        let links = [links[0].clone(), links[1].clone(), linked_marker];
        let r = f.fsck();
        // A fan-out directory must be a directory named by two characters: `objects/abc` is a
        // stray as a whole.
        let mut expected: Vec<PathBuf> = strays
            .iter()
            .map(|p| {
                if p.starts_with(root.join("objects/abc")) {
                    root.join("objects/abc")
                } else {
                    p.clone()
                }
            })
            .chain(links.iter().cloned())
            .collect();
        expected.sort();
        assert_eq!(r.stray, expected);
        assert_eq!(r.corrupt, []);
        assert_eq!(verdicts(&r), (false, false));
        // A repair removes none of them.
        let r = f.repair(Duration::ZERO);
        assert_eq!(r.repaired, []);
        assert!(strays.iter().chain(&links).all(|p| p.exists()));
    }

    #[test]
    fn repair_removes_stale_temp_files_only_inside_the_store() {
        let f = Fixture::new();
        let tmp = f.store.layout().tmp_dir();
        let (old, young) = (tmp.join("obj-old"), tmp.join("obj-young"));
        fs::write(&old, b"interrupted").unwrap();
        fs::write(&young, b"running").unwrap();
        age(&old);
        let r = f.repair(FsckOptions::default().stale_after);
        assert_eq!(
            r.repaired,
            [Repair {
                action: RepairAction::RemovedTempFile,
                path: old.clone(),
            }]
        );
        assert!(!old.exists());
        assert!(young.exists());
        // Without repair, nothing is touched.
        age(&young);
        assert_eq!(f.store.fsck().unwrap().repaired, []);
        assert!(young.exists());

        // local/tmp a link out of the store: never followed.
        let outside = f.tmp.path().join("outside");
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("precious"), b"").unwrap();
        age(&outside.join("precious"));
        fs::remove_dir_all(&tmp).unwrap();
        std::os::unix::fs::symlink(&outside, &tmp).unwrap();
        let r = f.repair(Duration::ZERO);
        assert_eq!(r.repaired, []);
        assert!(outside.join("precious").exists());
        // Nor by the clean-up on opening.
        Store::open(f.store.root()).unwrap();
        assert!(outside.join("precious").exists());
    }

    #[test]
    fn repair_removes_a_pack_without_index_once_it_is_old() {
        let f = Fixture::new();
        let id = ObjectId::compute(Kind::Blob, b"a pack whose index never came");
        let pack = f.store.layout().pack_file(&id, "pack");
        fs::write(&pack, b"CDVP\x01").unwrap();
        age(&pack);
        let r = f.fsck();
        assert_eq!(r.stray, std::slice::from_ref(&pack));
        assert_eq!(verdicts(&r), (false, false));
        // Old by its modification time, but just copied here (its status-change time): kept.
        let r = f.repair(FsckOptions::default().stale_after);
        assert_eq!(r.repaired, []);
        assert_eq!(r.stray, std::slice::from_ref(&pack));
        assert!(pack.exists());
        std::thread::sleep(Duration::from_millis(20));
        let r = f.repair(Duration::from_millis(10));
        assert_eq!(
            r.repaired,
            [Repair {
                action: RepairAction::RemovedPack,
                path: pack.clone(),
            }]
        );
        assert_eq!(r.stray, Vec::<PathBuf>::new());
        assert!(!pack.exists());
    }

    #[test]
    fn a_damaged_pack_index_or_pack_is_corrupt() {
        let (_tmp, store) = packed_store();
        let packs = store.layout().packs_dir();
        let idx_name = list_dir(&packs)
            .unwrap()
            .into_iter()
            .find(|n| n.ends_with(".idx"))
            .unwrap();
        let pack_id = ObjectId::from_hex(idx_name.strip_suffix(".idx").unwrap()).unwrap();
        let (idx, pack) = (
            store.layout().pack_file(&pack_id, "idx"),
            store.layout().pack_file(&pack_id, "pack"),
        );
        assert_eq!(verdicts(&store.fsck().unwrap()), (false, false));

        // A pack cut short: it no longer hashes to its name, and its last entry is past its end.
        let good_pack = fs::read(&pack).unwrap();
        fs::remove_file(&pack).unwrap();
        fs::write(&pack, &good_pack[..good_pack.len() - 1]).unwrap();
        let r = Store::open(store.root()).unwrap().fsck().unwrap();
        assert_eq!(
            r.corrupt[0],
            Corruption {
                path: pack.clone(),
                reason: "index entry: the index points past the end of the pack".into(),
            }
        );
        assert_eq!(
            r.corrupt[1],
            Corruption {
                path: pack.clone(),
                reason: "pack content does not hash to its name".into(),
            }
        );
        assert_eq!(r.corrupt.len(), 2, "{:?}", r.corrupt);
        assert_eq!(verdicts(&r), (true, true));
        fs::remove_file(&pack).unwrap();
        fs::write(&pack, &good_pack).unwrap();

        // A flipped byte in the index.
        let mut bytes = fs::read(&idx).unwrap();
        bytes[60] ^= 0x01;
        fs::remove_file(&idx).unwrap();
        fs::write(&idx, bytes).unwrap();
        let r = Store::open(store.root()).unwrap().fsck().unwrap();
        assert!(
            r.corrupt.contains(&Corruption {
                path: idx.clone(),
                reason: format!("object {pack_id} is corrupt: pack index: checksum mismatch"),
            }),
            "{:?}",
            r.corrupt
        );
        assert_eq!(verdicts(&r), (true, true));
    }

    /// A pack that is not a regular file (a FIFO, a directory) is reported, never skipped as
    /// "not yet synced" and never read (a FIFO would hang fsck).
    #[cfg(unix)]
    #[test]
    fn a_pack_that_is_not_a_regular_file_is_corrupt() {
        let (_tmp, store) = packed_store();
        // Intact, a packed store is clean: its pack and index are neither strays nor corrupt.
        let clean = Store::open(store.root()).unwrap().fsck().unwrap();
        assert_eq!((clean.stray.len(), clean.corrupt.len()), (0, 0));
        assert!(!clean.failed(true));
        // 20 blobs and a tree in the pack, the run and commit records loose: each counted once.
        assert_eq!((clean.objects, clean.markers), (23, 3));
        let pack = list_dir(&store.layout().packs_dir())
            .unwrap()
            .into_iter()
            .find(|n| n.ends_with(".pack"))
            .map(|n| store.layout().packs_dir().join(n))
            .unwrap();
        fs::remove_file(&pack).unwrap();
        let made = std::process::Command::new("mkfifo")
            .arg(&pack)
            .status()
            .unwrap();
        assert!(made.success());
        let r = Store::open(store.root()).unwrap().fsck().unwrap();
        assert_eq!(
            r.corrupt,
            [Corruption {
                path: pack.clone(),
                reason: "cannot read the pack: not a regular file".into(),
            }]
        );
        assert!(r.failed(false));
    }

    /// An index whose pack has not arrived yet (a copy or pull under way) is not damage: the
    /// objects only the pack holds are missing where needed, which fails only a strict check.
    #[test]
    fn an_index_whose_pack_has_not_arrived_is_missing_objects_not_corruption() {
        let (_tmp, store) = packed_store();
        let pack = list_dir(&store.layout().packs_dir())
            .unwrap()
            .into_iter()
            .find(|n| n.ends_with(".pack"))
            .map(|n| store.layout().packs_dir().join(n))
            .unwrap();
        fs::remove_file(&pack).unwrap();
        let r = Store::open(store.root()).unwrap().fsck().unwrap();
        assert_eq!(r.corrupt, []);
        assert_eq!(r.stray, Vec::<PathBuf>::new());
        // The commit's tree is in the pack: it is what is missing (its blobs are not reached).
        assert_eq!(r.missing.len(), 1, "{:?}", r.missing);
        assert_eq!(r.objects, 2);
        assert_eq!(verdicts(&r), (false, true));
    }

    /// A version that expands to exactly the most entries a reader takes (`MAX_ENTRIES`,
    /// counted through shared subtrees, as `flatten` counts them) is sound; one more is corrupt.
    #[test]
    fn a_version_of_exactly_the_entry_limit_is_sound_and_one_more_is_corrupt() {
        use crate::object::TreeEntry;
        let f = Fixture::new();
        let meta = FileMeta {
            id: f.a,
            size: 6,
            md5: Md5::of(b"a = 1\n"),
            executable: false,
        };
        let file = |name: String| TreeEntry {
            name,
            node: Node::File(meta),
        };
        // 1,000 files, shared by 999 directories of the root: 999,000 entries below it.
        let shared = Tree {
            entries: (0..1000).map(|i| file(format!("f{i:03}"))).collect(),
        };
        let (shared, _) = f.store.write_structured(&shared).unwrap();
        for (files, over) in [(1, false), (2, true)] {
            let mut entries: Vec<TreeEntry> = (0..999)
                .map(|i| TreeEntry {
                    name: format!("d{i:03}"),
                    node: Node::Dir(shared),
                })
                .collect();
            entries.extend((0..files).map(|i| file(format!("z{i}"))));
            assert_eq!(
                999 * 1000 + entries.len() as u64 - crate::tree::MAX_ENTRIES,
                files - 1
            );
            let (root, _) = f.store.write_structured(&Tree { entries }).unwrap();
            let (record, _) = f
                .store
                .write_structured(&CommitRecord::for_test(("t", "big"), root, "r1", 1))
                .unwrap();
            let dir = f.store.artifact_dir("t", "big");
            fs::create_dir_all(&dir).unwrap();
            fs::write(dir.join(record.to_hex()), b"").unwrap();
            let too_many: Vec<Corruption> = f
                .fsck()
                .corrupt
                .into_iter()
                .filter(|c| c.path == f.store.object_path(&root))
                .collect();
            let want = reason_of(crate::tree::too_many_entries(root));
            assert_eq!(
                too_many.iter().any(|c| c.reason == want),
                over,
                "{too_many:?}"
            );
            fs::remove_dir_all(&dir).unwrap();
        }
    }

    /// A repair's removal: a file already gone (removed meanwhile by a store opening) is done;
    /// one that cannot be removed (here a directory where the file was) is an error, never
    /// reported as removed.
    #[test]
    fn a_repair_removal_of_a_gone_file_is_done_and_a_failed_one_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("obj-old");
        fs::write(&file, b"x").unwrap();
        remove(&file).unwrap();
        assert!(!file.exists());
        remove(&file).unwrap();
        fs::create_dir(&file).unwrap();
        let e = remove(&file).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("cannot remove {}", file.display())),
            "{e}"
        );
        assert!(file.is_dir());
    }

    /// An alias record marked under an artifact it does not name is corrupt, even when its
    /// alias is valid (it would move another artifact's alias).
    #[test]
    fn an_alias_record_of_another_artifact_is_corrupt() {
        let f = Fixture::new();
        let record = AliasRecord {
            artifact_type: "t".into(),
            name: "b".into(),
            alias: "best".into(),
            tree: f.tree,
            time_ns: 1,
            run: String::new(),
        };
        let (id, _) = f.store.write_structured(&record).unwrap();
        let marker = f.store.artifact_dir("t", "a").join(id.to_hex());
        fs::write(&marker, b"").unwrap();
        let r = f.fsck();
        assert_eq!(
            r.corrupt,
            [Corruption {
                path: marker,
                reason: "invalid alias record".into(),
            }]
        );
    }

    /// What `marker_fit` says of `record` marked in `place`, as one line.
    fn fit_of<R: Structured>(place: &MarkerPlace, record: &R) -> String {
        let raw = record.encode();
        let id = ObjectId::compute(R::KIND, &raw);
        match marker_fit(place, id, R::KIND, &raw) {
            MarkerFit::Fits => "fits".into(),
            MarkerFit::Commit(c) => format!("commit {}/{} by {}", c.artifact_type, c.name, c.run),
            MarkerFit::Misplaced(reason) => reason,
        }
    }

    /// The rules `fsck` and `pull` apply to every marker: each kind of record is accepted in
    /// exactly the directories of what it names, and the reason a misplaced one is refused is
    /// the one a user reads in the report.
    #[test]
    fn a_marker_fits_exactly_where_its_record_belongs() {
        let tree = ObjectId::compute(Kind::Tree, b"");
        let key = ArtifactKey::new("t", "a").unwrap();
        let artifact = MarkerPlace::Artifact(&key);
        let run = MarkerPlace::Run("r1");
        let commit =
            |ty: &str, name: &str, run: &str| CommitRecord::for_test((ty, name), tree, run, 1);
        let alias = |name: &str, alias: &str| AliasRecord {
            artifact_type: "t".into(),
            name: name.into(),
            alias: alias.into(),
            tree,
            time_ns: 1,
            run: String::new(),
        };
        let forget = |name: &str| ForgetRecord {
            artifact_type: "t".into(),
            name: name.into(),
            tree: None,
            forgotten: true,
            time_ns: 1,
            host: "h".into(),
        };
        let rename = |from: &str, to: &str| RenameRecord {
            from_type: "t".into(),
            from_name: from.into(),
            to_type: "t".into(),
            to_name: to.into(),
            time_ns: 1,
            host: "h".into(),
        };
        let run_record = |id: &str| RunRecord {
            id: id.into(),
            time_ns: 1,
            host: "h".into(),
            user: "u".into(),
            cwd: "/".into(),
            git_commit: None,
            git_dirty: None,
            project: String::new(),
            config: String::new(),
            notes: String::new(),
            tags: Vec::new(),
        };
        let used = |run: &str| UseRecord {
            run: run.into(),
            artifact_type: "t".into(),
            name: "a".into(),
            tree,
            time_ns: 1,
        };
        let state = |run: &str, config: &str| RunStateRecord {
            run: run.into(),
            time_ns: 1,
            host: "h".into(),
            name: String::new(),
            job_type: String::new(),
            group: String::new(),
            config: config.into(),
            summary: String::new(),
            ranges: String::new(),
            steps: 0,
            finished: true,
            exit_code: None,
        };
        let cases = [
            // refs/t/a/
            (
                fit_of(&artifact, &commit("t", "a", "r1")),
                "commit t/a by r1",
            ),
            (
                fit_of(&artifact, &commit("t", "b", "r1")),
                "commit record of another artifact",
            ),
            (
                fit_of(&artifact, &commit("u", "a", "r1")),
                "commit record of another artifact",
            ),
            (
                fit_of(&artifact, &commit("t", "a", "a/b")),
                "invalid run id \"a/b\"",
            ),
            (fit_of(&artifact, &alias("a", "best")), "fits"),
            (
                fit_of(&artifact, &alias("b", "best")),
                "invalid alias record",
            ),
            (
                fit_of(&artifact, &alias("a", "latest")),
                "invalid alias record",
            ),
            (fit_of(&artifact, &forget("a")), "fits"),
            (
                fit_of(&artifact, &forget("b")),
                "forget record of another artifact",
            ),
            (fit_of(&artifact, &rename("a", "c")), "fits"),
            (fit_of(&artifact, &rename("c", "a")), "fits"),
            (
                fit_of(&artifact, &rename("b", "c")),
                "rename record of another artifact",
            ),
            (
                fit_of(&artifact, &rename("a", "a")),
                "invalid rename record: a rename to itself",
            ),
            (fit_of(&artifact, &run_record("r1")), "marks a run"),
            (fit_of(&artifact, &used("r1")), "marks a use"),
            // renames/
            (fit_of(&MarkerPlace::Renames, &rename("b", "c")), "fits"),
            (
                fit_of(&MarkerPlace::Renames, &rename("c", "c")),
                "invalid rename record: a rename to itself",
            ),
            (
                fit_of(&MarkerPlace::Renames, &commit("t", "a", "r1")),
                "marks a commit",
            ),
            // runs/r1/
            (fit_of(&run, &run_record("r1")), "fits"),
            (fit_of(&run, &run_record("r2")), "record of another run"),
            (fit_of(&run, &used("r1")), "fits"),
            (fit_of(&run, &used("r2")), "record of another run"),
            (fit_of(&run, &state("r1", "{\"lr\": 1}")), "fits"),
            (
                fit_of(&run, &state("r2", "{\"lr\": 1}")),
                "record of another run",
            ),
            (
                fit_of(&run, &state("r1", "[1]")),
                "state record's config is not a JSON object of the right shape",
            ),
            (fit_of(&run, &commit("t", "a", "r1")), "commit t/a by r1"),
            (
                fit_of(&run, &commit("t", "a", "r2")),
                "record of another run",
            ),
            (
                fit_of(&run, &commit("a/b", "a", "r1")),
                "commit record of an invalid artifact name",
            ),
            (
                fit_of(&run, &commit("t", "a/b", "r1")),
                "commit record of an invalid artifact name",
            ),
            (fit_of(&run, &alias("a", "best")), "marks a alias"),
        ];
        for (i, (got, want)) in cases.iter().enumerate() {
            assert_eq!(got, want, "case {i}");
        }
        // A rename whose names no command accepts is refused wherever it is marked.
        let bad = rename("a", "c/d");
        for place in [&artifact, &MarkerPlace::Renames] {
            assert_eq!(
                fit_of(place, &bad),
                "invalid rename record: invalid artifact name \"c/d\": '/' is not allowed"
            );
        }
        // Bytes that are not a record of the kind are refused with the decoder's reason.
        let raw = b"\x01\xff\xff".to_vec();
        let id = ObjectId::compute(Kind::Commit, &raw);
        match marker_fit(&artifact, id, Kind::Commit, &raw) {
            MarkerFit::Misplaced(reason) => assert!(reason.contains("corrupt"), "{reason}"),
            _ => panic!("garbage accepted"),
        }
    }
}
