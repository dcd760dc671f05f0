//! `codever blame SPEC PATH`: each line of a file with the version and run that introduced it.

use codever::compare::BlameLine;
use codever::{History, Result, view};

use super::Global;
use crate::output::{self, print_json};

#[derive(clap::Args)]
pub struct Args {
    /// `[TYPE/]NAME[:vN|:latest|:ALIAS|@IDPREFIX]`.
    spec: String,
    /// The file's display path.
    path: String,
}

pub fn run(global: &Global, args: Args) -> Result<u8> {
    let (
        store,
        codever::Resolved {
            history: h,
            index: i,
        },
    ) = global.resolve(&args.spec)?;
    let lines = store.blame(&h, i, &args.path)?;
    if global.json {
        let path = codever::names::normalize_path(&args.path)?;
        print_json(&view::BlameRow::new(&h, i, &path, &lines))?;
    } else {
        output::write(&text(&h, &lines));
    }
    Ok(0)
}

/// `v1 run-2  5) text`, columns aligned; a line's version is its number, or its short id while
/// numbers are withheld.
fn text(h: &History, lines: &[BlameLine]) -> Vec<u8> {
    let label = |v: usize| match h.versions[v].number {
        Some(n) => format!("v{n}"),
        None => h.versions[v].tree.short(),
    };
    let run_of = |v: usize| h.versions[v].first().record.run.as_str();
    let vw = lines.iter().map(|l| label(l.version).len()).max();
    let rw = lines.iter().map(|l| run_of(l.version).len()).max();
    let (vw, rw) = (vw.unwrap_or(0), rw.unwrap_or(0));
    let nw = lines.len().to_string().len();
    let mut o = Vec::new();
    for l in lines {
        let v = label(l.version);
        o.extend_from_slice(
            format!("{v:<vw$} {:<rw$} {:>nw$}) ", run_of(l.version), l.line).as_bytes(),
        );
        o.extend_from_slice(l.text.strip_suffix(b"\n").unwrap_or(&l.text));
        o.push(b'\n');
    }
    o
}
