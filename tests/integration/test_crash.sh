#!/usr/bin/env bash
# Exactly-once across crashes and Redis outages.
#   crash:  200,000 events; engwatchd is killed with SIGKILL at 5 random
#           moments and restarted each time; the logical content of every
#           engwatch key equals that of an uninterrupted run over the same events.
#   outage: redis-server stops mid-stream and comes back (same data dir, AOF);
#           the daemon pauses, never exits, and the final counts are exact.
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
CHECK="python3 $ROOT/tests/integration/ewcheck.py"
# ASan/UBSan builds run everything several times slower: a quarter of the events.
case "${BUILD##*/}" in build-san*) N=${CRASH_EVENTS:-50000} ;; *) N=${CRASH_EVENTS:-200000} ;; esac

start_redis --appendonly yes --appendfsync always || { not_ok "redis-server starts"; done_testing; exit; }
start_devbroker --partitions 16 --topic events -q || { not_ok "devbroker starts"; done_testing; exit; }

run_daemon() { # name group prefix
    spawn "$1" "$ENGWATCHD" -c conf/engwatchd.conf \
        --set kafka.brokers="$BROKERS" --set redis.port="$REDIS_PORT" \
        --set kafka.group="$2" --set redis.prefix="$3" \
        --set kafka.properties.session.timeout.ms=6000 \
        --set kafka.properties.heartbeat.interval.ms=1000 \
        --set kafka.properties.partition.assignment.strategy=range \
        --set redis.retry_max_backoff=500ms --set redis.command_timeout=2s \
        --set batch.max_events=1000 --set batch.max_wait=50ms --set http.enabled=false
}
applied() { $CHECK applied --port "$REDIS_PORT" --prefix "$1"; }

$CHECK gen --n "$N" --seed 21 --accounts 500 --out "$T/ev.txt" --expected "$T/ev.json"
kcat -P -b "$BROKERS" -t events -K $'\t' -l "$T/ev.txt"
# The dev broker silently drops the oldest messages past ~5 MiB a partition:
# make sure the input is whole before comparing anything.
held=$(kcat -C -b "$BROKERS" -t events -e -q -o beginning -f '.\n' 2>/dev/null | wc -l)
check "the broker holds all $N events (16 partitions)" [ "$held" -eq "$N" ]

# The reference: one uninterrupted run.
run_daemon ref ref ref:
REF=$SPAWNED

# The crash run: killed with SIGKILL at 5 random points of its progress.
points=$(python3 -c "import random; r=random.Random($$); print(' '.join(str(int($N*x)) for x in sorted(r.uniform(0.05,0.95) for _ in range(5))))")
diag "kill points (messages applied): $points"
kills=0
for at in $points; do
    a0=$(applied crash:)
    run_daemon "crash$kills" crash crash:
    pid=$SPAWNED
    # kill at the point (plus up to 50 ms), but only once this run has applied
    # something itself
    if n=$($CHECK killat --port "$REDIS_PORT" --prefix crash: --pid "$pid" --at "$at" --above "$a0" --jitter 0.05); then
        kills=$((kills + 1))
        wait "$pid" 2>/dev/null
        diag "killed at $n applied ($(applied crash:) once it was gone)"
    else
        diag "no kill at $at: $n applied when the run ended or the wait ran out"
    fi
done
check "the daemon was killed 5 times mid-stream" [ "$kills" -eq 5 ]
run_daemon crash-final crash crash:
FINAL=$SPAWNED
check "after the last restart every message is applied" wait_until 180 "[ \"\$(applied crash:)\" -eq $N ]"
check "the reference run applied every message" wait_until 180 "[ \"\$(applied ref:)\" -eq $N ]"
stop_pid "$FINAL"
stop_pid "$REF"
# The engine's state; the Redis sink's copy of the latest alert per account is
# left out: its evidence samples are the comments of the alert's micro-batch,
# so their number depends on where batches were cut (everything else is equal).
core() { $CHECK dump --port "$REDIS_PORT" --prefix "$1" | grep -v '^alert:{'; }
core ref: >"$T/ref.dump"
core crash: >"$T/crash.dump"
diag "$(wc -l <"$T/ref.dump") logical entries"
check "state after 5 crashes equals the uninterrupted run (counts, buckets, positions)" \
    cmp -s "$T/ref.dump" "$T/crash.dump"
check "and both equal the input totals" $CHECK verify --port "$REDIS_PORT" --prefix crash: --expected "$T/ev.json"
cat "$T"/crash[1-4].log "$T/crash-final.log" | grep -q "resuming after applied offset"
check "restarts resume from the positions stored in Redis" [ $? -eq 0 ]

# --- Redis outage mid-stream -------------------------------------------------------
run_daemon out out out:
OUT=$SPAWNED
wait_until 120 "[ \"\$(applied out:)\" -ge $((N / 4)) ]"
redis-cli -p "$REDIS_PORT" shutdown >/dev/null 2>&1   # saves (AOF is fsynced always)
wait "$REDIS_PID" 2>/dev/null
check "the daemon notices Redis is gone and pauses its input" \
    wait_until 30 "grep -q 'pausing input' '$T/out.log'"
check "the daemon keeps running while Redis is down" kill -0 "$OUT"
spawn redis2 redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$T/redis" \
    --save '' --appendonly yes --appendfsync always
REDIS_PID=$SPAWNED
wait_until 10 "redis-cli -p $REDIS_PORT ping 2>/dev/null | grep -q PONG"
check "after Redis returns the daemon applies every message" \
    wait_until 180 "[ \"\$(applied out:)\" -eq $N ]"
check "it logged the recovery and resumed its input" grep -q "resuming input" "$T/out.log"
check "totals after the outage equal the input (nothing lost or doubled)" \
    $CHECK verify --port "$REDIS_PORT" --prefix out: --expected "$T/ev.json"
core out: >"$T/out.dump"
check "and the state equals the uninterrupted run" cmp -s "$T/ref.dump" "$T/out.dump"
stop_pid "$OUT"; rc=$?
check "the daemon still exits 0 on SIGTERM" [ "$rc" -eq 0 ]

done_testing
