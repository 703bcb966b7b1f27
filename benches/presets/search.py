#!/usr/bin/env python3
"""The hyper-parameter search behind the speed-run presets `fashion-best`
and `mnist-best`, on the validation split only.

Every candidate trains on the first 90% of the training set
(`--validation-split 0.1`, the last 6,000 images held out before
shuffling) and is judged by its validation accuracy after the last epoch,
averaged over seeds 1-3; the test set is never used here. Candidates are
plain MLPs whose training fits the 10 s budget on 2 cores (counted in
FLOP per epoch, since the shared machine's timings are noisy).

    python3 benches/presets/search.py fashion OUT.jsonl [NAME ...]

appends one JSON line per finished (candidate, seed) to OUT.jsonl and
skips those already there. `summary OUT.jsonl` prints the table.
"""

import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("FASTNN_BIN") or os.path.join(ROOT, "target", "release", "fastnn")

# name -> flags (on top of --validation-split 0.1 --threads 2 --quiet).
CANDIDATES = {
    "fashion": {
        "f512-b128-e15-cos-d2": "--hidden 512 --batch-size 128 --epochs 15 --schedule cosine --dropout 0.2",
        "f512-b128-e15-cos-d2-flip": "--hidden 512 --batch-size 128 --epochs 15 --schedule cosine --dropout 0.2 --augment flip",
        "f512-b128-e15-cos-d3-flip-lr2": "--hidden 512 --batch-size 128 --epochs 15 --schedule cosine --dropout 0.3 --augment flip --lr 0.002",
        "f512-b128-e15-cos-d2-flip-wd": "--hidden 512 --batch-size 128 --epochs 15 --schedule cosine --dropout 0.2 --augment flip --optimizer adamw --weight-decay 0.05",
        "f256x2-b128-e20-cos-d2-flip": "--hidden 256,256 --batch-size 128 --epochs 20 --schedule cosine --dropout 0.2 --augment flip",
        "f512-b128-e15-const": "--hidden 512 --batch-size 128 --epochs 15",
        "f512-b128-e15-cos-d2-flip-shift1": "--hidden 512 --batch-size 128 --epochs 15 --schedule cosine --dropout 0.2 --augment flip,shift=1",
        "f512-b256-e15-cos-d2-flip-lr2": "--hidden 512 --batch-size 256 --epochs 15 --schedule cosine --dropout 0.2 --augment flip --lr 0.002",
        "f1024-b256-e10-cos-d3-lr2": "--hidden 1024 --batch-size 256 --epochs 10 --schedule cosine --dropout 0.3 --lr 0.002",
        "f512x256-b128-e12-cos-d2": "--hidden 512,256 --batch-size 128 --epochs 12 --schedule cosine --dropout 0.2",
        "f512-b64-e12-cos-d2": "--hidden 512 --batch-size 64 --epochs 12 --schedule cosine --dropout 0.2",
        "f512-b128-e15-cos-d3-std": "--hidden 512 --batch-size 128 --epochs 15 --schedule cosine --dropout 0.3 --preprocess standardize",
        "f512-b256-e15-cos-d2-std-lr2": "--hidden 512 --batch-size 256 --epochs 15 --schedule cosine --dropout 0.2 --preprocess standardize --lr 0.002",
        "f512-b128-e15-cos-d2-std-wd": "--hidden 512 --batch-size 128 --epochs 15 --schedule cosine --dropout 0.2 --preprocess standardize --optimizer adamw --weight-decay 0.05",
        "f768-b128-e12-cos-d2-std": "--hidden 768 --batch-size 128 --epochs 12 --schedule cosine --dropout 0.2 --preprocess standardize",
        "f512-b128-e15-cos-d2-std-shift1": "--hidden 512 --batch-size 128 --epochs 15 --schedule cosine --dropout 0.2 --preprocess standardize --augment shift=1",
        "f512-b128-e20-cos-d2-std-wd": "--hidden 512 --batch-size 128 --epochs 20 --schedule cosine --dropout 0.2 --preprocess standardize --optimizer adamw --weight-decay 0.05",
        "f1024-b128-e10-cos-d3-std-wd": "--hidden 1024 --batch-size 128 --epochs 10 --schedule cosine --dropout 0.3 --preprocess standardize --optimizer adamw --weight-decay 0.05",
        "f512-b128-e15-cos-d2-std": "--hidden 512 --batch-size 128 --epochs 15 --schedule cosine --dropout 0.2 --preprocess standardize",
    },
    "mnist": {
        "m1024-b256-e10-cos-d3-shift2-lr2": "--hidden 1024 --batch-size 256 --epochs 10 --schedule cosine --dropout 0.3 --augment shift=2 --lr 0.002",
        "m512-b128-e15-cos-d2-shift2-std": "--hidden 512 --batch-size 128 --epochs 15 --schedule cosine --dropout 0.2 --augment shift=2 --preprocess standardize",
        "m512-b128-e15-cos-d2": "--hidden 512 --batch-size 128 --epochs 15 --schedule cosine --dropout 0.2",
        "m512-b128-e15-cos-d2-shift2": "--hidden 512 --batch-size 128 --epochs 15 --schedule cosine --dropout 0.2 --augment shift=2",
        "m512-b128-e15-cos-d2-shift1": "--hidden 512 --batch-size 128 --epochs 15 --schedule cosine --dropout 0.2 --augment shift=1",
        "m256x2-b128-e20-cos-d2-shift2": "--hidden 256,256 --batch-size 128 --epochs 20 --schedule cosine --dropout 0.2 --augment shift=2",
        "m512-b128-e15-cos-d3-shift2-lr2": "--hidden 512 --batch-size 128 --epochs 15 --schedule cosine --dropout 0.3 --augment shift=2 --lr 0.002",
        "m512-b128-e15-const": "--hidden 512 --batch-size 128 --epochs 15",
        "m512-b128-e15-cos-d2-affine": "--hidden 512 --batch-size 128 --epochs 15 --schedule cosine --dropout 0.2 --augment shift=2,rotate=8,scale=0.08",
    },
}

# Screening runs one seed (FASTNN_SEEDS=1); the finalists run all three.
SEEDS = [int(x) for x in os.environ.get("FASTNN_SEEDS", "1,2,3").split(",")]


def done(out):
    seen = set()
    if os.path.exists(out):
        with open(out) as f:
            for line in f:
                r = json.loads(line)
                seen.add((r["name"], r["seed"]))
    return seen


def run(dataset, name, flags, seed):
    with tempfile.TemporaryDirectory() as tmp:
        summary = os.path.join(tmp, "run.json")
        cmd = [BIN, "train", "--dataset", dataset, "--validation-split", "0.1",
               "--threads", "2", "--quiet", "--seed", str(seed), "--json", summary] + flags.split()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        with open(summary) as f:
            s = json.load(f)
    last = s["epochs"][-1]
    return {
        "dataset": dataset,
        "name": name,
        "flags": flags,
        "seed": seed,
        "val_accuracy": last["val_accuracy"],
        "val_loss": last["val_loss"],
        "best_val_accuracy": max(e["val_accuracy"] for e in s["epochs"]),
        "train_accuracy": last["accuracy"],
        "epochs": len(s["epochs"]),
        "train_seconds": s["train_seconds"],
    }


def summary(out):
    rows = {}
    with open(out) as f:
        for line in f:
            r = json.loads(line)
            rows.setdefault((r["dataset"], r["name"]), []).append(r)
    table = []
    for (dataset, name), rs in rows.items():
        mean = sum(r["val_accuracy"] for r in rs) / len(rs)
        secs = sum(r["train_seconds"] for r in rs) / len(rs)
        table.append((dataset, mean, name, len(rs), secs, rs[0]["flags"]))
    for dataset, mean, name, n, secs, flags in sorted(table, key=lambda t: (t[0], -t[1])):
        print(f"{dataset:8} {mean:.4f} ({n} seeds, {secs:5.1f} s with validation)  {name:36} {flags}")


def main():
    if sys.argv[1] == "summary":
        return summary(sys.argv[2])
    dataset, out = sys.argv[1], sys.argv[2]
    names = sys.argv[3:] or list(CANDIDATES[dataset])
    seen = done(out)
    for name in names:
        for seed in SEEDS:
            if (name, seed) in seen:
                continue
            r = run(dataset, name, CANDIDATES[dataset][name], seed)
            with open(out, "a") as f:
                f.write(json.dumps(r) + "\n")
            print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
