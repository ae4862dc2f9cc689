"""Compile the kernels ahead of a benchmark run, on every core at once.

Numba compiles in the calling thread, one function at a time, and a cold start of ``fastl2
bench`` spends most of its time there (about 25 s for all kernels on the reference machine).
The kernels are cached on disk (``cache=True``), so compiling them in worker processes — one
group of kernels per task, the costliest first, as many workers as cores — fills the cache in
a fraction of that time; the run then loads every kernel from the cache on its first call.
With a warm cache this phase only loads (about a second per worker).

A task runs the public entry points on tiny data with the run's dtype, so that it compiles
exactly the signatures the run will use; a signature it misses is compiled by the run itself
(slower, never wrong). Concurrent writes of one function's cache entry by two processes are
safe: Numba writes each cache file to a temporary name and renames it.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import numpy as np

from ._kernels._flags import CACHE
from .datasets import synthetic_ratings
from .evaluation import random_split, ranking_metrics_at_k
from .interactions import Interactions
from .models.biased_mf import BiasedMF
from .models.implicit_als import ImplicitALS

# task -> rough cold compile seconds on the reference machine (orders the tasks, costliest
# first); "ials" also compiles top-N and evaluation when the run needs them
COST = {"als": 11.0, "ials": 11.0, "data": 6.0, "ials-chol": 5.0, "sgd": 3.0}


def tasks_for(kernels: list[str], synthetic: bool) -> list[str]:
    """The precompile tasks of a run of ``kernels`` (plus the data generator if
    ``synthetic``)."""
    out = {k for k in kernels if k in COST}
    if {"topk", "eval"} & set(kernels):
        out.add("ials")
    if synthetic:
        out.add("data")
    return sorted(out, key=lambda g: -COST[g])


def _tiny(implicit: bool):
    """60 users × 30 items, 15 distinct items each (NumPy only: no kernel to compile)."""
    rng = np.random.default_rng(0)
    items = np.argsort(rng.random((60, 30)), axis=1)[:, :15].ravel()
    users = np.repeat(np.arange(60), 15)
    values = rng.integers(1, 6, users.size).astype(np.float32)
    return Interactions.from_arrays(users, items, values if not implicit else values - 0.5)


def _task(group: str, dtype: str, serve: bool) -> float:
    """Compile one group of kernels in this (worker) process; seconds taken."""
    t0 = time.perf_counter()
    if group == "data":
        for implicit in (False, "counts"):
            syn = synthetic_ratings(n_users=60, n_items=30, n_ratings=900, rank=3, seed=0,
                                    implicit=implicit)
            random_split(syn.interactions, test_fraction=0.1, random_state=0)
    elif group in ("sgd", "als"):
        BiasedMF(factors=4, iterations=1, solver=group, dtype=dtype).fit(_tiny(False))
    else:
        data = _tiny(True)
        model = ImplicitALS(factors=4, iterations=1, dtype=dtype,
                            use_cg=group == "ials").fit(data, show_progress=False)
        if serve:
            model.recommend(list(range(data.n_users)), data.matrix, N=5)
            ranking_metrics_at_k(model, data.matrix, data.matrix, K=5)
    return time.perf_counter() - t0


def precompile(tasks: list[str], dtype: str, serve: bool = True,
               workers: int | None = None) -> float | None:
    """Fill Numba's on-disk cache for ``tasks`` (see :func:`tasks_for`) in parallel worker
    processes, top-N and evaluation included when ``serve``; returns the wall seconds, or None
    when there is nothing to gain (caching or the JIT disabled, a single core, no task)."""
    workers = min(workers or os.cpu_count() or 1, len(tasks))
    if not CACHE or os.environ.get("NUMBA_DISABLE_JIT", "0") not in ("", "0") or workers < 2:
        return None
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        for f in [pool.submit(_task, g, dtype, serve) for g in tasks]:
            f.result()
    return time.perf_counter() - t0
