//! `codever init [DIR]`: create a store.

use std::path::PathBuf;

use codever::{Result, Store, view};

use super::Global;
use crate::output::{out, print_json};

#[derive(clap::Args)]
pub struct Args {
    /// The project directory.
    dir: Option<PathBuf>,
}

pub fn run(global: &Global, args: Args) -> Result<u8> {
    let store = match (&global.store, args.dir) {
        (Some(s), _) => Store::init_at(s)?,
        (None, Some(d)) => Store::init(&d)?,
        (None, None) => Store::init(&codever::frontend::working_dir()?)?,
    };
    if global.json {
        print_json(&view::StoreRow::new(store.root()))?;
    } else {
        out(&format!(
            "initialized codever store in {}\n",
            store.root().display()
        ));
    }
    Ok(0)
}
