#!/usr/bin/env bash
# quick-cpu.sh BINARY [stream]: a quick A/B figure between two builds, not the full comparison
# (that is bench/run.sh): modelgate's CPU time per request under `wrk -c64` for 10 s against the
# harness's mock upstream, read from /proc. One model with a maxToken policy, usage metering on,
# the admin key as client. The mock must be running: ../shared/bench/mock/start.sh
set -euo pipefail
BIN="$1"; STREAM="${2:-}"
source "$(dirname "$0")/node.sh"
start_node 190 taskset -c 1
configure_one_model
write_body "$STREAM"
load() { BENCH_BODY_FILE="$BODY" BENCH_HEADERS="Authorization: Bearer $KEY" taskset -c 0 \
  wrk -t1 -c64 -d"$1" -s "$HARNESS/lib/post.lua" "$RUN/default/models/gpt/v1/chat/completions"; }
load 3s >/dev/null
before=$(cpu_ticks); out=$(load 10s); after=$(cpu_ticks)
requests=$(echo "$out" | awk '/requests in/{print $1}')
echo "requests=$requests cpu_us_per_request=$(python3 -c "print(round($((after - before))*1e6/$(getconf CLK_TCK)/$requests,1))") peak_rss_kib=$(awk '/VmHWM/{print $2}' /proc/$PID/status) non2xx=$(echo "$out" | grep -c Non-2xx || true)"
