//! `codever ui`: a local, read-only web view of the store, rendered by [`crate::html`].
//!
//! [`Ui::handle`] maps a request (method, URL, `Host` header) to a [`Response`] and touches
//! nothing but the store's readers; [`Server`] runs it on a small blocking HTTP server
//! ([`http`]: one thread per connection, timeouts and size limits, a few rendering at once).
//! Routes (every value percent-encoded):
//!
//! | route | page |
//! | --- | --- |
//! | `/` | artifacts |
//! | `/artifact/TYPE/NAME` | the versions as a timeline, two can be picked to compare |
//! | `/version/SPEC` | a version's files |
//! | `/file?spec=SPEC&path=PATH`, `/raw?…`, `/history?…`, `/blame?…` | a file: view, raw bytes, history, blame |
//! | `/compare/LEFT...RIGHT` | two versions compared (`#PATH` scrolls to a file) |
//! | `/runs`, `/run/ID`, `/compare-runs/A...B` | runs, one run, two runs compared |
//! | `/assets/codever.css`, `/assets/codever.js` | the pages' style and script |
//!
//! Safety: only `GET` and `HEAD` are answered; a request whose `Host` is not an address this
//! server serves is refused (421), so a web page that rebinds its DNS name to 127.0.0.1 cannot
//! read the store; pages forbid inline scripts and any request elsewhere (Content Security
//! Policy); raw files are sent as downloads (`application/octet-stream`, `nosniff`), never as
//! pages of this origin.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use maud::Markup;

use crate::diff::{DiffOptions, TreeDiff};
use crate::error::{Error, Result};
use crate::history::Spec;
use crate::html::{self, Assets, Cancel, compare, pages, pct_decode};
use crate::store::Store;

pub mod http;

/// An HTTP response.
#[derive(Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// Other headers.
    pub headers: Vec<(&'static str, String)>,
    /// Body.
    pub body: Body,
}

/// Writes a streamed body to the client.
pub type WriteBody = Box<dyn FnOnce(&mut dyn std::io::Write) -> std::io::Result<()> + Send>;

/// What a response sends after its head.
pub enum Body {
    /// These bytes.
    Bytes(Vec<u8>),
    /// `len` bytes that `write` writes as it reads them (a raw download, streamed from the
    /// store: a 256 MiB file is never held whole). An error, or a length other than `len`,
    /// cuts the response (its connection is closed).
    Stream {
        /// The bytes `write` writes.
        len: u64,
        /// Writes them.
        write: WriteBody,
    },
}

impl Body {
    /// Its length in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Body::Bytes(b) => b.len() as u64,
            Body::Stream { len, .. } => *len,
        }
    }

    /// Whether it has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes, when they are held (not a stream).
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Body::Bytes(b) => Some(b),
            Body::Stream { .. } => None,
        }
    }
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Body::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            Body::Stream { len, .. } => write!(f, "Stream({len} bytes)"),
        }
    }
}

/// The Content Security Policy of every page: scripts, styles and fetches from this server
/// only, no inline script, nothing else.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

impl Response {
    fn html(status: u16, body: String) -> Response {
        Response {
            status,
            content_type: "text/html; charset=utf-8",
            headers: vec![("Content-Security-Policy", CSP.to_string())],
            body: Body::Bytes(body.into_bytes()),
        }
    }

    fn text(status: u16, body: &str) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            headers: Vec::new(),
            body: Body::Bytes(body.as_bytes().to_vec()),
        }
    }
}

/// Which `Host` headers a server bound to `addr` accepts (with `addr`'s port; no port means
/// 80): an IP literal that is `addr`'s IP, or any IP literal when `addr` is unspecified
/// (`0.0.0.0`, `::`); `localhost` when `addr` is a loopback or unspecified address; this
/// machine's name (and its first label) when `addr` is not loopback. Any other name is refused:
/// a web page whose DNS name was rebound to this machine still sends its own name.
#[derive(Clone, Debug)]
pub struct HostCheck {
    addr: SocketAddr,
    names: Vec<String>,
}

/// This machine's name and its first label, lower case (none if it has no usable name).
pub fn machine_names() -> Vec<String> {
    let name = gethostname::gethostname()
        .to_string_lossy()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    if name.is_empty() || name == "localhost" || name.contains(|c: char| c.is_whitespace()) {
        return Vec::new();
    }
    let mut names = vec![name.clone()];
    if let Some((first, _)) = name.split_once('.') {
        names.push(first.to_string());
    }
    names
}

impl HostCheck {
    /// The check for a server listening on `addr`, on this machine.
    pub fn new(addr: SocketAddr) -> HostCheck {
        HostCheck::with_names(addr, machine_names())
    }

    /// The check for a server listening on `addr` on a machine called `names`.
    pub fn with_names(addr: SocketAddr, names: Vec<String>) -> HostCheck {
        HostCheck { addr, names }
    }

    /// Whether a request with this `Host` header is for this server.
    pub fn allows(&self, host: Option<&str>) -> bool {
        let Some(host) = host else { return false };
        let host = host.trim().to_ascii_lowercase();
        let (name, port) = match host.rsplit_once(':') {
            // `[::1]:8080`, `127.0.0.1:8080`, `name:8080`; `[::1]` alone has its colons inside.
            Some((n, p)) if !p.contains(']') && (!n.contains(':') || n.ends_with(']')) => {
                match p.parse::<u16>() {
                    Ok(p) => (n, p),
                    Err(_) => return false,
                }
            }
            _ => (host.as_str(), 80),
        };
        if port != self.addr.port() {
            return false;
        }
        let name = name.strip_suffix('.').unwrap_or(name);
        let ip = self.addr.ip();
        let literal = name.strip_prefix('[').and_then(|n| n.strip_suffix(']'));
        if let Ok(asked) = literal.unwrap_or(name).parse::<IpAddr>() {
            // An IP literal cannot be rebound.
            return asked == ip || ip.is_unspecified();
        }
        if name == "localhost" {
            return ip.is_loopback() || ip.is_unspecified();
        }
        !ip.is_loopback() && self.names.iter().any(|n| n == name)
    }
}

/// Compares already made, for the files a page loads later (`?file=N`): (page path, the diff's
/// fingerprint, the diff).
type Cached = VecDeque<(String, String, Arc<TreeDiff>)>;

/// A fingerprint of what a compare shows: each file's status, paths and both sides' content
/// and mode. A page pins its fragments to it ([`compare::Options::fragment_pin`]).
fn diff_pin(d: &TreeDiff) -> String {
    let mut h = blake3::Hasher::new();
    for f in &d.files {
        let side = |m: &Option<crate::FileMeta>| match m {
            Some(m) => format!("{}{}", m.id.to_hex(), u8::from(m.executable)),
            None => "-".to_string(),
        };
        let line = format!(
            "{}\0{}\0{}\0{}\0{}\n",
            f.status.letter(),
            f.old_path.as_deref().unwrap_or_default(),
            f.new_path.as_deref().unwrap_or_default(),
            side(&f.old),
            side(&f.new)
        );
        h.update(line.as_bytes());
    }
    h.finalize().to_hex()[..16].to_string()
}

/// Counts the pages being rendered in one pool, at most `n` at once.
struct Gate {
    busy: Mutex<usize>,
    freed: Condvar,
    n: usize,
}

impl Gate {
    fn new(n: usize) -> Gate {
        Gate {
            busy: Mutex::new(0),
            freed: Condvar::new(),
            n: n.max(1),
        }
    }

    fn run<T>(&self, f: impl FnOnce() -> T) -> T {
        {
            let mut busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
            while *busy >= self.n {
                busy = self.freed.wait(busy).unwrap_or_else(|p| p.into_inner());
            }
            *busy += 1;
        }
        // Released even if the handler panics.
        struct Release<'a>(&'a Gate);
        impl Drop for Release<'_> {
            fn drop(&mut self) {
                let mut busy = self.0.busy.lock().unwrap_or_else(|p| p.into_inner());
                *busy -= 1;
                self.0.freed.notify_one();
            }
        }
        let _release = Release(self);
        f()
    }
}

/// A file view larger than this is rendered in a heavy slot (colouring is ~0.1 ms a line).
pub const HEAVY_FILE: u64 = 256 << 10;

/// The web view of one store.
pub struct Ui {
    store: Store,
    check: HostCheck,
    compares: Mutex<Cached>,
    /// Files after this many are loaded by the page when they come into view.
    pub lazy_after: usize,
    /// Cheap pages (artifacts, versions, runs, assets, small files) render in these slots…
    light: Gate,
    /// …and heavy ones (compares, their files and gaps, blame, history, large files) in these,
    /// so that a cheap page never waits behind heavy ones.
    heavy: Gate,
    colours: Arc<compare::ColourCache>,
    abandoned: AtomicUsize,
    /// Called in each heavy render once it holds its slot, before any work (tests hold renders
    /// there to fill the slots).
    #[doc(hidden)]
    pub on_heavy: Option<Box<dyn Fn() + Send + Sync>>,
    /// The same for each cheap render.
    #[doc(hidden)]
    pub on_light: Option<Box<dyn Fn() + Send + Sync>>,
}

/// Files larger than this are not shown in the file view (raw download still works up to
/// [`MAX_RAW`]).
pub const MAX_VIEW: u64 = 4 << 20;
/// The largest file sent as a raw download (`codever cat` has no limit).
pub const MAX_RAW: u64 = 256 << 20;

struct Query<'a>(Vec<(&'a str, String)>);

impl Query<'_> {
    fn parse(q: &str) -> Option<Query<'_>> {
        let mut v = Vec::new();
        for pair in q.split('&').filter(|p| !p.is_empty()) {
            let (k, val) = pair.split_once('=').unwrap_or((pair, ""));
            v.push((k, pct_decode(val, true)?));
        }
        Some(Query(v))
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }
}

fn not_found(message: &str, hint: Option<&str>) -> Response {
    error_page(404, "Not found", message, hint)
}

fn error_page(status: u16, title: &str, message: &str, hint: Option<&str>) -> Response {
    Response::html(
        status,
        html::page(
            title,
            Some(pages::nav()),
            pages::error_titled(title, message, hint),
            Assets::Served,
        ),
    )
}

/// An error as its page: 400 for a request that cannot name anything (a malformed spec, an
/// ambiguous name), 500 when the store cannot be read (a damaged or missing object: `codever
/// fsck` says more), 404 for the rest (no such artifact, version, run or file).
fn from_error(e: &Error) -> Response {
    let (status, title) = match e {
        Error::InvalidSpec { .. }
        | Error::InvalidName { .. }
        | Error::InvalidPath { .. }
        | Error::AmbiguousName { .. }
        | Error::AmbiguousIdPrefix { .. } => (400, "Bad request"),
        Error::MissingObject { .. }
        | Error::CorruptObject { .. }
        | Error::Io { .. }
        | Error::RenamesUnreadable { .. }
        | Error::NewerFormat { .. }
        | Error::NoStore { .. }
        | Error::NotAStore { .. } => (500, "Cannot read the store"),
        _ => (404, "Not found"),
    };
    error_page(status, title, &e.to_string(), e.hint().as_deref())
}

/// The longest spec or run id a compare URL may hold (a spec is at most `TYPE/NAME:SELECTOR` of
/// 128-byte names, or a 64-digit id after `@`).
pub const MAX_SPEC: usize = 512;

/// Splits `LEFT...RIGHT` where both sides are non-empty (names may hold dots: the first split
/// where the left side parses as a spec wins). Only splits with both sides at most
/// [`MAX_SPEC`] long are tried, so the work is bounded whatever `s` is (the server refuses a
/// longer `s` before).
fn two(s: &str, parses: impl Fn(&str) -> bool) -> Option<(String, String)> {
    let lowest = s.len().saturating_sub(3 + MAX_SPEC);
    let highest = MAX_SPEC.min(s.len().saturating_sub(3));
    let b = s.as_bytes();
    for at in lowest.max(1)..=highest {
        if &b[at..at + 3] != b"..." {
            continue;
        }
        let (l, r) = (&s[..at], &s[at + 3..]);
        if !r.is_empty() && parses(l) {
            return Some((l.to_string(), r.to_string()));
        }
    }
    None
}

/// Which files of a listing are binary or too large to view (their blame links are left out).
/// Only the first [`diff::BINARY_SNIFF_LEN`](crate::diff::BINARY_SNIFF_LEN) bytes of each are
/// read, of at most 5,000 files; later ones count as text (their blame page says if not).
fn file_kinds(s: &Store, files: &[crate::tree::ManifestEntry]) -> Vec<pages::FileKind> {
    /// Keeps the first bytes written, then refuses more (ending the blob's read early).
    struct Head(Vec<u8>);
    impl std::io::Write for Head {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let room = crate::diff::BINARY_SNIFF_LEN - self.0.len();
            if room == 0 {
                return Err(std::io::Error::other("enough"));
            }
            let n = room.min(buf.len());
            self.0.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    files
        .iter()
        .enumerate()
        .map(|(i, e)| {
            if e.meta.size > MAX_VIEW {
                return pages::FileKind::Large;
            }
            if i >= 5000 {
                return pages::FileKind::Text;
            }
            let mut head = Head(Vec::new());
            let _ = s.write_blob_to(&e.meta.id, e.meta.size, &mut head);
            if crate::diff::is_binary(&head.0) {
                pages::FileKind::Binary
            } else {
                pages::FileKind::Text
            }
        })
        .collect()
}

/// The first row (0-based) a paged list or compare shows: `?from=N`, else `default`; a
/// response when `N` is not a number.
fn from(q: &Query, default: usize) -> std::result::Result<usize, Response> {
    match q.get("from") {
        None => Ok(default),
        Some(n) => n
            .parse::<usize>()
            .map_err(|_| Response::text(400, "from= takes a row number\n")),
    }
}

/// A page of a long list at `path`, from row `first`, of at most `rows` rows.
fn list_paging(path: &str, first: usize, rows: usize) -> pages::Paging<'_> {
    pages::Paging {
        base: path,
        first,
        rows,
        bytes: pages::MAX_LIST_HTML,
    }
}

/// The page for a compare URL too long to name two versions or runs.
fn too_long(what: &str) -> Response {
    Response::html(
        414,
        html::page(
            "URL too long",
            Some(pages::nav()),
            pages::error_titled(
                "URL too long",
                &format!(
                    "a {what} names two sides of at most {MAX_SPEC} bytes each: this URL is longer"
                ),
                Some("pick the two sides from an artifact's versions or from the runs"),
            ),
            Assets::Served,
        ),
    )
}

impl Ui {
    /// The view of `store` for a server listening on `addr`.
    pub fn new(store: Store, addr: SocketAddr) -> Ui {
        Ui::with_slots(store, addr, 4, 2)
    }

    /// The view of `store` for a server listening on `addr`, rendering at most `light` cheap
    /// and `heavy` heavy pages at once.
    pub fn with_slots(store: Store, addr: SocketAddr, light: usize, heavy: usize) -> Ui {
        Ui {
            store,
            check: HostCheck::new(addr),
            compares: Mutex::new(VecDeque::new()),
            lazy_after: 5,
            light: Gate::new(light),
            heavy: Gate::new(heavy),
            colours: Arc::new(compare::ColourCache::default()),
            abandoned: AtomicUsize::new(0),
            on_heavy: None,
            on_light: None,
        }
    }

    /// How many requests were not answered, or their renders stopped, because their client had
    /// gone (a cheap page is skipped if its client left while it waited for a slot; a heavy one
    /// is also stopped between files).
    pub fn abandoned(&self) -> usize {
        self.abandoned.load(Ordering::SeqCst)
    }

    /// How many files' colourings are kept for their unchanged lines (see
    /// [`compare::ColourCache`]).
    pub fn colourings_kept(&self) -> usize {
        self.colours.len()
    }

    /// Answers one request. Never writes to the store.
    pub fn handle(&self, method: &str, url: &str, host: Option<&str>) -> Response {
        self.handle_for(method, url, host, &Cancel::default())
    }

    /// Answers one request whose client may leave: `gone` says when it has; a request whose
    /// client left while it waited for a slot is not rendered, and a heavy page stops rendering
    /// between files (answered 503, which no one reads).
    pub fn handle_for(
        &self,
        method: &str,
        url: &str,
        host: Option<&str>,
        gone: &Cancel,
    ) -> Response {
        if !self.check.allows(host) {
            return Response::text(
                421,
                "codever ui: this server answers only requests for its own address (the Host header names another)\n",
            );
        }
        if method != "GET" && method != "HEAD" {
            let mut r = Response::text(405, "codever ui is read-only: only GET and HEAD\n");
            r.headers.push(("Allow", "GET, HEAD".into()));
            return r;
        }
        let (path, query) = url.split_once('?').unwrap_or((url, ""));
        let path = path.split('#').next().unwrap_or(path);
        let Some(q) = Query::parse(query) else {
            return Response::text(400, "bad query string\n");
        };
        let Some(decoded) = pct_decode(path, false) else {
            return Response::text(400, "bad path\n");
        };
        let answer = || match self.route(path, &decoded, &q, gone) {
            Ok(r) => r,
            Err(e) => from_error(&e),
        };
        let stopped = || {
            self.abandoned.fetch_add(1, Ordering::SeqCst);
            Response::text(503, "rendering stopped: the client closed the connection\n")
        };
        if !self.is_heavy(&decoded, &q) {
            return self.light.run(|| {
                if let Some(hold) = &self.on_light {
                    hold();
                }
                // A client that left while this waited for its slot costs nothing more.
                if gone.is_cancelled() {
                    return stopped();
                }
                answer()
            });
        }
        self.heavy.run(|| {
            if let Some(hold) = &self.on_heavy {
                hold();
            }
            if gone.is_cancelled() {
                return stopped();
            }
            let r = answer();
            if gone.is_cancelled() { stopped() } else { r }
        })
    }

    /// Whether a request is a heavy page: a compare (and its files and gaps), a blame, a
    /// history, a file view of more than [`HEAVY_FILE`] bytes.
    fn is_heavy(&self, path: &str, q: &Query) -> bool {
        if path.starts_with("/compare/")
            || path.starts_with("/compare-runs/")
            || path == "/blame"
            || path == "/history"
        {
            return true;
        }
        if path != "/file" {
            return false;
        }
        let (Some(spec), Some(file)) = (q.get("spec"), q.get("path")) else {
            return false;
        };
        let size = || -> Result<u64> {
            let s = &self.store;
            let r = s.resolve(&Spec::parse(spec)?)?;
            let norm = crate::names::normalize_path(file)?;
            Ok(crate::frontend::find_file(s, &r.history, r.index, &norm)?.size)
        };
        size().is_ok_and(|n| n > HEAVY_FILE)
    }

    fn page(&self, title: &str, body: Markup) -> Response {
        Response::html(
            200,
            html::page(title, Some(pages::nav()), body, Assets::Served),
        )
    }

    fn route(&self, raw_path: &str, path: &str, q: &Query, gone: &Cancel) -> Result<Response> {
        let s = &self.store;
        if path == "/" {
            let hs: Vec<_> = s
                .artifact_histories()?
                .into_iter()
                .filter(|h| !h.is_hidden())
                .collect();
            let paging = match from(q, 0) {
                Ok(first) => list_paging(raw_path, first, pages::LIST_ROWS),
                Err(r) => return Ok(r),
            };
            return Ok(self.page("Artifacts", pages::artifacts(&hs, &paging)));
        }
        if path == "/assets/codever.css" || path == "/assets/codever.js" {
            let (ct, body) = if path.ends_with(".css") {
                ("text/css; charset=utf-8", html::CSS)
            } else {
                ("text/javascript; charset=utf-8", html::JS)
            };
            return Ok(Response {
                status: 200,
                content_type: ct,
                headers: vec![("Cache-Control", "no-cache".into())],
                body: Body::Bytes(body.as_bytes().to_vec()),
            });
        }
        if let Some(key) = path.strip_prefix("/artifact/") {
            let spec = Spec::parse(key)?;
            let h = s.resolve_artifact(spec.artifact_type.as_deref(), &spec.name)?;
            let changes = s.version_changes(&h);
            // The newest versions first: the last page of the timeline, unless asked.
            let listed = h.versions.iter().filter(|v| v.forgotten.is_none()).count();
            let last = listed.saturating_sub(1) / pages::LIST_ROWS * pages::LIST_ROWS;
            let paging = match from(q, last) {
                Ok(first) => list_paging(raw_path, first, pages::LIST_ROWS),
                Err(r) => return Ok(r),
            };
            let body = pages::versions(&h, &changes, &paging);
            return Ok(self.page(&h.key.to_string(), body));
        }
        if let Some(spec) = path.strip_prefix("/version/") {
            let r = s.resolve(&Spec::parse(spec)?)?;
            let v = r.version();
            let files = crate::tree::flatten(s, &v.tree)?;
            let paging = match from(q, 0) {
                Ok(first) => list_paging(raw_path, first, pages::LIST_FILES),
                Err(r) => return Ok(r),
            };
            let page_files = files.get(paging.first..).unwrap_or_default();
            let kinds = file_kinds(s, &page_files[..page_files.len().min(paging.rows)]);
            let body = pages::version_files(&r.history, v, &files, &kinds, &paging);
            return Ok(self.page(spec, body));
        }
        if let Some(page) = ["/file", "/raw", "/history", "/blame"]
            .into_iter()
            .find(|p| path == *p)
        {
            let (Some(spec), Some(file)) = (q.get("spec"), q.get("path")) else {
                return Ok(Response::text(400, "spec= and path= are needed\n"));
            };
            let first = match from(q, 0) {
                Ok(n) => n,
                Err(r) => return Ok(r),
            };
            return self.file_page(page, spec, file, first);
        }
        if path == "/runs" {
            let mut runs = s.runs()?;
            runs.sort_by_key(|r| std::cmp::Reverse(r.start_ns()));
            let paging = match from(q, 0) {
                Ok(first) => list_paging(raw_path, first, pages::LIST_ROWS),
                Err(r) => return Ok(r),
            };
            return Ok(self.page("Runs", pages::runs(&runs, &paging)));
        }
        if let Some(id) = path.strip_prefix("/run/") {
            let r = s.run(id)?;
            return Ok(self.page(&format!("Run {id}"), pages::run(&r)));
        }
        if let Some(pair) = path.strip_prefix("/compare/") {
            if pair.len() > 2 * MAX_SPEC + 3 {
                return Ok(too_long("compare"));
            }
            let Some((l, r)) = two(pair, |x| Spec::parse(x).is_ok()) else {
                return Ok(not_found(
                    "a compare needs two specs: /compare/LEFT...RIGHT",
                    Some("e.g. /compare/ppo:v0...ppo:v1"),
                ));
            };
            return self.compare(raw_path, q, &l, &r, false, gone);
        }
        if let Some(pair) = path.strip_prefix("/compare-runs/") {
            if pair.len() > 2 * MAX_SPEC + 3 {
                return Ok(too_long("compare of runs"));
            }
            let Some((l, r)) = two(pair, |x| crate::names::validate_name("run id", x).is_ok())
            else {
                return Ok(not_found(
                    "a compare of runs needs two run ids: /compare-runs/A...B",
                    None,
                ));
            };
            return self.compare(raw_path, q, &l, &r, true, gone);
        }
        Ok(not_found(&format!("no page at {path}"), Some("start at /")))
    }

    /// A file's page (`/file`, `/raw`, `/history`, `/blame`); files and blames from line
    /// `first` (0-based), a page of [`pages::FILE_LINES`] at a time.
    fn file_page(&self, page: &str, spec: &str, path: &str, first: usize) -> Result<Response> {
        let s = &self.store;
        let r = s.resolve(&Spec::parse(spec)?)?;
        let (h, i) = (&r.history, r.index);
        let v = r.version();
        let norm = crate::names::normalize_path(path)?;
        if page == "/history" {
            let entries = s.log(h, i, Some(&norm), &DiffOptions::default())?;
            return Ok(self.page(&norm, pages::history(h, i, &norm, &entries)));
        }
        let meta = crate::frontend::find_file(s, h, i, &norm)?;
        let limit = if page == "/raw" { MAX_RAW } else { MAX_VIEW };
        if meta.size > limit {
            // The page says why, with the ways that work (raw download, `codever cat`).
            let what = page.trim_start_matches('/');
            return Ok(Response::html(
                413,
                html::page(
                    &norm,
                    Some(pages::nav()),
                    pages::too_large(
                        h,
                        v,
                        &norm,
                        what,
                        (meta.size, limit),
                        page != "/raw" && meta.size <= MAX_RAW,
                    ),
                    Assets::Served,
                ),
            ));
        }
        if page == "/raw" {
            let name: String = norm
                .rsplit('/')
                .next()
                .unwrap_or("file")
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || "._-".contains(c) {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            let body = if meta.size < crate::object::LARGE_FILE {
                // Read whole, as the store reads a blob of this size anyway: a missing or damaged
                // one gets its error page.
                Body::Bytes(s.read_file_blob(&meta.id, meta.size)?)
            } else {
                // Streamed as it is sent, in bounded memory, after this request has left its
                // slot (a blob damaged on the way cuts the download: it is verified as it goes).
                let (store, id, size) = (s.clone(), meta.id, meta.size);
                if !store.has_object(&id) {
                    return Err(Error::MissingObject { id });
                }
                let write = move |out: &mut dyn std::io::Write| {
                    store
                        .write_blob_to(&id, size, out)
                        .map_err(std::io::Error::other)
                };
                Body::Stream {
                    len: size,
                    write: Box::new(write),
                }
            };
            return Ok(Response {
                status: 200,
                content_type: "application/octet-stream",
                headers: vec![(
                    "Content-Disposition",
                    format!("attachment; filename=\"{name}\""),
                )],
                body,
            });
        }
        let mut content = Vec::with_capacity(meta.size as usize);
        s.write_blob_to(&meta.id, meta.size, &mut content)?;
        let spec_now = pages::spec_of(h, v);
        match page {
            // A binary file has no lines to blame: its view says so.
            "/blame" if !crate::diff::is_binary(&content) => {
                let lines = s.blame(h, i, &norm)?;
                let base = pages::link::file("blame", &spec_now, &norm);
                let paging = list_paging(&base, first, pages::FILE_LINES);
                Ok(self.page(&norm, pages::blame(h, i, &norm, &lines, &paging)))
            }
            _ => {
                let base = pages::link::file("file", &spec_now, &norm);
                let paging = list_paging(&base, first, pages::FILE_LINES);
                Ok(self.page(&norm, pages::file(h, v, &norm, &content, &paging)))
            }
        }
    }

    /// The compare page, or with `?file=N` the table of its file N (loaded by the page).
    fn compare(
        &self,
        raw_path: &str,
        q: &Query,
        left: &str,
        right: &str,
        runs: bool,
        gone: &Cancel,
    ) -> Result<Response> {
        let s = &self.store;
        let opts = DiffOptions::default();
        if let Some(n) = q.get("file") {
            // The diff the asking page shows (`at=`), else the newest made for this path.
            let pin = q.get("at");
            let cached = {
                let c = self.compares.lock().unwrap_or_else(|p| p.into_inner());
                c.iter()
                    .find(|(k, t, _)| k == raw_path && pin.is_none_or(|p| p == t))
                    .map(|(_, t, d)| (t.clone(), d.clone()))
            };
            let (tag, diff) = match cached {
                Some(c) => c,
                None => {
                    let d = if runs {
                        s.diff_runs(left, right, &opts)?.diff
                    } else {
                        self.diff_specs(left, right, &opts)?
                    };
                    (diff_pin(&d), Arc::new(d))
                }
            };
            self.remember(raw_path, &tag, &diff);
            if pin.is_some_and(|p| p != tag) {
                return Ok(Response::text(
                    409,
                    "this compare changed since the page was loaded (a spec such as `latest` names \
                     another version now, or a run logged more): reload the page\n",
                ));
            }
            let Some(f) = n.parse::<usize>().ok().and_then(|i| diff.files.get(i)) else {
                return Ok(Response::text(404, "no such file in this compare\n"));
            };
            // The page never asks for it: its note says how to see it.
            if compare::too_large(f, &compare::Options::default()) {
                return Ok(Response::text(
                    413,
                    "this file's diff is too large to show in the web view\n",
                ));
            }
            // The unchanged lines of one gap, when the reader expands it.
            if let Some(g) = q.get("gap") {
                let Some(g) = g.parse().ok() else {
                    return Ok(Response::text(404, "no such gap in this file\n"));
                };
                let max = compare::MAX_FILE_HTML;
                return Ok(
                    match compare::gap_capped(f, s, g, max, Some(&self.colours)) {
                        Ok(t) => Response::html(200, t),
                        Err(compare::GapError::NoGap) => {
                            Response::text(404, "no such gap in this file\n")
                        }
                        Err(compare::GapError::TooLarge) => Response::text(
                            413,
                            "these unchanged lines are too many to show in the web view: see the raw files\n",
                        ),
                    },
                );
            }
            let url = format!("{raw_path}?file={n}");
            let opts = compare::Options {
                raw_links: (!runs).then(|| (left.to_string(), right.to_string())),
                colours: Some(self.colours.clone()),
                ..compare::Options::default()
            };
            let command = compare::command_for(left, right, runs);
            return Ok(Response::html(
                200,
                compare::file_fragment(f, s, &opts, url, &command).into_string(),
            ));
        }
        let first_file = match from(q, 0) {
            Ok(n) => n,
            Err(r) => return Ok(r),
        };
        let mut opts_page = compare::Options {
            lazy_after: Some(first_file.saturating_add(self.lazy_after)),
            fragment_base: raw_path.to_string(),
            fetch_context: true,
            raw_links: (!runs).then(|| (left.to_string(), right.to_string())),
            first_file,
            cancel: gone.clone(),
            colours: Some(self.colours.clone()),
            ..compare::Options::default()
        };
        let title = format!("{left} → {right}");
        if runs {
            let rd = s.diff_runs(left, right, &opts)?;
            let (lr, rr) = (s.run(left)?, s.run(right)?);
            let c = compare::Compare {
                left,
                right,
                diff: &rd.diff,
                runs: Some(compare::Runs {
                    diff: &rd,
                    left: &lr,
                    right: &rr,
                }),
            };
            let tag = diff_pin(&rd.diff);
            opts_page.fragment_pin = Some(tag.clone());
            let body = compare::body(&c, s, &opts_page);
            self.remember(raw_path, &tag, &Arc::new(rd.diff.clone()));
            return Ok(self.page(&title, body));
        }
        let diff = Arc::new(self.diff_specs(left, right, &opts)?);
        let tag = diff_pin(&diff);
        opts_page.fragment_pin = Some(tag.clone());
        let c = compare::Compare {
            left,
            right,
            diff: &diff,
            runs: None,
        };
        let body = compare::body(&c, s, &opts_page);
        self.remember(raw_path, &tag, &diff);
        Ok(self.page(&title, body))
    }

    fn diff_specs(&self, left: &str, right: &str, opts: &DiffOptions) -> Result<TreeDiff> {
        let s = &self.store;
        let l = s.resolve(&Spec::parse(left)?)?;
        let r = s.resolve(&Spec::parse(right)?)?;
        s.diff_versions(l.version().tree, r.version().tree, opts)
    }

    fn remember(&self, key: &str, tag: &str, diff: &Arc<TreeDiff>) {
        let mut c = self.compares.lock().unwrap_or_else(|p| p.into_inner());
        c.retain(|(k, t, _)| k != key || t != tag);
        c.push_front((key.to_string(), tag.to_string(), diff.clone()));
        c.truncate(4);
    }
}

/// A running server: where it listens.
pub struct Server {
    listener: std::net::TcpListener,
    addr: SocketAddr,
}

impl Server {
    /// Binds `host:port` (port 0: a free port).
    pub fn bind(host: IpAddr, port: u16) -> Result<Server> {
        // An IPv4 address written as IPv6 (`::ffff:0.0.0.0`) is served as that IPv4 address:
        // the socket listens there anyway, and the exposure warning and the `Host` check must
        // know it (as `::ffff:0.0.0.0` it listened on every IPv4 address unannounced).
        let host = match host {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(host, IpAddr::V4),
            v4 => v4,
        };
        let want = SocketAddr::new(host, port);
        let io = |source| Error::Io {
            action: "cannot listen on",
            path: want.to_string().into(),
            source,
        };
        let listener = std::net::TcpListener::bind(want).map_err(io)?;
        let addr = listener.local_addr().map_err(io)?;
        Ok(Server { listener, addr })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL of its first page. On an unspecified address (`0.0.0.0`, `::`), the loopback
    /// address: a URL that works on this machine (others use its name, see [`HostCheck`]).
    pub fn url(&self) -> String {
        let port = self.addr.port();
        match self.addr.ip() {
            IpAddr::V6(ip) if ip.is_unspecified() => format!("http://[::1]:{port}/"),
            IpAddr::V4(ip) if ip.is_unspecified() => format!("http://127.0.0.1:{port}/"),
            IpAddr::V6(ip) => format!("http://[{ip}]:{port}/"),
            IpAddr::V4(ip) => format!("http://{ip}:{port}/"),
        }
    }

    /// What to tell the user when the server listens on more than a loopback address: anyone
    /// who can reach it can read the store, and the URL other machines use. `None` on loopback.
    pub fn exposure_warning(&self) -> Option<String> {
        let ip = self.addr.ip();
        if ip.is_loopback() {
            return None;
        }
        let port = self.addr.port();
        let other = if ip.is_unspecified() {
            match machine_names().first() {
                Some(name) => format!("http://{name}:{port}/"),
                None => format!("http://ADDRESS-OF-THIS-MACHINE:{port}/"),
            }
        } else {
            self.url()
        };
        let reach = if ip.is_unspecified() {
            "this machine on any of its addresses"
        } else {
            "that address"
        };
        Some(format!(
            "warning: listening on {}: anyone who can reach {reach} on port {port} can read the \
             whole store (there is no password); other machines open {other}",
            self.addr
        ))
    }

    /// Answers requests with `ui` until the process ends (`ui` says how many pages render at
    /// once: [`Ui::with_slots`]).
    pub fn run(self, ui: Ui) {
        self.run_shared(Arc::new(ui));
    }

    /// [`Server::run`] with a `ui` the caller keeps a handle on (its counters).
    pub fn run_shared(self, ui: Arc<Ui>) {
        http::serve(
            self.listener,
            http::Limits::default(),
            Arc::new(move |h: &http::Head| ui.handle_for(h.method, h.url, h.host, h.gone)),
        );
    }
}

/// Starts the user's browser on `url`, the way desktop tools do: each command of `$BROWSER` in
/// turn (a `:`-separated list; `%s` in a command stands for the URL, else the URL is its last
/// argument; `%%` is a `%`), else `xdg-open` (`open` on macOS). Returns the command started, or
/// why none could be started. The browser's own output is discarded and it is not waited for.
pub fn open_browser(url: &str) -> std::result::Result<String, String> {
    let list = std::env::var("BROWSER").unwrap_or_default();
    let mut commands: Vec<String> = list
        .split(':')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(String::from)
        .collect();
    if commands.is_empty() {
        commands.push(
            if cfg!(target_os = "macos") {
                "open"
            } else {
                "xdg-open"
            }
            .to_string(),
        );
    }
    let mut failures = Vec::new();
    for command in &commands {
        let mut words = command.split_whitespace().map(|w| w.to_string());
        let Some(program) = words.next() else {
            continue;
        };
        let mut args: Vec<String> = words.collect();
        let mut placed = false;
        for a in &mut args {
            if a.contains("%s") {
                *a = a.replace("%%", "\0").replace("%s", url).replace('\0', "%");
                placed = true;
            } else {
                *a = a.replace("%%", "%");
            }
        }
        if !placed {
            args.push(url.to_string());
        }
        let spawned = std::process::Command::new(&program)
            .args(&args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        match spawned {
            // Reaped by a thread, so that a browser that exits leaves no zombie behind.
            Ok(mut child) => {
                std::thread::spawn(move || child.wait());
                return Ok(program);
            }
            Err(e) => failures.push(format!("{program}: {e}")),
        }
    }
    Err(failures.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_check_refuses_other_names() {
        let names = || vec!["box.lab.example".to_string(), "box".to_string()];
        let c = HostCheck::with_names("127.0.0.1:8123".parse().unwrap(), names());
        assert!(c.allows(Some("127.0.0.1:8123")));
        assert!(c.allows(Some("localhost:8123")));
        assert!(c.allows(Some("LocalHost:8123")));
        assert!(c.allows(Some("localhost.:8123")));
        assert!(!c.allows(Some("evil.example:8123")));
        assert!(
            !c.allows(Some("box:8123")),
            "loopback only: not the machine's name"
        );
        assert!(!c.allows(Some("127.0.0.1:80")));
        assert!(!c.allows(Some("localhost")));
        assert!(!c.allows(Some("127.0.0.1")));
        assert!(!c.allows(Some("127.0.0.1:8123x")));
        assert!(!c.allows(None));
        let any = HostCheck::with_names("0.0.0.0:9000".parse().unwrap(), names());
        assert!(any.allows(Some("192.168.1.7:9000")));
        assert!(any.allows(Some("127.0.0.1:9000")));
        assert!(any.allows(Some("localhost:9000")));
        assert!(any.allows(Some("box:9000")));
        assert!(any.allows(Some("BOX.lab.example:9000")));
        assert!(!any.allows(Some("rebound.example:9000")));
        assert!(!any.allows(Some("box.evil.example:9000")));
        assert!(!any.allows(Some("box:9001")));
        let lan = HostCheck::with_names("192.168.1.7:9000".parse().unwrap(), names());
        assert!(lan.allows(Some("192.168.1.7:9000")));
        assert!(lan.allows(Some("box:9000")));
        assert!(!lan.allows(Some("127.0.0.1:9000")));
        assert!(!lan.allows(Some("localhost:9000")));
        let v6 = HostCheck::with_names("[::1]:9000".parse().unwrap(), names());
        assert!(v6.allows(Some("[::1]:9000")));
        assert!(v6.allows(Some("localhost:9000")));
        assert!(!v6.allows(Some("[::2]:9000")));
        let any6 = HostCheck::with_names("[::]:80".parse().unwrap(), names());
        assert!(any6.allows(Some("[fe80::1]")));
        assert!(any6.allows(Some("box")));
        assert!(!any6.allows(Some("evil")));
    }

    #[test]
    fn an_ipv4_address_written_as_ipv6_is_served_as_ipv4() {
        let s = Server::bind("::ffff:127.0.0.1".parse().unwrap(), 0).unwrap();
        assert_eq!(s.addr().ip(), "127.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(s.exposure_warning(), None);
        let s = Server::bind("::1".parse().unwrap(), 0);
        // (A machine without IPv6 cannot bind ::1; where it can, it stays IPv6.)
        if let Ok(s) = s {
            assert_eq!(s.addr().ip(), "::1".parse::<IpAddr>().unwrap());
        }
    }

    #[test]
    fn two_specs_split_at_the_dots_that_parse() {
        let ok = |x: &str| Spec::parse(x).is_ok();
        assert_eq!(
            two("ppo:v0...ppo:v1", ok),
            Some(("ppo:v0".into(), "ppo:v1".into()))
        );
        assert_eq!(
            two("code/a.b:v0...code/a.b:latest", ok),
            Some(("code/a.b:v0".into(), "code/a.b:latest".into()))
        );
        assert_eq!(two("ppo:v0...", ok), None);
        assert_eq!(two("ppo:v0", ok), None);
        assert_eq!(two("...ppo:v0", ok), None);
        assert_eq!(
            two("a....b:v1", ok),
            Some(("a".into(), ".b:v1".into())),
            "the first split that parses"
        );
        // Sides longer than a spec can be are not tried: bounded work on hostile input.
        let tried = std::cell::Cell::new(0);
        let counting = |x: &str| {
            tried.set(tried.get() + 1);
            assert!(x.len() <= MAX_SPEC);
            false
        };
        assert_eq!(two(&".".repeat(2 * MAX_SPEC + 3), counting), None);
        assert_eq!(tried.get(), 1);
        tried.set(0);
        assert_eq!(two(&".".repeat(600), counting), None);
        assert_eq!(tried.get(), MAX_SPEC - (600 - 3 - MAX_SPEC) + 1);
    }
}
