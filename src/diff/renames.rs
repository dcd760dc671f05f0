//! Rename detection: exact (same blob id) first, then by similarity of content.

use super::*;
use crate::object::LARGE_FILE;
use crate::tree::ManifestEntry;

/// Pairs deleted and added files into renames: identical content first, then by similarity.
pub(super) fn detect_renames(
    objects: &Objects<'_>,
    pairs: Vec<(Option<ManifestEntry>, Option<ManifestEntry>)>,
    opts: &DiffOptions,
) -> Result<Vec<Paired>> {
    let mut out = Vec::new();
    let mut deleted = Vec::new();
    let mut added = Vec::new();
    for p in pairs {
        match p {
            (Some(o), None) => deleted.push(o),
            (None, Some(n)) => added.push(n),
            (old, new) => out.push(Paired {
                old,
                new,
                similarity: None,
            }),
        }
    }
    // Exact: same blob. Among several candidates, prefer the same basename.
    let mut by_id: HashMap<ObjectId, Vec<usize>> = HashMap::new();
    for (i, d) in deleted.iter().enumerate() {
        by_id.entry(d.meta.id).or_default().push(i);
    }
    let mut used_del = vec![false; deleted.len()];
    let mut rest_added = Vec::new();
    for a in added {
        let cands = by_id.get(&a.meta.id).cloned().unwrap_or_default();
        let free: Vec<usize> = cands.into_iter().filter(|&i| !used_del[i]).collect();
        let pick = free
            .iter()
            .copied()
            .find(|&i| basename(&deleted[i].path) == basename(&a.path))
            .or_else(|| free.first().copied());
        match pick {
            Some(i) if a.meta.size > 0 => {
                used_del[i] = true;
                out.push(Paired {
                    old: Some(deleted[i].clone()),
                    new: Some(a),
                    similarity: Some(100),
                });
            }
            _ => rest_added.push(a),
        }
    }
    let rest_deleted: Vec<ManifestEntry> = deleted
        .into_iter()
        .zip(used_del)
        .filter(|(_, u)| !u)
        .map(|(d, _)| d)
        .collect();

    // Similarity: bounded like git's rename limit.
    let mut inexact = Vec::new();
    if let Some(threshold) = opts.rename_threshold
        && !rest_deleted.is_empty()
        && !rest_added.is_empty()
        && rest_deleted.len() * rest_added.len() <= 1_000_000
    {
        let sig = |s: &ManifestEntry| -> Result<Option<Signature>> {
            // Empty files are never paired; large ones only when identical (read in pieces
            // elsewhere, never whole for a similarity score).
            if s.meta.size == 0 || s.meta.size >= LARGE_FILE {
                return Ok(None);
            }
            Ok(Some(Signature::of(&objects.blob(&s.meta.id)?)))
        };
        let dsig = rest_deleted
            .par_iter()
            .map(sig)
            .collect::<Result<Vec<_>>>()?;
        let asig = rest_added.par_iter().map(sig).collect::<Result<Vec<_>>>()?;
        let mut cands = Vec::new();
        for (i, d) in dsig.iter().enumerate() {
            let Some(d) = d else { continue };
            for (j, a) in asig.iter().enumerate() {
                let Some(a) = a else { continue };
                let (small, big) = (d.size.min(a.size), d.size.max(a.size));
                // The score cannot reach the threshold when sizes differ too much.
                if small * 100 < big * u64::from(threshold) {
                    continue;
                }
                let score = d.similarity(a);
                if score >= threshold {
                    let same_base =
                        basename(&rest_deleted[i].path) == basename(&rest_added[j].path);
                    cands.push((score, same_base, i, j));
                }
            }
        }
        cands.sort_by(|x, y| {
            y.0.cmp(&x.0)
                .then(y.1.cmp(&x.1))
                .then(rest_deleted[x.2].path.cmp(&rest_deleted[y.2].path))
                .then(rest_added[x.3].path.cmp(&rest_added[y.3].path))
        });
        let mut dused = vec![false; rest_deleted.len()];
        let mut aused = vec![false; rest_added.len()];
        for (score, _, i, j) in cands {
            if !dused[i] && !aused[j] {
                dused[i] = true;
                aused[j] = true;
                inexact.push((i, j, score));
            }
        }
        for (i, j, score) in &inexact {
            out.push(Paired {
                old: Some(rest_deleted[*i].clone()),
                new: Some(rest_added[*j].clone()),
                similarity: Some(*score),
            });
        }
        for (i, d) in rest_deleted.into_iter().enumerate() {
            if !dused[i] {
                out.push(Paired::deleted(d));
            }
        }
        for (j, a) in rest_added.into_iter().enumerate() {
            if !aused[j] {
                out.push(Paired::added(a));
            }
        }
    } else {
        out.extend(rest_deleted.into_iter().map(Paired::deleted));
        out.extend(rest_added.into_iter().map(Paired::added));
    }
    Ok(out)
}

pub(super) fn basename(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

/// Line fingerprints of a file, for similarity: like git's, the share of bytes the two files
/// have in common, divided by the size of the larger. Kept as (line hash, count, line length)
/// sorted by hash, so two signatures are compared by one merge.
pub(super) struct Signature {
    size: u64,
    lines: Vec<(u64, u64, u64)>,
}

impl Signature {
    fn of(data: &[u8]) -> Signature {
        let mut counts: FxHashMap<u64, (u64, u64)> = FxHashMap::default();
        for line in data.split_inclusive(|&b| b == b'\n') {
            let mut h = rustc_hash::FxHasher::default();
            std::hash::Hasher::write(&mut h, line);
            let e = counts
                .entry(std::hash::Hasher::finish(&h))
                .or_insert((0, line.len() as u64));
            e.0 += 1;
        }
        let mut lines: Vec<(u64, u64, u64)> =
            counts.into_iter().map(|(h, (c, l))| (h, c, l)).collect();
        lines.sort_unstable();
        Signature {
            size: data.len() as u64,
            lines,
        }
    }

    fn similarity(&self, other: &Signature) -> u8 {
        let (a, b) = (&self.lines, &other.lines);
        let (mut i, mut j, mut common) = (0, 0, 0u64);
        while i < a.len() && j < b.len() {
            match a[i].0.cmp(&b[j].0) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    common += a[i].1.min(b[j].1) * a[i].2;
                    i += 1;
                    j += 1;
                }
            }
        }
        let max = self.size.max(other.size).max(1);
        u8::try_from(common * 100 / max).unwrap_or(100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similarity_is_shared_bytes_over_the_larger_size() {
        let a = Signature::of(b"one\ntwo\nthree\nfour\n");
        let b = Signature::of(b"one\ntwo\nthree\nFOUR\n");
        assert_eq!(a.similarity(&b), 73); // 14 of 19 bytes
        assert_eq!(a.similarity(&a), 100);
    }
}
