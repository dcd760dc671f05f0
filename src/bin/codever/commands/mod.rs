//! One module per command: its arguments (`Args`) and `run`, which calls the library, prints
//! text or JSON (`--json`) and returns the exit code.

pub mod alias;
pub mod blame;
pub mod cat;
pub mod checkout;
pub mod commit;
pub mod diff;
pub mod forget;
pub mod fsck;
pub mod init;
pub mod list;
pub mod log;
pub mod rename;
pub mod runs;
pub mod show;
pub mod unforget;
pub mod versions;

use std::path::PathBuf;

use codever::{History, Result, Spec, Store, Version};

// The options every command takes.
#[derive(clap::Args)]
pub struct Global {
    /// The store directory (a `.codever` directory, or a project directory holding one).
    /// Default: $CODEVER_DIR, else the nearest `.codever` above the working directory.
    #[arg(long, global = true, value_name = "PATH")]
    pub store: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

impl Global {
    /// The store: `--store`, else `$CODEVER_DIR`, else the nearest above the working directory.
    pub fn open_store(&self) -> Result<Store> {
        Store::locate(self.store.as_deref(), &codever::frontend::working_dir()?)
    }

    /// The store and the version `spec` names in it, after warning on stderr when the
    /// artifact's history is incomplete, and noting a former name or a forgotten version.
    pub fn resolve(&self, spec: &str) -> Result<(Store, codever::Resolved)> {
        let store = self.open_store()?;
        let spec = Spec::parse(spec)?;
        let resolved = store.resolve(&spec)?;
        crate::output::warn_incomplete(&resolved.history);
        notes(&spec, &resolved.history, Some(resolved.version()));
        Ok((store, resolved))
    }
}

/// Notes on stderr about what `spec` resolved to: a former name, a forgotten artifact or
/// version (see `codever::frontend::resolve_notes`).
pub fn notes(spec: &Spec, history: &History, version: Option<&Version>) {
    for line in codever::frontend::resolve_notes(spec, history, version) {
        crate::output::note(&format!("note: {line}"));
    }
}
