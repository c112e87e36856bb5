#!/bin/sh
# The exe_wrapper of meson's 'postgresql' test setup (tests/meson.build): runs
# a test with every SQLite store redirected to the server in DUPLA_TEST_PG.
if [ -z "${DUPLA_TEST_PG:-}" ]; then
    echo "the postgresql test setup needs a server: run it under" \
        "scripts/pg-test-server.sh run -- meson test --setup postgresql ..." >&2
    exit 1
fi
DUPLA_TEST_STORE_PG=$DUPLA_TEST_PG
export DUPLA_TEST_STORE_PG
exec "$@"
