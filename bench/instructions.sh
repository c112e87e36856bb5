#!/bin/sh
# bench/instructions.sh: the instructions the server executes per
# single-subject data call (token check, agreement, read, durable log
# entry, JSON answer), counted by valgrind's callgrind over a fixed
# sequence of calls (bench/data.sh with BENCH_INSTRUCTIONS). Unlike calls/s
# it does not move with the machine's load, so a regression shows as a
# number (#19.4; the figure is in the README's Benchmarks).
#
#   bench/instructions.sh [BUILD_DIR] [CALLS]     (defaults: build 200)
exec env BENCH_INSTRUCTIONS="${2:-200}" BENCH_PERSONS="${BENCH_PERSONS:-200}" \
    "$(dirname "$0")/data.sh" "${1:-build}"
