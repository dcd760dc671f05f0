//! `codever log SPEC [PATH]`: versions newest first with their runs and changes; with PATH,
//! only the versions where that file changed (following renames).

use codever::compare::LogEntry;
use codever::diff::{DiffOptions, FileDiff, Status};
use codever::{Error, History, Resolved, Result, Spec, Store, render, view};

use super::{AlgorithmArgs, Global};
use crate::output::{
    FEW, Paint, aliases_suffix, few, fmt_time, incomplete_line, out, print_json, warn_incomplete,
};

#[derive(clap::Args)]
pub struct Args {
    /// `[TYPE/]NAME` (all versions) or `[TYPE/]NAME:vN` (from vN back).
    spec: String,
    /// A file's display path.
    path: Option<String>,
    /// Show the changed files of each version with +/- bars.
    #[arg(long)]
    stat: bool,
    /// The line diff algorithm, which decides the counts of added and deleted lines.
    #[command(flatten)]
    algorithm: AlgorithmArgs,
}

pub fn run(global: &Global, args: Args) -> Result<u8> {
    let store = global.open_store_fetching()?;
    let Resolved {
        history: h,
        index: upto,
    } = start(&store, &args.spec)?;
    let opts = DiffOptions {
        algorithm: args.algorithm.algorithm(),
        ..DiffOptions::default()
    };
    let entries = store.log(&h, upto, args.path.as_deref(), &opts)?;
    if global.json {
        warn_incomplete(&h);
        let rows = (entries.iter())
            .map(|e| view::LogRow::new(&h, &h.versions[e.version], &e.diff.files))
            .collect::<Vec<_>>();
        print_json(&rows)?;
    } else {
        out(&text(&h, &entries, args.stat, global.paint()));
    }
    Ok(0)
}

/// The history and the version the log starts at. A bare name lists every version (a listing:
/// it works, numbers withheld, on an incomplete artifact); a spec starts at its version.
fn start(store: &Store, spec: &str) -> Result<Resolved> {
    let parsed = Spec::parse(spec)?;
    if Spec::names_version(spec) {
        let r = store.resolve(&parsed)?;
        super::notes(&parsed, &r.history, Some(r.version()));
        return Ok(r);
    }
    // A history shows every version, forgotten ones marked: a forgotten artifact too.
    let h = store.resolve_artifact_all(parsed.artifact_type.as_deref(), &parsed.name)?;
    super::notes(&parsed, &h, None);
    match h.versions.len().checked_sub(1) {
        Some(last) => Ok(Resolved {
            history: h,
            index: last,
        }),
        None => Err(Error::NoVersions {
            artifact: h.key.to_string(),
        }),
    }
}

fn text(h: &History, entries: &[LogEntry], stat: bool, paint: Paint) -> String {
    let mut s = String::new();
    if !h.is_complete() {
        s.push_str(&incomplete_line(h));
    }
    for e in entries {
        let v = &h.versions[e.version];
        let aliases = aliases_suffix(h, v, paint);
        // A history shows every version; forgotten ones are marked.
        let forgotten = if v.forgotten.is_some() {
            format!("  {}", paint.dim("(forgotten)"))
        } else {
            String::new()
        };
        s.push_str(&format!(
            "{}  {}  {}  runs {}{aliases}{forgotten}\n",
            paint.version(&view::number(v.number)),
            v.tree.short(),
            fmt_time(v.created_ns()),
            few(&v.runs(), FEW)
        ));
        let msg = &v.first().record.message;
        if !msg.is_empty() {
            s.push_str(&format!("    {msg}\n"));
        }
        if stat {
            for line in render::stat_width(&e.diff, 80, paint.on()).lines() {
                s.push_str(&format!("   {line}\n"));
            }
        } else {
            for f in &e.diff.files {
                s.push_str(&format!("    {}\n", change_text(f, paint)));
            }
        }
        s.push('\n');
    }
    s
}

/// `M path (+1 -2)`, `R a/{x => y}.py (90%)`, `A data.bin (binary)`.
fn change_text(f: &FileDiff, paint: Paint) -> String {
    let what = match f.status {
        Status::Renamed => format!(
            "R {} ({}%)",
            render::rename_display(
                f.old_path.as_deref().unwrap_or_default(),
                f.new_path.as_deref().unwrap_or_default()
            ),
            f.similarity.unwrap_or(0)
        ),
        st => format!("{} {}", st.letter(), f.path()),
    };
    let counts = if f.binary {
        " (binary)".to_string()
    } else if f.additions + f.deletions > 0 {
        let add = paint.added(&format!("+{}", f.additions));
        format!(" ({add} {})", paint.deleted(&format!("-{}", f.deletions)))
    } else {
        String::new()
    };
    format!("{what}{counts}")
}
