"""pytest-benchmark: the ALS half-sweeps, top-N and ranking evaluation, Numba vs the NumPy
baseline on identical inputs; one group per kernel and size.

Run with ``pytest benchmarks --benchmark-only`` (not part of the normal test run, whose
``testpaths`` is ``tests``). The NumPy side of ``topk`` and ``eval`` scores the first 500
users only (the group compares per-call times; divide by the user counts in the names).
"""

import numpy as np
import pytest

from fastl2 import bench_suite
from fastl2.training import als as _als
from fastl2._threads import thread_limit
from fastl2.evaluation import ranking_metrics_at_k
from fastl2.models.implicit_als import ImplicitALS

SIZES = ("tiny", "small")
K = 64


@pytest.fixture(scope="module", params=SIZES)
def explicit(request):
    train, _ = bench_suite.make_data(request.param, False, 0)
    return request.param, train


@pytest.fixture(scope="module", params=SIZES)
def implicit(request):
    train, test = bench_suite.make_data(request.param, True, 0)
    model = ImplicitALS(factors=K, iterations=2, random_state=0).fit(train,
                                                                     show_progress=False)
    return request.param, train, test, model


def _explicit_sweeps(train, reference):
    m = train.matrix
    vals = m.data.astype(np.float32)
    users, items = _als.both_sides(m, vals)
    sw = _als.ExplicitSweeps(users, items, K, (0.08, 0.08), (0.02, 0.02), True,
                             float(vals.mean()), 2, np.float32, reference=reference)
    rng = np.random.default_rng(0)
    P = (rng.standard_normal((m.shape[0], K)) * 0.05).astype(np.float32)
    Q = (rng.standard_normal((m.shape[1], K)) * 0.05).astype(np.float32)
    return sw, P, np.zeros(m.shape[0], np.float32), Q, np.zeros(m.shape[1], np.float32)


@pytest.mark.parametrize("impl", ["numba", "numpy"])
def test_explicit_als_iteration(benchmark, explicit, impl):
    size, train = explicit
    benchmark.group = f"als-iteration-{size}"
    sw, P, bu, Q, bi = _explicit_sweeps(train, impl == "numpy")
    with bench_suite.blas_limit(1), thread_limit(2):
        sw.iteration(P, bu, Q, bi)  # compile outside the measurement
        rmse = benchmark.pedantic(sw.iteration, args=(P, bu, Q, bi), rounds=2 if
                                  impl == "numpy" else 5)
    assert np.isfinite(rmse)


@pytest.mark.parametrize("solver", ["cg", "chol"])
@pytest.mark.parametrize("impl", ["numba", "numpy"])
def test_implicit_als_iteration(benchmark, implicit, impl, solver):
    size, train, _, _ = implicit
    benchmark.group = f"ials-{solver}-iteration-{size}"
    m = train.matrix
    users, items = _als.both_sides(m, (1 + m.data).astype(np.float32))
    sw = _als.ImplicitSweeps(users, items, K, 0.01, solver == "cg", 3, 2, np.float32,
                             reference=impl == "numpy")
    rng = np.random.default_rng(0)
    X = (rng.random((m.shape[0], K)) * 0.01).astype(np.float32)
    Y = (rng.random((m.shape[1], K)) * 0.01).astype(np.float32)
    with bench_suite.blas_limit(1), thread_limit(2):
        sw.iteration(X, Y)
        benchmark.pedantic(sw.iteration, args=(X, Y), rounds=2 if impl == "numpy" else 5)
    assert np.isfinite(X).all() and np.isfinite(Y).all()


@pytest.mark.parametrize("impl", ["numba", "numpy"])
def test_topk(benchmark, implicit, impl):
    size, train, _, model = implicit
    users = np.arange(train.n_users if impl == "numba" else 500)
    benchmark.group = f"topk-{size}"
    benchmark.name = f"test_topk[{impl}-{users.size}users]"
    if impl == "numba":
        with thread_limit(2):
            model.recommend(users[:64], train.matrix[:64], N=10)
            ids, _ = benchmark(model.recommend, users, train.matrix, N=10)
    else:
        with bench_suite.blas_limit(1):
            ids = benchmark(bench_suite._numpy_topn, model.user_factors, model.item_factors,
                            train.matrix, users, 10)
    assert ids.shape == (users.size, 10)


def test_ranking_evaluation(benchmark, implicit):
    size, train, test, model = implicit
    benchmark.group = f"eval-{size}"
    with thread_limit(2):
        res = benchmark(ranking_metrics_at_k, model, train.matrix, test.matrix, K=10)
    assert 0.0 <= res["precision"] <= 1.0
