#!/bin/sh
# Installs the Debian packages dupla needs to build, test and run, when they are
# missing. Safe to run again: it asks dpkg first and calls apt-get only for what
# is not there. Run as root (or with sudo available).
set -eu

PACKAGES="
build-essential
meson
ninja-build
pkg-config
clang-format
libmicrohttpd-dev
libgnutls28-dev
gnutls-bin
libjansson-dev
libsqlite3-dev
sqlite3
libargon2-dev
libcriterion-dev
libcurl4-gnutls-dev
libgmime-3.0-dev
python3-feedparser
python3-rdflib
curl
nodejs
chromium
libpq-dev
postgresql
haproxy
groff-base
man-db
libsystemd-dev
libseccomp-dev
systemd
debhelper
lintian
fakeroot
adduser
prometheus
testssl.sh
openssl
clang
libclang-rt-14-dev
"
# haproxy: the load balancer of the local cluster (make run-cluster).
# clang, libclang-rt-14-dev: libFuzzer and the sanitizers' runtime for the
# fuzz targets (make fuzz).
# prometheus: for promtool, which checks contrib/prometheus/dupla-alerts.yml
# (tests/contrib/); Debian ships promtool only in the server's package.
# testssl.sh, openssl: the scan of both listeners' TLS (make check-tls).

missing=""
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
# npm: Debian's own package on a plain Debian 12; a machine whose nodejs
# came from elsewhere (it bundles npm) already has the command.
if ! command -v npm >/dev/null 2>&1; then
    missing="$missing npm"
fi

# The tests' npm tools (tests/tools/package.json: the OpenAPI validator),
# pinned by its package-lock.json; installed once, from the npm registry.
npm_tools() {
    dir="$(dirname "$0")/../tests/tools"
    if [ ! -d "$dir/node_modules/@seriousme/openapi-schema-validator" ]; then
        if ! command -v npm >/dev/null 2>&1; then
            echo "install-deps: npm is missing (Debian: apt-get install npm)" >&2
            exit 1
        fi
        echo "install-deps: npm ci in tests/tools"
        (cd "$dir" && npm ci --no-audit --no-fund --silent)
    fi
    # Det Fælles Designsystem (web/, served by dupla serve) and the browser
    # tests' Playwright and axe-core (tests/browser/), never committed;
    # `npm ci` again whenever the committed package-lock.json changed.
    root="$(dirname "$0")/.."
    for d in web tests/browser; do
        if [ ! -f "$root/$d/node_modules/.package-lock.json" ] ||
            [ "$root/$d/package-lock.json" -nt "$root/$d/node_modules/.package-lock.json" ]; then
            echo "install-deps: npm ci in $d"
            (cd "$root/$d" && npm ci --no-audit --no-fund --silent)
        fi
    done
}

if [ -z "$missing" ]; then
    echo "install-deps: all packages present"
    npm_tools
    exit 0
fi

echo "install-deps: installing:$missing"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
npm_tools
