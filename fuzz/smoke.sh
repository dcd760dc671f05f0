#!/usr/bin/env bash
# A short run of every fuzz target (CI calls it): SECONDS_PER_TARGET each (default 5), starting
# from the seeds in fuzz/corpus/<target>/, which are read but never added to (new inputs go to a
# scratch directory). Prints one line per target and a closing "fuzz: N passed, N failed";
# exits 1 when a target failed, with the end of its log and the input that did it (in
# fuzz/artifacts/<target>/).
set -uo pipefail
cd "$(dirname "$0")"
seconds="${1:-5}"
cargo +nightly --version >/dev/null 2>&1 || {
    echo "fuzz: the nightly toolchain is missing (rustup toolchain list); cargo fuzz needs it"
    exit 1
}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked || exit 1
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
cargo +nightly fuzz build >"$scratch/build.log" 2>&1 || {
    tail -n 40 "$scratch/build.log"
    echo "fuzz: the targets do not build"
    exit 1
}
passed=0
failed=0
for target in $(cargo +nightly fuzz list); do
    mkdir -p "$scratch/$target"
    # TMPDIR: the pack_index target makes a scratch store there.
    if TMPDIR="$scratch" cargo +nightly fuzz run "$target" "$scratch/$target" "corpus/$target" \
        -- -max_total_time="$seconds" >"$scratch/$target.log" 2>&1; then
        echo "fuzz $target: $(grep -E '^Done [0-9]+ runs' "$scratch/$target.log" || echo ok)"
        passed=$((passed + 1))
    else
        grep -E -A1 'panicked at|ERROR:|SUMMARY:|Test unit written' "$scratch/$target.log" | head -n 20
        echo "fuzz $target: FAILED (input saved in fuzz/artifacts/$target/)"
        failed=$((failed + 1))
    fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
