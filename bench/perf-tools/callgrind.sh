#!/usr/bin/env bash
# cg.sh BIN LABEL [stream] [N] [CONNS]: instructions per request under callgrind
set -euo pipefail
BIN="$1"; LABEL="$2"; STREAM="${3:-false}"; N="${4:-1000}"; CONNS="${5:-1}"
HARNESS="${BENCH_HARNESS:-$(cd "$(dirname "$0")/../../.." && pwd)/shared/bench}"
KEY=mgk_quick_cpu_admin_key_000000001; API=http://127.0.0.1:19190/v0; RUN=http://127.0.0.1:19185
DATA=$(mktemp -d /tmp/modelgate-cg.XXXXXX); BODY="$DATA/body.json"; OUT=${CG_OUT_DIR:-/tmp}/cg-$LABEL-$STREAM-c$CONNS.out
MODELGATE_API_ADDR=127.0.0.1:19190 MODELGATE_RUN_ADDR=127.0.0.1:19185 MODELGATE_DATA_DIR="$DATA" \
  MODELGATE_BOOTSTRAP_API_KEY=$KEY MODELGATE_LOG=warn setsid valgrind --tool=callgrind --callgrind-out-file=$OUT "$BIN" serve > "$DATA/log" 2>&1 &
PID=$!
trap 'kill -INT $PID 2>/dev/null; sleep 3; rm -rf "$DATA"' EXIT
for _ in $(seq 300); do curl -sf "$API/health" >/dev/null && break; sleep 0.2; done
api() { curl -sf "$API$1" -H "Authorization: Bearer $KEY" -H 'content-type: application/json' -d "$2" >/dev/null; }
api /integrations/connections '{"metadata":{"name":"m"},"spec":{"integration":"openai","config":{"url":"http://127.0.0.1:19080"},"secret":{"apiKey":"sk-mock-upstream-key"}}}'
api /policies '{"metadata":{"name":"p"},"spec":{"type":"maxToken","maxTokens":{"granularity":"minute","step":1,"total":1000000000000}}}'
api /models '{"metadata":{"name":"gpt"},"spec":{"integrationConnections":["m"],"policies":["p"],"runtime":{"type":"openai","model":"gpt-4o-mini"}}}'
if [ "$STREAM" = stream ]; then ST=',"stream":true,"stream_options":{"include_usage":true}'; else ST=''; fi
sed -e "s#@MODEL@#gpt-4o-mini#" -e "s#@MARK@##" -e "s#@STREAM@#$ST#" "$HARNESS/bodies/openai.json.tmpl" > "$BODY"
URL="$RUN/default/models/gpt/v1/chat/completions"
python3 "$(dirname "$0")/load.py" "$URL" "$BODY" "$KEY" 200 "$CONNS" >/dev/null
sleep 1.5
callgrind_control -z $PID >/dev/null
res=$(python3 "$(dirname "$0")/load.py" "$URL" "$BODY" "$KEY" "$N" "$CONNS")
sleep 1.5   # let the usage writer's timer flush
callgrind_control -d $PID >/dev/null
sleep 1
F=$(ls -t $OUT* | head -1)
IR=$(grep -h '^summary:\|^totals:' $F | head -1 | awk '{print $2}')
echo "label=$LABEL stream=$STREAM conns=$CONNS ok/bad=$res Ir=$IR Ir_per_req=$((IR / N)) file=$F"
