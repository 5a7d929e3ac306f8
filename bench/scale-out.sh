#!/usr/bin/env bash
# bench/scale-out.sh: figures of a scale-out deployment on PostgreSQL (not pinned to CPUs).
#  (a) propagation: 200 models created, then 200 updates of one model, through a control node,
#      each timed until an inference node serves it (both the binary of the bench profile, on a fresh schema;
#      benches/propagation.rs);
#  (b) usage write throughput: 200,000 records through the usage writer into PostgreSQL and into
#      SQLite (crates/store-sql/benches/usage_write.rs).
# Needs MODELGATE_TEST_POSTGRES_URL: a database where it may create (and then drops) a schema.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${MODELGATE_TEST_POSTGRES_URL:?set it to a PostgreSQL database the benchmark may create a schema in, e.g. postgres://postgres@127.0.0.1:5432/test}"
export MODELGATE_TEST_POSTGRES_URL
echo "commit $(git rev-parse --short HEAD), $(nproc) cores, PostgreSQL $(psql "$MODELGATE_TEST_POSTGRES_URL" -tAc 'SHOW server_version' 2>/dev/null || echo '?')"
cargo bench -p modelgate --bench propagation
cargo bench -p modelgate-store-sql --bench usage_write
