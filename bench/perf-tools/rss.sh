#!/usr/bin/env bash
# rss.sh BIN LABEL: configure like bench/run.sh (1002 models, 102 keys), run load, report VmHWM/VmRSS
set -euo pipefail
BIN="$1"; LABEL="$2"; PORTBASE="${3:-192}"
HARNESS="${BENCH_HARNESS:-$(cd "$(dirname "$0")/../../.." && pwd)/shared/bench}"
KEY=mgk_rss_admin_key_00000000000001; API=http://127.0.0.1:${PORTBASE}90/v0; RUN=http://127.0.0.1:${PORTBASE}85
DATA=$(mktemp -d /tmp/modelgate-rss.XXXXXX); BODY="$DATA/body.json"
MODELGATE_API_ADDR=127.0.0.1:${PORTBASE}90 MODELGATE_RUN_ADDR=127.0.0.1:${PORTBASE}85 MODELGATE_DATA_DIR="$DATA" \
  MODELGATE_BOOTSTRAP_API_KEY=$KEY MODELGATE_LOG=warn setsid taskset -c 1 "$BIN" serve > "$DATA/log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 100); do curl -sf "$API/health" >/dev/null && break; sleep 0.1; done
hwm() { awk '/VmHWM|VmRSS|RssAnon|RssFile/{printf "%s=%s ", $1, $2}' /proc/$PID/status; }
echo "start: $(hwm)"
api() { curl -sf -X "$1" "$API$2" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' ${3:+-d "$3"}; }
api POST /integrations/connections '{"metadata":{"name":"mock-openai"},"spec":{"integration":"openai","config":{"url":"http://127.0.0.1:19080"},"secret":{"apiKey":"sk-mock-upstream-key"}}}' >/dev/null
api POST /policies '{"metadata":{"name":"bench-tpm"},"spec":{"type":"maxToken","maxTokens":{"granularity":"minute","step":1,"total":1000000000000}}}' >/dev/null
api POST /models '{"metadata":{"name":"gpt"},"spec":{"integrationConnections":["mock-openai"],"policies":["bench-tpm"],"runtime":{"type":"openai","model":"gpt-4o-mini"}}}' >/dev/null
for i in $(seq -w 1 1000); do
  api POST /models "{\"metadata\":{\"name\":\"filler-$i\"},\"spec\":{\"integrationConnections\":[\"mock-openai\"],\"runtime\":{\"type\":\"openai\",\"model\":\"m-$i\"}}}" >/dev/null
done
echo "after models: $(hwm)"
account=$(api POST /service_accounts '{"name":"bench-client"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"])')
keys="/service_accounts/$account/api_keys"
for i in $(seq 1 100); do api POST "$keys" '{"scopes":["models:invoke"]}' >/dev/null; done
CLIENT_KEY=$(api POST "$keys" '{"name":"bench","scopes":["models:invoke"]}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["apiKey"])')
echo "after keys: $(hwm)"
sed -e "s#@MODEL@#gpt-4o-mini#" -e "s#@MARK@##" -e "s#@STREAM@##" "$HARNESS/bodies/openai.json.tmpl" > "$BODY"
BENCH_BODY_FILE="$BODY" BENCH_HEADERS="Authorization: Bearer $CLIENT_KEY" taskset -c 0 \
  wrk -t1 -c64 -d5s -s "$HARNESS/lib/post.lua" "$RUN/default/models/gpt/v1/chat/completions" | grep -E 'requests in|Non-2xx' || true
ST=',"stream":true,"stream_options":{"include_usage":true}'
sed -e "s#@MODEL@#gpt-4o-mini#" -e "s#@MARK@##" -e "s#@STREAM@#$ST#" "$HARNESS/bodies/openai.json.tmpl" > "$BODY"
BENCH_BODY_FILE="$BODY" BENCH_HEADERS="Authorization: Bearer $CLIENT_KEY" taskset -c 0 \
  wrk -t1 -c64 -d5s -s "$HARNESS/lib/post.lua" "$RUN/default/models/gpt/v1/chat/completions" | grep -E 'requests in|Non-2xx' || true
echo "label=$LABEL after load: $(hwm) threads=$(ls /proc/$PID/task | wc -l)"
