//! The store's pages other than compare: artifacts, an artifact's versions as a timeline, a
//! version's files, a file, a file's history, a blame, runs and one run. Each returns the page
//! body; links are to `codever ui`'s routes (see [`crate::ui`]), built with [`link`].

use std::ops::Range;

use maud::{Markup, PreEscaped, html};
use serde_json::Value;

use super::highlight::{self, Shown};
use crate::compare::{BlameLine, LogEntry};
use crate::diff::ChangeCounts;
use crate::history::{History, Version};
use crate::run::RunView;
use crate::tree::ManifestEntry;
use crate::view;

/// The spec that names version `v` of `h` in links: `TYPE/NAME:vN`, or `TYPE/NAME@ID` (12 hex
/// digits) when it has no number or is forgotten (so that the link still finds it).
pub fn spec_of(h: &History, v: &Version) -> String {
    match v.number {
        Some(n) if v.forgotten.is_none() && !h.is_hidden() => format!("{}:v{n}", h.key),
        _ => format!("{}@{}", h.key, &v.tree.to_hex()[..12]),
    }
}

/// Links to the server's routes.
pub mod link {
    use crate::html::{pct_encode, pct_encode_query};

    /// An artifact's versions.
    pub fn artifact(key: &crate::ArtifactKey) -> String {
        format!("/artifact/{}", pct_encode(&key.to_string()))
    }
    /// A version's files.
    pub fn version(spec: &str) -> String {
        format!("/version/{}", pct_encode_query(spec))
    }
    /// A file of a version (`page` is `file`, `raw`, `history` or `blame`).
    pub fn file(page: &str, spec: &str, path: &str) -> String {
        format!(
            "/{page}?spec={}&path={}",
            pct_encode_query(spec),
            pct_encode_query(path)
        )
    }
    /// Two versions compared, optionally at one file.
    pub fn compare(left: &str, right: &str, path: Option<&str>) -> String {
        let mut s = format!(
            "/compare/{}...{}",
            pct_encode_query(left),
            pct_encode_query(right)
        );
        if let Some(p) = path {
            s.push('#');
            s.push_str(&pct_encode(p));
        }
        s
    }
    /// Two runs compared.
    pub fn compare_runs(left: &str, right: &str) -> String {
        format!(
            "/compare-runs/{}...{}",
            pct_encode_query(left),
            pct_encode_query(right)
        )
    }
    /// A run.
    pub fn run(id: &str) -> String {
        format!("/run/{}", pct_encode_query(id))
    }
}

/// The navigation bar of every page.
pub fn nav() -> Markup {
    html! { a href="/" { "Artifacts" } a href="/runs" { "Runs" } }
}

fn counts(c: Option<&ChangeCounts>) -> Markup {
    html! {
        @match c {
            Some(c) => span.cdv-counts {
                span.cdv-plus { "+" (c.added) } " ~" (c.modified) " " span.cdv-minus { "−" (c.deleted) }
            },
            None => span.cdv-muted { "?" },
        }
    }
}

fn short(id: &crate::ObjectId) -> String {
    id.to_hex()[..12].to_string()
}

/// Long lists (a version's files, an artifact's versions, the runs) are shown a page at a time:
/// at most this many bytes of rows a page (the compare page's budget,
/// [`super::compare::MAX_PAGE_HTML`]).
pub const MAX_LIST_HTML: usize = super::compare::MAX_PAGE_HTML;
/// The most files of a version one page lists (as a compare page).
pub const LIST_FILES: usize = super::compare::MAX_PAGE_FILES;
/// The most versions, or runs, one page lists.
pub const LIST_ROWS: usize = 500;

/// Where a page of a long list starts, and where its links to the other pages go.
#[derive(Clone, Debug)]
pub struct Paging<'a> {
    /// The page's URL without its query: the links add `?from=N`.
    pub base: &'a str,
    /// The first row (0-based) this page shows.
    pub first: usize,
    /// The most rows a page shows.
    pub rows: usize,
    /// The most bytes of rows a page makes ([`MAX_LIST_HTML`]).
    pub bytes: usize,
}

impl Paging<'_> {
    /// Rows `first..` of `total`, each made by `row` (its index), until [`Paging::rows`] of them
    /// or [`Paging::bytes`] of HTML (the first always): the rows and which they are.
    fn rows(&self, total: usize, row: impl Fn(usize) -> Markup) -> (String, Range<usize>) {
        let first = self.first;
        let mut out = String::new();
        let mut end = first;
        while end < total && end - first < self.rows {
            let r = row(end).into_string();
            if end > first && out.len() + r.len() > self.bytes {
                break;
            }
            out.push_str(&r);
            end += 1;
        }
        (out, first..end)
    }

    /// The note above and below a list longer than its page: which rows this page shows, links
    /// to the previous and next pages. Nothing when the page shows them all.
    fn note(&self, what: &str, shown: &Range<usize>, total: usize) -> Markup {
        let num = super::compare::thousands;
        // A base that has a query already (a file's page: `?spec=…&path=…`) takes `&from=`.
        let sep = if self.base.contains('?') { '&' } else { '?' };
        let page = |from: usize| format!("{}{sep}from={from}", self.base);
        html! {
            @if shown.len() < total {
                p.cdv-note.cdv-more {
                    @if shown.is_empty() {
                        "There are " (num(total)) " " (what) ": none from number " (num(shown.start + 1)) "."
                    } @else {
                        "There are " (num(total)) " " (what) ": this page shows "
                        (num(shown.start + 1)) "–" (num(shown.end)) "."
                    }
                    @if shown.start > 0 {
                        " " a.cdv-prev href=(page(shown.start.saturating_sub(self.rows))) { "← previous" }
                    }
                    @if shown.end < total {
                        " " a.cdv-next href=(page(shown.end)) { "next →" }
                    }
                }
            }
        }
    }
}

/// The artifacts: type, name, versions, latest, the last run that logged it; a page at a time
/// (`paging`).
pub fn artifacts(histories: &[History], paging: &Paging) -> Markup {
    let (rows, shown) = paging.rows(histories.len(), |k| {
        let h = &histories[k];
        let last = h.versions.iter().flat_map(|v| &v.commits).max_by_key(|c| c.record.time_ns);
        html! {
            tr {
                td { (h.key.artifact_type) }
                td { a href=(link::artifact(&h.key)) { (h.key.name) } }
                td { (h.listed().count()) }
                td {
                    @match h.latest() {
                        Some(v) => a href=(link::version(&spec_of(h, v))) { (view::number(v.number)) },
                        None => "—",
                    }
                }
                td {
                    @if let Some(c) = last {
                        a href=(link::run(&c.record.run)) { (c.record.run) }
                        " " span.cdv-muted { (view::time(c.record.time_ns)) }
                    }
                }
            }
        }
    });
    let note = paging.note("artifacts", &shown, histories.len());
    html! {
        div.cdv {
            h1 { "Artifacts" }
            @if histories.is_empty() { p.cdv-muted { "No artifacts yet." } } @else {
                (note)
                table.cdv-list.cdv-artifacts {
                    thead { tr { th { "type" } th { "name" } th { "versions" } th { "latest" } th { "last run" } } }
                    (PreEscaped(rows))
                }
                (note)
            }
        }
    }
}

/// An artifact's versions, oldest first, as a timeline: number, id, aliases, time, runs, file
/// changes against the previous version, message; any two of a page can be picked to compare.
/// A page at a time (`paging`; the server starts at the newest page).
pub fn versions(h: &History, changes: &[Option<ChangeCounts>], paging: &Paging) -> Markup {
    let listed: Vec<&Version> = h
        .versions
        .iter()
        .filter(|v| v.forgotten.is_none())
        .collect();
    let (rows, shown) = paging.rows(listed.len(), |k| {
        let v = listed[k];
        let spec = spec_of(h, v);
        let prev = h.versions[..v.index].iter().rev().find(|p| p.forgotten.is_none());
        html! {
            tr data-spec=(spec) {
                td { input.cdv-pick type="checkbox" data-spec=(spec) aria-label={ "pick " (spec) }; }
                td { a href=(link::version(&spec)) { (view::number(v.number)) } }
                td.cdv-mono { (short(&v.tree)) }
                td { (Shown(&view::aliases(h, v).join(", "))) }
                td { (view::time(v.created_ns())) }
                td { @for (i, r) in v.runs().into_iter().enumerate() { @if i > 0 { ", " } a href=(link::run(r)) { (r) } } }
                td { (counts(changes.get(v.index).and_then(Option::as_ref))) }
                td { (Shown(&v.first().record.message)) }
                td { @if let Some(p) = prev { a.cdv-prev href=(link::compare(&spec_of(h, p), &spec, None)) { "diff" } } }
            }
        }
    });
    let note = paging.note("versions", &shown, listed.len());
    html! {
        div.cdv {
            h1 { (h.key.to_string()) }
            @if !h.is_complete() { p.cdv-note { "Some records of this artifact cannot be read yet: version numbers are withheld." } }
            (note)
            div.cdv-picker data-base="/compare/" {
                p { "Pick two versions to compare: " button.cdv-go type="button" disabled { "Compare" } }
                table.cdv-list.cdv-versions {
                    thead { tr { th {} th { "version" } th { "id" } th { "aliases" } th { "created" } th { "runs" } th { "files" } th { "message" } th {} } }
                    (PreEscaped(rows))
                }
            }
            (note)
        }
    }
}

/// What a version's listing knows of a file's content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// Text (or not looked at): every link.
    Text,
    /// Binary: no blame.
    Binary,
    /// Larger than the web view shows: no blame, marked.
    Large,
}

/// A version's files, with links to each file's view, raw bytes, history and blame (`kinds[k]`
/// of `files[paging.first + k]`: no blame for binary and large files), a page at a time.
pub fn version_files(
    h: &History,
    v: &Version,
    files: &[ManifestEntry],
    kinds: &[FileKind],
    paging: &Paging,
) -> Markup {
    let spec = spec_of(h, v);
    let (rows, shown) = paging.rows(files.len(), |i| {
        let e = &files[i];
        let kind = kinds
            .get(i - paging.first)
            .copied()
            .unwrap_or(FileKind::Text);
        html! {
            tr {
                td.cdv-mono {
                    a href=(link::file("file", &spec, &e.path)) { (Shown(&e.path)) }
                    @if e.meta.executable { " " span.cdv-muted { "(executable)" } }
                    @if kind == FileKind::Binary { " " span.cdv-muted { "(binary)" } }
                    @if kind == FileKind::Large { " " span.cdv-muted { "(too large to view here)" } }
                }
                td { (e.meta.size) }
                td {
                    a href=(link::file("raw", &spec, &e.path)) { "raw" } " · " a href=(link::file("history", &spec, &e.path)) { "history" }
                    @if kind == FileKind::Text { " · " a href=(link::file("blame", &spec, &e.path)) { "blame" } }
                }
            }
        }
    });
    let note = paging.note("files", &shown, files.len());
    html! {
        div.cdv {
            h1 { a href=(link::artifact(&h.key)) { (h.key.to_string()) } " " (view::number(v.number)) }
            p.cdv-muted {
                "id " code { (v.tree.to_hex()) } br;
                "created " (view::time(v.created_ns())) " · runs "
                @for (i, r) in v.runs().into_iter().enumerate() { @if i > 0 { ", " } a href=(link::run(r)) { (r) } }
                @let al = view::aliases(h, v);
                @if !al.is_empty() { " · aliases " (Shown(&al.join(", "))) }
            }
            @if !v.first().record.message.is_empty() { p { (Shown(&v.first().record.message)) } }
            (note)
            table.cdv-list.cdv-files {
                thead { tr { th { "path" } th { "size" } th {} } }
                (PreEscaped(rows))
            }
            (note)
        }
    }
}

fn file_title(h: &History, v: &Version, path: &str, what: &str) -> Markup {
    let spec = spec_of(h, v);
    html! {
        h1.cdv-mono { a href=(link::version(&spec)) { (h.key.to_string()) ":" (view::number(v.number)) } " / " (Shown(path)) }
        p {
            @for (page, label) in [("file", "view"), ("raw", "raw"), ("history", "history"), ("blame", "blame")] {
                @if page == what { strong { (label) } } @else { a href=(link::file(page, &spec, path)) { (label) } }
                " "
            }
        }
    }
}

/// A file or blame of more lines than this is shown uncoloured (colouring costs about 0.1 ms a
/// line; escaping alone is ~100 times cheaper).
pub const COLOUR_LINES: usize = 20_000;
/// The most lines one page of a file or its blame shows (`?from=N` for the others): a
/// 200,000-line file's blame made 51 MB of HTML, which took a browser over a minute and a half.
pub const FILE_LINES: usize = 10_000;

/// The lines of a file (coloured when it has at most [`COLOUR_LINES`]), as HTML, one a line.
fn coloured(path: &str, lines: &[&[u8]]) -> Vec<String> {
    let lang = highlight::language(path, lines.first().copied().unwrap_or_default())
        .filter(|_| lines.len() <= COLOUR_LINES);
    highlight::lines(lang, lines, &[])
}

/// A file of a version, coloured, with line numbers, a page of lines at a time (`paging`;
/// binary files are not shown).
pub fn file(h: &History, v: &Version, path: &str, content: &[u8], paging: &Paging) -> Markup {
    let body = if crate::diff::is_binary(content) {
        html! { p.cdv-note { "Binary file not shown (" (content.len()) " bytes)." } }
    } else {
        let lines = crate::diff::split_lines(content);
        let html_lines = coloured(path, &lines);
        let (rows, shown) = paging.rows(lines.len(), |i| {
            html! { tr { td.cdv-n data-n=(i + 1) {} td.cdv-code { (PreEscaped(&html_lines[i])) } } }
        });
        let note = paging.note("lines", &shown, lines.len());
        html! {
            @if highlight::has_bidi(content) { (bidi_warning()) }
            (note)
            table.cdv-src { tbody { (PreEscaped(rows)) } }
            (note)
        }
    };
    html! { div.cdv { (file_title(h, v, path, "file")) (body) } }
}

/// A file larger than `limit`, the most a page (`what`: `file`, `blame`) or a download (`raw`)
/// of the web view takes: why, and the ways to get it.
/// `raw_ok`: the raw download would work.
pub fn too_large(
    h: &History,
    v: &Version,
    path: &str,
    what: &str,
    (size, limit): (u64, u64),
    raw_ok: bool,
) -> Markup {
    let spec = spec_of(h, v);
    html! {
        div.cdv {
            (file_title(h, v, path, what))
            div.cdv-note.cdv-too-large {
                p {
                    "This file is " (size) " bytes, more than the web view "
                    @if what == "raw" { "sends" } @else { "shows" }
                    " (" (limit) " bytes)."
                }
                p {
                    @if raw_ok { a href=(link::file("raw", &spec, path)) { "Download it" } " or, in a terminal: " }
                    @else { "In a terminal: " }
                    code { "codever cat " (Shown(&spec)) " " (Shown(path)) }
                }
            }
        }
    }
}

/// The versions where a file changed, newest first (following renames), each linking to its
/// compare with the version before.
pub fn history(h: &History, index: usize, path: &str, entries: &[LogEntry]) -> Markup {
    let v = &h.versions[index];
    html! {
        div.cdv {
            (file_title(h, v, path, "history"))
            table.cdv-list.cdv-history {
                thead { tr { th { "version" } th { "change" } th { "path" } th { "created" } th { "runs" } th { "message" } } }
                @for e in entries {
                    @let ver = &h.versions[e.version];
                    @let spec = spec_of(h, ver);
                    tr {
                        td { a href=(link::version(&spec)) { (view::number(ver.number)) } }
                        td {
                            @if let Some(f) = e.diff.files.first() {
                                @let prev = h.versions[..e.version].iter().rev().find(|p| p.forgotten.is_none());
                                @match prev {
                                    Some(p) => a href=(link::compare(&spec_of(h, p), &spec, Some(f.path()))) { (super::compare::status_label(f)) },
                                    None => (super::compare::status_label(f)),
                                }
                                " " span.cdv-plus { "+" (f.additions) } " " span.cdv-minus { "−" (f.deletions) }
                            }
                        }
                        td.cdv-mono { @if let Some(f) = e.diff.files.first() { a href=(link::file("file", &spec, f.path())) { (Shown(f.path())) } } }
                        td { (view::time(ver.created_ns())) }
                        td { @for (i, r) in ver.runs().into_iter().enumerate() { @if i > 0 { ", " } a href=(link::run(r)) { (r) } } }
                        td { (Shown(&ver.first().record.message)) }
                    }
                }
            }
        }
    }
}

/// Each line of a file with the version and the run that introduced it (shown on the first line
/// of each run of lines from one version).
pub fn blame(
    h: &History,
    index: usize,
    path: &str,
    lines: &[BlameLine],
    paging: &Paging,
) -> Markup {
    let v = &h.versions[index];
    let texts: Vec<&[u8]> = lines.iter().map(|l| l.text.as_slice()).collect();
    let html_lines = coloured(path, &texts);
    let (rows, shown) = paging.rows(lines.len(), |i| {
        let l = &lines[i];
        let origin = &h.versions[l.version];
        // The version and run at the first line of each run of lines, and of the page.
        let first = i == paging.first || lines[i - 1].version != l.version;
        let run = &origin.first().record.run;
        html! {
            tr.cdv-bl data-version=(view::number(origin.number)) data-run=(run) {
                td.cdv-blame-v.cdv-first[first] {
                    @if first {
                        a.cdv-bv href=(link::version(&spec_of(h, origin))) { (view::number(origin.number)) }
                        " "
                        a.cdv-br href=(link::run(run)) { (run) }
                    }
                }
                td.cdv-n data-n=(l.line) {}
                td.cdv-code { (PreEscaped(&html_lines[i])) }
            }
        }
    });
    let note = paging.note("lines", &shown, lines.len());
    html! {
        div.cdv {
            (file_title(h, v, path, "blame"))
            @if texts.iter().any(|t| highlight::has_bidi(t)) { (bidi_warning()) }
            (note)
            table.cdv-src.cdv-blame { tbody { (PreEscaped(rows)) } }
            (note)
        }
    }
}

fn json_cell(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        v => v.to_string(),
    }
}

fn artifacts_cell(r: &RunView) -> Markup {
    html! {
        @for (i, a) in r.artifacts.iter().enumerate() {
            @if i > 0 { br; }
            a href=(link::artifact(&a.key)) { (a.key.to_string()) } ":" (view::number(a.version))
            @if a.new { " " span.cdv-muted { "(new)" } }
        }
    }
}

/// The runs, newest first (`runs` in that order), a page at a time: time, host, git commit and
/// dirty flag, what it logged; any two of a page can be picked to compare.
pub fn runs(runs: &[RunView], paging: &Paging) -> Markup {
    let (rows, shown) = paging.rows(runs.len(), |k| {
        let r = &runs[k];
        let row = serde_json::to_value(view::RunRow::new(r)).unwrap_or(Value::Null);
        html! {
            tr data-run=(r.id) {
                td { input.cdv-pick type="checkbox" data-spec=(r.id) aria-label={ "pick " (r.id) }; }
                td { a href=(link::run(&r.id)) { (r.id) } }
                td { (view::time(r.start_ns())) }
                td { (Shown(row["host"].as_str().unwrap_or_default())) }
                td.cdv-mono { (Shown(&git_cell(&row))) }
                td { @for (i, (k, v)) in r.state.summary.iter().filter(|(k, _)| !k.starts_with('_')).take(4).enumerate() { @if i > 0 { ", " } (Shown(k)) "=" (Shown(&json_cell(v))) } }
                td { (artifacts_cell(r)) }
            }
        }
    });
    let note = paging.note("runs", &shown, runs.len());
    html! {
        div.cdv {
            h1 { "Runs" }
            (note)
            div.cdv-picker data-base="/compare-runs/" data-newest-first {
                p { "Pick two runs to compare: " button.cdv-go type="button" disabled { "Compare" } }
                table.cdv-list.cdv-runs {
                    thead { tr { th {} th { "run" } th { "time" } th { "host" } th { "git" } th { "summary" } th { "logged" } } }
                    (PreEscaped(rows))
                }
            }
            (note)
        }
    }
}

fn git_cell(row: &Value) -> String {
    match row["git_commit"].as_str() {
        Some(c) => {
            let dirty = if row["git_dirty"] == Value::Bool(true) {
                " (dirty)"
            } else {
                ""
            };
            // A store's text is untrusted: cut at a character, never inside one.
            format!("{}{dirty}", c.chars().take(10).collect::<String>())
        }
        None => String::new(),
    }
}

/// One run: where and when, config, summary, what it logged and used.
pub fn run(r: &RunView) -> Markup {
    let row = serde_json::to_value(view::RunRow::new(r)).unwrap_or(Value::Null);
    let fields = [
        "time",
        "host",
        "user",
        "cwd",
        "project",
        "name",
        "job_type",
        "group",
        "notes",
        "steps",
        "finished",
        "exit_code",
    ];
    html! {
        div.cdv {
            h1 { "Run " (r.id) }
            table.cdv-kv.cdv-run {
                @for k in fields {
                    @if !row[k].is_null() { tr { th { (k) } td { (Shown(&json_cell(&row[k]))) } } }
                }
                tr { th { "git" } td.cdv-mono { (Shown(&git_cell(&row))) } }
            }
            @for what in ["config", "summary"] {
                @if let Some(m) = row[what].as_object().filter(|m| !m.is_empty()) {
                    h2 { (what) }
                    table.cdv-kv { @for (k, v) in m { tr { th { (Shown(k)) } td.cdv-mono { (Shown(&json_cell(v))) } } } }
                }
            }
            h2 { "Logged" }
            table.cdv-list.cdv-logged {
                @for a in &r.artifacts {
                    @let spec = format!("{}@{}", a.key, &a.tree.to_hex()[..12]);
                    tr {
                        td { a href=(link::artifact(&a.key)) { (a.key.to_string()) } }
                        td { a href=(link::version(&spec)) { (view::number(a.version)) } }
                        td { @if a.new { "new" } @else { "unchanged (linked)" } }
                        td { (Shown(&a.message)) }
                    }
                }
            }
            @if !r.used.is_empty() {
                h2 { "Used" }
                table.cdv-list.cdv-used {
                    @for u in &r.used {
                        @let spec = format!("{}@{}", u.key, &u.tree.to_hex()[..12]);
                        tr { td { (u.key.to_string()) } td { a href=(link::version(&spec)) { (view::number(u.version)) } } }
                    }
                }
            }
        }
    }
}

/// The warning over a file that holds bidirectional control characters (as GitHub shows it).
pub fn bidi_warning() -> Markup {
    html! {
        div.cdv-warn.cdv-bidi-warn role="note" {
            strong { "This file contains bidirectional Unicode text" }
            " that may be interpreted or compiled differently than what appears here: the \
             characters that reorder text are shown as marked "
            span.cdv-bidi { "U+…" }
            " tokens instead of being obeyed."
        }
    }
}

/// An error page's body.
pub fn error(message: &str, hint: Option<&str>) -> Markup {
    error_titled("Not found", message, hint)
}

/// An error page's body under another title.
pub fn error_titled(title: &str, message: &str, hint: Option<&str>) -> Markup {
    html! {
        div.cdv {
            h1 { (Shown(title)) }
            p.cdv-error { (Shown(message)) }
            @if let Some(h) = hint { p.cdv-muted { "hint: " (Shown(h)) } }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ArtifactKey, CommitOptions, Snapshot, Store, capture_run};

    /// Three versions of one artifact, each by its own run (r0, r1, r2).
    fn store_of_three() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::init(dir.path()).unwrap();
        let key = ArtifactKey::new("code", "x").unwrap();
        for rev in 0..3 {
            let mut s = Snapshot::default();
            for f in 0..3 {
                s.add_bytes(&format!("f{f}.txt"), format!("{rev}\n").into_bytes(), false)
                    .unwrap();
            }
            let run = capture_run(&format!("r{rev}"), dir.path()).unwrap();
            store
                .commit(&key, &s, &run, &CommitOptions::default())
                .unwrap();
        }
        (dir, store)
    }

    fn paging(first: usize, rows: usize, bytes: usize) -> Paging<'static> {
        Paging {
            base: "/p",
            first,
            rows,
            bytes,
        }
    }

    /// Versions, runs and a version's files are listed a page at a time, at most `rows` rows
    /// and `bytes` of them (one at least), with notes that say which and link the others.
    #[test]
    fn long_lists_are_shown_a_page_at_a_time() {
        let (_d, store) = store_of_three();
        let h = store
            .artifact_histories()
            .unwrap()
            .into_iter()
            .next()
            .unwrap();
        let changes = store.version_changes(&h);
        let page = versions(&h, &changes, &paging(1, 2, MAX_LIST_HTML)).into_string();
        assert_eq!(page.matches("<tr data-spec=").count(), 2);
        assert!(page.contains("<tr data-spec=\"code/x:v1\">"));
        assert!(page.contains("<tr data-spec=\"code/x:v2\">"));
        let note = "<p class=\"cdv-note cdv-more\">There are 3 versions: this page shows 2–3. \
                    <a class=\"cdv-prev\" href=\"/p?from=0\">← previous</a></p>";
        assert_eq!(page.matches(note).count(), 2, "{page}");
        let all = versions(&h, &changes, &paging(0, 500, MAX_LIST_HTML)).into_string();
        assert!(!all.contains("cdv-more"), "all on one page: no note");
        let one_row = all[all.find("<tr data-spec=").unwrap()..]
            .find("</tr>")
            .unwrap();
        let page = versions(&h, &changes, &paging(0, 500, one_row + 10)).into_string();
        assert_eq!(page.matches("<tr data-spec=").count(), 1, "the bytes cap");
        assert!(
            page.contains(
                "this page shows 1–1. <a class=\"cdv-next\" href=\"/p?from=1\">next →</a>"
            )
        );
        let page = versions(&h, &changes, &paging(0, 500, 0)).into_string();
        assert_eq!(
            page.matches("<tr data-spec=").count(),
            1,
            "one row at least"
        );
        let page = versions(&h, &changes, &paging(7, 500, MAX_LIST_HTML)).into_string();
        assert!(page.contains("There are 3 versions: none from number 8."));

        let mut rs = store.runs().unwrap();
        rs.sort_by_key(|r| std::cmp::Reverse(r.start_ns()));
        let hs = store.artifact_histories().unwrap();
        let page = artifacts(&hs, &paging(0, 500, MAX_LIST_HTML)).into_string();
        assert_eq!(page.matches("<td>code</td>").count(), 1);
        assert!(!page.contains("cdv-more"), "all on one page: no note");
        let three = [hs[0].clone(), hs[0].clone(), hs[0].clone()];
        let page = artifacts(&three, &paging(1, 2, MAX_LIST_HTML)).into_string();
        assert_eq!(page.matches("<td>code</td>").count(), 2);
        let note = "<p class=\"cdv-note cdv-more\">There are 3 artifacts: this page shows 2–3. \
                    <a class=\"cdv-prev\" href=\"/p?from=0\">← previous</a></p>";
        assert_eq!(page.matches(note).count(), 2, "above and below: {page}");
        let page = artifacts(&hs, &paging(1, 500, MAX_LIST_HTML)).into_string();
        assert_eq!(page.matches("<td>code</td>").count(), 0);
        assert!(page.contains(
            "There are 1 artifacts: none from number 2. <a class=\"cdv-prev\" href=\"/p?from=0\">← previous</a>"
        ), "{page}");

        let page = runs(&rs, &paging(0, 2, MAX_LIST_HTML)).into_string();
        assert_eq!(page.matches("<tr data-run=").count(), 2);
        assert!(page.contains(
            "There are 3 runs: this page shows 1–2. <a class=\"cdv-next\" href=\"/p?from=2\">next →</a>"
        ));

        let v = h.versions.last().unwrap();
        let files = crate::tree::flatten(&store, &v.tree).unwrap();
        let page = version_files(
            &h,
            v,
            &files,
            &[FileKind::Binary],
            &paging(2, 2, MAX_LIST_HTML),
        )
        .into_string();
        assert_eq!(page.matches("<tr><td class=\"cdv-mono\">").count(), 1);
        assert!(
            page.contains(">f2.txt</a> <span class=\"cdv-muted\">(binary)</span>"),
            "{page}"
        );
        assert!(page.contains("There are 3 files: this page shows 3–3."));
    }
}
