//! `codever commit-env [--python PATH]`: log a Python interpreter's environment (installed
//! packages, Python, platform, GPUs) as `env/environment` for a run, for shell-driven runs.

use std::path::PathBuf;

use codever::{CommitOptions, Result, RunCapture, env, frontend};

use super::Global;

#[derive(clap::Args)]
pub struct Args {
    /// The interpreter the run uses; default: $VIRTUAL_ENV/bin/python when a virtualenv is
    /// active, else `python3` on PATH.
    #[arg(long, value_name = "PATH")]
    python: Option<PathBuf>,
    /// Run id; default $CODEVER_RUN_ID, else a fresh id.
    #[arg(long)]
    run: Option<String>,
    /// The run's command line, recorded in command.txt.
    #[arg(long, value_name = "TEXT")]
    command: Option<String>,
    /// Also record this environment variable's value in environ.txt (repeatable; nothing else
    /// is read from the environment: variables often hold secrets).
    #[arg(long = "keep", value_name = "NAME")]
    keep: Vec<String>,
    /// Commit message.
    #[arg(long, short = 'm', default_value = "")]
    message: String,
}

pub fn run(global: &Global, args: Args) -> Result<u8> {
    let store = global.open_store()?;
    let python = args.python.unwrap_or_else(default_python);
    let files = env::capture_env(&python, &args.keep, args.command.as_deref())?;
    let run_id = frontend::run_id(args.run);
    let capture = RunCapture::start(&run_id, &frontend::working_dir()?, !store.has_run(&run_id))?;
    let opts = CommitOptions {
        message: args.message,
        ..CommitOptions::default()
    };
    let o = store.commit_env(&files, &capture.finish(), &opts)?;
    super::commit::print_outcome(global, &o)?;
    Ok(0)
}

/// `$VIRTUAL_ENV/bin/python` when a virtualenv is active, else `python3`.
fn default_python() -> PathBuf {
    std::env::var_os("VIRTUAL_ENV")
        .map(|v| PathBuf::from(v).join("bin").join("python"))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("python3"))
}
