//! `codever._native`: the Python extension. Conversions only — every operation is a call into the
//! `codever` crate; rich results cross as JSON text (the same shapes as the CLI's `--json`), which
//! the pure-Python layer in `codever/__init__.py` turns into objects.

use std::path::{Path, PathBuf};

use codever::diff::DiffOptions;
use codever::{
    ArtifactKey, CommitOptions, Error, History, RunCapture, Snapshot, Spec, Store, render,
};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use serde_json::{Value, json};

create_exception!(
    codever,
    CodeverError,
    PyException,
    "A codever operation failed."
);
create_exception!(
    codever,
    NotFoundError,
    CodeverError,
    "No such store, artifact, version, file or run."
);
create_exception!(
    codever,
    InvalidInputError,
    CodeverError,
    "A name, path, spec or source is not valid."
);
create_exception!(
    codever,
    NotYetSyncedError,
    CodeverError,
    "Objects have not arrived in this store yet."
);
create_exception!(
    codever,
    CorruptStoreError,
    CodeverError,
    "An object failed verification."
);
create_exception!(
    codever,
    IncompleteArtifactError,
    CodeverError,
    "A version number, `latest` or an alias was asked of an artifact some of whose records cannot \
     be read (corrupt or not yet synced); name the version by id instead."
);

/// The CLI's message (and hint) as the matching Python exception.
fn py_err(e: Error) -> PyErr {
    let msg = match e.hint() {
        Some(h) => format!("{e} (hint: {h})"),
        None => e.to_string(),
    };
    match e {
        Error::NoStore { .. }
        | Error::SourceNotFound { .. }
        | Error::UnknownArtifact { .. }
        | Error::VersionOutOfRange { .. }
        | Error::UnknownAlias { .. }
        | Error::UnknownIdPrefix { .. }
        | Error::NoSuchFile { .. }
        | Error::NoSuchFileById { .. }
        | Error::UnknownRun { .. }
        | Error::NoVersions { .. } => NotFoundError::new_err(msg),
        Error::InvalidName { .. }
        | Error::InvalidPath { .. }
        | Error::InvalidSpec { .. }
        | Error::InvalidGlob { .. }
        | Error::AmbiguousName { .. }
        | Error::AmbiguousIdPrefix { .. }
        | Error::DuplicatePath { .. }
        | Error::PathConflict { .. }
        | Error::UnsupportedSource { .. } => InvalidInputError::new_err(msg),
        Error::MissingObject { .. } => NotYetSyncedError::new_err(msg),
        Error::CorruptObject { .. } => CorruptStoreError::new_err(msg),
        Error::IncompleteArtifact { .. } => IncompleteArtifactError::new_err(msg),
        _ => CodeverError::new_err(msg),
    }
}

type R<T> = Result<T, Error>;

fn open(store: &str) -> R<Store> {
    Store::open(Path::new(store))
}

fn cwd() -> R<PathBuf> {
    std::env::current_dir().map_err(|e| Error::Io {
        action: "cannot read the working directory",
        path: PathBuf::from("."),
        source: e,
    })
}

/// Files of an artifact being built: (display path, local path or None, bytes or None,
/// executable) and directories: (local path, prefix or None).
type Entries = Vec<(String, Option<String>, Option<Vec<u8>>, bool)>;
type Dirs = Vec<(String, Option<String>)>;

fn snapshot(entries: &Entries, dirs: &Dirs) -> R<Snapshot> {
    let mut s = Snapshot::default();
    for (display, path, bytes, exe) in entries {
        match (path, bytes) {
            (Some(p), _) => s.add_file(Path::new(p), Some(display))?,
            (None, Some(b)) => s.add_bytes(display, b.clone(), *exe)?,
            (None, None) => s.add_bytes(display, Vec::new(), *exe)?,
        }
    }
    for (path, prefix) in dirs {
        s.add_dir(Path::new(path), prefix.as_deref())?;
    }
    s.check_conflicts()?;
    Ok(s)
}

fn time_json(ns: i64) -> String {
    jiff::Timestamp::from_nanosecond(i128::from(ns))
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .to_string()
}

fn version_json(store: &Store, h: &History, i: usize, with_files: bool) -> R<Value> {
    let v = &h.versions[i];
    let mut aliases: Vec<String> = Vec::new();
    if h.latest == Some(i) {
        aliases.push("latest".into());
    }
    aliases.extend(v.aliases.iter().cloned());
    let mut out = json!({
        "type": h.key.artifact_type,
        "name": h.key.name,
        "version": v.number,
        "id": v.tree.to_hex(),
        "digest": v.digest.to_hex(),
        "created": time_json(v.created_ns()),
        "runs": v.runs(),
        "aliases": aliases,
        "description": v.first().record.description,
        "metadata": v.first().record.metadata,
        "complete": h.is_complete(),
        "problems": h.problems().iter().map(|p| json!({
            "id": p.id.to_hex(), "missing": p.missing, "reason": p.reason,
        })).collect::<Vec<_>>(),
    });
    if with_files {
        let files = codever::flatten(store, &v.tree)?;
        out["files"] = Value::Array(
            files
                .iter()
                .map(|codever::ManifestEntry { path: p, meta: m }| {
                    json!({"path": p, "size": m.size, "md5": m.md5.to_base64(),
                           "blake3": m.id.to_hex(), "executable": m.executable})
                })
                .collect(),
        );
    }
    Ok(out)
}

/// Finds the store (explicit dir, CODEVER_DIR, walking up) or creates one at the enclosing git
/// repository's root, else in the working directory. Returns (store root, created).
#[pyfunction]
#[pyo3(signature = (dir=None, create=true))]
fn locate_store(dir: Option<String>, create: bool) -> PyResult<(String, bool)> {
    let cwd = cwd().map_err(py_err)?;
    let explicit = dir.as_deref().map(Path::new);
    let (s, created) = if create {
        Store::locate_or_create(explicit, &cwd)
    } else {
        Store::locate(explicit, &cwd).map(|s| (s, false))
    }
    .map_err(py_err)?;
    Ok((s.root().to_string_lossy().into_owned(), created))
}

/// Records a run that starts now. Returns the run id (a fresh one when `run_id` is None).
#[pyfunction]
#[pyo3(signature = (store, run_id, project, config_json, notes, tags))]
fn start_run(
    store: &str,
    run_id: Option<String>,
    project: String,
    config_json: String,
    notes: String,
    tags: Vec<String>,
) -> PyResult<String> {
    (|| {
        let s = open(store)?;
        let id = run_id.unwrap_or_else(codever::new_run_id);
        let mut run = RunCapture::start(&id, &cwd()?, !s.has_run(&id))?.finish();
        run.project = project;
        run.config = config_json;
        run.notes = notes;
        run.tags = tags;
        s.start_run(&run)?;
        Ok(id)
    })()
    .map_err(py_err)
}

/// The manifest and W&B digest files would have: JSON `{"digest", "files": [...]}`.
#[pyfunction]
fn manifest(py: Python<'_>, entries: Entries, dirs: Dirs) -> PyResult<String> {
    py.detach(|| {
        let s = snapshot(&entries, &dirs)?;
        let m = s.manifest()?;
        let digest = codever::wandb_digest(m.iter().map(|e| (e.path.as_str(), e.meta.md5)));
        Ok(json!({
            "digest": digest.to_hex(),
            "files": m.iter().map(|codever::ManifestEntry { path: p, meta: f }| json!({"path": p, "size": f.size,
                "md5": f.md5.to_base64(), "blake3": f.id.to_hex(), "executable": f.executable}))
                .collect::<Vec<_>>(),
        })
        .to_string())
    })
    .map_err(py_err)
}

/// Commits files as (type, name) for `run_id`. JSON like the CLI's `commit --json`.
#[pyfunction]
#[pyo3(signature = (store, artifact_type, name, run_id, entries, dirs, aliases, description, metadata_json))]
#[allow(clippy::too_many_arguments)]
fn commit(
    py: Python<'_>,
    store: &str,
    artifact_type: &str,
    name: &str,
    run_id: &str,
    entries: Entries,
    dirs: Dirs,
    aliases: Vec<String>,
    description: String,
    metadata_json: String,
) -> PyResult<String> {
    py.detach(|| {
        let s = open(store)?;
        let key = ArtifactKey::new(artifact_type, name)?;
        let snap = snapshot(&entries, &dirs)?;
        let run = RunCapture::start(run_id, &cwd()?, !s.has_run(run_id))?.finish();
        let opts = CommitOptions {
            aliases,
            description,
            metadata: metadata_json,
            ..CommitOptions::default()
        };
        let o = s.commit(&key, &snap, &run, &opts)?;
        Ok(
            json!({"type": o.key.artifact_type, "name": o.key.name, "version": o.version,
                  "id": o.tree.to_hex(), "new": o.new, "run": o.run, "digest": o.digest.to_hex()})
            .to_string(),
        )
    })
    .map_err(py_err)
}

/// One version and its files, as JSON.
#[pyfunction]
fn resolve(store: &str, spec: &str) -> PyResult<String> {
    (|| {
        let s = open(store)?;
        let (h, i) = s.resolve(&Spec::parse(spec)?)?;
        Ok(version_json(&s, &h, i, true)?.to_string())
    })()
    .map_err(py_err)
}

/// Resolves `spec`, records that run `run_id` used it, and returns the version (with files) as
/// JSON.
#[pyfunction]
fn use_artifact(store: &str, run_id: &str, spec: &str) -> PyResult<String> {
    (|| {
        let s = open(store)?;
        let (h, i) = s.resolve(&Spec::parse(spec)?)?;
        s.record_use(run_id, &h.key, h.versions[i].tree)?;
        Ok(version_json(&s, &h, i, true)?.to_string())
    })()
    .map_err(py_err)
}

/// Every version of an artifact, oldest first, as JSON.
#[pyfunction]
fn versions(store: &str, spec: &str) -> PyResult<String> {
    (|| {
        let s = open(store)?;
        let sp = Spec::parse(spec)?;
        let key = s.resolve_key(sp.artifact_type.as_deref(), &sp.name)?;
        let h = s.history(&key)?;
        let all = (0..h.versions.len())
            .map(|i| version_json(&s, &h, i, false))
            .collect::<R<Vec<_>>>()?;
        Ok(Value::Array(all).to_string())
    })()
    .map_err(py_err)
}

/// The bytes of one file of a version.
#[pyfunction]
fn read_file(store: &str, spec: &str, path: &str) -> PyResult<Vec<u8>> {
    (|| {
        let s = open(store)?;
        let (h, i) = s.resolve(&Spec::parse(spec)?)?;
        let wanted = codever::names::normalize_path(path)?;
        let files = codever::flatten(&s, &h.versions[i].tree)?;
        let m = &files
            .iter()
            .find(|e| e.path == wanted)
            .ok_or_else(|| {
                let v = &h.versions[i];
                Error::no_such_file(h.key.to_string(), v.number, v.tree, wanted.clone())
            })?
            .meta;
        s.read_blob(&m.id)
    })()
    .map_err(py_err)
}

/// Writes a version's files into `into`; returns the paths written.
#[pyfunction]
fn checkout(
    py: Python<'_>,
    store: &str,
    spec: &str,
    into: &str,
    force: bool,
) -> PyResult<Vec<String>> {
    py.detach(|| {
        let s = open(store)?;
        let (h, i) = s.resolve(&Spec::parse(spec)?)?;
        Ok(s.checkout(&h.versions[i].tree, Path::new(into), force)?
            .written)
    })
    .map_err(py_err)
}

/// The paths under `root` that differ from the version (empty: `root` holds exactly it).
#[pyfunction]
fn verify(py: Python<'_>, store: &str, spec: &str, root: &str) -> PyResult<Vec<String>> {
    py.detach(|| {
        let s = open(store)?;
        let (h, i) = s.resolve(&Spec::parse(spec)?)?;
        let d = s.verify_dir(h.versions[i].tree, Path::new(root))?;
        Ok(d.files.iter().map(|f| f.path().to_string()).collect())
    })
    .map_err(py_err)
}

/// Compares two versions: (JSON like `diff --json`, the patch `codever diff` prints).
#[pyfunction]
#[pyo3(signature = (store, left, right, context=3))]
fn diff(
    py: Python<'_>,
    store: &str,
    left: &str,
    right: &str,
    context: usize,
) -> PyResult<(String, Vec<u8>)> {
    py.detach(|| {
        let s = open(store)?;
        let (lh, li) = s.resolve(&Spec::parse(left)?)?;
        let (rh, ri) = s.resolve(&Spec::parse(right)?)?;
        let opts = DiffOptions {
            context,
            ..DiffOptions::default()
        };
        let d = s.diff_versions(lh.versions[li].tree, rh.versions[ri].tree, &opts)?;
        Ok((render::diff_json(&d).to_string(), render::patch(&d, false)))
    })
    .map_err(py_err)
}

/// Every line of a file with the version and run that introduced it, as JSON.
#[pyfunction]
fn blame(store: &str, spec: &str, path: &str) -> PyResult<String> {
    (|| {
        let s = open(store)?;
        let (h, i) = s.resolve(&Spec::parse(spec)?)?;
        let lines = s.blame(&h, i, path)?;
        Ok(Value::Array(
            lines
                .iter()
                .map(|l| {
                    let v = &h.versions[l.version];
                    json!({"line": l.line, "version": v.number, "id": v.tree.to_hex(),
                           "run": v.first().record.run,
                           "text": String::from_utf8_lossy(l.text.strip_suffix(b"\n").unwrap_or(&l.text))})
                })
                .collect(),
        )
        .to_string())
    })()
    .map_err(py_err)
}

/// The files a code capture considers under `root` (gitignore honoured, no virtualenvs).
#[pyfunction]
fn code_files(root: &str) -> PyResult<Vec<String>> {
    codever::code_files(Path::new(root)).map_err(py_err)
}

/// The extension module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("CodeverError", py.get_type::<CodeverError>())?;
    m.add("NotFoundError", py.get_type::<NotFoundError>())?;
    m.add("InvalidInputError", py.get_type::<InvalidInputError>())?;
    m.add("NotYetSyncedError", py.get_type::<NotYetSyncedError>())?;
    m.add("CorruptStoreError", py.get_type::<CorruptStoreError>())?;
    m.add(
        "IncompleteArtifactError",
        py.get_type::<IncompleteArtifactError>(),
    )?;
    m.add_function(wrap_pyfunction!(locate_store, m)?)?;
    m.add_function(wrap_pyfunction!(start_run, m)?)?;
    m.add_function(wrap_pyfunction!(manifest, m)?)?;
    m.add_function(wrap_pyfunction!(commit, m)?)?;
    m.add_function(wrap_pyfunction!(resolve, m)?)?;
    m.add_function(wrap_pyfunction!(use_artifact, m)?)?;
    m.add_function(wrap_pyfunction!(versions, m)?)?;
    m.add_function(wrap_pyfunction!(read_file, m)?)?;
    m.add_function(wrap_pyfunction!(checkout, m)?)?;
    m.add_function(wrap_pyfunction!(verify, m)?)?;
    m.add_function(wrap_pyfunction!(diff, m)?)?;
    m.add_function(wrap_pyfunction!(blame, m)?)?;
    m.add_function(wrap_pyfunction!(code_files, m)?)?;
    Ok(())
}
