//! Building store contents with the library, as a store synced from another (possibly hostile or
//! crashed) machine could hold them: records and markers written directly.

use std::fs;
use std::path::{Path, PathBuf};

use codever::object::{CommitRecord, Kind, RunRecord};
use codever::{FileMeta, Md5, ObjectId, Store, wandb_digest};

/// The metadata a tree holds for `content` stored as blob `id` (written to the store).
pub fn blob(store: &Store, content: &[u8]) -> FileMeta {
    let (id, _) = store.write_object(Kind::Blob, content).unwrap();
    FileMeta {
        id,
        size: content.len() as u64,
        md5: Md5::of(content),
        executable: false,
    }
}

/// Writes a run record and a commit record of `ty/name` by `run` with root `tree`, holding
/// `files`, at `time_ns`; marks them as a commit does (the run record and the commit record under
/// `runs/<run>/`, the commit record under `refs/<ty>/<name>/`). Returns the commit record's id.
pub fn commit(
    store: &Store,
    (ty, name, run): (&str, &str, &str),
    tree: ObjectId,
    files: &[(&str, FileMeta)],
    time_ns: i64,
) -> ObjectId {
    let run_record = RunRecord {
        id: run.into(),
        time_ns,
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
    let record = CommitRecord {
        artifact_type: ty.into(),
        name: name.into(),
        tree,
        digest: wandb_digest(files.iter().map(|(p, m)| (*p, m.md5))),
        files: files.len() as u64,
        bytes: files.iter().map(|(_, m)| m.size).sum(),
        run: run.into(),
        time_ns,
        host: "h".into(),
        message: String::new(),
        description: String::new(),
        metadata: String::new(),
        sources: Vec::new(),
        include: Vec::new(),
        exclude: Vec::new(),
    };
    let (run_id, _) = store.write_structured(&run_record).unwrap();
    let (record_id, _) = store.write_structured(&record).unwrap();
    let root = store.root();
    mark(&root.join("runs").join(run), &run_id);
    mark(&root.join("runs").join(run), &record_id);
    mark(&root.join("refs").join(ty).join(name), &record_id);
    record_id
}

/// Creates the empty marker file `dir/<id>`.
pub fn mark(dir: &Path, id: &ObjectId) {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join(id.to_hex()), b"").unwrap();
}

/// Where a loose object is (or would be) stored.
pub fn object_path(store: &Path, id: &ObjectId) -> PathBuf {
    let hex = id.to_hex();
    store.join("objects").join(&hex[..2]).join(&hex[2..])
}
