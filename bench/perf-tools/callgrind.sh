#!/usr/bin/env bash
# callgrind.sh BIN LABEL [stream] [N] [CONNS]: instructions per request under callgrind (one model
# with a maxToken policy; 200 warm-up requests, counters zeroed, then N requests over CONNS
# keep-alive connections). The mock must be running: ../shared/bench/mock/start.sh
set -euo pipefail
BIN="$1"; LABEL="$2"; STREAM="${3:-}"; N="${4:-1000}"; CONNS="${5:-1}"
source "$(dirname "$0")/node.sh"
OUT=${CG_OUT_DIR:-/tmp}/cg-$LABEL-${STREAM:-plain}-c$CONNS.out
STOP_GRACE=3
start_node 191 valgrind --tool=callgrind --callgrind-out-file="$OUT"
configure_one_model
write_body "$STREAM"
URL="$RUN/default/models/gpt/v1/chat/completions"
python3 "$(dirname "$0")/load.py" "$URL" "$BODY" "$KEY" 200 "$CONNS" >/dev/null
sleep 1.5
callgrind_control -z "$PID" >/dev/null
res=$(python3 "$(dirname "$0")/load.py" "$URL" "$BODY" "$KEY" "$N" "$CONNS")
sleep 1.5   # let the usage writer's timer flush
callgrind_control -d "$PID" >/dev/null
sleep 1
F=$(ls -t "$OUT"* | head -1)
IR=$(grep -h '^summary:\|^totals:' "$F" | head -1 | awk '{print $2}')
echo "label=$LABEL stream=${STREAM:-no} conns=$CONNS ok/bad=$res Ir=$IR Ir_per_req=$((IR / N)) file=$F"
