//! The `codever` command: the arguments, and which command runs. Each command lives in
//! `commands/` (its own arguments and `run`, which calls the library and prints); `output`
//! holds the printing every command shares.
//!
//! Exit codes: 0 success; 1 fsck found corruption (or, with `--strict`, unlinked records or
//! missing objects), or `diff --exit-code` found differences; 2 any error (the message names
//! what was wrong and a hint says what to do; with `--json`, one JSON object on stderr).

mod commands;
mod output;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use commands::{
    Global, alias, blame, cat, checkout, commit, commit_env, completions, diff, forget, fsck, init,
    list, log, rename, runs, show, ui, unforget, versions,
};
use commands::{push, remote};

#[derive(Parser)]
#[command(
    name = "codever",
    version,
    about = "Version the code of machine-learning runs",
    long_about = "Version the code of machine-learning runs.\n\nEach run logs its code as artifacts \
                  (a type and a name holding files). Unchanged content links the run to the \
                  existing version; changed content makes the next version."
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a store in DIR/.codever (DIR defaults to the working directory).
    Init(init::Args),
    /// Log files as a version of an artifact for a run.
    Commit(commit::Args),
    /// Log a Python interpreter's environment (packages, Python, platform, GPUs) for a run, as
    /// `env/environment`.
    CommitEnv(commit_env::Args),
    /// List artifacts.
    List(list::Args),
    /// List the versions of an artifact, oldest first.
    Versions(versions::Args),
    /// Show one version and its files.
    Show(show::Args),
    /// Print a file of a version (raw bytes).
    Cat(cat::Args),
    /// List runs, or show one.
    Runs(runs::Args),
    /// Write the files of a version into a directory.
    Checkout(checkout::Args),
    /// Point an alias at a version.
    Alias(alias::Args),
    /// Hide a version (or, with --artifact, a whole artifact) from listings and short specs.
    ///
    /// Nothing is deleted and numbers never change: ids (`NAME@IDPREFIX`) still name it, and
    /// `unforget` brings it back. A later commit of the same content brings it back too.
    Forget(forget::Args),
    /// List a forgotten version (or, with --artifact, artifact) again.
    Unforget(unforget::Args),
    /// Rename an artifact (its name and/or type), keeping its whole history.
    ///
    /// Afterwards the artifact is known only as NEW; OLD names nothing. Commits made under OLD
    /// (here, or on a machine that had not seen the rename) join NEW.
    Rename(rename::Args),
    /// Compare two versions, a version with the files on disk, or two runs (--runs).
    ///
    /// The patch is git's format: `codever diff A B | git apply` on a checkout of A gives B.
    Diff(diff::Args),
    /// List versions newest first with their runs and changes; with PATH, only the versions
    /// where that file changed (following renames).
    Log(log::Args),
    /// Show each line of a file with the version and run that introduced it.
    Blame(blame::Args),
    /// Verify every object and reference of the store.
    Fsck(fsck::Args),
    /// Serve a local, read-only web view of the store (compare pages, versions, files, blame,
    /// runs) and print its URL.
    Ui(ui::Args),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(completions::Args),
    /// Add, list or remove remotes: other store directories, or s3://bucket/prefix.
    Remote(remote::Args),
    /// Send every file the remote lacks (data, then records, then markers; create-only).
    Push(push::PushArgs),
    /// Fetch every file this store lacks from a remote, each verified before it is used.
    Pull(push::PullArgs),
    /// Pull, then push: both sides then list the same versions.
    Sync(push::SyncArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // The arguments did not parse, so whether JSON was asked for is read from them
            // as given.
            let json = std::env::args_os().skip(1).any(|a| a == "--json");
            if e.use_stderr() && json {
                return output::report_usage(&e.render().to_string(), json);
            }
            // Help and version go to stdout: a failed write is an error like any other.
            return match e.print() {
                Err(w) if !e.use_stderr() && w.kind() != std::io::ErrorKind::BrokenPipe => {
                    output::report(&output::stdout_error(w), json)
                }
                _ => ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2)),
            };
        }
    };
    let json = cli.global.json;
    output::colour_codes_pass(cli.global.color.enabled());
    if !cli.global.no_pager && cli.command.pages() {
        output::page(output::pager_for_terminal());
    }
    let result = run(&cli.global, cli.command);
    remote::report_fetches();
    let written = output::finish();
    match (result, written) {
        (Err(e), _) => output::report(&e, json),
        (Ok(_), Err(w)) => output::report(&output::stdout_error(w), json),
        (Ok(code), Ok(())) => ExitCode::from(code),
    }
}

impl Command {
    /// Whether the output may be long enough to page on a terminal, as git pages its own.
    fn pages(&self) -> bool {
        matches!(
            self,
            Command::List(_)
                | Command::Versions(_)
                | Command::Show(_)
                | Command::Runs(_)
                | Command::Diff(_)
                | Command::Log(_)
                | Command::Blame(_)
        )
    }
}

/// Runs the command; its exit code (0, or 1 for `fsck` and `diff --exit-code` findings).
fn run(global: &Global, command: Command) -> codever::Result<u8> {
    match command {
        Command::Init(args) => init::run(global, args),
        Command::Commit(args) => commit::run(global, args),
        Command::CommitEnv(args) => commit_env::run(global, args),
        Command::List(args) => list::run(global, args),
        Command::Versions(args) => versions::run(global, args),
        Command::Show(args) => show::run(global, args),
        Command::Cat(args) => cat::run(global, args),
        Command::Runs(args) => runs::run(global, args),
        Command::Checkout(args) => checkout::run(global, args),
        Command::Alias(args) => alias::run(global, args),
        Command::Forget(args) => forget::run(global, args),
        Command::Unforget(args) => unforget::run(global, args),
        Command::Rename(args) => rename::run(global, args),
        Command::Diff(args) => diff::run(global, args),
        Command::Log(args) => log::run(global, args),
        Command::Blame(args) => blame::run(global, args),
        Command::Fsck(args) => fsck::run(global, args),
        Command::Remote(args) => remote::run(global, args),
        Command::Push(args) => push::push(global, args),
        Command::Pull(args) => push::pull(global, args),
        Command::Sync(args) => push::sync(global, args),
        Command::Ui(args) => ui::run(global, args),
        Command::Completions(args) => completions::run(global, args),
    }
}
