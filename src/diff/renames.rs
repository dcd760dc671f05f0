//! Rename detection: exact (same blob id) first, then by similarity of content.

use super::*;

/// Pairs deleted and added files into renames: identical content first, then by similarity.
pub(super) fn detect_renames(
    objects: &Objects<'_>,
    pairs: Vec<(Option<Side>, Option<Side>)>,
    opts: &DiffOptions,
) -> Result<Vec<Paired>> {
    let mut out = Vec::new();
    let mut deleted = Vec::new();
    let mut added = Vec::new();
    for p in pairs {
        match p {
            (Some(o), None) => deleted.push(o),
            (None, Some(n)) => added.push(n),
            (o, n) => out.push((o, n, None)),
        }
    }
    // Exact: same blob. Among several candidates, prefer the same basename.
    let mut by_id: HashMap<ObjectId, Vec<usize>> = HashMap::new();
    for (i, d) in deleted.iter().enumerate() {
        by_id.entry(d.1.id).or_default().push(i);
    }
    let mut used_del = vec![false; deleted.len()];
    let mut rest_added = Vec::new();
    for a in added {
        let cands = by_id.get(&a.1.id).cloned().unwrap_or_default();
        let free: Vec<usize> = cands.into_iter().filter(|&i| !used_del[i]).collect();
        let pick = free
            .iter()
            .copied()
            .find(|&i| basename(&deleted[i].0) == basename(&a.0))
            .or_else(|| free.first().copied());
        match pick {
            Some(i) if a.1.size > 0 => {
                used_del[i] = true;
                out.push((Some(deleted[i].clone()), Some(a), Some(100)));
            }
            _ => rest_added.push(a),
        }
    }
    let rest_deleted: Vec<Side> = deleted
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
        let sig = |s: &Side| -> Result<Option<Signature>> {
            // Empty files are never paired; large ones only when identical (read in pieces
            // elsewhere, never whole for a similarity score).
            if s.1.size == 0 || s.1.size >= crate::store::LARGE_FILE {
                return Ok(None);
            }
            Ok(Some(Signature::of(&objects.blob(&s.1.id)?)))
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
                    let same_base = basename(&rest_deleted[i].0) == basename(&rest_added[j].0);
                    cands.push((score, same_base, i, j));
                }
            }
        }
        cands.sort_by(|x, y| {
            y.0.cmp(&x.0)
                .then(y.1.cmp(&x.1))
                .then(rest_deleted[x.2].0.cmp(&rest_deleted[y.2].0))
                .then(rest_added[x.3].0.cmp(&rest_added[y.3].0))
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
            out.push((
                Some(rest_deleted[*i].clone()),
                Some(rest_added[*j].clone()),
                Some(*score),
            ));
        }
        for (i, d) in rest_deleted.into_iter().enumerate() {
            if !dused[i] {
                out.push((Some(d), None, None));
            }
        }
        for (j, a) in rest_added.into_iter().enumerate() {
            if !aused[j] {
                out.push((None, Some(a), None));
            }
        }
    } else {
        out.extend(rest_deleted.into_iter().map(|d| (Some(d), None, None)));
        out.extend(rest_added.into_iter().map(|a| (None, Some(a), None)));
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
