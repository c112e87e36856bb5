#!/usr/bin/env bash
# A local dupla cluster in one command (`make run-cluster`, #15): a
# PostgreSQL primary with a synchronous streaming-replication hot standby,
# three `dupla serve` nodes on that one store, and HAProxy in TCP mode in
# front of them (TLS and client certificates pass through to the nodes).
#
#   cluster.sh run [--dir DIR] [--base-port N] [--build DIR] [--nodes N]
#       sets up DIR (default var/cluster) and runs in the foreground until
#       Ctrl-C (or SIGTERM), then stops everything it started. Writes
#       DIR/connect.json once every node answers through HAProxy.
#   cluster.sh stop-primary DIR    stop the PostgreSQL primary (immediate)
#   cluster.sh promote DIR         promote the standby to primary
#   cluster.sh pg-status DIR       which server is up and which is primary
#       (the failure tests, tests/cluster/, use these three)
#
# Environment: DUPLA_CLUSTER_SMTP_URL (smtp://host:port) makes the nodes
# send their mail there (otherwise it stays queued in the store);
# DUPLA_CLUSTER_LINGER_US sets audit.linger_us on every node (how long a
# batch waits for more entries once another node moved the log's head;
# 1000 by default, 0 never);
# DUPLA_CLUSTER_RELAY=0 turns the disclosure log's relay off (by default
# node1 is the sequencer: the other nodes hand it their entries over
# mutually authenticated TLS, with certificates of the links' own CA in
# DIR/links-pki, and append themselves while it is down);
# DUPLA_CLUSTER_RATE sets the rate limit (calls/s and burst per agreement
# and system, one budget for the cluster; the benchmark sets it high).
# HAProxy's admin socket is DIR/haproxy.sock ("show stat": which node is up).
#
# Ports, from the base port B (default 8543, so that `make run` on
# 8443/8444 keeps running beside it):
#   B, B+1                HAProxy: data services and pages; token service
#   B+10i, B+10i+1        node i (1..3) reached directly: api, token
#   B+12                  node1's relay listener (the log's sequencer)
#   B+2, B+3              PostgreSQL primary and standby (8545, 8546; below the
#                         ephemeral port range, so no client socket holds them)
#
# The demo (`dupla demo --setup-only`: a local CA, the demo organisation, its
# system certificate, an approved test agreement, synthetic data) is set up
# in DIR/demo on SQLite and copied once into the shared PostgreSQL store
# (`dupla store copy`). Every node reads the same CA, server certificate,
# token key folder and checkpoint signing key from DIR/demo.
#
# PostgreSQL runs from Debian's packages as an unprivileged user (initdb
# refuses root: run as root, the servers run as dupla-test, created when
# missing, as in scripts/pg-test-server.sh). Its data lives in DIR/pg, or,
# when that user cannot reach DIR (a checkout under /root), in
# /tmp/dupla-cluster-<hash> with DIR/pg a link to it. Kept between runs; after a
# failover (the standby promoted), or for other ports, the next run sets
# both servers up afresh.
# Durable commits (fsync on) and synchronous replication
# (synchronous_standby_names = 'standby', synchronous_commit = on): a
# commit, and so every disclosure record, is on the standby's disk before
# the node sends data. The nodes' store is a multi-host libpq string with
# target_session_attrs=read-write, so they follow a promoted standby.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)

die() {
    echo "cluster: $*" >&2
    exit 1
}

PG_BIN=""
for d in "$(pg_config --bindir 2>/dev/null || true)" /usr/lib/postgresql/*/bin; do
    if [ -n "$d" ] && [ -x "$d/initdb" ]; then
        PG_BIN="$d"
        break
    fi
done

RUN_AS=()
PG_USER=$(id -un)
if [ "$(id -u)" = 0 ]; then
    if ! id dupla-test >/dev/null 2>&1; then
        useradd --system --no-create-home --shell /usr/sbin/nologin dupla-test 2>/dev/null ||
            id dupla-test >/dev/null 2>&1 || die "cannot create the user dupla-test"
    fi
    RUN_AS=(runuser -u dupla-test --)
    PG_USER=dupla-test
fi
as_pg() { "${RUN_AS[@]}" "$@"; }

# pg_ctl on one of the two servers: pgctl primary|standby ARGS...
pgctl() {
    local which=$1
    shift
    as_pg "$PG_BIN/pg_ctl" -D "$PGDIR/$which" "$@"
}

pg_running() { # primary|standby
    as_pg "$PG_BIN/pg_ctl" -D "$PGDIR/$1" status >/dev/null 2>&1
}

set_dirs() { # DIR
    DIR=$1
    PGDIR="$DIR/pg"
}

cmd=${1:-run}
[ $# -gt 0 ] && shift
case "$cmd" in
stop-primary)
    set_dirs "$(cd "${1:?cluster.sh stop-primary DIR}" && pwd)"
    pgctl primary -m immediate -w stop >/dev/null
    exit 0
    ;;
promote)
    set_dirs "$(cd "${1:?cluster.sh promote DIR}" && pwd)"
    pgctl standby -w promote >/dev/null
    exit 0
    ;;
pg-status)
    set_dirs "$(cd "${1:?cluster.sh pg-status DIR}" && pwd)"
    for s in primary standby; do
        if pg_running "$s"; then
            if [ -f "$PGDIR/$s/standby.signal" ]; then echo "$s: up, standby"; else echo "$s: up, read-write"; fi
        else
            echo "$s: down"
        fi
    done
    exit 0
    ;;
run) ;;
-h | --help | help)
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
    exit 0
    ;;
*)
    echo "usage: cluster.sh run [--dir DIR] [--base-port N] [--build DIR] | stop-primary DIR | promote DIR | pg-status DIR" >&2
    exit 2
    ;;
esac

DIR_ARG=var/cluster
BASE=8543
BUILD=build
NODES=3
while [ $# -gt 0 ]; do
    case "$1" in
    --dir) DIR_ARG=${2:?--dir DIR}; shift 2 ;;
    --base-port) BASE=${2:?--base-port N}; shift 2 ;;
    --build) BUILD=${2:?--build DIR}; shift 2 ;;
    --nodes) NODES=${2:?--nodes N}; shift 2 ;;
    *) echo "cluster: unknown option $1" >&2; exit 2 ;;
    esac
done
case "$BASE" in '' | *[!0-9]*) die "--base-port: '$BASE' is not a number" ;; esac
[ "$BASE" -ge 1024 ] && [ "$BASE" -le 60000 ] || die "--base-port: between 1024 and 60000"
case "$NODES" in [1-9]) ;; *) die "--nodes: 1 to 9" ;; esac
[ -n "$PG_BIN" ] || die "initdb not found (Debian: apt-get install postgresql; make deps does)"
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)
[ -x "$HAPROXY" ] || die "haproxy not found (Debian: apt-get install haproxy; make deps does)"
DUPLA="$(cd "$BUILD" 2>/dev/null && pwd)/dupla"
[ -x "$DUPLA" ] || die "$BUILD/dupla not found: build first (make build)"

mkdir -p "$DIR_ARG"
set_dirs "$(cd "$DIR_ARG" && pwd)"
P_PRIMARY=$((BASE + 2))
P_STANDBY=$((BASE + 3))
HA_API=$BASE
HA_TOKEN=$((BASE + 1))

NODE_PIDS=()
HAPROXY_PID=""
STARTED_PG=0
cleanup() {
    trap - EXIT INT TERM HUP
    echo "cluster: stopping" >&2
    local p
    for p in "${NODE_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    [ -n "$HAPROXY_PID" ] && kill -TERM "$HAPROXY_PID" 2>/dev/null || true
    for p in "${NODE_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    [ -n "$HAPROXY_PID" ] && { wait "$HAPROXY_PID" 2>/dev/null || true; }
    if [ "$STARTED_PG" = 1 ]; then
        pgctl standby -m fast -w stop >/dev/null 2>&1 || true
        pgctl primary -m fast -w stop >/dev/null 2>&1 || true
    fi
    rm -f "$DIR/connect.json"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# --- the demo, on SQLite in DIR/demo (idempotent) -----------------------------
echo "cluster: the demo set-up in $DIR/demo" >&2
"$DUPLA" demo --dir "$DIR/demo" --api-port "$HA_API" --token-port "$HA_TOKEN" --setup-only \
    >"$DIR/demo-setup.log" 2>&1 || { cat "$DIR/demo-setup.log" >&2; die "dupla demo failed"; }
AGREEMENT=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["agreement_id"])' \
    "$DIR/demo/connect.json")

# --- the relay's links: their own CA; one certificate that every node presents
# (a real deployment gives each node its own, from a CA that issues nothing else)
"$DUPLA" pki init --dir "$DIR/links-pki" --ca-name "dupla cluster links CA" \
    >"$DIR/links-pki.log" 2>&1 || { cat "$DIR/links-pki.log" >&2; die "dupla pki init (links) failed"; }

# --- PostgreSQL: where its data lives ------------------------------------------
# a link into /tmp that a reboot emptied
if [ -L "$PGDIR" ] && [ ! -e "$PGDIR" ]; then rm -f "$PGDIR"; fi
if [ ! -e "$PGDIR" ]; then
    chmod go+x "$DIR" 2>/dev/null || true
    if as_pg test -x "$DIR" && [ ${#PGDIR} -lt 80 ]; then
        mkdir -p "$PGDIR"
    else
        h=$(printf '%s' "$DIR" | sha256sum | cut -c1-10)
        mkdir -p "/tmp/dupla-cluster-$h"
        ln -s "/tmp/dupla-cluster-$h" "$PGDIR"
    fi
fi
mkdir -p "$(readlink -f "$PGDIR")"
PGDIR=$(readlink -f "$PGDIR")
chmod 755 "$PGDIR"
[ "${#RUN_AS[@]}" = 0 ] || chown "$PG_USER" "$PGDIR"
as_pg test -w "$PGDIR" || die "the user $PG_USER cannot write $PGDIR"

PGURL="host=$PGDIR,$PGDIR port=$P_PRIMARY,$P_STANDBY user=dupla dbname=dupla target_session_attrs=read-write connect_timeout=3"
PSQL_PRIMARY=("$PG_BIN/psql" -qAt -h "$PGDIR" -p "$P_PRIMARY" -U dupla)

# A set-up is kept when both servers are as made (primary read-write,
# standby still a standby) and hold this demo; otherwise made afresh.
fresh=0
if [ ! -f "$PGDIR/primary/PG_VERSION" ] || [ ! -f "$PGDIR/standby/standby.signal" ] ||
    [ -f "$PGDIR/primary/standby.signal" ] || [ "$(cat "$PGDIR/demo-loaded" 2>/dev/null)" != "$AGREEMENT" ] ||
    [ "$(cat "$PGDIR/ports" 2>/dev/null)" != "$P_PRIMARY $P_STANDBY" ]; then
    fresh=1
fi
for s in primary standby; do
    if pg_running "$s"; then
        die "a PostgreSQL server already runs in $PGDIR/$s (another cluster.sh on $DIR?)"
    fi
done

pg_conf_common() { # port
    cat <<EOF
# cluster.sh
listen_addresses = '127.0.0.1'
port = $1
unix_socket_directories = '$PGDIR'
max_connections = 200
shared_buffers = 64MB
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
wal_keep_size = 256MB
hot_standby = on
wal_log_hints = on
log_min_messages = warning
log_min_error_statement = panic
EOF
}

start_pg() { # primary|standby
    pgctl "$1" -l "$PGDIR/$1.log" -w -t 60 start >/dev/null ||
        { tail -n 20 "$PGDIR/$1.log" >&2; die "PostgreSQL $1 does not start"; }
}

if [ "$fresh" = 1 ]; then
    echo "cluster: PostgreSQL primary and standby, set up afresh in $PGDIR" >&2
    rm -rf "${PGDIR:?}/primary" "${PGDIR:?}/standby" "$PGDIR/demo-loaded" "$PGDIR/ports" "$PGDIR"/*.log
    as_pg "$PG_BIN/initdb" -D "$PGDIR/primary" -U dupla -E UTF8 --locale=C.UTF-8 \
        --auth-local=trust --auth-host=reject >"$PGDIR/initdb.log" 2>&1 ||
        { cat "$PGDIR/initdb.log" >&2; die "initdb failed"; }
    pg_conf_common "$P_PRIMARY" | as_pg tee -a "$PGDIR/primary/postgresql.conf" >/dev/null
    start_pg primary
    STARTED_PG=1
    "${PSQL_PRIMARY[@]}" -d postgres -c "CREATE DATABASE dupla" >/dev/null
    # the standby: a base backup of the primary, streaming from a slot
    as_pg "$PG_BIN/pg_basebackup" -h "$PGDIR" -p "$P_PRIMARY" -U dupla -D "$PGDIR/standby" \
        -R -X stream -c fast -C -S standby >"$PGDIR/basebackup.log" 2>&1 ||
        { cat "$PGDIR/basebackup.log" >&2; die "pg_basebackup failed"; }
    as_pg tee -a "$PGDIR/standby/postgresql.auto.conf" >/dev/null <<EOF
port = $P_STANDBY
cluster_name = 'standby'
primary_conninfo = 'host=$PGDIR port=$P_PRIMARY user=dupla application_name=standby'
primary_slot_name = 'standby'
synchronous_standby_names = ''
EOF
    start_pg standby
    # now commits wait for the standby's flush
    "${PSQL_PRIMARY[@]}" -d postgres -c "ALTER SYSTEM SET synchronous_standby_names = 'standby'" \
        -c "SELECT pg_reload_conf()" >/dev/null
    echo "$P_PRIMARY $P_STANDBY" >"$PGDIR/ports"
else
    echo "cluster: PostgreSQL primary and standby from $PGDIR" >&2
    start_pg primary
    STARTED_PG=1
    start_pg standby
fi
# the standby streams synchronously before anything is written
i=0
until [ "$("${PSQL_PRIMARY[@]}" -d postgres -c "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby'")" = sync ]; do
    i=$((i + 1))
    [ $i -lt 150 ] || die "the standby does not replicate synchronously (see $PGDIR/standby.log)"
    sleep 0.2
done

if [ ! -f "$PGDIR/demo-loaded" ]; then
    echo "cluster: the demo copied into the shared store (dupla store copy)" >&2
    "$DUPLA" store copy --from "sqlite:$DIR/demo/dupla.db" --to "$PGURL" >"$DIR/store-copy.log" 2>&1 ||
        { cat "$DIR/store-copy.log" >&2; die "dupla store copy failed"; }
    echo "$AGREEMENT" >"$PGDIR/demo-loaded"
fi

# --- the nodes -------------------------------------------------------------------
node_config() { # i
    python3 - "$DIR/demo/dupla.json" "$DIR/node$1/dupla.json" "$DIR/demo" "$PGURL" \
        $((BASE + 10 * $1)) $((BASE + 10 * $1 + 1)) "$1" <<'PY'
import json, os, sys
src, dst, demo, url, api, tok, node = sys.argv[1:8]
c = json.load(open(src))
c["store"] = url
for l in c["listeners"]:
    l["port"] = int(api if l["name"] == "api" else tok)
    for k in ("cert", "key", "trust", "crl"):
        if k in l and not os.path.isabs(l[k]):
            l[k] = os.path.join(demo, l[k])
# one token key folder and one checkpoint signing key for every node
c["token"] = {"key_dir": os.path.join(demo, "token-keys")}
c["audit"] = {"signing_key": os.path.join(demo, "audit-signing.key")}
# the relay: node1 sequences the log's entries, the others hand theirs over
if os.environ.get("DUPLA_CLUSTER_RELAY", "1") != "0":
    links = os.path.join(os.path.dirname(demo), "links-pki")
    relay = "127.0.0.1:%d" % (int(api) - 10 * int(node) + 12)
    c["audit"].update({"relay_cert": os.path.join(links, "server.pem"),
                       "relay_key": os.path.join(links, "server.key"),
                       "relay_ca": os.path.join(links, "ca.pem")})
    c["audit"]["relay_listen" if node == "1" else "relay_to"] = relay
if os.environ.get("DUPLA_CLUSTER_LINGER_US"):
    c["audit"]["linger_us"] = int(os.environ["DUPLA_CLUSTER_LINGER_US"])
# registries look for changes made by other nodes every 500 ms (the
# default is 1000), so that a revocation reaches every node within 1 s
c.setdefault("identity", {})["registry_poll_ms"] = 500
# the benchmark measures the platform, not the rate limit (one budget per
# agreement and system for the whole cluster, 200 calls/s by default)
if os.environ.get("DUPLA_CLUSTER_RATE"):
    r = int(os.environ["DUPLA_CLUSTER_RATE"])
    c.setdefault("exposure", {}).update({"rate_per_second": r, "rate_burst": r})
# a mail relay (the failure tests' SMTP sink); without one, mail stays queued
if os.environ.get("DUPLA_CLUSTER_SMTP_URL"):
    # a short SMTP timeout: a message whose sender died is sent again after
    # its lease, 2 x timeout + 60 s (the failure tests measure it)
    c["mail"] = {"smtp_url": os.environ["DUPLA_CLUSTER_SMTP_URL"], "retry_base_seconds": 1,
                 "timeout_seconds": 5}
tmp = dst + ".tmp"
with open(tmp, "w") as f:
    json.dump(c, f, indent=2)
os.replace(tmp, dst)
PY
}

start_node() { # i
    mkdir -p "$DIR/node$1"
    rm -f "$DIR/node$1/ready.json"
    node_config "$1"
    "$DUPLA" serve --config "$DIR/node$1/dupla.json" --ready-file "$DIR/node$1/ready.json" \
        --drain-seconds 5 >>"$DIR/node$1/server.log" 2>&1 &
    NODE_PIDS[$1]=$!
}

wait_ready() { # i
    local n=0
    until [ -s "$DIR/node$1/ready.json" ]; do
        kill -0 "${NODE_PIDS[$1]}" 2>/dev/null ||
            { tail -n 20 "$DIR/node$1/server.log" >&2; die "node$1 exited"; }
        n=$((n + 1))
        [ $n -lt 600 ] || die "node$1 does not start (see $DIR/node$1/server.log)"
        sleep 0.1
    done
}

echo "cluster: $NODES dupla serve nodes" >&2
# node1 first: it runs the migrations and makes the token key; then the rest
start_node 1
wait_ready 1
for i in $(seq 2 "$NODES"); do start_node "$i"; done
for i in $(seq 2 "$NODES"); do wait_ready "$i"; done

# --- HAProxy -----------------------------------------------------------------------
{
    cat <<EOF
# written by scripts/cluster.sh; TCP mode: TLS and client certificates pass
# through to the nodes; each node's /health/ready is checked over TLS.
global
    maxconn 4096
    stats socket $DIR/haproxy.sock mode 600 level admin
defaults
    mode tcp
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout check 2s
    retries 2
    option redispatch
    default-server check check-ssl check-sni localhost verify required ca-file $DIR/demo/pki/ca.pem inter 1s fall 2 rise 2
EOF
    for svc in api token; do
        if [ "$svc" = api ]; then port=$HA_API; off=0; else port=$HA_TOKEN; off=1; fi
        cat <<EOF
frontend $svc
    bind 127.0.0.1:$port
    default_backend ${svc}_nodes
backend ${svc}_nodes
    balance roundrobin
    option httpchk
    http-check send meth GET uri /health/ready ver HTTP/1.1 hdr Host localhost
    http-check expect status 200
EOF
        for i in $(seq 1 "$NODES"); do
            echo "    server node$i 127.0.0.1:$((BASE + 10 * i + off))"
        done
    done
} >"$DIR/haproxy.cfg"
"$HAPROXY" -c -q -f "$DIR/haproxy.cfg" || die "haproxy refuses $DIR/haproxy.cfg"
"$HAPROXY" -db -f "$DIR/haproxy.cfg" >"$DIR/haproxy.log" 2>&1 &
HAPROXY_PID=$!
n=0
until curl -sf --cacert "$DIR/demo/pki/ca.pem" -o /dev/null "https://localhost:$HA_API/health/ready" &&
    curl -sf --cacert "$DIR/demo/pki/ca.pem" -o /dev/null "https://localhost:$HA_TOKEN/health/ready"; do
    kill -0 "$HAPROXY_PID" 2>/dev/null || { cat "$DIR/haproxy.log" >&2; die "haproxy exited"; }
    n=$((n + 1))
    [ $n -lt 100 ] || die "no node answers through HAProxy (see $DIR/haproxy.log)"
    sleep 0.1
done

# --- connect.json -----------------------------------------------------------------
pg_pid() { head -n1 "$PGDIR/$1/postmaster.pid" 2>/dev/null || echo 0; }
python3 - "$DIR" "$BASE" "$NODES" "$(pg_pid primary)" "$(pg_pid standby)" "$PGURL" \
    "${NODE_PIDS[@]}" <<'PY'
import json, os, sys
d, base, nodes, ppid, spid, url = sys.argv[1:7]
pids = sys.argv[7:]
base, nodes = int(base), int(nodes)
c = json.load(open(os.path.join(d, "demo", "connect.json")))
c["base_url"] = "https://localhost:%d" % base
c["token_url"] = "https://localhost:%d/token" % (base + 1)
c["nodes"] = [{"name": "node%d" % i, "pid": int(pids[i - 1]),
               "base_url": "https://localhost:%d" % (base + 10 * i),
               "token_url": "https://localhost:%d/token" % (base + 10 * i + 1),
               "config_file": os.path.join(d, "node%d" % i, "dupla.json")}
              for i in range(1, nodes + 1)]
c["postgresql"] = {"primary_pid": int(ppid), "standby_pid": int(spid), "url": url}
tmp = os.path.join(d, "connect.json.tmp")
with open(tmp, "w") as f:
    json.dump(c, f, indent=2)
os.replace(tmp, os.path.join(d, "connect.json"))
PY

PKI="$DIR/demo/pki"
cat <<EOF

The dupla cluster (test environment, synthetic data only) runs from $DIR:
  HAProxy (TCP)      https://localhost:$HA_API (data services, pages)  https://localhost:$HA_TOKEN/token
EOF
for i in $(seq 1 "$NODES"); do
    echo "  node$i (pid ${NODE_PIDS[$i]})   https://localhost:$((BASE + 10 * i))  https://localhost:$((BASE + 10 * i + 1))/token  log $DIR/node$i/server.log"
done
cat <<EOF
  PostgreSQL         primary :$P_PRIMARY (pid $(pg_pid primary)), synchronous hot standby :$P_STANDBY (pid $(pg_pid standby)), in $PGDIR
  how to connect:    $DIR/connect.json

Try:
  curl --cacert $PKI/ca.pem https://localhost:$HA_API/health/ready
  curl --cacert $PKI/ca.pem --cert $PKI/demo-system.pem --key $PKI/demo-system.key https://localhost:$HA_TOKEN/whoami
  curl --cacert $PKI/ca.pem --cert-type P12 --cert "$PKI/demo-system.p12:\$(cat $PKI/demo-system.p12.pass)" \\
       -H "x-transaktion-id: \$(cat /proc/sys/kernel/random/uuid)" \\
       -d 'client_id=api-gateway&scope=openid&grant_type=password' https://localhost:$HA_TOKEN/token

The web pages (self-service, in Danish): https://localhost:$HA_API/login
  (a browser does not know the demo's CA: import $PKI/ca.pem, or accept the warning)
EOF
# the demo users and their (public) password, as `dupla demo` printed them
sed -n '/^Demo users/,/never production)/p' "$DIR/demo-setup.log"
cat <<EOF

Ctrl-C stops the nodes, HAProxy and PostgreSQL.
EOF

while :; do
    sleep 1 &
    wait $! || true
done
