#!/bin/sh
# The ingest benchmark: dupla ingest of N årsopgørelser (default 1,000,000)
# beside the simplest SQLite insert loop of the same lines, and the database
# size per million records. Not run by make check.
#   bench/ingest.sh [BUILD_DIR] [N]     e.g. bench/ingest.sh build 50000
set -eu
BUILD=${1:-build}
N=${2:-1000000}
ninja -C "$BUILD" bench/bench-ingest >/dev/null
exec "$BUILD/bench/bench-ingest" ${BENCH_KV:+--kv "$BENCH_KV"} "$N"
