//! Remotes: other places holding a copy of the store (another store directory, or a bucket of
//! an S3-compatible service), and `push`, `pull`, `sync` between them.
//!
//! A remote has the store's own layout (the same files under the same names), so it is itself
//! a valid store and can be copied with any tool. Everything outside `local/` is add-only and
//! named by content, so a transfer only ever adds the files one side lacks:
//!
//! - **order**: data (packs, then loose blobs and trees), then records, then markers (a run's
//!   before an artifact's, `renames/` last), so an interrupted transfer never leaves a marker
//!   whose record or data the receiver lacks;
//! - **create-only**: every write is create-only (a rename that never replaces, or S3's
//!   `If-None-Match: *`), so two machines pushing at once never overwrite each other;
//! - **verified**: every received object is hash-verified before it becomes visible; a damaged or
//!   forged one is refused and named in the report while the rest goes on;
//! - **few requests**: loose objects pushed together go as one pack and its index.
//!
//! Remotes are configured in `local/remotes.json` (this machine only); what a remote holds is
//! remembered in `local/remotes/<name>/` as a cache that the next listing of the remote
//! replaces (never trusted over the remote).

mod config;
mod folder;
mod keys;
mod lazy;
#[cfg(feature = "s3")]
mod s3;
mod transfer;

pub use config::{RemoteConfig, RemoteEntry, shown_url};
pub use lazy::{FetchLog, attach_default_remote};
pub use transfer::{
    ArtifactVersions, ConcurrentVersions, Counts, PullOptions, PushOptions, Refused, SyncOptions,
    TransferReport, pull, push, sync,
};

use crate::capture::Progress;
use crate::error::{Error, RemoteFailure, Result};

/// How many requests a transfer keeps in flight at once.
pub const PARALLEL_REQUESTS: usize = 16;

/// The most bytes a whole-file `get` reads: it serves small files (loose objects listed under
/// 1 MiB, the `format` file; packs, indexes and large blobs are streamed and bounded on their
/// own), so a file this large changed since it was listed, or the remote lies about it.
pub(crate) const MAX_GET: u64 = 64 << 20;

/// The error for a whole-file `get` of more than [`MAX_GET`] bytes.
pub(crate) fn too_large_to_get(what: impl Into<std::path::PathBuf>) -> Error {
    Error::io(
        "cannot read",
        what,
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "more than {} MiB, larger than any file read whole (changed since it was listed?)",
                MAX_GET >> 20
            ),
        ),
    )
}

/// One file of a remote: its key (the path under the remote's root, `/`-separated) and size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteFile {
    /// `objects/ab/cd…`, `packs/<id>.pack`, `refs/<type>/<name>/<id>`, …
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// Not a regular file: a link, or a directory, FIFO or device where a store has a file (a
    /// folder remote; S3 holds files only). Never read; a transfer names it as refused.
    pub not_a_file: bool,
}

/// Counters of the requests a transport made (for reports and benchmarks).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct RequestCounts {
    /// Listing requests (one per page of up to 1,000 keys on S3; one per directory on a folder).
    pub list: u64,
    /// Reads of whole files or ranges.
    pub get: u64,
    /// Create-only writes (and the rare replacing write of the `format` file).
    pub put: u64,
}

/// Where a remote's files are: list by prefix, get, create-only put. Blocking; implementations
/// keep at most [`PARALLEL_REQUESTS`] requests in flight in the batch calls.
pub(crate) trait Transport: Send + Sync {
    /// Every file whose key starts with `prefix` (a directory prefix such as `refs/`).
    fn list(&self, prefix: &str) -> Result<Vec<RemoteFile>>;
    /// The bytes of `key`, `None` when absent.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>>;
    /// `len` bytes of `key` from `offset`, `None` when absent.
    fn get_range(&self, key: &str, offset: u64, len: u64) -> Result<Option<Vec<u8>>>;
    /// Writes `key` unless it exists; whether this call created it.
    fn put_new(&self, key: &str, bytes: &[u8]) -> Result<bool>;
    /// Writes `key` from the file at `path`, streamed (a large blob in bounded memory), unless
    /// it exists; whether this call created it.
    fn put_file(&self, key: &str, path: &std::path::Path) -> Result<bool> {
        let bytes = std::fs::read(path).map_err(|e| Error::io("cannot read", path, e))?;
        self.put_new(key, &bytes)
    }
    /// Streams the bytes of `key` into `out`; false when absent.
    fn get_to(&self, key: &str, out: &mut dyn std::io::Write) -> Result<bool> {
        match self.get(key)? {
            Some(bytes) => {
                out.write_all(&bytes)
                    .map_err(|e| Error::io("cannot write", "a temp file", e))?;
                Ok(true)
            }
            None => Ok(false),
        }
    }
    /// Writes `key`, replacing it (only the `format` file, whose number only ever rises).
    fn put_replace(&self, key: &str, bytes: &[u8]) -> Result<()>;
    /// Flushes what was written so far to stable storage (a folder's directories), before the
    /// next stage of the transfer makes it reachable.
    fn flush(&self) -> Result<()> {
        Ok(())
    }
    /// Many gets at once; results in the order of `keys`.
    fn get_many(&self, keys: &[String]) -> Vec<Result<Option<Vec<u8>>>> {
        keys.iter().map(|k| self.get(k)).collect()
    }
    /// Many create-only puts at once; results in the order of `items`.
    fn put_many(&self, items: &[(String, Vec<u8>)]) -> Vec<Result<bool>> {
        items.iter().map(|(k, b)| self.put_new(k, b)).collect()
    }
    /// The requests made so far.
    fn requests(&self) -> RequestCounts;
    /// The directory a folder remote is (`None` for S3): a pull from one that does not exist
    /// is an error, not an empty remote.
    fn folder(&self) -> Option<&std::path::Path> {
        None
    }
}

/// An open remote: its name, URL and transport.
pub(crate) struct Remote {
    pub name: String,
    pub url: String,
    pub transport: Box<dyn Transport>,
    /// Bytes of the transfer under way, for a progress bar.
    pub meter: Meter,
}

/// Bytes a transfer has moved and has to move, reported to a [`Progress`] callback.
#[derive(Default)]
pub(crate) struct Meter {
    progress: Option<Progress>,
    done: std::sync::atomic::AtomicU64,
    total: std::sync::atomic::AtomicU64,
}

impl Meter {
    /// More bytes to move.
    pub fn add_total(&self, n: u64) {
        self.total
            .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        self.report();
    }

    /// Bytes moved (sent, or found already there; fetched).
    pub fn advance(&self, n: u64) {
        self.done.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        self.report();
    }

    /// The transfer is over: what was estimated to move is what moved.
    pub fn finish(&self) {
        let done = self.done.load(std::sync::atomic::Ordering::Relaxed);
        self.total.store(done, std::sync::atomic::Ordering::Relaxed);
        self.report();
    }

    fn report(&self) {
        if let Some(p) = &self.progress {
            let total = self.total.load(std::sync::atomic::Ordering::Relaxed);
            let done = self
                .done
                .load(std::sync::atomic::Ordering::Relaxed)
                .min(total);
            (p.0)(done as usize, total as usize);
        }
    }
}

impl Remote {
    /// Opens the remote `entry` (no request is made yet).
    /// Reports the bytes of transfers to `progress`.
    pub(crate) fn with_progress(mut self, progress: Option<Progress>) -> Remote {
        self.meter.progress = progress;
        self
    }

    pub(crate) fn open(name: &str, entry: &RemoteEntry) -> Result<Remote> {
        let transport: Box<dyn Transport> = match config::parse_url(&entry.url)? {
            config::Location::Folder(path) => {
                // A folder added before it held anything, that is now a project holding a store
                // (`codever init` there): the store, as `remote add` would choose now.
                let store = path.join(crate::store::STORE_DIR_NAME);
                let path = if !path.join("format").is_file() && store.join("format").is_file() {
                    store
                } else {
                    path
                };
                Box::new(folder::Folder::new(&path))
            }
            #[cfg(feature = "s3")]
            config::Location::S3 { bucket, prefix } => Box::new(s3::S3::new(
                name,
                &entry.url,
                &bucket,
                &prefix,
                entry.endpoint_url.as_deref(),
            )?),
            #[cfg(not(feature = "s3"))]
            config::Location::S3 { .. } => {
                return Err(Error::InvalidRemoteUrl {
                    url: entry.url.clone(),
                    reason: "this codever was built without the `s3` feature".into(),
                });
            }
        };
        let transport = match std::env::var(KILL_AFTER_PUTS_ENV)
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
        {
            Some(n) => Box::new(KillAfterPuts {
                inner: transport,
                left: std::sync::Mutex::new(n),
            }),
            None => transport,
        };
        Ok(Remote {
            name: name.to_string(),
            url: entry.url.clone(),
            transport,
            meter: Meter::default(),
        })
    }

    /// An error of this remote.
    pub(crate) fn error(&self, failure: RemoteFailure, detail: impl Into<String>) -> Error {
        Error::Remote {
            remote: self.name.clone(),
            url: self.url.clone(),
            failure,
            detail: detail.into(),
        }
    }

    /// Errors of the transport carry the remote's name and URL.
    pub(crate) fn named(&self, e: Error) -> Error {
        match e {
            Error::Remote {
                failure, detail, ..
            } => self.error(failure, detail),
            e => e,
        }
    }
}

/// Fault injection for the tests of interrupted transfers: with this variable set to K, the
/// process kills itself (SIGKILL: nothing is cleaned up, as when a machine is switched off)
/// right after its K-th write that created a file on the remote, and writes go one at a time,
/// so the remote then holds exactly what a transfer had written by that point.
pub const KILL_AFTER_PUTS_ENV: &str = "CODEVER_TEST_KILL_AFTER_PUTS";

struct KillAfterPuts {
    inner: Box<dyn Transport>,
    left: std::sync::Mutex<u64>,
}

impl KillAfterPuts {
    fn wrote(&self) {
        let mut left = self.left.lock().unwrap_or_else(|e| e.into_inner());
        *left = left.saturating_sub(1);
        if *left == 0 {
            #[cfg(unix)]
            let _ = rustix::process::kill_process(
                rustix::process::getpid(),
                rustix::process::Signal::KILL,
            );
            std::process::abort();
        }
    }
}

impl Transport for KillAfterPuts {
    fn list(&self, prefix: &str) -> Result<Vec<RemoteFile>> {
        self.inner.list(prefix)
    }
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.inner.get(key)
    }
    fn get_range(&self, key: &str, offset: u64, len: u64) -> Result<Option<Vec<u8>>> {
        self.inner.get_range(key, offset, len)
    }
    fn put_new(&self, key: &str, bytes: &[u8]) -> Result<bool> {
        let created = self.inner.put_new(key, bytes)?;
        if created {
            self.wrote();
        }
        Ok(created)
    }
    fn put_replace(&self, key: &str, bytes: &[u8]) -> Result<()> {
        self.inner.put_replace(key, bytes)?;
        self.wrote();
        Ok(())
    }
    fn put_file(&self, key: &str, path: &std::path::Path) -> Result<bool> {
        let created = self.inner.put_file(key, path)?;
        if created {
            self.wrote();
        }
        Ok(created)
    }
    fn get_to(&self, key: &str, out: &mut dyn std::io::Write) -> Result<bool> {
        self.inner.get_to(key, out)
    }
    fn flush(&self) -> Result<()> {
        self.inner.flush()
    }
    fn get_many(&self, keys: &[String]) -> Vec<Result<Option<Vec<u8>>>> {
        self.inner.get_many(keys)
    }
    fn requests(&self) -> RequestCounts {
        self.inner.requests()
    }
    fn folder(&self) -> Option<&std::path::Path> {
        self.inner.folder()
    }
}
