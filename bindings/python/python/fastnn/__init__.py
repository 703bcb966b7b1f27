"""fastnn: a hand-optimized CPU trainer for small neural networks.

- :class:`MLPClassifier`: a scikit-learn estimator (sklearn's parameter
  names, plus ``threads`` and ``preprocess``), trained by fastnn's Rust core
  with the GIL released.
- :func:`load`: a model file (the command line's safetensors, or
  :meth:`MLPClassifier.save`'s) as a fitted :class:`MLPClassifier`.
- :mod:`fastnn.datasets`: ``load_data("fashion" | "mnist" | path)``, as
  ``keras.datasets.fashion_mnist.load_data()`` returns it.

Models export to ONNX with :meth:`MLPClassifier.to_onnx`.
"""

import os as _os

from . import _fastnn, datasets
from ._estimator import MLPClassifier, load

__version__ = _fastnn.__version__
#: The ONNX opset of :meth:`MLPClassifier.to_onnx`'s graphs.
ONNX_OPSET = _fastnn.ONNX_OPSET

__all__ = ["MLPClassifier", "load", "datasets", "ONNX_OPSET", "__version__"]

# A forked child has none of its parent's worker threads: it starts its own.
if hasattr(_os, "register_at_fork"):
    _os.register_at_fork(after_in_child=_fastnn._after_fork_in_child)
