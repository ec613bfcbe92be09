#!/usr/bin/env bash
# The store module (daemon/store.c) against real
# redis-servers, through the C program tests/integration/store_itest.c:
#   main  reads, applies, the position guard, a position written between an
#         apply's check and its EXEC, big ops, refused ops,
#         positions, drop_namespace;
#   down  a paused Redis (command timeout), then Redis shut down under a
#         connected store and restarted on the same port by this script (the program creates a marker file when it is
#         ready for the restart);
#   auth  a Redis with --requirepass and a unix socket.
# The program's TAP lines are re-emitted through lib.sh's counters.
#   ITEST_WRAP="valgrind -q --error-exitcode=9 --leak-check=full"  runs it under a wrapper.
. "$(dirname "$0")/lib.sh"

ITEST=$EW_ITESTS/store_itest
read -r -a WRAP <<<"${ITEST_WRAP:-}"

# relay NAME FILE RC: re-emit the ok / not ok / # lines of FILE, then fail
# when the program exited non-zero without reporting a failed check.
relay() {
    local name=$1 file=$2 rc=$3 line failed=0
    while IFS= read -r line; do
        case $line in
        "ok "*) ok "$name: ${line#ok * - }" ;;
        "not ok "*) not_ok "$name: ${line#not ok * - }"; failed=1 ;;
        "# "*) echo "$line" ;;
        esac
    done <"$file"
    if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
        not_ok "$name: store_itest exited $rc"
    fi
    if [ "$rc" -ne 0 ]; then
        diag "--- $name output (last 40 lines) ---"
        tail -n 40 "$file" | sed 's/^/# | /'
    fi
}

if [ ! -x "$ITEST" ]; then
    not_ok "store_itest is built ($ITEST)"
    done_testing
    exit
fi

# ---- main ----
if ! start_redis; then
    not_ok "redis-server starts"
    done_testing
    exit
fi
"${WRAP[@]}" "$ITEST" main "$REDIS_PORT" >"$T/main.log" 2>&1
relay main "$T/main.log" $?
check "a refused opcode is logged" grep -q 'apply refused: op 2: FLUSHALL is not an allowed command' "$T/main.log"
check "a malformed op is logged with its reason" \
    grep -q "apply refused: op 2: HSET with 4 arguments" "$T/main.log"
check "a key of the wrong type is logged" \
    grep -q "apply refused: op 2 (HINCRBY): itest:r:str holds another type" "$T/main.log"
check "a conflict is logged with the stored position" \
    grep -q 'apply refused: positions already past the batch: t:0 at 9' "$T/main.log"

# ---- down: SHUTDOWN NOSAVE under a connected store, restart on the same port ----
old_redis=$REDIS_PID
spawn itest_down "${WRAP[@]}" "$ITEST" down "$REDIS_PORT" "$T/down.marker"
itest_pid=$SPAWNED
if wait_until 60 "[ -e '$T/down.marker' ] || ! kill -0 $itest_pid 2>/dev/null" && [ -e "$T/down.marker" ]; then
    check "redis-server exited after SHUTDOWN NOSAVE" wait_until 10 "! kill -0 $old_redis 2>/dev/null"
    spawn redis_again redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$T/redis" \
        --save '' --appendonly no --protected-mode yes
    REDIS_PID=$SPAWNED
    check "redis-server restarted on port $REDIS_PORT" \
        wait_until 10 "redis-cli -p $REDIS_PORT ping 2>/dev/null | grep -q PONG"
else
    not_ok "store_itest down asked for the restart"
fi
wait "$itest_pid"
relay down "$T/itest_down.log" $?
check "a command timeout is logged as such" \
    grep -q "redis 127.0.0.1:$REDIS_PORT unavailable: command timeout after 1000 ms; retrying with backoff up to 400ms" "$T/itest_down.log"
check "going down is logged once per outage (2), with the backoff cap" \
    [ "$(grep -c "redis 127.0.0.1:$REDIS_PORT unavailable: .*; retrying with backoff up to 400ms" "$T/itest_down.log")" -eq 2 ]
check "coming back is logged once per outage (2)" \
    [ "$(grep -cE 'redis reconnected after [0-9]+\.[0-9] s \([0-9]+ attempts\)' "$T/itest_down.log")" -eq 2 ]
stop_pid "$REDIS_PID"

# ---- auth: --requirepass, TCP and unix socket ----
AUTH_PORT=$(free_port)
mkdir -p "$T/redis-auth"
spawn redis_auth redis-server --bind 127.0.0.1 --port "$AUTH_PORT" --dir "$T/redis-auth" \
    --save '' --appendonly no --requirepass s3cret --unixsocket "$T/redis-auth.sock" \
    --unixsocketperm 700
if wait_until 10 "redis-cli -p $AUTH_PORT -a s3cret --no-auth-warning ping 2>/dev/null | grep -q PONG"; then
    "${WRAP[@]}" "$ITEST" auth "$AUTH_PORT" "$T/redis-auth.sock" >"$T/auth.log" 2>&1
    relay auth "$T/auth.log" $?
    check "a wrong password is logged clearly" \
        grep -q "redis 127.0.0.1:$AUTH_PORT unavailable: AUTH failed: WRONGPASS" "$T/auth.log"
    check "a missing password is logged clearly" \
        grep -q "redis 127.0.0.1:$AUTH_PORT unavailable: PING failed: NOAUTH" "$T/auth.log"
    check "the password never appears in the log" bash -c "! grep -q s3cret '$T/auth.log'"
else
    not_ok "redis-server with --requirepass starts"
fi

done_testing
