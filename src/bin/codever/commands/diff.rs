//! `codever diff LEFT [RIGHT]` and `codever diff --runs RUN_A RUN_B`: compare two versions, a
//! version with the files on disk, or the artifacts two runs logged.

use codever::compare::RunsDiff;
use codever::diff::{DiffOptions, TreeDiff};
use codever::{Result, Spec, Store, render, view};

use super::Global;
use crate::output::{self, ColorWhen, out, print_json, warn_incomplete};

#[derive(clap::Args)]
pub struct Args {
    /// A version spec (or a run id with --runs).
    left: String,
    /// A version spec (or a run id with --runs). Without it, LEFT is compared with the files
    /// on disk it was committed from.
    right: Option<String>,
    /// Compare the artifacts logged by two runs, matched by type and name.
    #[arg(long, requires = "right")]
    runs: bool,
    /// Lines of context.
    #[arg(short = 'U', long = "unified", value_name = "N", default_value_t = 3)]
    context: usize,
    /// Show a summary of changed files with +/- bars instead of the patch.
    #[arg(long)]
    stat: bool,
    /// Show only the status letter and path of each changed file.
    #[arg(long)]
    name_status: bool,
    /// Exit 1 when there are differences, 0 when there are none.
    #[arg(long)]
    exit_code: bool,
    /// Colour: auto (only on a terminal, unless NO_COLOR is set), always, never.
    #[arg(long, value_enum, default_value_t = ColorWhen::Auto, value_name = "WHEN")]
    color: ColorWhen,
    /// Write binary files in git's binary patch format (applies with `git apply`).
    #[arg(long)]
    binary: bool,
    /// Minimum similarity (percent) for a deleted and an added file to count as a rename.
    #[arg(long, short = 'M', value_name = "PERCENT", default_value_t = 50,
          value_parser = clap::value_parser!(u8).range(0..=100))]
    find_renames: u8,
    /// Detect only exact renames.
    #[arg(long)]
    no_renames: bool,
}

pub fn run(global: &Global, args: Args) -> Result<u8> {
    let store = global.open_store()?;
    let opts = DiffOptions {
        context: args.context,
        rename_threshold: (!args.no_renames).then_some(args.find_renames),
        binary: args.binary,
        names_only: args.name_status,
        ..DiffOptions::default()
    };
    // With --runs, the artifacts compared come first: `# TYPE/NAME: v0 -> v1` lines, or JSON.
    let (diff, header, header_json) = if args.runs {
        let right = args.right.as_deref().unwrap_or_default();
        let rd = store.diff_runs(&args.left, right, &opts)?;
        let header = runs_header_text(&rd, &args.left, right);
        let json = output::to_value(&view::RunsArtifactRow::all(&rd))?;
        (rd.diff, header, Some(json))
    } else {
        let diff = diff_versions(&store, &args.left, args.right.as_deref(), &opts)?;
        (diff, String::new(), None)
    };
    if global.json {
        let mut v = render::diff_json(&diff);
        if let Some(artifacts) = header_json {
            v["artifacts"] = artifacts;
        }
        print_json(&v)?;
    } else if args.name_status {
        out(&format!("{header}{}", render::name_status(&diff)));
    } else if args.stat {
        out(&format!("{header}{}", render::stat(&diff)));
    } else {
        out(&header);
        output::write(&render::patch(&diff, args.color.enabled()));
    }
    Ok(u8::from(args.exit_code && !diff.is_empty()))
}

/// Two versions, or one (`right` absent) against the files on disk it was committed from.
fn diff_versions(
    store: &Store,
    left: &str,
    right: Option<&str>,
    opts: &DiffOptions,
) -> Result<TreeDiff> {
    let left = Spec::parse(left)?;
    let codever::Resolved {
        history: lh,
        index: li,
    } = store.resolve(&left)?;
    super::notes(&left, &lh, Some(&lh.versions[li]));
    match right {
        Some(r) => {
            let right = Spec::parse(r)?;
            let codever::Resolved {
                history: rh,
                index: ri,
            } = store.resolve(&right)?;
            super::notes(&right, &rh, Some(&rh.versions[ri]));
            warn_incomplete(&lh);
            if rh.key != lh.key {
                warn_incomplete(&rh);
            }
            store.diff_versions(lh.versions[li].tree, rh.versions[ri].tree, opts)
        }
        None => {
            warn_incomplete(&lh);
            store.diff_worktree(&lh, li, opts)
        }
    }
}

/// `# TYPE/NAME: v0 -> v1` for each artifact the runs logged (`(same)`, `only in run …`).
fn runs_header_text(rd: &RunsDiff, left: &str, right: &str) -> String {
    let ver = view::number;
    let mut s = String::new();
    for a in &rd.artifacts {
        let line = match (a.left, a.right) {
            (Some((lv, lt)), Some((_, rt))) if lt == rt => format!("{}: {} (same)", a.key, ver(lv)),
            (Some((lv, _)), Some((rv, _))) => format!("{}: {} -> {}", a.key, ver(lv), ver(rv)),
            (Some((lv, _)), None) => format!("{}:{} only in run {left}", a.key, ver(lv)),
            (None, Some((rv, _))) => format!("{}:{} only in run {right}", a.key, ver(rv)),
            (None, None) => continue,
        };
        s.push_str(&format!("# {line}\n"));
    }
    s
}
