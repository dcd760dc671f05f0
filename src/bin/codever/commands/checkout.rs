//! `codever checkout SPEC --into DIR [--force] [--clean]`: write a version's files into a
//! directory.

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
    /// Then remove the files in DIR the version does not have (never ignored files, `.git/`,
    /// `.codever/` or anything outside DIR), so that DIR holds exactly the version.
    #[arg(long)]
    clean: bool,
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
    let opts = codever::CheckoutOptions {
        force: args.force,
        clean: args.clean,
    };
    let report = store.checkout_with(&v.tree, &args.into, &opts)?;
    if global.json {
        print_json(&view::CheckoutRow::new(&h.key, v, &args.into, &report))?;
    } else {
        let others = match (report.extra.len(), report.removed.len()) {
            (0, 0) => String::new(),
            (0, n) => format!("; {n} file(s) not part of the version removed"),
            (n, _) => format!(
                "; {n} file(s) there are not part of the version (left in place; --clean removes them)"
            ),
        };
        out(&format!(
            "checked out {} into {}: {} file(s) written, {} already up to date{others}\n",
            version_name(&h, v),
            args.into.display(),
            report.written.len(),
            report.unchanged.len()
        ));
    }
    Ok(0)
}
