#!/bin/bash
# Usage: bench/store-outage/shutdown.sh BINARY LABEL [POSTGRES_URL]
# How long a control node takes to exit on SIGTERM while PostgreSQL's packets are dropped.
BIN=$(realpath "$1"); LABEL=$2; PG=${3:-postgres://postgres@127.0.0.1:5432/test}
B=$(dirname "$(realpath "$0")"); W=$(mktemp -d); trap 'rm -rf $W' EXIT
SCHEMA=bench_sd_${LABEL}_$$
psql -q "$PG" -c "CREATE SCHEMA $SCHEMA"
python3 $B/relay.py 15433 "$PG" & RELAY=$!
for i in $(seq 1 50); do (echo > /dev/tcp/127.0.0.1/15433) 2>/dev/null && break; sleep 0.1; done
export MODELGATE_DATABASE_URL="$(python3 -c "import sys,urllib.parse as u; p=u.urlsplit(sys.argv[1]); print(p._replace(netloc=(p.netloc.rsplit('@',1)[0]+'@' if '@' in p.netloc else '')+'127.0.0.1:15433').geturl())" "$PG")?options=-c%20search_path%3D$SCHEMA" MODELGATE_BOOTSTRAP_API_KEY=mgk_bench_admin_key_0123456789abcdef MODELGATE_MASTER_KEY=$(printf '42%.0s' {1..32})
$BIN serve --role all --api-addr 127.0.0.1:18180 --run-addr 127.0.0.1:18181 --data-dir $W > $W/log 2>&1 & A=$!
for i in $(seq 1 100); do curl -s -o /dev/null http://127.0.0.1:18180/v0/health && break; sleep 0.2; done
kill -USR1 $RELAY; sleep 3
S=$(date +%s.%N); kill $A
for i in $(seq 1 300); do kill -0 $A 2>/dev/null || break; sleep 0.1; done
if kill -0 $A 2>/dev/null; then echo "$LABEL: still running 30 s after SIGTERM"; kill -9 $A; else echo "$LABEL: exited $(echo "$(date +%s.%N) - $S" | bc) s after SIGTERM"; fi
kill $RELAY; wait 2>/dev/null
psql -q "$PG" -c "DROP SCHEMA $SCHEMA CASCADE" 2>/dev/null
