#!/usr/bin/env bash
# Live input end to end: devbroker -> engwatchd -> redis-server, events
# produced with kcat as an independent client.
#   - every valid event is applied exactly once (per-account totals in Redis)
#   - each invalid message lands in the dead-letter topic with its reason
#   - SIGTERM: clean exit 0; a restart resumes after the last applied offset
#   - two daemons in one group split the partitions and together apply all
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
CHECK="python3 $ROOT/tests/integration/ewcheck.py"

start_redis || { not_ok "redis-server starts"; done_testing; exit; }
start_devbroker --partitions 4 --topic events --topic events.dlq -q ||
    { not_ok "devbroker starts"; done_testing; exit; }
ok "redis-server and devbroker are up"

# engwatchd with the test's Redis and broker; extra --set arguments follow.
run_daemon() { # name group [--set ...]
    local name=$1 group=$2; shift 2
    spawn "$name" "$ENGWATCHD" -c conf/engwatchd.conf \
        --set kafka.brokers="$BROKERS" --set redis.port="$REDIS_PORT" \
        --set kafka.group="$group" --set kafka.dead_letter_topic=events.dlq \
        --set kafka.properties.session.timeout.ms=6000 \
        --set kafka.properties.heartbeat.interval.ms=1000 \
        --set kafka.properties.partition.assignment.strategy=range \
        --set batch.max_events=500 --set log.level=info --set http.enabled=false "$@"
}
applied() { $CHECK applied --port "$REDIS_PORT" --prefix "${1:-ew:}"; }

# --- phase 1: 6,000 valid events and one of each malformed kind ----------------
$CHECK gen --n 6000 --seed 11 --bad --out "$T/p1.txt" --expected "$T/p1.json"
kcat -P -b "$BROKERS" -t events -K $'\t' -l "$T/p1.txt"
total1=$(python3 -c "import json;print(json.load(open('$T/p1.json'))['messages'])")

run_daemon d1 g1
D1=$SPAWNED
check "the daemon applies all $total1 messages" wait_until 60 "[ \"\$(applied)\" -eq $total1 ]"
check "per-account totals equal the input (each event once)" \
    $CHECK verify --port "$REDIS_PORT" --expected "$T/p1.json"

kcat -C -b "$BROKERS" -t events.dlq -e -q -o beginning -f '%h\n' >"$T/dlq.txt" 2>/dev/null
nbad=$(python3 -c "import json;print(len(json.load(open('$T/p1.json'))['bad']))")
check "every malformed message is dead-lettered ($nbad)" [ "$(wc -l <"$T/dlq.txt")" -eq "$nbad" ]
missing=""
for r in $(python3 -c "import json;print(' '.join(json.load(open('$T/p1.json'))['bad']))"); do
    grep -q "engwatch-reason=$r," "$T/dlq.txt" || missing="$missing $r"
done
check "each dead letter names its reason${missing:+ (missing:$missing)}" [ -z "$missing" ]
check "dead letters carry source topic, partition and offset" \
    grep -q 'engwatch-source-topic=events,engwatch-source-partition=[0-9]*,engwatch-source-offset=[0-9]*' "$T/dlq.txt"

stop_pid "$D1" TERM; rc=$?
check "SIGTERM: clean exit 0" [ "$rc" -eq 0 ]
check "the group was left cleanly" grep -q "revoked 4 partitions" "$T/d1.log"

# --- phase 2: restart resumes after the last applied offset ----------------------
$CHECK gen --n 4000 --seed 12 --start 1767578400000 --out "$T/p2.txt" --expected "$T/p2.json"
kcat -P -b "$BROKERS" -t events -K $'\t' -l "$T/p2.txt"
python3 - "$T/p1.json" "$T/p2.json" "$T/p12.json" <<'PY'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
for acct, c in b["accounts"].items():
    for m, n in c.items():
        a["accounts"].setdefault(acct, {})[m] = a["accounts"].get(acct, {}).get(m, 0) + n
a["messages"] += b["messages"]
json.dump(a, open(sys.argv[3], "w"))
PY
total12=$((total1 + 4000))
run_daemon d2 g1
D2=$SPAWNED
check "after a restart the daemon applies the new messages" \
    wait_until 60 "[ \"\$(applied)\" -eq $total12 ]"
check "it resumed after the stored positions (logged)" grep -q "resuming after applied offset" "$T/d2.log"
check "totals still equal the input: nothing counted twice, nothing lost" \
    $CHECK verify --port "$REDIS_PORT" --expected "$T/p12.json"
stop_pid "$D2" TERM

# --- phase 3: two daemons in one group split the partitions ----------------------
run_daemon d3 g2 --set redis.prefix=two: --set kafka.client_id=d3
D3=$SPAWNED
run_daemon d4 g2 --set redis.prefix=two: --set kafka.client_id=d4
D4=$SPAWNED
check "two members of one group together apply every message" \
    wait_until 90 "[ \"\$(applied two:)\" -eq $total12 ]"
check "the totals are exact with two members" \
    $CHECK verify --port "$REDIS_PORT" --prefix two: --expected "$T/p12.json"
split_ok() { # both members end up owning partitions after the rebalance
    grep -q "assigned 2 partitions" "$T/d3.log" && grep -q "assigned 2 partitions" "$T/d4.log"
}
check "the partitions were split between the two members" wait_until 30 split_ok
stop_pid "$D3" TERM; rc3=$?
stop_pid "$D4" TERM; rc4=$?
check "both members exit 0" [ "$rc3" -eq 0 -a "$rc4" -eq 0 ]

# --- start-up errors -------------------------------------------------------------
"$ENGWATCHD" -c conf/engwatchd.conf --set kafka.brokers="$BROKERS" --set redis.port="$REDIS_PORT" \
    --set kafka.properties.no.such.property=1 >"$T/badprop.log" 2>&1; rc=$?
check "a property librdkafka rejects stops start-up with its message" \
    [ "$rc" -eq 1 ] && grep -q 'no.such.property' "$T/badprop.log"

done_testing
