#!/usr/bin/env bash
# bench/backends.sh: SQLite and PostgreSQL side by side, in one run, on the
# same machine and the same data (#14.6). `make bench` (bench/run.sh) calls it.
#
#   bench/backends.sh [BUILD_DIR] [--quick]
#
# Starts its own PostgreSQL server (scripts/pg-test-server.sh, in /tmp as
# the user dupla-test) with durable commits (fsync and synchronous_commit
# on, as in production; the test server's defaults turn them off), keeps
# SQLite's files in /tmp too (the same disk), and measures on both:
#   - single-subject data calls and the bulk call (bench/data.sh, wrk), with
#     the CPU a call costs the whole machine on each backend (their ratio is
#     the calls' ratio once the cores are busy),
#   - durable disclosure-log appends at 1 / 8 / 64 writers (bench-audit),
#   - ingest of årsopgørelser (bench-ingest),
#   - the citizen's question "who saw data about me" at N log entries
#     (bench-citizen; N = 10,000,000 by default),
# alternating the backends, each measurement BENCH_REPEAT times (the
# median is printed), and prints the figures and the ratios PostgreSQL /
# SQLite. Without PostgreSQL installed it says so and measures nothing.
#
# Environment: BENCH_CITIZEN_ENTRIES (N), BENCH_REPEAT (default 3; 1 with
# --quick), BENCH_INGEST_N (default 100000), BENCH_DATA_SECONDS (default 5),
# BENCH_PG_SHARED_BUFFERS (PostgreSQL's shared_buffers, default 2GB).
# --quick: N = 100,000, one round, short runs (a smoke run, not a measurement).
set -euo pipefail
BUILD=${1:-build}
QUICK=${2:-}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B="$BUILD/bench"
if [ "$QUICK" = "--quick" ]; then
    N=${BENCH_CITIZEN_ENTRIES:-100000}
    REPEAT=${BENCH_REPEAT:-1}
    INGEST_N=${BENCH_INGEST_N:-10000}
    DATA_SECONDS=${BENCH_DATA_SECONDS:-2}
    AUDIT_SECONDS=0.5
else
    N=${BENCH_CITIZEN_ENTRIES:-10000000}
    REPEAT=${BENCH_REPEAT:-3}
    INGEST_N=${BENCH_INGEST_N:-100000}
    DATA_SECONDS=${BENCH_DATA_SECONDS:-5}
    AUDIT_SECONDS=1
fi
for p in bench-audit bench-ingest bench-citizen bench-data-setup; do
    [ -x "$B/$p" ] || { echo "bench/backends.sh: build first (make build)" >&2; exit 2; }
done

if ! out=$("$ROOT/scripts/pg-test-server.sh" start 2>&1); then
    echo "SKIPPED: PostgreSQL side by side: no PostgreSQL server could be started here:"
    echo "  $out" | head -n 3
    echo "  (Debian: apt-get install postgresql; scripts/install-deps.sh does)"
    exit 0
fi
eval "$out"
T=$(mktemp -d /tmp/dupla-bench-backends-XXXXXX)
cleanup() {
    "$ROOT/scripts/pg-test-server.sh" stop "$DUPLA_TEST_PG_DIR"
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
PG="$DUPLA_TEST_PG"
# Durable, as a production server: the test server turns these off. And
# its buffers sized as a production server's would be (the test server
# has 64 MB: at 10^7 log entries the citizen's question then measures
# the disk, not the database).
SHARED_BUFFERS=${BENCH_PG_SHARED_BUFFERS:-2GB}
psql "$PG" -qAt -c "ALTER SYSTEM SET fsync = on" -c "ALTER SYSTEM SET synchronous_commit = on" \
    -c "ALTER SYSTEM SET full_page_writes = on" -c "ALTER SYSTEM SET shared_buffers = '$SHARED_BUFFERS'" \
    -c "ALTER SYSTEM SET effective_cache_size = '8GB'" >/dev/null
"$ROOT/scripts/pg-test-server.sh" restart "$DUPLA_TEST_PG_DIR"
PGV=$(psql "$PG" -qAt -c "SHOW server_version" | cut -d' ' -f1)
SQ="sqlite:$T"
HAVE_WRK=1
if ! command -v wrk >/dev/null 2>&1; then
    HAVE_WRK=0
    echo "SKIPPED: the data calls (bench/data.sh needs wrk: apt-get install wrk)"
fi
KV="$T/figures.kv"
: >"$KV"
echo "SQLite $(sqlite3 --version 2>/dev/null | cut -d' ' -f1) (files in $T) and PostgreSQL $PGV (in $DUPLA_TEST_PG_DIR," \
    "fsync on, shared_buffers $(psql "$PG" -qAt -c "SHOW shared_buffers")), $REPEAT round(s), citizen question at N = $N entries; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

for round in $(seq 1 "$REPEAT"); do
    echo
    echo "-- round $round of $REPEAT"
    for store in "$SQ" "$PG"; do
        "$B/bench-audit" --seconds "$AUDIT_SECONDS" --verify-entries 20000 --store "$store" \
            --dir "$T" --kv "$KV" 2>&1 | sed -n '/writers/,/^$/p'
    done
    for store in "$SQ" "$PG"; do
        "$B/bench-ingest" --store "$store" --kv "$KV" "$INGEST_N" 2>&1 | grep 'dupla ingest'
    done
    for store in "" "$PG"; do
        [ "$HAVE_WRK" = 1 ] || break
        BENCH_STORE="$store" BENCH_NO_BASELINE=1 BENCH_KV="$KV" \
            "$ROOT/bench/data.sh" "$BUILD" "$DATA_SECONDS" 8 >"$T/data.out" 2>&1 ||
            { cat "$T/data.out" >&2; exit 1; }
        grep -E '^dupla single|^bulk' "$T/data.out"
    done
done

echo
echo "-- the citizen's question at $N entries (loading takes a while; progress on stderr)"
for store in "$SQ" "$PG"; do
    "$B/bench-citizen" --store "$store" --entries "$N" --kv "$KV"
    rm -f "$T"/citizen.db*
done

echo
python3 - "$KV" "$N" <<'PY'
import statistics, sys
kv = {}
for line in open(sys.argv[1]):
    k, _, v = line.strip().partition("=")
    if k:
        kv.setdefault(k, []).append(float(v))
n = int(sys.argv[2])
def med(k):
    v = kv.get(k)
    return statistics.median(v) if v else None
rows = [
    ("single-subject data calls /s (wrk, 8 conns)", "data.single", True),
    ("  p50 latency ms", "data.single_p50", False),
    ("  p99 latency ms", "data.single_p99", False),
    ("  CPU per call us: dupla", "data.cpu_server", False),
    ("  CPU per call us: the database server's processes", "data.cpu_db", False),
    ("  CPU per call us: the whole machine (wrk's too)", "data.cpu_machine", False),
    ("  cores idle %", "data.idle", False),
    ("bulk call, records/s (1,000 subjects x 3 years)", "data.bulk", True),
    ("durable log appends /s, 1 writer", "audit.append.1", True),
    ("durable log appends /s, 8 writers", "audit.append.8", True),
    ("durable log appends /s, 64 writers", "audit.append.64", True),
    ("  one commit per append /s, 8 writers", "audit.fsync_each.8", True),
    ("log verification entries/s", "audit.verify", True),
    ("ingest records/s", "ingest", True),
    ("citizen question at %s entries, median ms" % f"{n:,}", "citizen.p50", False),
    ("citizen question, p95 ms", "citizen.p95", False),
]
def spread(key):
    # the ratio of each round's pair (the backends alternate within a round),
    # lowest-highest: how far one round's figure can be trusted on this machine
    s, p = kv.get("sqlite." + key, []), kv.get("postgresql." + key, [])
    r = [b / a for a, b in zip(s, p) if a]
    if len(r) < 2 or len(s) != len(p):
        return ""
    return "%.2f-%.2f" % (min(r), max(r))
print("%-50s %12s %12s %10s %11s" % ("median of the rounds", "SQLite", "PostgreSQL", "PG/SQLite",
                                    "per round"))
ratios = {}
for name, key, higher in rows:
    s, p = med("sqlite." + key), med("postgresql." + key)
    if s is None and p is None:
        continue
    r = p / s if s and p is not None else None
    ratios[key] = r
    fmt = (lambda x: "-" if x is None else ("%.0f" % x if x >= 100 else "%.2f" % x))
    print("%-50s %12s %12s %10s %11s" % (name, fmt(s), fmt(p), "-" if r is None else "%.2f" % r,
                                         spread(key)))
print("(ratios: higher is better for rates, lower is better for latencies; per round: the")
print(" lowest and highest ratio of one round's pair, measured one after the other)")
print()
data = [ratios.get(k) for k in ("data.single", "data.bulk", "audit.append.1", "audit.append.8",
                                "audit.append.64", "ingest")]
data = [r for r in data if r is not None]
cs, cp = med("sqlite.data.cpu_machine"), med("postgresql.data.cpu_machine")
if cs and cp:
    # On shared cores the machine's CPU per call bounds the rate: what
    # PostgreSQL's processes add to a call is taken from the same cores
    # that SQLite's set-up spends on the calls themselves.
    print("the calls' CPU: the whole machine spends %.0f us a call with SQLite, %.0f us with PostgreSQL"
          % (cs, cp))
    print("(the database server's processes: %.0f us of it); with every core busy, the calls' PG/SQLite"
          % (med("postgresql.data.cpu_db") or 0))
    print("would be %.2f on this machine, whatever the load" % (cs / cp))
    print()
if data:
    worst = min(data)
    print("goal: PostgreSQL >= 0.7x SQLite on the data path (calls, bulk, appends, ingest): "
          "lowest ratio %.2f: %s" % (worst, "met" if worst >= 0.7 else "MISSED"))
for b in ("sqlite", "postgresql"):
    p = med(b + ".citizen.p50")
    if p is not None:
        print("goal: citizen question under 50 ms at %s entries on %s: median %.2f ms, p95 %.2f ms: %s"
              % (f"{n:,}", b, p, med(b + ".citizen.p95"), "met" if med(b + ".citizen.p95") < 50 else "MISSED"))
PY
