#!/usr/bin/env bash
# The generated bash completion: valid bash, and it completes commands,
# subcommands, options (a subcommand's own for pki) and file arguments.
# Usage: completion.sh COMPLETION_FILE
set -u
source "$1" || exit 1
status=0
check() { # expected-word words...
    local want="$1"
    shift
    COMP_WORDS=("$@")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMPREPLY=()
    _dupla
    case " ${COMPREPLY[*]} " in
    *" $want "*) echo "ok: '$*' offers $want" ;;
    *)
        echo "FAIL: '$*' offers '${COMPREPLY[*]}', not $want"
        status=1
        ;;
    esac
}
check serve dupla se
check audit dupla ""
check create dupla org ""
check checkpoint dupla audit ch
check --contact-email dupla org create --con
check --ca-name dupla pki init --ca
check --drain-seconds dupla serve --dr
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
touch "$tmp/conf.json"
check "$tmp/conf.json" dupla serve --config "$tmp/co"
exit $status
