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
    /// Then remove the files in DIR the version does not have that are unchanged copies of the
    /// same path in another version of the artifact (the store can restore them); anything
    /// else is left and counted. Never follows a link or leaves DIR.
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
        clean: args.clean.then_some(&h),
    };
    let report = store.checkout_with(&v.tree, &args.into, &opts)?;
    if global.json {
        print_json(&view::CheckoutRow::new(&h.key, v, &args.into, &report))?;
    } else {
        let (left, removed) = (report.extra.len(), report.removed.len());
        let mut others = String::new();
        if removed > 0 {
            others.push_str(&format!(
                "; {removed} file(s) of other versions removed (the store keeps them)"
            ));
        }
        if left > 0 {
            let why = if args.clean {
                "never logged in this artifact, changed since, or not removable"
            } else {
                "--clean removes those the store keeps a copy of"
            };
            others.push_str(&format!(
                "; {left} file(s) there are not part of the version, left in place ({why})"
            ));
        }
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
