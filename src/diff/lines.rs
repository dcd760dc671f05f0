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

/// The Patience diff operations between the lines of `old` and `new`.
///
/// Lines are interned to integers first (each line hashed once), and the common prefix and
/// suffix are matched directly before the algorithm sees the rest, as git's xdiff does.
pub fn line_ops<'a>(old: &[&'a [u8]], new: &[&'a [u8]], deadline: Instant) -> Vec<DiffOp> {
    let prefix = old.iter().zip(new).take_while(|(a, b)| a == b).count();
    let max_suffix = old.len().min(new.len()) - prefix;
    let suffix = old
        .iter()
        .rev()
        .zip(new.iter().rev())
        .take(max_suffix)
        .take_while(|(a, b)| a == b)
        .count();
    let (old_mid, new_mid) = (
        &old[prefix..old.len() - suffix],
        &new[prefix..new.len() - suffix],
    );
    let mut ids: FxHashMap<&'a [u8], u32> =
        FxHashMap::with_capacity_and_hasher(old_mid.len() + new_mid.len(), Default::default());
    let mut a = Vec::with_capacity(old_mid.len());
    let mut b = Vec::with_capacity(new_mid.len());
    for (lines, out) in [(old_mid, &mut a), (new_mid, &mut b)] {
        for l in lines {
            let n = ids.len() as u32;
            out.push(*ids.entry(*l).or_insert(n));
        }
    }
    let deadline = (a.len() + b.len() > DEADLINE_FROM_LINES).then_some(deadline);
    let mut ops = Vec::new();
    if prefix > 0 {
        ops.push(DiffOp::Equal {
            old_index: 0,
            new_index: 0,
            len: prefix,
        });
    }
    for op in similar::capture_diff_slices_deadline(Algorithm::Patience, &a, &b, deadline) {
        ops.push(shift(op, prefix));
    }
    if suffix > 0 {
        ops.push(DiffOp::Equal {
            old_index: old.len() - suffix,
            new_index: new.len() - suffix,
            len: suffix,
        });
    }
    ops
}

/// `op` with both sides moved `by` lines down.
pub(super) fn shift(op: DiffOp, by: usize) -> DiffOp {
    match op {
        DiffOp::Equal {
            old_index,
            new_index,
            len,
        } => DiffOp::Equal {
            old_index: old_index + by,
            new_index: new_index + by,
            len,
        },
        DiffOp::Delete {
            old_index,
            old_len,
            new_index,
        } => DiffOp::Delete {
            old_index: old_index + by,
            old_len,
            new_index: new_index + by,
        },
        DiffOp::Insert {
            old_index,
            new_index,
            new_len,
        } => DiffOp::Insert {
            old_index: old_index + by,
            new_index: new_index + by,
            new_len,
        },
        DiffOp::Replace {
            old_index,
            old_len,
            new_index,
            new_len,
        } => DiffOp::Replace {
            old_index: old_index + by,
            old_len,
            new_index: new_index + by,
            new_len,
        },
    }
}

/// The Patience line diff of `a` and `b` as hunks with `context` lines around changes.
pub fn line_hunks(a: &[u8], b: &[u8], context: usize, deadline: Instant) -> Vec<Hunk> {
    let old_lines = split_lines(a);
    let new_lines = split_lines(b);
    let ops = line_ops(&old_lines, &new_lines, deadline);
    let mut hunks = Vec::new();
    for group in similar::group_diff_ops(ops, context) {
        let (Some(first), Some(last)) = (group.first(), group.last()) else {
            continue;
        };
        let old_range = first.old_range().start..last.old_range().end;
        let new_range = first.new_range().start..last.new_range().end;
        let mut lines = Vec::new();
        for op in &group {
            let push = |lines: &mut Vec<Line>, kind, src: &[&[u8]], r: std::ops::Range<usize>| {
                for i in r {
                    lines.push(Line {
                        kind,
                        text: src[i].to_vec(),
                    });
                }
            };
            match *op {
                DiffOp::Equal { .. } => {
                    push(&mut lines, LineKind::Context, &old_lines, op.old_range())
                }
                DiffOp::Delete { .. } => {
                    push(&mut lines, LineKind::Deleted, &old_lines, op.old_range())
                }
                DiffOp::Insert { .. } => {
                    push(&mut lines, LineKind::Added, &new_lines, op.new_range())
                }
                DiffOp::Replace { .. } => {
                    push(&mut lines, LineKind::Deleted, &old_lines, op.old_range());
                    push(&mut lines, LineKind::Added, &new_lines, op.new_range());
                }
            }
        }
        let start = |r: &std::ops::Range<usize>| if r.is_empty() { r.start } else { r.start + 1 };
        hunks.push(Hunk {
            old_start: start(&old_range),
            old_lines: old_range.len(),
            new_start: start(&new_range),
            new_lines: new_range.len(),
            function: function_context(&old_lines, old_range.start),
            lines,
        });
    }
    hunks
}

/// Git's default hunk-header context: the nearest line before `before` that starts with a letter,
/// `_` or `$`, cut to 80 bytes, trailing white space trimmed.
pub(super) fn function_context(lines: &[&[u8]], before: usize) -> Option<Vec<u8>> {
    lines[..before.min(lines.len())].iter().rev().find_map(|l| {
        let first = *l.first()?;
        if !(first.is_ascii_alphabetic() || first == b'_' || first == b'$') {
            return None;
        }
        let mut s = &l[..l.len().min(80)];
        while let Some((last, rest)) = s.split_last() {
            if last.is_ascii_whitespace() || *last == 0x0b {
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
            render(&line_hunks(a, b, 3, far)),
            [(
                2,
                7,
                2,
                7,
                " 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n".to_string()
            )]
        );
        // Adding to an empty file: old side is "-0,0".
        assert_eq!(render(&line_hunks(b"", b"x\n", 3, far))[0].0, 0);
        // Missing final newline is its own line content.
        let h = line_hunks(b"a\nb", b"a\nb\n", 3, far);
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
