#!/usr/bin/env python3
"""The cost of augmentation: seconds per training epoch with each
augmentation on and off, the `fashion` preset (batch 32) and a speed-run
shape (784-512-10, batch 128).

Two measures: the wall seconds per epoch on 2 threads (each run times 3
epochs, the first dropped as a warm-up), and the CPU seconds of a whole
run on 1 thread (3 epochs; the same test evaluation and start-up in every
variant), which a busy shared machine disturbs much less: its excess over
"off", divided by 3, is the augmentation's own cost per epoch. Variants run
in turns (off, shift, flip, ...) so a busy spell hits all of them; medians.

    python3 benches/presets/augment_cost.py [ROUNDS]
"""

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("FASTNN_BIN") or os.path.join(ROOT, "target", "release", "fastnn")

SHAPES = {
    "fashion b32": ["--hidden", "128", "--batch-size", "32"],
    "784-512-10 b128": ["--hidden", "512", "--batch-size", "128"],
}
VARIANTS = {
    "off": [],
    "shift=2": ["--augment", "shift=2"],
    "flip": ["--augment", "flip"],
    "rotate,scale,shear": ["--augment", "rotate=10,scale=0.1,shear=10"],
    "elastic=34:4": ["--augment", "elastic=34:4"],
}


def epochs(shape, variant, threads):
    """Wall seconds of epochs 2 and 3, and the run's CPU seconds."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "run.json")
        cmd = [BIN, "train", "--dataset", "fashion", "--epochs", "3", "--threads", str(threads),
               "--quiet", "--json", out] + SHAPES[shape] + VARIANTS[variant]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        with open(out) as f:
            return [e["seconds"] for e in json.load(f)["epochs"]][1:], cpu


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    for shape in SHAPES:
        secs = {v: [] for v in VARIANTS}
        cpus = {v: [] for v in VARIANTS}
        for _ in range(rounds):
            for v in VARIANTS:
                secs[v] += epochs(shape, v, 2)[0]
                cpus[v].append(epochs(shape, v, 1)[1])
        off = statistics.median(secs["off"])
        cpu_off = statistics.median(cpus["off"])
        for v, s in secs.items():
            med = statistics.median(s)
            cpu = statistics.median(cpus[v])
            print(f"{shape:16} {v:20} 2 threads {med:6.3f} s/epoch [{min(s):.3f}-{max(s):.3f}]"
                  f" {100 * (med / off - 1):+6.1f}% | 1 thread CPU {cpu:6.2f} s/run,"
                  f" {(cpu - cpu_off) / 3:+6.3f} s/epoch")


if __name__ == "__main__":
    main()
