#!/bin/sh
# make demo — engwatch end to end on this machine, nothing to configure:
#   a private redis-server and build/tools/devbroker (topics events, alerts) on
#   free loopback ports, engwatchd with its HTTP server (127.0.0.1:9308, or a
#   free port when 9308 is taken), and a labelled synthetic workload from
#   tools/gen (300 accounts, 24 h of event time, injected campaigns) published
#   with kcat in 12 chunks, a few seconds apart, so the dashboard fills up live.
#   It prints the dashboard URL and a one-line live summary of the alerts; Ctrl-C
#   stops everything it started (by PID) and removes its temporary directory.
#
# Environment: DEMO_ACCOUNTS (300), DEMO_HOURS (24), DEMO_SEED (7), DEMO_CAMPAIGNS (3 of
# each kind), DEMO_CHUNKS (12), DEMO_PAUSE (seconds between chunks, 3), DEMO_PORT (9308),
# DEMO_ARGS (extra engwatchd arguments, e.g. "--set sinks.kafka.enabled=true").
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
ACCOUNTS=${DEMO_ACCOUNTS:-300}
HOURS=${DEMO_HOURS:-24}
SEED=${DEMO_SEED:-7}
CAMPAIGNS=${DEMO_CAMPAIGNS:-3}
CHUNKS=${DEMO_CHUNKS:-12}
PAUSE=${DEMO_PAUSE:-3}
WANT_PORT=${DEMO_PORT:-9308}

say() { printf '[demo] %s\n' "$*"; }
die() { printf '[demo] error: %s\n' "$*" >&2; exit 1; }

# ---- what is needed ------------------------------------------------------------
sh tools/deps.sh --check 2>/dev/null || sh tools/deps.sh
say "building"
make --no-print-directory all >/dev/null || die "the build failed (run make to see why)"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/engwatch-demo.XXXXXX")
PIDS=""   # started processes, in start order (stopped in reverse)
cleanup() {
    trap - INT TERM EXIT
    set +e # best effort from here: a process may already be gone
    [ -n "${SUMMARY_PID:-}" ] && kill "$SUMMARY_PID" 2>/dev/null
    [ -n "${PUB_PID:-}" ] && kill "$PUB_PID" 2>/dev/null
    rev=""
    for p in $PIDS; do rev="$p $rev"; done
    for p in $rev; do
        kill -TERM "$p" 2>/dev/null || continue
        i=0
        while kill -0 "$p" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
        kill -KILL "$p" 2>/dev/null
    done
    printf '\n'
    say "stopped (logs were in $TMP; removed)"
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1]); s.close()' "${1:-0}"
}
# wait_for SECONDS COMMAND...: poll until the command succeeds; 1 on timeout
wait_for() {
    n=$(($1 * 10)); shift
    while ! "$@" >/dev/null 2>&1; do
        n=$((n - 1)); [ $n -gt 0 ] || return 1
        sleep 0.1
    done
}

# ---- servers ------------------------------------------------------------------------
REDIS_PORT=$(free_port)
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$TMP" --save '' --appendonly no \
    >"$TMP/redis.log" 2>&1 &
PIDS="$PIDS $!"
wait_for 10 redis-cli -p "$REDIS_PORT" ping || die "redis-server did not start ($TMP/redis.log)"

"$BUILD/tools/devbroker" --bootstrap-file "$TMP/bootstrap" --partitions 4 --topic events \
    --topic alerts -q >"$TMP/devbroker.log" 2>&1 &
PIDS="$PIDS $!"
wait_for 15 test -s "$TMP/bootstrap" || die "devbroker did not start ($TMP/devbroker.log)"
BROKERS=$(cat "$TMP/bootstrap")

HTTP_PORT=$(free_port "$WANT_PORT")
URL="http://127.0.0.1:$HTTP_PORT"
# shellcheck disable=SC2086 # DEMO_ARGS is split on purpose
"$BUILD/engwatchd" -c conf/engwatchd.conf --set kafka.brokers="$BROKERS" \
    --set redis.port="$REDIS_PORT" --set http.listen="127.0.0.1:$HTTP_PORT" \
    --set kafka.group=engwatch-demo --set log.level=notice ${DEMO_ARGS:-} >"$TMP/engwatchd.log" 2>&1 &
PIDS="$PIDS $!"
ENGWATCHD_PID=$!
wait_for 15 curl -sf "$URL/healthz" || die "engwatchd did not start: $(tail -n 3 "$TMP/engwatchd.log")"
say "waiting for engwatchd to join the consumer group"
wait_for 60 curl -sf "$URL/readyz" || die "engwatchd is not ready: $(curl -s "$URL/readyz")"

# ---- workload ------------------------------------------------------------------------
say "generating $ACCOUNTS accounts x ${HOURS} h of events (seed $SEED, $CAMPAIGNS campaigns of each kind)"
python3 tools/gen --seed "$SEED" --accounts "$ACCOUNTS" --hours "$HOURS" --campaigns "$CAMPAIGNS" \
    --keyed --out "$TMP/events.txt" --labels "$TMP/labels.jsonl" --quiet
TOTAL=$(wc -l <"$TMP/events.txt")
PER=$(( (TOTAL + CHUNKS - 1) / CHUNKS ))
split -l "$PER" -d -a 3 "$TMP/events.txt" "$TMP/chunk."

echo
say "dashboard:  $URL/"
say "metrics:    $URL/metrics      API: $URL/api/accounts  $URL/api/alerts"
say "labels (ground truth of the injected campaigns): $TMP/labels.jsonl"
say "publishing $TOTAL events in $CHUNKS chunks (every ${PAUSE}s); Ctrl-C stops everything"
echo

# Publish the chunks in the background, in event-time order.
(
    for f in "$TMP"/chunk.*; do
        kcat -P -b "$BROKERS" -t events -K "$(printf '\t')" -l "$f" 2>>"$TMP/kcat.log" || exit 1
        sleep "$PAUSE"
    done
) &
PUB_PID=$!

# The live one-line summary: events and alerts from /metrics, the latest alert
# from /api/alerts.
python3 - "$URL" "$TOTAL" <<'PY' &
import json, re, sys, time, urllib.request
url, total = sys.argv[1], int(sys.argv[2])
tty = sys.stdout.isatty()
last_id, latest, prev = None, "", ""
def get(path):
    with urllib.request.urlopen(url + path, timeout=5) as r:
        return r.read().decode()
while True:
    try:
        m = get("/metrics")
        ev = sum(float(x) for x in re.findall(r"^engwatch_events_total\{[^}]*\} (\S+)", m, re.M))
        lv = {}
        for level, n in re.findall(r'^engwatch_alerts_total\{signal="[^"]*",level="([^"]*)"\} (\S+)', m, re.M):
            lv[level] = lv.get(level, 0) + int(float(n))
        q = "/api/alerts?limit=1" if last_id is None else "/api/alerts?since=%s&limit=1000" % last_id
        try:
            a = json.loads(get(q))
            last_id = a.get("last_id") or last_id
            if a.get("alerts"):
                x = a["alerts"][-1]["alert"]
                latest = "latest: %s %s %s (risk %s)" % (x.get("account"), x.get("signal"),
                                                         x.get("level"), x.get("risk"))
        except Exception:
            pass
        line = "events %d/%d | alerts %d (critical %d, warning %d, info %d) | %s" % (
            ev, total, sum(lv.values()), lv.get("critical", 0), lv.get("warning", 0),
            lv.get("info", 0), latest or "no alert yet")
    except Exception as e:
        line = "engwatchd not answering (%s)" % e
    if tty:
        sys.stdout.write("\r\033[K" + line[:200])
        sys.stdout.flush()
    elif line != prev:
        print(line, flush=True)
    prev = line
    time.sleep(2)
PY
SUMMARY_PID=$!

# Run until Ctrl-C, or until engwatchd stops by itself.
while kill -0 "$ENGWATCHD_PID" 2>/dev/null; do sleep 1; done
say "engwatchd exited: $(tail -n 3 "$TMP/engwatchd.log")"
exit 1
