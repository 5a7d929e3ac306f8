#!/bin/bash
# Usage: bench/store-outage/measure.sh BINARY LABEL [POSTGRES_URL]
# Times what users see while PostgreSQL's packets are dropped (relay.py's blackhole: connections
# stay open, nothing passes): a write and /v0/ready on a control node and an inference node, an
# inference node restarted during the outage, and the recovery. Ports 15432, 18080-18091.
BIN=$(realpath "$1"); LABEL=$2; PG=${3:-postgres://postgres@127.0.0.1:5432/test}
B=$(dirname "$(realpath "$0")"); W=$(mktemp -d); trap 'rm -rf $W' EXIT
SCHEMA=bench_$LABEL_$$; SCHEMA=bench_${LABEL}_$$
psql -q "$PG" -c "CREATE SCHEMA $SCHEMA"
python3 $B/relay.py 15432 "$PG" & RELAY=$!
for i in $(seq 1 50); do (echo > /dev/tcp/127.0.0.1/15432) 2>/dev/null && break; sleep 0.1; done
URL="$(python3 -c "import sys,urllib.parse as u; p=u.urlsplit(sys.argv[1]); print(p._replace(netloc=(p.netloc.rsplit('@',1)[0]+'@' if '@' in p.netloc else '')+'127.0.0.1:15432').geturl())" "$PG")?options=-c%20search_path%3D$SCHEMA"
KEY=mgk_bench_admin_key_0123456789abcdef
export MODELGATE_DATABASE_URL=$URL MODELGATE_BOOTSTRAP_API_KEY=$KEY MODELGATE_MASTER_KEY=$(printf '42%.0s' {1..32})
$BIN serve --role all --api-addr 127.0.0.1:18080 --run-addr 127.0.0.1:18081 --data-dir $W/a > $W/a.log 2>&1 & A=$!
for i in $(seq 1 100); do curl -s -o /dev/null http://127.0.0.1:18080/v0/health && break; sleep 0.2; done
$BIN serve --role inference --api-addr 127.0.0.1:18090 --run-addr 127.0.0.1:18091 --data-dir $W/b > $W/b.log 2>&1 & I=$!
for i in $(seq 1 100); do curl -s -o /dev/null http://127.0.0.1:18090/v0/health && break; sleep 0.2; done
conn() { printf '{"metadata":{"name":"%s"},"spec":{"integration":"openai","secret":{"apiKey":"sk"}}}' $1; }
write() { curl -s -m 30 -o $W/$1.body -w "%{http_code} %{time_total}s" -H "Authorization: Bearer $KEY" -H 'content-type: application/json' -d "$(conn $1)" http://127.0.0.1:18080/v0/integrations/connections; echo " $(cat $W/$1.body)"; }
echo "$LABEL write before the outage: $(write before)"
kill -USR1 $RELAY
echo "$LABEL write, packets dropped:     $(write during)"
echo "$LABEL second write:               $(write during2)"
echo "$LABEL control /v0/ready:          $(curl -s -m 30 -o $W/r1 -w '%{http_code} %{time_total}s' http://127.0.0.1:18080/v0/ready) $(cat $W/r1)"
echo "$LABEL inference /v0/ready:        $(curl -s -m 30 -o $W/r2 -w '%{http_code} %{time_total}s' http://127.0.0.1:18090/v0/ready) $(cat $W/r2)"
# A node restarted during the outage.
kill -9 $I; wait $I 2>/dev/null
$BIN serve --role inference --api-addr 127.0.0.1:18090 --run-addr 127.0.0.1:18091 --data-dir $W/b > $W/c.log 2>&1 & C=$!
sleep 8
if kill -0 $C 2>/dev/null; then echo "$LABEL inference node started during the outage: alive after 8 s; /v0/health $(curl -s -m 3 -o /dev/null -w '%{http_code} %{time_total}s' http://127.0.0.1:18090/v0/health) /v0/ready $(curl -s -m 3 -o $W/r3 -w '%{http_code} %{time_total}s' http://127.0.0.1:18090/v0/ready) $(cat $W/r3)"; else echo "$LABEL inference node started during the outage: exited: $(tail -2 $W/c.log)"; fi
kill -USR2 $RELAY
S=$(date +%s.%N)
for i in $(seq 1 120); do
  code=$(curl -s -m 3 -o /dev/null -w '%{http_code}' http://127.0.0.1:18090/v0/ready); [ "$code" = 200 ] && break; sleep 0.25; done
echo "$LABEL restarted inference node after restore: ready=$code after $(echo "$(date +%s.%N) - $S" | bc) s"
echo "$LABEL write after restore:        $(write after)"
kill -9 $A $C; kill $RELAY; wait 2>/dev/null
psql -q "$PG" -c "DROP SCHEMA $SCHEMA CASCADE"
