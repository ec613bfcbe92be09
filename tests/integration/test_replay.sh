#!/usr/bin/env bash
# engwatchd replay: deterministic output, same result as the live pipeline
# fed through Kafka, gzip/plain/stdin input, malformed lines counted with
# their line numbers and never fatal.
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
CHECK="python3 $ROOT/tests/integration/ewcheck.py"

start_redis || { not_ok "redis-server starts"; done_testing; exit; }
tools/gen --seed 7 --accounts 120 --hours 36 --campaigns 2 --out "$T/dump.jsonl" \
    --labels "$T/labels.jsonl" --quiet 2>"$T/gen.err"
gzip -k "$T/dump.jsonl"
lines=$(wc -l <"$T/dump.jsonl")
check "tools/gen wrote a labelled dump ($lines events)" [ "$lines" -gt 1000 -a -s "$T/labels.jsonl" ]

replay() { "$ENGWATCHD" replay -c conf/engwatchd.conf --set redis.port="$REDIS_PORT" "$@"; }

replay -o "$T/a1.jsonl" "$T/dump.jsonl.gz" 2>"$T/r1.err"; rc=$?
check "replay exits 0" [ "$rc" -eq 0 ]
check "the summary counts every line" grep -q "lines read *$lines\$" "$T/r1.err"
check "the summary reports alerts by signal and the rate" \
    grep -q "comment_burst" "$T/r1.err" && grep -q "events/s" "$T/r1.err"
check "its namespace is removed at the end" [ "$(rcli --scan --pattern 'replay:*' | wc -l)" -eq 0 ]

replay -o "$T/a2.jsonl" "$T/dump.jsonl" 2>"$T/r2.err"
check "two replays (gzip, plain) give byte-identical alert files" cmp -s "$T/a1.jsonl" "$T/a2.jsonl"
replay -o - - <"$T/dump.jsonl" >"$T/a3.jsonl" 2>"$T/r3.err"
check "stdin ('-') and stdout ('-o -') work the same" cmp -s "$T/a1.jsonl" "$T/a3.jsonl"
check "the campaigns raise alerts ($(wc -l <"$T/a1.jsonl"))" [ "$(wc -l <"$T/a1.jsonl")" -gt 0 ]
gzip -c "$T/dump.jsonl" | replay -o "$T/a5.jsonl" - 2>"$T/r5.err"
check "gzip through a pipe gives the same alerts" cmp -s "$T/a1.jsonl" "$T/a5.jsonl"

# A gzip dump cut short is a read error, not a quiet end: exit 1, with where it stopped.
size=$(stat -c %s "$T/dump.jsonl.gz")
head -c $((size / 2)) "$T/dump.jsonl.gz" >"$T/cut.jsonl.gz"
replay -o "$T/a6.jsonl" "$T/cut.jsonl.gz" 2>"$T/r6.err"; rc=$?
check "a truncated gzip dump fails the replay (exit $rc)" [ "$rc" -eq 1 ]
check "the error names the file, the last whole line and the cause" \
    grep -qE "cut.jsonl.gz: read error after line [0-9]+: the gzip stream is cut short" "$T/r6.err"
head -c $((size / 2)) "$T/dump.jsonl.gz" | replay -o "$T/a7.jsonl" - 2>"$T/r7.err"; rc=$?
check "the same through a pipe (exit $rc)" [ "$rc" -eq 1 ] && grep -q "cut short" "$T/r7.err"

# Malformed lines in the middle of a dump: counted with line numbers, never fatal.
{ head -n 100 "$T/dump.jsonl"; echo '{not json'; echo '[1,2]';
  echo '{"id":"x","type":"like","ts":1,"account":"a"}'; tail -n +101 "$T/dump.jsonl"; } >"$T/bad.jsonl"
replay -o "$T/a4.jsonl" "$T/bad.jsonl" 2>"$T/r4.err"; rc=$?
check "malformed lines are not fatal (exit 0)" [ "$rc" -eq 0 ]
check "a reject names the file and line number" grep -q "bad.jsonl:101: rejected: bad_json" "$T/r4.err"
check "the summary counts rejects by reason" \
    grep -q "rejected *3 (bad_json 1, not_object 1, missing_field 1)" "$T/r4.err"
check "valid lines around them give the same alerts" cmp -s "$T/a1.jsonl" "$T/a4.jsonl"

replay --set replay.namespace=rp: --keep-state -o "$T/a5.jsonl" "$T/dump.jsonl" 2>/dev/null
check "--keep-state keeps the namespace" [ "$(rcli exists rp:positions)" -eq 1 ]
replay --set replay.namespace=rp: -o /dev/null "$T/dump.jsonl" 2>"$T/r6.err"; rc=$?
check "a namespace holding an earlier replay is refused" [ "$rc" -ne 0 ] && grep -q "already holds" "$T/r6.err"

# The same events through Kafka into the live daemon: same state, same alerts.
start_devbroker --partitions 4 --topic events -q || { not_ok "devbroker starts"; done_testing; exit; }
python3 -c "
import json,sys
for l in open('$T/dump.jsonl'):
    sys.stdout.write(json.loads(l)['account'] + '\t' + l)" >"$T/keyed.txt"
kcat -P -b "$BROKERS" -t events -K $'\t' -l "$T/keyed.txt"
spawn live "$ENGWATCHD" -c conf/engwatchd.conf --set kafka.brokers="$BROKERS" \
    --set redis.port="$REDIS_PORT" --set redis.prefix=live: --set http.enabled=false \
    --set kafka.properties.session.timeout.ms=6000 --set kafka.properties.heartbeat.interval.ms=1000
LIVE=$SPAWNED
check "the live daemon applies every event" \
    wait_until 120 "[ \"\$($CHECK applied --port $REDIS_PORT --prefix live:)\" -eq $lines ]"
stop_pid "$LIVE"
# Per-account state is independent of how partitions interleave; which
# likes are by rare actors is not (it counts actions on other accounts, and
# the broker hands out whole partitions of this small topic one after the
# other): the "r" counters and the sketches' rare totals are compared apart
# from the rest, the sketches' action counters and like totals with it.
$CHECK dump --port "$REDIS_PORT" --prefix live: --no-rare | grep -v '^positions \|^outbox \|^alerts \|^risk \|^alert:{' >"$T/live.dump"
$CHECK dump --port "$REDIS_PORT" --prefix rp: --no-rare | grep -v '^positions \|^outbox \|^alerts \|^risk \|^alert:{' >"$T/replay.dump"
check "replay and live leave the same window state ($(wc -l <"$T/live.dump") entries; rare-liker counts apart)" \
    cmp -s "$T/live.dump" "$T/replay.dump"
python3 - "$REDIS_PORT" >"$T/live.alerts" <<'PY'
import sys
sys.path.insert(0, "tests/integration")
from ewcheck import Redis
r = Redis(int(sys.argv[1]))
for _id, fields in r("XRANGE", "live:outbox", "-", "+"):
    print(dict(zip(fields[0::2], fields[1::2]))["alert"])
PY
# Evidence samples are the comments of the alert's micro-batch: compare alerts
# without them (ids, scores, levels, windows, risk and counts must be equal),
# and without the rare-liker reference.
nosamples() { python3 -c '
import json, sys
for l in sys.stdin:
    a = json.loads(l); a["evidence"].pop("samples", None)
    r = a["evidence"].get("rare_likers")
    if r:  # the reference share depends on the interleaving (see above)
        for k in ("reference_share", "lift", "surprise"):
            r.pop(k)
    print(json.dumps(a, sort_keys=True))
' <"$1" | sort; }
check "and the same alerts (live: the Redis outbox; $(wc -l <"$T/a5.jsonl") alerts)" \
    cmp -s <(nosamples "$T/live.alerts") <(nosamples "$T/a5.jsonl")

done_testing
