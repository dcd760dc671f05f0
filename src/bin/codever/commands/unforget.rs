//! `codever unforget SPEC` / `codever unforget --artifact [TYPE/]NAME`: list a forgotten
//! version, or artifact, again.

use codever::{ForgetOutcome, ForgetTarget, Result, view};

use super::Global;
use super::forget::target;
use crate::output::{note, out, print_json};

#[derive(clap::Args)]
pub struct Args {
    /// A version named explicitly (`[TYPE/]NAME:vN`, `NAME@IDPREFIX`, `NAME:ALIAS`); with
    /// --artifact, `[TYPE/]NAME`.
    spec: String,
    /// Bring back the whole artifact, not one version.
    #[arg(long)]
    artifact: bool,
}

pub fn run(global: &Global, args: Args) -> Result<u8> {
    let store = global.open_store()?;
    let o = store.unforget(&ForgetTarget::parse(&args.spec, args.artifact, false)?)?;
    if o.version.is_some() && o.artifact_forgotten {
        note(&format!(
            "note: the whole artifact {} is forgotten, so none of its versions is listed; `codever unforget --artifact {}` brings it back",
            o.key, o.key
        ));
    }
    if o.version.is_none() && !o.changed && o.listed_versions == 0 {
        note(&format!(
            "note: every version of {} is forgotten one by one; `codever versions {} --all` lists them, `codever unforget {}@IDPREFIX` brings one back",
            o.key, o.key, o.key
        ));
    }
    if global.json {
        print_json(&view::ForgetRow::new(&o))?;
    } else {
        out(&text(&o));
    }
    Ok(0)
}

fn text(o: &ForgetOutcome) -> String {
    let what = target(o);
    if o.changed {
        format!("{what} is listed again\n")
    } else {
        format!("{what} is not forgotten; nothing changed\n")
    }
}
