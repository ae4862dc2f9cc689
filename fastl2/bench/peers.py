"""The one peer runner: each peer trains or serves on the data fastl2 gets, with its threads
set explicitly, timed and measured as fastl2 is (:mod:`.timing`, :class:`.machine.PeakRSS`).

In this process: implicit (ALS with CG or Cholesky, BPR, ``recommend``, evaluation) and
scikit-surprise (SVD). In a child process, one per row: LensKit (``BiasedMF``,
``ImplicitMF``), whose Rust thread pool is sized once per process, and LIBMF (FPSGD), whose
Python binding picks its shared library when imported (the PyPI build, or a SIMD build named
by ``--libmf-simd``). A child gets the training and test matrices through a temporary
``.npz`` file (:class:`DataFiles`), or generates the synthetic set itself, and prints its
result as JSON; its peak RSS is its own.

Two levels:

* the runners :func:`implicit_als`, :func:`lenskit_biasedmf`, :func:`lenskit_implicitmf`
  train a peer on arrays and return everything measured (per-iteration wall and CPU
  seconds, the steady-state summary of :func:`.timing.steady`, setup time, peak RSS, the
  CPU other processes took meanwhile, the factors); a peer that is not installed, or cannot
  run as asked here, raises :class:`PeerUnavailable`. ``benchmarks/bench_peers.py`` and
  ``benchmarks/bench_als.py`` use them (:func:`peer_summary`, :func:`run_peer_child`).
* the rows of ``fastl2 bench --peers`` (:func:`implicit_als_row`, :func:`implicit_bpr`,
  :func:`surprise_svd`, :func:`child_peer`, ...): a peer that is not installed, or fails,
  is a row with ``status: "skipped"`` and the reason, never an error of the suite. Rows of
  a different algorithm than fastl2's kernel (implicit's BPR next to implicit ALS) carry
  ``comparable: false`` and are left out of the ratios.

Threads: implicit's ``num_threads`` goes to its OpenMP ``prange``; its BLAS calls are limited
with :func:`.machine.blas_limit` (1 thread). LensKit's Rayon global pool is sized once per
process by ``lenskit.parallel.initialize``, so each LensKit thread count runs in its own
process. ``benchmarks/peer_notes.md`` says what each peer's regularisation, confidence and
bias parameters mean, with source references.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable

import numpy as np
import scipy.sparse as sp

from ..datasets import synthetic_ratings
from ..interactions import Interactions
from ..models import ImplicitALS
from .machine import (PeakRSS, blas_label, blas_limit, contention, cpu_snapshot, rss_bytes,
                      wait_idle)
from .rows import Setup, ranking_quality, rmse_of, row, skipped
from .timing import epoch_timer, steady, timed


class PeerUnavailable(Exception):
    """A peer library is not installed or cannot run as asked here; the message says why."""


def factor_model(X: np.ndarray, Y: np.ndarray, train):
    """A fitted :class:`~fastl2.ImplicitALS` holding the factors ``X``, ``Y`` (rows in
    ``train``'s index order), so that a peer's factors are scored by the same evaluation."""
    model = ImplicitALS(factors=X.shape[1], dtype=X.dtype)
    model.user_factors_, model.item_factors_ = X, Y
    model.user_map_, model.item_map_ = train.user_map, train.item_map
    model.loss_history_, model.n_iter_, model.n_regularized_rows_ = [], 0, 0
    return model


def _ranking(X, Y, train, test) -> dict[str, float]:
    return ranking_quality(factor_model(np.ascontiguousarray(X), np.ascontiguousarray(Y),
                                        train), train, test)


def _check_threads(threads: Any) -> int:
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
        raise ValueError(f"threads must be a positive int, got {threads!r}")
    return int(threads)


# ---------------------------------------------------------------------------- implicit
def implicit_als(user_items, *, factors: int, regularization: float, alpha: float,
                 iterations: int, use_cg: bool, threads: int, random_state: int = 0,
                 dtype: Any = np.float32, cg_steps: int = 3, blas_threads: int = 1,
                 callback: Callable | None = None) -> dict[str, Any]:
    """Train ``implicit.cpu.als.AlternatingLeastSquares`` on a user x item CSR matrix.

    implicit's model (``implicit/cpu/_als.pyx``): observed entry ``v_ui`` gives confidence
    ``c_ui = alpha * v_ui`` (NOT ``1 + alpha * v_ui``) and preference 1; unobserved entries
    have confidence 1 and preference 0; the penalty is ``regularization * (|x_u|^2 +
    |y_i|^2)`` with no per-row count scaling. Each half-step solves
    ``(YᵀY + λI + Σ_i (c_ui − 1) y_i y_iᵀ) x_u = Σ_i c_ui y_i`` exactly (Cholesky, ``posv``)
    or with ``cg_steps`` conjugate-gradient steps warm-started from the current ``x_u``.

    Timing: per-iteration wall from implicit's ``fit(callback=...)`` (``time.time()`` around
    the user and item solver calls, so it excludes the ``Cui.T.tocsr()`` transpose and the
    factor initialisation); ``callback`` is called after each iteration too. The solver is
    wrapped to record each half-step's wall and CPU time (``half_step_seconds``,
    ``cpu_seconds_per_iteration``).

    Returns a dict: seconds_per_iteration, the :func:`.timing.steady` keys (first_seconds,
    seconds, spread_seconds, repeats), cpu_seconds_per_iteration, half_step_seconds (list of
    (user, item) pairs), setup_seconds, fit_seconds, user_factors, item_factors, model (the
    fitted estimator), version, threads, blas, timing_method, peak_rss_bytes,
    rss_before_bytes, peak_rss_growth_bytes, other_cpu_seconds, other_cpu_fraction.
    """
    threads = _check_threads(threads)
    try:  # deferred: optional dependency (implicit)
        import implicit
        from implicit.cpu.als import AlternatingLeastSquares as ALS
    except ImportError as exc:
        raise PeerUnavailable("implicit is not installed") from exc
    if not sp.issparse(user_items) or user_items.ndim != 2:
        raise TypeError("user_items must be a scipy.sparse user x item matrix")
    # implicit checks isinstance(csr_matrix) (a csr_array is converted with a warning) and its
    # Cython fused types need indptr and indices of the same integer type.
    ui = sp.csr_matrix(user_items)
    if ui.indptr.dtype != ui.indices.dtype:
        itype = np.int64 if np.int64 in (ui.indptr.dtype, ui.indices.dtype) else np.int32
        ui = sp.csr_matrix((ui.data, ui.indices.astype(itype), ui.indptr.astype(itype)),
                           shape=ui.shape)
    if ui.dtype != np.float32:
        ui = ui.astype(np.float32)

    halves: list[tuple[float, float]] = []  # (wall, cpu) of each solver call

    class _TimedALS(ALS):
        @property
        def solver(self):  # noqa: D401 - wraps the library's solver choice
            inner = ALS.solver.fget(self)

            def timed_solver(*args, **kwargs):
                w0, c0 = time.perf_counter(), time.process_time()
                inner(*args, **kwargs)
                halves.append((time.perf_counter() - w0, time.process_time() - c0))
            return timed_solver

    walls: list[float] = []

    def record(it, elapsed, loss) -> None:
        walls.append(float(elapsed))
        if callback is not None:
            callback(it, elapsed, loss)

    with blas_limit(blas_threads), PeakRSS() as mem:
        model = _TimedALS(factors=factors, regularization=regularization, alpha=alpha,
                          dtype=dtype, use_native=True, use_cg=use_cg, iterations=iterations,
                          calculate_training_loss=False, num_threads=threads,
                          random_state=random_state)
        model.cg_steps = cg_steps
        snap0 = cpu_snapshot()
        t0 = time.perf_counter()
        model.fit(ui, show_progress=False, callback=record)
        fit_seconds = time.perf_counter() - t0
        snap1 = cpu_snapshot()
    if len(walls) != iterations or len(halves) != 2 * iterations:
        raise RuntimeError("implicit did not report one callback/two half-steps per iteration")
    return {
        "seconds_per_iteration": walls, **steady(walls),
        "cpu_seconds_per_iteration": [halves[2 * k][1] + halves[2 * k + 1][1]
                                      for k in range(iterations)],
        "half_step_seconds": [(halves[2 * k][0], halves[2 * k + 1][0])
                              for k in range(iterations)],
        "setup_seconds": fit_seconds - sum(walls), "fit_seconds": fit_seconds,
        "user_factors": np.asarray(model.user_factors),
        "item_factors": np.asarray(model.item_factors), "model": model,
        "version": implicit.__version__, "threads": threads, "blas": blas_label(blas_threads),
        "solver": "cg" if use_cg else "cholesky",
        "timing_method": "implicit fit callback (time.time() around both half-step solver "
                         "calls); half-steps timed by wrapping the solver",
        "peak_rss_bytes": mem.peak, "rss_before_bytes": mem.start,
        "peak_rss_growth_bytes": mem.growth, **contention(snap0, snap1),
    }


def implicit_with_factors(X, Y, s: Setup):
    """implicit's ALS model holding our factors (for its recommend / evaluation), or None."""
    try:  # deferred: optional dependency (implicit)
        from implicit.cpu.als import AlternatingLeastSquares
    except ImportError:
        return None
    peer = AlternatingLeastSquares(factors=s.factors, num_threads=max(s.threads))
    peer.user_factors, peer.item_factors = X, Y
    return peer


def implicit_als_row(train, test, s: Setup, use_cg: bool) -> dict:
    """implicit's ALS with fastl2's objective and solver, per iteration (the first reported
    apart), at the most threads of the run."""
    kernel, name = (("ials", "implicit ALS (CG)") if use_cg
                    else ("ials-chol", "implicit ALS (Cholesky)"))
    if importlib.util.find_spec("implicit") is None:
        return skipped(kernel, s, name, "implicit is not installed")
    t = max(s.threads)
    times, record = epoch_timer()
    # implicit's confidence is alpha·r: alpha = 1 on 1 + r matches fastl2's 1 + alpha·r
    m = train.matrix.copy()
    m.data = (1 + m.data).astype(np.float32)
    res = implicit_als(m, factors=s.factors, regularization=0.01, alpha=1.0,
                       iterations=s.repeat + 1, use_cg=use_cg, threads=t,
                       random_state=s.seed, dtype=np.dtype(s.dtype), callback=record)
    return row(kernel, s, name, t, **steady(times, train.nnz, "interactions/s"),
               peak_rss_growth_mb=(res["peak_rss_growth_bytes"] or 0) / 2**20,
               quality=_ranking(res["user_factors"], res["item_factors"], train, test))


def implicit_bpr(train, test, s: Setup) -> dict:
    """implicit's BPR (pairwise SGD, a different model) per epoch and its ranking quality,
    for reference next to implicit ALS: ``comparable`` is False, no ratio is derived."""
    name = "implicit BPR"
    try:  # deferred: optional dependency (implicit)
        from implicit.cpu.bpr import BayesianPersonalizedRanking
    except ImportError:
        return skipped("ials", s, name, "implicit is not installed")
    t = max(s.threads)
    times, record = epoch_timer()
    m = train.matrix.copy()
    m.data = np.ones_like(m.data, dtype=np.float32)
    with blas_limit(1):
        peer = BayesianPersonalizedRanking(factors=s.factors, iterations=s.repeat + 1,
                                           num_threads=t, random_state=s.seed,
                                           dtype=np.dtype(s.dtype))
        with PeakRSS() as mem:
            peer.fit(m, show_progress=False, callback=record)
    # implicit's BPR factors carry an item-bias column; scoring uses all of them
    return row("ials", s, name, t, **steady(times, train.nnz, "interactions/s"),
               peak_rss_growth_mb=mem.growth_mb, comparable=False,
               quality=_ranking(peer.user_factors, peer.item_factors, train, test),
               note="different model (BPR, pairwise SGD; implicit defaults "
                    "learning_rate 0.01, regularization 0.01): for reference, no ratio")


# ---------------------------------------------------------------------------- surprise
def surprise_svd(train, test, s: Setup) -> dict:
    """scikit-surprise's SVD: one epoch (single-threaded Cython) and its test RMSE."""
    try:  # deferred: optional dependency (scikit-surprise)
        import surprise
    except ImportError:
        return skipped("sgd", s, "surprise SVD", "scikit-surprise is not installed")
    try:  # deferred: optional dependency (pandas: Surprise builds its dataset from one)
        import pandas as pd
    except ImportError:
        return skipped("sgd", s, "surprise SVD", "pandas is not installed (Surprise needs it)")

    u, i, r = train.to_arrays()
    lo, hi = float(r.min()), float(r.max())
    frame = pd.DataFrame({"u": u, "i": i, "r": r.astype(np.float64)})
    t0 = time.perf_counter()
    with PeakRSS() as mem:
        trainset = surprise.Dataset.load_from_df(frame, surprise.Reader(rating_scale=(lo, hi))) \
            .build_full_trainset()
        setup = time.perf_counter() - t0
        del frame
        algo = surprise.SVD(n_factors=s.factors, n_epochs=1, random_state=s.seed)
        t0 = time.perf_counter()
        algo.fit(trainset)
        sec = time.perf_counter() - t0
    tu, ti, tr = test.to_arrays()
    n = min(tr.size, 20_000)
    pred = np.array([algo.predict(a, b).est for a, b in zip(tu[:n], ti[:n])])
    return row("sgd", s, "surprise SVD", 1, first_seconds=None, seconds=sec,
               spread_seconds=0.0, repeats=1, throughput=train.nnz / sec,
               throughput_unit="ratings/s", peak_rss_growth_mb=mem.growth_mb,
               quality={"rmse_1_epoch_20k": rmse_of(pred, tr[:n])["rmse"]},
               note=f"one epoch (single-threaded Cython); building its trainset took "
                    f"{setup:.1f} s (not timed)")


# ---------------------------------------------------------------------------- LensKit
def _lenskit_threads(threads: int, backend_threads: int = 1) -> str:
    """Size LensKit's Rayon pool (once per process) and check what was obtained."""
    # deferred: optional dependency (lenskit)
    import lenskit.parallel.config as lkpc
    from lenskit._accel import thread_count

    cfg = lkpc._config
    if cfg is None:
        # Rayon reads RAYON_NUM_THREADS if its global pool is ever built implicitly before
        # init_accel_pool; initialize() then builds it explicitly with `threads`.
        os.environ["RAYON_NUM_THREADS"] = str(threads)
        lkpc.initialize(threads=threads, backend_threads=backend_threads)
        cfg = lkpc._config
    got = thread_count()
    if cfg is None or cfg.threads != threads or got != threads:
        raise PeerUnavailable(
            f"LensKit's Rayon pool in this process has {got} threads (config "
            f"{None if cfg is None else cfg.threads}), {threads} requested: the global pool is "
            "sized once per process; run each thread count in its own process")
    return (f"lenskit.parallel.initialize(threads={threads}, backend_threads={backend_threads})"
            f" -> Rayon global pool {got}")


def _dense_by_id(vocab, n: int, mat: np.ndarray) -> np.ndarray:
    """Rows of ``mat`` reordered to ids 0..n-1 (zeros for ids LensKit never saw)."""
    rows = np.asarray(vocab.numbers(np.arange(n), missing="negative"), dtype=np.int64)
    out = np.zeros((n,) + mat.shape[1:], dtype=mat.dtype)
    ok = rows >= 0
    out[ok] = mat[rows[ok]]
    return out


def _lenskit_fit(scorer, users, items, ratings, *, threads: int, iterations: int,
                 random_state: int, backend_threads: int) -> dict[str, Any]:
    """Build LensKit's Dataset from the triples, create the trainer (``setup_seconds``) and
    time each ``train_epoch()`` (user half then item half) with ``time.perf_counter``.

    Memory: ``peak_rss_growth_mb`` is the larger of the trainer's creation and of the epochs
    on top of what the trainer holds; ``peak_rss_bytes`` the peak RSS over the whole call
    (dataset building included), ``rss_before_bytes`` the RSS at its start."""
    threads = _check_threads(threads)
    try:  # deferred: optional dependency (lenskit, pandas)
        import lenskit
        import pandas as pd
        from lenskit.data import from_interactions_df
        from lenskit.training import TrainingOptions
    except ImportError as exc:
        raise PeerUnavailable("lenskit is not installed") from exc
    thread_control = _lenskit_threads(threads, backend_threads)
    rss0 = rss_bytes()
    t0 = time.perf_counter()
    with PeakRSS() as build:
        frame = pd.DataFrame({"user_id": users, "item_id": items,
                              "rating": np.asarray(ratings, dtype=np.float32)})
        data = from_interactions_df(frame, user_col="user_id", item_col="item_id",
                                    rating_col="rating")
        del frame
    dataset_seconds = time.perf_counter() - t0
    rss1 = rss_bytes()
    t0 = time.perf_counter()
    with PeakRSS() as setup:  # the trainer's matrices, then the epochs on top of them
        trainer = scorer.create_trainer(data, TrainingOptions(rng=random_state))
    setup_seconds = time.perf_counter() - t0
    held = (rss_bytes() - rss1) / 2**20
    cpus: list[float] = []

    def epoch() -> None:
        c0 = time.process_time()
        trainer.train_epoch()
        cpus.append(time.process_time() - c0)
    snap0 = cpu_snapshot()
    walls, _, mb = timed(epoch, iterations)
    busy = contention(snap0, cpu_snapshot())
    trainer.finalize()
    scorer.trained_epochs = iterations
    if mb is not None and setup.growth is not None:
        mb = max(setup.growth / 2**20, held + mb)
    peaks = [p for p in (build.peak, setup.peak, None if mb is None else rss1 + mb * 2**20)
             if p is not None]
    return {"seconds_per_iteration": walls, **steady(walls),
            "cpu_seconds_per_iteration": cpus, "setup_seconds": setup_seconds,
            "dataset_seconds": dataset_seconds, "peak_rss_growth_mb": mb,
            "peak_rss_bytes": max(peaks) if peaks else None, "rss_before_bytes": rss0,
            "version": lenskit.__version__, "threads": threads,
            "thread_control": thread_control,
            "timing_method": "perf_counter around ModelTrainer.train_epoch()", **busy}


def lenskit_biasedmf(users, items, ratings, *, factors: int, iterations: int, threads: int,
                     regularization: float | None = None, damping: float | None = None,
                     random_state: int = 0, backend_threads: int = 1) -> dict[str, Any]:
    """Train LensKit's ALS ``BiasedMFScorer`` on explicit (user, item, rating) triples with
    integer ids 0..n-1.

    LensKit 2025.x (``lenskit/als/_explicit.py``, Rust ``train_explicit_matrix``): biases are
    NOT learned by ALS. ``BiasModel.learn(damping)`` first computes the global mean ``μ``,
    damped item means ``b_i = Σ(r−μ)/(n_i+β)`` and then damped user means of the remaining
    residual ``b_u = Σ(r−μ−b_i)/(n_u+β)`` (``damping`` = β, default 5; ``lenskit/basic/bias.py``);
    ALS then factorises the residuals ``r − μ − b_i − b_u`` without bias terms, each row solving
    ``(QᵀQ_{rated} + λ·n_u·I) p_u = Q_{rated}ᵀ r̃_u`` -- the regularisation is scaled by the
    row's rating count (ALS-WR, Zhou et al. 2008), for users and items alike. Prediction is
    ``μ + b_i + b_u + p_u·q_i``. ``regularization`` (a float or a (user, item) pair) and
    ``damping`` left at None keep LensKit's defaults (λ 0.1, β 5).

    Returns the keys of :func:`_lenskit_fit` plus user_factors, item_factors, user_bias,
    item_bias (indexed by id, zeros for ids LensKit never saw), global_mean and model (the
    trained ``BiasedMFScorer``).
    """
    try:  # deferred: optional dependency (lenskit)
        from lenskit import als
    except ImportError as exc:
        raise PeerUnavailable("lenskit is not installed") from exc
    kw: dict[str, Any] = {}
    if regularization is not None:
        kw["regularization"] = (tuple(regularization)
                                if isinstance(regularization, (tuple, list)) else regularization)
    if damping is not None:
        kw["damping"] = damping
    scorer = als.BiasedMFScorer(als.BiasedMFConfig(embedding_size=factors, epochs=iterations,
                                                   **kw))
    users, items = np.asarray(users), np.asarray(items)
    out = _lenskit_fit(scorer, users, items, ratings, threads=threads, iterations=iterations,
                       random_state=random_state, backend_threads=backend_threads)
    n_users, n_items = int(users.max()) + 1, int(items.max()) + 1
    b = scorer.bias
    out.update(user_factors=_dense_by_id(scorer.users, n_users, scorer.user_embeddings),
               item_factors=_dense_by_id(scorer.items, n_items, scorer.item_embeddings),
               user_bias=_dense_by_id(scorer.users, n_users, np.asarray(b.user_biases)),
               item_bias=_dense_by_id(scorer.items, n_items, np.asarray(b.item_biases)),
               global_mean=b.global_bias, model=scorer)
    return out


def lenskit_predict(res: dict[str, Any], users: np.ndarray, items: np.ndarray) -> np.ndarray:
    """Predictions of a :func:`lenskit_biasedmf` result for (user id, item id) pairs."""
    return (res["global_mean"] + res["user_bias"][users] + res["item_bias"][items]
            + np.einsum("nk,nk->n", res["user_factors"][users].astype(np.float64),
                        res["item_factors"][items].astype(np.float64)))


def lenskit_implicitmf(user_items, *, factors: int, regularization: float, weight: float,
                       iterations: int, threads: int, use_ratings: bool = True,
                       random_state: int = 0, backend_threads: int = 1) -> dict[str, Any]:
    """Train LensKit's ALS ``ImplicitMFScorer`` on a user x item CSR matrix (ids = indices).

    LensKit (``lenskit/als/_implicit.py``, Rust ``train_implicit_matrix``): confidence
    ``c_ui = 1 + weight * v_ui`` for observed entries (``v_ui`` = the stored value if
    ``use_ratings`` else 1), 1 elsewhere; preference 1 for observed; each row solves
    ``(YᵀY + λI + Σ_i weight·v_ui y_i y_iᵀ) x_u = Σ_i (1 + weight·v_ui) y_i`` by Cholesky
    -- plain ``λI``, not scaled by counts. Compared with :func:`implicit_als`, implicit with
    ``alpha`` on values ``v`` uses ``c = alpha·v``; the same objective is implicit on
    ``1 + weight·v`` with ``alpha=1`` (or LensKit ``weight=alpha`` on ``v − 1/alpha``).

    Returns the keys of :func:`_lenskit_fit` plus ``user_factors`` and ``item_factors``
    indexed by row/column index (zeros for empty rows/columns) and model (the trained
    ``ImplicitMFScorer``).
    """
    try:  # deferred: optional dependency (lenskit)
        from lenskit import als
    except ImportError as exc:
        raise PeerUnavailable("lenskit is not installed") from exc
    scorer = als.ImplicitMFScorer(als.ImplicitMFConfig(
        embedding_size=factors, epochs=iterations, regularization=regularization,
        weight=weight, use_ratings=use_ratings))
    m = sp.csr_matrix(user_items)
    users = np.repeat(np.arange(m.shape[0], dtype=np.int64), np.diff(m.indptr))
    out = _lenskit_fit(scorer, users, m.indices.astype(np.int64), m.data, threads=threads,
                       iterations=iterations, random_state=random_state,
                       backend_threads=backend_threads)
    out.update(user_factors=_dense_by_id(scorer.users, m.shape[0], scorer.user_embeddings),
               item_factors=_dense_by_id(scorer.items, m.shape[1], scorer.item_embeddings),
               model=scorer)
    return out


# ---------------------------------------------------------------------------- child peers
CHILD_PEERS = {  # contender -> kernel
    "lenskit BiasedMF": "als",
    "lenskit ImplicitMF": "ials-chol",
    "libmf FPSGD (PyPI build)": "sgd",
    "libmf FPSGD (SIMD build)": "sgd",
}
_MODULES = {"lenskit BiasedMF": "lenskit", "lenskit ImplicitMF": "lenskit",
            "libmf FPSGD (PyPI build)": "libmf", "libmf FPSGD (SIMD build)": "libmf"}
_CHILD = "import sys; from fastl2.bench.peers import child_main; child_main(sys.argv[1])"


class DataFiles:
    """The training and test matrices written once for the child processes."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="fastl2-bench-")
        self._paths: dict[int, str] = {}

    def path(self, train, test) -> str:
        key = id(train)
        if key not in self._paths:
            p = os.path.join(self._dir.name, f"data{len(self._paths)}.npz")
            a, b = train.matrix, test.matrix
            np.savez(p, shape=np.array(a.shape), train_indptr=a.indptr,
                     train_indices=a.indices, train_data=a.data, test_indptr=b.indptr,
                     test_indices=b.indices, test_data=b.data)
            self._paths[key] = p
        return self._paths[key]

    def close(self) -> None:
        self._dir.cleanup()


def _spawn(task: dict, env: dict | None = None, timeout: float | None = None):
    """Run ``task`` in a fresh Python process: (its last JSON line or None, the process)."""
    proc = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(task)], env=env,
                          capture_output=True, text=True, timeout=timeout)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    return (json.loads(lines[-1]) if proc.returncode == 0 and lines else None), proc


def child_peer(name: str, files: DataFiles, train, test, s: Setup) -> dict:
    """Run the peer ``name`` in a fresh Python process on the same data; its row."""
    kernel = CHILD_PEERS[name]
    if importlib.util.find_spec(_MODULES[name]) is None:
        return skipped(kernel, s, name, f"{_MODULES[name]} is not installed")
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               MKL_NUM_THREADS="1")
    env.pop("LIBMF_OBJ", None)
    if name == "libmf FPSGD (SIMD build)":
        if not s.libmf_simd:
            return skipped(kernel, s, name, "no SIMD build given (--libmf-simd PATH: LIBMF "
                           "compiled with its Makefile's -DUSEAVX -DUSEOMP -march=native)")
        env["LIBMF_OBJ"] = s.libmf_simd
    task = {"name": name, "data": files.path(train, test), "factors": s.factors,
            "threads": max(s.threads), "repeat": s.repeat, "seed": s.seed, "dtype": s.dtype}
    res, proc = _spawn(task, env)
    if res is None:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return skipped(kernel, s, name, f"failed (exit {proc.returncode}): {tail[:200]}")
    return row(kernel, s, name, max(s.threads), **res)


def _load(path: str):
    z = np.load(path, allow_pickle=False)
    shape = tuple(int(v) for v in z["shape"])

    def part(prefix: str):
        m = sp.csr_matrix((z[prefix + "_data"], z[prefix + "_indices"], z[prefix + "_indptr"]),
                          shape=shape)
        return Interactions.from_sparse(m)
    return part("train"), part("test")


def _triples(data) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    m = data.matrix
    return data.row_indices().astype(np.int64), m.indices.astype(np.int64), m.data


def _lenskit_row(task: dict, train, test) -> dict:
    t, epochs = task["threads"], task["repeat"] + 1
    if task["name"] == "lenskit BiasedMF":  # LensKit defaults apart from the size
        res = lenskit_biasedmf(*_triples(train), factors=task["factors"], iterations=epochs,
                               threads=t, random_state=task["seed"])
        tu, ti, tr = _triples(test)
        quality = rmse_of(lenskit_predict(res, tu, ti), tr)
        unit = "ratings/s"
        note = "LensKit defaults but the size (ALS-WR λ 0.1, damped-mean biases, β 5)"
    else:  # the objective fastl2 and implicit solve: c = 1 + 1·r, λ = 0.01
        res = lenskit_implicitmf(train.matrix, factors=task["factors"], regularization=0.01,
                                 weight=1.0, iterations=epochs, threads=t,
                                 random_state=task["seed"])
        quality = _ranking(res["user_factors"], res["item_factors"], train, test)
        unit = "interactions/s"
        note = "Cholesky (Rust); c = 1 + r, λ 0.01 as fastl2"
    return {**steady(res["seconds_per_iteration"], train.nnz, unit),
            "peak_rss_growth_mb": res["peak_rss_growth_mb"], "quality": quality,
            "note": f"{note}; LensKit {res['version']}, Rayon pool {t}"}


def _libmf_row(task: dict, train, test) -> dict:
    with contextlib.redirect_stdout(io.StringIO()):  # the binding prints its library path
        from libmf import mf  # deferred: optional dependency (libmf)

    u, i, r = _triples(train)
    X = np.column_stack([u, i, r]).astype(np.float32)  # fit reads (n, 3) row-major
    del u, i, r
    n_more = task["repeat"]

    def fit(iters: int):
        model = mf.MF(k=task["factors"], nr_threads=task["threads"], nr_iters=iters,
                      quiet=True)
        model.fit(X)
        return model
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        fit(1)
        one = time.perf_counter() - t0
        t0 = time.perf_counter()
        model = fit(1 + n_more)
        more = time.perf_counter() - t0
    per_epoch = max(more - one, 1e-9) / n_more
    tu, ti, tr = _triples(test)
    pred = model.predict(np.asfortranarray(np.column_stack([tu, ti]).astype(np.float32)))
    return {"first_seconds": one, "seconds": per_epoch, "spread_seconds": None,
            "repeats": n_more, "throughput": train.nnz / per_epoch,
            "throughput_unit": "ratings/s", "peak_rss_growth_mb": mem.growth_mb,
            "quality": rmse_of(pred, tr),
            "note": "per epoch = (fit of 1 + repeat epochs − fit of 1) / repeat; first = fit "
                    "of 1 epoch with setup; plain MF (global mean, no user/item biases), "
                    "LIBMF defaults eta 0.1, λ 0.04" + ("; LIBMF_OBJ " + os.environ["LIBMF_OBJ"]
                                                       if "LIBMF_OBJ" in os.environ else "")}


# ---------------------------------------------------------------------------- peer table
PEERS = ("implicit-cg", "implicit-cholesky", "lenskit-biasedmf", "lenskit-implicitmf")
SHAPE = dict(n_users=138_000, n_items=27_000, rank=10, noise=0.5, seed=0)
PEER_DEFAULTS = dict(factors=64, iterations=3, alpha=1.0, implicit_reg=0.01, lenskit_reg=0.1,
                     lenskit_implicit_reg=0.1, damping=5.0)


def peer_summary(task: dict) -> dict[str, Any]:
    """Run one (peer, threads) configuration of :data:`PEERS` in this process on the
    synthetic set of ``task["ratings"]`` ratings (shape :data:`SHAPE`); a JSON-able summary
    with ``status`` "ok", or "skipped: why" when the peer is unavailable."""
    task = {**PEER_DEFAULTS, **task}
    peer, threads = task["peer"], task["threads"]
    t0 = time.perf_counter()
    synth = synthetic_ratings(**SHAPE, n_ratings=task["ratings"],
                              implicit="counts" if peer != "lenskit-biasedmf" else False)
    m = synth.interactions.matrix
    data_seconds = time.perf_counter() - t0
    params: dict[str, Any]
    try:
        if peer.startswith("implicit-"):
            params = dict(factors=task["factors"], regularization=task["implicit_reg"],
                          alpha=task["alpha"], iterations=task["iterations"],
                          use_cg=peer == "implicit-cg")
            res = implicit_als(m, threads=threads, **params)
        elif peer == "lenskit-biasedmf":
            params = dict(factors=task["factors"], regularization=task["lenskit_reg"],
                          iterations=task["iterations"], damping=task["damping"])
            users = np.repeat(np.arange(m.shape[0], dtype=np.int64), np.diff(m.indptr))
            res = lenskit_biasedmf(users, m.indices.astype(np.int64), m.data,
                                   threads=threads, **params)
            del users
            # train RMSE of the returned model, on a sample (sanity check of the model)
            rng = np.random.default_rng(0)
            pick = rng.choice(m.nnz, size=min(m.nnz, 200_000), replace=False)
            urow = np.searchsorted(m.indptr, pick, side="right") - 1
            pred = lenskit_predict(res, urow, m.indices[pick])
            params["train_rmse_sample"] = float(np.sqrt(np.mean((pred - m.data[pick]) ** 2)))
        elif peer == "lenskit-implicitmf":
            params = dict(factors=task["factors"], regularization=task["lenskit_implicit_reg"],
                          weight=task["alpha"], iterations=task["iterations"],
                          use_ratings=True)
            res = lenskit_implicitmf(m, threads=threads, **params)
        else:
            raise ValueError(f"unknown peer {peer!r}")
    except PeerUnavailable as exc:
        return {"peer": peer, "threads": threads, "status": f"skipped: {exc}"}
    keep = {k: v for k, v in res.items()
            if v is None or isinstance(v, (str, int, float, list, tuple, dict))}
    keep.update(peer=peer, params=params, n_ratings=int(m.nnz), data_seconds=data_seconds,
                status="ok", factor_norms=[float(np.linalg.norm(res["user_factors"])),
                                           float(np.linalg.norm(res["item_factors"]))])
    return keep


def run_peer_child(task: dict, timeout: float | None = None,
                   idle_wait: float = 0.0) -> dict[str, Any]:
    """:func:`peer_summary` of ``task`` in a fresh Python process (a LensKit pool is sized
    once per process), after waiting up to ``idle_wait`` s for the machine to be idle; a
    failure or timeout is a summary whose ``status`` says so."""
    if idle_wait > 0:
        frac = wait_idle(idle_wait)
        if frac is not None and frac >= 0.10:
            print(f"# machine still {frac:.0%} busy after waiting {idle_wait:.0f}s",
                  flush=True)
    try:
        res, proc = _spawn(task, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"peer": task["peer"], "threads": task["threads"],
                "status": f"timeout after {timeout}s"}
    if res is None:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        return {"peer": task["peer"], "threads": task["threads"],
                "status": f"failed (exit {proc.returncode}): " + " | ".join(tail)}
    return res


def child_main(arg: str) -> None:
    """The child process: run the task given as JSON and print its result as JSON."""
    task = json.loads(arg)
    if "peer" in task:
        print(json.dumps(peer_summary(task)), flush=True)
        return
    train, test = _load(task["data"])
    run = _lenskit_row if task["name"].startswith("lenskit") else _libmf_row
    print(json.dumps(run(task, train, test)))
