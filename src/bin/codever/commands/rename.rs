//! `codever rename [TYPE/]OLD [TYPE/]NEW`: from now on the artifact is known only as NEW, with
//! its whole history.

use codever::{RenameOutcome, Result, Spec, view};

use super::Global;
use crate::output::{out, print_json};

#[derive(clap::Args)]
pub struct Args {
    /// The artifact, `[TYPE/]NAME`.
    old: String,
    /// Its new name, `[TYPE/]NAME` (the type stays the same unless given).
    new: String,
    /// If NEW is an existing artifact, join the two histories (NEW's version numbers are then
    /// derived from both, by commit time).
    #[arg(long)]
    merge: bool,
}

pub fn run(global: &Global, args: Args) -> Result<u8> {
    let store = global.open_store()?;
    let (old_type, old_name) = Spec::parse_artifact(&args.old)?;
    let (new_type, new_name) = Spec::parse_artifact(&args.new)?;
    let o = store.rename(
        (old_type.as_deref(), &old_name),
        (new_type.as_deref(), &new_name),
        args.merge,
    )?;
    if global.json {
        print_json(&view::RenameRow::new(&o))?;
    } else {
        out(&text(&o));
    }
    Ok(0)
}

fn text(o: &RenameOutcome) -> String {
    let n = o.history.versions.len();
    if o.merged {
        return format!(
            "renamed {} to {}, joining its history: {} now has {n} version(s)\n",
            o.from, o.to, o.to
        );
    }
    format!(
        "renamed {} to {} ({n} version(s); numbers, ids, runs and aliases kept)\nundo: codever rename {} {}\n",
        o.from, o.to, o.to, o.from
    )
}
