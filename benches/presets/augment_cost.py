#!/usr/bin/env python3
"""The cost of augmentation: seconds per training epoch with each
augmentation on and off, the `fashion` preset (batch 32) and a speed-run
shape (784-512-10, batch 128), on 2 threads.

Variants run in turns (off, shift, flip, affine, elastic, off, ...) so a
busy spell of the shared machine hits all of them; each run times 3 epochs
and the first is dropped as a warm-up. Prints the median seconds per epoch
of each variant and its cost over "off".

    python3 benches/presets/augment_cost.py [ROUNDS]
"""

import json
import os
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


def epochs(shape, variant):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "run.json")
        cmd = [BIN, "train", "--dataset", "fashion", "--epochs", "3", "--threads", "2",
               "--quiet", "--json", out] + SHAPES[shape] + VARIANTS[variant]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        with open(out) as f:
            return [e["seconds"] for e in json.load(f)["epochs"]][1:]


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    for shape in SHAPES:
        secs = {v: [] for v in VARIANTS}
        for _ in range(rounds):
            for v in VARIANTS:
                secs[v] += epochs(shape, v)
        off = statistics.median(secs["off"])
        for v, s in secs.items():
            med = statistics.median(s)
            print(f"{shape:16} {v:20} {med:6.3f} s/epoch [{min(s):.3f}-{max(s):.3f}]"
                  f"  {100 * (med / off - 1):+5.1f}%")


if __name__ == "__main__":
    main()
