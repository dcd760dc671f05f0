//! `codever diff LEFT [RIGHT]` and `codever diff --runs RUN_A RUN_B`: compare two versions, a
//! version with the files on disk, or the artifacts two runs logged (runs named by id, or
//! picked by a summary key with `--best` and `--worst`).

use codever::compare::RunsDiff;
use codever::diff::{DiffOptions, TreeDiff};
use codever::run::Metric;
use codever::{Error, Result, Spec, Store, html, render, view};

use super::{AlgorithmArgs, Global};
use crate::output::{self, out, print_json, warn_incomplete};

#[derive(clap::Args)]
pub struct Args {
    /// A version spec (or a run id with --runs).
    #[arg(required_unless_present_any = ["best", "worst"])]
    left: Option<String>,
    /// A version spec (or a run id with --runs). Without it, LEFT is compared with the files
    /// on disk it was committed from.
    right: Option<String>,
    /// Compare the artifacts logged by two runs, matched by type and name.
    #[arg(long)]
    runs: bool,
    /// With --runs: the left run is the one with the highest summary (else config) value of
    /// KEY; `-KEY` where lower is better (`--best -loss`).
    #[arg(
        long,
        value_name = "[-]KEY",
        allow_hyphen_values = true,
        requires = "runs"
    )]
    best: Option<String>,
    /// With --runs: the right run is the one with the lowest value of KEY (`-KEY`: the
    /// highest).
    #[arg(
        long,
        value_name = "[-]KEY",
        allow_hyphen_values = true,
        requires = "runs"
    )]
    worst: Option<String>,
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
    #[command(flatten)]
    algorithm: AlgorithmArgs,
    /// Write the comparison as one self-contained HTML page (GitHub-style, works offline) to
    /// FILE, or to standard output without FILE or with `-`. Put it last, or write
    /// `--html=FILE`.
    #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = "-")]
    html: Option<std::path::PathBuf>,
}

pub fn run(global: &Global, args: Args) -> Result<u8> {
    let store = global.open_store_fetching()?;
    let opts = DiffOptions {
        context: args.context,
        rename_threshold: (!args.no_renames).then_some(args.find_renames),
        binary: args.binary,
        names_only: args.name_status,
        algorithm: args.algorithm.algorithm(),
        ..DiffOptions::default()
    };
    // With --runs, the artifacts compared come first: `# TYPE/NAME: v0 -> v1` lines, or JSON.
    let (diff, header, header_json) = if args.runs {
        let (left, right, picked) = runs_to_compare(&store, &args)?;
        let rd = store.diff_runs(&left, &right, &opts)?;
        if let Some(file) = &args.html {
            let (lr, rr) = (store.run(&left)?, store.run(&right)?);
            let c = html::compare::Compare {
                left: &left,
                right: &right,
                diff: &rd.diff,
                runs: Some(html::compare::Runs {
                    diff: &rd,
                    left: &lr,
                    right: &rr,
                }),
            };
            write_html(file, &html::standalone(&c, &store))?;
            return Ok(u8::from(args.exit_code && !rd.diff.is_empty()));
        }
        let header = format!("{picked}{}", runs_header_text(&rd, &left, &right));
        let json = (
            output::to_value(&view::RunsArtifactRow::all(&rd))?,
            output::to_value(&rd.environment)?,
        );
        (rd.diff, header, Some((json, [left, right])))
    } else {
        let left = args.left.as_deref().unwrap_or_default();
        let diff = diff_versions(&store, left, args.right.as_deref(), &opts)?;
        if let Some(file) = &args.html {
            let c = html::compare::Compare {
                left,
                right: args.right.as_deref().unwrap_or(html::compare::ON_DISK),
                diff: &diff,
                runs: None,
            };
            write_html(file, &html::standalone(&c, &store))?;
            return Ok(u8::from(args.exit_code && !diff.is_empty()));
        }
        (diff, String::new(), None)
    };
    if global.json {
        let mut v = render::diff_json(&diff);
        if let Some(((artifacts, environment), runs)) = header_json {
            v["artifacts"] = artifacts;
            v["environment"] = environment;
            v["runs"] = serde_json::json!(runs);
        }
        print_json(&v)?;
    } else if args.name_status {
        out(&format!("{header}{}", render::name_status(&diff)));
    } else if args.stat {
        out(&format!(
            "{header}{}",
            render::stat_width(&diff, 80, global.color.enabled())
        ));
    } else {
        out(&header);
        output::write(&render::patch(&diff, global.color.enabled()));
    }
    Ok(u8::from(args.exit_code && !diff.is_empty()))
}

/// Writes a page to `file`, or to standard output for `-`.
fn write_html(file: &std::path::Path, page: &str) -> Result<()> {
    if file.as_os_str() == "-" {
        output::write(page.as_bytes());
        return Ok(());
    }
    // Whole or not at all: a failed write leaves an existing file as it was.
    html::write_file(file, page.as_bytes())?;
    eprintln!("wrote {}", file.display());
    Ok(())
}

/// The two runs `--runs` compares: the left one is `--best`'s pick, else the first id given;
/// the right one `--worst`'s pick, else the remaining id. Also a `# …` line for each pick.
fn runs_to_compare(store: &Store, args: &Args) -> Result<(String, String, String)> {
    let mut ids = args.left.iter().chain(&args.right).cloned();
    let mut picked = String::new();
    let mut pick = |key: &Option<String>, worst: bool| -> Result<Option<String>> {
        let Some(key) = key else { return Ok(None) };
        let metric = Metric::parse(key)?;
        let run = store.pick_run(&metric, worst)?;
        let value = run.value(&metric.key).map(ToString::to_string);
        let which = if worst { "worst" } else { "best" };
        picked.push_str(&format!(
            "# {which} {key}: {} ({} = {})\n",
            run.id,
            metric.key,
            value.unwrap_or_default()
        ));
        Ok(Some(run.id))
    };
    let given = usize::from(args.left.is_some())
        + usize::from(args.right.is_some())
        + usize::from(args.best.is_some())
        + usize::from(args.worst.is_some());
    if given != 2 {
        return Err(Error::TwoRunsNeeded { given });
    }
    let left = pick(&args.best, false)?;
    let right = pick(&args.worst, true)?;
    match (left.or_else(|| ids.next()), right.or_else(|| ids.next())) {
        (Some(l), Some(r)) => Ok((l, r, picked)),
        _ => Err(Error::TwoRunsNeeded { given }),
    }
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
/// How many environment changes the text header lists.
const ENV_LINES: usize = 20;

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
    if !rd.environment.is_empty() {
        s.push_str("# environment:\n");
        for c in rd.environment.iter().take(ENV_LINES) {
            s.push_str(&format!("#   {c}\n"));
        }
        if rd.environment.len() > ENV_LINES {
            s.push_str(&format!(
                "#   … and {} more (`--json` lists them all; the patch below shows the files)\n",
                rd.environment.len() - ENV_LINES
            ));
        }
    }
    s
}
