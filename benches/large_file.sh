#!/usr/bin/env bash
# Peak memory (max RSS) and time of committing, re-committing after a one-byte change, checking
# out and fsck-ing one large file, with the release build. Needs /usr/bin/time (Debian: `time`).
# Usage: benches/large_file.sh [SIZE_MIB]   (default 2048)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
size=${1:-2048}
cargo build --release --quiet --manifest-path "$here/Cargo.toml"
bin="$here/target/release/codever"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src"
# Half incompressible, half text-like: a weights-or-data-like file that zstd can only partly shrink.
python3 - "$work/src/weights.bin" "$size" <<'PY'
import os, sys
path, mib = sys.argv[1], int(sys.argv[2])
text = b"".join(b"layer_%d.weight = %d\n" % (i, i * 7919 % 100003) for i in range(30000))[: 1 << 19]
with open(path, "wb") as f:
    for _ in range(mib):
        f.write(os.urandom(1 << 19) + text)
PY
"$bin" init "$work" >/dev/null
measure() {
  local label=$1; shift
  /usr/bin/time -f "%M %e" -o "$work/time" "$@" >/dev/null
  read -r rss secs <"$work/time"
  printf '%-28s %8.1f MB  %6.1f s\n' "$label" "$(echo "$rss / 1024" | bc -l)" "$secs"
}
cd "$work"
measure "commit (new)" "$bin" commit weights --type model src --run r1
printf 'X' | dd of=src/weights.bin bs=1 seek=$((size * 1024 * 512)) conv=notrunc status=none
measure "commit (one byte changed)" "$bin" commit weights --type model src --run r2
measure "commit (unchanged)" "$bin" commit weights --type model src --run r3
measure "checkout" "$bin" checkout weights:v0 --into out
measure "cat > /dev/null" "$bin" cat weights:v1 weights.bin
measure "diff v0 v1" "$bin" diff weights:v0 weights:v1
measure "fsck" "$bin" fsck
echo "file: ${size} MiB; store: $(du -sm .codever | cut -f1) MiB"
