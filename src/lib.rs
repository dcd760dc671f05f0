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
//! let (history, index) = store.resolve(&Spec::parse("ppo:latest")?)?;
//! let files = codever::flatten(&store, &history.versions[index].tree)?;
//! assert_eq!(store.read_blob(&files[0].1.id)?, b"lr = 3e-4\n");
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod cache;
pub mod checkout;
pub mod commit;
pub mod compare;
pub mod diff;
pub mod error;
pub mod frontend;
pub mod fsck;
pub mod history;
pub mod id;
pub mod names;
pub mod object;
mod pack;
mod refs;
pub mod render;
pub mod run;
pub mod snapshot;
pub mod statcache;
pub mod store;
pub mod tree;
pub mod view;

pub use checkout::CheckoutReport;
pub use commit::{CommitOptions, CommitOutcome, Progress};
pub use error::{Error, Remedy, Result};
pub use fsck::{Corruption, FsckOptions, FsckReport, Missing, Repair, RepairAction, Unlinked};
pub use history::{ArtifactKey, CommitInfo, History, Selector, Spec, Version};
pub use id::{Md5, ObjectId, wandb_digest};
pub use object::{FileMeta, RunRecord};
pub use run::{RunArtifact, RunCapture, RunUse, RunView, capture_run, new_run_id};
pub use snapshot::{Filter, ManifestEntry, Snapshot, code_files};
pub use store::Store;
pub use tree::{ChangeCounts, flatten};
