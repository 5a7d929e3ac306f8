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
# Builds modelgate with the dist profile (as published), starts it pinned to the proxy CPU with an embedded store in a
# temporary directory, and configures it as a user would: a connection to the mock upstream
# (key sk-mock-upstream-key), models for the OpenAI and Anthropic paths with a maxToken policy,
# 1,000 further models and 100 further keys; the client is a service-account key with only the
# models:invoke scope. Authentication, the policy and usage metering are on during the
# measurement. Prints the table and saves it under bench/results/DATE-COMMIT/.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=lib/modelgate.sh
source "$ROOT/bench/lib/modelgate.sh"

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

OUT="$ROOT/bench/results/$(date +%Y%m%d-%H%M)-$(git -C "$ROOT" rev-parse --short HEAD)"
mkdir -p "$OUT"

cleanup() {
  stop_modelgate
  "$HARNESS/peers/nginx.sh" stop >/dev/null 2>&1 || true
  "$HARNESS/mock/stop.sh" >/dev/null 2>&1 || true
  remove_modelgate_data
}
trap cleanup EXIT

build_modelgate
"$HARNESS/setup.sh" tools

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
  stop_modelgate
done
echo
cat "$OUT/table.md"
echo "results: $OUT" >&2
