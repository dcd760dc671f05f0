//! `codever blame SPEC PATH`: each line of a file with the version and run that introduced it.

use codever::compare::BlameLine;
use codever::{History, Result, view};

use super::Global;
use crate::output::{self, Paint, print_json};

#[derive(clap::Args)]
pub struct Args {
    /// `[TYPE/]NAME[:vN|:latest|:ALIAS|@IDPREFIX]`.
    spec: String,
    /// The file's display path.
    path: String,
    /// Credit each line to the earliest version that had it at that path, even where it was
    /// deleted and came back later (default: the version that last introduced it, as git does).
    #[arg(long)]
    first_seen: bool,
}

pub fn run(global: &Global, args: Args) -> Result<u8> {
    let (
        store,
        codever::Resolved {
            history: h,
            index: i,
        },
    ) = global.resolve(&args.spec)?;
    let lines = match args.first_seen {
        true => store.blame_first_seen(&h, i, &args.path)?,
        false => store.blame(&h, i, &args.path)?,
    };
    if global.json {
        let path = codever::names::normalize_path(&args.path)?;
        print_json(&view::BlameRow::new(&h, i, &path, &lines))?;
    } else {
        output::write(&text(&h, &lines, global.paint()));
        let mut forgotten: Vec<usize> = lines
            .iter()
            .map(|l| l.version)
            .filter(|v| h.versions[*v].forgotten.is_some())
            .collect();
        forgotten.sort_unstable();
        forgotten.dedup();
        if !forgotten.is_empty() {
            let names: Vec<String> = forgotten
                .iter()
                .map(|v| view::number(h.versions[*v].number))
                .collect();
            output::note(&format!(
                "note: {} of {} marked * {} forgotten (`codever versions {} --all` lists them)",
                names.join(", "),
                h.key,
                if names.len() == 1 { "is" } else { "are" },
                h.key
            ));
        }
    }
    Ok(0)
}

/// `v1 run-2  5) text`, columns aligned, the version yellow when colour is on; a line's version
/// is its number, or its short id while numbers are withheld, with a `*` when it is forgotten
/// (a line on stderr says so).
fn text(h: &History, lines: &[BlameLine], paint: Paint) -> Vec<u8> {
    let label = |v: usize| {
        let mark = if h.versions[v].forgotten.is_some() {
            "*"
        } else {
            ""
        };
        match h.versions[v].number {
            Some(n) => format!("v{n}{mark}"),
            None => format!("{}{mark}", h.versions[v].tree.short()),
        }
    };
    let run_of = |v: usize| h.versions[v].first().record.run.as_str();
    let vw = lines.iter().map(|l| label(l.version).len()).max();
    let rw = lines.iter().map(|l| run_of(l.version).len()).max();
    let (vw, rw) = (vw.unwrap_or(0), rw.unwrap_or(0));
    let nw = lines.len().to_string().len();
    let mut o = Vec::new();
    for l in lines {
        let v = paint.version(&format!("{:<vw$}", label(l.version)));
        o.extend_from_slice(format!("{v} {:<rw$} {:>nw$}) ", run_of(l.version), l.line).as_bytes());
        o.extend_from_slice(l.text.strip_suffix(b"\n").unwrap_or(&l.text));
        o.push(b'\n');
    }
    o
}
