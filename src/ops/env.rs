//! A run's environment: captured from a Python interpreter as the artifact `env/environment`
//! (`requirements.txt`, `python.txt`, `command.txt`, and `environ.txt` for variables the user
//! names), committed like any artifact, and compared between two runs as a short list of what
//! changed (`torch 2.3.1 -> 2.4.0`, `+ flash-attn 2.6.3`).
//!
//! The capture is one Python file, `python/codever/_env.py`, used by the Python package at
//! `init` and run by [`capture_env`] with any interpreter (`codever commit-env --python PATH`),
//! so both write the same files.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::error::{Error, Result};
use crate::id::ObjectId;
use crate::key::ArtifactKey;
use crate::object::RunRecord;
use crate::ops::commit::{CommitOptions, CommitOutcome};
use crate::snapshot::Snapshot;
use crate::store::Store;

/// The script that captures the environment (run with `python -c`).
pub const ENV_SCRIPT: &str = include_str!("../../python/codever/_env.py");

/// The artifact type and name environments are logged under.
pub const ENV_TYPE: &str = "env";
/// See [`ENV_TYPE`].
pub const ENV_NAME: &str = "environment";

/// The files an environment may hold, in the order changes are listed (the few facts first,
/// the long package list last).
const ENV_FILES: [&str; 4] = [
    "python.txt",
    "command.txt",
    "environ.txt",
    "requirements.txt",
];

/// The artifact environments are logged under: `env/environment`.
pub fn env_key() -> ArtifactKey {
    ArtifactKey {
        artifact_type: ENV_TYPE.to_string(),
        name: ENV_NAME.to_string(),
    }
}

/// Runs `python` on the capture script and returns its files (name, bytes), sorted by name.
/// `keep`: environment variables to record (their values land in `environ.txt`); `command`: the
/// command line to record in `command.txt`, if any.
pub fn capture_env(
    python: &Path,
    keep: &[String],
    command: Option<&str>,
) -> Result<Vec<(String, Vec<u8>)>> {
    let fail = |reason: String| Error::EnvCapture {
        python: python.display().to_string(),
        reason,
    };
    let mut cmd = Command::new(python);
    cmd.arg("-c").arg(ENV_SCRIPT);
    if let Some(c) = command {
        cmd.arg("--command").arg(c);
    }
    cmd.args(keep)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = cmd.output().map_err(|e| fail(e.to_string()))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        return Err(fail(format!(
            "it exited with {} ({})",
            out.status,
            last.trim()
        )));
    }
    let files: BTreeMap<String, String> = serde_json::from_slice(&out.stdout)
        .map_err(|e| fail(format!("its output is not the expected JSON ({e})")))?;
    if let Some(odd) = files.keys().find(|k| !ENV_FILES.contains(&k.as_str())) {
        return Err(fail(format!("it wrote an unexpected file {odd:?}")));
    }
    if !files.contains_key("requirements.txt") || !files.contains_key("python.txt") {
        return Err(fail(
            "it did not write requirements.txt and python.txt".into(),
        ));
    }
    Ok(files
        .into_iter()
        .map(|(k, v)| (k, v.into_bytes()))
        .collect())
}

impl Store {
    /// Commits environment `files` (from [`capture_env`], or any `name -> bytes`) as
    /// `env/environment` for `run`: unchanged, the run links to the existing version.
    pub fn commit_env(
        &self,
        files: &[(String, Vec<u8>)],
        run: &RunRecord,
        opts: &CommitOptions,
    ) -> Result<CommitOutcome> {
        let mut snapshot = Snapshot::default();
        for (name, bytes) in files {
            snapshot.add_bytes(name, bytes.clone(), false)?;
        }
        self.commit(&env_key(), &snapshot, run, opts)
    }

    /// What changed between the environments of two versions (trees of `env/environment`):
    /// facts of `python.txt` first (Python, platform, torch's CUDA, GPUs), then the command
    /// line and kept variables, then packages.
    pub fn env_changes(&self, left: ObjectId, right: ObjectId) -> Result<Vec<EnvChange>> {
        let mut out = Vec::new();
        for file in ENV_FILES {
            // None: too large to list (then the file is left to the patch on both sides, never
            // half-compared); an absent file has no entries.
            let read = |tree: ObjectId| -> Result<Option<Vec<(String, String)>>> {
                match crate::tree::lookup(self, &tree, file)? {
                    Some(meta) if meta.size > MAX_ENV_FILE => Ok(None),
                    Some(meta) => Ok(Some(parse(file, &self.read_blob(&meta.id)?))),
                    None => Ok(Some(Vec::new())),
                }
            };
            if let (Some(l), Some(r)) = (read(left)?, read(right)?) {
                out.extend(changes(&l, &r));
            }
        }
        Ok(out)
    }
}

/// Environment files larger than this are not compared entry by entry (the patch still shows
/// them): a requirements file of thousands of packages is about 100 KiB.
const MAX_ENV_FILE: u64 = 4 << 20;

/// One difference between two environments: a package, a fact such as `python` or `gpu0`, the
/// command line, or a kept variable. `old` is absent for an addition, `new` for a removal.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct EnvChange {
    /// The package or fact (`torch`, `python`, `command`, `$CUDA_VISIBLE_DEVICES`).
    pub name: String,
    /// Its value in the first run.
    pub old: Option<String>,
    /// Its value in the second run.
    pub new: Option<String>,
}

impl std::fmt::Display for EnvChange {
    /// `torch 2.3.1 -> 2.4.0`, `+ flash-attn 2.6.3`, `- six 1.16.0` (`+ -e /src/lib` for an
    /// entry without a value).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let spaced = |v: &str| {
            if v.is_empty() {
                String::new()
            } else {
                format!(" {v}")
            }
        };
        match (&self.old, &self.new) {
            (Some(o), Some(n)) => write!(f, "{} {o} -> {n}", self.name),
            (None, Some(n)) => write!(f, "+ {}{}", self.name, spaced(n)),
            (Some(o), None) => write!(f, "- {}{}", self.name, spaced(o)),
            (None, None) => write!(f, "{}", self.name),
        }
    }
}

/// The entries of one environment file as `(key, value)` in file order: `name==version` and
/// `name @ url` by package name (`-e PATH` lines by themselves), `key value` facts, the whole
/// command, `NAME=value` variables.
fn parse(file: &str, bytes: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(bytes);
    let lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    match file {
        "requirements.txt" => lines
            .filter(|l| !l.starts_with('#'))
            .map(|l| {
                if let Some((name, version)) = l.split_once("==") {
                    (name.trim().to_string(), version.trim().to_string())
                } else if let Some((name, url)) = l.split_once(" @ ") {
                    (name.trim().to_string(), url.trim().to_string())
                } else {
                    (l.to_string(), String::new())
                }
            })
            .collect(),
        "python.txt" => lines
            .map(|l| match l.split_once(' ') {
                Some((k, v)) => (k.to_string(), v.trim().to_string()),
                None => (l.to_string(), String::new()),
            })
            .collect(),
        "command.txt" => vec![("command".to_string(), lines.collect::<Vec<_>>().join(" "))],
        _ => lines
            .map(|l| match l.split_once('=') {
                Some((k, v)) => (format!("${k}"), v.to_string()),
                None => (format!("${l}"), String::new()),
            })
            .collect(),
    }
}

/// The changes from `old` to `new` entries: changed ones in `old`'s order, then added ones in
/// `new`'s, then removed ones. Package names match as pip matches them (case, `-`, `_` and `.`
/// aside).
fn changes(old: &[(String, String)], new: &[(String, String)]) -> Vec<EnvChange> {
    let key = |k: &str| normalize(k);
    let new_by: BTreeMap<String, &(String, String)> = new.iter().map(|e| (key(&e.0), e)).collect();
    let old_keys: std::collections::BTreeSet<String> = old.iter().map(|e| key(&e.0)).collect();
    let (mut out, mut removed) = (Vec::new(), Vec::new());
    for (k, v) in old {
        match new_by.get(&key(k)) {
            Some((_, nv)) if nv == v => {}
            Some((nk, nv)) => out.push(EnvChange {
                name: nk.clone(),
                old: Some(v.clone()),
                new: Some(nv.clone()),
            }),
            None => removed.push(EnvChange {
                name: k.clone(),
                old: Some(v.clone()),
                new: None,
            }),
        }
    }
    for (k, v) in new {
        if !old_keys.contains(&key(k)) {
            out.push(EnvChange {
                name: k.clone(),
                old: None,
                new: Some(v.clone()),
            });
        }
    }
    out.extend(removed);
    out
}

/// PEP 503's normalised name: lower case, runs of `-`, `_` and `.` as one `-`.
fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.extend(c.to_lowercase());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(file: &str, text: &str) -> Vec<(String, String)> {
        parse(file, text.as_bytes())
    }

    fn shown(c: &[EnvChange]) -> Vec<String> {
        c.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn package_changes_read_as_a_short_list() {
        let old = entries(
            "requirements.txt",
            "numpy==1.26.4\nsix==1.16.0\ntorch==2.3.1\ntyping_extensions==4.1\n",
        );
        let new = entries(
            "requirements.txt",
            "flash-attn==2.6.3\nnumpy==1.26.4\ntorch==2.4.0\nTyping-Extensions==4.1\n-e /src/mylib\n",
        );
        assert_eq!(
            shown(&changes(&old, &new)),
            [
                "torch 2.3.1 -> 2.4.0",
                "+ flash-attn 2.6.3",
                "+ -e /src/mylib",
                "- six 1.16.0",
            ]
        );
    }

    #[test]
    fn facts_commands_and_variables() {
        let old = entries(
            "python.txt",
            "python 3.11.7\nos Linux 6.1\ngpu0 NVIDIA A100\n",
        );
        let new = entries("python.txt", "python 3.12.4\nos Linux 6.1\n");
        assert_eq!(
            shown(&changes(&old, &new)),
            ["python 3.11.7 -> 3.12.4", "- gpu0 NVIDIA A100"]
        );
        let old = entries("command.txt", "python train.py --lr 0.1\n");
        let new = entries("command.txt", "python train.py --lr 0.3\n");
        assert_eq!(
            shown(&changes(&old, &new)),
            ["command python train.py --lr 0.1 -> python train.py --lr 0.3"]
        );
        let old = entries("environ.txt", "CUDA_VISIBLE_DEVICES=0\n");
        let new = entries("environ.txt", "CUDA_VISIBLE_DEVICES=0,1\n");
        assert_eq!(
            shown(&changes(&old, &new)),
            ["$CUDA_VISIBLE_DEVICES 0 -> 0,1"]
        );
    }

    #[test]
    fn names_match_as_pip_matches_them() {
        assert_eq!(normalize("Typing__Extensions.x"), "typing-extensions-x");
        assert_eq!(normalize("flash-attn"), "flash-attn");
    }
}
