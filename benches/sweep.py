#!/usr/bin/env python3
"""Throughput of `fastnn sweep` against the same runs one after another.

    benches/sweep.py [--runs 8] [--epochs 3] [--threads 2] [--repeats 5]
                     [--quiet-repeats 0] [--max-minutes 30] [--json FILE]

Each repeat times, as whole processes (wall clock, from start to exit):

  sweep       fastnn sweep --dataset fashion --epochs E --seeds 1-R --threads T
              (T runs at once, one thread each, the dataset mapped once)
  one by one  fastnn train --dataset fashion --epochs E --seed S --threads T --quiet,
              for S = 1..R, one after another

alternating which goes first. Beside the wall clock it records the CPU time
of the processes and how many cores the rest of the machine kept busy
meanwhile (from /proc/stat): on a shared machine with autogroup scheduling
(Linux's default), a session competing with others gets the same share of
the CPU whatever its thread count, so only repeats during which the others
left the cores free ("quiet", under 0.25 cores) measure what parallel runs
gain. With --quiet-repeats Q it keeps repeating until Q quiet repeats (or
--max-minutes). Prints every repeat, the medians of all and of the quiet
repeats, models per hour, and the share of the measured FMA peak (from the
sweep's own report). Standard library only; Linux (/proc/stat).
"""

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time

QUIET = 0.25


def busy_seconds():
    """Non-idle CPU seconds of the whole machine since boot."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")


def measure(commands):
    """Runs the commands one after another: wall seconds, their CPU
    seconds, the cores the rest of the machine used meanwhile, stdouts."""
    r0, b0 = resource.getrusage(resource.RUSAGE_CHILDREN), busy_seconds()
    t0 = time.perf_counter()
    outs = [subprocess.run(c, check=True, capture_output=True, text=True).stdout for c in commands]
    wall = time.perf_counter() - t0
    r1, b1 = resource.getrusage(resource.RUSAGE_CHILDREN), busy_seconds()
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return wall, cpu, max(0.0, (b1 - b0) - cpu) / wall, outs


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=8)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--quiet-repeats", type=int, default=0)
    p.add_argument("--max-minutes", type=float, default=30)
    p.add_argument("--json", help="write every repeat and the medians here")
    a = p.parse_args()

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    subprocess.run(["cargo", "build", "--release", "--quiet"], check=True, cwd=root)
    fastnn = os.path.join(root, "target", "release", "fastnn")
    simd = subprocess.run([fastnn, "--version"], capture_output=True, text=True).stdout
    cpu_name = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    print(f"{cpu_name}, {os.cpu_count()} cores; fastnn {simd.split()[1]}, {simd.splitlines()[1]}")
    print(f"{a.runs} fashion runs of {a.epochs} epochs on {a.threads} threads")
    print(f"{'repeat':>6} {'sweep s':>8} {'1-by-1 s':>9} {'ratio':>6} {'cpu s':>11} {'others':>11}")

    common = ["--dataset", "fashion", "--epochs", str(a.epochs), "--threads", str(a.threads)]
    seq = [[fastnn, "train", *common, "--seed", str(s), "--quiet"] for s in range(1, a.runs + 1)]
    rows, reports, started = [], [], time.time()
    with tempfile.TemporaryDirectory() as tmp:
        r = 0
        while True:
            r += 1
            out = os.path.join(tmp, f"runs-{r}.jsonl")
            sweep = [[fastnn, "sweep", *common, "--seeds", f"1-{a.runs}", "--out", out]]
            first, second = (sweep, seq) if r % 2 else (seq, sweep)
            m1, m2 = measure(first), measure(second)
            ms, mq = (m1, m2) if r % 2 else (m2, m1)
            reports.append(next(l for l in ms[3][0].splitlines() if "models/hour" in l))
            row = {"sweep_s": ms[0], "one_by_one_s": mq[0], "sweep_cpu_s": ms[1],
                   "one_by_one_cpu_s": mq[1], "others_cores": max(ms[2], mq[2])}
            row["quiet"] = row["others_cores"] < QUIET
            rows.append(row)
            print(f"{r:>6} {ms[0]:>8.2f} {mq[0]:>9.2f} {mq[0] / ms[0]:>5.2f}x "
                  f"{ms[1]:>5.1f}/{mq[1]:<5.1f} {ms[2]:>5.2f}/{mq[2]:<5.2f}{' quiet' if row['quiet'] else ''}",
                  flush=True)
            quiet = sum(x["quiet"] for x in rows)
            if r >= a.repeats and quiet >= a.quiet_repeats:
                break
            if time.time() - started > a.max_minutes * 60:
                print(f"stopped after {a.max_minutes} minutes with {quiet} quiet repeats")
                break

    # Interference only slows the peak loop down: the best of the repeats.
    gflop = float(re.search(r"training ([0-9.]+) GFLOP", reports[-1]).group(1))
    peak = max(float(re.search(r"FMA peak \(([0-9.]+) GFLOP/s\)", r).group(1)) for r in reports)
    summary = {"cpu": cpu_name, "runs": a.runs, "epochs": a.epochs, "threads": a.threads,
               "train_gflop": gflop, "peak_gflops": peak, "repeats": rows}
    print()
    for name, sel in [("all", rows), ("quiet", [x for x in rows if x["quiet"]])]:
        if not sel:
            print(f"{name}: none")
            continue
        s = statistics.median(x["sweep_s"] for x in sel)
        q = statistics.median(x["one_by_one_s"] for x in sel)
        ratio = statistics.median(x["one_by_one_s"] / x["sweep_s"] for x in sel)
        cs = statistics.median(x["sweep_cpu_s"] for x in sel)
        cq = statistics.median(x["one_by_one_cpu_s"] for x in sel)
        summary[name] = {"repeats": len(sel), "sweep_s": s, "one_by_one_s": q, "ratio": ratio,
                         "sweep_models_per_hour": a.runs * 3600 / s,
                         "one_by_one_models_per_hour": a.runs * 3600 / q,
                         "sweep_share_of_peak": gflop / s / peak,
                         "one_by_one_share_of_peak": gflop / q / peak,
                         "sweep_cpu_s": cs, "one_by_one_cpu_s": cq}
        print(f"{name} ({len(sel)} repeats), medians: sweep {s:.2f} s, one by one {q:.2f} s; "
              f"sweep {ratio:.2f}x sooner (median of the ratios)")
        print(f"    models/hour: sweep {a.runs * 3600 / s:.0f}, one by one {a.runs * 3600 / q:.0f}; "
              f"share of the {a.threads}-thread FMA peak ({peak:.0f} GFLOP/s, {gflop:.1f} GFLOP "
              f"of training): sweep {100 * gflop / s / peak:.1f}%, one by one {100 * gflop / q / peak:.1f}%; "
              f"CPU seconds: sweep {cs:.1f}, one by one {cq:.1f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(summary, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
