//! HTML views of the store: the compare page (two versions, a version and the files on disk,
//! two runs), a version listing, a version's files, a file, a file's history, a blame, runs and
//! one run. One renderer for every face: `codever diff --html` writes [`standalone`] pages,
//! `codever ui` serves [`page`]s (see [`crate::ui`]), Python's `Diff._repr_html_` returns a
//! [`fragment`].
//!
//! Escaping: every string from the store or the command line (names, paths, messages, config,
//! file lines) reaches the HTML through maud's `(expr)`, which escapes it, or through
//! [`highlight`], which escapes every byte it writes; `PreEscaped` wraps only markup made here.
//! The only script and style are this module's own assets (`assets/`), inline or served.

use maud::{DOCTYPE, Markup, PreEscaped, html};

pub mod compare;
pub mod highlight;
pub mod pages;

/// The page's stylesheet (light and dark, after `prefers-color-scheme`).
pub const CSS: &str = include_str!("assets/codever.css");
/// The page's script: unified/split toggle (remembered), expanding unchanged lines, folding
/// files, loading large files, next/previous file keys. Works on every `div.cdv` it finds, once.
pub const JS: &str = include_str!("assets/codever.js");

/// Whether the page being rendered is still wanted: checked by the renderer between files, so
/// that work whose reader has gone stops (the server: whether the client is still connected).
/// The default is never cancelled.
#[derive(Clone, Default)]
pub struct Cancel(Option<std::sync::Arc<dyn Fn() -> bool + Send + Sync>>);

impl Cancel {
    /// Cancelled once `gone` says so.
    pub fn new(gone: impl Fn() -> bool + Send + Sync + 'static) -> Cancel {
        Cancel(Some(std::sync::Arc::new(gone)))
    }

    /// Whether the work should stop.
    pub fn is_cancelled(&self) -> bool {
        self.0.as_ref().is_some_and(|f| f())
    }
}

impl std::fmt::Debug for Cancel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Cancel(check)"
        } else {
            "Cancel(never)"
        })
    }
}

/// Where a page's assets come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Assets {
    /// In the page itself: a file that works alone, offline.
    Inline,
    /// From the server (`/assets/codever.css`, `/assets/codever.js`), so that its Content
    /// Security Policy can forbid inline scripts.
    Served,
}

/// A whole HTML document around `body`.
pub fn page(title: &str, nav: Option<Markup>, body: Markup, assets: Assets) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                title { (highlight::visible_plain(title)) " · codever" }
                @match assets {
                    Assets::Inline => style { (PreEscaped(CSS)) },
                    Assets::Served => link rel="stylesheet" href="/assets/codever.css";,
                }
            }
            body.cdv-page {
                @if let Some(n) = nav { nav.cdv-nav { (n) } }
                main { (body) }
                @match assets {
                    Assets::Inline => script { (PreEscaped(JS)) },
                    Assets::Served => script src="/assets/codever.js" {},
                }
            }
        }
    }
    .into_string()
}

/// A compare page that works alone (inline assets, no requests): what `diff --html` writes.
pub fn standalone(c: &compare::Compare, source: &dyn compare::Source) -> String {
    let title = format!("{} → {}", c.left, c.right);
    page(
        &title,
        None,
        compare::body(c, source, &compare::Options::default()),
        Assets::Inline,
    )
}

/// The compare view as a fragment to embed in another page (a Jupyter cell): the stylesheet,
/// the view and the script, all inline.
pub fn fragment(c: &compare::Compare, source: &dyn compare::Source) -> String {
    html! {
        style { (PreEscaped(CSS)) }
        (compare::body(c, source, &compare::Options::default()))
        script { (PreEscaped(JS)) }
    }
    .into_string()
}

/// Writes a page to `path` whole or not at all: into a new file beside it, renamed over `path`
/// once written and flushed, so a failure (disk full, a size limit, an interruption) leaves no
/// truncated page and an existing file as it was. A new file gets the usual permissions (0666
/// less the umask); one replaced keeps its own.
pub fn write_file(path: &std::path::Path, page: &[u8]) -> crate::Result<()> {
    use std::io::Write as _;
    let fail = |source| crate::Error::Io {
        action: "cannot write",
        path: path.to_path_buf(),
        source,
    };
    if path.file_name().is_none() {
        return Err(fail(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a file name",
        )));
    }
    // Only a regular file (or a new one) is replaced by renaming a complete copy over it. A
    // FIFO, a terminal, `/dev/stdout` or a process substitution is written into as it is (it
    // keeps no old page to protect), and a symbolic link is written through: its target is
    // replaced, the link stays.
    let path = match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => match std::fs::canonicalize(path) {
            Ok(target) => target,
            Err(source) => return Err(fail(source)),
        },
        _ => path.to_path_buf(),
    };
    match std::fs::metadata(&path) {
        Ok(m) if m.is_dir() => {
            return Err(fail(std::io::Error::new(
                std::io::ErrorKind::IsADirectory,
                "it is a directory",
            )));
        }
        Ok(m) if !m.is_file() => {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(fail)?;
            return f.write_all(page).map_err(fail);
        }
        _ => {}
    }
    let path = path.as_path();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    let mut b = tempfile::Builder::new();
    b.prefix(".").suffix(".codever-tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path).map_or(0o666, |m| m.permissions().mode() & 0o7777);
        b.permissions(std::fs::Permissions::from_mode(mode));
    }
    let mut tmp = b.tempfile_in(dir).map_err(fail)?;
    tmp.write_all(page).map_err(fail)?;
    tmp.as_file().sync_all().map_err(fail)?;
    tmp.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
}

/// Percent-encodes `s` for a URL path or fragment: everything but unreserved characters and `/`.
pub fn pct_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Percent-encodes `s` for a query value (`/` encoded too).
pub fn pct_encode_query(s: &str) -> String {
    pct_encode(s).replace('/', "%2F")
}

/// Decodes `%XX` escapes (and `+` as a space when `plus` is set); `None` when the result is not
/// UTF-8 or an escape is malformed.
pub fn pct_decode(s: &str, plus: bool) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' if plus => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encoding_round_trips_hostile_names() {
        let name = "\"><img src=x onerror=alert(1)> é/#?%.py";
        let enc = pct_encode(name);
        assert_eq!(
            enc,
            "%22%3E%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E%20%C3%A9/%23%3F%25.py"
        );
        assert_eq!(pct_decode(&enc, false).as_deref(), Some(name));
        assert_eq!(pct_decode("a+b%2Fc", true).as_deref(), Some("a b/c"));
        assert_eq!(pct_decode("%zz", false), None);
        assert_eq!(pct_decode("%ff", false), None);
        assert_eq!(pct_decode("%4", false), None);
    }
}
