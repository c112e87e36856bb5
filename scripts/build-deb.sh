#!/bin/sh
# make deb: builds dupla_<version>_<arch>.deb with Debian's own tools
# (dpkg-buildpackage, debhelper's Meson build system; see debian/rules) and
# puts it, with its .buildinfo, .changes and debug symbols, into OUT_DIR
# (default build-deb/). The web assets come from web/node_modules (npm ci,
# done by make deps). Prints the .deb's path last.
#   scripts/build-deb.sh [OUT_DIR]
set -eu
cd "$(dirname "$0")/.."
out=${1:-build-deb}
version=$(dpkg-parsechangelog -S Version)
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
meson_version=$(sed -n "s/^ *version : '\([^']*\)',\$/\1/p" meson.build | head -1)
if [ "$version" != "$meson_version" ]; then
    echo "build-deb: debian/changelog says $version, meson.build $meson_version: add a changelog entry" >&2
    exit 1
fi
if [ ! -f web/node_modules/dkfds/package.json ]; then
    echo "build-deb: web/node_modules/dkfds is missing (make deps runs npm ci in web/)" >&2
    exit 1
fi
# dpkg-buildpackage writes its results beside the source tree; collect them.
DEB_BUILD_OPTIONS="nocheck parallel=$(nproc) ${DEB_BUILD_OPTIONS:-}" \
    dpkg-buildpackage -b -us -uc >&2
mkdir -p "$out"
for f in "dupla_${version}_${arch}.deb" "dupla-dbgsym_${version}_${arch}.deb" \
    "dupla_${version}_${arch}.buildinfo" "dupla_${version}_${arch}.changes"; do
    if [ -f "../$f" ]; then
        mv -f "../$f" "$out/"
    fi
done
# debian/rules clean: leave the tree as it was (obj-*, debian/dupla).
fakeroot debian/rules clean >/dev/null 2>&1 || debian/rules clean >/dev/null 2>&1 || true
echo "$out/dupla_${version}_${arch}.deb"
