#!/usr/bin/env bash
# Builds the Python extension into a virtualenv (target/pyenv) and runs the pytest suite.
# Needs only python3 (with venv) and cargo; maturin and pytest come from PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv target/pyenv
# shellcheck disable=SC1091
. target/pyenv/bin/activate
# wandb: the real W&B SDK, which the compatibility tests run offline beside codever; numpy:
# training scripts log numpy values, which must be saved as W&B saves them.
python -m pip install -q --disable-pip-version-check "maturin>=1.5,<2" pytest "wandb>=0.19,<1" \
  "numpy>=1.24"
cargo build --locked -q                      # the CLI the tests check results with
target_dir=$(cargo metadata --format-version 1 --no-deps --locked |
  python -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
export CODEVER_BIN="$target_dir/debug/codever"
(cd python && maturin develop -q --locked)
python -m pytest -q python/tests
