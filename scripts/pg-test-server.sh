#!/bin/sh
# A throw-away PostgreSQL server for the tests, from Debian's postgresql
# packages (scripts/install-deps.sh installs them).
#
#   pg-test-server.sh run -- CMD ARGS...  start a server, run CMD with
#                                         DUPLA_TEST_PG set, stop and remove
#                                         the server (also when CMD fails or
#                                         the script is interrupted)
#   pg-test-server.sh start               start one; prints two lines for
#                                         the shell's eval:
#                                         DUPLA_TEST_PG='<connection string>'
#                                         DUPLA_TEST_PG_DIR='<its folder>' 
#   pg-test-server.sh stop DIR            stop it and remove DIR
#   pg-test-server.sh pause DIR           stop the server, keep its data
#   pg-test-server.sh resume DIR          start it again on the same port
#   pg-test-server.sh restart DIR         restart it (pg_ctl restart -m fast:
#                                         every session is ended)
#
# The cluster lives in a temporary folder (initdb), listens on its own port
# on 127.0.0.1 and on a unix socket inside that folder, and runs with
# fsync=off (test data only). initdb refuses root: run as root, the server
# runs as the unprivileged user dupla-test, created when missing.
# Connections over the socket need no password; over TCP the user "dupla"
# has the password in DIR/password (the tests of a wrong password use it).
set -eu

PG_BIN=""
for d in "$(pg_config --bindir 2>/dev/null || true)" /usr/lib/postgresql/*/bin; do
    if [ -n "$d" ] && [ -x "$d/initdb" ]; then
        PG_BIN="$d"
        break
    fi
done
if [ -z "$PG_BIN" ]; then
    echo "pg-test-server: initdb not found (Debian: apt-get install postgresql)" >&2
    exit 1
fi

RUN_AS=""
if [ "$(id -u)" = 0 ]; then
    if ! id dupla-test >/dev/null 2>&1; then
        useradd --system --no-create-home --shell /usr/sbin/nologin dupla-test 2>/dev/null ||
            id dupla-test >/dev/null 2>&1 || {
            echo "pg-test-server: cannot create the user dupla-test" >&2
            exit 1
        }
    fi
    RUN_AS="runuser -u dupla-test --"
fi

as_server() {
    # shellcheck disable=SC2086
    $RUN_AS "$@"
}

conn_string() {
    echo "host=$1 port=$(cat "$1/port") user=dupla dbname=dupla"
}

server_start() { # DIR
    as_server "$PG_BIN/pg_ctl" -D "$1/data" -l "$1/server.log" -w -t 60 \
        -o "-p $(cat "$1/port") -k $1 -c listen_addresses=127.0.0.1" start >/dev/null
}

start() {
    dir=$(mktemp -d /tmp/dupla-pg-XXXXXX)
    chmod 755 "$dir"
    [ -z "$RUN_AS" ] || chown dupla-test "$dir"
    head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$dir/password"
    chmod 644 "$dir/password"
    if ! as_server "$PG_BIN/initdb" -D "$dir/data" -U dupla -E UTF8 --locale=C.UTF-8 \
        --auth-local=trust --auth-host=scram-sha-256 --pwfile="$dir/password" \
        >"$dir/initdb.log" 2>&1; then
        cat "$dir/initdb.log" >&2
        rm -rf "$dir"
        return 1
    fi
    cat >>"$dir/data/postgresql.conf" <<EOF
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 400
shared_buffers = 64MB
log_min_messages = warning
log_min_error_statement = panic
EOF
    # Its own port: try a few at random until one is free.
    tries=0
    while :; do
        port=$((20000 + $(od -An -tu2 -N2 /dev/urandom | tr -d ' ') % 30000))
        echo "$port" >"$dir/port"
        if server_start "$dir" 2>/dev/null; then
            break
        fi
        tries=$((tries + 1))
        if [ "$tries" -ge 5 ]; then
            echo "pg-test-server: the server does not start:" >&2
            tail -n 20 "$dir/server.log" >&2 || true
            rm -rf "$dir"
            return 1
        fi
    done
    as_server "$PG_BIN/psql" -q -h "$dir" -p "$port" -U dupla -d postgres \
        -c "CREATE DATABASE dupla" >/dev/null
    echo "DUPLA_TEST_PG='$(conn_string "$dir")'"
    echo "DUPLA_TEST_PG_DIR='$dir'"
}

stop() { # DIR
    if [ -d "$1/data" ]; then
        as_server "$PG_BIN/pg_ctl" -D "$1/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    case "$1" in
    /tmp/dupla-pg-*) rm -rf "$1" ;;
    *) echo "pg-test-server: not removing $1 (not a test server's folder)" >&2 ;;
    esac
}

cmd=${1:-}
case "$cmd" in
start)
    start
    ;;
stop)
    stop "${2:?pg-test-server: stop DIR}"
    ;;
pause)
    as_server "$PG_BIN/pg_ctl" -D "${2:?pg-test-server: pause DIR}/data" -m immediate -w stop \
        >/dev/null
    ;;
resume)
    server_start "${2:?pg-test-server: resume DIR}"
    ;;
restart)
    d=${2:?pg-test-server: restart DIR}
    as_server "$PG_BIN/pg_ctl" -D "$d/data" -l "$d/server.log" -m fast -w -t 60 \
        -o "-p $(cat "$d/port") -k $d -c listen_addresses=127.0.0.1" restart >/dev/null
    ;;
run)
    shift
    [ "${1:-}" = "--" ] && shift
    [ $# -gt 0 ] || {
        echo "usage: pg-test-server.sh run -- CMD ARGS..." >&2
        exit 2
    }
    out=$(start) || exit 1
    eval "$out"
    export DUPLA_TEST_PG DUPLA_TEST_PG_DIR
    trap 'stop "$DUPLA_TEST_PG_DIR"' EXIT
    trap 'exit 130' INT TERM HUP
    echo "pg-test-server: PostgreSQL at $DUPLA_TEST_PG" >&2
    status=0
    "$@" || status=$?
    exit $status
    ;;
*)
    echo "usage: pg-test-server.sh start | stop DIR | pause DIR | resume DIR | restart DIR | run -- CMD..." >&2
    exit 2
    ;;
esac
