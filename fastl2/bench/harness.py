"""Kernel-level harnesses: the Numba kernels and their pure NumPy twins driven directly, on
the same inputs, for the benchmarks of ``benchmarks/`` and the NumPy baselines of
``fastl2 bench``.

This is the one module of :mod:`fastl2.bench` that reaches below the estimators (the SGD
epoch kernel's driver and its block grid, the ALS half-sweep drivers and their parameter
bundles, the cluster's block cuts), so
that a rename there changes this file only.

* SGD: :class:`NumbaSGD` (the epoch kernel over the block grid) and :class:`NumpySGD` (the
  vectorized mini-batch twin), both from :func:`gaussian_factors`; :func:`bench_sgd` times
  BiasedMF's SGD epochs per thread count against the twin.
* ALS: :func:`explicit_sweeps` and :func:`implicit_sweeps` (the half-sweep drivers, kernel
  or twin), from :func:`gaussian_factors` / :func:`uniform_factors`.
* Top-N: :func:`numpy_topn`, dense scores and ``argpartition``.
* Cluster: :func:`als_sides` (a matrix's user and item sides) and :func:`referenced_rows`
  (the other side's rows a block of one side references, cut as the cluster cuts it).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np

from .._reference.sgd import minibatch_sgd_epoch
from .._threads import thread_limit
from ..models import BiasedMF
from ..training import als as _als
from ..training import blocking as _blocking, sgd as _sgd, trainers as _trainers
from ..training.init import random_factors
from ..training.params import ExplicitSweepParams, ImplicitSweepParams, SGDParams
from .machine import PeakRSS, machine_info
from .timing import elapsed_timer, steady


# ---------------------------------------------------------------------------- factors
def gaussian_factors(n_users: int, n_items: int, factors: int, dtype: Any,
                     rng: np.random.Generator):
    """``(P, Q, bu, bi)``: N(0, 0.05²) factors (users then items, from ``rng``, drawn as
    BiasedMF draws them) and zero biases: the start of the SGD and explicit ALS baselines."""
    dt = np.dtype(dtype)
    P, Q = _trainers.gaussian_factors(rng, n_users, n_items, factors, 0.05, 0.0, dt)
    return P, Q, np.zeros(n_users, dt), np.zeros(n_items, dt)


def uniform_factors(n_users: int, n_items: int, factors: int, dtype: Any,
                    rng: np.random.Generator):
    """``(X, Y)``: U(0, 0.01) factors (users then items, from ``rng``, drawn as ImplicitALS
    draws them): the start of the implicit ALS baselines."""
    dt = np.dtype(dtype)
    return (random_factors(rng, n_users, factors, dt, 0.01, "uniform"),
            random_factors(rng, n_items, factors, dt, 0.01, "uniform"))


# ---------------------------------------------------------------------------- SGD
class NumpySGD:
    """The vectorized NumPy mini-batch SGD twin on ``data`` (an Interactions), from
    :func:`gaussian_factors` drawn with ``seed``; epochs shuffle with the same generator, or
    with a fresh one seeded ``epoch_seed`` when given. ``mean`` defaults to the mean rating.
    """

    def __init__(self, data, factors: int = 64, dtype: Any = np.float32, *, seed: int = 0,
                 epoch_seed: int | None = None, batch_size: int = 65536,
                 learning_rate: float = 0.01, regularization=(0.08, 0.08),
                 bias_regularization=(0.02, 0.02), mean: float | None = None) -> None:
        dt = np.dtype(dtype)
        rng = np.random.default_rng(seed)
        m = data.matrix
        self.P, self.Q, self.bu, self.bi = gaussian_factors(m.shape[0], m.shape[1], factors,
                                                            dt, rng)
        self.rng = rng if epoch_seed is None else np.random.default_rng(epoch_seed)
        self.users, self.items = data.row_indices(), m.indices
        self.values = m.data.astype(dt)
        self.mean = float(self.values.mean()) if mean is None else mean
        self.batch_size = batch_size
        self._params = dict(learning_rate=learning_rate,
                            regularization_user=regularization[0],
                            regularization_item=regularization[1],
                            bias_regularization_user=bias_regularization[0],
                            bias_regularization_item=bias_regularization[1])

    def epoch(self) -> float:
        """One epoch; its sum of squared errors."""
        return minibatch_sgd_epoch(self.users, self.items, self.values, self.P, self.Q,
                                   self.bu, self.bi, self.mean, rng=self.rng,
                                   batch_size=self.batch_size, **self._params)

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Predicted ratings of (user index, item index) pairs."""
        return (self.mean + self.bu[users] + self.bi[items]
                + np.einsum("ij,ij->i", self.P[users], self.Q[items]))


class NumbaSGD:
    """fastl2's SGD epoch kernel over the ``n_blocks`` × ``n_blocks`` grid of ``data``, on
    ``threads`` Numba threads, from :func:`gaussian_factors` drawn with ``seed`` (constant
    learning rate 0.005, regularization 0.05, bias regularization 0.02, mean 3.5); the block
    schedule is drawn from a generator seeded ``seed`` too."""

    def __init__(self, data, factors: int = 64, n_blocks: int = 8, threads: int = 1, *,
                 seed: int = 0) -> None:
        self.grid = _blocking.build_grid(data.matrix, n_blocks)
        m = data.matrix
        self.P, self.Q, self.bu, self.bi = gaussian_factors(
            m.shape[0], m.shape[1], factors, np.float32, np.random.default_rng(seed))
        self.Gp, self.Gq = np.ones_like(self.bu), np.ones_like(self.bi)
        self.rng = np.random.default_rng(seed)
        self.n_blocks, self.threads = n_blocks, threads
        params = SGDParams.of(np.float32, global_mean=3.5, factors=factors,
                              learning_rate=(0.005, 0.005), bias_learning_rate=(0.005, 0.005),
                              regularization=(0.05, 0.05), bias_regularization=(0.02, 0.02),
                              adagrad=False)
        self.epochs = _sgd.LocalEpochs(self.grid, _sgd.State(self.P, self.Q, self.bu, self.bi,
                                                             self.Gp, self.Gq),
                                       params, threads)
        self.sse = self.epochs.block_sse  # per block, written by every epoch

    def epoch(self) -> float:
        """One epoch; its sum of squared errors."""
        with thread_limit(self.threads):
            sse, _ = self.epochs.run(_blocking.epoch_schedule(self.rng, self.n_blocks))
        return float(sse.sum())


def bench_sgd(data, *, factors: int = 64, dtype: Any = np.float32, threads=(1, 2),
              epochs: int = 3, numpy_epochs: int = 1, seed: int = 0,
              numpy_batch: int = 65536) -> dict[str, Any]:
    """Time BiasedMF SGD epochs per thread count, and the NumPy mini-batch baseline.

    Returns a dict with, per thread count, the epoch times (median and spread), updates per
    second, peak RSS growth of the fit; the first-call time; the NumPy baseline epoch time;
    and the ratios the issue asks for.
    """
    nnz = data.nnz
    out: dict[str, Any] = {"machine": machine_info(), "nnz": nnz, "n_users": data.n_users,
                           "n_items": data.n_items, "factors": factors,
                           "dtype": np.dtype(dtype).name, "epochs": epochs, "threads": {}}
    csr_bytes = data.matrix.data.nbytes + data.matrix.indices.nbytes + data.matrix.indptr.nbytes
    model_bytes = (data.n_users + data.n_items) * (factors + 1) * np.dtype(dtype).itemsize
    out["csr_bytes"], out["model_bytes"] = csr_bytes, model_bytes

    t0 = time.perf_counter()
    tiny = (np.array([0, 1]), np.array([0, 1]), np.array([1.0, 2.0]))
    BiasedMF(factors=factors, iterations=1, dtype=dtype, random_state=0).fit(tiny)
    out["first_call_seconds"] = time.perf_counter() - t0

    for t in threads:
        times, record = elapsed_timer()
        model = BiasedMF(factors=factors, iterations=epochs, dtype=dtype, num_threads=t,
                         random_state=seed)
        with PeakRSS() as peak:
            t_fit = time.perf_counter()
            model.fit(data, callback=record)
            fit_seconds = time.perf_counter() - t_fit
        st = steady(times, warmup=False)
        out["threads"][t] = {
            "epoch_seconds": times, "median_epoch_seconds": st["seconds"],
            "spread_seconds": st["spread_seconds"],
            "updates_per_second": nnz / st["seconds"], "fit_seconds": fit_seconds,
            "setup_seconds": fit_seconds - sum(times),
            "peak_rss_growth_bytes": peak.growth,
            "final_train_rmse": model.loss_history_[-1],
        }
        del model

    if numpy_epochs:
        twin = NumpySGD(data, factors, dtype, seed=seed, batch_size=numpy_batch)
        times = []
        for _ in range(numpy_epochs):
            t1 = time.perf_counter()
            twin.epoch()
            times.append(time.perf_counter() - t1)
        med = statistics.median(times)
        out["numpy"] = {"epoch_seconds": times, "median_epoch_seconds": med,
                        "updates_per_second": nnz / med, "batch_size": numpy_batch}

    tt = out["threads"]
    ratios: dict[str, float] = {}
    if 1 in tt and 2 in tt:
        ratios["2_threads_vs_1"] = tt[1]["median_epoch_seconds"] / tt[2]["median_epoch_seconds"]
    if "numpy" in out:
        best = min(v["median_epoch_seconds"] for v in tt.values())
        ratios["numba_vs_numpy"] = out["numpy"]["median_epoch_seconds"] / best
    peaks = [v["peak_rss_growth_bytes"] for v in tt.values() if v["peak_rss_growth_bytes"]]
    if peaks:
        ratios["peak_growth_vs_data_plus_model"] = max(peaks) / (csr_bytes + model_bytes)
    out["ratios"] = ratios
    return out


def format_sgd_report(res: dict[str, Any]) -> str:
    """Human-readable table of :func:`bench_sgd` results."""
    m = res["machine"]
    lines = [f"machine: {m['cpu']}, {m['cores']} cores, numba {m['numba']} "
             f"({m['threading_layer']}), numpy {m['numpy']}",
             f"data: {res['n_users']:,} users x {res['n_items']:,} items, {res['nnz']:,} ratings;"
             f" k={res['factors']}, {res['dtype']}",
             f"first call (JIT compile or cache load): {res['first_call_seconds']:.2f} s",
             f"{'contender':<22}{'s/epoch':>10}{'spread':>9}{'M updates/s':>13}"
             f"{'peak RSS +MB':>14}"]
    for t, v in res["threads"].items():
        g = v["peak_rss_growth_bytes"]
        lines.append(f"{'fastl2 sgd, ' + str(t) + ' thr':<22}{v['median_epoch_seconds']:>10.3f}"
                     f"{v['spread_seconds']:>9.3f}{v['updates_per_second'] / 1e6:>13.1f}"
                     f"{(g / 2**20 if g else float('nan')):>14.0f}")
    if "numpy" in res:
        v = res["numpy"]
        lines.append(f"{'numpy mini-batch':<22}{v['median_epoch_seconds']:>10.3f}{'':>9}"
                     f"{v['updates_per_second'] / 1e6:>13.2f}{'':>14}")
    lines.append(f"CSR {res['csr_bytes'] / 2**20:.0f} MB + model {res['model_bytes'] / 2**20:.0f}"
                 " MB")
    lines.append("ratios: " + ", ".join(f"{k} = {v:.2f}" for k, v in res["ratios"].items()))
    return "\n".join(lines)


# ---------------------------------------------------------------------------- ALS
def als_sides(matrix, values: np.ndarray):
    """The (user side, item side) of ``matrix`` with entry values ``values``, as the ALS
    half-sweeps and the cluster's blocks read them."""
    return _als.both_sides(matrix, values)


def explicit_sweeps(matrix, factors: int, dtype: Any, *, threads: int = 1,
                    reference: bool = True, regularization=(0.08, 0.08),
                    bias_regularization=(0.02, 0.02)):
    """ALS-WR half-sweeps over ``matrix`` (its values cast to ``dtype``): the NumPy twin
    (``reference``) or the kernels on ``threads`` threads. ``.iteration(P, bu, Q, bi)``
    runs both halves and returns the training RMSE."""
    dt = np.dtype(dtype)
    values = matrix.data.astype(dt)
    users, items = als_sides(matrix, values)
    params = ExplicitSweepParams.of(dt, global_mean=float(values.mean()),
                                    regularization=regularization,
                                    bias_regularization=bias_regularization,
                                    weighted_regularization=True)
    return _als.ExplicitSweeps(users, items, factors, params, threads, dt, reference=reference)


def implicit_sweeps(matrix, factors: int, dtype: Any, *, alpha: float = 1.0,
                    regularization: float = 0.01, use_cg: bool = True, cg_steps: int = 3,
                    threads: int = 1, reference: bool = True):
    """Implicit ALS half-sweeps over ``matrix`` with confidence ``1 + alpha·r`` (CG with
    ``cg_steps`` steps, or Cholesky): the NumPy twin (``reference``) or the kernels on
    ``threads`` threads. ``.iteration(X, Y)`` runs both halves."""
    dt = np.dtype(dtype)
    users, items = als_sides(matrix, (1 + alpha * matrix.data).astype(dt))
    params = ImplicitSweepParams.of(dt, regularization=regularization, use_cg=use_cg,
                                    cg_steps=cg_steps)
    return _als.ImplicitSweeps(users, items, factors, params, threads, dt, reference=reference)


# ---------------------------------------------------------------------------- top-N
def numpy_topn(X, Y, M, users, N: int) -> np.ndarray:
    """Top-``N`` items of ``users`` by dense scores ``X[u] @ Y.T`` with their items in ``M``
    (CSR) excluded, best first: the NumPy baseline of ``recommend``."""
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


# ---------------------------------------------------------------------------- cluster
def referenced_rows(side, n_blocks: int) -> int:
    """R of the communication model: Σ over the blocks of ``side`` (cut as the cluster cuts
    them into ``n_blocks``) of the distinct rows of the other side that the block's entries
    reference, i.e. the rows its out-blocks receive in a half-sweep."""
    cuts = _als.aligned_cuts(side.indptr, n_blocks)
    return int(sum(np.unique(side.indices[side.indptr[a]:side.indptr[b]]).size
                   for a, b in zip(cuts[:-1], cuts[1:])))
