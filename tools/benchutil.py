#!/usr/bin/env python3
"""benchutil — helpers for tools/bench.sh (standard library only).

  benchutil.py wait-applied --port P --prefix PFX --n N [--timeout S] [--interval S]
      Poll PFX"positions" (HGETALL; sum of offset+1 = messages applied) until N are
      applied.  Prints one line: polls= first_t= first_n= last_t= last_n= eps= eps_steady=
      (times: wall clock seconds; eps from the first poll that saw progress to the one that
      saw N; eps_steady between 10% and 90% of N).  Exit 1 on timeout or a stall.
  benchutil.py applied --port P --prefix PFX
  benchutil.py cmdstats --port P --out FILE
      INFO commandstats as JSON {command: calls}, plus used_memory and
      total_commands_processed.
  benchutil.py cmddiff BEFORE AFTER --events N [--own cmd=K ...]
      Commands executed between two snapshots (INFO itself left out, the bench's own
      commands subtracted), per event, the top ones listed.  Last line:
      total=N per_event=R net_in_per_event=B net_out_per_event=B cpu_us_per_event=U
  benchutil.py lagdist --produced FILE --applied TIMELINE
      Produce -> applied delays measured from outside: FILE from produce -T ("index ts_ms"),
      TIMELINE from wait-applied --timeline ("wall_s applied"); message k counts as applied
      at the first poll that saw >= k applied (FIFO over all partitions; resolution: the poll
      interval).  Prints count= missing= p50= p99= max= (ms).
  benchutil.py accounts --port P --prefix PFX
      Accounts with state: keys PFX{account}.
  benchutil.py memory --port P
  benchutil.py metrics --url URL [--name engwatch_apply_delay_ms]
      Scrape a Prometheus histogram (--url file:PATH reads a saved scrape); p50, p99 and max
      by linear interpolation inside the cumulative buckets.  Prints count= mean= p50= p99=
      max=, or "n/a reason=...".
  benchutil.py scrape --url URL --out FILE
      Save one scrape of URL.
  benchutil.py burst --account A --post P --after FILE
      A comment burst (60 bots comment one post within ~41 s, 6 h after the post event),
      keyed lines, its event times just after the last event of FILE (keyed lines).
  benchutil.py wait-alert --port P --prefix PFX --account A --ready FILE [--timeout S]
      Remember the outbox's last entry, touch FILE, then poll PFX"outbox" every 5 ms for an
      alert about account A.  Prints alert_ms=<wall clock ms> id=<entry id>, or
      "alert_ms=none" on timeout (exit 1).
  benchutil.py run --rusage FILE -- CMD...
      Run CMD, forward SIGTERM/SIGINT to it, exit with its status; FILE gets
      "maxrss_kb=K seconds=S".
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
from ewcheck import Redis as _Redis  # noqa: E402


class Redis(_Redis):
    """ewcheck's RESP client, counting the commands it sends (the bench
    subtracts its own polling from Redis's command statistics)."""

    def __init__(self, port):
        super().__init__(port)
        self.sent = {}

    def pipeline(self, cmds):
        for c in cmds:
            name = str(c[0]).lower()
            self.sent[name] = self.sent.get(name, 0) + 1
        return super().pipeline(cmds)


def applied_count(r, prefix):
    flat = r("HGETALL", prefix + "positions") or []
    return sum(int(v) + 1 for v in flat[1::2])


def cmd_applied(a):
    print(applied_count(Redis(a.port), a.prefix))
    return 0


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def cmd_wait_applied(a):
    r = Redis(a.port)
    deadline = time.time() + a.timeout
    samples = []  # (t, n) whenever n changed
    first = None
    last_change = time.time()
    n_prev = -1
    rc = 1
    while True:
        t = time.time()
        n = applied_count(r, a.prefix)
        if n != n_prev:
            samples.append((t, n))
            last_change = t
            if first is None and n > 0:
                first = (t, n)
            n_prev = n
        if n >= a.n:
            rc = 0
            break
        if t >= deadline or (n > 0 and t - last_change > a.stall):
            break
        if a.pid and not alive(a.pid):
            break  # the daemon is gone
        time.sleep(a.interval)
    last = samples[-1] if samples else (time.time(), 0)

    def when(frac):  # first sample at or above frac * N
        for t, n in samples:
            if n >= frac * a.n:
                return t, n
        return None

    eps = (last[1] - first[1]) / (last[0] - first[0]) if first and last[0] > first[0] else 0
    lo, hi = when(0.1), when(0.9)
    steady = (hi[1] - lo[1]) / (hi[0] - lo[0]) if lo and hi and hi[0] > lo[0] else 0
    print("polls=%d first_t=%.3f first_n=%d last_t=%.3f last_n=%d eps=%.0f eps_steady=%.0f"
          % (r.sent.get("hgetall", 0), first[0] if first else 0, first[1] if first else 0,
             last[0], last[1], eps, steady))
    if a.timeline:
        with open(a.timeline, "w") as f:
            for t, n in samples:
                f.write("%.3f %d\n" % (t, n))
    return rc


def info(r, section):
    out = {}
    for line in r("INFO", section).splitlines():
        if ":" in line and not line.startswith("#"):
            k, v = line.split(":", 1)
            out[k] = v
    return out


def cmd_cmdstats(a):
    r = Redis(a.port)
    calls = {}
    for k, v in info(r, "commandstats").items():
        if k.startswith("cmdstat_"):
            fields = dict(x.split("=") for x in v.split(","))
            calls[k[len("cmdstat_"):]] = int(fields["calls"])
    mem = info(r, "memory")
    stats = info(r, "stats")
    cpu = info(r, "cpu")
    with open(a.out, "w") as f:
        json.dump({"calls": calls, "used_memory": int(mem["used_memory"]),
                   "total_commands_processed": int(stats["total_commands_processed"]),
                   "net_in": int(stats["total_net_input_bytes"]),
                   "net_out": int(stats["total_net_output_bytes"]),
                   "cpu": float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])}, f)
    return 0


def cmd_cmddiff(a):
    sb, sc = json.load(open(a.before)), json.load(open(a.after))
    b, c = sb["calls"], sc["calls"]
    own = {}
    for spec in a.own or []:
        k, v = spec.split("=")
        own[k.lower()] = own.get(k.lower(), 0) + int(v)
    diff = {}
    for k in set(b) | set(c):
        if k == "info":
            continue
        d = c.get(k, 0) - b.get(k, 0) - own.get(k, 0)
        if d > 0:
            diff[k] = d
    total = sum(diff.values())
    n = max(a.events, 1)
    for k, d in sorted(diff.items(), key=lambda kv: -kv[1])[:a.top]:
        print("    %-18s %10d  %7.4f/event" % (k, d, d / n))
    print("total=%d per_event=%.4f net_in_per_event=%.0f net_out_per_event=%.0f "
          "cpu_us_per_event=%.2f" % (total, total / n, (sc["net_in"] - sb["net_in"]) / n,
                                     (sc["net_out"] - sb["net_out"]) / n,
                                     (sc["cpu"] - sb["cpu"]) * 1e6 / n))
    return 0


def cmd_lagdist(a):
    """Delay of message k: first poll that saw >= k applied, minus its produce timestamp."""
    produced = []
    with open(a.produced) as f:
        for line in f:
            k, ts = line.split()
            produced.append((int(k), int(ts)))
    applied = []
    with open(a.applied) as f:
        for line in f:
            t, n = line.split()
            applied.append((float(t) * 1000, int(n)))
    delays = []
    j = 0
    for k, ts in produced:
        while j < len(applied) and applied[j][1] < k:
            j += 1
        if j == len(applied):
            break
        delays.append(applied[j][0] - ts)
    if not delays:
        print("n/a reason=no_overlap")
        return 1
    delays.sort()

    def q(p):
        return delays[min(len(delays) - 1, int(p * len(delays)))]

    print("count=%d missing=%d p50=%.0f p99=%.0f max=%.0f" % (
        len(delays), len(produced) - len(delays), q(0.5), q(0.99), delays[-1]))
    return 0


def cmd_accounts(a):
    r = Redis(a.port)
    pat = "".join("\\" + ch if ch in "*?[]\\" else ch for ch in a.prefix) + "{*}"
    cursor, n = "0", 0
    while True:
        cursor, keys = r("SCAN", cursor, "MATCH", pat, "COUNT", "10000")
        n += len(keys)
        if cursor == "0":
            break
    print(n)
    return 0


def cmd_memory(a):
    print(info(Redis(a.port), "memory")["used_memory"])
    return 0


def quantile(bounds, cum, q):
    """bounds ascending (last may be inf), cum cumulative counts; linear inside a bucket."""
    total = cum[-1]
    if total == 0:
        return None
    target = q * total
    lo_b, lo_c = 0.0, 0
    for b, c in zip(bounds, cum):
        if c >= target:
            if b == float("inf"):
                return float("inf")  # beyond the last finite bound
            if c == lo_c:
                return b
            return lo_b + (b - lo_b) * (target - lo_c) / (c - lo_c)
        lo_b, lo_c = b, c
    return bounds[-1]


def cmd_metrics(a):
    try:
        with urllib.request.urlopen(a.url, timeout=5) as resp:
            text = resp.read().decode()
    except Exception as e:  # noqa: BLE001 - any failure is a reason to report n/a
        print("n/a reason=%s" % str(e).replace(" ", "_"))
        return 1
    buckets = []
    count = total = None
    for line in text.splitlines():
        if line.startswith(a.name + "_bucket{"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            buckets.append((float("inf") if le == "+Inf" else float(le), float(line.split()[-1])))
        elif line.startswith(a.name + "_count"):
            count = float(line.split()[-1])
        elif line.startswith(a.name + "_sum"):
            total = float(line.split()[-1])
    if not buckets:
        print("n/a reason=no_%s_in_/metrics" % a.name)
        return 1
    buckets.sort()
    bounds = [b for b, _ in buckets]
    cum = [c for _, c in buckets]
    if cum[-1] == 0:
        print("n/a reason=histogram_empty")
        return 1

    def fmt(v):
        if v is None:
            return "n/a"
        if v == float("inf"):
            return ">%g" % bounds[-2]
        return "%.1f" % v

    # max: the upper bound of the highest non-empty bucket
    mx = None
    prev = 0
    for b, c in zip(bounds, cum):
        if c > prev:
            mx = b
        prev = c
    n = count if count is not None else cum[-1]
    print("count=%d mean=%s p50=%s p99=%s max=%s bounds=%s" % (
        n, "%.1f" % (total / n) if total is not None and n else "n/a",
        fmt(quantile(bounds, cum, 0.5)),
        fmt(quantile(bounds, cum, 0.99)), ("<=" + fmt(mx)) if mx != float("inf") else fmt(mx),
        ",".join("%g" % b for b in bounds if b != float("inf"))))
    return 0


def cmd_scrape(a):
    try:
        with urllib.request.urlopen(a.url, timeout=5) as resp:
            data = resp.read()
    except Exception as e:  # noqa: BLE001
        print("scrape %s: %s" % (a.url, e), file=sys.stderr)
        return 1
    with open(a.out, "wb") as f:
        f.write(data)
    return 0


def cmd_burst(a):
    last_ts = 0
    with open(a.after, "rb") as f:
        f.seek(0, 2)
        f.seek(max(0, f.tell() - 65536))
        for line in f.read().splitlines()[1:]:
            try:
                last_ts = max(last_ts, int(json.loads(line.split(b"\t", 1)[-1])["ts"]))
            except (ValueError, KeyError, TypeError):
                pass
    t0 = last_ts + 1000
    out = [a.account + "\t" + json.dumps({"id": a.post + "-p", "type": "post",
                                          "ts": t0 - 6 * 3600000, "account": a.account,
                                          "post": a.post})]
    for i in range(60):
        out.append(a.account + "\t" + json.dumps(
            {"id": "%s-%d" % (a.post, i), "type": "comment", "ts": t0 + i * 700,
             "account": a.account, "actor": "bot%s%03d" % (a.post, i), "post": a.post,
             "text": "好看好看"}, ensure_ascii=False))
    sys.stdout.write("\n".join(out) + "\n")
    return 0


def cmd_wait_alert(a):
    r = Redis(a.port)
    key = a.prefix + "outbox"
    last = r("XREVRANGE", key, "+", "-", "COUNT", "1") or []
    start = last[0][0] if last else "0-0"
    open(a.ready, "w").close()
    needle = '"account":"%s"' % a.account
    deadline = time.time() + a.timeout
    while time.time() < deadline:
        entries = r("XRANGE", key, "(" + start, "+", "COUNT", "1000") or []
        now = time.time()
        for eid, fields in entries:
            start = eid
            if any(needle in v.replace(" ", "") for v in fields):
                print("alert_ms=%d id=%s" % (int(now * 1000), eid))
                return 0
        time.sleep(0.005)
    print("alert_ms=none")
    return 1


def cmd_run(a):
    t0 = time.time()
    p = subprocess.Popen(a.argv)

    def forward(sig, _frame):
        try:
            p.send_signal(sig)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    while True:
        try:
            _, status, ru = os.wait4(p.pid, 0)
            break
        except InterruptedError:
            continue
    with open(a.rusage, "w") as f:
        f.write("maxrss_kb=%d seconds=%.3f\n" % (ru.ru_maxrss, time.time() - t0))
    return os.waitstatus_to_exitcode(status) & 0xFF


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="sub", required=True)
    s = sub.add_parser("wait-applied")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--prefix", default="ew:")
    s.add_argument("--n", type=int, required=True)
    s.add_argument("--timeout", type=float, default=300)
    s.add_argument("--stall", type=float, default=60, help="give up after this long without progress")
    s.add_argument("--interval", type=float, default=0.05)
    s.add_argument("--timeline")
    s.add_argument("--pid", type=int, help="stop polling when this process is gone")
    s = sub.add_parser("applied")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--prefix", default="ew:")
    s = sub.add_parser("cmdstats")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--out", required=True)
    s = sub.add_parser("cmddiff")
    s.add_argument("before")
    s.add_argument("after")
    s.add_argument("--events", type=int, required=True)
    s.add_argument("--own", action="append")
    s.add_argument("--top", type=int, default=8)
    s = sub.add_parser("lagdist")
    s.add_argument("--produced", required=True)
    s.add_argument("--applied", required=True)
    s = sub.add_parser("accounts")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--prefix", default="ew:")
    s = sub.add_parser("memory")
    s.add_argument("--port", type=int, required=True)
    s = sub.add_parser("metrics")
    s.add_argument("--url", required=True)
    s.add_argument("--name", default="engwatch_apply_delay_ms")
    s = sub.add_parser("scrape")
    s.add_argument("--url", required=True)
    s.add_argument("--out", required=True)
    s = sub.add_parser("burst")
    s.add_argument("--account", required=True)
    s.add_argument("--post", required=True)
    s.add_argument("--after", required=True)
    s = sub.add_parser("wait-alert")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--prefix", default="ew:")
    s.add_argument("--account", required=True)
    s.add_argument("--ready", required=True)
    s.add_argument("--timeout", type=float, default=30)
    s = sub.add_parser("run")
    s.add_argument("--rusage", required=True)
    s.add_argument("argv", nargs=argparse.REMAINDER)
    a = p.parse_args()
    if a.sub == "run" and a.argv and a.argv[0] == "--":
        a.argv = a.argv[1:]
    fn = {"wait-applied": cmd_wait_applied, "applied": cmd_applied, "cmdstats": cmd_cmdstats,
          "cmddiff": cmd_cmddiff, "lagdist": cmd_lagdist, "accounts": cmd_accounts, "memory": cmd_memory,
          "metrics": cmd_metrics, "scrape": cmd_scrape, "burst": cmd_burst, "wait-alert": cmd_wait_alert,
          "run": cmd_run}[a.sub]
    return fn(a)


if __name__ == "__main__":
    sys.exit(main())
