"""The peers of ``fastl2 bench --peers``: each trains or serves on the data fastl2 gets, with
its threads set explicitly, and returns one row of the report (see :mod:`.bench_suite`).

In this process: implicit (ALS with CG or Cholesky, BPR, ``recommend``, evaluation) and
scikit-surprise (SVD). In a child process, one per row: LensKit (``BiasedMF``,
``ImplicitMF``), whose Rust thread pool is sized once per process, and LIBMF (FPSGD), whose
Python binding picks its shared library when imported (the PyPI build, or a SIMD build named
by ``--libmf-simd``). A child gets the training and test matrices through a temporary
``.npz`` file and prints its row as JSON; its peak RSS is its own.

A peer that is not installed, or fails, is a row with ``status: "skipped"`` and the reason:
never an error of the suite. Rows of a different algorithm than fastl2's kernel (implicit's
BPR next to implicit ALS) carry ``comparable: false`` and are left out of the ratios.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import numpy as np
import scipy.sparse as sp

from .bench import PeakRSS
from .bench_suite import Setup, _epoch_timer, _row, _skipped, _steady, _timed, blas_limit

# ---------------------------------------------------------------------------- helpers


def factor_model(X: np.ndarray, Y: np.ndarray, train):
    """A fitted :class:`~fastl2.ImplicitALS` holding the factors ``X``, ``Y`` (rows in
    ``train``'s index order), so that a peer's factors are scored by the same evaluation."""
    from .models.implicit_als import ImplicitALS

    model = ImplicitALS(factors=X.shape[1], dtype=X.dtype)
    model.user_factors_, model.item_factors_ = X, Y
    model.user_map_, model.item_map_ = train.user_map, train.item_map
    model.loss_history_, model.n_iter_, model.n_regularized_rows_ = [], 0, 0
    return model


def _ranking(X, Y, train, test) -> dict[str, float]:
    from .bench_suite import _ranking as ranking

    return ranking(factor_model(np.ascontiguousarray(X), np.ascontiguousarray(Y), train),
                   train, test)


def _test_rmse(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    return {"rmse": float(np.sqrt(np.mean((np.asarray(pred, np.float64) - truth) ** 2)))}


# ---------------------------------------------------------------------------- implicit
def implicit_with_factors(X, Y, s: Setup):
    """implicit's ALS model holding our factors (for its recommend / evaluation), or None."""
    try:
        from implicit.cpu.als import AlternatingLeastSquares
    except ImportError:
        return None
    peer = AlternatingLeastSquares(factors=s.factors, num_threads=max(s.threads))
    peer.user_factors, peer.item_factors = X, Y
    return peer


def implicit_als(train, test, s: Setup, use_cg: bool) -> dict:
    kernel, name = (("ials", "implicit ALS (CG)") if use_cg
                    else ("ials-chol", "implicit ALS (Cholesky)"))
    try:
        from implicit.cpu.als import AlternatingLeastSquares
    except ImportError:
        return _skipped(kernel, s, name, "implicit is not installed")
    t = max(s.threads)
    times, record = _epoch_timer()
    # implicit's confidence is alpha·r: alpha = 1 on 1 + r matches fastl2's 1 + alpha·r
    m = train.matrix.copy()
    m.data = (1 + m.data).astype(np.float32)
    with blas_limit(1):
        peer = AlternatingLeastSquares(factors=s.factors, regularization=0.01, alpha=1.0,
                                       iterations=s.repeat + 1, use_cg=use_cg, num_threads=t,
                                       random_state=s.seed, dtype=np.dtype(s.dtype))
        with PeakRSS() as mem:
            peer.fit(m, show_progress=False, callback=record)
    return _row(kernel, s, name, t, **_steady(times, train.nnz, "interactions/s"),
                peak_rss_growth_mb=(mem.growth or 0) / 2**20,
                quality=_ranking(peer.user_factors, peer.item_factors, train, test))


def implicit_bpr(train, test, s: Setup) -> dict:
    """implicit's BPR (pairwise SGD, a different model) per epoch and its ranking quality,
    for reference next to implicit ALS: ``comparable`` is False, no ratio is derived."""
    name = "implicit BPR"
    try:
        from implicit.cpu.bpr import BayesianPersonalizedRanking
    except ImportError:
        return _skipped("ials", s, name, "implicit is not installed")
    t = max(s.threads)
    times, record = _epoch_timer()
    m = train.matrix.copy()
    m.data = np.ones_like(m.data, dtype=np.float32)
    with blas_limit(1):
        peer = BayesianPersonalizedRanking(factors=s.factors, iterations=s.repeat + 1,
                                           num_threads=t, random_state=s.seed,
                                           dtype=np.dtype(s.dtype))
        with PeakRSS() as mem:
            peer.fit(m, show_progress=False, callback=record)
    # implicit's BPR factors carry an item-bias column; scoring uses all of them
    return _row("ials", s, name, t, **_steady(times, train.nnz, "interactions/s"),
                peak_rss_growth_mb=(mem.growth or 0) / 2**20, comparable=False,
                quality=_ranking(peer.user_factors, peer.item_factors, train, test),
                note="different model (BPR, pairwise SGD; implicit defaults "
                     "learning_rate 0.01, regularization 0.01): for reference, no ratio")


# ---------------------------------------------------------------------------- surprise
def surprise_svd(train, test, s: Setup) -> dict:
    try:
        import surprise
    except ImportError:
        return _skipped("sgd", s, "surprise SVD", "scikit-surprise is not installed")
    try:
        import pandas as pd  # Surprise builds its dataset from a DataFrame
    except ImportError:
        return _skipped("sgd", s, "surprise SVD", "pandas is not installed (Surprise needs it)")

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
    return _row("sgd", s, "surprise SVD", 1, first_seconds=None, seconds=sec,
                spread_seconds=0.0, repeats=1, throughput=train.nnz / sec,
                throughput_unit="ratings/s", peak_rss_growth_mb=(mem.growth or 0) / 2**20,
                quality={"rmse_1_epoch_20k": _test_rmse(pred, tr[:n])["rmse"]},
                note=f"one epoch (single-threaded Cython); building its trainset took "
                     f"{setup:.1f} s (not timed)")


# ---------------------------------------------------------------------------- child peers
CHILD_PEERS = {  # contender -> kernel
    "lenskit BiasedMF": "als",
    "lenskit ImplicitMF": "ials-chol",
    "libmf FPSGD (PyPI build)": "sgd",
    "libmf FPSGD (SIMD build)": "sgd",
}
_MODULES = {"lenskit BiasedMF": "lenskit", "lenskit ImplicitMF": "lenskit",
            "libmf FPSGD (PyPI build)": "libmf", "libmf FPSGD (SIMD build)": "libmf"}


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


def child_peer(name: str, files: DataFiles, train, test, s: Setup) -> dict:
    """Run the peer ``name`` in a fresh Python process on the same data; its row."""
    import importlib.util

    kernel = CHILD_PEERS[name]
    if importlib.util.find_spec(_MODULES[name]) is None:
        return _skipped(kernel, s, name, f"{_MODULES[name]} is not installed")
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               MKL_NUM_THREADS="1")
    env.pop("LIBMF_OBJ", None)
    if name == "libmf FPSGD (SIMD build)":
        if not s.libmf_simd:
            return _skipped(kernel, s, name, "no SIMD build given (--libmf-simd PATH: LIBMF "
                            "compiled with its Makefile's -DUSEAVX -DUSEOMP -march=native)")
        env["LIBMF_OBJ"] = s.libmf_simd
    task = {"name": name, "data": files.path(train, test), "factors": s.factors,
            "threads": max(s.threads), "repeat": s.repeat, "seed": s.seed, "dtype": s.dtype}
    proc = subprocess.run([sys.executable, "-m", "fastl2.bench_peers", json.dumps(task)],
                          env=env, capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return _skipped(kernel, s, name, f"failed (exit {proc.returncode}): {tail[:200]}")
    return _row(kernel, s, name, max(s.threads), **json.loads(lines[-1]))


def _load(path: str):
    from .interactions import Interactions

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


def _lenskit(task: dict, train, test) -> dict:
    import lenskit.parallel.config as lkpc
    import pandas as pd
    from lenskit import als
    from lenskit._accel import thread_count
    from lenskit.data import from_interactions_df
    from lenskit.training import TrainingOptions

    t = task["threads"]
    lkpc.initialize(threads=t, backend_threads=1)
    if thread_count() != t:
        raise RuntimeError(f"LensKit runs {thread_count()} threads, {t} requested")
    u, i, r = _triples(train)
    explicit = task["name"] == "lenskit BiasedMF"
    frame = pd.DataFrame({"user_id": u, "item_id": i, "rating": r.astype(np.float32)})
    data = from_interactions_df(frame, user_col="user_id", item_col="item_id",
                                rating_col="rating")
    del frame
    k, epochs = task["factors"], task["repeat"] + 1
    if explicit:  # LensKit defaults apart from the size: ALS-WR λ 0.1, damped-mean biases
        scorer = als.BiasedMFScorer(als.BiasedMFConfig(embedding_size=k, epochs=epochs))
    else:  # the objective fastl2 and implicit solve: c = 1 + 1·r, λ = 0.01
        scorer = als.ImplicitMFScorer(als.ImplicitMFConfig(
            embedding_size=k, epochs=epochs, regularization=0.01, weight=1.0,
            use_ratings=True))
    from .bench import rss_bytes

    rss0 = rss_bytes()
    with PeakRSS() as setup:  # the trainer's matrices, then the epochs on top of them
        trainer = scorer.create_trainer(data, TrainingOptions(rng=task["seed"]))
    held = (rss_bytes() - rss0) / 2**20
    times, _, mb = _timed(trainer.train_epoch, epochs)
    trainer.finalize()
    if mb is not None and setup.growth is not None:
        mb = max(setup.growth / 2**20, held + mb)
    uix = np.asarray(scorer.users.numbers(np.arange(train.n_users), missing="negative"))
    iix = np.asarray(scorer.items.numbers(np.arange(train.n_items), missing="negative"))

    def by_id(mat: np.ndarray, ix: np.ndarray) -> np.ndarray:
        out = np.zeros((ix.size,) + mat.shape[1:], dtype=mat.dtype)
        out[ix >= 0] = mat[ix[ix >= 0]]
        return out
    P, Q = by_id(scorer.user_embeddings, uix), by_id(scorer.item_embeddings, iix)
    row = _steady(times, train.nnz, "ratings/s" if explicit else "interactions/s")
    if explicit:
        b = scorer.bias
        tu, ti, tr = _triples(test)
        pred = (b.global_bias + by_id(np.asarray(b.user_biases), uix)[tu]
                + by_id(np.asarray(b.item_biases), iix)[ti]
                + np.einsum("nk,nk->n", P[tu].astype(np.float64), Q[ti].astype(np.float64)))
        quality = _test_rmse(pred, tr)
        note = "LensKit defaults but the size (ALS-WR λ 0.1, damped-mean biases, β 5)"
    else:
        quality = _ranking(P, Q, train, test)
        note = "Cholesky (Rust); c = 1 + r, λ 0.01 as fastl2"
    return {**row, "peak_rss_growth_mb": mb, "quality": quality,
            "note": f"{note}; LensKit {__import__('lenskit').__version__}, Rayon pool {t}"}


def _libmf(task: dict, train, test) -> dict:
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):  # the binding prints its library path
        from libmf import mf

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
            "throughput_unit": "ratings/s", "peak_rss_growth_mb": (mem.growth or 0) / 2**20,
            "quality": _test_rmse(pred, tr),
            "note": "per epoch = (fit of 1 + repeat epochs − fit of 1) / repeat; first = fit "
                    "of 1 epoch with setup; plain MF (global mean, no user/item biases), "
                    "LIBMF defaults eta 0.1, λ 0.04" + ("; LIBMF_OBJ " + os.environ["LIBMF_OBJ"]
                                                       if "LIBMF_OBJ" in os.environ else "")}


def _child_main(task: dict) -> None:
    train, test = _load(task["data"])
    run = _lenskit if task["name"].startswith("lenskit") else _libmf
    print(json.dumps(run(task, train, test)))


if __name__ == "__main__":
    _child_main(json.loads(sys.argv[1]))
