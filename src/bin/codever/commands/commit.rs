//! `codever commit NAME --type TYPE SOURCE...`: log files as a version of an artifact for a run.

use codever::{ArtifactKey, CommitOptions, CommitOutcome, Filter, Result, RunCapture, Snapshot};
use codever::{frontend, view};

use super::Global;
use crate::output::{note, out, print_json, progress_bar};

#[derive(clap::Args)]
pub struct Args {
    /// Artifact name (`[A-Za-z0-9_.-]`, 1-128 characters).
    name: String,
    /// Artifact type, e.g. `rl_algo_code`.
    #[arg(long = "type", short = 't', value_name = "TYPE")]
    artifact_type: String,
    /// Files or directories, as PATH or PATH=DISPLAY. A file is stored under its basename
    /// unless DISPLAY is given; a directory's files keep paths relative to it (under
    /// DISPLAY/ if given), honouring .gitignore.
    #[arg(required = true, value_name = "SOURCE")]
    sources: Vec<String>,
    /// Run id; default $CODEVER_RUN_ID, else a fresh id.
    #[arg(long)]
    run: Option<String>,
    /// Commit message.
    #[arg(long, short = 'm', default_value = "")]
    message: String,
    /// Point this alias at the committed version (repeatable).
    #[arg(long = "alias", value_name = "ALIAS")]
    aliases: Vec<String>,
    /// Only files of directory sources matching this glob (repeatable).
    #[arg(long = "include", value_name = "GLOB")]
    include: Vec<String>,
    /// Skip files of directory sources matching this glob (repeatable).
    #[arg(long = "exclude", value_name = "GLOB")]
    exclude: Vec<String>,
}

pub fn run(global: &Global, args: Args) -> Result<u8> {
    let key = ArtifactKey::new(&args.artifact_type, &args.name)?;
    let store = global.open_store()?;
    let run_id = frontend::run_id(args.run);
    // git is asked for HEAD and the dirty flag while the sources are walked.
    let capture = RunCapture::start(&run_id, &frontend::working_dir()?, !store.has_run(&run_id))?;
    let mut snapshot = Snapshot::new(Filter::new(&args.include, &args.exclude)?);
    for s in &args.sources {
        snapshot.add_source_arg(s)?;
    }
    let run = capture.finish();
    let bar = progress_bar();
    let opts = CommitOptions {
        message: args.message,
        aliases: args.aliases,
        progress: bar.as_ref().map(|(_, p)| p.clone()),
        ..CommitOptions::default()
    };
    let result = store.commit(&key, &snapshot, &run, &opts);
    if let Some((b, _)) = bar {
        b.finish_and_clear();
    }
    print_outcome(global, &result?)?;
    Ok(0)
}

/// Prints what a commit did (and notes on stderr about withheld numbers, a former name, a
/// forgotten version brought back).
pub fn print_outcome(global: &Global, o: &CommitOutcome) -> Result<()> {
    if o.version.is_none() {
        note(&format!(
            "warning: some records of {} cannot be read, so its version numbers are withheld; `codever fsck` says more",
            o.key
        ));
    }
    if let Some(old) = &o.renamed_from {
        note(&format!(
            "note: {old} was renamed to {}; the commit joined it there",
            o.key
        ));
    }
    if o.revived {
        note(&format!(
            "note: {}@{} was forgotten; this commit brings it back (logging it says it is in use)",
            o.key,
            o.tree.short()
        ));
    }
    if global.json {
        print_json(&view::CommitRow::new(o))?;
    } else {
        out(&text(o));
    }
    Ok(())
}

/// `ppo:v1 (new)  id …  run …  3 file(s)`, or `(unchanged)` when linked to an existing version.
fn text(o: &CommitOutcome) -> String {
    let number = view::number(o.version);
    if o.new {
        format!(
            "{}:{number} (new)  id {}  run {}  {} file(s)\n",
            o.key.name,
            o.tree.short(),
            o.run,
            o.files
        )
    } else {
        format!(
            "{}:{number} (unchanged)  id {}  run {}  linked to the existing version, nothing new stored\n",
            o.key.name,
            o.tree.short(),
            o.run
        )
    }
}
