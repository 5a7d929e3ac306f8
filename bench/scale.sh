#!/usr/bin/env bash
# bench/scale.sh: how modelgate's throughput, latency and memory change with the number of models
# configured and the number of concurrent streams. Uses ../shared/bench (mock upstream and load
# tools on the load CPU, modelgate alone on the proxy CPU).
#
#   bench/scale.sh [--models "10 1000 100000"] [--streams "1 64 512"] [--duration 10]
#
# Models: for each count N, a fresh modelgate with N filler models besides the measured one (plus
# 101 keys, a maxToken policy, usage metering), then the harness's openai mode (throughput at 64
# connections, latency at the fixed rate, peak RSS), rows labelled modelgate-N next to `direct`;
# the time configuring took and the RSS after it.
# Streams: one modelgate with 1,000 filler models; for each concurrency C, oha keeps C streams open
# for the duration, each a 5 ms-paced OpenAI stream (16 events, ~90 ms); req/s, p50/p99 of the
# whole stream, and memory per open stream = (peak RSS during the run - RSS before) / C.
# Results: bench/results/DATE-COMMIT-scale/.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=lib/modelgate.sh
source "$ROOT/bench/lib/modelgate.sh"

MODEL_COUNTS="10 1000 100000"
STREAMS="1 64 512"
DURATION=10
while [ $# -gt 0 ]; do
  case "$1" in
    --models) MODEL_COUNTS="$2"; shift 2;;
    --streams) STREAMS="$2"; shift 2;;
    --duration) DURATION="$2"; shift 2;;
    *) die "unknown option $1";;
  esac
done
OHA="$(command -v oha || echo "$HOME/.cargo/bin/oha")"
OUT="$ROOT/bench/results/$(date +%Y%m%d-%H%M)-$(git -C "$ROOT" rev-parse --short HEAD)-scale"
mkdir -p "$OUT"
trap 'stop_modelgate; "$HARNESS/mock/stop.sh" >/dev/null 2>&1 || true; remove_modelgate_data' EXIT

build_modelgate
"$HARNESS/setup.sh" tools
"$HARNESS/mock/stop.sh" >/dev/null 2>&1 || true
"$HARNESS/mock/start.sh"
echo "# modelgate $(git -C "$ROOT" rev-parse --short HEAD), $(date -Is); $(lscpu | awk -F: '/Model name/{gsub(/^ +/,"",$2); print $2}'), $(nproc) CPUs" > "$OUT/versions.txt"

rss_kib() { awk '/VmRSS/{print $2}' "/proc/$(cat "$BENCH_RUN/modelgate.pid")/status"; }
hwm_kib() { awk '/VmHWM/{print $2}' "/proc/$(cat "$BENCH_RUN/modelgate.pid")/status"; }

# --- models ---
python3 "$HARNESS/lib/summarize.py" --header > "$OUT/models.md"
"$HARNESS/peers/direct.sh" bench openai --out "$OUT" --no-ttft --repeats 1 --duration "$DURATION" \
  --rate-duration "$DURATION" | tee -a "$OUT/models.md"
echo "| models | configuring took s | RSS after configuring MiB | peak RSS while configuring MiB |" > "$OUT/configure.md"
echo "|---|---|---|---|" >> "$OUT/configure.md"
for count in $MODEL_COUNTS; do
  FILLER_MODELS=$count
  started=$(date +%s.%N)
  start_modelgate
  took=$(python3 -c "print(round($(date +%s.%N) - $started, 1))")
  echo "| $((count + 2)) | $took | $(( $(rss_kib) / 1024 )) | $(( $(hwm_kib) / 1024 )) |" | tee -a "$OUT/configure.md"
  "$HARNESS/bench.sh" "http://127.0.0.1:$RUN_PORT/default/models/gpt" "modelgate-$count" --mode openai --no-ttft \
    --pgid "$(cat "$BENCH_RUN/modelgate.pid")" -H "Authorization: Bearer $CLIENT_KEY" --repeats 1 \
    --duration "$DURATION" --rate-duration "$DURATION" --out "$OUT" | tee -a "$OUT/models.md"
  stop_modelgate
done

# --- concurrent streams ---
FILLER_MODELS=1000
start_modelgate
BODY="$OUT/stream-body.json"
sed -e "s#@MODEL@#gpt-4o-mini#" -e "s#@MARK@# [[mock-delay-5ms]]#" \
  -e 's#@STREAM@#,"stream":true,"stream_options":{"include_usage":true}#' "$HARNESS/bodies/openai.json.tmpl" > "$BODY"
echo "| concurrent streams | req/s | p50 ms | p99 ms | errors | RSS before MiB | peak RSS during MiB | KiB per open stream |" > "$OUT/streams.md"
echo "|---|---|---|---|---|---|---|---|" >> "$OUT/streams.md"
for c in $STREAMS; do
  before=$(rss_kib); peak=$before
  taskset -c "$LOAD_CPU" "$OHA" --no-tui --output-format json -w -c "$c" -z "${DURATION}s" -m POST \
    -H "Authorization: Bearer $CLIENT_KEY" -T application/json -D "$BODY" \
    "http://127.0.0.1:$RUN_PORT/default/models/gpt/v1/chat/completions" > "$OUT/streams-$c.json" &
  load=$!
  while kill -0 "$load" 2>/dev/null; do
    now=$(rss_kib); [ "$now" -gt "$peak" ] && peak=$now
    sleep 0.2
  done
  wait "$load" || true
  python3 - "$OUT/streams-$c.json" "$c" "$before" "$peak" >> "$OUT/streams.md" <<'PY'
import json, sys
path, c, before, peak = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
r = json.load(open(path))
summary, pct = r["summary"], r["latencyPercentiles"]
codes = r.get("statusCodeDistribution", {})
errors = sum(n for code, n in codes.items() if code != "200") + sum(r.get("errorDistribution", {}).values())
print(f"| {c} | {summary['requestsPerSec']:.0f} | {pct['p50'] * 1000:.1f} | {pct['p99'] * 1000:.1f} | {errors} "
      f"| {before / 1024:.1f} | {peak / 1024:.1f} | {max(peak - before, 0) / c:.1f} |")
PY
  tail -1 "$OUT/streams.md"
done
stop_modelgate

echo
cat "$OUT/configure.md" "$OUT/models.md" "$OUT/streams.md" | tee "$OUT/table.md"
echo "results: $OUT" >&2
