//! Helpers shared by the integration tests.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use codever::object::{CommitRecord, Kind, Node, RunRecord, Tree, TreeEntry};
use codever::{
    ArtifactKey, CommitOptions, CommitOutcome, FileMeta, Md5, ObjectId, Snapshot, Store,
    capture_run, wandb_digest,
};

// ---------------------------------------------------------------------------------------------
// Running the CLI.

/// The `codever` binary with a clean environment (no store or run from the caller), for
/// commands that name no store (`init`, or a store found from the working directory).
pub fn codever() -> Command {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin!("codever"));
    c.env_remove("CODEVER_DIR").env_remove("CODEVER_RUN_ID");
    c
}

/// The `codever` binary as a plain process with a clean environment, for a caller that sets the
/// working directory or environment itself, or starts it with [`run_all_within`].
pub fn codever_process() -> std::process::Command {
    let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin!("codever"));
    c.env_remove("CODEVER_DIR").env_remove("CODEVER_RUN_ID");
    c
}

/// `codever --store <store> args…` as a plain process (for [`run_all_within`], or to give it
/// other stdin/stdout/stderr), with a clean environment.
pub fn codever_cmd(store: &Path, args: &[&str]) -> std::process::Command {
    let mut c = codever_process();
    c.arg("--store").arg(store).args(args);
    c
}

/// `codever --store <store> args…`, whatever its outcome: the raw output, for stdout that is not
/// text or a caller that checks the exit status itself.
pub fn output(store: &Path, args: &[&str]) -> Output {
    codever_cmd(store, args).output().unwrap()
}

/// `codever --store <store> args…`, whatever its outcome: (exit code, -1 when killed by a
/// signal; stdout; stderr).
pub fn run_any(store: &Path, args: &[&str]) -> (i32, String, String) {
    let out = output(store, args);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// `codever --store <store> --json args…`, whatever its outcome: (exit code, parsed stdout).
pub fn run_any_json(store: &Path, args: &[&str]) -> (i32, serde_json::Value) {
    let mut a = vec!["--json"];
    a.extend_from_slice(args);
    let (code, stdout, stderr) = run_any(store, &a);
    let v = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout} {stderr}"));
    (code, v)
}

/// `codever --store <store> args…`, asserting success; returns stdout.
pub fn run_ok(store: &Path, args: &[&str]) -> String {
    let (code, stdout, stderr) = run_any(store, args);
    assert_eq!(code, 0, "codever {args:?} failed: {stderr}");
    stdout
}

/// `codever --store <store> args…`, asserting that it fails as every user error does: exit 2
/// and nothing on stdout. Returns stderr.
pub fn run_err(store: &Path, args: &[&str]) -> String {
    let (code, stdout, stderr) = run_any(store, args);
    assert_eq!(code, 2, "codever {args:?}: {stderr}");
    assert_eq!(stdout, "", "codever {args:?} printed a result: {stderr}");
    stderr
}

/// Parses JSON printed by a command (`codever --store <store> --json args…`), asserting success.
pub fn json(store: &Path, args: &[&str]) -> serde_json::Value {
    let mut a = vec!["--json"];
    a.extend_from_slice(args);
    serde_json::from_str(&run_ok(store, &a)).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Stores made with the CLI.

/// `codever init <dir>`, asserting what it prints; returns the store, `<dir>/.codever`.
pub fn init_at(dir: &Path) -> PathBuf {
    let store = dir.join(".codever");
    codever()
        .arg("init")
        .arg(dir)
        .assert()
        .success()
        .stdout(format!(
            "initialized codever store in {}\n",
            store.display()
        ));
    store
}

/// A fresh temporary directory with a store made by `codever init` in it: (the directory, the
/// store `<dir>/.codever`).
pub fn init_store() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let store = init_at(tmp.path());
    (tmp, store)
}

/// The arguments of `codever commit` of `source` as artifact `key` (`type/name`) by run `run`.
pub fn commit_args<'a>(key: &'a str, source: &'a Path, run: &'a str) -> [&'a str; 7] {
    let (ty, name) = key.split_once('/').expect("an artifact key is `type/name`");
    let source = source.to_str().unwrap();
    ["commit", name, "--type", ty, source, "--run", run]
}

/// `codever commit` of `source` (a file or a directory; `path=display` names its display path)
/// as artifact `key` (`type/name`) by run `run`, asserting success; returns what it prints.
pub fn commit_ok(store: &Path, key: &str, source: impl AsRef<Path>, run: &str) -> String {
    run_ok(store, &commit_args(key, source.as_ref(), run))
}

/// [`commit_ok`] with `--json`: what the commit reports (`version`, `id`, `new`, …).
pub fn commit_json(
    store: &Path,
    key: &str,
    source: impl AsRef<Path>,
    run: &str,
) -> serde_json::Value {
    json(store, &commit_args(key, source.as_ref(), run))
}

/// Every file of version `spec`, checked out with the CLI into a fresh directory, as
/// [`read_tree`] gives them.
pub fn checked_out(store: &Path, spec: &str) -> Vec<(String, Vec<u8>)> {
    let into = tempfile::tempdir().unwrap();
    let dir = into.path().join("co");
    run_ok(store, &["checkout", spec, "--into", dir.to_str().unwrap()]);
    read_tree(&dir)
}

/// `codever --json fsck --strict`, asserting a clean store: exit 0, `ok`, nothing corrupt or
/// missing. `ctx` opens every failure message. Returns the report (its stray files, counts, …).
pub fn assert_fsck_clean(store: &Path, ctx: &str) -> serde_json::Value {
    let (code, stdout, stderr) = run_any(store, &["--json", "fsck", "--strict"]);
    let report: serde_json::Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{ctx}: fsck: {e}: {stdout} {stderr}"));
    assert_eq!(code, 0, "{ctx}: fsck: {report}");
    assert_eq!(report["ok"], true, "{ctx}: {report}");
    assert_eq!(report["corrupt"], serde_json::json!([]), "{ctx}: {report}");
    assert_eq!(report["missing"], serde_json::json!([]), "{ctx}: {report}");
    report
}

// ---------------------------------------------------------------------------------------------
// Stores made with the library.

/// A fresh temporary directory with a store made by the library in it (`<dir>/.codever`).
pub fn lib_store() -> (tempfile::TempDir, Store) {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::init(tmp.path()).unwrap();
    (tmp, store)
}

/// A temporary directory in memory where there is one (`/dev/shm`), for tests that make
/// hundreds of commits: each fsyncs its objects, which on a disk costs most of the test's time
/// and proves nothing there.
pub fn scratch_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    shm.is_dir()
        .then(|| tempfile::tempdir_in(shm).ok())
        .flatten()
        .unwrap_or_else(|| tempfile::tempdir().unwrap())
}

/// A store in a [`scratch_dir`].
pub fn scratch_store() -> (tempfile::TempDir, Store) {
    let dir = scratch_dir();
    let store = Store::init(dir.path()).unwrap();
    (dir, store)
}

/// The artifact `key` names (`type/name`).
pub fn artifact(key: &str) -> ArtifactKey {
    let (ty, name) = key.split_once('/').expect("an artifact key is `type/name`");
    ArtifactKey::new(ty, name).unwrap()
}

/// A snapshot of files given in memory: (path, content, executable).
pub fn snapshot(files: &[(&str, &[u8], bool)]) -> Snapshot {
    let mut s = Snapshot::default();
    for (path, content, executable) in files {
        s.add_bytes(path, content.to_vec(), *executable).unwrap();
    }
    s
}

/// Commits `snapshot` as artifact `key` (`type/name`) by run `run`, with the default options.
/// The run is captured in `/`, outside any git repository.
pub fn commit_snapshot(store: &Store, key: &str, snapshot: &Snapshot, run: &str) -> CommitOutcome {
    let run = capture_run(run, Path::new("/")).unwrap();
    store
        .commit(&artifact(key), snapshot, &run, &CommitOptions::default())
        .unwrap()
}

/// [`commit_snapshot`] of the files below `dir` (its ignore rules honoured).
pub fn commit_dir(store: &Store, key: &str, dir: &Path, run: &str) -> CommitOutcome {
    let mut s = Snapshot::default();
    s.add_dir(dir, None).unwrap();
    commit_snapshot(store, key, &s, run)
}

// ---------------------------------------------------------------------------------------------
// Store contents forged with the library, as a store synced from another (possibly broken or
// hostile) machine could hold them: objects, records and markers written directly.

/// Writes `content` as a blob; returns the metadata a tree holds for it (not executable).
pub fn write_blob(store: &Store, content: &[u8]) -> FileMeta {
    let (id, _) = store.write_object(Kind::Blob, content).unwrap();
    FileMeta {
        id,
        size: content.len() as u64,
        md5: Md5::of(content),
        executable: false,
    }
}

/// A tree entry naming a file.
pub fn file_entry(name: &str, meta: FileMeta) -> TreeEntry {
    TreeEntry {
        name: name.into(),
        node: Node::File(meta),
    }
}

/// A tree entry naming a directory whose tree is `tree`.
pub fn dir_entry(name: &str, tree: ObjectId) -> TreeEntry {
    TreeEntry {
        name: name.into(),
        node: Node::Dir(tree),
    }
}

/// Writes a tree holding `entries` as given (unsorted or repeated names stay so); returns its id.
pub fn write_tree(store: &Store, entries: Vec<TreeEntry>) -> ObjectId {
    store.write_structured(&Tree { entries }).unwrap().0
}

/// Makes `tree` a version of artifact `key` (`type/name`) committed by run `run` at `time_ns`,
/// as a commit does: a run record and a commit record, marked in `runs/<run>/` (both) and
/// `refs/<type>/<name>/` (the commit record). `files` are the (path, metadata) the tree claims,
/// for the record's digest and counts. Returns the commit record's id.
pub fn forge_version(
    store: &Store,
    key: &str,
    run: &str,
    tree: ObjectId,
    files: &[(&str, FileMeta)],
    time_ns: i64,
) -> ObjectId {
    let (ty, name) = key.split_once('/').expect("an artifact key is `type/name`");
    let run_record = RunRecord {
        id: run.into(),
        time_ns,
        host: "h".into(),
        user: "u".into(),
        cwd: "/".into(),
        git_commit: None,
        git_dirty: None,
        project: String::new(),
        config: String::new(),
        notes: String::new(),
        tags: Vec::new(),
    };
    let record = CommitRecord {
        artifact_type: ty.into(),
        name: name.into(),
        tree,
        digest: wandb_digest(files.iter().map(|(p, m)| (*p, m.md5))),
        files: files.len() as u64,
        // Forged sizes may be absurd (u64::MAX): the record says as much as it can.
        bytes: files
            .iter()
            .fold(0u64, |sum, (_, m)| sum.saturating_add(m.size)),
        run: run.into(),
        time_ns,
        host: "h".into(),
        message: String::new(),
        description: String::new(),
        metadata: String::new(),
        sources: Vec::new(),
        include: Vec::new(),
        exclude: Vec::new(),
        tags: Vec::new(),
    };
    let (run_id, _) = store.write_structured(&run_record).unwrap();
    let (record_id, _) = store.write_structured(&record).unwrap();
    let root = store.root();
    mark(&root.join("runs").join(run), &run_id);
    mark(&root.join("runs").join(run), &record_id);
    mark(&root.join("refs").join(ty).join(name), &record_id);
    record_id
}

/// Creates the empty marker file `dir/<id>`.
pub fn mark(dir: &Path, id: &ObjectId) {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join(id.to_hex()), b"").unwrap();
}

/// Nanoseconds since the Unix epoch, now (the time a commit made now would record).
pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

// ---------------------------------------------------------------------------------------------
// Finding store files.

/// Where the loose object `id` (an [`ObjectId`] or its 64 hex digits) is, or would be, stored.
pub fn object_path(store: &Path, id: impl std::fmt::Display) -> PathBuf {
    let hex = id.to_string();
    assert_eq!(hex.len(), 64, "not a whole object id: {hex}");
    store.join("objects").join(&hex[..2]).join(&hex[2..])
}

/// The id of the blob holding `content`.
pub fn blob_id(content: &[u8]) -> ObjectId {
    ObjectId::compute(Kind::Blob, content)
}

/// The names in directory `dir`, sorted: marker ids in `refs/…` and `runs/…`, pack files, ….
pub fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// The `.pack` files of a store, sorted.
pub fn pack_files(store: &Path) -> Vec<PathBuf> {
    file_names(&store.join("packs"))
        .into_iter()
        .filter(|n| n.ends_with(".pack"))
        .map(|n| store.join("packs").join(n))
        .collect()
}

/// The commit record that run `run` wrote: the one record marked in `runs/<run>/` that is a
/// commit record (the other is the run record).
pub fn commit_record_of(store: &Path, run: &str) -> ObjectId {
    let s = Store::open(store).unwrap();
    let commits: Vec<ObjectId> = file_names(&store.join("runs").join(run))
        .iter()
        .map(|name| ObjectId::from_hex(name).unwrap())
        .filter(|id| s.object_header(id).unwrap().kind == Kind::Commit)
        .collect();
    assert_eq!(commits.len(), 1, "run {run} marks {commits:?}");
    commits[0]
}

// ---------------------------------------------------------------------------------------------
// Changing files behind the store's back.

/// Replaces the file at `path` with its bytes changed by `change` (a new file, as a sync tool
/// writes one: store files are read-only); returns the bytes it had.
pub fn rewrite(path: &Path, change: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let old = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut new = old.clone();
    change(&mut new);
    fs::remove_file(path).unwrap();
    fs::write(path, new).unwrap();
    old
}

/// Sets the modification time of the file at `path` (an edit within one timestamp tick, a file
/// copied in with an old time, …).
pub fn set_mtime(path: &Path, t: std::time::SystemTime) {
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

/// Makes a named pipe (FIFO) at `path`.
pub fn mkfifo(path: &Path) {
    let made = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(made.success(), "mkfifo {} failed", path.display());
}

// ---------------------------------------------------------------------------------------------
// Files on disk.

/// The bundled example repo at step `v`: `baseline`, `ppo-lr` (PPO's learning rate),
/// `layernorm` (the model gains a LayerNorm), `tuned` (PPO back to baseline, DQN and utils).
pub fn fixture(v: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/safelife")
        .join(v)
}

/// Writes `content` at `root/rel`, creating directories.
pub fn write(root: &Path, rel: &str, content: &[u8]) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, content).unwrap();
}

/// Writes `files` under `root` (which is created).
pub fn write_files(root: &Path, files: &[(String, Vec<u8>)]) {
    fs::create_dir_all(root).unwrap();
    for (rel, bytes) in files {
        write(root, rel, bytes);
    }
}

/// Sets or clears the executable bits of the file at `path` (mode 755 or 644).
pub fn set_executable(path: &Path, executable: bool) {
    use std::os::unix::fs::PermissionsExt;
    let mode = if executable { 0o755 } else { 0o644 };
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// Every file below `root` as (relative path, bytes), sorted.
pub fn read_tree(root: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.push((rel, fs::read(&p).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

/// Every file below `root` as relative path → (bytes, executable by its owner).
pub fn read_tree_modes(root: &Path) -> BTreeMap<String, (Vec<u8>, bool)> {
    use std::os::unix::fs::PermissionsExt;
    read_tree(root)
        .into_iter()
        .map(|(rel, bytes)| {
            let mode = fs::metadata(root.join(&rel)).unwrap().permissions().mode();
            (rel, (bytes, mode & 0o100 != 0))
        })
        .collect()
}

/// `files` sorted, as [`read_tree`] returns a directory.
pub fn sorted(files: &[(String, Vec<u8>)]) -> Vec<(String, Vec<u8>)> {
    let mut v = files.to_vec();
    v.sort();
    v
}

/// Copies the directory `from` to `to`, every file (`local/` of a store too: unlike
/// [`copy_missing`], this is a copy of the machine, not a sync).
pub fn copy_all(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_all(&e.path(), &target);
        } else {
            fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// Copies every file of `src` that `dst` lacks, skipping `local/`: what
/// `rsync -a --ignore-existing --exclude local/` or `cp -rn` does.
pub fn copy_missing(src: &Path, dst: &Path) {
    for entry in fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if src.join("format").exists() && name == "local" {
            continue;
        }
        let from = entry.path();
        let to = dst.join(&name);
        if entry.file_type().unwrap().is_dir() {
            fs::create_dir_all(&to).unwrap();
            copy_missing(&from, &to);
        } else if !to.exists() {
            fs::copy(&from, &to).unwrap();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Processes with a deadline.

/// How a process started by [`run_all_within`] ended.
pub struct Finished {
    /// What the command was, for messages.
    pub what: String,
    /// Its exit status; `None` when it was still running at the deadline (then it was killed).
    pub status: Option<std::process::ExitStatus>,
    /// Everything it wrote on stdout.
    pub stdout: Vec<u8>,
    /// Everything it wrote on stderr.
    pub stderr: Vec<u8>,
}

impl Finished {
    /// The exit code; `None` when it hung or was killed by a signal.
    pub fn code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }

    /// How it ended: "exit N", "killed by signal N", or "hung: …".
    pub fn how(&self) -> String {
        use std::os::unix::process::ExitStatusExt;
        match self.status {
            None => "hung: still running at the deadline, killed".to_string(),
            Some(s) => match (s.code(), s.signal()) {
                (Some(c), _) => format!("exit {c}"),
                (None, Some(sig)) => format!("killed by signal {sig}"),
                (None, None) => "ended without a code".to_string(),
            },
        }
    }

    /// Its stdout as text (invalid UTF-8 replaced).
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// One paragraph for an assertion message: the command, how it ended, its stderr.
    pub fn describe(&self) -> String {
        format!(
            "{}: {}; stderr: {}",
            self.what,
            self.how(),
            String::from_utf8_lossy(&self.stderr).trim_end()
        )
    }
}

/// Starts every command at once (stdin closed, stdout and stderr captured) and waits for them
/// until `limit` has passed; a process still running then is killed and reported as hung.
pub fn run_all_within(
    cmds: Vec<std::process::Command>,
    limit: std::time::Duration,
) -> Vec<Finished> {
    use std::io::Read;
    use std::process::Stdio;
    fn drain(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            buf
        })
    }
    let deadline = std::time::Instant::now() + limit;
    let mut running = Vec::new();
    for mut cmd in cmds {
        let what = format!(
            "{} {}",
            cmd.get_program().to_string_lossy(),
            cmd.get_args()
                .map(|a| a.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        );
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        let out = drain(child.stdout.take().unwrap());
        let err = drain(child.stderr.take().unwrap());
        running.push((what, child, out, err, None));
    }
    loop {
        let mut pending = false;
        for (_, child, _, _, status) in running.iter_mut() {
            if status.is_none() {
                *status = child.try_wait().unwrap();
                pending |= status.is_none();
            }
        }
        if !pending || std::time::Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    running
        .into_iter()
        .map(|(what, mut child, out, err, status)| {
            if status.is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
            Finished {
                what,
                status,
                stdout: out.join().unwrap(),
                stderr: err.join().unwrap(),
            }
        })
        .collect()
}

/// [`run_all_within`] for one command.
pub fn run_within(cmd: std::process::Command, limit: std::time::Duration) -> Finished {
    run_all_within(vec![cmd], limit).pop().unwrap()
}

/// `f(worker, item)` for every item, on `workers` threads side by side (item `i` on worker
/// `i % workers`, each worker taking its items in order); the results in item order.
pub fn on_threads<T: Sync, R: Send>(
    items: &[T],
    workers: usize,
    f: impl Fn(usize, &T) -> R + Sync,
) -> Vec<R> {
    let f = &f;
    let mut done: Vec<(usize, R)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                s.spawn(move || {
                    (w..items.len())
                        .step_by(workers)
                        .map(|i| (i, f(w, &items[i])))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

/// `codever` started by `sh` after `setup` (say `umask 077`), with a clean environment; the
/// caller adds codever's arguments.
pub fn codever_in_shell(setup: &str) -> std::process::Command {
    let mut c = std::process::Command::new("sh");
    c.env_remove("CODEVER_DIR")
        .env_remove("CODEVER_RUN_ID")
        .arg("-c")
        .arg(format!("{setup} && exec \"$0\" \"$@\""))
        .arg(assert_cmd::cargo::cargo_bin!("codever"));
    c
}

/// As [`codever_cmd`], but with its address space limited to 1 GiB (`ulimit -v`) and no core
/// dumps, so that a runaway allocation fails fast instead of taking the machine's memory.
pub fn codever_limited(store: &Path, args: &[&str]) -> std::process::Command {
    let mut c = codever_in_shell("ulimit -v 1048576 && ulimit -c 0");
    c.arg("--store").arg(store).args(args);
    c
}

/// Adds a problem (with the start of stdout) unless `f` ended by itself with one of `codes`.
pub fn expect_code(f: &Finished, codes: &[i32], problems: &mut Vec<String>) {
    if !f.code().is_some_and(|c| codes.contains(&c)) {
        problems.push(format!(
            "expected exit {codes:?}: {} | stdout: {}",
            f.describe(),
            f.stdout_text()
                .lines()
                .take(3)
                .collect::<Vec<_>>()
                .join(" | ")
        ));
    }
}

/// Fails with every problem collected, one a line; a test that collects them shows all of them
/// at once rather than the first.
pub fn assert_no_problems(problems: Vec<String>) {
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// git.

/// `git args…` in `dir` with a fixed identity and quoted paths (whatever the user's
/// configuration says), asserting success; returns stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .current_dir(dir)
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "-c",
            "core.quotepath=true",
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Applies `patch` with `git apply` in `dir`; returns git's stderr on failure. Hunks without
/// context need `--unidiff-zero`, as for git's own `git diff -U0`.
pub fn git_apply(dir: &Path, patch: &[u8], zero_context: bool) -> Result<(), String> {
    let mut args = vec!["apply", "--whitespace=nowarn"];
    if zero_context {
        args.push("--unidiff-zero");
    }
    args.push("-");
    let mut child = std::process::Command::new("git")
        .current_dir(dir)
        .args(&args)
        .env("GIT_CEILING_DIRECTORIES", dir.parent().unwrap())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), patch).unwrap();
    let out = child.wait_with_output().unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

// ---------------------------------------------------------------------------------------------
// Generated content.

/// A deterministic stream of numbers (splitmix64), so generated contents vary with a seed.
pub struct Rng(pub u64);

impl Rng {
    /// The next number.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One line of Python-like code, varied enough that zstd cannot squeeze a file to nothing.
fn code_line(rng: &mut Rng, tag: &str) -> String {
    const WORDS: [&str; 12] = [
        "policy",
        "value",
        "hidden",
        "reward",
        "gamma",
        "entropy",
        "critic",
        "actor",
        "buffer",
        "target",
        "optimizer",
        "scheduler",
    ];
    let w = WORDS[rng.below(12) as usize];
    let v = WORDS[rng.below(12) as usize];
    match rng.below(4) {
        0 => format!(
            "    {w}_{} = nn.Linear({}, {})  # {tag}\n",
            rng.below(100),
            rng.below(1024),
            rng.below(1024)
        ),
        1 => format!(
            "    self.{w} = {v}.clamp({}e-{}, {})  # {tag}\n",
            rng.below(10),
            rng.below(9),
            rng.below(50)
        ),
        2 => format!(
            "    if {w}_{} > {v}[{}]:\n        return {w} * {}.{}\n",
            rng.below(64),
            rng.below(32),
            rng.below(10),
            rng.below(1000)
        ),
        _ => format!(
            "def {w}_{v}_{}(x, lr={}e-4):  # {tag}\n",
            rng.below(10_000),
            rng.below(9) + 1
        ),
    }
}

/// `files` files of code-like lines (2 to 4 KiB each, under a few subdirectories), at `step` of
/// a chain: step s is step s−1 with one line added or changed in each file, so consecutive steps
/// delta well against each other. The same (seed, files, step) always gives the same bytes.
pub fn code_files(seed: u64, files: usize, step: usize) -> Vec<(String, Vec<u8>)> {
    (0..files)
        .map(|f| {
            let mut rng = Rng(seed.wrapping_mul(1_000_003).wrapping_add(f as u64));
            let n = 40 + rng.below(30) as usize;
            let mut lines: Vec<String> = (0..n)
                .map(|_| code_line(&mut rng, &format!("f{f}")))
                .collect();
            for s in 1..=step {
                let mut r = Rng(seed ^ ((f as u64) << 20) ^ ((s as u64) << 40));
                let at = r.below(lines.len() as u64) as usize;
                let line = code_line(&mut r, &format!("step {s}"));
                if s % 2 == 1 {
                    lines.insert(at, line);
                } else {
                    lines[at] = line;
                }
            }
            (
                format!("pkg{}/mod_{f}.py", f % 4),
                lines.concat().into_bytes(),
            )
        })
        .collect()
}

/// Whether strace is installed and may ptrace here; prints why not.
pub fn strace_works() -> bool {
    match std::process::Command::new("strace")
        .args(["-f", "-qq", "-o", "/dev/null", "true"])
        .stdin(std::process::Stdio::null())
        .output()
    {
        Ok(o) if o.status.success() => true,
        Ok(o) => {
            eprintln!(
                "skipped: strace cannot trace here: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            );
            false
        }
        Err(e) => {
            eprintln!("skipped: strace is not installed ({e}); `apt-get install strace`");
            false
        }
    }
}

/// A CLI store whose artifact `code/big` has `small.py` in v0, and in v1 a changed `small.py`,
/// a new 25,000-line `many.py` (over the HTML pages' render cap) and `extra` files.
pub fn store_with_a_25000_line_file(extra: &[(&str, &[u8])]) -> (tempfile::TempDir, PathBuf) {
    let (tmp, store) = init_store();
    let dir = tmp.path().join("repo");
    write(&dir, "small.py", b"x = 1\n");
    commit_ok(&store, "code/big", &dir, "r1");
    let many: String = (0..25_000).map(|i| format!("x{i} = {i}\n")).collect();
    write(&dir, "many.py", many.as_bytes());
    write(&dir, "small.py", b"x = 2\n");
    for (name, content) in extra {
        write(&dir, name, content);
    }
    commit_ok(&store, "code/big", &dir, "r2");
    (tmp, store)
}
