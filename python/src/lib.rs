//! `codever._native`: the Python extension. Conversions only — every operation is a call into the
//! `codever` crate; rich results cross as JSON text built from the rows of `codever::view`, the
//! very shapes of the CLI's `--json`, which the pure-Python layer in `codever/__init__.py` turns
//! into objects.

use std::path::Path;

use codever::diff::DiffOptions;
use codever::{
    ArtifactKey, CommitOptions, Error, ForgetTarget, Remedy, RunCapture, Snapshot, Spec, Store,
    render,
};
use codever::{frontend, view};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

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

/// The error's hint, options named as Python spells them (`force=True`, `dir=`, `name=`); the
/// library's own words for every other hint.
fn hint(e: &Error) -> Option<String> {
    let python = match e.remedy() {
        Some(Remedy::Force) => {
            "pass force=True to overwrite them, or download into another directory"
        }
        Some(Remedy::NameStore) => {
            "call codever.init() in your project, or pass dir=PATH / set CODEVER_DIR"
        }
        Some(Remedy::PointAtStore) => {
            "point dir= or CODEVER_DIR at a `.codever` directory made by codever.init()"
        }
        Some(Remedy::DisplayPath) => {
            "check the path; pass name= to store a file under another name"
        }
        Some(Remedy::OtherDisplayPath) => "give one of the files another name with name=",
        _ => return e.hint(),
    };
    Some(python.to_string())
}

/// The library's message, with a hint in Python's terms, as the matching Python exception.
fn py_err(e: Error) -> PyErr {
    let msg = match hint(&e) {
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
        | Error::NoVersions { .. }
        | Error::NoCommit { .. }
        | Error::ForgottenVersion { .. }
        | Error::AllVersionsForgotten { .. }
        | Error::ForgottenArtifact { .. }
        | Error::Renamed { .. } => NotFoundError::new_err(msg),
        Error::InvalidName { .. }
        | Error::ReservedAlias { .. }
        | Error::InvalidPath { .. }
        | Error::InvalidSpec { .. }
        | Error::InvalidGlob { .. }
        | Error::AmbiguousName { .. }
        | Error::AmbiguousIdPrefix { .. }
        | Error::DuplicatePath { .. }
        | Error::PathConflict { .. }
        | Error::UnsupportedSource { .. }
        | Error::VersionNotNamed { .. }
        | Error::RenameTargetExists { .. }
        | Error::RenameTargetIsFormerName { .. }
        | Error::RenameToItself { .. } => InvalidInputError::new_err(msg),
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

/// A row of `codever::view` as JSON text. Rows hold only strings, numbers, booleans and JSON
/// values (paths are made strings), so this does not fail in practice.
fn to_json(row: &impl serde::Serialize) -> R<String> {
    serde_json::to_string(row).map_err(|e| Error::Io {
        action: "cannot encode",
        path: "the result as JSON".into(),
        source: e.into(),
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

/// Version `index` of `h` with its files, as Python's `Artifact` reads it: `show --json` plus
/// the description and metadata.
fn version_json(store: &Store, h: &codever::History, index: usize) -> R<String> {
    let v = &h.versions[index];
    let files = codever::flatten(store, &v.tree)?;
    let rows = files
        .iter()
        .map(|e| view::FileRow::new(&e.path, &e.meta))
        .collect();
    to_json(&view::VersionDetail::new(h, v, rows))
}

/// Finds the store (explicit dir, CODEVER_DIR, walking up) or creates one at the enclosing git
/// repository's root, else in the working directory. Returns (store root, created).
#[pyfunction]
#[pyo3(signature = (dir=None, create=true))]
fn locate_store(dir: Option<String>, create: bool) -> PyResult<(String, bool)> {
    let cwd = frontend::working_dir().map_err(py_err)?;
    let explicit = dir.as_deref().map(Path::new);
    let (s, created) = if create {
        Store::locate_or_create(explicit, &cwd)
    } else {
        Store::locate(explicit, &cwd).map(|s| (s, false))
    }
    .map_err(py_err)?;
    Ok((s.root().to_string_lossy().into_owned(), created))
}

/// Records a run that starts now. Returns the run id: `run_id`, else `$CODEVER_RUN_ID`, else a
/// fresh one (as the CLI's `commit --run`).
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
        let id = frontend::run_id(run_id);
        let mut run = RunCapture::start(&id, &frontend::working_dir()?, !s.has_run(&id))?.finish();
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
        let files = m
            .iter()
            .map(|e| view::FileRow::new(&e.path, &e.meta))
            .collect();
        to_json(&view::ManifestRow::new(digest, files))
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
        let run =
            RunCapture::start(run_id, &frontend::working_dir()?, !s.has_run(run_id))?.finish();
        let opts = CommitOptions {
            aliases,
            description,
            metadata: metadata_json,
            ..CommitOptions::default()
        };
        let o = s.commit(&key, &snap, &run, &opts)?;
        to_json(&view::CommitRow::new(&o))
    })
    .map_err(py_err)
}

/// One version and its files, as JSON (`show --json` plus description and metadata).
#[pyfunction]
fn resolve(store: &str, spec: &str) -> PyResult<String> {
    (|| {
        let s = open(store)?;
        let codever::Resolved {
            history: h,
            index: i,
        } = s.resolve(&Spec::parse(spec)?)?;
        version_json(&s, &h, i)
    })()
    .map_err(py_err)
}

/// Resolves `spec`, records that run `run_id` used it, and returns the version (with files) as
/// JSON.
#[pyfunction]
fn use_artifact(store: &str, run_id: &str, spec: &str) -> PyResult<String> {
    (|| {
        let s = open(store)?;
        let codever::Resolved {
            history: h,
            index: i,
        } = s.resolve(&Spec::parse(spec)?)?;
        s.record_use(run_id, &h.key, h.versions[i].tree)?;
        version_json(&s, &h, i)
    })()
    .map_err(py_err)
}

/// Every version of an artifact, oldest first, as JSON (the rows of `versions --json`).
#[pyfunction]
fn versions(store: &str, spec: &str) -> PyResult<String> {
    (|| {
        let s = open(store)?;
        let sp = Spec::parse(spec)?;
        let h = s.resolve_artifact(sp.artifact_type.as_deref(), &sp.name)?;
        to_json(&view::VersionList::new(&h))
    })()
    .map_err(py_err)
}

/// The bytes of one file of a version.
#[pyfunction]
fn read_file(store: &str, spec: &str, path: &str) -> PyResult<Vec<u8>> {
    (|| {
        let s = open(store)?;
        let codever::Resolved {
            history: h,
            index: i,
        } = s.resolve(&Spec::parse(spec)?)?;
        let meta = frontend::find_file(&s, &h, i, path)?;
        s.read_blob(&meta.id)
    })()
    .map_err(py_err)
}

/// Writes a version's files into `into`; JSON like `checkout --json`.
#[pyfunction]
fn checkout(py: Python<'_>, store: &str, spec: &str, into: &str, force: bool) -> PyResult<String> {
    py.detach(|| {
        let s = open(store)?;
        let codever::Resolved {
            history: h,
            index: i,
        } = s.resolve(&Spec::parse(spec)?)?;
        let v = &h.versions[i];
        let report = s.checkout(&v.tree, Path::new(into), force)?;
        to_json(&view::CheckoutRow::new(&h.key, v, Path::new(into), &report))
    })
    .map_err(py_err)
}

/// The paths under `root` that differ from the version (empty: `root` holds exactly it).
#[pyfunction]
fn verify(py: Python<'_>, store: &str, spec: &str, root: &str) -> PyResult<Vec<String>> {
    py.detach(|| {
        let s = open(store)?;
        let codever::Resolved {
            history: h,
            index: i,
        } = s.resolve(&Spec::parse(spec)?)?;
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
        let codever::Resolved {
            history: lh,
            index: li,
        } = s.resolve(&Spec::parse(left)?)?;
        let codever::Resolved {
            history: rh,
            index: ri,
        } = s.resolve(&Spec::parse(right)?)?;
        let opts = DiffOptions {
            context,
            ..DiffOptions::default()
        };
        let d = s.diff_versions(lh.versions[li].tree, rh.versions[ri].tree, &opts)?;
        Ok((render::diff_json(&d).to_string(), render::patch(&d, false)))
    })
    .map_err(py_err)
}

/// Every line of a file with the version and run that introduced it: JSON like
/// `blame --json`.
#[pyfunction]
fn blame(store: &str, spec: &str, path: &str) -> PyResult<String> {
    (|| {
        let s = open(store)?;
        let codever::Resolved {
            history: h,
            index: i,
        } = s.resolve(&Spec::parse(spec)?)?;
        let lines = s.blame(&h, i, path)?;
        let path = codever::names::normalize_path(path)?;
        to_json(&view::BlameRow::new(&h, i, &path, &lines))
    })()
    .map_err(py_err)
}

/// Forgets (`forgotten`) or lists again the version `spec` names (W&B's `Artifact.delete()`):
/// JSON like `forget --json`. Nothing is deleted; the version's id keeps naming it.
#[pyfunction]
fn set_forgotten(store: &str, spec: &str, forgotten: bool) -> PyResult<String> {
    (|| {
        let s = open(store)?;
        let target = ForgetTarget::parse(spec, false, forgotten)?;
        let o = s.set_forgotten(&target, forgotten)?;
        to_json(&view::ForgetRow::new(&o))
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
    m.add_function(wrap_pyfunction!(set_forgotten, m)?)?;
    m.add_function(wrap_pyfunction!(code_files, m)?)?;
    Ok(())
}
