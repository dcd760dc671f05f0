//! Syntax colouring at render time: each line becomes HTML whose tokens are `<span class="…">`
//! with a small set of classes (`k` keyword, `s` string, `c` comment, `n` number, `f` function,
//! `t` type, `p` parameter/variable, `o` constant), coloured by the page's CSS for the light and
//! the dark theme alike. Grammars are syntect's bundled Sublime syntaxes (on oniguruma);
//! TOML, which that set lacks, has a small lexer of its own here.
//!
//! Every byte of source text leaves this module through [`escape_into`]; nothing else writes
//! text.

use std::fmt::Write as _;
use std::ops::Range;
use std::sync::OnceLock;

use syntect::parsing::{ParseState, Scope, ScopeStack, SyntaxReference, SyntaxSet};

/// A language the highlighter knows.
#[derive(Clone, Copy)]
pub enum Lang {
    /// A syntect grammar (index into the bundled set).
    Syntax(&'static SyntaxReference),
    /// TOML (own lexer).
    Toml,
}

fn syntaxes() -> &'static SyntaxSet {
    static SET: OnceLock<SyntaxSet> = OnceLock::new();
    SET.get_or_init(SyntaxSet::load_defaults_newlines)
}

/// Scope prefixes and the class of the token they mark, most specific first.
fn classes() -> &'static [(Scope, &'static str)] {
    static CLASSES: OnceLock<Vec<(Scope, &'static str)>> = OnceLock::new();
    CLASSES.get_or_init(|| {
        [
            ("comment", "c"),
            ("punctuation.definition.comment", "c"),
            ("string", "s"),
            ("constant.numeric", "n"),
            ("constant.language", "o"),
            ("constant.character", "s"),
            ("constant.other", "o"),
            ("keyword", "k"),
            ("storage", "k"),
            ("entity.name.function", "f"),
            ("support.function", "f"),
            ("meta.function-call.generic", "f"),
            ("variable.function", "f"),
            ("entity.name", "t"),
            ("entity.other.inherited-class", "t"),
            ("support.type", "t"),
            ("support.class", "t"),
            ("entity.name.tag", "k"),
            ("variable.parameter", "p"),
            ("variable.language", "o"),
            ("markup.heading", "k"),
            ("markup.bold", "k"),
            ("markup.italic", "c"),
            ("markup.raw", "s"),
            ("markup.underline.link", "s"),
        ]
        .into_iter()
        .filter_map(|(s, c)| Scope::new(s).ok().map(|s| (s, c)))
        .collect()
    })
}

/// The language of `path`, by its extension or name (`.cu` and `.cuh` are C++; a shebang line
/// names shell or Python scripts without an extension). `None`: shown uncoloured.
pub fn language(path: &str, first_line: &[u8]) -> Option<Lang> {
    let name = path.rsplit('/').next().unwrap_or(path);
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    let set = syntaxes();
    let by_ext = |e: &str| set.find_syntax_by_extension(e).map(Lang::Syntax);
    match ext.as_deref() {
        Some("toml") => return Some(Lang::Toml),
        Some("cu" | "cuh") => return by_ext("cpp"),
        Some("pyi" | "pyx") => return by_ext("py"),
        Some("jsonl" | "ipynb") => return by_ext("json"),
        Some("zsh") => return by_ext("sh"),
        Some(e) => {
            if let Some(l) = by_ext(e) {
                return Some(l);
            }
        }
        None => {}
    }
    if let Some(l) = set.find_syntax_by_extension(name) {
        return Some(Lang::Syntax(l)); // Makefile, Dockerfile…
    }
    let first = String::from_utf8_lossy(first_line);
    set.find_syntax_by_first_line(&first).map(Lang::Syntax)
}

/// The classes of one line's tokens: byte ranges (sorted, not overlapping) into the line's text
/// as [`line_html`] decodes it, each with its class.
pub type Tokens = Vec<(Range<usize>, &'static str)>;

/// A colouring in progress: the grammar's state after the lines given so far, so that a line
/// inside a multi-line string or comment that began earlier is coloured as such. Two tokenizers
/// that are equal colour whatever follows alike (a diff uses this to colour the unchanged lines
/// of the second side from the first).
#[derive(Clone, Debug)]
pub struct Tokenizer(State, Budget);

/// What a tokenizer has spent on long lines: a grammar's cost on one line can grow with the
/// square of its length (a 100 KB line of minified JavaScript took 104 s in a debug build), so
/// lines longer than [`MAX_COLOUR_LINE`] are shown uncoloured, and once the lines over
/// [`LONG_LINE`] bytes have cost [`LONG_BUDGET`] (the sum of their squared lengths) the rest of
/// the file is.
#[derive(Clone, Copy, Debug, Default)]
struct Budget(u64);

/// A line longer than this (bytes, without its ending) is shown uncoloured, and leaves the
/// grammar's state as it was (a string it opens is not seen as open after it).
pub const MAX_COLOUR_LINE: usize = 1000;
/// Lines at least this long count against [`LONG_BUDGET`].
pub const LONG_LINE: usize = 200;
/// The sum of the squared lengths of the long lines a file's colouring may take: 250 lines of
/// [`MAX_COLOUR_LINE`] bytes (about 3 s of the worst grammar found, JavaScript, in a debug build).
pub const LONG_BUDGET: u64 = 250 * (MAX_COLOUR_LINE as u64) * (MAX_COLOUR_LINE as u64);

// Two tokenizers in the same grammar state colour what follows alike, whatever they spent.
impl PartialEq for Tokenizer {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl Eq for Tokenizer {}

#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    Syntax(Box<(ParseState, ScopeStack)>),
    Toml(Option<&'static str>),
    /// No language, or a grammar that failed on a line (a pathological pattern): the rest is
    /// uncoloured rather than the page failing.
    Plain,
}

impl Tokenizer {
    /// A tokenizer at the first line of a file in `lang`.
    pub fn new(lang: Option<Lang>) -> Tokenizer {
        Tokenizer(
            match lang {
                Some(Lang::Syntax(s)) => {
                    State::Syntax(Box::new((ParseState::new(s), ScopeStack::new())))
                }
                Some(Lang::Toml) => State::Toml(None),
                None => State::Plain,
            },
            Budget::default(),
        )
    }

    /// The tokens of the next line (given with or without its line ending).
    pub fn line(&mut self, raw: &[u8]) -> Tokens {
        if matches!(self.0, State::Plain) {
            return Vec::new();
        }
        let body = body_of(raw);
        if body.len() > MAX_COLOUR_LINE {
            return Vec::new();
        }
        if body.len() >= LONG_LINE {
            let n = body.len() as u64;
            self.1.0 += n * n;
            if self.1.0 > LONG_BUDGET {
                self.0 = State::Plain;
                return Vec::new();
            }
        }
        let text = String::from_utf8_lossy(body);
        match &mut self.0 {
            State::Syntax(st) => {
                let (ps, stack) = &mut **st;
                match syntect_runs(ps, stack, &text) {
                    Some(r) => r,
                    None => {
                        self.0 = State::Plain;
                        Vec::new()
                    }
                }
            }
            State::Toml(in_string) => toml_runs(&text, in_string),
            State::Plain => Vec::new(),
        }
    }
}

/// A line without its ending (`\n` or `\r\n`).
fn body_of(raw: &[u8]) -> &[u8] {
    let body = raw.strip_suffix(b"\n").unwrap_or(raw);
    body.strip_suffix(b"\r").unwrap_or(body)
}

/// One line's HTML without its ending: `runs` (from [`Tokenizer::line`] on the same line) as
/// spans, `marks` (byte ranges into the line as given, without its ending) wrapped in `<mark>`,
/// everything escaped.
pub fn line_html(
    raw: &[u8],
    runs: &[(Range<usize>, &'static str)],
    marks: Option<&[Range<usize>]>,
) -> String {
    let body = body_of(raw);
    let text = String::from_utf8_lossy(body);
    // Marks index the raw bytes; a lossily decoded line has other offsets: no marks then.
    let m = marks.filter(|_| text.len() == body.len());
    render(&text, runs, m.unwrap_or(&[]))
}

/// Colours a sequence of consecutive lines of one file, from its first line (each with or
/// without its line ending), returning each line's HTML without the line ending, with
/// `marks[i]`'s byte ranges (into the line as given, without its ending) wrapped in `<mark>`.
pub fn lines(
    lang: Option<Lang>,
    lines: &[&[u8]],
    marks: &[Option<&[Range<usize>]>],
) -> Vec<String> {
    let mut tok = Tokenizer::new(lang);
    lines
        .iter()
        .enumerate()
        .map(|(i, raw)| {
            let runs = tok.line(raw);
            line_html(raw, &runs, marks.get(i).copied().flatten())
        })
        .collect()
}

fn syntect_runs(
    ps: &mut ParseState,
    stack: &mut ScopeStack,
    text: &str,
) -> Option<Vec<(Range<usize>, &'static str)>> {
    let mut line = String::with_capacity(text.len() + 1);
    line.push_str(text);
    line.push('\n');
    let ops = ps.parse_line(&line, syntaxes()).ok()?;
    let mut runs = Vec::new();
    let mut at = 0;
    for (pos, op) in ops {
        let pos = pos.min(text.len());
        if pos > at
            && let Some(c) = class_of(stack)
        {
            push_run(&mut runs, at..pos, c);
        }
        at = at.max(pos);
        stack.apply(&op).ok()?;
    }
    if text.len() > at
        && let Some(c) = class_of(stack)
    {
        push_run(&mut runs, at..text.len(), c);
    }
    Some(runs)
}

/// Adds a run, joined to the previous one when it continues it with the same class.
fn push_run(runs: &mut Vec<(Range<usize>, &'static str)>, r: Range<usize>, c: &'static str) {
    match runs.last_mut() {
        Some((last, lc)) if last.end == r.start && *lc == c => last.end = r.end,
        _ => runs.push((r, c)),
    }
}

fn class_of(stack: &ScopeStack) -> Option<&'static str> {
    for scope in stack.as_slice().iter().rev() {
        for (prefix, class) in classes() {
            if prefix.is_prefix_of(*scope) {
                return Some(class);
            }
        }
    }
    None
}

/// TOML: comments, strings (multi-line ones carried across lines), numbers and booleans, keys
/// and `[table]` headers.
fn toml_runs(
    text: &str,
    in_string: &mut Option<&'static str>,
) -> Vec<(Range<usize>, &'static str)> {
    let b = text.as_bytes();
    let mut runs = Vec::new();
    let mut i = 0;
    if let Some(close) = *in_string {
        match text.find(close) {
            Some(end) => {
                runs.push((0..end + 3, "s"));
                i = end + 3;
                *in_string = None;
            }
            None => return vec![(0..text.len(), "s")],
        }
    }
    let trimmed = text.trim_start();
    if i == 0 && trimmed.starts_with('[') {
        let start = text.len() - trimmed.len();
        let end = text[start..].find('#').map_or(text.len(), |e| start + e);
        runs.push((start..end, "t"));
        i = end;
    }
    let mut key_allowed = i == 0;
    while i < b.len() {
        let c = b[i];
        if c == b'#' {
            runs.push((i..b.len(), "c"));
            break;
        } else if c == b'"' || c == b'\'' {
            let q = if c == b'"' { "\"" } else { "'" };
            let triple = if c == b'"' { "\"\"\"" } else { "'''" };
            if text[i..].starts_with(triple) {
                match text[i + 3..].find(triple) {
                    Some(e) => {
                        runs.push((i..i + 3 + e + 3, "s"));
                        i += 3 + e + 3;
                    }
                    None => {
                        runs.push((i..b.len(), "s"));
                        *in_string = Some(if c == b'"' { "\"\"\"" } else { "'''" });
                        break;
                    }
                }
            } else {
                let mut j = i + 1;
                while j < b.len() && &text[j..j + 1] != q {
                    j += if b[j] == b'\\' && c == b'"' { 2 } else { 1 };
                }
                let end = (j + 1).min(b.len());
                runs.push((i..end, "s"));
                i = end;
            }
            key_allowed = false;
        } else if c.is_ascii_alphanumeric() || c == b'_' || c == b'-' || c == b'+' {
            let mut j = i;
            while j < b.len()
                && (b[j].is_ascii_alphanumeric()
                    || matches!(b[j], b'_' | b'-' | b'.' | b'+' | b':'))
            {
                j += 1;
            }
            let word = &text[i..j];
            let class = if key_allowed {
                Some("p")
            } else if word == "true" || word == "false" {
                Some("o")
            } else if word.starts_with(|ch: char| ch.is_ascii_digit() || ch == '+' || ch == '-') {
                Some("n")
            } else {
                None
            };
            if let Some(cl) = class {
                runs.push((i..j, cl));
            }
            i = j;
        } else {
            if c == b'=' {
                key_allowed = false;
            } else if c == b',' || c == b'{' {
                key_allowed = true;
            }
            i += 1;
        }
    }
    runs
}

/// Writes `text` as HTML: `runs` (sorted, not overlapping) become spans of their class, `marks`
/// (sorted byte ranges) `<mark>` elements around them; everything escaped.
fn render(text: &str, runs: &[(Range<usize>, &'static str)], marks: &[Range<usize>]) -> String {
    let mut cuts: Vec<usize> = Vec::with_capacity(2 * (runs.len() + marks.len()) + 2);
    cuts.push(0);
    cuts.push(text.len());
    for (r, _) in runs {
        cuts.extend([r.start, r.end]);
    }
    for r in marks {
        cuts.extend([r.start.min(text.len()), r.end.min(text.len())]);
    }
    cuts.retain(|&c| text.is_char_boundary(c));
    cuts.sort_unstable();
    cuts.dedup();
    let mut out = String::with_capacity(text.len() + 16 * runs.len());
    let (mut ri, mut mi) = (0, 0);
    let mut in_mark = false;
    for w in cuts.windows(2) {
        let (a, b) = (w[0], w[1]);
        while mi < marks.len() && marks[mi].end <= a {
            mi += 1;
        }
        let marked = mi < marks.len() && marks[mi].start <= a && a < marks[mi].end;
        if marked && !in_mark {
            out.push_str("<mark>");
        } else if !marked && in_mark {
            out.push_str("</mark>");
        }
        in_mark = marked;
        while ri < runs.len() && runs[ri].0.end <= a {
            ri += 1;
        }
        let class = (ri < runs.len() && runs[ri].0.start <= a).then(|| runs[ri].1);
        match class {
            Some(c) => {
                out.push_str("<span class=\"");
                out.push_str(c);
                out.push_str("\">");
                escape_into(&text[a..b], &mut out);
                out.push_str("</span>");
            }
            None => escape_into(&text[a..b], &mut out),
        }
    }
    if in_mark {
        out.push_str("</mark>");
    }
    out
}

/// Appends `text` to `out` escaped for HTML text (`&`, `<`, `>`, `"`, `'`), with the characters
/// a reader must not miss made visible: bidirectional controls, which reorder what is shown
/// ("Trojan Source"), as `<span class="cdv-bidi" title="NAME">U+202E</span>`, and control
/// characters other than tab and line feed (NUL, ESC, C1…) as `<span class="cdv-ctl"
/// title="U+001B">␛</span>`. For text only: the spans are markup.
pub fn escape_into(text: &str, out: &mut String) {
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => match hidden(c) {
                Some(Hidden::Named(name)) => {
                    let _ = write!(
                        out,
                        "<span class=\"cdv-bidi\" title=\"{name}\">U+{:04X}</span>",
                        c as u32
                    );
                }
                Some(Hidden::Control) => {
                    let n = c as u32;
                    let _ = match n {
                        // Control Pictures: ␀ … ␟, ␡.
                        0..=0x1f => write!(
                            out,
                            "<span class=\"cdv-ctl\" title=\"U+{n:04X}\">{}</span>",
                            char::from_u32(0x2400 + n).unwrap_or('?')
                        ),
                        0x7f => write!(out, "<span class=\"cdv-ctl\" title=\"U+007F\">␡</span>"),
                        _ => write!(
                            out,
                            "<span class=\"cdv-ctl\" title=\"U+{n:04X}\">U+{n:04X}</span>"
                        ),
                    };
                }
                None => out.push(c),
            },
        }
    }
}

/// A character that would be shown wrongly or not at all.
enum Hidden {
    /// A bidirectional control, or a character that shows as nothing (zero-width and filler
    /// characters: `a.py` and `a\u{200B}.py` would look the same), with its Unicode name.
    Named(&'static str),
    /// A C0 or C1 control other than tab and line feed, or DEL.
    Control,
}

fn hidden(c: char) -> Option<Hidden> {
    let name = match c {
        '\u{061C}' => "ARABIC LETTER MARK",
        '\u{200E}' => "LEFT-TO-RIGHT MARK",
        '\u{200F}' => "RIGHT-TO-LEFT MARK",
        '\u{202A}' => "LEFT-TO-RIGHT EMBEDDING",
        '\u{202B}' => "RIGHT-TO-LEFT EMBEDDING",
        '\u{202C}' => "POP DIRECTIONAL FORMATTING",
        '\u{202D}' => "LEFT-TO-RIGHT OVERRIDE",
        '\u{202E}' => "RIGHT-TO-LEFT OVERRIDE",
        '\u{2066}' => "LEFT-TO-RIGHT ISOLATE",
        '\u{2067}' => "RIGHT-TO-LEFT ISOLATE",
        '\u{2068}' => "FIRST STRONG ISOLATE",
        '\u{2069}' => "POP DIRECTIONAL ISOLATE",
        // Shown as nothing, or as a space: a name or a line that looks like another.
        '\u{00AD}' => "SOFT HYPHEN",
        '\u{034F}' => "COMBINING GRAPHEME JOINER",
        '\u{115F}' => "HANGUL CHOSEONG FILLER",
        '\u{1160}' => "HANGUL JUNGSEONG FILLER",
        '\u{17B4}' => "KHMER VOWEL INHERENT AQ",
        '\u{17B5}' => "KHMER VOWEL INHERENT AA",
        '\u{180E}' => "MONGOLIAN VOWEL SEPARATOR",
        '\u{200B}' => "ZERO WIDTH SPACE",
        '\u{200C}' => "ZERO WIDTH NON-JOINER",
        '\u{200D}' => "ZERO WIDTH JOINER",
        '\u{2028}' => "LINE SEPARATOR",
        '\u{2029}' => "PARAGRAPH SEPARATOR",
        '\u{2060}' => "WORD JOINER",
        '\u{2061}' => "FUNCTION APPLICATION",
        '\u{2062}' => "INVISIBLE TIMES",
        '\u{2063}' => "INVISIBLE SEPARATOR",
        '\u{2064}' => "INVISIBLE PLUS",
        '\u{3164}' => "HANGUL FILLER",
        '\u{FEFF}' => "ZERO WIDTH NO-BREAK SPACE",
        '\u{FFA0}' => "HALFWIDTH HANGUL FILLER",
        '\u{E0000}'..='\u{E007F}' => "TAG",
        c if c.is_control() && c != '\t' && c != '\n' => return Some(Hidden::Control),
        _ => return None,
    };
    Some(Hidden::Named(name))
}

/// Whether `text` holds a bidirectional control character (searched in its UTF-8 bytes, so
/// any bytes can be given).
pub fn has_bidi(text: &[u8]) -> bool {
    text.windows(3).any(|w| {
        matches!(
            w,
            [0xe2, 0x80, 0x8e | 0x8f | 0xaa..=0xae] | [0xe2, 0x81, 0xa6..=0xa9]
        )
    }) || text.windows(2).any(|w| w == [0xd8, 0x9c])
}

/// `text` with its bidirectional controls and control characters written as `[U+202E]`, for
/// places that hold no markup (a page's title).
pub fn visible_plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match hidden(c) {
            Some(_) => {
                let _ = write!(out, "[U+{:04X}]", c as u32);
            }
            None => out.push(c),
        }
    }
    out
}

/// Untrusted text (a name, a path, a message, a config value) for maud's `(…)`: escaped, with
/// hidden characters made visible as [`escape_into`] does.
pub struct Shown<'a>(pub &'a str);

impl maud::Render for Shown<'_> {
    fn render_to(&self, buffer: &mut String) {
        escape_into(self.0, buffer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(path: &str, line: &str) -> String {
        let l = language(path, line.as_bytes());
        lines(l, &[line.as_bytes()], &[None]).remove(0)
    }

    #[test]
    fn python_tokens_get_classes() {
        assert_eq!(
            one("a.py", "def f(x): return 'hi'  # no"),
            "<span class=\"k\">def</span> <span class=\"f\">f</span>(<span class=\"p\">x</span>): \
             <span class=\"k\">return</span> <span class=\"s\">&#39;hi&#39;</span>  \
             <span class=\"c\"># no</span>"
        );
    }

    #[test]
    fn languages_of_an_ml_repo_are_known() {
        for p in [
            "a.py",
            "c.yaml",
            "c.yml",
            "d.json",
            "run.sh",
            "README.md",
            "k.cpp",
            "k.cu",
            "k.h",
            "p.toml",
        ] {
            assert!(language(p, b"").is_some(), "{p}");
        }
        assert!(language("train", b"#!/usr/bin/env python3\n").is_some());
        assert!(language("notes.unknown-ext", b"hello").is_none());
    }

    #[test]
    fn text_is_escaped_inside_and_outside_tokens() {
        assert_eq!(
            one("x.txt", "</script><script>alert(1)</script>"),
            "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;"
        );
        assert_eq!(
            one("x.py", "s = \"</script>\""),
            "s <span class=\"k\">=</span> <span class=\"s\">&quot;&lt;/script&gt;&quot;</span>"
        );
    }

    #[test]
    fn bidi_and_control_characters_are_shown_not_obeyed() {
        // Trojan Source: the comment that hides the early return, as it is stored.
        let line = "if access != \"none\u{202e} \u{2066}# admin\u{2069} \u{2066}\":";
        let html = one("x.txt", line);
        assert_eq!(
            html,
            "if access != &quot;none<span class=\"cdv-bidi\" title=\"RIGHT-TO-LEFT OVERRIDE\">\
             U+202E</span> <span class=\"cdv-bidi\" title=\"LEFT-TO-RIGHT ISOLATE\">U+2066</span>\
             # admin<span class=\"cdv-bidi\" title=\"POP DIRECTIONAL ISOLATE\">U+2069</span> \
             <span class=\"cdv-bidi\" title=\"LEFT-TO-RIGHT ISOLATE\">U+2066</span>&quot;:"
        );
        for c in [
            '\u{202a}', '\u{202e}', '\u{2066}', '\u{2069}', '\u{200e}', '\u{200f}', '\u{61c}',
        ] {
            let mut out = String::new();
            escape_into(&c.to_string(), &mut out);
            assert!(out.starts_with("<span class=\"cdv-bidi\""), "{c:?}");
            assert!(!out.contains(c));
            assert!(has_bidi(c.to_string().as_bytes()), "{c:?}");
        }
        assert!(!has_bidi("a\u{2065}\u{202f}\u{200d}é".as_bytes()));
        let mut out = String::new();
        escape_into("a\0b\x1b[2J\x7f\u{85}\tc\n", &mut out);
        assert_eq!(
            out,
            "a<span class=\"cdv-ctl\" title=\"U+0000\">␀</span>b<span class=\"cdv-ctl\" \
             title=\"U+001B\">␛</span>[2J<span class=\"cdv-ctl\" title=\"U+007F\">␡</span>\
             <span class=\"cdv-ctl\" title=\"U+0085\">U+0085</span>\tc\n"
        );
        assert_eq!(visible_plain("a\u{202e}b\x1b"), "a[U+202E]b[U+001B]");
        // Characters that show as nothing are named too, and are not bidirectional text.
        assert_eq!(
            visible_plain("a\u{200b}.py \u{feff}x\u{e0041}"),
            "a[U+200B].py [U+FEFF]x[U+E0041]"
        );
        let mut out = String::new();
        escape_into("a\u{200b}.py", &mut out);
        assert_eq!(
            out,
            "a<span class=\"cdv-bidi\" title=\"ZERO WIDTH SPACE\">U+200B</span>.py"
        );
        assert!(!has_bidi("a\u{200b}\u{feff}".as_bytes()));
        // Inside a coloured token too.
        let py = one("a.py", "s = 'x\u{202e}y'");
        assert!(
            py.contains("<span class=\"s\">&#39;x<span class=\"cdv-bidi\""),
            "{py}"
        );
    }

    #[test]
    fn marks_wrap_spans_without_breaking_nesting() {
        let l = language("a.py", b"");
        let marks = vec![Range { start: 4, end: 11 }];
        let html = lines(l, &[b"lr = 3e-4 + 1\n"], &[Some(&marks)]).remove(0);
        assert_eq!(
            html,
            "lr <span class=\"k\">=</span><mark> <span class=\"n\">3e-4</span> \
             <span class=\"k\">+</span></mark> <span class=\"n\">1</span>"
        );
    }

    #[test]
    fn toml_keys_strings_tables_comments() {
        assert_eq!(
            one("p.toml", "[tool.x] # t"),
            "<span class=\"t\">[tool.x] </span><span class=\"c\"># t</span>"
        );
        assert_eq!(
            one("p.toml", "name = \"codever\" # n"),
            "<span class=\"p\">name</span> = <span class=\"s\">&quot;codever&quot;</span> \
             <span class=\"c\"># n</span>"
        );
        let l = language("p.toml", b"");
        let html = lines(
            l,
            &[b"a = '''x\n", b"y''' # z\n", b"b = true\n"],
            &[None, None, None],
        );
        assert_eq!(
            html,
            [
                "<span class=\"p\">a</span> = <span class=\"s\">&#39;&#39;&#39;x</span>",
                "<span class=\"s\">y&#39;&#39;&#39;</span> <span class=\"c\"># z</span>",
                "<span class=\"p\">b</span> = <span class=\"o\">true</span>"
            ]
        );
    }

    #[test]
    fn long_lines_are_shown_uncoloured_and_bounded() {
        // JavaScript's grammar costs the square of such a line's length (104 s for 100 KB in a
        // debug build, 0.6 s for this one): past MAX_COLOUR_LINE it is not parsed at all.
        let js = language("m.js", b"");
        let mut t = Tokenizer::new(js);
        let before = t.clone();
        let long = format!("x = {}\n", "a".repeat(7_000));
        assert_eq!(t.line(long.as_bytes()), Vec::new());
        assert_eq!(t, before, "the state is left as it was");
        assert_eq!(
            t.line(b"var s = 1;\n"),
            before.clone().line(b"var s = 1;\n")
        );
        assert!(!t.line(b"var s = 1;\n").is_empty());
        // Just under the limit is coloured.
        let py = language("m.py", b"");
        let fits = format!("x = {}\n", "1 + ".repeat((MAX_COLOUR_LINE - 5) / 4));
        assert!(fits.len() - 1 <= MAX_COLOUR_LINE);
        let mut t = Tokenizer::new(py);
        assert!(!t.line(fits.as_bytes()).is_empty());
        // The long lines of a file share a budget: once spent, the rest is uncoloured.
        let mut t = Tokenizer::new(py);
        let n = fits.len() as u64 - 1;
        let within = (LONG_BUDGET / (n * n)) as usize;
        for i in 0..within {
            assert!(!t.line(fits.as_bytes()).is_empty(), "line {i}");
        }
        assert_eq!(t.line(fits.as_bytes()), Vec::new());
        assert_eq!(t.line(b"x = 1\n"), Vec::new());
        // Short lines cost nothing against it.
        let mut t = Tokenizer::new(py);
        for _ in 0..10 * within {
            assert!(!t.line(b"x = 1\n").is_empty());
        }
    }
}
