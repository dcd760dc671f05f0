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

use super::highlight::{self, Lang, Shown};
use super::pct_encode;
use crate::compare::RunsDiff;
use crate::diff::render::{hunk_header, word_emphasis};
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
    /// The unchanged lines (behind the expand buttons) of the first this many files are
    /// coloured; those of later files are plain text, so that a compare of hundreds of files
    /// stays quick to make (colouring costs about 0.1 ms a line).
    pub colour_context_files: usize,
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
}

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
            colour_context_files: 30,
            fetch_context: false,
            max_file_lines: 20_000,
            max_page_lines: 100_000,
            raw_links: None,
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
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
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
pub fn body(c: &Compare, source: &dyn Source, opts: &Options) -> Markup {
    let d = c.diff;
    // The page's budget of rendered lines, file by file in order; a file the page fetches
    // later (the server) costs it nothing.
    let mut spent = 0;
    let over_budget: Vec<bool> = d
        .files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let n = diff_lines(f);
            if too_large(f, opts) || fetched_later(i, f, opts) {
                return false;
            }
            spent += n;
            spent > opts.max_page_lines
        })
        .collect();
    let command = command(c);
    // Files are made in parallel: colouring is most of the work.
    let files: Vec<Markup> = d
        .files
        .par_iter()
        .enumerate()
        .map(|(i, f)| {
            if too_large(f, opts) || over_budget[i] {
                skipped(i, f, opts, &command, over_budget[i])
            } else {
                file(i, f, source, opts)
            }
        })
        .collect();
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
                ul.cdv-tree {
                    @for f in &d.files {
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
                @for f in &files {
                    (f)
                }
            }
        }
    }
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
    if c.runs.is_some() {
        format!("codever diff --runs {} {}", c.left, c.right)
    } else if c.right == ON_DISK {
        format!("codever diff {}", c.left)
    } else {
        format!("codever diff {} {}", c.left, c.right)
    }
}

/// A file not rendered: its header, and why, with the command and the raw files that show it.
fn skipped(i: usize, f: &FileDiff, opts: &Options, command: &str, budget: bool) -> Markup {
    let lines = diff_lines(f);
    html! {
        div.cdv-file id={ "file-" (i) } data-path=(f.path()) data-status=(status_word(f.status)) {
            (file_header(f))
            div.cdv-fb {
                div.cdv-note.cdv-too-large {
                    @if budget {
                        "This page already shows " (opts.max_page_lines) " lines: this file's diff ("
                        (plural(lines, "line", "lines")) ") is not shown here."
                    } @else {
                        "This diff is too large to show here (" (plural(lines, "line", "lines")) ")."
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

/// One file's header and diff.
pub fn file(i: usize, f: &FileDiff, source: &dyn Source, opts: &Options) -> Markup {
    let lines = diff_lines(f);
    let large = lines > opts.large_lines;
    let inline = if opts.fetch_context {
        Context::Fetch {
            url: format!("{}?file={i}", opts.fragment_base),
        }
    } else {
        Context::Inline {
            colour: i < opts.colour_context_files,
        }
    };
    // A server page leaves large files out too: they are rendered only when asked for.
    let lazy = fetched_later(i, f, opts);
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
                    div.cdv-lazy data-src={ (opts.fragment_base) "?file=" (i) } data-large[large] {
                        button.cdv-load type="button" { "Load diff (" (plural(lines, "line", "lines")) ")" }
                    }
                } @else if large {
                    button.cdv-load type="button" { "Load diff (" (plural(lines, "line", "lines")) ")" }
                    template.cdv-defer { (table(f, source, &inline)) }
                } @else {
                    (table(f, source, &inline))
                }
            }
        }
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
    let lang = highlight::language(f.path(), first_line(f));
    let old = if f.status == Status::Added {
        None
    } else {
        source.old_text(f)
    };
    let old_lines: Option<Vec<&[u8]>> = old.as_deref().map(split_lines);
    let gaps = old_lines
        .as_deref()
        .map(|ol| gaps(f, ol))
        .unwrap_or_default();
    let mut rows = String::new();
    for (gi, h) in f.hunks.iter().enumerate() {
        let gap = gaps.iter().find(|g| g.0 == gi);
        write_hunk_header(&mut rows, h, gi, gap.map(|g| g.1.len()));
        if let (Some((_, range, delta)), Some(ol), Context::Inline { colour }) =
            (gap, &old_lines, context)
        {
            write_gap(
                &mut rows,
                gi,
                ol,
                range.clone(),
                *delta,
                lang.filter(|_| *colour),
            );
        }
        write_hunk(&mut rows, h, lang);
    }
    if let Some((gi, range, delta)) = gaps.iter().find(|g| g.0 == f.hunks.len()) {
        let _ = write!(
            rows,
            "<tr class=\"cdv-h cdv-tail\" data-gap=\"{gi}\"><td class=\"cdv-xb\" colspan=\"2\">{}</td><td class=\"cdv-hh\"></td></tr>",
            expand_buttons(range.len())
        );
        if let (Some(ol), Context::Inline { colour }) = (&old_lines, context) {
            write_gap(
                &mut rows,
                *gi,
                ol,
                range.clone(),
                *delta,
                lang.filter(|_| *colour),
            );
        }
    }
    let fetch = match context {
        Context::Fetch { url } => Some(url.as_str()),
        Context::Inline { .. } => None,
    };
    html! {
        table.cdv-t.cdv-u data-gaps=[fetch] {
            colgroup { col.cdv-cn; col.cdv-cn; col; }
            tbody { (PreEscaped(rows)) }
        }
    }
}

/// Where a file's unchanged lines come from when a reader expands them.
#[derive(Clone, Debug)]
pub enum Context {
    /// In the page, coloured or not.
    Inline {
        /// Whether the lines are coloured.
        colour: bool,
    },
    /// Fetched from `URL&gap=G` when expanded (the server): the page carries only the buttons.
    Fetch {
        /// The file's URL (`…?file=N`).
        url: String,
    },
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
    let old = source.old_text(f)?;
    let ol = split_lines(&old);
    let (_, range, delta) = gaps(f, &ol).into_iter().find(|g| g.0 == gi)?;
    let lang = highlight::language(f.path(), ol.first().copied().unwrap_or_default());
    let mut out = String::new();
    write_gap(&mut out, gi, &ol, range, delta, lang);
    Some(out)
}

fn first_line(f: &FileDiff) -> &[u8] {
    f.hunks
        .first()
        .filter(|h| h.old_start <= 1 || h.new_start <= 1)
        .and_then(|h| h.lines.first())
        .map_or(&[], |l| l.text.as_slice())
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

fn write_gap(
    out: &mut String,
    gi: usize,
    old: &[&[u8]],
    gap: Range<usize>,
    delta: isize,
    lang: Option<Lang>,
) {
    let Some(lines) = old.get(gap.start - 1..gap.end - 1) else {
        return;
    };
    let html = highlight::lines(lang, lines, &[]);
    let _ = write!(out, "<template class=\"cdv-g\" data-gap=\"{gi}\">");
    for (k, code) in html.iter().enumerate() {
        let o = gap.start + k;
        let n = (o as isize + delta).max(0);
        let _ = write!(
            out,
            "<tr class=\"cdv-l cdv-c\"><td class=\"cdv-n\" data-n=\"{o}\"></td><td class=\"cdv-n\" data-n=\"{n}\"></td><td class=\"cdv-code\">{code}</td></tr>"
        );
    }
    out.push_str("</template>");
}

fn write_hunk(out: &mut String, h: &Hunk, lang: Option<Lang>) {
    let emphasis = word_emphasis(h);
    // The old side (context and deleted lines) and the new side (context and added lines) are
    // coloured as two sequences, so a string opened on one side is closed on that side.
    let (mut old_idx, mut new_idx) = (Vec::new(), Vec::new());
    for (i, l) in h.lines.iter().enumerate() {
        if l.kind != LineKind::Added {
            old_idx.push(i);
        }
        if l.kind != LineKind::Deleted {
            new_idx.push(i);
        }
    }
    let mut html: Vec<String> = vec![String::new(); h.lines.len()];
    let side = |idx: &[usize]| {
        let texts: Vec<&[u8]> = idx.iter().map(|&i| h.lines[i].text.as_slice()).collect();
        let marks: Vec<Option<&[Range<usize>]>> =
            idx.iter().map(|&i| emphasis[i].as_deref()).collect();
        highlight::lines(lang, &texts, &marks)
    };
    // The two sides of a long hunk are coloured in parallel.
    let (old_html, new_html) = if h.lines.len() > 200 {
        rayon::join(|| side(&old_idx), || side(&new_idx))
    } else {
        (side(&old_idx), side(&new_idx))
    };
    for (k, s) in old_html.into_iter().enumerate() {
        if h.lines[old_idx[k]].kind == LineKind::Deleted {
            html[old_idx[k]] = s;
        }
    }
    for (k, s) in new_html.into_iter().enumerate() {
        html[new_idx[k]] = s;
    }
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
        let num = |x: Option<usize>| x.map(|v| format!(" data-n=\"{v}\"")).unwrap_or_default();
        let _ = write!(
            out,
            "<tr class=\"cdv-l {class}\"><td class=\"cdv-n\"{}></td><td class=\"cdv-n\"{}></td><td class=\"cdv-code\">{}{}</td></tr>",
            num(on),
            num(nn),
            html[i],
            if l.has_newline() {
                ""
            } else {
                "<span class=\"cdv-nonl\" title=\"No newline at end of file\">⊘</span>"
            }
        );
        if on.is_some() {
            o += 1;
        }
        if nn.is_some() {
            n += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ArtifactKey, CommitOptions, Snapshot, Store, capture_run};

    /// Two 30-line Python files whose line 15 changed, compared through a real store.
    fn two_files() -> (tempfile::TempDir, Store, TreeDiff) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::init(dir.path()).unwrap();
        let key = ArtifactKey::new("code", "x").unwrap();
        let mut trees = Vec::new();
        for rev in [0, 1] {
            let mut s = Snapshot::default();
            for name in ["a.py", "b.py"] {
                let text: String = (1..=30)
                    .map(|i| {
                        if i == 15 && rev == 1 {
                            "x = 2\n".to_string()
                        } else {
                            format!("v{i} = {i}\n")
                        }
                    })
                    .collect();
                s.add_bytes(name, text.into_bytes(), false).unwrap();
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
    fn unchanged_lines_of_later_files_are_plain() {
        let (_d, store, diff) = two_files();
        let opts = Options {
            colour_context_files: 1,
            ..Options::default()
        };
        let page = render(&store, &diff, &opts);
        let templates = |s: &str| -> String {
            s.split("<template class=\"cdv-g\"")
                .skip(1)
                .map(|t| t.split("</template>").next().unwrap().to_string())
                .collect()
        };
        assert!(templates(section(&page, 0)).contains("<span class=\"n\">1</span>"));
        let plain = templates(section(&page, 1));
        assert!(plain.contains("v1 = 1</td>"), "{plain}");
        assert!(!plain.contains("<span"));
        // Changed lines are coloured in every file.
        assert!(section(&page, 1).contains("<span class=\"n\">2</span></mark>"));
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
}
