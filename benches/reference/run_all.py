#!/usr/bin/env python3
"""Driver: runs the Keras and PyTorch references and writes results.json.

Accuracy runs: {keras, torch} x {mnist, fashion} x {tutorial, corrected} x
seeds, threads 2, batch 32, the presets' epochs (fashion 9, mnist 3).
Timing runs: fashion, corrected, seed 1, 2 epochs, threads {1, 2} x batch
{32, 256}; the first epoch pays graph tracing / warm-up, so both the first
and the second epoch's seconds are kept.

Each run is its own process (clean threading settings); results.json is
rewritten after every run, so an interrupted run keeps what it finished and
`--resume` skips runs already in it.

    python run_all.py [--data-root DIR] [--seeds 1,2,3] [--only accuracy|timing]
                      [--resume] [--out results.json]
    python run_all.py --table [--out results.json]    # print the markdown tables
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common  # noqa: E402

SCRIPTS = {"keras": "keras_ref.py", "torch": "torch_ref.py"}


def key(r):
    return (r["framework"], r["preset"], r["variant"], r["seed"], r["threads"], r["batch_size"],
            r["epochs"], r["purpose"])


def plan(seeds, only, timing_seeds=(1,)):
    runs = []
    if only in (None, "accuracy"):
        for variant in ("corrected", "tutorial"):
            for preset in ("mnist", "fashion"):
                for seed in seeds:
                    for fw in ("keras", "torch"):
                        runs.append(dict(framework=fw, preset=preset, variant=variant, seed=seed, threads=2,
                                         batch_size=32, epochs=common.PRESETS[preset]["epochs"],
                                         purpose="accuracy"))
    if only in (None, "timing"):
        for threads in (1, 2):
            for bs in (32, 256):
                for fw in ("keras", "torch"):
                    for seed in timing_seeds:  # more seeds = repeated timings
                        runs.append(dict(framework=fw, preset="fashion", variant="corrected", seed=seed,
                                         threads=threads, batch_size=bs, epochs=2, purpose="timing"))
    return runs


def summarize(runs):
    acc, tim = {}, {}
    for r in runs:
        if "error" in r:
            continue
        if r["purpose"] == "accuracy":
            acc.setdefault((r["framework"], r["preset"], r["variant"]), []).append(r)
        elif r["purpose"] == "timing":
            tim.setdefault((r["framework"], r["preset"], r["threads"], r["batch_size"]), []).append(r)
    summary = []
    for (fw, preset, variant), rs in sorted(acc.items()):
        ta = [r["test_accuracy"] for r in rs]
        summary.append({
            "framework": fw, "preset": preset, "variant": variant, "threads": 2, "batch_size": 32,
            "n_runs": len(rs), "seeds": [r["seed"] for r in rs],
            "test_accuracy_mean": statistics.fmean(ta), "test_accuracy_min": min(ta), "test_accuracy_max": max(ta),
            "test_accuracy_std": statistics.stdev(ta) if len(ta) > 1 else 0.0,
            "test_loss_mean": statistics.fmean(r["test_loss"] for r in rs),
            "train_accuracy_mean": statistics.fmean(r["train_accuracy"] for r in rs),
            "train_loss_mean": statistics.fmean(r["train_loss"] for r in rs),
            "seconds_per_epoch_mean": statistics.fmean(r["seconds_per_epoch"] for r in rs),
            "seconds_per_epoch_after_first_mean": statistics.fmean(
                r["seconds_per_epoch_after_first"] for r in rs if r["seconds_per_epoch_after_first"] is not None),
            "versions": rs[0]["versions"],
        })
    timing = []
    for (fw, preset, threads, bs), rs in sorted(tim.items()):
        timing.append({
            "framework": fw, "preset": preset, "threads": threads, "batch_size": bs, "n_runs": len(rs),
            "first_epoch_seconds": statistics.fmean(r["per_epoch"][0]["seconds"] for r in rs),
            "steady_epoch_seconds": statistics.fmean(r["per_epoch"][-1]["seconds"] for r in rs),
            "steady_epoch_seconds_min": min(r["per_epoch"][-1]["seconds"] for r in rs),
            "steady_images_per_second": statistics.fmean(
                r["n_train"] / r["per_epoch"][-1]["seconds"] for r in rs),
            "loadavg_1min_before": [r["loadavg_before"][0] for r in rs],
        })
    return summary, timing


def write(out, runs, meta):
    summary, timing = summarize(runs)
    doc = dict(meta)
    doc.update({"updated_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "summary": summary, "timing": timing, "runs": runs})
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    os.replace(tmp, out)


def table(doc):
    summary, timing = summarize(doc["runs"])
    doc = dict(doc, summary=summary, timing=timing)
    lines = ["| framework | preset | variant | runs | test accuracy mean [min–max] | train accuracy mean "
             "| test loss mean | s/epoch (2 threads, batch 32; mean of all epochs) |",
             "|---|---|---|---|---|---|---|---|"]
    for s in doc["summary"]:
        lines.append(f"| {s['framework']} | {s['preset']} | {s['variant']} | {s['n_runs']} | "
                     f"{s['test_accuracy_mean']:.4f} [{s['test_accuracy_min']:.4f}–{s['test_accuracy_max']:.4f}] | "
                     f"{s['train_accuracy_mean']:.4f} | {s['test_loss_mean']:.4f} | "
                     f"{s['seconds_per_epoch_mean']:.2f} |")
    lines += ["", "| framework | preset | threads | batch | runs | 1st epoch s (mean) | 2nd epoch s mean [min] "
              "| images/s (2nd epoch, mean) |", "|---|---|---|---|---|---|---|---|"]
    for t in doc["timing"]:
        lines.append(f"| {t['framework']} | {t['preset']} | {t['threads']} | {t['batch_size']} | "
                     f"{t['n_runs']} | {t['first_epoch_seconds']:.2f} | {t['steady_epoch_seconds']:.2f} "
                     f"[{t['steady_epoch_seconds_min']:.2f}] | "
                     f"{t['steady_images_per_second']:.0f} |")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data-root", default=os.path.join(common.REPO, "data"),
                   help="folder holding fashion/ and mnist/ IDX folders")
    p.add_argument("--python", default=os.path.join(HERE, ".venv", "bin", "python"))
    p.add_argument("--seeds", default="1,2,3")
    p.add_argument("--timing-seeds", default="1", help="one timing run per seed (repetitions)")
    p.add_argument("--only", choices=["accuracy", "timing"], default=None)
    p.add_argument("--frameworks", default="keras,torch")
    p.add_argument("--resume", action="store_true", help="skip planned runs already in --out")
    p.add_argument("--out", default=os.path.join(HERE, "results.json"))
    p.add_argument("--table", action="store_true")
    a = p.parse_args()

    if a.table:
        with open(a.out) as f:
            print(table(json.load(f)))
        return

    seeds = [int(s) for s in a.seeds.split(",")]
    fws = a.frameworks.split(",")
    # Runs already in --out are kept; the planned ones are redone (replacing
    # the old records), or skipped with --resume.
    runs = []
    if os.path.exists(a.out):
        with open(a.out) as f:
            runs = [r for r in json.load(f)["runs"] if "error" not in r]
    planned = plan(seeds, a.only, [int(s) for s in a.timing_seeds.split(",")])
    if not a.resume:
        redo = {key(r) for r in planned}
        runs = [r for r in runs if key(r) not in redo]
    done = {key(r) for r in runs}
    meta = {"description": "Keras and PyTorch references for fastnn's fashion and mnist presets",
            "machine": {"cpu": common.cpu_model(), "nproc": os.cpu_count()},
            "noise_note": "2-core machine shared with parallel Rust compiles: timings are noisy "
                          "(see loadavg_before/after per run); accuracies are not affected"}
    todo = [r for r in planned if r["framework"] in fws and key(r) not in done]
    print(f"{len(todo)} runs to do ({len(done)} already done)", flush=True)
    for i, spec in enumerate(todo):
        cmd = [a.python, os.path.join(HERE, SCRIPTS[spec["framework"]]), "--preset", spec["preset"],
               "--data", os.path.join(a.data_root, spec["preset"]), "--variant", spec["variant"],
               "--seed", str(spec["seed"]), "--threads", str(spec["threads"]),
               "--batch-size", str(spec["batch_size"]), "--epochs", str(spec["epochs"]),
               "--purpose", spec["purpose"]]
        la0 = os.getloadavg()
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        la1 = os.getloadavg()
        rec = None
        for line in proc.stdout.splitlines():
            if line.startswith("RESULT "):
                rec = json.loads(line[len("RESULT "):])
        if proc.returncode != 0 or rec is None:
            rec = dict(spec, error=f"exit {proc.returncode}: {proc.stderr[-2000:]}")
            print(f"[{i + 1}/{len(todo)}] FAILED {spec}: {rec['error'][-500:]}", flush=True)
        else:
            print(f"[{i + 1}/{len(todo)}] {spec['framework']} {spec['preset']} {spec['variant']} seed "
                  f"{spec['seed']} t{spec['threads']} b{spec['batch_size']}: test acc "
                  f"{rec['test_accuracy']:.4f}, {rec['seconds_per_epoch']:.2f} s/epoch, "
                  f"load {la0[0]:.1f}", flush=True)
        rec["loadavg_before"] = list(la0)
        rec["loadavg_after"] = list(la1)
        rec["process_wall_seconds"] = wall
        runs.append(rec)
        write(a.out, runs, meta)
    if not todo:
        write(a.out, runs, meta)
    with open(a.out) as f:
        print(table(json.load(f)))


if __name__ == "__main__":
    main()
