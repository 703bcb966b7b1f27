#!/usr/bin/env python3
"""Compares two benchmark JSON files of the project's common schema (an array
of flat records: suite, name, system, value, unit, higher_is_better, spread,
runs, machine, ...), as written by `fastnn bench --json` and
benches/peers/peers.py.

    python3 benches/compare.py OLD.json NEW.json [--threshold 0.05] [--system S]
    python3 benches/compare.py --self-test

Records are matched by (suite, name, system). For each pair it prints the old
and new value and the relative change, signed so that a positive change is
always an improvement ("better") and a negative one worse. A record is a
regression when it got worse by more than the noise:

    noise = max(threshold, relative spread of old, relative spread of new)

where a record's relative spread is (max - min) / value of its runs. Records
present in only one file are listed, not judged. Exit status: 0 when nothing
regressed, 1 when something did, 2 on bad input.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile


class BadInput(Exception):
    pass


def load(path):
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        raise BadInput(f"{path}: cannot read benchmark JSON: {e}") from None
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise BadInput(f"{path}: expected an array of records")
    out = {}
    for i, r in enumerate(data):
        try:
            key = (r["suite"], r["name"], r["system"])
            float(r["value"])
        except (KeyError, TypeError, ValueError):
            raise BadInput(f"{path}: record {i} lacks suite/name/system/value") from None
        if key in out:
            raise BadInput(f"{path}: duplicate record {key}")
        out[key] = r
    return out


def rel_spread(r):
    s, v = r.get("spread"), float(r["value"])
    if not s or len(s) != 2 or v == 0 or not all(map(math.isfinite, s)):
        return 0.0
    return abs(float(s[1]) - float(s[0])) / abs(v)


def compare(old, new, threshold):
    """Returns (rows, regressions, only_old, only_new); each row:
    (key, unit, old, new, change_better, noise, verdict)."""
    rows, regressions = [], []
    for key in sorted(set(old) & set(new)):
        o, n = old[key], new[key]
        ov, nv = float(o["value"]), float(n["value"])
        hib = bool(n.get("higher_is_better", o.get("higher_is_better", False)))
        if ov == 0:
            change = 0.0 if nv == 0 else math.inf * (1 if (nv > 0) == hib else -1)
        else:
            change = (nv - ov) / abs(ov)
            if not hib:
                change = -change  # time went down = better
        noise = max(threshold, rel_spread(o), rel_spread(n))
        if change < -noise:
            verdict = "REGRESSION"
            regressions.append(key)
        elif change > noise:
            verdict = "improved"
        else:
            verdict = "~"
        rows.append((key, n.get("unit", ""), ov, nv, change, noise, verdict))
    return rows, regressions, sorted(set(old) - set(new)), sorted(set(new) - set(old))


def report(rows, only_old, only_new, out=sys.stdout):
    w = max([len(f"{k[0]}/{k[1]} [{k[2]}]") for k, *_ in rows] + [10])
    print(f"{'record':<{w}} {'old':>12} {'new':>12} {'unit':<8} {'change':>9} {'noise':>7}  verdict", file=out)
    for key, unit, ov, nv, change, noise, verdict in rows:
        name = f"{key[0]}/{key[1]} [{key[2]}]"
        print(f"{name:<{w}} {ov:>12.6g} {nv:>12.6g} {unit:<8} {100 * change:>+8.1f}% {100 * noise:>6.1f}%  {verdict}",
              file=out)
    for key in only_old:
        print(f"only in old: {key[0]}/{key[1]} [{key[2]}]", file=out)
    for key in only_new:
        print(f"only in new: {key[0]}/{key[1]} [{key[2]}]", file=out)


def main(argv=None):
    p = argparse.ArgumentParser(description="compare two benchmark JSON files")
    p.add_argument("old", nargs="?")
    p.add_argument("new", nargs="?")
    p.add_argument("--threshold", type=float, default=0.05,
                   help="smallest relative change counted as real (default 0.05)")
    p.add_argument("--system", default=None, help="only records of this system (e.g. fastnn)")
    p.add_argument("--self-test", action="store_true", help="check this script on crafted files")
    a = p.parse_args(argv)
    if a.self_test:
        return self_test()
    if not a.old or not a.new:
        p.error("need OLD and NEW (or --self-test)")
    try:
        old, new = load(a.old), load(a.new)
    except BadInput as e:
        print(e, file=sys.stderr)
        return 2
    if a.system:
        old = {k: v for k, v in old.items() if k[2] == a.system}
        new = {k: v for k, v in new.items() if k[2] == a.system}
    rows, regs, only_old, only_new = compare(old, new, a.threshold)
    report(rows, only_old, only_new)
    if not rows:
        print("no records in common")
    if regs:
        print(f"\n{len(regs)} regression(s) beyond the noise:")
        for k in regs:
            print(f"  {k[0]}/{k[1]} [{k[2]}]")
        return 1
    print(f"\nno regression ({len(rows)} records compared)")
    return 0


def self_test():
    """Crafts a baseline, a noisy-but-fine copy and one with an injected
    regression, runs this script on them as a separate process and checks
    the exit codes and verdicts."""
    def rec(suite, name, system, value, spread, unit="s/epoch", hib=False):
        return {"suite": suite, "name": name, "system": system, "threads": 1, "value": value,
                "unit": unit, "higher_is_better": hib, "spread": spread, "runs": 3,
                "machine": {"cpu": "test", "cores": 1, "simd": "test"}}

    base = [rec("peers", "fashion b32 t1 train", "fastnn", 1.00, [0.98, 1.02]),
            rec("peers", "fashion b32 t1 train", "pytorch", 10.0, [9.0, 12.0]),
            rec("kernels", "X*W 32x784x128 t1", "fastnn", 50.0, [49.0, 51.0], "GFLOP/s", True),
            rec("infer", "fashion test-set t1", "fastnn", 0.010, [0.0099, 0.0101], "s")]
    fine = [dict(r) for r in base]
    fine[0]["value"] = 1.03          # +3% slower: under 5%
    fine[1]["value"] = 11.5          # +15% slower but the spread is 30%
    fine[2]["value"] = 48.0          # -4% GFLOP/s: under 5%
    fine[3]["value"] = 0.008         # faster: an improvement
    bad = [dict(r) for r in base]
    bad[0]["value"] = 1.20           # fastnn 20% slower, spread 4%: regression
    bad_hib = [dict(r) for r in base]
    bad_hib[2]["value"] = 40.0       # GFLOP/s down 20% (higher is better): regression
    extra = base + [rec("peers", "mnist b32 t1 train", "fastnn", 1.0, [1.0, 1.0])]

    failures = []
    with tempfile.TemporaryDirectory() as d:
        def write(name, recs):
            path = os.path.join(d, name)
            with open(path, "w") as f:
                json.dump(recs, f)
            return path

        files = {n: write(n + ".json", r) for n, r in
                 [("base", base), ("fine", fine), ("bad", bad), ("bad_hib", bad_hib), ("extra", extra)]}
        with open(os.path.join(d, "broken.json"), "w") as f:
            f.write("[{\"suite\": ")
        files["broken"] = os.path.join(d, "broken.json")

        def run(old, new):
            r = subprocess.run([sys.executable, os.path.abspath(__file__), files[old], files[new]],
                               capture_output=True, text=True)
            return r.returncode, r.stdout + r.stderr

        for old, new, want, must in [
            ("base", "base", 0, "no regression"),
            ("base", "fine", 0, "improved"),
            ("base", "bad", 1, "peers/fashion b32 t1 train [fastnn]"),
            ("base", "bad_hib", 1, "kernels/X*W 32x784x128 t1 [fastnn]"),
            ("bad", "base", 0, "improved"),
            ("base", "extra", 0, "only in new: peers/mnist b32 t1 train [fastnn]"),
            ("base", "broken", 2, "cannot read benchmark JSON"),
        ]:
            code, out = run(old, new)
            ok = code == want and must in out
            print(f"{'ok  ' if ok else 'FAIL'} {old} -> {new}: exit {code} (want {want})")
            if not ok:
                failures.append((old, new, out))
        # the pytorch record of `fine` changed by 15% inside its 30% spread: not flagged
        code, out = run("base", "fine")
        line = [l for l in out.splitlines() if "[pytorch]" in l]
        if not line or not line[0].rstrip().endswith("~"):
            failures.append(("base", "fine", "pytorch change inside the spread was judged: " + out))
            print("FAIL spread rule")
        else:
            print("ok   a change inside the spread is not flagged")
    for old, new, out in failures:
        print(f"--- {old} -> {new}\n{out}")
    print("self-test " + ("FAILED" if failures else "passed"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
