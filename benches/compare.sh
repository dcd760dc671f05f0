#!/usr/bin/env bash
# codever against git on five consecutive Django releases (see benches/compare.py).
# Needs python3, pip (to download the sdists from PyPI once), git and /usr/bin/time.
# Usage: benches/compare.sh [--repeats N] [--cache DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time; }
cargo build --release --quiet --manifest-path "$here/Cargo.toml"
exec python3 "$here/benches/compare.py" --codever "$here/target/release/codever" "$@"
