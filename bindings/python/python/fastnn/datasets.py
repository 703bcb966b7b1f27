"""The datasets fastnn ships (Fashion-MNIST, MNIST) and any folder of IDX
files, as numpy arrays backed by the memory map.

>>> from fastnn.datasets import load_data
>>> (x_train, y_train), (x_test, y_test) = load_data("fashion")
>>> x_train.shape, x_train.dtype
((60000, 28, 28), dtype('uint8'))
"""

import os

from . import _fastnn

__all__ = ["load_data", "class_names"]


def _spec(name):
    return os.fspath(name)


def load_data(name="fashion"):
    """``(x_train, y_train), (x_test, y_test)`` of a dataset, like
    ``keras.datasets.fashion_mnist.load_data()``.

    ``name`` is ``"fashion"``, ``"mnist"`` or a folder holding
    ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte`` (each
    optionally ``.gz``). The built-in datasets are found as by the command
    line (``$FASTNN_DATA``, the per-user data folder, the source checkout).

    The images are uint8 arrays of shape ``(N, rows, cols)`` and the labels
    uint8 arrays of shape ``(N,)``; both are read-only views of the memory
    map (no copy), which stays open while any of them is alive.
    """
    (train, test), _ = _fastnn.load_data(_spec(name))
    return train, test


def class_names(name="fashion"):
    """The class names of a dataset (``classes.txt`` for a folder, else the
    class numbers)."""
    _, names = _fastnn.load_data(_spec(name))
    return list(names)
