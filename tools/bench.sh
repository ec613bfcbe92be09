#!/bin/sh
# bench.sh — `make bench`: engwatchd throughput, latency and footprint on this machine.
#
#   BUILD=build sh tools/bench.sh        (make bench builds first, then runs this)
#
# Phases (each prints a progress line; the report comes at the end and its last line is
#   bench: live_eps=N kcat_eps=N ratio=R replay_eps=N redis_cmds_per_event=R rss_mb=N p99_ms=N):
#   0. workload: tools/gen --keyed, ~1M events (BENCH_ACCOUNTS=2100), generated once into
#      $BUILD/bench/ and reused; the replay dump is the same events as .jsonl.gz
#   1. limits: redis-benchmark HINCRBY -P 64; decodebench over the same events; kcat
#      consuming the same messages from devbroker
#   2. live: the messages are pre-produced (lz4, BENCH_PARTITIONS partitions), then
#      engwatchd starts; rate from the first to the last applied message (stored positions,
#      polled), Redis commands per event (INFO commandstats deltas: every command of the
#      apply's check and transaction), peak RSS (VmHWM), Redis memory per account with state
#   3. latency: a new topic fed by build/tools/produce at 50% of the live rate for
#      BENCH_LAT_SECONDS s, then a 60-comment bot burst; p50/p99/max of
#      engwatch_apply_delay_ms from /metrics ("n/a" with the reason when the daemon does not
#      export it), the same measured from outside (positions polled every 10 ms against the
#      producer's per-message timestamps), and burst -> alert in the outbox
#   4. replay: engwatchd replay of the 1M-event .jsonl.gz
#   5. scaling: replays of BENCH_SCALE_EVENTS events at 1x, 4x, 16x BENCH_SCALE_BASE accounts
# Misses against the targets are printed (PASS/MISS); the exit status is non-zero only when
# something broke.  Only 127.0.0.1; every process is tracked by PID and stopped at exit.
#
# devbroker (librdkafka's mock) differs from Kafka in ways that matter here: a partition keeps
# ~5 MiB (hence lz4 and 64 partitions), a fetch returns one produce batch per partition, and a
# fetch that finds nothing is held for the whole fetch.wait.max.ms even when data arrives (the
# latency run sets it to 10 ms).  Other processes on the machine change every number: the
# report prints the load average.
#
# Knobs (environment): BENCH_ACCOUNTS BENCH_SEED BENCH_PARTITIONS BENCH_LAT_SECONDS
# BENCH_LAT_LINGER (the latency run's producer linger.ms, 20) BENCH_SCALE_EVENTS
# BENCH_SCALE_BASE; KEEP_TMP=1 keeps the logs.
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) BDIR=$BUILD ;; *) BDIR=$ROOT/$BUILD ;; esac
ENGWATCHD=$BDIR/engwatchd
TOOLS=$BDIR/tools
CONF=$ROOT/conf/engwatchd.conf
WORK=$BDIR/bench
BU=$ROOT/tools/benchutil.py

ACCOUNTS=${BENCH_ACCOUNTS:-2100}
SEED=${BENCH_SEED:-1}
PARTITIONS=${BENCH_PARTITIONS:-64}
LAT_SECONDS=${BENCH_LAT_SECONDS:-20}
LAT_LINGER=${BENCH_LAT_LINGER:-20}
SCALE_EVENTS=${BENCH_SCALE_EVENTS:-200000}
SCALE_BASE=${BENCH_SCALE_BASE:-500}

mkdir -p "$WORK" || exit 1
RUN=$(mktemp -d "${TMPDIR:-/tmp}/ewbench.XXXXXX") || exit 1
PIDS=""
BENCH_T0=$(date +%s)

# ---- helpers -------------------------------------------------------------------------------

now_ms() { date +%s%3N; }
say() { echo "bench: [$(($(date +%s) - BENCH_T0))s] $*"; }
die() {
    echo "bench: FAILED: $*" >&2
    exit 1
}

# kv KEY FILE: the value of KEY=VALUE in FILE (first occurrence)
kv() {
    awk -v k="$1" '{ for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) { print substr($i, length(k) + 2); exit } }' "$2"
}
# calc EXPR: floating point arithmetic, printed with %.*
calc() { awk "BEGIN { printf \"%.${2:-0}f\", $1 }"; }
# prom NAME FILE: the value of an unlabelled sample in a /metrics scrape
prom() { awk -v n="$1" '$1 == n { print $2; exit }' "$2" 2>/dev/null; }
# per_batch PROM BATCHES GETS: accounts folded per micro-batch, and how many of them were
# read from Redis (state cache misses; the rest came from the cache)
per_batch() {
    _h=$(prom engwatch_state_cache_hits_total "$1")
    _m=$(prom engwatch_state_cache_misses_total "$1")
    if [ -n "$2" ] && [ -n "$_h" ] && [ -n "$_m" ] && [ "$2" -gt 0 ] 2>/dev/null; then
        echo "$(calc "($_h + $_m) / $2" 1) accounts per batch, $(calc "$_m / $2" 2) of them read from Redis (${3:-?} GET in all, the actor sketch's slot reads included; the rest from the state cache)"
    else
        echo "n/a"
    fi
}

# spawn NAME CMD...: in the background, output in $RUN/NAME.log; PID in $SPAWNED
spawn() {
    _name=$1
    shift
    "$@" >"$RUN/$_name.log" 2>&1 &
    SPAWNED=$!
    PIDS="$PIDS $SPAWNED"
}

# untrack PID: forget a PID that has been waited for
untrack() {
    _keep=""
    for _p in $PIDS; do [ "$_p" = "$1" ] || _keep="$_keep $_p"; done
    PIDS=$_keep
}

# stop_pid PID: TERM, wait up to 15 s, then KILL
stop_pid() {
    untrack "$1"
    kill -TERM "$1" 2>/dev/null || return 0
    _i=0
    while kill -0 "$1" 2>/dev/null && [ $_i -lt 150 ]; do
        sleep 0.1
        _i=$((_i + 1))
    done
    kill -KILL "$1" 2>/dev/null
    wait "$1" 2>/dev/null
    return 0
}

cleanup() {
    _all=$PIDS
    for p in $_all; do kill -TERM "$p" 2>/dev/null; done
    for p in $_all; do stop_pid "$p"; done
    if [ "${KEEP_TMP:-0}" = 1 ]; then echo "bench: logs kept in $RUN" >&2; else rm -rf "$RUN"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_until SECONDS 'shell condition'
wait_until() {
    _deadline=$(($(date +%s) + $1))
    while ! eval "$2"; do
        [ "$(date +%s)" -ge $_deadline ] && return 1
        sleep 0.05
    done
    return 0
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# batch_line PROMFILE: batches, their mean size and mean/p99 duration from a /metrics scrape
batch_line() {
    python3 "$BU" metrics --url "file://$1" --name engwatch_batch_events >"$1.be" 2>&1
    python3 "$BU" metrics --url "file://$1" --name engwatch_batch_duration_ms >"$1.bd" 2>&1
    echo "$(kv count "$1.be") batches of $(kv mean "$1.be") events on average," \
        "$(kv mean "$1.bd") ms each on average (p99 $(kv p99 "$1.bd") ms)"
}

# cpu_s PID: user + system CPU seconds of a running process
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$1/stat" 2>/dev/null || echo 0; }

vmhwm_mb() { awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || echo 0; }

rcli() { redis-cli -h 127.0.0.1 -p "$RP" "$@"; }

# start_daemon NAME HTTP_PORT EXTRA_SETTINGS...: engwatchd live, PID in $DPID
start_daemon() {
    _name=$1
    _hp=$2
    shift 2
    if [ "$HAVE_HTTP" = 1 ]; then
        spawn "$_name" "$ENGWATCHD" -c "$CONF" --set kafka.brokers="$BROKERS" \
            --set redis.port="$RP" --set http.listen="127.0.0.1:$_hp" \
            --set kafka.properties.session.timeout.ms=6000 \
            --set kafka.properties.heartbeat.interval.ms=1000 "$@"
    else
        spawn "$_name" "$ENGWATCHD" -c "$CONF" --set kafka.brokers="$BROKERS" \
            --set redis.port="$RP" --set kafka.properties.session.timeout.ms=6000 \
            --set kafka.properties.heartbeat.interval.ms=1000 "$@"
    fi
    DPID=$SPAWNED
}

# ---- 0. prerequisites and workload --------------------------------------------------------

for t in kcat redis-server redis-cli redis-benchmark python3 gzip; do
    command -v $t >/dev/null 2>&1 || die "$t is not installed (make deps)"
done
for f in "$ENGWATCHD" "$TOOLS/devbroker" "$TOOLS/decodebench" "$TOOLS/produce"; do
    [ -x "$f" ] || die "$f is missing (run make bench, or make all first)"
done
"$ENGWATCHD" --check-config -c "$CONF" >"$RUN/check.log" 2>&1 ||
    die "engwatchd --check-config -c $CONF: $(tail -n 3 "$RUN/check.log")"
# http.listen (the /metrics endpoint) exists once the HTTP module is built in
if "$ENGWATCHD" --check-config -c "$CONF" --set http.listen=127.0.0.1:1 >/dev/null 2>&1; then
    HAVE_HTTP=1
else
    HAVE_HTTP=0
fi
echo "bench: engwatch $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?')," \
    "$(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo);" \
    "logs in $RUN"
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
busy=$(ps -eo pcpu=,comm= --sort=-pcpu | awk '$1 >= 20 { printf "%s%s(%.0f%%)", n++ ? " " : "", $2, $1 }')
say "load average $LOAD0${busy:+; busy already: $busy}"

W=$WORK/w${ACCOUNTS}s$SEED
if [ -s "$W.keyed.txt" ] && [ -s "$W.jsonl.gz" ]; then
    GEN_NOTE="reused; $(cat "$W.gen-note" 2>/dev/null || echo "generated earlier")"
    say "workload: reusing $W.keyed.txt and $W.jsonl.gz ($GEN_NOTE)"
else
    say "workload: generating ~1M events (tools/gen --accounts $ACCOUNTS --seed $SEED; once)"
    t0=$(now_ms)
    python3 "$ROOT/tools/gen" --seed "$SEED" --accounts "$ACCOUNTS" --keyed --quiet \
        --out "$W.keyed.tmp" --labels "$W.labels.jsonl" || die "tools/gen failed"
    cut -f2- "$W.keyed.tmp" | gzip -c >"$W.jsonl.tmp.gz" || die "gzip failed"
    mv -f "$W.jsonl.tmp.gz" "$W.jsonl.gz" && mv -f "$W.keyed.tmp" "$W.keyed.txt"
    GEN_NOTE="generated in $(calc "($(now_ms) - $t0) / 1000" 1) s"
    echo "$GEN_NOTE on $(date -u +%Y-%m-%d)" >"$W.gen-note"
    say "workload: $GEN_NOTE"
fi
N=$(wc -l <"$W.keyed.txt")
say "workload: $N events, $(calc "$(wc -c <"$W.keyed.txt") / 1048576" 0) MiB keyed," \
    "$(calc "$(wc -c <"$W.jsonl.gz") / 1048576" 0) MiB gzipped"

# ---- servers ------------------------------------------------------------------------------

RP=$(free_port)
mkdir -p "$RUN/redis"
spawn redis redis-server --bind 127.0.0.1 --port "$RP" --dir "$RUN/redis" --save '' \
    --appendonly no --protected-mode yes
wait_until 10 "rcli ping 2>/dev/null | grep -q PONG" || die "redis-server did not start"
spawn devbroker "$TOOLS/devbroker" --partitions "$PARTITIONS" --topic events --topic lat \
    --bootstrap-file "$RUN/bootstrap" -q
wait_until 15 "[ -s $RUN/bootstrap ]" || die "devbroker did not start"
BROKERS=$(cat "$RUN/bootstrap")
say "servers: redis-server $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/') on $RP," \
    "devbroker $BROKERS ($PARTITIONS partitions)"

# ---- 1. limits ----------------------------------------------------------------------------

say "limits: redis-benchmark -P 64 -n 2000000 HINCRBY"
redis-benchmark -h 127.0.0.1 -p "$RP" -P 64 -n 2000000 -q HINCRBY h f 1 >"$RUN/rb.log" 2>&1 ||
    die "redis-benchmark failed"
REDIS_HINCRBY=$(tr '\r' '\n' <"$RUN/rb.log" | sed -n 's/.*: \([0-9.]*\) requests per second.*/\1/p' |
    tail -n 1)
REDIS_HINCRBY=$(calc "${REDIS_HINCRBY:-0}")
rcli flushall >/dev/null

say "limits: decodebench over the same events"
cut -f2- "$W.keyed.txt" | "$TOOLS/decodebench" -i /dev/stdin >"$RUN/decode.log" 2>&1 ||
    die "decodebench failed: $(cat "$RUN/decode.log")"
DECODE_EPS=$(kv events_per_s "$RUN/decode.log")
DECODE_NS=$(kv ns_per_event "$RUN/decode.log")

# linger.ms=100: per-partition produce batches fill up to librdkafka's batch limits (10000
# messages, 1 MB), about what a Kafka broker returns per partition and fetch; devbroker returns
# one produce batch per fetch, so this shapes how the consumer interleaves partitions.
say "limits: producing $N messages (kcat -P, lz4, linger.ms=100) to devbroker"
t0=$(now_ms)
kcat -P -b "$BROKERS" -t events -K '	' -X compression.codec=lz4 -X linger.ms=100 -l "$W.keyed.txt" \
    >"$RUN/kcat-p.log" 2>&1 || die "kcat -P failed: $(tail -n 3 "$RUN/kcat-p.log")"
KCAT_P_EPS=$(calc "$N * 1000 / ($(now_ms) - $t0)")

say "limits: consuming them (kcat -C -e -q -o beginning)"
t0=$(now_ms)
KCAT_N=$(kcat -C -b "$BROKERS" -t events -e -q -o beginning 2>"$RUN/kcat-c.log" | wc -l)
KCAT_MS=$(($(now_ms) - t0))
KCAT_EPS=$(calc "$KCAT_N * 1000 / $KCAT_MS")
[ "$KCAT_N" -eq "$N" ] ||
    echo "bench: WARNING: devbroker holds $KCAT_N of $N messages (partitions overflowed; raise BENCH_PARTITIONS)"
NLIVE=$KCAT_N

# ---- 2. live ------------------------------------------------------------------------------

say "live: engwatchd over the $NLIVE pre-produced messages"
rcli flushall >/dev/null
python3 "$BU" cmdstats --port "$RP" --out "$RUN/cs0.json" || die "INFO failed"
HP=$(free_port)
t_start=$(now_ms)
start_daemon live "$HP" --set kafka.group=bench-live
LIVE_PID=$DPID
python3 "$BU" wait-applied --port "$RP" --prefix ew: --n "$NLIVE" --timeout 400 --stall 60 --pid "$LIVE_PID" \
    --timeline "$RUN/live.timeline" >"$RUN/live.poll" ||
    echo "bench: WARNING: live run incomplete: $(cat "$RUN/live.poll")"
kill -0 "$LIVE_PID" 2>/dev/null || die "engwatchd exited during the live run: $(tail -n 5 "$RUN/live.log")"
LIVE_RSS=$(vmhwm_mb "$LIVE_PID")
LIVE_CPU=$(cpu_s "$LIVE_PID")
python3 "$BU" cmdstats --port "$RP" --out "$RUN/cs1.json"
LIVE_BATCHES=""
if [ "$HAVE_HTTP" = 1 ] &&
    python3 "$BU" scrape --url "http://127.0.0.1:$HP/metrics" --out "$RUN/live.prom" 2>/dev/null; then
    LIVE_BATCH=$(batch_line "$RUN/live.prom")
    LIVE_BATCHES=$(kv count "$RUN/live.prom.be")
else
    LIVE_BATCH="n/a (no /metrics)"
fi
LIVE_EPS=$(kv eps "$RUN/live.poll")
LIVE_STEADY=$(kv eps_steady "$RUN/live.poll")
LIVE_APPLIED=$(kv last_n "$RUN/live.poll")
LIVE_SECS=$(calc "$(kv last_t "$RUN/live.poll") - $(kv first_t "$RUN/live.poll")" 2)
LIVE_STARTUP=$(calc "$(kv first_t "$RUN/live.poll") - $t_start / 1000" 2)
POLLS=$(kv polls "$RUN/live.poll")
python3 "$BU" cmddiff "$RUN/cs0.json" "$RUN/cs1.json" --events "$LIVE_APPLIED" --own "hgetall=$POLLS" \
    >"$RUN/live.cmds"
CMDS_PER_EVENT=$(kv per_event "$RUN/live.cmds")
GETS=$(awk '$1 == "get" { print $2 }' "$RUN/live.cmds")
PER_BATCH=$(per_batch "$RUN/live.prom" "$LIVE_BATCHES" "$GETS")
NET_IN=$(kv net_in_per_event "$RUN/live.cmds")
NET_OUT=$(kv net_out_per_event "$RUN/live.cmds")
REDIS_US=$(kv cpu_us_per_event "$RUN/live.cmds")
LIVE_US=$(calc "$LIVE_CPU * 1000000 / $LIVE_APPLIED" 1)
LIVE_ACCOUNTS=$(python3 "$BU" accounts --port "$RP" --prefix ew:)
MEM0=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["used_memory"])' "$RUN/cs0.json")
MEM1=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["used_memory"])' "$RUN/cs1.json")
LIVE_MEM_MB=$(calc "($MEM1 - $MEM0) / 1048576" 1)
LIVE_BYTES_ACCT=$(calc "($MEM1 - $MEM0) / ($LIVE_ACCOUNTS > 0 ? $LIVE_ACCOUNTS : 1)")
t0=$(now_ms)
stop_pid "$LIVE_PID"
LIVE_STOP_MS=$(($(now_ms) - t0))
say "live: $LIVE_EPS ev/s (first -> last applied over $LIVE_SECS s), RSS $LIVE_RSS MB"

# ---- 3. latency at a fixed offered rate ---------------------------------------------------

RATE=$(calc "$LIVE_EPS / 2")
[ "$RATE" -ge 100 ] || RATE=100
NLAT=$(calc "$RATE * $LAT_SECONDS")
[ "$NLAT" -le "$N" ] || NLAT=$N
head -n "$NLAT" "$W.keyed.txt" >"$RUN/lat.txt"
python3 "$BU" burst --account benchburst00001 --post pbenchburst01 --after "$RUN/lat.txt" >"$RUN/burst.txt"
cat "$RUN/burst.txt" >>"$RUN/lat.txt"
NLAT_ALL=$(wc -l <"$RUN/lat.txt")
say "latency: $NLAT events at $RATE ev/s (50% of live) + a 61-event comment burst, new topic"
rcli flushall >/dev/null
python3 "$BU" cmdstats --port "$RP" --out "$RUN/cs2.json"
HP=$(free_port)
# fetch.wait.max.ms=10: the mock broker holds a fetch that finds no data for the whole
# fetch.wait.max.ms (500 ms by default) even when data arrives meanwhile; a real broker
# answers as soon as data is there.
start_daemon lat "$HP" --set kafka.group=bench-lat --set kafka.topics=lat \
    --set kafka.properties.fetch.wait.max.ms=10
LAT_PID=$DPID
wait_until 60 "grep -q 'assigned [0-9]* partition' $RUN/lat.log" ||
    die "engwatchd did not get its partitions: $(tail -n 5 "$RUN/lat.log")"
sleep 1
spawn alertwait python3 "$BU" wait-alert --port "$RP" --prefix ew: --account benchburst00001 \
    --ready "$RUN/alert.ready" --timeout $((LAT_SECONDS * 2 + 40))
ALERT_PID=$SPAWNED
wait_until 10 "[ -e $RUN/alert.ready ]" || die "wait-alert did not start"
# the positions polled every 10 ms, for an outside measure of produce -> applied
spawn latpoll python3 "$BU" wait-applied --port "$RP" --prefix ew: --n "$NLAT_ALL" \
    --interval 0.01 --timeout $((LAT_SECONDS * 3 + 60)) --pid "$LAT_PID" \
    --timeline "$RUN/lat.timeline"
LATPOLL_PID=$SPAWNED
# linger.ms=20 (librdkafka's default is 5): devbroker hands out one produce batch per partition
# and fetch, and spends its CPU per batch, so at 5 ms the tiny batches (~10 messages a partition
# at 120k/s over 64 partitions) made the mock use more CPU than engwatchd (4.6 s of 6) and
# capped what a consumer could read.  The linger is part of every measured delay.
"$TOOLS/produce" -b "$BROKERS" -t lat -r "$RATE" -i "$RUN/lat.txt" -T "$RUN/produce.timeline" \
    -X linger.ms=$LAT_LINGER -q >"$RUN/produce.out" 2>"$RUN/produce.err" ||
    die "produce failed: $(cat "$RUN/produce.out" "$RUN/produce.err")"
LAST_TS=$(kv last_ts "$RUN/produce.out")
PROD_RATE=$(kv rate "$RUN/produce.out")
wait "$ALERT_PID" 2>/dev/null
untrack "$ALERT_PID"
ALERT_MS=$(kv alert_ms "$RUN/alertwait.log")
if [ -n "$ALERT_MS" ] && [ "$ALERT_MS" != none ]; then
    CAMPAIGN_MS=$((ALERT_MS - LAST_TS))
else
    CAMPAIGN_MS="n/a (no alert about the burst account in ew:outbox)"
fi
wait "$LATPOLL_PID" 2>/dev/null ||
    echo "bench: WARNING: latency run incomplete: $(cat "$RUN/latpoll.log")"
untrack "$LATPOLL_PID"
python3 "$BU" lagdist --produced "$RUN/produce.timeline" --applied "$RUN/lat.timeline" \
    >"$RUN/lat.outside" 2>&1
EXT_P50=$(kv p50 "$RUN/lat.outside")
EXT_P99=$(kv p99 "$RUN/lat.outside")
EXT_MAX=$(kv max "$RUN/lat.outside")
sleep 0.3 # the histogram is published after the batch
LAT_BATCH="n/a (no /metrics)"
if [ "$HAVE_HTTP" = 1 ]; then
    if python3 "$BU" scrape --url "http://127.0.0.1:$HP/metrics" --out "$RUN/lat.prom" \
        2>"$RUN/lat.metrics"; then
        python3 "$BU" metrics --url "file://$RUN/lat.prom" >"$RUN/lat.metrics" 2>&1
        LAT_BATCH=$(batch_line "$RUN/lat.prom")
    else
        echo "n/a reason=$(tr ' ' _ <"$RUN/lat.metrics")" >"$RUN/lat.metrics"
    fi
fi
if [ "$HAVE_HTTP" = 0 ]; then
    echo "n/a reason=no_http.listen_setting" >"$RUN/lat.metrics"
    P50="n/a"
    P99="n/a"
    PMAX="n/a (this build has no HTTP module: no http.listen, no /metrics)"
elif grep -q '^n/a' "$RUN/lat.metrics"; then
    why=$(kv reason "$RUN/lat.metrics")
    case $why in no_engwatch_apply_delay_ms*) why="/metrics does not export engwatch_apply_delay_ms yet" ;; esac
    P50="n/a"
    P99="n/a"
    PMAX="n/a ($why)"
else
    P50=$(kv p50 "$RUN/lat.metrics")
    P99=$(kv p99 "$RUN/lat.metrics")
    PMAX=$(kv max "$RUN/lat.metrics")
fi
LAT_RSS=$(vmhwm_mb "$LAT_PID")
python3 "$BU" cmdstats --port "$RP" --out "$RUN/cs3.json"
stop_pid "$LAT_PID"
python3 "$BU" cmddiff "$RUN/cs2.json" "$RUN/cs3.json" --events "$NLAT_ALL" \
    --own "hgetall=$(kv polls "$RUN/latpoll.log")" >"$RUN/lat.cmds"
HG=$(awk '$1 == "get" { print $2 }' "$RUN/lat.cmds")
NB=$(kv count "$RUN/lat.prom.be" 2>/dev/null)
LAT_PER_BATCH=$(per_batch "$RUN/lat.prom" "$NB" "$HG")
# how fast a plain consumer reads this topic back: devbroker's ceiling for small produce batches
t0=$(now_ms)
n=$(kcat -C -b "$BROKERS" -t lat -e -q -o beginning 2>/dev/null | wc -l)
LAT_KCAT=$(calc "$n * 1000 / ($(now_ms) - $t0)")
say "latency: p50 $P50 ms, p99 $P99 ms; burst -> alert $CAMPAIGN_MS ms"

# ---- 4. replay ----------------------------------------------------------------------------

say "replay: engwatchd replay of $W.jsonl.gz"
rcli flushall >/dev/null
spawn replay python3 "$BU" run --rusage "$RUN/replay.rusage" -- "$ENGWATCHD" replay -c "$CONF" \
    --set redis.port="$RP" -o /dev/null "$W.jsonl.gz"
wait "$SPAWNED" || die "replay failed: $(tail -n 5 "$RUN/replay.log")"
untrack "$SPAWNED"
REPLAY_EPS=$(sed -n 's/^ *rate *\([0-9]*\) events\/s.*/\1/p' "$RUN/replay.log")
REPLAY_SECS=$(sed -n 's/^ *elapsed *\([0-9.]*\) s.*/\1/p' "$RUN/replay.log")
REPLAY_ALERTS=$(sed -n 's/^ *alerts *\([0-9]*\)$/\1/p' "$RUN/replay.log")
REPLAY_RSS=$(calc "$(kv maxrss_kb "$RUN/replay.rusage") / 1024")
say "replay: ${REPLAY_EPS:-?} ev/s"

# ---- 5. scaling ---------------------------------------------------------------------------

say "scaling: $SCALE_EVENTS events at 1x, 4x, 16x $SCALE_BASE accounts (replay, state kept)"
: >"$RUN/scale.txt"
for k in 1 4 16; do
    A=$((SCALE_BASE * k))
    S=$WORK/scale-a${A}-e${SCALE_EVENTS}-s$SEED.jsonl.gz
    if [ ! -s "$S" ]; then
        # gen makes ~6.8 events per account-hour: ask for 25% more hours than needed (gen
        # wants 12 h at least); the first SCALE_EVENTS events (in time order) are kept
        H=$(calc "$SCALE_EVENTS / ($A * 6.8) * 1.25" 2)
        H=$(calc "$H < 12 ? 12 : $H" 2)
        t0=$(now_ms)
        python3 "$ROOT/tools/gen" --seed "$SEED" --accounts "$A" --hours "$H" --quiet \
            --out "$RUN/scale.jsonl" --labels "$RUN/scale.labels.jsonl" ||
            die "tools/gen --accounts $A failed"
        head -n "$SCALE_EVENTS" "$RUN/scale.jsonl" | gzip -c >"$S.tmp" && mv -f "$S.tmp" "$S"
        rm -f "$RUN/scale.jsonl"
        say "scaling: generated $A accounts ($H h) in $(calc "($(now_ms) - $t0) / 1000" 1) s"
    fi
    rcli flushall >/dev/null
    m0=$(python3 "$BU" memory --port "$RP")
    spawn "scale$k" python3 "$BU" run --rusage "$RUN/scale$k.rusage" -- "$ENGWATCHD" replay -c "$CONF" \
        --set redis.port="$RP" --set replay.namespace="bs$k:" --keep-state -o /dev/null "$S"
    wait "$SPAWNED" || die "replay of $S failed: $(tail -n 5 "$RUN/scale$k.log")"
    untrack "$SPAWNED"
    m1=$(python3 "$BU" memory --port "$RP")
    acc=$(python3 "$BU" accounts --port "$RP" --prefix "bs$k:")
    ev=$(sed -n 's/^ *lines read *\([0-9]*\).*/\1/p' "$RUN/scale$k.log")
    eps=$(sed -n 's/^ *rate *\([0-9]*\) events\/s.*/\1/p' "$RUN/scale$k.log")
    rss=$(calc "$(kv maxrss_kb "$RUN/scale$k.rusage") / 1024")
    echo "$k $A $ev $eps $(calc "($m1 - $m0) / 1048576" 1) $acc $(calc "($m1 - $m0) / ($acc > 0 ? $acc : 1)") $rss" \
        >>"$RUN/scale.txt"
    say "scaling: ${k}x ($A accounts): $eps ev/s, RSS $rss MB"
done
rcli flushall >/dev/null

# ---- report -------------------------------------------------------------------------------

mark() { if [ "$(calc "($1) ? 1 : 0")" = 1 ]; then echo PASS; else echo MISS; fi; }
RATIO=$(calc "$LIVE_EPS / ($KCAT_EPS > 0 ? $KCAT_EPS : 1)" 2)
RSS1=$(awk '$1 == 1 { print $8 }' "$RUN/scale.txt")
RSS16=$(awk '$1 == 16 { print $8 }' "$RUN/scale.txt")
case $P99 in n/a*) P99_MARK="n/a" ;; '>'*) P99_MARK=MISS ;; *) P99_MARK=$(mark "$P99 <= 250") ;; esac

cat <<EOF

======================================================================================
engwatch bench  ($(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores; total $(($(date +%s) - BENCH_T0)) s;
                 load average $LOAD0 at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end)
workload: tools/gen --seed $SEED --accounts $ACCOUNTS: $N events ($GEN_NOTE)

limits (same events)
  redis-benchmark HINCRBY -P 64      $REDIS_HINCRBY ops/s
  decoder (decodebench)              $DECODE_EPS ev/s ($DECODE_NS ns/event)
  kcat -P (lz4, linger 100 ms)       $KCAT_P_EPS msg/s
  kcat -C from devbroker             $KCAT_EPS msg/s ($KCAT_N messages in $KCAT_MS ms)

live engwatchd (Kafka -> decode -> store -> detectors -> risk -> outbox)
  events/s, first -> last applied    $LIVE_EPS  ($LIVE_APPLIED applied in $LIVE_SECS s; 10-90%: $LIVE_STEADY/s)
  start-up until first applied       $LIVE_STARTUP s (not counted)
  ratio to kcat -C                   $RATIO
  micro-batches (/metrics)           $LIVE_BATCH
  Redis commands per event           $CMDS_PER_EVENT (INFO commandstats delta, every command of each apply):
$(sed '$d' "$RUN/live.cmds")
  Redis traffic per event            $NET_IN bytes in, $NET_OUT bytes out (the bench's polling included)
  CPU per event                      engwatchd $LIVE_US us (all threads, start-up included), redis-server $REDIS_US us
  accounts per micro-batch           $PER_BATCH
                                     (depends on how the consumer interleaves partitions: it varies
                                      from run to run, and the rate with it)
  peak RSS (VmHWM)                   $LIVE_RSS MB
  Redis memory                       $LIVE_MEM_MB MB for $LIVE_ACCOUNTS accounts with state = $LIVE_BYTES_ACCT bytes/account
  shutdown (SIGTERM -> exit)         $LIVE_STOP_MS ms

latency at $RATE ev/s offered (50% of live; produce achieved $PROD_RATE ev/s, $NLAT_ALL messages;
         producer linger.ms $LAT_LINGER (part of the delay), daemon fetch.wait.max.ms 10 against
         the mock's held fetches)
  produce -> applied (engwatch_apply_delay_ms)  p50 $P50 ms  p99 $P99 ms  max $PMAX ms
    (linear interpolation inside the histogram's buckets: the resolution is its bounds
     0.5 1 2.5 5 10 25 50 100 250 500 1000 2500 5000 10000 ms)
  produce -> applied, measured outside   p50 ${EXT_P50:-?} ms  p99 ${EXT_P99:-?} ms  max ${EXT_MAX:-?} ms
    (positions polled every 10 ms against produce's per-message timestamps, FIFO over
     all partitions: a cross-check, resolution ~10 ms)
  micro-batches (/metrics)           $LAT_BATCH; $LAT_PER_BATCH
  kcat -C of this topic afterwards   $LAT_KCAT msg/s (devbroker's read ceiling for these small produce batches)
  comment burst (60 bots, 1 post) -> alert in ew:outbox: $CAMPAIGN_MS ms after its last event was produced
  peak RSS of this daemon            $LAT_RSS MB

replay ($W.jsonl.gz)
  events/s                           ${REPLAY_EPS:-?} ($N events in ${REPLAY_SECS:-?} s, ${REPLAY_ALERTS:-?} alerts)
  peak RSS                           $REPLAY_RSS MB

scaling ($SCALE_EVENTS events each, replay, state kept in Redis)
  scale  accounts   events    events/s  redis MB  with state  bytes/acct  peak RSS MB
$(awk '{ printf "  %4sx  %8s  %7s  %10s  %8s  %10s  %10s  %11s\n", $1, $2, $3, $4, $5, $6, $7, $8 }' "$RUN/scale.txt")

targets
  live >= 0.5 x kcat                 $(mark "$RATIO >= 0.5")  ($RATIO)
  replay >= 400,000 ev/s             $(mark "${REPLAY_EPS:-0} >= 400000")  (${REPLAY_EPS:-?})
  <= 0.25 Redis commands per event   $(mark "$CMDS_PER_EVENT <= 0.25")  ($CMDS_PER_EVENT)
  RSS <= 128 MB (live)               $(mark "$LIVE_RSS <= 128")  ($LIVE_RSS MB)
  RSS flat as accounts grow          $(mark "$RSS16 <= 1.25 * $RSS1 + 8")  (replay: ${RSS1} MB at 1x, ${RSS16} MB at 16x; flat = within 25% + 8 MB)
  p99 produce -> applied <= 250 ms   $P99_MARK  ($P99 ms)
======================================================================================
EOF
echo "bench: live_eps=$LIVE_EPS kcat_eps=$KCAT_EPS ratio=$RATIO replay_eps=${REPLAY_EPS:-0}" \
    "redis_cmds_per_event=$CMDS_PER_EVENT rss_mb=$LIVE_RSS p99_ms=$(echo "$P99" | sed 's/ .*//')"
exit 0
