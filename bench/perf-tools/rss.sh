#!/usr/bin/env bash
# rss.sh BIN LABEL: configures 1,002 models and 101 keys as bench/run.sh does, runs 5 s of
# non-streamed and 5 s of streamed `wrk -c64`, prints VmHWM / VmRSS / RssAnon / RssFile.
# The mock must be running: ../shared/bench/mock/start.sh
set -euo pipefail
BIN="$1"; LABEL="$2"
source "$(dirname "$0")/node.sh"
start_node 192 taskset -c 1
memory() { awk '/VmHWM|VmRSS|RssAnon|RssFile/{printf "%s=%s ", $1, $2}' "/proc/$PID/status"; }
echo "start: $(memory)"
configure_like_the_bench
echo "configured: $(memory)"
for stream in "" stream; do
  write_body "$stream"
  BENCH_BODY_FILE="$BODY" BENCH_HEADERS="Authorization: Bearer $KEY" taskset -c 0 \
    wrk -t1 -c64 -d5s -s "$HARNESS/lib/post.lua" "$RUN/default/models/gpt/v1/chat/completions" | grep -E 'requests in|Non-2xx' || true
done
echo "label=$LABEL after load: $(memory) threads=$(ls "/proc/$PID/task" | wc -l)"
