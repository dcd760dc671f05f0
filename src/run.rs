//! Runs: ids, what is recorded about a run, and what each run logged.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use crate::error::{Error, Result};
use crate::history::History;
use crate::id::ObjectId;
use crate::key::ArtifactKey;
use crate::names::validate_name;
use crate::object::{CommitRecord, Kind, RunRecord, Structured, UseRecord};
use crate::store::Store;
use crate::store::markers::{self as refs, Publication};

/// A fresh run id: 8 characters of `[a-z0-9]`, like W&B's.
pub fn new_run_id() -> String {
    let mut h = blake3::Hasher::new();
    h.update(&now_ns().to_le_bytes());
    h.update(&std::process::id().to_le_bytes());
    h.update(format!("{:?}", std::thread::current().id()).as_bytes());
    h.update(gethostname::gethostname().as_encoded_bytes());
    // Differs between calls of one process that share everything else.
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    h.update(&n.to_le_bytes());
    let mut out = String::with_capacity(8);
    let digits = b"0123456789abcdefghijklmnopqrstuvwxyz";
    for b in &h.finalize().as_bytes()[..8] {
        out.push(digits[(*b as usize) % 36] as char);
    }
    out
}

/// Nanoseconds since the Unix epoch, now.
pub fn now_ns() -> i64 {
    let ts = jiff::Timestamp::now().as_nanosecond();
    i64::try_from(ts).unwrap_or(i64::MAX)
}

/// Describes a run that starts now in `cwd`: host, user, and the enclosing git repository's HEAD
/// and dirty flag (when `git` is installed).
pub fn capture_run(id: &str, cwd: &Path) -> Result<RunRecord> {
    Ok(RunCapture::start(id, cwd, true)?.finish())
}

/// A run being described. Asking git for HEAD and the dirty flag takes a while on a large
/// repository, so it runs in the background while the caller captures files.
pub struct RunCapture {
    record: RunRecord,
    git: Option<std::process::Child>,
}

impl RunCapture {
    /// Starts describing run `id` in `cwd`; with `ask_git`, starts the git query (skip it for a
    /// run the store already knows: its record is not written again).
    pub fn start(id: &str, cwd: &Path, ask_git: bool) -> Result<RunCapture> {
        validate_name("run id", id)?;
        let git = if ask_git { spawn_git_status(cwd) } else { None };
        Ok(RunCapture {
            record: RunRecord {
                id: id.to_string(),
                time_ns: now_ns(),
                host: host_name(),
                user: std::env::var("USER")
                    .or_else(|_| std::env::var("USERNAME"))
                    .unwrap_or_default(),
                cwd: cwd.to_string_lossy().into_owned(),
                git_commit: None,
                git_dirty: None,
                project: String::new(),
                config: String::new(),
                notes: String::new(),
                tags: Vec::new(),
            },
            git,
        })
    }

    /// Waits for the git query and returns the run's record.
    pub fn finish(mut self) -> RunRecord {
        if let Some(child) = self.git.take()
            && let Ok(out) = child.wait_with_output()
            && out.status.success()
        {
            let (commit, dirty) = parse_git_status(&String::from_utf8_lossy(&out.stdout));
            self.record.git_commit = commit;
            self.record.git_dirty = Some(dirty);
        }
        self.record
    }
}

/// This machine's host name.
pub fn host_name() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

fn spawn_git_status(cwd: &Path) -> Option<std::process::Child> {
    if !cwd.ancestors().any(|a| a.join(".git").exists()) {
        return None;
    }
    Command::new("git")
        .arg("-C")
        .arg(cwd)
        .args([
            "status",
            "--porcelain=v2",
            "--branch",
            "--untracked-files=no",
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()
}

fn parse_git_status(text: &str) -> (Option<String>, bool) {
    let mut commit = None;
    let mut dirty = false;
    for line in text.lines() {
        if let Some(oid) = line.strip_prefix("# branch.oid ") {
            if oid != "(initial)" {
                commit = Some(oid.to_string());
            }
        } else if !line.starts_with('#') && !line.is_empty() {
            dirty = true;
        }
    }
    (commit, dirty)
}

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
            artifacts.push(RunArtifact {
                version: h.by_tree(&c.tree).and_then(|v| v.number),
                complete: h.is_complete(),
                new: h.made_version(&rid),
                tree: c.tree,
                record: rid,
                time_ns: c.time_ns,
                key,
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
            used.push(RunUse {
                version: cache[&key].by_tree(&u.tree).and_then(|v| v.number),
                complete: cache[&key].is_complete(),
                tree: u.tree,
                time_ns: u.time_ns,
                key,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_valid_and_distinct() {
        let a = new_run_id();
        let b = new_run_id();
        assert_eq!(a.len(), 8);
        validate_name("run id", &a).unwrap();
        assert_ne!(a, b);
    }
}
