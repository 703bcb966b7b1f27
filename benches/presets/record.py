#!/usr/bin/env python3
"""Records the speed-run presets' test accuracy over seeds 1-3 (the only
time their test set is used) and their training seconds on 2 threads,
into benches/presets/results.json, which the test suite reads.

    python3 benches/presets/record.py [ROUNDS]

Each preset and seed trains ROUNDS times (default 1) in turns; the
accuracy is the same every time (same bits), the seconds are noisy on a
shared machine, so the median and the fastest are both kept.
"""

import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("FASTNN_BIN") or os.path.join(ROOT, "target", "release", "fastnn")
OUT = os.path.join(ROOT, "benches", "presets", "results.json")
PRESETS = {"fashion-best": 0.900, "mnist-best": 0.985}
SEEDS = [1, 2, 3]


def cpu():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def train(preset, seed):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "run.json")
        cmd = [BIN, "train", "--preset", preset, "--seed", str(seed), "--threads", "2",
               "--quiet", "--json", out]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        with open(out) as f:
            return json.load(f)


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    runs = {(p, s): [] for p in PRESETS for s in SEEDS}
    for _ in range(rounds):
        for key in runs:
            runs[key].append(train(*key))
    presets = []
    for preset, target in PRESETS.items():
        accs, secs, all_secs = [], [], []
        for seed in SEEDS:
            rs = runs[(preset, seed)]
            assert len({r["test_accuracy"] for r in rs}) == 1, "same seed, same bits"
            accs.append(rs[0]["test_accuracy"])
            seconds = [r["train_seconds"] for r in rs]
            secs.append(statistics.median(seconds))
            all_secs += seconds
        presets.append({
            "preset": preset,
            "target_test_accuracy": target,
            "seeds": SEEDS,
            "test_accuracy": accs,
            "test_accuracy_mean": sum(accs) / len(accs),
            "train_seconds_median": statistics.median(all_secs),
            "train_seconds_min": min(all_secs),
            "train_seconds_max": max(all_secs),
            "runs_per_seed": rounds,
            "config": runs[(preset, 1)][0]["config"],
        })
    result = {
        "description": "fastnn's speed-run presets: test accuracy over seeds 1-3 and training "
                       "seconds on 2 threads (settings chosen on the validation split: search.py)",
        "machine": {"cpu": cpu(), "nproc": os.cpu_count()},
        "loadavg_after": os.getloadavg(),
        "updated_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "presets": presets,
    }
    with open(OUT, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    for p in presets:
        print(f"{p['preset']:13} test accuracy {p['test_accuracy_mean']:.4f} {p['test_accuracy']} "
              f"train {p['train_seconds_median']:.2f} s [{p['train_seconds_min']:.2f}-"
              f"{p['train_seconds_max']:.2f}]")


if __name__ == "__main__":
    main()
