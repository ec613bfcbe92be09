#!/usr/bin/env python3
"""Fixture data for the HTTP API and dashboard tests (standard library only).

  httpfixture.py load --port P [--prefix ew:] [--stream alerts]
      Write suspicious accounts into the Redis keys the Redis sink writes
      (stream <prefix><stream> with field "alert", sorted set <prefix>risk,
      hashes <prefix>alert:{A}) and the window hashes <prefix>{A} the window
      module writes (wm; bucket counters "R:IDX" packed "c,h,d,k,l,s,f,n,u,p",
      post-level and other-resolution fields; R* risk state), so the tests do
      not depend on the detectors.  One account keeps the earlier one-field-a-
      metric layout (c@1:IDX h@1:IDX ...), which the API reads too.
      Prints the fixture summary as JSON (accounts, expected values).
  httpfixture.py xadd --port P [--prefix ew:] [--stream alerts] ACCOUNT SIGNAL LEVEL
      Append one more alert for ACCOUNT (the live feed test); prints its stream id.
"""
import argparse
import hashlib
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ewcheck import Redis, state_encode  # noqa: E402  (the tests' minimal RESP client)

T0 = 1767614400000          # 2026-01-05T12:00:00Z: the accounts' watermark (event time)
B5 = 300000                 # resolution 1: 5-minute buckets
H = 3600000

ACCOUNTS = [
    # account, risk, level, signals
    ("u4821337001", 86.5, "critical", ["comment_burst", "hollow_comments"]),
    ("u4821337002", 58.2, "warning", ["follower_spike"]),
    ("kol/小红 <b>&\"x\"", 31.0, "info", ["hollow_comments"]),
    ("u4821337003", 24.4, "info", ["engagement_mismatch"]),
    ("u4821337004", 12.9, "info", ["comment_burst"]),
    ("u4821337005", 7.5, "none", ["follower_spike"]),
]


def idx(ts):
    return ts // B5


def alert(account, signal, level, ts, risk, score, post=None, evidence=None, n=0):
    a = {
        "alert_id": hashlib.sha1(("%s|%s|%d" % (account, signal, ts)).encode()).hexdigest()[:16],
        "account": account,
        "signal": signal,
        "score": score,
        "level": level,
        "ts": ts,
        "window": {"start": ts - 30 * 60000, "end": ts},
        "risk": risk,
        "evidence": dict(evidence or {}, incident="inc%04d" % n, action="opened"),
    }
    if post:
        a["post"] = post
    return a


def burst_evidence():
    texts = ["好看", "nice!!", "👍👍👍", "支持支持", "amazing post 😍", "666666", "love it",
             "太美了", "great", "🔥🔥"]
    return {
        "comments": 243, "commenters": 231, "baseline_per_window": 3.1, "ratio": 78.4,
        "surprise": 212.6, "hollow_ratio": 0.83,
        "samples": [{"id": "e%014d" % (900 + i), "text": t} for i, t in enumerate(texts)],
    }


def series_fields(kind):
    """Window hash fields of one account: 24 h of 5-minute buckets ending at T0."""
    f = {}
    last = idx(T0)
    for k in range(288):
        i = last - 287 + k
        hour = (i * B5 // H) % 24
        organic = 2 + (4 if 9 <= hour <= 22 else 0) + (k % 3)
        if kind == "burst":
            f["c@1:%d" % i] = organic
            f["h@1:%d" % i] = organic // 3
            f["l@1:%d" % i] = organic * 9
            f["f@1:%d" % i] = 1 if k % 7 == 0 else 0
        elif kind == "followers":
            f["c@1:%d" % i] = organic // 2
            f["l@1:%d" % i] = organic * 4
            f["f@1:%d" % i] = 1 if k % 3 == 0 else 0
        elif kind == "hollow":
            f["c@1:%d" % i] = organic
            f["h@1:%d" % i] = organic - 1
        else:
            f["l@1:%d" % i] = organic * 30
            f["c@1:%d" % i] = k % 2
    if kind == "burst":
        b = last - 24                                         # 2 h before the watermark
        f["c@1:%d" % b] = 243
        f["h@1:%d" % b] = 202
        f["c@1:%d" % (b + 1)] = 61
        f["h@1:%d" % (b + 1)] = 50
        f["c@1:%d:p000000000042" % b] = 240                 # post-level: must not be counted
        f["c@0:%d" % (b * 30)] = 99                         # another resolution: ignored
        f["c@1:%d" % (last - 400)] = 500                    # older than 24 h: ignored
    if kind == "followers":
        s = last - 72                                         # 6 h before
        for j in range(6):
            f["f@1:%d" % (s + j)] = 60 + 10 * j
        for j in range(8, 40, 2):
            f["u@1:%d" % (s + j)] = 9
    return f


METRICS = "chdklsfnup"  # enum ew_metric order


def pack(fields):
    """Legacy fields {"c@1:IDX[:POST]": n} -> the packed layout {"1:IDX[:POST]": "c,h,..."}."""
    out = {}
    for k, v in fields.items():
        m, rest = k.split("@", 1)
        out.setdefault(rest, [0] * len(METRICS))[METRICS.index(m)] += v
    packed = {}
    for k, vals in out.items():
        while vals and vals[-1] == 0:  # trailing zeros are left out
            vals.pop()
        packed[k] = ",".join(str(x) for x in vals)
    return packed


def load(a):
    r = Redis(a.port)
    p = a.prefix
    stream = p + a.stream
    cmds = []
    alerts = []
    n = 0
    for acct, risk, level, signals in ACCOUNTS:
        n += 1
        ts = T0 - 2 * H + n * 60000
        sig = signals[0]
        ev = burst_evidence() if sig == "comment_burst" else {
            "hollow_comments": {"comments": 96, "flagged": 81, "ratio": 0.84, "baseline_ratio": 0.12,
                                "surprise": 41.2, "samples": [{"id": "e%014d" % 77, "text": "支持"},
                                                              {"id": "e%014d" % 78, "text": "👍"}]},
            "follower_spike": {"follows": 390, "followers_before": 1200, "growth": 0.325,
                               "expected": 4.5, "new_actor_share": 0.91, "surprise": 88.0},
            "engagement_mismatch": {"followers": 250000, "engagement_rate": 0.0011,
                                    "tier_low": 0.004, "probability": 2.1e-9},
        }.get(sig, {})
        post = "p000000000042" if sig == "comment_burst" else None
        al = alert(acct, sig, level if level != "none" else "info", ts, risk, 90.0 - n * 7, post, ev, n)
        alerts.append(al)
        if acct == "u4821337001":
            al2 = alert(acct, "hollow_comments", "critical", ts + 20 * 60000, risk, 77.5, None,
                        {"comments": 304, "flagged": 252, "ratio": 0.83, "baseline_ratio": 0.21,
                         "surprise": 64.0, "samples": burst_evidence()["samples"][:4]}, n)
            alerts.append(al2)
        latest = alerts[-1]
        cmds.append(["ZADD", p + "risk", risk, acct])
        if level != "none":
            cmds.append(["HSET", "%salert:{%s}" % (p, acct), "latest", json.dumps(latest, ensure_ascii=False),
                         "incident", "inc%04d" % n, "level", level, "risk", risk,
                         "ts", latest["ts"], "signal", latest["signal"], "signals", json.dumps(signals)])
        kind = {"comment_burst": "burst", "follower_spike": "followers",
                "hollow_comments": "hollow"}.get(sig, "likes")
        if acct in ("u4821337001", "u4821337002", "kol/小红 <b>&\"x\"", "u4821337003"):
            fields = series_fields(kind)
            if not acct.startswith("kol/"):
                fields = pack(fields)
            fields.update({"wm": T0, "Rs": int(risk * 1000), "Rt": T0 - H, "Ri": ts - 5 * 60000,
                           "Rl": {"info": 1, "warning": 2, "critical": 3}.get(level, 0), "Rn": 2})
            cmds.append(["SET", "%s{%s}" % (p, acct), state_encode(fields)])
    alerts.sort(key=lambda x: x["ts"])
    for al in alerts:
        cmds.append(["XADD", stream, "*", "alert", json.dumps(al, ensure_ascii=False)])
    r.pipeline(cmds)
    json.dump({"accounts": [x[0] for x in ACCOUNTS], "alerts": len(alerts), "t0": T0,
               "top": ACCOUNTS[0][0]}, sys.stdout, ensure_ascii=False)
    print()


def xadd(a):
    r = Redis(a.port)
    al = alert(a.account, a.signal, a.level, T0 + 60000, 91.0, 95.0, None,
               {"comments": 120, "baseline_per_window": 2.0, "ratio": 60.0, "surprise": 99.0}, 99)
    (sid,) = r.pipeline([["XADD", a.prefix + a.stream, "*", "alert", json.dumps(al, ensure_ascii=False)]])
    print(sid)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("load", "xadd"):
        s = sub.add_parser(name)
        s.add_argument("--port", type=int, required=True)
        s.add_argument("--prefix", default="ew:")
        s.add_argument("--stream", default="alerts")
        if name == "xadd":
            s.add_argument("account")
            s.add_argument("signal")
            s.add_argument("level")
    a = ap.parse_args()
    {"load": load, "xadd": xadd}[a.cmd](a)


if __name__ == "__main__":
    main()
