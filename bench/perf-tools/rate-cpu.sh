#!/usr/bin/env bash
# rate-cpu.sh BINARY [stream]: CPU µs per request (and user ticks) at a fixed 300 req/s
# (`oha -q 300 -c 64`, 10 s), the regime where wakeups dominate. One model with a maxToken
# policy. The mock must be running: ../shared/bench/mock/start.sh
set -euo pipefail
BIN="$1"; STREAM="${2:-}"
source "$(dirname "$0")/node.sh"
start_node 190 taskset -c 1
configure_one_model
write_body "$STREAM"
OHA="$(command -v oha || echo "$HOME/.cargo/bin/oha")"
load() { taskset -c 0 "$OHA" --no-tui -q 300 -c 64 -z "$1" --latency-correction -m POST -H "Authorization: Bearer $KEY" \
  -H "content-type: application/json" -D "$BODY" "$RUN/default/models/gpt/v1/chat/completions"; }
load 3s >/dev/null
before=$(cpu_ticks); user_before=$(user_ticks); ns_before=$(cpu_ns); out=$(load 10s); ns_after=$(cpu_ns); after=$(cpu_ticks); user_after=$(user_ticks)
requests=$(echo "$out" | awk '/\[200\]/{print $2}'); p50=$(echo "$out" | awk '/50.00%/{print $3}')
echo "user_ticks=$((user_after - user_before)) total_ticks=$((after - before)) p50=$p50 requests=$requests cpu_us_per_request=$(python3 -c "print(round($((after - before))*1e6/$(getconf CLK_TCK)/$requests,1))") sched_us_per_request=$(python3 -c "print(round(($ns_after - $ns_before)/1e3/$requests,1))") peak_rss_kib=$(awk '/VmHWM/{print $2}' /proc/$PID/status)"
