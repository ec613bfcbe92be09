#!/usr/bin/env bash
# The HTTP server of a live engwatchd (redis-server + devbroker + engwatchd):
#   - /healthz without a token; the bearer token on everything else (401 with a
#     WWW-Authenticate challenge; a SIGHUP reload changes it); 404, 405, HEAD
#   - /readyz: 503 with a JSON reason while nothing is assigned, 200 once ready
#   - /metrics in the Prometheus text format, checked by a strict parser (and by
#     promtool when it is installed), counters moving with the events consumed
#   - /api/accounts, /api/accounts/{id}, /api/alerts over fixture data written
#     into the keys the Redis sink writes (tests/integration/httpfixture.py)
#   - Redis going away: the API answers 503 with a JSON error
#   - start-up errors: port already in use, a bad http.listen; IPv6 listen
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
FIX="python3 $ROOT/tests/integration/httpfixture.py"
PROMCHECK="python3 $ROOT/tests/integration/promcheck.py"
TOKEN="t0k-$$-s3cret"

start_redis || { not_ok "redis-server starts"; done_testing; exit; }
start_devbroker --partitions 2 --topic events --topic alerts -q ||
    { not_ok "devbroker starts"; done_testing; exit; }
ok "redis-server and devbroker are up"

# The daemon reads its token from a copy of the config (a reload changes it).
cp conf/engwatchd.conf "$T/engwatchd.conf"
cp -r conf/lexicon "$T/lexicon"
set_token() { sed -i "s|^\(  token = \)\"[^\"]*\";\(.*bearer token for every path.*\)|\1\"$1\";\2|" "$T/engwatchd.conf"; }
set_token "$TOKEN"
# Every signal weighs nothing: the traffic below raises no alert, so the API
# sees only the fixture's accounts.
sed -i 's/^\(  weight_[a-z_]*\) = [0-9.]*;/\1 = 0.0;/' "$T/engwatchd.conf"
grep -q "token = \"$TOKEN\"" "$T/engwatchd.conf" || diag "could not set http.token in the config copy"

HTTP_PORT=$(free_port)
URL="http://127.0.0.1:$HTTP_PORT"
spawn daemon "$ENGWATCHD" -c "$T/engwatchd.conf" --set kafka.brokers="$BROKERS" \
    --set redis.port="$REDIS_PORT" --set http.listen="127.0.0.1:$HTTP_PORT" \
    --set kafka.group=http-test --set kafka.properties.session.timeout.ms=6000 \
    --set kafka.properties.heartbeat.interval.ms=1000 --set batch.max_wait=50ms --set log.level=info
D=$SPAWNED

# req NAME [curl args] URL: body in $T/NAME.body, headers in $T/NAME.hdr; prints the status.
req() { local n=$1; shift; curl -s -o "$T/$n.body" -D "$T/$n.hdr" -w '%{http_code}' "$@"; }
auth=(-H "Authorization: Bearer $TOKEN")
# jcheck "description" NAME 'python condition on d (the JSON body of NAME)'
jcheck() {
    check "$1" python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if eval("(" + sys.argv[2] + ")") else 1)' "$T/$2.body" "$3"
}
hdr() { grep -i "^$2:" "$T/$1.hdr" | tr -d '\r'; }

check "the server answers /healthz" wait_until 15 "[ \"\$(req h0 $URL/healthz)\" = 200 ]"
check "it logged where it listens (and that a token is required)" \
    grep -q "listening on 127.0.0.1:$HTTP_PORT (bearer token required)" "$T/daemon.log"

# --- health, token, methods, unknown paths -------------------------------------
st=$(req health "$URL/healthz")
check "/healthz: 200 \"ok\" without a token" [ "$st" = 200 -a "$(cat "$T/health.body")" = ok ]
st=$(req noauth "$URL/metrics")
check "/metrics without the token: 401" [ "$st" = 401 ]
check "... with a WWW-Authenticate: Bearer challenge" grep -qi '^WWW-Authenticate: Bearer' "$T/noauth.hdr"
jcheck "... and a JSON error body" noauth '"error" in d'
st=$(req badauth -H "Authorization: Bearer wrong-$TOKEN" "$URL/api/accounts")
check "a wrong token: 401" [ "$st" = 401 ]
st=$(req basic -u "x:$TOKEN" "$URL/api/accounts")
check "Basic credentials are not a bearer token: 401" [ "$st" = 401 ]
st=$(req withauth "${auth[@]}" "$URL/metrics")
check "/metrics with the token: 200" [ "$st" = 200 ]
st=$(req page "$URL/")
t_page() { [ "$st" = 200 ] && grep -q '<script src="app.js"' "$T/page.body"; }
check "the dashboard page is served without the token (it holds no data)" t_page
check "... as text/html with a Content-Security-Policy" \
    [ -n "$(hdr page Content-Type | grep text/html)" -a -n "$(hdr page Content-Security-Policy)" ]
st=$(req js "$URL/app.js")
t_js() { [ "$st" = 200 -a "$(req css "$URL/style.css")" = 200 ] && hdr js Content-Type | grep -q javascript; }
check "its script and style sheet are embedded too" t_js
st=$(req nf "${auth[@]}" "$URL/no/such/path")
t_nf() { [ "$st" = 404 ] && grep -q '"error"' "$T/nf.body"; }
check "an unknown path: 404 JSON" t_nf
st=$(req nf2 "$URL/nosuchfile.js")
check "an unknown path without the token: 401 (nothing is revealed)" [ "$st" = 401 ]
st=$(req post -X POST -d x=1 "${auth[@]}" "$URL/api/accounts")
t_post() { [ "$st" = 405 ] && hdr post Allow | grep -q 'GET, HEAD'; }
check "POST: 405 with Allow: GET, HEAD" t_post
st=$(req del -X DELETE "$URL/healthz")
check "DELETE: 405" [ "$st" = 405 ]
st=$(curl -s -I -o /dev/null -w '%{http_code} %{size_download}' "${auth[@]}" "$URL/metrics")
check "HEAD /metrics: 200 without a body" [ "$st" = "200 0" ]

# --- readiness ------------------------------------------------------------------
ready_ok() { [ "$(req ready "${auth[@]}" "$URL/readyz")" = 200 ]; }
check "/readyz turns 200 once partitions are assigned and Redis is up" wait_until 60 ready_ok
jcheck "... {ready: true, kafka_assigned: 2, redis_up: true}" ready \
    'd["ready"] is True and d["kafka_assigned"] == 2 and d["redis_up"] is True'

# A second daemon with nothing reachable stays unready, and says why.
DEAD_PORT=$(free_port)
H2=$(free_port)
spawn unready "$ENGWATCHD" -c conf/engwatchd.conf --set kafka.brokers=127.0.0.1:$DEAD_PORT \
    --set redis.port="$DEAD_PORT" --set http.listen="127.0.0.1:$H2" --set kafka.group=unready
U=$SPAWNED
wait_until 15 "[ \"\$(req u0 http://127.0.0.1:$H2/healthz)\" = 200 ]"
st=$(req unready "http://127.0.0.1:$H2/readyz")
check "/readyz without Kafka and Redis: 503" [ "$st" = 503 ]
jcheck "... with a JSON reason naming both" unready \
    'd["ready"] is False and "Kafka" in d["reason"] and "Redis" in d["reason"]'
st=$(req deadredis "http://127.0.0.1:$H2/api/accounts")
check "the API with Redis unreachable: 503" [ "$st" = 503 ]
jcheck "... with a JSON error" deadredis '"redis" in d["error"].lower()'
stop_pid "$U" TERM

# --- /metrics ---------------------------------------------------------------------
REQUIRED=engwatch_messages_total,engwatch_events_total,engwatch_rejects_total,engwatch_dead_letters_total
REQUIRED=$REQUIRED,engwatch_late_events_total,engwatch_batches_total,engwatch_batch_duration_ms
REQUIRED=$REQUIRED,engwatch_batch_events,engwatch_redis_roundtrip_ms,engwatch_redis_up
REQUIRED=$REQUIRED,engwatch_kafka_assigned_partitions,engwatch_consumer_lag,engwatch_alerts_total
REQUIRED=$REQUIRED,engwatch_sink_delivered_total,engwatch_sink_errors_total,engwatch_sink_retries_total
REQUIRED=$REQUIRED,engwatch_sink_lost_total,engwatch_sink_lag,process_resident_memory_bytes
REQUIRED=$REQUIRED,process_start_time_seconds

# Some traffic so the counters move: 20 comments, 5 likes, 2 malformed messages.
python3 - "$T/ev.txt" <<'PY'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(25):
        e = {"id": "h%04d" % i, "type": "comment" if i < 20 else "like", "ts": 1767600000000 + i * 1000,
             "account": "acct%d" % (i % 3), "actor": "fan%d" % i, "post": "p1"}
        if i < 20:
            e["text"] = "nice"
        f.write("acct%d\t%s\n" % (i % 3, json.dumps(e)))
    f.write("acct0\t{not json\n")
    f.write('acct1\t{"id":"x","type":"retweet","ts":1767600000000,"account":"acct1"}\n')
PY
kcat -P -b "$BROKERS" -t events -K $'\t' -l "$T/ev.txt"
metric() { grep -E "^$1 " "$T/metrics.body" | awk '{print $2}'; }
scrape() { req metrics "${auth[@]}" "$URL/metrics" >/dev/null; }
consumed() { scrape; [ "$(metric engwatch_messages_total)" = 27 ]; }
check "engwatch_messages_total counts the 27 messages consumed" wait_until 30 consumed
check "the body is the Prometheus text format 0.0.4 (strict parser, every family present)" \
    $PROMCHECK --require "$REQUIRED" "$T/metrics.body"
check "Content-Type: text/plain; version=0.0.4" \
    sh -c "grep -qi '^Content-Type: text/plain; version=0.0.4' '$T/metrics.hdr'"
check "events by type: 20 comments, 5 likes" \
    [ "$(metric 'engwatch_events_total\{type="comment"\}')" = 20 -a \
      "$(metric 'engwatch_events_total\{type="like"\}')" = 5 ]
check "rejects by reason: bad_json 1, unknown_type 1" \
    [ "$(metric 'engwatch_rejects_total\{reason="bad_json"\}')" = 1 -a \
      "$(metric 'engwatch_rejects_total\{reason="unknown_type"\}')" = 1 ]
check "batches counted, with a batch-size histogram whose count matches" \
    [ "$(metric engwatch_batches_total)" -ge 1 -a \
      "$(metric engwatch_batch_events_count)" = "$(metric engwatch_batches_total)" ]
check "engwatch_redis_up 1, engwatch_kafka_assigned_partitions 2" \
    [ "$(metric engwatch_redis_up)" = 1 -a "$(metric engwatch_kafka_assigned_partitions)" = 2 ]
check "a consumer lag per partition (labelled topic:partition)" \
    [ "$(grep -c '^engwatch_consumer_lag{partition="events:[01]"} ' "$T/metrics.body")" = 2 ]
now=$(date +%s); st=$(metric process_start_time_seconds); rss=$(metric process_resident_memory_bytes)
check "process_start_time_seconds is this run's start, RSS is positive" \
    [ "$st" -le "$now" -a "$st" -gt $((now - 600)) -a "$rss" -gt 0 ]
printf '# HELP x y\n# TYPE x histogram\nx_bucket{le="1"} 2\nx_bucket{le="+Inf"} 1\nx_sum 0\nx_count 1\n' \
    >"$T/broken.prom"
check "the strict parser rejects a non-monotonic histogram (it is not a rubber stamp)" \
    sh -c "! $PROMCHECK '$T/broken.prom' >/dev/null"
if command -v promtool >/dev/null 2>&1; then
    # promtool also lints names; the _ms units of two histograms are our naming choice.
    promtool check metrics <"$T/metrics.body" >"$T/promtool.out" 2>&1
    check "promtool check metrics finds no problem but the _ms unit names" \
        sh -c "! grep -v 'abbreviated units' '$T/promtool.out' | grep -q ."
else
    diag "promtool not installed: the strict python parser alone checked /metrics"
fi

# --- the JSON API over fixture data -----------------------------------------------
$FIX load --port "$REDIS_PORT" >"$T/fixture.json" || not_ok "fixture loaded"
st=$(req accounts "${auth[@]}" "$URL/api/accounts")
check "/api/accounts: 200" [ "$st" = 200 ]
check "... application/json" sh -c "grep -qi '^Content-Type: application/json' '$T/accounts.hdr'"
jcheck "... every fixture account" accounts \
    'isinstance(d, list) and len(d) == 6'
jcheck "... highest risk first" accounts '[a["risk"] for a in d] == sorted([a["risk"] for a in d], reverse=True)'
jcheck "... the top one with risk, level, signals, last alert and incident from the sink's keys" accounts \
    'd[0] == {"account": "u4821337001", "risk": 86.5, "level": "critical", "signal": "hollow_comments",
              "signals": ["comment_burst", "hollow_comments"], "last_alert_ts": 1767608460000,
              "incident": "inc0001"}'
jcheck "... an account without an alert hash: level none, no signals" accounts \
    'd[-1]["account"] == "u4821337005" and d[-1]["level"] == "none" and d[-1]["signals"] == []'
st=$(req acc2 "${auth[@]}" "$URL/api/accounts?limit=2")
jcheck "?limit=2: the top two" acc2 '[a["account"] for a in d] == ["u4821337001", "u4821337002"]'
check "?limit=0, ?limit=1001, ?limit=x: 400" \
    [ "$(req l0 "${auth[@]}" "$URL/api/accounts?limit=0")" = 400 -a \
      "$(req l1 "${auth[@]}" "$URL/api/accounts?limit=1001")" = 400 -a \
      "$(req l2 "${auth[@]}" "$URL/api/accounts?limit=x")" = 400 ]

st=$(req one "${auth[@]}" "$URL/api/accounts/u4821337001")
check "/api/accounts/{id}: 200" [ "$st" = 200 ]
jcheck "... risk as of its last update (event time), level and incident" one \
    'd["risk"] == 86.5 and d["risk_basis"] == "last_update" and d["risk_updated_ts"] == 1767610800000
     and d["level"] == "critical" and d["incident"] == "inc0001" and d["incident_opened_ts"] == 1767606960000'
jcheck "... risk decayed to the watermark is lower (half-life)" one '0 < d["risk_at_watermark"] < 86.5'
jcheck "... the latest alert and its recent alerts, newest first, only its own" one \
    'd["latest_alert"]["signal"] == "hollow_comments" and len(d["recent_alerts"]) == 2
     and [x["alert"]["signal"] for x in d["recent_alerts"]] == ["hollow_comments", "comment_burst"]
     and all(x["alert"]["account"] == "u4821337001" for x in d["recent_alerts"])
     and d["recent_alerts"][0]["id"] > d["recent_alerts"][1]["id"]'
jcheck "... the evidence travels with the alerts (sample comment ids and texts)" one \
    'd["recent_alerts"][1]["alert"]["evidence"]["samples"][1] == {"id": "e00000000000901", "text": "nice!!"}'
jcheck "... series: 288 five-minute buckets ending at the watermark's bucket" one \
    'len(d["series"]["bucket_start"]) == 288 and d["series"]["bucket_ms"] == 300000
     and d["series"]["resolution"] == 1 and d["series"]["watermark"] == 1767614400000
     and d["series"]["bucket_start"][-1] == 1767614400000 // 300000 * 300000
     and all(b - a == 300000 for a, b in zip(d["series"]["bucket_start"], d["series"]["bucket_start"][1:]))
     and all(len(d["series"][k]) == 288 for k in ("comments", "hollow", "follows", "unfollows", "likes"))'
python3 - "$T/expected_series.json" <<'PY'
# The expected account-level counts, recomputed from the fixture generator.
import json, sys
sys.path.insert(0, "tests/integration")
import httpfixture as fx
f = fx.series_fields("burst")
last = fx.idx(fx.T0)
out = {}
for m, name in (("c", "comments"), ("h", "hollow"), ("f", "follows"), ("u", "unfollows"), ("l", "likes")):
    out[name] = [f.get("%s@1:%d" % (m, i), 0) for i in range(last - 287, last + 1)]
json.dump(out, open(sys.argv[1], "w"))
PY
check "... counts per bucket equal the window hash's packed 1:IDX fields (post-level, other resolutions and >24 h ignored)" \
    python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))["series"]; e = json.load(open(sys.argv[2]))
sys.exit(0 if all(d[k] == e[k] for k in e) and d["comments"][-25] == 243 and d["hollow"][-25] == 202 else 1)' \
    "$T/one.body" "$T/expected_series.json"
st=$(req odd "${auth[@]}" "$URL/api/accounts/kol%2F%E5%B0%8F%E7%BA%A2%20%3Cb%3E%26%22x%22")
check "a URL-encoded id (/, CJK, space, <, &, \") is decoded: 200" [ "$st" = 200 ]
jcheck "... and comes back as the same string; its one-field-a-metric layout (c@1:IDX) is read too" odd \
    'd["account"] == "kol/小红 <b>&\"x\"" and d["series"]["comments"][-1] > 0 and sum(d["series"]["hollow"]) > 0'
st=$(req unknown "${auth[@]}" "$URL/api/accounts/nobody-here")
t_unknown() { [ "$st" = 404 ] && grep -q '"error"' "$T/unknown.body"; }
check "an unknown account: 404 JSON" t_unknown

st=$(req alerts "${auth[@]}" "$URL/api/alerts")
check "/api/alerts: 200" [ "$st" = 200 ]
jcheck "... every fixture alert, oldest first, with its stream id and the alert object" alerts \
    'len(d["alerts"]) == 7 and d["last_id"] == d["alerts"][-1]["id"]
     and [a["alert"]["ts"] for a in d["alerts"]] == sorted(a["alert"]["ts"] for a in d["alerts"])
     and all(isinstance(a["alert"], dict) and a["alert"]["alert_id"] for a in d["alerts"])'
third=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["alerts"][2]["id"])' "$T/alerts.body")
last=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["last_id"])' "$T/alerts.body")
req since "${auth[@]}" "$URL/api/alerts?since=$third" >/dev/null
jcheck "?since=ID is exclusive: the 4 after the third" since \
    "len(d['alerts']) == 4 and d['alerts'][0]['id'] > '$third' and d['last_id'] == '$last'"
req tail2 "${auth[@]}" "$URL/api/alerts?limit=2" >/dev/null
jcheck "?limit=2 without since: the newest two, oldest first" tail2 \
    "len(d['alerts']) == 2 and d['alerts'][1]['id'] == '$last'"
req none "${auth[@]}" "$URL/api/alerts?since=$last" >/dev/null
jcheck "?since=last_id: nothing new, last_id unchanged" none "d == {'alerts': [], 'last_id': '$last'}"
new=$($FIX xadd --port "$REDIS_PORT" u4821337004 comment_burst critical)
req more "${auth[@]}" "$URL/api/alerts?since=$last" >/dev/null
jcheck "a new stream entry shows up after last_id" more \
    "[a['id'] for a in d['alerts']] == ['$new'] and d['last_id'] == '$new'"
check "?since=garbage: 400" [ "$(req bad "${auth[@]}" "$URL/api/alerts?since=1-2-3")" = 400 ]

# --- reload: a new token -----------------------------------------------------------------
set_token "n3w-$TOKEN"
kill -HUP "$D"
check "after SIGHUP the new token is required" \
    wait_until 20 "[ \"\$(req r1 -H 'Authorization: Bearer n3w-$TOKEN' $URL/api/alerts)\" = 200 ]"
check "... and the old one refused" [ "$(req r2 "${auth[@]}" "$URL/api/alerts")" = 401 ]
auth=(-H "Authorization: Bearer n3w-$TOKEN")

# --- Redis goes away -----------------------------------------------------------------------
stop_pid "$REDIS_PID" TERM
st=$(req gone "${auth[@]}" "$URL/api/alerts")
check "Redis stopped: /api/alerts answers 503" [ "$st" = 503 ]
jcheck "... with a JSON error" gone '"error" in d'
check "... /api/accounts/{id} too" [ "$(req gone2 "${auth[@]}" "$URL/api/accounts/u4821337001")" = 503 ]
check "/healthz still 200" [ "$(req h2 "$URL/healthz")" = 200 ]
check "/metrics still served" [ "$(req m2 "${auth[@]}" "$URL/metrics")" = 200 ]

# --- start-up errors and IPv6 -------------------------------------------------------------
"$ENGWATCHD" -c conf/engwatchd.conf --set kafka.brokers="$BROKERS" --set redis.port="$REDIS_PORT" \
    --set http.listen="127.0.0.1:$HTTP_PORT" --set kafka.group=clash >"$T/clash.log" 2>&1
rc=$?
check "a second daemon on the same port exits non-zero" [ "$rc" -ne 0 ]
check "... saying the address is in use" grep -q "cannot listen on 127.0.0.1:$HTTP_PORT: Address already in use" "$T/clash.log"
"$ENGWATCHD" -c conf/engwatchd.conf --set kafka.brokers="$BROKERS" --set http.listen=127.0.0.1:99999 \
    --set kafka.group=bad >"$T/badport.log" 2>&1
rc=$?
t_badport() { [ "$rc" -ne 0 ] && grep -q 'port must be 0..65535' "$T/badport.log"; }
check "http.listen with a bad port: start-up error" t_badport
if python3 -c 'import socket; s = socket.socket(socket.AF_INET6); s.bind(("::1", 0))' 2>/dev/null; then
    H6=$(free_port)
    spawn v6 "$ENGWATCHD" -c conf/engwatchd.conf --set kafka.brokers="$BROKERS" \
        --set http.listen="[::1]:$H6" --set kafka.group=v6
    V6=$SPAWNED
    check "http.listen=[::1]:PORT serves over IPv6" \
        wait_until 15 "[ \"\$(req v6 -g http://[::1]:$H6/healthz)\" = 200 ]"
    stop_pid "$V6" TERM
else
    ok "# SKIP no IPv6 loopback"
fi

stop_pid "$D" TERM; rc=$?
check "SIGTERM: the daemon (and its HTTP threads) exit 0" [ "$rc" -eq 0 ]
done_testing
