#!/usr/bin/env bash
# Runs every benchmark in its short default mode and prints their figures,
# each beside the baseline it measured in the same run, and at the end one
# table of #19's goals: each row's figure, baseline, ratio, goal and whether
# it is met. `make bench` calls it; the figures in the README and the
# issues' closing notes come from it.
#   bench/run.sh [BUILD_DIR] [--quick|--full]
# --quick runs each for about a second (a smoke run, not a measurement).
# --full measures #19's rows at their full size: 10,000 idle connections
# (the default opens 2,000 and projects the memory to 10,000), ingest of
# 10^6 records (default 10^5), 10^6 persons in the store for the data calls
# (default 1,000; generating and ingesting them takes hours on 2 cores).
# Each figure depends on the machine's load: the load average is printed at
# the start and the end; compare ratios, measured in the same run.
# BENCH_SKIP="backends cluster" leaves out those two long parts (both
# backends side by side, several nodes), e.g. to measure #19's table alone.
set -euo pipefail
build=${1:-build}
mode=${2:-}
b="$build/bench"
here=$(dirname "$0")
[ -x "$b/bench-http" ] || { echo "bench: build first (make build)" >&2; exit 2; }
secs=3 data_secs=10 ingest_n=100000 idle=2000 persons=1000 calls=200 quick=""
case "$mode" in
--quick) secs=1 data_secs=2 ingest_n=10000 idle=200 persons=200 calls=50 quick=--quick ;;
--full) ingest_n=1000000 idle=10000 persons=1000000 data_secs=30 ;;
"") ;;
*) echo "usage: bench/run.sh [BUILD_DIR] [--quick|--full]" >&2; exit 2 ;;
esac
kv=$(mktemp /tmp/dupla-bench-kv-XXXXXX)
trap 'rm -f "$kv"' EXIT
load_start=$(uptime)
echo "load at the start: $load_start"
echo

echo "== HTTPS server: dupla's request path vs a bare libmicrohttpd daemon"
"$b/bench-http" --seconds "$secs" 2>/dev/null
echo
echo "== token service: tokens over fresh mTLS vs the bare handshake; verify vs Ed25519"
"$b/bench-token" "$secs" 2>/dev/null
echo
echo "== agreement decision: in-memory registry vs one SQLite round trip"
if [ -n "$quick" ]; then "$b/bench-agreement" --smoke 2>/dev/null; else "$b/bench-agreement" 2>/dev/null; fi
echo
skip() { [[ " ${BENCH_SKIP:-} " == *" $1 "* ]]; }
if ! skip backends; then
    echo "== SQLite and PostgreSQL side by side: data calls, bulk, log appends, ingest, citizen question"
    "$here/backends.sh" "$build" $quick
    echo
fi
if ! skip cluster; then
    echo "== several nodes: one and three behind HAProxy, the shared log's append rate with 1-3 nodes"
    "$here/cluster.sh" "$build" $quick
    echo
fi
echo "== disclosure log: group commit vs fsync per append vs no fsync; verification"
"$b/bench-audit" --seconds 1 --kv "$kv" 2>/dev/null
echo
echo "== ingest: dupla ingest vs the simplest SQLite loop ($ingest_n records)"
BENCH_KV="$kv" "$here/ingest.sh" "$build" "$ingest_n"
# wrk and nginx are the data benchmark's own tools (not the platform's):
# without them these parts say what to install and the rest goes on.
echo
echo "== data services, 64 connections, then $idle idle keep-alive TLS connections held open (bench/data.sh)"
BENCH_KV="$kv" BENCH_IDLE="$idle" BENCH_PERSONS="$persons" \
    "$here/data.sh" "$build" "$data_secs" 64 || echo "(skipped: exit $?)"
echo
echo "== data services, 8 connections (bench/data.sh)"
BENCH_KV="$kv" BENCH_PERSONS="$persons" "$here/data.sh" "$build" "$data_secs" 8 ||
    echo "(skipped: exit $?)"
echo
echo "== instructions per data call: $calls calls under callgrind (bench/instructions.sh)"
BENCH_KV="$kv" "$here/instructions.sh" "$build" "$calls" || echo "(skipped: exit $?)"

echo
echo "== #19's goals (load at the start: ${load_start##*load average: }; at the end: $(uptime | sed 's/.*load average: //'))"
python3 - "$kv" <<'PY'
import sys
kv = {}
for line in open(sys.argv[1]):
    k, _, v = line.strip().partition("=")
    try:
        kv[k] = float(v)
    except ValueError:
        pass
g = lambda k: kv.get("sqlite." + k)
rows = []
def row(what, fig, base, ratio, goal, met):
    rows.append((what, fig, base, "%.2f" % ratio if ratio is not None else "-", goal,
                 "-" if met is None else ("yes" if met else "NO")))
def n(v, unit=""):
    return "-" if v is None else "{:,.0f}{}".format(v, unit)
def div(a, b):
    return a / b if a is not None and b else None
for c in (64, 8):
    d, ng, p99 = g("data.c%d.single" % c), g("data.c%d.nginx" % c), g("data.c%d.p99" % c)
    r = div(d, ng)
    goal = "≥ 0.5, p99 ≤ 10 ms" if c == 64 else "≥ 0.5"
    met = None if r is None else (r >= 0.5 and (c != 64 or p99 <= 10))
    row("single-subject call, %d connections, vs nginx" % c,
        "%s/s, p99 %s ms" % (n(d), "-" if p99 is None else "%.1f" % p99),
        "%s/s, p99 %s ms" % (n(ng), "-" if g("data.c%d.nginx_p99" % c) is None else "%.1f" % g("data.c%d.nginx_p99" % c)),
        r, goal, met)
idle, d, di = g("data.c64.idle"), g("data.c64.single"), g("data.c64.single_idle")
r0, r1 = g("data.c64.rss_before_kb"), g("data.c64.rss_idle_kb")
if idle:
    r = div(di, d)
    row("%s idle keep-alive TLS connections: throughput" % n(idle), n(di, "/s"), n(d, "/s") + " without",
        r, "≥ 0.9", None if r is None else r >= 0.9)
    per = (r1 - r0) / idle
    at = r0 + per * 10000
    proj = "" if idle >= 10000 else " (projected from %s)" % n(idle)
    row("  the same: server RSS at 10,000%s" % proj, "%.0f MB (%.1f KB each)" % (at / 1024, per),
        "%.0f MB without them" % (r0 / 1024), None, "≤ 256 MB", at / 1024 <= 256)
bulk, scan = g("data.c64.bulk"), g("data.c64.bulk_scan")
r = div(bulk, scan)
row("bulk call, %s subjects × 3 years (goal at 1,000)" % n(g("data.c64.bulk_subjects")), n(bulk, " rec/s"), n(scan, " rows/s bare SQLite scan"),
    r, "≥ 0.5", None if r is None else r >= 0.5)
a, none = g("audit.append.64"), g("audit.no_fsync.64")
r = div(a, none)
row("durable log appends, 64 writers", n(a, "/s"), n(none, "/s without fsync"), r,
    "≥ 0.8 and ≥ 50k/s", None if r is None else (r >= 0.8 and a >= 50000))
ing, base, ingn = g("ingest"), g("ingest_base"), g("ingest_n")
r = div(ing, base)
row("ingest, %s records (goal at 10^6)" % n(ingn), n(ing, " rec/s"), n(base, " rec/s bare SQLite inserts"),
    r, "≥ 0.5", None if r is None else r >= 0.5)
hwm, pers = g("data.c64.hwm_kb"), g("data.c64.persons")
row("server RSS at 64 connections, %s persons (goal at 10^6)" % n(pers),
    "-" if hwm is None else "%.0f MB" % (hwm / 1024), "", None, "≤ 64 MB",
    None if hwm is None else hwm / 1024 <= 64)
ins = g("data.instructions")
row("instructions per single-subject call (callgrind)", n(ins), "", None, "recorded", None)
w = [max(len(str(r[i])) for r in rows + [("row", "figure", "baseline", "ratio", "goal", "met?")]) for i in range(6)]
for r in [("row", "figure", "baseline", "ratio", "goal", "met?")] + rows:
    print("  ".join(str(x).ljust(w[i]) for i, x in enumerate(r)).rstrip())
PY
