//! Committing a snapshot as a version of an artifact, and setting aliases.
//!
//! Write order (as restic's): blobs, trees and the run record first, then the commit record, then
//! a flush of the directories that received them, and only then the markers that make the commit
//! visible. A crash at any point leaves either an invisible commit (unreferenced objects) or a
//! complete one.

use crate::capture::snapshot::Snapshot;
pub use crate::capture::staging::Progress;
use crate::capture::staging::Staging;
use crate::capture::statcache::StatCache;
use crate::capture::{host_name, now_ns};
use crate::error::Result;
use crate::history::CachedRecord;
use crate::history::{Resolved, Spec};
use crate::id::{Md5, ObjectId, wandb_digest};
use crate::key::ArtifactKey;
use crate::names::{validate_alias, validate_tag};
use crate::object::{AliasRecord, CommitRecord, RunRecord};
use crate::store::Store;
use crate::store::markers::Publication;
use crate::tree::ManifestEntry;

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
    /// Tags of the version (W&B's `log_artifact(tags=)`), kept in the commit record.
    pub tags: Vec<String>,
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
    /// How many of them were read from disk; the others were unchanged since an earlier commit
    /// read them and were trusted from the stat cache (files given as bytes are not counted).
    pub files_read: usize,
    /// The name the commit was asked for, when it is a former name of the artifact (`key` is
    /// its name now): the commit joined the renamed artifact, as a commit made under the old
    /// name elsewhere does once the stores are merged.
    pub renamed_from: Option<ArtifactKey>,
    /// True when the version, or the whole artifact, was forgotten and this commit brought it
    /// back (logging it is a new statement that it is in use).
    pub revived: bool,
}

impl Store {
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
        for t in &opts.tags {
            validate_tag(t)?;
        }
        snapshot.check_conflicts()?;
        let roots = snapshot.cache_roots();
        let stat = StatCache::load(self, roots.iter().map(|r| r.real.as_str()));
        let staging = Staging::new(self, Some(key.clone()), Some(stat))
            .with_progress(opts.progress.clone(), snapshot.len());
        let files = snapshot.stage(Some(&staging))?;
        check_entries(&files)?;
        let tree = staging.write_trees(&files)?;
        let mut publication = Publication::default();
        let files_read = staging.files_read();
        publication.objects_in(staging.finish()?);
        let digest = wandb_digest(files.iter().map(|e| (e.path.as_str(), e.meta.md5)));
        let run_record = self.write_run_if_new(run, &mut publication)?;
        let lock = self.record_lock()?;
        let time_ns = now_ns();
        let record = CommitRecord {
            artifact_type: key.artifact_type.clone(),
            name: key.name.clone(),
            tree,
            digest,
            files: files.len() as u64,
            bytes: files.iter().map(|e| e.meta.size).sum(),
            run: run.id.clone(),
            time_ns,
            host: host_name(),
            message: opts.message.clone(),
            description: opts.description.clone(),
            metadata: opts.metadata.clone(),
            sources: snapshot.sources().to_vec(),
            include: snapshot.filter().include().to_vec(),
            exclude: snapshot.filter().exclude().to_vec(),
            tags: opts.tags.clone(),
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
        self.remember_last_tree(key, &tree);

        let history = self.history_with(key, known)?;
        let version = history.by_tree(&tree).and_then(|v| v.number);
        Ok(CommitOutcome {
            key: history.key.clone(),
            renamed_from: (&history.key != key).then(|| key.clone()),
            revived: history.hidden_before(&tree, (time_ns, record_id)),
            version,
            tree,
            new: history.made_version(&record_id),
            run: run.id.clone(),
            digest,
            record: record_id,
            files: files.len(),
            files_read,
        })
    }

    /// Points `alias` at the version `spec` selects. Returns the artifact's history (as it was
    /// before) and the selected version.
    pub fn set_alias(&self, spec: &Spec, alias: &str) -> Result<Resolved> {
        validate_alias(alias)?;
        let Resolved { history, index } = self.resolve(spec)?;
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
        Ok(Resolved { history, index })
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

fn check_entries(files: &[ManifestEntry]) -> Result<()> {
    let mut dirs = std::collections::HashSet::new();
    for ManifestEntry { path, .. } in files {
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
    use crate::object::Kind;

    fn entry(path: String) -> ManifestEntry {
        let meta = FileMeta {
            id: ObjectId::compute(Kind::Blob, b""),
            size: 0,
            md5: Md5::of(b""),
            executable: false,
        };
        ManifestEntry { path, meta }
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
