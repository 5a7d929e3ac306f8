#!/usr/bin/env bash
# bench/run.sh: modelgate through the side-by-side harness in ../shared/bench (see its README),
# with `direct` and `nginx` rows measured in the same run.
#
#   bench/run.sh [--modes "openai openai-stream anthropic anthropic-stream"] [--peers "litellm portkey"]
#                [--postgres URL] [--redis URL] [--models N] [any bench.sh option]
#
# --peers adds rows for the harness's other peers (installed by ../shared/bench/setup.sh).
# --postgres runs modelgate on PostgreSQL (a fresh schema per start, dropped at the end) instead of
# the embedded SQLite store; --redis shares its limit windows through Redis; the modelgate row is
# then labelled modelgate-pg or modelgate-pg-redis. --models sets the filler models (1000).
#
# Builds modelgate in release mode, starts it pinned to the proxy CPU with an embedded store in a
# temporary directory, and configures it as a user would: a connection to the mock upstream
# (key sk-mock-upstream-key), models for the OpenAI and Anthropic paths with a maxToken policy,
# 1,000 further models and 100 further keys; the client is a service-account key with only the
# models:invoke scope. Authentication, the policy and usage metering are on during the
# measurement. Prints the table and saves it under bench/results/DATE-COMMIT/.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
HARNESS="${BENCH_HARNESS:-$ROOT/../shared/bench}"
[ -x "$HARNESS/bench.sh" ] || { echo "harness not found at $HARNESS (set BENCH_HARNESS)" >&2; exit 1; }
# shellcheck source=/dev/null
source "$HARNESS/lib/common.sh"

MODES="openai openai-stream anthropic anthropic-stream"
PEERS=""
POSTGRES=""
REDIS=""
FILLER_MODELS=1000
EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --modes) MODES="$2"; shift 2;;
    --peers) PEERS="$2"; shift 2;;
    --postgres) POSTGRES="$2"; shift 2;;
    --redis) REDIS="$2"; shift 2;;
    --models) FILLER_MODELS="$2"; shift 2;;
    *) EXTRA+=("$1"); shift;;
  esac
done
LABEL=modelgate
[ -n "$POSTGRES" ] && LABEL="$LABEL-pg"
[ -n "$REDIS" ] && LABEL="$LABEL-redis"
SCHEMA=""

API_PORT="${MODELGATE_BENCH_API_PORT:-19090}"
RUN_PORT="${MODELGATE_BENCH_RUN_PORT:-19085}"
API="http://127.0.0.1:$API_PORT/v0"
ADMIN_KEY="mgk_bench_admin_key_$(date +%s)_0000"
DATA="$(mktemp -d /tmp/modelgate-bench.XXXXXX)"
OUT="$ROOT/bench/results/$(date +%Y%m%d-%H%M)-$(git -C "$ROOT" rev-parse --short HEAD)"
mkdir -p "$OUT"

cleanup() {
  stop_service modelgate || true
  [ -n "$SCHEMA" ] && psql -q "$POSTGRES" -c "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true
  "$HARNESS/peers/nginx.sh" stop >/dev/null 2>&1 || true
  "$HARNESS/mock/stop.sh" >/dev/null 2>&1 || true
  rm -rf "$DATA"
}
trap cleanup EXIT

log "building modelgate (release)"
(cd "$ROOT" && cargo build --release --quiet --bin modelgate)
"$HARNESS/setup.sh" tools

api() {  # api METHOD PATH [JSON]
  curl -sf -X "$1" "$API$2" -H "Authorization: Bearer $ADMIN_KEY" -H 'Content-Type: application/json' ${3:+-d "$3"}
}

start_modelgate() {
  rm -rf "$DATA"/*
  local store=()
  if [ -n "$POSTGRES" ]; then
    [ -n "$SCHEMA" ] && psql -q "$POSTGRES" -c "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null
    SCHEMA="modelgate_bench_$(date +%s)"
    psql -q "$POSTGRES" -c "CREATE SCHEMA $SCHEMA" >/dev/null
    case "$POSTGRES" in *\?*) sep='&';; *) sep='?';; esac
    store+=(MODELGATE_DATABASE_URL="$POSTGRES${sep}options=-c%20search_path%3D$SCHEMA")
  fi
  [ -n "$REDIS" ] && store+=(MODELGATE_REDIS_URL="$REDIS" MODELGATE_REDIS_PREFIX="bench-$(date +%s)")
  env MODELGATE_API_ADDR="127.0.0.1:$API_PORT" MODELGATE_RUN_ADDR="127.0.0.1:$RUN_PORT" MODELGATE_DATA_DIR="$DATA" \
    MODELGATE_BOOTSTRAP_API_KEY="$ADMIN_KEY" MODELGATE_LOG=warn ${store[@]+"${store[@]}"} \
    start_service modelgate "$PROXY_CPU" "$ROOT/target/release/modelgate" serve >/dev/null
  wait_http "$API/health" 30 || die "modelgate did not come up (see $BENCH_RUN/modelgate.log)"
  api POST /integrations/connections "{\"metadata\":{\"name\":\"mock-openai\"},\"spec\":{\"integration\":\"openai\",\"config\":{\"url\":\"$MOCK_URL\"},\"secret\":{\"apiKey\":\"$MOCK_UPSTREAM_KEY\"}}}" >/dev/null
  api POST /integrations/connections "{\"metadata\":{\"name\":\"mock-anthropic\"},\"spec\":{\"integration\":\"anthropic\",\"config\":{\"url\":\"$MOCK_URL\"},\"secret\":{\"apiKey\":\"$MOCK_UPSTREAM_KEY\"}}}" >/dev/null
  api POST /policies '{"metadata":{"name":"bench-tpm"},"spec":{"type":"maxToken","maxTokens":{"granularity":"minute","step":1,"total":1000000000000}}}' >/dev/null
  api POST /models '{"metadata":{"name":"gpt"},"spec":{"integrationConnections":["mock-openai"],"policies":["bench-tpm"],"runtime":{"type":"openai","model":"gpt-4o-mini"}}}' >/dev/null
  api POST /models '{"metadata":{"name":"claude"},"spec":{"integrationConnections":["mock-anthropic"],"policies":["bench-tpm"],"runtime":{"type":"anthropic","model":"claude-3-5-haiku-20241022"}}}' >/dev/null
  local i account keys
  for i in $(seq -w 1 "$FILLER_MODELS"); do
    api POST /models "{\"metadata\":{\"name\":\"filler-$i\"},\"spec\":{\"integrationConnections\":[\"mock-openai\"],\"runtime\":{\"type\":\"openai\",\"model\":\"m-$i\"}}}" >/dev/null
  done
  account=$(api POST /service_accounts '{"name":"bench-client"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"])')
  keys="/service_accounts/$account/api_keys"
  for i in $(seq 1 100); do api POST "$keys" '{"scopes":["models:invoke"]}' >/dev/null; done
  CLIENT_KEY=$(api POST "$keys" '{"name":"bench","scopes":["models:invoke"]}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["apiKey"])')
  log "modelgate configured: $((FILLER_MODELS + 2)) models, 102 keys, maxToken policy, usage metering on${POSTGRES:+, PostgreSQL}${REDIS:+, Redis}"
}

"$HARNESS/mock/stop.sh" >/dev/null 2>&1 || true
"$HARNESS/mock/start.sh"
{
  echo "# modelgate $(git -C "$ROOT" rev-parse --short HEAD), $(date -Is), $(nproc) CPUs, load cpu $LOAD_CPU, proxy cpu $PROXY_CPU"
  echo "# bench.sh options: ${EXTRA[*]:-(defaults)}; filler models: $FILLER_MODELS; store: ${POSTGRES:+PostgreSQL}${POSTGRES:-SQLite}${REDIS:+, Redis}"
  echo "# machine: $(lscpu | awk -F: '/Model name/{gsub(/^ +/,"",$2); print $2}'), $(nproc) CPUs, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -r)"
} > "$OUT/versions.txt"
python3 "$HARNESS/lib/summarize.py" --header > "$OUT/table.md"

for mode in $MODES; do
  "$HARNESS/peers/direct.sh" bench "$mode" --out "$OUT" ${EXTRA[@]+"${EXTRA[@]}"} | tee -a "$OUT/table.md"
  "$HARNESS/peers/nginx.sh" start >/dev/null
  "$HARNESS/peers/nginx.sh" bench "$mode" --out "$OUT" ${EXTRA[@]+"${EXTRA[@]}"} | tee -a "$OUT/table.md"
  "$HARNESS/peers/nginx.sh" stop
  for peer in $PEERS; do
    "$HARNESS/peers/$peer.sh" start >/dev/null
    "$HARNESS/peers/$peer.sh" bench "$mode" --out "$OUT" ${EXTRA[@]+"${EXTRA[@]}"} | tee -a "$OUT/table.md"
    "$HARNESS/peers/$peer.sh" stop
  done
  start_modelgate
  case "$mode" in anthropic*) model=claude;; *) model=gpt;; esac
  "$HARNESS/bench.sh" "http://127.0.0.1:$RUN_PORT/default/models/$model" "$LABEL" --mode "$mode" \
    --pgid "$(cat "$BENCH_RUN/modelgate.pid")" -H "Authorization: Bearer $CLIENT_KEY" \
    --out "$OUT" ${EXTRA[@]+"${EXTRA[@]}"} | tee -a "$OUT/table.md"
  stop_service modelgate
done
echo
cat "$OUT/table.md"
echo "results: $OUT" >&2
