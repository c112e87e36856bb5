#!/bin/sh
# bench/data.sh: the data path under load, beside a baseline measured in the
# same run.
#
#   bench/data.sh [BUILD_DIR] [SECONDS] [CONNECTIONS]     (defaults: build 10 8)
#
# 1. single-subject calls (one CPR, one year, every granted field) with wrk
#    over HTTPS keep-alive on loopback: calls/s, p50 and p99 latency, and
#    the CPU a call costs: the server's, the database server's processes',
#    the whole machine's (wrk's too), with the share of the cores left idle;
# 2. the SAME load (same tool, threads, connections, duration, headers)
#    against nginx serving a static file of the same size over HTTPS, and
#    the ratio dupla / nginx;
# 3. a bulk call: 1,000 subjects x 3 income years in one GET, in records/s
#    (best of ${BENCH_BULK_REPEAT:-5});
# 4. the server's peak memory (VmHWM from /proc) over the whole run;
# 5. with BENCH_IDLE=N: N idle keep-alive TLS connections opened and held
#    (bench/idle.py, each after one request), the server's memory with them
#    (VmRSS), and step 1 again while they stay open, as a ratio to step 1.
#
# Needs wrk and nginx (Debian: apt-get install wrk nginx-light); it starts
# its own nginx with a temporary configuration on a free port, never the
# system service. Everything lives in a temporary folder, removed at the end.
# Every data call is recorded durably in the disclosure log (group commit),
# as in production. Not run by `make check`.
#
# Environment (bench/backends.sh sets these to compare the backends):
#   BENCH_STORE        the store: a PostgreSQL connection string (that
#                      database is WIPED first; needs psql) instead of a
#                      SQLite file in the temporary folder
#   BENCH_NO_BASELINE  1: skip nginx (and the ratio to it)
#   BENCH_KV           append the figures as key=value lines to this file
#   BENCH_HTTP_THREADS the server's http.threads (default: its own, the
#                      online CPUs)
#   TMPDIR             where the temporary folder (and the store) goes
#                      (default /tmp; /dev/shm leaves the disk's fsync out)
#   BENCH_WARMUP       seconds of single-subject calls made, and not counted,
#                      before step 1 (default 2; 0: none)
#   BENCH_BULK_REPEAT  bulk calls made, the best counted (default 5; more
#                      to profile the server during them)
#   BENCH_IDLE         idle keep-alive connections to hold during a second
#                      run of step 1 (e.g. 10000; default 0: none)
#   BENCH_INSTRUCTIONS N: instead of steps 1-5, run the server under
#                      valgrind's callgrind and count the instructions it
#                      executes (every thread, user space) over N
#                      single-subject calls made one after the other on one
#                      keep-alive connection (after 20 unmeasured ones): a
#                      figure that a loaded machine does not change, so a
#                      regression shows (bench/instructions.sh);
#                      BENCH_CALLGRIND_OUT=FILE keeps callgrind's profile
set -eu

BUILD=${1:-build}
SECONDS_RUN=${2:-10}
CONNS=${3:-8}
THREADS=2
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DUPLA="$BUILD/dupla"
SETUP="$BUILD/bench/bench-data-setup"
CVR=12345674
PERSONS=${BENCH_PERSONS:-1000}

STORE=${BENCH_STORE:-}
NO_BASELINE=${BENCH_NO_BASELINE:-0}
IDLE=${BENCH_IDLE:-0}
HTTP_SECTION=""
[ -z "${BENCH_HTTP_THREADS:-}" ] || HTTP_SECTION=", \"http\": {\"threads\": $BENCH_HTTP_THREADS}"
INSTR=${BENCH_INSTRUCTIONS:-0}
WRAP=""
START_TRIES=200
if [ "$INSTR" -gt 0 ]; then
    NO_BASELINE=1 IDLE=0 START_TRIES=2400
    WRAP="valgrind --tool=callgrind --instr-atstart=no --trace-children=no"
    command -v valgrind >/dev/null 2>&1 || { echo "bench/data.sh: valgrind is missing; on Debian: sudo apt-get install valgrind" >&2; exit 2; }
fi
IDLE_LIMITS=""
# idle connections are closed after limits.idle_seconds: hold them longer
[ "$IDLE" -gt 0 ] && IDLE_LIMITS=', "idle_seconds": 900'
IDLE_PID=""
LABEL=sqlite
[ -n "$STORE" ] && LABEL=postgresql
TOOLS="wrk curl python3"
[ "$NO_BASELINE" = 1 ] || TOOLS="$TOOLS nginx"
[ -n "$STORE" ] && TOOLS="$TOOLS psql"
for tool in $TOOLS; do
    if ! command -v "$tool" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$tool" ]; then
        echo "bench/data.sh: $tool is missing; on Debian: sudo apt-get install wrk nginx-light curl" >&2
        exit 2
    fi
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
if [ -n "$STORE" ]; then
    psql "$STORE" -qAt -c "SET client_min_messages = warning" -c "DROP SCHEMA IF EXISTS public CASCADE" \
        -c "CREATE SCHEMA public" >/dev/null
fi
[ -x "$DUPLA" ] && [ -x "$SETUP" ] || { echo "bench/data.sh: build first (ninja -C $BUILD)" >&2; exit 2; }

T=$(mktemp -d "${TMPDIR:-/tmp}/dupla-bench-data-XXXXXX")
SERVER_PID=""
NGINX_PID=""
cleanup() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
    [ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null || true
    [ -n "$IDLE_PID" ] && kill "$IDLE_PID" 2>/dev/null || true
    rm -rf "$T"
}
trap cleanup EXIT INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

echo "bench/data.sh: setting up in $T on $LABEL (persons $PERSONS, years 2022-2024)"
"$DUPLA" pki init --dir "$T/pki" >/dev/null
"$DUPLA" pki issue-system --dir "$T/pki" --cvr "$CVR" --name bench >/dev/null
cat >"$T/dupla.json" <<EOF
{
  "environment": "test",
  "store": "${STORE:-sqlite:dupla.db}",
  "log_level": "warn",
  "listeners": [
    {"name": "api", "address": "127.0.0.1", "port": 0,
     "cert": "pki/server.pem", "key": "pki/server.key"},
    {"name": "token", "address": "127.0.0.1", "port": 0,
     "cert": "pki/server.pem", "key": "pki/server.key",
     "client_cert": "request", "trust": "pki/ca.pem", "crl": "pki/crl.pem"}
  ],
  "limits": {"max_url_bytes": 65536, "max_query_params": 2000$IDLE_LIMITS},
  "exposure": {"rate_per_second": 1000000, "rate_burst": 1000000, "max_in_flight": 1024}$HTTP_SECTION
}
EOF
C="--config $T/dupla.json"
"$DUPLA" org create $C --name "Bench Kommune" --cvr "$CVR" --admin admin@bench.dk \
    --contact-email k@bench.dk >/dev/null
"$DUPLA" system register $C --org "$CVR" --name bench --cert "$T/pki/bench.pem" >/dev/null
"$DUPLA" testdata generate $C --persons "$PERSONS" --companies 10 --years 2022-2024 --seed 1 \
    --ingest --quiet
AGREEMENT=$("$SETUP" "$T/dupla.json" "$CVR" "$ROOT/catalog")

# shellcheck disable=SC2086 # WRAP is a command line
$WRAP ${WRAP:+--callgrind-out-file="$T/callgrind.out"} "$DUPLA" serve $C --ready-file "$T/ready.json" 2>"$T/server.log" &
SERVER_PID=$!
i=0
while [ ! -s "$T/ready.json" ]; do
    i=$((i + 1))
    [ $i -lt $START_TRIES ] || { echo "bench/data.sh: the server did not start" >&2; tail "$T/server.log" >&2; exit 1; }
    sleep 0.05
done
API=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["listeners"]["api"])' "$T/ready.json")
TOK=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["listeners"]["token"])' "$T/ready.json")

# the token, as the public client gets it: PKCS#12 over mutual TLS
PASS=$(head -n1 "$T/pki/bench.p12.pass")
TOKEN=$(curl -s --cacert "$T/pki/ca.pem" --cert-type P12 --cert "$T/pki/bench.p12:$PASS" \
    -H "x-transaktion-id: bench" -d client_id=api-gateway -d scope=openid -d grant_type=password \
    "https://localhost:$TOK/token" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
export DUPLA_TOKEN="$TOKEN" DUPLA_AGREEMENT="$AGREEMENT"

# subjects that have data, straight from the store (sqlite3 is a build dependency)
subjects() { # LIMIT
    if [ -n "$STORE" ]; then
        psql "$STORE" -qAt -c "SELECT DISTINCT lpad(subject::text, 10, '0') FROM dataset_record r JOIN dataset_service s ON s.id = r.service_id WHERE s.path = 'Aarsopgoerelse' ORDER BY 1 LIMIT $1"
    else
        sqlite3 "$T/dupla.db" "SELECT DISTINCT printf('%010d', subject) FROM dataset_record r JOIN dataset_service s ON s.id = r.service_id WHERE s.path = 'Aarsopgoerelse' ORDER BY 1 LIMIT $1"
    fi
}
CPR=$(subjects 1)
[ -n "$CPR" ] || { echo "bench/data.sh: no example CPR number" >&2; exit 1; }
PATH_ONE="/Aarsopgoerelse?PersonCPRNummer=$CPR&Indkomst%C3%85r=2024"
URL_ONE="https://localhost:$API$PATH_ONE"

hdr() {
    curl -s -o "$1" -w '%{http_code}' --cacert "$T/pki/ca.pem" \
        -H "Authorization: Bearer $TOKEN" -H "X-Request-ID: $(python3 -c 'import uuid; print(uuid.uuid4())')" \
        -H "X-Transaktions-ID: bench" -H "UFST-Adgangsgrundlag: urn:ufst:adgangsgrundlag:aftale:$AGREEMENT" \
        "$2"
}
CODE=$(hdr "$T/one.json" "$URL_ONE")
[ "$CODE" = 200 ] || { echo "bench/data.sh: single call answered $CODE: $(cat "$T/one.json")" >&2; exit 1; }
SIZE=$(wc -c <"$T/one.json")

# BENCH_INSTRUCTIONS: the server's instructions over a fixed sequence of calls
calls() { # N: N single-subject calls on one keep-alive connection, one status a line
    python3 - "$1" "$URL_ONE" "$T/pki/ca.pem" "$TOKEN" "$AGREEMENT" >"$T/calls.cfg" <<'PY'
import sys, uuid
n, url, ca, token, agreement = sys.argv[1:]
for i in range(int(n)):
    if i:
        print("next")
    print('url = "%s"\noutput = "/dev/null"\ncacert = "%s"\nsilent\nwrite-out = "%%{http_code}\\n"' % (url, ca))
    for h in ("Authorization: Bearer " + token, "X-Request-ID: %s" % uuid.uuid4(),
              "X-Transaktions-ID: bench", "UFST-Adgangsgrundlag: urn:ufst:adgangsgrundlag:aftale:" + agreement):
        print('header = "%s"' % h)
PY
    curl --config "$T/calls.cfg"
}
if [ "$INSTR" -gt 0 ]; then
    calls 20 >/dev/null
    callgrind_control -i on "$SERVER_PID" >/dev/null 2>&1
    BAD=$(calls "$INSTR" | grep -vc '^200$' || true)
    callgrind_control -d "$SERVER_PID" >/dev/null 2>&1
    callgrind_control -i off "$SERVER_PID" >/dev/null 2>&1
    DUMP=$(ls "$T"/callgrind.out* | grep -v '\.out$' | head -n1)
    TOTAL=$(awk '/^(summary|totals):/ {print $2; exit}' "$DUMP")
    [ "$BAD" = 0 ] || { echo "bench/data.sh: $BAD of $INSTR calls did not answer 200" >&2; exit 1; }
    PER=$((TOTAL / INSTR))
    echo "instructions per single-subject call (server, every thread, callgrind; $INSTR calls, $SIZE B answers): $PER"
    [ -z "${BENCH_KV:-}" ] || echo "$LABEL.data.instructions=$PER" >>"$BENCH_KV"
    # where they go: callgrind_annotate FILE (the profile in #19's note)
    [ -z "${BENCH_CALLGRIND_OUT:-}" ] || cp "$DUMP" "$BENCH_CALLGRIND_OUT"
    exit 0
fi

# nginx with the same certificate, a static file of the same size
if [ "$NO_BASELINE" != 1 ]; then
mkdir -p "$T/www" "$T/nginx"
cp "$T/one.json" "$T/www/one.json"
NGPORT=$(free_port)
cat >"$T/nginx/nginx.conf" <<EOF
worker_processes 2;
pid $T/nginx/nginx.pid;
error_log $T/nginx/error.log warn;
daemon off;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $T/nginx/body;
    proxy_temp_path $T/nginx/proxy;
    fastcgi_temp_path $T/nginx/fastcgi;
    uwsgi_temp_path $T/nginx/uwsgi;
    scgi_temp_path $T/nginx/scgi;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$NGPORT ssl;
        ssl_certificate $T/pki/server.pem;
        ssl_certificate_key $T/pki/server.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        root $T/www;
        default_type application/json;
    }
}
EOF
"$NGINX" -c "$T/nginx/nginx.conf" -p "$T/nginx" 2>"$T/nginx/start.log" &
NGINX_PID=$!
i=0
until curl -s -o /dev/null --cacert "$T/pki/ca.pem" "https://localhost:$NGPORT/one.json"; do
    i=$((i + 1))
    [ $i -lt 100 ] || { echo "bench/data.sh: nginx did not start" >&2; cat "$T/nginx/start.log" "$T/nginx/error.log" >&2; exit 1; }
    sleep 0.05
done
fi

run_wrk() { # URL -> "rps p50 p99"
    wrk -t"$THREADS" -c"$CONNS" -d"${SECONDS_RUN}s" --latency -s "$ROOT/bench/data.lua" "$1" >"$T/wrk.out" 2>&1 || { cat "$T/wrk.out" >&2; exit 1; }
    python3 - "$T/wrk.out" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
def ms(v, u):
    return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[u]
rps = re.search(r"Requests/sec:\s+([\d.]+)", t).group(1)
p = {k: ms(v, u) for k, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", t, re.M)}
bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", t)
print(rps, "%.3f" % p["50"], "%.3f" % p["99"], bad.group(1) if bad else "0")
PY
}

# CPU time (user + system) of the server and of the database server's
# processes (those pg_stat_activity lists; none for SQLite) per call: a
# figure that a busy machine changes far less than the rate.
cpu_snap() { # -> "pid ticks" lines, the server's first, then the machine's busy and idle ticks
    { echo "$SERVER_PID"; [ -z "$STORE" ] || psql "$STORE" -qAt -c "SELECT pid FROM pg_stat_activity"; } |
        while read -r p; do
            if [ -r "/proc/$p/stat" ]; then
                awk -v p="$p" '{ sub(/^.*\) /, ""); print p, $12 + $13 }' "/proc/$p/stat" || true
            fi
        done
    awk '/^cpu /{ print "busy", $2 + $3 + $4 + $7 + $8 + $9; print "idle", $5 + $6 }' /proc/stat
}
# The disclosure log's entries and group-commit batches so far (/metrics,
# on the loopback listener): their mean over the run says how much of a
# batch's fixed cost each call bears.
log_batches() { # -> "entries batches"
    curl -s --cacert "$T/pki/ca.pem" "https://localhost:$API/metrics" |
        awk '/^dupla_audit_batch_entries_sum /{s=$2} /^dupla_audit_batch_entries_count /{c=$2}
             END{printf "%d %d\n", s, c}'
}
# Steady state before measuring, alike on both backends: the setup's load
# checkpointed out of the write-ahead log (else PostgreSQL's checkpointer
# writes it back during the run, and every page's first change after that
# checkpoint is logged whole), then WARMUP seconds of the same calls (the
# connections' prepared statements, the log's first partitions and tree
# nodes, the caches), not counted.
settle() {
    if [ -n "$STORE" ]; then
        psql "$STORE" -qAt -c "CHECKPOINT" >/dev/null
    else
        sqlite3 "$T/dupla.db" ".timeout 10000" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
    fi
}
settle
WARMUP=${BENCH_WARMUP:-2}
if [ "$WARMUP" != 0 ]; then
    SECONDS_SAVED=$SECONDS_RUN
    SECONDS_RUN=$WARMUP
    run_wrk "$URL_ONE" >/dev/null
    SECONDS_RUN=$SECONDS_SAVED
fi
echo "bench/data.sh: single-subject calls, ${SECONDS_RUN}s, $THREADS threads, $CONNS keep-alive connections, answer $SIZE bytes"
cpu_snap >"$T/cpu0"
LOG0=$(log_batches)
set -- $(run_wrk "$URL_ONE")
D_RPS=$1 D_P50=$2 D_P99=$3 D_BAD=$4
cpu_snap >"$T/cpu1"
LOG_BATCH=$(echo "$LOG0 $(log_batches)" | awk '{ b = $4 - $2; if (b > 0) printf "%.2f", ($3 - $1) / b; else print "-" }')
CPU_PER_CALL=$(python3 - "$T/cpu0" "$T/cpu1" "$SERVER_PID" "$(getconf CLK_TCK)" "$D_RPS" "$SECONDS_RUN" <<'PY'
import sys
a = dict(l.split() for l in open(sys.argv[1]) if l.strip())
b = dict(l.split() for l in open(sys.argv[2]) if l.strip())
srv, hz, n = sys.argv[3], float(sys.argv[4]), float(sys.argv[5]) * float(sys.argv[6])
d = {p: int(t) - int(a.get(p, 0)) for p, t in b.items()}
busy, idle = d.pop("busy"), d.pop("idle")
print("%.0f %.0f %.0f %.0f" % (d.get(srv, 0) / hz / n * 1e6,
                               sum(v for p, v in d.items() if p != srv) / hz / n * 1e6,
                               busy / hz / n * 1e6, 100 * idle / max(busy + idle, 1)))
PY
)
if [ "$NO_BASELINE" != 1 ]; then
    set -- $(run_wrk "https://localhost:$NGPORT/one.json")
    N_RPS=$1 N_P50=$2 N_P99=$3
fi

# the bulk call: 1,000 subjects x 3 years
SUBJECTS=$(subjects 1000)
Q=$(printf '%s\n' $SUBJECTS | python3 -c 'import sys; ids=[l.strip() for l in sys.stdin if l.strip()]; print("&".join("PersonCPRNummer="+i for i in ids) + "&Indkomst%C3%85r=2022&Indkomst%C3%85r=2023&Indkomst%C3%85r=2024")')
NSUB=$(printf '%s\n' $SUBJECTS | grep -c . || true)
best=""
for k in $(seq 1 "${BENCH_BULK_REPEAT:-5}"); do
    TIMES=$(curl -s -o "$T/bulk.json" -w '%{http_code} %{time_starttransfer} %{time_total}' \
        --cacert "$T/pki/ca.pem" -H "Authorization: Bearer $TOKEN" \
        -H "X-Request-ID: $(python3 -c 'import uuid; print(uuid.uuid4())')" \
        -H "X-Transaktions-ID: bench" -H "UFST-Adgangsgrundlag: urn:ufst:adgangsgrundlag:aftale:$AGREEMENT" \
        "https://localhost:$API/Aarsopgoerelse?$Q")
    set -- $TIMES
    CODE=$1 START=0 END=$3 TTFB=$2
    [ "$CODE" = 200 ] || { echo "bench/data.sh: bulk call answered $CODE: $(head -c 300 "$T/bulk.json")" >&2; exit 1; }
    RECS=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["data"]))' "$T/bulk.json")
    R=$(python3 -c "print('%.0f' % ($RECS / ($END - $START)))")
    if [ -z "$best" ] || [ "$R" -gt "$best" ]; then
        best=$R
        BTIME=$(python3 -c "print('%.1f' % ($END * 1000))")
        BTTFB=$(python3 -c "print('%.1f' % ($TTFB * 1000))")
    fi
done
BYTES=$(wc -c <"$T/bulk.json")
# its baseline (SQLite only): a bare scan of the same subjects' rows of the
# same service and years, every row's fields read out (Python's sqlite3,
# best of 5), in rows/s
BULK_BASE=""
if [ -z "$STORE" ]; then
    BULK_BASE=$(printf '%s\n' $SUBJECTS | python3 -c '
import sqlite3, sys, time
ids = [int(l) for l in sys.stdin if l.strip()]
db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
q = ("SELECT r.fields FROM dataset_record r JOIN dataset_service s ON s.id = r.service_id"
     " WHERE s.path = ? AND r.subject IN (%s) AND r.period_start BETWEEN ? AND ?"
     % ",".join("?" * len(ids)))
lo, hi = 18993, 20088  # 2022-01-01 .. 2024-12-31, in days
best = 0
for _ in range(5):
    t = time.perf_counter()
    n = sum(1 for _ in db.execute(q, ["Aarsopgoerelse"] + ids + [lo, hi]))
    best = max(best, n / (time.perf_counter() - t))
print("%.0f %d" % (best, n))' "$T/dupla.db")
fi
HWM=$(grep VmHWM "/proc/$SERVER_PID/status" | awk '{print $2, $3}')
HWM_LOAD=$HWM

# step 5: the same load with IDLE idle keep-alive connections held open
if [ "$IDLE" -gt 0 ]; then
    RSS0=$(grep VmRSS "/proc/$SERVER_PID/status" | awk '{print $2, $3}')
    python3 "$ROOT/bench/idle.py" "$API" "$IDLE" "$T/pki/ca.pem" >"$T/idle.out" 2>"$T/idle.err" &
    IDLE_PID=$!
    i=0
    until grep -q '^ready' "$T/idle.out" 2>/dev/null; do
        i=$((i + 1))
        [ $i -lt 6000 ] || { echo "bench/data.sh: the idle connections did not open" >&2; cat "$T/idle.err" >&2; exit 1; }
        kill -0 "$IDLE_PID" 2>/dev/null || { echo "bench/data.sh: bench/idle.py ended" >&2; cat "$T/idle.err" >&2; exit 1; }
        sleep 0.1
    done
    set -- $(grep '^ready' "$T/idle.out")
    IDLE_OPEN=$2 IDLE_FAILED=$3
    RSS1=$(grep VmRSS "/proc/$SERVER_PID/status" | awk '{print $2, $3}')
    set -- $(run_wrk "$URL_ONE")
    I_RPS=$1 I_P50=$2 I_P99=$3
    OPEN_AFTER=$(ls "/proc/$SERVER_PID/fd" | wc -l)
    HWM=$(grep VmHWM "/proc/$SERVER_PID/status" | awk '{print $2, $3}')
    kill "$IDLE_PID" 2>/dev/null || true
    wait "$IDLE_PID" 2>/dev/null || true
    IDLE_PID=""
fi

echo
printf '%-44s %12s %10s %10s\n' "" "calls/s" "p50 ms" "p99 ms"
printf '%-44s %12s %10s %10s\n' "dupla single subject ($LABEL, audited, $SIZE B)" "$D_RPS" "$D_P50" "$D_P99"
set -- $CPU_PER_CALL
echo "  CPU per call: server $1 us, database server $2 us; the whole machine $3 us (every process, the load"
echo "  generator's too), the cores idle $4 % (user + system time over the run / calls)"
echo "  disclosure log: $LOG_BATCH entries a committed batch, on average over the run"
if [ "$NO_BASELINE" != 1 ]; then
    printf '%-44s %12s %10s %10s\n' "nginx static file, same size (baseline)" "$N_RPS" "$N_P50" "$N_P99"
    python3 -c "print('%-44s %12.2f' % ('ratio dupla / nginx', $D_RPS / $N_RPS))"
fi
[ "$D_BAD" = 0 ] || echo "WARNING: $D_BAD non-2xx answers from dupla during the run"
echo
echo "bulk: $NSUB subjects x 3 years = $RECS records ($BYTES bytes) in $BTIME ms (first byte after $BTTFB ms: count pass + durable log entry): $best records/s (best of ${BENCH_BULK_REPEAT:-5})"
if [ -n "$BULK_BASE" ]; then
    set -- $BULK_BASE
    python3 -c "print('bulk baseline: a bare SQLite scan of the same subjects, service and years ($2 rows, every row read out): $1 rows/s; ratio %.2f' % ($best / $1))"
fi
if [ "$IDLE" -gt 0 ]; then
    echo
    printf '%-44s %12s %10s %10s\n' "with $IDLE_OPEN idle keep-alive TLS connections" "$I_RPS" "$I_P50" "$I_P99"
    python3 -c "print('%-44s %12.2f' % ('ratio with / without them', $I_RPS / $D_RPS))"
    echo "idle connections: $IDLE_OPEN open, $IDLE_FAILED failed; server descriptors after the run: $OPEN_AFTER; server memory (VmRSS) before them $RSS0, with them $RSS1"
fi
echo "server peak memory (VmHWM): $HWM"
if [ -n "${BENCH_KV:-}" ]; then
    {
        echo "$LABEL.data.single=$D_RPS"
        echo "$LABEL.data.single_p50=$D_P50"
        echo "$LABEL.data.single_p99=$D_P99"
        [ "$LOG_BATCH" = - ] || echo "$LABEL.data.batch=$LOG_BATCH"
        set -- $CPU_PER_CALL
        echo "$LABEL.data.cpu_server=$1"
        echo "$LABEL.data.cpu_db=$2"
        echo "$LABEL.data.cpu_machine=$3"
        echo "$LABEL.data.idle=$4"
        echo "$LABEL.data.bulk=$best"
        if [ "$IDLE" -gt 0 ]; then echo "$LABEL.data.single_idle=$I_RPS"; fi
        # the same figures by connection count, with their baselines (run.sh)
        k="$LABEL.data.c$CONNS"
        echo "$k.single=$D_RPS"
        echo "$k.p99=$D_P99"
        [ "$NO_BASELINE" = 1 ] || echo "$k.nginx=$N_RPS"
        [ "$NO_BASELINE" = 1 ] || echo "$k.nginx_p99=$N_P99"
        echo "$k.hwm_kb=${HWM_LOAD% kB}"
        echo "$k.persons=$PERSONS"
        echo "$k.bulk=$best"
        echo "$k.bulk_subjects=$NSUB"
        [ -z "$BULK_BASE" ] || echo "$k.bulk_scan=${BULK_BASE% *}"
        if [ "$IDLE" -gt 0 ]; then
            echo "$k.idle=$IDLE_OPEN"
            echo "$k.single_idle=$I_RPS"
            echo "$k.rss_before_kb=${RSS0% kB}"
            echo "$k.rss_idle_kb=${RSS1% kB}"
        fi
    } >>"$BENCH_KV"
fi
