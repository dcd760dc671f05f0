//! `codever completions SHELL`: a completion script for bash, zsh, fish, elvish or PowerShell.

use clap::CommandFactory;

use codever::Result;

use super::Global;
use crate::output::{out, stdout_error};

#[derive(clap::Args)]
#[command(after_help = "Install, for example:\n  \
    bash: codever completions bash > ~/.local/share/bash-completion/completions/codever\n  \
    zsh:  codever completions zsh > ~/.zfunc/_codever   (with `fpath+=~/.zfunc` before compinit)\n  \
    fish: codever completions fish > ~/.config/fish/completions/codever.fish")]
pub struct Args {
    /// The shell.
    shell: clap_complete::Shell,
}

pub fn run(_global: &Global, args: Args) -> Result<u8> {
    let mut cmd = crate::Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "codever", &mut script);
    let text = String::from_utf8(script)
        .map_err(|e| stdout_error(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
    out(&text);
    Ok(0)
}
