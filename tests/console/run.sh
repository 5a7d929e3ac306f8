#!/usr/bin/env bash
# End-to-end test of the web console in a real browser (see console.test.mjs): Debian's Chromium
# driven headless by playwright-core (installed from package-lock.json with `npm ci`, no browser
# download), against the modelgate binary, which is built if missing. Writes a screenshot of
# each page to docs/console/ (the README's Console section shows them).
#
# Under CI=true anything missing (node, npm, Chromium, the npm package) fails the step; elsewhere
# the step is skipped with the reason printed. MODELGATE_BIN selects another binary, CHROMIUM
# another browser.
set -euo pipefail
cd "$(dirname "$0")/../.."

unavailable() {
    if [ "${CI:-}" = "true" ]; then
        echo "tests/console: $1 (CI=true: failing)" >&2
        exit 1
    fi
    echo "tests/console: SKIPPED: $1" >&2
    exit 0
}

command -v node >/dev/null 2>&1 || unavailable "node not found (apt-get install nodejs npm)"
command -v npm >/dev/null 2>&1 || unavailable "npm not found (apt-get install npm)"
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
[ -x "$CHROMIUM" ] || unavailable "no Chromium at $CHROMIUM (apt-get install chromium)"
if [ ! -d tests/console/node_modules/playwright-core ]; then
    (cd tests/console && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --silent) \
        || unavailable "cannot install playwright-core (npm ci in tests/console)"
fi

if [ -z "${MODELGATE_BIN:-}" ]; then
    MODELGATE_BIN="${CARGO_TARGET_DIR:-target}/debug/modelgate"
    # A no-op when `cargo test` already built it; never tests a stale binary.
    cargo build --quiet --bin modelgate
fi
export MODELGATE_BIN

exec node tests/console/console.test.mjs
