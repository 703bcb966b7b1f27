"""fastnn.MLPClassifier as a scikit-learn estimator: sklearn's own checks,
labels, input types, threads, the GIL, pickling and partial_fit."""

import pickle
import threading
import time

import numpy as np
import pytest
from sklearn.utils.estimator_checks import check_estimator, parametrize_with_checks

import fastnn
from fastnn import MLPClassifier


@parametrize_with_checks([MLPClassifier(random_state=0, threads=1), MLPClassifier(threads=2)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_check_estimator_passes_whole():
    results = check_estimator(MLPClassifier(random_state=3), on_fail=None)
    failed = [(r["check_name"], r["exception"]) for r in results if r["status"] == "failed"]
    assert len(results) > 40
    assert failed == []


def blobs(n=240, classes=3, features=5, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 4, (classes, features))
    y = np.arange(n) % classes
    return centers[y] + rng.normal(0, 1, (n, features)), y


@pytest.mark.parametrize(
    "labels",
    [
        np.array(["cat", "dog", "emu"]),
        np.array([-7, 3, 1000]),
        np.array([1.0, 2.0, 4.0]),
        np.array([2, 5, 9], dtype=np.uint8),
    ],
)
def test_arbitrary_labels_come_back(labels, tmp_path):
    X, y = blobs()
    y = labels[y]
    m = MLPClassifier(random_state=1, max_iter=30).fit(X, y)
    assert list(m.classes_) == sorted(labels.tolist())
    assert m.score(X, y) > 0.95
    assert set(m.predict(X)) <= set(labels.tolist())
    # The model file keeps them.
    m.save(tmp_path / "m.safetensors")
    back = fastnn.load(tmp_path / "m.safetensors")
    assert back.classes_.tolist() == m.classes_.tolist()
    assert np.array_equal(back.predict(X), m.predict(X))


@pytest.mark.filterwarnings("ignore:The number of unique classes")
def test_too_many_classes_and_bad_settings_are_refused():
    X = np.random.default_rng(0).random((300, 2))
    with pytest.raises(ValueError, match="at most 256 classes"):
        MLPClassifier(max_iter=1).fit(X, np.arange(300))
    for params, msg in [
        (dict(hidden_layer_sizes=(0,)), "hidden_layer_sizes"),
        (dict(activation="gelu"), "activation"),
        (dict(solver="lbfgs"), "solver"),
        (dict(preprocess="whiten"), "preprocess"),
        (dict(momentum=1.0), "momentum"),
        (dict(threads=0), "threads"),
        (dict(random_state=-1), "random_state"),
    ]:
        with pytest.raises(ValueError, match=msg):
            MLPClassifier(max_iter=1, **params).fit(X, np.arange(300) % 2)


def test_uint8_pixels_are_read_where_they_lie(fashion):
    (x, y), _ = fashion
    m = MLPClassifier()
    # (N, 28, 28) and (N, 784) uint8: views of the memory map, no copy.
    for images in (x, x.reshape(len(x), -1)):
        X, shape, _ = m._images(images, y, reset=True)
        assert X.dtype == np.uint8 and np.shares_memory(X, x)
    assert shape == (1, 784)
    X, shape, _ = m._images(x, y, reset=True)
    assert shape == (28, 28)
    # C-contiguous float32 too; float64 becomes float32 (one copy).
    f32 = np.random.default_rng(0).random((50, 7), dtype=np.float32)
    X, _, _ = m._images(f32, np.arange(50) % 2, reset=True)
    assert np.shares_memory(X, f32)
    X, _, _ = m._images(f32.astype(np.float64), np.arange(50) % 2, reset=True)
    assert X.dtype == np.float32


def test_flat_and_shaped_pixels_train_the_same_network(fashion):
    (x, y), (xt, yt) = fashion
    params = dict(hidden_layer_sizes=(32,), max_iter=1, batch_size=64, random_state=5)
    a = MLPClassifier(**params).fit(x[:6000], y[:6000])
    b = MLPClassifier(**params).fit(x[:6000].reshape(6000, -1), y[:6000])
    pa, pb = a.predict_proba(xt[:500]), b.predict_proba(xt[:500].reshape(500, -1))
    assert np.array_equal(pa, pb)
    # Either shape predicts with either model.
    assert np.array_equal(a.predict_proba(xt[:500].reshape(500, -1)), pa)
    assert np.array_equal(b.predict_proba(xt[:500]), pb)


def test_a_pixel_model_refuses_floats():
    X = np.random.default_rng(0).integers(0, 255, (100, 16), dtype=np.uint8)
    m = MLPClassifier(max_iter=2).fit(X, np.arange(100) % 2)
    with pytest.raises(ValueError, match="uint8 pixels"):
        m.predict(X.astype(np.float32))


def test_the_same_bits_on_any_number_of_threads(fashion):
    (x, y), (xt, _) = fashion
    runs = []
    for threads in (1, 2, 3, 4):
        m = MLPClassifier(hidden_layer_sizes=(64,), max_iter=1, batch_size=32, random_state=9,
                          threads=threads).fit(x[:8000], y[:8000])
        runs.append((m.predict_proba(xt), m.to_onnx()))
    for proba, graph in runs[1:]:
        assert np.array_equal(proba, runs[0][0])
        assert graph == runs[0][1]


def test_fit_and_predict_release_the_gil(fashion):
    (x, y), (xt, _) = fashion
    m = MLPClassifier(hidden_layer_sizes=(128,), max_iter=3, batch_size=32, random_state=0,
                      threads=1)
    ticks = 0
    done = threading.Event()

    def train():
        m.fit(x[:20000], y[:20000])
        for _ in range(20):
            m.predict_proba(xt)
        done.set()

    worker = threading.Thread(target=train)
    started = time.perf_counter()
    worker.start()
    while not done.is_set():
        ticks += 1
    worker.join()
    seconds = time.perf_counter() - started
    # Python kept running beside the Rust work: with the GIL held, this
    # thread would have stood still for nearly all of it.
    assert seconds > 0.2 and ticks > 10_000 * seconds, (ticks, seconds)


def test_pickling_keeps_the_model_and_its_training_state():
    X, y = blobs()
    m = MLPClassifier(random_state=4, max_iter=5, batch_size=16).fit(X, y)
    back = pickle.loads(pickle.dumps(m))
    assert np.array_equal(back.predict_proba(X), m.predict_proba(X))
    assert back.loss_curve_ == m.loss_curve_ and back.n_iter_ == 5
    assert back.get_params() == m.get_params()
    # partial_fit continues from the optimizer state, in both copies alike.
    m.partial_fit(X, y)
    back.partial_fit(X, y)
    assert np.array_equal(back.predict_proba(X), m.predict_proba(X))


def test_partial_fit_epochs_equal_fit_epochs():
    X, y = blobs()
    whole = MLPClassifier(random_state=2, max_iter=4, batch_size=10).fit(X, y)
    parts = MLPClassifier(random_state=2, max_iter=4, batch_size=10)
    parts.partial_fit(X, y, classes=[0, 1, 2])
    for _ in range(3):
        parts.partial_fit(X, y)
    assert parts.n_iter_ == 4
    assert np.array_equal(parts.predict_proba(X), whole.predict_proba(X))
    assert parts.loss_curve_ == whole.loss_curve_
    with pytest.raises(ValueError, match="classes must be passed"):
        MLPClassifier().partial_fit(X, y)
    with pytest.raises(ValueError, match="labels not in classes_"):
        parts.partial_fit(X, y + 1)


def test_verbose_prints_each_epoch(capsys):
    X, y = blobs()
    MLPClassifier(max_iter=3, verbose=True, random_state=0).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(",")[0] for line in lines] == ["Iteration 1", "Iteration 2", "Iteration 3"]


def test_an_exception_in_training_stops_it_and_keeps_the_epochs_done():
    X, y = blobs()
    m = MLPClassifier(max_iter=1, random_state=0).fit(X, y)

    def stop(epoch, *_):
        if epoch == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        m._model.fit(np.ascontiguousarray(X, dtype=np.float32), np.uint8(y), 10, on_epoch=stop)
    assert m._model.epochs_done == 3


def test_diverging_training_is_an_error():
    X, y = blobs()
    with pytest.raises(FloatingPointError, match="training diverged"):
        MLPClassifier(solver="sgd", momentum=0.0, learning_rate_init=1e30, max_iter=5).fit(X * 1e6, y)


def test_stopping_counts_epochs_as_scikit_learn_does():
    from sklearn.neural_network import MLPClassifier as SklearnMLP

    X, y = blobs()
    for params in (dict(tol=10.0, n_iter_no_change=2), dict(tol=10.0, n_iter_no_change=5)):
        ours = MLPClassifier(max_iter=50, random_state=0, **params).fit(X, y)
        theirs = SklearnMLP(max_iter=50, random_state=0, **params).fit(X, y)
        assert ours.n_iter_ == theirs.n_iter_ == params["n_iter_no_change"] + 2
        assert ours.best_loss_ == min(ours.loss_curve_) and ours.validation_scores_ is None


def test_early_stopping_keeps_the_best_epoch(fashion):
    from sklearn.model_selection import train_test_split

    (x, y), _ = fashion
    x, y = x[:6000].reshape(6000, -1), y[:6000]
    m = MLPClassifier(hidden_layer_sizes=(64,), max_iter=60, learning_rate_init=0.01,
                      early_stopping=True, n_iter_no_change=2, random_state=7).fit(x, y)
    assert 3 <= m.n_iter_ < 60
    assert len(m.validation_scores_) == m.n_iter_ == len(m.loss_curve_)
    assert m.best_validation_score_ == max(m.validation_scores_) and m.best_loss_ is None
    # scikit-learn's split (stratified, with the seed): the weights kept are
    # the best epoch's.
    _, x_val, _, y_val = train_test_split(x, y, test_size=0.1, random_state=7, stratify=y)
    assert m.score(x_val, y_val) == m.best_validation_score_
    # partial_fit continues one epoch at a time, without stopping.
    n = m.n_iter_
    m.partial_fit(x, y)
    assert m.n_iter_ == n + 1


def test_alpha_and_nesterov_are_the_command_lines(cli, fashion, tmp_path):
    (x, y), (xt, _) = fashion
    path = tmp_path / "cli.safetensors"
    cli("train", "--epochs", "1", "--l2", "0.001", "--optimizer", "nesterov", "--lr", "0.01",
        "--momentum", "0.9", "--quiet", "--save", path)
    py = MLPClassifier.preset("fashion", max_iter=1, alpha=0.001, solver="sgd",
                              nesterovs_momentum=True, learning_rate_init=0.01,
                              momentum=0.9).fit(x, y)
    assert np.array_equal(fastnn.load(path).predict_proba(xt), py.predict_proba(xt))
    plain = MLPClassifier.preset("fashion", max_iter=1, solver="sgd", learning_rate_init=0.01,
                                 momentum=0.9).fit(x, y)
    assert not np.array_equal(plain.predict_proba(xt), py.predict_proba(xt))
