//! Crash injection: commits killed at each write, fsync, rename, link and open (strace's
//! `-e inject=SYSCALL:signal=KILL:when=N`) and at random instants never damage what was
//! committed before, never leave half a commit visible, and never block the next commit.
//!
//! Needs `strace` that can ptrace (CI installs it); skipped with a message otherwise. The random
//! part prints its seed; `CODEVER_CRASH_SEED=N` replays it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{
    Rng, assert_fsck_clean, checked_out, copy_all, init_at, json, output, run_any, strace_works,
    write,
};

/// Syscalls a kill is injected at (x86-64 and aarch64 names; the ones a build never calls get
/// no kill, except one link, see [`points`]).
const SYSCALLS: &[&str] = &[
    "write",
    "pwrite64",
    "fsync",
    "fdatasync",
    "rename",
    "renameat",
    "renameat2",
    "link",
    "linkat",
    "openat",
];

/// An artifact under test: `files` source files in `dir`, committed as a directory.
struct Artifact {
    ty: &'static str,
    name: &'static str,
    files: usize,
}

/// Two shapes: enough new blobs for a pack (and deltas against the previous version), and a
/// few loose objects.
const ARTIFACTS: [Artifact; 2] = [
    Artifact {
        ty: "model_code",
        name: "big",
        files: 24,
    },
    Artifact {
        ty: "rl_algo_code",
        name: "small",
        files: 2,
    },
];

/// A commit that reported success (or a killed one found complete): what it must keep giving.
struct Committed {
    art: usize,
    version: usize,
    id: String,
    run: String,
    files: Vec<(String, Vec<u8>)>,
}

/// How a commit is run.
#[derive(Clone, Debug)]
enum Mode {
    /// Plainly; it must succeed.
    Plain,
    /// Under strace, SIGKILL at the `n`-th call (per thread) of syscall `syscall`; with `log`,
    /// every call is logged there.
    Inject {
        syscall: String,
        n: usize,
        log: Option<PathBuf>,
    },
    /// SIGKILL after sleeping this long.
    Sleep(Duration),
}

struct Lab {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    store: PathBuf,
    committed: Vec<Committed>,
    step: usize,
    /// Reproducible from the printed seed.
    rng: Rng,
    /// Durations of plain commits, to pick random kill instants within one.
    durations: Vec<Duration>,
    kills: usize,
    visible_kills: usize,
    /// Kills after which the artifact's and the run's views disagreed.
    disagreements: Vec<String>,
}

impl Lab {
    fn new(seed: u64) -> Lab {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        Lab {
            store: init_at(&root),
            root,
            _tmp: tmp,
            committed: Vec::new(),
            step: 0,
            rng: Rng(seed),
            durations: Vec::new(),
            kills: 0,
            visible_kills: 0,
            disagreements: Vec::new(),
        }
    }

    fn src(&self, art: usize) -> PathBuf {
        self.root.join(format!("src-{}", ARTIFACTS[art].name))
    }

    /// Rewrites every source file of `art` with content no earlier step had; returns the files
    /// as the version must hold them.
    fn new_content(&mut self, art: usize) -> Vec<(String, Vec<u8>)> {
        self.step += 1;
        let mut files = Vec::new();
        for i in 0..ARTIFACTS[art].files {
            let name = format!("f{i:02}.py");
            let mut text = format!("# module {i} of {}\n", ARTIFACTS[art].name);
            for line in 0..40 {
                text.push_str(&format!("def f{line}(x):\n    return x * {}\n", line + i));
            }
            text.push_str(&format!("STEP = {}\n", self.step));
            write(&self.src(art), &name, text.as_bytes());
            files.push((name, text.into_bytes()));
        }
        files.sort();
        files
    }

    fn commit_args(&self, art: usize, run: &str) -> Vec<String> {
        let a = &ARTIFACTS[art];
        vec![
            "--store".into(),
            self.store.to_string_lossy().into_owned(),
            "--json".into(),
            "commit".into(),
            a.name.into(),
            "--type".into(),
            a.ty.into(),
            self.src(art).to_string_lossy().into_owned(),
            "--run".into(),
            run.into(),
        ]
    }

    /// Runs one commit of `art` as `run` in `mode`.
    fn run_commit(&mut self, art: usize, run: &str, mode: &Mode) -> Output {
        let bin = assert_cmd::cargo::cargo_bin!("codever");
        let args = self.commit_args(art, run);
        let mut cmd = match mode {
            Mode::Inject { syscall, n, log } => {
                let mut c = Command::new("strace");
                c.args(["-f", "-qq", "-o"]);
                match log {
                    Some(path) => c.arg(path).args(["-e", "trace=all"]),
                    None => c.arg("/dev/null").arg("-e").arg(format!("trace={syscall}")),
                };
                c.arg("-e")
                    .arg(format!("inject={syscall}:signal=KILL:when={n}"))
                    .arg(bin);
                c
            }
            _ => Command::new(bin),
        };
        cmd.args(&args)
            .current_dir(&self.root)
            .env_remove("CODEVER_DIR")
            .env_remove("CODEVER_RUN_ID")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        match mode {
            Mode::Sleep(d) => {
                let mut child = cmd.spawn().unwrap();
                std::thread::sleep(*d);
                // SIGKILL; harmless when it has already exited (it is not reaped yet, so its
                // status still tells).
                let _ = child.kill();
                child.wait_with_output().unwrap()
            }
            Mode::Plain => {
                let started = Instant::now();
                let out = cmd.output().unwrap();
                self.durations.push(started.elapsed());
                out
            }
            Mode::Inject { .. } => cmd.output().unwrap(),
        }
    }

    fn versions(&self, art: usize) -> Vec<Value> {
        let a = &ARTIFACTS[art];
        let v = json(&self.store, &["versions", &format!("{}/{}", a.ty, a.name)]);
        v.as_array().unwrap().clone()
    }

    fn known_versions(&self, art: usize) -> usize {
        self.committed.iter().filter(|c| c.art == art).count()
    }

    /// One commit of new content in `mode`, then every check. Returns whether it was killed.
    fn attempt(&mut self, art: usize, mode: Mode) -> bool {
        let files = self.new_content(art);
        let run = format!("run-{}", self.step);
        self.commit_and_check(art, &run, files, mode)
    }

    /// One commit of new content killed just before its `k`-th marker (0: the run's record, 1:
    /// the artifact's commit marker, 2: the run's), then every check. The kill point comes from
    /// a dry run, which a busy machine can shift; tried up to three times until it lands.
    fn attempt_before_marker(&mut self, art: usize, k: usize) {
        for _ in 0..3 {
            let files = self.new_content(art);
            let run = format!("run-{}", self.step);
            let log = self.root.join("kill.trace");
            let Some(mode) = self.before_marker(art, &run, k, &log) else {
                eprintln!(
                    "a commit creates fewer than {} markers: no kill before marker {k}",
                    k + 1
                );
                // The content is on disk: commit it, so that the next step starts from a version.
                self.commit_and_check(art, &run, files, Mode::Plain);
                return;
            };
            self.commit_and_check(art, &run, files, mode.clone());
            let text = fs::read_to_string(&log).unwrap_or_default();
            let made = parse_trace(&text)
                .iter()
                .filter(|c| creates_marker(&self.store, c) && !c.line.ends_with("= ?"))
                .count();
            if made == k {
                return;
            }
            eprintln!("{mode:?} was to kill before marker {k} but came after {made}; again");
        }
    }

    /// Runs a commit of `files` (already on disk) as `run` in `mode`; when it is killed, checks
    /// the store and that the next commit succeeds. Returns whether it was killed.
    fn commit_and_check(
        &mut self,
        art: usize,
        run: &str,
        files: Vec<(String, Vec<u8>)>,
        mode: Mode,
    ) -> bool {
        let run = run.to_string();
        let out = self.run_commit(art, &run, &mode);
        if out.status.success() {
            self.record_success(art, &run, &out, files, true);
            return false;
        }
        assert_eq!(
            out.status.signal(),
            Some(9),
            "{mode:?}: the commit neither succeeded nor was killed: {:?}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        self.kills += 1;
        let visible = self.check_after_kill(art, &run, &files, &mode);
        if visible {
            self.visible_kills += 1;
        }

        // The next commit works: the same content again, plainly.
        let redo = format!("redo-{}", self.step);
        let out = self.run_commit(art, &redo, &Mode::Plain);
        assert!(
            out.status.success(),
            "{mode:?}: the commit after the kill failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.record_success(art, &redo, &out, files, !visible);
        true
    }

    /// Checks the JSON of a successful commit (exact version, `new`) and remembers it.
    fn record_success(
        &mut self,
        art: usize,
        run: &str,
        out: &Output,
        files: Vec<(String, Vec<u8>)>,
        expect_new: bool,
    ) {
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!("{e}: {}", String::from_utf8_lossy(&out.stdout));
        });
        let known = self.known_versions(art);
        assert_eq!(v["new"], expect_new, "{v}");
        assert_eq!(v["run"], run, "{v}");
        if expect_new {
            assert_eq!(v["version"], known, "{v}");
            self.committed.push(Committed {
                art,
                version: known,
                id: v["id"].as_str().unwrap().to_string(),
                run: run.to_string(),
                files,
            });
        } else {
            // Linked to the version the killed commit made, which is the last one.
            let last = self.committed.iter().rfind(|c| c.art == art).unwrap();
            assert_eq!(v["version"], last.version, "{v}");
            assert_eq!(v["id"], last.id.as_str(), "{v}");
        }
    }

    /// After a kill: earlier commits intact, the killed one absent or complete (in both the
    /// artifact's and the run's view), fsck clean. Returns whether the killed commit is visible.
    fn check_after_kill(
        &mut self,
        art: usize,
        run: &str,
        files: &[(String, Vec<u8>)],
        mode: &Mode,
    ) -> bool {
        let ctx = format!("after a kill ({mode:?}, run {run})");
        self.check_fsck(&ctx);

        // Artifact views: every earlier version keeps its number, id and runs; at most one more.
        let mut in_versions = BTreeSet::new();
        for (a, artifact) in ARTIFACTS.iter().enumerate() {
            let versions = self.versions(a);
            let known = self.known_versions(a);
            let extra = if a == art { 1 } else { 0 };
            assert!(
                versions.len() == known || versions.len() == known + extra,
                "{ctx}: {} has {} versions, expected {known}: {versions:?}",
                artifact.name,
                versions.len()
            );
            for c in self.committed.iter().filter(|c| c.art == a) {
                let v = &versions[c.version];
                assert_eq!(v["version"], c.version, "{ctx}");
                assert_eq!(v["id"], c.id.as_str(), "{ctx}: v{} changed id", c.version);
                let runs = v["runs"].as_array().unwrap();
                assert!(
                    runs.iter().any(|r| r == c.run.as_str()),
                    "{ctx}: v{} lost run {}",
                    c.version,
                    c.run
                );
            }
            for v in &versions {
                if v["runs"].as_array().unwrap().iter().any(|r| r == run) {
                    in_versions.insert((
                        artifact.ty.to_string(),
                        artifact.name.to_string(),
                        v["version"].as_u64().unwrap(),
                        v["id"].as_str().unwrap().to_string(),
                    ));
                }
            }
        }

        // The run's view says the same.
        let (code, stdout, stderr) = run_any(&self.store, &["--json", "runs", "show", run]);
        let mut in_run = BTreeSet::new();
        if code == 0 {
            let view: Value = serde_json::from_str(&stdout).unwrap();
            for a in view["artifacts"].as_array().unwrap() {
                in_run.insert((
                    a["type"].as_str().unwrap().to_string(),
                    a["name"].as_str().unwrap().to_string(),
                    a["version"].as_u64().unwrap(),
                    a["id"].as_str().unwrap().to_string(),
                ));
            }
        } else {
            // With --json the error is one JSON line on stderr.
            assert_eq!(code, 2, "{ctx}");
            let e: Value = serde_json::from_str(stderr.trim_end()).unwrap();
            assert_eq!(
                (e["error"].as_str(), e["kind"].as_str()),
                (
                    Some(format!("unknown run {run:?}").as_str()),
                    Some("unknown_run")
                ),
                "{ctx}"
            );
        }
        if in_versions != in_run {
            // Collected rather than fatal, so that one run shows every kill point that does it.
            self.disagreements.push(format!(
                "{ctx}: the artifact's versions list {in_versions:?}, the run's view {in_run:?}"
            ));
        }

        // Earlier commits give their exact bytes (the last few of each artifact and v0; all of
        // them are checked at the end).
        let mut sample: Vec<usize> = Vec::new();
        for a in 0..ARTIFACTS.len() {
            let mine: Vec<usize> = (0..self.committed.len())
                .filter(|&i| self.committed[i].art == a)
                .collect();
            sample.extend(mine.first());
            sample.extend(mine.iter().rev().take(2));
        }
        sample.sort();
        sample.dedup();
        for i in sample {
            let pick = self.rng.next() as usize;
            let c = &self.committed[i];
            let a = &ARTIFACTS[c.art];
            let spec = format!("{}/{}:v{}", a.ty, a.name, c.version);
            let (path, bytes) = &c.files[pick % c.files.len()];
            let out = output(&self.store, &["cat", &spec, path]);
            assert!(
                out.status.success(),
                "{ctx}: cat {spec} {path}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                out.stdout == *bytes,
                "{ctx}: cat {spec} {path}: wrong bytes"
            );
        }

        // A visible killed commit is complete: a new version with exactly its files.
        let visible = !in_versions.is_empty();
        if visible {
            let known = self.known_versions(art) as u64;
            assert_eq!(in_versions.len(), 1, "{ctx}: {in_versions:?}");
            let (_, _, version, id) = in_versions.iter().next().unwrap().clone();
            assert_eq!(version, known, "{ctx}");
            let a = &ARTIFACTS[art];
            assert_eq!(
                checked_out(&self.store, &format!("{}/{}:v{version}", a.ty, a.name)),
                files,
                "{ctx}: the killed commit is visible but incomplete"
            );
            self.committed.push(Committed {
                art,
                version: version as usize,
                id,
                run: run.to_string(),
                files: files.to_vec(),
            });
        }
        visible
    }

    /// `fsck --strict` exits 0 with nothing corrupt or missing; the only stray files allowed are
    /// packs whose index was never written (an interrupted writer's leftovers, invisible).
    fn check_fsck(&self, ctx: &str) {
        let report = assert_fsck_clean(&self.store, ctx);
        for s in report["stray"].as_array().unwrap() {
            let p = Path::new(s.as_str().unwrap());
            let in_packs = p.parent().and_then(|d| d.file_name()) == Some("packs".as_ref());
            // A kill between making a marker directory and its first marker leaves it empty.
            let empty_marker_dir = (p.starts_with(self.store.join("runs"))
                || p.starts_with(self.store.join("refs")))
                && fs::read_dir(p).is_ok_and(|mut d| d.next().is_none());
            assert!(
                empty_marker_dir
                    || (in_packs
                        && p.extension() == Some("pack".as_ref())
                        && !p.with_extension("idx").exists()),
                "{ctx}: unexpected stray file {}",
                p.display()
            );
        }
    }

    /// Every commit that succeeded, byte for byte.
    fn check_all(&self) {
        self.check_fsck("at the end");
        for c in &self.committed {
            let a = &ARTIFACTS[c.art];
            let spec = format!("{}/{}:v{}", a.ty, a.name, c.version);
            assert_eq!(checked_out(&self.store, &spec), c.files, "{spec}");
        }
        for (a, art) in ARTIFACTS.iter().enumerate() {
            let ids: Vec<Value> = self.versions(a).iter().map(|v| v["id"].clone()).collect();
            let mut expected: Vec<&Committed> =
                self.committed.iter().filter(|c| c.art == a).collect();
            expected.sort_by_key(|c| c.version);
            let expected: Vec<Value> = expected.iter().map(|c| c.id.as_str().into()).collect();
            assert_eq!(ids, expected, "versions of {}", art.name);
        }
    }

    /// A kill just before the main thread creates its `k`-th marker. A dry run of the same
    /// commit on a copy of the store, traced, gives the main thread's calls. The kill goes on a
    /// call between marker k-1 and marker k whose number (strace counts calls per thread and
    /// syscall) no other thread reaches, the one with the fewest calls of its syscall before it,
    /// so that the real run, whose earlier calls may differ a little, still stops there.
    /// `None` when the dry run made fewer than `k + 1` markers.
    fn before_marker(&self, art: usize, run: &str, k: usize, log: &Path) -> Option<Mode> {
        let scratch = tempfile::tempdir().unwrap();
        let copy = scratch.path().join(".codever");
        copy_all(&self.store, &copy);
        let trace = scratch.path().join("trace");
        let mut args = self.commit_args(art, run);
        args[1] = copy.to_string_lossy().into_owned();
        let out = Command::new("strace")
            .args(["-f", "-qq", "-o"])
            .arg(&trace)
            .arg(assert_cmd::cargo::cargo_bin!("codever"))
            .args(&args)
            .current_dir(&self.root)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = fs::read_to_string(&trace).unwrap();
        let calls = parse_trace(&text);
        let Some(main) = calls.first().map(|c| c.pid) else {
            panic!("empty trace of the dry run");
        };
        let mut totals: BTreeMap<(&str, &str), usize> = BTreeMap::new();
        let mut seq = Vec::new(); // the main thread's calls
        let mut numbers = Vec::new(); // and the number of each among its calls of that syscall
        for c in &calls {
            let n = totals.entry((c.pid, c.name)).or_default();
            *n += 1;
            if c.pid == main {
                seq.push(*c);
                numbers.push(*n);
            }
        }
        let markers: Vec<usize> = (0..seq.len())
            .filter(|&i| creates_marker(&copy, &seq[i]))
            .collect();
        if markers.len() <= k {
            return None;
        }
        // Of the calls between marker k-1 and marker k that no other thread makes as often, the
        // one with the smallest number: the fewer calls before it, the less a real run drifts.
        let from = if k == 0 { 0 } else { markers[k - 1] + 1 };
        let best = (from..=markers[k])
            .filter(|&i| {
                let (name, n) = (seq[i].name, numbers[i]);
                totals
                    .iter()
                    .all(|((pid, call), count)| *pid == main || *call != name || *count < n)
            })
            .min_by_key(|&i| (numbers[i], std::cmp::Reverse(i)));
        let Some(i) = best else {
            panic!("no call of the main thread before marker {k} can be singled out");
        };
        Some(Mode::Inject {
            syscall: seq[i].name.to_string(),
            n: numbers[i],
            log: Some(log.to_path_buf()),
        })
    }

    /// Commits `art` plainly under strace, counting calls per syscall: (the main thread's count,
    /// the largest count of any thread). The commit itself is a normal, successful one.
    fn calibrate(&mut self, art: usize) -> BTreeMap<&'static str, (usize, usize)> {
        let files = self.new_content(art);
        let run = format!("run-{}", self.step);
        let trace = self.root.join("calibration.trace");
        let out = Command::new("strace")
            .args(["-f", "-qq", "-o"])
            .arg(&trace)
            .arg("-e")
            // "?": no error for a name this architecture lacks.
            .arg(format!("trace=?{}", SYSCALLS.join(",?")))
            .arg(assert_cmd::cargo::cargo_bin!("codever"))
            .args(self.commit_args(art, &run))
            .current_dir(&self.root)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.record_success(art, &run, &out, files, true);
        let text = fs::read_to_string(&trace).unwrap();
        let calls = parse_trace(&text);
        let main = calls.first().map(|c| c.pid).unwrap_or_default();
        let mut per_thread: BTreeMap<(&str, &str), usize> = BTreeMap::new();
        for c in &calls {
            *per_thread.entry((c.name, c.pid)).or_default() += 1;
        }
        // strace numbers the calls of each syscall per thread.
        SYSCALLS
            .iter()
            .map(|name| {
                let counts = per_thread.iter().filter(|((n, _), _)| n == name);
                let max = counts.map(|(_, n)| *n).max().unwrap_or(0);
                let on_main = per_thread.get(&(*name, main)).copied().unwrap_or(0);
                (*name, (on_main, max))
            })
            .collect()
    }
}

/// One call in an `strace -f` log.
#[derive(Clone, Copy)]
struct Call<'a> {
    pid: &'a str,
    name: &'a str,
    line: &'a str,
}

/// The calls of an `strace -f -o FILE` log ("PID  NAME(ARGS) = RESULT", the PID padded), one per
/// entry: "<... NAME resumed>" halves and "+++ exited" lines are skipped.
fn parse_trace(text: &str) -> Vec<Call<'_>> {
    text.lines()
        .filter_map(|line| {
            let (pid, rest) = line.split_once(' ')?;
            let (name, _) = rest.trim_start().split_once('(')?;
            let plain =
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            plain.then_some(Call { pid, name, line })
        })
        .collect()
}

/// Whether `call` creates a marker in `store` (a file under `refs/` or `runs/`).
fn creates_marker(store: &Path, call: &Call) -> bool {
    let creating = match call.name {
        "open" | "openat" => call.line.contains("O_CREAT"),
        "mknod" | "mknodat" | "link" | "linkat" | "rename" | "renameat" | "renameat2"
        | "symlink" | "symlinkat" => true,
        _ => false,
    };
    creating
        && ["refs", "runs"].iter().any(|d| {
            call.line
                .contains(&format!("\"{}/", store.join(d).display()))
        })
}

/// Which `N`s to kill at for a syscall with `main` calls on the main thread and `max` on the
/// busiest thread: every one for the rare calls (fsync, rename, link), a spread plus the main
/// thread's last few (the records and markers) for the frequent ones.
fn points(syscall: &str, main: usize, max: usize) -> BTreeSet<usize> {
    let mut set = BTreeSet::new();
    if max <= 12 {
        set.extend(1..=max);
    } else {
        set.extend(
            [1, 2, 3, 5, 8, 13, 21, 34, 55]
                .into_iter()
                .filter(|&n| n <= max),
        );
        set.insert(max);
        set.extend(main.saturating_sub(6).max(1)..=main);
    }
    if syscall == "linkat" && max == 0 {
        // No link yet: one kill where a link would be shows that nothing breaks either.
        set.insert(1);
    }
    set
}

#[test]
fn commits_killed_at_any_write_fsync_rename_or_instant_never_damage_the_store() {
    if !strace_works() {
        return;
    }
    let started = Instant::now();
    let seed = std::env::var("CODEVER_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    eprintln!("crash test seed {seed} (CODEVER_CRASH_SEED={seed} replays it)");
    let mut lab = Lab::new(seed);

    // v0 and v1 of each plainly, so that later commits have delta bases and earlier versions.
    for art in 0..ARTIFACTS.len() {
        lab.attempt(art, Mode::Plain);
        lab.attempt(art, Mode::Plain);
    }
    for art in 0..ARTIFACTS.len() {
        let counts = lab.calibrate(art);
        for (syscall, (main, max)) in counts {
            for n in points(syscall, main, max) {
                let syscall = syscall.to_string();
                lab.attempt(
                    art,
                    Mode::Inject {
                        syscall,
                        n,
                        log: None,
                    },
                );
            }
        }
        // Just before each marker: the run's record, the artifact's, the run's commit marker.
        for k in 0..3 {
            lab.attempt_before_marker(art, k);
        }
    }

    // SIGKILL at random instants within a commit's usual duration.
    let mut sorted = lab.durations.clone();
    sorted.sort();
    let typical = sorted[sorted.len() / 2].max(Duration::from_millis(5));
    for i in 0..12 {
        let art = i % ARTIFACTS.len();
        let micros = lab.rng.below(typical.as_micros() as u64 * 3 / 2 + 1);
        lab.attempt(art, Mode::Sleep(Duration::from_micros(micros)));
    }

    lab.check_all();
    eprintln!(
        "crash test: {} kills ({} left a complete commit), {} commits checked, {:.1} s",
        lab.kills,
        lab.visible_kills,
        lab.committed.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(lab.kills >= 20, "too few kills landed: {}", lab.kills);
    assert!(
        lab.disagreements.is_empty(),
        "a killed commit is half visible after {} of {} kills:\n{}",
        lab.disagreements.len(),
        lab.kills,
        lab.disagreements.join("\n")
    );
}
