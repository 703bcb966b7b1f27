"""``fastnn.MLPClassifier``: scikit-learn's estimator interface over
fastnn's Rust core."""

import json
import numbers
import os

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _fastnn

__all__ = ["MLPClassifier", "load"]

#: fastnn's labels are bytes inside.
MAX_CLASSES = 256

_ACTIVATIONS = ("relu", "logistic", "tanh")
_SOLVERS = ("adam", "sgd")
_PREPROCESS = ("scale", "keras-normalize", "standardize", "none")
#: What validation keeps as it is; anything else (lists, other integers,
#: objects) becomes the first, float32. A uint8 array stays pixels.
_DTYPES = (np.float32, np.float64, np.uint8)

#: The tutorial programs (``fastnn train --preset``), as estimator settings.
_PRESETS = {
    "fashion": dict(
        hidden_layer_sizes=(128,),
        max_iter=9,
        preprocess="scale",
    ),
    "mnist": dict(
        hidden_layer_sizes=(128, 128),
        max_iter=3,
        preprocess="keras-normalize",
    ),
}


class MLPClassifier(ClassifierMixin, BaseEstimator):
    """A multi-layer perceptron classifier trained by fastnn.

    The parameters are scikit-learn's ``MLPClassifier``'s, with its
    defaults, where they apply; the loss is the cross-entropy of the
    softmax, and the weights start Glorot-uniform with zero biases.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(100,)
        Width of each hidden layer.
    activation : {"relu", "logistic", "tanh"}, default="relu"
        Activation of the hidden layers.
    solver : {"adam", "sgd"}, default="adam"
        Adam, or SGD with (Keras's, not Nesterov's) momentum.
    alpha : float, default=0.0001
        Strength of the L2 penalty (sklearn's form: ``alpha / 2 · ‖W‖²``
        over the batch size is added to each batch's loss; ``loss_curve_``
        shows the data loss alone).
    batch_size : int or "auto", default="auto"
        Images per step; "auto" is ``min(200, n_samples)``.
    learning_rate_init : float, default=0.001
        The (constant) learning rate.
    max_iter : int, default=200
        Epochs: passes over the training data, unless the training loss
        (or, with ``early_stopping``, the validation score) stops improving
        first.
    random_state : int, RandomState or None, default=None
        An int is the seed of the initial weights and every epoch's shuffle
        (fastnn's ``--seed``): the same seed gives the same model, bit for
        bit, on any number of threads.
    verbose : bool, default=False
        Print each epoch's loss.
    momentum : float, default=0.9
        SGD momentum, in [0, 1).
    nesterovs_momentum : bool, default=True
        SGD with Nesterov's momentum.
    tol : float, default=1e-4
        The least improvement of the training loss (or, with
        ``early_stopping``, of the validation score) that counts.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data (stratified,
        drawn with ``random_state``: a copy of the rest), stop when its
        accuracy has not improved by ``tol`` for more than
        ``n_iter_no_change`` epochs, and keep the best epoch's weights.
    validation_fraction : float, default=0.1
        The share held out for early stopping.
    beta_1, beta_2, epsilon : float, default=0.9, 0.999, 1e-8
        Adam's settings.
    n_iter_no_change : int, default=10
        Epochs without an improvement of ``tol`` that are tolerated: the
        next one stops training (as in scikit-learn), watching the training
        loss, or the validation score with ``early_stopping``.
    threads : int or None, default=None
        Worker threads (None: one per core). Results do not depend on it.
        In a parallel search (``n_jobs > 1``) give each job fewer.
    preprocess : {"scale", "keras-normalize", "standardize", "none"}, default="scale"
        How uint8 pixels become inputs: divided by 255, each image column
        divided by its L2 norm (images given as ``(N, rows, cols)``), or
        standardized with the training pixels' mean and deviation. The model
        records it, and applies it in ``predict``, in ``fastnn eval`` and in
        the ONNX graph. Any other input (floats, other integers) is used as
        given (as float32) and the model records ``"none"``.

    Attributes
    ----------
    classes_ : ndarray
        The labels, in the order of the columns of ``predict_proba``.
    class_names_ : list of str
        The names the model file gives the classes.
    loss_curve_ : list of float
        The mean training loss of each epoch.
    n_iter_ : int
        Epochs trained.
    best_loss_ : float or None
        The lowest training loss (None with ``early_stopping``).
    validation_scores_ : list of float or None
        The validation accuracy of each epoch (with ``early_stopping``).
    best_validation_score_ : float or None
        The best of them; the model holds that epoch's weights.
    n_features_in_ : int
        Values per sample (pixels per image).
    """

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate_init=0.001,
        max_iter=200,
        random_state=None,
        verbose=False,
        momentum=0.9,
        nesterovs_momentum=True,
        tol=1e-4,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        threads=None,
        preprocess="scale",
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.random_state = random_state
        self.verbose = verbose
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.tol = tol
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.threads = threads
        self.preprocess = preprocess

    @classmethod
    def preset(cls, name="fashion", **params):
        """The settings of a tutorial program (``fastnn train --preset``):
        ``"fashion"`` (784-128-10, 9 epochs, pixels / 255) or ``"mnist"``
        (784-128-128-10, 3 epochs, keras-normalize), both relu, Adam
        (0.001, 0.9, 0.999, 1e-7), batch 32, no L2 penalty, seed 42; with
        ``params`` over them. Fit on ``load_data(name)``'s arrays, the model
        is the command line's, bit for bit."""
        if name not in _PRESETS:
            raise ValueError(f"unknown preset {name!r}: choose one of {sorted(_PRESETS)}")
        settings = dict(
            activation="relu",
            solver="adam",
            alpha=0.0,
            batch_size=32,
            learning_rate_init=0.001,
            beta_1=0.9,
            beta_2=0.999,
            epsilon=1e-7,
            random_state=42,
        )
        settings.update(_PRESETS[name])
        settings.update(params)
        return cls(**settings)

    # -- checks -------------------------------------------------------------

    def _check_params(self):
        def positive_int(name, value, low=1):
            if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")

        def number(name, value, low, high, low_open=False, high_open=False):
            if not isinstance(value, numbers.Real) or isinstance(value, bool):
                raise ValueError(f"{name} must be a number, got {value!r}")
            ok = (value > low if low_open else value >= low) and (
                value < high if high_open else value <= high
            )
            if not ok:
                lo, hi = "(" if low_open else "[", ")" if high_open else "]"
                raise ValueError(f"{name} must be in {lo}{low}, {high}{hi}, got {value!r}")

        sizes = self.hidden_layer_sizes
        if isinstance(sizes, numbers.Integral):
            sizes = (sizes,)
        sizes = list(sizes)
        for s in sizes:
            positive_int("hidden_layer_sizes", s)
        for name, value, choices in (
            ("activation", self.activation, _ACTIVATIONS),
            ("solver", self.solver, _SOLVERS),
            ("preprocess", self.preprocess, _PREPROCESS),
        ):
            if value not in choices:
                raise ValueError(f"{name} must be one of {choices}, got {value!r}")
        if self.batch_size != "auto":
            positive_int("batch_size", self.batch_size)
        positive_int("max_iter", self.max_iter)
        positive_int("n_iter_no_change", self.n_iter_no_change)
        number("alpha", self.alpha, 0, np.inf)
        number("learning_rate_init", self.learning_rate_init, 0, np.inf, low_open=True)
        number("momentum", self.momentum, 0, 1, high_open=True)
        number("validation_fraction", self.validation_fraction, 0, 1, True, True)
        number("beta_1", self.beta_1, 0, 1, high_open=True)
        number("beta_2", self.beta_2, 0, 1, high_open=True)
        number("epsilon", self.epsilon, 0, np.inf, low_open=True)
        number("tol", self.tol, 0, np.inf)
        if self.threads is not None:
            positive_int("threads", self.threads)
        return [int(s) for s in sizes]

    def _seed(self):
        rs = self.random_state
        if isinstance(rs, numbers.Integral) and not isinstance(rs, bool):
            if rs < 0:
                raise ValueError(f"random_state must be non-negative, got {rs}")
            return int(rs)
        return int(check_random_state(rs).randint(np.iinfo(np.int32).max))

    def _images(self, X, y=None, *, reset):
        """Validates ``X`` (and ``y``): uint8 pixels stay as they are (a
        view), other values become C-contiguous float32 (a copy only where
        the dtype or layout needs one). Returns ``X`` as a 2-D array, the
        image shape ``(rows, cols)`` and ``y``."""
        shape = None
        if isinstance(X, np.ndarray) and X.ndim == 3 and X.dtype == np.uint8:
            shape = X.shape[1:]
            X = X.reshape(X.shape[0], -1)
        if y is None and not reset:
            X = validate_data(self, X, reset=False, dtype=_DTYPES)
        else:
            X, y = validate_data(self, X, y, reset=reset, dtype=_DTYPES)
        if X.dtype == np.uint8:
            X = np.ascontiguousarray(X)
        else:
            X = np.ascontiguousarray(X, dtype=np.float32)
        if shape is None:
            shape = (1, X.shape[1])
        return X, shape, y

    def _labels(self, y):
        """Class indices of ``y`` in ``classes_`` (uint8)."""
        idx = np.searchsorted(self.classes_, y)
        idx = np.clip(idx, 0, len(self.classes_) - 1)
        unknown = self.classes_[idx] != y
        if np.any(unknown):
            raise ValueError(
                f"y holds labels not in classes_ ({self.classes_!r}): "
                f"{np.unique(np.asarray(y)[unknown])!r}"
            )
        return np.ascontiguousarray(idx, dtype=np.uint8)

    def _set_classes(self, classes):
        classes = np.asarray(classes)
        if len(classes) < 2:
            raise ValueError(
                f"MLPClassifier needs samples of at least 2 classes; y holds {len(classes)} class"
            )
        if len(classes) > MAX_CLASSES:
            raise ValueError(
                f"fastnn takes at most {MAX_CLASSES} classes; y holds {len(classes)}"
            )
        self.classes_ = classes

    def _labels_json(self):
        c = self.classes_
        if c.dtype.kind in "iub":
            return json.dumps([int(v) for v in c])
        if c.dtype.kind == "f":
            return json.dumps([float(v) for v in c])
        return json.dumps([str(v) for v in c])

    # -- training -----------------------------------------------------------

    def fit(self, X, y):
        """Trains a new network on ``X`` (``(N, features)`` values or
        ``(N, rows, cols)`` uint8 images) and labels ``y`` for ``max_iter``
        epochs. Returns ``self``."""
        hidden = self._check_params()
        X, shape, y = self._images(X, y, reset=True)
        check_classification_targets(y)
        classes, y_idx = np.unique(y, return_inverse=True)
        self._set_classes(classes)
        y_idx = np.ascontiguousarray(y_idx, dtype=np.uint8)
        seed = self._seed()
        validation = None
        if self.early_stopping:
            # scikit-learn's split: stratified, drawn with the seed.
            X, X_val, y_idx, y_val = train_test_split(
                X, y_idx, test_size=self.validation_fraction, random_state=seed, stratify=y_idx
            )
            validation = (X_val, y_val)
            stopping = ("val_accuracy", self.n_iter_no_change + 1, float(self.tol), True)
        else:
            stopping = ("loss", self.n_iter_no_change + 1, float(self.tol), False)
        self._model = self._create(X, shape, hidden, seed, stopping)
        self._image_shape = shape
        self.loss_curve_ = []
        self._train(X, y_idx, self.max_iter, validation)
        return self

    def partial_fit(self, X, y, classes=None):
        """One epoch over ``X``, ``y``, continuing the network (and its
        optimizer state) of earlier calls or of ``fit``; ``classes`` (all
        labels) is needed on the first call."""
        hidden = self._check_params()
        first = not hasattr(self, "_model")
        X, shape, y = self._images(X, y, reset=first)
        check_classification_targets(y)
        if first:
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit")
            self._set_classes(np.unique(classes))
            self._model = self._create(X, shape, hidden, self._seed(), None)
            self._image_shape = shape
            self.loss_curve_ = []
        elif classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(
                f"classes {classes!r} differ from the classes of the first call {self.classes_!r}"
            )
        self._train(X, self._labels(y), self._model.epochs_done + 1, stop_early=False)
        return self

    def _create(self, X, shape, hidden, seed, stopping):
        n = X.shape[0]
        batch = min(200, n) if self.batch_size == "auto" else min(int(self.batch_size), n)
        settings = dict(
            hidden=hidden,
            activation=self.activation,
            solver=self.solver,
            nesterov=bool(self.nesterovs_momentum),
            learning_rate=float(self.learning_rate_init),
            beta_1=float(self.beta_1),
            beta_2=float(self.beta_2),
            epsilon=float(self.epsilon),
            momentum=float(self.momentum),
            alpha=float(self.alpha),
            batch_size=batch,
            epochs=int(self.max_iter),
            preprocess=self.preprocess,
            seed=seed,
            stopping=stopping,
        )
        return _fastnn.Model.create(
            X, shape[0], shape[1], [str(c) for c in self.classes_], self._labels_json(),
            self.threads, settings,
        )

    def _train(self, X, y_idx, epochs, validation=None, stop_early=True):
        def report(epoch, loss, accuracy, seconds):
            print(f"Iteration {epoch}, loss = {loss:.8f}")

        on_epoch = report if self.verbose else None
        self._model.fit(
            X, y_idx, epochs, threads=self.threads, on_epoch=on_epoch,
            validation=validation, stop_early=stop_early,
        )
        self._fitted_attributes(self._model)

    def _fitted_attributes(self, model):
        self.loss_curve_ = list(model.loss_curve)
        self.n_iter_ = model.epochs_done
        self.class_names_ = list(model.describe()["class_names"])
        scores = [s for s in model.validation_scores if s is not None]
        if scores:
            self.validation_scores_ = scores
            self.best_validation_score_ = max(scores)
            self.best_loss_ = None
        else:
            self.validation_scores_ = None
            self.best_validation_score_ = None
            self.best_loss_ = min(self.loss_curve_) if self.loss_curve_ else None

    # -- using the network --------------------------------------------------

    def _inputs(self, X):
        check_is_fitted(self)
        X, _, _ = self._images(X, reset=False)
        if X.dtype != np.uint8 and self._model.describe()["preprocess"] != "none":
            raise ValueError(
                "this model was trained on uint8 pixels (preprocess "
                f"{self._model.describe()['preprocess']!r}): give it uint8 pixels too"
            )
        return X

    def predict_proba(self, X):
        """Class probabilities, ``(N, len(classes_))`` float32."""
        X = self._inputs(X)
        return self._model.predict_proba(X, threads=self.threads)

    def predict_log_proba(self, X):
        """The logarithms of :meth:`predict_proba`."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X):
        """The likeliest label of each sample."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    # -- files --------------------------------------------------------------

    def save(self, path):
        """Writes the model file (safetensors, the command line's format:
        ``fastnn eval --model PATH`` evaluates it), atomically."""
        check_is_fitted(self)
        self._model.save(os.fspath(path))

    def to_onnx(self, path=None):
        """The ONNX graph (opset ``fastnn.ONNX_OPSET``) of the network with
        its preprocessing as operators: uint8 ``pixels`` ``[N, features]``
        in (float ``input`` for preprocessing ``"none"``), ``probabilities``
        ``[N, classes]`` and ``class`` (class indices) out. Written to
        ``path`` when given (atomically), else returned as bytes."""
        check_is_fitted(self)
        if path is None:
            return bytes(self._model.onnx_bytes())
        self._model.save_onnx(os.fspath(path))
        return None

    def __getstate__(self):
        # A copy: object.__getstate__ gives the instance's own __dict__.
        state = dict(super().__getstate__())
        model = state.pop("_model", None)
        if model is not None:
            # The checkpoint's bytes: weights, optimizer state and history.
            state["_model_bytes"] = bytes(model.to_bytes(checkpoint=True))
        return state

    def __setstate__(self, state):
        data = state.pop("_model_bytes", None)
        super().__setstate__(state)
        if data is not None:
            self._model = _fastnn.Model.from_bytes(data)


def load(path, **params):
    """A fitted :class:`MLPClassifier` from a model file: one saved by
    :meth:`MLPClassifier.save`, or by the command line (``fastnn train
    --save``, checkpoints included). ``params`` set estimator parameters
    such as ``threads``.

    A command-line model's labels are its class indices (``classes_`` is
    ``0 .. classes-1``, as the dataset's labels); its class names are in
    ``class_names_``. A checkpoint keeps its optimizer state, so
    ``partial_fit`` continues it."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        data = f.read()
    model = _fastnn.Model.from_bytes(data, path)
    info = model.describe()
    activation = {"sigmoid": "logistic"}.get(info["activation"], info["activation"])
    est = MLPClassifier(
        hidden_layer_sizes=tuple(info["hidden"]),
        activation=activation,
        preprocess=info["preprocess"],
    )
    est.set_params(**params)
    if info["labels"] is None:
        classes = np.arange(info["classes"])
    else:
        classes = np.asarray(json.loads(info["labels"]))
    est.classes_ = classes
    est.n_features_in_ = info["rows"] * info["cols"]
    est._image_shape = (info["rows"], info["cols"])
    est._model = model
    est._fitted_attributes(model)
    return est
