//! `codever versions SPEC`: the versions of an artifact, oldest first.

use codever::{ChangeCounts, History, Result, Spec, Store, view};

use super::Global;
use crate::output::{
    FEW, aliases_suffix, few, fmt_time, incomplete_line, out, stream_json, warn_incomplete,
};

#[derive(clap::Args)]
pub struct Args {
    /// `[TYPE/]NAME` (a version suffix is ignored).
    spec: String,
}

pub fn run(global: &Global, args: Args) -> Result<u8> {
    let store = global.open_store()?;
    let spec = Spec::parse(&args.spec)?;
    let key = store.resolve_key(spec.artifact_type.as_deref(), &spec.name)?;
    let h = store.history(&key)?;
    if global.json {
        warn_incomplete(&h);
        stream_json(&view::VersionList::new(&h))?;
    } else {
        out(&text(&store, &h));
    }
    // The process ends right after: freeing every record of a long history one by one would
    // only delay the exit.
    std::mem::forget(h);
    Ok(0)
}

fn text(store: &Store, h: &History) -> String {
    let mut s = String::with_capacity(64 + h.versions.len() * 96);
    s.push_str(&format!("{}\n", h.key));
    if !h.is_complete() {
        s.push_str(&incomplete_line(h));
    }
    for (v, changes) in h.versions.iter().zip(store.version_changes(h)) {
        let changes = match changes {
            None => "(not yet synced)".to_string(),
            Some(c) => counts(&c),
        };
        let aliases = aliases_suffix(h, v);
        s.push_str(&format!(
            "{:<5} {}  {}  {:<12} runs {}{aliases}\n",
            view::number(v.number),
            v.tree.short(),
            fmt_time(v.created_ns()),
            changes,
            few(&v.runs(), FEW),
        ));
    }
    s
}

/// `+2 ~1 -1`, or `=` when nothing changed.
fn counts(c: &ChangeCounts) -> String {
    let mut parts = Vec::new();
    if c.added > 0 {
        parts.push(format!("+{}", c.added));
    }
    if c.modified > 0 {
        parts.push(format!("~{}", c.modified));
    }
    if c.deleted > 0 {
        parts.push(format!("-{}", c.deleted));
    }
    if parts.is_empty() {
        "=".to_string()
    } else {
        parts.join(" ")
    }
}
