//! Listing `refs/` and `runs/`: which artifacts, runs and records are marked.
//!
//! Both trees are synced by copying files, so they can hold anything a file manager or a sync
//! tool leaves behind (`.DS_Store`, `._x`, an rsync temp file, a file where a directory belongs,
//! a directory where a marker belongs). Only conforming entries count:
//!
//! - `refs/<type>/` and `refs/<type>/<name>/`: directories (not links) with valid names;
//! - `runs/<run>/`: directories (not links) with valid run ids;
//! - markers: regular files (not links) named by a 64-hex record id;
//! - an artifact or a run exists when its directory holds at least one marker.
//!
//! Everything else is ignored by every command; `fsck` lists it as stray.

use std::fs;
use std::io;
use std::path::Path;

use crate::error::{Error, Result};
use crate::id::ObjectId;
use crate::names::validate_name;
use crate::store::Store;

/// What an entry of a marker tree must be to count.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Want {
    Dir,
    File,
}

/// Names (valid UTF-8) of the entries of `dir` of the wanted type, links never followed. A `dir`
/// that is absent, or is not a directory, has no entries.
fn entries(dir: &Path, want: Want) -> Result<Vec<String>> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            return Ok(Vec::new());
        }
        Err(e) => return Err(Error::io("cannot list", dir, e)),
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| Error::io("cannot list", dir, e))?;
        // `file_type` does not follow links (and costs no system call where the directory
        // listing gives the type). An entry that vanished meanwhile is skipped.
        let Ok(ft) = entry.file_type() else { continue };
        let wanted = match want {
            Want::Dir => ft.is_dir(),
            Want::File => ft.is_file(),
        };
        if wanted && let Ok(name) = entry.file_name().into_string() {
            out.push(name);
        }
    }
    Ok(out)
}

/// The record ids marked in `dir`, sorted: regular files named by 64 hex characters.
pub(crate) fn marker_ids(dir: &Path) -> Result<Vec<ObjectId>> {
    let mut ids: Vec<ObjectId> = entries(dir, Want::File)?
        .iter()
        .filter_map(|n| ObjectId::from_hex(n))
        .collect();
    ids.sort();
    Ok(ids)
}

/// The record ids marked in `dir` as `Store::markers` lists them (64-hex names), but with a `dir`
/// that is a file (a stray where a directory belongs) listed as empty rather than failing.
// TODO(store.rs): `Store::markers` should list regular files only, as `marker_ids` does; this
// wrapper then reduces to it.
pub(crate) fn markers_in(store: &Store, dir: &Path) -> Result<Vec<ObjectId>> {
    match store.markers(dir) {
        Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::NotADirectory => {
            Ok(Vec::new())
        }
        r => r,
    }
}

/// Whether `dir` holds at least one marker.
pub(crate) fn has_markers(dir: &Path) -> Result<bool> {
    Ok(!marker_ids(dir)?.is_empty())
}

/// Subdirectories of `dir` whose names are valid `what` names, sorted.
fn named_dirs(dir: &Path, what: &'static str) -> Result<Vec<String>> {
    let mut names: Vec<String> = entries(dir, Want::Dir)?
        .into_iter()
        .filter(|n| validate_name(what, n).is_ok())
        .collect();
    names.sort();
    Ok(names)
}

/// Artifacts marked under `refs` (the store's `refs/`), as sorted (type, name) pairs.
pub(crate) fn artifact_keys(refs: &Path) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for ty in named_dirs(refs, "type")? {
        for name in named_dirs(&refs.join(&ty), "artifact name")? {
            if has_markers(&refs.join(&ty).join(&name))? {
                out.push((ty.clone(), name));
            }
        }
    }
    Ok(out)
}

/// Runs marked under `runs` (the store's `runs/`), sorted.
pub(crate) fn run_ids(runs: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for id in named_dirs(runs, "run id")? {
        if has_markers(&runs.join(&id))? {
            out.push(id);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "14cc0fbb8a27b9d400580a38ea79e246d8d91a1617d04bdd5c017c4b745f04a8";

    fn touch(p: &Path) {
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, b"").unwrap();
    }

    #[test]
    fn only_conforming_entries_count() {
        let tmp = tempfile::tempdir().unwrap();
        let refs = tmp.path().join("refs");
        touch(&refs.join("t/a").join(ID));
        // Strays at every level, as files and as directories.
        touch(&refs.join(".DS_Store"));
        fs::create_dir_all(refs.join("t/.DS_Store")).unwrap();
        touch(&refs.join("t/a/.DS_Store"));
        fs::create_dir_all(refs.join("t/a/._x")).unwrap();
        // A directory named like a marker is not a marker; a file named like a type is not one.
        fs::create_dir_all(refs.join("t/empty").join(ID.replace('1', "2"))).unwrap();
        touch(&refs.join("u"));
        // A link to a marker is not a marker.
        #[cfg(unix)]
        std::os::unix::fs::symlink(refs.join("t/a").join(ID), refs.join("t/b").join(ID))
            .or_else(|_| {
                fs::create_dir_all(refs.join("t/b"))?;
                std::os::unix::fs::symlink(refs.join("t/a").join(ID), refs.join("t/b").join(ID))
            })
            .unwrap();
        assert_eq!(
            artifact_keys(&refs).unwrap(),
            [("t".to_string(), "a".to_string())]
        );
        assert_eq!(
            marker_ids(&refs.join("t/a")).unwrap(),
            [ObjectId::from_hex(ID).unwrap()]
        );
        // A file where a directory belongs lists as empty instead of failing.
        assert!(marker_ids(&refs.join("u")).unwrap().is_empty());
        assert!(marker_ids(&refs.join("absent")).unwrap().is_empty());
    }
}
