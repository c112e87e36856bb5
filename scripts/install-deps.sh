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
curl
nodejs
chromium
"

missing=""
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

if [ -z "$missing" ]; then
    echo "install-deps: all packages present"
else
    echo "install-deps: installing:$missing"
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        SUDO="sudo"
    fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    # shellcheck disable=SC2086
    $SUDO apt-get install -y -qq --no-install-recommends $missing
fi
# Debian's nodejs comes without npm (NodeSource's brings its own).
if ! command -v npm >/dev/null 2>&1; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        SUDO="sudo"
    fi
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends npm
fi

# npm packages, never committed (git-ignored node_modules): Det Fælles
# Designsystem (web/, served by dupla serve) and the browser tests' Playwright
# and axe-core (tests/browser/). `npm ci` installs exactly the committed
# package-lock.json, and runs again only when that file changed. Without
# them the pages come unstyled and the browser test is skipped.
root=$(cd "$(dirname "$0")/.." && pwd)
for d in web tests/browser; do
    if [ ! -f "$root/$d/node_modules/.package-lock.json" ] ||
        [ "$root/$d/package-lock.json" -nt "$root/$d/node_modules/.package-lock.json" ]; then
        echo "install-deps: npm ci in $d"
        (cd "$root/$d" && npm ci --no-audit --no-fund --loglevel=error) ||
            echo "install-deps: warning: npm ci in $d failed" >&2
    fi
done
