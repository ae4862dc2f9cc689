"""Side-by-side runners for peer ALS libraries: ``implicit`` (0.7.x, CPU) and LensKit (2025.x).

Each runner trains the peer on the data it is given, with explicit thread control, and returns
per-iteration wall times and the learned model, so fastl2's ALS can be timed against the peers
in the same run on the same data. Peers are imported lazily; a missing peer raises
:class:`PeerUnavailable` (with the reason) so callers can report it as skipped.

Runners
-------
* :func:`implicit_als` -- ``implicit.cpu.als.AlternatingLeastSquares`` (Hu/Koren/Volinsky
  implicit-feedback ALS; Cholesky or conjugate-gradient solver).
* :func:`lenskit_biasedmf` -- ``lenskit.als.BiasedMFScorer`` (explicit ALS-WR after damped-mean
  bias removal; Rust/Rayon kernel).
* :func:`lenskit_implicitmf` -- ``lenskit.als.ImplicitMFScorer`` (Hu et al. ALS, Cholesky; Rust).

Timing (all runners): ``seconds_per_iteration`` holds one wall time per iteration (one user
half-step plus one item half-step), excluding data conversion, transposition and factor
initialisation (reported as ``setup_seconds``). Neither peer has a JIT, so there is no
compilation warm-up, but the first iteration is still reported on its own
(``first_iteration_seconds``) and ``steady_seconds_per_iteration`` is the median of the later
ones (the first one if only one was run). ``cpu_seconds_per_iteration`` (process CPU time)
shows the parallelism actually obtained: CPU/wall is about the thread count when the threads
are busy.

Threads
-------
* implicit: ``num_threads`` goes to the Cython ``prange`` (OpenMP, ``parallel(num_threads=)``),
  so ``OMP_NUM_THREADS`` does not matter. BLAS (only level-1/2 calls on k-vectors inside the
  parallel loop, plus one ``Y.T @ Y`` GEMM per half-step) is limited with
  ``threadpoolctl.threadpool_limits(blas_threads, "blas")`` around construction and ``fit``
  (default 1, which is what implicit asks for; threadpoolctl is a hard dependency of implicit,
  so it is always present when implicit is).
* LensKit: the training loop is a Rayon ``par_iter`` over rows in the *global* Rayon pool,
  sized once per process by ``lenskit.parallel.initialize(threads=...)`` (equivalently
  ``LK_NUM_THREADS`` before LensKit initialises). A Rayon global pool cannot be resized, so a
  process can run LensKit with one thread count only: asking for another raises
  :class:`PeerUnavailable`; run each thread count in its own process (``__main__`` does).
  ``initialize`` also applies ``threadpool_limits(backend_threads, "blas")`` process-wide
  (unless ``OPENBLAS_NUM_THREADS``/``MKL_NUM_THREADS`` is set) and ``torch.set_num_threads``;
  this runner uses ``backend_threads=1``. The obtained size is checked with
  ``lenskit._accel.thread_count()``.

Contention: ``other_cpu_seconds`` / ``other_cpu_fraction`` (from ``/proc/stat``) give the CPU
time that *other* processes used while the iterations ran; the CLI warns above 5%. On a 2-core
box a concurrent job silently turns a 2-thread run into a 1-thread one (CPU/wall about 1).
/proc/stat counts 10 ms ticks, so the figure is only meaningful for runs of a few seconds.

Memory: ``peak_rss_bytes`` is the process's VmHWM after resetting it (writing ``5`` to
``/proc/self/clear_refs``) at the start of the call, so it includes everything alive during
the call (including the caller's input arrays; ``rss_before_bytes`` is VmRSS at the start).
None where /proc is unavailable.

Command line (each peer x thread count runs in a fresh subprocess, one at a time)::

    python benchmarks/_peers.py --ratings 20000000
    python benchmarks/_peers.py --ratings 2000000 --threads 1,2 --iterations 3 \\
        --peers implicit-cg,implicit-cholesky,lenskit-biasedmf,lenskit-implicitmf --json out.json

See ``benchmarks/peer_notes.md`` for what each peer's regularisation, confidence and bias
parameters mean, with source references.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

import numpy as np
import scipy.sparse as sp

__all__ = [
    "PeerUnavailable",
    "implicit_als",
    "lenskit_biasedmf",
    "lenskit_implicitmf",
    "peak_rss_bytes",
    "reset_peak_rss",
]


class PeerUnavailable(Exception):
    """A peer library is not installed or cannot run as asked here; the message says why."""


# ------------------------------------------------------------------------------ helpers
def _proc_status(field: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def reset_peak_rss() -> bool:
    """Reset the process's peak RSS (VmHWM) to its current RSS; False if unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def peak_rss_bytes() -> int | None:
    """VmHWM of this process in bytes (since start or the last :func:`reset_peak_rss`)."""
    return _proc_status("VmHWM")


def _rss_bytes() -> int | None:
    return _proc_status("VmRSS")


def _cpu_snapshot() -> tuple[float, float, float] | None:
    """(wall, this process's CPU seconds, whole machine's busy CPU seconds) or None."""
    try:
        with open("/proc/stat") as fh:
            f = [int(x) for x in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    busy = sum(f) - f[3] - (f[4] if len(f) > 4 else 0)  # minus idle and iowait
    return time.perf_counter(), time.process_time(), busy / hz


def _contention(a, b) -> dict[str, Any]:
    """How much CPU *other* processes used between two snapshots (a loaded box skews timings).

    ``other_cpu_seconds`` = machine busy CPU time - this process's CPU time; with
    ``cpus`` cores, ``other_cpu_fraction`` = other / (cpus * wall). Anything above a few
    percent means the timings are not clean (e.g. another benchmark ran at the same time).
    """
    if a is None or b is None:
        return {"other_cpu_seconds": None, "other_cpu_fraction": None}
    wall, own, busy = b[0] - a[0], b[1] - a[1], b[2] - a[2]
    other = max(busy - own, 0.0)
    cpus = os.cpu_count() or 1
    return {"other_cpu_seconds": other,
            "other_cpu_fraction": other / (cpus * wall) if wall > 0 else None}


def _summarise(walls: list[float]) -> dict[str, Any]:
    return {
        "seconds_per_iteration": [float(w) for w in walls],
        "first_iteration_seconds": float(walls[0]) if walls else None,
        "steady_seconds_per_iteration": (float(statistics.median(walls[1:])) if len(walls) > 1
                                         else (float(walls[0]) if walls else None)),
    }


def _check_threads(threads: Any) -> int:
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
        raise ValueError(f"threads must be a positive int, got {threads!r}")
    return int(threads)


def _blas_limits(n: int):
    """threadpoolctl BLAS limit as a context manager (nullcontext + label if unavailable)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        env = {k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
        return contextlib.nullcontext(), f"uncontrolled (no threadpoolctl); env {env}"
    return threadpool_limits(limits=n, user_api="blas"), f"threadpoolctl blas={n}"


# ------------------------------------------------------------------------------ implicit
def _import_implicit():
    try:
        import implicit
        from implicit.cpu.als import AlternatingLeastSquares
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise PeerUnavailable(f"implicit is not installed ({exc})") from exc
    return implicit, AlternatingLeastSquares


def implicit_als(user_items: sp.csr_matrix, *, factors: int, regularization: float,
                 alpha: float, iterations: int, use_cg: bool, threads: int,
                 random_state: int = 0, dtype: Any = np.float32, cg_steps: int = 3,
                 blas_threads: int = 1) -> dict[str, Any]:
    """Train ``implicit.cpu.als.AlternatingLeastSquares`` on a user x item CSR matrix.

    implicit's model (``implicit/cpu/_als.pyx``): observed entry ``v_ui`` gives confidence
    ``c_ui = alpha * v_ui`` (NOT ``1 + alpha * v_ui``) and preference 1; unobserved entries
    have confidence 1 and preference 0; the penalty is ``regularization * (|x_u|^2 +
    |y_i|^2)`` with no per-row count scaling. Each half-step solves
    ``(YᵀY + λI + Σ_i (c_ui − 1) y_i y_iᵀ) x_u = Σ_i c_ui y_i`` exactly (Cholesky, ``posv``)
    or with ``cg_steps`` conjugate-gradient steps warm-started from the current ``x_u``.

    Timing: per-iteration wall from implicit's ``fit(callback=...)`` (``time.time()`` around
    the user and item solver calls, so it excludes the ``Cui.T.tocsr()`` transpose and the
    factor initialisation). The solver is additionally wrapped to record each half-step's wall
    and CPU time (``half_step_seconds``, ``cpu_seconds_per_iteration``).

    Returns a dict: seconds_per_iteration, first_iteration_seconds,
    steady_seconds_per_iteration, cpu_seconds_per_iteration, half_step_seconds (list of
    (user, item) pairs), setup_seconds, fit_seconds, user_factors, item_factors, model (the
    fitted estimator), version, threads, blas, timing_method, peak_rss_bytes,
    rss_before_bytes, other_cpu_seconds, other_cpu_fraction.
    """
    threads = _check_threads(threads)
    implicit, ALS = _import_implicit()
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

            def timed(*args, **kwargs):
                w0, c0 = time.perf_counter(), time.process_time()
                inner(*args, **kwargs)
                halves.append((time.perf_counter() - w0, time.process_time() - c0))
            return timed

    rss0 = _rss_bytes()
    reset_peak_rss()
    limits, blas_label = _blas_limits(blas_threads)
    walls: list[float] = []
    with limits:
        model = _TimedALS(factors=factors, regularization=regularization, alpha=alpha,
                          dtype=dtype, use_native=True, use_cg=use_cg, iterations=iterations,
                          calculate_training_loss=False, num_threads=threads,
                          random_state=random_state)
        model.cg_steps = cg_steps
        snap0 = _cpu_snapshot()
        t0 = time.perf_counter()
        model.fit(ui, show_progress=False,
                  callback=lambda it, elapsed, loss: walls.append(float(elapsed)))
        fit_seconds = time.perf_counter() - t0
        snap1 = _cpu_snapshot()
    if len(walls) != iterations or len(halves) != 2 * iterations:
        raise RuntimeError("implicit did not report one callback/two half-steps per iteration")
    pairs = [(halves[2 * k][0], halves[2 * k + 1][0]) for k in range(iterations)]
    cpu = [halves[2 * k][1] + halves[2 * k + 1][1] for k in range(iterations)]
    out = _summarise(walls)
    out.update(
        cpu_seconds_per_iteration=cpu,
        half_step_seconds=pairs,
        setup_seconds=fit_seconds - sum(walls),
        fit_seconds=fit_seconds,
        user_factors=np.asarray(model.user_factors),
        item_factors=np.asarray(model.item_factors),
        model=model,
        version=implicit.__version__,
        threads=threads,
        blas=blas_label,
        solver="cg" if use_cg else "cholesky",
        timing_method="implicit fit callback (time.time() around both half-step solver calls);"
                      " half-steps timed by wrapping the solver",
        peak_rss_bytes=peak_rss_bytes(),
        rss_before_bytes=rss0,
        **_contention(snap0, snap1),
    )
    return out


# ------------------------------------------------------------------------------ LensKit
def _import_lenskit():
    try:
        import lenskit
        from lenskit import als as lk_als
        from lenskit.data import from_interactions_df
        from lenskit.training import TrainingOptions
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise PeerUnavailable(f"lenskit is not installed ({exc})") from exc
    return lenskit, lk_als, from_interactions_df, TrainingOptions


def _lenskit_threads(threads: int, backend_threads: int = 1) -> str:
    """Size LensKit's Rayon pool (once per process) and check what was obtained."""
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


def _vocab_rows(vocab, ids: np.ndarray) -> np.ndarray:
    """Row numbers of ``ids`` in a LensKit vocabulary (-1 where absent)."""
    return np.asarray(vocab.numbers(ids, missing="negative"), dtype=np.int64)


def _dense_by_id(vocab, n: int, mat: np.ndarray) -> np.ndarray:
    """Rows of ``mat`` reordered to ids 0..n-1 (zeros for ids LensKit never saw)."""
    rows = _vocab_rows(vocab, np.arange(n))
    out = np.zeros((n,) + mat.shape[1:], dtype=mat.dtype)
    ok = rows >= 0
    out[ok] = mat[rows[ok]]
    return out


def _lenskit_train(scorer, data, options, iterations: int):
    t0 = time.perf_counter()
    trainer = scorer.create_trainer(data, options)
    setup = time.perf_counter() - t0
    walls, cpus = [], []
    snap0 = _cpu_snapshot()
    for _ in range(iterations):
        w0, c0 = time.perf_counter(), time.process_time()
        trainer.train_epoch()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    contention = _contention(snap0, _cpu_snapshot())
    trainer.finalize()
    scorer.trained_epochs = iterations
    return setup, walls, cpus, contention


def _lenskit_setup(threads: Any, backend_threads: int):
    """Imports, thread pool and memory baseline shared by the LensKit runners."""
    threads = _check_threads(threads)
    lenskit, lk_als, from_interactions_df, TrainingOptions = _import_lenskit()
    thread_label = _lenskit_threads(threads, backend_threads)
    import pandas as pd

    rss0 = _rss_bytes()
    reset_peak_rss()
    return threads, lenskit, lk_als, from_interactions_df, TrainingOptions, thread_label, pd, rss0


def _lenskit_run_info(lenskit, threads, thread_label, peak, rss0, contention) -> dict[str, Any]:
    """Result fields shared by the LensKit runners."""
    return dict(version=lenskit.__version__, threads=threads, thread_control=thread_label,
                timing_method="perf_counter around ModelTrainer.train_epoch()",
                peak_rss_bytes=peak, rss_before_bytes=rss0, **contention)


def lenskit_biasedmf(users, items, ratings, *, factors: int, regularization: float,
                     iterations: int, threads: int, random_state: int = 0,
                     damping: float = 5.0, backend_threads: int = 1) -> dict[str, Any]:
    """Train LensKit's ALS ``BiasedMFScorer`` on explicit (user, item, rating) triples.

    LensKit 2025.x (``lenskit/als/_explicit.py``, Rust ``train_explicit_matrix``): biases are
    NOT learned by ALS. ``BiasModel.learn(damping)`` first computes the global mean ``μ``,
    damped item means ``b_i = Σ(r−μ)/(n_i+β)`` and then damped user means of the remaining
    residual ``b_u = Σ(r−μ−b_i)/(n_u+β)`` (``damping`` = β, default 5; ``lenskit/basic/bias.py``);
    ALS then factorises the residuals ``r − μ − b_i − b_u`` without bias terms, each row solving
    ``(QᵀQ_{rated} + λ·n_u·I) p_u = Q_{rated}ᵀ r̃_u`` -- the regularisation is scaled by the
    row's rating count (ALS-WR, Zhou et al. 2008), for users and items alike. Prediction is
    ``μ + b_i + b_u + p_u·q_i``.

    ``users``/``items`` are any hashable ids (converted to a pandas DataFrame); ``factors``
    maps to ``embedding_size``, ``regularization`` to ``regularization`` (a float or a
    (user, item) pair), ``iterations`` to ``epochs``; ``random_state`` seeds
    ``TrainingOptions(rng=...)`` (factors start as unit-norm Gaussian rows).

    Timing: ``create_trainer`` (bias model, rating matrix and its transpose, initialisation) is
    ``setup_seconds``; each ``trainer.train_epoch()`` (user half then item half) is timed with
    ``time.perf_counter``. Building the LensKit ``Dataset`` is ``dataset_seconds``.

    Returns a dict: seconds_per_iteration, first_iteration_seconds,
    steady_seconds_per_iteration, cpu_seconds_per_iteration, setup_seconds, dataset_seconds,
    predict (``predict(users, items) -> float64 ndarray``, NaN for unknown ids, the same
    formula as the scorer with stored user embeddings), model (the trained
    ``BiasedMFScorer``), user_ids, item_ids, user_factors,
    item_factors, user_bias, item_bias, global_mean (rows in ``user_ids``/``item_ids``
    order), version, threads, peak_rss_bytes, rss_before_bytes, other_cpu_seconds,
    other_cpu_fraction.
    """
    threads, lenskit, lk_als, from_interactions_df, TrainingOptions, thread_label, pd, rss0 = \
        _lenskit_setup(threads, backend_threads)
    t0 = time.perf_counter()
    df = pd.DataFrame({"user_id": np.asarray(users), "item_id": np.asarray(items),
                       "rating": np.asarray(ratings, dtype=np.float32)})
    data = from_interactions_df(df, user_col="user_id", item_col="item_id",
                                rating_col="rating")
    del df
    dataset_seconds = time.perf_counter() - t0

    reg = tuple(regularization) if isinstance(regularization, (tuple, list)) else regularization
    cfg = lk_als.BiasedMFConfig(embedding_size=factors, regularization=reg, epochs=iterations,
                                damping=damping)
    scorer = lk_als.BiasedMFScorer(cfg)
    setup, walls, cpus, contention = _lenskit_train(scorer, data, TrainingOptions(rng=random_state),
                                        iterations)
    peak = peak_rss_bytes()
    del data

    bias = scorer.bias
    P, Q = scorer.user_embeddings, scorer.item_embeddings
    uvocab, ivocab = scorer.users, scorer.items
    mu = float(bias.global_bias)
    bu = np.asarray(bias.user_biases, dtype=np.float64)
    bi = np.asarray(bias.item_biases, dtype=np.float64)

    def predict(pu, pi) -> np.ndarray:
        pu, pi = np.broadcast_arrays(np.asarray(pu), np.asarray(pi))
        shape = pu.shape
        ur = _vocab_rows(uvocab, pu.ravel())
        ir = _vocab_rows(ivocab, pi.ravel())
        out = np.full(ur.shape, np.nan)
        ok = (ur >= 0) & (ir >= 0)
        u, i = ur[ok], ir[ok]
        out[ok] = (mu + bu[u] + bi[i]
                   + np.einsum("nk,nk->n", P[u].astype(np.float64), Q[i].astype(np.float64)))
        return out.reshape(shape)

    out = _summarise(walls)
    out.update(
        cpu_seconds_per_iteration=cpus,
        setup_seconds=setup,
        dataset_seconds=dataset_seconds,
        predict=predict,
        model=scorer,
        user_ids=np.asarray(uvocab.ids()),
        item_ids=np.asarray(ivocab.ids()),
        user_factors=P,
        item_factors=Q,
        user_bias=bu,
        item_bias=bi,
        global_mean=mu,
        **_lenskit_run_info(lenskit, threads, thread_label, peak, rss0, contention),
    )
    return out


def lenskit_implicitmf(user_items: sp.csr_matrix, *, factors: int, regularization: float,
                       weight: float, iterations: int, threads: int, use_ratings: bool = True,
                       random_state: int = 0, backend_threads: int = 1) -> dict[str, Any]:
    """Train LensKit's ALS ``ImplicitMFScorer`` on a user x item CSR matrix (ids = indices).

    LensKit (``lenskit/als/_implicit.py``, Rust ``train_implicit_matrix``): confidence
    ``c_ui = 1 + weight * v_ui`` for observed entries (``v_ui`` = the stored value if
    ``use_ratings`` else 1), 1 elsewhere; preference 1 for observed; each row solves
    ``(YᵀY + λI + Σ_i weight·v_ui y_i y_iᵀ) x_u = Σ_i (1 + weight·v_ui) y_i`` by Cholesky
    -- plain ``λI``, not scaled by counts. Compared with :func:`implicit_als`, implicit with
    ``alpha`` on values ``v`` uses ``c = alpha·v``; the same objective is implicit on
    ``1 + weight·v`` with ``alpha=1`` (or LensKit ``weight=alpha`` on ``v − 1/alpha``).

    Returns the same timing keys as :func:`lenskit_biasedmf`, plus ``user_factors`` and
    ``item_factors`` indexed by row/column index (zeros for empty rows/columns), model (the
    trained ``ImplicitMFScorer``), version, threads, peak_rss_bytes.
    """
    threads, lenskit, lk_als, from_interactions_df, TrainingOptions, thread_label, pd, rss0 = \
        _lenskit_setup(threads, backend_threads)
    t0 = time.perf_counter()
    coo = sp.coo_matrix(user_items)
    df = pd.DataFrame({"user_id": coo.row.astype(np.int64), "item_id": coo.col.astype(np.int64),
                       "rating": coo.data.astype(np.float32)})
    del coo
    data = from_interactions_df(df, user_col="user_id", item_col="item_id",
                                rating_col="rating")
    del df
    dataset_seconds = time.perf_counter() - t0

    cfg = lk_als.ImplicitMFConfig(embedding_size=factors, regularization=regularization,
                                  epochs=iterations, weight=weight, use_ratings=use_ratings)
    scorer = lk_als.ImplicitMFScorer(cfg)
    setup, walls, cpus, contention = _lenskit_train(scorer, data, TrainingOptions(rng=random_state),
                                        iterations)
    peak = peak_rss_bytes()
    n_users, n_items = user_items.shape
    out = _summarise(walls)
    out.update(
        cpu_seconds_per_iteration=cpus,
        setup_seconds=setup,
        dataset_seconds=dataset_seconds,
        user_factors=_dense_by_id(scorer.users, n_users, scorer.user_embeddings),
        item_factors=_dense_by_id(scorer.items, n_items, scorer.item_embeddings),
        model=scorer,
        **_lenskit_run_info(lenskit, threads, thread_label, peak, rss0, contention),
    )
    return out


# ------------------------------------------------------------------------------ command line
PEERS = ("implicit-cg", "implicit-cholesky", "lenskit-biasedmf", "lenskit-implicitmf")
SHAPE = dict(n_users=138_000, n_items=27_000, rank=10, noise=0.5, seed=0)


def _data(n_ratings: int, implicit: bool):
    from fastl2.datasets import synthetic_ratings
    kw = dict(SHAPE, n_ratings=n_ratings)
    if implicit:
        kw["implicit"] = "counts"
    return synthetic_ratings(**kw)


def _worker(args) -> dict[str, Any]:
    """Run one (peer, threads) configuration in this process; JSON-able summary."""
    peer, threads = args.worker, args.worker_threads
    t0 = time.perf_counter()
    synth = _data(args.ratings, implicit=peer != "lenskit-biasedmf")
    m = synth.interactions.matrix
    data_seconds = time.perf_counter() - t0
    params: dict[str, Any]
    if peer.startswith("implicit-"):
        params = dict(factors=args.factors, regularization=args.implicit_reg,
                      alpha=args.alpha, iterations=args.iterations,
                      use_cg=peer == "implicit-cg")
        res = implicit_als(m, threads=threads, **params)
    elif peer == "lenskit-biasedmf":
        params = dict(factors=args.factors, regularization=args.lenskit_reg,
                      iterations=args.iterations, damping=args.damping)
        users = np.repeat(np.arange(m.shape[0], dtype=np.int64), np.diff(m.indptr))
        res = lenskit_biasedmf(users, m.indices.astype(np.int64), m.data, threads=threads,
                               **params)
        del users
        # train RMSE from the returned predictor, on a sample (sanity check of the model)
        rng = np.random.default_rng(0)
        pick = rng.choice(m.nnz, size=min(m.nnz, 200_000), replace=False)
        urow = np.searchsorted(m.indptr, pick, side="right") - 1
        pred = res["predict"](urow, m.indices[pick])
        params["train_rmse_sample"] = float(np.sqrt(np.mean((pred - m.data[pick]) ** 2)))
    elif peer == "lenskit-implicitmf":
        params = dict(factors=args.factors, regularization=args.lenskit_implicit_reg,
                      weight=args.alpha, iterations=args.iterations, use_ratings=True)
        res = lenskit_implicitmf(m, threads=threads, **params)
    else:
        raise ValueError(f"unknown peer {peer!r}")
    keep = {k: v for k, v in res.items()
            if v is None or isinstance(v, (str, int, float, list, tuple, dict))}
    keep.update(peer=peer, params=params, n_ratings=int(m.nnz), data_seconds=data_seconds,
                factor_norms=[float(np.linalg.norm(res["user_factors"])),
                              float(np.linalg.norm(res["item_factors"]))])
    return keep


def _wait_idle(limit: float, busy_max: float = 0.10, window: float = 2.0) -> float | None:
    """Wait (up to ``limit`` s) until the machine's CPU use over ``window`` s is below
    ``busy_max``; return the last measured busy fraction (None if /proc/stat is unreadable)."""
    deadline = time.perf_counter() + limit
    while True:
        a = _cpu_snapshot()
        time.sleep(window)
        b = _cpu_snapshot()
        if a is None or b is None:
            return None
        frac = (b[2] - a[2]) / ((os.cpu_count() or 1) * (b[0] - a[0]))
        if frac < busy_max or time.perf_counter() >= deadline:
            return frac


def _run_child(peer: str, threads: int, args) -> dict[str, Any]:
    if args.wait_idle > 0:
        frac = _wait_idle(args.wait_idle)
        if frac is not None and frac >= 0.10:
            print(f"# machine still {frac:.0%} busy after waiting {args.wait_idle:.0f}s",
                  flush=True)
    cmd = [sys.executable, os.path.abspath(__file__), "--ratings", str(args.ratings),
           "--factors", str(args.factors), "--iterations", str(args.iterations),
           "--alpha", str(args.alpha), "--implicit-reg", str(args.implicit_reg),
           "--lenskit-reg", str(args.lenskit_reg), "--damping", str(args.damping),
           "--lenskit-implicit-reg", str(args.lenskit_implicit_reg),
           "--worker", peer, "--worker-threads", str(threads)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return {"peer": peer, "threads": threads, "status": f"timeout after {args.timeout}s"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        return {"peer": peer, "threads": threads,
                "status": f"failed (exit {proc.returncode}): " + " | ".join(tail)}
    return json.loads(lines[-1])


def _fmt_gib(b: int | None) -> str:
    return "-" if b is None else f"{b / 2**30:.2f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ratings", type=int, required=True, help="number of synthetic ratings")
    ap.add_argument("--factors", type=int, default=64)
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    ap.add_argument("--peers", default=",".join(PEERS), help="comma-separated: " + ", ".join(PEERS))
    ap.add_argument("--alpha", type=float, default=1.0, help="implicit alpha / LensKit weight")
    ap.add_argument("--implicit-reg", type=float, default=0.01)
    ap.add_argument("--lenskit-reg", type=float, default=0.1, help="BiasedMF (ALS-WR) lambda")
    ap.add_argument("--lenskit-implicit-reg", type=float, default=0.1)
    ap.add_argument("--damping", type=float, default=5.0, help="BiasedMF bias damping")
    ap.add_argument("--timeout", type=float, default=1200.0, help="seconds per child run")
    ap.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                    help="before each run, wait up to this long for the machine to be idle")
    ap.add_argument("--json", help="write all results to this file")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--worker-threads", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.worker:
        try:
            res = _worker(args)
            res["status"] = "ok"
        except PeerUnavailable as exc:
            res = {"peer": args.worker, "threads": args.worker_threads,
                   "status": f"skipped: {exc}"}
        print(json.dumps(res), flush=True)
        return 0

    peers = [p.strip() for p in args.peers.split(",") if p.strip()]
    bad = [p for p in peers if p not in PEERS]
    if bad:
        ap.error(f"unknown peers {bad}; choose from {PEERS}")
    thread_counts = [int(t) for t in args.threads.split(",")]
    print(f"# {args.ratings:,} synthetic ratings, {SHAPE['n_users']:,} x {SHAPE['n_items']:,}, "
          f"k={args.factors}, {args.iterations} iterations; one subprocess per row",
          flush=True)
    results = []
    for peer in peers:
        for t in thread_counts:
            res = _run_child(peer, t, args)
            results.append(res)
            if res.get("status") != "ok":
                print(f"{peer:20s} threads={t}: {res.get('status')}", flush=True)
                continue
            its = ", ".join(f"{s:.2f}" for s in res["seconds_per_iteration"])
            cpu = res.get("cpu_seconds_per_iteration") or []
            par = (sum(cpu) / sum(res["seconds_per_iteration"])) if cpu else float("nan")
            print(f"{peer:20s} threads={t}: s/iter [{its}]  steady "
                  f"{res['steady_seconds_per_iteration']:.2f}s  cpu/wall {par:.2f}  "
                  f"setup {res['setup_seconds']:.1f}s  peak RSS "
                  f"{_fmt_gib(res.get('peak_rss_bytes'))} GiB (at call "
                  f"{_fmt_gib(res.get('rss_before_bytes'))})  ({res['version']})", flush=True)
            busy = res.get("other_cpu_fraction")
            if busy is not None and busy > 0.05:
                print(f"{'':20s}   WARNING: other processes used {busy:.0%} of the machine's"
                      " CPU during this run; its timings are not clean", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
