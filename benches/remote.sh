#!/usr/bin/env bash
# codever push against rclone copy (and aws s3 sync, when installed) on one moto S3 server:
# request counts from moto's log, and times (see benches/remote.py).
# Needs python3 (moto comes from PyPI into target/s3-venv) and rclone (Debian's package,
# installed here when missing). The Django sdists are downloaded from PyPI once.
# Usage: benches/remote.sh [--skip-django] [--cache DIR]
#   CODEVER_BIN=path  measure that binary instead of a fresh release build
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
if ! command -v rclone >/dev/null; then
    apt-get update -qq && apt-get install -y -qq rclone >/dev/null
fi
bin=${CODEVER_BIN:-}
if [ -z "$bin" ]; then
    cargo build --release --quiet --manifest-path "$here/Cargo.toml"
    bin="$here/target/release/codever"
fi
export MOTO_LOG="$here/target/s3-server/moto.log"
exec "$here/scripts/s3-server.sh" run -- python3 "$here/benches/remote.py" --codever "$bin" "$@"
