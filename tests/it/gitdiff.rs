//! codever's line diffs against real git's, on a real history: the 473 commits of cleanrl's
//! `cleanrl/` folder (fixtures/corpus/README.md) are committed to codever one by one, and every
//! consecutive pair is diffed by both, with git's default algorithm and with `--minimal`,
//! `--patience` and `--histogram`. Each file section of the patches is compared byte for byte.
//! Blame is compared with `git blame` on the history of a few of those files.

use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use codever::diff::{Algorithm, DiffOptions};
use codever::{ObjectId, Store, render};

use crate::common::{commit_snapshot, scratch_dir, scratch_store, snapshot};

/// Each algorithm must give git's bytes for at least this share of the file sections.
const FLOOR: f64 = 1.0;

/// `git args…` in `dir`, isolated from the user's and the system's configuration (a
/// `diff.algorithm` there would change what is compared); returns stdout.
fn git(dir: &Path, args: &[&str]) -> Vec<u8> {
    git_input(dir, args, None)
}

fn git_input(dir: &Path, args: &[&str], input: Option<&[u8]>) -> Vec<u8> {
    let mut child = Command::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("HOME", dir)
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "-c",
            "core.quotepath=true",
        ])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.map(<[u8]>::to_vec);
    let writer = std::thread::spawn(move || {
        if let Some(i) = input {
            stdin.write_all(&i).unwrap();
        }
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The flag git takes for an algorithm.
fn git_flag(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::Myers => "--diff-algorithm=default",
        Algorithm::Minimal => "--minimal",
        Algorithm::Patience => "--patience",
        Algorithm::Histogram => "--histogram",
    }
}

/// A patch cut into its file sections, keyed by their `diff --git` line.
fn sections(patch: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut starts: Vec<usize> = Vec::new();
    let mut at = 0;
    for line in patch.split_inclusive(|&c| c == b'\n') {
        if line.starts_with(b"diff --git ") {
            starts.push(at);
        }
        at += line.len();
    }
    starts.push(patch.len());
    for w in starts.windows(2) {
        let s = &patch[w[0]..w[1]];
        let head = s.split(|&c| c == b'\n').next().unwrap_or_default();
        out.insert(String::from_utf8_lossy(head).into_owned(), s.to_vec());
    }
    out
}

/// The corpus replayed: a git repository with its history, and a codever store holding every
/// commit's tree as a version (tree ids in commit order).
struct Corpus {
    _tmp: tempfile::TempDir,
    repo: std::path::PathBuf,
    commits: Vec<String>,
    store: Store,
    store_dir: tempfile::TempDir,
    /// The version of each commit, for the commits committed to codever.
    trees: Vec<Option<ObjectId>>,
}

impl Corpus {
    /// The version of commit `k`.
    fn tree(&self, k: usize) -> ObjectId {
        self.trees[k].expect("a commit committed to codever")
    }
}

/// The corpus, with the commits `wanted` chooses committed to codever (in order).
fn corpus(wanted: impl Fn(usize) -> bool) -> Corpus {
    let tmp = scratch_dir();
    let repo = tmp.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let bundle = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/corpus/cleanrl.bundle");
    git(&repo, &["init", "-q"]);
    git(
        &repo,
        &[
            "fetch",
            "-q",
            bundle.to_str().unwrap(),
            "refs/heads/main:refs/heads/corpus",
        ],
    );
    let list = String::from_utf8(git(&repo, &["rev-list", "--reverse", "corpus"])).unwrap();
    let commits: Vec<String> = list.lines().map(str::to_string).collect();
    // Every commit's files, and every blob's bytes read by one `git cat-file --batch`.
    let mut trees: Vec<Vec<(String, String, bool)>> = Vec::new();
    let mut blobs: Vec<String> = Vec::new();
    for c in &commits {
        let out = git(&repo, &["ls-tree", "-r", "-z", c]);
        let mut files = Vec::new();
        for entry in out.split(|&b| b == 0).filter(|e| !e.is_empty()) {
            let entry = String::from_utf8(entry.to_vec()).unwrap();
            let (meta, path) = entry.split_once('\t').unwrap();
            let mut f = meta.split(' ');
            let (mode, _, id) = (f.next().unwrap(), f.next(), f.next().unwrap());
            files.push((path.to_string(), id.to_string(), mode == "100755"));
            blobs.push(id.to_string());
        }
        trees.push(files);
    }
    blobs.sort();
    blobs.dedup();
    let input: String = blobs.iter().map(|b| format!("{b}\n")).collect();
    let out = git_input(&repo, &["cat-file", "--batch"], Some(input.as_bytes()));
    let mut content: HashMap<String, Vec<u8>> = HashMap::new();
    let mut rest = out.as_slice();
    while !rest.is_empty() {
        let nl = rest.iter().position(|&c| c == b'\n').unwrap();
        let head = String::from_utf8(rest[..nl].to_vec()).unwrap();
        let mut h = head.split(' ');
        let (id, _, size) = (h.next().unwrap(), h.next(), h.next().unwrap());
        let size: usize = size.parse().unwrap();
        content.insert(id.to_string(), rest[nl + 1..nl + 1 + size].to_vec());
        rest = &rest[nl + 1 + size + 1..];
    }
    let (store_dir, store) = scratch_store();
    let mut ids = Vec::new();
    for (k, files) in trees.iter().enumerate() {
        if !wanted(k) {
            ids.push(None);
            continue;
        }
        let files: Vec<(&str, &[u8], bool)> = files
            .iter()
            .map(|(p, id, x)| (p.as_str(), content[id].as_slice(), *x))
            .collect();
        let out = commit_snapshot(&store, "code/cleanrl", &snapshot(&files), &format!("r{k}"));
        ids.push(Some(out.tree));
    }
    Corpus {
        _tmp: tmp,
        repo,
        commits,
        store,
        store_dir,
        trees: ids,
    }
}

/// git's patch of every commit against its parent, by commit, from one `git log -p`.
fn git_patches(c: &Corpus, alg: Algorithm) -> HashMap<String, Vec<u8>> {
    let out = git(
        &c.repo,
        &[
            "log",
            "-p",
            "--no-renames",
            "--no-color",
            "--no-ext-diff",
            "--no-textconv",
            git_flag(alg),
            "--format=%x00%H",
            "corpus",
        ],
    );
    let mut patches = HashMap::new();
    for chunk in out.split(|&b| b == 0).filter(|c| !c.is_empty()) {
        let nl = chunk
            .iter()
            .position(|&b| b == b'\n')
            .unwrap_or(chunk.len());
        let id = String::from_utf8(chunk[..nl].to_vec()).unwrap();
        // After the id: a blank line, then the patch.
        let body = chunk.get(nl + 2..).unwrap_or_default();
        patches.insert(id, body.to_vec());
    }
    patches
}

struct Tally {
    compared: usize,
    identical: usize,
    differences: Vec<String>,
}

/// Compares every consecutive pair of the corpus with `alg`, section by section.
fn compare(c: &Corpus, alg: Algorithm) -> Tally {
    let patches = git_patches(c, alg);
    let opts = DiffOptions {
        algorithm: alg,
        rename_threshold: None,
        ..DiffOptions::default()
    };
    let mut t = Tally {
        compared: 0,
        identical: 0,
        differences: Vec::new(),
    };
    for k in 1..c.commits.len() {
        let ours = render::patch(
            &c.store
                .diff_versions(c.tree(k - 1), c.tree(k), &opts)
                .unwrap(),
            false,
        );
        let ours = sections(&ours);
        let theirs = sections(&patches[&c.commits[k]]);
        for (head, git_section) in &theirs {
            // codever always pairs exact renames (git does not with --no-renames): only the
            // sections of files present on both sides are line diffs to compare.
            let modified = !git_section
                .split(|&b| b == b'\n')
                .take(4)
                .any(|l| l.starts_with(b"new file mode") || l.starts_with(b"deleted file mode"));
            let Some(our_section) = ours.get(head) else {
                assert!(
                    !modified,
                    "{alg} commit {k}: {head} missing from codever's patch"
                );
                continue;
            };
            t.compared += 1;
            if our_section == git_section {
                t.identical += 1;
            } else {
                t.differences.push(format!(
                    "--- {alg}, commit {k} ({}), {head}\n--- git:\n{}--- codever:\n{}",
                    &c.commits[k][..10],
                    String::from_utf8_lossy(git_section),
                    String::from_utf8_lossy(our_section)
                ));
            }
        }
    }
    t
}

#[test]
fn line_diffs_are_gits_on_a_real_history() {
    let c = corpus(|_| true);
    let mut report = Vec::new();
    let mut failures = Vec::new();
    for alg in Algorithm::ALL {
        let t = compare(&c, alg);
        let share = t.identical as f64 / t.compared as f64;
        report.push(format!(
            "{alg}: {}/{} file sections identical to git's ({:.2}%)",
            t.identical,
            t.compared,
            100.0 * share
        ));
        assert!(t.compared > 1000, "{alg}: only {} sections", t.compared);
        if share < FLOOR {
            failures.push((alg, t.differences));
        }
    }
    eprintln!("{}", report.join("\n"));
    for (alg, d) in &failures {
        eprintln!(
            "{alg}: {} differences; the first:\n{}",
            d.len(),
            d[..d.len().min(3)].join("\n")
        );
    }
    assert!(failures.is_empty(), "{}", report.join("\n"));
}

/// The CLI prints what the library renders: `codever diff A B` with each algorithm's flag is
/// `git diff A B` with git's, on a sample of the corpus's pairs.
#[test]
fn the_cli_flags_give_gits_output() {
    const STEP: usize = 40;
    let c = corpus(|k| k % STEP <= 1);
    let store_arg = c.store_dir.path().to_str().unwrap();
    for k in (1..c.commits.len()).step_by(STEP) {
        for (alg, flags) in [
            (Algorithm::Myers, &[][..]),
            (Algorithm::Minimal, &["--minimal"][..]),
            (Algorithm::Patience, &["--patience"][..]),
            (Algorithm::Histogram, &["--histogram"][..]),
            (Algorithm::Histogram, &["--diff-algorithm=histogram"][..]),
        ] {
            let a = format!("code/cleanrl@{}", c.tree(k - 1));
            let b = format!("code/cleanrl@{}", c.tree(k));
            let mut args = vec!["--store", store_arg, "diff", &a, &b, "--no-renames"];
            args.extend_from_slice(flags);
            let out = crate::common::codever().args(&args).output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let (pa, pb) = (&c.commits[k - 1], &c.commits[k]);
            let mut gargs = vec![
                "diff",
                "--no-renames",
                "--no-color",
                pa.as_str(),
                pb.as_str(),
            ];
            gargs.extend_from_slice(flags);
            let want = sections(&git(&c.repo, &gargs));
            let got = sections(&out.stdout);
            for (head, section) in &want {
                if let Some(ours) = got.get(head) {
                    assert_eq!(
                        String::from_utf8_lossy(ours),
                        String::from_utf8_lossy(section),
                        "{alg} {flags:?}, commit {k}"
                    );
                }
            }
            let opts = DiffOptions {
                algorithm: alg,
                rename_threshold: None,
                ..DiffOptions::default()
            };
            let lib = render::patch(
                &c.store
                    .diff_versions(c.tree(k - 1), c.tree(k), &opts)
                    .unwrap(),
                false,
            );
            assert_eq!(out.stdout, lib, "{alg} {flags:?}, commit {k}");
        }
    }
}

/// The origin of each line of `path` at `commit` by `git blame`, as an index into `commits`.
fn git_blame(repo: &Path, commit: &str, path: &str, commits: &[String]) -> Vec<usize> {
    let out = String::from_utf8(git(repo, &["blame", "--porcelain", commit, "--", path])).unwrap();
    let mut origins = Vec::new();
    let mut current = None;
    for line in out.lines() {
        if line.starts_with('\t') {
            let id: &str = current.expect("a porcelain header before each line");
            origins.push(commits.iter().position(|c| c == id).unwrap());
            continue;
        }
        let mut words = line.split(' ');
        let first = words.next().unwrap_or_default();
        let numbers = words.count();
        if first.len() == 40 && first.bytes().all(|b| b.is_ascii_hexdigit()) && numbers >= 2 {
            current = Some(first);
        }
    }
    origins
}

/// `codever blame` agrees with `git blame` line for line on a linear history: the versions of a
/// few of the corpus's files (each distinct state committed once to a new git repository and
/// once to codever), blamed at several versions.
#[test]
fn blame_is_gits() {
    let c = corpus(|_| false);
    const FILES: [&str; 2] = ["dqn.py", "ppo.py"];
    // Each distinct state of the files, in history order.
    let mut states: Vec<Vec<(String, Vec<u8>)>> = Vec::new();
    for commit in &c.commits {
        let mut state = Vec::new();
        for f in FILES {
            let spec = format!("{commit}:{f}");
            let exists = Command::new("git")
                .current_dir(&c.repo)
                .args(["cat-file", "-e", &spec])
                .stderr(Stdio::null())
                .status()
                .unwrap()
                .success();
            if exists {
                state.push((f.to_string(), git(&c.repo, &["cat-file", "blob", &spec])));
            }
        }
        // A state seen before would be linked to its earlier codever version: skip it, so both
        // histories stay the same line of versions.
        if !state.is_empty() && !states.contains(&state) {
            states.push(state);
        }
    }
    assert!(states.len() > 50, "{} states", states.len());
    let tmp = scratch_dir();
    let repo = tmp.path().join("blame");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    let (_store_dir, store) = scratch_store();
    let mut commits = Vec::new();
    for (k, state) in states.iter().enumerate() {
        for f in FILES {
            let _ = std::fs::remove_file(repo.join(f));
        }
        for (f, content) in state {
            std::fs::write(repo.join(f), content).unwrap();
        }
        git(&repo, &["add", "-A"]);
        git(
            &repo,
            &["commit", "-q", "--allow-empty", "-m", &format!("state {k}")],
        );
        commits.push(
            String::from_utf8(git(&repo, &["rev-parse", "HEAD"]))
                .unwrap()
                .trim()
                .to_string(),
        );
        let files: Vec<(&str, &[u8], bool)> = state
            .iter()
            .map(|(p, b)| (p.as_str(), b.as_slice(), false))
            .collect();
        let out = commit_snapshot(&store, "code/blame", &snapshot(&files), &format!("r{k}"));
        assert_eq!(out.version, Some(k));
    }
    let history = store
        .history(&crate::common::artifact("code/blame"))
        .unwrap();
    let mut lines = 0;
    let last = states.len() - 1;
    for at in [last / 3, 2 * last / 3, last] {
        for (f, _) in &states[at] {
            let ours: Vec<usize> = store
                .blame(&history, at, f)
                .unwrap()
                .iter()
                .map(|l| l.version)
                .collect();
            let theirs = git_blame(&repo, &commits[at], f, &commits);
            assert_eq!(ours, theirs, "{f} at state {at}");
            lines += ours.len();
        }
    }
    eprintln!(
        "blame: {lines} lines over {} versions agree with git blame",
        states.len()
    );
}

/// Our hunks of `a` → `b` in patch text, from the first `@@` on.
fn our_hunks(a: &[u8], b: &[u8], alg: Algorithm) -> Vec<u8> {
    let far = std::time::Instant::now() + std::time::Duration::from_secs(3600);
    let mut out = Vec::new();
    for h in codever::diff::line_hunks(a, b, 3, alg, far) {
        out.extend_from_slice(&render::hunk_header(&h));
        out.push(b'\n');
        for l in &h.lines {
            out.push(match l.kind {
                codever::diff::LineKind::Context => b' ',
                codever::diff::LineKind::Added => b'+',
                codever::diff::LineKind::Deleted => b'-',
            });
            out.extend_from_slice(&l.text);
            if !l.has_newline() {
                out.extend_from_slice(b"\n\\ No newline at end of file\n");
            }
        }
    }
    out
}

/// `git diff --no-index` of two files, from the first `@@` on.
fn git_hunks(dir: &Path, a: &[u8], b: &[u8], alg: Algorithm) -> Vec<u8> {
    std::fs::write(dir.join("a"), a).unwrap();
    std::fs::write(dir.join("b"), b).unwrap();
    let out = Command::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .args(["diff", "--no-index", "--no-color", git_flag(alg), "a", "b"])
        .output()
        .unwrap();
    assert!(
        out.status.code() == Some(1) || a == b,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    match out.stdout.windows(3).position(|w| w == b"\n@@") {
        Some(i) => out.stdout[i + 1..].to_vec(),
        None => Vec::new(),
    }
}

/// A file of `n` lines drawn from `alphabet`, and an edited copy: blocks inserted, deleted,
/// replaced, duplicated and moved, as edits of code do (with few distinct lines, so that many
/// diffs are equally short and git's choices among them are what is tested).
fn edited_pair(rng: &mut crate::common::Rng, n: usize, alphabet: &[&str]) -> (Vec<u8>, Vec<u8>) {
    let line = |rng: &mut crate::common::Rng| {
        alphabet[rng.below(alphabet.len() as u64) as usize].to_string()
    };
    let a: Vec<String> = (0..n).map(|_| line(rng)).collect();
    let mut b = a.clone();
    for _ in 0..1 + rng.below(12) {
        let at = rng.below(b.len() as u64 + 1) as usize;
        let len = 1 + rng.below(8) as usize;
        match rng.below(5) {
            0 => {
                let new: Vec<String> = (0..len).map(|_| line(rng)).collect();
                b.splice(at..at, new);
            }
            1 => {
                let end = (at + len).min(b.len());
                b.drain(at..end);
            }
            2 => {
                let end = (at + len).min(b.len());
                let new: Vec<String> = (0..len).map(|_| line(rng)).collect();
                b.splice(at..end, new);
            }
            3 => {
                let end = (at + len).min(b.len());
                let copy: Vec<String> = b[at..end].to_vec();
                let to = rng.below(b.len() as u64 + 1) as usize;
                b.splice(to..to, copy);
            }
            _ => {
                let end = (at + len).min(b.len());
                let moved: Vec<String> = b.drain(at..end).collect();
                let to = rng.below(b.len() as u64 + 1) as usize;
                b.splice(to..to, moved);
            }
        }
    }
    let join = |v: &[String], rng: &mut crate::common::Rng| {
        let mut s = v.join("\n");
        // Most files end with a newline; some do not.
        if !v.is_empty() && rng.below(8) != 0 {
            s.push('\n');
        }
        s.into_bytes()
    };
    (join(&a, rng), join(&b, rng))
}

/// Generated edits of small and large files with few distinct lines: every algorithm's hunks
/// are git's, including where git's Myers gives up on a minimal diff (large, very different
/// files) and where Patience and Histogram fall back to Myers.
#[test]
fn generated_edits_give_gits_hunks() {
    let tmp = tempfile::tempdir().unwrap();
    let code = [
        "",
        "def f(x):",
        "    return x",
        "    x = 1",
        "        y = x",
        "class A:",
        "\tz = 2",
        "}",
        "    pass",
        "import torch",
    ];
    let few = ["a", "b", "c", ""];
    let mut rng = crate::common::Rng(7);
    let mut cases = Vec::new();
    for k in 0..48 {
        let n = rng.below(if k % 2 == 0 { 40 } else { 300 }) as usize;
        cases.push(edited_pair(
            &mut rng,
            n,
            if k % 3 == 0 { &few } else { &code },
        ));
    }
    // Large and very different: costs above git's heuristic thresholds.
    for n in [1500, 3000] {
        let (a, _) = edited_pair(&mut rng, n, &few);
        let (b, _) = edited_pair(&mut rng, n, &few);
        cases.push((a, b));
        let (a, b) = edited_pair(&mut rng, n, &code);
        cases.push((a, b));
        // Mostly different, with long common blocks: snakes long enough for git's heuristic.
        let words: Vec<String> = (0..30).map(|i| format!("w{i}")).collect();
        let a: Vec<&str> = (0..n)
            .map(|_| words[rng.below(30) as usize].as_str())
            .collect();
        let mut b: Vec<&str> = Vec::new();
        for block in a.chunks(25) {
            if rng.below(10) < 3 {
                b.extend_from_slice(block);
            } else {
                b.extend(block.iter().map(|_| words[rng.below(30) as usize].as_str()));
            }
        }
        cases.push((
            (a.join("\n") + "\n").into_bytes(),
            (b.join("\n") + "\n").into_bytes(),
        ));
    }
    // Long (above 65,536 lines in all, git's Myers searches further before giving up) and changed
    // all along, one line in 30: long snakes at a high cost, where git's Myers splits at a snake
    // that got far instead of searching on for the middle one.
    let words: Vec<String> = (0..200).map(|i| format!("v{i}")).collect();
    let a: Vec<&str> = (0..34000)
        .map(|_| words[rng.below(200) as usize].as_str())
        .collect();
    let mut b = a.clone();
    for k in (0..b.len()).step_by(30) {
        let at = k + rng.below(30) as usize % (b.len() - k);
        b[at] = words[rng.below(200) as usize].as_str();
    }
    cases.push((
        (a.join("\n") + "\n").into_bytes(),
        (b.join("\n") + "\n").into_bytes(),
    ));
    // Where git's Myers heuristics decide the output (its diff differs from `--minimal`): words
    // drawn from a small or large vocabulary, blocks of lines kept or redrawn, a few thousand
    // lines — the heuristics' snake tests and cost limits, checked against git's choices.
    let heuristic_from = cases.len();
    for (n, nw, blk, keep) in [
        (4000, 30, 25, 3),
        (2000, 200, 25, 3),
        (2000, 200, 10, 1),
        (3000, 10, 50, 5),
        (4000, 5, 10, 7),
        (2500, 30, 5, 3),
    ] {
        let words: Vec<String> = (0..nw).map(|i| format!("h{i}")).collect();
        let a: Vec<&str> = (0..n)
            .map(|_| words[rng.below(nw) as usize].as_str())
            .collect();
        let mut b: Vec<&str> = Vec::new();
        for block in a.chunks(blk) {
            if rng.below(10) < keep {
                b.extend_from_slice(block);
            } else {
                b.extend(block.iter().map(|_| words[rng.below(nw) as usize].as_str()));
            }
        }
        cases.push((
            (a.join("\n") + "\n").into_bytes(),
            (b.join("\n") + "\n").into_bytes(),
        ));
    }
    // Small edits of code with nested blocks and blank lines, where git's indent heuristic
    // weighs where a change goes (a line at the same indent as the one before scores apart from a
    // deeper one).
    let nested: Vec<&str> = code[..6]
        .iter()
        .copied()
        .chain([
            "    def g(self):",
            "        pass",
            "    pass",
            "import torch",
            "if x:",
            "    y = 2",
            "        z = 3",
        ])
        .collect();
    for seed in 0..32u64 {
        let mut rng = crate::common::Rng(seed * 31 + 5);
        let n = 5 + rng.below(40) as usize;
        cases.push(edited_pair(&mut rng, n, &nested));
    }
    let decided_by_heuristics = cases[heuristic_from..heuristic_from + 6]
        .iter()
        .filter(|(a, b)| {
            git_hunks(tmp.path(), a, b, Algorithm::Myers)
                != git_hunks(tmp.path(), a, b, Algorithm::Minimal)
        })
        .count();
    assert!(
        decided_by_heuristics >= 4,
        "only {decided_by_heuristics} of the heuristic cases differ from a minimal diff in git"
    );
    let mut checked = 0;
    for (i, (a, b)) in cases.iter().enumerate() {
        for alg in Algorithm::ALL {
            let ours = our_hunks(a, b, alg);
            let theirs = git_hunks(tmp.path(), a, b, alg);
            assert!(
                ours == theirs,
                "case {i}, {alg}:\n--- git:\n{}--- codever:\n{}",
                String::from_utf8_lossy(&theirs),
                String::from_utf8_lossy(&ours)
            );
            checked += 1;
        }
    }
    eprintln!("{checked} generated diffs identical to git's");
}
