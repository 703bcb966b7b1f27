#!/usr/bin/env python3
"""One PyTorch or TensorFlow/Keras run for the peers suite (run by peers.py,
one process per run so that its peak RSS is its own).

    worker.py --system pytorch|tensorflow --preset fashion|mnist \
        [--batch-sizes 32,256] --threads T --epochs E --json FILE [--seed S] \
        [--infer-runs N] [--latency-calls N]

What it does, in order:
1. reads the IDX files and applies the preset's preprocessing into float32
   N x 784 arrays in memory (not timed; done in chunks of 10,000 images so no
   float64 copy of the whole set is ever held: the values are exactly those
   of benches/reference/common.py, which computes in float64 and casts);
2. imports and configures the framework with T threads (not timed);
3. for each batch size in turn, trains a fresh copy of the preset's network (the `corrected` variant: linear logits,
   softmax cross-entropy from logits, Glorot-uniform weights, zero biases,
   Adam 1e-3/0.9/0.999/1e-7, reshuffled every epoch, last partial batch kept)
   for E epochs; each epoch is timed on its own (wall clock around the
   epoch's steps only);
4. evaluates the test set once (test loss and accuracy), and notes the
   peak RSS so far (VmHWM; reset between batch sizes);
5. inference: the whole test set in one batch of 10,000 (logits, loss and
   accuracy), one warm-up then N timed calls; then the latency of
   classifying one image (batch 1), one warm-up then M timed calls.

Writes one JSON object to FILE.
"""

import argparse
import json
import os
import platform
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

PRESETS = {
    "fashion": {"preprocess": "scale", "hidden": [128], "epochs": 9},
    "mnist": {"preprocess": "keras-normalize", "hidden": [128, 128], "epochs": 3},
}
FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def parse():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--system", choices=["pytorch", "tensorflow"], required=True)
    p.add_argument("--preset", choices=sorted(PRESETS), required=True)
    p.add_argument("--data", default=None, help="IDX folder (default: data/<preset>)")
    p.add_argument("--batch-sizes", default="32,256",
                   help="comma-separated; one fresh model trained per batch size, in order")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--infer-runs", type=int, default=5)
    p.add_argument("--latency-calls", type=int, default=200)
    p.add_argument("--json", required=True)
    a = p.parse_args()
    a.batch_sizes = [int(b) for b in a.batch_sizes.split(",")]
    if min(a.batch_sizes + [a.threads, a.epochs, a.infer_runs, a.latency_calls]) < 1:
        p.error("counts must be >= 1")
    return a


# ---------------------------------------------------------------- data


def read_idx(path):
    """A validating IDX reader (raw or .gz), as benches/reference/common.py."""
    import gzip
    import numpy as np
    types = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in types:
        raise SystemExit(f"{path}: bad IDX header")
    dtype, ndim = types[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise SystemExit(f"{path}: truncated IDX header")
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    count = 1
    for d in dims:
        count *= d
    if len(raw) != header + count * np.dtype(dtype).itemsize:
        raise SystemExit(f"{path}: size {len(raw)} does not match header dims {dims}")
    arr = np.frombuffer(raw, dtype=dtype, count=count, offset=header).reshape(dims)
    return arr.astype(arr.dtype.newbyteorder("="))


def preprocess(u8, how, chunk=10000):
    """float32 N x 784; float64 arithmetic per chunk, exactly as the tutorials."""
    import numpy as np
    n = u8.shape[0]
    out = np.empty((n, u8.shape[1] * u8.shape[2]), dtype=np.float32)
    for s in range(0, n, chunk):
        x = u8[s:s + chunk]
        if how == "scale":
            y = x / 255.0
        else:  # tf.keras.utils.normalize(x, axis=1): each image column / its L2 norm
            norm = np.atleast_1d(np.linalg.norm(x, 2, 1))
            norm[norm == 0] = 1
            y = x / np.expand_dims(norm, 1)
        out[s:s + chunk] = y.reshape(y.shape[0], -1)
    return out


def load(preset, data_dir):
    d = data_dir or os.path.join(REPO, "data", preset)

    def path(name):
        for cand in (name, name + ".gz"):
            if os.path.exists(os.path.join(d, cand)):
                return os.path.join(d, cand)
        raise SystemExit(f"{os.path.join(d, name)}[.gz]: file not found")

    tx, ty, vx, vy = (read_idx(path(f)) for f in FILES)
    how = PRESETS[preset]["preprocess"]
    return (preprocess(tx, how), ty.astype("int64"), preprocess(vx, how), vy.astype("int64"))


# ---------------------------------------------------------------- systems


def run_torch(a, bs, xtr, ytr, xte, yte):
    # libgomp's default active spin-wait makes a multi-thread torch much
    # slower on a loaded machine (see benches/reference/torch_ref.py);
    # passive waiting is set before torch loads its OpenMP runtime.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import numpy as np
    import torch
    from torch import nn

    torch.set_num_threads(a.threads)
    try:
        torch.set_num_interop_threads(a.threads)
    except RuntimeError:
        pass
    torch.manual_seed(a.seed)
    layers, fan_in = [], 784
    for h in PRESETS[a.preset]["hidden"]:
        layers += [nn.Linear(fan_in, h), nn.ReLU()]
        fan_in = h
    layers.append(nn.Linear(fan_in, 10))
    model = nn.Sequential(*layers)
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()
    Xtr, Ytr = torch.from_numpy(xtr), torch.from_numpy(ytr)
    Xte, Yte = torch.from_numpy(xte), torch.from_numpy(yte)
    n = Xtr.shape[0]
    gen = torch.Generator().manual_seed(a.seed)

    epochs = []
    for ep in range(a.epochs):
        t0 = time.perf_counter()
        model.train()
        perm = torch.randperm(n, generator=gen)
        xs, ys = Xtr[perm], Ytr[perm]
        loss_sum = torch.zeros((), dtype=torch.float64)
        correct = torch.zeros((), dtype=torch.int64)
        for s in range(0, n, bs):
            xb, yb = xs[s:s + bs], ys[s:s + bs]
            out = model(xb)
            loss = loss_fn(out, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                loss_sum += loss.detach() * yb.shape[0]
                correct += (out.argmax(1) == yb).sum()
        secs = time.perf_counter() - t0
        epochs.append({"epoch": ep + 1, "seconds": secs, "loss": float(loss_sum) / n,
                       "accuracy": int(correct) / n})
    model.eval()

    def evaluate():
        with torch.inference_mode():
            out = model(Xte)
            loss = nn.functional.cross_entropy(out, Yte)
            acc = (out.argmax(1) == Yte).float().mean()
        return float(loss), float(acc)

    def classify(i):
        with torch.inference_mode():
            return int(model(Xte[i:i + 1]).argmax(1))

    versions = {"torch": torch.__version__, "numpy": np.__version__}
    extra = {"omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
             "torch_threads": torch.get_num_threads()}
    return epochs, evaluate, classify, versions, extra


def run_tf(a, bs, xtr, ytr, xte, yte):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(a.threads)
    tf.config.threading.set_inter_op_parallelism_threads(a.threads)
    import keras
    keras.backend.clear_session()
    keras.utils.set_random_seed(a.seed)

    layers = [keras.Input(shape=(784,))]
    for h in PRESETS[a.preset]["hidden"]:
        layers.append(keras.layers.Dense(h, activation="relu"))  # glorot_uniform, zeros
    layers.append(keras.layers.Dense(10))  # corrected: linear logits
    model = keras.Sequential(layers)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-7),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"])

    class Timer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.secs = []

        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.secs.append(time.perf_counter() - self.t0)

    timer = Timer()
    hist = model.fit(xtr, ytr, epochs=a.epochs, batch_size=bs, shuffle=True,
                     verbose=0, callbacks=[timer])
    epochs = [{"epoch": i + 1, "seconds": timer.secs[i], "loss": float(hist.history["loss"][i]),
               "accuracy": float(hist.history["accuracy"][i])} for i in range(a.epochs)]

    Xte = tf.constant(xte)
    Yte = tf.constant(yte)
    xce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    # The fastest idiom for in-memory tensors: one traced graph per shape
    # (model.evaluate/predict add per-call dataset and callback overhead;
    # model.evaluate's time is recorded too, as an extra field).
    @tf.function(reduce_retracing=True)
    def eval_graph(x, y):
        out = model(x, training=False)
        loss = xce(y, out)
        acc = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(out, 1), y), tf.float32))
        return loss, acc

    @tf.function(reduce_retracing=True)
    def predict_graph(x):
        return tf.argmax(model(x, training=False), 1)

    def evaluate():
        loss, acc = eval_graph(Xte, Yte)
        return float(loss), float(acc)

    def classify(i):
        return int(predict_graph(Xte[i:i + 1])[0])

    model.evaluate(xte, yte, batch_size=10000, verbose=0)  # warm-up
    t0 = time.perf_counter()
    model.evaluate(xte, yte, batch_size=10000, verbose=0)
    extra = {"keras_evaluate_b10000_seconds": time.perf_counter() - t0,
             "keras_backend": keras.backend.backend(),
             "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default")}
    versions = {"tensorflow": tf.__version__, "keras": keras.__version__, "numpy": np.__version__}
    return epochs, evaluate, classify, versions, extra


def vm_hwm_mb():
    """Peak resident set of this process so far (VmHWM), in MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return None


def reset_hwm():
    """Resets VmHWM to the current RSS (Linux: write 5 to clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def main():
    a = parse()
    os.environ["OMP_NUM_THREADS"] = str(a.threads)
    t0 = time.perf_counter()
    xtr, ytr, xte, yte = load(a.preset, a.data)
    load_s = time.perf_counter() - t0
    run = run_torch if a.system == "pytorch" else run_tf
    import gc

    trains = []
    evaluate = classify = None
    for k, bs in enumerate(a.batch_sizes):
        if k > 0:
            evaluate = classify = None
            gc.collect()
            reset = reset_hwm()
        else:
            reset = None
        epochs, evaluate, classify, versions, extra = run(a, bs, xtr, ytr, xte, yte)
        test_loss, test_acc = evaluate()
        trains.append({
            "batch_size": bs, "epochs": epochs, "test_loss": test_loss, "test_accuracy": test_acc,
            "train_seconds": sum(e["seconds"] for e in epochs),
            # peak RSS of the process up to here: the framework, the data in
            # memory, this training run and one test-set evaluation; for the
            # second and later batch sizes measured from a reset of VmHWM
            # (which then starts at the RSS left by the earlier runs).
            "peak_rss_mb": vm_hwm_mb(), "hwm_reset": reset, **extra})

    # Inference with the last trained model (the weights do not change the work).
    for _ in range(2):
        evaluate()  # warm-up (TF: traces the graph)
    infer = []
    for _ in range(a.infer_runs):
        t = time.perf_counter()
        evaluate()
        infer.append(time.perf_counter() - t)
    classify(0)  # warm-up
    classify(1)
    lat = []
    n_test = xte.shape[0]
    for i in range(a.latency_calls):
        t = time.perf_counter()
        classify(i % n_test)
        lat.append((time.perf_counter() - t) * 1e3)

    rec = {
        "system": a.system, "preset": a.preset, "threads": a.threads, "seed": a.seed,
        "trains": trains, "n_train": int(xtr.shape[0]), "n_test": int(n_test),
        "data_load_seconds": load_s,
        "infer_testset_seconds": infer, "infer_batch1_ms": lat,
        "versions": dict(versions, python=platform.python_version()),
    }
    tmp = a.json + ".tmp"
    with open(tmp, "w") as f:
        json.dump(rec, f)
    os.replace(tmp, a.json)


if __name__ == "__main__":
    sys.exit(main())
