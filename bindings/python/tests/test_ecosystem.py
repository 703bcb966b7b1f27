"""fastnn in scikit-learn's and joblib's machinery: searches in parallel
processes, cross-validation, pipelines, and a local Dask cluster through
joblib's "dask" backend (as the README shows)."""

import distributed
import joblib
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fastnn import MLPClassifier

GRID = {"hidden_layer_sizes": [(16,), (32,)], "learning_rate_init": [1e-3, 3e-3]}


@pytest.fixture(scope="module")
def small(fashion):
    (x, y), _ = fashion
    return x[:3000].reshape(3000, -1), y[:3000]


def search(x, y, **kwargs):
    est = MLPClassifier(max_iter=3, batch_size=32, random_state=0, threads=1)
    return GridSearchCV(est, GRID, cv=3, **kwargs).fit(x, y)


@pytest.fixture(scope="module")
def sequential(small):
    return search(*small)


def test_grid_search_in_two_processes_equals_one(small, sequential):
    parallel = search(*small, n_jobs=2)
    assert parallel.best_params_ == sequential.best_params_
    assert np.array_equal(
        parallel.cv_results_["mean_test_score"], sequential.cv_results_["mean_test_score"]
    )
    assert parallel.best_score_ > 0.7
    x, y = small
    assert np.array_equal(parallel.predict(x), sequential.predict(x))


@pytest.mark.parametrize("backend", ["threading", "loky", "multiprocessing"])
def test_joblib_backends(small, sequential, backend):
    x, y = small
    with joblib.parallel_backend(backend, n_jobs=2):
        result = search(x, y)
    assert np.array_equal(
        result.cv_results_["mean_test_score"], sequential.cv_results_["mean_test_score"]
    )


def test_cross_val_score_and_a_pipeline(small):
    x, y = small
    pipe = make_pipeline(
        StandardScaler(), MLPClassifier(max_iter=5, random_state=0, threads=1)
    )
    scores = cross_val_score(pipe, x.astype(np.float32), y, cv=3, n_jobs=2)
    assert scores.shape == (3,) and scores.min() > 0.7


def test_a_search_on_a_local_dask_cluster(small, sequential):
    x, y = small
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster, distributed.Client(cluster) as client:
        with distributed.get_task_stream(client) as tasks, joblib.parallel_backend("dask"):
            result = search(x, y)
    # The fits ran as tasks on the cluster's two worker processes.
    assert len(tasks.data) >= 12
    assert len({t["worker"] for t in tasks.data}) == 2
    assert np.array_equal(
        result.cv_results_["mean_test_score"], sequential.cv_results_["mean_test_score"]
    )
