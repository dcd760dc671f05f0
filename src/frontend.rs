//! What every front-end (the CLI, the Python extension) does the same way around the library's
//! operations: the run id a commit is made for, the working directory, a file of a version by
//! its path. Kept here so that the CLI and Python cannot answer these differently.

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::history::{History, Spec, Version};
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Selector;

    fn store_with(keys: &[(&str, &str)]) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::init(dir.path()).unwrap();
        for (t, n) in keys {
            let mut s = crate::Snapshot::default();
            s.add_bytes("a.py", b"a".to_vec(), false).unwrap();
            let run = crate::capture_run("r", dir.path()).unwrap();
            let key = crate::ArtifactKey::new(t, n).unwrap();
            store
                .commit(&key, &s, &run, &crate::CommitOptions::default())
                .unwrap();
        }
        (dir, store)
    }

    fn parsed(store: &Store, path: &str, ty: Option<&str>) -> (Option<String>, String, Selector) {
        let s = wandb_spec(store, path, ty).unwrap();
        (s.artifact_type, s.name, s.selector)
    }

    #[test]
    fn wandb_paths_drop_entity_and_project_and_keep_codever_types() {
        let (_d, store) = store_with(&[("rl_algo_code", "ppo"), ("ppo", "safelife")]);
        let alias = |a: &str| Selector::Alias(a.into());
        assert_eq!(
            parsed(&store, "ppo:best", None),
            (None, "ppo".into(), alias("best"))
        );
        assert_eq!(
            parsed(&store, "proj/ppo:best", None),
            (None, "ppo".into(), alias("best"))
        );
        assert_eq!(
            parsed(&store, "me/proj/ppo:v2", None),
            (None, "ppo".into(), Selector::Number(2))
        );
        let typed = Some("rl_algo_code".to_string());
        assert_eq!(
            parsed(&store, "rl_algo_code/ppo", None),
            (typed.clone(), "ppo".into(), Selector::Latest)
        );
        assert_eq!(
            parsed(&store, "proj/ppo", Some("rl_algo_code")),
            (typed.clone(), "ppo".into(), Selector::Latest)
        );
        assert_eq!(
            parsed(&store, "me/proj/ppo", Some("rl_algo_code")),
            (typed, "ppo".into(), Selector::Latest)
        );
        // `ppo/safelife`: the store has safelife of type ppo, so it is TYPE/NAME.
        assert_eq!(
            parsed(&store, "ppo/safelife", None),
            (Some("ppo".into()), "safelife".into(), Selector::Latest)
        );
        let e = wandb_spec(&store, "ppo", Some("model")).unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"artifact rl_algo_code/ppo has type "rl_algo_code", not "model""#
        );
        assert_eq!(e.kind(), "type_mismatch");
        let e = wandb_spec(&store, "a/b/c/ppo", None).unwrap_err();
        assert!(
            e.to_string()
                .starts_with(r#"invalid version spec "a/b/c/ppo": expected"#),
            "{e}"
        );
        let e = wandb_spec(&store, "proj/ppo:v01", None).unwrap_err();
        assert!(
            e.to_string()
                .starts_with(r#"invalid version spec "proj/ppo:v01""#),
            "{e}"
        );
        assert!(matches!(
            wandb_spec(&store, "ppo", Some("a/b")),
            Err(Error::InvalidName { .. })
        ));
        // An unknown name with a type is left to resolution (unknown artifact).
        assert_eq!(
            parsed(&store, "nope", Some("model")),
            (Some("model".into()), "nope".into(), Selector::Latest)
        );
    }
}
