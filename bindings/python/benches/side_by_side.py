"""Training time of Fashion-MNIST 784-128-10, 9 epochs, batch 32, Adam,
side by side in one run: `fastnn train` (the CLI), `fastnn.MLPClassifier`
from Python, and `sklearn.neural_network.MLPClassifier` with the same
settings. Rounds alternate the three, each run its own process; prints the
medians as a Markdown table (and --json FILE writes every run).

    python bindings/python/benches/side_by_side.py --rounds 5 --threads 2

What is timed: the CLI's `train_seconds` (its `--json`: the wall clock of
the 9 epochs, data already mapped, evaluation excluded); Python's wall
clock around `fit` on the uint8 arrays of `fastnn.datasets.load_data`;
sklearn's around `fit` on float32 pixels / 255 (prepared before timing).
sklearn runs with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (they slow
a current OpenBLAS) and its BLAS threads limited to --threads.
"""

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile

REPO = pathlib.Path(__file__).resolve().parents[3]

FASTNN_RUN = """
import json, sys, time
import fastnn
from fastnn.datasets import load_data
(x, y), (xt, yt) = load_data("fashion")
model = fastnn.MLPClassifier.preset("fashion", threads={threads})
start = time.perf_counter()
model.fit(x, y)
seconds = time.perf_counter() - start
print(json.dumps(dict(seconds=seconds, accuracy=model.score(xt, yt))))
"""

SKLEARN_RUN = """
import json, time, warnings
import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from fastnn.datasets import load_data
(x, y), (xt, yt) = load_data("fashion")
x = x.reshape(len(x), -1).astype(np.float32) / np.float32(255)
xt = xt.reshape(len(xt), -1).astype(np.float32) / np.float32(255)
model = MLPClassifier(hidden_layer_sizes=(128,), activation="relu", solver="adam",
                      alpha=0.0, batch_size=32, learning_rate_init=1e-3, max_iter=9,
                      beta_1=0.9, beta_2=0.999, epsilon=1e-7, random_state=42)
with threadpool_limits({threads}), warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    start = time.perf_counter()
    model.fit(x, y)
    seconds = time.perf_counter() - start
blas = [(i["internal_api"], i.get("architecture"), i["num_threads"]) for i in threadpool_info()]
print(json.dumps(dict(seconds=seconds, accuracy=model.score(xt, yt), blas=blas)))
"""


def run_python(code, threads, env=None):
    out = subprocess.run(
        [sys.executable, "-c", code.format(threads=threads)],
        capture_output=True, text=True, env=env, check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_cli(binary, threads):
    with tempfile.TemporaryDirectory() as tmp:
        summary = pathlib.Path(tmp) / "run.json"
        subprocess.run(
            [binary, "train", "--preset", "fashion", "--threads", str(threads), "--quiet",
             "--json", str(summary)],
            capture_output=True, check=True,
        )
        s = json.loads(summary.read_text())
        return dict(seconds=s["train_seconds"], accuracy=s["test_accuracy"])


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--binary", default=str(REPO / "target" / "release" / "fastnn"))
    p.add_argument("--json", help="write every run here")
    args = p.parse_args()

    sklearn_env = {k: v for k, v in os.environ.items()
                   if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    systems = {
        "fastnn CLI (`fastnn train --preset fashion`)": lambda: run_cli(args.binary, args.threads),
        "fastnn from Python (`MLPClassifier.preset(\"fashion\").fit`)":
            lambda: run_python(FASTNN_RUN, args.threads),
        "scikit-learn `MLPClassifier` (float32)":
            lambda: run_python(SKLEARN_RUN, args.threads, sklearn_env),
    }
    runs = {name: [] for name in systems}
    names = list(systems)
    for r in range(args.rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            result = systems[name]()
            runs[name].append(result)
            print(f"round {r + 1}: {name}: {result['seconds']:.2f} s, "
                  f"test accuracy {result['accuracy']:.4f}", file=sys.stderr)

    cli = statistics.median(x["seconds"] for x in runs[names[0]])
    print(f"\n| system ({args.threads} threads) | training, 9 epochs (median of {args.rounds}) "
          "| range | per epoch | vs the CLI | test accuracy |")
    print("|---|---|---|---|---|---|")
    for name in names:
        secs = [x["seconds"] for x in runs[name]]
        med = statistics.median(secs)
        acc = statistics.median(x["accuracy"] for x in runs[name])
        print(f"| {name} | {med:.2f} s | {min(secs):.2f}–{max(secs):.2f} s | {med / 9:.3f} s "
              f"| {med / cli:.2f}× | {acc:.4f} |")
    sk = runs[names[2]][-1].get("blas")
    print(f"\nscikit-learn's BLAS: {sk}")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(runs, indent=1))


if __name__ == "__main__":
    main()
