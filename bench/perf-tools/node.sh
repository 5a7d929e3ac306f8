# Sourced by the perf tools: one modelgate under test, on its own ports and data directory.
#   start_node PORTBASE LAUNCHER...  starts $BIN under LAUNCHER (e.g. `taskset -c 1`, or valgrind)
#                                    with the API on 127.0.0.1:${PORTBASE}90 and models on
#                                    ${PORTBASE}85; sets PID, API, RUN, DATA; stops it on exit
#   configure_one_model              a connection to the mock, a maxToken policy, the model gpt
#   configure_like_the_bench         1,002 models and 101 keys as bench/run.sh; sets KEY to the client
#   write_body [stream]              the harness's OpenAI body into $BODY
#   cpu_ticks / user_ticks           the process's CPU time so far, in clock ticks
HARNESS="${BENCH_HARNESS:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)/shared/bench}"
KEY=mgk_perf_tools_admin_key_000000001
ADMIN_KEY=$KEY

start_node() {
  local base="$1"; shift
  API="http://127.0.0.1:${base}90/v0"; RUN="http://127.0.0.1:${base}85"
  DATA=$(mktemp -d /tmp/modelgate-perf.XXXXXX); BODY="$DATA/body.json"
  MODELGATE_API_ADDR="127.0.0.1:${base}90" MODELGATE_RUN_ADDR="127.0.0.1:${base}85" MODELGATE_DATA_DIR="$DATA" \
    MODELGATE_BOOTSTRAP_API_KEY=$ADMIN_KEY MODELGATE_LOG=warn setsid "$@" "$BIN" serve > "$DATA/log" 2>&1 &
  PID=$!
  trap 'kill -INT $PID 2>/dev/null; sleep "${STOP_GRACE:-0}"; rm -rf "$DATA"' EXIT
  for _ in $(seq 300); do curl -sf "$API/health" >/dev/null && return; sleep 0.1; done
  echo "modelgate did not start: $(tail -5 "$DATA/log")" >&2; exit 1
}

api() { curl -sf "$API$1" -H "Authorization: Bearer $ADMIN_KEY" -H 'content-type: application/json' -d "$2" >/dev/null; }

configure_one_model() {
  api /integrations/connections '{"metadata":{"name":"m"},"spec":{"integration":"openai","config":{"url":"http://127.0.0.1:19080"},"secret":{"apiKey":"sk-mock-upstream-key"}}}'
  api /policies '{"metadata":{"name":"p"},"spec":{"type":"maxToken","maxTokens":{"granularity":"minute","step":1,"total":1000000000000}}}'
  api /models '{"metadata":{"name":"gpt"},"spec":{"integrationConnections":["m"],"policies":["p"],"runtime":{"type":"openai","model":"gpt-4o-mini"}}}'
}

configure_like_the_bench() {
  KEY=$(python3 "$(dirname "${BASH_SOURCE[0]}")/../lib/configure.py" "$API" "$ADMIN_KEY" http://127.0.0.1:19080 \
    sk-mock-upstream-key --models 1000 --keys 100)
}

write_body() {
  local stream=''
  [ "${1:-}" = stream ] && stream=',"stream":true,"stream_options":{"include_usage":true}'
  sed -e "s#@MODEL@#gpt-4o-mini#" -e "s#@MARK@##" -e "s#@STREAM@#$stream#" "$HARNESS/bodies/openai.json.tmpl" > "$BODY"
}

cpu_ticks() { awk '{print $14+$15}' "/proc/$PID/stat"; }
user_ticks() { awk '{print $14}' "/proc/$PID/stat"; }
# On-CPU nanoseconds of the process's live threads (finer than ticks; a thread that exits takes its share)
cpu_ns() { cat /proc/"$PID"/task/*/schedstat 2>/dev/null | awk '{s+=$1} END {printf "%d", s}'; }
