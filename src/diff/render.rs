//! Rendering a [`TreeDiff`]: a git-style patch (`git apply` accepts it), `--stat`,
//! `--name-status` and JSON. Colour, when asked for, highlights the changed words inside changed
//! lines, as GitHub does.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::{FileDiff, Hunk, LineKind, Status, TreeDiff};
use crate::object::FileMeta;

const RESET: &str = "\x1b[m";
const BOLD: &str = "\x1b[1m";
const CYAN: &str = "\x1b[36m";
const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const REVERSE: &str = "\x1b[7m";
const NO_REVERSE: &str = "\x1b[27m";

fn mode(m: &FileMeta) -> &'static str {
    if m.executable { "100755" } else { "100644" }
}

/// Quotes a path the way git does (`core.quotePath`): in double quotes with C escapes when it
/// holds `"`, `\`, control characters or non-ASCII bytes; as it is otherwise.
pub fn quote_path(prefix: &str, path: &str) -> String {
    let full = format!("{prefix}{path}");
    let needs = full
        .bytes()
        .any(|b| b == b'"' || b == b'\\' || !(0x20..0x7f).contains(&b));
    if !needs {
        return full;
    }
    let mut s = String::from("\"");
    for b in full.bytes() {
        match b {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            b'\t' => s.push_str("\\t"),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            0x07 => s.push_str("\\a"),
            0x08 => s.push_str("\\b"),
            0x0b => s.push_str("\\v"),
            0x0c => s.push_str("\\f"),
            b if !(0x20..0x7f).contains(&b) => {
                let _ = write!(s, "\\{b:03o}");
            }
            b => s.push(b as char),
        }
    }
    s.push('"');
    s
}

/// The unified patch of a whole diff, with git's headers. With `color`, ANSI colours and word
/// highlights (never use that for `git apply`).
pub fn patch(diff: &TreeDiff, color: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for f in &diff.files {
        file_patch(f, color, &mut out);
    }
    out
}

fn file_patch(f: &FileDiff, color: bool, out: &mut Vec<u8>) {
    let (meta_on, meta_off) = if color { (BOLD, RESET) } else { ("", "") };
    let old_name = f
        .old_path
        .as_deref()
        .or(f.new_path.as_deref())
        .unwrap_or_default();
    let new_name = f
        .new_path
        .as_deref()
        .or(f.old_path.as_deref())
        .unwrap_or_default();
    let mut head = String::new();
    let _ = writeln!(
        head,
        "diff --git {} {}",
        quote_path("a/", old_name),
        quote_path("b/", new_name)
    );
    match (&f.old, &f.new) {
        (None, Some(n)) => {
            let _ = writeln!(head, "new file mode {}", mode(n));
        }
        (Some(o), None) => {
            let _ = writeln!(head, "deleted file mode {}", mode(o));
        }
        (Some(o), Some(n)) if o.executable != n.executable => {
            let _ = writeln!(head, "old mode {}\nnew mode {}", mode(o), mode(n));
        }
        _ => {}
    }
    if f.status == Status::Renamed {
        let _ = writeln!(
            head,
            "similarity index {}%\nrename from {}\nrename to {}",
            f.similarity.unwrap_or(0),
            quote_path("", old_name),
            quote_path("", new_name)
        );
    }
    if f.content_changed() {
        let full = f.binary_patch.is_some();
        let abbrev = |g: &Option<String>| match g {
            Some(h) if full => h.clone(),
            Some(h) => h[..7.min(h.len())].to_string(),
            None => "0".repeat(if full { 40 } else { 7 }),
        };
        let _ = write!(head, "index {}..{}", abbrev(&f.old_git), abbrev(&f.new_git));
        if let (Some(o), Some(n)) = (&f.old, &f.new)
            && o.executable == n.executable
        {
            let _ = write!(head, " {}", mode(o));
        }
        head.push('\n');
    }
    for line in head.lines() {
        out.extend_from_slice(format!("{meta_on}{line}{meta_off}\n").as_bytes());
    }
    let label = |prefix: &str, side: &Option<FileMeta>, name: &str| match side {
        Some(_) => quote_path(prefix, name),
        None => "/dev/null".to_string(),
    };
    if f.binary {
        if let Some(body) = &f.binary_patch {
            out.extend_from_slice(body);
        } else {
            out.extend_from_slice(
                format!(
                    "Binary files {} and {} differ\n",
                    label("a/", &f.old, old_name),
                    label("b/", &f.new, new_name)
                )
                .as_bytes(),
            );
        }
        return;
    }
    if f.hunks.is_empty() {
        return;
    }
    let tab = |name: &str| if name.contains(' ') { "\t" } else { "" };
    out.extend_from_slice(
        format!(
            "{meta_on}--- {}{}{meta_off}\n{meta_on}+++ {}{}{meta_off}\n",
            label("a/", &f.old, old_name),
            if f.old.is_some() { tab(old_name) } else { "" },
            label("b/", &f.new, new_name),
            if f.new.is_some() { tab(new_name) } else { "" },
        )
        .as_bytes(),
    );
    for h in &f.hunks {
        hunk_patch(h, color, out);
    }
}

/// `@@ -a,b +c,d @@ function` as git writes it (`,1` is omitted).
pub fn hunk_header(h: &Hunk) -> Vec<u8> {
    let range = |start: usize, len: usize| {
        if len == 1 {
            format!("{start}")
        } else {
            format!("{start},{len}")
        }
    };
    let mut s = format!(
        "@@ -{} +{} @@",
        range(h.old_start, h.old_lines),
        range(h.new_start, h.new_lines)
    )
    .into_bytes();
    if let Some(func) = &h.function {
        s.push(b' ');
        s.extend_from_slice(func);
    }
    s
}

fn hunk_patch(h: &Hunk, color: bool, out: &mut Vec<u8>) {
    let header = hunk_header(h);
    if color {
        let at = header
            .windows(2)
            .rposition(|w| w == b"@@")
            .map_or(header.len(), |i| i + 2);
        out.extend_from_slice(CYAN.as_bytes());
        out.extend_from_slice(&header[..at]);
        out.extend_from_slice(RESET.as_bytes());
        out.extend_from_slice(&header[at..]);
    } else {
        out.extend_from_slice(&header);
    }
    out.push(b'\n');
    let emphasis = if color { word_emphasis(h) } else { Vec::new() };
    for (i, line) in h.lines.iter().enumerate() {
        let (sign, col) = match line.kind {
            LineKind::Context => (b' ', ""),
            LineKind::Added => (b'+', GREEN),
            LineKind::Deleted => (b'-', RED),
        };
        let body = line.text.strip_suffix(b"\n").unwrap_or(&line.text);
        if color && !col.is_empty() {
            out.extend_from_slice(col.as_bytes());
            out.push(sign);
            match emphasis.get(i).and_then(Option::as_ref) {
                Some(ranges) => {
                    let mut pos = 0;
                    for r in ranges {
                        out.extend_from_slice(&body[pos..r.start]);
                        out.extend_from_slice(REVERSE.as_bytes());
                        out.extend_from_slice(&body[r.clone()]);
                        out.extend_from_slice(NO_REVERSE.as_bytes());
                        pos = r.end;
                    }
                    out.extend_from_slice(&body[pos..]);
                }
                None => out.extend_from_slice(body),
            }
            out.extend_from_slice(RESET.as_bytes());
        } else {
            out.push(sign);
            out.extend_from_slice(body);
        }
        out.push(b'\n');
        if !line.has_newline() {
            out.extend_from_slice(b"\\ No newline at end of file\n");
        }
    }
}

/// For each line of a hunk, the byte ranges to emphasise: in each block of deleted lines followed
/// by added lines, the i-th deleted line is paired with the i-th added line and their differing
/// words are marked, when the two lines are alike enough for that to help.
pub fn word_emphasis(h: &Hunk) -> Vec<Option<Vec<std::ops::Range<usize>>>> {
    let mut out = vec![None; h.lines.len()];
    for (d, a) in word_partners(h).into_iter().enumerate() {
        if let Some(a) = a
            && let Some((rd, ra)) = word_ranges(&h.lines[d].text, &h.lines[a].text)
        {
            out[d] = Some(rd);
            out[a] = Some(ra);
        }
    }
    out
}

/// For each line of a hunk, the added line a deleted one is paired with by [`word_emphasis`]
/// (`None` for the others): the pairs, without the work of marking their words, so that a
/// renderer can mark each pair when it reaches it.
pub fn word_partners(h: &Hunk) -> Vec<Option<usize>> {
    let mut out = vec![None; h.lines.len()];
    let mut i = 0;
    while i < h.lines.len() {
        if h.lines[i].kind != LineKind::Deleted {
            i += 1;
            continue;
        }
        let del_start = i;
        while i < h.lines.len() && h.lines[i].kind == LineKind::Deleted {
            i += 1;
        }
        let add_start = i;
        while i < h.lines.len() && h.lines[i].kind == LineKind::Added {
            i += 1;
        }
        let pairs = (add_start - del_start).min(i - add_start);
        for k in 0..pairs {
            out[del_start + k] = Some(add_start + k);
        }
    }
    out
}

type Ranges = Vec<std::ops::Range<usize>>;

/// The most (old words × new words) between the common start and end of a pair of lines whose
/// changed words are marked: 256 changed words on each side.
pub const MAX_WORD_PAIRS: usize = 1 << 16;

/// The differing words of a deleted line and the added line paired with it (byte ranges into
/// each), or `None` when they are not alike enough for marks to help (or are not text).
pub fn word_ranges(old: &[u8], new: &[u8]) -> Option<(Ranges, Ranges)> {
    let old = std::str::from_utf8(old.strip_suffix(b"\n").unwrap_or(old)).ok()?;
    let new = std::str::from_utf8(new.strip_suffix(b"\n").unwrap_or(new)).ok()?;
    let (ot, nt) = (tokens(old), tokens(new));
    // The words between the common start and end are diffed, in time up to the product of their
    // counts: past `MAX_WORD_PAIRS` (two long lines rewritten in the middle) the lines are shown
    // unmarked, as GitHub leaves long lines, instead of costing seconds a file.
    let same_tok =
        |a: &std::ops::Range<usize>, b: &std::ops::Range<usize>| old[a.clone()] == new[b.clone()];
    let head = ot
        .iter()
        .zip(&nt)
        .take_while(|(a, b)| same_tok(a, b))
        .count();
    let tail = ot[head..]
        .iter()
        .rev()
        .zip(nt[head..].iter().rev())
        .take_while(|(a, b)| same_tok(a, b))
        .count();
    let (om, nm) = (ot.len() - head - tail, nt.len() - head - tail);
    if om.saturating_mul(nm) > MAX_WORD_PAIRS {
        return None;
    }
    let ops = similar::capture_diff_slices(
        similar::Algorithm::Myers,
        &ot.iter().map(|r| &old[r.clone()]).collect::<Vec<_>>(),
        &nt.iter().map(|r| &new[r.clone()]).collect::<Vec<_>>(),
    );
    let mut same = 0;
    let (mut ro, mut rn) = (Vec::new(), Vec::new());
    for op in ops {
        match op.tag() {
            similar::DiffTag::Equal => {
                same += op.old_range().map(|t| ot[t].len()).sum::<usize>();
            }
            _ => {
                let span = |toks: &[std::ops::Range<usize>], r: std::ops::Range<usize>| {
                    (!r.is_empty()).then(|| toks[r.start].start..toks[r.end - 1].end)
                };
                ro.extend(span(&ot, op.old_range()));
                rn.extend(span(&nt, op.new_range()));
            }
        }
    }
    // Lines with little in common are shown whole: emphasis would be noise.
    (same * 3 >= old.len().max(new.len()) && (!ro.is_empty() || !rn.is_empty())).then_some((ro, rn))
}

/// Splits a line into words (runs of alphanumerics or `_`), runs of white space, and single other
/// characters.
fn tokens(s: &str) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut iter = s.char_indices().peekable();
    while let Some((start, c)) = iter.next() {
        let class = |c: char| {
            if c.is_alphanumeric() || c == '_' {
                0
            } else if c.is_whitespace() {
                1
            } else {
                2
            }
        };
        let k = class(c);
        let mut end = start + c.len_utf8();
        if k != 2 {
            while let Some(&(i, c2)) = iter.peek() {
                if class(c2) != k {
                    break;
                }
                end = i + c2.len_utf8();
                iter.next();
            }
        }
        out.push(start..end);
    }
    out
}

/// `--name-status`: one line per file, `M\tpath`, `R087\told\tnew`.
pub fn name_status(diff: &TreeDiff) -> String {
    let mut s = String::new();
    for f in &diff.files {
        match f.status {
            Status::Renamed => {
                let _ = writeln!(
                    s,
                    "R{:03}\t{}\t{}",
                    f.similarity.unwrap_or(0),
                    quote_path("", f.old_path.as_deref().unwrap_or_default()),
                    quote_path("", f.new_path.as_deref().unwrap_or_default())
                );
            }
            st => {
                let _ = writeln!(s, "{}\t{}", st.letter(), quote_path("", f.path()));
            }
        }
    }
    s
}

/// Git's rename display: `dir/{old => new}.py` with the common prefix and suffix factored out.
pub fn rename_display(old: &str, new: &str) -> String {
    let (a, b) = (old.as_bytes(), new.as_bytes());
    // Common prefix, cut after its last '/'.
    let mut pfx = 0;
    for i in 0..a.len().min(b.len()) {
        if a[i] != b[i] {
            break;
        }
        if a[i] == b'/' {
            pfx = i + 1;
        }
    }
    // Common suffix, cut at its first '/', not overlapping the prefix.
    let mut sfx = 0;
    let max_sfx = a.len().min(b.len()) - pfx;
    for i in 1..=max_sfx {
        if a[a.len() - i] != b[b.len() - i] {
            break;
        }
        if a[a.len() - i] == b'/' {
            sfx = i;
        }
    }
    if pfx + sfx == 0 {
        return format!("{old} => {new}");
    }
    format!(
        "{}{{{} => {}}}{}",
        &old[..pfx],
        &old[pfx..old.len() - sfx],
        &new[pfx..new.len() - sfx],
        &old[old.len() - sfx..]
    )
}

/// `--stat`, laid out like git's for an 80-column output.
pub fn stat(diff: &TreeDiff) -> String {
    stat_width(diff, 80, false)
}

/// `--stat` for a given total width; with `color`, the `+` bars green and the `-` bars red, as
/// git colours them.
pub fn stat_width(diff: &TreeDiff, width: usize, color: bool) -> String {
    if diff.files.is_empty() {
        return String::new();
    }
    let names: Vec<String> = diff
        .files
        .iter()
        .map(|f| match f.status {
            Status::Renamed => rename_display(
                f.old_path.as_deref().unwrap_or_default(),
                f.new_path.as_deref().unwrap_or_default(),
            ),
            _ => f.path().to_string(),
        })
        .collect();
    let max_change = diff
        .files
        .iter()
        .filter(|f| !f.binary)
        .map(|f| f.additions + f.deletions)
        .max()
        .unwrap_or(0);
    let number_width = if diff.files.iter().any(|f| f.binary) {
        max_change.to_string().len().max(3)
    } else {
        max_change.to_string().len()
    };
    let mut name_width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
    let mut graph_width = max_change;
    if name_width + number_width + 6 + graph_width > width {
        let fixed = number_width + 6;
        if name_width > width * 5 / 8 && name_width + fixed + graph_width.min(width / 4) > width {
            name_width = (width * 5 / 8).max(width.saturating_sub(fixed + graph_width));
        }
        graph_width = width.saturating_sub(name_width + fixed).max(1);
    }
    let mut s = String::new();
    for (f, name) in diff.files.iter().zip(&names) {
        let shown = if name.chars().count() > name_width {
            let keep: String = name
                .chars()
                .skip(name.chars().count() - name_width.saturating_sub(3))
                .collect();
            // As git: from the first `/` of what is kept, so no directory name is cut.
            let keep = keep.find('/').map_or(keep.as_str(), |i| &keep[i..]);
            format!("...{keep}")
        } else {
            name.clone()
        };
        let pad = name_width - shown.chars().count();
        if f.binary {
            let (o, n) = (f.old.map_or(0, |m| m.size), f.new.map_or(0, |m| m.size));
            let _ = writeln!(
                s,
                " {shown}{} | {:>number_width$} {o} -> {n} bytes",
                " ".repeat(pad),
                "Bin"
            );
            continue;
        }
        let total = f.additions + f.deletions;
        let (mut add, mut del) = (f.additions, f.deletions);
        if graph_width < max_change && max_change > 0 {
            let scale = |it: usize| {
                if it == 0 {
                    0
                } else {
                    1 + it * (graph_width - 1) / max_change
                }
            };
            let mut t = scale(total);
            if t < 2 && add > 0 && del > 0 {
                t = 2;
            }
            if add < del {
                add = scale(add);
                del = t - add;
            } else {
                del = scale(del);
                add = t - del;
            }
        }
        let paint = |on: &str, bar: &str, n: usize| match (color, n) {
            (_, 0) => String::new(),
            (true, n) => format!("{on}{}{RESET}", bar.repeat(n)),
            (false, n) => bar.repeat(n),
        };
        let bars = format!("{}{}", paint(GREEN, "+", add), paint(RED, "-", del));
        let sep = if bars.is_empty() { "" } else { " " };
        let _ = writeln!(
            s,
            " {shown}{} | {total:>number_width$}{sep}{bars}",
            " ".repeat(pad)
        );
    }
    let (ins, del) = (diff.additions(), diff.deletions());
    let n = diff.files.len();
    let _ = write!(s, " {n} file{} changed", if n == 1 { "" } else { "s" });
    if ins > 0 || del == 0 {
        let _ = write!(s, ", {ins} insertion{}(+)", if ins == 1 { "" } else { "s" });
    }
    if del > 0 || ins == 0 {
        let _ = write!(s, ", {del} deletion{}(-)", if del == 1 { "" } else { "s" });
    }
    s.push('\n');
    s
}

/// JSON of one file's change.
pub fn file_json(f: &FileDiff) -> Value {
    json!({
        "status": f.status,
        "old_path": f.old_path,
        "new_path": f.new_path,
        "old_id": f.old.map(|m| m.id.to_hex()),
        "new_id": f.new.map(|m| m.id.to_hex()),
        "old_mode": f.old.map(|m| mode(&m)),
        "new_mode": f.new.map(|m| mode(&m)),
        "similarity": f.similarity,
        "binary": f.binary,
        "additions": f.additions,
        "deletions": f.deletions,
        "hunks": f.hunks.iter().map(|h| json!({
            "old_start": h.old_start,
            "old_lines": h.old_lines,
            "new_start": h.new_start,
            "new_lines": h.new_lines,
            "header": String::from_utf8_lossy(&hunk_header(h)),
            "lines": h.lines.iter().map(|l| json!({
                "kind": l.kind,
                "text": String::from_utf8_lossy(l.text.strip_suffix(b"\n").unwrap_or(&l.text)),
                "newline": l.has_newline(),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

/// JSON of a whole diff: `{"files": [...]}`.
pub fn diff_json(diff: &TreeDiff) -> Value {
    json!({ "files": diff.files.iter().map(file_json).collect::<Vec<_>>() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_matches_git() {
        assert_eq!(quote_path("a/", "x.py"), "a/x.py");
        assert_eq!(quote_path("a/", "spa ce"), "a/spa ce");
        assert_eq!(quote_path("a/", "ü"), "\"a/\\303\\274\"");
        assert_eq!(quote_path("", "q\"x"), "\"q\\\"x\"");
    }

    #[test]
    fn rename_display_factors_common_parts() {
        assert_eq!(rename_display("a/b/c.py", "a/b/d.py"), "a/b/{c.py => d.py}");
        assert_eq!(rename_display("a/x/f.py", "a/y/f.py"), "a/{x => y}/f.py");
        assert_eq!(rename_display("x.py", "y.py"), "x.py => y.py");
        // git needs a `/` inside the old name to factor a suffix.
        assert_eq!(rename_display("f.py", "d/f.py"), "f.py => d/f.py");
    }

    #[test]
    fn word_ranges_mark_only_the_changed_words() {
        let (o, n) =
            word_ranges(b"    learning_rate = 3e-4\n", b"    learning_rate = 1e-3\n").unwrap();
        // "3e-4" -> "1e-3": the shared "-" is not emphasised.
        assert_eq!(o, [20..22, 23..24]);
        assert_eq!(n, [20..22, 23..24]);
        assert!(word_ranges(b"completely different\n", b"nothing alike here at all\n").is_none());
    }

    /// Long lines are marked where one word changed, whatever their length; two long lines
    /// rewritten in the middle (more than `MAX_WORD_PAIRS` word pairs between their common start
    /// and end) are left unmarked, so no pair costs more than that.
    #[test]
    fn word_marks_are_bounded_by_the_changed_middle_not_the_line() {
        let long = |mid: &str| format!("{}{mid}{}\n", "a, ".repeat(400), ", b".repeat(400));
        let (old, new) = (long("lr = 1"), long("lr = 2"));
        let (d, a) = word_ranges(old.as_bytes(), new.as_bytes()).unwrap();
        let at = old.find("1").unwrap();
        let one = |r: &Ranges| r.iter().map(|x| (x.start, x.end)).collect::<Vec<_>>();
        assert_eq!((one(&d), one(&a)), (vec![(at, at + 1)], vec![(at, at + 1)]));
        // `k = [w0 w1 … ]` against the same with every other word changed, the first and last
        // included: the middle between `k = [` and `]` is 2n − 1 words and spaces a side, half
        // alike. 128 words: 255 × 255 pairs, marked; 129: 257 × 257, over the bound.
        let side = |n: usize, changed: bool| {
            let w = |i: usize| {
                let c = if changed && (i.is_multiple_of(2) || i == n - 1) {
                    'v'
                } else {
                    'w'
                };
                format!("{c}{i}")
            };
            format!("k = [{}]\n", (0..n).map(w).collect::<Vec<_>>().join(" "))
        };
        const { assert!(255 * 255 <= MAX_WORD_PAIRS && 257 * 257 > MAX_WORD_PAIRS) };
        let (d, a) = word_ranges(side(128, false).as_bytes(), side(128, true).as_bytes()).unwrap();
        assert_eq!((d.len(), a.len()), (65, 65));
        assert!(word_ranges(side(129, false).as_bytes(), side(129, true).as_bytes()).is_none());
    }
}
