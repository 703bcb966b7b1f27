"""Training time of Fashion-MNIST 784-128-10, 9 epochs, batch 32, Adam,
side by side in one run: `fastnn train` (the CLI), `fastnn.MLPClassifier`
from Python, and `sklearn.neural_network.MLPClassifier` with the same
settings. Rounds alternate the three, each run its own process; prints the
medians as a Markdown table (and --json FILE writes every run).

    python bindings/python/benches/side_by_side.py --rounds 5 --threads 1,2

What is timed: the CLI's `train_seconds` (its `--json`: the wall clock of
the 9 epochs, data already mapped, evaluation excluded); Python's wall
clock around `fit` on the uint8 arrays of `fastnn.datasets.load_data`;
sklearn's around `fit` on pixels / 255 (prepared before timing), in each
configuration of --sklearn DTYPE,THREADS[,machine-env]: float32 or
float64, its BLAS threads, and with `machine-env` the machine's own
OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE, which otherwise are unset (they pin
an older, slower kernel in a current OpenBLAS).
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
x = x.reshape(len(x), -1).astype(np.{dtype}) / np.{dtype}(255)
xt = xt.reshape(len(xt), -1).astype(np.{dtype}) / np.{dtype}(255)
model = MLPClassifier(hidden_layer_sizes=(128,), activation="relu", solver="adam",
                      alpha=0.0, batch_size=32, learning_rate_init=1e-3, max_iter=9,
                      beta_1=0.9, beta_2=0.999, epsilon=1e-7, random_state=42)
with threadpool_limits({sklearn_threads}), warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    start = time.perf_counter()
    model.fit(x, y)
    seconds = time.perf_counter() - start
    blas = [(i["internal_api"], i.get("architecture"), i["num_threads"])
            for i in threadpool_info()]
print(json.dumps(dict(seconds=seconds, accuracy=model.score(xt, yt), blas=blas)))
"""


def run_python(code, env=None, **params):
    out = subprocess.run(
        [sys.executable, "-c", code.format(**params)],
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
    p.add_argument("--threads", type=lambda v: [int(t) for t in v.split(",")], default=[2],
                   help="fastnn's threads, a comma list (e.g. 1,2)")
    p.add_argument("--sklearn", nargs="+", default=["float32,1", "float32,2", "float64,1"],
                   metavar="DTYPE,THREADS[,machine-env]",
                   help="scikit-learn configurations (input dtype, BLAS threads)")
    p.add_argument("--binary", default=str(REPO / "target" / "release" / "fastnn"))
    p.add_argument("--json", help="write every run here")
    args = p.parse_args()

    clean_env = {k: v for k, v in os.environ.items()
                 if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    systems = {}
    fastnn_rows = []
    for t in args.threads:
        cli_name = f"fastnn CLI (`fastnn train --preset fashion`), {t} thread{'s' * (t > 1)}"
        py_name = (f"fastnn from Python (`MLPClassifier.preset(\"fashion\").fit`), "
                   f"{t} thread{'s' * (t > 1)}")
        systems[cli_name] = lambda t=t: run_cli(args.binary, t)
        systems[py_name] = lambda t=t: run_python(FASTNN_RUN, threads=t)
        fastnn_rows.append((t, cli_name, py_name))
    sklearn_rows = []
    for spec in args.sklearn:
        dtype, threads, *rest = spec.split(",")
        machine = rest == ["machine-env"]
        env = None if machine else clean_env
        name = (f"scikit-learn `MLPClassifier`, {dtype}, {threads} BLAS thread"
                + ("s" if threads != "1" else "")
                + (", the machine's OPENBLAS_CORETYPE" if machine else ""))
        systems[name] = (lambda env=env, dtype=dtype, threads=threads:
                         run_python(SKLEARN_RUN, env, dtype=dtype, sklearn_threads=threads))
        sklearn_rows.append(name)
    runs = {name: [] for name in systems}
    names = list(systems)
    for r in range(args.rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            result = systems[name]()
            runs[name].append(result)
            print(f"round {r + 1}: {name}: {result['seconds']:.2f} s, "
                  f"test accuracy {result['accuracy']:.4f}", file=sys.stderr)

    def median(name):
        return statistics.median(x["seconds"] for x in runs[name])

    def best(name):
        return min(x["seconds"] for x in runs[name])

    print(f"\n| system | training, 9 epochs: median of {args.rounds} | fastest | per epoch "
          "(median) | test accuracy |")
    print("|---|---|---|---|---|")
    for name in names:
        secs = [x["seconds"] for x in runs[name]]
        acc = statistics.median(x["accuracy"] for x in runs[name])
        print(f"| {name} | {median(name):.2f} s | {min(secs):.2f} s | {median(name) / 9:.3f} s "
              f"| {acc:.4f} |")
    print("\n| ratio | of the medians | of the fastest runs |")
    print("|---|---|---|")
    for t, cli_name, py_name in fastnn_rows:
        print(f"| Python ÷ CLI, {t} thread{'s' * (t > 1)} | {median(py_name) / median(cli_name):.2f} "
              f"| {best(py_name) / best(cli_name):.2f} |")
    for t, _, py_name in fastnn_rows:
        for name in sklearn_rows:
            label = name.replace("scikit-learn `MLPClassifier`, ", "scikit-learn (")
            print(f"| {label}) ÷ fastnn from Python, {t} thread{'s' * (t > 1)} "
                  f"| {median(name) / median(py_name):.1f}× | {best(name) / best(py_name):.1f}× |")
    for name in sklearn_rows:
        print(f"\n{name}: BLAS {runs[name][-1].get('blas')}")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(runs, indent=1))


if __name__ == "__main__":
    main()
