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
"

missing=""
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

if [ -z "$missing" ]; then
    echo "install-deps: all packages present"
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
