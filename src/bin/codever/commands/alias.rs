//! `codever alias SPEC ALIAS`: point an alias at a version.

use codever::{Result, Spec, view};

use super::Global;
use crate::output::{out, print_json, warn_incomplete};

#[derive(clap::Args)]
pub struct Args {
    /// `[TYPE/]NAME[:vN|:latest|:ALIAS|@IDPREFIX]`.
    spec: String,
    /// The alias (not `latest`, not `vN`).
    alias: String,
}

pub fn run(global: &Global, args: Args) -> Result<u8> {
    let store = global.open_store()?;
    let spec = Spec::parse(&args.spec)?;
    let codever::Resolved {
        history: h,
        index: i,
    } = store.set_alias(&spec, &args.alias)?;
    warn_incomplete(&h);
    let v = &h.versions[i];
    super::notes(&spec, &h, Some(v));
    if global.json {
        print_json(&view::AliasRow::new(&h.key, &args.alias, v))?;
    } else {
        // The version by number, or by short id while numbers are withheld.
        let target = match v.number {
            Some(n) => format!("v{n}"),
            None => format!("@{}", v.tree.short()),
        };
        out(&format!("{}:{} -> {target}\n", h.key, args.alias));
    }
    Ok(0)
}
