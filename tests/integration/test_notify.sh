#!/usr/bin/env bash
# systemd notify protocol and live reload, against a datagram socket this
# test owns as NOTIFY_SOCKET:
#   READY=1 only once partitions are assigned and Redis is reachable,
#   WATCHDOG=1 from the loop, RELOADING=1 + MONOTONIC_USEC then READY=1 around
#   a SIGHUP reload, STOPPING=1 on SIGTERM; a valid reload takes effect on
#   later events, an invalid one is rejected and the old configuration stays.
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
CHECK="python3 $ROOT/tests/integration/ewcheck.py"

start_redis || { not_ok "redis-server starts"; done_testing; exit; }
start_devbroker --partitions 2 --topic events -q || { not_ok "devbroker starts"; done_testing; exit; }

# The notify socket: every datagram is appended as one line (newlines -> '|').
spawn notifysock python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as out:
    while True:
        out.write(s.recv(4096).decode().replace("\n", "|") + "\n")
' "$T/notify.sock" "$T/notify.txt"
wait_until 10 "[ -S $T/notify.sock ]"

cp conf/engwatchd.conf "$T/engwatchd.conf"
cp -r conf/lexicon "$T/lexicon"
# Start with every signal weighing nothing: no risk, so no alerts at all.
sed -i 's/^\(  weight_[a-z_]*\) = [0-9.]*;/\1 = 0.0;/' "$T/engwatchd.conf"
NOTIFY_SOCKET="$T/notify.sock" WATCHDOG_USEC=1000000 \
spawn daemon "$ENGWATCHD" -c "$T/engwatchd.conf" --set kafka.brokers="$BROKERS" \
    --set redis.port="$REDIS_PORT" --set kafka.properties.session.timeout.ms=6000 \
    --set kafka.properties.heartbeat.interval.ms=1000 --set http.enabled=false
D=$SPAWNED
check "READY=1 arrives once partitions are assigned" wait_until 30 "grep -q '^READY=1' $T/notify.txt"
check "READY=1 came after the assignment was logged" grep -q "assigned 2 partitions" "$T/daemon.log"
check "WATCHDOG=1 arrives from the loop" wait_until 10 "grep -q '^WATCHDOG=1' $T/notify.txt"
check "STATUS= reports events/s and lag" wait_until 20 "grep -q '^STATUS=.*events/s, lag' $T/notify.txt"

# A bot burst: 40 accounts comment the same praise on one post within a minute.
burst() { $CHECK burst "$@"; } # a post, then 60 identical praises within a minute
burst acctA pA 1767600000000 >"$T/b1.txt"
kcat -P -b "$BROKERS" -t events -K $'\t' -l "$T/b1.txt"
check "the first burst is applied" wait_until 30 "[ \"\$($CHECK applied --port $REDIS_PORT)\" -ge 61 ]"
check "with every risk weight 0 it raises no alert" [ "$(rcli xlen ew:outbox)" -eq 0 ]

# An invalid file: rejected with its errors, running configuration kept.
cp "$T/engwatchd.conf" "$T/good.conf"
printf 'bogus = 1;\n' >>"$T/engwatchd.conf"
n0=$(grep -c '^READY=1' "$T/notify.txt")
kill -HUP "$D"
check "an invalid reload is rejected with its error" \
    wait_until 10 "grep -q 'reload rejected' $T/daemon.log && grep -q 'bogus: unknown setting' $T/daemon.log"
check "RELOADING=1 carries MONOTONIC_USEC" grep -q '^RELOADING=1|MONOTONIC_USEC=[0-9]*' "$T/notify.txt"
check "READY=1 follows even a rejected reload" wait_until 10 "[ \$(grep -c '^READY=1' $T/notify.txt) -gt $n0 ]"

# A valid change: the threshold takes effect on later events; a restart-only
# setting is logged and kept.
sed -e 's/^  prefix = "ew:";/  prefix = "other:";/' conf/engwatchd.conf >"$T/engwatchd.conf"
kill -HUP "$D"
check "a valid reload is applied" wait_until 10 "grep -q 'configuration reloaded' $T/daemon.log"
check "a restart-only change is logged and keeps its running value" \
    grep -q "need a restart and keep their running values: redis.prefix" "$T/daemon.log"
burst acctB pB 1767607200000 >"$T/b2.txt"
kcat -P -b "$BROKERS" -t events -K $'\t' -l "$T/b2.txt"
check "the same burst after the reload raises an alert (in the running namespace)" \
    wait_until 30 "[ \"\$(rcli xlen ew:outbox)\" -ge 1 ]"
check "the alert is about the later burst" \
    bash -c "redis-cli -p $REDIS_PORT xrange ew:outbox - + | grep -q '\"account\":\"acctB\"'"

stop_pid "$D"; rc=$?
check "SIGTERM: exit 0" [ "$rc" -eq 0 ]
check "STOPPING=1 is the last lifecycle message" \
    [ "$(grep -v '^WATCHDOG\|^STATUS' "$T/notify.txt" | tail -n 1)" = "STOPPING=1" ]
order=$(grep -o '^READY=1\|^RELOADING=1\|^STOPPING=1' "$T/notify.txt" | tr '\n' ' ')
check "lifecycle order: READY RELOADING READY RELOADING READY STOPPING ($order)" \
    [ "$order" = "READY=1 RELOADING=1 READY=1 RELOADING=1 READY=1 STOPPING=1 " ]

done_testing
