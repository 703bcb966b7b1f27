"""ONNX export, run in onnxruntime on the real test sets: the largest
probability difference is at most 1e-5 and the predicted classes agree."""

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import fastnn


def run_graph(graph, x):
    model = onnx.load_from_string(graph)
    onnx.checker.check_model(model, full_check=True)
    assert [(o.domain, o.version) for o in model.opset_import] == [("", fastnn.ONNX_OPSET)]
    session = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
    (name,) = [i.name for i in session.get_inputs()]
    if name == "input":
        # Preprocessing "none": the values as floats, pixels included.
        x = x.astype(np.float32)
    return session.run(None, {name: x}), model


def assert_agrees(estimator, x):
    (proba, cls), model = run_graph(estimator.to_onnx(), x.reshape(len(x), -1))
    ours = estimator.predict_proba(x)
    assert proba.shape == ours.shape and proba.dtype == np.float32
    assert np.max(np.abs(proba - ours)) <= 1e-5
    assert np.array_equal(cls, np.argmax(ours, axis=1))
    assert np.array_equal(estimator.classes_[cls], estimator.predict(x))
    return model


def test_the_fashion_preset_runs_in_onnxruntime(fashion, fashion_model):
    _, (xt, _) = fashion
    model = assert_agrees(fashion_model, xt)
    meta = {p.key: p.value for p in model.metadata_props}
    assert json.loads(meta["labels"]) == list(range(10))
    inputs = model.graph.input
    assert inputs[0].name == "pixels" and inputs[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8


@pytest.mark.parametrize(
    "params",
    [
        dict(preprocess="keras-normalize", activation="logistic", hidden_layer_sizes=(64, 32)),
        dict(preprocess="standardize", activation="tanh", hidden_layer_sizes=(48,)),
        dict(preprocess="none", activation="relu", hidden_layer_sizes=(40,), learning_rate_init=1e-4),
    ],
)
def test_every_preprocessing_and_activation_runs_in_onnxruntime(mnist, params):
    (x, y), (xt, _) = mnist
    m = fastnn.MLPClassifier(max_iter=1, batch_size=64, random_state=3, **params).fit(
        x[:15000], y[:15000]
    )
    assert_agrees(m, xt)


def test_a_model_trained_on_floats_takes_floats(fashion):
    (x, y), (xt, _) = fashion
    scaled = x[:10000].reshape(10000, -1).astype(np.float32) / 255
    m = fastnn.MLPClassifier(hidden_layer_sizes=(32,), max_iter=2, random_state=0).fit(
        scaled, y[:10000]
    )
    test = xt.reshape(len(xt), -1).astype(np.float32) / 255
    model = assert_agrees(m, test)
    assert model.graph.input[0].name == "input"


def test_the_command_line_exports_the_same_graph(cli, cli_fashion_model, tmp_path):
    out = tmp_path / "cli.onnx"
    printed = cli("export", "--model", cli_fashion_model, "--onnx", out)
    assert f"ONNX opset {fastnn.ONNX_OPSET}" in printed
    python = tmp_path / "python.onnx"
    assert fastnn.load(cli_fashion_model).to_onnx(python) is None
    assert out.read_bytes() == python.read_bytes()
