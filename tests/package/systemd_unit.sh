#!/bin/sh
# The systemd unit: `systemd-analyze security` (offline: no systemd needs to
# run as PID 1) scores it 2.0 or lower, and `systemd-analyze verify`
# accepts it, with ExecStart pointed at the built binary (verify checks that
# the program exists). Exits 77 (skipped) only when systemd-analyze is
# missing or cannot analyse a unit file offline.
# Usage: systemd_unit.sh UNIT_FILE DUPLA_BIN
set -u
unit=$1
bin=$2
if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "skipped: systemd-analyze is missing (Debian: apt-get install systemd)"
    exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The unit under its own name, as verify wants.
sed "s|^ExecStart=/usr/bin/dupla |ExecStart=$bin |" "$unit" >"$tmp/dupla.service"
if ! grep -q "^ExecStart=$bin " "$tmp/dupla.service"; then
    echo "FAIL: $unit has no 'ExecStart=/usr/bin/dupla ' line"
    exit 1
fi

out=$(systemd-analyze security --offline=yes --threshold=20 "$tmp/dupla.service" 2>&1)
rc=$?
score=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for dupla.service: \([0-9.]*\).*/\1/p')
if [ -z "$score" ]; then
    if printf '%s\n' "$out" | grep -qi 'unrecognized option\|unknown option\|unknown command'; then
        echo "skipped: this systemd-analyze cannot analyse a unit file offline:"
        printf '%s\n' "$out" | tail -5
        exit 77
    fi
    echo "FAIL: systemd-analyze security gives no score:"
    printf '%s\n' "$out" | tail -20
    exit 1
fi
echo "systemd-analyze security: $score"
if [ $rc -ne 0 ]; then
    echo "FAIL: the exposure level $score is above 2.0"
    printf '%s\n' "$out" | grep '✗' | head -40
    exit 1
fi

out=$(systemd-analyze verify --man=no "$tmp/dupla.service" 2>&1)
rc=$?
if [ $rc -ne 0 ] || [ -n "$out" ]; then
    echo "FAIL: systemd-analyze verify (exit $rc):"
    printf '%s\n' "$out"
    exit 1
fi
echo "systemd-analyze verify: clean"
