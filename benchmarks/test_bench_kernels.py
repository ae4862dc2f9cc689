"""pytest-benchmark: the ALS half-sweeps, top-N and ranking evaluation, Numba vs the NumPy
baseline on identical inputs; one group per kernel and size.

Run with ``pytest benchmarks --benchmark-only`` (not part of the normal test run, whose
``testpaths`` is ``tests``). The NumPy side of ``topk`` and ``eval`` scores the first 500
users only (the group compares per-call times; divide by the user counts in the names).
"""

import numpy as np
import pytest

from fastl2 import ImplicitALS
from fastl2.bench import blas_limit, make_data, thread_limit
from fastl2.bench.harness import (explicit_sweeps, gaussian_factors, implicit_sweeps,
                                  numpy_topn, uniform_factors)
from fastl2.evaluation import ranking_metrics_at_k

SIZES = ("tiny", "small")
K = 64


@pytest.fixture(scope="module", params=SIZES)
def explicit(request):
    train, _ = make_data(request.param, False, 0)
    return request.param, train


@pytest.fixture(scope="module", params=SIZES)
def implicit(request):
    train, test = make_data(request.param, True, 0)
    model = ImplicitALS(factors=K, iterations=2, random_state=0).fit(train,
                                                                     show_progress=False)
    return request.param, train, test, model


def _explicit_sweeps(train, reference):
    m = train.matrix
    sw = explicit_sweeps(m, K, np.float32, threads=2, reference=reference)
    P, Q, bu, bi = gaussian_factors(m.shape[0], m.shape[1], K, np.float32,
                                    np.random.default_rng(0))
    return sw, P, bu, Q, bi


@pytest.mark.parametrize("impl", ["numba", "numpy"])
def test_explicit_als_iteration(benchmark, explicit, impl):
    size, train = explicit
    benchmark.group = f"als-iteration-{size}"
    sw, P, bu, Q, bi = _explicit_sweeps(train, impl == "numpy")
    with blas_limit(1), thread_limit(2):
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
    sw = implicit_sweeps(m, K, np.float32, use_cg=solver == "cg", threads=2,
                         reference=impl == "numpy")
    X, Y = uniform_factors(m.shape[0], m.shape[1], K, np.float32, np.random.default_rng(0))
    with blas_limit(1), thread_limit(2):
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
        with blas_limit(1):
            ids = benchmark(numpy_topn, model.user_factors, model.item_factors,
                            train.matrix, users, 10)
    assert ids.shape == (users.size, 10)


def test_ranking_evaluation(benchmark, implicit):
    size, train, test, model = implicit
    benchmark.group = f"eval-{size}"
    with thread_limit(2):
        res = benchmark(ranking_metrics_at_k, model, train.matrix, test.matrix, K=10)
    assert 0.0 <= res["precision"] <= 1.0
