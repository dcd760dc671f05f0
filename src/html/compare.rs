//! The compare page: a [`TreeDiff`] (and, for two runs, which artifacts changed and the runs'
//! config and summary side by side) as HTML, GitHub-style.
//!
//! Structure (what the page's script and the tests rely on):
//!
//! - `div.cdv-summary`: `span.cdv-nfiles` ("3 files changed"), `span.cdv-plus`, `span.cdv-minus`,
//!   and the unified/split buttons (`button.cdv-mode[data-mode]`).
//! - for runs, `table.cdv-arts` (one `tr[data-state]` per artifact: `changed`, `same`,
//!   `left-only`, `right-only`), `table.cdv-env` (what changed in the environment, one
//!   `tr[data-change]` per package or fact: `changed`, `added`, `removed`) and `table.cdv-kv`
//!   (config and summary keys; rows whose values differ are `tr.cdv-ne`).
//! - `ul.cdv-tree`: one `li[data-status]` per file, linking to the file by `#PATH`.
//! - one `div.cdv-file[data-path][data-status]` per file: a header (`span.cdv-path`,
//!   `span.cdv-st`, counts, a fold button) and `table.cdv-t` of unified rows: `tr.cdv-h` hunk
//!   headers (with the expand buttons of the unchanged lines above them), `tr.cdv-l` lines
//!   (`cdv-c` context, `cdv-a` added, `cdv-d` deleted) whose two first cells carry the old and
//!   new line numbers in `data-n`; changed words are `<mark>`s. Unchanged lines between hunks are
//!   in `template.cdv-g[data-gap]`, moved into the table by the expand buttons. The split view is
//!   built from the unified rows by the script.
//! - a file whose diff is larger than [`Options::large_lines`] has its table in a
//!   `template.cdv-defer` behind a `button.cdv-load`; with [`Options::lazy_after`], files past that
//!   index have no table at all, only `div.cdv-lazy[data-src]`, fetched when shown (the server).

use std::fmt::Write as _;
use std::ops::Range;

use maud::{Markup, PreEscaped, html};
use rayon::prelude::*;
use serde_json::Value;

use super::highlight::{self, Shown, Tokenizer, Tokens};
use super::pct_encode;
use crate::compare::RunsDiff;
use crate::diff::render::{hunk_header, word_partners, word_ranges};
use crate::diff::{FileDiff, Hunk, LineKind, Status, TreeDiff, split_lines};
use crate::run::RunView;
use crate::view;

/// Old-side content, for the unchanged lines a reader can expand.
pub trait Source: Sync {
    /// The left side of `f`, if it is available and small enough to embed.
    fn old_text(&self, f: &FileDiff) -> Option<Vec<u8>>;
}

/// No content: no expandable context.
pub struct NoSource;

impl Source for NoSource {
    fn old_text(&self, _: &FileDiff) -> Option<Vec<u8>> {
        None
    }
}

/// Old files larger than this are not embedded (their unchanged lines cannot be expanded).
pub const MAX_CONTEXT_BYTES: u64 = 1 << 20;

impl Source for crate::Store {
    fn old_text(&self, f: &FileDiff) -> Option<Vec<u8>> {
        let old = f.old.as_ref()?;
        if f.binary || old.size > MAX_CONTEXT_BYTES {
            return None;
        }
        self.read_blob(&old.id).ok()
    }
}

/// How the page is laid out.
#[derive(Clone, Debug)]
pub struct Options {
    /// A file whose hunks hold more lines than this is shown collapsed, with a button that loads
    /// it, so that the page stays fast.
    pub large_lines: usize,
    /// Files from this index on are loaded by the page from `data-src` (`?file=N` appended to
    /// [`Options::fragment_base`]); `None`: every file is in the page.
    pub lazy_after: Option<usize>,
    /// The URL the lazy files are fetched from (the page's own path).
    pub fragment_base: String,
    /// What the fragments asked for by this page must be computed from (`at=` in their URLs):
    /// a fingerprint of the page's diff, so that a spec that moved since (`latest`, an alias, a
    /// run that logged more) is refused instead of mixing two diffs in one page (the server).
    pub fragment_pin: Option<String>,
    /// The unchanged lines are not in the page: the expand buttons fetch them from
    /// [`Options::fragment_base`] (`?file=N&gap=G`), coloured (the server).
    pub fetch_context: bool,
    /// A file whose diff holds more lines than this, or more than [`MAX_RENDER_BYTES`], is
    /// never rendered: the page says it is too large and how to see it (a terminal, the raw
    /// files), so that one huge rewrite cannot cost minutes and hundreds of megabytes.
    pub max_file_lines: usize,
    /// The lines the page itself renders (files not fetched later), all files together: files
    /// past it are shown as too large for this page.
    pub max_page_lines: usize,
    /// Links to each side's raw file: (left spec, right spec) (the server).
    pub raw_links: Option<(String, String)>,
    /// The most bytes of HTML one file's table may make (escaping and colouring make a line's
    /// HTML several times its text): a file that would make more is not shown, its section says
    /// so and how to see it.
    pub max_file_html: usize,
    /// The most bytes of HTML the files the page renders itself may make, all together: files
    /// past it are not shown here (the server leaves them behind a load button).
    pub max_page_html: usize,
    /// The most files a page lists and shows (from [`Options::first_file`]): a page of 50,000
    /// files is more than a reader scrolls and more than a browser loads in seconds.
    pub max_files: usize,
    /// The first file (0-based) this page shows: later pages of a large compare (the server).
    pub first_file: usize,
    /// Checked between files: when it says so, the files left are not rendered.
    pub cancel: super::Cancel,
    /// Colourings kept across requests (the server), so that expanding one file's unchanged
    /// lines does not colour the file again from its first line each time.
    pub colours: Option<std::sync::Arc<ColourCache>>,
}

impl Options {
    /// The URL the page fetches file `i`'s table from (`?file=N`, pinned with `at=`).
    fn file_url(&self, i: usize) -> String {
        match &self.fragment_pin {
            Some(pin) => format!("{}?at={pin}&file={i}", self.fragment_base),
            None => format!("{}?file={i}", self.fragment_base),
        }
    }
}

/// The most bytes of HTML one file's table may make ([`Options::max_file_html`]): real files
/// make about 250 bytes a diff line (a 10,000-line Python file rewritten, 19,863 diff lines:
/// 4.7 MB), so every file under the line limit fits; a rewrite of lines full of `<>&"` would make
/// 23 MB.
pub const MAX_FILE_HTML: usize = 8 << 20;
/// The most bytes of HTML of the files one page renders itself ([`Options::max_page_html`]).
pub const MAX_PAGE_HTML: usize = 16 << 20;
/// The most files one page lists and shows ([`Options::max_files`]).
pub const MAX_PAGE_FILES: usize = 1000;

/// The most bytes of diff lines one file may have to be rendered (see
/// [`Options::max_file_lines`]).
pub const MAX_RENDER_BYTES: usize = 4 << 20;

/// What [`Compare::right`] says for the files on disk (`codever diff SPEC`).
pub const ON_DISK: &str = "files on disk";

impl Default for Options {
    fn default() -> Self {
        Options {
            large_lines: 2000,
            lazy_after: None,
            fragment_base: String::new(),
            fragment_pin: None,
            fetch_context: false,
            max_file_lines: 20_000,
            max_page_lines: 100_000,
            raw_links: None,
            max_file_html: MAX_FILE_HTML,
            max_page_html: MAX_PAGE_HTML,
            max_files: MAX_PAGE_FILES,
            first_file: 0,
            cancel: super::Cancel::default(),
            colours: None,
        }
    }
}

/// The two runs of a run-vs-run compare.
pub struct Runs<'a> {
    /// Which artifacts each run logged.
    pub diff: &'a RunsDiff,
    /// The left run.
    pub left: &'a RunView,
    /// The right run.
    pub right: &'a RunView,
}

/// What a compare page shows.
pub struct Compare<'a> {
    /// The left side's name (`ppo:v0`, a run id).
    pub left: &'a str,
    /// The right side's name (`ppo:v1`, `files on disk`).
    pub right: &'a str,
    /// The changes.
    pub diff: &'a TreeDiff,
    /// For two runs: the artifacts and the runs.
    pub runs: Option<Runs<'a>>,
}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{} {many}", thousands(n))
    }
}

/// The label of a file's status (`added`, `renamed 87%`, …).
pub fn status_label(f: &FileDiff) -> String {
    match f.status {
        Status::Added => "added".into(),
        Status::Deleted => "deleted".into(),
        Status::Modified => "modified".into(),
        Status::Renamed => format!("renamed {}%", f.similarity.unwrap_or(0)),
    }
}

fn status_word(s: Status) -> &'static str {
    match s {
        Status::Added => "added",
        Status::Deleted => "deleted",
        Status::Modified => "modified",
        Status::Renamed => "renamed",
    }
}

fn mode_change(f: &FileDiff) -> Option<(&'static str, &'static str)> {
    let mode = |x: bool| if x { "100755" } else { "100644" };
    match (&f.old, &f.new) {
        (Some(o), Some(n)) if o.executable != n.executable => {
            Some((mode(o.executable), mode(n.executable)))
        }
        _ => None,
    }
}

/// The compare page's body: a `div.cdv` (see the module documentation).
///
/// Its files' HTML is at most [`Options::max_page_html`], all of it counted: each file listed
/// costs its entry in the list and at least its section without a diff (header, note or load
/// button, links: a long path makes them large), so the page lists only the files whose entries
/// and sections fit (the rest are on the next page); a file's diff is shown if it fits in what
/// is left.
pub fn body(c: &Compare, source: &dyn Source, opts: &Options) -> Markup {
    let d = c.diff;
    let total = d.files.len();
    let first = opts.first_file.min(total);
    let listed = first..first.saturating_add(opts.max_files).min(total);
    let command = command(c);
    // What file `i` costs a page before its diff: its entry and its smallest section.
    let least = |i: usize| -> (String, usize) {
        let f = &d.files[i];
        let place = over_page(i, f, opts, &command, Why::PageHtml).0.len() + NOTE_SLACK;
        (tree_entry(f).into_string(), place)
    };
    // The entries and the smallest sections, file by file until the budget is spent (the
    // first file always: a page shows something).
    let mut entries: Vec<String> = Vec::new();
    let mut places: Vec<usize> = Vec::new();
    let mut html = 0;
    for i in listed.clone() {
        let (entry, place) = least(i);
        if !entries.is_empty() && html + entry.len() + place > opts.max_page_html {
            break;
        }
        html += entry.len() + place;
        entries.push(entry);
        places.push(place);
    }
    let shown = first..first + entries.len();
    // The previous page: the same rule walked back from this page's first file, so it ends
    // where this one starts (it may reach into this one, never leave a file out).
    let previous = if opts.lazy_after.is_some() && first > 0 {
        let (mut start, mut spent) = (first, 0);
        while start > 0 && first - start < opts.max_files {
            let (entry, place) = least(start - 1);
            if start < first && spent + entry.len() + place > opts.max_page_html {
                break;
            }
            spent += entry.len() + place;
            start -= 1;
        }
        start
    } else {
        0
    };
    // The page's budget of rendered lines, file by file in order; a file the page fetches
    // later (the server) costs it nothing.
    let mut spent = 0;
    let over_lines: Vec<bool> = shown
        .clone()
        .map(|i| {
            let f = &d.files[i];
            if too_large(f, opts) || fetched_later(i, f, opts) {
                return false;
            }
            spent += diff_lines(f);
            spent > opts.max_page_lines
        })
        .collect();
    let one = |i: usize, room: usize| -> Markup {
        let f = &d.files[i];
        if opts.cancel.is_cancelled() {
            return PreEscaped(String::new());
        }
        if too_large(f, opts) {
            let why = if diff_lines(f) > opts.max_file_lines {
                Why::Lines
            } else {
                Why::Bytes
            };
            skipped(i, f, opts, &command, why)
        } else if over_lines[i - first] {
            over_page(i, f, opts, &command, Why::PageLines)
        } else {
            file_capped(i, f, source, opts, room, &command)
        }
    };
    // Files are made in parallel (colouring is most of the work), a few at a time in order, so
    // that the page's budget of HTML is known before the next few start. A file's section
    // replaces the smallest one counted for it above.
    let mut files: Vec<Markup> = Vec::with_capacity(shown.len());
    let mut full = false;
    let idx: Vec<usize> = shown.clone().collect();
    for part in idx.chunks(rayon::current_num_threads().max(1) * 2) {
        if full || opts.cancel.is_cancelled() {
            for &i in part {
                files.push(if full {
                    over_page(i, &d.files[i], opts, &command, Why::PageAfter)
                } else {
                    PreEscaped(String::new())
                });
            }
            continue;
        }
        let room = opts.max_page_html.saturating_sub(html);
        let made: Vec<Markup> = part
            .par_iter()
            .map(|&i| one(i, room + places[i - first]))
            .collect();
        for (&i, m) in part.iter().zip(made) {
            let place = places[i - first];
            if !full && html - place + m.0.len() <= opts.max_page_html {
                html = html - place + m.0.len();
                files.push(m);
            } else {
                let why = if full { Why::PageAfter } else { Why::PageHtml };
                full = true;
                files.push(over_page(i, &d.files[i], opts, &command, why));
            }
        }
    }
    let more = total - shown.len();
    html! {
        div.cdv data-view="unified" {
            div.cdv-summary {
                span.cdv-sides { code { (Shown(c.left)) } " → " code { (Shown(c.right)) } }
                " "
                span.cdv-nfiles { (plural(d.files.len(), "file changed", "files changed")) }
                " "
                span.cdv-plus { "+" (d.additions()) }
                " "
                span.cdv-minus { "−" (d.deletions()) }
                span.cdv-modes {
                    button.cdv-mode type="button" data-mode="unified" { "Unified" }
                    button.cdv-mode type="button" data-mode="split" { "Split" }
                }
            }
            @if let Some(r) = &c.runs { (runs_header(r)) }
            @if d.files.is_empty() {
                p.cdv-same { "No differences." }
            } @else {
                @if more > 0 { (more_files(&shown, previous, total, opts, &command)) }
                ul.cdv-tree {
                    @for e in &entries { (PreEscaped(e)) }
                }
                @for f in &files {
                    (f)
                }
                @if more > 0 { (more_files(&shown, previous, total, opts, &command)) }
            }
        }
    }
}

/// What the notes of a file not shown may hold beyond the load button counted for it.
const NOTE_SLACK: usize = 256;

/// A file's entry in the list of files (`ul.cdv-tree`).
fn tree_entry(f: &FileDiff) -> Markup {
    html! {
        li data-status=(status_word(f.status)) {
            span.cdv-st { (f.status.letter()) }
            " "
            a href={ "#" (pct_encode(f.path())) } { (Shown(f.path())) }
            " "
            @if f.binary { span.cdv-bin { "binary" } } @else {
                span.cdv-plus { "+" (f.additions) } " " span.cdv-minus { "−" (f.deletions) }
            }
        }
    }
}

/// Says which files of a compare too large for one page this page shows, and how to see the
/// others: the next and previous pages (the server), the command.
fn more_files(
    shown: &Range<usize>,
    previous: usize,
    total: usize,
    opts: &Options,
    command: &str,
) -> Markup {
    let num = |n: usize| thousands(n);
    let page = |from: usize| format!("{}?from={from}", opts.fragment_base);
    html! {
        p.cdv-note.cdv-more {
            @if shown.is_empty() {
                "This compare has " (num(total)) " files: none from number " (num(shown.start + 1)) "."
            } @else {
                "This compare changes " (num(total)) " files: this page shows files "
                (num(shown.start + 1)) "–" (num(shown.end)) "."
            }
            @if opts.lazy_after.is_some() {
                @if shown.start > 0 {
                    " " a.cdv-prev href=(page(previous)) { "← previous files" }
                }
                @if shown.end < total {
                    @let next = opts.max_files.min(total - shown.end);
                    " " a.cdv-next href=(page(shown.end)) {
                        @if next == 1 { "next file →" } @else { "next " (num(next)) " files →" }
                    }
                }
            }
            " All of them in a terminal: " code { (Shown(&format!("{command} --stat"))) }
        }
    }
}

/// `n` with a comma every three digits (`50,000`).
pub(crate) fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (k, ch) in s.chars().enumerate() {
        if k > 0 && (s.len() - k).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn runs_header(r: &Runs) -> Markup {
    let ver = view::number;
    html! {
        table.cdv-arts {
            thead { tr { th { "artifact" } th { (r.left.id) } th { (r.right.id) } th {} } }
            @for a in &r.diff.artifacts {
                @let (state, note) = match (a.left, a.right) {
                    (Some((_, l)), Some((_, rt))) if l == rt => ("same", "same"),
                    (Some(_), Some(_)) => ("changed", "changed"),
                    (Some(_), None) => ("left-only", "only in the left run"),
                    (None, Some(_)) => ("right-only", "only in the right run"),
                    (None, None) => ("none", ""),
                };
                tr data-state=(state) {
                    td { (a.key.to_string()) }
                    td { @if let Some((n, _)) = a.left { (ver(n)) } @else { "—" } }
                    td { @if let Some((n, _)) = a.right { (ver(n)) } @else { "—" } }
                    td.cdv-note { (note) }
                }
            }
        }
        (env_table(r))
        (kv_table("config", &config_of(r.left), &config_of(r.right), r))
        (kv_table("summary", &r.left.state.summary, &r.right.state.summary, r))
    }
}

/// What changed in the runs' environments (`env/environment`): `table.cdv-env`, one row per
/// package or fact, `tr[data-change]` `changed`, `added` or `removed`.
fn env_table(r: &Runs) -> Markup {
    let cell = |v: &Option<String>| v.clone().unwrap_or_else(|| "—".to_string());
    html! {
        @if !r.diff.environment.is_empty() {
            table.cdv-env {
                thead { tr { th { "environment" } th { (r.left.id) } th { (r.right.id) } } }
                @for c in &r.diff.environment {
                    @let change = match (&c.old, &c.new) {
                        (Some(_), Some(_)) => "changed",
                        (None, _) => "added",
                        (_, None) => "removed",
                    };
                    tr data-change=(change) {
                        td { (Shown(&c.name)) } td { (Shown(&cell(&c.old))) } td { (Shown(&cell(&c.new))) }
                    }
                }
            }
        }
    }
}

fn config_of(r: &RunView) -> serde_json::Map<String, Value> {
    if !r.state.config.is_empty() {
        return r.state.config.clone();
    }
    r.info
        .as_ref()
        .and_then(|i| serde_json::from_str::<Value>(&i.config).ok())
        .and_then(|v| match v {
            Value::Object(m) => Some(m),
            _ => None,
        })
        .unwrap_or_default()
}

fn kv_table(
    what: &str,
    left: &serde_json::Map<String, Value>,
    right: &serde_json::Map<String, Value>,
    r: &Runs,
) -> Markup {
    let mut keys: Vec<&String> = left.keys().chain(right.keys()).collect();
    keys.sort();
    keys.dedup();
    let show = |v: Option<&Value>| match v {
        None => "—".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    };
    html! {
        @if !keys.is_empty() {
            table.cdv-kv data-what=(what) {
                thead { tr { th { (what) } th { (r.left.id) } th { (r.right.id) } } }
                @for k in keys {
                    @let (l, rv) = (left.get(k), right.get(k));
                    tr.cdv-ne[l != rv] {
                        td { (Shown(k)) } td { (Shown(&show(l))) } td { (Shown(&show(rv))) }
                    }
                }
            }
        }
    }
}

fn diff_lines(f: &FileDiff) -> usize {
    f.hunks.iter().map(|h| h.lines.len()).sum()
}

/// Whether `f`'s diff is too large to be rendered at all (see [`Options::max_file_lines`]).
pub fn too_large(f: &FileDiff, opts: &Options) -> bool {
    if f.binary {
        return false;
    }
    let mut bytes = 0;
    for h in &f.hunks {
        for l in &h.lines {
            bytes += l.text.len();
        }
    }
    diff_lines(f) > opts.max_file_lines || bytes > MAX_RENDER_BYTES
}

/// Whether the page leaves file `i` out, to be fetched when shown (the server).
fn fetched_later(i: usize, f: &FileDiff, opts: &Options) -> bool {
    let large = diff_lines(f) > opts.large_lines;
    (opts.lazy_after.is_some_and(|n| i >= n) || (large && opts.lazy_after.is_some()))
        && !f.hunks.is_empty()
}

/// The command that shows the whole comparison in a terminal.
fn command(c: &Compare) -> String {
    command_for(c.left, c.right, c.runs.is_some())
}

/// The command that shows the comparison of `left` and `right` (two runs when `runs`) in a
/// terminal.
pub fn command_for(left: &str, right: &str, runs: bool) -> String {
    if runs {
        format!("codever diff --runs {left} {right}")
    } else if right == ON_DISK {
        format!("codever diff {left}")
    } else {
        format!("codever diff {left} {right}")
    }
}

/// Why a file's diff is not shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Why {
    /// More lines than [`Options::max_file_lines`].
    Lines,
    /// More bytes of lines than [`MAX_RENDER_BYTES`].
    Bytes,
    /// Its HTML would be more than [`Options::max_file_html`].
    Html,
    /// The page already shows [`Options::max_page_lines`].
    PageLines,
    /// Its diff would not fit in what is left of the page's [`Options::max_page_html`].
    PageHtml,
    /// An earlier file's diff did not fit in the page: later ones are not shown either (the
    /// page keeps the files' order).
    PageAfter,
}

/// A file not rendered: its header, and why, with the command and the raw files that show it.
fn skipped(i: usize, f: &FileDiff, opts: &Options, command: &str, why: Why) -> Markup {
    html! {
        div.cdv-file id={ "file-" (i) } data-path=(f.path()) data-status=(status_word(f.status)) {
            (file_header(f))
            div.cdv-fb { (note(f, opts, command, why)) }
        }
    }
}

/// A file past the page's budget: on a server page, left behind a load button (it fits a
/// request of its own); in a page that works alone, a note.
fn over_page(i: usize, f: &FileDiff, opts: &Options, command: &str, why: Why) -> Markup {
    if opts.lazy_after.is_none() || f.hunks.is_empty() || f.binary {
        return skipped(i, f, opts, command, why);
    }
    let lines = diff_lines(f);
    html! {
        div.cdv-file id={ "file-" (i) } data-path=(f.path()) data-status=(status_word(f.status)) {
            (file_header(f))
            div.cdv-fb {
                div.cdv-lazy data-src=(opts.file_url(i)) data-large {
                    button.cdv-load type="button" { "Load diff (" (plural(lines, "line", "lines")) ")" }
                }
            }
        }
    }
}

/// Why a file's diff is not shown, with the command and, on the server, the raw files.
fn note(f: &FileDiff, opts: &Options, command: &str, why: Why) -> Markup {
    let lines = plural(diff_lines(f), "line", "lines");
    let mib = |b: usize| match b {
        b if b >= 1 << 20 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    };
    html! {
        div.cdv-note.cdv-too-large {
            @match why {
                Why::Lines => { "This diff is too large to show here (" (lines) ")." }
                // Few lines, but more bytes than a page takes (a minified file).
                Why::Bytes => {
                    "This diff is too large to show here (" (lines) " holding more than "
                    (mib(MAX_RENDER_BYTES)) ")."
                }
                Why::Html => {
                    "This diff is too large to show here (" (lines) " making more than "
                    (mib(opts.max_file_html)) " of HTML)."
                }
                Why::PageLines => {
                    "This page already shows " (opts.max_page_lines) " lines: this file's diff ("
                    (lines) ") is not shown here."
                }
                Why::PageHtml => {
                    "This file's diff (" (lines) ") would not fit in what is left of this page's "
                    (mib(opts.max_page_html)) " of HTML: it is not shown here."
                }
                Why::PageAfter => {
                    "This page's " (mib(opts.max_page_html)) " of HTML ran out at an earlier file: "
                    "this file's diff (" (lines) ") is not shown here."
                }
            }
            " In a terminal: " code { (Shown(command)) }
            @if let Some((l, r)) = &opts.raw_links {
                " · raw: "
                @if let Some(o) = f.old.as_ref().map(|_| f.old_path.as_deref().unwrap_or(f.path())) {
                    a href=(super::pages::link::file("raw", l, o)) { "old" }
                }
                @if f.old.is_some() && f.new.is_some() { " · " }
                @if f.new.is_some() {
                    a href=(super::pages::link::file("raw", r, f.path())) { "new" }
                }
            }
        }
    }
}

fn file_header(f: &FileDiff) -> Markup {
    html! {
        div.cdv-fh {
            button.cdv-fold type="button" title="Collapse or expand this file" { "▾" }
            span.cdv-st data-status=(status_word(f.status)) { (status_label(f)) }
            " "
            span.cdv-path {
                @if let (Status::Renamed, Some(o)) = (f.status, &f.old_path) {
                    span.cdv-old { (Shown(o)) } " → "
                }
                (Shown(f.path()))
            }
            " "
            @if f.binary { span.cdv-bin { "binary" } } @else {
                span.cdv-plus { "+" (f.additions) } " " span.cdv-minus { "−" (f.deletions) }
            }
            @if let Some((o, n)) = mode_change(f) {
                " " span.cdv-mode-change { "mode " (o) " → " (n) }
            }
        }
    }
}

/// One file's header and diff, its table making at most `room` bytes of HTML (less than
/// [`Options::max_file_html`] when the page's budget has less left).
fn file_capped(
    i: usize,
    f: &FileDiff,
    source: &dyn Source,
    opts: &Options,
    room: usize,
    command: &str,
) -> Markup {
    let lines = diff_lines(f);
    let large = lines > opts.large_lines;
    let inline = if opts.fetch_context {
        Context::Fetch {
            url: opts.file_url(i),
        }
    } else {
        Context::Inline
    };
    // A server page leaves large files out too: they are rendered only when asked for.
    let lazy = fetched_later(i, f, opts);
    let shows_table = !f.binary && !f.hunks.is_empty() && !lazy;
    let table = if shows_table {
        let cap = room.min(opts.max_file_html);
        match table_capped(f, source, &inline, cap, opts.colours.as_deref()) {
            Some(t) => Some(t),
            None if cap < opts.max_file_html => {
                return over_page(i, f, opts, command, Why::PageHtml);
            }
            None => return skipped(i, f, opts, command, Why::Html),
        }
    } else {
        None
    };
    html! {
        div.cdv-file id={ "file-" (i) } data-path=(f.path()) data-status=(status_word(f.status)) {
            (file_header(f))
            div.cdv-fb {
                @if !f.binary && has_bidi(f) { (super::pages::bidi_warning()) }
                @if f.binary {
                    p.cdv-note { "Binary file not shown." (sizes(f)) }
                } @else if f.hunks.is_empty() {
                    p.cdv-note {
                        @if f.status == Status::Renamed { "File renamed without changes." }
                        @else if mode_change(f).is_some() { "File mode changed." }
                        @else { "Empty file." }
                    }
                } @else if lazy {
                    div.cdv-lazy data-src=(opts.file_url(i)) data-large[large] {
                        button.cdv-load type="button" { "Load diff (" (plural(lines, "line", "lines")) ")" }
                    }
                } @else if let Some(t) = table {
                    @if large {
                        button.cdv-load type="button" { "Load diff (" (plural(lines, "line", "lines")) ")" }
                        template.cdv-defer { (t) }
                    } @else {
                        (t)
                    }
                }
            }
        }
    }
}

/// What a page fetches for file `i` (`?file=N`, the server): its table, or when that would
/// make more than [`Options::max_file_html`] of HTML, the note that says so and how to see it.
pub fn file_fragment(
    f: &FileDiff,
    source: &dyn Source,
    opts: &Options,
    url: String,
    command: &str,
) -> Markup {
    let context = Context::Fetch { url };
    match table_capped(
        f,
        source,
        &context,
        opts.max_file_html,
        opts.colours.as_deref(),
    ) {
        Some(t) => t,
        None => note(f, opts, command, Why::Html),
    }
}

/// Whether a line of `f`'s diff holds a bidirectional control character.
fn has_bidi(f: &FileDiff) -> bool {
    f.hunks
        .iter()
        .flat_map(|h| &h.lines)
        .any(|l| highlight::has_bidi(&l.text))
}

fn sizes(f: &FileDiff) -> String {
    match (&f.old, &f.new) {
        (Some(o), Some(n)) => format!(" {} → {} bytes", o.size, n.size),
        (None, Some(n)) => format!(" {} bytes", n.size),
        (Some(o), None) => format!(" {} bytes", o.size),
        _ => String::new(),
    }
}

/// The first old line a hunk covers and the number after its last (1-based, end exclusive).
fn old_span(h: &Hunk) -> Range<usize> {
    let s = if h.old_lines == 0 {
        h.old_start + 1
    } else {
        h.old_start
    };
    s..s + h.old_lines
}

/// The unified table of one file (its hunks, and its unchanged lines in templates when the old
/// side is available).
pub fn table(f: &FileDiff, source: &dyn Source, context: &Context) -> Markup {
    table_capped(f, source, context, usize::MAX, None).unwrap_or_else(|| PreEscaped(String::new()))
}

/// [`table`], or `None` when its rows would make more than `max` bytes of HTML (it stops
/// there). In a page that works alone, the unchanged lines are left out (not expandable) when
/// the hunks fit but not with them.
pub fn table_capped(
    f: &FileDiff,
    source: &dyn Source,
    context: &Context,
    max: usize,
    cache: Option<&ColourCache>,
) -> Option<Markup> {
    // Refused before any work (reading the old side, colouring, marking changed words) when
    // even its rows' least HTML passes `max`.
    if hunks_html_at_least(f) > max {
        return None;
    }
    let old = old_side(f, source);
    let old_lines: Option<Vec<&[u8]>> = old.as_deref().map(split_lines);
    let gaps = old_lines
        .as_deref()
        .map(|ol| gaps(f, ol))
        .unwrap_or_default();
    let inline = matches!(context, Context::Inline);
    let colours = Colours::cached(
        f,
        old_lines.as_deref(),
        table_extent(f, inline, !gaps.is_empty()),
        cache,
    );
    let rows = rows(f, &gaps, old_lines.as_deref(), inline, &colours, max).or_else(|| {
        (inline && !gaps.is_empty())
            .then(|| rows(f, &[], None, false, &colours, max))
            .flatten()
    })?;
    let fetch = match context {
        Context::Fetch { url } => Some(url.as_str()),
        Context::Inline => None,
    };
    Some(html! {
        table.cdv-t.cdv-u data-gaps=[fetch] {
            colgroup { col.cdv-cn; col.cdv-cn; col; }
            tbody { (PreEscaped(rows)) }
        }
    })
}

/// The least HTML of a table row: its markup with no line number, colour or mark.
const ROW_AT_LEAST: usize = "<tr class=\"cdv-l cdv-c\"><td class=\"cdv-n\"></td><td class=\"cdv-n\"></td><td class=\"cdv-code\"></td></tr>".len();

/// The least HTML a line's text makes: each byte at least once, the characters HTML escapes as
/// their entities (colours and marks only add to it).
fn text_html_at_least(text: &[u8]) -> usize {
    let body = text.strip_suffix(b"\n").unwrap_or(text);
    let body = body.strip_suffix(b"\r").unwrap_or(body);
    body.iter()
        .map(|b| match b {
            b'&' | b'\'' => 5,
            b'<' | b'>' => 4,
            b'"' => 6,
            _ => 1,
        })
        .sum()
}

/// The least HTML the rows of `f`'s hunks make (a table makes more: hunk headers, colours,
/// marks): a cheap bound, known before any line is coloured, that refuses a file surely over a
/// cap without rendering it.
pub fn hunks_html_at_least(f: &FileDiff) -> usize {
    f.hunks
        .iter()
        .flat_map(|h| &h.lines)
        .map(|l| ROW_AT_LEAST + text_html_at_least(&l.text))
        .sum()
}

/// A table's rows, with the unchanged lines `gaps` (in templates when `inline`); `None` past
/// `max` bytes.
fn rows(
    f: &FileDiff,
    gaps: &[(usize, Range<usize>, isize)],
    old_lines: Option<&[&[u8]]>,
    inline: bool,
    colours: &Colours,
    max: usize,
) -> Option<String> {
    let mut rows = String::new();
    // The least HTML of the rows not written yet: once what is written and that pass `max`,
    // the table cannot fit, and stops there (a table near its cap is not made whole to learn
    // it).
    let mut rest = hunks_html_at_least(f);
    for (gi, h) in f.hunks.iter().enumerate() {
        let gap = gaps.iter().find(|g| g.0 == gi);
        write_hunk_header(&mut rows, h, gi, gap.map(|g| g.1.len()));
        if let (Some((_, range, delta)), Some(ol), true) = (gap, old_lines, inline) {
            write_gap(&mut rows, gi, ol, range.clone(), *delta, colours, max, rest)?;
        }
        write_hunk(&mut rows, h, colours, max, &mut rest)?;
    }
    if let Some((gi, range, delta)) = gaps.iter().find(|g| g.0 == f.hunks.len()) {
        let _ = write!(
            rows,
            "<tr class=\"cdv-h cdv-tail\" data-gap=\"{gi}\"><td class=\"cdv-xb\" colspan=\"2\">{}</td><td class=\"cdv-hh\"></td></tr>",
            expand_buttons(range.len())
        );
        if let (Some(ol), true) = (old_lines, inline) {
            write_gap(&mut rows, *gi, ol, range.clone(), *delta, colours, max, 0)?;
        }
    }
    (rows.len() <= max).then_some(rows)
}

/// Where a file's unchanged lines come from when a reader expands them.
#[derive(Clone, Debug)]
pub enum Context {
    /// In the page.
    Inline,
    /// Fetched from `URL&gap=G` when expanded (the server): the page carries only the buttons.
    Fetch {
        /// The file's URL (`…?file=N`).
        url: String,
    },
}

/// The old side of a changed file (`None` for an added file, or when it cannot be had).
fn old_side(f: &FileDiff, source: &dyn Source) -> Option<Vec<u8>> {
    if f.status == Status::Added {
        None
    } else {
        source.old_text(f)
    }
}

/// The unchanged stretches of a file: (gap index — the hunk below it, or the number of hunks
/// for the one after the last —, old line numbers, new minus old line number there).
fn gaps(f: &FileDiff, old: &[&[u8]]) -> Vec<(usize, Range<usize>, isize)> {
    let mut out = Vec::new();
    let mut delta: isize = 0;
    let mut prev_end = 1;
    for (gi, h) in f.hunks.iter().enumerate() {
        let span = old_span(h);
        if prev_end < span.start {
            out.push((gi, prev_end..span.start, delta));
        }
        delta += h.new_lines as isize - h.old_lines as isize;
        prev_end = span.end;
    }
    if prev_end < old.len() + 1 {
        out.push((f.hunks.len(), prev_end..old.len() + 1, delta));
    }
    out
}

/// The unchanged lines of gap `gi` of a file, coloured, as the `template.cdv-g` the page's
/// expand buttons take them from; `None` when there is no such gap.
pub fn gap(f: &FileDiff, source: &dyn Source, gi: usize) -> Option<String> {
    gap_capped(f, source, gi, usize::MAX, None).ok()
}

/// Why [`gap_capped`] gives no lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GapError {
    /// The file has no such gap (or its old side cannot be read).
    NoGap,
    /// Its lines would make more than the bytes of HTML allowed.
    TooLarge,
}

/// [`gap`], making at most `max` bytes of HTML, with colourings kept in `cache`: a gap not
/// covered by a kept colouring colours the whole file (up to [`COLOUR_LINES`] a side), kept for
/// the file's other gaps.
pub fn gap_capped(
    f: &FileDiff,
    source: &dyn Source,
    gi: usize,
    max: usize,
    cache: Option<&ColourCache>,
) -> Result<String, GapError> {
    let old = old_side(f, source).ok_or(GapError::NoGap)?;
    let ol = split_lines(&old);
    let (_, range, delta) = gaps(f, &ol)
        .into_iter()
        .find(|g| g.0 == gi)
        .ok_or(GapError::NoGap)?;
    // Refused before colouring when even its rows' least HTML passes `max`.
    let least: usize = ol
        .get(range.start - 1..range.end - 1)
        .unwrap_or_default()
        .iter()
        .map(|t| ROW_AT_LEAST + text_html_at_least(t))
        .sum();
    if least > max {
        return Err(GapError::TooLarge);
    }
    let colours = Colours::cached(f, Some(&ol), gap_extent(&range, delta), cache);
    let mut out = String::new();
    write_gap(&mut out, gi, &ol, range, delta, &colours, max, 0).ok_or(GapError::TooLarge)?;
    Ok(out)
}

/// How far a table colours each side (numbers of old and of new lines): as far as it shows, to
/// the last hunk, or to the end when the unchanged lines are in the page (`inline`, and the old
/// side is there: `gaps`).
fn table_extent(f: &FileDiff, inline: bool, gaps: bool) -> (usize, usize) {
    if inline && gaps {
        (usize::MAX, usize::MAX)
    } else {
        hunks_end(f)
    }
}

/// How far the unchanged lines `range` (old line numbers; new ones are `delta` more) need each
/// side coloured.
fn gap_extent(range: &Range<usize>, delta: isize) -> (usize, usize) {
    let end = range.end - 1;
    (end, (end as isize + delta).max(0) as usize)
}

/// The number of old and of new lines up to the end of the last hunk.
fn hunks_end(f: &FileDiff) -> (usize, usize) {
    f.hunks.last().map_or((0, 0), |h| {
        (
            old_span(h).end - 1,
            if h.new_lines == 0 {
                h.new_start
            } else {
                h.new_start + h.new_lines - 1
            },
        )
    })
}

/// A file's two sides coloured from their first lines, each once: the tokens of the old lines
/// and of the new lines a table shows (0-based), so that a hunk that starts inside a multi-line
/// string or comment is coloured as GitHub colours it. The old side comes from the store; the
/// new side is the old one with the hunks applied, and its unchanged lines take the old side's
/// tokens wherever the grammar's state on both sides is the same there (checked line by line),
/// so in the usual case only the added lines cost a second parse.
enum Colours {
    /// Coloured, each side as far as was asked.
    Both {
        /// The old lines' tokens.
        old: Vec<Tokens>,
        /// The new lines' tokens.
        new: Vec<Tokens>,
        /// How many new lines were parsed, not taken from the old side: what the new side
        /// cost (the tests check it).
        #[cfg_attr(not(test), allow(dead_code))]
        parsed: usize,
    },
    /// Shown uncoloured: no language, a side longer than [`COLOUR_LINES`], or an old side that
    /// cannot be read (larger than [`MAX_CONTEXT_BYTES`]), since colouring only the hunks
    /// would colour some of them wrongly.
    Plain,
}

/// A side of a file longer than this is shown uncoloured in a diff (colouring is about 0.1 ms
/// a line and a side is coloured from its first line).
pub const COLOUR_LINES: usize = super::pages::COLOUR_LINES;

/// Colourings of files kept across requests (the server): expanding the unchanged lines of a
/// file colours it once, not again from its first line for each gap. Keyed by the file's path
/// (its language) and the ids of its two sides; at most [`ColourCache::ENTRIES`] files and
/// [`ColourCache::BYTES`] of tokens, the least recently used dropped first.
#[derive(Default)]
pub struct ColourCache {
    kept: std::sync::Mutex<Vec<Kept>>,
}

struct Kept {
    key: ColourKey,
    /// How far it is coloured (as asked: old and new lines).
    upto: (usize, usize),
    bytes: usize,
    colours: std::sync::Arc<Colours>,
}

type ColourKey = (String, Option<crate::ObjectId>, Option<crate::ObjectId>);

impl std::fmt::Debug for ColourCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        write!(f, "ColourCache({} files)", kept.len())
    }
}

impl ColourCache {
    /// The most files kept.
    pub const ENTRIES: usize = 8;
    /// The most bytes of tokens kept, all files together.
    pub const BYTES: usize = 32 << 20;

    /// How many files are kept now.
    pub fn len(&self) -> usize {
        self.kept.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn get(&self, key: &ColourKey, upto: (usize, usize)) -> Option<std::sync::Arc<Colours>> {
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        let at = kept.iter().position(|k| {
            &k.key == key
                && (matches!(*k.colours, Colours::Plain)
                    || (k.upto.0 >= upto.0 && k.upto.1 >= upto.1))
        })?;
        let k = kept.remove(at);
        let c = k.colours.clone();
        kept.insert(0, k);
        Some(c)
    }

    fn put(&self, key: ColourKey, upto: (usize, usize), colours: std::sync::Arc<Colours>) {
        let bytes = colours.bytes();
        if bytes > Self::BYTES {
            return;
        }
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        kept.retain(|k| k.key != key);
        kept.insert(
            0,
            Kept {
                key,
                upto,
                bytes,
                colours,
            },
        );
        let mut total = 0;
        let keep = kept
            .iter()
            .take(Self::ENTRIES)
            .take_while(|k| {
                total += k.bytes;
                total <= Self::BYTES
            })
            .count();
        kept.truncate(keep);
    }
}

impl Colours {
    /// [`Colours::of`], through `cache`: a colouring kept that reaches `upto` is used; else the
    /// file is coloured (to its end when there is a cache, so that its other gaps find it) and
    /// kept.
    fn cached(
        f: &FileDiff,
        old: Option<&[&[u8]]>,
        upto: (usize, usize),
        cache: Option<&ColourCache>,
    ) -> std::sync::Arc<Colours> {
        let Some(cache) = cache else {
            return std::sync::Arc::new(Self::of(f, old, upto));
        };
        let key = (
            f.path().to_string(),
            f.old.as_ref().map(|m| m.id),
            f.new.as_ref().map(|m| m.id),
        );
        if let Some(c) = cache.get(&key, upto) {
            return c;
        }
        // A table colours to its last hunk (all a `?file=N` answer shows, and what the gaps
        // between hunks need); anything further colours the whole file once.
        let upto = if upto == hunks_end(f) {
            upto
        } else {
            (usize::MAX, usize::MAX)
        };
        let c = std::sync::Arc::new(Self::of(f, old, upto));
        cache.put(key, upto, c.clone());
        c
    }

    /// About how many bytes its tokens take.
    fn bytes(&self) -> usize {
        let side = |v: &Vec<Tokens>| -> usize {
            v.iter()
                .map(|t| {
                    std::mem::size_of::<Tokens>()
                        + t.capacity() * std::mem::size_of::<(Range<usize>, &str)>()
                })
                .sum()
        };
        match self {
            Colours::Both { old, new, .. } => side(old) + side(new),
            Colours::Plain => 0,
        }
    }

    /// Colours `f` (old side `old`, `None` when it is not available) up to `upto` (the number
    /// of old and of new lines needed).
    fn of(f: &FileDiff, old: Option<&[&[u8]]>, upto: (usize, usize)) -> Colours {
        Self::try_of(f, old, upto).unwrap_or(Colours::Plain)
    }

    fn try_of(f: &FileDiff, old: Option<&[&[u8]]>, upto: (usize, usize)) -> Option<Colours> {
        // A deleted file's old side is its hunk; an added file has none.
        let hunk_old: Vec<&[u8]>;
        let old: &[&[u8]] = match (f.status, old) {
            (Status::Added, _) => &[],
            (_, Some(o)) => o,
            (Status::Deleted, None) => {
                hunk_old = f
                    .hunks
                    .iter()
                    .flat_map(|h| &h.lines)
                    .filter(|l| l.kind != LineKind::Added)
                    .map(|l| l.text.as_slice())
                    .collect();
                &hunk_old
            }
            (_, None) => return None,
        };
        let (new, map) = new_side(f, old)?;
        if old.len() > COLOUR_LINES || new.len() > COLOUR_LINES {
            return None;
        }
        let first = new.first().or(old.first()).copied().unwrap_or_default();
        let lang = highlight::language(f.path(), first)?;
        let (old_upto, new_upto) = (upto.0.min(old.len()), upto.1.min(new.len()));
        // Both sides in one pass, in the new side's order: the old side's tokenizer `ot` is
        // before old line `old_runs.len()`; the new side's state is that same one (`own` is
        // `None`) until an added or deleted line, then its own until the two are equal again.
        let mut ot = Tokenizer::new(Some(lang));
        let mut old_runs: Vec<Tokens> = Vec::with_capacity(old_upto);
        let mut new_runs: Vec<Tokens> = Vec::with_capacity(new_upto);
        let mut own: Option<Tokenizer> = None;
        let mut parsed = 0;
        for (i, line) in new[..new_upto].iter().enumerate() {
            match map[i] {
                Some(j) => {
                    if j != old_runs.len() {
                        // Old lines deleted here: the new side goes on from the state before them.
                        if own.is_none() {
                            own = Some(ot.clone());
                        }
                        while old_runs.len() < j {
                            old_runs.push(ot.line(old[old_runs.len()]));
                        }
                    }
                    if own.as_ref() == Some(&ot) {
                        own = None;
                    }
                    if own.is_none() {
                        let runs = ot.line(old[j]);
                        old_runs.push(runs.clone());
                        new_runs.push(runs);
                        continue;
                    }
                }
                None => {
                    if own.is_none() {
                        own = Some(ot.clone());
                    }
                }
            }
            let t = own.get_or_insert_with(|| ot.clone());
            new_runs.push(t.line(line));
            parsed += 1;
        }
        while old_runs.len() < old_upto {
            old_runs.push(ot.line(old[old_runs.len()]));
        }
        Some(Colours::Both {
            old: old_runs,
            new: new_runs,
            parsed,
        })
    }

    /// The HTML of old line `i` (0-based) or of new line `i`, with `marks`.
    fn line(&self, new: bool, i: usize, text: &[u8], marks: Option<&[Range<usize>]>) -> String {
        let runs = match self {
            Colours::Both { old, new: n, .. } => {
                if new {
                    n.get(i)
                } else {
                    old.get(i)
                }
            }
            Colours::Plain => None,
        };
        highlight::line_html(text, runs.map_or(&[], |r| r.as_slice()), marks)
    }
}

/// The lines of a file's new side, and for each the old line it is unchanged from (0-based).
type NewSide<'a> = (Vec<&'a [u8]>, Vec<Option<usize>>);

/// The new side of `f` (the old side with its hunks applied) and, for each new line, the old
/// line it is unchanged from (0-based); `None` when the hunks do not fit `old`.
fn new_side<'a>(f: &'a FileDiff, old: &[&'a [u8]]) -> Option<NewSide<'a>> {
    let mut new = Vec::with_capacity(old.len());
    let mut map = Vec::with_capacity(old.len());
    let mut j = 0;
    for h in &f.hunks {
        // The unchanged lines before the hunk (none fit when the hunks do not).
        let start = old_span(h).start - 1;
        for (k, line) in old.get(j..start)?.iter().enumerate() {
            new.push(*line);
            map.push(Some(j + k));
        }
        j = start;
        for l in &h.lines {
            match l.kind {
                LineKind::Added => {
                    new.push(l.text.as_slice());
                    map.push(None);
                }
                LineKind::Context => {
                    let o = old.get(j)?;
                    new.push(l.text.as_slice());
                    map.push((*o == l.text.as_slice()).then_some(j));
                    j += 1;
                }
                LineKind::Deleted => {
                    if *old.get(j)? != l.text.as_slice() {
                        return None;
                    }
                    j += 1;
                }
            }
        }
    }
    for (k, line) in old.get(j..)?.iter().enumerate() {
        new.push(*line);
        map.push(Some(j + k));
    }
    Some((new, map))
}

fn expand_buttons(n: usize) -> String {
    format!(
        "<button type=\"button\" class=\"cdv-x\" data-dir=\"up\" title=\"Show lines above\">↑</button>\
         <button type=\"button\" class=\"cdv-x\" data-dir=\"down\" title=\"Show lines below\">↓</button>\
         <button type=\"button\" class=\"cdv-x\" data-dir=\"all\" title=\"Show {}\">↕ {n}</button>",
        plural(n, "hidden line", "hidden lines")
    )
}

fn write_hunk_header(out: &mut String, h: &Hunk, gi: usize, gap: Option<usize>) {
    let header = String::from_utf8_lossy(&hunk_header(h)).into_owned();
    let _ = write!(
        out,
        "<tr class=\"cdv-h\" data-gap=\"{gi}\"><td class=\"cdv-xb\" colspan=\"2\">"
    );
    if let Some(n) = gap {
        out.push_str(&expand_buttons(n));
    }
    out.push_str("</td><td class=\"cdv-hh\">");
    highlight::escape_into(&header, out);
    out.push_str("</td></tr>");
}

/// The unchanged lines `gap` (old line numbers) as a `template.cdv-g`, coloured as they are on
/// the new side; `None` (stopping there) once `out` and `rest` more bytes would pass `max`.
#[allow(clippy::too_many_arguments)]
fn write_gap(
    out: &mut String,
    gi: usize,
    old: &[&[u8]],
    gap: Range<usize>,
    delta: isize,
    colours: &Colours,
    max: usize,
    rest: usize,
) -> Option<()> {
    let Some(lines) = old.get(gap.start - 1..gap.end - 1) else {
        return Some(());
    };
    let _ = write!(out, "<template class=\"cdv-g\" data-gap=\"{gi}\">");
    for (k, text) in lines.iter().enumerate() {
        let o = gap.start + k;
        let n = (o as isize + delta).max(0) as usize;
        let code = colours.line(true, n.saturating_sub(1), text, None);
        let _ = write!(
            out,
            "<tr class=\"cdv-l cdv-c\"><td class=\"cdv-n\" data-n=\"{o}\"></td><td class=\"cdv-n\" data-n=\"{n}\"></td><td class=\"cdv-code\">{code}</td></tr>"
        );
        if out.len().saturating_add(rest) > max {
            return None;
        }
    }
    out.push_str("</template>");
    (out.len() <= max).then_some(())
}

/// Writes `h`'s rows; `None` (stopping there) once `out` and the least HTML of the rows left
/// (`rest`, which counts this hunk's rows and is lowered as they are written) pass `max`. The
/// changed words of a pair of lines are marked when its deleted line is written, so a table
/// that stops early has not marked the rest.
fn write_hunk(
    out: &mut String,
    h: &Hunk,
    colours: &Colours,
    max: usize,
    rest: &mut usize,
) -> Option<()> {
    let partners = word_partners(h);
    let mut later: Vec<Option<Vec<Range<usize>>>> = vec![None; h.lines.len()];
    let (mut o, mut n) = (h.old_start.max(1), h.new_start.max(1));
    if h.old_lines == 0 {
        o = h.old_start + 1;
    }
    if h.new_lines == 0 {
        n = h.new_start + 1;
    }
    for (i, l) in h.lines.iter().enumerate() {
        let (class, on, nn) = match l.kind {
            LineKind::Context => ("cdv-c", Some(o), Some(n)),
            LineKind::Added => ("cdv-a", None, Some(n)),
            LineKind::Deleted => ("cdv-d", Some(o), None),
        };
        let marks = match partners[i] {
            Some(a) => word_ranges(&l.text, &h.lines[a].text).map(|(d, added)| {
                #[cfg(test)]
                tests::MARKED.with(|m| m.set(m.get() + 1));
                later[a] = Some(added);
                d
            }),
            None => later[i].take(),
        };
        // A deleted line is coloured as on the old side, the others as on the new side.
        let code = match nn {
            Some(x) => colours.line(true, x - 1, &l.text, marks.as_deref()),
            None => colours.line(false, o - 1, &l.text, marks.as_deref()),
        };
        let num = |x: Option<usize>| x.map(|v| format!(" data-n=\"{v}\"")).unwrap_or_default();
        let _ = write!(
            out,
            "<tr class=\"cdv-l {class}\"><td class=\"cdv-n\"{}></td><td class=\"cdv-n\"{}></td><td class=\"cdv-code\">{}{}</td></tr>",
            num(on),
            num(nn),
            code,
            if l.has_newline() {
                ""
            } else {
                "<span class=\"cdv-nonl\" title=\"No newline at end of file\">⊘</span>"
            }
        );
        *rest = rest.saturating_sub(ROW_AT_LEAST + text_html_at_least(&l.text));
        if out.len().saturating_add(*rest) > max {
            return None;
        }
        if on.is_some() {
            o += 1;
        }
        if nn.is_some() {
            n += 1;
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ArtifactKey, CommitOptions, Snapshot, Store, capture_run};

    thread_local! {
        /// How many pairs of lines this thread's tables marked the changed words of.
        pub(super) static MARKED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    /// A table whose rows' least HTML fits its cap but whose marks do not stops as soon as
    /// what it wrote and the least HTML of the rest pass the cap: it does not mark every pair
    /// of lines (the costly part) to learn that it does not fit.
    #[test]
    fn a_table_stops_once_it_cannot_fit() {
        let side = |seed: u64| -> String {
            let mut x = seed;
            (0..200)
                .map(|_| {
                    (0..120)
                        .map(|_| {
                            x ^= x << 13;
                            x ^= x >> 7;
                            x ^= x << 17;
                            ["a", "b", "c", "d"][(x % 4) as usize]
                        })
                        .collect::<Vec<_>>()
                        .join(" ")
                        + "\n"
                })
                .collect()
        };
        let (_d, store, diff) = compared([
            vec![("r.txt", side(0x9e37_79b9_7f4a_7c15))],
            vec![("r.txt", side(0x51_7cc1_b727_220a))],
        ]);
        let f = &diff.files[0];
        let fetch = Context::Fetch { url: "/c".into() };
        MARKED.with(|m| m.set(0));
        let whole = table(f, &store, &fetch).into_string();
        let all = MARKED.with(|m| m.get());
        assert_eq!(all, 200, "every pair is alike enough to be marked");
        let least = hunks_html_at_least(f);
        assert!(whole.len() > least + 50_000, "{} {least}", whole.len());
        MARKED.with(|m| m.set(0));
        assert!(table_capped(f, &store, &fetch, least + 10_000, None).is_none());
        let marked = MARKED.with(|m| m.get());
        assert!(marked < all / 2, "{marked} pairs marked");
    }

    /// Two versions, each `(path, content)` files, compared through a real store.
    /// [`compared`]: `files` as `(path, text)`, then each of them with a line `more` added.
    fn each_file_gains_a_line(files: &[(String, String)]) -> (tempfile::TempDir, Store, TreeDiff) {
        compared([
            files.iter().map(|(p, t)| (p.as_str(), t.clone())).collect(),
            files
                .iter()
                .map(|(p, t)| (p.as_str(), format!("{t}more\n")))
                .collect(),
        ])
    }

    fn compared(versions: [Vec<(&str, String)>; 2]) -> (tempfile::TempDir, Store, TreeDiff) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::init(dir.path()).unwrap();
        let key = ArtifactKey::new("code", "x").unwrap();
        let mut trees = Vec::new();
        for (rev, files) in versions.into_iter().enumerate() {
            let mut s = Snapshot::default();
            for (path, text) in files {
                s.add_bytes(path, text.into_bytes(), false).unwrap();
            }
            let run = capture_run(&format!("r{rev}"), dir.path()).unwrap();
            trees.push(
                store
                    .commit(&key, &s, &run, &CommitOptions::default())
                    .unwrap()
                    .tree,
            );
        }
        let diff = store
            .diff_versions(trees[0], trees[1], &Default::default())
            .unwrap();
        (dir, store, diff)
    }

    /// Two 30-line Python files whose line 15 changed, compared through a real store.
    fn two_files() -> (tempfile::TempDir, Store, TreeDiff) {
        compared([0, 1].map(|rev| {
            ["a.py", "b.py"]
                .into_iter()
                .map(|name| {
                    let text: String = (1..=30)
                        .map(|i| {
                            if i == 15 && rev == 1 {
                                "x = 2\n".to_string()
                            } else {
                                format!("v{i} = {i}\n")
                            }
                        })
                        .collect();
                    (name, text)
                })
                .collect()
        }))
    }

    fn render(store: &Store, diff: &TreeDiff, opts: &Options) -> String {
        let c = Compare {
            left: "x:v0",
            right: "x:v1",
            diff,
            runs: None,
        };
        body(&c, store, opts).into_string()
    }

    /// The text of file `i`'s section.
    fn section(page: &str, i: usize) -> &str {
        let start = page.find(&format!("id=\"file-{i}\"")).unwrap();
        let end = page[start..]
            .find("<div class=\"cdv-file\"")
            .map_or(page.len(), |e| start + e);
        &page[start..end]
    }

    #[test]
    fn gaps_above_and_below_the_hunk_with_their_numbers() {
        let (_d, store, diff) = two_files();
        let page = render(&store, &diff, &Options::default());
        let a = section(&page, 0);
        // Hunk: old lines 12..18; above it 11 lines, below it 12.
        assert!(
            a.contains("<td class=\"cdv-hh\">@@ -12,7 +12,7 @@ v11 = 11</td>"),
            "{a}"
        );
        assert!(a.contains("title=\"Show 11 hidden lines\">↕ 11</button>"));
        assert!(a.contains("title=\"Show 12 hidden lines\">↕ 12</button>"));
        assert_eq!(a.matches("<template class=\"cdv-g\"").count(), 2);
        assert!(a.contains(
            "<tr class=\"cdv-l cdv-c\"><td class=\"cdv-n\" data-n=\"30\"></td><td class=\"cdv-n\" data-n=\"30\"></td>"
        ));
        let g = gap(&diff.files[0], &store, 0).unwrap();
        assert_eq!(g.matches("<tr ").count(), 11);
        assert!(g.starts_with("<template class=\"cdv-g\" data-gap=\"0\"><tr class=\"cdv-l cdv-c\"><td class=\"cdv-n\" data-n=\"1\"></td><td class=\"cdv-n\" data-n=\"1\"></td>"));
        assert_eq!(
            gap(&diff.files[0], &store, 1)
                .unwrap()
                .matches("<tr ")
                .count(),
            12
        );
        assert!(gap(&diff.files[0], &store, 2).is_none());
        assert!(gap(&diff.files[0], &NoSource, 0).is_none());
    }

    #[test]
    fn unchanged_lines_of_every_file_are_coloured() {
        let (_d, store, diff) = two_files();
        let page = render(&store, &diff, &Options::default());
        for i in 0..2 {
            let templates: String = section(&page, i)
                .split("<template class=\"cdv-g\"")
                .skip(1)
                .map(|t| t.split("</template>").next().unwrap().to_string())
                .collect();
            assert!(
                templates.contains(
                    "<td class=\"cdv-code\">v1 <span class=\"k\">=</span> <span class=\"n\">1</span></td>"
                ),
                "{templates}"
            );
            assert!(templates.contains(
                "<td class=\"cdv-code\">v30 <span class=\"k\">=</span> <span class=\"n\">30</span></td>"
            ));
            // Changed lines too.
            assert!(section(&page, i).contains("<mark><span class=\"n\">2</span></mark>"));
        }
    }

    /// A change at a file's first line, or hunks that meet, leave no gap before them: a gap is
    /// only ever lines a reader can expand (none of `↕ 0`).
    #[test]
    fn no_empty_gap_before_a_first_line_change_or_between_meeting_hunks() {
        let old: String = (1..=40).map(|i| format!("line {i}\n")).collect();
        let new = old
            .replacen("line 1\n", "line one\n", 1)
            .replace("line 40\n", "line forty\n");
        let (_tmp, _store, d) = one_file("a.txt", &old, &new);
        let f = &d.files[0];
        let old_lines = crate::diff::split_lines(old.as_bytes());
        let found = gaps(f, &old_lines);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].1, 5..37, "only the middle, between the two hunks");
    }

    /// Two versions of one file, compared through a real store.
    fn one_file(path: &str, old: &str, new: &str) -> (tempfile::TempDir, Store, TreeDiff) {
        compared([vec![(path, old.to_string())], vec![(path, new.to_string())]])
    }

    /// The `<td class="cdv-code">` of each row of a table whose line numbers are `o` (old) and
    /// `n` (new), in `html`.
    fn code_of(html: &str, o: Option<usize>, n: Option<usize>) -> String {
        let num = |x: Option<usize>| match x {
            Some(v) => format!("<td class=\"cdv-n\" data-n=\"{v}\"></td>"),
            None => "<td class=\"cdv-n\"></td>".to_string(),
        };
        let key = format!("{}{}<td class=\"cdv-code\">", num(o), num(n));
        let at = html
            .find(&key)
            .unwrap_or_else(|| panic!("no row {o:?} {n:?} in {html}"));
        let rest = &html[at + key.len()..];
        rest[..rest.find("</td>").unwrap()].to_string()
    }

    #[test]
    fn a_hunk_inside_a_triple_quoted_string_is_coloured_as_a_string() {
        // The string opens on line 2, 7 lines above the change: the hunk (3 lines of
        // context) starts inside it.
        let mut old = String::from("def f():\n    text = \"\"\"Explain f.\n");
        for i in 0..10 {
            old.push_str(&format!("    step {i} for x in range(3)\n"));
        }
        old.push_str("    \"\"\"\n    return 1\n");
        let new = old.replace("step 6 for", "step 6 with");
        let (_d, store, diff) = one_file("f.py", &old, &new);
        let h = &diff.files[0].hunks[0];
        assert_eq!(
            (h.old_start, h.new_start),
            (6, 6),
            "the hunk starts at line 6"
        );
        for ctx in [
            Context::Inline,
            Context::Fetch {
                url: "/c?file=0".into(),
            },
        ] {
            let t = table(&diff.files[0], &store, &ctx).into_string();
            // Context line 6, the deleted and the added line 9: string, not keywords.
            assert_eq!(
                code_of(&t, Some(6), Some(6)),
                "<span class=\"s\">    step 3 for x in range(3)</span>"
            );
            assert_eq!(
                code_of(&t, Some(9), None),
                "<span class=\"s\">    step 6 </span><mark><span class=\"s\">for</span></mark>\
                 <span class=\"s\"> x in range(3)</span>"
            );
            assert_eq!(
                code_of(&t, None, Some(9)),
                "<span class=\"s\">    step 6 </span><mark><span class=\"s\">with</span></mark>\
                 <span class=\"s\"> x in range(3)</span>"
            );
        }
        // The unchanged lines after the string's end are code again, on the page and fetched.
        let g = gap(&diff.files[0], &store, 1).unwrap();
        assert_eq!(
            code_of(&g, Some(14), Some(14)),
            "    <span class=\"k\">return</span> <span class=\"n\">1</span>"
        );
        let page = render(&store, &diff, &Options::default());
        assert!(page.contains(&g), "the page holds the same lines");
        let g = gap(&diff.files[0], &store, 0).unwrap();
        assert_eq!(
            code_of(&g, Some(2), Some(2)),
            "    text <span class=\"k\">=</span> <span class=\"s\">&quot;&quot;&quot;Explain f.</span>"
        );
    }

    #[test]
    fn a_string_opened_by_an_added_line_colours_the_new_side_after_it() {
        // The new side opens a string on the added line 3 that line 6 closes: lines 4 and 5,
        // unchanged, are in a string on the new side only; line 7 is code on both.
        let old = "a = 1\nb = 2\nc = 3\nd = 4\ne = 5\nf = 6\ng = 7\n";
        let new = "a = 1\nb = 2\nc = \"\"\"\nd = 4\ne = 5\n\"\"\"\ng = 7\n";
        let (_d, store, diff) = one_file("m.py", old, new);
        let t = table(&diff.files[0], &store, &Context::Inline).into_string();
        assert_eq!(
            code_of(&t, Some(4), Some(4)),
            "<span class=\"s\">d = 4</span>"
        );
        assert_eq!(
            code_of(&t, Some(7), Some(7)),
            "g <span class=\"k\">=</span> <span class=\"n\">7</span>"
        );
        assert_eq!(
            code_of(&t, Some(3), None),
            "c <span class=\"k\">=</span> <mark><span class=\"n\">3</span></mark>"
        );
    }

    #[test]
    fn the_new_side_is_coloured_as_if_parsed_whole() {
        // Edits that open, close or move strings and comments: the new side's tokens, taken
        // from the old side wherever the states agree, equal a parse of the new file alone.
        let old = "import os\n\nA = \"\"\"top\n\"\"\"\n\ndef f(x):\n    # note\n    s = 'a'\n    return x\n\
                   \nB = 2\nC = \"\"\"\nmid\n\"\"\"\nD = 4\n";
        // (from, to, new lines parsed): the changed lines, then those whose state differs
        // from the old side's at the same line.
        let edits: [(&str, &str, usize); 6] = [
            // Line 3 no longer opens a string, so line 4 does and every later string is
            // turned inside out: lines 3 to 15.
            ("A = \"\"\"top\n", "A = 1\n", 13),
            // Line 11 opens a string that line 12 closes, 14 opens one: lines 11 to 15.
            ("B = 2\n", "B = \"\"\"\n", 5),
            // A string that never closes: lines 9 to 15.
            ("    return x\n", "    return '''x\n", 7),
            // Line 13 closes C's string and opens another, that 14 does not close.
            ("mid\n", "mid \"\"\" + '''\n", 3),
            // The two last lines, changed.
            ("D = 4\n", "D = 4  # end\nE = '''\n", 2),
            // One line changed in place: that line only.
            ("    s = 'a'\n", "    s = 'b'\n", 1),
        ];
        for (from, to, want_parsed) in edits {
            let new = old.replacen(from, to, 1);
            let (_d, store, diff) = one_file("m.py", old, &new);
            let f = &diff.files[0];
            let text = store.read_blob(&f.old.as_ref().unwrap().id).unwrap();
            let ol = split_lines(&text);
            let Colours::Both {
                new: got, parsed, ..
            } = Colours::of(f, Some(&ol), (usize::MAX, usize::MAX))
            else {
                panic!("coloured");
            };
            let lang = highlight::language("m.py", b"");
            let mut tok = Tokenizer::new(lang);
            let whole: Vec<Tokens> = split_lines(new.as_bytes())
                .iter()
                .map(|l| tok.line(l))
                .collect();
            assert_eq!(got, whole, "{from:?} -> {to:?}");
            // Only the added lines, and those whose state differs from the old side's, are
            // parsed again.
            assert_eq!(parsed, want_parsed, "{from:?} -> {to:?}");
        }
    }

    #[test]
    fn unchanged_lines_below_added_ones_have_both_numbers() {
        // Two lines added at the top: the unchanged lines below the hunk are 2 further down on
        // the new side, and coloured as the new side's lines there.
        let old: String = (1..=12).map(|i| format!("v{i} = {i}\n")).collect();
        let new = format!("import os\n# top\n{old}");
        let (_d, store, diff) = one_file("m.py", &old, &new);
        let page = render(&store, &diff, &Options::default());
        let g = gap(&diff.files[0], &store, 1).unwrap();
        assert!(page.contains(&g));
        assert_eq!(g.matches("<tr ").count(), 9);
        assert_eq!(
            code_of(&g, Some(4), Some(6)),
            "v4 <span class=\"k\">=</span> <span class=\"n\">4</span>"
        );
        assert_eq!(
            code_of(&g, Some(12), Some(14)),
            "v12 <span class=\"k\">=</span> <span class=\"n\">12</span>"
        );
    }

    #[test]
    fn each_row_takes_its_own_lines_tokens() {
        // Lines that colour differently, so that a row given its neighbour's tokens shows.
        let old = "import os\nx = 1\ndef f(a, b):\n    return \"s\"  # c\ny = [1, 2]\n";
        let new = old.replace("def f(a, b)", "def g(a, b)");
        let (_d, store, diff) = one_file("m.py", old, &new);
        let t = table(&diff.files[0], &store, &Context::Inline).into_string();
        let import = "<span class=\"k\">import</span> os";
        let x = "x <span class=\"k\">=</span> <span class=\"n\">1</span>";
        let ret = "    <span class=\"k\">return</span> <span class=\"s\">&quot;s&quot;</span>  \
                   <span class=\"c\"># c</span>";
        let y =
            "y <span class=\"k\">=</span> [<span class=\"n\">1</span>, <span class=\"n\">2</span>]";
        let def = |name: &str| {
            format!(
                "<span class=\"k\">def</span> <mark><span class=\"f\">{name}</span></mark>(\
                 <span class=\"p\">a</span>, <span class=\"p\">b</span>):"
            )
        };
        assert_eq!(code_of(&t, Some(1), Some(1)), import);
        assert_eq!(code_of(&t, Some(2), Some(2)), x);
        assert_eq!(code_of(&t, Some(3), None), def("f"));
        assert_eq!(code_of(&t, None, Some(3)), def("g"));
        assert_eq!(code_of(&t, Some(4), Some(4)), ret);
        assert_eq!(code_of(&t, Some(5), Some(5)), y);
    }

    #[test]
    fn each_side_is_coloured_as_far_as_it_is_shown() {
        let (_d, store, diff) = two_files();
        let f = &diff.files[0];
        // The hunk: old and new lines 12 to 18.
        assert_eq!(hunks_end(f), (18, 18));
        assert_eq!(table_extent(f, false, true), (18, 18));
        assert_eq!(table_extent(f, true, false), (18, 18));
        assert_eq!(table_extent(f, true, true), (usize::MAX, usize::MAX));
        assert_eq!(gap_extent(&(19..31), 0), (30, 30));
        assert_eq!(gap_extent(&(5..10), 2), (9, 11));
        assert_eq!(gap_extent(&(1..4), -3), (3, 0));
        let text = store.read_blob(&f.old.as_ref().unwrap().id).unwrap();
        let ol = split_lines(&text);
        let Colours::Both { old, new, parsed } = Colours::of(f, Some(&ol), hunks_end(f)) else {
            panic!("coloured");
        };
        assert_eq!((old.len(), new.len(), parsed), (18, 18, 1));
        // Lines removed at the end: the new side ends earlier.
        let (_d, _s, diff) = one_file("e.py", "a = 1\nb = 2\n", "");
        assert_eq!(hunks_end(&diff.files[0]), (2, 0));
        let (_d, _s, diff) = one_file("e.py", "a = 1\nb = 2\nc = 3\n", "a = 1\nc = 3\n");
        assert_eq!(hunks_end(&diff.files[0]), (3, 2));
    }

    #[test]
    fn added_and_deleted_files_are_coloured_without_the_store() {
        let kw = "<span class=\"k\">import</span> os";
        // Added: its new side is its hunk.
        let dir = tempfile::tempdir().unwrap();
        let store = Store::init(dir.path()).unwrap();
        let key = ArtifactKey::new("code", "x").unwrap();
        let mut trees = Vec::new();
        for files in [
            &[("keep.txt", "k\n")][..],
            &[("keep.txt", "k\n"), ("n.py", "import os\n")],
        ] {
            let mut s = Snapshot::default();
            for (p, c) in files {
                s.add_bytes(p, c.as_bytes().to_vec(), false).unwrap();
            }
            let run = capture_run(&format!("r{}", trees.len()), dir.path()).unwrap();
            trees.push(
                store
                    .commit(&key, &s, &run, &CommitOptions::default())
                    .unwrap()
                    .tree,
            );
        }
        let added = store
            .diff_versions(trees[0], trees[1], &Default::default())
            .unwrap();
        let t = table(&added.files[0], &NoSource, &Context::Inline).into_string();
        assert_eq!(code_of(&t, None, Some(1)), kw);
        // Deleted: its old side is its hunk, with or without the store.
        let deleted = store
            .diff_versions(trees[1], trees[0], &Default::default())
            .unwrap();
        for source in [&NoSource as &dyn Source, &store] {
            let t = table(&deleted.files[0], source, &Context::Inline).into_string();
            assert_eq!(code_of(&t, Some(1), None), kw);
        }
        // Modified without its old side: uncoloured rather than coloured wrongly.
        let (_d, _s, diff) = one_file("m.py", "import os\n", "import sys\n");
        let t = table(&diff.files[0], &NoSource, &Context::Inline).into_string();
        assert_eq!(code_of(&t, None, Some(1)), "import <mark>sys</mark>");
    }

    #[test]
    fn long_files_and_unknown_languages_are_uncoloured() {
        let lines = |n: usize| -> String { (0..n).map(|i| format!("v{i} = {i}\n")).collect() };
        let coloured = "v5 <span class=\"k\">=</span> <mark><span class=\"n\">50</span></mark>";
        let plain = "v5 = <mark>50</mark>";
        // (old lines, new lines added at the end): at most 20,000 lines a side are coloured.
        for (n, more, want) in [
            (COLOUR_LINES, 0, coloured),
            (COLOUR_LINES + 1, 0, plain),
            (COLOUR_LINES - 1, 2, plain),
        ] {
            let old = lines(n);
            let mut new = old.replacen("v5 = 5\n", "v5 = 50\n", 1);
            new.push_str(&"w = 0\n".repeat(more));
            let (_d, store, diff) = one_file("big.py", &old, &new);
            let t =
                table(&diff.files[0], &store, &Context::Fetch { url: "/c".into() }).into_string();
            assert_eq!(code_of(&t, None, Some(6)), want, "{n} + {more}");
        }
        // More old lines than the limit, fewer new ones.
        let old = lines(COLOUR_LINES + 2);
        let new: String = old
            .replacen("v5 = 5\n", "v5 = 50\n", 1)
            .lines()
            .take(COLOUR_LINES)
            .map(|l| format!("{l}\n"))
            .collect();
        let (_d, store, diff) = one_file("big.py", &old, &new);
        let t = table(&diff.files[0], &store, &Context::Fetch { url: "/c".into() }).into_string();
        assert_eq!(code_of(&t, None, Some(6)), plain);
        let (_d, store, diff) = one_file("notes.unknown-ext", "a = 1\n", "a = 2\n");
        let t = table(&diff.files[0], &store, &Context::Inline).into_string();
        assert_eq!(code_of(&t, None, Some(1)), "a = <mark>2</mark>");
    }

    #[test]
    fn served_pages_fetch_unchanged_lines_and_later_files() {
        let (_d, store, diff) = two_files();
        let opts = Options {
            lazy_after: Some(1),
            fragment_base: "/c".into(),
            fetch_context: true,
            ..Options::default()
        };
        let page = render(&store, &diff, &opts);
        assert!(!page.contains("<template"));
        assert!(
            section(&page, 0).contains("<table class=\"cdv-t cdv-u\" data-gaps=\"/c?file=0\">")
        );
        assert!(section(&page, 0).contains("↕ 11</button>"));
        let b = section(&page, 1);
        assert!(b.contains(
            "<div class=\"cdv-lazy\" data-src=\"/c?file=1\"><button class=\"cdv-load\" type=\"button\">Load diff (8 lines)</button></div>"
        ), "{b}");
        let table = table(
            &diff.files[1],
            &store,
            &Context::Fetch {
                url: "/c?file=1".into(),
            },
        )
        .into_string();
        assert!(table.starts_with("<table class=\"cdv-t cdv-u\" data-gaps=\"/c?file=1\">"));
    }

    #[test]
    fn files_too_large_for_a_page_are_not_rendered() {
        let (_d, store, diff) = two_files();
        let opts = Options {
            max_file_lines: 7,
            raw_links: Some(("x:v0".into(), "x:v1".into())),
            ..Options::default()
        };
        let page = render(&store, &diff, &opts);
        let a = section(&page, 0);
        assert!(a.contains(
            "<div class=\"cdv-fb\"><div class=\"cdv-note cdv-too-large\">This diff is too large to \
             show here (8 lines). In a terminal: <code>codever diff x:v0 x:v1</code> · raw: \
             <a href=\"/raw?spec=x%3Av0&amp;path=a.py\">old</a> · \
             <a href=\"/raw?spec=x%3Av1&amp;path=a.py\">new</a></div></div>"
        ), "{a}");
        assert!(!a.contains("<table"));
        assert!(a.contains("<span class=\"cdv-path\">a.py</span>"));
        assert!(too_large(&diff.files[0], &opts));
        assert!(!too_large(&diff.files[0], &Options::default()));
        // Few lines but more bytes than a page takes: the note names the bytes, not the lines.
        let mut wide = diff.clone();
        wide.files[0].hunks[0].lines[0].text = "x".repeat(MAX_RENDER_BYTES + 1).into();
        for max_file_lines in [Options::default().max_file_lines, 8] {
            let opts = Options {
                max_file_lines,
                ..Options::default()
            };
            let page = render(&store, &wide, &opts);
            assert!(
                section(&page, 0).contains(
                    "This diff is too large to show here (8 lines holding more than 4 MiB)."
                ),
                "{}",
                &section(&page, 0)[..300]
            );
        }
        // A page's budget: the first file fits, the second would pass it.
        let opts = Options {
            max_page_lines: 10,
            ..Options::default()
        };
        let page = render(&store, &diff, &opts);
        assert!(section(&page, 0).contains("<table"));
        let b = section(&page, 1);
        assert!(
            b.contains(
                "This page already shows 10 lines: this file's diff (8 lines) is not shown here. \
             In a terminal: <code>codever diff x:v0 x:v1</code></div>"
            ),
            "{b}"
        );
        assert!(!b.contains("<table"));
    }

    #[test]
    fn large_files_wait_behind_a_button() {
        let (_d, store, diff) = two_files();
        let opts = Options {
            large_lines: 6,
            ..Options::default()
        };
        let page = render(&store, &diff, &opts);
        let a = section(&page, 0);
        assert!(a.contains(
            "<button class=\"cdv-load\" type=\"button\">Load diff (8 lines)</button><template class=\"cdv-defer\"><table"
        ), "{a}");
        let opts = Options {
            large_lines: 8,
            ..Options::default()
        };
        assert!(!render(&store, &diff, &opts).contains("cdv-defer"));
        // On a server page, a large file is fetched on a click (never on its own).
        let opts = Options {
            large_lines: 6,
            lazy_after: Some(10),
            fragment_base: "/c".into(),
            ..Options::default()
        };
        assert!(
            render(&store, &diff, &opts)
                .contains("<div class=\"cdv-lazy\" data-src=\"/c?file=0\" data-large>")
        );
    }

    #[test]
    fn output_caps_leave_notes_never_cut_tables() {
        let (_d, store, diff) = two_files();
        let whole = render(&store, &diff, &Options::default());
        let table_len = |i: usize| {
            let sec = section(&whole, i);
            let a = sec.find("<table").unwrap();
            sec[a..].find("</table>").unwrap() + "</table>".len()
        };
        let (t0, t1) = (table_len(0), table_len(1));
        // A file whose table would pass the cap is a note, with the command and raw files.
        let opts = Options {
            max_file_html: 500,
            raw_links: Some(("x:v0".into(), "x:v1".into())),
            ..Options::default()
        };
        let page = render(&store, &diff, &opts);
        let a = section(&page, 0);
        assert!(!a.contains("<table"), "{a}");
        assert!(a.contains(
            "<div class=\"cdv-fb\"><div class=\"cdv-note cdv-too-large\">This diff is too large to \
             show here (8 lines making more than 500 bytes of HTML). In a terminal: <code>codever \
             diff x:v0 x:v1</code> · raw: <a href=\"/raw?spec=x%3Av0&amp;path=a.py\">old</a> · \
             <a href=\"/raw?spec=x%3Av1&amp;path=a.py\">new</a></div></div>"
        ), "{a}");
        // The page is whole: every table it opens it closes.
        assert_eq!(
            page.matches("<table").count(),
            page.matches("</table>").count()
        );
        // The same file's fragment (the server's `?file=N`) is that note too.
        let frag = file_fragment(
            &diff.files[0],
            &store,
            &opts,
            "/c?file=0".into(),
            "codever diff x:v0 x:v1",
        )
        .into_string();
        assert!(
            frag.starts_with("<div class=\"cdv-note cdv-too-large\">This diff is too large"),
            "{frag}"
        );
        let frag = file_fragment(
            &diff.files[1],
            &store,
            &Options::default(),
            "/c?file=1".into(),
            "c",
        )
        .into_string();
        assert!(
            frag.starts_with("<table class=\"cdv-t cdv-u\" data-gaps=\"/c?file=1\">"),
            "{frag}"
        );
        // Inline unchanged lines that pass the cap are left out; the hunks are shown.
        let fetched = Context::Fetch { url: "/c".into() };
        let hunks_only = table(&diff.files[0], &store, &fetched).into_string().len();
        assert!(hunks_only + 100 < t0);
        let opts = Options {
            max_file_html: hunks_only + 100,
            ..Options::default()
        };
        let a = render(&store, &diff, &opts);
        let a = section(&a, 0);
        assert!(a.contains("<table"), "{a}");
        assert!(!a.contains("<template class=\"cdv-g\""));
        assert!(!a.contains("↕"));
        // The page's budget: the first file fits, the second does not.
        let opts = Options {
            max_page_html: t0 + t1 / 2 + 1000,
            ..Options::default()
        };
        let page = render(&store, &diff, &opts);
        assert!(section(&page, 0).contains("<table"));
        let b = section(&page, 1);
        assert!(
            b.contains(&format!(
                "This file's diff (8 lines) would not fit in what is left of this page's {} KiB \
                 of HTML: it is not shown here. In a terminal: <code>codever diff x:v0 \
                 x:v1</code></div>",
                opts.max_page_html >> 10
            )),
            "{b}"
        );
        // On a server page, such a file waits behind its load button (its own request).
        let opts = Options {
            lazy_after: Some(5),
            fragment_base: "/c".into(),
            ..opts
        };
        let b = render(&store, &diff, &opts);
        assert!(section(&b, 1).contains(
            "<div class=\"cdv-lazy\" data-src=\"/c?file=1\" data-large><button class=\"cdv-load\" type=\"button\">Load diff (8 lines)</button></div>"
        ), "{}", section(&b, 1));
        // A gap whose lines would pass the cap is refused, not cut.
        let g = gap(&diff.files[0], &store, 1).unwrap();
        assert_eq!(
            gap_capped(&diff.files[0], &store, 1, g.len(), None),
            Ok(g.clone())
        );
        assert_eq!(
            gap_capped(&diff.files[0], &store, 1, g.len() - 1, None),
            Err(GapError::TooLarge)
        );
        assert_eq!(
            gap_capped(&diff.files[0], &store, 7, usize::MAX, None),
            Err(GapError::NoGap)
        );
    }

    #[test]
    fn a_page_lists_and_shows_at_most_max_files() {
        let files: Vec<(String, String)> = (0..7)
            .map(|i| (format!("f{i}.txt"), format!("{i}\n")))
            .collect();
        let (_d, store, diff) = each_file_gains_a_line(&files);
        let opts = Options {
            max_files: 3,
            ..Options::default()
        };
        let page = render(&store, &diff, &opts);
        assert!(page.contains("<span class=\"cdv-nfiles\">7 files changed</span>"));
        assert_eq!(page.matches("<li data-status").count(), 3);
        assert_eq!(page.matches("<div class=\"cdv-file\"").count(), 3);
        let note = "<p class=\"cdv-note cdv-more\">This compare changes 7 files: this page shows \
                    files 1–3. All of them in a terminal: <code>codever diff x:v0 x:v1 --stat</code></p>";
        assert_eq!(page.matches(note).count(), 2, "above and below: {page}");
        assert!(!page.contains("id=\"file-3\""));
        // The server's next page: files 4 to 6, numbered as in the whole compare.
        let opts = Options {
            max_files: 3,
            first_file: 3,
            lazy_after: Some(8),
            fragment_base: "/c".into(),
            ..Options::default()
        };
        let page = render(&store, &diff, &opts);
        assert!(
            page.contains(
                "This compare changes 7 files: this page shows files 4–6. <a class=\"cdv-prev\" \
             href=\"/c?from=0\">← previous files</a> <a class=\"cdv-next\" href=\"/c?from=6\">next \
             file →</a> All of them"
            ),
            "{page}"
        );
        assert!(page.contains("id=\"file-3\" data-path=\"f3.txt\""));
        assert!(page.contains("id=\"file-5\""));
        assert!(!page.contains("id=\"file-6\""));
        assert_eq!(thousands(50000), "50,000");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1234567), "1,234,567");
    }

    /// Everything a page repeats per file counts in its budget, not only the diffs: files with
    /// long paths of `&` (escaped 5 times, percent-encoded 3 times) are listed only as far as
    /// their entries and sections fit; the rest are on the next page.
    #[test]
    fn a_pages_budget_counts_each_files_entry_and_section() {
        let dir = "&".repeat(200);
        let files: Vec<(String, String)> = (0..40)
            .map(|i| (format!("{dir}/{dir}/{dir}/f{i:02}.txt"), format!("{i}\n")))
            .collect();
        let (_d, store, diff) = each_file_gains_a_line(&files);
        let whole = render(&store, &diff, &Options::default());
        assert_eq!(whole.matches("<li data-status").count(), 40);
        let budget = 100_000;
        assert!(whole.len() > 2 * budget, "{}", whole.len());
        let opts = Options {
            max_page_html: budget,
            lazy_after: Some(5),
            fragment_base: "/c".into(),
            ..Options::default()
        };
        let page = render(&store, &diff, &opts);
        let listed = page.matches("<li data-status").count();
        assert!((2..40).contains(&listed), "{listed}");
        assert_eq!(page.matches("<div class=\"cdv-file\"").count(), listed);
        // The notes above and below (a few KiB) are the only HTML outside the budget.
        assert!(page.len() <= budget + 4096, "{}", page.len());
        assert!(page.contains(&format!(
            "This compare changes 40 files: this page shows files 1–{listed}. <a class=\"cdv-next\" \
             href=\"/c?from={listed}\">next 40 files →</a>"
        ).replace("next 40", &format!("next {}", 40 - listed))), "{page}");
        // The next page starts there.
        let page = render(
            &store,
            &diff,
            &Options {
                first_file: listed,
                ..opts.clone()
            },
        );
        assert!(page.contains(&format!("id=\"file-{listed}\"")));
        assert!(page.len() <= budget + 4096, "{}", page.len());
        // Every page's "previous" link goes to the page that ends where it starts, however
        // short the budget made the pages (never back 1,000 files, leaving files out between).
        let mut starts = vec![0];
        while let Some(next) = next_link(&render(
            &store,
            &diff,
            &Options {
                first_file: *starts.last().unwrap(),
                ..opts.clone()
            },
        )) {
            starts.push(next);
        }
        assert!(starts.len() >= 3, "{starts:?}");
        assert!(*starts.last().unwrap() < 40);
        for pair in starts.windows(2) {
            let page = render(
                &store,
                &diff,
                &Options {
                    first_file: pair[1],
                    ..opts.clone()
                },
            );
            assert!(
                page.contains(&format!(
                    "<a class=\"cdv-prev\" href=\"/c?from={}\">",
                    pair[0]
                )),
                "{pair:?}"
            );
        }
    }

    /// The `from=` of a page's "next" link.
    fn next_link(page: &str) -> Option<usize> {
        let at = page.find("<a class=\"cdv-next\" href=\"/c?from=")?;
        let rest = &page[at + "<a class=\"cdv-next\" href=\"/c?from=".len()..];
        rest[..rest.find('"')?].parse().ok()
    }

    /// A file whose rows would surely make more HTML than its cap (each line's escaped text and
    /// least markup already do) is refused before anything is coloured.
    #[test]
    fn a_file_surely_over_its_cap_is_refused_before_colouring() {
        let (_d, store, diff) = two_files();
        let f = &diff.files[0];
        let least = hunks_html_at_least(f);
        let fetch = Context::Fetch { url: "/c".into() };
        let whole = table(f, &store, &fetch).into_string();
        assert!(least < whole.len(), "{least} {}", whole.len());
        // 7 rows of `vN = N` and `x = 2`: the markup and the text.
        let text: usize = f.hunks[0].lines.iter().map(|l| l.text.len() - 1).sum();
        assert_eq!(least, 8 * ROW_AT_LEAST + text);
        assert_eq!(
            text_html_at_least(b"a<&>\"'b\r\n"),
            1 + 4 + 5 + 4 + 6 + 5 + 1
        );
        let cache = ColourCache::default();
        assert!(table_capped(f, &store, &fetch, least - 1, Some(&cache)).is_none());
        assert_eq!(
            (cache.len(), cache.is_empty()),
            (0, true),
            "nothing was coloured"
        );
        // Over the bound but under the table: coloured, then refused.
        assert!(table_capped(f, &store, &fetch, least, Some(&cache)).is_none());
        assert_eq!((cache.len(), cache.is_empty()), (1, false));
        // A gap: the same.
        let g = gap(f, &store, 1).unwrap();
        let cache = ColourCache::default();
        assert_eq!(
            gap_capped(f, &store, 1, 12 * ROW_AT_LEAST, Some(&cache)),
            Err(GapError::TooLarge)
        );
        assert_eq!(cache.len(), 0);
        assert_eq!(gap_capped(f, &store, 1, g.len(), Some(&cache)), Ok(g));
    }

    #[test]
    fn a_cancelled_page_renders_no_more_files() {
        let (_d, store, diff) = two_files();
        let asked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = asked.clone();
        let opts = Options {
            cancel: crate::html::Cancel::new(move || {
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                true
            }),
            ..Options::default()
        };
        let page = render(&store, &diff, &opts);
        assert!(!page.contains("<table"), "{page}");
        assert!(!page.contains("cdv-file"));
        assert!(asked.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    }

    #[test]
    fn kept_colourings_serve_every_gap_alike() {
        let (_d, store, diff) = two_files();
        let f = &diff.files[0];
        let cache = ColourCache::default();
        let fetch = Context::Fetch {
            url: "/c?file=0".into(),
        };
        let t = table_capped(f, &store, &fetch, usize::MAX, Some(&cache)).unwrap();
        assert_eq!(t.into_string(), table(f, &store, &fetch).into_string());
        assert_eq!(cache.len(), 1);
        {
            let kept = cache.kept.lock().unwrap();
            assert_eq!(kept[0].upto, (18, 18), "to the last hunk");
        }
        // The gap above the hunk is within it; the one below colours the file to its end once.
        for gi in [0, 1, 1, 0] {
            assert_eq!(
                gap_capped(f, &store, gi, usize::MAX, Some(&cache)).unwrap(),
                gap(f, &store, gi).unwrap()
            );
            assert_eq!(cache.len(), 1);
        }
        assert_eq!(cache.kept.lock().unwrap()[0].upto, (usize::MAX, usize::MAX));
        // The other file is kept beside it; at most ENTRIES files are.
        gap_capped(&diff.files[1], &store, 0, usize::MAX, Some(&cache)).unwrap();
        assert_eq!(cache.len(), 2);
        let files: Vec<(String, String)> = (0..ColourCache::ENTRIES + 2)
            .map(|i| (format!("m{i}.py"), format!("a = {i}\nb = 2\n")))
            .collect();
        let (_d2, store2, many) = compared([
            files.iter().map(|(p, t)| (p.as_str(), t.clone())).collect(),
            files
                .iter()
                .map(|(p, t)| (p.as_str(), t.replace("b = 2", "b = 3")))
                .collect(),
        ]);
        for f in &many.files {
            table_capped(f, &store2, &fetch, usize::MAX, Some(&cache)).unwrap();
        }
        assert_eq!(cache.len(), ColourCache::ENTRIES);
    }
}
