"""Shared fixtures: the shipped datasets, the command-line binary, a model
trained with the fashion preset (used by several test files)."""

import os
import pathlib
import subprocess

import pytest

import fastnn
from fastnn.datasets import load_data

REPO = pathlib.Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def fashion():
    return load_data("fashion")


@pytest.fixture(scope="session")
def mnist():
    return load_data("mnist")


@pytest.fixture(scope="session")
def cli():
    """The `fastnn` binary (`$FASTNN_BIN`, else the checkout's release
    build, which `cargo test --release` makes): the tests compare Python's
    results with it, so a missing binary is a failure, not a skip."""
    path = pathlib.Path(os.environ.get("FASTNN_BIN", REPO / "target" / "release" / "fastnn"))
    assert path.exists(), (
        f"{path} is missing: build it with `cargo build --release` (or set FASTNN_BIN)"
    )

    def run(*args):
        out = subprocess.run([str(path), *map(str, args)], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        return out.stdout

    return run


@pytest.fixture(scope="session")
def fashion_model(fashion):
    """The fashion preset fit from Python on two threads."""
    (x, y), _ = fashion
    return fastnn.MLPClassifier.preset("fashion", threads=2).fit(x, y)


@pytest.fixture(scope="session")
def cli_fashion_model(cli, tmp_path_factory):
    """The same preset trained by `fastnn train`, saved."""
    path = tmp_path_factory.mktemp("cli") / "fashion.safetensors"
    cli("train", "--preset", "fashion", "--threads", "2", "--quiet", "--save", path)
    return path
