//! codever versions the code of machine-learning runs.
//!
//! Each run logs its code as **artifacts** (a type and a name holding files under display
//! paths). Unchanged content links the run to the existing version; changed content makes the
//! next version. Everything lives offline in a `.codever` directory that can be merged with another
//! copy by copying files (rsync, a shared folder).
//!
//! ```
//! use codever::{ArtifactKey, CommitOptions, Snapshot, Spec, Store, capture_run};
//!
//! # fn main() -> codever::Result<()> {
//! let dir = tempfile::tempdir().unwrap();
//! let store = Store::init(dir.path())?;
//! let key = ArtifactKey::new("rl_algo_code", "ppo")?;
//!
//! let mut code = Snapshot::default();
//! code.add_bytes("ppo.py", b"lr = 3e-4\n".to_vec(), false)?;
//! let run = capture_run("run1", dir.path())?;
//! let first = store.commit(&key, &code, &run, &CommitOptions::default())?;
//! assert_eq!((first.version, first.new), (Some(0), true));
//!
//! // The same content again: no new version, the run is linked to v0.
//! let run = capture_run("run2", dir.path())?;
//! let again = store.commit(&key, &code, &run, &CommitOptions::default())?;
//! assert_eq!((again.version, again.new), (Some(0), false));
//!
//! // Read it back.
//! let resolved = store.resolve(&Spec::parse("ppo:latest")?)?;
//! let files = codever::flatten(&store, &resolved.version().tree)?;
//! assert_eq!(store.read_blob(&files[0].meta.id)?, b"lr = 3e-4\n");
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod capture;
pub mod diff;
pub mod error;
pub mod frontend;
pub mod history;
pub mod html;
pub mod id;
mod key;
mod kind;
pub mod names;
pub mod object;
pub mod ops;
pub mod remote;
pub mod signals;
pub mod store;
pub mod tree;
pub mod ui;
pub mod view;

pub use capture::{snapshot, statcache};
pub use diff::render;
pub use ops::{checkout, commit, compare, env, forget, fsck};
/// Runs: capturing one ([`capture::run`]) and what each logged ([`ops::run`]).
pub mod run {
    pub use crate::capture::run::*;
    pub use crate::ops::run::*;
}

pub use capture::Progress;
pub use checkout::{CheckoutOptions, CheckoutReport};
pub use commit::{CommitOptions, CommitOutcome};
pub use diff::ChangeCounts;
pub use error::{Error, NotTextReason, Obstacle, Remedy, RemoteFailure, Result};
pub use forget::{ForgetOutcome, ForgetTarget, RenameOutcome};
pub use fsck::{Corruption, FsckOptions, FsckReport, Missing, Repair, RepairAction, Unlinked};
pub use history::{CommitInfo, Forgotten, History, Resolved, Selector, Spec, Version};
pub use id::{Md5, ObjectId, wandb_digest};
pub use key::ArtifactKey;
pub use object::{FileMeta, RunRecord, RunStateRecord};
pub use run::{RunArtifact, RunCapture, RunUse, RunView, capture_run, new_run_id};
pub use snapshot::{Filter, ManifestEntry, Snapshot, code_files, dir_files};
pub use store::{ObjectSource, Store};
pub use tree::flatten;

/// The library's floors: each top-level module may import only modules on lower floors, so the
/// drawing of its imports has arrows pointing one way (see ARCHITECTURE.md, "Module map").
#[cfg(test)]
mod floors {
    use std::collections::BTreeSet;
    use std::path::Path;

    const FLOORS: &[(&str, u8)] = &[
        ("kind", 0),
        ("signals", 0),
        ("id", 1),
        ("error", 2),
        ("names", 3),
        ("key", 4),
        ("object", 5),
        ("store", 6),
        ("tree", 7),
        ("history", 7),
        ("capture", 8),
        ("diff", 9),
        ("ops", 10),
        ("view", 11),
        ("frontend", 11),
        ("remote", 11),
        ("html", 12),
        ("ui", 13),
        // The public paths kept as re-exports sit on the floor of what they re-export.
        ("checkout", 10),
        ("commit", 10),
        ("compare", 10),
        ("env", 10),
        ("forget", 10),
        ("fsck", 10),
        ("run", 10),
        ("snapshot", 8),
        ("statcache", 8),
        ("render", 9),
    ];

    fn floor(module: &str) -> u8 {
        match FLOORS.iter().find(|(m, _)| *m == module) {
            Some((_, f)) => *f,
            None => panic!("module `{module}` has no floor: add it to FLOORS in src/lib.rs"),
        }
    }

    /// The top-level modules named by `crate::…` paths in `text` (tests and comments excluded).
    fn imports(text: &str) -> BTreeSet<String> {
        let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or(text);
        let mut out = BTreeSet::new();
        for line in code.lines() {
            let line = line.split("//").next().unwrap_or("");
            for (i, _) in line.match_indices("crate::") {
                let name: String = line[i + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                // `crate::Item` names a re-export of the root: its module is checked where it is
                // defined.
                if !name.is_empty() {
                    out.insert(name);
                }
            }
        }
        out
    }

    fn visit(dir: &Path, top: Option<&str>, bad: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_stem().unwrap().to_str().unwrap().to_string();
            if path.is_dir() {
                if name != "bin" {
                    visit(&path, Some(top.unwrap_or(&name)), bad);
                }
                continue;
            }
            let module = top.unwrap_or(&name).to_string();
            if module == "lib" || module == "main" {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for used in imports(&text) {
                // `crate::flatten` and the like are items re-exported at the root, not modules.
                let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
                let is_module = src.join(format!("{used}.rs")).exists()
                    || src.join(&used).is_dir()
                    || FLOORS.iter().any(|(m, _)| *m == used);
                if is_module && used != module && floor(&used) >= floor(&module) {
                    bad.push(format!("{} imports crate::{used}", path.display()));
                }
            }
        }
    }

    #[test]
    fn every_import_points_to_a_lower_floor() {
        let mut bad = Vec::new();
        visit(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            None,
            &mut bad,
        );
        assert!(
            bad.is_empty(),
            "imports against the floors:\n{}",
            bad.join("\n")
        );
    }
}
