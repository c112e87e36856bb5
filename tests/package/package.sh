#!/bin/sh
# The Debian package on this machine: build it (make deb's script) or take
# $DUPLA_DEB, lintian reports no errors, install it with dpkg, check that
# serve refuses clearly while /etc/dupla/tls is empty, fill it with
# `dupla pki init`, run `dupla serve` from the installed configuration as
# the dupla user, ask /health/ready, reinstall over it (an upgrade) and see
# the store untouched, remove (configuration kept), purge (configuration
# gone, store kept), and clean up.
#
# Installs a package system-wide, so it runs only as root (CI); otherwise
# and on sanitizer builds it exits 77 (skipped). Usage:
#   package.sh SOURCE_ROOT SANITIZE(b_sanitize option)
set -u
src=$1
sanitize=${2:-none}
if [ "$(id -u)" -ne 0 ]; then
    echo "skipped: the package test installs dupla with dpkg, so it runs as root only (CI)"
    exit 77
fi
if [ "$sanitize" != none ]; then
    echo "skipped: a sanitizer build ($sanitize); the package test runs on the normal build"
    exit 77
fi
for tool in dpkg-buildpackage dh lintian curl setpriv; do
    if ! command -v $tool >/dev/null 2>&1; then
        echo "FAIL: $tool is missing (make deps installs it)"
        exit 1
    fi
done
if dpkg-query -W -f='${Status}' dupla 2>/dev/null | grep -q "install ok installed"; then
    echo "skipped: a dupla package is installed on this machine already; not touching it"
    exit 77
fi

# One package test at a time on a machine.
exec 9>/var/lock/dupla-package-test.lock
flock -w 600 9 || { echo "FAIL: another package test holds the lock"; exit 1; }

tmp=$(mktemp -d)
srv=""
fail() {
    echo "FAIL: $*"
    [ -f "$tmp/serve.log" ] && tail -20 "$tmp/serve.log"
    exit 1
}
cleanup() {
    [ -n "$srv" ] && kill "$srv" 2>/dev/null && wait "$srv" 2>/dev/null
    if dpkg-query -W -f='${Status}' dupla 2>/dev/null | grep -q "ok"; then
        DUPLA_PURGE_STORE=yes dpkg --purge dupla >/dev/null 2>&1
    fi
    rm -rf /var/lib/dupla /etc/dupla "$tmp"
}
trap cleanup EXIT

# ---- build ----
deb=${DUPLA_DEB:-}
if [ -z "$deb" ]; then
    start=$(date +%s)
    deb=$("$src/scripts/build-deb.sh" "$tmp/deb" 2>"$tmp/build.log" | tail -1) ||
        { tail -40 "$tmp/build.log"; fail "make deb"; }
    echo "ok: built $(basename "$deb") in $(($(date +%s) - start)) s"
fi
[ -f "$deb" ] || fail "no package at $deb"
case "$(basename "$deb")" in
dupla_*_amd64.deb | dupla_*_arm64.deb) ;;
*) fail "unexpected file name $(basename "$deb")" ;;
esac

# ---- lintian: no errors (warnings are listed in README) ----
lintian --tag-display-limit 0 "$deb" >"$tmp/lintian.log" 2>&1
if grep -q '^E: ' "$tmp/lintian.log"; then
    cat "$tmp/lintian.log"
    fail "lintian reports errors"
fi
echo "ok: lintian: no errors ($(grep -c '^W: ' "$tmp/lintian.log") warnings)"

# ---- contents ----
dpkg-deb -c "$deb" >"$tmp/contents"
for f in ./usr/bin/dupla ./usr/share/man/man1/dupla.1.gz ./usr/share/man/man5/dupla.json.5.gz \
    ./lib/systemd/system/dupla.service ./etc/dupla/dupla.json \
    ./usr/share/bash-completion/completions/dupla ./usr/share/dupla/catalog/Aarsopgoerelse.json \
    ./usr/share/dupla/dkfds/package.json ./usr/share/dupla/dkfds/dist/css/dkfds.css; do
    grep -q " $f\$" "$tmp/contents" || fail "the package lacks $f"
done
dpkg-deb -e "$deb" "$tmp/control"
grep -qx /etc/dupla/dupla.json "$tmp/control/conffiles" || fail "/etc/dupla/dupla.json is no conffile"
echo "ok: binary, man pages, unit, conffile, completion, catalogue, web assets"

# ---- install ----
dpkg -i "$deb" >"$tmp/dpkg.log" 2>&1 || { cat "$tmp/dpkg.log"; fail "dpkg -i"; }
getent passwd dupla >/dev/null || fail "no dupla user"
[ "$(stat -c %U /var/lib/dupla)" = dupla ] || fail "/var/lib/dupla is not the dupla user's"
[ "$(stat -c '%U:%G %a' /etc/dupla/dupla.json)" = "root:dupla 640" ] ||
    fail "/etc/dupla/dupla.json is $(stat -c '%U:%G %a' /etc/dupla/dupla.json)"
/usr/bin/dupla version | grep -q "^dupla $(dpkg-deb -f "$deb" Version)\$" ||
    fail "dupla version differs from the package's"
echo "ok: installed: user, folders, configuration modes"
# The test builds' hook that moves every SQLite store onto PostgreSQL is
# not in the package's binary (built with -Dtests=false).
if grep -q DUPLA_TEST_STORE_PG /usr/bin/dupla; then
    fail "the installed binary reads DUPLA_TEST_STORE_PG (a test hook)"
fi
echo "ok: no test hook in the installed binary"

# The installed configuration, with free ports instead of 8443/8444 (CI
# machines are shared) and a ready file; everything else as installed.
cfg=/etc/dupla/package-test.json
python3 - "$cfg" <<'PY' || fail "cannot derive the test configuration"
import json, sys
c = json.load(open("/etc/dupla/dupla.json"))
for l in c["listeners"]:
    l["port"] = 0
json.dump(c, open(sys.argv[1], "w"))
PY
chown root:dupla "$cfg"
chmod 0640 "$cfg"

# ---- serve refuses while /etc/dupla/tls is empty ----
if setpriv --reuid=dupla --regid=dupla --init-groups -- /usr/bin/dupla serve --config "$cfg" >"$tmp/refuse.log" 2>&1; then
    fail "serve started without TLS files"
fi
grep -q '/etc/dupla/tls/server.pem cannot be read' "$tmp/refuse.log" ||
    { cat "$tmp/refuse.log"; fail "the refusal does not name /etc/dupla/tls/server.pem"; }
echo "ok: without TLS files serve refuses: $(tail -1 "$tmp/refuse.log" | cut -c1-120)"

# ---- a test PKI, then serve as the dupla user ----
/usr/bin/dupla pki init --dir /etc/dupla/tls >/dev/null || fail "dupla pki init"
chgrp dupla /etc/dupla/tls/server.key /etc/dupla/tls/server.pem /etc/dupla/tls/ca.pem
chmod 0640 /etc/dupla/tls/server.key
setpriv --reuid=dupla --regid=dupla --init-groups -- /usr/bin/dupla serve --config "$cfg" \
    --ready-file /var/lib/dupla/ready.json >"$tmp/serve.log" 2>&1 &
srv=$!
i=0
while [ ! -s /var/lib/dupla/ready.json ]; do
    kill -0 "$srv" 2>/dev/null || fail "serve exited"
    i=$((i + 1))
    [ $i -gt 600 ] && fail "serve not ready after 60 s"
    sleep 0.1
done
port=$(python3 -c 'import json; print(json.load(open("/var/lib/dupla/ready.json"))["listeners"]["api"])')
code=$(curl -s -o "$tmp/ready.out" -w '%{http_code}' --cacert /etc/dupla/tls/ca.pem \
    "https://localhost:$port/health/ready")
[ "$code" = 200 ] || fail "/health/ready answered $code: $(cat "$tmp/ready.out")"
grep -q 'web: assets from /usr/share/dupla/dkfds/dist (dkfds [0-9]' "$tmp/serve.log" ||
    fail "the web assets were not found in /usr/share/dupla"
echo "ok: serve as dupla from the installed configuration: /health/ready 200 on port $port"
kill -TERM "$srv"
wait "$srv" || fail "serve exited non-zero after SIGTERM"
srv=""
[ "$(stat -c %U /var/lib/dupla/dupla.db)" = dupla ] || fail "the store is not the dupla user's"

# ---- upgrade (reinstall) and remove keep the data ----
sum=$(sha256sum /var/lib/dupla/dupla.db)
dpkg -i "$deb" >"$tmp/dpkg2.log" 2>&1 || { cat "$tmp/dpkg2.log"; fail "dpkg -i over itself"; }
[ "$(sha256sum /var/lib/dupla/dupla.db)" = "$sum" ] || fail "reinstalling changed the store"
dpkg -r dupla >"$tmp/dpkg3.log" 2>&1 || { cat "$tmp/dpkg3.log"; fail "dpkg -r"; }
[ -f /etc/dupla/dupla.json ] || fail "remove deleted the configuration"
[ "$(sha256sum /var/lib/dupla/dupla.db)" = "$sum" ] || fail "remove changed the store"
[ ! -e /usr/bin/dupla ] || fail "remove left /usr/bin/dupla"
echo "ok: reinstall and remove keep the configuration and the store"

# ---- purge: configuration gone, store kept ----
rm -f "$cfg"
dpkg --purge dupla >"$tmp/dpkg4.log" 2>&1 || { cat "$tmp/dpkg4.log"; fail "dpkg --purge"; }
[ ! -e /etc/dupla ] || fail "purge left /etc/dupla: $(ls -la /etc/dupla)"
[ "$(sha256sum /var/lib/dupla/dupla.db)" = "$sum" ] || fail "purge changed the store"
grep -q 'the store in /var/lib/dupla is kept' "$tmp/dpkg4.log" || fail "purge did not say the store is kept"
echo "ok: purge removes /etc/dupla and keeps the store in /var/lib/dupla"
exit 0
