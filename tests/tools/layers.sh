#!/bin/sh
# layers.sh SRC_DIR: no module includes a header of a module in a higher
# layer, and none reaches a same-layer module the table below does not
# allow. Until src/meson.build builds one library per layer (issue #13.5),
# this check is what holds the layers; it reads every #include "x/..." of
# src/<module>/*.[ch].
#
#   0 core
#   1 store, pki
#   2 http                      (core, pki)
#   3 identity, mail, catalog   the domain modules others build on
#   4 token, agreement, audit, dataset, incident
#   5 ingest, exposure
#   6 testdata
#   7 web
#   8 cli
set -eu
src=$1
layer() {
    case $1 in
    core) echo 0 ;;
    store | pki) echo 1 ;;
    http) echo 2 ;;
    identity | mail | catalog) echo 3 ;;
    token | agreement | audit | dataset | incident) echo 4 ;;
    ingest | exposure) echo 5 ;;
    testdata) echo 6 ;;
    web) echo 7 ;;
    cli) echo 8 ;;
    *) echo 99 ;;
    esac
}
bad=0
for dir in "$src"/*/; do
    m=$(basename "$dir")
    lm=$(layer "$m")
    if [ "$lm" = 99 ]; then
        echo "src/$m: not in the layer table of $0"
        bad=1
        continue
    fi
    for n in $(cat "$dir"*.[ch] 2>/dev/null | sed -n 's/^#include "\([a-z]*\)\/.*/\1/p' | sort -u); do
        [ "$n" = "$m" ] && continue
        ln=$(layer "$n")
        if [ "$ln" -ge "$lm" ]; then
            echo "src/$m (layer $lm) includes $n/ (layer $ln): an upward or sideways include"
            bad=1
        fi
    done
done
exit $bad
