//! Capturing a run: its id, host, user, working directory and the enclosing git repository's
//! HEAD and dirty flag.

use std::path::Path;
use std::process::Command;

use crate::error::Result;
use crate::names::validate_name;
use crate::object::RunRecord;

/// A fresh run id: 8 characters of `[a-z0-9]`, like W&B's.
pub fn new_run_id() -> String {
    let mut h = blake3::Hasher::new();
    h.update(&now_ns().to_le_bytes());
    h.update(&std::process::id().to_le_bytes());
    h.update(format!("{:?}", std::thread::current().id()).as_bytes());
    h.update(gethostname::gethostname().as_encoded_bytes());
    // Differs between calls of one process that share everything else.
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    h.update(&n.to_le_bytes());
    let mut out = String::with_capacity(8);
    let digits = b"0123456789abcdefghijklmnopqrstuvwxyz";
    for b in &h.finalize().as_bytes()[..8] {
        out.push(digits[(*b as usize) % 36] as char);
    }
    out
}

/// Nanoseconds since the Unix epoch, now.
pub fn now_ns() -> i64 {
    let ts = jiff::Timestamp::now().as_nanosecond();
    i64::try_from(ts).unwrap_or(i64::MAX)
}

/// Describes a run that starts now in `cwd`: host, user, and the enclosing git repository's HEAD
/// and dirty flag (when `git` is installed).
pub fn capture_run(id: &str, cwd: &Path) -> Result<RunRecord> {
    Ok(RunCapture::start(id, cwd, true)?.finish())
}

/// A run being described. Asking git for HEAD and the dirty flag takes a while on a large
/// repository, so it runs in the background while the caller captures files.
pub struct RunCapture {
    record: RunRecord,
    git: Option<std::process::Child>,
}

impl RunCapture {
    /// Starts describing run `id` in `cwd`; with `ask_git`, starts the git query (skip it for a
    /// run the store already knows: its record is not written again).
    pub fn start(id: &str, cwd: &Path, ask_git: bool) -> Result<RunCapture> {
        validate_name("run id", id)?;
        let git = if ask_git { spawn_git_status(cwd) } else { None };
        Ok(RunCapture {
            record: RunRecord {
                id: id.to_string(),
                time_ns: now_ns(),
                host: host_name(),
                user: std::env::var("USER")
                    .or_else(|_| std::env::var("USERNAME"))
                    .unwrap_or_default(),
                cwd: cwd.to_string_lossy().into_owned(),
                git_commit: None,
                git_dirty: None,
                project: String::new(),
                config: String::new(),
                notes: String::new(),
                tags: Vec::new(),
            },
            git,
        })
    }

    /// Waits for the git query and returns the run's record.
    pub fn finish(mut self) -> RunRecord {
        if let Some(child) = self.git.take()
            && let Ok(out) = child.wait_with_output()
            && out.status.success()
        {
            let (commit, dirty) = parse_git_status(&String::from_utf8_lossy(&out.stdout));
            self.record.git_commit = commit;
            self.record.git_dirty = Some(dirty);
        }
        self.record
    }
}

/// This machine's host name.
pub fn host_name() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

fn spawn_git_status(cwd: &Path) -> Option<std::process::Child> {
    if !cwd.ancestors().any(|a| a.join(".git").exists()) {
        return None;
    }
    Command::new("git")
        .arg("-C")
        .arg(cwd)
        .args([
            "status",
            "--porcelain=v2",
            "--branch",
            "--untracked-files=no",
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()
}

fn parse_git_status(text: &str) -> (Option<String>, bool) {
    let mut commit = None;
    let mut dirty = false;
    for line in text.lines() {
        if let Some(oid) = line.strip_prefix("# branch.oid ") {
            if oid != "(initial)" {
                commit = Some(oid.to_string());
            }
        } else if !line.starts_with('#') && !line.is_empty() {
            dirty = true;
        }
    }
    (commit, dirty)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_valid_and_distinct() {
        let a = new_run_id();
        let b = new_run_id();
        assert_eq!(a.len(), 8);
        validate_name("run id", &a).unwrap();
        assert_ne!(a, b);
    }
}
