#!/usr/bin/env bash
# End-to-end test of unmodified official SDKs against modelgate (see test_sdks.py): the OpenAI and
# Anthropic Python SDKs, and the Vercel AI SDK's default OpenAI provider (`ai` with
# `@ai-sdk/openai` on Node, tests/sdk/vercel/test.mjs, which test_sdks.py runs as one of its
# checks). Creates/reuses a venv in target/sdk-venv, installs requirements.txt, installs
# tests/sdk/vercel from its package-lock.json (`npm ci`, no install scripts), builds the modelgate
# binary if it is missing, and runs the script.
#
# Under CI=true anything missing (python3, venv, the SDKs from PyPI, node, npm, the npm packages)
# fails the step; elsewhere the step, or only the Vercel AI SDK check, is skipped with the reason
# printed. MODELGATE_BIN selects another binary.
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

# The Vercel AI SDK check (Node). Outside CI, without node or the packages, only that check is
# skipped: test_sdks.py reports SDK_VERCEL_SKIPPED's reason instead of running it.
vercel=tests/sdk/vercel
vercel_unavailable() {
    if [ "${CI:-}" = "true" ]; then
        echo "tests/sdk: $1 (CI=true: failing)" >&2
        exit 1
    fi
    echo "tests/sdk: SKIPPING the Vercel AI SDK check: $1" >&2
    export SDK_VERCEL_SKIPPED="$1"
}
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    vercel_unavailable "node or npm not found (apt-get install nodejs npm)"
elif ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 18 ? 0 : 1)'; then
    vercel_unavailable "node $(node --version) is older than 18, which the Vercel AI SDK needs"
elif [ ! -f "$vercel/node_modules/.package-lock.json" ] \
    || [ "$vercel/package-lock.json" -nt "$vercel/node_modules/.package-lock.json" ]; then
    (cd "$vercel" && npm ci --ignore-scripts --no-audit --no-fund --silent) \
        || vercel_unavailable "cannot install the Vercel AI SDK (npm ci in $vercel)"
fi

if [ -z "${MODELGATE_BIN:-}" ]; then
    MODELGATE_BIN="${CARGO_TARGET_DIR:-target}/debug/modelgate"
    # A no-op when `cargo test` already built it; never tests a stale binary.
    cargo build --quiet --bin modelgate
fi
export MODELGATE_BIN

exec "$venv/bin/python" tests/sdk/test_sdks.py
