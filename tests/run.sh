#!/bin/sh
# Run every test suite and print one summary line "N passed, N failed".
#
# Unit suites are the cmocka binaries $BUILD/tests/test_*; integration suites
# are tests/integration/test_*.sh.  Every suite speaks TAP ("ok N - name" /
# "not ok N - name"); this script counts those lines.  Exit status is non-zero
# when any test failed or any suite exited non-zero without reporting a failure
# (a crash counts as a failure).
#
#   TESTS=pattern   run only suites whose name contains pattern
set -u
BUILD=${BUILD:-build}
export BUILD
ENGWATCHD=${ENGWATCHD:-$PWD/$BUILD/engwatchd}
export ENGWATCHD
export EW_TOOLS="$PWD/$BUILD/tools"
export EW_ITESTS="$PWD/$BUILD/itests"
export CMOCKA_MESSAGE_OUTPUT=TAP
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
logdir="$BUILD/test-logs"
mkdir -p "$logdir"

passed=0 failed=0 bad_suites=""
run_suite() { # name, command...
    name=$1; shift
    case "$name" in *"${TESTS:-}"*) ;; *) return 0 ;; esac
    log="$logdir/$(echo "$name" | tr / _).log"
    start=$(date +%s)
    "$@" >"$log" 2>&1
    rc=$?
    p=$(grep -c '^ok ' "$log" 2>/dev/null); p=${p:-0}
    f=$(grep -c '^not ok ' "$log" 2>/dev/null); f=${f:-0}
    passed=$((passed + p)); failed=$((failed + f))
    printf '%-32s %4d passed %3d failed  (%ss)\n' "$name" "$p" "$f" "$(( $(date +%s) - start ))"
    if [ "$f" -gt 0 ] || [ "$rc" -ne 0 ]; then
        grep '^not ok ' "$log" | sed 's/^/    /'
        if [ "$f" -eq 0 ]; then failed=$((failed + 1)); echo "    suite exited $rc (see $log)"; fi
        bad_suites="$bad_suites $name"
        tail -n 30 "$log" | sed 's/^/    | /'
    fi
}

for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    run_suite "unit/$(basename "$t")" "$t"
done
for t in tests/integration/test_*.sh; do
    [ -f "$t" ] || continue
    run_suite "integration/$(basename "$t" .sh)" bash "$t"
done

[ -n "$bad_suites" ] && echo "failing suites:$bad_suites (logs in $logdir/)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
