//! `codever ui [--port N] [--host ADDR] [--open]`: a local, read-only web view of the store.

use std::net::IpAddr;

use codever::Result;
use codever::ui::{Server, Ui};

use super::Global;
use crate::output::{self, out};

#[derive(clap::Args)]
pub struct Args {
    /// The port to listen on (default: a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// The address to listen on. Other machines can reach the view only with an address other
    /// than 127.0.0.1; anyone who can reach it can read the store.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1", value_parser = listen_address)]
    host: IpAddr,
    /// Open the view in the default browser: $BROWSER (commands separated by `:`, `%s` for
    /// the URL), else xdg-open (open on macOS).
    #[arg(long)]
    open: bool,
}

/// `--host`: an IP address, or `localhost` (127.0.0.1).
fn listen_address(s: &str) -> std::result::Result<IpAddr, String> {
    if s.eq_ignore_ascii_case("localhost") {
        return Ok(IpAddr::from([127, 0, 0, 1]));
    }
    s.parse().map_err(|_| {
        "an IP address to listen on, such as 127.0.0.1 (the default), 0.0.0.0 (every address \
         of this machine) or ::1, or `localhost`"
            .to_string()
    })
}

pub fn run(global: &Global, args: Args) -> Result<u8> {
    let store = global.open_store()?;
    let root = store.root().display().to_string();
    let server = Server::bind(args.host, args.port)?;
    let url = server.url();
    out(&format!("{url}\n"));
    // The URL must reach a caller that reads it before the server stops.
    output::finish().map_err(output::stdout_error)?;
    eprintln!("codever ui: serving {root} read-only at {url} (Ctrl-C to stop)");
    if let Some(w) = server.exposure_warning() {
        eprintln!("{w}");
    }
    // A browser that cannot be started is a note, not an error: the URL is printed anyway.
    if args.open
        && let Err(why) = codever::ui::open_browser(&url)
    {
        eprintln!("note: could not start a browser ({why}); open {url} yourself");
    }
    let ui = Ui::new(store, server.addr());
    server.run(ui);
    Ok(0)
}
