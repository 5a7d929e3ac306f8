#!/usr/bin/env bash
# nginx-ab.sh [--rounds N] [--throughput] [--stream] [--bare] BIN...: the harness's nginx and each
# binary, alternating round by round, so every round compares them in the same moment of a noisy
# machine. --bare adds bare-proxy/ (hyper's server and pooled client with nothing else: the floor
# of a gateway built on them), built in release mode first.
# Each binary runs the bench configuration (1,002 models, 101 keys, bench/lib/configure.py).
#   default:       CPU µs per request at a fixed 300 req/s (`oha -q 300 -c 64`, 10 s after 2 s),
#                  from the on-CPU nanoseconds of every thread of the proxy's process group
#   --throughput:  req/s, the proxy's CPU share and req/s per proxy core under `wrk -t1 -c64`
#                  (10 s after 3 s), the harness's Lua script and body
# The mock must be running: ../shared/bench/mock/start.sh. nginx uses the harness's port 19081.
set -euo pipefail
ROUNDS=3; THROUGHPUT=""; STREAM=""; BARE=""
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS="$2"; shift 2;;
    --throughput) THROUGHPUT=1; shift;;
    --stream) STREAM=stream; shift;;
    --bare) BARE=1; shift;;
    *) break;;
  esac
done
[ $# -gt 0 ] || [ -n "$BARE" ] || { echo "usage: $0 [--rounds N] [--throughput] [--stream] [--bare] BIN..." >&2; exit 2; }
HERE="$(cd "$(dirname "$0")" && pwd)"
HARNESS="${BENCH_HARNESS:-$(cd "$HERE/../../.." && pwd)/shared/bench}"
ADMIN_KEY=mgk_perf_tools_admin_key_000000001
OHA="$(command -v oha || echo "$HOME/.cargo/bin/oha")"
WORK=$(mktemp -d /tmp/nginx-ab.XXXXXX)
PGIDS=(); URLS=(); KEYS=(); LABELS=()

cleanup() {
  "$HARNESS/peers/nginx.sh" stop >/dev/null 2>&1 || true
  for pgid in "${PGIDS[@]}"; do kill -INT -- "-$pgid" 2>/dev/null || true; done
  sleep 1; rm -rf "$WORK"
}
trap cleanup EXIT

# Index 0 is nginx (stopped by its own script); PGIDS holds the binaries' process groups.
"$HARNESS/peers/nginx.sh" start >/dev/null
NGINX_PGID="$(cat "${BENCH_RUN:-/tmp/llmgw-bench}/nginx.pid")"
URLS+=(http://127.0.0.1:19081/v1/chat/completions); KEYS+=(sk-bench-master-key); LABELS+=(nginx)

if [ -n "$BARE" ]; then
  cargo build --release --quiet --manifest-path "$HERE/bare-proxy/Cargo.toml"
  setsid taskset -c 1 "$HERE/bare-proxy/target/release/bare-proxy" 127.0.0.1:19185 > "$WORK/bare.log" 2>&1 &
  PGIDS+=("$!")
  for _ in $(seq 100); do curl -s -o /dev/null http://127.0.0.1:19185/ && break; sleep 0.1; done
  URLS+=(http://127.0.0.1:19185/default/models/gpt/v1/chat/completions); KEYS+=(none); LABELS+=(bare-proxy)
fi

port=200
for bin in "$@"; do
  port=$((port + 1)); data="$WORK/$port"; mkdir -p "$data"
  MODELGATE_API_ADDR="127.0.0.1:${port}90" MODELGATE_RUN_ADDR="127.0.0.1:${port}85" MODELGATE_DATA_DIR="$data" \
    MODELGATE_BOOTSTRAP_API_KEY=$ADMIN_KEY MODELGATE_LOG=warn setsid taskset -c 1 "$bin" serve > "$data/log" 2>&1 &
  PGIDS+=("$!") # setsid: the process is its own group
  for _ in $(seq 300); do curl -sf "http://127.0.0.1:${port}90/v0/health" >/dev/null && break; sleep 0.1; done
  KEYS+=("$(python3 "$HERE/../lib/configure.py" "http://127.0.0.1:${port}90/v0" $ADMIN_KEY http://127.0.0.1:19080 \
    sk-mock-upstream-key --models 1000 --keys 100 2>/dev/null)")
  URLS+=("http://127.0.0.1:${port}85/default/models/gpt/v1/chat/completions"); LABELS+=("$(basename "$bin")")
done

stream=''; [ "$STREAM" = stream ] && stream=',"stream":true,"stream_options":{"include_usage":true}'
BODY="$WORK/body.json"
sed -e "s#@MODEL@#gpt-4o-mini#" -e "s#@MARK@##" -e "s#@STREAM@#$stream#" "$HARNESS/bodies/openai.json.tmpl" > "$BODY"

# On-CPU nanoseconds of every thread of a process group.
cpu_ns() { for pid in $(pgrep -g "$1"); do cat /proc/"$pid"/task/*/schedstat 2>/dev/null; done | awk '{s+=$1} END {printf "%d", s}'; }
at_rate() { taskset -c 0 "$OHA" --no-tui -q 300 -c 64 -z "$3" --latency-correction -m POST -H "Authorization: Bearer $2" \
  -H "content-type: application/json" -D "$BODY" "$1"; }
closed_loop() { BENCH_BODY_FILE="$BODY" BENCH_HEADERS="Authorization: Bearer $2" \
  taskset -c 0 wrk -t1 -c64 -d"$3" -s "$HARNESS/lib/post.lua" "$1"; }

measure() { # LABEL PGID URL KEY
  local before after out
  if [ -n "$THROUGHPUT" ]; then
    closed_loop "$3" "$4" 3s >/dev/null
    before=$(cpu_ns "$2"); out=$(closed_loop "$3" "$4" 10s); after=$(cpu_ns "$2")
    python3 - "$1" "$before" "$after" "$(echo "$out" | awk '/Requests\/sec/{print $2}')" <<'EOF'
import sys
label, before, after, rps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
share = (after - before) / 10e9
print(f"{label:<24} req/s={rps:8.0f} cpu_share={share:.2f} per_core={rps / share:8.0f} cpu_us_per_request={share * 1e6 / rps:5.1f}")
EOF
  else
    at_rate "$3" "$4" 2s >/dev/null
    before=$(cpu_ns "$2"); out=$(at_rate "$3" "$4" 10s); after=$(cpu_ns "$2")
    python3 - "$1" "$before" "$after" "$(echo "$out" | awk '/\[200\]/{print $2}')" \
      "$(echo "$out" | awk '/50.00%/{print $3 $4}')" "$(echo "$out" | awk '/99.00%/{print $3 $4}')" <<'EOF'
import sys
label, before, after, n, p50, p99 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
print(f"{label:<24} cpu_us_per_request={(after - before) / 1e3 / n:6.1f} p50={p50} p99={p99} requests={n}")
EOF
  fi
}

for round in $(seq "$ROUNDS"); do
  echo "round $round"
  measure nginx "$NGINX_PGID" "${URLS[0]}" "${KEYS[0]}"
  for i in $(seq 1 $((${#LABELS[@]} - 1))); do measure "${LABELS[$i]}" "${PGIDS[$((i - 1))]}" "${URLS[$i]}" "${KEYS[$i]}"; done
done
