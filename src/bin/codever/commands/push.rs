//! `codever push [REMOTE]`, `pull [REMOTE]`, `sync [REMOTE]`: transfers and their report.

use codever::Result;
use codever::remote::{PullOptions, PushOptions, SyncOptions, TransferReport};

use super::Global;
use crate::output::{note, out, print_json, transfer_bar};

/// What `push`, `pull` and `sync` print after their help: exit status and the JSON report.
const REPORT_HELP: &str = "\
Exit status: 0 done (files listed as waiting are not yet on the remote: a later transfer takes
them); 1 done, but something was refused and is named (damaged or forged on the remote, or a
version whose data this store lacks); 2 an error stopped it (unreachable remote, credentials,
missing bucket, not a store): what was done stays, and running it again continues.

--json prints one object: {\"remote\", \"url\", \"sent\": {\"files\", \"bytes\"}, \"received\":
{\"files\", \"bytes\"}, \"new_here\" and \"new_there\": [{\"artifact\", \"versions\"}],
\"concurrent\": [versions made on both sides, renumbered], \"refused\" and \"waiting\": [{\"key\",
\"reason\"}], \"requests\": {\"list\", \"get\", \"put\"}}; an error prints {\"error\", \"hint\",
\"kind\"}.";

#[derive(clap::Args)]
#[command(after_help = REPORT_HELP)]
pub struct PushArgs {
    /// The remote (default: the default remote).
    remote: Option<String>,
    /// List the remote first instead of trusting what this machine remembers it holds.
    #[arg(long)]
    full: bool,
}

#[derive(clap::Args)]
#[command(after_help = REPORT_HELP)]
pub struct PullArgs {
    /// The remote (default: the default remote).
    remote: Option<String>,
    /// Fetch records and markers only (`list`, `versions`, `runs`, `log` work); blobs and
    /// trees are fetched from the default remote when a command needs them.
    #[arg(long)]
    metadata_only: bool,
    /// Fetch records and markers, and the files of one artifact: TYPE/NAME (every version) or
    /// TYPE/NAME:SPEC (one version).
    #[arg(
        long,
        value_name = "TYPE/NAME[:SPEC]",
        conflicts_with = "metadata_only"
    )]
    only: Option<String>,
}

#[derive(clap::Args)]
#[command(after_help = REPORT_HELP)]
pub struct SyncArgs {
    /// The remote (default: the default remote).
    remote: Option<String>,
}

/// Runs a transfer with a progress bar on a terminal, cleared before the report is printed.
fn with_bar<T>(what: &str, f: impl FnOnce(Option<codever::Progress>) -> Result<T>) -> Result<T> {
    // Ctrl-C stops the transfer cleanly (temp files removed); a second one ends it at once.
    codever::signals::stop_transfers_on_interrupt();
    let bar = transfer_bar(what);
    let result = f(bar.as_ref().map(|(_, p)| p.clone()));
    if let Some((b, _)) = bar {
        b.finish_and_clear();
    }
    result
}

pub fn push(global: &Global, args: PushArgs) -> Result<u8> {
    let store = global.open_store()?;
    let report = with_bar("pushing", |progress| {
        let opts = PushOptions {
            full: args.full,
            progress,
        };
        codever::remote::push(&store, args.remote.as_deref(), &opts)
    })?;
    print(global, "push", &report)
}

pub fn pull(global: &Global, args: PullArgs) -> Result<u8> {
    let store = global.open_store()?;
    let report = with_bar("pulling", |progress| {
        let opts = PullOptions {
            metadata_only: args.metadata_only,
            only: args.only,
            progress,
        };
        codever::remote::pull(&store, args.remote.as_deref(), &opts)
    })?;
    print(global, "pull", &report)
}

pub fn sync(global: &Global, args: SyncArgs) -> Result<u8> {
    let store = global.open_store()?;
    let report = with_bar("syncing", |progress| {
        codever::remote::sync(&store, args.remote.as_deref(), &SyncOptions { progress })
    })?;
    print(global, "sync", &report)
}

fn print(global: &Global, what: &str, r: &TransferReport) -> Result<u8> {
    for f in &r.refused {
        note(&format!("refused {}: {}", f.key, f.reason));
    }
    for f in &r.waiting {
        note(&format!("skipped {}: {}", f.key, f.reason));
    }
    // Something refused: exit 1, as fsck does for damage (everything else was done).
    let code = u8::from(!r.refused.is_empty());
    if global.json {
        print_json(r)?;
        return Ok(code);
    }
    out(&format!(
        "{what} {} ({}): sent {} file(s), {} bytes; received {} file(s), {} bytes\n",
        r.remote, r.url, r.sent.files, r.sent.bytes, r.received.files, r.received.bytes
    ));
    for a in &r.new_here {
        out(&format!(
            "new here: {} {}\n",
            a.artifact,
            a.versions.join(", ")
        ));
    }
    for a in &r.new_there {
        out(&format!(
            "new on {}: {} {}\n",
            r.remote,
            a.artifact,
            a.versions.join(", ")
        ));
    }
    for c in &r.concurrent {
        let versions: Vec<&str> = c.versions.iter().map(|v| v.version.as_str()).collect();
        let mut hosts: Vec<&str> = c.versions.iter().map(|v| v.host.as_str()).collect();
        hosts.dedup();
        out(&format!(
            "{}: {} were made concurrently on {}\n",
            c.artifact,
            and_list(&versions),
            and_list(&hosts)
        ));
        for v in &c.versions {
            if let Some(was) = &v.was {
                out(&format!(
                    "  {} (from {}) is now {}\n",
                    was, v.host, v.version
                ));
            }
        }
    }
    if !r.waiting.is_empty() {
        out(&format!(
            "{} file(s) skipped, not yet synced on {} (see above): a push to it is unfinished; pull again once it is done\n",
            r.waiting.len(),
            r.remote
        ));
    }
    if !r.refused.is_empty() {
        out(&format!(
            "{} file(s) refused (see above); everything else was transferred\n",
            r.refused.len()
        ));
    }
    Ok(code)
}

fn and_list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}
