"""Concurrency and determinism: many Python threads querying one fitted model, two fits running
at once in two threads, and bit-identical factors for a seed across threads, runs and processes.

Already covered elsewhere (not repeated here):

* thread-count independence in one process — SGD float32 (constant and AdaGrad, 1/2/3 threads):
  ``test_biased_mf.py::test_bit_identical_for_any_thread_count``; explicit ALS float32:
  ``test_als.py::test_explicit_als_bit_identical_for_any_thread_count``; implicit ALS,
  Cholesky and CG × float32/float64: ``test_als.py::test_implicit_bit_identical_for_any_thread_count``;
* the kernels alone: ``test_sgd_kernel.py::test_kernel_result_independent_of_worker_split``,
  ``test_als_kernel.py::test_kernels_bit_identical_for_any_thread_count`` and
  ``::test_gram_matches_numpy_and_ignores_thread_count``,
  ``test_topk_kernel.py::test_same_result_for_any_thread_count``;
* same seed twice (int and Generator), SGD float32: ``test_biased_mf.py::
  test_seed_changes_result_and_generator_accepted``;
* ``thread_limit`` restores after the body and after an error, and acts per Python thread:
  ``test_threads.py``.
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import json
import os
import pathlib
import pkgutil
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
import pytest

import fastl2._kernels
from fastl2 import BiasedMF, ImplicitALS
from fastl2._threads import max_threads, thread_limit
from fastl2.datasets import synthetic_ratings

ROOT = pathlib.Path(__file__).resolve().parents[1]
TWO = 2  # "more than one thread" (capped at NUMBA_NUM_THREADS like any num_threads)


def _explicit_data():
    return synthetic_ratings(n_users=300, n_items=120, n_ratings=6000, rank=4, seed=1
                             ).interactions


def _implicit_data():
    return synthetic_ratings(n_users=300, n_items=120, n_ratings=6000, rank=4, seed=2,
                             implicit=True).interactions


# every solver × dtype; "cg"/"cholesky" are ImplicitALS, the others BiasedMF
SOLVERS = {
    "sgd": dict(solver="sgd", iterations=5),
    "sgd-adagrad": dict(solver="sgd", iterations=5, learning_rate_schedule="adagrad"),
    "als-wr": dict(solver="als", iterations=4),
    "cholesky": dict(use_cg=False, iterations=4),
    "cg": dict(use_cg=True, iterations=4),
}


def _fit(name: str, dtype, num_threads: int, data, random_state=0, callback=None, **extra):
    params = {**SOLVERS[name], "factors": 8, "num_threads": num_threads,
              "random_state": random_state, "dtype": dtype, **extra}
    if name in ("cholesky", "cg"):
        return ImplicitALS(**params).fit(data, show_progress=False, callback=callback)
    return BiasedMF(**params).fit(data, callback=callback)


def _state(model) -> dict[str, np.ndarray]:
    names = ("user_factors_", "item_factors_", "user_bias_", "item_bias_")
    out = {n: getattr(model, n) for n in names if hasattr(model, n)}
    if getattr(model, "loss_history_", None):
        out["loss_history_"] = np.array(model.loss_history_)
    return out


def _assert_same_state(a, b) -> None:
    sa, sb = _state(a), _state(b)
    assert sa.keys() == sb.keys()
    for name in sa:
        assert sa[name].dtype == sb[name].dtype, name
        assert np.array_equal(sa[name], sb[name]), name


def _fit_digests(num_threads: int) -> dict[str, str]:
    """SHA-256 of the learned parameters of every solver × dtype (also run in a subprocess)."""
    explicit, implicit = _explicit_data(), _implicit_data()
    out = {}
    for name in SOLVERS:
        for dtype in ("float32", "float64"):
            data = implicit if name in ("cholesky", "cg") else explicit
            h = hashlib.sha256()
            for arr in _state(_fit(name, dtype, num_threads, data)).values():
                h.update(arr.tobytes())
            out[f"{name}/{dtype}"] = h.hexdigest()
    return out


@pytest.fixture(scope="module")
def explicit_data():
    return _explicit_data()


@pytest.fixture(scope="module")
def implicit_data():
    return _implicit_data()


# ---------------------------------------------------------------------------- 1. queries
def test_every_kernel_entry_point_releases_the_gil():
    """Kernels called from Python are compiled with ``nogil=True`` (helpers inlined into them
    with ``inline="always"`` run inside their caller and need not be)."""
    if numba.config.DISABLE_JIT:
        pytest.skip("kernels are plain Python functions under NUMBA_DISABLE_JIT")
    seen, holding = [], []
    for info in pkgutil.iter_modules(fastl2._kernels.__path__):
        mod = importlib.import_module(f"fastl2._kernels.{info.name}")
        for name, obj in vars(mod).items():
            if not isinstance(obj, numba.core.registry.CPUDispatcher) or \
                    obj.__module__ != mod.__name__:
                continue
            seen.append(f"{info.name}.{name}")
            if obj.targetoptions.get("inline") != "always" and \
                    not obj.targetoptions.get("nogil"):
                holding.append(f"{info.name}.{name}")
    assert {"topk.topk_rows", "sgd.sgd_epoch", "als.gram", "als.implicit_cg_half",
            "als.implicit_cholesky_half", "als.explicit_als_half"} <= set(seen)
    assert holding == []


def _query_calls(model, M, rng):
    """A mixed list of (label, callable) read-only queries on a fitted model."""
    n_users, n_items = M.shape
    calls = []
    for j in range(120):
        u = int(rng.integers(n_users))
        users = rng.choice(n_users, size=int(rng.integers(2, 40)), replace=False)
        item = int(rng.integers(n_items))
        N = int(rng.integers(1, 15))
        kind = j % 10
        if kind == 0:
            calls.append(("recommend/1/filtered",
                          lambda u=u, N=N: model.recommend(u, M[u], N=N)))
        elif kind == 1:
            calls.append(("recommend/1/unfiltered", lambda u=u, N=N: model.recommend(
                u, N=N, filter_already_liked_items=False)))
        elif kind == 2:
            calls.append(("recommend/batch/filtered",
                          lambda users=users, N=N: model.recommend(users, M[users], N=N)))
        elif kind == 3:
            calls.append(("recommend/batch/full-matrix+filter_items",
                          lambda users=users, N=N, item=item: model.recommend(
                              users, M, N=N, filter_items=[item, (item + 1) % n_items])))
        elif kind == 4:
            calls.append(("recommend/batch/unfiltered/no-bias",
                          lambda users=users, N=N: model.recommend(
                              users, N=N, filter_already_liked_items=False,
                              include_bias=False)))
        elif kind == 5:
            calls.append(("recommend/recalculate_user", lambda users=users, N=N: model.recommend(
                users, M[users], N=N, recalculate_user=True)))
        elif kind == 6:
            calls.append(("similar_items/1", lambda item=item, N=N: model.similar_items(item, N)))
        elif kind == 7:
            calls.append(("similar_items/batch", lambda users=users, N=N: model.similar_items(
                users % n_items, N=N, filter_items=[0])))
        elif kind == 8:
            calls.append(("similar_users", lambda users=users, N=N: model.similar_users(
                users, N=N)))
        elif hasattr(model, "predict"):
            items = rng.integers(n_items, size=users.size)
            uid, iid = model.user_map_.ids[users], model.item_map_.ids[items]
            calls.append(("predict", lambda uid=uid, iid=iid: model.predict(uid, iid)))
        else:
            calls.append(("recommend/1/items", lambda u=u, N=N: model.recommend(
                u, N=N, filter_already_liked_items=False, items=np.arange(0, n_items, 3))))
    return calls


def _as_tuple(result):
    return result if isinstance(result, tuple) else (result,)


@pytest.mark.parametrize("kind", ["biased-sgd", "biased-als", "implicit-cg", "implicit-chol"])
def test_concurrent_queries_equal_serial_ones(kind, explicit_data, implicit_data):
    if kind.startswith("biased"):
        data = explicit_data
        model = BiasedMF(factors=8, iterations=4, solver=kind.split("-")[1], random_state=0
                         ).fit(data)
    else:
        data = implicit_data
        model = ImplicitALS(factors=8, iterations=4, use_cg=kind == "implicit-cg",
                            random_state=0, dtype=np.float64).fit(data, show_progress=False)
    M = data.matrix
    serial_model = copy.deepcopy(model)  # its own caches: the threads fill `model`'s
    calls = _query_calls(model, M, np.random.default_rng(0))
    serial_calls = _query_calls(serial_model, M, np.random.default_rng(0))
    assert len(calls) == len(serial_calls)

    # the threads go first, so they also race on the first fill of the factor caches
    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(fn) for _, fn in calls * 3]
        concurrent = [f.result() for f in futures]
    serial = [fn() for _, fn in serial_calls * 3]
    for (label, _), got, want in zip(calls * 3, concurrent, serial):
        for g, w in zip(_as_tuple(got), _as_tuple(want), strict=True):
            assert g.dtype == w.dtype and g.shape == w.shape, label
            assert np.array_equal(g, w), label
    labels = {label for label, _ in calls}
    assert {"recommend/1/filtered", "recommend/batch/unfiltered/no-bias", "similar_items/1",
            "similar_users"} <= labels


def test_concurrent_first_calls_share_one_cached_copy(implicit_data):
    """Eight threads starting at once on a fresh model compute the normalized and transposed
    factors once: no thread keeps a private copy in the model's cache."""
    model = ImplicitALS(factors=16, iterations=1, random_state=0).fit(implicit_data,
                                                                       show_progress=False)
    model.similar_items(0)  # compile outside the race
    for _ in range(3):
        model.__dict__.pop("_unit_cache", None)
        start = threading.Barrier(8, timeout=60)

        def call(j):
            start.wait()
            if j % 3 == 0:
                return model.similar_items(j, N=5)
            if j % 3 == 1:
                return model.similar_users(j, N=5)
            return model.recommend(j, N=5, filter_already_liked_items=False)

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(call, range(8)))
        cache = model._unit_cache
        sources = sorted(id(a) for a in (model.item_factors_, model._unit_factors("item"),
                                         model._unit_factors("user")))
        transposed = sorted(key[1] for key in cache if isinstance(key, tuple))
        assert transposed == sources
        assert len(cache) == 5


# ---------------------------------------------------------------------------- 2. fits
@pytest.mark.parametrize("first,second", [(("sgd", 1, 0), ("als-wr", TWO, 1)),
                                          (("cg", TWO, 3), ("cholesky", 1, 4))])
def test_two_concurrent_fits_match_solo_fits(first, second, explicit_data, implicit_data):
    """Two fits in two Python threads, in lockstep (a barrier after every epoch, so both are
    in flight at once), each with its own thread count: each equals the same fit run alone,
    sees its own thread count in every epoch, and finds its previous count restored."""
    if max_threads() < 2:
        pytest.skip("needs NUMBA_NUM_THREADS >= 2")
    specs = [first, second]
    data = [implicit_data if s[0] in ("cholesky", "cg") else explicit_data for s in specs]
    solo = [_fit(name, np.float32, t, d, random_state=seed, iterations=6)
            for (name, t, seed), d in zip(specs, data)]
    epoch_barrier = threading.Barrier(2, timeout=120)
    report = [dict(), dict()]

    def run(j):
        name, t, seed = specs[j]
        before = TWO if t == 1 else 1  # differs from the fit's count and from the other's
        numba.set_num_threads(before)
        inside = []

        def callback(it, elapsed, loss):
            inside.append(numba.get_num_threads())
            epoch_barrier.wait()

        model = _fit(name, np.float32, t, data[j], random_state=seed, iterations=6,
                     callback=callback)
        report[j] = dict(model=model, inside=inside, before=before,
                         after=numba.get_num_threads())

    threads = [threading.Thread(target=run, args=(j,)) for j in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not epoch_barrier.broken
    for j, (name, t, _) in enumerate(specs):
        got = report[j]
        assert got, f"thread {j} ({name}) did not finish"
        assert got["inside"] == [t] * 6, name
        assert got["after"] == got["before"], name
        _assert_same_state(got["model"], solo[j])
    assert not np.array_equal(solo[0].user_factors_, solo[1].user_factors_)


def test_nested_thread_limits_in_concurrent_threads_restore_in_order():
    """``thread_limit`` is re-entrant and per Python thread: nested blocks in eight threads,
    interleaved by barriers, each see their own count and unwind to the previous one."""
    n = max_threads()
    barrier = threading.Barrier(8, timeout=60)
    errors = []

    def worker(j):
        try:
            outer, inner = (1, n) if j % 2 else (n, 1)
            numba.set_num_threads(n if j % 4 < 2 else 1)
            start = numba.get_num_threads()
            with thread_limit(outer):
                barrier.wait()
                with thread_limit(inner):
                    barrier.wait()
                    assert numba.get_num_threads() == inner
                barrier.wait()
                assert numba.get_num_threads() == outer
            barrier.wait()
            assert numba.get_num_threads() == start
        except Exception as exc:  # noqa: BLE001 - reported by the main thread
            barrier.abort()
            errors.append(exc)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(worker, range(8)))
    assert errors == []


# ---------------------------------------------------------------------------- 3. determinism
@pytest.mark.parametrize("name", ["sgd", "sgd-adagrad", "als-wr"])
def test_explicit_float64_bit_identical_across_threads_and_runs(name, explicit_data):
    """The float64 cells of the solver × dtype × threads matrix not covered by test_biased_mf
    and test_als (which run float32 only): 1 thread, 2 threads, then 1 thread again."""
    runs = [_fit(name, np.float64, t, explicit_data) for t in (1, TWO, 1)]
    assert runs[0].user_factors_.dtype == np.float64
    for other in runs[1:]:
        _assert_same_state(runs[0], other)
    assert not np.array_equal(runs[0].user_factors_,
                              _fit(name, np.float64, 1, explicit_data, random_state=1)
                              .user_factors_)


def _digests_in_subprocess(num_threads: int, scramble: bool) -> dict[str, str]:
    code = ("import json, numpy as np\n"
            + ("junk = [np.empty(int(s)) for s in np.random.default_rng(7).integers(1, 9999, 60)]\n"
               if scramble else "")
            + "from tests.test_concurrency import _fit_digests\n"
            f"print(json.dumps(_fit_digests({num_threads})))\n")
    env = dict(os.environ, PYTHONHASHSEED="123")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_same_seed_bit_identical_in_another_process():
    """Every solver × dtype, fitted in two fresh interpreters, one thread against two threads
    and a scrambled heap: the same bits (guards against results that depend on memory layout —
    see docs/architecture.md on LLVM's runtime overlap checks — or process state).

    Both interpreters load the kernels from Numba's on-disk cache (filled by this process's
    fits). This process, which compiled the kernels when the cache was cold, agrees with them
    too: once an exception for the SGD and CG kernels (docs/architecture.md, "Determinism")."""
    here = _fit_digests(1)  # fills the cache when it was cold
    one = _digests_in_subprocess(1, scramble=False)
    two = _digests_in_subprocess(TWO, scramble=True)
    assert len(one) == 10
    assert two == one
    # the compiling process too: every kernel sums in an order fixed in the source (explicit
    # vectors or no fast-math reassociation)
    for name in ("sgd", "sgd-adagrad", "als-wr", "cholesky", "cg"):
        for dtype in ("float32", "float64"):
            assert here[f"{name}/{dtype}"] == one[f"{name}/{dtype}"], (name, dtype)
