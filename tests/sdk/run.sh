#!/usr/bin/env bash
# End-to-end test of the unmodified official OpenAI and Anthropic Python SDKs against modelgate
# (see test_sdks.py). Creates/reuses a venv in target/sdk-venv, installs requirements.txt,
# builds the modelgate binary if it is missing, and runs the script.
#
# Under CI=true anything missing (python3, venv, the SDKs from PyPI) fails the step; elsewhere
# the step is skipped with the reason printed. MODELGATE_BIN selects another binary.
set -euo pipefail
cd "$(dirname "$0")/../.."

venv=target/sdk-venv
requirements=tests/sdk/requirements.txt

unavailable() {
    if [ "${CI:-}" = "true" ]; then
        echo "tests/sdk: $1 (CI=true: failing)" >&2
        exit 1
    fi
    echo "tests/sdk: SKIPPED: $1" >&2
    exit 0
}

command -v python3 >/dev/null 2>&1 || unavailable "python3 not found"
if [ ! -x "$venv/bin/python" ]; then
    rm -rf "$venv"
    mkdir -p target
    python3 -m venv "$venv" || { rm -rf "$venv"; unavailable "cannot create a venv (python3 -m venv $venv)"; }
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$requirements" \
    || unavailable "cannot install the SDKs (pip install -r $requirements)"

if [ -z "${MODELGATE_BIN:-}" ]; then
    MODELGATE_BIN="${CARGO_TARGET_DIR:-target}/debug/modelgate"
    # A no-op when `cargo test` already built it; never tests a stale binary.
    cargo build --quiet --bin modelgate
fi
export MODELGATE_BIN

exec "$venv/bin/python" tests/sdk/test_sdks.py
