//! `codever fsck [--strict] [--repair]`: verify every object and reference of the store.

use codever::{FsckOptions, FsckReport, RepairAction, Result, view};

use super::Global;
use crate::output::{note, out, print_json};

#[derive(clap::Args)]
pub struct Args {
    /// Also fail (exit 1) when objects are missing (not yet synced).
    #[arg(long)]
    strict: bool,
    /// Make the safe repairs: add missing markers, remove temp files and packs without an
    /// index older than an hour.
    #[arg(long)]
    repair: bool,
}

pub fn run(global: &Global, args: Args) -> Result<u8> {
    let store = global.open_store()?;
    let r = store.fsck_with(&FsckOptions {
        repair: args.repair,
        ..Default::default()
    })?;
    if global.json {
        print_json(&view::FsckRow::new(&r, args.strict))?;
    } else {
        out(&text(&r));
        if !r.unlinked.is_empty() && !args.repair {
            note("hint: `codever fsck --repair` adds the missing markers");
        }
    }
    Ok(u8::from(r.failed(args.strict)))
}

fn text(r: &FsckReport) -> String {
    let mut s = format!("checked {} object(s), {} marker(s)\n", r.objects, r.markers);
    for c in &r.corrupt {
        s.push_str(&format!("corrupt: {}: {}\n", c.path.display(), c.reason));
    }
    for m in &r.missing {
        s.push_str(&format!(
            "missing (not yet synced): {} needed by {}\n",
            m.id, m.needed_by
        ));
    }
    let unlinked = |what: &str, u: &codever::Unlinked| {
        format!(
            "{what}: {} has no marker {}\n",
            u.marker.display(),
            u.missing_marker.display()
        )
    };
    for u in &r.unlinked {
        s.push_str(&unlinked("unlinked", u));
    }
    for u in &r.interrupted {
        s.push_str(&unlinked("interrupted commit (invisible)", u));
    }
    for p in &r.stray {
        s.push_str(&format!("stray file (ignored): {}\n", p.display()));
    }
    for p in &r.repaired {
        let what = match p.action {
            RepairAction::AddedMarker => "added marker",
            RepairAction::RemovedTempFile => "removed temp file",
            RepairAction::RemovedPack => "removed pack without index",
        };
        s.push_str(&format!("repaired: {what} {}\n", p.path.display()));
    }
    if !r.failed(true) {
        s.push_str("ok\n");
    }
    s
}
