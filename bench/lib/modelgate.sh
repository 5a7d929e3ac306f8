# Starting and configuring modelgate for the benchmark scripts (sourced by bench/run.sh and
# bench/scale.sh, with ROOT set): finds the harness (../shared/bench, or BENCH_HARNESS) and loads
# its lib/common.sh. Reads FILLER_MODELS, POSTGRES, REDIS; sets MODELGATE_BIN, CLIENT_KEY, API,
# RUN_PORT.

HARNESS="${BENCH_HARNESS:-$ROOT/../shared/bench}"
[ -x "$HARNESS/bench.sh" ] || { echo "harness not found at $HARNESS (set BENCH_HARNESS)" >&2; exit 1; }
# shellcheck source=/dev/null
source "$HARNESS/lib/common.sh"

API_PORT="${MODELGATE_BENCH_API_PORT:-19090}"
RUN_PORT="${MODELGATE_BENCH_RUN_PORT:-19085}"
API="http://127.0.0.1:$API_PORT/v0"
ADMIN_KEY="mgk_bench_admin_key_$(date +%s)_0000"
DATA="$(mktemp -d /tmp/modelgate-bench.XXXXXX)"
SCHEMA=""
: "${FILLER_MODELS:=1000}" "${POSTGRES:=}" "${REDIS:=}"

# Builds the binary as published (the `dist` profile: fat LTO, one codegen unit), unless
# MODELGATE_BIN names one to measure.
build_modelgate() {
  if [ -z "${MODELGATE_BIN:-}" ]; then
    log "building modelgate (dist profile)"
    (cd "$ROOT" && cargo build --profile dist --quiet --bin modelgate)
    MODELGATE_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/dist/modelgate"
  fi
  [ -x "$MODELGATE_BIN" ] || die "no modelgate binary at $MODELGATE_BIN"
}

# A fresh modelgate pinned to the proxy CPU (embedded store in a temporary directory, or a fresh
# PostgreSQL schema), configured through the API by configure.py.
start_modelgate() {
  rm -rf "${DATA:?}"/*
  local store=() sep
  if [ -n "$POSTGRES" ]; then
    [ -n "$SCHEMA" ] && psql -q "$POSTGRES" -c "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null
    SCHEMA="modelgate_bench_$(date +%s)"
    psql -q "$POSTGRES" -c "CREATE SCHEMA $SCHEMA" >/dev/null
    case "$POSTGRES" in *\?*) sep='&';; *) sep='?';; esac
    store+=(MODELGATE_DATABASE_URL="$POSTGRES${sep}options=-c%20search_path%3D$SCHEMA")
  fi
  [ -n "$REDIS" ] && store+=(MODELGATE_REDIS_URL="$REDIS" MODELGATE_REDIS_PREFIX="bench-$(date +%s)")
  start_service modelgate "$PROXY_CPU" env MODELGATE_API_ADDR="127.0.0.1:$API_PORT" \
    MODELGATE_RUN_ADDR="127.0.0.1:$RUN_PORT" MODELGATE_DATA_DIR="$DATA" MODELGATE_BOOTSTRAP_API_KEY="$ADMIN_KEY" \
    MODELGATE_LOG=warn ${store[@]+"${store[@]}"} "$MODELGATE_BIN" serve >/dev/null
  wait_http "$API/health" 30 || die "modelgate did not come up (see $BENCH_RUN/modelgate.log)"
  CLIENT_KEY=$(python3 "$ROOT/bench/lib/configure.py" "$API" "$ADMIN_KEY" "$MOCK_URL" "$MOCK_UPSTREAM_KEY" \
    --models "$FILLER_MODELS" --keys 100) || die "configuring modelgate failed"
  log "modelgate configured: $((FILLER_MODELS + 2)) models, 102 keys, maxToken policy, usage metering on${POSTGRES:+, PostgreSQL}${REDIS:+, Redis}"
}

stop_modelgate() {
  stop_service modelgate || true
  if [ -n "$SCHEMA" ]; then
    psql -q "$POSTGRES" -c "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true
    SCHEMA=""
  fi
}

remove_modelgate_data() {
  rm -rf "$DATA"
}
