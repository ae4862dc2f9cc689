"""pytest-benchmark: the SGD epoch kernel vs its NumPy twins on identical inputs.

Run with ``pytest benchmarks --benchmark-only`` (not part of the normal test run, whose
``testpaths`` is ``tests``).
"""

import numpy as np
import pytest

from fastl2.bench.harness import NumbaSGD, NumpySGD
from fastl2.datasets import synthetic_ratings

SIZES = {"100k": (2_000, 1_000, 100_000), "1m": (10_000, 4_000, 1_000_000)}


@pytest.fixture(scope="module", params=list(SIZES))
def problem(request):
    n_users, n_items, n_ratings = SIZES[request.param]
    data = synthetic_ratings(n_users=n_users, n_items=n_items, n_ratings=n_ratings, seed=0)
    return data.interactions


@pytest.mark.benchmark(group="sgd-epoch")
@pytest.mark.parametrize("threads", [1, 2])
def test_numba_sgd_epoch(benchmark, problem, threads):
    sgd = NumbaSGD(problem, factors=64, n_blocks=8, threads=threads, seed=0)
    sgd.epoch()  # compile outside the measurement
    benchmark(sgd.epoch)
    assert np.isfinite(sgd.sse.sum())


@pytest.mark.benchmark(group="sgd-epoch")
def test_numpy_minibatch_epoch(benchmark, problem):
    twin = NumpySGD(problem, 64, np.float32, seed=0, epoch_seed=0, mean=3.5,
                    learning_rate=0.005, regularization=(0.05, 0.05))
    sse = benchmark.pedantic(twin.epoch, rounds=2, iterations=1)
    assert np.isfinite(sse)
