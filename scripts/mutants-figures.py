#!/usr/bin/env python3
"""Mutation-testing figures for TESTING.md, from any number of cargo-mutants output directories.

    scripts/mutants-figures.py [--pass1 DIR]... [--killed FILE] [--sample FILE] DIR... [--list core|rest|sample]

Each DIR holds `mutants.out/` directories (at any depth). Mutants are matched by name without line and
column (the code moves between runs), against the current list (`cargo mutants --list`, so
`exclude_re` applies). A mutant's outcome is the best any run gave it: caught, timeout,
unviable, missed. Runs given with `--pass1` ran the unit tests only: what they missed is
"missed by the unit tests" until a full run says more. `--killed FILE` lists mutants (names
without line numbers, one a line) that a test kills — one added since, or one the run did not
run — each checked by applying the mutant by hand.
"""
import argparse, collections, json, os, re, subprocess, sys

CORE = ('src/store/', 'src/object/', 'src/tree.rs', 'src/history/', 'src/capture/statcache.rs',
        'src/ops/checkout.rs', 'src/ops/fsck.rs')
RANK = {'CaughtMutant': 5, 'Timeout': 4, 'Unviable': 3, 'MissedMutant': 1, 'Missed1': 0}


def strip(name):
    return re.sub(r':\d+:\d+:', ':', name)


def outcomes(d):
    """Every outcome in `d` and the output directories below it."""
    found = []
    for root, _, files in os.walk(d):
        if 'outcomes.json' in files and os.path.basename(root) == 'mutants.out':
            with open(os.path.join(root, 'outcomes.json')) as f:
                found.extend(json.load(f)['outcomes'])
    return found


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('dirs', nargs='*')
    ap.add_argument('--pass1', action='append', default=[])
    ap.add_argument('--killed')
    ap.add_argument('--list', choices=['core', 'rest', 'sample'])
    ap.add_argument('--sample', help='a file of mutants (one a line, as `cargo mutants --list` '
                    'prints them): a random sample, counted as a group of its own')
    a = ap.parse_args()
    best = {}
    for d, pass1 in [(d, False) for d in a.dirs] + [(d, True) for d in a.pass1]:
        for x in outcomes(d):
            sc = x['scenario']
            if not isinstance(sc, dict):
                continue
            n, s = strip(sc['Mutant']['name']), x['summary']
            if s == 'MissedMutant' and pass1:
                s = 'Missed1'
            if RANK.get(s, 0) > RANK.get(best.get(n), -1):
                best[n] = s
    if a.killed:
        with open(a.killed) as f:
            for line in f:
                n = line.strip()
                if n and best.get(n) in (None, 'MissedMutant', 'Missed1'):
                    best[n] = 'KilledSince'
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    listed = subprocess.run(['cargo', 'mutants', '--list'], capture_output=True, text=True,
                            check=True, cwd=repo).stdout.split('\n')
    listed = [m for m in listed if m.strip()]
    groups = {'core': [m for m in listed if m.startswith(CORE)],
              'rest': [m for m in listed if not m.startswith(CORE)]}
    groups['all'] = listed
    if a.sample:
        with open(a.sample) as f:
            drawn = [strip(m.strip()) for m in f if m.strip()]
        now = {strip(m) for m in listed}
        groups['sample'] = [m for m in drawn if m in now]
        print(f"sample: {len(drawn)} drawn, {len(drawn) - len(groups['sample'])} excluded since "
              f"(equivalent, see .cargo/mutants.toml)")
    for g, ms in groups.items():
        c = collections.Counter(best.get(strip(m), 'untested') for m in ms)
        killed = c['CaughtMutant'] + c['Timeout'] + c['KilledSince']
        viable = killed + c['MissedMutant'] + c['Missed1']
        print(f"{g}: {len(ms)} mutants; killed {killed} (a run {c['CaughtMutant'] + c['Timeout']}, "
              f"checked by hand {c['KilledSince']}); missed by the fast suite {c['MissedMutant']}; "
              f"missed by the unit tests, not yet run further {c['Missed1']}; unviable "
              f"{c['Unviable']}; untested {c['untested']}; killed {100 * killed / max(viable, 1):.1f}% "
              f"of {viable} tested viable")
    if a.list:
        for m in groups[a.list]:
            b = best.get(strip(m), 'untested')
            if b in ('MissedMutant', 'Missed1', 'untested'):
                print(b, m)


if __name__ == '__main__':
    sys.exit(main())
