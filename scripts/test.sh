#!/usr/bin/env bash
# The test command: the Rust suites, then the Python package's (built and installed into
# target/python-venv by scripts/python-test.sh). `--workspace` builds the core crate once with
# the features both the tests and the Python extension use, so the extension reuses it.
# QUASIPOT_SKIP_PYTHON=1 runs the Rust suites only.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --release --workspace
if [ "${QUASIPOT_SKIP_PYTHON:-0}" != 1 ]; then
    scripts/python-test.sh
fi
