#!/usr/bin/env bash
# Sinks end to end: redis-server, devbroker (topics events, alerts), a local
# webhook receiver, engwatchd with all four sinks (kafka, redis, webhook,
# file).  Alerts are written into the outbox with redis-cli (the forwarders do
# not care who wrote them), and — once detectors are built — raised by a real
# comment burst.  Checked:
#   - every sink receives the same alert ids, alerts already in the outbox at
#     the first start included; every alert validates against
#     docs/alert.schema.json
#   - webhook: 500 for the first 3 requests, then delivered (retries counted),
#     the bearer token and the alert id header arrive
#   - redis sink: <prefix>risk sorted set, <prefix>alert:{acct} hash with the
#     incident's signal list; kafka: key = account
#   - SIGTERM + restart: nothing acknowledged is delivered again (file sink);
#     SIGKILL: everything delivered at least once after the restart
#   - alerts trimmed from the outbox while the daemon was down are counted as
#     lost, per sink
#   - a sink enabled on a deployment whose other sinks already forward starts
#     with the alerts raised from then on
#   - a webhook that accepts and never answers blocks neither the redis sink
#     nor detection, nor the shutdown
. "$(dirname "$0")/lib.sh"
cd "$ROOT" || exit 1
CHECK="python3 $ROOT/tests/integration/ewcheck.py"

start_redis || { not_ok "redis-server starts"; done_testing; exit; }
start_devbroker --partitions 2 --topic events --topic alerts -q ||
    { not_ok "devbroker starts"; done_testing; exit; }
ok "redis-server and devbroker are up"

# ---- helpers ------------------------------------------------------------------------

# The webhook receiver: one JSON line per request into FILE (status, headers,
# body); answers 500 to the first FAIL requests, 200 afterwards.
cat >"$T/hook.py" <<'PY'
import json, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
port_file, out, fail = sys.argv[1], sys.argv[2], int(sys.argv[3])
lock, state = threading.Lock(), {"n": 0}
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
        with lock:
            state["n"] += 1
            status = 500 if state["n"] <= fail else 200
            with open(out, "a") as f:
                f.write(json.dumps({"n": state["n"], "status": status, "path": self.path,
                                    "headers": dict(self.headers), "body": body}) + "\n")
        msg = b"try again" if status == 500 else b"ok"
        self.send_response(status)
        self.send_header("Content-Length", str(len(msg)))
        self.end_headers()
        self.wfile.write(msg)
    def log_message(self, *a):
        pass
s = ThreadingHTTPServer(("127.0.0.1", 0), H)
open(port_file + ".tmp", "w").write(str(s.server_address[1]))
import os; os.rename(port_file + ".tmp", port_file)
s.serve_forever()
PY
# A webhook that accepts connections and never answers.
cat >"$T/hang.py" <<'PY'
import os, socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(64)
open(sys.argv[1] + ".tmp", "w").write(str(s.getsockname()[1])); os.rename(sys.argv[1] + ".tmp", sys.argv[1])
held = []
while True:
    c, _ = s.accept(); held.append(c)
    open(sys.argv[2], "a").write("accepted\n")
PY
# Sink contents and schema validation.
cat >"$T/sc.py" <<'PY'
import json, subprocess, sys
sys.path.insert(0, sys.argv[1])
from ewcheck import Redis
cmd, args = sys.argv[2], sys.argv[3:]

def alerts(kind, where, prefix="ew:"):
    """The alerts a sink received, in order (JSON objects)."""
    out = []
    if kind == "file":
        try:
            out = [json.loads(l) for l in open(where) if l.strip()]
        except FileNotFoundError:
            pass
    elif kind == "hook":
        try:
            out = [json.loads(r["body"]) for r in map(json.loads, open(where)) if r["status"] == 200]
        except FileNotFoundError:
            pass
    elif kind == "kafka":
        p = subprocess.run(["kcat", "-C", "-b", where, "-t", "alerts", "-e", "-q", "-o", "beginning",
                            "-f", "%k\t%s\n"], capture_output=True, text=True, timeout=30)
        for line in p.stdout.splitlines():
            k, _, v = line.partition("\t")
            a = json.loads(v)
            a["__key"] = k
            out.append(a)
    elif kind == "stream":
        r = Redis(int(where))
        for _id, fields in r("XRANGE", prefix + "alerts", "-", "+"):
            out.append(json.loads(dict(zip(fields[0::2], fields[1::2]))["alert"]))
    return out

def validate(schema, v, path="$"):
    """The keywords docs/alert.schema.json uses: type, required, properties,
    additionalProperties, enum, minimum, maximum."""
    errs = []
    t = schema.get("type")
    types = {"object": dict, "string": str, "array": list}
    if t == "integer":
        good = isinstance(v, int) and not isinstance(v, bool)
    elif t == "number":
        good = isinstance(v, (int, float)) and not isinstance(v, bool)
    elif t:
        good = isinstance(v, types[t])
    else:
        good = True
    if not good:
        return ["%s: not %s (%r)" % (path, t, v)]
    if "enum" in schema and v not in schema["enum"]:
        errs.append("%s: %r not in %r" % (path, v, schema["enum"]))
    if "minimum" in schema and v < schema["minimum"]:
        errs.append("%s: %r < %r" % (path, v, schema["minimum"]))
    if "maximum" in schema and v > schema["maximum"]:
        errs.append("%s: %r > %r" % (path, v, schema["maximum"]))
    if isinstance(v, dict):
        props = schema.get("properties", {})
        for k in schema.get("required", []):
            if k not in v:
                errs.append("%s: %s missing" % (path, k))
        for k, x in v.items():
            if k in props:
                errs += validate(props[k], x, path + "." + k)
            elif schema.get("additionalProperties", True) is False:
                errs.append("%s: unexpected %s" % (path, k))
    return errs

if cmd == "ids":        # KIND WHERE [PREFIX]: sorted distinct alert ids, one a line
    print("\n".join(sorted({a["alert_id"] for a in alerts(*args)})))
elif cmd == "count":    # KIND WHERE [PREFIX]: distinct alert ids
    print(len({a["alert_id"] for a in alerts(*args)}))
elif cmd == "total":    # KIND WHERE [PREFIX]: alerts received, duplicates included
    print(len(alerts(*args)))
elif cmd == "validate": # SCHEMA KIND WHERE [PREFIX]: every alert against the schema
    schema = json.load(open(args[0]))
    got = alerts(*args[1:])
    bad = [(a.get("alert_id"), e) for a in got for e in validate(schema, {k: x for k, x in a.items() if k != "__key"})]
    for i, e in bad[:20]:
        print("alert %s: %s" % (i, e))
    sys.exit(1 if bad or not got else 0)
elif cmd == "keys":     # BROKERS: every kafka message key equals its alert's account
    got = alerts("kafka", args[0])
    sys.exit(0 if got and all(a["__key"] == a["account"] for a in got) else 1)
elif cmd == "gen":      # FROM TO [ACCOUNT_PREFIX]: alerts FROM..TO as JSON lines
    pre = args[2] if len(args) > 2 else "acct"
    for i in range(int(args[0]), int(args[1]) + 1):
        sig = ["comment_burst", "hollow_comments", "follower_spike", "engagement_mismatch"][i % 4]
        a = {"alert_id": "%s-%05d" % (pre, i), "account": "%s%d" % (pre, i % 7), "post": "p%d" % i,
             "signal": sig, "score": 50 + i % 50, "level": ["info", "warning", "critical"][i % 3],
             "ts": 1767600000000 + i * 1000,
             "window": {"start": 1767600000000 + i * 1000 - 60000, "end": 1767600000000 + i * 1000},
             "risk": float(10 + i % 90),
             "evidence": {"comments": 60, "incident": "inc-%s%d" % (pre, i % 7), "action": "opened"}}
        print(json.dumps(a, separators=(",", ":")))
PY
SC="python3 $T/sc.py $ROOT/tests/integration"
SCHEMA="$ROOT/docs/alert.schema.json"

# inject FROM TO [PREFIX] [ACCOUNT_PREFIX]: XADD alerts FROM..TO into <prefix>outbox
inject() {
    local pre=${3:-ew:}
    $SC gen "$1" "$2" "${4:-acct}" | while IFS= read -r a; do
        rcli XADD "${pre}outbox" '*' alert "$a" >/dev/null
    done
}
count() { $SC count "$@" 2>/dev/null || echo 0; }

HOOK_OUT="$T/hook.jsonl"
spawn hook python3 "$T/hook.py" "$T/hook.port" "$HOOK_OUT" 3
wait_until 10 "[ -s $T/hook.port ]" || { not_ok "webhook receiver starts"; done_testing; exit; }
HOOK_PORT=$(cat "$T/hook.port")
spawn hang python3 "$T/hang.py" "$T/hang.port" "$T/hang.log"
wait_until 10 "[ -s $T/hang.port ]" || { not_ok "hanging receiver starts"; done_testing; exit; }
HANG_PORT=$(cat "$T/hang.port")
HTTP_PORT=$(free_port)

# run_daemon NAME [--set ...]: engwatchd against the test's Redis and broker
# (configuration file $CONF, default conf/engwatchd.conf).
run_daemon() {
    local name=$1; shift
    spawn "$name" "$ENGWATCHD" -c "${CONF:-conf/engwatchd.conf}" \
        --set kafka.brokers="$BROKERS" --set redis.port="$REDIS_PORT" \
        --set kafka.properties.session.timeout.ms=6000 \
        --set kafka.properties.heartbeat.interval.ms=1000 \
        --set http.listen=127.0.0.1:"$HTTP_PORT" --set sinks.retry_backoff_max=1s \
        --set log.level=info "$@"
}
ALL_SINKS=(--set sinks.kafka.enabled=true --set sinks.redis.enabled=true
           --set sinks.webhook.enabled=true --set sinks.webhook.url="http://127.0.0.1:$HOOK_PORT/hook"
           --set sinks.webhook.token=secret --set sinks.file.enabled=true
           --set sinks.file.path="$T/alerts.jsonl")
# metric NAME SINK: the sample's value from /metrics (empty when absent)
metric() {
    curl -s "http://127.0.0.1:$HTTP_PORT/metrics" |
        awk -v m="$1{sink=\"$2\"}" '$1 == m { print $2 }'
}
all_have() { # N [PREFIX]: every sink holds N distinct alert ids
    [ "$(count file "$T/alerts.jsonl")" -eq "$1" ] && [ "$(count hook "$HOOK_OUT")" -eq "$1" ] &&
    [ "$(count kafka "$BROKERS")" -eq "$1" ] && [ "$(count stream "$REDIS_PORT")" -eq "$1" ]
}

# ---- 1. all four sinks, alerts injected into the outbox -------------------------------
inject 1 5   # in the outbox before the first start: no sink has a group yet -> from 0
run_daemon d1 "${ALL_SINKS[@]}"
D=$SPAWNED
check "alerts already in the outbox at the first start reach every sink" wait_until 60 "all_have 5"
inject 6 20
check "alerts written while running reach every sink (20)" wait_until 60 "all_have 20"
$SC ids file "$T/alerts.jsonl" >"$T/ids.file"
$SC ids hook "$HOOK_OUT" >"$T/ids.hook"
$SC ids kafka "$BROKERS" >"$T/ids.kafka"
$SC ids stream "$REDIS_PORT" >"$T/ids.stream"
$SC gen 1 20 | python3 -c 'import json,sys; print("\n".join(sorted(json.loads(l)["alert_id"] for l in sys.stdin)))' >"$T/ids.sent"
check "every sink received exactly the alert ids written" \
    bash -c "cmp -s $T/ids.sent $T/ids.file && cmp -s $T/ids.sent $T/ids.hook && \
             cmp -s $T/ids.sent $T/ids.kafka && cmp -s $T/ids.sent $T/ids.stream"
check "the file sink kept the outbox order" \
    bash -c "[ \"\$(python3 -c 'import json,sys; print(\" \".join(json.loads(l)[\"alert_id\"] for l in open(sys.argv[1])))' $T/alerts.jsonl)\" = \"\$($SC gen 1 20 | python3 -c 'import json,sys; print(\" \".join(json.loads(l)[\"alert_id\"] for l in sys.stdin))')\" ]"
for s in "file $T/alerts.jsonl" "hook $HOOK_OUT" "kafka $BROKERS" "stream $REDIS_PORT"; do
    # shellcheck disable=SC2086
    check "every alert of the ${s%% *} sink validates against docs/alert.schema.json" \
        $SC validate "$SCHEMA" $s
done
# (signal, score, ts, window.end, evidence.incident, evidence.action, extra: 7 errors)
echo '{"alert_id":"x","account":"a","signal":"nope","score":101,"level":"info","ts":1.5,"window":{"start":1},"risk":1,"evidence":{},"extra":1}' >"$T/bad.jsonl"
check "a document violating the schema is caught by the validator" \
    bash -c "! $SC validate $SCHEMA file $T/bad.jsonl >$T/bad.out && [ \$(wc -l <$T/bad.out) -eq 7 ]"

# webhook: the first 3 requests failed with 500, then everything went through
check "webhook: the first 3 POSTs got 500 and were retried" \
    [ "$(grep -c '"status": 500' "$HOOK_OUT")" -eq 3 ]
check "webhook: the retried alert arrived after the 500s" \
    bash -c "python3 -c 'import json,sys; r=[json.loads(l) for l in open(sys.argv[1])]; \
             f=json.loads(r[0][\"body\"])[\"alert_id\"]; \
             sys.exit(0 if any(x[\"status\"]==200 and json.loads(x[\"body\"])[\"alert_id\"]==f for x in r[3:]) else 1)' $HOOK_OUT"
check "webhook: retries are counted (engwatch_sink_retries_total >= 3)" \
    wait_until 10 "[ \"\$(metric engwatch_sink_retries_total webhook)\" -ge 3 ] 2>/dev/null"
check "webhook: the bearer token arrives" \
    bash -c "python3 -c 'import json,sys; r=[json.loads(l) for l in open(sys.argv[1])]; \
             sys.exit(0 if r and all(x[\"headers\"].get(\"Authorization\")==\"Bearer secret\" for x in r) else 1)' $HOOK_OUT"
check "webhook: JSON content type and the alert id header" \
    bash -c "python3 -c 'import json,sys; r=[json.loads(l) for l in open(sys.argv[1])]; \
             sys.exit(0 if all(x[\"headers\"].get(\"Content-Type\")==\"application/json\" and \
             x[\"headers\"].get(\"X-Engwatch-Alert-Id\")==json.loads(x[\"body\"])[\"alert_id\"] for x in r) else 1)' $HOOK_OUT"
check "kafka: the message key is the account" $SC keys "$BROKERS"

# redis sink: risk sorted set and per-account hash
check "redis sink: <prefix>risk holds every account with its latest risk" \
    [ "$(rcli ZCARD ew:risk)" -eq 7 -a "$(rcli ZSCORE ew:risk acct6)" = 30 ]
check "redis sink: <prefix>alert:{acct} holds the latest alert and its incident" bash -c "
    [ \"\$(redis-cli -p $REDIS_PORT HGET 'ew:alert:{acct6}' incident)\" = inc-acct6 ] &&
    [ \"\$(redis-cli -p $REDIS_PORT HGET 'ew:alert:{acct6}' latest | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"alert_id\"])')\" = acct-00020 ] &&
    [ \"\$(redis-cli -p $REDIS_PORT HGET 'ew:alert:{acct6}' level)\" = critical ] &&
    [ \"\$(redis-cli -p $REDIS_PORT HGET 'ew:alert:{acct6}' ts)\" = 1767600020000 ]"
# acct6 got alerts 6, 13, 20: signals 6%4=2, 13%4=1, 20%4=0 in one incident
check "redis sink: the incident's signals are listed once each, in order" \
    [ "$(rcli HGET 'ew:alert:{acct6}' signals)" = "follower_spike,hollow_comments,comment_burst" ]
check "redis sink: the alert hash expires" [ "$(rcli TTL 'ew:alert:{acct6}')" -gt 86400 ]
check "metrics: delivered per sink" \
    wait_until 10 "[ \"\$(metric engwatch_sink_delivered_total file)\" = 20 ] && \
                   [ \"\$(metric engwatch_sink_delivered_total kafka)\" = 20 ]"
check "metrics: no lag once everything is delivered" \
    wait_until 10 "[ \"\$(metric engwatch_sink_lag file)\" = 0 ] && [ \"\$(metric engwatch_sink_lag webhook)\" = 0 ]"

# ---- 2. restarts: SIGTERM delivers nothing twice, SIGKILL at least once ----------------
stop_pid "$D" TERM; rc=$?
check "SIGTERM: clean exit 0" [ "$rc" -eq 0 ]
check "every outbox entry was acknowledged by every sink" bash -c "
    for g in kafka redis webhook file; do
        [ \"\$(redis-cli -p $REDIS_PORT XPENDING ew:outbox engwatch-\$g | head -n 1)\" = 0 ] || exit 1
    done"
run_daemon d2 "${ALL_SINKS[@]}"
D=$SPAWNED
inject 21 25
check "after a restart new alerts reach every sink" wait_until 60 "all_have 25"
check "nothing acknowledged was delivered again (file sink: 25 lines)" \
    [ "$($SC total file "$T/alerts.jsonl")" -eq 25 ]
check "nothing acknowledged was delivered again (kafka: 25 messages)" \
    [ "$($SC total kafka "$BROKERS")" -eq 25 ]
kill -KILL "$D"; wait "$D" 2>/dev/null
inject 26 30 # while the daemon is dead
run_daemon d3 "${ALL_SINKS[@]}"
D=$SPAWNED
check "after SIGKILL every alert is delivered (at least once)" wait_until 60 "all_have 30"
stop_pid "$D" TERM

# ---- 3. alerts trimmed before a sink read them are counted as lost ---------------------
# While the daemon is down, 300 alerts arrive and the outbox keeps 100: each
# sink had read 30, so 330 - 100 - 30 = 200 are lost to every one of them.
$SC gen 31 330 | while IFS= read -r a; do
    rcli XADD ew:outbox MAXLEN 100 '*' alert "$a" >/dev/null
done
run_daemon d4 "${ALL_SINKS[@]}"
D=$SPAWNED
check "the 100 alerts left in the outbox reach the sinks" wait_until 60 "all_have 130"
for s in file kafka webhook redis; do
    check "$s: 200 trimmed alerts counted as lost" \
        wait_until 10 "[ \"\$(metric engwatch_sink_lost_total $s)\" = 200 ]"
done
check "the loss is logged" grep -q "200 alert(s) were trimmed from ew:outbox" "$T/d4.log"
check "lag is exact again after the loss" wait_until 10 "[ \"\$(metric engwatch_sink_lag file)\" = 0 ]"
stop_pid "$D" TERM

# ---- 4. a sink enabled later starts with the alerts raised from then on ----------------
# (own namespace p4:, own file) the redis sink forwards first; then the file sink joins.
inject 1 3 p4: late
run_daemon d5 --set redis.prefix=p4: --set kafka.group=g4
D=$SPAWNED
check "redis sink alone: the 3 alerts are forwarded" \
    wait_until 60 "[ \"\$(rcli XLEN p4:alerts)\" -eq 3 ]"
stop_pid "$D" TERM
inject 4 5 p4: late # raised before the file sink exists
run_daemon d6 --set redis.prefix=p4: --set kafka.group=g4 \
    --set sinks.file.enabled=true --set sinks.file.path="$T/late.jsonl"
D=$SPAWNED
check "the new sink's group starts at the end (logged)" \
    wait_until 30 "grep -q 'created consumer group engwatch-file on p4:outbox at \\$' $T/d6.log"
check "the redis sink catches up on what it missed" \
    wait_until 60 "[ \"\$(rcli XLEN p4:alerts)\" -eq 5 ]"
inject 6 7 p4: late
check "the new file sink gets the alerts raised after it was enabled" \
    wait_until 60 "[ \"\$(count file $T/late.jsonl)\" -eq 2 ]"
check "... and only those" [ "$($SC ids file "$T/late.jsonl" | tr '\n' ' ')" = "late-00006 late-00007 " ]
stop_pid "$D" TERM

# ---- 4b. reload: a sink turned on, reopened with a new path, turned off ------------------
# (own namespace p7:) the sink settings live in a copy of the configuration
# file, since a reload reads the file again (and the same --set overrides).
cp conf/engwatchd.conf "$T/reload.conf"
cp -r conf/lexicon "$T/lexicon"
file_sink() { # ENABLED PATH: rewrite the file sink's settings in $T/reload.conf
    python3 - "$T/reload.conf" "$1" "$2" <<'PY'
import re, sys
f, en, path = sys.argv[1:]
s = open(f).read()
s = re.sub(r'(  file = \{\n    enabled = )\w+;(\n    path = )"[^"]*";', r'\g<1>%s;\g<2>"%s";' % (en, path), s)
open(f, "w").write(s)
PY
}
CONF="$T/reload.conf" run_daemon d9 --set redis.prefix=p7: --set kafka.group=g7
D=$SPAWNED
inject 1 2 p7: rl
check "reload test: the redis sink forwards" wait_until 60 "[ \"\$(rcli XLEN p7:alerts)\" -eq 2 ]"
file_sink true "$T/r1.jsonl"
kill -HUP "$D"
check "reload: the file sink turned on starts (at the end: others forward already)" \
    wait_until 30 "grep -q 'created consumer group engwatch-file on p7:outbox at \\$' $T/d9.log"
inject 3 4 p7: rl
check "reload: the new file sink writes the alerts raised after the reload" \
    wait_until 30 "[ \"\$($SC ids file $T/r1.jsonl | tr '\\n' ' ')\" = 'rl-00003 rl-00004 ' ]"
file_sink true "$T/r2.jsonl"
kill -HUP "$D"
check "reload: a changed path reopens the sink" wait_until 30 "grep -q 'reload: reopening file' $T/d9.log"
inject 5 5 p7: rl
check "reload: the reopened sink resumes where it was (no repeats, nothing missed)" \
    wait_until 30 "[ \"\$($SC ids file $T/r2.jsonl | tr '\\n' ' ')\" = 'rl-00005 ' ]"
file_sink false "$T/r2.jsonl"
kill -HUP "$D"
check "reload: a sink turned off stops" wait_until 30 "grep -q 'reload: stopping file' $T/d9.log"
inject 6 6 p7: rl
check "reload: the other sinks go on" wait_until 30 "[ \"\$(rcli XLEN p7:alerts)\" -eq 6 ]"
check "reload: the stopped sink wrote nothing more" \
    [ "$($SC total file "$T/r1.jsonl")" -eq 2 -a "$($SC total file "$T/r2.jsonl")" -eq 1 ]
check "reload: the redis sink kept running through the reloads (one group created)" \
    [ "$(grep -c 'created consumer group engwatch-redis' "$T/d9.log")" -eq 1 ]
rcli XGROUP DESTROY p7:outbox engwatch-redis >/dev/null
inject 7 8 p7: rl
check "a consumer group deleted under a running sink is recreated where the sink was" \
    wait_until 30 "grep -q 'created consumer group engwatch-redis on p7:outbox at .* (after the last alert it handled)' $T/d9.log"
check "... and the sink goes on without repeating or missing an alert" \
    wait_until 30 "[ \"\$(rcli XLEN p7:alerts)\" -eq 8 ] && [ \"\$($SC count stream $REDIS_PORT p7:)\" -eq 8 ]"
stop_pid "$D" TERM

# ---- 5. a webhook that never answers blocks neither the other sinks nor detection --------
run_daemon d7 --set redis.prefix=p5: --set kafka.group=g5 --set sinks.webhook.enabled=true \
    --set sinks.webhook.url="http://127.0.0.1:$HANG_PORT/hook" --set sinks.webhook.timeout=1s \
    --set sinks.webhook.max_retries=1000
D=$SPAWNED
inject 1 10 p5: hang
check "the hanging webhook was called" wait_until 30 "[ -s $T/hang.log ]"
check "the redis sink delivers every alert meanwhile" \
    wait_until 60 "[ \"\$(rcli XLEN p5:alerts)\" -eq 10 ]"
burst() { $CHECK burst "$@"; } # a post, then 60 identical praises within a minute
burst acctH pH 1767600000000 >"$T/b5.txt"
kcat -P -b "$BROKERS" -t events -K $'\t' -l "$T/b5.txt"
check "events keep being applied while the webhook hangs" \
    wait_until 60 "[ \"\$($CHECK applied --port $REDIS_PORT --prefix p5:)\" -ge 61 ]"
check "the webhook retries are counted" \
    wait_until 20 "[ \"\$(metric engwatch_sink_retries_total webhook)\" -ge 1 ] 2>/dev/null"
t0=$(date +%s)
stop_pid "$D" TERM; rc=$?
check "SIGTERM with a hanging webhook: exit 0 within the stop bound ($(( $(date +%s) - t0 )) s)" \
    [ "$rc" -eq 0 -a $(( $(date +%s) - t0 )) -le 12 ]

# ---- 6. alerts from detection (a comment burst) reach every sink -------------------------
if [ ! -f "$ROOT/daemon/detect_burst.c" ]; then
    ok "# SKIP burst alerts: detectors are not built yet"
else
    P=p6:
    run_daemon d8 --set redis.prefix=$P --set kafka.group=g6 "${ALL_SINKS[@]}" \
        --set sinks.file.path="$T/burst.jsonl"
    D=$SPAWNED
    burst acctB pB 1767700000000 >"$T/b6.txt"
    kcat -P -b "$BROKERS" -t events -K $'\t' -l "$T/b6.txt"
    # both bursts on the topic applied: their alerts are in the outbox (same atomic step)
    check "the bursts are applied" \
        wait_until 60 "[ \"\$($CHECK applied --port $REDIS_PORT --prefix $P)\" -ge 122 ]"
    # acctB's alerts (the events topic also holds the earlier bursts)
    only_b='import json,sys; print(" ".join(sorted({a["alert_id"] for a in map(json.loads, sys.stdin) if a["account"] == "acctB"})))'
    sent=$(rcli XRANGE ${P}outbox - + | grep '^{' | python3 -c "$only_b")
    got_file() { python3 -c "$only_b" <"$T/burst.jsonl" 2>/dev/null; }
    got_hook() { python3 -c 'import json,sys; [print(r["body"]) for r in map(json.loads, sys.stdin) if r["status"] == 200]' <"$HOOK_OUT" | python3 -c "$only_b"; }
    got_kafka() { kcat -C -b "$BROKERS" -t alerts -e -q -o beginning -f '%s\n' | python3 -c "$only_b"; }
    got_stream() { rcli XRANGE ${P}alerts - + | grep '^{' | python3 -c "$only_b"; }
    check "the burst raised alerts ($sent)" [ -n "$sent" ]
    check "burst: the alerts reach every sink with the same ids" \
        wait_until 60 "[ \"\$(got_file)\" = \"$sent\" ] && [ \"\$(got_hook)\" = \"$sent\" ] && \
                       [ \"\$(got_kafka)\" = \"$sent\" ] && [ \"\$(got_stream)\" = \"$sent\" ]"
    check "burst: the detector's alerts validate against docs/alert.schema.json" \
        $SC validate "$SCHEMA" file "$T/burst.jsonl"
    check "burst: the account is in the risk set and has its alert hash" \
        [ -n "$(rcli ZSCORE ${P}risk acctB)" -a "$(rcli HGET "${P}alert:{acctB}" signals)" != "" ]
    stop_pid "$D" TERM
fi

done_testing
