//! `codever list [--type T]`: the artifacts.

use codever::{History, Result, view};

use super::Global;
use crate::output::{out, print_json, problems_summary};

#[derive(clap::Args)]
pub struct Args {
    /// Only artifacts of this type.
    #[arg(long = "type", short = 't', value_name = "TYPE")]
    artifact_type: Option<String>,
    /// Forgotten artifacts too (marked).
    #[arg(long)]
    all: bool,
}

pub fn run(global: &Global, args: Args) -> Result<u8> {
    let store = global.open_store()?;
    if let Some(t) = &args.artifact_type {
        codever::names::validate_name("type", t)?;
    }
    let mut rows = Vec::new();
    for h in store.artifact_histories()? {
        if args
            .artifact_type
            .as_ref()
            .is_some_and(|f| f != &h.key.artifact_type)
            || (h.is_hidden() && !args.all)
        {
            continue;
        }
        rows.push(h);
    }
    if global.json {
        print_json(&rows.iter().map(view::ArtifactRow::new).collect::<Vec<_>>())?;
    } else {
        out(&text(&rows));
    }
    Ok(0)
}

fn text(rows: &[History]) -> String {
    let mut s = String::new();
    for h in rows {
        let latest = match h.latest() {
            _ if !h.is_complete() => "?".to_string(),
            Some(v) => view::number(v.number),
            None => "-".to_string(),
        };
        let listed = h.listed().count();
        s.push_str(&format!(
            "{:<40} {:>3} version(s)  latest {latest}",
            h.key.to_string(),
            listed
        ));
        if listed < h.versions.len() {
            s.push_str(&format!("  ({} forgotten)", h.versions.len() - listed));
        }
        if h.is_hidden() {
            s.push_str("  FORGOTTEN");
        }
        if !h.is_complete() {
            s.push_str(&format!(
                "  INCOMPLETE ({}): numbers withheld",
                problems_summary(h)
            ));
        }
        s.push('\n');
    }
    if rows.is_empty() {
        s.push_str("no artifacts yet; log one with `codever commit NAME --type TYPE FILE…`\n");
    }
    s
}
