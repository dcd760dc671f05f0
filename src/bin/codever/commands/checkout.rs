//! `codever checkout SPEC --into DIR [--force]`: write a version's files into a directory.

use std::path::PathBuf;

use codever::{Result, view};

use super::Global;
use crate::output::{out, print_json, version_name};

#[derive(clap::Args)]
pub struct Args {
    /// `[TYPE/]NAME[:vN|:latest|:ALIAS|@IDPREFIX]`.
    spec: String,
    /// Target directory (created if needed).
    #[arg(long, value_name = "DIR")]
    into: PathBuf,
    /// Overwrite files that differ.
    #[arg(long)]
    force: bool,
}

pub fn run(global: &Global, args: Args) -> Result<u8> {
    let (
        store,
        codever::Resolved {
            history: h,
            index: i,
        },
    ) = global.resolve(&args.spec)?;
    let v = &h.versions[i];
    let report = store.checkout(&v.tree, &args.into, args.force)?;
    if global.json {
        print_json(&view::CheckoutRow::new(&h.key, v, &args.into, &report))?;
    } else {
        out(&format!(
            "checked out {} into {}: {} file(s) written, {} already up to date\n",
            version_name(&h, v),
            args.into.display(),
            report.written.len(),
            report.unchanged.len()
        ));
    }
    Ok(0)
}
