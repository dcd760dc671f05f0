//! `codever versions SPEC`: the versions of an artifact, oldest first.

use codever::{ChangeCounts, History, Result, Spec, Store, view};

use super::Global;
use crate::output::{
    FEW, Paint, aliases_suffix, few, fmt_time, incomplete_line, out, stream_json, warn_incomplete,
};

#[derive(clap::Args)]
pub struct Args {
    /// `[TYPE/]NAME` (a version suffix is ignored).
    spec: String,
    /// Forgotten versions too (marked).
    #[arg(long)]
    all: bool,
}

pub fn run(global: &Global, args: Args) -> Result<u8> {
    let store = global.open_store()?;
    let spec = Spec::parse(&args.spec)?;
    // With --all, a forgotten artifact is found by its bare name too (`list --all` shows it).
    let h = match args.all {
        true => store.resolve_artifact_all(spec.artifact_type.as_deref(), &spec.name)?,
        false => store.resolve_artifact(spec.artifact_type.as_deref(), &spec.name)?,
    };
    super::notes(&spec, &h, None);
    if global.json {
        warn_incomplete(&h);
        let list = match args.all {
            true => view::VersionList::all(&h),
            false => view::VersionList::new(&h),
        }
        .with_changes(store.version_changes(&h));
        stream_json(&list)?;
    } else {
        out(&text(&store, &h, args.all, global.paint()));
    }
    // The process ends right after: freeing every record of a long history one by one would
    // only delay the exit.
    std::mem::forget(h);
    Ok(0)
}

fn text(store: &Store, h: &History, all: bool, paint: Paint) -> String {
    let mut s = String::with_capacity(64 + h.versions.len() * 96);
    s.push_str(&format!("{}\n", h.key));
    if !h.is_complete() {
        s.push_str(&incomplete_line(h));
    }
    let hidden = h.versions.len() - h.listed().count();
    for (v, changes) in h.versions.iter().zip(store.version_changes(h)) {
        if v.forgotten.is_some() && !all {
            continue;
        }
        let forgotten = if v.forgotten.is_some() {
            format!("  {}", paint.dim("(forgotten)"))
        } else {
            String::new()
        };
        let (changes, width) = match changes {
            None => {
                let t = "(not yet synced)";
                (paint.dim(t), t.len())
            }
            Some(c) => (counts(&c, paint), counts(&c, Paint::new(false)).len()),
        };
        let aliases = aliases_suffix(h, v, paint);
        s.push_str(&format!(
            "{} {}  {}  {changes}{} runs {}{aliases}{forgotten}\n",
            paint.version(&format!("{:<5}", view::number(v.number))),
            v.tree.short(),
            fmt_time(v.created_ns()),
            " ".repeat(12usize.saturating_sub(width)),
            few(&v.runs(), FEW),
        ));
    }
    if hidden > 0 && !all {
        s.push_str(&format!(
            "({hidden} forgotten version(s) not shown; `codever versions {} --all` lists them)\n",
            h.key
        ));
    }
    s
}

/// `+2 ~1 -1`, or `=` when nothing changed; added counts green and deleted red.
fn counts(c: &ChangeCounts, paint: Paint) -> String {
    let mut parts = Vec::new();
    if c.added > 0 {
        parts.push(paint.added(&format!("+{}", c.added)));
    }
    if c.modified > 0 {
        parts.push(format!("~{}", c.modified));
    }
    if c.deleted > 0 {
        parts.push(paint.deleted(&format!("-{}", c.deleted)));
    }
    if parts.is_empty() {
        "=".to_string()
    } else {
        parts.join(" ")
    }
}
