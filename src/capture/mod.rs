//! Capturing what a run used: files hashed (and stored) from disk or memory ([`snapshot`]),
//! trusted from their stat when unchanged ([`statcache`]), written through a pack
//! ([`staging`]), and the run itself ([`run`]: id, host, git HEAD).
//!
//! May import `store`, `history` (for delta bases), `tree`, `object` and below; never `diff` or
//! the operations.

pub mod run;
pub mod snapshot;
pub(crate) mod staging;
pub mod statcache;

pub use run::{RunCapture, capture_run, host_name, new_run_id, now_ns};
pub use snapshot::{Filter, Snapshot, code_files};
pub use staging::Progress;
