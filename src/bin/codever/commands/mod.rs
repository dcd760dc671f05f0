//! One module per command: its arguments (`Args`) and `run`, which calls the library, prints
//! text or JSON (`--json`) and returns the exit code.

pub mod alias;
pub mod blame;
pub mod cat;
pub mod checkout;
pub mod commit;
pub mod commit_env;
pub mod completions;
pub mod diff;
pub mod forget;
pub mod fsck;
pub mod init;
pub mod list;
pub mod log;
pub mod push;
pub mod remote;
pub mod rename;
pub mod runs;
pub mod show;
pub mod ui;
pub mod unforget;
pub mod versions;

use std::path::PathBuf;

use codever::diff::Algorithm;

use crate::output::{ColorWhen, Paint};
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
    /// Never send long output through a pager (on a terminal, `list`, `versions`, `show`,
    /// `runs`, `diff`, `log` and `blame` use $CODEVER_PAGER, else $PAGER, else `less`).
    #[arg(long, global = true)]
    pub no_pager: bool,
    /// Colour: auto (only on a terminal, unless NO_COLOR is set), always, never.
    #[arg(long, global = true, value_enum, default_value_t = ColorWhen::Auto, value_name = "WHEN")]
    pub color: ColorWhen,
}

impl Global {
    /// The colours of text output (none unless `--color` asks for them; see [`ColorWhen`]).
    pub fn paint(&self) -> Paint {
        Paint::new(self.color.enabled())
    }

    /// The store: `--store`, else `$CODEVER_DIR`, else the nearest above the working directory.
    pub fn open_store(&self) -> Result<Store> {
        Store::locate(self.store.as_deref(), &codever::frontend::working_dir()?)
    }

    /// The store, fetching the objects it lacks from the default remote, if one is set (for
    /// `show`, `log`, `cat`, `checkout`, `diff`, `blame` after `pull --metadata-only`); said
    /// on stderr.
    pub fn open_store_fetching(&self) -> Result<Store> {
        let mut store = self.open_store()?;
        if let Some(log) = codever::remote::attach_default_remote(&mut store)? {
            remote::log_fetches(log);
        }
        Ok(store)
    }

    /// The store (fetching what it lacks from the default remote: `cat`, `checkout`, `blame`
    /// need blobs) and the version `spec` names in it, after warning on stderr when the
    /// artifact's history is incomplete, and noting a former name or a forgotten version.
    pub fn resolve(&self, spec: &str) -> Result<(Store, codever::Resolved)> {
        let store = self.open_store_fetching()?;
        let spec = Spec::parse(spec)?;
        let resolved = store.resolve(&spec)?;
        crate::output::warn_incomplete(&resolved.history);
        notes(&spec, &resolved.history, Some(resolved.version()));
        Ok((store, resolved))
    }
}

/// The line diff algorithm, with git's flags (`--patience`, `--histogram`, `--minimal`,
/// `--diff-algorithm=NAME`); without one, git's default (Myers).
#[derive(clap::Args)]
pub struct AlgorithmArgs {
    /// Diff algorithm: myers (git's default; also "default"), minimal, patience, histogram.
    #[arg(long, value_name = "ALGORITHM", value_parser = parse_algorithm,
          conflicts_with_all = ["patience", "histogram", "minimal"])]
    diff_algorithm: Option<Algorithm>,
    /// Same as --diff-algorithm=patience.
    #[arg(long, conflicts_with_all = ["histogram", "minimal"])]
    patience: bool,
    /// Same as --diff-algorithm=histogram.
    #[arg(long, conflicts_with = "minimal")]
    histogram: bool,
    /// Same as --diff-algorithm=minimal: spend extra time to make the diff as small as possible.
    #[arg(long)]
    minimal: bool,
}

impl AlgorithmArgs {
    /// The algorithm asked for.
    pub fn algorithm(&self) -> Algorithm {
        if self.patience {
            Algorithm::Patience
        } else if self.histogram {
            Algorithm::Histogram
        } else if self.minimal {
            Algorithm::Minimal
        } else {
            self.diff_algorithm.unwrap_or_default()
        }
    }
}

fn parse_algorithm(name: &str) -> std::result::Result<Algorithm, String> {
    Algorithm::from_name(name).ok_or_else(|| {
        format!("unknown diff algorithm {name:?}: expected myers, minimal, patience or histogram")
    })
}

/// Notes on stderr about what `spec` resolved to: a former name, a forgotten artifact or
/// version (see `codever::frontend::resolve_notes`).
pub fn notes(spec: &Spec, history: &History, version: Option<&Version>) {
    for line in codever::frontend::resolve_notes(spec, history, version) {
        crate::output::note(&format!("note: {line}"));
    }
}
