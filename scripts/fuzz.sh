#!/bin/sh
# Runs the libFuzzer targets of a fuzz build one after another, each for
# SECONDS on one core (one process, no -jobs), from its seed corpus in fuzz/corpus/<t>
# (read) and var/fuzz/<t> (read and written: what the runs learn stays
# there for the next run). A finding stops the run: the input is saved in
# var/fuzz/artifacts/ and the script exits non-zero. Prints each target's
# executions and coverage (libFuzzer's cov and ft) at the end. With
# FUZZ_RUNS=N in the environment a target also stops after N executions
# (whichever comes first), so "run each target to 10^7" is one command.
# FUZZ_TIMEOUT=S: an input that runs longer than S seconds of wall time is
# a finding (default 10; raise it on a loaded machine, or one whose fuzz
# processes are paused now and then, where wall time overtakes CPU time).
#   scripts/fuzz.sh BUILD SECONDS [TARGET...]     (make fuzz)
set -eu
build=${1:?usage: fuzz.sh BUILD SECONDS [TARGET...]}
seconds=${2:?usage: fuzz.sh BUILD SECONDS [TARGET...]}
shift 2
root=$(cd "$(dirname "$0")/.." && pwd)
work=${FUZZ_WORK:-$root/var/fuzz}
mkdir -p "$work/artifacts" "$work/logs"
if [ $# -eq 0 ]; then
    set -- $(cd "$root/fuzz" && ls fuzz_*.c | sed 's/^fuzz_//; s/\.c$//')
fi
summary=""
status=0
runs=""
if [ -n "${FUZZ_RUNS:-}" ]; then
    case $FUZZ_RUNS in
        *[!0-9]*) echo "fuzz.sh: FUZZ_RUNS must be a number of executions, not '$FUZZ_RUNS'" >&2; exit 2 ;;
    esac
    runs="-runs=$FUZZ_RUNS"
fi
for t in "$@"; do
    bin="$build/fuzz/fuzz-$t"
    [ -x "$bin" ] || { echo "fuzz.sh: no $bin (meson compile -C $build)" >&2; exit 2; }
    mkdir -p "$work/$t"
    log="$work/logs/$t.log"
    echo "fuzz.sh: $t for ${seconds}s${runs:+ or ${FUZZ_RUNS} executions}"
    if ! "$bin" -max_total_time="$seconds" $runs -print_final_stats=1 \
        -artifact_prefix="$work/artifacts/$t-" -timeout="${FUZZ_TIMEOUT:-10}" -rss_limit_mb=2048 \
        "$work/$t" "$root/fuzz/corpus/$t" >"$log" 2>&1; then
        echo "fuzz.sh: $t found something: see $log and $work/artifacts/" >&2
        tail -30 "$log" >&2
        status=1
    fi
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    last=$(grep -E '^#[0-9]+' "$log" | tail -1)
    cov=$(echo "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
    ft=$(echo "$last" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
    summary="$summary$(printf '%-14s %12s executions  cov %6s  ft %7s' "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}")
"
    [ $status -eq 0 ] || break
done
printf '\n%s' "$summary"
exit $status
