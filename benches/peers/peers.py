#!/usr/bin/env python3
"""The peers suite: fastnn, PyTorch and TensorFlow/Keras side by side, on the
same machine in the same run.

    python benches/peers/peers.py [--repeats R] [--epochs E | --full]
        [--presets fashion,mnist] [--batch-sizes 32,256] [--threads 1,N]
        [--systems fastnn,pytorch,tensorflow] [--json FILE] [--markdown FILE]

(benches/peers/run.sh sets up the Python environment, builds fastnn and runs
this.) Every run is its own process, and the runs alternate: each round runs
every system once per (preset, threads), the order of the systems rotating
from round to round, so a change in the machine's load hits all systems
alike. Per round and (preset, threads):

- fastnn: `fastnn train --preset P --batch-size B --threads T --epochs E
  --quiet --json F` for each batch size (one process each), and once per
  round and thread count `fastnn bench infer --threads T --json F`;
- PyTorch and TensorFlow: one `worker.py` process per system that loads the
  data, trains a fresh network per batch size and then measures inference.

Seconds per epoch are the training epochs after the first (the first is a
warm-up: graph tracing, page faults, allocator growth); with `--epochs 1`
the only epoch is used. Data loading and test-set evaluation are never in
them. The results are written as records of the project's benchmark schema
(see src/bench/mod.rs), and printed as tables.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SYSTEMS = ("fastnn", "pytorch", "tensorflow")
PRESET_EPOCHS = {"fashion": 9, "mnist": 3}
HIDDEN = {"fashion": [128], "mnist": [128, 128]}


def flops_per_image(preset):
    """Useful FLOP per training image: forward (2·in·out per layer) and
    backward (weight gradients of every layer, input gradients of all but the
    first), as fastnn's `Architecture` counts them."""
    dims = [784] + HIDDEN[preset] + [10]
    layers = list(zip(dims[:-1], dims[1:]))
    fwd = sum(2 * i * o for i, o in layers)
    bwd = fwd + sum(2 * i * o for i, o in layers[1:])
    return fwd, bwd


def parse():
    ncpu = os.cpu_count() or 1
    p = argparse.ArgumentParser(description="fastnn vs PyTorch vs TensorFlow")
    p.add_argument("--repeats", type=int, default=None,
                   help="rounds over all systems (default 3; 1 with --full)")
    p.add_argument("--epochs", type=int, default=None,
                   help="epochs per training run (default 2: a warm-up epoch and a timed one)")
    p.add_argument("--full", action="store_true",
                   help="train the presets' full epochs (fashion 9, mnist 3) for accuracy")
    p.add_argument("--presets", default="fashion,mnist")
    p.add_argument("--batch-sizes", default="32,256")
    p.add_argument("--threads", default=f"1,{ncpu}", help=f"thread counts (default 1,{ncpu})")
    p.add_argument("--systems", default=",".join(SYSTEMS))
    p.add_argument("--seed", type=int, default=1, help="seed of the first round (round r: seed + r)")
    p.add_argument("--fastnn", default=os.path.join(REPO, "target", "release", "fastnn"))
    p.add_argument("--no-peak", action="store_true",
                   help="skip `fastnn bench kernels` (the FMA peak behind share_of_peak)")
    p.add_argument("--json", default=os.path.join(HERE, "results.json"))
    p.add_argument("--markdown", default=None, help="also write the tables as markdown here")
    p.add_argument("--keep", default=None, help="keep every run's raw JSON and log in this folder")
    a = p.parse_args()
    a.presets = [x for x in a.presets.split(",") if x]
    a.batch_sizes = [int(x) for x in a.batch_sizes.split(",")]
    a.threads = sorted({int(x) for x in a.threads.split(",")})
    a.systems = [x for x in a.systems.split(",") if x]
    for s in a.systems:
        if s not in SYSTEMS:
            p.error(f"unknown system {s}")
    for pr in a.presets:
        if pr not in PRESET_EPOCHS:
            p.error(f"unknown preset {pr}")
    if a.repeats is None:
        a.repeats = 1 if a.full else 3
    if a.full and a.epochs is not None:
        p.error("--full and --epochs exclude each other")
    if min([a.repeats] + a.batch_sizes + a.threads) < 1 or (a.epochs is not None and a.epochs < 1):
        p.error("counts must be >= 1")
    return a


def run_proc(cmd, log, env=None):
    """Runs cmd as a child process; returns (seconds, peak RSS MiB of that
    child alone, from wait4's rusage)."""
    t0 = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=REPO, env=env)
        _, status, ru = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    secs = time.perf_counter() - t0
    if proc.returncode != 0:
        with open(log) as f:
            tail = f.read()[-3000:]
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{tail}")
    return secs, ru.ru_maxrss / 1024.0  # Linux: KiB


def child_env(threads):
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = str(threads)
    env["MKL_NUM_THREADS"] = str(threads)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return env


def timed_epochs(epochs):
    secs = [e["seconds"] for e in epochs]
    return secs[1:] if len(secs) > 1 else secs


def main():
    a = parse()
    epochs = a.epochs or 2
    full_epochs = a.full
    work = a.keep or tempfile.mkdtemp(prefix="fastnn-peers-")
    os.makedirs(work, exist_ok=True)
    if "fastnn" in a.systems and not os.access(a.fastnn, os.X_OK):
        raise SystemExit(f"{a.fastnn}: not built (run `cargo build --release`)")

    # samples[(kind, preset, batch, threads, system)] -> list of per-run dicts
    samples = {}

    def add(key, item):
        samples.setdefault(key, []).append(item)

    versions = {"python": platform.python_version()}
    fastnn_machine = None
    peak = {}  # threads -> best FMA peak seen (a maximum: the best of the rounds)
    best_kernel = {}  # threads -> best GFLOP/s of fastnn's GEMM kernels seen

    def measure_peak(r, t):
        nonlocal fastnn_machine
        f = os.path.join(work, f"r{r}-kernels-t{t}.json")
        run_proc([a.fastnn, "bench", "kernels", "--quick", "--threads", str(t), "--json", f],
                 f + ".log", child_env(t))
        recs = json.load(open(f))
        for rec in recs:
            fastnn_machine = rec["machine"]
            if "peak_gflops" in rec:
                peak[t] = max(peak.get(t, 0.0), rec["peak_gflops"])
            if "fastnn_gflops" in rec:
                best_kernel[t] = max(best_kernel.get(t, 0.0), rec["fastnn_gflops"])

    t_start = time.time()
    for r in range(a.repeats):
        seed = a.seed + r
        k = r % len(a.systems)
        order = a.systems[k:] + a.systems[:k]  # rotate the starting system each round
        for t in a.threads:
            if "fastnn" in a.systems and not a.no_peak:
                print(f"[peers] round {r + 1}/{a.repeats}: fastnn bench kernels --quick t{t}", flush=True)
                measure_peak(r, t)
            for pr in a.presets:
                ep = PRESET_EPOCHS[pr] if full_epochs else epochs
                for system in order:
                    tag = f"r{r} {pr} t{t} {system}"
                    print(f"[peers] round {r + 1}/{a.repeats}: {pr} t{t} {system} "
                          f"({time.time() - t_start:.0f} s)", flush=True)
                    if system == "fastnn":
                        for b in a.batch_sizes:
                            f = os.path.join(work, f"{tag.replace(' ', '-')}-b{b}.json")
                            _, rss = run_proc([a.fastnn, "train", "--preset", pr, "--batch-size", str(b),
                                               "--threads", str(t), "--epochs", str(ep), "--seed", str(seed),
                                               "--quiet", "--json", f], f + ".log", child_env(t))
                            j = json.load(open(f))
                            versions["fastnn"] = j.get("fastnn_version")
                            add(("train", pr, b, t, system), {
                                "epoch_seconds": timed_epochs(j["epochs"]),
                                "first_epoch_seconds": j["epochs"][0]["seconds"],
                                "test_accuracy": j["test_accuracy"], "peak_rss_mb": rss,
                                "rss_first_in_process": True,
                                "epochs": len(j["epochs"])})
                    else:
                        f = os.path.join(work, f"{tag.replace(' ', '-')}.json")
                        _, rss = run_proc([sys.executable, os.path.join(HERE, "worker.py"), "--system", system,
                                           "--preset", pr, "--batch-sizes", ",".join(map(str, a.batch_sizes)),
                                           "--threads", str(t), "--epochs", str(ep), "--seed", str(seed),
                                           "--json", f], f + ".log", child_env(t))
                        j = json.load(open(f))
                        versions.update(j["versions"])
                        for i, tr in enumerate(j["trains"]):
                            add(("train", pr, tr["batch_size"], t, system), {
                                "rss_first_in_process": i == 0,
                                "epoch_seconds": timed_epochs(tr["epochs"]),
                                "first_epoch_seconds": tr["epochs"][0]["seconds"],
                                "test_accuracy": tr["test_accuracy"],
                                "peak_rss_mb": tr["peak_rss_mb"] or rss,
                                "process_peak_rss_mb": rss, "epochs": len(tr["epochs"])})
                        add(("infer-testset", pr, 10000, t, system),
                            {"value": statistics.median(j["infer_testset_seconds"])})
                        add(("infer-batch1", pr, 1, t, system),
                            {"value": statistics.median(j["infer_batch1_ms"])})
            if "fastnn" in a.systems:
                f = os.path.join(work, f"r{r}-fastnn-infer-t{t}.json")
                print(f"[peers] round {r + 1}/{a.repeats}: fastnn bench infer t{t}", flush=True)
                run_proc([a.fastnn, "bench", "infer", "--threads", str(t), "--json", f],
                         f + ".log", child_env(t))
                for rec in json.load(open(f)):
                    fastnn_machine = rec["machine"]
                    pr = rec["preset"]
                    if pr not in a.presets:
                        continue
                    if rec["unit"] == "s":
                        add(("infer-testset", pr, 10000, t, "fastnn"), {"value": rec["value"]})
                    else:
                        add(("infer-batch1", pr, 1, t, "fastnn"), {"value": rec["value"]})

    machine = {
        "cpu": (fastnn_machine or {}).get("cpu") or cpu_model(),
        "cores": (fastnn_machine or {}).get("cores") or os.cpu_count(),
        "simd": (fastnn_machine or {}).get("simd"),
        "compiled_features": (fastnn_machine or {}).get("compiled_features"),
        "fastnn_version": versions.get("fastnn") or (fastnn_machine or {}).get("fastnn_version"),
    }
    for k in ("torch", "tensorflow", "keras", "numpy", "python"):
        if k in versions:
            machine[k + "_version"] = versions[k]
    records = build_records(samples, machine, peak, best_kernel, a)
    tmp = a.json + ".tmp"
    with open(tmp, "w") as f:
        json.dump(records, f, indent=1)
        f.write("\n")
    os.replace(tmp, a.json)
    md = tables(records, machine, a)
    print()
    print(md)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(md)
    print(f"wrote {a.json} ({len(records)} records; raw runs in {work}; "
          f"{time.time() - t_start:.0f} s)")


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def build_records(samples, machine, peak, best_kernel, a):
    records = []
    fast = {}
    for (kind, pr, b, t, system), runs in samples.items():
        if kind == "train":
            vals = [s for r in runs for s in r["epoch_seconds"]]
        else:
            vals = [r["value"] for r in runs]
        med = statistics.median(vals)
        unit = {"train": "s/epoch", "infer-testset": "s", "infer-batch1": "ms"}[kind]
        rec = {"suite": "peers", "name": f"{pr} b{b} t{t} {kind}", "system": system, "threads": t,
               "value": med, "unit": unit, "higher_is_better": False,
               "spread": [min(vals), max(vals)], "runs": len(vals), "machine": machine,
               "preset": pr, "batch_size": b, "kind": kind}
        if kind == "train":
            n = 60000
            fwd, bwd = flops_per_image(pr)
            gflop = (fwd + bwd) * n / 1e9
            accs = [r["test_accuracy"] for r in runs]
            rss = [r["peak_rss_mb"] for r in runs]
            rec.update({
                "images_per_second": n / med,
                "epochs_per_run": runs[0]["epochs"],
                "processes": len(runs),
                "first_epoch_seconds": statistics.median(r["first_epoch_seconds"] for r in runs),
                "test_accuracy": statistics.median(accs),
                "test_accuracy_spread": [min(accs), max(accs)],
                "peak_rss_mb": statistics.median(rss),
                "peak_rss_mb_max": max(rss),
                # False: a PyTorch/TensorFlow run that followed another batch
                # size's run in the same process; its peak is measured from a
                # reset of VmHWM and includes what the earlier run left behind.
                "rss_first_in_process": all(r["rss_first_in_process"] for r in runs),
                "gflop_per_epoch": gflop,
                "gflops": gflop / med,
            })
            if t in peak:
                # the machine's FMA peak as `fastnn bench kernels` measures it
                # (best of all rounds), and fastnn's best GEMM kernel rate
                rec["peak_gflops"] = peak[t]
                rec["share_of_peak"] = gflop / med / peak[t]
                rec["best_kernel_gflops"] = best_kernel.get(t)
        elif kind == "infer-testset":
            rec["images_per_second"] = 10000 / med
        if system == "fastnn":
            fast[rec["name"]] = rec
        records.append(rec)
    for rec in records:
        f = fast.get(rec["name"])
        if f is not None:
            # fastnn's speed-up over this system: its median over fastnn's
            # (> 1: fastnn is faster; 1 for fastnn itself).
            rec["speedup_vs_fastnn"] = rec["value"] / f["value"]
            if rec["kind"] == "train" and rec is not f:
                rec["rss_ratio_vs_fastnn"] = rec["peak_rss_mb"] / f["peak_rss_mb"]
    order = {s: i for i, s in enumerate(SYSTEMS)}
    kinds = {"train": 0, "infer-testset": 1, "infer-batch1": 2}
    records.sort(key=lambda r: (kinds[r["kind"]], a.presets.index(r["preset"]), r["batch_size"],
                                r["threads"], order[r["system"]]))
    return records


def tables(records, machine, a):
    def fmt(x, nd=3):
        return f"{x:.{nd}f}"

    lines = [f"Machine: {machine['cpu']}, {machine['cores']} cores, fastnn SIMD {machine.get('simd')}; "
             + ", ".join(f"{k.replace('_version', '')} {v}" for k, v in machine.items() if k.endswith("_version")),
             "",
             "Training: seconds per epoch, median [min–max] over the timed epochs of all runs "
             "(the first epoch of each run excluded as warm-up); test accuracy is the median of the runs",
             "",
             "| preset | batch | threads | system | s/epoch | [min–max] | images/s | GFLOP/s | % of peak "
             "| test acc | peak RSS MB | fastnn speed-up |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        if r["kind"] != "train":
            continue
        share = f"{100 * r['share_of_peak']:.1f}%" if "share_of_peak" in r else "–"
        su = f"{r['speedup_vs_fastnn']:.1f}×" if "speedup_vs_fastnn" in r and r["system"] != "fastnn" else "–"
        lines.append(f"| {r['preset']} | {r['batch_size']} | {r['threads']} | {r['system']} | "
                     f"{fmt(r['value'])} | {fmt(r['spread'][0])}–{fmt(r['spread'][1])} | "
                     f"{r['images_per_second']:,.0f} | {r['gflops']:.1f} | {share} | "
                     f"{r['test_accuracy']:.4f} | {r['peak_rss_mb']:.0f}"
                     f"{'' if r.get('rss_first_in_process', True) else '*'} | {su} |")
    lines += ["", "Peak RSS: of the whole process (fastnn: one `fastnn train` process per run, "
              "from wait4's rusage). * PyTorch/TensorFlow train the batch sizes one after another in one "
              "process; these later runs' peaks are measured from a reset of VmHWM and include what the "
              "earlier run left allocated; compare memory on the unstarred rows."]
    lines += ["", f"Inference: the 10,000 test images in one batch (loss and accuracy), seconds; "
              f"batch-1 latency, ms; medians [min–max] over runs", "",
              "| preset | threads | system | test set s | [min–max] | images/s | batch-1 ms | [min–max] "
              "| fastnn speed-up (test set / batch 1) |",
              "|---|---|---|---|---|---|---|---|---|"]
    by = {(r["preset"], r["threads"], r["system"], r["kind"]): r for r in records}
    for pr in a.presets:
        for t in a.threads:
            for s in SYSTEMS:
                ts, b1 = by.get((pr, t, s, "infer-testset")), by.get((pr, t, s, "infer-batch1"))
                if ts is None or b1 is None:
                    continue
                su = "–" if s == "fastnn" or "speedup_vs_fastnn" not in ts else \
                    f"{ts['speedup_vs_fastnn']:.1f}× / {b1['speedup_vs_fastnn']:.1f}×"
                lines.append(f"| {pr} | {t} | {s} | {fmt(ts['value'], 4)} | "
                             f"{fmt(ts['spread'][0], 4)}–{fmt(ts['spread'][1], 4)} | "
                             f"{ts['images_per_second']:,.0f} | {fmt(b1['value'], 3)} | "
                             f"{fmt(b1['spread'][0], 3)}–{fmt(b1['spread'][1], 3)} | {su} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
