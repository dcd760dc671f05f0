//! Environments per run (`commit-env`, `diff --runs`): captured from real interpreters, one
//! without and one with an extra distribution installed.

use std::path::{Path, PathBuf};

use crate::common::{init_store, json, run_err, run_ok};

/// A virtualenv without pip (quick to make); with `extra`, a distribution `(name, version)`
/// installed in it the way pip leaves one (a `.dist-info` folder with its METADATA).
fn venv(dir: &Path, extra: Option<(&str, &str)>) -> PathBuf {
    venv_with(dir, extra.as_slice())
}

/// [`venv`] with several distributions installed.
fn venv_with(dir: &Path, extra: &[(&str, &str)]) -> PathBuf {
    let status = std::process::Command::new("python3")
        .args(["-m", "venv", "--without-pip"])
        .arg(dir)
        .status()
        .unwrap();
    assert!(status.success());
    let python = dir.join("bin/python");
    let site = site_packages(&python);
    for (name, version) in extra {
        let info = site.join(format!("{}-{version}.dist-info", name.replace('-', "_")));
        std::fs::create_dir_all(&info).unwrap();
        std::fs::write(
            info.join("METADATA"),
            format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\nA package.\n"),
        )
        .unwrap();
    }
    python
}

#[test]
fn two_runs_in_venvs_differing_by_one_package() {
    let (tmp, store) = init_store();
    let plain = venv(&tmp.path().join("a"), None);
    let extra = venv(&tmp.path().join("b"), Some(("tiny-pkg", "0.3.1")));
    let commit = |run: &str, python: &Path, command: &str| {
        json(
            &store,
            &[
                "commit-env",
                "--run",
                run,
                "--python",
                python.to_str().unwrap(),
                "--command",
                command,
            ],
        )
    };
    let first = commit("r1", &plain, "python train.py");
    assert_eq!(
        (first["version"].clone(), first["new"].clone()),
        (0.into(), true.into())
    );
    let second = commit("r2", &extra, "python train.py");
    assert_eq!(
        (second["version"].clone(), second["new"].clone()),
        (1.into(), true.into())
    );
    // The same interpreter again: the run links to the existing version.
    let third = commit("r3", &plain, "python train.py");
    assert_eq!(
        (third["version"].clone(), third["new"].clone()),
        (0.into(), false.into())
    );

    let d = json(&store, &["diff", "--runs", "r1", "r2"]);
    assert_eq!(
        d["environment"],
        serde_json::json!([{"name": "tiny-pkg", "old": null, "new": "0.3.1"}])
    );
    let text = run_ok(&store, &["diff", "--runs", "r1", "r2"]);
    assert!(
        text.starts_with("# env/environment: v0 -> v1\n# environment:\n#   + tiny-pkg 0.3.1\n"),
        "{text}"
    );
    assert!(text.contains("+tiny-pkg==0.3.1\n"), "{text}");
    assert_eq!(
        json(&store, &["diff", "--runs", "r1", "r3"])["environment"],
        serde_json::json!([])
    );
    // The compare page shows the same list above the files.
    let page = run_ok(&store, &["diff", "--runs", "r1", "r2", "--html"]);
    assert!(
        page.contains("<tr data-change=\"added\"><td>tiny-pkg</td><td>—</td><td>0.3.1</td></tr>"),
        "{page}"
    );
    assert!(
        !run_ok(&store, &["diff", "--runs", "r1", "r3", "--html"])
            .contains("<table class=\"cdv-env\">")
    );
    // The files: what the interpreter reports, one fact per line.
    let python = run_ok(&store, &["cat", "environment:v1", "python.txt"]);
    let version = std::process::Command::new(&extra)
        .args(["-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"])
        .output()
        .unwrap();
    let version = String::from_utf8(version.stdout).unwrap();
    assert!(
        python.starts_with(&format!("python {}implementation cpython\nos ", version)),
        "{python}"
    );
    assert_eq!(
        run_ok(&store, &["cat", "environment:v1", "command.txt"]),
        "python train.py\n"
    );
    // `runs show` names the environment the run logged.
    let shown = json(&store, &["runs", "show", "r2"]);
    assert_eq!(shown["artifacts"][0]["type"], "env");
    assert_eq!(shown["artifacts"][0]["version"], 1);
}

#[test]
fn only_named_variables_are_recorded() {
    let (tmp, store) = init_store();
    let python = venv(&tmp.path().join("a"), None);
    let out = crate::common::codever_cmd(
        &store,
        &[
            "commit-env",
            "--run",
            "r1",
            "--python",
            python.to_str().unwrap(),
            "--keep",
            "SEED_FOR_TEST",
            "--keep",
            "UNSET_FOR_TEST",
        ],
    )
    .env("SEED_FOR_TEST", "7")
    .env("SECRET_TOKEN", "hunter2")
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        run_ok(&store, &["cat", "environment:v0", "environ.txt"]),
        "SEED_FOR_TEST=7\n"
    );
    let files = json(&store, &["show", "environment:v0"])["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect::<Vec<_>>();
    assert_eq!(files, ["environ.txt", "python.txt", "requirements.txt"]);
    for f in &files {
        let text = run_ok(&store, &["cat", "environment:v0", f]);
        assert!(!text.contains("hunter2"), "{f}: {text}");
    }
}

#[test]
fn a_missing_or_failing_interpreter_is_one_clear_error() {
    let (tmp, store) = init_store();
    let err = run_err(&store, &["commit-env", "--python", "/nonexistent/python"]);
    assert_eq!(
        err,
        "error: cannot read the environment of /nonexistent/python: No such file or directory (os error 2)\n\
         hint: name the interpreter your runs use, e.g. `--python .venv/bin/python` (Python 3.8 or newer)\n"
    );
    let fake = tmp.path().join("python");
    std::fs::write(&fake, "#!/bin/sh\necho 'SyntaxError: bad' >&2\nexit 1\n").unwrap();
    crate::common::set_executable(&fake, true);
    let err = run_err(&store, &["commit-env", "--python", fake.to_str().unwrap()]);
    assert!(
        err.starts_with(&format!(
            "error: cannot read the environment of {}: it exited with exit status: 1 (SyntaxError: bad)\n",
            fake.display()
        )),
        "{err}"
    );
    // Nothing was committed.
    assert_eq!(json(&store, &["list"]), serde_json::json!([]));
}

/// A long list of changes: the text header shows the first 20 and says how many more; JSON
/// lists them all.
#[test]
fn long_environment_changes_are_cut_in_text_only() {
    let (tmp, store) = init_store();
    let names: Vec<String> = (0..25).map(|i| format!("pkg{i:02}")).collect();
    let extra: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "1.0")).collect();
    let a = venv(&tmp.path().join("a"), None);
    let b = venv_with(&tmp.path().join("b"), &extra);
    commit_envs(&store, &[("r1", &a), ("r2", &b)]);
    let text = run_ok(&store, &["diff", "--runs", "r1", "r2", "--stat"]);
    let listed: Vec<&str> = text.lines().filter(|l| l.starts_with("#   ")).collect();
    assert_eq!(listed.len(), 21, "{text}");
    assert_eq!(listed[0], "#   + pkg00 1.0");
    assert_eq!(listed[19], "#   + pkg19 1.0");
    assert_eq!(
        listed[20],
        "#   … and 5 more (`--json` lists them all; the patch below shows the files)"
    );
    let d = json(&store, &["diff", "--runs", "r1", "r2"]);
    assert_eq!(d["environment"].as_array().unwrap().len(), 25);
}

/// GPUs and torch's CUDA, without a GPU or torch here: a fake `nvidia-smi` first on PATH answers
/// the query, and a distribution named torch carries the `torch/version.py` torch ships.
#[test]
fn gpus_driver_and_torch_cuda_are_read_without_importing_anything() {
    let (tmp, store) = init_store();
    let python = venv_with(&tmp.path().join("a"), &[("torch", "2.4.0+cu121")]);
    let site = site_packages(&python);
    // Importing this would fail: the capture must only read it.
    std::fs::create_dir_all(site.join("torch")).unwrap();
    std::fs::write(
        site.join("torch/__init__.py"),
        "raise ImportError('imported')\n",
    )
    .unwrap();
    std::fs::write(
        site.join("torch/version.py"),
        "__version__ = '2.4.0+cu121'\ncuda = '12.1'\n",
    )
    .unwrap();
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let smi = bin.join("nvidia-smi");
    std::fs::write(
        &smi,
        "#!/bin/sh\necho '0, NVIDIA A100-SXM4-80GB, 550.54.15'\necho '1, NVIDIA A100-SXM4-80GB, 550.54.15'\n",
    )
    .unwrap();
    crate::common::set_executable(&smi, true);
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = crate::common::codever_cmd(
        &store,
        &[
            "commit-env",
            "--run",
            "r1",
            "--python",
            python.to_str().unwrap(),
        ],
    )
    .env("PATH", path)
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let facts = run_ok(&store, &["cat", "environment:v0", "python.txt"]);
    let tail: Vec<&str> = facts.lines().skip(4).collect();
    assert_eq!(
        tail,
        [
            "torch 2.4.0+cu121",
            "torch.cuda 12.1",
            "gpu0 NVIDIA A100-SXM4-80GB",
            "gpu1 NVIDIA A100-SXM4-80GB",
            "nvidia-driver 550.54.15"
        ],
        "{facts}"
    );
}

/// An interpreter stand-in that prints `json` (what the capture script would) whatever it is
/// asked.
fn fake_python(dir: &Path, name: &str, json: &str) -> PathBuf {
    let path = dir.join(name);
    let body = dir.join(format!("{name}.json"));
    std::fs::write(&body, json).unwrap();
    std::fs::write(&path, format!("#!/bin/sh\ncat '{}'\n", body.display())).unwrap();
    crate::common::set_executable(&path, true);
    path
}

/// What an interpreter reports is checked: both main files must be there, nothing else; and
/// an environment file too large to hold is left to the patch, not listed entry by entry.
#[test]
fn an_interpreters_report_is_checked_and_huge_files_are_not_listed() {
    let (tmp, store) = init_store();
    let half = fake_python(
        tmp.path(),
        "half",
        r#"{"requirements.txt": "six==1.16.0\n"}"#,
    );
    let err = run_err(&store, &["commit-env", "--python", half.to_str().unwrap()]);
    assert!(
        err.contains("it did not write requirements.txt and python.txt"),
        "{err}"
    );
    let odd = fake_python(
        tmp.path(),
        "odd",
        r#"{"requirements.txt": "", "python.txt": "", "secrets.txt": "x"}"#,
    );
    let err = run_err(&store, &["commit-env", "--python", odd.to_str().unwrap()]);
    assert!(err.contains("unexpected file \"secrets.txt\""), "{err}");
    // Two environments whose requirements differ, one of them over 4 MiB.
    let small = fake_python(
        tmp.path(),
        "small",
        r#"{"requirements.txt": "six==1.16.0\n", "python.txt": "python 3.11.7\n"}"#,
    );
    let lines: String = (0..400_000).map(|i| format!("pkg{i}==1.0\n")).collect();
    assert!(lines.len() > 4 << 20);
    let big = fake_python(
        tmp.path(),
        "big",
        &serde_json::json!({"requirements.txt": lines, "python.txt": "python 3.12.4\n"})
            .to_string(),
    );
    commit_envs(&store, &[("r1", &small), ("r2", &big)]);
    let d = json(&store, &["diff", "--runs", "r1", "r2", "--stat"]);
    assert_eq!(
        d["environment"],
        serde_json::json!([{"name": "python", "old": "3.11.7", "new": "3.12.4"}])
    );
}

/// `commit-env --run RUN --python PYTHON` for each pair, asserting success.
fn commit_envs(store: &Path, runs: &[(&str, &PathBuf)]) {
    for (run, python) in runs {
        run_ok(
            store,
            &[
                "commit-env",
                "--run",
                run,
                "--python",
                python.to_str().unwrap(),
            ],
        );
    }
}

/// Where `python` installs pure-Python distributions.
fn site_packages(python: &Path) -> PathBuf {
    let out = std::process::Command::new(python)
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ])
        .output()
        .unwrap();
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}
