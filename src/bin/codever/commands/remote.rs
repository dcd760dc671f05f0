//! `codever remote add NAME URL`, `remote list`, `remote remove NAME`, `remote default NAME`;
//! and the note on stderr about objects fetched lazily from the default remote.

use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};

use codever::Result;
use codever::remote::{FetchLog, RemoteConfig, RemoteEntry};
use serde::Serialize;

use super::Global;
use crate::output::{note, out, print_json};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Add a remote: a path or file:///path (another store directory: a shared disk, NFS, a
    /// mounted bucket) or s3://bucket/prefix. The first remote added is the default.
    Add {
        /// A name for it (letters, digits, `_`, `.`, `-`).
        name: String,
        /// Where it is.
        url: String,
        /// The S3 endpoint of an S3-compatible service (MinIO, Ceph, R2, …); default: the AWS
        /// environment's (AWS_ENDPOINT_URL, the profile's endpoint_url), else AWS.
        #[arg(long, value_name = "URL")]
        endpoint_url: Option<String>,
        /// Make it the default remote.
        #[arg(long)]
        default: bool,
    },
    /// List the remotes (the default one marked `*`).
    List,
    /// Remove a remote (nothing on it is touched).
    Remove {
        /// Its name.
        name: String,
    },
    /// Make a remote the default one (used by push, pull, sync without a name, and to fetch
    /// objects that cat, checkout, diff and blame need).
    Default {
        /// Its name.
        name: String,
    },
}

#[derive(Serialize)]
struct RemoteRow<'a> {
    name: &'a str,
    url: &'a str,
    endpoint_url: Option<&'a str>,
    default: bool,
}

pub fn run(global: &Global, args: Args) -> Result<u8> {
    let store = global.open_store()?;
    let mut config = RemoteConfig::load(&store)?;
    let listing = matches!(args.action, Action::List);
    match args.action {
        Action::Add {
            name,
            url,
            endpoint_url,
            default,
        } => {
            config.add(&name, RemoteEntry { url, endpoint_url }, default)?;
            config.save(&store)?;
            if !global.json {
                out(&format!("added remote {name}\n"));
            }
        }
        Action::Remove { name } => {
            config.remove(&name)?;
            config.save(&store)?;
            if !global.json {
                out(&format!("removed remote {name}\n"));
            }
        }
        Action::Default { name } => {
            config.get(Some(&name))?;
            config.default = Some(name.clone());
            config.save(&store)?;
            if !global.json {
                out(&format!("default remote: {name}\n"));
            }
        }
        Action::List => {}
    }
    let shown: Vec<Option<String>> = config
        .remotes
        .values()
        .map(|e| e.endpoint_url.as_deref().map(codever::remote::shown_url))
        .collect();
    let rows: Vec<RemoteRow> = config
        .remotes
        .iter()
        .zip(&shown)
        .map(|((name, e), endpoint)| RemoteRow {
            name,
            url: &e.url,
            endpoint_url: endpoint.as_deref(),
            default: config.default.as_deref() == Some(name.as_str()),
        })
        .collect();
    if global.json {
        print_json(&rows)?;
    } else if listing {
        for r in rows {
            let endpoint = r
                .endpoint_url
                .map(|e| format!("  (endpoint {e})"))
                .unwrap_or_default();
            let mark = if r.default { "*" } else { " " };
            out(&format!("{mark} {}\t{}{endpoint}\n", r.name, r.url));
        }
    }
    Ok(0)
}

static FETCHED: OnceLock<Arc<FetchLog>> = OnceLock::new();

/// Remembers what lazy fetching brings in during this command, for [`report_fetches`].
pub fn log_fetches(log: Arc<FetchLog>) {
    let _ = FETCHED.set(log);
}

/// Says on stderr what was fetched from the default remote, if anything.
pub fn report_fetches() {
    if let Some(log) = FETCHED.get() {
        let n = log.objects.load(Ordering::Relaxed);
        if n > 0 {
            note(&format!(
                "note: fetched {n} object(s), {} bytes, from remote {} (verified)",
                log.bytes.load(Ordering::Relaxed),
                log.remote
            ));
        }
    }
}
