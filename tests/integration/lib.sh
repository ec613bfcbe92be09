# Integration test harness (bash).  Source it from tests/integration/test_*.sh.
#
# Provides TAP output (ok/not_ok/plan_done), a per-test temp dir ($T), process
# tracking (every process started through `spawn` is stopped by PID at exit),
# free loopback ports, real redis-server and devbroker start-up, and
# wait_until (poll a condition with a deadline; never sleep-and-hope).
#
# Environment (set by tests/run.sh): BUILD, ENGWATCHD, EW_TOOLS, EW_ITESTS (C test
# programs built from tests/integration/*.c).
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-build}
ENGWATCHD=${ENGWATCHD:-$ROOT/$BUILD/engwatchd}
EW_TOOLS=${EW_TOOLS:-$ROOT/$BUILD/tools}
EW_ITESTS=${EW_ITESTS:-$ROOT/$BUILD/itests}
T=$(mktemp -d "${TMPDIR:-/tmp}/ewtest.XXXXXX")
_tap_n=0
_tap_failed=0
_pids=()

ok()     { _tap_n=$((_tap_n + 1)); echo "ok $_tap_n - $*"; }
not_ok() { _tap_n=$((_tap_n + 1)); _tap_failed=$((_tap_failed + 1)); echo "not ok $_tap_n - $*"; }
# check "description" command...: ok when the command succeeds
check()  { local d=$1; shift; if "$@"; then ok "$d"; else not_ok "$d"; fi; }
diag()   { echo "# $*"; }

_cleanup() {
    local p
    for p in "${_pids[@]}"; do
        kill -TERM "$p" 2>/dev/null
    done
    for p in "${_pids[@]}"; do
        for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    if [ "${KEEP_TMP:-0}" = 1 ] || [ "$_tap_failed" -gt 0 ]; then
        echo "# temp dir kept: $T"
    else
        rm -rf "$T"
    fi
}
trap _cleanup EXIT
trap 'exit 130' INT TERM

# done_testing: print the TAP plan and set the exit status.
done_testing() { echo "1..$_tap_n"; [ "$_tap_failed" -eq 0 ]; }

# spawn NAME command...: start in the background, log to $T/NAME.log, track
# the PID (in $SPAWNED and in the cleanup list).
spawn() {
    local name=$1; shift
    "$@" >"$T/$name.log" 2>&1 &
    SPAWNED=$!
    _pids+=("$SPAWNED")
}

# stop_pid PID [SIGNAL]: signal, wait for exit (10 s deadline), return its status.
stop_pid() {
    local p=$1 sig=${2:-TERM}
    kill -"$sig" "$p" 2>/dev/null || return 0
    wait_until 15 "! kill -0 $p 2>/dev/null" || kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
}

# wait_until SECONDS 'shell condition': poll every 50 ms until true; 1 on timeout.
wait_until() {
    local deadline=$(( $(date +%s%N) / 1000000 + $1 * 1000 ))
    while ! eval "$2"; do
        [ $(( $(date +%s%N) / 1000000 )) -ge $deadline ] && return 1
        sleep 0.05
    done
    return 0
}

# free_port: print a TCP port on 127.0.0.1 that nothing listens on.
free_port() {
    python3 - <<'PY'
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}

# start_redis: a private redis-server on a free loopback port, data in $T/redis.
# Sets REDIS_PORT, REDIS_PID.  Extra args are passed to redis-server.
start_redis() {
    REDIS_PORT=$(free_port)
    mkdir -p "$T/redis"
    spawn redis redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$T/redis" \
        --save '' --appendonly no --protected-mode yes "$@"
    REDIS_PID=$SPAWNED
    wait_until 10 "redis-cli -p $REDIS_PORT ping 2>/dev/null | grep -q PONG"
}
rcli() { redis-cli -p "$REDIS_PORT" "$@"; }

# start_devbroker [devbroker args]: librdkafka mock cluster.  Sets BROKERS,
# DEVBROKER_PID.
start_devbroker() {
    rm -f "$T/bootstrap"
    spawn devbroker "$EW_TOOLS/devbroker" --bootstrap-file "$T/bootstrap" "$@"
    DEVBROKER_PID=$SPAWNED
    wait_until 15 "[ -s $T/bootstrap ]" || return 1
    BROKERS=$(cat "$T/bootstrap")
}
