"""The trainers :class:`fastl2.training.loop.FitLoop` runs: one per solver, on any
:class:`~fastl2.training.protocols.DataSource` (this machine or a Dask cluster).

- :class:`SGDTrainer`: block-stratified SGD of biased MF (``BiasedMF(solver="sgd")``);
- :class:`ExplicitALSTrainer`: biased ALS (``BiasedMF(solver="als")``);
- :class:`ImplicitALSTrainer`: implicit ALS (``ImplicitALS``).

A trainer draws its initial factors, owns the arrays the solver updates (named, for
checkpoints) and runs one iteration per :meth:`step`. It takes the solver's parameter bundle
(:mod:`fastl2.training.params`) and the few sizes it needs; the estimator validated them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .._kernels import simd
from . import blocking as _blocking, sgd as _sgd
from .init import random_factors
from .params import ExplicitSweepParams, ImplicitSweepParams, SGDParams
from .protocols import DataSource

_PREDICT_CHUNK = 1 << 20


def gaussian_factors(rng: np.random.Generator, n_users: int, n_items: int, k: int,
                     init_std: float, init_mean: float, dtype: np.dtype,
                     width: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Biased MF's start N(init_mean, init_std²), drawn in float64 so both dtypes start from
    the same point; rows ``width`` long with zeros beyond ``k`` (see :func:`sgd_width`)."""
    P = random_factors(rng, n_users, k, dtype, init_std, "normal", width)
    Q = random_factors(rng, n_items, k, dtype, init_std, "normal", width)
    if init_mean:
        P[:, :k] += dtype.type(init_mean)
        Q[:, :k] += dtype.type(init_mean)
    return P, Q


def sgd_width(k: int, dtype: np.dtype) -> int:
    """Row length of the factor matrices while SGD trains: ``k`` rounded up to a multiple of
    half a vector register (4 float32 with AVX2, 8 with AVX-512).

    The kernel works on rows in full vectors, then at most one half vector, then scalars;
    rounding up removes the scalar tail, whose loop costs more than computing a few zeros.
    The padded columns start at 0 and stay exactly 0 (every update of a zero pair is zero),
    so the model is the same, and the dot products keep their order. The width depends on k
    and the CPU, never on the thread count.
    """
    step = simd.VECTOR_BYTES // 2 // np.dtype(dtype).itemsize
    return -(-k // step) * step


def predict_rows(P, Q, bu, bi, mu, u, i) -> np.ndarray:
    """μ + b_u + b_i + p_u·q_i for index arrays; index -1 means unknown (no bias, no factors)."""
    out = np.empty(u.size, dtype=np.float64)
    for start in range(0, u.size, _PREDICT_CHUNK):
        uu = u[start:start + _PREDICT_CHUNK]
        ii = i[start:start + _PREDICT_CHUNK]
        ku, ki = uu >= 0, ii >= 0
        both = ku & ki
        pred = np.full(uu.size, mu, dtype=np.float64)
        pred[ku] += bu[uu[ku]]
        pred[ki] += bi[ii[ki]]
        pred[both] += np.einsum("ij,ij->i", P[uu[both]], Q[ii[both]], dtype=np.float64)
        out[start:start + _PREDICT_CHUNK] = pred
    return out


def _ungrid(arr: np.ndarray, perm: np.ndarray) -> np.ndarray:
    """Rows back in id order, as a new C-contiguous array (``arr`` may be a padded view)."""
    out = np.empty(arr.shape, dtype=arr.dtype)
    out[perm] = arr
    return out


class SGDTrainer:
    """Epochs of block-stratified SGD; the factors live in grid order, rows padded to
    :func:`sgd_width`, while training.

    Parameters
    ----------
    data : DataSource
    params : SGDParams
    factors, n_blocks : int
        k, and the grid's ``n_blocks × n_blocks``.
    init_std, init_mean : float
        Of the Gaussian initial factors (biases start at 0, AdaGrad sums at 1).
    rng : numpy.random.Generator
        Draws the initial factors, then every epoch's block schedule.
    n_threads : int
    dtype : numpy.dtype
    on_diverged : callable(iteration, loss) -> Exception
        The error raised when an epoch's loss or a bias is not finite.
    """

    def __init__(self, data: DataSource, params: SGDParams, *, factors: int, n_blocks: int,
                 init_std: float, init_mean: float, rng: np.random.Generator,
                 n_threads: int, dtype: np.dtype,
                 on_diverged: Callable[[int, float], Exception]):
        self.grid = grid = data.grid(n_blocks, dtype)
        self.row_grid = _blocking.inverse_permutation(grid.row_perm)
        self.col_grid = _blocking.inverse_permutation(grid.col_perm)
        n_users, n_items = data.shape
        P, Q = gaussian_factors(rng, n_users, n_items, factors, init_std, init_mean, dtype,
                                sgd_width(factors, dtype))
        self.state = _sgd.State(P, Q, np.zeros(n_users, dtype=dtype),
                                np.zeros(n_items, dtype=dtype), np.ones(n_users, dtype=dtype),
                                np.ones(n_items, dtype=dtype))
        self.arrays = dict(zip(_sgd.State._fields, self.state))
        self.epochs = data.sgd_epochs(grid, self.state, params, n_threads)
        self.params_, self.k, self.n_blocks, self.rng = params, factors, n_blocks, rng
        self.nnz, self.on_diverged = data.nnz, on_diverged

    def step(self, iteration: int) -> float:
        block_sse, finite = self.epochs.run(_blocking.epoch_schedule(self.rng, self.n_blocks))
        loss = float(np.sqrt(block_sse.sum() / self.nnz))
        if not np.isfinite(loss) or not finite:
            raise self.on_diverged(iteration, loss)
        return loss

    def collect(self) -> None:
        self.epochs.collect()

    def rebase(self) -> None:
        self.epochs.rebase()

    def params(self) -> tuple[np.ndarray, ...]:
        return tuple(self.state[:4])

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        P, Q, bu, bi = self.params()
        return predict_rows(P, Q, bu, bi, self.params_.global_mean, self.row_grid[users],
                            self.col_grid[items])

    def meta(self) -> dict[str, Any]:
        return {}

    def restore(self, meta: dict[str, Any]) -> None:
        """Nothing beyond the arrays and the generator (the loop restores those)."""

    def output(self, params: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
        """(P, Q, b_u, b_i) of ``params`` in id order, without the padding."""
        P, Q, bu, bi = params
        g, k = self.grid, self.k
        return (_ungrid(P[:, :k], g.row_perm), _ungrid(Q[:, :k], g.col_perm),
                _ungrid(bu, g.row_perm), _ungrid(bi, g.col_perm))


class _SweepTrainer:
    """A trainer whose iterations are a :class:`~fastl2.training.protocols.Sweeper`'s."""

    sweeps: Any
    arrays: dict[str, np.ndarray]

    def collect(self) -> None:
        self.sweeps.collect(*self.params())

    def rebase(self) -> None:
        self.sweeps.rebase()

    def meta(self) -> dict[str, Any]:
        return {"n_fallback": self.sweeps.n_fallback}

    def restore(self, meta: dict[str, Any]) -> None:
        self.sweeps.n_fallback = meta.get("n_fallback", 0)

    def output(self, params: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
        return params


class ExplicitALSTrainer(_SweepTrainer):
    """Iterations of explicit biased ALS (users, then items), arrays in id order."""

    def __init__(self, data: DataSource, params: ExplicitSweepParams, *, factors: int,
                 init_std: float, init_mean: float, rng: np.random.Generator,
                 n_threads: int, dtype: np.dtype):
        n_users, n_items = data.shape
        P, Q = gaussian_factors(rng, n_users, n_items, factors, init_std, init_mean, dtype)
        self.arrays = {"P": P, "Q": Q, "bu": np.zeros(n_users, dtype=dtype),
                       "bi": np.zeros(n_items, dtype=dtype)}
        self.sweeps = data.explicit_sweeps(factors, params, n_threads, dtype)
        self.params_ = params

    def params(self) -> tuple[np.ndarray, ...]:
        a = self.arrays
        return a["P"], a["Q"], a["bu"], a["bi"]

    def collect(self) -> None:
        P, Q, bu, bi = self.params()
        self.sweeps.collect(P, bu, Q, bi)

    def step(self, iteration: int) -> float:
        P, Q, bu, bi = self.params()
        return self.sweeps.iteration(P, bu, Q, bi)

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        P, Q, bu, bi = self.params()
        return predict_rows(P, Q, bu, bi, self.params_.global_mean, users, items)


class ImplicitALSTrainer(_SweepTrainer):
    """Iterations of implicit ALS; the loss after each when ``with_loss``."""

    def __init__(self, data: DataSource, params: ImplicitSweepParams, *, factors: int,
                 rng: np.random.Generator, n_threads: int, dtype: np.dtype, with_loss: bool):
        n_users, n_items = data.shape
        # implicit's initialisation, uniform in [0, 0.01), drawn in float64 so that both
        # dtypes start from the same point
        self.arrays = {"X": random_factors(rng, n_users, factors, dtype, 0.01, "uniform"),
                       "Y": random_factors(rng, n_items, factors, dtype, 0.01, "uniform")}
        self.sweeps = data.implicit_sweeps(factors, params, n_threads, dtype)
        self.with_loss = with_loss

    def params(self) -> tuple[np.ndarray, ...]:
        return self.arrays["X"], self.arrays["Y"]

    def step(self, iteration: int) -> float | None:
        X, Y = self.params()
        self.sweeps.iteration(X, Y)
        return self.sweeps.loss(X, Y) if self.with_loss else None

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        X, Y = self.params()
        return np.einsum("ij,ij->i", X[users], Y[items], dtype=np.float64)
