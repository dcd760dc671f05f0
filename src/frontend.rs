//! What every front-end (the CLI, the Python extension) does the same way around the library's
//! operations: the run id a commit is made for, the working directory, a file of a version by
//! its path. Kept here so that the CLI and Python cannot answer these differently.

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::history::{History, Spec};
use crate::object::FileMeta;
use crate::store::Store;
use crate::store::markers as refs;

/// The environment variable naming the run that commits are made for, when no run id is given
/// (a training script's launcher sets it once for every process of the run).
pub const RUN_ID_ENV: &str = "CODEVER_RUN_ID";

/// The run id to commit for: `explicit` (the CLI's `--run`, Python's `init(id=)`), else
/// `$CODEVER_RUN_ID`, else a fresh id ([`crate::new_run_id`]). An empty id counts as none.
/// The id is validated when it is used.
pub fn run_id(explicit: Option<String>) -> String {
    match explicit.or_else(|| std::env::var(RUN_ID_ENV).ok()) {
        Some(id) if !id.is_empty() => id,
        _ => crate::new_run_id(),
    }
}

/// The working directory: where a store is looked for and the directory a run records.
pub fn working_dir() -> Result<PathBuf> {
    std::env::current_dir().map_err(|e| Error::Io {
        action: "cannot read the working directory",
        path: PathBuf::from("."),
        source: e,
    })
}

/// The file at display path `path` (normalised first: `./a` is `a`) in version `index` of
/// `history`. A version without it is [`Error::NoSuchFile`], named by number, or by id
/// ([`Error::NoSuchFileById`]) while the number is withheld.
pub fn find_file(store: &Store, history: &History, index: usize, path: &str) -> Result<FileMeta> {
    let v = &history.versions[index];
    let wanted = crate::names::normalize_path(path)?;
    let files = crate::flatten(store, &v.tree)?;
    match files.iter().find(|e| e.path == wanted) {
        Some(e) => Ok(e.meta),
        None => Err(Error::no_such_file(
            history.key.to_string(),
            v.number,
            v.tree,
            wanted,
        )),
    }
}

/// A version as W&B's Python API names it (`use_artifact`, `Api().artifact`), with its
/// optional `type=`: `NAME[:VERSION|:ALIAS]`, `PROJECT/NAME[:…]` or `ENTITY/PROJECT/NAME[:…]`,
/// besides codever's own `TYPE/NAME[:…]` and `NAME@IDPREFIX`.
///
/// A store holds one project's artifacts, so an entity and a project name nothing: they are
/// dropped. `A/NAME` is codever's `TYPE/NAME` when the store has an artifact NAME of type A
/// (or `artifact_type` is A), else W&B's `PROJECT/NAME`. With `artifact_type`, the artifact
/// must have that type ([`Error::TypeMismatch`] otherwise, as W&B refuses it).
pub fn wandb_spec(store: &Store, path: &str, artifact_type: Option<&str>) -> Result<Spec> {
    if let Some(t) = artifact_type {
        crate::names::validate_name("type", t)?;
    }
    let parts: Vec<&str> = path.split('/').collect();
    let (prefix, rest) = match parts.as_slice() {
        [rest] => (None, *rest),
        [a, rest] => (Some(*a), *rest),
        [_, _, rest] => (None, *rest),
        _ => {
            return Err(Error::InvalidSpec {
                spec: path.to_string(),
                reason: "expected [ENTITY/][PROJECT/]NAME[:VERSION|:ALIAS] or TYPE/NAME[:…]".into(),
            });
        }
    };
    let mut spec = Spec::parse(rest).map_err(|e| match e {
        Error::InvalidSpec { reason, .. } => Error::InvalidSpec {
            spec: path.to_string(),
            reason,
        },
        other => other,
    })?;
    let typed = |t: &str| refs::has_markers(&store.artifact_dir(t, &spec.name));
    spec.artifact_type = match (prefix, artifact_type) {
        (Some(a), Some(t)) if a == t => Some(a.to_string()),
        (_, Some(t)) => Some(t.to_string()),
        (Some(a), None) if crate::names::validate_name("type", a).is_ok() && typed(a)? => {
            Some(a.to_string())
        }
        _ => None,
    };
    if let Some(t) = artifact_type
        && !typed(t)?
    {
        // Named with a type it does not have: say which it has, when it exists under one.
        if let Ok(key) = store.resolve_key(None, &spec.name) {
            return Err(Error::TypeMismatch {
                artifact: key.to_string(),
                found: key.artifact_type.clone(),
                expected: t.to_string(),
            });
        }
    }
    Ok(spec)
}
