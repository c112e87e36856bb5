#!/bin/sh
# layers.sh SRC_DIR: no module includes a header of a module in a higher
# layer or of another module in its own layer. It reads the one layer table,
# dupla_layers in SRC_DIR/meson.build (one line per layer, lowest first:
# core; store, pki; http; identity, mail, catalog; token, agreement, audit,
# dataset, incident; ingest, exposure, expiry; testdata; web; cli), and every
# #include "x/..." of src/<module>/*.[ch]. src/meson.build builds one library
# per layer from that table, so an upward include already fails to build;
# a sideways one builds, and this check is what refuses it.
set -eu
src=$1
table=$(awk '/^dupla_layers = \[/ { on = 1; next }
             on && /^\]/ { exit }
             on { k++; gsub(/[][,\047]/, " "); for (i = 1; i <= NF; i++) print $i, k - 1 }' \
    "$src/meson.build")
if [ -z "$table" ]; then
    echo "$src/meson.build: no dupla_layers table"
    exit 1
fi
layer() {
    echo "$table" | awk -v m="$1" '$1 == m { print $2; found = 1 } END { if (!found) print 99 }'
}
bad=0
for dir in "$src"/*/; do
    m=$(basename "$dir")
    lm=$(layer "$m")
    if [ "$lm" = 99 ]; then
        echo "src/$m: not in the layer table (dupla_layers in $src/meson.build)"
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
