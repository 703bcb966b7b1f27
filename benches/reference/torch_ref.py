#!/usr/bin/env python3
"""PyTorch reference mirroring the Keras tutorial programs.

    python torch_ref.py --preset fashion|mnist --variant tutorial|corrected \
        --seed S --threads N [--epochs E] [--batch-size B] [--data DIR] [--json FILE]

Same model as keras_ref.py: Glorot-uniform (xavier_uniform_) weights, zero
biases, Adam(lr=1e-3, betas=(0.9, 0.999), eps=1e-7), mean cross-entropy,
a fresh shuffle each epoch, the last partial batch kept. `tutorial` puts a
softmax after the last layer and still feeds its output to CrossEntropyLoss
(which applies log-softmax again: the tutorial's double softmax);
`corrected` feeds the linear logits.

Train loss/accuracy per epoch are the sample-weighted means over the
epoch's batches, as Keras reports them. Prints one line `RESULT {json}`.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402


def main():
    args = common.parse_args("torch", extra=lambda p: p.add_argument(
        "--omp-wait-policy", choices=["PASSIVE", "ACTIVE", "default"], default="PASSIVE"))
    xtr, ytr, xte, yte, info = common.load_preset(args.preset, args.data)

    # libgomp's default active spin-wait makes a 2-thread torch 10-100x slower
    # on a loaded machine (measured here: ~150 ms/step instead of ~3 ms/step
    # while other jobs ran); passive waiting avoids that. Must be set before
    # torch (and its OpenMP runtime) is loaded. Recorded in the JSON.
    if args.omp_wait_policy != "default":
        os.environ["OMP_WAIT_POLICY"] = args.omp_wait_policy
    import numpy as np
    import torch
    from torch import nn

    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(args.threads)
    except RuntimeError:
        pass
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)

    cfg = common.PRESETS[args.preset]
    layers, fan_in = [], 784
    for h in cfg["hidden"]:
        layers += [nn.Linear(fan_in, h), nn.ReLU()]
        fan_in = h
    layers.append(nn.Linear(fan_in, 10))
    if args.variant == "tutorial":
        layers.append(nn.Softmax(dim=1))
    model = nn.Sequential(*layers)
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)  # = Keras glorot_uniform
            nn.init.zeros_(m.bias)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()  # mean over the batch

    Xtr, Ytr = torch.from_numpy(xtr), torch.from_numpy(ytr)
    Xte, Yte = torch.from_numpy(xte), torch.from_numpy(yte)
    n, bs = Xtr.shape[0], args.batch_size
    gen = torch.Generator().manual_seed(args.seed)

    epochs = []
    for ep in range(args.epochs):
        t0 = time.perf_counter()
        model.train()
        perm = torch.randperm(n, generator=gen)
        xs, ys = Xtr[perm], Ytr[perm]
        loss_sum = torch.zeros((), dtype=torch.float64)
        correct = torch.zeros((), dtype=torch.int64)
        for s in range(0, n, bs):  # last partial batch kept
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
        epochs.append({"epoch": ep + 1, "loss": float(loss_sum) / n,
                       "accuracy": int(correct) / n, "seconds": secs})

    model.eval()
    tl, tc = 0.0, 0
    with torch.no_grad():
        for s in range(0, Xte.shape[0], args.eval_batch_size):
            xb, yb = Xte[s:s + args.eval_batch_size], Yte[s:s + args.eval_batch_size]
            out = model(xb)
            tl += float(nn.functional.cross_entropy(out, yb, reduction="sum"))
            tc += int((out.argmax(1) == yb).sum())
    nt = Xte.shape[0]

    versions = {"torch": torch.__version__, "numpy": np.__version__}
    extra = {"omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"), "torch_threads": torch.get_num_threads(), "torch_interop_threads": torch.get_num_interop_threads(),
             "adam_eps_note": "torch adds eps to sqrt(v_hat); Keras adds it to sqrt(v) (eps_hat); same eps value"}
    rec = common.make_record(args, "torch", versions, epochs, tl / nt, tc / nt, info["n_train"], extra)
    common.emit(rec, args.json)


if __name__ == "__main__":
    main()
