"""The benchmark suite behind ``fastl2 bench``: each kernel timed against the pure NumPy
baseline of the same algorithm and, when installed, against peers, on one data object.

Every measurement is a *row* (a dict, the JSON schema of docs/benchmarks.md): ``kernel``,
``data``, ``factors``, ``dtype``, ``contender``, ``threads``, ``status`` ("ok" or
"skipped" with a ``reason``), ``first_seconds`` (the warm-up call: JIT compile or cache load,
excluded from the steady state), ``seconds`` (median steady time per epoch / iteration /
pass), ``spread_seconds`` (max − min of the steady repeats), ``repeats``, ``throughput`` and
``throughput_unit``, ``peak_rss_growth_mb``, ``quality`` (``{metric: value}`` on the seeded
holdout). Ratios (NumPy / fastl2, one thread / two, peer / fastl2) are derived rows of their
own (:func:`ratios`).

Honest timing: ``time.perf_counter`` around calls that return finished results; the same
data objects for every contender; Numba threads set per contender, BLAS threads limited with
threadpoolctl when it is installed (else reported as uncontrolled).
"""

from __future__ import annotations

import contextlib
import statistics
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .bench import PeakRSS

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


@dataclass
class Setup:
    """What every contender of one kernel shares."""

    factors: int
    dtype: str
    threads: list[int]
    repeat: int
    seed: int
    peers: bool
    label: str
    libmf_simd: str | None = None  # a SIMD build of LIBMF for the second libmf row
    files: Any = None  # bench_peers.DataFiles for the peers run in child processes


def blas_limit(n: int):
    """Limit BLAS threads to ``n`` if threadpoolctl is installed (a no-op otherwise)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(n, "blas")


def blas_controlled() -> bool:
    import importlib.util

    return importlib.util.find_spec("threadpoolctl") is not None


def _row(kernel: str, s: Setup, contender: str, threads: int | None, **kw: Any) -> dict:
    row = {"kernel": kernel, "data": s.label, "factors": s.factors, "dtype": s.dtype,
           "contender": contender, "threads": threads, "status": "ok"}
    row.update(kw)
    return row


def _skipped(kernel: str, s: Setup, contender: str, reason: str) -> dict:
    return _row(kernel, s, contender, None, status="skipped", reason=reason)


def _steady(times: list[float], units: float, unit: str) -> dict[str, Any]:
    rest = times[1:] or times
    med = statistics.median(rest)
    return {"first_seconds": times[0], "seconds": med, "spread_seconds": max(rest) - min(rest),
            "repeats": len(rest), "throughput": units / med if med > 0 else None,
            "throughput_unit": unit}


def _baseline(kernel: str, s: Setup, times: list[float], units: float, unit: str,
              **kw: Any) -> dict:
    """A NumPy baseline row: every call is steady (nothing to compile), so the median and
    spread are over all of them; a twin is slow and noisy enough on a shared machine that one
    call can move its ratio to fastl2 by 30%."""
    med = statistics.median(times)
    return _row(kernel, s, "numpy", 1, first_seconds=None, seconds=med,
                spread_seconds=max(times) - min(times), repeats=len(times),
                throughput=units / med, throughput_unit=unit, **kw)


def _repeated(fn: Callable[[], Any], calls: int, scale: float = 1.0) -> tuple[list[float], Any]:
    """Wall times (× ``scale``) of ``calls`` calls of a NumPy baseline with BLAS on one
    thread, and the last result."""
    times, out = [], None
    with blas_limit(1):
        for _ in range(calls):
            t0 = time.perf_counter()
            out = fn()
            times.append((time.perf_counter() - t0) * scale)
    return times, out


def _timed(fn: Callable[[], Any], calls: int) -> tuple[list[float], Any, float | None]:
    """Wall times of ``calls`` calls (the first is the warm-up), the last result, and the
    peak RSS growth over the calls in MB (None where it cannot be measured)."""
    times, out = [], None
    with PeakRSS() as mem:
        for _ in range(calls):
            t0 = time.perf_counter()
            out = fn()
            times.append(time.perf_counter() - t0)
    return times, out, None if mem.growth is None else mem.growth / 2**20


def _epoch_timer() -> tuple[list[float], Callable]:
    times: list[float] = []
    last = [time.perf_counter()]

    def record(*_: Any) -> None:
        now = time.perf_counter()
        times.append(now - last[0])
        last[0] = now
    return times, record


# ---------------------------------------------------------------------------- data
def make_data(size: str, implicit: bool, seed: int):
    """(train, test) of a seeded synthetic set of the named size (90/10 split)."""
    from .datasets import synthetic_ratings
    from .evaluation import random_split

    n_users, n_items, n_ratings = SIZES[size]
    syn = synthetic_ratings(n_users=n_users, n_items=n_items, n_ratings=n_ratings, rank=10,
                            noise=0.5, seed=seed, implicit="counts" if implicit else False)
    return random_split(syn.interactions, test_fraction=0.1, random_state=seed)


# ---------------------------------------------------------------------------- explicit
def _rmse(model, test) -> dict[str, float]:
    from .evaluation import rmse

    u, i, r = test.to_arrays()
    return {"rmse": rmse(r, model.predict(u, i))}


def bench_explicit(kernel: str, train, test, s: Setup) -> list[dict]:
    """``sgd`` (BiasedMF by SGD) or ``als`` (ALS-WR): per-epoch time for each thread count,
    then one epoch of the NumPy baseline (mini-batch SGD, or the ALS twin)."""
    from .models.biased_mf import BiasedMF

    rows = []
    solver = "sgd" if kernel == "sgd" else "als"
    for t in s.threads:
        times, record = _epoch_timer()
        model = BiasedMF(factors=s.factors, iterations=s.repeat + 1, solver=solver,
                         num_threads=t, random_state=s.seed, dtype=s.dtype)
        with PeakRSS() as mem:
            model.fit(train, callback=record)
        rows.append(_row(kernel, s, "fastl2", t, **_steady(times, train.nnz, "ratings/s"),
                         peak_rss_growth_mb=(mem.growth or 0) / 2**20,
                         quality=_rmse(model, test)))
    rows.append(_numpy_explicit(kernel, train, s))
    if s.peers:
        from . import bench_peers as peers

        if kernel == "sgd":
            rows.append(peers.surprise_svd(train, test, s))
            for name in ("libmf FPSGD (PyPI build)", "libmf FPSGD (SIMD build)"):
                rows.append(peers.child_peer(name, s.files, train, test, s))
        else:
            rows.append(peers.child_peer("lenskit BiasedMF", s.files, train, test, s))
    return rows


def _numpy_explicit(kernel: str, train, s: Setup) -> dict:
    from .training import als as _als
    from ._reference.sgd import minibatch_sgd_epoch

    dt = np.dtype(s.dtype)
    rng = np.random.default_rng(s.seed)
    m = train.matrix
    P = (rng.standard_normal((m.shape[0], s.factors)) * 0.05).astype(dt)
    Q = (rng.standard_normal((m.shape[1], s.factors)) * 0.05).astype(dt)
    bu, bi = np.zeros(m.shape[0], dt), np.zeros(m.shape[1], dt)
    values = m.data.astype(dt)
    if kernel == "sgd":
        def step() -> None:
            minibatch_sgd_epoch(train.row_indices(), m.indices, values, P, Q, bu, bi,
                                float(values.mean()), 0.01, 0.08, 0.08, 0.02, 0.02, rng,
                                batch_size=65536)
        what = "mini-batch SGD, batch 65536"
    else:
        users, items = _als.both_sides(m, values)
        sw = _als.ExplicitSweeps(users, items, s.factors, (0.08, 0.08), (0.02, 0.02), True,
                                 float(values.mean()), 1, dt, reference=True)

        def step() -> None:
            sw.iteration(P, bu, Q, bi)
        what = "ALS twin (row by row, LAPACK)"
    times, _ = _repeated(step, s.repeat)
    return _baseline(kernel, s, times, train.nnz, "ratings/s",
                     note=what + ("; BLAS 1 thread" if blas_controlled() else
                                  "; BLAS threads not controlled (no threadpoolctl)"))


# ---------------------------------------------------------------------------- implicit
def bench_ials(train, test, s: Setup, use_cg: bool = True) -> tuple[list[dict], Any]:
    """ImplicitALS with CG (3 steps; kernel ``ials``) or Cholesky (``ials-chol``):
    per-iteration time per thread count, ranking quality; the NumPy twin's iteration;
    implicit's ALS with the same solver with ``--peers``. Returns the rows and the last
    fitted model (reused by ``topk`` and ``eval``)."""
    from .models.implicit_als import ImplicitALS

    kernel = "ials" if use_cg else "ials-chol"
    rows = []
    model = None
    for t in s.threads:
        times, record = _epoch_timer()
        model = ImplicitALS(factors=s.factors, iterations=s.repeat + 1, num_threads=t,
                            random_state=s.seed, dtype=s.dtype, use_cg=use_cg)
        with PeakRSS() as mem:
            model.fit(train, show_progress=False, callback=record)
        rows.append(_row(kernel, s, "fastl2", t, **_steady(times, train.nnz,
                                                             "interactions/s"),
                         peak_rss_growth_mb=(mem.growth or 0) / 2**20,
                         quality=_ranking(model, train, test)))
    rows.append(_numpy_ials(train, s, use_cg))
    if s.peers:
        from . import bench_peers as peers

        rows.append(peers.implicit_als(train, test, s, use_cg))
        if use_cg:
            rows.append(peers.implicit_bpr(train, test, s))
        else:
            rows.append(peers.child_peer("lenskit ImplicitMF", s.files, train, test, s))
    return rows, model


def _ranking(model, train, test, K: int = 10) -> dict[str, float]:
    from .evaluation import ranking_metrics_at_k

    res = ranking_metrics_at_k(model, train.matrix, test.matrix, K=K)
    return {f"precision@{K}": res["precision"], f"ndcg@{K}": res["ndcg"]}


def _numpy_ials(train, s: Setup, use_cg: bool) -> dict:
    from .training import als as _als

    dt = np.dtype(s.dtype)
    rng = np.random.default_rng(s.seed)
    m = train.matrix
    X = (rng.random((m.shape[0], s.factors)) * 0.01).astype(dt)
    Y = (rng.random((m.shape[1], s.factors)) * 0.01).astype(dt)
    users, items = _als.both_sides(m, (1 + m.data).astype(dt))
    sw = _als.ImplicitSweeps(users, items, s.factors, 0.01, use_cg, 3, 1, dt, reference=True)
    times, _ = _repeated(lambda: sw.iteration(X, Y), s.repeat)
    return _baseline("ials" if use_cg else "ials-chol", s, times, train.nnz, "interactions/s",
                     note=("CG" if use_cg else "Cholesky") + " twin (row by row)")


# ---------------------------------------------------------------------------- top-N, eval
def bench_topk(model, train, s: Setup, N: int = 10) -> list[dict]:
    """Top-N (training items filtered) for every user, per thread count; NumPy dense scores
    + argpartition on a sample of users; implicit's ``recommend`` with ``--peers``."""
    from ._threads import thread_limit

    users = np.arange(train.n_users)
    M = train.matrix
    rows = []
    for t in s.threads:
        with thread_limit(t):
            times, _, mb = _timed(lambda: model.recommend(users, M, N=N), s.repeat + 1)
        rows.append(_row("topk", s, "fastl2", t, **_steady(times, users.size, "users/s"),
                         peak_rss_growth_mb=mb))
    sample = users[:NUMPY_USERS]
    X, Y = model.user_factors, model.item_factors
    times, _ = _repeated(lambda: _numpy_topn(X, Y, M, sample, N), s.repeat,
                         users.size / sample.size)
    rows.append(_baseline("topk", s, times, users.size, "users/s",
                          note=f"dense scores + argpartition, {sample.size} users, scaled"))
    if s.peers:
        from .bench_peers import implicit_with_factors

        peer = implicit_with_factors(X, Y, s)
        if peer is None:
            rows.append(_skipped("topk", s, "implicit recommend", "implicit is not installed"))
        else:
            with blas_limit(max(s.threads)):
                times, _, mb = _timed(lambda: peer.recommend(users, M, N=N), s.repeat + 1)
            rows.append(_row("topk", s, "implicit recommend", max(s.threads),
                             **_steady(times, users.size, "users/s"), peak_rss_growth_mb=mb))
    return rows


def _numpy_topn(X, Y, M, users, N: int) -> np.ndarray:
    out = np.empty((users.size, N), dtype=np.int64)
    for start in range(0, users.size, 512):
        batch = users[start:start + 512]
        S = X[batch] @ Y.T
        sub = M[batch]
        S[np.repeat(np.arange(batch.size), np.diff(sub.indptr)), sub.indices] = -np.inf
        top = np.argpartition(-S, N, axis=1)[:, :N]
        order = np.argsort(-np.take_along_axis(S, top, 1), axis=1, kind="stable")
        out[start:start + batch.size] = np.take_along_axis(top, order, 1)
    return out


def bench_eval(model, train, test, s: Setup, K: int = 10) -> list[dict]:
    """``ranking_metrics_at_k`` on the holdout per thread count; a NumPy evaluation (dense
    top-K + per-user precision) on a sample of users; implicit's with ``--peers``."""
    from .evaluation import ranking_metrics_at_k

    rows = []
    n_test_users = int((np.diff(test.matrix.indptr) > 0).sum())
    for t in s.threads:
        times, res, mb = _timed(lambda: ranking_metrics_at_k(
            model, train.matrix, test.matrix, K=K, num_threads=t), s.repeat + 1)
        rows.append(_row("eval", s, "fastl2", t, **_steady(times, n_test_users, "users/s"),
                         peak_rss_growth_mb=mb,
                         quality={f"precision@{K}": res["precision"],
                                  f"ndcg@{K}": res["ndcg"]}))
    users = np.nonzero(np.diff(test.matrix.indptr) > 0)[0][:NUMPY_USERS]
    T = test.matrix

    def numpy_eval() -> list[float]:
        top = _numpy_topn(model.user_factors, model.item_factors, train.matrix, users, K)
        return [np.isin(top[r], T.indices[T.indptr[u]:T.indptr[u + 1]]).sum()
                / min(K, T.indptr[u + 1] - T.indptr[u]) for r, u in enumerate(users)]

    times, hits = _repeated(numpy_eval, s.repeat, n_test_users / max(users.size, 1))
    rows.append(_baseline("eval", s, times, n_test_users, "users/s",
                          quality={f"precision@{K}_sample": float(np.mean(hits))},
                          note=f"{users.size} users, scaled"))
    if s.peers:
        from .bench_peers import implicit_with_factors

        peer = implicit_with_factors(model.user_factors, model.item_factors, s)
        if peer is None:
            rows.append(_skipped("eval", s, "implicit evaluation", "implicit is not installed"))
        else:
            from implicit.evaluation import ranking_metrics_at_k as implicit_metrics

            times, res, mb = _timed(lambda: implicit_metrics(
                peer, train.matrix, test.matrix, K=K, show_progress=False,
                num_threads=max(s.threads)), s.repeat + 1)
            rows.append(_row("eval", s, "implicit evaluation", max(s.threads),
                             **_steady(times, n_test_users, "users/s"), peak_rss_growth_mb=mb,
                             quality={f"precision@{K}": float(res["precision"]),
                                      f"ndcg@{K}": float(res["ndcg"])}))
    return rows


# ---------------------------------------------------------------------------- ratios
def ratios(rows: list[dict]) -> list[dict]:
    """Speed ratios within one run: NumPy / fastl2 (fastl2 at its most threads), one thread /
    the most threads, and peer / fastl2 (a peer runs at the most threads). Rows marked
    ``comparable: false`` (another algorithm, shown for reference) get no ratio."""
    out = []
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        if r["status"] == "ok" and r.get("seconds") and r.get("comparable", True):
            groups.setdefault((r["kernel"], r["data"], r["factors"], r["dtype"]), []).append(r)
    for (kernel, data, factors, dtype), rs in groups.items():
        ours = {r["threads"]: r["seconds"] for r in rs if r["contender"] == "fastl2"}
        if not ours:
            continue
        most = max(ours)
        base = {"kernel": kernel, "data": data, "factors": factors, "dtype": dtype}
        if len(ours) > 1:
            out.append({**base, "ratio": f"fastl2 {min(ours)} thr / {most} thr",
                        "value": ours[min(ours)] / ours[most]})
        for r in rs:
            if r["contender"] != "fastl2":
                out.append({**base, "ratio": f"{r['contender']} / fastl2 {most} thr",
                            "value": r["seconds"] / ours[most]})
    return out


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
    import os
    import subprocess
    import sys
    import tempfile

    rows = []
    with tempfile.TemporaryDirectory(prefix="fastl2-cache-") as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        for label in ("cold cache", "warm cache"):
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, "-c", STARTUP_SCRIPT, s.dtype], env=env,
                                  capture_output=True, text=True)
            wall = time.perf_counter() - t0
            if proc.returncode != 0:
                rows.append(_skipped("startup", s, f"fastl2 ({label})", "failed: " + (
                    proc.stderr.strip().splitlines() or ["no output"])[-1][:200]))
                continue
            imp, total = (float(v) for v in proc.stdout.split()[-2:])
            rows.append(_row("startup", s, f"fastl2 ({label})", None, first_seconds=None,
                             seconds=total, spread_seconds=None, repeats=1, throughput=None,
                             throughput_unit=None, import_seconds=imp,
                             process_seconds=wall,
                             note="import fastl2 + tiny BiasedMF (SGD) and ImplicitALS (CG) "
                                  "fits + one recommendation, in a fresh process; "
                                  "process_seconds includes starting Python"))
    return rows
