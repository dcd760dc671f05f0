//! The files a transfer moves, named by their key (their path under the store root): parsed
//! from an untrusted listing (anything that is not one of the store's own names is ignored),
//! and listed from the local store.

use std::collections::BTreeMap;

use crate::error::Result;
use crate::id::ObjectId;
use crate::names::validate_name;
use crate::store::Store;
use crate::store::markers as refs;

/// Which marker directory a marker is in.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum MarkerDir {
    /// `runs/<run>/`.
    Run(String),
    /// `refs/<type>/<name>/`.
    Ref(String, String),
    /// `renames/`.
    Renames,
}

/// One file of a store, by what it is.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Entry {
    /// `objects/ab/cd…`.
    Loose(ObjectId),
    /// `packs/<id>.pack`.
    Pack(ObjectId),
    /// `packs/<id>.idx`.
    Index(ObjectId),
    /// A marker.
    Marker(MarkerDir, ObjectId),
}

impl Entry {
    /// Parses a key; `None` for anything that is not one of the store's own names (a stray
    /// file, an unsafe or invalid name, `local/…`).
    pub fn parse(key: &str) -> Option<Entry> {
        let parts: Vec<&str> = key.split('/').collect();
        match parts.as_slice() {
            ["objects", fan, rest] if fan.len() == 2 && rest.len() == 62 => {
                ObjectId::from_hex(&format!("{fan}{rest}")).map(Entry::Loose)
            }
            ["packs", file] => {
                if let Some(stem) = file.strip_suffix(".pack") {
                    ObjectId::from_hex(stem).map(Entry::Pack)
                } else {
                    file.strip_suffix(".idx")
                        .and_then(ObjectId::from_hex)
                        .map(Entry::Index)
                }
            }
            ["refs", ty, name, id] => {
                validate_name("type", ty).ok()?;
                validate_name("artifact name", name).ok()?;
                Some(Entry::Marker(
                    MarkerDir::Ref(ty.to_string(), name.to_string()),
                    ObjectId::from_hex(id)?,
                ))
            }
            ["runs", run, id] => {
                validate_name("run id", run).ok()?;
                Some(Entry::Marker(
                    MarkerDir::Run(run.to_string()),
                    ObjectId::from_hex(id)?,
                ))
            }
            ["renames", id] => Some(Entry::Marker(MarkerDir::Renames, ObjectId::from_hex(id)?)),
            _ => None,
        }
    }

    /// The key of this entry.
    pub fn key(&self) -> String {
        match self {
            Entry::Loose(id) => {
                let hex = id.to_hex();
                format!("objects/{}/{}", &hex[..2], &hex[2..])
            }
            Entry::Pack(id) => format!("packs/{}.pack", id.to_hex()),
            Entry::Index(id) => format!("packs/{}.idx", id.to_hex()),
            Entry::Marker(MarkerDir::Run(run), id) => format!("runs/{run}/{}", id.to_hex()),
            Entry::Marker(MarkerDir::Ref(t, n), id) => format!("refs/{t}/{n}/{}", id.to_hex()),
            Entry::Marker(MarkerDir::Renames, id) => format!("renames/{}", id.to_hex()),
        }
    }
}

/// The prefixes a full listing covers, in the order they are listed: the reverse of the order a
/// push writes them (data, records, markers; renames last). A push running meanwhile then never
/// shows a marker whose record the listing missed: the record was on the remote before the marker
/// was, so before the marker was listed, so before `objects/` was.
pub(crate) const PREFIXES: [&str; 5] = ["renames/", "runs/", "refs/", "objects/", "packs/"];

/// The store's own files as entries with their sizes (markers 0): loose objects, packs whose
/// index is present (a pack without one is invisible), indexes, and conforming markers.
pub(crate) fn local_entries(store: &Store) -> Result<BTreeMap<Entry, u64>> {
    let layout = store.layout();
    let mut out = BTreeMap::new();
    let objects = layout.objects_dir();
    for fan in crate::store::list_dir(&objects)? {
        if fan.len() != 2 {
            continue;
        }
        let dir = objects.join(&fan);
        for name in crate::store::list_dir(&dir)? {
            let Some(entry) = Entry::parse(&format!("objects/{fan}/{name}")) else {
                continue;
            };
            if let Ok(m) = std::fs::symlink_metadata(dir.join(&name))
                && m.is_file()
            {
                out.insert(entry, m.len());
            }
        }
    }
    let packs = layout.packs_dir();
    let names = crate::store::list_dir(&packs)?;
    for name in &names {
        let Some(Entry::Index(id)) = Entry::parse(&format!("packs/{name}")) else {
            continue;
        };
        let pack = format!("{}.pack", id.to_hex());
        let (Ok(pm), Ok(im)) = (
            std::fs::symlink_metadata(packs.join(&pack)),
            std::fs::symlink_metadata(packs.join(name)),
        ) else {
            continue;
        };
        if pm.is_file() && im.is_file() {
            out.insert(Entry::Pack(id), pm.len());
            out.insert(Entry::Index(id), im.len());
        }
    }
    for (ty, name) in refs::artifact_keys(&layout.refs_dir())? {
        for id in refs::marker_ids(&layout.artifact_dir(&ty, &name))? {
            out.insert(
                Entry::Marker(MarkerDir::Ref(ty.clone(), name.clone()), id),
                0,
            );
        }
    }
    for run in refs::run_ids(&layout.runs_dir())? {
        for id in refs::marker_ids(&layout.run_dir(&run))? {
            out.insert(Entry::Marker(MarkerDir::Run(run.clone()), id), 0);
        }
    }
    for id in refs::marker_ids(&layout.renames_dir())? {
        out.insert(Entry::Marker(MarkerDir::Renames, id), 0);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_listed_before_records_and_records_before_data() {
        let at = |p: &str| PREFIXES.iter().position(|x| *x == p).unwrap();
        for marker in ["renames/", "runs/", "refs/"] {
            assert!(at(marker) < at("objects/"), "{marker}");
        }
        assert!(at("objects/") < at("packs/"));
    }

    #[test]
    fn only_the_stores_own_names_are_entries() {
        let id = ObjectId::compute(crate::kind::Kind::Blob, b"x");
        let hex = id.to_hex();
        for e in [
            Entry::Loose(id),
            Entry::Pack(id),
            Entry::Index(id),
            Entry::Marker(MarkerDir::Run("run-1".into()), id),
            Entry::Marker(MarkerDir::Ref("code".into(), "ppo".into()), id),
            Entry::Marker(MarkerDir::Renames, id),
        ] {
            assert_eq!(Entry::parse(&e.key()), Some(e));
        }
        for bad in [
            format!("objects/{}/{}x", &hex[..2], &hex[2..61]),
            format!("refs/../x/{hex}"),
            format!("refs/code/../{hex}"),
            format!("runs/a b/{hex}"),
            format!("refs/code/ppo/{hex}/x"),
            format!("local/tmp/{hex}"),
            "format".to_string(),
            format!("packs/{hex}.tmp"),
            format!("renames/.{hex}"),
        ] {
            assert_eq!(Entry::parse(&bad), None, "{bad}");
        }
    }
}
