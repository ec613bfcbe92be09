#!/usr/bin/env bash
# The dashboard in a real browser: headless Chromium against a live engwatchd
# whose Redis holds fixture accounts and alerts (tests/integration/httpfixture.py).
#   - the page renders the suspicious accounts in its table, highest risk first,
#     and the alerts in its live feed; names are text, never markup
#   - the highest-risk account opens in the detail panel: three SVG charts of its
#     24 h window and the evidence of its alerts (sample comment ids and texts)
#   - the feed updates without a reload: an alert added while the page runs (right
#     after its first feed read, seen through Redis MONITOR) shows up, marked fresh
#   - with http.token set the page asks for the token and shows no data
#   - a screenshot is kept as $BUILD/test-artifacts/dashboard.png
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
FIX="python3 $ROOT/tests/integration/httpfixture.py"
PLANNED=13

CHROME=""
for c in chromium chromium-browser google-chrome; do
    command -v "$c" >/dev/null 2>&1 && { CHROME=$c; break; }
done
if [ -z "$CHROME" ]; then
    for _ in $(seq 1 $PLANNED); do ok "# SKIP chromium not available (sh tools/deps.sh installs it)"; done
    done_testing
    exit
fi

case "$BUILD" in /*) ART="$BUILD/test-artifacts" ;; *) ART="$ROOT/$BUILD/test-artifacts" ;; esac
mkdir -p "$ART"

start_redis || { not_ok "redis-server starts"; done_testing; exit; }
start_devbroker --partitions 2 --topic events --topic alerts -q ||
    { not_ok "devbroker starts"; done_testing; exit; }
$FIX load --port "$REDIS_PORT" >"$T/fixture.json" || { not_ok "fixture loaded"; done_testing; exit; }

HTTP_PORT=$(free_port)
URL="http://127.0.0.1:$HTTP_PORT/"
spawn daemon "$ENGWATCHD" -c conf/engwatchd.conf --set kafka.brokers="$BROKERS" \
    --set redis.port="$REDIS_PORT" --set http.listen="127.0.0.1:$HTTP_PORT" --set kafka.group=dash
D=$SPAWNED
wait_until 15 "curl -sf ${URL}healthz >/dev/null" || { not_ok "engwatchd serves HTTP"; done_testing; exit; }
ok "redis-server, devbroker and engwatchd (with fixture data) are up"

# chrome OUT-ARGS... URL: one headless run with its own profile; output in $T/chrome-N.log.
runs=0
chrome() {
    runs=$((runs + 1))
    timeout 120 "$CHROME" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$T/chrome-$runs" --virtual-time-budget=8000 "$@" 2>"$T/chrome-$runs.log"
}

# A watcher injects one more alert right after the page's first read of the
# feed (XREVRANGE ... COUNT 100 in Redis MONITOR): the page can only show it
# through a later ?since= poll.
cat >"$T/inject.py" <<'PY'
import json, socket, sys
sys.path.insert(0, sys.argv[3])
import httpfixture as fx
port, out = int(sys.argv[1]), sys.argv[2]
mon = socket.create_connection(("127.0.0.1", port))
mon.sendall(b"MONITOR\r\n")
buf = b""
while True:
    data = mon.recv(65536)
    if not data:
        sys.exit(1)
    buf += data
    lines = buf.split(b"\r\n")
    buf = lines.pop()
    if any(b'"XREVRANGE" "ew:alerts"' in l and b'"100"' in l for l in lines):
        break
r = fx.Redis(port)
acct = "u7770000777"
al = fx.alert(acct, "comment_burst", "critical", fx.T0 + 120000, 93.0, 97.0, "p000000000777",
              fx.burst_evidence(), 77)
sid, _, _, _ = r.pipeline([["XADD", "ew:alerts", "*", "alert", json.dumps(al, ensure_ascii=False)],
                        ["ZADD", "ew:risk", 93.0, acct],
                        ["HSET", "ew:alert:{%s}" % acct, "latest", json.dumps(al), "incident", "inc0077",
                         "level", "critical", "risk", 93.0, "ts", al["ts"], "signal", "comment_burst",
                         "signals", '["comment_burst"]'],
                        ["SET", "ew:{%s}" % acct,
                         fx.state_encode(dict(fx.pack(fx.series_fields("burst")), wm=fx.T0))]])
open(out, "w").write(sid + "\n")
PY
spawn inject python3 "$T/inject.py" "$REDIS_PORT" "$T/injected" "$ROOT/tests/integration"
wait_until 10 "rcli client list | grep -q cmd=monitor" || diag "the MONITOR watcher did not connect"

chrome --dump-dom "$URL" >"$T/dom.html"
check "chromium dumped the page's DOM" [ -s "$T/dom.html" ]
check "the watcher injected an alert while the page ran" [ -s "$T/injected" ]

# What the page shows, read from the dumped DOM.
cat >"$T/domcheck.py" <<'PY'
import json, sys
from html.parser import HTMLParser

class P(HTMLParser):
    def __init__(self):
        super().__init__()
        self.stack = []
        self.out = {"rows": [], "feed": [], "fresh": [], "detail": None, "charts": [], "bars": 0,
                    "cards": 0, "sample_texts": [], "markup_in_table": 0, "auth_hidden": None,
                    "sorted": None}
    def inside(self, id_):
        return any(a.get("id") == id_ for _, a in self.stack)
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        cls = (a.get("class") or "").split()
        if tag == "tr" and self.inside("accounts-body"):
            self.out["rows"].append(a.get("data-account"))
        if tag == "b" and self.inside("accounts-body"):
            self.out["markup_in_table"] += 1
        if tag == "li" and "feed-item" in cls:
            self.out["feed"].append(a.get("data-account"))
            if "fresh" in cls:
                self.out["fresh"].append(a.get("data-account"))
        if a.get("id") == "detail-body":
            self.out["detail"] = a.get("data-account")
        if tag == "figure" and "chart" in cls:
            self.out["charts"].append(a.get("data-series"))
        if tag == "rect" and self.inside("detail-body") and not a.get("class"):
            self.out["bars"] += 1
        if tag == "article" and "alert-card" in cls:
            self.out["cards"] += 1
        if a.get("id") == "auth":
            self.out["auth_hidden"] = "hidden" in a
        if tag == "th" and "sorted" in cls:
            self.out["sorted"] = (a.get("data-key"), a.get("data-dir"))
        if tag not in ("br", "img", "input", "meta", "link", "hr", "col", "source"):
            self.stack.append((tag, a))
    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break
    def handle_data(self, data):
        if self.stack and self.stack[-1][0] == "span" and "stext" in (self.stack[-1][1].get("class") or ""):
            self.out["sample_texts"].append(data)

p = P()
p.feed(open(sys.argv[1], encoding="utf-8").read())
json.dump(p.out, open(sys.argv[2], "w"), ensure_ascii=False)
PY
python3 "$T/domcheck.py" "$T/dom.html" "$T/dom.json"
# dcheck "description" 'python condition on d (what the page shows) and f (the fixture summary)'
dcheck() {
    check "$1" python3 -c 'import json, sys
d = json.load(open(sys.argv[1])); f = json.load(open(sys.argv[2]))
ok = eval("(" + sys.argv[3] + ")")
if not ok: print("# page:", json.dumps(d, ensure_ascii=False)[:1500])
sys.exit(0 if ok else 1)' "$T/dom.json" "$T/fixture.json" "$2"
}
dcheck "every injected suspicious account is in the table" 'all(a in d["rows"] for a in f["accounts"])'
dcheck "... highest risk first (the live-injected one on top after the refresh)" \
    'd["rows"][:3] == ["u7770000777", "u4821337001", "u4821337002"] and d["sorted"] == ["risk", "desc"]'
dcheck "... an account name with <b>, & and quotes is shown as text, not markup" \
    'd["markup_in_table"] == 0 and "kol/小红 <b>&\"x\"" in d["rows"]'
dcheck "every fixture alert is in the live feed" \
    'len(d["feed"]) == f["alerts"] + 1 and all(a in d["feed"] for a in f["accounts"])'
dcheck "the alert added while the page ran arrived by polling, without a reload (marked fresh)" \
    'd["fresh"] == ["u7770000777"] and d["feed"][0] == "u7770000777"'
dcheck "the top account opens in the detail panel with its three charts" \
    'd["detail"] in ("u4821337001", "u7770000777") and d["charts"] == ["comments", "hollow", "follows"]'
dcheck "... the charts have bars and the evidence cards show sample comments" \
    'd["bars"] > 50 and d["cards"] >= 1 and "nice!!" in d["sample_texts"] and "支持支持" in d["sample_texts"]'

# The screenshot, at a fixed account so that it shows charts and evidence.
rm -f "$ART/dashboard.png"
chrome --screenshot="$ART/dashboard.png" --window-size=1400,900 "${URL}#account=u4821337001" >/dev/null
check "a 1400x900 screenshot is saved as $BUILD/test-artifacts/dashboard.png" python3 -c 'import struct, sys
b = open(sys.argv[1], "rb").read()
w, h = struct.unpack(">II", b[16:24])
sys.exit(0 if b[:8] == b"\x89PNG\r\n\x1a\n" and (w, h) == (1400, 900) and len(b) > 40000 else 1)' \
    "$ART/dashboard.png"

# With a token the page asks for it and shows nothing until given.
H2=$(free_port)
spawn tokend "$ENGWATCHD" -c conf/engwatchd.conf --set kafka.brokers="$BROKERS" \
    --set redis.port="$REDIS_PORT" --set http.listen="127.0.0.1:$H2" --set kafka.group=dash2 \
    --set http.token=dash-secret
wait_until 15 "curl -sf http://127.0.0.1:$H2/healthz >/dev/null"
chrome --dump-dom "http://127.0.0.1:$H2/" >"$T/dom-token.html"
python3 "$T/domcheck.py" "$T/dom-token.html" "$T/dom.json"
dcheck "with http.token set the page asks for the token and shows no data" \
    'd["auth_hidden"] is False and d["rows"] == [] and d["feed"] == []'
stop_pid "$D" TERM; rc=$?
check "the daemon that served the browser exits 0" [ "$rc" -eq 0 ]
done_testing
