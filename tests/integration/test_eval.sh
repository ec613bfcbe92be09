#!/usr/bin/env bash
# tools/eval, the detector yardstick: a small labelled workload from tools/gen,
# synthetic alert files built from its labels (perfect, empty, on an organic hard
# case, late, grouping rules), and checks on the printed table and the --json
# report.  The `run` form (gen -> replay -> eval) is not tested here.
. "$(dirname "$0")/lib.sh"
cd "$ROOT"

EVAL=${EVAL:-tools/eval}
python3 tools/gen --seed 7 --accounts 300 --hours 24 --campaigns 2 --quiet \
    --out "$T/dump.jsonl.gz" --labels "$T/labels.jsonl"
check "tools/gen wrote a small labelled workload" [ -s "$T/dump.jsonl.gz" -a -s "$T/labels.jsonl" ]
check "the workload has 2 campaigns of each kind" \
    [ "$(grep -c '"campaign"' "$T/labels.jsonl")" -eq 10 ]
check "and at least one organic_viral case" grep -q '"kind":"organic_viral"' "$T/labels.jsonl"

# mk.py MODE LABELS OUT: write synthetic alerts (alert schema v1), print facts as k=v.
cat >"$T/mk.py" <<'PY'
import json, sys
mode, labels, out = sys.argv[1:4]
L = [json.loads(l) for l in open(labels)]
SIG = {"comment_burst": "comment_burst", "hollow_drip": "hollow_comments",
       "bought_followers": "follower_spike", "like_farm": "engagement_mismatch",
       "zombie_followers": "engagement_mismatch"}
H = 3600_000
camps = [d for d in L if "campaign" in d]
per_acc = {}
for d in L:
    per_acc[d["account"]] = per_acc.get(d["account"], 0) + 1
alerts, n = [], [0]

def alert(acc, sig, ts, level="warning", inc=None, direction=None, aid=None):
    n[0] += 1
    ev = {"count": 42}
    if inc: ev["incident"] = inc
    if direction: ev["direction"] = direction
    alerts.append({"alert_id": aid or "a%04d" % n[0], "account": acc, "signal": sig,
                   "score": 0.9, "level": level, "ts": ts,
                   "window": {"start": ts - 600_000, "end": ts}, "risk": 0.8, "evidence": ev})

# a comment_burst campaign alone on its account (for the late / slack cases)
lone = next(c for c in camps if c["kind"] == "comment_burst" and per_acc[c["account"]] == 1)
if mode in ("perfect", "organic", "late", "slack", "group"):
    for c in camps:
        if mode in ("late", "slack") and c is lone:
            continue
        d = {"like_farm": "high", "zombie_followers": "low"}.get(c["kind"])
        alert(c["account"], SIG[c["kind"]], c["start_ms"] + 60_000, inc="i-" + c["campaign"],
              direction=d)
if mode == "organic":
    v = next(d for d in L if d["kind"] == "organic_viral" and per_acc[d["account"]] == 1)
    alert(v["account"], "engagement_mismatch", v["start_ms"] + 300_000, level="critical",
          direction="high")
    print("viral_account=%s" % v["account"])
if mode == "late":
    alert(lone["account"], "comment_burst", lone["end_ms"] + 10 * H)
    print("late_campaign=%s late_account=%s" % (lone["campaign"], lone["account"]))
if mode == "slack":
    alert(lone["account"], "comment_burst", lone["end_ms"] + 5 * H)
    print("slack_campaign=%s" % lone["campaign"])
if mode == "group":
    t = camps[0]["start_ms"] + H
    # gap rule (no evidence.incident): +5 h joins, +12 h (7 h gap) starts a new incident
    for dt in (0, 5 * H, 12 * H):
        alert("u0000000001", "follower_spike", t + dt)
    # one incident id spanning 10 h is one incident; direction "low" -> zombie_followers
    for dt in (0, 10 * H):
        alert("u0000000002", "engagement_mismatch", t + dt, inc="X", direction="low")
    # engagement_mismatch without a direction counts for both like_farm and zombie_followers
    alert("u0000000003", "engagement_mismatch", t, level="critical")
    alerts.append(dict(alerts[-1]))  # a redelivered alert: same alert_id
    print("expect_incidents=%d" % (len(camps) + 4))
with open(out, "w") as f:
    for a in alerts:
        f.write(json.dumps(a) + "\n")
    if mode == "group":
        f.write("this is not json\n\n")
PY
mk() { python3 "$T/mk.py" "$1" "$T/labels.jsonl" "$T/$1.alerts.jsonl"; }
# jq-less JSON check: jcheck DESC FILE 'python expression over r'
jcheck() {
    local d=$1 f=$2 e=$3
    check "$d" python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' "$f" "$e"
}
row() { grep -E "^$1 " "$2"; }   # the table line of a kind (or "total")

# --- perfect alerts -----------------------------------------------------------------
mk perfect >/dev/null
$EVAL --labels "$T/labels.jsonl" --alerts "$T/perfect.alerts.jsonl" --dump "$T/dump.jsonl.gz" \
    --json "$T/perfect.json" >"$T/perfect.out" 2>"$T/perfect.err"; rc=$?
check "perfect alerts: exit 0" [ "$rc" -eq 0 ]
check "perfect alerts: no warnings" [ ! -s "$T/perfect.err" ]
for k in comment_burst hollow_drip bought_followers like_farm zombie_followers; do
    check "perfect alerts: $k 2/2 caught, recall 1.00, 2 incidents, precision 1.00, F1 1.00" \
        grep -qE "^$k +[a-z_]+ +2 +2 +2 +1\.00 +2 +2 +0 +1\.00 +1\.00 +1\.0$" "$T/perfect.out"
done
check "perfect alerts: total line 10 campaigns, recall 1.00, precision 1.00" \
    grep -qE "^total +\(micro\) +10 +10 +10 +1\.00 +10 +10 +0 +1\.00 +1\.00 +1\.0$" "$T/perfect.out"
check "perfect alerts: no false positives" grep -q "^false-positive incidents: none" "$T/perfect.out"
jcheck "perfect alerts: JSON recall and precision 1.0 for every kind" "$T/perfect.json" \
    'all(v["recall"] == 1 and v["precision"] == 1 and v["f1"] == 1 for v in r["kinds"].values())'
jcheck "perfect alerts: JSON total and delays (1 min)" "$T/perfect.json" \
    'r["total"]["recall"] == 1 and r["total"]["precision"] == 1 and r["total"]["median_delay_min"] == 1 and r["false_positives"]["incidents"] == 0'
jcheck "perfect alerts: JSON counts the dump" "$T/perfect.json" \
    'r["inputs"]["dump_events"] > 10000 and r["inputs"]["dump_accounts"] == 300 and r["inputs"]["alerted_accounts_not_in_dump"] == 0'
jcheck "perfect alerts: every campaign caught with the expected signal" "$T/perfect.json" \
    'len(r["campaigns"]) == 10 and all(c["caught_expected"] and c["delay_min"] == 1 for c in r["campaigns"])'

# --- no alerts ------------------------------------------------------------------------
: >"$T/empty.alerts.jsonl"
$EVAL --labels "$T/labels.jsonl" --alerts "$T/empty.alerts.jsonl" --json "$T/empty.json" \
    >"$T/empty.out" 2>&1; rc=$?
check "no alerts: exit 0" [ "$rc" -eq 0 ]
for k in comment_burst hollow_drip bought_followers like_farm zombie_followers total; do
    check "no alerts: $k recall 0.00, precision n/a" \
        grep -qE "^$k +[a-z_()]+ +[0-9]+ +0 +0 +0\.00 +0 +0 +0 +n/a +0\.00 +-$" "$T/empty.out"
done
jcheck "no alerts: JSON recall 0, precision null" "$T/empty.json" \
    'r["total"]["recall"] == 0 and r["total"]["precision"] is None and all(v["recall"] == 0 and v["precision"] is None for v in r["kinds"].values())'

# --- an alert on an organic_viral account -----------------------------------------------
eval "$(mk organic)"
$EVAL --labels "$T/labels.jsonl" --alerts "$T/organic.alerts.jsonl" --json "$T/organic.json" \
    >"$T/organic.out" 2>&1
check "organic_viral: the FP incident is listed with its case kind" \
    grep -qE "^  [0-9T:-]+Z +$viral_account +critical +1 +engagement_mismatch +organic_viral$" "$T/organic.out"
check "organic_viral: the hard-case table counts it" \
    grep -qE "^  organic_viral +[0-9]+ +1 +[0-9.]+ +1$" "$T/organic.out"
check "organic_viral: summary line" \
    grep -q "^false positives: 1 incidents (1 on organic hard cases, 0 with no label)" "$T/organic.out"
check "organic_viral: like_farm gets the FP (direction high): 3 incidents, precision 0.67" \
    grep -qE "^like_farm +engagement_mismatch +2 +2 +2 +1\.00 +3 +2 +1 +0\.67 " "$T/organic.out"
check "organic_viral: zombie_followers does not (direction high)" \
    grep -qE "^zombie_followers +engagement_mismatch +2 +2 +2 +1\.00 +2 +2 +0 +1\.00 " "$T/organic.out"
jcheck "organic_viral: JSON lists it" "$T/organic.json" \
    'r["false_positives"]["organic_cases"]["organic_viral"]["incidents"] == 1 and r["false_positives"]["list"][0]["why"] == "organic_viral" and r["total"]["fp"] == 1'

# --- an alert 10 h after a campaign ends -------------------------------------------------
eval "$(mk late)"
$EVAL --labels "$T/labels.jsonl" --alerts "$T/late.alerts.jsonl" --json "$T/late.json" \
    >"$T/late.out" 2>&1
check "late alert: comment_burst 1 of 2 caught, recall 0.50" \
    grep -qE "^comment_burst +comment_burst +2 +1 +1 +0\.50 +2 +1 +1 +0\.50 " "$T/late.out"
check "late alert: listed as a false positive with no label, 10 h after the campaign" \
    grep -qE "^  .* $late_account .* no label \(comment_burst $late_campaign 10\.0h after its end\)$" "$T/late.out"
jcheck "late alert: JSON says the campaign was not caught" "$T/late.json" \
    'any(c["campaign"] == "'"$late_campaign"'" and not c["caught_any"] and not c["caught_expected"] for c in r["campaigns"]) and r["total"]["caught_expected"] == 9'

# --- slack: 5 h after the end is caught with the default 6 h, not with 4 h ----------------
eval "$(mk slack)"
$EVAL --labels "$T/labels.jsonl" --alerts "$T/slack.alerts.jsonl" --json "$T/slack.json" >/dev/null 2>&1
jcheck "an alert 5 h after the end is caught (slack-after 6h), delay counted from start" "$T/slack.json" \
    'r["kinds"]["comment_burst"]["recall"] == 1 and r["total"]["fp"] == 0'
$EVAL --labels "$T/labels.jsonl" --alerts "$T/slack.alerts.jsonl" --slack-after 4h --json "$T/slack4.json" \
    >"$T/slack4.out" 2>&1
jcheck "... and not with --slack-after 4h" "$T/slack4.json" \
    'r["kinds"]["comment_burst"]["recall"] == 0.5 and r["params"]["slack_after_ms"] == 4 * 3600000'
check "the header shows the slacks" grep -q "(slack -30m/+4h, gap 6h)" "$T/slack4.out"

# --- incident grouping, directions, duplicates, bad lines ---------------------------------
eval "$(mk group)"
$EVAL --labels "$T/labels.jsonl" --alerts "$T/group.alerts.jsonl" --json "$T/group.json" \
    >"$T/group.out" 2>"$T/group.err"; rc=$?
check "bad alert lines are reported, not fatal" [ "$rc" -eq 0 ] && grep -q "1 alert line(s) unparsable" "$T/group.err"
check "a repeated alert_id is counted once" grep -q "1 repeated alert_id(s) counted once" "$T/group.err"
jcheck "gap rule and evidence.incident give the expected incidents" "$T/group.json" \
    "r['inputs']['incidents'] == $expect_incidents and r['total']['fp'] == 4 and r['inputs']['incidents_with_id'] == 11"
jcheck "engagement_mismatch FPs split by direction (low -> zombie, none -> both)" "$T/group.json" \
    'r["kinds"]["zombie_followers"]["fp"] == 2 and r["kinds"]["like_farm"]["fp"] == 1 and r["kinds"]["bought_followers"]["fp"] == 2'
check "the FP list puts the critical incident first" \
    grep -qE "^  [0-9T:-]+Z +u0000000003 +critical " <(sed -n '/^false-positive incidents/{n;n;p}' "$T/group.out")
check "FP with no label on an unknown account" grep -qE "u0000000001 +warning +2 +follower_spike +no label$" "$T/group.out"

# --- usage errors --------------------------------------------------------------------------
$EVAL --alerts "$T/perfect.alerts.jsonl" >/dev/null 2>&1; rc=$?
check "missing --labels is a usage error (exit 2)" [ "$rc" -eq 2 ]
$EVAL --labels "$T/labels.jsonl" --alerts "$T/perfect.alerts.jsonl" --slack-after 6 >/dev/null 2>"$T/err"; rc=$?
check "a duration without a unit is rejected" [ "$rc" -eq 2 ] && grep -q "expected a duration" "$T/err"
$EVAL --labels "$T/labels.jsonl" --alerts "$T/nonexistent" >/dev/null 2>"$T/err"; rc=$?
check "an unreadable alerts file exits 2 and says so" [ "$rc" -eq 2 ] && grep -q "cannot read alerts" "$T/err"
check "--help documents the run form" grep -q "tools/eval run" <($EVAL --help)

done_testing
