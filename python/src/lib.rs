//! `codever._native`: the Python extension. Conversions only — every operation is a call into the
//! `codever` crate; rich results cross as JSON text built from the rows of `codever::view`, the
//! very shapes of the CLI's `--json`, which the pure-Python layer in `codever/__init__.py` turns
//! into objects.

use std::path::Path;

use codever::diff::{Algorithm, DiffOptions};
use codever::{
    ArtifactKey, CommitOptions, Error, ForgetTarget, Remedy, RunCapture, Snapshot, Spec, Store,
    render,
};
use codever::{frontend, view};
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};

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

static INVALID_INPUT: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// `InvalidInputError`: a `CodeverError` that is also a `ValueError`, since W&B raises
/// `ValueError` for an invalid name, path or argument (`except ValueError` keeps working).
fn invalid_input_type(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    INVALID_INPUT
        .get_or_try_init(py, || {
            let bases = PyTuple::new(
                py,
                [
                    py.get_type::<CodeverError>().into_any(),
                    py.get_type::<PyValueError>().into_any(),
                ],
            )?;
            let dict = PyDict::new(py);
            dict.set_item(
                "__doc__",
                "A name, path, spec or source is not valid (also a ValueError, as in W&B).",
            )?;
            dict.set_item("__module__", "codever")?;
            let made = py.import("builtins")?.getattr("type")?.call1((
                "InvalidInputError",
                bases,
                dict,
            ))?;
            Ok(made.cast_into::<PyType>()?.unbind())
        })
        .map(|t| t.bind(py))
}

/// An `InvalidInputError` carrying `msg`.
fn invalid_input(msg: String) -> PyErr {
    Python::attach(|py| match invalid_input_type(py) {
        Ok(t) => PyErr::from_type(t.clone(), msg),
        Err(e) => e,
    })
}

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
        | Error::UnknownMetric { .. }
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
        | Error::TypeMismatch { .. }
        | Error::TwoRunsNeeded { .. }
        | Error::UnsupportedSource { .. }
        | Error::VersionNotNamed { .. }
        | Error::RenameTargetExists { .. }
        | Error::RenameTargetIsFormerName { .. }
        | Error::RenameToItself { .. } => invalid_input(msg),
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

/// The store, fetching the objects it lacks from its default remote, if one is set (reads of
/// files after a metadata-only pull), as the CLI's `cat`, `checkout`, `diff` and `blame` do.
fn open_fetching(store: &str) -> R<Store> {
    let mut s = open(store)?;
    codever::remote::attach_default_remote(&mut s)?;
    Ok(s)
}

/// Runs `f` (in [`pooled`]) on the store at `store`, fetching what it lacks from its default
/// remote, with the history and index of the version `spec` selects.
fn on_version<T: Send>(
    store: &str,
    spec: &str,
    f: impl FnOnce(&Store, &codever::History, usize) -> R<T> + Send,
) -> PyResult<T> {
    pooled(|| {
        let s = open_fetching(store)?;
        let codever::Resolved { history, index } = s.resolve(&Spec::parse(spec)?)?;
        f(&s, &history, index)
    })
    .map_err(py_err)
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
/// executable) and directories: (local path, prefix or None, every file: W&B's walk rather
/// than the capture's `.gitignore` rules).
type Entries = Vec<(String, Option<String>, Option<Vec<u8>>, bool)>;
type Dirs = Vec<(String, Option<String>, bool)>;

fn snapshot(entries: &Entries, dirs: &Dirs) -> R<Snapshot> {
    let mut s = Snapshot::default();
    for (display, path, bytes, exe) in entries {
        match (path, bytes) {
            (Some(p), _) => s.add_file(Path::new(p), Some(display))?,
            (None, Some(b)) => s.add_bytes(display, b.clone(), *exe)?,
            (None, None) => s.add_bytes(display, Vec::new(), *exe)?,
        }
    }
    for (path, prefix, every_file) in dirs {
        if *every_file {
            s.add_dir_every_file(Path::new(path), prefix.as_deref())?;
        } else {
            s.add_dir(Path::new(path), prefix.as_deref())?;
        }
    }
    s.check_conflicts()?;
    Ok(s)
}

/// Adds the files of version `base` (a spec) that the snapshot does not replace and `removed`
/// does not name (a path, or a directory prefix): an incremental artifact (W&B's
/// `incremental=True`, `new_draft`) keeps the files of the version it builds on.
fn add_base(s: &Store, snap: &mut Snapshot, base: &str, removed: &[String]) -> R<()> {
    let codever::Resolved { history, index } = s.resolve(&Spec::parse(base)?)?;
    let gone = |p: &str| {
        removed.iter().any(|r| {
            let r = r.trim_end_matches('/');
            p == r || p.strip_prefix(r).is_some_and(|rest| rest.starts_with('/'))
        })
    };
    for e in codever::flatten(s, &history.versions[index].tree)? {
        if !snap.has_path(&e.path) && !gone(&e.path) {
            snap.add_stored(&e.path, e.meta)?;
        }
    }
    snap.check_conflicts()
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

/// The process that loaded the extension, and the thread pool of a process forked from it.
static LOADED_BY: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
static FORKED_POOL: std::sync::Mutex<Option<(u32, std::sync::Arc<rayon::ThreadPool>)>> =
    std::sync::Mutex::new(None);

/// Runs `f`, a call into the library. In the process that loaded the extension it runs as is.
/// In a process forked from it (Linux's default for `multiprocessing` and DataLoader workers)
/// rayon's global pool was copied without its threads, so any parallel step would wait forever:
/// there `f` runs in a pool of the child's own, made on first use.
fn pooled<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    let pid = std::process::id();
    if *LOADED_BY.get_or_init(|| pid) == pid {
        return f();
    }
    // The lock may have been held by another thread of the parent when it forked: then this
    // call makes a pool of its own rather than wait for a lock nobody will release.
    let cached = match FORKED_POOL.try_lock() {
        Ok(mut slot) => match slot.as_ref() {
            Some((p, pool)) if *p == pid => Some(std::sync::Arc::clone(pool)),
            _ => codever::signals::pool_builder().build().ok().map(|pool| {
                let pool = std::sync::Arc::new(pool);
                *slot = Some((pid, std::sync::Arc::clone(&pool)));
                pool
            }),
        },
        Err(_) => codever::signals::pool_builder()
            .build()
            .ok()
            .map(std::sync::Arc::new),
    };
    match cached {
        Some(pool) => pool.install(f),
        // No thread could be started: one thread does the work.
        None => match rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .use_current_thread()
            .build()
        {
            Ok(pool) => pool.install(f),
            Err(_) => f(),
        },
    }
}

/// Finds the store (explicit dir, CODEVER_DIR, walking up) or creates one at the enclosing git
/// repository's root, else in the working directory. Returns (store root, created).
#[pyfunction]
#[pyo3(signature = (dir=None, create=true))]
fn locate_store(dir: Option<String>, create: bool) -> PyResult<(String, bool)> {
    let cwd = frontend::working_dir().map_err(py_err)?;
    let explicit = dir.as_deref().map(Path::new);
    let (s, created) = pooled(|| {
        if create {
            Store::locate_or_create(explicit, &cwd)
        } else {
            Store::locate(explicit, &cwd).map(|s| (s, false))
        }
    })
    .map_err(py_err)?;
    Ok((s.root().to_string_lossy().into_owned(), created))
}

/// Creates a store in `dir/.codever` (W&B's `init(dir=)` names where its files go). Returns the
/// store root.
#[pyfunction]
fn init_store(dir: &str) -> PyResult<String> {
    pooled(|| Store::init(Path::new(dir)))
        .map(|s| s.root().to_string_lossy().into_owned())
        .map_err(py_err)
}

/// Whether the store has seen run `run_id`.
#[pyfunction]
fn has_run(store: &str, run_id: &str) -> PyResult<bool> {
    pooled(|| Ok(open(store).map_err(py_err)?.has_run(run_id)))
}

/// A fresh run id, as the CLI makes them.
#[pyfunction]
fn new_run_id() -> String {
    codever::new_run_id()
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
    pooled(|| {
        let s = open(store)?;
        let id = frontend::run_id(run_id);
        let mut run = RunCapture::start(&id, &frontend::working_dir()?, !s.has_run(&id))?.finish();
        run.project = project;
        run.config = config_json;
        run.notes = notes;
        run.tags = tags;
        s.start_run(&run)?;
        Ok(id)
    })
    .map_err(py_err)
}

/// The manifest and W&B digest files would have: JSON `{"digest", "files": [...]}`.
#[pyfunction]
#[pyo3(signature = (entries, dirs, store=None, base=None, removed=Vec::new()))]
fn manifest(
    py: Python<'_>,
    entries: Entries,
    dirs: Dirs,
    store: Option<String>,
    base: Option<String>,
    removed: Vec<String>,
) -> PyResult<String> {
    py.detach(|| {
        pooled(|| {
            let mut s = snapshot(&entries, &dirs)?;
            if let (Some(store), Some(base)) = (store, base) {
                add_base(&open(&store)?, &mut s, &base, &removed)?;
            }
            let m = s.manifest()?;
            let digest = codever::wandb_digest(m.iter().map(|e| (e.path.as_str(), e.meta.md5)));
            let files = m
                .iter()
                .map(|e| view::FileRow::new(&e.path, &e.meta))
                .collect();
            to_json(&view::ManifestRow::new(digest, files))
        })
    })
    .map_err(py_err)
}

/// Commits files as (type, name) for `run_id`. JSON like the CLI's `commit --json`.
#[pyfunction]
#[pyo3(signature = (store, artifact_type, name, run_id, entries, dirs, aliases, description, metadata_json, tags=Vec::new(), base=None, removed=Vec::new()))]
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
    tags: Vec<String>,
    base: Option<String>,
    removed: Vec<String>,
) -> PyResult<String> {
    py.detach(|| {
        pooled(|| {
            let s = open(store)?;
            let key = ArtifactKey::new(artifact_type, name)?;
            let mut snap = snapshot(&entries, &dirs)?;
            if let Some(base) = base {
                add_base(&s, &mut snap, &base, &removed)?;
            }
            let run =
                RunCapture::start(run_id, &frontend::working_dir()?, !s.has_run(run_id))?.finish();
            let opts = CommitOptions {
                aliases,
                description,
                metadata: metadata_json,
                tags,
                ..CommitOptions::default()
            };
            let o = s.commit(&key, &snap, &run, &opts)?;
            to_json(&view::CommitRow::new(&o))
        })
    })
    .map_err(py_err)
}

/// One version and its files, as JSON (`show --json` plus description and metadata). `spec`
/// is codever's spec, or a W&B path when `wandb` (see `frontend::wandb_spec`), of type
/// `artifact_type` when given.
#[pyfunction]
#[pyo3(signature = (store, spec, wandb=false, artifact_type=None))]
fn resolve(store: &str, spec: &str, wandb: bool, artifact_type: Option<&str>) -> PyResult<String> {
    pooled(|| {
        let s = open_fetching(store)?;
        let codever::Resolved {
            history: h,
            index: i,
        } = s.resolve(&parse_spec(&s, spec, wandb, artifact_type)?)?;
        version_json(&s, &h, i)
    })
    .map_err(py_err)
}

fn parse_spec(s: &Store, spec: &str, wandb: bool, artifact_type: Option<&str>) -> R<Spec> {
    if wandb {
        frontend::wandb_spec(s, spec, artifact_type)
    } else {
        Spec::parse(spec)
    }
}

/// Resolves `spec` (a W&B path, see `resolve`), records that run `run_id` used it, and returns
/// the version (with files) as JSON.
#[pyfunction]
#[pyo3(signature = (store, run_id, spec, artifact_type=None))]
fn use_artifact(
    store: &str,
    run_id: &str,
    spec: &str,
    artifact_type: Option<&str>,
) -> PyResult<String> {
    pooled(|| {
        let s = open_fetching(store)?;
        let codever::Resolved {
            history: h,
            index: i,
        } = s.resolve(&frontend::wandb_spec(&s, spec, artifact_type)?)?;
        s.record_use(run_id, &h.key, h.versions[i].tree)?;
        version_json(&s, &h, i)
    })
    .map_err(py_err)
}

/// Every version of an artifact, oldest first, as JSON (the rows of `versions --json`).
#[pyfunction]
fn versions(store: &str, spec: &str) -> PyResult<String> {
    pooled(|| {
        let s = open(store)?;
        let sp = Spec::parse(spec)?;
        let h = s.resolve_artifact(sp.artifact_type.as_deref(), &sp.name)?;
        to_json(&view::VersionList::new(&h).with_changes(s.version_changes(&h)))
    })
    .map_err(py_err)
}

/// The bytes of one file of a version.
#[pyfunction]
fn read_file(store: &str, spec: &str, path: &str) -> PyResult<Vec<u8>> {
    on_version(store, spec, |s, h, i| {
        let meta = frontend::find_file(s, h, i, path)?;
        s.read_blob(&meta.id)
    })
}

/// Writes a version's files into `into`; JSON like `checkout --json`.
#[pyfunction]
fn checkout(py: Python<'_>, store: &str, spec: &str, into: &str, force: bool) -> PyResult<String> {
    py.detach(|| {
        on_version(store, spec, |s, h, i| {
            let v = &h.versions[i];
            let report = s.checkout(&v.tree, Path::new(into), force)?;
            to_json(&view::CheckoutRow::new(&h.key, v, Path::new(into), &report))
        })
    })
}

/// The paths under `root` that differ from the version (empty: `root` holds exactly it).
#[pyfunction]
fn verify(py: Python<'_>, store: &str, spec: &str, root: &str) -> PyResult<Vec<String>> {
    py.detach(|| {
        on_version(store, spec, |s, h, i| {
            let d = s.verify_dir(h.versions[i].tree, Path::new(root))?;
            Ok(d.paths().into_iter().map(str::to_string).collect())
        })
    })
}

/// Compares two versions: (JSON like `diff --json`, the patch `codever diff` prints, the compare
/// page of `diff --html` as an inline fragment for notebooks). `algorithm`
/// is git's name for the line diff algorithm (`myers`, `minimal`, `patience`, `histogram`).
#[pyfunction]
#[pyo3(signature = (store, left, right, context=3, algorithm="myers"))]
fn diff(
    py: Python<'_>,
    store: &str,
    left: &str,
    right: &str,
    context: usize,
    algorithm: &str,
) -> PyResult<(String, Vec<u8>, String)> {
    let algorithm = Algorithm::from_name(algorithm).ok_or_else(|| {
        invalid_input(format!(
            "unknown diff algorithm {algorithm:?} (hint: use \"myers\", \"minimal\", \"patience\" or \"histogram\")"
        ))
    })?;
    py.detach(|| {
        pooled(|| {
            let s = open_fetching(store)?;
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
                algorithm,
                ..DiffOptions::default()
            };
            let d = s.diff_versions(lh.versions[li].tree, rh.versions[ri].tree, &opts)?;
            // The compare page of `diff --html`, as a fragment a notebook can show inline.
            let page = codever::html::fragment(
                &codever::html::compare::Compare {
                    left,
                    right,
                    diff: &d,
                    runs: None,
                },
                &s,
            );
            Ok((
                render::diff_json(&d).to_string(),
                render::patch(&d, false),
                page,
            ))
        })
    })
    .map_err(py_err)
}

/// Every line of a file with the version and run that introduced it (with `first_seen`, the
/// earliest version that had it at that path): JSON like `blame --json`.
#[pyfunction]
#[pyo3(signature = (store, spec, path, first_seen=false))]
fn blame(store: &str, spec: &str, path: &str, first_seen: bool) -> PyResult<String> {
    on_version(store, spec, |s, h, i| {
        let lines = match first_seen {
            true => s.blame_first_seen(h, i, path)?,
            false => s.blame(h, i, path)?,
        };
        let path = codever::names::normalize_path(path)?;
        to_json(&view::BlameRow::new(h, i, &path, &lines))
    })
}

/// Forgets (`forgotten`) or lists again the version `spec` names (W&B's `Artifact.delete()`):
/// JSON like `forget --json`. Nothing is deleted; the version's id keeps naming it.
#[pyfunction]
fn set_forgotten(store: &str, spec: &str, forgotten: bool) -> PyResult<String> {
    pooled(|| {
        let s = open(store)?;
        let target = ForgetTarget::parse(spec, false, forgotten)?;
        let o = s.set_forgotten(&target, forgotten)?;
        to_json(&view::ForgetRow::new(&o))
    })
    .map_err(py_err)
}

/// The files a code capture considers under `root` (gitignore honoured, no virtualenvs).
#[pyfunction]
fn code_files(root: &str) -> PyResult<Vec<String>> {
    pooled(|| codever::code_files(Path::new(root))).map_err(py_err)
}

/// The files a directory source takes, relative to it and sorted, and the `.git`/`.codever`
/// directories W&B's walk skipped: `every_file` is W&B's walk, else the capture's rules.
#[pyfunction]
fn dir_files(py: Python<'_>, path: &str, every_file: bool) -> PyResult<(Vec<String>, Vec<String>)> {
    py.detach(|| pooled(|| codever::dir_files(Path::new(path), every_file)))
        .map_err(py_err)
}

/// Checks a name as codever checks it (`what`: "artifact name", "type", "alias", "tag").
#[pyfunction]
fn check_name(what: &str, value: &str) -> PyResult<()> {
    match what {
        "alias" => codever::names::validate_alias(value),
        "tag" => codever::names::validate_tag(value),
        "type" => codever::names::validate_name("type", value),
        _ => codever::names::validate_name("artifact name", value),
    }
    .map_err(py_err)
}

/// Records run `run_id`'s state (W&B's `finish`): `state_json` holds `name`, `job_type`,
/// `group` (strings), `config`, `summary`, `ranges` (JSON objects), `steps`, `finished` and
/// `exit_code`.
#[pyfunction]
fn save_run_state(store: &str, run_id: &str, state_json: &str) -> PyResult<()> {
    pooled(|| {
        let s = open(store)?;
        let v: serde_json::Value =
            serde_json::from_str(state_json).map_err(|e| Error::InvalidName {
                what: "run state",
                value: run_id.to_string(),
                reason: e.to_string(),
            })?;
        let text = |k: &str| v[k].as_str().unwrap_or_default().to_string();
        let object = |k: &str| match &v[k] {
            serde_json::Value::Object(m) if !m.is_empty() => v[k].to_string(),
            _ => String::new(),
        };
        let state = codever::RunStateRecord {
            run: run_id.to_string(),
            time_ns: codever::run::now_ns(),
            host: codever::run::host_name(),
            name: text("name"),
            job_type: text("job_type"),
            group: text("group"),
            config: object("config"),
            summary: object("summary"),
            ranges: object("ranges"),
            steps: v["steps"].as_u64().unwrap_or(0),
            finished: v["finished"].as_bool().unwrap_or(false),
            exit_code: v["exit_code"].as_i64().and_then(|c| i32::try_from(c).ok()),
        };
        s.save_run_state(&state)
    })
    .map_err(py_err)
}

/// Points `alias` at the version `spec` names (`codever alias`).
#[pyfunction]
fn set_alias(store: &str, spec: &str, alias: &str) -> PyResult<()> {
    pooled(|| {
        open(store)?
            .set_alias(&Spec::parse(spec)?, alias)
            .map(|_| ())
    })
    .map_err(py_err)
}

/// Every run, as JSON (`runs --json`).
#[pyfunction]
fn runs(store: &str) -> PyResult<String> {
    pooled(|| {
        let s = open(store)?;
        let runs = s.runs()?;
        to_json(&runs.iter().map(view::RunRow::new).collect::<Vec<_>>())
    })
    .map_err(py_err)
}

/// One run, as JSON (`runs show --json`).
#[pyfunction]
fn run(store: &str, run_id: &str) -> PyResult<String> {
    pooled(|| {
        let s = open(store)?;
        to_json(&view::RunRow::new(&s.run(run_id)?))
    })
    .map_err(py_err)
}

/// Sends what remote `remote` (the default one when None) lacks; the report as JSON
/// (`push --json`).
#[pyfunction]
#[pyo3(signature = (store, remote=None, full=false))]
fn push(py: Python<'_>, store: &str, remote: Option<&str>, full: bool) -> PyResult<String> {
    py.detach(|| {
        pooled(|| {
            let s = open(store)?;
            let opts = codever::remote::PushOptions {
                full,
                ..Default::default()
            };
            to_json(&codever::remote::push(&s, remote, &opts)?)
        })
    })
    .map_err(py_err)
}

/// Fetches what this store lacks from remote `remote`; the report as JSON (`pull --json`).
#[pyfunction]
#[pyo3(signature = (store, remote=None, metadata_only=false, only=None))]
fn pull(
    py: Python<'_>,
    store: &str,
    remote: Option<&str>,
    metadata_only: bool,
    only: Option<String>,
) -> PyResult<String> {
    py.detach(|| {
        pooled(|| {
            let s = open(store)?;
            let opts = codever::remote::PullOptions {
                metadata_only,
                only,
                ..Default::default()
            };
            to_json(&codever::remote::pull(&s, remote, &opts)?)
        })
    })
    .map_err(py_err)
}

/// Pulls then pushes; the report as JSON (`sync --json`).
#[pyfunction]
#[pyo3(signature = (store, remote=None))]
fn sync(py: Python<'_>, store: &str, remote: Option<&str>) -> PyResult<String> {
    py.detach(|| {
        pooled(|| {
            let s = open(store)?;
            to_json(&codever::remote::sync(
                &s,
                remote,
                &codever::remote::SyncOptions::default(),
            )?)
        })
    })
    .map_err(py_err)
}

/// The extension module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    LOADED_BY.get_or_init(std::process::id);
    // Before anything uses rayon: pool threads that block SIGTERM, SIGINT and SIGHUP, so those
    // signals reach Python's own threads (see `codever::signals`); a worker of a
    // `multiprocessing` pool killed by `terminate()` could otherwise sleep on forever.
    codever::signals::init_global_pool();
    let py = m.py();
    m.add("CodeverError", py.get_type::<CodeverError>())?;
    m.add("NotFoundError", py.get_type::<NotFoundError>())?;
    m.add("InvalidInputError", invalid_input_type(py)?)?;
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
    m.add_function(wrap_pyfunction!(dir_files, m)?)?;
    m.add_function(wrap_pyfunction!(check_name, m)?)?;
    m.add_function(wrap_pyfunction!(save_run_state, m)?)?;
    m.add_function(wrap_pyfunction!(runs, m)?)?;
    m.add_function(wrap_pyfunction!(set_alias, m)?)?;
    m.add_function(wrap_pyfunction!(init_store, m)?)?;
    m.add_function(wrap_pyfunction!(has_run, m)?)?;
    m.add_function(wrap_pyfunction!(new_run_id, m)?)?;
    m.add_function(wrap_pyfunction!(run, m)?)?;
    m.add_function(wrap_pyfunction!(push, m)?)?;
    m.add_function(wrap_pyfunction!(pull, m)?)?;
    m.add_function(wrap_pyfunction!(sync, m)?)?;
    Ok(())
}
