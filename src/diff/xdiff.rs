//! Line diffs made the way git makes them, so that the same two files give the same hunks.
//!
//! git's diff library (xdiff) does more than find a shortest edit script: the algorithm it runs
//! (Myers with its own speed heuristics by default, or minimal Myers, Patience, Histogram), what
//! it does before (lines without a match on the other side are set aside, for Myers) and after
//! (every run of changed lines that could be shifted up or down is slid to one place, chosen by
//! the indent heuristic) all decide which of many equally short diffs is printed. This module is
//! a re-implementation of those steps from their description in git's `xdiff/` (`xprepare.c`,
//! `xdiffi.c`, `xpatience.c`, `xhistogram.c`), step by step, so that every such choice is made as
//! git makes it; `tests/it/gitdiff.rs` compares the result with `git diff` on a real history.
//!
//! Lines are compared as whole byte strings, line ending included (git's model without any
//! whitespace option). Positions are 0-based, except inside Patience and Histogram, which count
//! lines from 1 as git's code does (0 there means "none").

use std::time::Instant;

use rustc_hash::FxHashMap;

/// Which diff algorithm to run (git's `--diff-algorithm`). Whichever it is, the changes are then
/// slid into place with git's indent heuristic, as `git diff` does by default since git 2.14.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    /// git's default: Myers with git's heuristics, which give up on a minimal diff where finding
    /// it would be expensive (`git diff`).
    #[default]
    Myers,
    /// Myers without the heuristics: a diff with as few changed lines as possible
    /// (`git diff --minimal`).
    Minimal,
    /// Patience: lines unique on both sides anchor the diff (`git diff --patience`).
    Patience,
    /// Histogram: Patience extended to lines that are rare rather than unique
    /// (`git diff --histogram`).
    Histogram,
}

impl Algorithm {
    /// Every algorithm, the default first.
    pub const ALL: [Algorithm; 4] = [
        Algorithm::Myers,
        Algorithm::Minimal,
        Algorithm::Patience,
        Algorithm::Histogram,
    ];

    /// The name git's `--diff-algorithm` gives it.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Myers => "myers",
            Algorithm::Minimal => "minimal",
            Algorithm::Patience => "patience",
            Algorithm::Histogram => "histogram",
        }
    }

    /// The algorithm of a `--diff-algorithm` name (`default` is `myers`, as for git).
    pub fn from_name(name: &str) -> Option<Algorithm> {
        match name.to_ascii_lowercase().as_str() {
            "myers" | "default" => Some(Algorithm::Myers),
            "minimal" => Some(Algorithm::Minimal),
            "patience" => Some(Algorithm::Patience),
            "histogram" => Some(Algorithm::Histogram),
            _ => None,
        }
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One run of changed lines: `old_len` lines of the old side at `old_start` are replaced by
/// `new_len` lines of the new side at `new_start` (0-based; a side with no lines has the
/// position the other lines would take). Changes are sorted and never touch each other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Change {
    /// First changed line on the old side.
    pub old_start: usize,
    /// Lines removed.
    pub old_len: usize,
    /// First changed line on the new side.
    pub new_start: usize,
    /// Lines added.
    pub new_len: usize,
}

/// The changes between the lines `old` and `new`, as `git diff` with `algorithm` finds them.
///
/// Past `deadline` the remaining work is cut short: the changes are still exact (applying them
/// to `old` gives `new`) but may be more than needed.
pub fn changes<'a>(
    old: &[&'a [u8]],
    new: &[&'a [u8]],
    algorithm: Algorithm,
    deadline: Option<Instant>,
) -> Vec<Change> {
    let mut ca = Flags::new(old.len());
    let mut cb = Flags::new(new.len());
    let clock = Clock(deadline);
    match algorithm {
        Algorithm::Myers | Algorithm::Minimal => myers_files(
            old,
            new,
            algorithm == Algorithm::Minimal,
            clock,
            ca.lines_mut(),
            cb.lines_mut(),
        ),
        Algorithm::Patience => {
            let (a, b) = classify(old, new);
            patience(&a, &b, clock, &mut ca, &mut cb);
        }
        Algorithm::Histogram => {
            let (a, b) = classify(old, new);
            histogram(&a, &b, clock, &mut ca, &mut cb);
        }
    }
    compact(&mut ca, old, &cb);
    compact(&mut cb, new, &ca);
    script(&ca, &cb, old.len(), new.len())
}

/// The deadline, if any.
#[derive(Clone, Copy)]
struct Clock(Option<Instant>);

impl Clock {
    fn passed(self) -> bool {
        self.0
            .is_some_and(|d| Instant::now().checked_duration_since(d).is_some())
    }
}

/// Each line as a number, equal numbers for equal lines (on either side).
fn classify<'a>(old: &[&'a [u8]], new: &[&'a [u8]]) -> (Vec<u32>, Vec<u32>) {
    let mut ids: FxHashMap<&'a [u8], u32> =
        FxHashMap::with_capacity_and_hasher(old.len().max(new.len()), Default::default());
    let mut a = Vec::with_capacity(old.len());
    let mut b = Vec::with_capacity(new.len());
    for (lines, out) in [(old, &mut a), (new, &mut b)] {
        for l in lines {
            let n = ids.len() as u32;
            out.push(*ids.entry(*l).or_insert(n));
        }
    }
    (a, b)
}

/// Which lines of one side are changed, with a `false` before the first and after the last line
/// (git's sentinels), so positions `-1` and `len` can be read.
struct Flags {
    v: Vec<bool>,
}

impl Flags {
    fn new(n: usize) -> Flags {
        Flags {
            v: vec![false; n + 2],
        }
    }

    fn len(&self) -> isize {
        self.v.len() as isize - 2
    }

    /// Whether line `i` is changed; `false` outside the side.
    fn get(&self, i: isize) -> bool {
        i >= -1 && i <= self.len() && self.v[(i + 1) as usize]
    }

    fn set(&mut self, i: isize, changed: bool) {
        self.v[(i + 1) as usize] = changed;
    }

    /// The flags of the lines themselves.
    fn lines_mut(&mut self) -> &mut [bool] {
        let n = self.v.len() - 1;
        &mut self.v[1..n]
    }

    /// Marks `count` lines from the 1-based line `line`.
    fn mark(&mut self, line: usize, count: usize) {
        for f in &mut self.v[line..line + count] {
            *f = true;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Myers, as git runs it (xprepare.c, xdiffi.c).

/// Below this many steps, git's Myers never gives up on a minimal split (`XDL_MAX_COST_MIN`).
const MAX_COST_MIN: isize = 256;
/// The edit cost above which a long enough snake may be taken as a split (`XDL_HEUR_MIN_COST`).
const HEUR_MIN_COST: isize = 256;
/// How many equal lines make a snake worth splitting at (`XDL_SNAKE_CNT`).
const SNAKE_CNT: isize = 20;
/// How far a snake must have got, per unit of cost, to be taken (`XDL_K_HEUR`).
const K_HEUR: isize = 4;
/// A line matching more lines than this (or the square root of the side's length) on the other
/// side counts as frequent when lines are set aside (`XDL_MAX_EQLIMIT`).
const MAX_EQLIMIT: usize = 1024;
/// How far around a frequent line its neighbours are looked at (`XDL_SIMSCAN_WINDOW`).
const SIMSCAN_WINDOW: isize = 100;
/// How many frequent lines per unmatched line a run may hold to be set aside (`XDL_KPDIS_RUN`).
const KPDIS_RUN: isize = 4;

/// git's rough square root: the smallest power of two whose square exceeds `n`.
fn bogosqrt(mut n: usize) -> usize {
    let mut i = 1;
    while n > 0 {
        i <<= 1;
        n >>= 2;
    }
    i
}

/// Myers' diff of two whole files as git runs it. The common ends are matched first, by bytes,
/// and only the lines between are numbered; the ends are looked at only to count how often each
/// middle line occurs (which decides what is set aside), so a small edit to a large file costs
/// little, and the result is the same as numbering every line.
fn myers_files<'a>(
    old: &[&'a [u8]],
    new: &[&'a [u8]],
    need_min: bool,
    clock: Clock,
    ca: &mut [bool],
    cb: &mut [bool],
) {
    let (n1, n2) = (old.len(), new.len());
    let start = old.iter().zip(new).take_while(|(x, y)| x == y).count();
    let tail = (old[start..].iter().rev())
        .zip(new[start..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (r1, r2) = (start..n1 - tail, start..n2 - tail);
    let (ma, mb) = (&old[r1.clone()], &new[r2.clone()]);
    if ma.is_empty() || mb.is_empty() {
        // Whatever is left on one side is changed.
        ca[r1].fill(true);
        cb[r2].fill(true);
        return;
    }
    let mut ids: FxHashMap<&'a [u8], u32> =
        FxHashMap::with_capacity_and_hasher(ma.len().max(mb.len()), Default::default());
    let mut number = |lines: &[&'a [u8]]| -> Vec<u32> {
        let mut out = Vec::with_capacity(lines.len());
        for l in lines {
            let n = ids.len() as u32;
            out.push(*ids.entry(*l).or_insert(n));
        }
        out
    };
    let (a, b) = (number(ma), number(mb));
    let mut counts = vec![(0usize, 0usize); ids.len()];
    for &x in &a {
        counts[x as usize].0 += 1;
    }
    for &x in &b {
        counts[x as usize].1 += 1;
    }
    // A line of the common ends counts once on each side; only lines as long as some middle
    // line can be equal to one.
    let lengths: rustc_hash::FxHashSet<usize> = ma.iter().chain(mb).map(|l| l.len()).collect();
    for l in old[..start].iter().chain(&old[n1 - tail..]) {
        if lengths.contains(&l.len())
            && let Some(&x) = ids.get(l)
        {
            counts[x as usize].0 += 1;
            counts[x as usize].1 += 1;
        }
    }
    search(
        &a,
        &b,
        (n1, n2),
        |x| counts[x as usize],
        need_min,
        clock,
        (&mut ca[r1], &mut cb[r2]),
    );
}

/// Myers' diff of two parts that Patience or Histogram hand over, prepared as git prepares a
/// whole file (`xdl_fall_back_diff`): the part is all git looks at.
fn classic(a: &[u32], b: &[u32], clock: Clock, ca: &mut [bool], cb: &mut [bool]) {
    let mut counts: FxHashMap<u32, (usize, usize)> =
        FxHashMap::with_capacity_and_hasher(a.len().max(b.len()), Default::default());
    for x in a {
        counts.entry(*x).or_default().0 += 1;
    }
    for x in b {
        counts.entry(*x).or_default().1 += 1;
    }
    let count = |x: u32| counts.get(&x).copied().unwrap_or_default();
    search(a, b, (a.len(), b.len()), count, false, clock, (ca, cb));
}

/// git's preparation and Myers search (`xdl_prepare_env` without the numbering, then
/// `xdl_recs_cmp`): the common ends are trimmed, then lines with no match on the other side (and
/// frequent lines among them) are set aside as changed before the search. `count` gives how
/// often a line occurs on each side of the files, whose lengths are `lens`.
fn search(
    a: &[u32],
    b: &[u32],
    lens: (usize, usize),
    count: impl Fn(u32) -> (usize, usize),
    need_min: bool,
    clock: Clock,
    (ca, cb): (&mut [bool], &mut [bool]),
) {
    let (n1, n2) = (a.len(), b.len());
    // The common ends.
    let lim = n1.min(n2);
    let start = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let tail = a[start..]
        .iter()
        .rev()
        .zip(b[start..].iter().rev())
        .take(lim - start)
        .take_while(|(x, y)| x == y)
        .count();
    let (end1, end2) = (n1 - tail, n2 - tail);
    // Lines without a match on the other side (0), with a few (1), with many (2).
    let kinds = |side: &[u32], end: usize, len: usize, other: fn((usize, usize)) -> usize| {
        let mlim = bogosqrt(len).min(MAX_EQLIMIT);
        let mut dis = vec![0u8; side.len()];
        for i in start..end {
            let nm = other(count(side[i]));
            dis[i] = if nm == 0 {
                0
            } else if nm >= mlim {
                2
            } else {
                1
            };
        }
        dis
    };
    let dis1 = kinds(a, end1, lens.0, |c| c.1);
    let dis2 = kinds(b, end2, lens.1, |c| c.0);
    // The lines the search sees; the others are changed.
    let keep = |dis: &[u8], end: usize, flags: &mut [bool]| -> Vec<usize> {
        let mut kept = Vec::with_capacity(end.saturating_sub(start));
        for i in start..end {
            let frequent_kept =
                dis[i] == 2 && !clean_mmatch(dis, i as isize, start as isize, end as isize - 1);
            if dis[i] == 1 || frequent_kept {
                kept.push(i);
            } else {
                flags[i] = true;
            }
        }
        kept
    };
    let rindex1 = keep(&dis1, end1, ca);
    let rindex2 = keep(&dis2, end2, cb);
    let ha1: Vec<u32> = rindex1.iter().map(|&i| a[i]).collect();
    let ha2: Vec<u32> = rindex2.iter().map(|&i| b[i]).collect();
    let (c1, c2) = Myers::new(&ha1, &ha2, clock).run(need_min);
    for (k, &i) in rindex1.iter().enumerate() {
        if c1[k] {
            ca[i] = true;
        }
    }
    for (k, &i) in rindex2.iter().enumerate() {
        if c2[k] {
            cb[i] = true;
        }
    }
}

/// Whether the frequent line `i` sits in a run of mostly unmatched lines (then it is set aside
/// too); `s` and `e` bound the lines looked at (git's `xdl_clean_mmatch`).
fn clean_mmatch(dis: &[u8], i: isize, mut s: isize, mut e: isize) -> bool {
    if i - s > SIMSCAN_WINDOW {
        s = i - SIMSCAN_WINDOW;
    }
    if e - i > SIMSCAN_WINDOW {
        e = i + SIMSCAN_WINDOW;
    }
    let run = |step: isize| -> (isize, isize) {
        let (mut unmatched, mut frequent) = (0, 1);
        let mut j = i + step;
        while j >= s && j <= e {
            match dis[j as usize] {
                0 => unmatched += 1,
                2 => frequent += 1,
                _ => break,
            }
            j += step;
        }
        (unmatched, frequent)
    };
    let (rdis0, rpdis0) = run(-1);
    if rdis0 == 0 {
        return false;
    }
    let (rdis1, rpdis1) = run(1);
    if rdis1 == 0 {
        return false;
    }
    let unmatched = rdis0 + rdis1;
    let frequent = rpdis0 + rpdis1;
    frequent * KPDIS_RUN < frequent + unmatched
}

/// Where a box is split, and whether each half must be diffed minimally.
struct Split {
    i1: isize,
    i2: isize,
    min_lo: bool,
    min_hi: bool,
}

/// The linear-space Myers search over the lines kept by [`classic`], with git's heuristics.
struct Myers<'a> {
    a: &'a [u32],
    b: &'a [u32],
    /// Furthest reaching points, forward and backward, indexed by diagonal + `off`.
    kvdf: Vec<isize>,
    kvdb: Vec<isize>,
    off: isize,
    mxcost: isize,
    clock: Clock,
}

impl<'a> Myers<'a> {
    fn new(a: &'a [u32], b: &'a [u32], clock: Clock) -> Myers<'a> {
        let ndiags = a.len() + b.len() + 3;
        Myers {
            a,
            b,
            kvdf: vec![0; ndiags + 1],
            kvdb: vec![0; ndiags + 1],
            off: b.len() as isize + 1,
            mxcost: (bogosqrt(ndiags) as isize).max(MAX_COST_MIN),
            clock,
        }
    }

    fn eq(&self, i1: isize, i2: isize) -> bool {
        self.a[i1 as usize] == self.b[i2 as usize]
    }

    fn f(&self, d: isize) -> isize {
        self.kvdf[(d + self.off) as usize]
    }

    fn set_f(&mut self, d: isize, v: isize) {
        self.kvdf[(d + self.off) as usize] = v;
    }

    fn b(&self, d: isize) -> isize {
        self.kvdb[(d + self.off) as usize]
    }

    fn set_b(&mut self, d: isize, v: isize) {
        self.kvdb[(d + self.off) as usize] = v;
    }

    /// Divide and conquer (git's `xdl_recs_cmp`), with an explicit stack of boxes.
    fn run(mut self, need_min: bool) -> (Vec<bool>, Vec<bool>) {
        let mut c1 = vec![false; self.a.len()];
        let mut c2 = vec![false; self.b.len()];
        let mut boxes = vec![(0, self.a.len() as isize, 0, self.b.len() as isize, need_min)];
        while let Some((mut off1, mut lim1, mut off2, mut lim2, need_min)) = boxes.pop() {
            while off1 < lim1 && off2 < lim2 && self.eq(off1, off2) {
                off1 += 1;
                off2 += 1;
            }
            while off1 < lim1 && off2 < lim2 && self.eq(lim1 - 1, lim2 - 1) {
                lim1 -= 1;
                lim2 -= 1;
            }
            if off1 == lim1 || off2 == lim2 || self.clock.passed() {
                // One side is empty, or there is no time left: everything in the box changed.
                for c in &mut c1[off1 as usize..lim1 as usize] {
                    *c = true;
                }
                for c in &mut c2[off2 as usize..lim2 as usize] {
                    *c = true;
                }
            } else {
                let spl = self.split(off1, lim1, off2, lim2, need_min);
                boxes.push((spl.i1, lim1, spl.i2, lim2, spl.min_hi));
                boxes.push((off1, spl.i1, off2, spl.i2, spl.min_lo));
            }
        }
        (c1, c2)
    }

    /// The middle snake of a box, or, when that is too expensive, a good enough split point
    /// (git's `xdl_split`).
    fn split(
        &mut self,
        off1: isize,
        lim1: isize,
        off2: isize,
        lim2: isize,
        need_min: bool,
    ) -> Split {
        let (dmin, dmax) = (off1 - lim2, lim1 - off2);
        let (fmid, bmid) = (off1 - off2, lim1 - lim2);
        let odd = (fmid - bmid) & 1 != 0;
        let (mut fmin, mut fmax) = (fmid, fmid);
        let (mut bmin, mut bmax) = (bmid, bmid);
        self.set_f(fmid, off1);
        self.set_b(bmid, lim1);
        let mut ec: isize = 1;
        loop {
            let mut got_snake = false;
            // Forward: widen the range of diagonals by one (or narrow it at the box's edges).
            if fmin > dmin {
                fmin -= 1;
                self.set_f(fmin - 1, -1);
            } else {
                fmin += 1;
            }
            if fmax < dmax {
                fmax += 1;
                self.set_f(fmax + 1, -1);
            } else {
                fmax -= 1;
            }
            let mut d = fmax;
            while d >= fmin {
                let mut i1 = if self.f(d - 1) >= self.f(d + 1) {
                    self.f(d - 1) + 1
                } else {
                    self.f(d + 1)
                };
                let prev1 = i1;
                let mut i2 = i1 - d;
                while i1 < lim1 && i2 < lim2 && self.eq(i1, i2) {
                    i1 += 1;
                    i2 += 1;
                }
                if i1 - prev1 > SNAKE_CNT {
                    got_snake = true;
                }
                self.set_f(d, i1);
                if odd && bmin <= d && d <= bmax && self.b(d) <= i1 {
                    return Split {
                        i1,
                        i2,
                        min_lo: true,
                        min_hi: true,
                    };
                }
                d -= 2;
            }
            // Backward.
            if bmin > dmin {
                bmin -= 1;
                self.set_b(bmin - 1, isize::MAX);
            } else {
                bmin += 1;
            }
            if bmax < dmax {
                bmax += 1;
                self.set_b(bmax + 1, isize::MAX);
            } else {
                bmax -= 1;
            }
            let mut d = bmax;
            while d >= bmin {
                let mut i1 = if self.b(d - 1) < self.b(d + 1) {
                    self.b(d - 1)
                } else {
                    self.b(d + 1) - 1
                };
                let prev1 = i1;
                let mut i2 = i1 - d;
                while i1 > off1 && i2 > off2 && self.eq(i1 - 1, i2 - 1) {
                    i1 -= 1;
                    i2 -= 1;
                }
                if prev1 - i1 > SNAKE_CNT {
                    got_snake = true;
                }
                self.set_b(d, i1);
                if !odd && fmin <= d && d <= fmax && i1 <= self.f(d) {
                    return Split {
                        i1,
                        i2,
                        min_lo: true,
                        min_hi: true,
                    };
                }
                d -= 2;
            }
            // Past the deadline, even a minimal diff takes the furthest point reached.
            let out_of_time = self.clock.passed();
            if need_min && !out_of_time {
                ec += 1;
                continue;
            }
            if got_snake && ec > HEUR_MIN_COST && !need_min {
                if let Some(spl) = self.snake_split(off1, lim1, off2, lim2, ec, fmin, fmax, fmid) {
                    return spl;
                }
                if let Some(spl) =
                    self.snake_split_back(off1, lim1, off2, lim2, ec, bmin, bmax, bmid)
                {
                    return spl;
                }
            }
            if ec >= self.mxcost || out_of_time {
                return self.furthest(off1, lim1, off2, lim2, fmin, fmax, bmin, bmax);
            }
            ec += 1;
        }
    }

    /// A forward diagonal that got far, ending in a snake: split there.
    #[allow(clippy::too_many_arguments)]
    fn snake_split(
        &self,
        off1: isize,
        lim1: isize,
        off2: isize,
        lim2: isize,
        ec: isize,
        fmin: isize,
        fmax: isize,
        fmid: isize,
    ) -> Option<Split> {
        let mut best = 0;
        let mut out = None;
        let mut d = fmax;
        while d >= fmin {
            let dd = if d > fmid { d - fmid } else { fmid - d };
            let i1 = self.f(d);
            let i2 = i1 - d;
            let v = (i1 - off1) + (i2 - off2) - dd;
            if v > K_HEUR * ec
                && v > best
                && off1 + SNAKE_CNT <= i1
                && i1 < lim1
                && off2 + SNAKE_CNT <= i2
                && i2 < lim2
            {
                let mut k = 1;
                while self.eq(i1 - k, i2 - k) {
                    if k == SNAKE_CNT {
                        best = v;
                        out = Some(Split {
                            i1,
                            i2,
                            min_lo: true,
                            min_hi: false,
                        });
                        break;
                    }
                    k += 1;
                }
            }
            d -= 2;
        }
        out
    }

    /// The same from the backward search.
    #[allow(clippy::too_many_arguments)]
    fn snake_split_back(
        &self,
        off1: isize,
        lim1: isize,
        off2: isize,
        lim2: isize,
        ec: isize,
        bmin: isize,
        bmax: isize,
        bmid: isize,
    ) -> Option<Split> {
        let mut best = 0;
        let mut out = None;
        let mut d = bmax;
        while d >= bmin {
            let dd = if d > bmid { d - bmid } else { bmid - d };
            let i1 = self.b(d);
            let i2 = i1 - d;
            let v = (lim1 - i1) + (lim2 - i2) - dd;
            if v > K_HEUR * ec
                && v > best
                && off1 < i1
                && i1 <= lim1 - SNAKE_CNT
                && off2 < i2
                && i2 <= lim2 - SNAKE_CNT
            {
                let mut k = 0;
                while self.eq(i1 + k, i2 + k) {
                    if k == SNAKE_CNT - 1 {
                        best = v;
                        out = Some(Split {
                            i1,
                            i2,
                            min_lo: false,
                            min_hi: true,
                        });
                        break;
                    }
                    k += 1;
                }
            }
            d -= 2;
        }
        out
    }

    /// Too expensive: the point furthest along either search.
    #[allow(clippy::too_many_arguments)]
    fn furthest(
        &self,
        off1: isize,
        lim1: isize,
        off2: isize,
        lim2: isize,
        fmin: isize,
        fmax: isize,
        bmin: isize,
        bmax: isize,
    ) -> Split {
        let (mut fbest, mut fbest1) = (-1, -1);
        let mut d = fmax;
        while d >= fmin {
            let mut i1 = self.f(d).min(lim1);
            let mut i2 = i1 - d;
            if lim2 < i2 {
                i1 = lim2 + d;
                i2 = lim2;
            }
            if fbest < i1 + i2 {
                fbest = i1 + i2;
                fbest1 = i1;
            }
            d -= 2;
        }
        let (mut bbest, mut bbest1) = (isize::MAX, isize::MAX);
        let mut d = bmax;
        while d >= bmin {
            let mut i1 = off1.max(self.b(d));
            let mut i2 = i1 - d;
            if i2 < off2 {
                i1 = off2 + d;
                i2 = off2;
            }
            if i1 + i2 < bbest {
                bbest = i1 + i2;
                bbest1 = i1;
            }
            d -= 2;
        }
        if (lim1 + lim2) - bbest < fbest - (off1 + off2) {
            Split {
                i1: fbest1,
                i2: fbest - fbest1,
                min_lo: true,
                min_hi: false,
            }
        } else {
            Split {
                i1: bbest1,
                i2: bbest - bbest1,
                min_lo: false,
                min_hi: true,
            }
        }
    }
}

/// git's fallback from Patience and Histogram to Myers for a part of both sides (1-based lines),
/// prepared afresh as if the part were a whole file.
fn fall_back(
    a: &[u32],
    b: &[u32],
    (line1, count1, line2, count2): (usize, usize, usize, usize),
    clock: Clock,
    ca: &mut Flags,
    cb: &mut Flags,
) {
    let (r1, r2) = (line1 - 1..line1 - 1 + count1, line2 - 1..line2 - 1 + count2);
    let mut f1 = vec![false; count1];
    let mut f2 = vec![false; count2];
    classic(&a[r1], &b[r2], clock, &mut f1, &mut f2);
    for (k, c) in f1.into_iter().enumerate() {
        ca.set((line1 - 1 + k) as isize, c);
    }
    for (k, c) in f2.into_iter().enumerate() {
        cb.set((line2 - 1 + k) as isize, c);
    }
}

// ---------------------------------------------------------------------------------------------
// Patience (xpatience.c).

/// `line2` of a line that is not unique on both sides.
const NON_UNIQUE: usize = usize::MAX;

/// A line of the old part, in the order of its first occurrence there.
struct Entry {
    line1: usize,
    /// Its line on the new side: 0 when absent there, [`NON_UNIQUE`] when repeated on a side.
    line2: usize,
}

fn patience(a: &[u32], b: &[u32], clock: Clock, ca: &mut Flags, cb: &mut Flags) {
    // Parts still to diff (1-based first line and count on each side); the order they are
    // diffed in does not matter, each marks its own lines.
    let mut parts = vec![(1, a.len(), 1, b.len())];
    while let Some((line1, count1, line2, count2)) = parts.pop() {
        if count1 == 0 {
            cb.mark(line2, count2);
            continue;
        }
        if count2 == 0 {
            ca.mark(line1, count1);
            continue;
        }
        if clock.passed() {
            ca.mark(line1, count1);
            cb.mark(line2, count2);
            continue;
        }
        let mut index: FxHashMap<u32, usize> =
            FxHashMap::with_capacity_and_hasher(count1, Default::default());
        let mut entries: Vec<Entry> = Vec::with_capacity(count1);
        for l in line1..line1 + count1 {
            match index.get(&a[l - 1]) {
                Some(&e) => entries[e].line2 = NON_UNIQUE,
                None => {
                    index.insert(a[l - 1], entries.len());
                    entries.push(Entry { line1: l, line2: 0 });
                }
            }
        }
        let mut has_matches = false;
        for l in line2..line2 + count2 {
            if let Some(&e) = index.get(&b[l - 1]) {
                has_matches = true;
                let en = &mut entries[e];
                en.line2 = if en.line2 != 0 { NON_UNIQUE } else { l };
            }
        }
        if !has_matches {
            ca.mark(line1, count1);
            cb.mark(line2, count2);
            continue;
        }
        // The longest sequence of unique common lines in the same order on both sides
        // (patience sorting on the new side's line numbers).
        let mut sequence: Vec<usize> = Vec::new();
        let mut previous: Vec<Option<usize>> = vec![None; entries.len()];
        for (e, entry) in entries.iter().enumerate() {
            if entry.line2 == 0 || entry.line2 == NON_UNIQUE {
                continue;
            }
            let (mut left, mut right) = (-1isize, sequence.len() as isize);
            while left + 1 < right {
                let middle = left + (right - left) / 2;
                if entries[sequence[middle as usize]].line2 > entry.line2 {
                    right = middle;
                } else {
                    left = middle;
                }
            }
            previous[e] = (left >= 0).then(|| sequence[left as usize]);
            let i = (left + 1) as usize;
            if i == sequence.len() {
                sequence.push(e);
            } else {
                sequence[i] = e;
            }
        }
        let Some(&last) = sequence.last() else {
            fall_back(a, b, (line1, count1, line2, count2), clock, ca, cb);
            continue;
        };
        let mut common = vec![last];
        while let Some(p) = previous[common[common.len() - 1]] {
            common.push(p);
        }
        common.reverse();
        // Walk the common lines: grow each match up and down, diff what lies between.
        let (end1, end2) = (line1 + count1, line2 + count2);
        let eq = |l1: usize, l2: usize| a[l1 - 1] == b[l2 - 1];
        let (mut l1, mut l2) = (line1, line2);
        let mut k = 0;
        loop {
            let (mut next1, mut next2) = match common.get(k) {
                Some(&e) => (entries[e].line1, entries[e].line2),
                None => (end1, end2),
            };
            if k < common.len() {
                while next1 > l1 && next2 > l2 && eq(next1 - 1, next2 - 1) {
                    next1 -= 1;
                    next2 -= 1;
                }
            }
            while l1 < next1 && l2 < next2 && eq(l1, l2) {
                l1 += 1;
                l2 += 1;
            }
            if next1 > l1 || next2 > l2 {
                parts.push((l1, next1 - l1, l2, next2 - l2));
            }
            if k >= common.len() {
                break;
            }
            // (git first skips over anchors that directly follow each other; the next turn of
            // this loop finds nothing between them either, so that step is left out.)
            l1 = entries[common[k]].line1 + 1;
            l2 = entries[common[k]].line2 + 1;
            k += 1;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Histogram (xhistogram.c).

/// Lines occurring more often than this in the old part are never anchors; a part whose common
/// lines are all that frequent is diffed with Myers.
const MAX_CHAIN_LENGTH: u32 = 64;

/// The best common region found so far (1-based, inclusive; `begin1 == 0` when none).
#[derive(Default)]
struct Region {
    begin1: usize,
    end1: usize,
    begin2: usize,
    end2: usize,
}

/// What is known of a part of the old side: for each distinct line its first occurrence and
/// count; for each line the next occurrence of the same content (0 for none).
struct HistIndex {
    first: Vec<usize>,
    cnt: Vec<u32>,
    of_class: FxHashMap<u32, usize>,
    record: Vec<usize>,
    next: Vec<usize>,
    line1: usize,
    /// The lowest count among the lines of the best region so far.
    best_cnt: u32,
    has_common: bool,
}

impl HistIndex {
    fn new(a: &[u32], line1: usize, count1: usize) -> HistIndex {
        let mut h = HistIndex {
            first: Vec::new(),
            cnt: Vec::new(),
            of_class: FxHashMap::with_capacity_and_hasher(count1, Default::default()),
            record: vec![0; count1],
            next: vec![0; count1],
            line1,
            best_cnt: MAX_CHAIN_LENGTH + 1,
            has_common: false,
        };
        for ptr in (line1..line1 + count1).rev() {
            let r = match h.of_class.get(&a[ptr - 1]) {
                Some(&r) => {
                    h.next[ptr - line1] = h.first[r];
                    h.first[r] = ptr;
                    h.cnt[r] = h.cnt[r].saturating_add(1);
                    r
                }
                None => {
                    h.of_class.insert(a[ptr - 1], h.first.len());
                    h.first.push(ptr);
                    h.cnt.push(1);
                    h.first.len() - 1
                }
            };
            h.record[ptr - line1] = r;
        }
        h
    }

    /// The count of the content of old line `ptr`.
    fn cnt_at(&self, ptr: usize) -> u32 {
        self.cnt[self.record[ptr - self.line1]]
    }
}

/// Tries the regions through new line `b_ptr`; returns the next new line worth trying (git's
/// `try_lcs`).
fn try_lcs(
    a: &[u32],
    b: &[u32],
    index: &mut HistIndex,
    lcs: &mut Region,
    b_ptr: usize,
    (line1, count1, line2, count2): (usize, usize, usize, usize),
) -> usize {
    let mut b_next = b_ptr + 1;
    let (end1, end2) = (line1 + count1 - 1, line2 + count2 - 1);
    let eq = |l1: usize, l2: usize| a[l1 - 1] == b[l2 - 1];
    let Some(&r) = index.of_class.get(&b[b_ptr - 1]) else {
        return b_next;
    };
    index.has_common = true;
    if index.cnt[r] > index.best_cnt {
        return b_next;
    }
    let mut as_ = index.first[r];
    loop {
        let mut np = index.next[as_ - line1];
        let mut bs = b_ptr;
        let mut ae = as_;
        let mut be = bs;
        let mut rc = index.cnt[r];
        while line1 < as_ && line2 < bs && eq(as_ - 1, bs - 1) {
            as_ -= 1;
            bs -= 1;
            if 1 < rc {
                rc = rc.min(index.cnt_at(as_));
            }
        }
        while ae < end1 && be < end2 && eq(ae + 1, be + 1) {
            ae += 1;
            be += 1;
            if 1 < rc {
                rc = rc.min(index.cnt_at(ae));
            }
        }
        if b_next <= be {
            b_next = be + 1;
        }
        if lcs.end1 - lcs.begin1 < ae - as_ || rc < index.best_cnt {
            *lcs = Region {
                begin1: as_,
                end1: ae,
                begin2: bs,
                end2: be,
            };
            index.best_cnt = rc;
        }
        if np == 0 {
            break;
        }
        while np <= ae {
            np = index.next[np - line1];
            if np == 0 {
                return b_next;
            }
        }
        as_ = np;
    }
    b_next
}

fn histogram(a: &[u32], b: &[u32], clock: Clock, ca: &mut Flags, cb: &mut Flags) {
    let mut parts = vec![(1, a.len(), 1, b.len())];
    while let Some((mut line1, mut count1, mut line2, mut count2)) = parts.pop() {
        loop {
            if count1 == 0 && count2 == 0 {
                break;
            }
            if count1 == 0 {
                cb.mark(line2, count2);
                break;
            }
            if count2 == 0 {
                ca.mark(line1, count1);
                break;
            }
            if clock.passed() {
                ca.mark(line1, count1);
                cb.mark(line2, count2);
                break;
            }
            let part = (line1, count1, line2, count2);
            let mut index = HistIndex::new(a, line1, count1);
            let mut lcs = Region::default();
            let mut b_ptr = line2;
            while b_ptr < line2 + count2 {
                b_ptr = try_lcs(a, b, &mut index, &mut lcs, b_ptr, part);
            }
            if index.has_common && MAX_CHAIN_LENGTH < index.best_cnt {
                // Common lines, but all too frequent to anchor on.
                fall_back(a, b, part, clock, ca, cb);
                break;
            }
            if lcs.begin1 == 0 && lcs.begin2 == 0 {
                ca.mark(line1, count1);
                cb.mark(line2, count2);
                break;
            }
            parts.push((line1, lcs.begin1 - line1, line2, lcs.begin2 - line2));
            count1 = line1 + count1 - 1 - lcs.end1;
            line1 = lcs.end1 + 1;
            count2 = line2 + count2 - 1 - lcs.end2;
            line2 = lcs.end2 + 1;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Sliding changes into place (xdiffi.c: xdl_change_compact and the indent heuristic).

/// Indentation beyond this is not measured (`MAX_INDENT`).
const MAX_INDENT: i32 = 200;
/// Blank lines beyond this are not counted (`MAX_BLANKS`).
const MAX_BLANKS: i32 = 20;
/// How far a change is slid at most by the indent heuristic.
const INDENT_HEURISTIC_MAX_SLIDING: isize = 100;
const START_OF_FILE_PENALTY: i32 = 1;
const END_OF_FILE_PENALTY: i32 = 21;
const TOTAL_BLANK_WEIGHT: i32 = -30;
const POST_BLANK_WEIGHT: i32 = 6;
const RELATIVE_INDENT_PENALTY: i32 = -4;
const RELATIVE_INDENT_WITH_BLANK_PENALTY: i32 = 10;
const RELATIVE_OUTDENT_PENALTY: i32 = 24;
const RELATIVE_OUTDENT_WITH_BLANK_PENALTY: i32 = 17;
const RELATIVE_DEDENT_PENALTY: i32 = 23;
const RELATIVE_DEDENT_WITH_BLANK_PENALTY: i32 = 17;
const INDENT_WEIGHT: i32 = 60;

/// git's `isspace` (its own ASCII table: only space, tab, newline and carriage return).
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r')
}

/// The indentation of a line (a tab to the next multiple of 8), or -1 for a blank line.
fn indent(line: &[u8]) -> i32 {
    let mut ret = 0;
    for &c in line {
        if !is_space(c) {
            return ret;
        } else if c == b' ' {
            ret += 1;
        } else if c == b'\t' {
            ret += 8 - ret % 8;
        }
        if ret >= MAX_INDENT {
            return MAX_INDENT;
        }
    }
    -1
}

/// What the heuristic looks at around a split before line `split`.
struct Measure {
    end_of_file: bool,
    indent: i32,
    pre_blank: i32,
    pre_indent: i32,
    post_blank: i32,
    post_indent: i32,
}

fn measure(lines: &[&[u8]], split: isize) -> Measure {
    let n = lines.len() as isize;
    let (end_of_file, ind) = if split >= n {
        (true, -1)
    } else {
        (false, indent(lines[split as usize]))
    };
    let (mut pre_blank, mut pre_indent) = (0, -1);
    let mut i = split - 1;
    while i >= 0 {
        pre_indent = indent(lines[i as usize]);
        if pre_indent != -1 {
            break;
        }
        pre_blank += 1;
        if pre_blank == MAX_BLANKS {
            pre_indent = 0;
            break;
        }
        i -= 1;
    }
    let (mut post_blank, mut post_indent) = (0, -1);
    let mut i = split + 1;
    while i < n {
        post_indent = indent(lines[i as usize]);
        if post_indent != -1 {
            break;
        }
        post_blank += 1;
        if post_blank == MAX_BLANKS {
            post_indent = 0;
            break;
        }
        i += 1;
    }
    Measure {
        end_of_file,
        indent: ind,
        pre_blank,
        pre_indent,
        post_blank,
        post_indent,
    }
}

/// A split's badness: its effective indent and a penalty (smaller is better for both).
#[derive(Clone, Copy, Default)]
struct Score {
    effective_indent: i32,
    penalty: i32,
}

fn score_add(m: &Measure, s: &mut Score) {
    if m.pre_indent == -1 && m.pre_blank == 0 {
        s.penalty += START_OF_FILE_PENALTY;
    }
    if m.end_of_file {
        s.penalty += END_OF_FILE_PENALTY;
    }
    let post_blank = if m.indent == -1 { 1 + m.post_blank } else { 0 };
    let total_blank = m.pre_blank + post_blank;
    s.penalty += TOTAL_BLANK_WEIGHT * total_blank;
    s.penalty += POST_BLANK_WEIGHT * post_blank;
    let ind = if m.indent != -1 {
        m.indent
    } else {
        m.post_indent
    };
    let any_blanks = total_blank != 0;
    s.effective_indent += ind;
    if ind == -1 || m.pre_indent == -1 {
        // Nothing more to weigh.
    } else if ind > m.pre_indent {
        s.penalty += if any_blanks {
            RELATIVE_INDENT_WITH_BLANK_PENALTY
        } else {
            RELATIVE_INDENT_PENALTY
        };
    } else if ind == m.pre_indent {
        // Same level as the line before.
    } else if m.post_indent != -1 && m.post_indent > ind {
        // Probably the start of a block.
        s.penalty += if any_blanks {
            RELATIVE_OUTDENT_WITH_BLANK_PENALTY
        } else {
            RELATIVE_OUTDENT_PENALTY
        };
    } else {
        // Probably the end of a block.
        s.penalty += if any_blanks {
            RELATIVE_DEDENT_WITH_BLANK_PENALTY
        } else {
            RELATIVE_DEDENT_PENALTY
        };
    }
}

fn score_cmp(s1: Score, s2: Score) -> i32 {
    let cmp_indents = i32::from(s1.effective_indent > s2.effective_indent)
        - i32::from(s1.effective_indent < s2.effective_indent);
    INDENT_WEIGHT * cmp_indents + (s1.penalty - s2.penalty)
}

/// A run of changed lines `start..end` (empty: the place between two unchanged lines).
#[derive(Clone, Copy)]
struct Group {
    start: isize,
    end: isize,
}

impl Group {
    fn first(f: &Flags) -> Group {
        let mut g = Group { start: 0, end: 0 };
        while f.get(g.end) {
            g.end += 1;
        }
        g
    }

    fn next(&mut self, f: &Flags) -> bool {
        if self.end == f.len() {
            return false;
        }
        self.start = self.end + 1;
        self.end = self.start;
        while f.get(self.end) {
            self.end += 1;
        }
        true
    }

    fn previous(&mut self, f: &Flags) -> bool {
        if self.start == 0 {
            return false;
        }
        self.end = self.start - 1;
        self.start = self.end;
        while f.get(self.start - 1) {
            self.start -= 1;
        }
        true
    }

    fn slide_down(&mut self, f: &mut Flags, lines: &[&[u8]]) -> bool {
        if self.end < f.len() && lines[self.start as usize] == lines[self.end as usize] {
            f.set(self.start, false);
            self.start += 1;
            f.set(self.end, true);
            self.end += 1;
            while f.get(self.end) {
                self.end += 1;
            }
            true
        } else {
            false
        }
    }

    fn slide_up(&mut self, f: &mut Flags, lines: &[&[u8]]) -> bool {
        if self.start > 0 && lines[(self.start - 1) as usize] == lines[(self.end - 1) as usize] {
            self.start -= 1;
            f.set(self.start, true);
            self.end -= 1;
            f.set(self.end, false);
            while f.get(self.start - 1) {
                self.start -= 1;
            }
            true
        } else {
            false
        }
    }
}

/// Slides each run of changed lines of one side as far up and down as it can go (merging runs
/// that meet), then puts it back where it lines up with a change on the other side, else where
/// the indent heuristic scores best (git's `xdl_change_compact`).
fn compact(f: &mut Flags, lines: &[&[u8]], other: &Flags) {
    let mut g = Group::first(f);
    let mut go = Group::first(other);
    loop {
        if g.end != g.start {
            let mut groupsize;
            let mut earliest_end;
            let mut end_matching_other;
            loop {
                groupsize = g.end - g.start;
                end_matching_other = -1;
                while g.slide_up(f, lines) {
                    go.previous(other);
                }
                earliest_end = g.end;
                if go.end > go.start {
                    end_matching_other = g.end;
                }
                while g.slide_down(f, lines) {
                    go.next(other);
                    if go.end > go.start {
                        end_matching_other = g.end;
                    }
                }
                if groupsize == g.end - g.start {
                    break;
                }
            }
            if g.end == earliest_end {
                // It cannot move.
            } else if end_matching_other != -1 {
                while go.end == go.start {
                    g.slide_up(f, lines);
                    go.previous(other);
                }
            } else {
                let mut shift = earliest_end;
                if g.end - groupsize - 1 > shift {
                    shift = g.end - groupsize - 1;
                }
                if g.end - INDENT_HEURISTIC_MAX_SLIDING > shift {
                    shift = g.end - INDENT_HEURISTIC_MAX_SLIDING;
                }
                let mut best: Option<(isize, Score)> = None;
                while shift <= g.end {
                    let mut score = Score::default();
                    score_add(&measure(lines, shift), &mut score);
                    score_add(&measure(lines, shift - groupsize), &mut score);
                    if best.is_none_or(|(_, b)| score_cmp(score, b) <= 0) {
                        best = Some((shift, score));
                    }
                    shift += 1;
                }
                if let Some((best_shift, _)) = best {
                    while g.end > best_shift {
                        g.slide_up(f, lines);
                        go.previous(other);
                    }
                }
            }
        }
        if !g.next(f) {
            break;
        }
        go.next(other);
    }
}

/// The changes, from the flags of both sides (git's `xdl_build_script`).
fn script(ca: &Flags, cb: &Flags, n1: usize, n2: usize) -> Vec<Change> {
    let mut out = Vec::new();
    let (mut i1, mut i2) = (n1 as isize, n2 as isize);
    while i1 >= 0 || i2 >= 0 {
        if ca.get(i1 - 1) || cb.get(i2 - 1) {
            let (l1, l2) = (i1, i2);
            while ca.get(i1 - 1) {
                i1 -= 1;
            }
            while cb.get(i2 - 1) {
                i2 -= 1;
            }
            out.push(Change {
                old_start: i1 as usize,
                old_len: (l1 - i1) as usize,
                new_start: i2 as usize,
                new_len: (l2 - i2) as usize,
            });
        }
        i1 -= 1;
        i2 -= 1;
    }
    out.reverse();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(s: &str) -> Vec<&[u8]> {
        s.as_bytes().split_inclusive(|&c| c == b'\n').collect()
    }

    /// Applying the changes to `old` gives `new`.
    fn apply(old: &[&[u8]], new: &[&[u8]], ch: &[Change]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut i = 0;
        for c in ch {
            out.extend(old[i..c.old_start].iter().map(|l| l.to_vec()));
            out.extend(
                new[c.new_start..c.new_start + c.new_len]
                    .iter()
                    .map(|l| l.to_vec()),
            );
            i = c.old_start + c.old_len;
        }
        out.extend(old[i..].iter().map(|l| l.to_vec()));
        out
    }

    #[test]
    fn every_algorithm_gives_a_correct_script() {
        let a = lines("a\nb\nc\nd\ne\nf\ng\na\nb\n");
        let b = lines("x\nb\nc\ne\nf\ny\ng\na\nb\nz\n");
        for alg in Algorithm::ALL {
            let ch = changes(&a, &b, alg, None);
            let want: Vec<Vec<u8>> = b.iter().map(|l| l.to_vec()).collect();
            assert_eq!(apply(&a, &b, &ch), want, "{alg}");
        }
    }

    #[test]
    fn a_past_deadline_still_gives_a_correct_script() {
        let a: Vec<String> = (0..3000).map(|i| format!("{}\n", i % 7)).collect();
        let b: Vec<String> = (0..3000).map(|i| format!("{}\n", i % 5)).collect();
        let a: Vec<&[u8]> = a.iter().map(|s| s.as_bytes()).collect();
        let b: Vec<&[u8]> = b.iter().map(|s| s.as_bytes()).collect();
        let past = Some(Instant::now());
        for alg in Algorithm::ALL {
            let ch = changes(&a, &b, alg, past);
            let want: Vec<Vec<u8>> = b.iter().map(|l| l.to_vec()).collect();
            assert_eq!(apply(&a, &b, &ch), want, "{alg}");
        }
    }

    #[test]
    fn the_indent_heuristic_puts_an_added_function_after_the_blank_line() {
        // Adding a function between two: the blank line could go before or after the addition;
        // git puts the added lines so that the new function starts the hunk.
        let a = lines("def a():\n    pass\n\ndef c():\n    pass\n");
        let b = lines("def a():\n    pass\n\ndef b():\n    pass\n\ndef c():\n    pass\n");
        for alg in Algorithm::ALL {
            assert_eq!(
                changes(&a, &b, alg, None),
                [Change {
                    old_start: 3,
                    old_len: 0,
                    new_start: 3,
                    new_len: 3
                }],
                "{alg}"
            );
        }
    }

    #[test]
    fn past_the_deadline_the_parts_left_are_changed_whole() {
        // Two long files, lines 10 and 2990 swapped: without a deadline four lines change; past
        // it, Myers marks everything between the common ends, Patience and Histogram everything.
        let a: Vec<String> = (0..3000).map(|i| format!("line {i}\n")).collect();
        let mut b = a.clone();
        b.swap(10, 2990);
        let a: Vec<&[u8]> = a.iter().map(|s| s.as_bytes()).collect();
        let b: Vec<&[u8]> = b.iter().map(|s| s.as_bytes()).collect();
        let changed = |ch: &[Change]| ch.iter().map(|c| c.old_len + c.new_len).sum::<usize>();
        let past = Some(Instant::now());
        let far = Some(Instant::now() + std::time::Duration::from_secs(3600));
        for alg in Algorithm::ALL {
            assert_eq!(changed(&changes(&a, &b, alg, None)), 4, "{alg}");
            assert_eq!(changed(&changes(&a, &b, alg, far)), 4, "{alg}");
            let whole = match alg {
                Algorithm::Myers | Algorithm::Minimal => 2 * 2981,
                Algorithm::Patience | Algorithm::Histogram => 2 * 3000,
            };
            assert_eq!(changed(&changes(&a, &b, alg, past)), whole, "{alg}");
        }
    }

    #[test]
    fn bogosqrt_is_gits() {
        let cases = [
            (0, 1),
            (1, 2),
            (3, 2),
            (4, 4),
            (15, 4),
            (16, 8),
            (24003, 256),
        ];
        for (n, want) in cases {
            assert_eq!(bogosqrt(n), want, "{n}");
        }
        // Git's Myers searches further from 65,536 lines in all.
        assert_eq!(bogosqrt(65535), 256);
        assert_eq!(bogosqrt(65536), 512);
    }

    #[test]
    fn indent_is_gits() {
        assert_eq!(indent(b"x\n"), 0);
        assert_eq!(indent(b"    x\n"), 4);
        assert_eq!(indent(b"\tx"), 8);
        assert_eq!(indent(b"  \tx"), 8);
        assert_eq!(indent(b"\t  \tx"), 16);
        // Blank: only git's white space (no form feed or vertical tab).
        assert_eq!(indent(b"\n"), -1);
        assert_eq!(indent(b" \t\r\n"), -1);
        assert_eq!(indent(b""), -1);
        assert_eq!(indent(b"\x0cx"), 0);
        assert_eq!(indent(b" \x0bx"), 1);
        // Clamped at 200.
        let deep = format!("{}x", " ".repeat(250));
        assert_eq!(indent(deep.as_bytes()), 200);
        let deep = format!("{}x", " ".repeat(199));
        assert_eq!(indent(deep.as_bytes()), 199);
        let tabs = format!("{}x", "\t".repeat(30));
        assert_eq!(indent(tabs.as_bytes()), 200);
    }

    #[test]
    fn measure_counts_blank_lines_up_to_twenty() {
        let mut lines: Vec<&[u8]> = vec![b"  a\n"];
        lines.extend(std::iter::repeat_n(&b"\n"[..], 25));
        lines.push(b"    b\n");
        lines.push(b"\n");
        lines.push(b"\n");
        lines.push(b"  c\n");
        // Split before "    b": 25 blank lines above, counted up to 20 (then indent 0).
        let m = measure(&lines, 26);
        assert_eq!((m.end_of_file, m.indent), (false, 4));
        assert_eq!((m.pre_blank, m.pre_indent), (20, 0));
        assert_eq!((m.post_blank, m.post_indent), (2, 2));
        // Split before the fifth blank line: 4 blank above, 20 blank after it (capped).
        let m = measure(&lines, 5);
        assert_eq!((m.indent, m.pre_blank, m.pre_indent), (-1, 4, 2));
        assert_eq!((m.post_blank, m.post_indent), (20, 0));
        // At the end of the file.
        let m = measure(&lines, lines.len() as isize);
        assert_eq!(
            (m.end_of_file, m.indent, m.pre_blank, m.pre_indent),
            (true, -1, 0, 2)
        );
        assert_eq!((m.post_blank, m.post_indent), (0, -1));
        // At the start.
        let m = measure(&lines, 0);
        assert_eq!((m.pre_blank, m.pre_indent), (0, -1));
    }

    #[test]
    fn frequent_lines_are_set_aside_only_among_unmatched_ones() {
        // 0: no match, 1: few matches, 2: many.
        assert!(!clean_mmatch(&[0, 0, 2, 0, 0], 2, 0, 4));
        assert!(clean_mmatch(&[0, 0, 0, 0, 2, 0, 0, 0, 0], 4, 0, 8));
        // A run of only frequent lines on one side: kept.
        assert!(!clean_mmatch(&[2, 2, 2, 0, 0, 0, 0], 2, 0, 6));
        assert!(!clean_mmatch(&[0, 0, 0, 0, 2, 1], 4, 0, 5));
        // Frequent neighbours count against: 2 unmatched and 3 frequent on each side.
        assert!(!clean_mmatch(&[0, 0, 2, 2, 2, 2, 2, 0, 0], 4, 0, 8));
        // The bounds are respected, and only 100 lines either side are looked at.
        assert!(!clean_mmatch(&[0, 0, 0, 0, 2, 0, 0, 0, 0], 4, 4, 8));
        let mut dis = vec![2u8; 301];
        dis[150] = 2;
        for d in &mut dis[40..50] {
            *d = 0;
        }
        for d in &mut dis[251..261] {
            *d = 0;
        }
        // The unmatched lines are over 100 lines away: not seen.
        assert!(!clean_mmatch(&dis, 150, 0, 300));
        let mut dis = vec![1u8; 301];
        for d in &mut dis[50..150] {
            *d = 0;
        }
        dis[150] = 2;
        for d in &mut dis[151..251] {
            *d = 0;
        }
        assert!(clean_mmatch(&dis, 150, 0, 300));
    }

    #[test]
    fn names_round_trip() {
        for alg in Algorithm::ALL {
            assert_eq!(Algorithm::from_name(alg.name()), Some(alg));
        }
        assert_eq!(Algorithm::from_name("default"), Some(Algorithm::Myers));
        assert_eq!(Algorithm::from_name("bogus"), None);
    }
}
