#!/usr/bin/env bash
# bench/quick-cpu.sh BINARY [stream]: a quick A/B figure between two builds, not the full
# comparison (that is bench/run.sh): modelgate's CPU time per request under `wrk -c64` for 10 s
# against the harness's mock upstream, read from /proc (robust to other load on the machine).
# One model with a maxToken policy, usage metering on, the admin key as client.
# The mock must be running: ../shared/bench/mock/start.sh
set -euo pipefail
BIN="$1"; STREAM="${2:-false}"
HARNESS="${BENCH_HARNESS:-$(cd "$(dirname "$0")/../../.." && pwd)/shared/bench}"
KEY=mgk_quick_cpu_admin_key_000000001; API=http://127.0.0.1:19090/v0; RUN=http://127.0.0.1:19085
DATA=$(mktemp -d /tmp/modelgate-quick.XXXXXX); BODY="$DATA/body.json"
MODELGATE_API_ADDR=127.0.0.1:19090 MODELGATE_RUN_ADDR=127.0.0.1:19085 MODELGATE_DATA_DIR="$DATA" \
  MODELGATE_BOOTSTRAP_API_KEY=$KEY MODELGATE_LOG=warn setsid taskset -c 1 "$BIN" serve > "$DATA/log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 50); do curl -sf "$API/health" >/dev/null && break; sleep 0.1; done
api() { curl -sf "$API$1" -H "Authorization: Bearer $KEY" -H 'content-type: application/json' -d "$2" >/dev/null; }
api /integrations/connections '{"metadata":{"name":"m"},"spec":{"integration":"openai","config":{"url":"http://127.0.0.1:19080"},"secret":{"apiKey":"sk-mock-upstream-key"}}}'
api /policies '{"metadata":{"name":"p"},"spec":{"type":"maxToken","maxTokens":{"granularity":"minute","step":1,"total":1000000000000}}}'
api /models '{"metadata":{"name":"gpt"},"spec":{"integrationConnections":["m"],"policies":["p"],"runtime":{"type":"openai","model":"gpt-4o-mini"}}}'
if [ "$STREAM" = stream ]; then ST=',"stream":true,"stream_options":{"include_usage":true}'; else ST=''; fi
sed -e "s#@MODEL@#gpt-4o-mini#" -e "s#@MARK@##" -e "s#@STREAM@#$ST#" "$HARNESS/bodies/openai.json.tmpl" > "$BODY"
cpu() { awk '{print $14+$15}' "/proc/$PID/stat"; }; ut() { awk '{print $14}' "/proc/$PID/stat"; }
load() { taskset -c 0 oha --no-tui -q 300 -c 64 -z "$1" --latency-correction -m POST -H "Authorization: Bearer $KEY" -H "content-type: application/json" -D "$BODY" "$RUN/default/models/gpt/v1/chat/completions"; }
load 3s >/dev/null
before=$(cpu); ub=$(ut); out=$(load 10s); after=$(cpu); ua=$(ut)
requests=$(echo "$out" | awk '/\[200\]/{print $2}'); p50=$(echo "$out" | awk '/50.00%/{print $3}')
ticks=$((after - before)); hz=$(getconf CLK_TCK)
echo "user_ticks=$((ua-ub)) total_ticks=$((after-before)) p50=$p50 requests=$requests cpu_us_per_request=$(python3 -c "print(round($ticks*1e6/$hz/$requests,1))") peak_rss_kib=$(awk '/VmHWM/{print $2}' /proc/$PID/status) non2xx=$(echo "$out" | grep -c Non-2xx || true)"
