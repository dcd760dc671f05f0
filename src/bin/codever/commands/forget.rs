//! `codever forget SPEC` / `codever forget --artifact [TYPE/]NAME`: hide a version, or a whole
//! artifact, from listings and short specs. Nothing is deleted; ids still name it; `unforget`
//! brings it back.

use codever::{ForgetOutcome, ForgetTarget, Result, view};

use super::Global;
use crate::output::{out, print_json};

#[derive(clap::Args)]
pub struct Args {
    /// A version named explicitly (`[TYPE/]NAME:vN`, `NAME@IDPREFIX`, `NAME:latest`,
    /// `NAME:ALIAS`); with --artifact, `[TYPE/]NAME`.
    spec: String,
    /// Forget the whole artifact (every version), not one version.
    #[arg(long)]
    artifact: bool,
}

pub fn run(global: &Global, args: Args) -> Result<u8> {
    let store = global.open_store()?;
    let o = store.forget(&ForgetTarget::parse(&args.spec, args.artifact, true)?)?;
    if global.json {
        print_json(&view::ForgetRow::new(&o))?;
    } else {
        out(&text(&o));
    }
    Ok(0)
}

/// `TYPE/NAME:vN (id …)` or `TYPE/NAME@…` for a version; `TYPE/NAME` for the artifact.
pub fn target(o: &ForgetOutcome) -> String {
    match o.version {
        Some((Some(n), id)) => format!("{}:v{n} (id {})", o.key, id.short()),
        Some((None, id)) => format!("{}@{}", o.key, id.short()),
        None => o.key.to_string(),
    }
}

/// How to name the target again to undo: `TYPE/NAME@ID` or `--artifact TYPE/NAME`.
pub fn undo_spec(o: &ForgetOutcome) -> String {
    match o.version {
        Some((_, id)) => format!("{}@{}", o.key, id.short()),
        None => format!("--artifact {}", o.key),
    }
}

fn text(o: &ForgetOutcome) -> String {
    let what = target(o);
    if !o.changed {
        return format!("{what} is already forgotten; nothing changed\n");
    }
    let mut s = match o.version {
        Some(_) => format!(
            "forgot {what}: hidden from listings and short specs; nothing is deleted, its id still names it\n"
        ),
        None => format!(
            "forgot {what}: hidden from listings and bare names; nothing is deleted, {} still names it\n",
            o.key
        ),
    };
    if !o.aliases.is_empty() {
        s.push_str(&format!(
            "its aliases are withheld while it is forgotten: {}\n",
            o.aliases.join(", ")
        ));
    }
    s.push_str(&format!("undo: codever unforget {}\n", undo_spec(o)));
    s
}
