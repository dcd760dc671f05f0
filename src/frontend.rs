//! What every front-end (the CLI, the Python extension) does the same way around the library's
//! operations: the run id a commit is made for, the working directory, a file of a version by
//! its path. Kept here so that the CLI and Python cannot answer these differently.

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::history::{History, Spec, Version};
use crate::object::FileMeta;
use crate::store::Store;

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

/// What a reader should know about the version `spec` resolved to, one line each (front-ends
/// print them beside the result, on stderr): that the artifact was renamed since (the spec used
/// a former name), that it is forgotten, or that the version is. Each says how to undo it.
pub fn resolve_notes(spec: &Spec, history: &History, version: Option<&Version>) -> Vec<String> {
    let key = &history.key;
    let mut notes = Vec::new();
    let asked_type = spec.artifact_type.as_deref();
    if spec.name != key.name || asked_type.is_some_and(|t| t != key.artifact_type) {
        let asked = match asked_type {
            Some(t) => format!("{t}/{}", spec.name),
            None => spec.name.clone(),
        };
        notes.push(format!("{asked} was renamed to {key}"));
    }
    if history.forgotten.is_some() {
        notes.push(format!(
            "{key} is forgotten (hidden from listings and bare names); `codever unforget --artifact {key}` brings it back"
        ));
    }
    if let Some(v) = version.filter(|v| v.forgotten.is_some()) {
        let number = v.number.map(|n| format!(" (v{n})")).unwrap_or_default();
        notes.push(format!(
            "{key}@{short}{number} is forgotten (hidden from listings and short specs); `codever unforget {key}@{short}` brings it back",
            short = v.tree.short()
        ));
    }
    notes
}
