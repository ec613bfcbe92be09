#!/usr/bin/env python3
"""Strict checker for the Prometheus text exposition format 0.0.4 (standard library only).

  promcheck.py [--require NAME,...] [FILE]      (stdin when FILE is omitted)

Checks, line by line:
  - "# HELP name text" and "# TYPE name type" come before the family's first sample,
    at most once each, and every family with samples has both;
  - metric and label names are valid, label names do not start with "__" and do not
    repeat within a sample; label values use only the escapes \\\\ \\" \\n;
    HELP text only \\\\ and \\n;
  - sample values are floats (or +Inf -Inf NaN), optional timestamps are integers;
  - a family's samples are contiguous and named for its type (histogram: _bucket,
    _sum, _count; summary: quantile series, _sum, _count); no series appears twice;
  - counters are >= 0;
  - histograms, per label set: le values increase, bucket counts never decrease,
    a +Inf bucket equal to _count, and _sum and _count present.
--require lists families that must be present (declared with TYPE).
Prints one line per problem and exits 1 when there is any; otherwise prints a
summary and exits 0.
"""
import argparse
import math
import re
import sys

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def parse_value(s):
    if s in ("+Inf", "Inf"):
        return math.inf
    if s == "-Inf":
        return -math.inf
    if s == "NaN":
        return math.nan
    if not re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", s):
        raise ValueError("bad value %r" % s)
    return float(s)


def parse_labels(s, i, errs, where):
    """Parse {k="v",...} starting at s[i] == '{'; returns (labels, index after '}')."""
    labels = []
    i += 1
    while True:
        if i < len(s) and s[i] == "}":
            return labels, i + 1
        m = LABEL.match(s, i)
        if not m:
            raise ValueError("bad label name at column %d" % (i + 1))
        name = m.group(0)
        if name.startswith("__"):
            errs.append("%s: reserved label name %s" % (where, name))
        i = m.end()
        if s[i:i + 2] != '="':
            raise ValueError("expected =\" after label %s" % name)
        i += 2
        val = []
        while True:
            if i >= len(s):
                raise ValueError("unterminated label value")
            c = s[i]
            if c == "\\":
                nx = s[i + 1:i + 2]
                if nx not in ("\\", '"', "n"):
                    raise ValueError("bad escape \\%s in label value" % nx)
                val.append({"\\": "\\", '"': '"', "n": "\n"}[nx])
                i += 2
            elif c == '"':
                i += 1
                break
            elif c == "\n":
                raise ValueError("raw newline in label value")
            else:
                val.append(c)
                i += 1
        if name in (k for k, _ in labels):
            errs.append("%s: label %s repeated" % (where, name))
        labels.append((name, "".join(val)))
        if i < len(s) and s[i] == ",":
            i += 1
            continue
        if i < len(s) and s[i] == "}":
            return labels, i + 1
        raise ValueError("expected , or } in labels")


def family_of(name, types):
    """The declared family a sample name belongs to, and the sample's suffix."""
    if name in types:
        return name, ""
    for suf in ("_bucket", "_sum", "_count"):
        if name.endswith(suf) and name[: -len(suf)] in types:
            return name[: -len(suf)], suf
    return name, None


def check(text, require):
    errs = []
    types, helps = {}, {}
    seen_samples = set()       # families that had samples
    done = set()               # families closed (another family's sample came after)
    current = None
    series = set()
    hist = {}                  # (family, labels without le) -> {"b": [(le, v)], "sum": x, "count": x}
    nsamples = 0
    if text and not text.endswith("\n"):
        errs.append("the last line does not end with a newline")
    for ln, line in enumerate(text.split("\n")[:-1] if text.endswith("\n") else text.split("\n"), 1):
        where = "line %d" % ln
        if line.strip() == "":
            continue
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                kind, name = parts[1], parts[2]
                rest = parts[3] if len(parts) > 3 else ""
                if not NAME.fullmatch(name):
                    errs.append("%s: bad metric name %r" % (where, name))
                if name in seen_samples:
                    errs.append("%s: %s for %s after its samples" % (where, kind, name))
                if kind == "HELP":
                    if name in helps:
                        errs.append("%s: second HELP for %s" % (where, name))
                    if re.search(r"\\[^\\n]", rest) or rest.endswith("\\") and not rest.endswith("\\\\"):
                        errs.append("%s: bad escape in HELP of %s" % (where, name))
                    helps[name] = rest
                else:
                    if name in types:
                        errs.append("%s: second TYPE for %s" % (where, name))
                    if rest not in TYPES:
                        errs.append("%s: unknown type %r for %s" % (where, rest, name))
                    types[name] = rest
            continue  # other comments are allowed
        m = NAME.match(line)
        if not m:
            errs.append("%s: bad metric name in %r" % (where, line))
            continue
        name = m.group(0)
        i = m.end()
        labels = []
        try:
            if i < len(line) and line[i] == "{":
                labels, i = parse_labels(line, i, errs, where)
            if i >= len(line) or line[i] != " ":
                raise ValueError("expected a space before the value")
            fields = line[i + 1:].split(" ")
            if len(fields) not in (1, 2):
                raise ValueError("expected VALUE [TIMESTAMP]")
            value = parse_value(fields[0])
            if len(fields) == 2 and not re.fullmatch(r"-?\d+", fields[1]):
                raise ValueError("bad timestamp %r" % fields[1])
        except ValueError as e:
            errs.append("%s: %s: %r" % (where, e, line))
            continue
        nsamples += 1
        fam, suffix = family_of(name, types)
        ftype = types.get(fam)
        if ftype is None:
            errs.append("%s: sample %s without a TYPE line" % (where, name))
        if fam not in helps:
            errs.append("%s: sample %s without a HELP line" % (where, name))
        if fam != current:
            if fam in done:
                errs.append("%s: samples of %s are not contiguous" % (where, fam))
            if current is not None:
                done.add(current)
            current = fam
        seen_samples.add(fam)
        key = (name, tuple(sorted(labels)))
        if key in series:
            errs.append("%s: duplicate series %s%s" % (where, name, dict(labels)))
        series.add(key)
        if ftype in ("counter", "gauge", "untyped") and suffix != "":
            errs.append("%s: %s sample named %s" % (where, ftype, name))
        if ftype == "counter" and not (value >= 0):
            errs.append("%s: counter %s is %s" % (where, name, fields[0]))
        if ftype == "histogram":
            if suffix not in ("_bucket", "_sum", "_count"):
                errs.append("%s: histogram sample %s must end in _bucket, _sum or _count" % (where, name))
                continue
            rest = tuple(sorted((k, v) for k, v in labels if k != "le"))
            h = hist.setdefault((fam, rest), {"b": [], "sum": None, "count": None})
            if suffix == "_bucket":
                le = dict(labels).get("le")
                if le is None:
                    errs.append("%s: bucket without le" % where)
                    continue
                try:
                    h["b"].append((parse_value(le), value, ln))
                except ValueError:
                    errs.append("%s: bad le %r" % (where, le))
            elif suffix == "_sum":
                h["sum"] = value
            else:
                h["count"] = value
                if not (value >= 0):
                    errs.append("%s: negative count" % where)
    for (fam, rest), h in hist.items():
        tag = "histogram %s%s" % (fam, dict(rest) or "")
        b = h["b"]
        for (le0, v0, _), (le1, v1, ln1) in zip(b, b[1:]):
            if not le1 > le0:
                errs.append("line %d: %s: le not increasing (%s after %s)" % (ln1, tag, le1, le0))
            if v1 < v0:
                errs.append("line %d: %s: bucket count decreases (%s after %s)" % (ln1, tag, v1, v0))
        if not b or b[-1][0] != math.inf:
            errs.append("%s: no +Inf bucket (last)" % tag)
        if h["count"] is None:
            errs.append("%s: no _count" % tag)
        elif b and b[-1][0] == math.inf and b[-1][1] != h["count"]:
            errs.append("%s: +Inf bucket %s != _count %s" % (tag, b[-1][1], h["count"]))
        if h["sum"] is None:
            errs.append("%s: no _sum" % tag)
    for fam in types:
        if fam not in helps:
            errs.append("family %s has a TYPE but no HELP" % fam)
    for r in require:
        if r not in types:
            errs.append("required family %s is missing" % r)
    return errs, len(types), nsamples


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--require", default="")
    ap.add_argument("file", nargs="?")
    a = ap.parse_args()
    data = open(a.file, "rb").read() if a.file else sys.stdin.buffer.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        print("not UTF-8: %s" % e)
        return 1
    require = [r for r in a.require.split(",") if r]
    errs, nfam, nsamp = check(text, require)
    for e in errs:
        print(e)
    if errs:
        return 1
    print("ok: %d families, %d samples" % (nfam, nsamp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
