#!/usr/bin/env bash
# Installs the tools the test suite uses beyond cargo (Debian/Ubuntu, as root or with sudo):
# git (run records note the enclosing repo's HEAD; diffs are compared with git's) and strace
# (tests/it/crash.rs kills commits at chosen system calls with `strace -e inject`) and script
# (bsdutils: tests/it/pinned.rs runs the CLI on a pseudo-terminal to check colour). .ci/run runs
# this; run it once on a new machine before `cargo test`.
set -euo pipefail
need=()
command -v git >/dev/null || need+=(git)
command -v strace >/dev/null || need+=(strace)
command -v script >/dev/null || need+=(bsdutils)
[ ${#need[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
$sudo apt-get install -y -qq "${need[@]}"
