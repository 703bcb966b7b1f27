"""Python and the command line share models: the same preset gives the
same bits, a Python model evaluates in `fastnn eval` to its score, a CLI
model predicts the same probabilities in Python; and the datasets."""

import json

import numpy as np
import pytest

import fastnn
from fastnn.datasets import class_names, load_data


def test_load_data_returns_keras_shaped_uint8_views_of_the_map(fashion):
    (x, y), (xt, yt) = fashion
    assert x.shape == (60000, 28, 28) and xt.shape == (10000, 28, 28)
    assert y.shape == (60000,) and yt.shape == (10000,)
    assert {a.dtype for a in (x, y, xt, yt)} == {np.dtype(np.uint8)}
    # Facts of the data (data/README.md).
    assert x[0, 7, 22] == 122
    assert list(y[:3]) == [9, 0, 0] and list(y[-3:]) == [3, 0, 5]
    # Read-only views of the memory map, not copies.
    assert not x.flags.writeable and not y.flags.writeable
    assert type(x.base).__name__ == "DatasetMemory"
    with pytest.raises(ValueError):
        x[0, 0, 0] = 1
    assert class_names("fashion")[:2] == ["T-shirt/top", "Trouser"]


def write_idx(path, array):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape
    )
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def test_load_data_reads_a_folder_of_idx_files(tmp_path):
    rng = np.random.default_rng(0)
    for split, n in (("train", 12), ("t10k", 5)):
        write_idx(tmp_path / f"{split}-images-idx3-ubyte", rng.integers(0, 256, (n, 3, 4)))
        write_idx(tmp_path / f"{split}-labels-idx1-ubyte", np.arange(n) % 2)
    (x, y), (xt, yt) = load_data(tmp_path)
    assert x.shape == (12, 3, 4) and xt.shape == (5, 3, 4)
    assert list(y) == [0, 1] * 6
    with pytest.raises(ValueError, match="no-such-folder.*file not found"):
        load_data(tmp_path / "no-such-folder")


def test_the_fashion_preset_is_the_command_lines_bit_for_bit(
    fashion, fashion_model, cli_fashion_model
):
    _, (xt, yt) = fashion
    cli = fastnn.load(cli_fashion_model)
    assert cli.classes_.tolist() == list(range(10))
    assert cli.class_names_[9] == "Ankle boot"
    p_cli, p_py = cli.predict_proba(xt), fashion_model.predict_proba(xt)
    assert np.array_equal(p_cli, p_py)
    assert fashion_model.n_iter_ == 9 and len(fashion_model.loss_curve_) == 9
    assert fashion_model.score(xt, yt) > 0.87


def test_a_python_model_evaluates_in_fastnn_eval_to_its_score(
    cli, fashion, fashion_model, tmp_path
):
    _, (xt, yt) = fashion
    path = tmp_path / "py.safetensors"
    fashion_model.save(path)
    cli("eval", "--model", path, "--dataset", "fashion", "--json", tmp_path / "eval.json")
    result = json.loads((tmp_path / "eval.json").read_text())
    assert result["accuracy"] == fashion_model.score(xt, yt)


def test_a_model_trained_on_flat_rows_evaluates_on_the_images(cli, fashion, tmp_path):
    (x, y), (xt, yt) = fashion
    m = fastnn.MLPClassifier(hidden_layer_sizes=(32,), max_iter=1, random_state=0).fit(
        x[:10000].reshape(10000, -1), y[:10000]
    )
    path = tmp_path / "flat.safetensors"
    m.save(path)
    cli("eval", "--model", path, "--dataset", "fashion", "--json", tmp_path / "e.json")
    result = json.loads((tmp_path / "e.json").read_text())
    assert result["accuracy"] == m.score(xt.reshape(len(xt), -1), yt) == m.score(xt, yt)


def test_the_preprocessing_travels_with_the_model(cli, mnist, tmp_path):
    (x, y), (xt, yt) = mnist
    for preprocess in ("keras-normalize", "standardize"):
        m = fastnn.MLPClassifier(
            hidden_layer_sizes=(64,), max_iter=1, batch_size=32, random_state=1,
            preprocess=preprocess,
        ).fit(x[:20000], y[:20000])
        path = tmp_path / f"{preprocess}.safetensors"
        m.save(path)
        cli("eval", "--model", path, "--dataset", "mnist", "--json", tmp_path / "e.json")
        result = json.loads((tmp_path / "e.json").read_text())
        assert result["accuracy"] == m.score(xt, yt) > 0.9
        back = fastnn.load(path)
        assert back.preprocess == preprocess
        assert np.array_equal(back.predict_proba(xt), m.predict_proba(xt))


def test_the_mnist_preset_is_the_command_lines_for_an_epoch(cli, mnist, tmp_path):
    (x, y), (xt, _) = mnist
    path = tmp_path / "cli.safetensors"
    cli("train", "--preset", "mnist", "--epochs", "1", "--quiet", "--save", path)
    py = fastnn.MLPClassifier.preset("mnist", max_iter=1).fit(x, y)
    assert np.array_equal(fastnn.load(path).predict_proba(xt), py.predict_proba(xt))


def test_a_cli_checkpoint_continues_with_partial_fit(cli, fashion, tmp_path):
    (x, y), (xt, _) = fashion
    cli("train", "--hidden", "32", "--epochs", "2", "--quiet", "--checkpoint-dir", tmp_path)
    resumed = fastnn.load(tmp_path / "epoch-001.safetensors")
    assert resumed.n_iter_ == 1
    resumed.partial_fit(x, y)
    straight = fastnn.load(tmp_path / "epoch-002.safetensors")
    assert np.array_equal(resumed.predict_proba(xt), straight.predict_proba(xt))


def test_bad_model_files_raise_one_clear_error(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="bad.safetensors: not a safetensors file"):
        fastnn.load(bad)
    with pytest.raises(FileNotFoundError):
        fastnn.load(tmp_path / "missing.safetensors")
