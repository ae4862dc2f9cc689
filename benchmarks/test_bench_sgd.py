"""pytest-benchmark: the SGD epoch kernel vs its NumPy twins on identical inputs.

Run with ``pytest benchmarks --benchmark-only`` (not part of the normal test run, whose
``testpaths`` is ``tests``).
"""

import numpy as np
import pytest

from fastl2.training import blocking as _blocking
from fastl2._kernels import sgd as sgd_kernels
from fastl2._reference import sgd as sgd_reference
from fastl2._threads import thread_limit
from fastl2.datasets import synthetic_ratings

SIZES = {"100k": (2_000, 1_000, 100_000), "1m": (10_000, 4_000, 1_000_000)}


@pytest.fixture(scope="module", params=list(SIZES))
def problem(request):
    n_users, n_items, n_ratings = SIZES[request.param]
    data = synthetic_ratings(n_users=n_users, n_items=n_items, n_ratings=n_ratings, seed=0)
    return data.interactions


def _state(data, k=64):
    rng = np.random.default_rng(0)
    P = (rng.standard_normal((data.n_users, k)) * 0.05).astype(np.float32)
    Q = (rng.standard_normal((data.n_items, k)) * 0.05).astype(np.float32)
    return P, Q, np.zeros(data.n_users, np.float32), np.zeros(data.n_items, np.float32)


@pytest.mark.benchmark(group="sgd-epoch")
@pytest.mark.parametrize("threads", [1, 2])
def test_numba_sgd_epoch(benchmark, problem, threads):
    B = 8
    grid = _blocking.build_grid(problem.matrix, B)
    P, Q, bu, bi = _state(problem)
    Gp, Gq = np.ones_like(bu), np.ones_like(bi)
    sse = np.zeros(B * B)
    rng = np.random.default_rng(0)
    f = np.float32

    def epoch():
        wp, wb = _blocking.assign_workers(_blocking.epoch_schedule(rng, B), grid.block_nnz,
                                          threads)
        with thread_limit(threads):
            sgd_kernels.sgd_epoch(grid.ptr, grid.items, grid.values, grid.row_start, B, wp, wb,
                                  P, Q, bu, bi, Gp, Gq, f(3.5), f(0.005), f(0.005), f(0.005),
                                  f(0.005), f(0.05), f(0.05), f(0.02), f(0.02), False,
                                  f(1 / 65), sse)

    epoch()  # compile outside the measurement
    benchmark(epoch)
    assert np.isfinite(sse.sum())


@pytest.mark.benchmark(group="sgd-epoch")
def test_numpy_minibatch_epoch(benchmark, problem):
    P, Q, bu, bi = _state(problem)
    users, items, vals = problem.row_indices(), problem.matrix.indices, problem.matrix.data
    rng = np.random.default_rng(0)
    sse = benchmark.pedantic(sgd_reference.minibatch_sgd_epoch,
                             args=(users, items, vals, P, Q, bu, bi, 3.5, 0.005, 0.05, 0.05,
                                   0.02, 0.02, rng), kwargs={"batch_size": 65536},
                             rounds=2, iterations=1)
    assert np.isfinite(sse)
