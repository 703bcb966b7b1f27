"""Shared pieces of the Keras and PyTorch reference programs.

- a small, validating IDX reader (raw or .gz) in numpy,
- the two presets' preprocessing, done in float64 exactly as the tutorials do
  it on numpy arrays, then cast to float32 (what the model sees),
- argument parsing and the JSON run record, identical for both frameworks.

No framework is imported here, so data loading can be done (and excluded
from the timings) before the framework is configured.
"""

import argparse
import gzip
import json
import os
import platform
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

PRESETS = {
    # preset: (default data dir, preprocessing, hidden layers, epochs)
    "fashion": {"data": os.path.join(REPO, "data", "fashion"), "preprocess": "scale",
                "hidden": [128], "epochs": 9},
    "mnist": {"data": os.path.join(REPO, "data", "mnist"), "preprocess": "keras-normalize",
              "hidden": [128, 128], "epochs": 3},
}

FILES = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}

_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _open_idx(directory, name):
    for cand in (name, name + ".gz"):
        path = os.path.join(directory, cand)
        if os.path.exists(path):
            return path
    raise SystemExit(f"{os.path.join(directory, name)}[.gz]: file not found")


def read_idx(path):
    """Read one IDX file (raw, or gzip when it starts with the gzip magic)."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise SystemExit(f"{path}: bad IDX magic")
    dtype = _IDX_TYPES.get(raw[2])
    if dtype is None:
        raise SystemExit(f"{path}: unknown IDX type byte 0x{raw[2]:02x}")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise SystemExit(f"{path}: truncated IDX header")
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    count = int(np.prod(dims, dtype=np.int64)) if dims else 1
    need = header + count * np.dtype(dtype).itemsize
    if len(raw) != need:
        raise SystemExit(f"{path}: size {len(raw)} does not match header dims {dims} (want {need})")
    arr = np.frombuffer(raw, dtype=dtype, count=count, offset=header).reshape(dims)
    return arr.astype(arr.dtype.newbyteorder("="))


def keras_normalize_np(x, axis=1, order=2):
    """numpy copy of tf.keras.utils.normalize(x, axis, order) for ndarrays.

    float64 L2 norm along `axis` (for N x 28 x 28 images axis 1 is the row
    index, i.e. each image *column* is divided by its norm); zero norms
    become 1 so zeros stay zero.
    """
    norm = np.atleast_1d(np.linalg.norm(x, order, axis))
    norm[norm == 0] = 1
    return x / np.expand_dims(norm, axis)


def load_preset(preset, data_dir=None):
    """Return (x_train, y_train, x_test, y_test, info): x float32 N x 784,
    y int64, with the preset's preprocessing already applied."""
    cfg = PRESETS[preset]
    d = data_dir or cfg["data"]
    paths = {k: _open_idx(d, v) for k, v in FILES.items()}
    tx, ty = read_idx(paths["train_x"]), read_idx(paths["train_y"])
    vx, vy = read_idx(paths["test_x"]), read_idx(paths["test_y"])
    for xs, ys, nm in ((tx, ty, "train"), (vx, vy, "test")):
        if xs.ndim != 3 or ys.ndim != 1 or xs.shape[0] != ys.shape[0]:
            raise SystemExit(f"{d}: {nm} images {xs.shape} and labels {ys.shape} disagree")
        if ys.max() > 9:
            raise SystemExit(f"{d}: {nm} label out of range: {ys.max()}")
    if cfg["preprocess"] == "scale":
        # tutorial: train_images / 255.0 (float64), cast to float32 by the model
        f = lambda x: (x / 255.0).astype(np.float32)
    else:
        # tutorial: tf.keras.utils.normalize(x_train, axis=1) on N x 28 x 28
        f = lambda x: keras_normalize_np(x, axis=1).astype(np.float32)
    xtr = np.ascontiguousarray(f(tx).reshape(tx.shape[0], -1))
    xte = np.ascontiguousarray(f(vx).reshape(vx.shape[0], -1))
    info = {"data_dir": os.path.abspath(d), "n_train": int(tx.shape[0]), "n_test": int(vx.shape[0]),
            "preprocess": cfg["preprocess"], "raw_train_u8": tx, "raw_test_u8": vx}
    return xtr, ty.astype(np.int64), xte, vy.astype(np.int64), info


def parse_args(framework, extra=None):
    p = argparse.ArgumentParser(description=f"{framework} reference for fastnn's presets")
    p.add_argument("--preset", choices=sorted(PRESETS), default="fashion")
    p.add_argument("--data", default=None, help="IDX folder (default: repo data/<preset>)")
    p.add_argument("--variant", choices=["tutorial", "corrected"], default="corrected",
                   help="tutorial: softmax output layer + from_logits=True loss (double softmax); "
                        "corrected: linear logits + from_logits=True")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--epochs", type=int, default=None, help="default: the preset's (fashion 9, mnist 3)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--eval-batch-size", type=int, default=1000)
    p.add_argument("--purpose", default="manual", help="free-form tag stored in the record")
    p.add_argument("--json", default=None, help="also write the record to this file")
    if extra:
        extra(p)
    a = p.parse_args()
    if a.epochs is None:
        a.epochs = PRESETS[a.preset]["epochs"]
    if a.threads < 1 or a.batch_size < 1 or a.epochs < 1:
        p.error("--threads, --batch-size and --epochs must be >= 1")
    return a


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def make_record(args, framework, versions, epochs, test_loss, test_acc, n_train, extra):
    secs = [e["seconds"] for e in epochs]
    total = float(sum(secs))
    rec = {
        "framework": framework,
        "versions": versions,
        "preset": args.preset,
        "variant": args.variant,
        "seed": args.seed,
        "threads": args.threads,
        "batch_size": args.batch_size,
        "epochs": len(epochs),
        "purpose": args.purpose,
        "per_epoch": epochs,
        "train_loss": epochs[-1]["loss"],
        "train_accuracy": epochs[-1]["accuracy"],
        "test_loss": float(test_loss),
        "test_accuracy": float(test_acc),
        "train_seconds": total,
        "seconds_per_epoch": total / len(epochs),
        # steady state: epochs after the first (the first pays graph tracing / warm-up)
        "seconds_per_epoch_after_first": (float(sum(secs[1:])) / (len(secs) - 1)) if len(secs) > 1 else None,
        "images_per_second": n_train * len(epochs) / total,
        "n_train": n_train,
        "machine": {"cpu": cpu_model(), "nproc": os.cpu_count(), "python": platform.python_version()},
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    rec.update(extra)
    return rec


def emit(rec, path=None):
    line = json.dumps(rec)
    if path:
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(line + "\n")
        os.replace(tmp, path)
    sys.stdout.write("RESULT " + line + "\n")
    sys.stdout.flush()
