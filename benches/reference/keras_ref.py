#!/usr/bin/env python3
"""TensorFlow/Keras reference: the two tutorial programs, as written.

    python keras_ref.py --preset fashion|mnist --variant tutorial|corrected \
        --seed S --threads N [--epochs E] [--batch-size B] [--data DIR] [--json FILE]

Prints one line `RESULT {json}` (see common.make_record). Data are read and
preprocessed into float32 arrays before TensorFlow is configured; the timings
cover model.fit epochs only (per-epoch wall clock from a callback).
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main():
    args = common.parse_args("keras")
    xtr, ytr, xte, yte, info = common.load_preset(args.preset, args.data)

    import numpy as np
    import tensorflow as tf

    # Must happen before TensorFlow runs any op.
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    import keras

    keras.utils.set_random_seed(args.seed)

    extra = {}
    if args.preset == "mnist":
        # Check that our numpy copy of the preprocessing is Keras's own.
        raw = info["raw_train_u8"]
        ref = np.asarray(keras.utils.normalize(raw, axis=1)).astype(np.float32).reshape(raw.shape[0], -1)
        extra["normalize_max_abs_diff_vs_keras"] = float(np.max(np.abs(ref - xtr)))
        xtr = ref
        raw = info["raw_test_u8"]
        xte = np.asarray(keras.utils.normalize(raw, axis=1)).astype(np.float32).reshape(raw.shape[0], -1)

    cfg = common.PRESETS[args.preset]
    layers = [keras.Input(shape=(784,))]
    for h in cfg["hidden"]:
        layers.append(keras.layers.Dense(h, activation="relu"))  # glorot_uniform, zeros
    layers.append(keras.layers.Dense(10, activation="softmax" if args.variant == "tutorial" else None))
    model = keras.Sequential(layers)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-7),
        # Both variants use from_logits=True, as the tutorial does; with the
        # tutorial's softmax output layer that is a double softmax.
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )

    class Timer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.secs = []

        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.secs.append(time.perf_counter() - self.t0)

    timer = Timer()
    import warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hist = model.fit(xtr, ytr, epochs=args.epochs, batch_size=args.batch_size, shuffle=True,
                         verbose=0, callbacks=[timer])
    for w in caught:
        warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    # Keras' _get_logits: an output made by a softmax activation is replaced by
    # the softmax's input (its logits) inside the loss, with a UserWarning,
    # even when from_logits=True: the tutorial's double softmax never happens.
    extra["keras_loss_used_pre_softmax_logits"] = any(
        "from_logits=True" in str(w.message) and "Softmax" in str(w.message) for w in caught)
    epochs = [{"epoch": i + 1, "loss": float(hist.history["loss"][i]),
               "accuracy": float(hist.history["accuracy"][i]), "seconds": timer.secs[i]}
              for i in range(args.epochs)]
    ev = model.evaluate(xte, yte, batch_size=args.eval_batch_size, verbose=0, return_dict=True)

    jit = getattr(model, "jit_compile", None)
    extra.update({"jit_compile": bool(jit) if jit is not None else None,
                  "keras_backend": keras.backend.backend()})
    versions = {"tensorflow": tf.__version__, "keras": keras.__version__, "numpy": np.__version__}
    rec = common.make_record(args, "keras", versions, epochs, ev["loss"], ev["accuracy"],
                             info["n_train"], extra)
    common.emit(rec, args.json)


if __name__ == "__main__":
    main()
