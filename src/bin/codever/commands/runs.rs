//! `codever runs` and `codever runs show ID`: runs and what they logged.

use codever::{ArtifactKey, Result, RunView, view};

use super::Global;
use crate::output::{FEW, few, fmt_time, out, print_json};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Option<RunsCommand>,
}

#[derive(clap::Subcommand)]
enum RunsCommand {
    /// Show what one run logged.
    Show {
        /// The run id.
        id: String,
    },
}

pub fn run(global: &Global, args: Args) -> Result<u8> {
    let store = global.open_store()?;
    match args.command {
        None => {
            let runs = store.runs()?;
            if global.json {
                print_json(&runs.iter().map(view::RunRow::new).collect::<Vec<_>>())?;
            } else {
                out(&list_text(&runs));
            }
        }
        Some(RunsCommand::Show { id }) => {
            let r = store.run(&id)?;
            if global.json {
                print_json(&view::RunRow::new(&r))?;
            } else {
                out(&run_text(&r));
            }
        }
    }
    Ok(0)
}

/// One line per run: id, start time, what it logged.
fn list_text(runs: &[RunView]) -> String {
    let mut s = String::new();
    for r in runs {
        let logged = (r.artifacts.iter())
            .map(|a| {
                let state = match (a.new, a.forgotten) {
                    (true, false) => "new",
                    (false, false) => "unchanged",
                    (true, true) => "new, forgotten since",
                    (false, true) => "unchanged, forgotten since",
                };
                format!("{}:{} ({state})", a.key, view::number(a.version))
            })
            .collect::<Vec<_>>();
        let logged = few(&logged, FEW);
        s.push_str(&format!(
            "{:<10} {}  {logged}\n",
            r.id,
            fmt_time(r.start_ns())
        ));
    }
    if runs.is_empty() {
        s.push_str("no runs yet\n");
    }
    s.push_str(&incomplete_artifacts_text(runs, ""));
    s
}

fn run_text(r: &RunView) -> String {
    let mut s = format!("run      {}\nstarted  {}\n", r.id, fmt_time(r.start_ns()));
    if let Some(i) = &r.info {
        for (label, value) in [("host", &i.host), ("user", &i.user), ("cwd", &i.cwd)] {
            if !value.is_empty() {
                s.push_str(&format!("{label:<9}{value}\n"));
            }
        }
        if let Some(c) = &i.git_commit {
            let dirty = if i.git_dirty == Some(true) {
                " (dirty)"
            } else {
                ""
            };
            s.push_str(&format!("git      {c}{dirty}\n"));
        }
    }
    for a in &r.artifacts {
        let state = match (a.new, a.forgotten) {
            (true, false) => "new",
            (false, false) => "unchanged",
            (true, true) => "new, forgotten since",
            (false, true) => "unchanged, forgotten since",
        };
        let v = view::number(a.version);
        let message = if a.message.is_empty() {
            String::new()
        } else {
            format!("  {}", a.message)
        };
        s.push_str(&format!(
            "  {}:{v}  {}  ({state}){message}\n",
            a.key,
            a.tree.short()
        ));
    }
    for u in &r.used {
        let v = view::number(u.version);
        s.push_str(&format!("  used {}:{v}  {}\n", u.key, u.tree.short()));
    }
    if r.incomplete > 0 {
        s.push_str(&format!("  … {} record(s) not yet synced\n", r.incomplete));
    }
    if r.corrupt > 0 {
        s.push_str(&format!(
            "  … {} unreadable record(s) ignored; `codever fsck` says more\n",
            r.corrupt
        ));
    }
    s.push_str(&incomplete_artifacts_text(std::slice::from_ref(r), "  "));
    s
}

/// One `INCOMPLETE` line for each artifact of these runs whose numbers are withheld.
fn incomplete_artifacts_text(runs: &[RunView], indent: &str) -> String {
    let mut keys: Vec<&ArtifactKey> = runs
        .iter()
        .flat_map(|r| {
            let logged = r.artifacts.iter().map(|a| (&a.key, a.complete));
            logged.chain(r.used.iter().map(|u| (&u.key, u.complete)))
        })
        .filter(|(_, complete)| !complete)
        .map(|(k, _)| k)
        .collect();
    keys.sort();
    keys.dedup();
    keys.iter()
        .map(|k| {
            format!(
                "{indent}INCOMPLETE {k}: some of its records cannot be read, numbers withheld (v?); `codever fsck` says more\n"
            )
        })
        .collect()
}
