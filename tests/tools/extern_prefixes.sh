#!/bin/sh
# extern_prefixes.sh LIBDUPLA-LAYER.a...: every extern symbol a module defines starts
# with the module's name and an underscore (agreement_row_load, not
# row_load), so no two modules and no library (jansson's json_*) can clash.
# The member objects are named <module>_<file>.c.o by src/meson.build (one
# library per layer; pass them all).
# Not yet held to the rule: core (one prefix per file: buf_, str_, err_ ...),
# web (html_, form_, page_ ...) and cli (cmd_ ...), the layers on top.
set -eu
nm -A -g --defined-only "$@" | awk '
    NF >= 3 && $(NF - 1) ~ /^[TDBRCVW]$/ {
        member = $1
        sub(/:[0-9a-f]*$/, "", member)
        sub(/.*[\/:\[]/, "", member)
        sub(/\]$/, "", member)
        split(member, part, "_")
        module = part[1]
        sym = $NF
        # AddressSanitizer adds an ODR indicator beside each global variable.
        sub(/^__odr_asan\./, "", sym)
        if (module == "core" || module == "web" || module == "cli")
            next
        if (module == "incident" && sym ~ /^opslog_/)
            next
        if (index(sym, module "_") != 1) {
            printf "%s (%s) lacks the prefix %s_\n", sym, member, module
            bad++
        }
    }
    END { exit bad ? 1 : 0 }'
