//! What users compare: two versions, a version and the files on disk, two runs; the history of
//! an artifact or of one file in it; and blame ("which run changed this line?").

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use crate::capture::snapshot::Snapshot;
use crate::diff::ChangeCounts;
use crate::diff::{
    DiffOptions, Objects, Status, TreeDiff, diff_trees, diff_trees_at, diff_worktree, line_changes,
    split_lines,
};
use crate::error::{Error, NotTextReason, Result};
use crate::history::{CommitInfo, History};
use crate::id::ObjectId;
use crate::key::ArtifactKey;
use crate::names::normalize_path;
use crate::store::Store;
use crate::store::read_checked;
use crate::tree::flatten;

/// One artifact in a comparison of two runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunsArtifact {
    /// The artifact.
    pub key: ArtifactKey,
    /// Version (number, id) the first run logged, if it logged this artifact.
    pub left: Option<(Option<usize>, ObjectId)>,
    /// Version (number, id) the second run logged, if it logged this artifact.
    pub right: Option<(Option<usize>, ObjectId)>,
}

/// The comparison of two runs: every artifact either logged, and the file changes of those both
/// logged, with paths under `TYPE/NAME/`.
#[derive(Clone, Debug)]
pub struct RunsDiff {
    /// Artifacts, sorted by type and name.
    pub artifacts: Vec<RunsArtifact>,
    /// File changes of the artifacts both runs logged.
    pub diff: TreeDiff,
    /// What changed in the environment (`env/environment`), when both runs logged one.
    pub environment: Vec<crate::ops::env::EnvChange>,
}

/// One entry of `log`: a version and what changed from the version before it.
#[derive(Clone, Debug)]
pub struct LogEntry {
    /// Index of the version in the history.
    pub version: usize,
    /// The changes from the previous version (all files, or only the followed file).
    pub diff: TreeDiff,
}

/// One line of a blamed file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlameLine {
    /// 1-based line number in the blamed version.
    pub line: usize,
    /// Version that introduced the line.
    pub version: usize,
    /// The line's bytes, with its line ending.
    pub text: Vec<u8>,
}

/// The change-count cache (`local/cache/artifacts/<type>/<name>/changes`): pairs of trees with their
/// [`ChangeCounts`]. Its layout is that of the record cache, under the same magic.
const CACHE_MAGIC: &[u8; 4] = b"CDVC";
const CACHE_VERSION: u8 = 1;

impl Store {
    /// Compares two stored versions (by their tree ids).
    pub fn diff_versions(
        &self,
        left: ObjectId,
        right: ObjectId,
        opts: &DiffOptions,
    ) -> Result<TreeDiff> {
        diff_trees(&Objects::new(self), Some(left), Some(right), opts)
    }

    /// Compares a version with the files on disk where it was committed from: the sources of its
    /// newest commit whose paths exist on this machine (else of its newest commit).
    pub fn diff_worktree(
        &self,
        history: &History,
        index: usize,
        opts: &DiffOptions,
    ) -> Result<TreeDiff> {
        let v = &history.versions[index];
        let record = v
            .commits
            .iter()
            .rev()
            .find(|c| crate::diff::sources_present(&c.record))
            .or(v.commits.last())
            .map(|c: &CommitInfo| &c.record)
            .ok_or_else(|| Error::NoCommit {
                artifact: history.key.to_string(),
                id: v.tree,
            })?;
        diff_worktree(self, v.tree, record, opts)
    }

    /// Compares the files under `dir` (as a directory source: every file, `.gitignore` honoured)
    /// with version `tree`: an empty diff means `dir` holds exactly that version, as after a
    /// checkout.
    pub fn verify_dir(&self, tree: ObjectId, dir: &std::path::Path) -> Result<TreeDiff> {
        let mut snapshot = Snapshot::default();
        snapshot.add_dir(dir, None)?;
        let mut objects = Objects::new(self);
        let disk = objects.add_snapshot(&snapshot)?;
        let opts = DiffOptions {
            names_only: true,
            rename_threshold: None,
            ..DiffOptions::default()
        };
        diff_trees(&objects, Some(tree), Some(disk), &opts)
    }

    /// Compares what two runs logged, artifact by artifact (matched by type and name). When a run
    /// logged an artifact several times, its last commit counts.
    pub fn diff_runs(&self, left: &str, right: &str, opts: &DiffOptions) -> Result<RunsDiff> {
        let (a, b) = (self.run(left)?, self.run(right)?);
        let mut by_key: BTreeMap<ArtifactKey, RunsArtifact> = BTreeMap::new();
        for (run, is_left) in [(&a, true), (&b, false)] {
            for art in &run.artifacts {
                let e = by_key
                    .entry(art.key.clone())
                    .or_insert_with(|| RunsArtifact {
                        key: art.key.clone(),
                        left: None,
                        right: None,
                    });
                let v = Some((art.version, art.tree));
                if is_left {
                    e.left = v;
                } else {
                    e.right = v;
                }
            }
        }
        let mut diff = TreeDiff::default();
        for e in by_key.values() {
            if let (Some((_, l)), Some((_, r))) = (e.left, e.right) {
                let mut d = self.diff_versions(l, r, opts)?;
                d.prefix_paths(&format!("{}/{}", e.key.artifact_type, e.key.name));
                diff.files.extend(d.files);
            }
        }
        let environment = match by_key.get(&crate::ops::env::env_key()) {
            Some(RunsArtifact {
                left: Some((_, l)),
                right: Some((_, r)),
                ..
            }) if l != r => self.env_changes(*l, *r)?,
            _ => Vec::new(),
        };
        Ok(RunsDiff {
            artifacts: by_key.into_values().collect(),
            diff,
            environment,
        })
    }

    /// The versions from `upto` back to `v0`, newest first, each with its changes from the
    /// version before it. With `path`, only the versions where that file changed, following it
    /// back through renames; the diff then holds only that file.
    pub fn log(
        &self,
        history: &History,
        upto: usize,
        path: Option<&str>,
        opts: &DiffOptions,
    ) -> Result<Vec<LogEntry>> {
        let mut tracked = match path {
            Some(p) => Some(self.existing_path(history, upto, p)?),
            None => None,
        };
        let objects = Objects::new(self);
        let mut out = Vec::new();
        for i in (0..=upto).rev() {
            let prev = i.checked_sub(1).map(|p| history.versions[p].tree);
            let tree = Some(history.versions[i].tree);
            match &tracked {
                None => out.push(LogEntry {
                    version: i,
                    diff: diff_trees(&objects, prev, tree, opts)?,
                }),
                Some(p) => {
                    // Only the followed file's diff is made (the others' blobs are not read).
                    let Some(f) = diff_trees_at(&objects, prev, tree, opts, p)? else {
                        continue;
                    };
                    let next = match f.status {
                        Status::Renamed => f.old_path.clone(),
                        Status::Added => None,
                        _ => tracked.clone(),
                    };
                    out.push(LogEntry {
                        version: i,
                        diff: TreeDiff { files: vec![f] },
                    });
                    match next {
                        Some(n) => tracked = Some(n),
                        None => break,
                    }
                }
            }
        }
        Ok(out)
    }

    /// Every line of `path` at version `index`, with the version that introduced it: the file is
    /// followed back through renames, and a line keeps an older origin only where the diff between
    /// two consecutive versions of the file (git's default diff, as `git blame` uses) says it is
    /// unchanged. The version blamed must hold the file as text ([`Error::NotText`]); an older
    /// version where it was binary or large breaks the line of descent: the next text version's
    /// lines are its own.
    pub fn blame(&self, history: &History, index: usize, path: &str) -> Result<Vec<BlameLine>> {
        let opts = DiffOptions {
            context: 0,
            ..DiffOptions::default()
        };
        let chain = self.log(history, index, Some(path), &opts)?;
        self.blame_chain(path, &chain, &opts)
    }

    /// [`blame`](Store::blame), but each line is credited to the earliest version that had it
    /// at that path ("which run first logged this line?"), even where the line was deleted and
    /// came back later, or the file was deleted and added again. A line counts as had by an
    /// older version where git's default diff from that version's file to this one keeps it
    /// unchanged; the path is followed back through renames, and before the file's first
    /// version at a path, older versions are looked at under that same path. Older copies that
    /// are binary or too large to compare are passed over.
    pub fn blame_first_seen(
        &self,
        history: &History,
        index: usize,
        path: &str,
    ) -> Result<Vec<BlameLine>> {
        let opts = DiffOptions {
            context: 0,
            ..DiffOptions::default()
        };
        let chain = self.log(history, index, Some(path), &opts)?;
        let mut lines = self.blame_chain(path, &chain, &opts)?;
        let target: Vec<u8> = lines.iter().flat_map(|l| l.text.iter().copied()).collect();
        let target_lines = split_lines(&target);
        // The path the file has at each version, newest first, following the renames the chain
        // found; the oldest distinct content of each copy counts.
        let renamed: HashMap<usize, String> = chain
            .iter()
            .filter_map(|e| {
                let f = e.diff.files.first()?;
                if f.status != Status::Renamed {
                    return None;
                }
                Some((e.version, f.old_path.clone()?))
            })
            .collect();
        let mut tracked = normalize_path(path)?;
        let mut earliest: HashMap<ObjectId, usize> = HashMap::new();
        for v in (0..=index).rev() {
            if let Some(meta) = crate::tree::lookup(self, &history.versions[v].tree, &tracked)?
                && meta.size < crate::store::LARGE_FILE
            {
                earliest.insert(meta.id, v);
            }
            if let Some(old) = renamed.get(&v) {
                tracked = old.clone();
            }
        }
        let mut copies: Vec<(usize, ObjectId)> =
            earliest.into_iter().map(|(id, v)| (v, id)).collect();
        copies.sort_unstable();
        let mut seen: Vec<Option<usize>> = vec![None; lines.len()];
        for (version, blob) in copies {
            if version >= index || seen.iter().all(Option::is_some) {
                break;
            }
            let content = self.read_blob(&blob)?;
            if crate::diff::is_binary(&content) {
                continue;
            }
            let changes = line_changes(
                &split_lines(&content),
                &target_lines,
                opts.algorithm,
                Instant::now() + Duration::from_secs(5),
            );
            let mut new_at = 0;
            let mut mark = |from: usize, to: usize| {
                let n = seen.len();
                for s in &mut seen[from.min(n)..to.min(n)] {
                    s.get_or_insert(version);
                }
            };
            for c in &changes {
                mark(new_at, c.new_start);
                new_at = c.new_start + c.new_len;
            }
            mark(new_at, lines.len());
        }
        for (line, first) in lines.iter_mut().zip(seen) {
            if let Some(v) = first {
                line.version = line.version.min(v);
            }
        }
        Ok(lines)
    }

    /// Blame along `chain` (the file's log, newest first, with context-free diffs).
    fn blame_chain(
        &self,
        path: &str,
        chain: &[LogEntry],
        opts: &DiffOptions,
    ) -> Result<Vec<BlameLine>> {
        // Oldest first: (version, the file at that version).
        let steps: Vec<(usize, crate::FileMeta)> = chain
            .iter()
            .rev()
            .filter_map(|e| Some((e.version, e.diff.files.first()?.new?)))
            .collect();
        let mut origins: Vec<usize> = Vec::new();
        let mut prev: Vec<u8> = Vec::new();
        // Whether the next text version starts afresh: at the first, and after a version that
        // was binary or large (nothing to diff against: its lines are that version's).
        let mut fresh = true;
        for (k, (version, meta)) in steps.iter().enumerate() {
            // Blame holds two versions of the file and its lines: text files only. The version
            // blamed must be one; an older one that is not only breaks the line of descent.
            let blamed = k + 1 == steps.len();
            let not_text = |reason| {
                Err(Error::NotText {
                    path: path.to_string(),
                    version: *version as u64,
                    reason,
                })
            };
            if meta.size >= crate::store::LARGE_FILE {
                if blamed {
                    return not_text(NotTextReason::Large {
                        size: meta.size,
                        limit: crate::store::LARGE_FILE,
                    });
                }
                fresh = true;
                continue;
            }
            let content = self.read_blob(&meta.id)?;
            if crate::diff::is_binary(&content) {
                if blamed {
                    return not_text(NotTextReason::Binary);
                }
                fresh = true;
                continue;
            }
            if fresh {
                origins = vec![*version; count_lines(&content)];
                fresh = false;
            } else {
                let changes = line_changes(
                    &split_lines(&prev),
                    &split_lines(&content),
                    opts.algorithm,
                    Instant::now() + Duration::from_secs(5),
                );
                // Unchanged lines keep their origin; added lines are this version's.
                let mut next = Vec::with_capacity(count_lines(&content));
                let mut old_at = 0;
                for c in &changes {
                    next.extend_from_slice(&origins[old_at..c.old_start]);
                    next.extend(std::iter::repeat_n(*version, c.new_len));
                    old_at = c.old_start + c.old_len;
                }
                next.extend_from_slice(&origins[old_at..]);
                origins = next;
            }
            prev = content;
        }
        Ok(prev
            .split_inclusive(|&b| b == b'\n')
            .zip(origins)
            .enumerate()
            .map(|(i, (text, version))| BlameLine {
                line: i + 1,
                version,
                text: text.to_vec(),
            })
            .collect())
    }

    /// What each version changed against the version before it (v0 against nothing), in file
    /// counts; `None` where a tree has not been synced yet. Pairs already counted are kept in a
    /// machine-local cache, so listing a long history does not walk every tree again.
    pub fn version_changes(&self, history: &History) -> Vec<Option<ChangeCounts>> {
        let path = self.layout().changes_cache_file(&history.key);
        type Pair = (Option<ObjectId>, ObjectId, ChangeCounts);
        let mut known: HashMap<(Option<ObjectId>, ObjectId), ChangeCounts> =
            read_checked(&path, CACHE_MAGIC, CACHE_VERSION)
                .and_then(|b| postcard::from_bytes::<Vec<Pair>>(&b).ok())
                .map(|v| v.into_iter().map(|(a, b, c)| ((a, b), c)).collect())
                .unwrap_or_default();
        let opts = DiffOptions {
            names_only: true,
            rename_threshold: None,
            ..DiffOptions::default()
        };
        let objects = Objects::new(self);
        let mut added = false;
        let mut out = Vec::with_capacity(history.versions.len());
        for (i, v) in history.versions.iter().enumerate() {
            let prev = i.checked_sub(1).map(|p| history.versions[p].tree);
            let counts = match known.get(&(prev, v.tree)) {
                Some(c) => Some(*c),
                None => diff_trees(&objects, prev, Some(v.tree), &opts)
                    .ok()
                    .map(|d| {
                        let c = d.change_counts();
                        known.insert((prev, v.tree), c);
                        added = true;
                        c
                    }),
            };
            out.push(counts);
        }
        if added {
            let pairs: Vec<Pair> = known.into_iter().map(|((a, b), c)| (a, b, c)).collect();
            if let Ok(body) = postcard::to_stdvec(&pairs) {
                self.layout()
                    .write_checked(&path, CACHE_MAGIC, CACHE_VERSION, &body);
            }
        }
        out
    }

    /// Normalises `path` and checks that version `index` has it.
    fn existing_path(&self, history: &History, index: usize, path: &str) -> Result<String> {
        let p = normalize_path(path)?;
        let files = flatten(self, &history.versions[index].tree)?;
        if files.iter().any(|e| e.path == p) {
            Ok(p)
        } else {
            let v = &history.versions[index];
            Err(Error::no_such_file(
                history.key.to_string(),
                v.number,
                v.tree,
                p,
            ))
        }
    }
}

fn count_lines(data: &[u8]) -> usize {
    split_lines(data).len()
}

#[cfg(test)]
mod tests {
    use crate::{ArtifactKey, CommitOptions, Snapshot, Store, capture_run};
    use std::fs;

    /// A version logged by two runs from two directories is compared with the one that still
    /// exists on this machine, not with the newest commit's, which is gone.
    #[test]
    fn the_worktree_compared_is_a_commits_source_that_exists_here() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::init(&tmp.path().join("store")).unwrap();
        let key = ArtifactKey::new("code", "ppo").unwrap();
        let (kept, gone) = (tmp.path().join("kept"), tmp.path().join("gone"));
        for (dir, run) in [(&kept, "r1"), (&gone, "r2")] {
            fs::create_dir_all(dir).unwrap();
            fs::write(dir.join("ppo.py"), b"lr = 1\n").unwrap();
            let mut s = Snapshot::default();
            s.add_dir(dir, None).unwrap();
            let run = capture_run(run, tmp.path()).unwrap();
            store
                .commit(&key, &s, &run, &CommitOptions::default())
                .unwrap();
        }
        fs::remove_dir_all(&gone).unwrap();
        let h = store.history(&key).unwrap();
        assert_eq!((h.versions.len(), h.versions[0].commits.len()), (1, 2));
        let d = store
            .diff_worktree(&h, 0, &crate::diff::DiffOptions::default())
            .unwrap();
        assert!(d.is_empty(), "{:?}", d.paths());
        fs::write(kept.join("ppo.py"), b"lr = 2\n").unwrap();
        let d = store
            .diff_worktree(&h, 0, &crate::diff::DiffOptions::default())
            .unwrap();
        assert_eq!(d.paths(), ["ppo.py"]);
    }

    /// `verify_dir` (Python's `verify`) names every path that differs: a file moved in the
    /// checked-out directory is its old path gone and its new path added, never one "rename"
    /// entry that hides the old path.
    #[test]
    fn verify_names_both_paths_of_a_moved_file() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::init(&tmp.path().join("store")).unwrap();
        let mut s = Snapshot::default();
        let text = b"def f(x):\n    return x * 2\n".repeat(20);
        s.add_bytes("a.py", text.clone(), false).unwrap();
        s.add_bytes("keep.py", b"k = 1\n".to_vec(), false).unwrap();
        let run = capture_run("r1", tmp.path()).unwrap();
        let key = ArtifactKey::new("t", "a").unwrap();
        let tree = store
            .commit(&key, &s, &run, &CommitOptions::default())
            .unwrap()
            .tree;
        let dir = tmp.path().join("out");
        store.checkout(&tree, &dir, false).unwrap();
        let paths = |d: crate::diff::TreeDiff| -> Vec<String> {
            d.paths().into_iter().map(str::to_string).collect()
        };
        assert_eq!(
            paths(store.verify_dir(tree, &dir).unwrap()),
            Vec::<String>::new()
        );
        fs::rename(dir.join("a.py"), dir.join("b.py")).unwrap();
        assert_eq!(
            paths(store.verify_dir(tree, &dir).unwrap()),
            ["a.py", "b.py"]
        );
        // Moved and edited: still both paths; an edit in place names the one path.
        fs::write(dir.join("b.py"), [&text[..], b"# edited\n"].concat()).unwrap();
        assert_eq!(
            paths(store.verify_dir(tree, &dir).unwrap()),
            ["a.py", "b.py"]
        );
        fs::remove_file(dir.join("b.py")).unwrap();
        fs::write(dir.join("a.py"), &text).unwrap();
        fs::write(dir.join("keep.py"), b"k = 2\n").unwrap();
        assert_eq!(paths(store.verify_dir(tree, &dir).unwrap()), ["keep.py"]);
    }
}
