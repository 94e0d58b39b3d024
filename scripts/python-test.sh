#!/usr/bin/env bash
# Build the Python package into a virtual environment under target/ and run its tests.
# The same `pip install ./python` a user runs; CARGO_TARGET_DIR (default target/) shares the
# Rust build, whose release binary the tests also compare against.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${QUASIPOT_VENV:-target/python-venv}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check "maturin>=1.5,<2" numpy pytest
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
PATH="$PWD/$venv/bin:$PATH" "$venv/bin/pip" install -q --disable-pip-version-check \
    --no-build-isolation --force-reinstall --no-deps ./python
"$venv/bin/python" -m pytest -q python/tests "$@"
