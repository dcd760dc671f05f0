//! The stat cache: re-committing an unchanged tree costs `stat` calls, not reads.
//!
//! For each file read during a commit it remembers (size, mtime, ctime, inode, device, mode) and
//! the content's BLAKE3 id and MD5. A later commit trusts an entry only when every one of those
//! stat fields is unchanged **and** the file's mtime and ctime were older than the moment its
//! content was read (git's "racy clean" problem: a file changed again within the timestamp
//! granularity of its first read would otherwise look unchanged).
//!
//! "The moment it was read" is measured as git measures it: on the filesystem's own clock. Before
//! reading any file, a commit rewrites `local/statcache/clock` and takes that file's mtime as the
//! reference; any later change to a file on the same device gets an mtime at or after it, at any
//! timestamp granularity. For files on another device (another clock, maybe another granularity)
//! the wall clock is used with a [`RACY_MARGIN_NS`] margin instead.
//!
//! Machine-local (`local/statcache/`), one shard per source root so a small commit never loads the
//! entries of a large tree, checksummed, rebuilt when damaged, never needed for correctness: a
//! trusted entry is still only used when the store holds its object.

use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::id::{Md5, ObjectId};
use crate::store::{Layout, Store, read_checked};

/// How much older than the read a file's timestamps must be for its entry to be trusted: covers
/// coarse filesystem timestamps (2 s on FAT) and small clock differences on network filesystems.
pub const RACY_MARGIN_NS: i64 = 2_000_000_000;
const MAGIC: &[u8; 4] = b"CDVS";
const VERSION: u8 = 2;

/// The stat fields that must be unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatKey {
    /// Size in bytes.
    pub size: u64,
    /// Modification time, ns since the epoch.
    pub mtime_ns: i64,
    /// Status change time, ns since the epoch.
    pub ctime_ns: i64,
    /// Inode number.
    pub ino: u64,
    /// Device number.
    pub dev: u64,
    /// Mode bits.
    pub mode: u32,
}

impl StatKey {
    /// The key of a file's metadata.
    pub fn of(meta: &fs::Metadata) -> StatKey {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            StatKey {
                size: meta.len(),
                mtime_ns: meta.mtime().saturating_mul(1_000_000_000) + meta.mtime_nsec(),
                ctime_ns: meta.ctime().saturating_mul(1_000_000_000) + meta.ctime_nsec(),
                ino: meta.ino(),
                dev: meta.dev(),
                mode: meta.mode(),
            }
        }
        #[cfg(not(unix))]
        {
            let ns = |t: std::io::Result<std::time::SystemTime>| {
                t.ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_nanos() as i64)
            };
            StatKey {
                size: meta.len(),
                mtime_ns: ns(meta.modified()),
                ctime_ns: ns(meta.created()),
                ino: 0,
                dev: 0,
                mode: meta.permissions().readonly() as u32,
            }
        }
    }
}

/// One remembered file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Stat fields when it was read.
    pub key: StatKey,
    /// When its content was read (ns since the epoch, taken before reading).
    pub read_at_ns: i64,
    /// Whether `read_at_ns` is the filesystem's own clock on the file's device (exact rule) rather
    /// than the wall clock (rule with a margin).
    pub fs_clock: bool,
    /// Blob id of the content.
    pub id: ObjectId,
    /// MD5 of the content.
    pub md5: Md5,
}

impl Entry {
    /// Whether this entry may stand for a file whose stat is now `now`.
    pub fn trusted_for(&self, now: &StatKey) -> bool {
        let margin = if self.fs_clock { 0 } else { RACY_MARGIN_NS };
        self.key == *now
            && self.key.mtime_ns < self.read_at_ns - margin
            && self.key.ctime_ns < self.read_at_ns - margin
    }
}

type Shard = HashMap<String, Entry>;

/// The cache for the sources of one commit.
pub(crate) struct StatCache {
    layout: Layout,
    shards: HashMap<String, Shard>,
    updates: Mutex<HashMap<String, Vec<(String, Entry)>>>,
    /// (device, mtime) of the clock file, rewritten before any source is read.
    reference: Option<(u64, i64)>,
}

fn shard_name(source_root: &str) -> String {
    blake3::hash(source_root.as_bytes()).to_hex()[..32].to_string()
}

impl StatCache {
    /// Loads the shards of the given source roots.
    pub fn load<'a>(store: &Store, roots: impl IntoIterator<Item = &'a str>) -> StatCache {
        let dir = store.layout().statcache_dir();
        let mut shards = HashMap::new();
        for root in roots {
            let name = shard_name(root);
            if shards.contains_key(&name) {
                continue;
            }
            let shard = read_shard(&dir.join(&name)).unwrap_or_default();
            shards.insert(name, shard);
        }
        let reference = fs::create_dir_all(&dir)
            .and_then(|()| fs::write(dir.join("clock"), b"."))
            .and_then(|()| fs::metadata(dir.join("clock")))
            .ok()
            .map(|m| {
                let k = StatKey::of(&m);
                (k.dev, k.mtime_ns)
            });
        StatCache {
            layout: store.layout().clone(),
            shards,
            updates: Mutex::new(HashMap::new()),
            reference,
        }
    }

    /// The time to record for a file about to be read: the filesystem clock when the file is on
    /// the clock file's device (exact), else the wall clock `now_ns` (with a margin).
    pub fn read_time(&self, key: &StatKey, now_ns: i64) -> (i64, bool) {
        match self.reference {
            Some((dev, mtime)) if dev == key.dev && cfg!(unix) => (mtime, true),
            _ => (now_ns, false),
        }
    }

    /// The remembered content of `path` (under source root `root`), if trusted for `now`.
    pub fn lookup(&self, root: &str, path: &Path, now: &StatKey) -> Option<(ObjectId, Md5)> {
        let e = self.shards.get(&shard_name(root))?.get(path.to_str()?)?;
        e.trusted_for(now).then_some((e.id, e.md5))
    }

    /// Remembers what was read.
    pub fn record(&self, root: &str, path: &Path, entry: Entry) {
        let Some(p) = path.to_str() else { return };
        let mut u = self.updates.lock().unwrap_or_else(|e| e.into_inner());
        u.entry(shard_name(root))
            .or_default()
            .push((p.to_string(), entry));
    }

    /// Writes the shards that changed (best effort: the cache is an optimisation).
    pub fn save(self) {
        let updates = self.updates.into_inner().unwrap_or_else(|e| e.into_inner());
        if updates.is_empty() {
            return;
        }
        let mut shards = self.shards;
        for (name, entries) in updates {
            let shard = shards.entry(name.clone()).or_default();
            for (p, e) in entries {
                shard.insert(p, e);
            }
            write_shard(&self.layout, &name, shard);
        }
    }
}

fn read_shard(path: &Path) -> Option<Shard> {
    let body = read_checked(path, MAGIC, VERSION)?;
    postcard::from_bytes::<Vec<(String, Entry)>>(&body)
        .ok()
        .map(|v| v.into_iter().collect())
}

fn write_shard(layout: &Layout, name: &str, shard: &Shard) {
    let entries: Vec<(&String, &Entry)> = shard.iter().collect();
    if let Ok(body) = postcard::to_stdvec(&entries) {
        layout.write_checked(&layout.statcache_dir().join(name), MAGIC, VERSION, &body);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key holds a file's times to the nanosecond as the kernel reports them (the racy rule
    /// compares them with the time of the read), read here through `rustix` rather than `std`.
    #[cfg(unix)]
    #[test]
    fn keys_hold_the_kernels_times_to_the_nanosecond() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.py");
        // Times whose nanoseconds are far from 0: a sign flipped or a part dropped shows.
        for (secs, nanos) in [
            (1_700_000_000i64, 987_654_321i64),
            (1_700_000_001, 123_456_789),
        ] {
            fs::write(&path, b"x = 1\n").unwrap();
            let t = rustix::fs::Timespec {
                tv_sec: secs,
                tv_nsec: nanos,
            };
            rustix::fs::utimensat(
                rustix::fs::CWD,
                &path,
                &rustix::fs::Timestamps {
                    last_access: t,
                    last_modification: t,
                },
                rustix::fs::AtFlags::empty(),
            )
            .unwrap();
            let key = StatKey::of(&fs::metadata(&path).unwrap());
            let st = rustix::fs::stat(&path).unwrap();
            assert_eq!(key.mtime_ns, secs * 1_000_000_000 + nanos);
            assert_eq!(
                key.ctime_ns,
                st.st_ctime * 1_000_000_000 + i64::try_from(st.st_ctime_nsec).unwrap()
            );
            assert_eq!((key.size, key.ino), (6, st.st_ino));
        }
    }

    fn key(mtime_ns: i64) -> StatKey {
        StatKey {
            size: 10,
            mtime_ns,
            ctime_ns: mtime_ns,
            ino: 1,
            dev: 1,
            mode: 0o100644,
        }
    }

    fn entry(k: StatKey, read_at_ns: i64) -> Entry {
        Entry {
            key: k,
            read_at_ns,
            fs_clock: false,
            id: ObjectId::from_bytes([1; 32]),
            md5: Md5::from_bytes([2; 16]),
        }
    }

    /// With the filesystem's own clock as reference the rule is exact, like git's: trusted only
    /// if the file's timestamps are strictly before the reference.
    #[test]
    fn filesystem_clock_entries_use_the_exact_rule() {
        let t = 1_700_000_000_000_000_000;
        let exact = |k: StatKey, r: i64| Entry {
            fs_clock: true,
            ..entry(k, r)
        };
        assert!(exact(key(t), t + 1).trusted_for(&key(t)));
        // Same tick as the reference: racy.
        assert!(!exact(key(t), t).trusted_for(&key(t)));
        // The mtime alone in the reference's tick (set there by hand, the ctime older) is racy.
        let k = StatKey {
            ctime_ns: t - 1_000_000_000,
            ..key(t)
        };
        assert!(!exact(k, t).trusted_for(&k));
        // The ctime alone in the reference's tick (an mtime set back) is racy too.
        let k = StatKey {
            mtime_ns: t - 1_000_000_000,
            ..key(t)
        };
        assert!(!exact(k, t).trusted_for(&k));
        assert!(!exact(key(t + 5), t).trusted_for(&key(t + 5)));
    }

    /// The racy case: a file read in the same timestamp tick as its last modification is never
    /// trusted, even when its stat is unchanged later (it may have been rewritten within the tick).
    /// The filesystem's clock is used for files on the clock file's device only: another
    /// device's clock may differ, so its files get the wall clock (and the rule's margin).
    #[test]
    fn the_filesystem_clock_serves_only_its_own_device() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::Store::init(dir.path()).unwrap();
        let cache = StatCache::load(&store, ["src"]);
        let (dev, clock) = cache.reference.expect("a clock file");
        let here = StatKey { dev, ..key(5) };
        assert_eq!(cache.read_time(&here, 42), (clock, cfg!(unix)));
        let elsewhere = StatKey {
            dev: dev.wrapping_add(1),
            ..key(5)
        };
        assert_eq!(cache.read_time(&elsewhere, 42), (42, false));
    }

    /// Each source root has a shard of its own: two roots holding the same relative paths keep
    /// both their entries, so re-committing either unchanged reads no file.
    #[test]
    fn roots_with_the_same_paths_keep_their_entries_apart() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::Store::init(dir.path()).unwrap();
        let commit = |root: &Path, name: &str| {
            let mut snapshot = crate::Snapshot::default();
            snapshot.add_dir(root, None).unwrap();
            let run = crate::capture_run(name, store.root()).unwrap();
            let key = crate::ArtifactKey::new("code", name).unwrap();
            store
                .commit(&key, &snapshot, &run, &crate::CommitOptions::default())
                .unwrap()
                .files_read
        };
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        for (root, body) in [(&a, "x = 1\n"), (&b, "x = 2\n")] {
            fs::create_dir_all(root).unwrap();
            fs::write(root.join("m.py"), body).unwrap();
        }
        // Let the files' times fall behind the filesystem clock (the racy rule).
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!((commit(&a, "a"), commit(&b, "b")), (1, 1));
        assert_eq!((commit(&a, "a"), commit(&b, "b")), (0, 0));
        assert_ne!(shard_name("/x/a"), shard_name("/x/b"));
    }

    #[test]
    fn racy_entries_are_not_trusted() {
        let t = 1_700_000_000_000_000_000;
        // Modified at t, read 1 ms later: racy.
        assert!(!entry(key(t), t + 1_000_000).trusted_for(&key(t)));
        // Modified at t, read 3 s later: trusted while the stat is unchanged.
        let e = entry(key(t), t + 3_000_000_000);
        assert!(e.trusted_for(&key(t)));
        // Any stat change means re-reading.
        assert!(!e.trusted_for(&key(t + 1)));
        assert!(!e.trusted_for(&StatKey { size: 11, ..key(t) }));
        assert!(!e.trusted_for(&StatKey { ino: 2, ..key(t) }));
        assert!(!e.trusted_for(&StatKey {
            mode: 0o100755,
            ..key(t)
        }));
        // A ctime in the racy window is enough to distrust it.
        let k = StatKey {
            ctime_ns: t + 2_500_000_000,
            ..key(t)
        };
        assert!(!entry(k, t + 3_000_000_000).trusted_for(&k));
        // An mtime in the future (a clock set wrong, `touch -d`) is never trusted, whatever the
        // ctime, with either clock.
        let future = StatKey {
            mtime_ns: t + 10_000_000_000,
            ..key(t)
        };
        assert!(!entry(future, t + 3_000_000_000).trusted_for(&future));
        let exact = Entry {
            fs_clock: true,
            ..entry(future, t + 3_000_000_000)
        };
        assert!(!exact.trusted_for(&future));
        // The mtime alone in the racy window (an old ctime) is enough to distrust it too.
        let k = StatKey {
            mtime_ns: t + 2_500_000_000,
            ..key(t)
        };
        assert!(!entry(k, t + 3_000_000_000).trusted_for(&k));
    }
}
