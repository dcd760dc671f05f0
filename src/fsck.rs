//! Checking a store: every object against its hash, every marker against its record, every
//! record's tree down to the blobs. Missing objects ("not yet synced") are told apart from
//! corrupt ones.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::id::ObjectId;
use crate::names::{check_component, validate_alias, validate_name};
use crate::object::{AliasRecord, CommitRecord, Kind, Node, RunRecord, Structured, Tree};
use crate::pack;
use crate::store::{Store, list_dir};

/// A problem with something present in the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Corruption {
    /// The file concerned.
    pub path: PathBuf,
    /// What is wrong.
    pub reason: String,
}

/// An object referenced but absent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Missing {
    /// The object id.
    pub id: ObjectId,
    /// Who needs it (a marker path or a tree id).
    pub needed_by: String,
}

/// The result of [`Store::fsck`].
#[derive(Clone, Debug, Default)]
pub struct FsckReport {
    /// Objects read and verified.
    pub objects: usize,
    /// Markers checked.
    pub markers: usize,
    /// Corrupt objects, bad records, unsafe names.
    pub corrupt: Vec<Corruption>,
    /// Referenced objects that are not (yet) present.
    pub missing: Vec<Missing>,
    /// Files that are not part of the format (ignored by every command).
    pub stray: Vec<PathBuf>,
}

impl FsckReport {
    /// Whether anything present is corrupt.
    pub fn has_corruption(&self) -> bool {
        !self.corrupt.is_empty()
    }
}

impl Store {
    /// Verifies the whole store.
    pub fn fsck(&self) -> Result<FsckReport> {
        let mut report = FsckReport::default();
        let kinds = self.check_objects(&mut report)?;
        let missing_seen = report.missing.iter().map(|m| m.id).collect();
        let mut checker = Checker {
            store: self,
            kinds: &kinds,
            report: &mut report,
            trees_done: HashSet::new(),
            missing_seen,
        };
        checker.check_refs()?;
        checker.check_runs()?;
        report.corrupt.sort_by(|a, b| a.path.cmp(&b.path));
        report.missing.sort_by_key(|m| m.id);
        report.missing.dedup_by_key(|m| m.id);
        Ok(report)
    }

    /// Verifies every object file; returns the kind of each sound object.
    fn check_objects(&self, report: &mut FsckReport) -> Result<HashMap<ObjectId, Kind>> {
        let objects = self.root().join("objects");
        let mut files = Vec::new();
        for fan in list_dir(&objects)? {
            let dir = objects.join(&fan);
            if fan.len() != 2 || !dir.is_dir() {
                report.stray.push(dir);
                continue;
            }
            for name in list_dir(&dir)? {
                let path = dir.join(&name);
                match ObjectId::from_hex(&format!("{fan}{name}")) {
                    Some(id) if name.len() == 62 => files.push((id, path)),
                    _ => report.stray.push(path),
                }
            }
        }
        let results: Vec<(ObjectId, PathBuf, Result<Kind>)> = files
            .into_par_iter()
            .map(|(id, path)| {
                // Large blobs are verified as a stream, in bounded memory.
                if let Some(r) = self.verify_large_loose(&id, &path) {
                    return (id, path, r);
                }
                // This copy itself, not whichever copy a read would pick.
                let r = crate::store::read_regular(&path, u64::MAX)
                    .map_err(|e| Error::CorruptObject {
                        id,
                        reason: format!("cannot read the object file: {e}"),
                    })
                    .and_then(|bytes| self.decode_stored(&id, &bytes))
                    .map(|(k, _)| k);
                (id, path, r)
            })
            .collect();
        let mut kinds = HashMap::new();
        self.check_packs(report, &mut kinds)?;
        for (id, path, r) in results {
            report.objects += 1;
            self.note_verified(report, &mut kinds, id, path, r);
        }
        Ok(kinds)
    }
}

impl Store {
    /// Verifies every pack against its name and every indexed object against its id.
    fn check_packs(
        &self,
        report: &mut FsckReport,
        kinds: &mut HashMap<ObjectId, Kind>,
    ) -> Result<()> {
        let dir = self.root().join("packs");
        let names = list_dir(&dir)?;
        for name in &names {
            let path = dir.join(name);
            let (stem, is_idx) = match (name.strip_suffix(".idx"), name.strip_suffix(".pack")) {
                (Some(s), _) => (s, true),
                (None, Some(s)) => (s, false),
                _ => {
                    report.stray.push(path);
                    continue;
                }
            };
            let Some(pack_id) = ObjectId::from_hex(stem) else {
                report.stray.push(path);
                continue;
            };
            if !is_idx {
                if !names.contains(&format!("{stem}.idx")) {
                    // Its index has not arrived (or its writer stopped before it): invisible.
                    report.stray.push(path);
                }
                continue;
            }
            let entries = match crate::store::read_regular(&path, pack::MAX_INDEX_FILE)
                .map_err(|e| Error::CorruptObject {
                    id: pack_id,
                    reason: format!("cannot read the pack index: {e}"),
                })
                .and_then(|b| pack::parse_index(&b, &pack_id))
            {
                Ok(e) => e,
                Err(e) => {
                    report.corrupt.push(Corruption {
                        path,
                        reason: e.to_string(),
                    });
                    continue;
                }
            };
            let pack_path = dir.join(format!("{stem}.pack"));
            let bytes = match crate::store::read_regular(&pack_path, u64::MAX) {
                Ok(b) => b,
                // Not yet synced: objects only it holds count as missing where referenced.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    report.corrupt.push(Corruption {
                        path: pack_path.clone(),
                        reason: format!("cannot read the pack: {e}"),
                    });
                    continue;
                }
            };
            report.objects += entries.len();
            if blake3::hash(&bytes).as_bytes() != pack_id.as_bytes() {
                report.corrupt.push(Corruption {
                    path: pack_path.clone(),
                    reason: "pack content does not hash to its name".into(),
                });
            }
            let results: Vec<(ObjectId, Result<Kind>)> = entries
                .par_iter()
                .map(|(id, offset, len)| {
                    let r = usize::try_from(*offset)
                        .ok()
                        .and_then(|o| bytes.get(o..o + *len as usize))
                        .ok_or_else(|| Error::CorruptObject {
                            id: *id,
                            reason: "index points outside the pack".into(),
                        })
                        .and_then(|obj| self.decode_stored(id, obj))
                        .map(|(k, _)| k);
                    (*id, r)
                })
                .collect();
            for (id, r) in results {
                self.note_verified(report, kinds, id, pack_path.clone(), r);
            }
        }
        Ok(())
    }
}

impl Store {
    /// Records the outcome of verifying object `id` (stored at `path`): its kind when sound; the
    /// base as missing when it is a delta whose base has not arrived (not corruption: it cannot
    /// be checked yet); corruption otherwise.
    fn note_verified(
        &self,
        report: &mut FsckReport,
        kinds: &mut HashMap<ObjectId, Kind>,
        id: ObjectId,
        path: PathBuf,
        result: Result<Kind>,
    ) {
        match result {
            Ok(k) => {
                kinds.insert(id, k);
            }
            Err(Error::MissingObject { id: base }) => {
                if let Ok(h) = self.object_header(&id) {
                    kinds.insert(id, h.kind);
                }
                report.missing.push(Missing {
                    id: base,
                    needed_by: format!("delta {}", id.short()),
                });
            }
            Err(Error::CorruptObject { reason, .. }) => {
                report.corrupt.push(Corruption { path, reason })
            }
            Err(e) => report.corrupt.push(Corruption {
                path,
                reason: format!("object {id}: {e}"),
            }),
        }
    }
}

struct Checker<'a> {
    store: &'a Store,
    kinds: &'a HashMap<ObjectId, Kind>,
    report: &'a mut FsckReport,
    trees_done: HashSet<ObjectId>,
    missing_seen: HashSet<ObjectId>,
}

impl Checker<'_> {
    fn corrupt(&mut self, path: PathBuf, reason: impl Into<String>) {
        self.report.corrupt.push(Corruption {
            path,
            reason: reason.into(),
        });
    }

    fn missing(&mut self, id: ObjectId, needed_by: String) {
        if self.missing_seen.insert(id) {
            self.report.missing.push(Missing { id, needed_by });
        }
    }

    /// The kind of a present, sound object; None (after reporting) otherwise.
    fn expect(&mut self, id: ObjectId, needed_by: &str) -> Option<Kind> {
        match self.kinds.get(&id) {
            Some(k) => Some(*k),
            None => {
                // Corrupt objects were reported when read; only absent ones are missing.
                if !self.store.has_object(&id) {
                    self.missing(id, needed_by.to_string());
                }
                None
            }
        }
    }

    fn check_refs(&mut self) -> Result<()> {
        let refs = self.store.root().join("refs");
        for ty in list_dir(&refs)? {
            let ty_dir = refs.join(&ty);
            if let Err(e) = validate_name("type", &ty) {
                self.corrupt(ty_dir, e.to_string());
                continue;
            }
            for name in list_dir(&ty_dir)? {
                let dir = ty_dir.join(&name);
                if let Err(e) = validate_name("artifact name", &name) {
                    self.corrupt(dir, e.to_string());
                    continue;
                }
                for (marker, id) in self.markers_in(&dir)? {
                    let needed_by = format!("refs/{ty}/{name}");
                    let Some(kind) = self.expect(id, &needed_by) else {
                        continue;
                    };
                    let raw = self.store.read_object(&id)?.1;
                    match kind {
                        Kind::Commit => match CommitRecord::decode(id, &raw) {
                            Ok(c) if c.artifact_type == ty && c.name == name => {
                                self.check_tree(c.tree, &format!("commit {}", id.short()))?
                            }
                            Ok(_) => self.corrupt(marker, "commit record of another artifact"),
                            Err(e) => self.corrupt(marker, e.to_string()),
                        },
                        Kind::Alias => match AliasRecord::decode(id, &raw) {
                            Ok(a)
                                if a.artifact_type == ty
                                    && a.name == name
                                    && validate_alias(&a.alias).is_ok() => {}
                            Ok(_) => self.corrupt(marker, "invalid alias record"),
                            Err(e) => self.corrupt(marker, e.to_string()),
                        },
                        other => self.corrupt(marker, format!("marks a {}", other.name())),
                    }
                }
            }
        }
        Ok(())
    }

    fn check_runs(&mut self) -> Result<()> {
        let runs = self.store.root().join("runs");
        for run in list_dir(&runs)? {
            let dir = runs.join(&run);
            if let Err(e) = validate_name("run id", &run) {
                self.corrupt(dir, e.to_string());
                continue;
            }
            for (marker, id) in self.markers_in(&dir)? {
                let Some(kind) = self.expect(id, &format!("runs/{run}")) else {
                    continue;
                };
                let raw = self.store.read_object(&id)?.1;
                let ok = match kind {
                    Kind::Run => RunRecord::decode(id, &raw).map(|r| r.id == run),
                    Kind::Commit => CommitRecord::decode(id, &raw).map(|c| c.run == run),
                    Kind::Use => crate::object::UseRecord::decode(id, &raw).map(|u| u.run == run),
                    other => {
                        self.corrupt(marker, format!("marks a {}", other.name()));
                        continue;
                    }
                };
                match ok {
                    Ok(true) => {}
                    Ok(false) => self.corrupt(marker, "record of another run"),
                    Err(e) => self.corrupt(marker, e.to_string()),
                }
            }
        }
        Ok(())
    }

    fn markers_in(&mut self, dir: &std::path::Path) -> Result<Vec<(PathBuf, ObjectId)>> {
        let mut out = Vec::new();
        for name in list_dir(dir)? {
            let path = dir.join(&name);
            match ObjectId::from_hex(&name) {
                Some(id) if path.is_file() => {
                    self.report.markers += 1;
                    out.push((path, id));
                }
                _ => self.report.stray.push(path),
            }
        }
        Ok(out)
    }

    fn check_tree(&mut self, root: ObjectId, needed_by: &str) -> Result<()> {
        let mut stack = vec![(root, needed_by.to_string())];
        while let Some((id, needed_by)) = stack.pop() {
            if !self.trees_done.insert(id) {
                continue;
            }
            let path = self.store.object_path(&id);
            match self.expect(id, &needed_by) {
                None => continue,
                Some(Kind::Tree) => {}
                Some(k) => {
                    self.corrupt(path, format!("expected a tree, found a {}", k.name()));
                    continue;
                }
            }
            let raw = self.store.read_object(&id)?.1;
            let tree = match Tree::decode(id, &raw) {
                Ok(t) => t,
                Err(e) => {
                    self.corrupt(path, e.to_string());
                    continue;
                }
            };
            let mut names = BTreeMap::new();
            for e in &tree.entries {
                if let Err(reason) = check_component(&e.name) {
                    self.corrupt(
                        path.clone(),
                        format!("unsafe entry name {:?}: {reason}", e.name),
                    );
                }
                if names.insert(e.name.clone(), ()).is_some() {
                    self.corrupt(path.clone(), format!("repeated entry {:?}", e.name));
                }
                let by = format!("tree {}", id.short());
                match e.node {
                    Node::Dir(sub) => stack.push((sub, by)),
                    Node::File(f) => match self.expect(f.id, &by) {
                        None | Some(Kind::Blob) => {}
                        Some(k) => self.corrupt(
                            self.store.object_path(&f.id),
                            format!("expected a blob, found a {}", k.name()),
                        ),
                    },
                }
            }
        }
        Ok(())
    }
}
