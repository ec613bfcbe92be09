#!/usr/bin/env python3
"""Test helper for engwatch integration tests (standard library only).

  ewcheck.py gen --n N [--seed S] [--accounts A] [--start MS] [--bad] [--out FILE] [--expected FILE]
      Deterministic keyed events ("account<TAB>json" lines for kcat -K '\\t'), in
      time order per account, and the expected per-account totals as JSON.
      --bad appends one message per reject reason (expected lists them).
  ewcheck.py verify --port P --prefix PFX --expected FILE
      Compare the coarsest-resolution counters in Redis with the expected totals.
  ewcheck.py dump --port P --prefix PFX [--no-rare]
      Print the logical content of every key under PFX (prefix stripped,
      sorted): hash fields, HyperLogLog counts, strings (an actor sketch as its
      totals and a digest of its counters).  Two runs over the same events
      print the same text.  --no-rare leaves out the rare-liker counts (the
      "r" counter, a sketch's rare total), which depend on the order events
      of different accounts were applied in.
  ewcheck.py applied --port P --prefix PFX
      Print the number of messages applied (sum of positions + 1).
  ewcheck.py killat --port P --prefix PFX --pid PID --at N --above A [--timeout S] [--jitter S]
      Poll the applied count every 2 ms on one connection; once it is >= N
      and > A, wait a random 0..jitter seconds (so the kill may land in the
      middle of the next batch), SIGKILL PID and print the count it saw.  Exit 1 if PID exits or
      S seconds pass first (a shell loop spawning a client per poll can miss
      thousands of messages between two looks).
  ewcheck.py burst ACCOUNT POST T0
      A bot comment burst as keyed lines: the post's post event 6 h before T0 (ms),
      then 60 identical praises from 60 actors within 42 s.
"""
import argparse
import hashlib
import json
import random
import os
import signal
import socket
import sys
import time

LETTER = {"comment": "c", "like": "l", "share": "s", "follow": "f", "unfollow": "u", "post": "p"}
TEXTS = ["好看", "nice", "在哪买?", "👍👍", "尺码偏小", "支持支持", "what size is she wearing?", "666666"]

BAD = {
    "bad_json": "{not json",
    "not_object": "[1,2,3]",
    "missing_field": '{"id":"b1","type":"like","ts":1767571200000,"account":"a"}',
    "wrong_type": '{"id":"b2","type":"like","ts":true,"account":"a","actor":"x","post":"p"}',
    "unknown_type": '{"id":"b3","type":"retweet","ts":1767571200000,"account":"a"}',
    "bad_timestamp": '{"id":"b4","type":"post","ts":"2026-13-01T00:00:00Z","account":"a","post":"p"}',
    "empty_field": '{"id":"","type":"post","ts":1767571200000,"account":"a","post":"p"}',
    "negative_followers": '{"id":"b5","type":"profile","ts":1767571200000,"account":"a","followers":-3}',
    "duplicate_key": '{"id":"b6","id":"b7","type":"post","ts":1767571200000,"account":"a","post":"p"}',
}


def valid_events(n, seed, accounts, start, expected, tag=""):
    """n events as (key, json bytes); expected totals are added to expected."""
    rnd = random.Random(seed)
    weights = [1.0 / (i + 10) for i in range(accounts)]
    cum, s = [], 0.0
    for w in weights:
        s += w
        cum.append(s)
    accts = rnd.choices(range(accounts), cum_weights=cum, k=n)
    types = rnd.choices(["like", "comment", "share", "follow", "unfollow", "post", "profile"],
                        [60, 15, 4, 10, 3, 2, 6], k=n)
    t = start
    out = []
    for i in range(n):
        acct = "%sacct%03d" % (tag, accts[i])
        typ = types[i]
        t += rnd.randint(0, 40)
        e = {"id": "%s%s-%d" % (tag, seed, i), "type": typ, "ts": t, "account": acct}
        if typ in ("comment", "like", "share", "follow", "unfollow"):
            e["actor"] = "u%05d" % rnd.randint(0, 20000)
        if typ in ("comment", "like", "share", "post"):
            e["post"] = "%s-p%d" % (acct, rnd.randint(0, 5))
        if typ == "comment":
            e["text"] = rnd.choice(TEXTS)
        if typ == "profile":
            e["followers"] = rnd.randint(100, 100000)
        ex = expected.setdefault(acct, {})
        if typ in LETTER:
            ex[LETTER[typ]] = ex.get(LETTER[typ], 0) + 1
        out.append((acct.encode(), json.dumps(e, ensure_ascii=False).encode()))
    return out


def gen(a):
    expected = {}
    lines = ["%s\t%s" % (k.decode(), v.decode())
             for k, v in valid_events(a.n, a.seed, a.accounts, a.start, expected)]
    bad = {}
    if a.bad:
        for reason, raw in BAD.items():
            lines.append("a\t%s" % raw)
            bad[reason] = 1
    out = open(a.out, "w", encoding="utf-8") if a.out else sys.stdout
    out.write("\n".join(lines) + "\n")
    if a.expected:
        with open(a.expected, "w") as f:
            json.dump({"accounts": expected, "messages": len(lines), "bad": bad}, f)


class Redis:
    """A minimal pipelined RESP client (the tests need no redis module)."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.buf = self.sock.makefile("rb")

    def pipeline(self, cmds):
        out = bytearray()
        for c in cmds:
            out += b"*%d\r\n" % len(c)
            for arg in c:
                arg = arg if isinstance(arg, bytes) else str(arg).encode()
                out += b"$%d\r\n%s\r\n" % (len(arg), arg)
        self.sock.sendall(out)
        return [self._reply() for _ in cmds]

    def __call__(self, *cmd):
        return self.pipeline([cmd])[0]

    def _reply(self):
        line = self.buf.readline()
        t, rest = line[:1], line[1:-2]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise RuntimeError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.buf.read(n + 2)[:-2]
            return data.decode("utf-8", "surrogateescape")
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise RuntimeError("bad reply %r" % line)


def keys(r, prefix):
    ks, cursor = set(), "0"
    pattern = "".join("\\" + ch if ch in "*?[]\\" else ch for ch in prefix) + "*"
    while True:
        cursor, batch = r("SCAN", cursor, "MATCH", pattern, "COUNT", "1000")
        ks.update(batch)
        if cursor == "0":
            return sorted(ks)


def as_dict(flat):
    return dict(zip(flat[0::2], flat[1::2]))


# An account's state P{A} is one string (format 1, written by window.c):
# a version byte, then per field: varint name length, name, varint expiry
# (0 = none, else zigzag + 1), one byte count of values, zigzag varint values.
STATE_VERSION = 1


def _packed(f):
    return f[:1].isdigit() or f.startswith("F:")


def state_decode(raw):
    """The fields of a stored account state, as {name: text value} (buckets
    "c,h,d,..." without trailing zeros, like the daemon's view of them): a
    field stored again in a run written later (after a 0 byte) replaces the
    earlier one, and fields whose expiry is at or before the watermark "wm"
    are not part of the state."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogateescape")
    if not raw or raw[0] != STATE_VERSION:
        raise ValueError("not an account state of format %d" % STATE_VERSION)
    i, out, dead = 1, {}, {}

    def varint():
        nonlocal i
        u = shift = 0
        while True:
            b = raw[i]
            i += 1
            u |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return u

    while i < len(raw):
        if raw[i] == 0:  # a run written after the state, or room kept for runs
            i += 1
            continue
        n = varint()
        name = raw[i:i + n].decode("utf-8", "surrogateescape")
        i += n
        u = varint()  # expiry: 0 none, else zigzag + 1
        dead[name] = None if u == 0 else ((u - 1) >> 1) ^ -((u - 1) & 1)
        nv = raw[i]
        i += 1
        vals = []
        for _ in range(nv):
            u = varint()
            vals.append((u >> 1) ^ -(u & 1))
        if _packed(name):
            while len(vals) > 1 and vals[-1] == 0:
                vals.pop()
            out[name] = ",".join(str(v) for v in vals or [0])
        else:
            out[name] = str(vals[0] if vals else 0)
    if "wm" in out:
        wm = int(out["wm"])
        out = {f: v for f, v in out.items() if dead[f] is None or dead[f] > wm}
    return out


def state_encode(fields):
    """A stored account state from {name: int or "c,h,..."} (no expiries: the
    daemon works them out from the names when it reads a state)."""
    out = bytearray([STATE_VERSION])

    def varint(u):
        while u >= 0x80:
            out.append((u & 0x7F) | 0x80)
            u >>= 7
        out.append(u)

    for name, v in fields.items():
        nb = str(name).encode()
        vals = ([int(x) for x in str(v).split(",") if x] if _packed(str(name)) else [int(v)])
        varint(len(nb))
        out += nb
        varint(0)
        out.append(len(vals))
        for x in vals:
            varint(((x << 1) ^ (x >> 63)) & (2**64 - 1))
    return bytes(out)


def verify(a):
    exp = json.load(open(a.expected))
    r = Redis(a.port)
    ok = True
    # the coarsest resolution: the largest R in account bucket fields "R:I"
    letters = "chdklsfnup"
    for acct, counts in sorted(exp["accounts"].items()):
        st = r("GET", "%s{%s}" % (a.prefix, acct))
        h = state_decode(st) if st is not None else {}
        buckets = [(int(f.split(":")[0]), v) for f, v in h.items()
                   if f[:1].isdigit() and f.count(":") == 1]
        rmax = max((res for res, _ in buckets), default=0)
        got = {}
        for res, v in buckets:
            if res == rmax:
                for letter, n in zip(letters, v.split(",")):
                    got[letter] = got.get(letter, 0) + int(n)
        for m, n in counts.items():
            if got.get(m, 0) != n:
                print("%s: metric %s expected %d got %d" % (acct, m, n, got.get(m, 0)))
                ok = False
    print("verify: %s (%d accounts)" % ("ok" if ok else "MISMATCH", len(exp["accounts"])))
    return 0 if ok else 1


def dump(a):
    r = Redis(a.port)
    ks = keys(r, a.prefix)
    types = r.pipeline([("TYPE", k) for k in ks])
    cmds = []
    for k, t in zip(ks, types):
        if t == "hash":
            cmds.append(("HGETALL", k))
        elif t == "string":
            cmds.append(("GET", k))
        else:
            cmds.append(("TYPE", k))
    out = []
    for k, t, v in zip(ks, types, r.pipeline(cmds)):
        name = k[len(a.prefix):]
        if t == "hash" or (t == "string" and name.startswith("{") and name.endswith("}")):
            # a hash, or an account's state (one string: its fields decoded)
            for f, x in sorted((as_dict(v) if t == "hash" else state_decode(v)).items()):
                if a.no_rare and f[:1].isdigit() and x.count(",") >= 10:
                    vs = x.split(",")[:10]  # "r" is the 11th; trailing zeros are left out
                    while len(vs) > 1 and vs[-1] == "0":
                        vs.pop()
                    x = ",".join(vs)
                out.append("%s %s=%s" % (name, f, x))
        elif t == "string" and len(v) > 64:  # the actor sketch: totals, then counters
            raw = v.encode("utf-8", "surrogateescape")
            likes, rare = int.from_bytes(raw[0:8], "big"), int.from_bytes(raw[8:16], "big")
            out.append("%s string likes=%d%s cells_sha1=%s" % (
                name, likes, "" if a.no_rare else " rare=%d" % rare,
                hashlib.sha1(raw[16:]).hexdigest()))
        else:
            out.append("%s %s=%s" % (name, t, v))
    sys.stdout.write("\n".join(out) + ("\n" if out else ""))
    return 0


def applied(a):
    h = as_dict(Redis(a.port)("HGETALL", a.prefix + "positions"))
    print(sum(int(v) + 1 for v in h.values()))
    return 0


def killat(a):
    r = Redis(a.port)
    deadline = time.monotonic() + a.timeout
    while time.monotonic() < deadline:
        n = sum(int(v) + 1 for v in as_dict(r("HGETALL", a.prefix + "positions")).values())
        if n >= a.at and n > a.above:
            time.sleep(random.uniform(0, a.jitter))
            os.kill(a.pid, signal.SIGKILL)
            print(n)
            return 0
        try:
            os.kill(a.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.002)
    print(n)
    return 1


def burst(a):
    acct, post, t0 = a.account, a.post, a.t0
    print(acct + "\t" + json.dumps({"id": post + "-p", "type": "post", "ts": t0 - 6 * 3600000,
                                    "account": acct, "post": post}))
    for i in range(60):
        print(acct + "\t" + json.dumps({"id": "%s-%d" % (post, i), "type": "comment",
                                        "ts": t0 + i * 700, "account": acct,
                                        "actor": "bot%s%03d" % (post, i), "post": post,
                                        "text": "好看好看"}, ensure_ascii=False))
    return 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gen")
    g.add_argument("--n", type=int, default=10000)
    g.add_argument("--seed", type=int, default=1)
    g.add_argument("--accounts", type=int, default=200)
    g.add_argument("--start", type=int, default=1767571200000)
    g.add_argument("--bad", action="store_true")
    g.add_argument("--out")
    g.add_argument("--expected")
    for name in ("verify", "dump", "applied"):
        s = sub.add_parser(name)
        s.add_argument("--port", type=int, required=True)
        s.add_argument("--prefix", default="ew:")
        if name == "verify":
            s.add_argument("--expected", required=True)
        if name == "dump":
            s.add_argument("--no-rare", action="store_true",
                           help="leave out the counts of likes by rare actors (cross-account)")
    k = sub.add_parser("killat")
    k.add_argument("--port", type=int, required=True)
    k.add_argument("--prefix", default="ew:")
    k.add_argument("--pid", type=int, required=True)
    k.add_argument("--at", type=int, required=True)
    k.add_argument("--above", type=int, default=-1)
    k.add_argument("--timeout", type=float, default=120)
    k.add_argument("--jitter", type=float, default=0)
    b = sub.add_parser("burst")
    b.add_argument("account")
    b.add_argument("post")
    b.add_argument("t0", type=int)
    a = p.parse_args()
    return {"gen": gen, "verify": verify, "dump": dump, "applied": applied,
            "killat": killat, "burst": burst}[a.cmd](a) or 0


if __name__ == "__main__":
    sys.exit(main())
