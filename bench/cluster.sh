#!/usr/bin/env bash
# bench/cluster.sh: several nodes behind HAProxy on one PostgreSQL (#15.4).
#
#   bench/cluster.sh [BUILD_DIR] [--quick]
#
# Starts a whole local cluster (scripts/cluster.sh: PostgreSQL primary with a
# synchronous standby, fsync on; three nodes; HAProxy in TCP mode) in a
# temporary folder on its own ports, then in the same run:
#   1. single-subject data calls through HAProxy (bench/data.lua, wrk, 2
#      threads) with ONE node in HAProxy's rotation (the other two
#      disabled on its admin socket) and with all THREE, alternating,
#      BENCH_REPEAT rounds, at each load of BENCH_CONNS (keep-alive
#      connections): calls/s, p50, p99, answers that were not 2xx, the CPU
#      a call costs each program and the cores' idle time per call, and
#      the ratio three / one (goal >= 0.8: on 2 cores no gain is expected,
#      but no collapse either). The goal is judged on the throughput: each
#      set-up's highest median rate over the loads. At a light load (8
#      connections) the cores idle a quarter of the time and the rate is
#      the connections over a call's latency, which the relay's hop
#      lengthens; one node peaks near 64 connections with a sixth of the
#      cores still idle (its one log writer and two HTTP threads), three
#      nodes go on to use them at 128. Each load's ratio is printed too.
#      node1, the one node,
#      is the disclosure log's sequencer: with three, nodes 2 and 3 relay
#      their entries to it (DUPLA_CLUSTER_RELAY=0: each node appends by
#      itself, the comparison the README reports);
#   2. the shared disclosure log's highest append rate with 1, 2 and 3
#      nodes: as many bench-audit --shared-writers processes (each one
#      node's log writer, group commit, 64 writer threads) appending to the
#      cluster's store at once; appends/s in all, and appends refused;
#      "relay": the first process sequences, the others relay their
#      entries to it (the cluster's default), then each appending itself
#      (the durability barrier, and waiting inside the lock).
# Needs wrk, haproxy, psql (Debian: apt-get install wrk haproxy postgresql).
# Environment: BENCH_REPEAT (3: a median of 2 would be their mean, and one
# round on this machine can be off by a third), BENCH_DATA_SECONDS (8),
# BENCH_CONNS (the loads, "8 64 128"), BENCH_LOG_SECONDS (4; 0 skips
# part 2). --quick: one short round (a smoke run).
set -euo pipefail
BUILD=${1:-build}
QUICK=${2:-}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
REPEAT=${BENCH_REPEAT:-3}
SECS=${BENCH_DATA_SECONDS:-8}
LOADS=${BENCH_CONNS:-8 64 128}
LOG_SECS=${BENCH_LOG_SECONDS:-4}
if [ "$QUICK" = "--quick" ]; then
    REPEAT=1 SECS=2 LOG_SECS=1
fi
for tool in wrk psql curl python3; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "SKIPPED: the cluster bench needs $tool (Debian: apt-get install wrk postgresql curl)"
        exit 0
    }
done
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] ||
    { echo "SKIPPED: the cluster bench needs haproxy (apt-get install haproxy)"; exit 0; }
BA="$BUILD/bench/bench-audit"
[ -x "$BA" ] && [ -x "$BUILD/dupla" ] || { echo "bench/cluster.sh: build first (make build)" >&2; exit 2; }
BA=$(cd "$(dirname "$BA")" && pwd)/bench-audit

T=$(mktemp -d /tmp/dupla-bench-cluster-XXXXXX)
chmod 755 "$T"
BASE=$((11000 + (RANDOM % 700) * 10))
CPID=""
cleanup() {
    if [ -n "$CPID" ]; then
        kill -TERM "$CPID" 2>/dev/null || true
        wait "$CPID" 2>/dev/null || true
    fi
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

DUPLA_CLUSTER_RATE=1000000 "$ROOT/scripts/cluster.sh" run --dir "$T" --base-port "$BASE" --build "$BUILD" >"$T/cluster.out" 2>&1 &
CPID=$!
i=0
until [ -s "$T/connect.json" ]; do
    kill -0 "$CPID" 2>/dev/null || { cat "$T/cluster.out" >&2; echo "bench/cluster.sh: the cluster did not start" >&2; exit 1; }
    i=$((i + 1))
    [ $i -lt 1200 ] || { echo "bench/cluster.sh: the cluster did not start in 240 s" >&2; exit 1; }
    sleep 0.2
done
cj() { python3 -c 'import json,sys; v=json.load(open(sys.argv[1]))[sys.argv[2]]; print(v[0] if isinstance(v, list) else v)' "$T/connect.json" "$1"; }
PKI="$T/demo/pki"
AGREEMENT=$(cj agreement_id)
CPR=$(cj PersonCPRNummer)
PGURL=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["postgresql"]["url"])' "$T/connect.json")
TOKEN=$(curl -s --cacert "$PKI/ca.pem" --cert "$PKI/demo-system.pem" --key "$PKI/demo-system.key" \
    -H "x-transaktion-id: bench" -d client_id=api-gateway -d scope=openid -d grant_type=password \
    "https://localhost:$((BASE + 1))/token" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
export DUPLA_TOKEN="$TOKEN" DUPLA_AGREEMENT="$AGREEMENT"
URL="https://localhost:$BASE/Aarsopgoerelse?PersonCPRNummer=$CPR&Indkomst%C3%85r=2024"

hactl() { # COMMAND: HAProxy's admin socket
    python3 - "$T/haproxy.sock" "$1" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
out = b""
while True:
    c = s.recv(65536)
    if not c:
        break
    out += c
sys.stdout.write(out.decode())
PY
}
up_count() {
    hactl "show stat" | awk -F, '$1 == "api_nodes" && $2 ~ /^node/ && $18 == "UP" { n++ } END { print n + 0 }'
}
use_nodes() { # N: nodes 1..N in the rotation, the others disabled
    for i in 2 3; do
        if [ "$i" -le "$1" ]; then hactl "enable server api_nodes/node$i" >/dev/null; else hactl "disable server api_nodes/node$i" >/dev/null; fi
    done
    local n=0
    until [ "$(up_count)" = "$1" ]; do
        n=$((n + 1))
        [ $n -lt 100 ] || { echo "bench/cluster.sh: HAProxy does not show $1 node(s) up" >&2; hactl "show stat" >&2; exit 1; }
        sleep 0.2
    done
}

run_wrk() { # -> "rps p50 p99 non2xx"
    wrk -t2 -c"$CONNS" -d"${SECS}s" --latency -s "$ROOT/bench/data.lua" "$URL" >"$T/wrk.out" 2>&1 ||
        { cat "$T/wrk.out" >&2; exit 1; }
    python3 - "$T/wrk.out" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
def ms(v, u):
    return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[u]
rps = re.search(r"Requests/sec:\s+([\d.]+)", t).group(1)
p = {k: ms(v, u) for k, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", t, re.M)}
bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", t)
total = re.search(r"(\d+) requests in", t)
print(rps, "%.2f" % p["50"], "%.2f" % p["99"], bad.group(1) if bad else "0", total.group(1) if total else "0")
PY
}

echo "cluster in $T: 3 nodes, PostgreSQL primary + synchronous standby (fsync on), HAProxy TCP;" \
    "$(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
KV="$T/kv"
: >"$KV"
for CONNS in $LOADS; do
echo "-- single-subject calls through HAProxy: ${SECS}s each, wrk 2 threads, $CONNS keep-alive connections, $REPEAT round(s)"
# CPU time (user + system) by program over a run, and the cores' idle
# time: "comm ticks" lines, then "idle ticks" (every process on the
# machine; the bench's own are the nodes, PostgreSQL's and HAProxy's).
cpu_snap() {
    for f in /proc/[0-9]*/stat; do
        cat "$f" 2>/dev/null || true
    done | awk '{ c = $0; sub(/^[0-9]+ \(/, "", c); sub(/\) .*$/, "", c); sub(/^.*\) /, "");
                 t[c] += $12 + $13 } END { for (c in t) print c, t[c] }'
    awk '/^cpu / { print "idle", $5 + $6 } /^ctxt / { print "ctxt", $2 }' /proc/stat
}
# Per call, in µs: the nodes (dupla and its threads), PostgreSQL's
# processes (primary and standby), HAProxy, the cores left idle, and the
# machine's context switches.
cpu_per_call() { # BEFORE AFTER CALLS
    python3 - "$1" "$2" "$3" "$(getconf CLK_TCK)" <<'PY'
import sys
def load(f):
    d = {}
    for l in open(f):
        c, _, v = l.rstrip("\n").rpartition(" ")
        d[c] = int(v)
    return d
a, b, n, hz = load(sys.argv[1]), load(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
def us(pred):
    return sum(b[c] - a.get(c, 0) for c in b if pred(c)) / hz / n * 1e6 if n else 0
nodes = us(lambda c: c not in ("postgres", "haproxy", "wrk", "idle", "ctxt") and
           (c.startswith("dupla") or c.startswith("MHD")))
sw = (b.get("ctxt", 0) - a.get("ctxt", 0)) / n if n else 0
print("cpu/call: nodes %.0f us, postgresql %.0f us, haproxy %.0f us, idle %.0f us, %.1f switches" % (
    nodes, us(lambda c: c == "postgres"), us(lambda c: c == "haproxy"), us(lambda c: c == "idle"), sw))
PY
}
for round in $(seq 1 "$REPEAT"); do
    for n in 1 3; do
        use_nodes "$n"
        cpu_snap >"$T/cpu0"
        set -- $(run_wrk)
        cpu_snap >"$T/cpu1"
        printf '  round %d, %d node(s): %8.0f calls/s  p50 %6.2f ms  p99 %7.2f ms  not 2xx %s of %s\n' \
            "$round" "$n" "$1" "$2" "$3" "$4" "$5"
        cpu=$(cpu_per_call "$T/cpu0" "$T/cpu1" "$5")
        echo "      $cpu"
        echo "$CONNS $n $1 $2 $3 $4 $5 $(echo "$cpu" | sed 's/.*idle \([0-9]*\) us.*/\1/')" >>"$KV"
    done
done
done
use_nodes 3

echo
RELAY_AT="127.0.0.1:$((BASE + 5))"
MODES="relay barrier wait-in-lock"
[ "$LOG_SECS" != 0 ] || MODES="" # BENCH_LOG_SECONDS=0: the calls only
for mode in $MODES; do
echo "-- the shared log's highest append rate ($mode): N processes, each one node's log writer (group commit, 64 threads), ${LOG_SECS}s"
for n in 1 2 3; do
    pids=()
    for i in $(seq 1 "$n"); do
        flag=""
        [ "$mode" = wait-in-lock ] && flag="--wait-in-lock"
        # relay: the first process sequences, the others relay to it (each
        # starts appending once its link is up)
        if [ "$mode" = relay ] && [ "$n" -gt 1 ]; then
            if [ "$i" = 1 ]; then flag="--relay-listen $RELAY_AT --serve-after 3"; else flag="--relay-to $RELAY_AT"; fi
            flag="$flag --relay-pki $T/links-pki"
        fi
        mkdir -p "$T/ba$n-$i"
        "$BA" --shared-writers 64 $flag --store "$PGURL" --seconds "$LOG_SECS" --dir "$T/ba$n-$i" \
            >"$T/ba$n-$i.out" 2>&1 &
        pids+=($!)
        [ "$mode" = relay ] && [ "$i" = 1 ] && [ "$n" -gt 1 ] && sleep 0.5
    done
    for p in "${pids[@]}"; do wait "$p" || true; done
    python3 - "$n" "$T" <<'PY'
import glob, re, sys
n, t = sys.argv[1], sys.argv[2]
total = err = 0.0
retries = relayed = 0
secs = []
for f in sorted(glob.glob("%s/ba%s-*.out" % (t, n))):
    m = re.search(r"appends=(\d+) errors=(\d+) seconds=([\d.]+) open_retries=(\d+)", open(f).read())
    if not m:
        print("  %s node(s): %s failed: %s" % (n, f, open(f).read().strip()[-200:]))
        continue
    total += int(m.group(1)); err += int(m.group(2)); secs.append(float(m.group(3)))
    retries += int(m.group(4))
    r = re.search(r"relayed=(\d+)", open(f).read())
    relayed += int(r.group(1)) if r else 0
s = max(secs) if secs else 1
print("  %s node(s): %8.0f durable appends/s in all, %d appends refused, %d failed opens tried again%s"
      % (n, total / s, err, retries, ", %d relayed" % relayed if relayed else ""))
PY
done
done

echo
python3 - "$KV" <<'PY'
import os, statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
by = {}
for conns, n, rps, p50, p99, bad, tot, idle in rows:
    by.setdefault(int(conns), {}).setdefault(n, []).append(
        (float(rps), float(p50), float(p99), int(bad), int(tot), float(idle)))
peak = {}
valid = True
for conns in sorted(by):
    v = by[conns]
    med = {n: (statistics.median(r[0] for r in x), statistics.median(r[2] for r in x),
               sum(r[3] for r in x), sum(r[4] for r in x)) for n, x in v.items()}
    for n in sorted(med):
        idle = statistics.median(r[5] * r[0] / 1e6 / os.cpu_count() for r in v[n])  # of the cores
        print("%d connections, median, %s node(s): %.0f calls/s, p99 %.2f ms (not 2xx: %d of %d),"
              " cores idle %.0f %%" % ((conns, n) + med[n] + (100 * idle,)))
    if "1" in med and "3" in med and med["1"][0] > 0:
        r = med["3"][0] / med["1"][0]
        rounds = [b[0] / a[0] for a, b in zip(v["1"], v["3"]) if a[0]]
        clean = med["3"][2] == 0 and med["1"][2] == 0
        print("%d connections: three nodes / one: %.2f (rounds %s)%s" % (
            conns, r, " ".join("%.2f" % x for x in rounds),
            "" if clean else " (but some answers were not 2xx: not a valid figure)"))
        valid = valid and clean
    for n in med:
        if n not in peak or med[n][0] > peak[n][0]:
            peak[n] = (med[n][0], conns)
if "1" in peak and "3" in peak and peak["1"][0] > 0:
    r = peak["3"][0] / peak["1"][0]
    print("throughput (each set-up's highest median rate over the loads): one node %.0f/s at %d"
          " connections, three nodes %.0f/s at %d" % (peak["1"] + peak["3"]))
    print("goal: three nodes >= 0.8x one (throughput): %.2f: %s%s"
          % (r, "met" if r >= 0.8 else "MISSED",
             "" if valid else " (but some answers were not 2xx: not a valid figure)"))
PY
