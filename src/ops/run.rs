//! Runs: recording runs and their uses, and what each run logged.

use std::collections::HashMap;

use crate::capture::now_ns;
use crate::error::{Error, Result};
use crate::history::History;
use crate::id::ObjectId;
use crate::key::ArtifactKey;
use crate::names::validate_name;
use crate::object::{CommitRecord, Kind, RunRecord, Structured, UseRecord};
use crate::store::Store;
use crate::store::markers::{self as refs, Publication};

/// One artifact commit made by a run.
#[derive(Clone, Debug)]
pub struct RunArtifact {
    /// The artifact.
    pub key: ArtifactKey,
    /// Version number, when it is known: `None` while the version's records have not arrived
    /// or while some record of the artifact cannot be read (see `complete`).
    pub version: Option<usize>,
    /// Whether every record of the artifact can be read (only then are numbers given).
    pub complete: bool,
    /// Version id (root tree).
    pub tree: ObjectId,
    /// Whether this commit made the version (false: linked to an existing one).
    pub new: bool,
    /// The commit record.
    pub record: ObjectId,
    /// Commit time, ns since the epoch.
    pub time_ns: i64,
    /// The commit's message (`-m`), kept whether or not it made the version.
    pub message: String,
    /// Whether the version, or the whole artifact, is forgotten (it is still listed here: the
    /// run did log it).
    pub forgotten: bool,
}

/// A version a run used (W&B's `use_artifact`).
#[derive(Clone, Debug)]
pub struct RunUse {
    /// The artifact.
    pub key: ArtifactKey,
    /// Version number, when it is known (as for [`RunArtifact::version`]).
    pub version: Option<usize>,
    /// Whether every record of the artifact can be read.
    pub complete: bool,
    /// Version id (root tree).
    pub tree: ObjectId,
    /// When it was used, ns since the epoch.
    pub time_ns: i64,
}

/// What the store knows of one run.
#[derive(Clone, Debug)]
pub struct RunView {
    /// Versions it used, in order.
    pub used: Vec<RunUse>,
    /// Run id.
    pub id: String,
    /// The run's description (the earliest, if several machines wrote one).
    pub info: Option<RunRecord>,
    /// What it logged, in commit order.
    pub artifacts: Vec<RunArtifact>,
    /// Records of this run not yet synced.
    pub incomplete: usize,
    /// Records marked for this run that are corrupt or are not records of this run (ignored;
    /// `fsck` says more).
    pub corrupt: usize,
}

impl Store {
    /// Records run `run` if the store has not seen it; returns the new record's id.
    pub(crate) fn write_run_if_new(
        &self,
        run: &RunRecord,
        publication: &mut Publication,
    ) -> Result<Option<ObjectId>> {
        validate_name("run id", &run.id)?;
        if refs::has_markers(&self.run_dir(&run.id))? {
            return Ok(None);
        }
        self.write_record(run, publication).map(Some)
    }

    /// Records a run that has started (as `codever.init()` does), unless the store knows it.
    pub fn start_run(&self, run: &RunRecord) -> Result<()> {
        let mut publication = Publication::default();
        if let Some(id) = self.write_run_if_new(run, &mut publication)? {
            publication.mark(self.run_dir(&run.id), id);
            self.publish(publication)?;
        }
        Ok(())
    }

    /// Records that run `run` used the version with tree `tree` of `key` (W&B's `use_artifact`).
    /// The run need not have logged anything.
    pub fn record_use(&self, run: &str, key: &ArtifactKey, tree: ObjectId) -> Result<()> {
        validate_name("run id", run)?;
        let record = UseRecord {
            run: run.to_string(),
            artifact_type: key.artifact_type.clone(),
            name: key.name.clone(),
            tree,
            time_ns: now_ns(),
        };
        let mut publication = Publication::default();
        let id = self.write_record(&record, &mut publication)?;
        publication.mark(self.run_dir(run), id);
        self.publish(publication)
    }

    /// Whether the store has seen run `id` (some record is marked for it).
    pub fn has_run(&self, id: &str) -> bool {
        validate_name("run id", id).is_ok() && refs::has_markers(&self.run_dir(id)).unwrap_or(false)
    }

    /// Every run, sorted by start time. Entries of `runs/` that are not a run's marker directory
    /// (`.DS_Store`, a sync tool's temp file) are ignored.
    pub fn runs(&self) -> Result<Vec<RunView>> {
        let mut cache = HashMap::new();
        let mut out = Vec::new();
        for id in refs::run_ids(&self.layout().runs_dir())? {
            out.push(self.run_view(&id, &mut cache)?);
        }
        out.sort_by_key(|r| (r.start_ns(), r.id.clone()));
        Ok(out)
    }

    /// One run.
    pub fn run(&self, id: &str) -> Result<RunView> {
        validate_name("run id", id)?;
        if !refs::has_markers(&self.run_dir(id))? {
            return Err(Error::UnknownRun { id: id.to_string() });
        }
        self.run_view(id, &mut HashMap::new())
    }

    fn run_view(&self, id: &str, cache: &mut HashMap<ArtifactKey, History>) -> Result<RunView> {
        let mut infos: Vec<RunRecord> = Vec::new();
        let mut uses: Vec<UseRecord> = Vec::new();
        let mut commits: Vec<(ObjectId, CommitRecord)> = Vec::new();
        let mut incomplete = 0;
        let mut corrupt = 0;
        for rid in refs::markers_in(self, &self.run_dir(id))? {
            // Corrupt records, and records of something else, are never served; fsck reports
            // them.
            match self.read_object(&rid) {
                Ok((Kind::Run, raw)) => match RunRecord::decode(rid, &raw) {
                    Ok(r) if r.id == id => infos.push(r),
                    _ => corrupt += 1,
                },
                Ok((Kind::Use, raw)) => match UseRecord::decode(rid, &raw) {
                    Ok(u) if u.run == id => uses.push(u),
                    _ => corrupt += 1,
                },
                Ok((Kind::Commit, raw)) => match CommitRecord::decode(rid, &raw) {
                    Ok(c) if c.run == id => commits.push((rid, c)),
                    _ => corrupt += 1,
                },
                Ok(_) => corrupt += 1,
                Err(Error::MissingObject { .. }) => incomplete += 1,
                Err(_) => corrupt += 1,
            }
        }
        infos.sort_by_key(|r| r.time_ns);
        commits.sort_by_key(|(rid, c)| (c.time_ns, *rid));
        let mut artifacts = Vec::new();
        for (rid, c) in commits {
            let Ok(key) = ArtifactKey::new(&c.artifact_type, &c.name) else {
                continue;
            };
            // Not marked for its artifact (yet): an interrupted commit, or `refs/` not synced
            // yet. The artifact's marker is the commit point, so the run does not list it.
            if !self
                .artifact_dir(&key.artifact_type, &key.name)
                .join(rid.to_hex())
                .is_file()
            {
                continue;
            }
            if !cache.contains_key(&key) {
                let h = self.history(&key)?;
                cache.insert(key.clone(), h);
            }
            let h = &cache[&key];
            let version = h.by_tree(&c.tree);
            artifacts.push(RunArtifact {
                version: version.and_then(|v| v.number),
                complete: h.is_complete(),
                new: h.made_version(&rid),
                tree: c.tree,
                record: rid,
                time_ns: c.time_ns,
                message: c.message,
                forgotten: h.forgotten.is_some() || version.is_some_and(|v| v.forgotten.is_some()),
                // Under its name now, if it was renamed since.
                key: h.key.clone(),
            });
        }
        uses.sort_by_key(|u| u.time_ns);
        let mut used = Vec::new();
        for u in uses {
            let Ok(key) = ArtifactKey::new(&u.artifact_type, &u.name) else {
                continue;
            };
            if !cache.contains_key(&key) {
                let h = self.history(&key)?;
                cache.insert(key.clone(), h);
            }
            let h = &cache[&key];
            used.push(RunUse {
                version: h.by_tree(&u.tree).and_then(|v| v.number),
                complete: h.is_complete(),
                tree: u.tree,
                time_ns: u.time_ns,
                key: h.key.clone(),
            });
        }
        Ok(RunView {
            used,
            id: id.to_string(),
            info: infos.into_iter().next(),
            artifacts,
            incomplete,
            corrupt,
        })
    }
}

impl RunView {
    /// When the run started: its record's time, else its first commit's.
    pub fn start_ns(&self) -> i64 {
        self.info
            .as_ref()
            .map(|i| i.time_ns)
            .or_else(|| self.artifacts.first().map(|a| a.time_ns))
            .unwrap_or(0)
    }
}
