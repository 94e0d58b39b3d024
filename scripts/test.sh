#!/usr/bin/env bash
# The test command: the Rust suites, then the Python package's (built and installed into
# target/python-venv by scripts/python-test.sh). `--workspace` builds the core crate once with
# the features both the tests and the Python extension use, so the extension reuses it.
# QUASIPOT_SKIP_PYTHON=1 runs the Rust suites (and the bad-input script) only.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --release --workspace
# 65 bad inputs and faults through the release binary: exit code 2, a message, no panic.
python3 scripts/bad-inputs.py --check
if [ "${QUASIPOT_SKIP_PYTHON:-0}" != 1 ]; then
    scripts/python-test.sh
fi
