"""The benchmark suite behind ``fastl2 bench``: each kernel timed against the pure NumPy
baseline of the same algorithm and, when installed, against peers (:mod:`.peers`), on one
data object; :func:`run_suite` runs a whole plan and returns the report (schema
``fastl2-bench/1``, rows as :mod:`.rows` describes them).

Honest timing: ``time.perf_counter`` around calls that return finished results; the same
data objects for every contender; Numba threads set per contender, BLAS threads limited with
threadpoolctl when it is installed (else reported as uncontrolled).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from typing import Any

import numpy as np

from .. import _warmup
from .._threads import thread_limit
from ..datasets import synthetic_ratings
from ..evaluation import random_split, ranking_metrics_at_k
from ..models import BiasedMF, ImplicitALS
from . import peers
from .harness import (NumpySGD, explicit_sweeps, gaussian_factors, implicit_sweeps,
                      numpy_topn, uniform_factors)
from .machine import PeakRSS, blas_controlled, blas_limit, machine_info, machine_scaling
from .rows import Setup, baseline, ranking_quality, ratios, rmse_quality, row, skipped
from .timing import epoch_timer, repeated, steady, timed

__all__ = ["KERNELS", "OPTIONAL_KERNELS", "SCHEMA", "SIZES", "Setup", "bench_eval",
           "bench_explicit", "bench_ials", "bench_startup", "bench_topk", "blas_controlled",
           "make_data", "ratios", "run_suite"]

SCHEMA = "fastl2-bench/1"
KERNELS = ("sgd", "als", "ials", "ials-chol", "topk", "eval")  # the default run
OPTIONAL_KERNELS = ("startup",)  # only when asked for with --kernels
SIZES = {  # ML-20M-like shapes, scaled; xl is Netflix-shaped
    "tiny": (2_000, 500, 100_000),
    "small": (20_000, 4_000, 1_000_000),
    "medium": (69_000, 13_500, 5_000_000),
    "large": (138_000, 27_000, 20_000_000),
    "xl": (480_000, 17_770, 100_000_000),
}
NUMPY_USERS = 2_000  # users scored by the NumPy top-N / evaluation baselines (rate scaled)


# ---------------------------------------------------------------------------- data
def make_data(size: str, implicit: bool, seed: int):
    """(train, test) of a seeded synthetic set of the named size (90/10 split)."""
    n_users, n_items, n_ratings = SIZES[size]
    syn = synthetic_ratings(n_users=n_users, n_items=n_items, n_ratings=n_ratings, rank=10,
                            noise=0.5, seed=seed, implicit="counts" if implicit else False)
    return random_split(syn.interactions, test_fraction=0.1, random_state=seed)


# ---------------------------------------------------------------------------- explicit
def bench_explicit(kernel: str, train, test, s: Setup) -> list[dict]:
    """``sgd`` (BiasedMF by SGD) or ``als`` (ALS-WR): per-epoch time for each thread count,
    then one epoch of the NumPy baseline (mini-batch SGD, or the ALS twin)."""
    rows = []
    solver = "sgd" if kernel == "sgd" else "als"
    for t in s.threads:
        times, record = epoch_timer()
        model = BiasedMF(factors=s.factors, iterations=s.repeat + 1, solver=solver,
                         num_threads=t, random_state=s.seed, dtype=s.dtype)
        with PeakRSS() as mem:
            model.fit(train, callback=record)
        rows.append(row(kernel, s, "fastl2", t, **steady(times, train.nnz, "ratings/s"),
                         peak_rss_growth_mb=mem.growth_mb,
                         quality=rmse_quality(model, test)))
    rows.append(_numpy_explicit(kernel, train, s))
    if s.peers:
        if kernel == "sgd":
            rows.append(peers.surprise_svd(train, test, s))
            for name in ("libmf FPSGD (PyPI build)", "libmf FPSGD (SIMD build)"):
                rows.append(peers.child_peer(name, s.files, train, test, s))
        else:
            rows.append(peers.child_peer("lenskit BiasedMF", s.files, train, test, s))
    return rows


def _numpy_explicit(kernel: str, train, s: Setup) -> dict:
    if kernel == "sgd":
        twin = NumpySGD(train, s.factors, s.dtype, seed=s.seed)

        def step() -> None:
            twin.users = train.row_indices()  # expanded inside the timed call, as always
            twin.epoch()
        what = "mini-batch SGD, batch 65536"
    else:
        P, Q, bu, bi = gaussian_factors(train.n_users, train.n_items, s.factors, s.dtype,
                                        np.random.default_rng(s.seed))
        sw = explicit_sweeps(train.matrix, s.factors, s.dtype)

        def step() -> None:
            sw.iteration(P, bu, Q, bi)
        what = "ALS twin (row by row, LAPACK)"
    times, _ = repeated(step, s.repeat)
    return baseline(kernel, s, times, train.nnz, "ratings/s",
                    note=what + ("; BLAS 1 thread" if blas_controlled() else
                                 "; BLAS threads not controlled (no threadpoolctl)"))


# ---------------------------------------------------------------------------- implicit
def bench_ials(train, test, s: Setup, use_cg: bool = True) -> tuple[list[dict], Any]:
    """ImplicitALS with CG (3 steps; kernel ``ials``) or Cholesky (``ials-chol``):
    per-iteration time per thread count, ranking quality; the NumPy twin's iteration;
    implicit's ALS with the same solver with ``--peers``. Returns the rows and the last
    fitted model (reused by ``topk`` and ``eval``)."""
    kernel = "ials" if use_cg else "ials-chol"
    rows = []
    model = None
    for t in s.threads:
        times, record = epoch_timer()
        model = ImplicitALS(factors=s.factors, iterations=s.repeat + 1, num_threads=t,
                            random_state=s.seed, dtype=s.dtype, use_cg=use_cg)
        with PeakRSS() as mem:
            model.fit(train, show_progress=False, callback=record)
        rows.append(row(kernel, s, "fastl2", t, **steady(times, train.nnz,
                                                             "interactions/s"),
                         peak_rss_growth_mb=mem.growth_mb,
                         quality=ranking_quality(model, train, test)))
    rows.append(_numpy_ials(train, s, use_cg))
    if s.peers:
        rows.append(peers.implicit_als_row(train, test, s, use_cg))
        if use_cg:
            rows.append(peers.implicit_bpr(train, test, s))
        else:
            rows.append(peers.child_peer("lenskit ImplicitMF", s.files, train, test, s))
    return rows, model


def _numpy_ials(train, s: Setup, use_cg: bool) -> dict:
    X, Y = uniform_factors(train.n_users, train.n_items, s.factors, s.dtype,
                           np.random.default_rng(s.seed))
    sw = implicit_sweeps(train.matrix, s.factors, s.dtype, use_cg=use_cg)
    times, _ = repeated(lambda: sw.iteration(X, Y), s.repeat)
    return baseline("ials" if use_cg else "ials-chol", s, times, train.nnz, "interactions/s",
                    note=("CG" if use_cg else "Cholesky") + " twin (row by row)")


# ---------------------------------------------------------------------------- top-N, eval
def bench_topk(model, train, s: Setup, N: int = 10) -> list[dict]:
    """Top-N (training items filtered) for every user, per thread count; NumPy dense scores
    + argpartition on a sample of users; implicit's ``recommend`` with ``--peers``."""
    users = np.arange(train.n_users)
    M = train.matrix
    rows = []
    for t in s.threads:
        with thread_limit(t):
            times, _, mb = timed(lambda: model.recommend(users, M, N=N), s.repeat + 1)
        rows.append(row("topk", s, "fastl2", t, **steady(times, users.size, "users/s"),
                         peak_rss_growth_mb=mb))
    sample = users[:NUMPY_USERS]
    X, Y = model.user_factors, model.item_factors
    times, _ = repeated(lambda: numpy_topn(X, Y, M, sample, N), s.repeat,
                         users.size / sample.size)
    rows.append(baseline("topk", s, times, users.size, "users/s",
                          note=f"dense scores + argpartition, {sample.size} users, scaled"))
    if s.peers:
        peer = peers.implicit_with_factors(X, Y, s)
        if peer is None:
            rows.append(skipped("topk", s, "implicit recommend", "implicit is not installed"))
        else:
            with blas_limit(max(s.threads)):
                times, _, mb = timed(lambda: peer.recommend(users, M, N=N), s.repeat + 1)
            rows.append(row("topk", s, "implicit recommend", max(s.threads),
                             **steady(times, users.size, "users/s"), peak_rss_growth_mb=mb))
    return rows


def bench_eval(model, train, test, s: Setup, K: int = 10) -> list[dict]:
    """``ranking_metrics_at_k`` on the holdout per thread count; a NumPy evaluation (dense
    top-K + per-user precision) on a sample of users; implicit's with ``--peers``."""
    rows = []
    n_test_users = int((np.diff(test.matrix.indptr) > 0).sum())
    for t in s.threads:
        times, res, mb = timed(lambda: ranking_metrics_at_k(
            model, train.matrix, test.matrix, K=K, num_threads=t), s.repeat + 1)
        rows.append(row("eval", s, "fastl2", t, **steady(times, n_test_users, "users/s"),
                         peak_rss_growth_mb=mb,
                         quality={f"precision@{K}": res["precision"],
                                  f"ndcg@{K}": res["ndcg"]}))
    users = np.nonzero(np.diff(test.matrix.indptr) > 0)[0][:NUMPY_USERS]
    T = test.matrix

    def numpy_eval() -> list[float]:
        top = numpy_topn(model.user_factors, model.item_factors, train.matrix, users, K)
        return [np.isin(top[r], T.indices[T.indptr[u]:T.indptr[u + 1]]).sum()
                / min(K, T.indptr[u + 1] - T.indptr[u]) for r, u in enumerate(users)]

    times, hits = repeated(numpy_eval, s.repeat, n_test_users / max(users.size, 1))
    rows.append(baseline("eval", s, times, n_test_users, "users/s",
                          quality={f"precision@{K}_sample": float(np.mean(hits))},
                          note=f"{users.size} users, scaled"))
    if s.peers:
        peer = peers.implicit_with_factors(model.user_factors, model.item_factors, s)
        if peer is None:
            rows.append(skipped("eval", s, "implicit evaluation", "implicit is not installed"))
        else:
            # deferred: optional dependency (implicit)
            from implicit.evaluation import ranking_metrics_at_k as implicit_metrics

            times, res, mb = timed(lambda: implicit_metrics(
                peer, train.matrix, test.matrix, K=K, show_progress=False,
                num_threads=max(s.threads)), s.repeat + 1)
            rows.append(row("eval", s, "implicit evaluation", max(s.threads),
                             **steady(times, n_test_users, "users/s"), peak_rss_growth_mb=mb,
                             quality={f"precision@{K}": float(res["precision"]),
                                      f"ndcg@{K}": float(res["ndcg"])}))
    return rows


# ---------------------------------------------------------------------------- startup
STARTUP_SCRIPT = """
import sys
import time
t0 = time.perf_counter()
import fastl2
from fastl2.datasets import synthetic_ratings
t1 = time.perf_counter()
data = synthetic_ratings(n_users=300, n_items=100, n_ratings=5000, seed=0).interactions
fastl2.BiasedMF(factors=8, iterations=2, dtype=sys.argv[1]).fit(data)
model = fastl2.ImplicitALS(factors=8, iterations=2, dtype=sys.argv[1]).fit(
    data, show_progress=False)
model.recommend(0, data.matrix[0], N=5)
print(t1 - t0, time.perf_counter() - t0)
"""


def bench_startup(s: Setup) -> list[dict]:
    """``import fastl2`` and a first tiny fit (synthetic data, BiasedMF with SGD, ImplicitALS
    with CG, one recommendation) in a fresh Python process: with an empty Numba cache (every
    kernel compiled) and again with the cache that run left (every kernel loaded)."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="fastl2-cache-") as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        for label in ("cold cache", "warm cache"):
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, "-c", STARTUP_SCRIPT, s.dtype], env=env,
                                  capture_output=True, text=True)
            wall = time.perf_counter() - t0
            if proc.returncode != 0:
                rows.append(skipped("startup", s, f"fastl2 ({label})", "failed: " + (
                    proc.stderr.strip().splitlines() or ["no output"])[-1][:200]))
                continue
            imp, total = (float(v) for v in proc.stdout.split()[-2:])
            rows.append(row("startup", s, f"fastl2 ({label})", None, first_seconds=None,
                             seconds=total, spread_seconds=None, repeats=1, throughput=None,
                             throughput_unit=None, import_seconds=imp,
                             process_seconds=wall,
                             note="import fastl2 + tiny BiasedMF (SGD) and ImplicitALS (CG) "
                                  "fits + one recommendation, in a fresh process; "
                                  "process_seconds includes starting Python"))
    return rows


# ---------------------------------------------------------------------------- the run
def run_suite(plan: dict[str, Any], *, dtype: str = "float32", seed: int = 0,
              data=None, label: str | None = None, with_peers: bool = False,
              libmf_simd: str | None = None, precompile: bool = True,
              progress: Any = None) -> dict[str, Any]:
    """Run ``plan`` (``kernels``, ``size``, ``factors`` (a list), ``threads``, ``repeat``)
    and return the report: machine (with its scaling when several thread counts are
    timed), settings, rows and ratios. ``data`` (an Interactions, split 90/10 with ``seed``)
    replaces the synthetic set of ``plan["size"]`` (a callable returning it is called after
    the machine scaling is measured, so it is timed with the run); ``progress`` (a tqdm-like
    bar, or None) gets ``set_description`` and ``update(1)`` per kernel and size."""
    t_start = time.perf_counter()
    scaling = None
    if len(plan["threads"]) > 1 and max(plan["threads"]) > 1:
        # first, before any peer can change the BLAS thread settings of this process
        scaling = machine_scaling(max(plan["threads"]))
    need_explicit = any(k in ("sgd", "als") for k in plan["kernels"])
    need_implicit = any(k in ("ials", "ials-chol", "topk", "eval") for k in plan["kernels"])
    if data is not None:
        label = label or "data"
        explicit = random_split(data() if callable(data) else data, test_fraction=0.1,
                                random_state=seed)
        implicit = explicit
    else:
        label = plan["size"]
        explicit = make_data(label, False, seed) if need_explicit else None
        implicit = make_data(label, True, seed) if need_implicit else None
    precompile_seconds = None
    if precompile:
        precompile_seconds = _warmup.precompile(
            _warmup.tasks_for(plan["kernels"], synthetic=data is None), dtype,
            serve=need_implicit)
    files = peers.DataFiles() if with_peers else None
    try:
        shared = dict(dtype=dtype, threads=plan["threads"], repeat=plan["repeat"], seed=seed,
                      peers=with_peers, label=label, libmf_simd=libmf_simd, files=files)
        rows = _run(plan, shared, explicit, implicit, progress)
    finally:
        if files is not None:
            files.close()
    if progress is not None:
        progress.close()
    machine = machine_info()
    if scaling is not None:
        machine["scaling"] = scaling
    return {"schema": SCHEMA, "machine": machine,
            "blas_threads_controlled": blas_controlled(),
            "settings": {**plan, "dtype": dtype, "data": label, "seed": seed,
                         "peers": with_peers, "libmf_simd": libmf_simd},
            "wall_seconds": time.perf_counter() - t_start,
            "precompile_seconds": precompile_seconds,
            "rows": rows, "ratios": ratios(rows)}


def _run(plan, shared: dict[str, Any], explicit, implicit, bar) -> list[dict]:
    """The rows of every kernel of ``plan`` for each size ``k`` (:class:`Setup` ``shared``
    but ``factors``); ``topk`` and ``eval`` reuse the last ``ials`` model of the size."""
    rows: list[dict] = []
    for k in plan["factors"]:
        s = Setup(factors=k, **shared)
        model = None
        for kernel in plan["kernels"]:
            if bar is not None:
                bar.set_description(f"{kernel} k={k}")
            if kernel == "startup":
                rows += bench_startup(s)
            elif kernel in ("sgd", "als"):
                rows += bench_explicit(kernel, *explicit, s)
            elif kernel == "ials-chol":
                rows += bench_ials(*implicit, s, use_cg=False)[0]
            elif kernel == "ials" or (model is None and kernel in ("topk", "eval")):
                ials_rows, model = bench_ials(*implicit, s)
                if kernel == "ials":
                    rows += ials_rows
            if kernel == "topk":
                rows += bench_topk(model, implicit[0], s)
            elif kernel == "eval":
                rows += bench_eval(model, *implicit, s)
            if bar is not None:
                bar.update(1)
    return rows
