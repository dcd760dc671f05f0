//! Line diffs: splitting, the line-level edit script, hunks with git's numbers and function
//! context, binary detection, git blob ids and git's binary patch encoding.

use super::*;

/// Whether content counts as binary: a NUL in its first 8000 bytes, as git decides.
pub fn is_binary(data: &[u8]) -> bool {
    data[..data.len().min(BINARY_SNIFF_LEN)].contains(&0)
}

/// Git's blob id (SHA-1 of `"blob <len>\0"` and the content), for `index` lines.
pub fn git_blob_id(data: &[u8]) -> String {
    let mut h = sha1::Sha1::new();
    h.update(format!("blob {}\0", data.len()).as_bytes());
    h.update(data);
    crate::id::hex(&h.finalize())
}

/// Splits content into lines as git does: only `\n` ends a line (a `\r` stays in the line).
pub fn split_lines(data: &[u8]) -> Vec<&[u8]> {
    data.split_inclusive(|&c| c == b'\n').collect()
}

/// Below this many lines in all, a diff cannot take long enough to need a deadline (and checking
/// the clock is a noticeable share of the work).
pub(super) const DEADLINE_FROM_LINES: usize = 4000;

/// The changes between the lines of `old` and `new`, as `git diff` finds them with `algorithm`
/// (see [`super::xdiff`]). Past `deadline` the diff is cut short: still exact, maybe larger.
pub fn line_changes(
    old: &[&[u8]],
    new: &[&[u8]],
    algorithm: Algorithm,
    deadline: Instant,
) -> Vec<Change> {
    let deadline = (old.len() + new.len() > DEADLINE_FROM_LINES).then_some(deadline);
    xdiff::changes(old, new, algorithm, deadline)
}

/// The line diff of `a` and `b` as hunks with `context` lines around changes, grouped and
/// numbered as git does: changes at most `2 × context` lines apart share a hunk.
pub fn line_hunks(
    a: &[u8],
    b: &[u8],
    context: usize,
    algorithm: Algorithm,
    deadline: Instant,
) -> Vec<Hunk> {
    let old = split_lines(a);
    let new = split_lines(b);
    let changes = line_changes(&old, &new, algorithm, deadline);
    let mut hunks = Vec::new();
    let mut rest = changes.as_slice();
    while let Some(first) = rest.first() {
        // The changes of this hunk: each within 2 × context lines of the one before.
        let mut n = 1;
        while let Some(next) = rest.get(n) {
            let prev = rest[n - 1];
            if next.old_start - (prev.old_start + prev.old_len) > 2 * context {
                break;
            }
            n += 1;
        }
        let (group, later) = rest.split_at(n);
        rest = later;
        let last = group[n - 1];
        let (old_end, new_end) = (last.old_start + last.old_len, last.new_start + last.new_len);
        let after = context.min(old.len() - old_end).min(new.len() - new_end);
        let (s1, s2) = (
            first.old_start.saturating_sub(context),
            first.new_start.saturating_sub(context),
        );
        let (e1, e2) = (old_end + after, new_end + after);
        let mut lines = Vec::new();
        let mut push = |kind, src: &[&[u8]], r: std::ops::Range<usize>| {
            for l in &src[r] {
                lines.push(Line {
                    kind,
                    text: l.to_vec(),
                });
            }
        };
        let mut at = s2;
        for c in group {
            push(LineKind::Context, &new, at..c.new_start);
            push(
                LineKind::Deleted,
                &old,
                c.old_start..c.old_start + c.old_len,
            );
            push(LineKind::Added, &new, c.new_start..c.new_start + c.new_len);
            at = c.new_start + c.new_len;
        }
        push(LineKind::Context, &new, at..e2);
        let start = |s: usize, e: usize| if e == s { s } else { s + 1 };
        hunks.push(Hunk {
            old_start: start(s1, e1),
            old_lines: e1 - s1,
            new_start: start(s2, e2),
            new_lines: e2 - s2,
            function: function_context(&old, s1),
            lines,
        });
    }
    hunks
}

/// Git's default hunk-header context: the nearest line before `before` that starts with an ASCII
/// letter, `_` or `$`, cut to 80 bytes, trailing white space trimmed.
pub(super) fn function_context(lines: &[&[u8]], before: usize) -> Option<Vec<u8>> {
    lines[..before.min(lines.len())].iter().rev().find_map(|l| {
        let first = *l.first()?;
        if !(first.is_ascii_alphabetic() || first == b'_' || first == b'$') {
            return None;
        }
        let mut s = &l[..l.len().min(80)];
        while let Some((last, rest)) = s.split_last() {
            // git's isspace: only these four.
            if matches!(last, b' ' | b'\t' | b'\n' | b'\r') {
                s = rest;
            } else {
                break;
            }
        }
        Some(s.to_vec())
    })
}

/// Git's binary patch body: the new content as a zlib `literal`, then the old content (reverse).
pub(super) fn binary_patch(old: &[u8], new: &[u8]) -> Vec<u8> {
    let mut out = b"GIT binary patch\n".to_vec();
    for data in [new, old] {
        out.extend_from_slice(format!("literal {}\n", data.len()).as_bytes());
        let deflated = deflate(data);
        for chunk in deflated.chunks(52) {
            let n = chunk.len() as u8;
            out.push(if n <= 26 { b'A' + n - 1 } else { b'a' + n - 27 });
            encode_85(chunk, &mut out);
            out.push(b'\n');
        }
        out.push(b'\n');
    }
    out
}

pub(super) fn deflate(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    // Writing into a Vec cannot fail.
    let _ = e.write_all(data);
    e.finish().unwrap_or_default()
}

/// Git's base-85 (the alphabet of `base85.c`), 4 bytes to 5 characters, zero-padded.
pub(super) fn encode_85(data: &[u8], out: &mut Vec<u8>) {
    const EN85: &[u8; 85] =
        b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$%&()*+-;<=>?@^_`{|}~";
    for chunk in data.chunks(4) {
        let mut acc: u32 = 0;
        for (i, b) in chunk.iter().enumerate() {
            acc |= u32::from(*b) << (24 - 8 * i);
        }
        let mut buf = [0u8; 5];
        for slot in buf.iter_mut().rev() {
            *slot = EN85[(acc % 85) as usize];
            acc /= 85;
        }
        out.extend_from_slice(&buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(h: &[Hunk]) -> Vec<(usize, usize, usize, usize, String)> {
        h.iter()
            .map(|h| {
                let body: String = h
                    .lines
                    .iter()
                    .map(|l| {
                        let k = match l.kind {
                            LineKind::Context => ' ',
                            LineKind::Added => '+',
                            LineKind::Deleted => '-',
                        };
                        format!("{k}{}", String::from_utf8_lossy(&l.text))
                    })
                    .collect();
                (h.old_start, h.old_lines, h.new_start, h.new_lines, body)
            })
            .collect()
    }

    #[test]
    fn hunks_have_git_numbers() {
        let far = Instant::now() + Duration::from_secs(5);
        let a = b"1\n2\n3\n4\n5\n6\n7\n8\n9\n";
        let b = b"1\n2\n3\n4\nfive\n6\n7\n8\n9\n";
        assert_eq!(
            render(&line_hunks(a, b, 3, Algorithm::Myers, far)),
            [(
                2,
                7,
                2,
                7,
                " 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n".to_string()
            )]
        );
        // Adding to an empty file: old side is "-0,0".
        assert_eq!(
            render(&line_hunks(b"", b"x\n", 3, Algorithm::Myers, far))[0].0,
            0
        );
        // Missing final newline is its own line content.
        let h = line_hunks(b"a\nb", b"a\nb\n", 3, Algorithm::Myers, far);
        assert_eq!(render(&h), [(1, 2, 1, 2, " a\n-b+b\n".to_string())]);
        assert!(!h[0].lines[1].has_newline());
    }

    #[test]
    fn function_context_is_gits_default() {
        let lines: Vec<&[u8]> = vec![
            b"class PPO:\n",
            b"    def f(self):   \n",
            b"        x = 1\n",
        ];
        assert_eq!(function_context(&lines, 3), Some(b"class PPO:".to_vec()));
        assert_eq!(function_context(&lines, 0), None);
        // `_` and `$` start one too; digits, spaces and other characters do not.
        let lines: Vec<&[u8]> = vec![b"_private = 1\r\n", b"$var\n", b"1 = x\n", b"#x\n"];
        assert_eq!(function_context(&lines, 1), Some(b"_private = 1".to_vec()));
        assert_eq!(function_context(&lines, 4), Some(b"$var".to_vec()));
        // Cut to 80 bytes, then trimmed; a form feed is not white space to git (both checked
        // against git diff).
        let long = format!("def f({}):\n", "x, ".repeat(40));
        let lines: Vec<&[u8]> = vec![long.as_bytes(), b"x = 1 \x0c\n"];
        assert_eq!(
            function_context(&lines, 1),
            Some(long.as_bytes()[..80].to_vec())
        );
        assert_eq!(function_context(&lines, 2), Some(b"x = 1 \x0c".to_vec()));
    }

    #[test]
    fn binary_detection_and_git_ids() {
        assert!(is_binary(b"ab\0c"));
        assert!(!is_binary(b"plain text\n"));
        let mut late = vec![b'a'; BINARY_SNIFF_LEN];
        late.push(0);
        assert!(!is_binary(&late));
        // `git hash-object` of "hello\n" and of the empty file.
        assert_eq!(
            git_blob_id(b"hello\n"),
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
        assert_eq!(git_blob_id(b""), "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
    }

    #[test]
    fn base85_matches_git() {
        // From git's base85: 4 zero bytes encode to "00000".
        let mut out = Vec::new();
        encode_85(&[0, 0, 0, 0], &mut out);
        assert_eq!(out, b"00000");
        let mut out = Vec::new();
        encode_85(&[0xff, 0xff, 0xff, 0xff], &mut out);
        assert_eq!(out, b"|NsC0");
    }
}
