//! Committing a snapshot as a version of an artifact, and setting aliases.
//!
//! Write order (as restic's): blobs, trees and the run record first, then the commit record, then
//! a flush of the directories that received them, and only then the markers that make the commit
//! visible. A crash at any point leaves either an invisible commit (unreferenced objects) or a
//! complete one.

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::cache::CachedRecord;
use crate::error::Result;
use crate::history::{ArtifactKey, Spec};
use crate::id::{Md5, ObjectId, wandb_digest};
use crate::names::validate_alias;
use crate::object::{AliasRecord, CommitRecord, RunRecord};
use crate::run::{host_name, now_ns};
use crate::snapshot::Snapshot;
use crate::store::Store;
use crate::tree::write_trees;

/// Optional parts of a commit.
#[derive(Clone, Debug, Default)]
pub struct CommitOptions {
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
    /// Version number the content has now.
    pub version: usize,
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
        let (files, mut new_dirs) = snapshot.stage(Some(self))?;
        let tree = write_trees(self, &files, &mut new_dirs)?;
        let digest = wandb_digest(files.iter().map(|(p, f)| (p.as_str(), f.md5)));
        let run_record = self.write_run_if_new(run, &mut new_dirs)?;
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
        let (record_id, new) = self.write_structured(&record)?;
        if new {
            push_parent(self, &record_id, &mut new_dirs);
        }
        let mut known = vec![(record_id, CachedRecord::Commit(record))];
        let mut alias_ids = Vec::new();
        for alias in &opts.aliases {
            let (id, rec) =
                self.write_alias_record(key, alias, tree, time_ns, &run.id, &mut new_dirs)?;
            alias_ids.push(id);
            known.push((id, CachedRecord::Alias(rec)));
        }
        self.sync_dirs(&new_dirs.into_iter().collect::<BTreeSet<_>>())?;

        let run_dir = self.run_dir(&run.id);
        if let Some(rid) = run_record {
            self.add_marker(&run_dir, &rid)?;
        }
        let artifact_dir = self.artifact_dir(&key.artifact_type, &key.name);
        self.add_marker(&artifact_dir, &record_id)?;
        self.add_marker(&run_dir, &record_id)?;
        for id in alias_ids {
            self.add_marker(&artifact_dir, &id)?;
        }

        let history = self.history_with(key, known)?;
        let version = history.by_tree(&tree).map(|v| v.number).unwrap_or_default();
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

    /// Points `alias` at the version `spec` selects. Returns the artifact and version number.
    pub fn set_alias(&self, spec: &Spec, alias: &str) -> Result<(ArtifactKey, usize)> {
        validate_alias(alias)?;
        let (history, index) = self.resolve(spec)?;
        let tree = history.versions[index].tree;
        let mut dirs = Vec::new();
        let (id, _) =
            self.write_alias_record(&history.key, alias, tree, now_ns(), "", &mut dirs)?;
        self.sync_dirs(&dirs.into_iter().collect())?;
        self.add_marker(
            &self.artifact_dir(&history.key.artifact_type, &history.key.name),
            &id,
        )?;
        Ok((history.key, index))
    }

    fn write_alias_record(
        &self,
        key: &ArtifactKey,
        alias: &str,
        tree: ObjectId,
        time_ns: i64,
        run: &str,
        new_dirs: &mut Vec<PathBuf>,
    ) -> Result<(ObjectId, AliasRecord)> {
        let record = AliasRecord {
            artifact_type: key.artifact_type.clone(),
            name: key.name.clone(),
            alias: alias.to_string(),
            tree,
            time_ns,
            run: run.to_string(),
        };
        let (id, new) = self.write_structured(&record)?;
        if new {
            push_parent(self, &id, new_dirs);
        }
        Ok((id, record))
    }
}

fn push_parent(store: &Store, id: &ObjectId, dirs: &mut Vec<PathBuf>) {
    if let Some(p) = store.object_path(id).parent() {
        dirs.push(p.to_path_buf());
    }
}
