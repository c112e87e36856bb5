#!/bin/sh
# Renders each man page given with groff (-ww: every warning) and man-db's
# man -l; any warning fails. Usage: man_render.sh PAGE...
set -u
status=0
for page in "$@"; do
    out=$(groff -man -Tutf8 -ww -z "$page" 2>&1)
    if [ -n "$out" ]; then
        echo "groff warns about $page:"
        echo "$out"
        status=1
    fi
    if command -v man >/dev/null 2>&1; then
        out=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)
        if [ -n "$out" ]; then
            echo "man -l warns about $page:"
            echo "$out"
            status=1
        fi
        lines=$(MANWIDTH=80 man -l "$page" 2>/dev/null | wc -l)
        if [ "$lines" -lt 40 ]; then
            echo "man -l renders $page to $lines lines only"
            status=1
        fi
    fi
    [ $status -eq 0 ] && echo "$page: renders without warnings"
done
exit $status
