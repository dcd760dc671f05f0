//! Committing a snapshot as a version of an artifact, and setting aliases.
//!
//! Write order (as restic's): blobs, trees and the run record first, then the commit record, then
//! a flush of the directories that received them, and only then the markers that make the commit
//! visible. A crash at any point leaves either an invisible commit (unreferenced objects) or a
//! complete one.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use crate::error::Result;
use crate::history::CachedRecord;
use crate::history::{History, Spec};
use crate::id::{Md5, ObjectId, wandb_digest};
use crate::key::ArtifactKey;
use crate::names::validate_alias;
use crate::object::{
    AliasRecord, CommitRecord, Kind, MAX_DELTA_DEPTH, RunRecord, Structured, Tree, encode_delta,
    encode_envelope,
};
use crate::run::{host_name, now_ns};
use crate::snapshot::Snapshot;
use crate::statcache::StatCache;
use crate::store::Store;
use crate::store::markers::Publication;
use crate::store::pack::PackWriter;
use crate::tree::{flatten, write_trees};

/// Called as files are captured: (files done, files in all). Called from several threads.
#[derive(Clone)]
pub struct Progress(pub std::sync::Arc<dyn Fn(usize, usize) + Send + Sync>);

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Progress(..)")
    }
}

/// Optional parts of a commit.
#[derive(Clone, Debug, Default)]
pub struct CommitOptions {
    /// Told how far the capture is (for a progress bar on long captures).
    pub progress: Option<Progress>,
    /// Commit message.
    pub message: String,
    /// Aliases to point at the committed version.
    pub aliases: Vec<String>,
    /// Artifact description.
    pub description: String,
    /// Metadata as JSON text (empty for none).
    pub metadata: String,
}

/// What a commit did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitOutcome {
    /// The artifact.
    pub key: ArtifactKey,
    /// Version number the content has now; `None` while some record of the artifact cannot be
    /// read (the number could be wrong, see [`crate::History::is_complete`]).
    pub version: Option<usize>,
    /// Version id (root tree).
    pub tree: ObjectId,
    /// True when this commit made a new version; false when it was linked to an existing one.
    pub new: bool,
    /// The run.
    pub run: String,
    /// W&B artifact digest.
    pub digest: Md5,
    /// Id of the commit record.
    pub record: ObjectId,
    /// Number of files.
    pub files: usize,
}

/// Where a commit's new blobs and trees go: a [`PackWriter`], with the previous version's blob
/// of each path as a delta base.
pub(crate) struct Staging<'a> {
    store: &'a Store,
    progress: Option<(Progress, usize, std::sync::atomic::AtomicUsize)>,
    writer: Mutex<PackWriter<'a>>,
    /// The artifact whose latest version supplies delta bases.
    key: Option<ArtifactKey>,
    /// Its files by path, computed the first time a new blob needs a base.
    bases: OnceLock<HashMap<String, ObjectId>>,
    stat: Option<StatCache>,
    /// Directories that received large blobs (written directly, outside the pack writer).
    large_dirs: Mutex<Vec<PathBuf>>,
}

impl<'a> Staging<'a> {
    pub(crate) fn new(store: &'a Store, key: Option<ArtifactKey>, stat: Option<StatCache>) -> Self {
        Staging {
            store,
            progress: None,
            writer: Mutex::new(PackWriter::new(store.layout())),
            key,
            bases: OnceLock::new(),
            stat,
            large_dirs: Mutex::new(Vec::new()),
        }
    }

    fn bases(&self) -> &HashMap<String, ObjectId> {
        self.bases.get_or_init(|| match &self.key {
            Some(k) => self.store.delta_bases(k),
            None => HashMap::new(),
        })
    }

    /// Reports progress to `p` for a capture of `total` files.
    pub(crate) fn with_progress(mut self, p: Option<Progress>, total: usize) -> Self {
        self.progress = p.map(|p| (p, total, std::sync::atomic::AtomicUsize::new(0)));
        self
    }

    /// One more file captured.
    pub(crate) fn file_done(&self) {
        if let Some((p, total, done)) = &self.progress {
            let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            (p.0)(n, *total);
        }
    }

    /// The stat cache of this commit's sources.
    pub(crate) fn stat_cache(&self) -> Option<&StatCache> {
        self.stat.as_ref()
    }

    /// Whether the store (or this commit) already has blob `id`.
    pub(crate) fn has_blob(&self, id: &ObjectId) -> bool {
        !self.missing(id)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PackWriter<'a>> {
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn missing(&self, id: &ObjectId) -> bool {
        !self.store.has_object(id) && !self.lock().contains(id)
    }

    /// Stores the blob of `path` unless present: as a delta against the previous version's blob
    /// of the same path when there is one (and its chain is not too deep), else whole.
    pub(crate) fn put_blob(&self, path: &str, id: ObjectId, data: &[u8]) -> Result<()> {
        if !self.missing(&id) {
            return Ok(());
        }
        let bytes = match self.bases().get(path) {
            Some(base) if *base != id && (data.len() as u64) < crate::store::LARGE_FILE => {
                match self.store.read_with_depth(base) {
                    Ok((_, raw, depth)) if depth < MAX_DELTA_DEPTH => {
                        encode_delta(Kind::Blob, data, *base, &raw, depth)
                    }
                    _ => encode_envelope(Kind::Blob, data),
                }
            }
            _ => encode_envelope(Kind::Blob, data),
        };
        self.lock().add(id, bytes)
    }

    /// Stores a large file's blob unless present, streaming it from `src`. Returns false when the
    /// file no longer holds that blob (it changed since it was hashed): the caller reads again.
    pub(crate) fn put_large_file(
        &self,
        src: &std::path::Path,
        meta: &crate::object::FileMeta,
    ) -> Result<bool> {
        if !self.missing(&meta.id) {
            return Ok(true);
        }
        match self.store.store_large_file(src, &meta.id, meta.size)? {
            Some((new, dir)) => {
                if new {
                    self.large_dirs
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(dir);
                }
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Stores a tree unless present; returns its id.
    pub(crate) fn put_tree(&self, tree: &Tree) -> Result<ObjectId> {
        let raw = tree.encode();
        let id = ObjectId::compute(Kind::Tree, &raw);
        if self.missing(&id) {
            self.lock().add(id, encode_envelope(Kind::Tree, &raw))?;
        }
        Ok(id)
    }

    /// Writes the pack (or loose objects); returns the directories to sync before markers.
    pub(crate) fn finish(self) -> Result<Vec<PathBuf>> {
        let writer = self.writer.into_inner().unwrap_or_else(|e| e.into_inner());
        self.store.prepare_write()?;
        let mut dirs = writer.finish()?;
        self.store.note_new_pack()?;
        dirs.extend(
            self.large_dirs
                .into_inner()
                .unwrap_or_else(|e| e.into_inner()),
        );
        // The stat cache is only an optimisation: saved after the objects it names.
        if let Some(stat) = self.stat {
            stat.save();
        }
        Ok(dirs)
    }
}

impl Store {
    /// The files of the latest version of `key`, by path: delta bases for the next commit.
    fn delta_bases(&self, key: &ArtifactKey) -> HashMap<String, ObjectId> {
        let Ok(history) = self.history(key) else {
            return HashMap::new();
        };
        let Some(latest) = history.latest() else {
            return HashMap::new();
        };
        flatten(self, &latest.tree)
            // Only bases small enough for both sides of a delta to be held (see LARGE_FILE).
            .map(|files| {
                files
                    .into_iter()
                    .filter(|(_, m)| m.size < crate::store::LARGE_FILE)
                    .map(|(p, m)| (p, m.id))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Commits `snapshot` as artifact `key` for `run`.
    ///
    /// Content identical to any existing version links the run to that version; otherwise a new
    /// version is made. Needs no lock: concurrent commits of the same content make one version.
    pub fn commit(
        &self,
        key: &ArtifactKey,
        snapshot: &Snapshot,
        run: &RunRecord,
        opts: &CommitOptions,
    ) -> Result<CommitOutcome> {
        for a in &opts.aliases {
            validate_alias(a)?;
        }
        snapshot.check_conflicts()?;
        let stat = StatCache::load(self, snapshot.sources().iter().map(|s| s.path.as_str()));
        let staging = Staging::new(self, Some(key.clone()), Some(stat))
            .with_progress(opts.progress.clone(), snapshot.len());
        let files = snapshot.stage(Some(&staging))?;
        check_entries(&files)?;
        let tree = write_trees(&staging, &files)?;
        let mut publication = Publication::default();
        publication.objects_in(staging.finish()?);
        let digest = wandb_digest(files.iter().map(|(p, f)| (p.as_str(), f.md5)));
        let run_record = self.write_run_if_new(run, &mut publication)?;
        let lock = self.record_lock()?;
        let time_ns = now_ns();
        let record = CommitRecord {
            artifact_type: key.artifact_type.clone(),
            name: key.name.clone(),
            tree,
            digest,
            files: files.len() as u64,
            bytes: files.iter().map(|(_, f)| f.size).sum(),
            run: run.id.clone(),
            time_ns,
            host: host_name(),
            message: opts.message.clone(),
            description: opts.description.clone(),
            metadata: opts.metadata.clone(),
            sources: snapshot.sources().to_vec(),
            include: snapshot.filter().include().to_vec(),
            exclude: snapshot.filter().exclude().to_vec(),
        };
        let record_id = self.write_record(&record, &mut publication)?;
        let mut known = vec![(record_id, CachedRecord::Commit(Box::new(record)))];
        let mut alias_ids = Vec::new();
        for alias in &opts.aliases {
            let (id, rec) =
                self.write_alias_record(key, alias, tree, time_ns, &run.id, &mut publication)?;
            alias_ids.push(id);
            known.push((id, CachedRecord::Alias(rec)));
        }
        // The run's markers first, the artifact's last: the artifact's marker is the commit
        // point. A crash before it leaves a record only the run marks, which every view ignores
        // (fsck lists it as interrupted); after it, the commit is complete everywhere. A commit
        // reported done survives a power loss (`publish` flushes the marker directories).
        let run_dir = self.run_dir(&run.id);
        let artifact_dir = self.artifact_dir(&key.artifact_type, &key.name);
        if let Some(rid) = run_record {
            publication.mark(run_dir.clone(), rid);
        }
        publication.mark(run_dir, record_id);
        publication.mark(artifact_dir.clone(), record_id);
        for id in alias_ids {
            publication.mark(artifact_dir.clone(), id);
        }
        self.publish(publication)?;
        drop(lock);

        let history = self.history_with(key, known)?;
        let version = history.by_tree(&tree).and_then(|v| v.number);
        Ok(CommitOutcome {
            key: key.clone(),
            version,
            tree,
            new: history.made_version(&record_id),
            run: run.id.clone(),
            digest,
            record: record_id,
            files: files.len(),
        })
    }

    /// Points `alias` at the version `spec` selects. Returns the artifact's history (as it was
    /// before) and the index of the version in it.
    pub fn set_alias(&self, spec: &Spec, alias: &str) -> Result<(History, usize)> {
        validate_alias(alias)?;
        let (history, index) = self.resolve(spec)?;
        let tree = history.versions[index].tree;
        let mut publication = Publication::default();
        let _lock = self.record_lock()?;
        let (id, _) =
            self.write_alias_record(&history.key, alias, tree, now_ns(), "", &mut publication)?;
        publication.mark(
            self.artifact_dir(&history.key.artifact_type, &history.key.name),
            id,
        );
        self.publish(publication)?;
        Ok((history, index))
    }

    fn write_alias_record(
        &self,
        key: &ArtifactKey,
        alias: &str,
        tree: ObjectId,
        time_ns: i64,
        run: &str,
        publication: &mut Publication,
    ) -> Result<(ObjectId, AliasRecord)> {
        let record = AliasRecord {
            artifact_type: key.artifact_type.clone(),
            name: key.name.clone(),
            alias: alias.to_string(),
            tree,
            time_ns,
            run: run.to_string(),
        };
        let id = self.write_record(&record, publication)?;
        Ok((id, record))
    }
}

fn check_entries(files: &[crate::snapshot::ManifestEntry]) -> Result<()> {
    let mut dirs = std::collections::HashSet::new();
    for (path, _) in files {
        let mut p = path.as_str();
        while let Some((parent, _)) = p.rsplit_once('/') {
            if !dirs.insert(parent) {
                break;
            }
            p = parent;
        }
    }
    let entries = (files.len() + dirs.len()) as u64;
    if entries > crate::tree::MAX_ENTRIES {
        return Err(crate::error::Error::TooManyEntries {
            entries,
            limit: crate::tree::MAX_ENTRIES,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::FileMeta;

    fn entry(path: String) -> crate::snapshot::ManifestEntry {
        let meta = FileMeta {
            id: ObjectId::compute(Kind::Blob, b""),
            size: 0,
            md5: Md5::of(b""),
            executable: false,
        };
        (path, meta)
    }

    #[test]
    fn snapshots_are_counted_with_their_directories_against_the_limit() {
        let n = crate::tree::MAX_ENTRIES as usize;
        // n - 2 files in one directory: n - 1 entries with it, accepted.
        let ok: Vec<_> = (0..n - 2).map(|i| entry(format!("d/f{i}"))).collect();
        assert!(check_entries(&ok).is_ok());
        // One more file and one more directory: n + 1 entries, refused.
        let mut over = ok;
        over.push(entry("e/g".into()));
        let e = check_entries(&over).unwrap_err();
        assert!(
            matches!(e, crate::error::Error::TooManyEntries { entries, .. } if entries == crate::tree::MAX_ENTRIES + 1),
            "{e}"
        );
    }
}
