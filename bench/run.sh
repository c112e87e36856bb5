#!/usr/bin/env bash
# Runs every benchmark in its short default mode and prints their figures,
# each beside the baseline it measured in the same run. `make bench` calls
# it; the figures in the README and the issues' closing notes come from it.
#   bench/run.sh [BUILD_DIR] [--quick]
# --quick runs each for about a second (a smoke run, not a measurement).
set -euo pipefail
build=${1:-build}
quick=${2:-}
b="$build/bench"
[ -x "$b/bench-http" ] || { echo "bench: build first (make build)" >&2; exit 2; }
secs=3
[ "$quick" = "--quick" ] && secs=1

echo "== HTTPS server: dupla's request path vs a bare libmicrohttpd daemon"
"$b/bench-http" --seconds "$secs" 2>/dev/null
echo
echo "== token service: tokens over fresh mTLS vs the bare handshake; verify vs Ed25519"
"$b/bench-token" "$secs" 2>/dev/null
echo
echo "== agreement decision: in-memory registry vs one SQLite round trip"
if [ "$quick" = "--quick" ]; then "$b/bench-agreement" --smoke 2>/dev/null; else "$b/bench-agreement" 2>/dev/null; fi
echo
echo "== disclosure log: group commit vs fsync per append vs no fsync; verification"
"$b/bench-audit" --seconds 1 2>/dev/null
echo
echo "== ingest: dupla ingest vs the simplest SQLite loop (100,000 records; bench/ingest.sh $build 1000000 for the full run)"
n=100000
[ "$quick" = "--quick" ] && n=10000
"$(dirname "$0")/ingest.sh" "$build" "$n"
for extra in "$(dirname "$0")"/data.sh; do  # the data services vs nginx
    [ -x "$extra" ] || continue
    echo
    echo "== data services: $(basename "$extra")"
    # wrk and nginx are the benchmark's own tools (not the platform's): without
    # them this part says what to install and the rest goes on.
    "$extra" "$build" || echo "(data services skipped: exit $?)"
done
echo
echo "== SQLite and PostgreSQL side by side: data calls, bulk, log appends, ingest, citizen question"
"$(dirname "$0")/backends.sh" "$build" $quick
echo
echo "== several nodes: one and three behind HAProxy, the shared log's append rate with 1-3 nodes"
"$(dirname "$0")/cluster.sh" "$build" $quick
