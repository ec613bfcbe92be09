#!/usr/bin/env python3
"""Input generators for tests/integration/test_faults.sh (standard library only).

Every generator writes "key<TAB>value" lines for `kcat -P -K '\\t' -l` and the
expected outcome as JSON in ewcheck.py's format: {"accounts": {acct: {letter:
n}}, "messages": n, "bad": {reason: n}}, so `ewcheck.py verify` checks it.

  faultgen.py gen --n N [--seed S] [--accounts A] [--start MS] --out F --expected F
      N valid keyed events, in time order per account.  The same shape as
      `ewcheck.py gen`, but fast enough for 500,000 events.
  faultgen.py storm --n N [--seed S] [--bad-base B] --out F --expected F
      N valid events with malformed messages of every reject reason mixed in
      at random places: reason number i (sorted by name) occurs B + 7*i
      times (oversize_message 25 + i times), in several variants, each keyed by a random account so the
      storm hits every partition.
  faultgen.py limits [--max-message B] [--max-id B] [--max-text B] [--max-name B] --out F --expected F
      For each limit a message exactly at it (accepted) and one byte over it
      (rejected: oversize_message, oversize_field).
  faultgen.py xadd --port P --key STREAM --n N --id-prefix X [--account A]
      XADD N fake alerts (field "alert", alert schema v1) to STREAM; alert_id
      = X<i>.
  faultgen.py reasons FILE
      Count the engwatch-reason headers in `kcat -C -f '%h\\n'` output: prints
      {"reason": n, ...}.
"""
import argparse
import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ewcheck import BAD, Redis, valid_events  # noqa: E402

KB = 1024


def write(a, lines, accounts, bad):
    with open(a.out, "wb") as f:
        for key, value in lines:
            assert b"\n" not in key + value and b"\t" not in key, (key, value[:80])
            f.write(key + b"\t" + value + b"\n")
    with open(a.expected, "w") as f:
        json.dump({"accounts": accounts, "messages": len(lines), "bad": bad}, f)


def gen(a):
    accounts = {}
    lines = valid_events(a.n, a.seed, a.accounts, a.start, accounts)
    write(a, lines, accounts, {})


# Malformed messages by reason: a list of variants (bytes).  The simple
# reasons come from ewcheck.BAD (one variant each, plus a few more here).
def bad_variants(max_message, rnd):
    ev = '{"id":"x%d","type":"post","ts":1767571200000,"account":"a","post":"p"%s}'
    v = {r: [raw.encode()] for r, raw in BAD.items()}
    v.setdefault("bad_json", []).extend(
        [b'{"id":"x","type":"like"', b"nul", b'{"id":"x",}', b"\x01\x02"])
    v.setdefault("not_object", []).extend([b'"just a string"', b"42", b"null"])
    v.setdefault("unknown_type", []).append(
        b'{"id":"x","type":"","ts":1767571200000,"account":"a"}')
    v.setdefault("wrong_type", []).extend([
        b'{"id":7,"type":"post","ts":1767571200000,"account":"a","post":"p"}',
        b'{"id":"x","type":"profile","ts":1767571200000,"account":"a","followers":"12"}'])
    v["invalid_utf8"] = [
        b'{"id":"u\xff","type":"post","ts":1767571200000,"account":"a","post":"p"}',
        b'{"id":"u","type":"comment","ts":1767571200000,"account":"a","actor":"b","post":"p",'
        b'"text":"\xc3\x28"}',
        b'{"id":"u","type":"post","ts":1767571200000,"account":"\xc0\xaf","post":"p"}',
        b'{"id":"u","type":"post","ts":1767571200000,"account":"\xed\xa0\x80","post":"p"}',
    ]
    def pad_to(size):  # a valid-looking event of exactly size bytes
        head = ev % (0, ',"pad":"')
        return (head + "z" * (size - len(head) - 2) + '"}').encode()
    v["oversize_message"] = [pad_to(max_message + 1), pad_to(max_message + 1000),
                             pad_to(2 * max_message), b"[" + b"1," * (max_message // 2) + b"1]"]
    v["oversize_field"] = [
        (ev % (0, "")).encode().replace(b'"x0"', b'"' + b"i" * 257 + b'"'),
        b'{"id":"o","type":"comment","ts":1767571200000,"account":"a","actor":"b","post":"p",'
        b'"text":"' + b"t" * (8 * KB + 1) + b'"}',
        b'{"id":"o","type":"like","ts":1767571200000,"account":"' + b"a" * 257 +
        b'","actor":"b","post":"p"}',
    ]
    return v


def storm(a):
    rnd = random.Random(a.seed)
    accounts = {}
    lines = valid_events(a.n, a.seed, a.accounts, a.start, accounts)
    variants = bad_variants(a.max_message, rnd)
    bad = {}
    for i, reason in enumerate(sorted(variants)):
        # oversize messages are big: fewer of them, or the broker drops data
        k = 25 + i if reason == "oversize_message" else a.bad_base + 7 * i
        bad[reason] = k
        for j in range(k):
            raw = variants[reason][j % len(variants[reason])]
            key = ("bad%03d" % rnd.randint(0, 999)).encode()
            lines.insert(rnd.randint(0, len(lines)), (key, raw))
    write(a, lines, accounts, bad)


def limits(a):
    accounts = {}
    bad = {}
    lines = []
    ts = 1767571200000

    def add(key, e, accepted_as=None, reason=None, raw=None):
        value = raw if raw is not None else json.dumps(e, ensure_ascii=False).encode()
        lines.append((key.encode(), value))
        if reason:
            bad[reason] = bad.get(reason, 0) + 1
        else:
            acct, letter = accepted_as
            c = accounts.setdefault(acct, {})
            c[letter] = c.get(letter, 0) + 1

    def padded(acct, size, n):  # a like of acct padded to exactly size bytes
        e = {"id": "msg%d" % n, "type": "like", "ts": ts, "account": acct, "actor": "u1",
             "post": "p1", "pad": ""}
        base = len(json.dumps(e).encode())
        e["pad"] = "z" * (size - base)
        raw = json.dumps(e).encode()
        assert len(raw) == size, (len(raw), size)
        return e, raw

    # the whole message
    e, raw = padded("lim-msg", a.max_message, 1)
    add("lim-msg", e, ("lim-msg", "l"), raw=raw)
    e, raw = padded("lim-msg", a.max_message + 1, 2)
    add("lim-msg", e, reason="oversize_message", raw=raw)
    # the event id
    add("lim-id", {"id": "i" * a.max_id, "type": "post", "ts": ts, "account": "lim-id",
                   "post": "p"}, ("lim-id", "p"))
    add("lim-id", {"id": "i" * (a.max_id + 1), "type": "post", "ts": ts, "account": "lim-id",
                   "post": "p"}, reason="oversize_field")
    # the comment text, in bytes: multi-byte characters and escapes count decoded
    for n, text in enumerate(["t" * a.max_text,
                              "é" * (a.max_text // 2),
                              "好" * (a.max_text // 3) + "x" * (a.max_text % 3)]):
        assert len(text.encode()) == a.max_text
        add("lim-text", {"id": "t%d" % n, "type": "comment", "ts": ts, "account": "lim-text",
                         "actor": "u1", "post": "p", "text": text}, ("lim-text", "c"))
    for n, text in enumerate(["t" * (a.max_text + 1), "é" * (a.max_text // 2) + "x"]):
        add("lim-text", {"id": "T%d" % n, "type": "comment", "ts": ts, "account": "lim-text",
                         "actor": "u1", "post": "p", "text": text}, reason="oversize_field")
    # escaped in the JSON: 6 bytes on the wire, 2 decoded; at the limit decoded
    esc = ('{"id":"te","type":"comment","ts":%d,"account":"lim-text","actor":"u1","post":"p",'
           '"text":"%s"}' % (ts, "\\u00e9" * (a.max_text // 2))).encode()
    add("lim-text", None, ("lim-text", "c"), raw=esc)
    # account, actor and post names
    name, over = "n" * a.max_name, "n" * (a.max_name + 1)
    add(name, {"id": "a1", "type": "like", "ts": ts, "account": name, "actor": "u1",
               "post": "p"}, (name, "l"))
    add(over, {"id": "a2", "type": "like", "ts": ts, "account": over, "actor": "u1",
               "post": "p"}, reason="oversize_field")
    add("lim-name", {"id": "a3", "type": "follow", "ts": ts, "account": "lim-name",
                     "actor": name}, ("lim-name", "f"))
    add("lim-name", {"id": "a4", "type": "follow", "ts": ts, "account": "lim-name",
                     "actor": over}, reason="oversize_field")
    add("lim-name", {"id": "a5", "type": "share", "ts": ts, "account": "lim-name",
                     "actor": "u1", "post": name}, ("lim-name", "s"))
    add("lim-name", {"id": "a6", "type": "share", "ts": ts, "account": "lim-name",
                     "actor": "u1", "post": over}, reason="oversize_field")
    write(a, lines, accounts, bad)


def xadd(a):
    r = Redis(a.port)
    cmds = []
    for i in range(a.n):
        al = {"alert_id": "%s%d" % (a.id_prefix, i), "account": a.account,
              "signal": "comment_burst", "score": 50, "level": "info", "ts": 1 + i,
              "window": {"start": 0, "end": 1}, "risk": 30,
              "evidence": {"incident": "i-%s" % a.id_prefix, "action": "opened" if i == 0
                           else "new_signal"}}
        cmds.append(("XADD", a.key, "*", "alert", json.dumps(al)))
    for reply in r.pipeline(cmds):
        if not isinstance(reply, str) or "-" not in reply:
            print("XADD: %r" % (reply,), file=sys.stderr)
            return 1
    return 0


def reasons(a):
    counts = {}
    with open(a.file, "rb") as f:
        for line in f:
            for h in line.rstrip(b"\n").split(b","):
                if h.startswith(b"engwatch-reason="):
                    r = h[len(b"engwatch-reason="):].decode()
                    counts[r] = counts.get(r, 0) + 1
    print(json.dumps(counts, sort_keys=True))
    return 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("gen", "storm", "limits"):
        g = sub.add_parser(name)
        g.add_argument("--out", required=True)
        g.add_argument("--expected", required=True)
        g.add_argument("--n", type=int, default=10000)
        g.add_argument("--seed", type=int, default=1)
        g.add_argument("--accounts", type=int, default=200)
        g.add_argument("--start", type=int, default=1767571200000)
        g.add_argument("--bad-base", type=int, default=20)
        g.add_argument("--max-message", type=int, default=64 * KB)
        g.add_argument("--max-id", type=int, default=256)
        g.add_argument("--max-text", type=int, default=8 * KB)
        g.add_argument("--max-name", type=int, default=256)
    x = sub.add_parser("xadd")
    x.add_argument("--port", type=int, required=True)
    x.add_argument("--key", required=True)
    x.add_argument("--n", type=int, required=True)
    x.add_argument("--id-prefix", required=True)
    x.add_argument("--account", default="fake-acct")
    r = sub.add_parser("reasons")
    r.add_argument("file")
    a = p.parse_args()
    return {"gen": gen, "storm": storm, "limits": limits, "xadd": xadd,
            "reasons": reasons}[a.cmd](a) or 0


if __name__ == "__main__":
    sys.exit(main())
