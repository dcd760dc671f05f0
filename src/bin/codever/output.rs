//! Printing: checked standard output, JSON, errors and warnings on stderr, times, colour and the
//! progress bar, and the lines several commands print about incomplete artifacts.
//!
//! Standard output is locked, buffered, and every write checked, the final flush included. The
//! first write error is kept, later output is dropped, and `main` reports the error when the
//! command ends (exit 2): a full disk or `> /dev/full` never passes for success with truncated
//! output. A closed pipe (`codever log | head -1`) is not an error: the rest of the output is
//! dropped quietly and the command keeps its own exit code.

use std::borrow::Cow;
use std::cell::RefCell;
use std::io::{self, BufWriter, IsTerminal, StdoutLock, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use codever::{Error, History, Remedy, Result, Version, view};
use serde::Serialize;

#[derive(Default)]
struct Output {
    w: Option<Sink>,
    /// The pager to start at the first write (see [`page`]).
    pager: Option<String>,
    error: Option<io::Error>,
    closed: bool,
}

/// Where standard output goes: the terminal (or file, or pipe), or a pager's input.
enum Sink {
    Stdout(BufWriter<StdoutLock<'static>>),
    Pager(std::process::Child, BufWriter<std::process::ChildStdin>),
}

impl Sink {
    fn writer(&mut self) -> &mut dyn Write {
        match self {
            Sink::Stdout(w) => w,
            Sink::Pager(_, w) => w,
        }
    }

    /// Standard output, or `pager` when one is given and can be started.
    fn open(pager: Option<String>) -> Sink {
        if let Some(cmd) = pager
            && let Some((child, stdin)) = start_pager(&cmd)
        {
            return Sink::Pager(child, BufWriter::with_capacity(1 << 16, stdin));
        }
        Sink::Stdout(BufWriter::with_capacity(1 << 16, io::stdout().lock()))
    }
}

/// Starts `cmd` through the shell, as git does, with `LESS=FRX` (quit when the output fits on
/// one screen, keep colours, leave the screen as it is) unless `LESS` is set.
fn start_pager(cmd: &str) -> Option<(std::process::Child, std::process::ChildStdin)> {
    #[cfg(unix)]
    let mut c = {
        let mut c = std::process::Command::new("sh");
        c.arg("-c").arg(cmd);
        c
    };
    #[cfg(not(unix))]
    let mut c = std::process::Command::new(cmd);
    if std::env::var_os("LESS").is_none() {
        c.env("LESS", "FRX");
    }
    if std::env::var_os("LV").is_none() {
        c.env("LV", "-c");
    }
    let mut child = c.stdin(std::process::Stdio::piped()).spawn().ok()?;
    let stdin = child.stdin.take()?;
    Some((child, stdin))
}

/// The pager a long output goes through on a terminal: `$CODEVER_PAGER`, else `$PAGER`, else
/// `less`; none when that is empty or `cat`, or when standard output is not a terminal.
pub fn pager_for_terminal() -> Option<String> {
    if !io::stdout().is_terminal() {
        return None;
    }
    let cmd = ["CODEVER_PAGER", "PAGER"]
        .iter()
        .find_map(|v| std::env::var(v).ok())
        .unwrap_or_else(|| "less".to_string());
    let cmd = cmd.trim();
    (!cmd.is_empty() && cmd != "cat").then(|| cmd.to_string())
}

/// Sends what is printed from now on through `pager` (started at the first write; if it cannot
/// be started, output goes to standard output as usual).
pub fn page(pager: Option<String>) {
    OUTPUT.with_borrow_mut(|o| o.pager = pager);
}

impl Output {
    fn note(&mut self, e: io::Error) {
        if e.kind() == io::ErrorKind::BrokenPipe {
            self.closed = true;
        } else if self.error.is_none() {
            self.error = Some(e);
        }
    }
}

thread_local! {
    static OUTPUT: RefCell<Output> = RefCell::new(Output::default());
}

/// Writes `bytes` to stdout (see the module documentation for errors).
pub fn write(bytes: &[u8]) {
    OUTPUT.with_borrow_mut(|o| {
        if o.closed || o.error.is_some() {
            return;
        }
        let pager = o.pager.take();
        let w = o.w.get_or_insert_with(|| Sink::open(pager));
        if let Err(e) = w.writer().write_all(bytes) {
            o.note(e);
        }
    });
}

/// Flushes stdout (and waits for the pager to be quit); the first write error other than a
/// closed pipe, if any.
pub fn finish() -> io::Result<()> {
    OUTPUT.with_borrow_mut(|o| {
        if !o.closed
            && o.error.is_none()
            && let Some(w) = o.w.as_mut()
            && let Err(e) = w.writer().flush()
        {
            o.note(e);
        }
        if let Some(Sink::Pager(mut child, w)) = o.w.take() {
            // Closing its input tells the pager the output is complete.
            drop(w);
            let _ = child.wait();
        }
        match o.error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    })
}

/// [`write`] as an [`io::Write`], for serializers and blobs that stream.
pub struct Stdout;

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        write(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Prints text on stdout (checked), with [`printable`]'s escapes: text output is for people,
/// and what it shows comes partly from the store (messages, a run's config and summary, host
/// names, commands), which may have been synced from another machine. File contents (`cat`,
/// the lines of a patch or a blame) are written as they are, with [`write`], as git does.
pub fn out(text: &str) {
    write(printable(text).as_bytes());
}

/// Whether [`printable`] lets this program's own colour codes through: only while colour is on
/// (`--color`), so with colour off no escape sequence at all reaches the output.
static COLOUR_CODES_PASS: AtomicBool = AtomicBool::new(false);

/// Sets whether colour is on for this command (see [`COLOUR_CODES_PASS`]).
pub fn colour_codes_pass(on: bool) {
    COLOUR_CODES_PASS.store(on, Ordering::Relaxed);
}

/// The colour codes this program writes itself ([`Paint`], `--stat` bars); with colour on,
/// [`printable`] lets exactly these through. A stored value holding one of them can then change
/// a colour, nothing else.
const OWN_SGR: [&str; 6] = [
    "\x1b[m",
    "\x1b[33m",
    "\x1b[1;32m",
    "\x1b[32m",
    "\x1b[31m",
    "\x1b[2m",
];

/// `text` with every control character but newline and tab shown as an escape (`\x1b`, `\r`,
/// `\x00`, `\u{9b}`), so no stored value can move the cursor, rewrite a line, retitle the
/// window or clear the screen; bidirectional controls (`\u{202e}`…) too, which terminals that
/// lay out right-to-left text obey (Trojan Source); with colour on, this program's own colour
/// codes are kept.
pub fn printable(text: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| (c.is_control() && c != '\n' && c != '\t') || is_bidi_control(c);
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut s = String::with_capacity(text.len() + 16);
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c == '\x1b'
            && COLOUR_CODES_PASS.load(Ordering::Relaxed)
            && let Some(code) = OWN_SGR.iter().find(|code| rest.starts_with(**code))
        {
            s.push_str(code);
            rest = &rest[code.len()..];
            continue;
        }
        match c {
            '\r' => s.push_str("\\r"),
            c if unsafe_char(c) && (c as u32) < 0x80 => s.push_str(&format!("\\x{:02x}", c as u32)),
            c if unsafe_char(c) => s.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => s.push(c),
        }
        rest = &rest[c.len_utf8()..];
    }
    Cow::Owned(s)
}

/// The characters that change the direction of text around them (Unicode's explicit
/// embeddings, overrides and isolates, and the invisible marks).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{61c}')
}

/// A JSON formatter that also escapes DEL, the C1 control characters (`\u009b`…) and the
/// bidirectional controls (`\u202e`…), which JSON allows raw but some terminals obey; the
/// document means the same.
struct SafeJson<F>(F);

impl<F: serde_json::ser::Formatter> serde_json::ser::Formatter for SafeJson<F> {
    fn write_string_fragment<W: ?Sized + Write>(&mut self, w: &mut W, s: &str) -> io::Result<()> {
        let mut rest = s;
        while let Some(i) = rest.find(|c: char| c.is_control() || is_bidi_control(c)) {
            w.write_all(&rest.as_bytes()[..i])?;
            let c = rest[i..].chars().next().unwrap_or_default();
            write!(w, "\\u{:04x}", c as u32)?;
            rest = &rest[i + c.len_utf8()..];
        }
        w.write_all(rest.as_bytes())
    }
    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_value(w)
    }
}

/// Writes `value` as JSON to `w`: indented when `pretty`, else on one line; see [`SafeJson`].
fn write_json<W: Write>(w: W, value: &impl Serialize, pretty: bool) -> serde_json::Result<()> {
    use serde_json::ser::{CompactFormatter, PrettyFormatter, Serializer};
    if pretty {
        value.serialize(&mut Serializer::with_formatter(
            w,
            SafeJson(PrettyFormatter::new()),
        ))
    } else {
        value.serialize(&mut Serializer::with_formatter(
            w,
            SafeJson(CompactFormatter),
        ))
    }
}

/// Prints a JSON document on stdout, indented, objects with their keys sorted.
pub fn print_json(row: &impl Serialize) -> Result<()> {
    let value = to_value(row)?;
    write_json(Stdout, &value, true).map_err(|e| stdout_error(e.into()))?;
    write(b"\n");
    Ok(())
}

/// A row as a JSON value, to print or to add to another document. Rows hold only strings,
/// numbers, booleans and JSON values, so this does not fail in practice; if it did, the output
/// could not be written.
pub fn to_value(row: &impl Serialize) -> Result<serde_json::Value> {
    serde_json::to_value(row).map_err(|e| stdout_error(e.into()))
}

/// Prints a JSON document on stdout as it is serialized, fields in their declared order (a
/// long listing is never held whole in memory).
pub fn stream_json(rows: &impl Serialize) -> Result<()> {
    write_json(Stdout, rows, true).map_err(|e| stdout_error(e.into()))?;
    write(b"\n");
    Ok(())
}

/// The error of a failed write to stdout.
pub fn stdout_error(source: io::Error) -> Error {
    Error::Io {
        action: "cannot write to",
        path: PathBuf::from("standard output"),
        source,
    }
}

/// Prints an error and its hint on stderr; exit code 2. With `json`, one line holding one JSON
/// object, `{"error", "hint", "kind"}` (`hint` null when there is none, `kind` the library's
/// stable name for the error), so scripts never parse prose.
pub fn report(e: &Error, json: bool) -> ExitCode {
    report_parts(&e.to_string(), hint(e).as_deref(), e.kind(), json);
    // Stopped by Ctrl-C or SIGTERM: the shell's code for a SIGINT.
    ExitCode::from(if matches!(e, Error::Interrupted) {
        130
    } else {
        2
    })
}

/// Prints a command-line usage error (unknown command or option, missing argument) as JSON,
/// from the argument parser's own text: the message, and its tips and usage line as the hint.
/// Kind `usage`; exit code 2.
pub fn report_usage(rendered: &str, json: bool) -> ExitCode {
    let mut paragraphs = rendered.split("\n\n").map(|p| {
        p.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    });
    let message = paragraphs.next().unwrap_or_default();
    let message = message
        .strip_prefix("error: ")
        .unwrap_or(&message)
        .to_string();
    let hints: Vec<String> = paragraphs
        .filter(|p| !p.is_empty() && !p.starts_with("For more information"))
        .map(|p| match p.strip_prefix("tip: ") {
            Some(tip) => tip.to_string(),
            None => p,
        })
        .chain(["run `codever --help` for every command and option".to_string()])
        .collect();
    report_parts(&message, Some(&hints.join("; ")), "usage", json);
    ExitCode::from(2)
}

fn report_parts(message: &str, hint: Option<&str>, kind: &str, json: bool) {
    let mut err = io::stderr().lock();
    if json {
        let row = serde_json::json!({"error": message, "hint": hint, "kind": kind});
        let _ = write_json(&mut err, &row, false);
        let _ = writeln!(err);
    } else {
        let _ = writeln!(err, "error: {}", printable(message));
        if let Some(h) = hint {
            let _ = writeln!(err, "hint: {}", printable(h));
        }
    }
}

/// The error's hint, options named as this command spells them (`--force`, `--store PATH`,
/// `PATH=DISPLAY`); the library's own words for every other hint.
fn hint(e: &Error) -> Option<String> {
    let cli = match e.remedy() {
        Some(Remedy::Force) => {
            "pass --force to overwrite them, or check out into another directory"
        }
        Some(Remedy::NameStore) => {
            "run `codever init` in your project, or pass --store PATH / set CODEVER_DIR"
        }
        Some(Remedy::PointAtStore) => {
            "point --store or CODEVER_DIR at a `.codever` directory made by `codever init`"
        }
        Some(Remedy::DisplayPath) => {
            "check the path; use PATH=DISPLAY to store a file under another name"
        }
        Some(Remedy::OtherDisplayPath) => {
            "give one of the sources another display path with PATH=DISPLAY"
        }
        _ => return e.hint(),
    };
    Some(cli.to_string())
}

/// The first few of `items` joined by `, `, then `… and N more` when there are more: a list
/// line stays readable however many runs a version has (JSON always lists them all).
pub fn few<S: AsRef<str>>(items: &[S], shown: usize) -> String {
    let head: Vec<&str> = items.iter().take(shown).map(AsRef::as_ref).collect();
    let mut s = head.join(", ");
    if items.len() > shown {
        s.push_str(&format!(" … and {} more", items.len() - shown));
    }
    s
}

/// How many run ids or artifacts a list line shows before `… and N more`.
pub const FEW: usize = 3;

/// Prints a line on stderr (a warning or a hint beside the output).
pub fn note(line: &str) {
    let _ = writeln!(io::stderr().lock(), "{}", printable(line));
}

/// A time as text lists show it: `2025-03-01 12:00:00` (UTC).
pub fn fmt_time(ns: i64) -> String {
    view::timestamp(ns)
        .strftime("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// When `--color` colours output.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum ColorWhen {
    Auto,
    Always,
    Never,
}

impl ColorWhen {
    /// Whether to colour: `auto` only on a terminal, and not when `NO_COLOR` is set.
    pub fn enabled(self) -> bool {
        match self {
            ColorWhen::Always => true,
            ColorWhen::Never => false,
            ColorWhen::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && io::stdout().is_terminal()
            }
        }
    }
}

/// The colours of text output, as git uses them: a version's label yellow (git's commit ids),
/// aliases bold green (git's branch decorations), added counts green, deleted red, remarks dim.
/// Every method returns its text unchanged when colour is off; pad before painting, since the
/// escape codes take no room on screen.
#[derive(Clone, Copy)]
pub struct Paint(bool);

impl Paint {
    pub fn new(on: bool) -> Paint {
        Paint(on)
    }

    /// Whether colours are on.
    pub fn on(self) -> bool {
        self.0
    }

    fn wrap(self, code: &str, s: &str) -> String {
        if self.0 && !s.is_empty() {
            format!("{code}{s}\x1b[m")
        } else {
            s.to_string()
        }
    }

    /// A version's label (`v3`, or its short id while numbers are withheld).
    pub fn version(self, s: &str) -> String {
        self.wrap("\x1b[33m", s)
    }

    /// Alias names.
    pub fn alias(self, s: &str) -> String {
        self.wrap("\x1b[1;32m", s)
    }

    /// Added lines or files.
    pub fn added(self, s: &str) -> String {
        self.wrap("\x1b[32m", s)
    }

    /// Deleted lines or files.
    pub fn deleted(self, s: &str) -> String {
        self.wrap("\x1b[31m", s)
    }

    /// Remarks such as `(forgotten)`.
    pub fn dim(self, s: &str) -> String {
        self.wrap("\x1b[2m", s)
    }
}

/// A progress bar for long captures: drawn on stderr, only on a terminal, and only once a
/// capture has taken more than a second (short commits print nothing extra).
pub fn progress_bar() -> Option<(indicatif::ProgressBar, codever::Progress)> {
    delayed_bar("capturing {bar:30} {pos}/{len} files {elapsed}")
}

/// A progress bar for transfers (`what`: pushing, pulling, syncing), in bytes: drawn on stderr,
/// only on a terminal, and only once the transfer has taken more than a second.
pub fn transfer_bar(what: &str) -> Option<(indicatif::ProgressBar, codever::Progress)> {
    delayed_bar(&format!(
        "{what} {{bar:30}} {{bytes}}/{{total_bytes}} {{bytes_per_sec}} {{elapsed}}"
    ))
}

/// A bar drawn with `template` on stderr, only on a terminal, and only once the work has taken
/// more than a second (`$CODEVER_PROGRESS_DELAY_MS` milliseconds when set: `0` draws at once);
/// the [`codever::Progress`] the library reports to.
fn delayed_bar(template: &str) -> Option<(indicatif::ProgressBar, codever::Progress)> {
    if !io::stderr().is_terminal() {
        return None;
    }
    let delay = std::env::var("CODEVER_PROGRESS_DELAY_MS")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(Duration::from_secs(1), Duration::from_millis);
    let bar = indicatif::ProgressBar::hidden();
    bar.set_style(
        indicatif::ProgressStyle::with_template(template)
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let start = Instant::now();
    let shown = AtomicBool::new(false);
    let b = bar.clone();
    let report = codever::Progress(Arc::new(move |done, total| {
        if !shown.load(Ordering::Relaxed) && start.elapsed() >= delay {
            shown.store(true, Ordering::Relaxed);
            b.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        }
        b.set_length(total as u64);
        b.set_position(done as u64);
    }));
    Some((bar, report))
}

/// On stderr, when some records of the artifact cannot be read: numbers are withheld.
pub fn warn_incomplete(h: &History) {
    if !h.is_complete() {
        note(&format!(
            "warning: {} is incomplete ({}): version numbers, `latest` and aliases are withheld; `codever fsck` says more",
            h.key,
            problems_summary(h)
        ));
    }
}

/// `1 record not yet synced, 2 unreadable records`.
pub fn problems_summary(h: &History) -> String {
    let plural = |n: usize, what: &str| {
        if n == 1 {
            format!("1 {what}")
        } else {
            format!("{n} {what}s")
        }
    };
    let mut parts = Vec::new();
    if !h.incomplete.is_empty() {
        parts.push(format!(
            "{} not yet synced",
            plural(h.incomplete.len(), "record")
        ));
    }
    if !h.invalid.is_empty() {
        parts.push(plural(h.invalid.len(), "unreadable record"));
    }
    parts.join(", ")
}

/// The line listings print under an incomplete artifact's name.
pub fn incomplete_line(h: &History) -> String {
    format!(
        "INCOMPLETE: {}; version numbers, `latest` and aliases are withheld (v?); name a version by id, as {}@ID; `codever fsck` says more\n",
        problems_summary(h),
        h.key
    )
}

/// `  [latest, best]` after a version in listings, or nothing.
pub fn aliases_suffix(h: &History, v: &Version, paint: Paint) -> String {
    let aliases = view::aliases(h, v);
    if aliases.is_empty() {
        String::new()
    } else {
        let names: Vec<String> = aliases.iter().map(|a| paint.alias(a)).collect();
        format!("  [{}]", names.join(", "))
    }
}

/// How a version is named in messages: `TYPE/NAME:v2`, or `TYPE/NAME@<short id>` while its
/// number is withheld.
pub fn version_name(h: &History, v: &Version) -> String {
    match v.number {
        Some(n) => format!("{}:v{n}", h.key),
        None => format!("{}@{}", h.key, v.tree.short()),
    }
}
