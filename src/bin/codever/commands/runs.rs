//! `codever runs` and `codever runs show ID`: runs, their scores and what they logged.

use codever::run::{Metric, sort_runs};
use codever::{ArtifactKey, Error, Result, RunView, view};

use super::Global;
use crate::output::{FEW, few, fmt_time, out, print_json};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Option<RunsCommand>,
    /// Show these summary (else config) keys of each run, next to what it logged
    /// (`--show reward,loss`).
    #[arg(long, value_name = "KEYS", value_delimiter = ',')]
    show: Vec<String>,
    /// Order runs by a summary (else config) key, lowest first; `-KEY` highest first. Runs
    /// without a number for it come last.
    #[arg(long, value_name = "[-]KEY", allow_hyphen_values = true)]
    sort: Option<String>,
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
            let mut runs = store.runs()?;
            if let Some(key) = &args.sort {
                let metric = Metric::parse(key)?;
                if !runs.iter().any(|r| metric.score(r).is_some()) {
                    return Err(Error::UnknownMetric {
                        key: metric.key,
                        known: numeric_keys(&runs),
                    });
                }
                sort_runs(&mut runs, &metric);
            }
            if global.json {
                print_json(&runs.iter().map(view::RunRow::new).collect::<Vec<_>>())?;
            } else {
                out(&list_text(&runs, &args.show));
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

/// The summary and config keys some run has a number for, sorted.
fn numeric_keys(runs: &[RunView]) -> Vec<String> {
    let mut keys: Vec<String> = runs
        .iter()
        .flat_map(|r| [&r.state.summary, &r.state.config])
        .flat_map(|m| {
            m.iter()
                .filter(|(k, v)| v.is_number() && !k.starts_with('_'))
        })
        .map(|(k, _)| k.clone())
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// A summary or config value as one word: numbers and booleans as JSON writes them, strings
/// as they are, anything else as compact JSON; `-` when the run has none.
fn value_text(r: &RunView, key: &str) -> String {
    r.value(key).map_or_else(|| "-".into(), word)
}

fn word(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "-".into(),
        serde_json::Value::String(s) => s.clone(),
        v => v.to_string(),
    }
}

/// One line per run: id, start time, the `--show` keys, what it logged.
fn list_text(runs: &[RunView], show: &[String]) -> String {
    let mut s = String::new();
    let width = runs.iter().map(|r| r.id.len()).max().unwrap_or(0).max(10);
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
        let shown: String = show
            .iter()
            .map(|k| format!("{k}={}  ", value_text(r, k)))
            .collect();
        s.push_str(&format!(
            "{:<width$} {}  {shown}{logged}\n",
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
    let st = &r.state;
    for (label, value) in [
        ("name", &st.name),
        ("job", &st.job_type),
        ("group", &st.group),
    ] {
        if !value.is_empty() {
            s.push_str(&format!("{label:<9}{value}\n"));
        }
    }
    for (label, map) in [("config", &r.state.config), ("summary", &r.state.summary)] {
        let words: Vec<String> = map
            .iter()
            .filter(|(k, _)| !k.starts_with('_'))
            .map(|(k, v)| format!("{k}={}", word(v)))
            .collect();
        if !words.is_empty() {
            s.push_str(&format!("{label:<9}{}\n", words.join(" ")));
        }
    }
    if st.finished {
        let code = st
            .exit_code
            .map_or(String::new(), |c| format!(" (exit code {c})"));
        s.push_str(&format!("finished {} steps{code}\n", st.steps));
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
        let forgotten = if u.forgotten {
            "  (forgotten since)"
        } else {
            ""
        };
        s.push_str(&format!(
            "  used {}:{v}  {}{forgotten}\n",
            u.key,
            u.tree.short()
        ));
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
