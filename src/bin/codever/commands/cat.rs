//! `codever cat SPEC PATH`: a file's raw bytes.

use codever::Result;

use super::Global;
use crate::output::Stdout;

#[derive(clap::Args)]
pub struct Args {
    /// `[TYPE/]NAME[:vN|:latest|:ALIAS|@IDPREFIX]`.
    spec: String,
    /// The file's display path.
    path: String,
}

pub fn run(global: &Global, args: Args) -> Result<u8> {
    let (
        store,
        codever::Resolved {
            history: h,
            index: i,
        },
    ) = global.resolve(&args.spec)?;
    let meta = codever::frontend::find_file(&store, &h, i, &args.path)?;
    // Streamed for large files: memory stays bounded whatever the size.
    store.write_blob_to(&meta.id, meta.size, &mut Stdout)?;
    Ok(0)
}
