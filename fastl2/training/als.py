"""Driving the ALS kernels: row chunks balanced by cost, both orientations of the data, and the
per-half-sweep calls shared by ``BiasedMF(solver="als")`` and ``ImplicitALS``.

The façade validates and converts; this module only arranges arrays for
:mod:`fastl2._kernels.als` (or, with ``reference=True``, its NumPy twin).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from .._kernels import als as als_kernels
from .._validation import Detail, fail
from ..interactions import csr_indptr, entry_rows
from .params import ExplicitSweepParams, ImplicitSweepParams

# Chunks per thread: enough for balance, few enough that per-chunk scratch is negligible.
_CHUNKS_PER_THREAD = 16
# Fixed number of partial Gram matrices (never the thread count: YᵀY must not depend on it).
_GRAM_CHUNKS = 64


def row_chunks(indptr: np.ndarray, work_per_entry: int, fixed_per_row: int,
               n_threads: int) -> np.ndarray:
    """Contiguous row ranges of nearly equal cost (cost of a row = its entries ×
    ``work_per_entry`` + ``fixed_per_row``), ``_CHUNKS_PER_THREAD`` per thread.

    Only the speed depends on this split: every row is computed the same way in any chunk.
    """
    return balanced_cuts(indptr, work_per_entry, fixed_per_row, _CHUNKS_PER_THREAD * n_threads)


def implicit_row_chunks(indptr: np.ndarray, k: int, params: ImplicitSweepParams,
                        n_threads: int) -> np.ndarray:
    """:func:`row_chunks` with implicit ALS's cost of a row (multiply-adds per entry and per
    row; CG: one pass per step, Cholesky: Gram and factorization)."""
    steps = params.cg_steps
    work = 2 * k * (steps + 1) if params.use_cg else k * k // 2
    fixed = k * k * (steps + 1) if params.use_cg else k * k * k // 6 + k * k
    return row_chunks(indptr, work, fixed, n_threads)


def balanced_cuts(indptr: np.ndarray, work_per_entry: int, fixed_per_row: int,
                  n_parts: int) -> np.ndarray:
    """Bounds of at most ``n_parts`` contiguous row ranges of nearly equal cost (see
    :func:`row_chunks`), as an int64 array from 0 to the number of rows."""
    n_rows = indptr.size - 1
    n_chunks = max(1, min(n_rows, n_parts))
    cost = np.diff(indptr).astype(np.float64) * work_per_entry + fixed_per_row
    total = np.cumsum(cost)
    if n_rows == 0:
        return np.zeros(1, dtype=np.int64)
    cuts = np.searchsorted(total, total[-1] * np.arange(1, n_chunks) / n_chunks, side="right")
    return np.unique(np.concatenate(([0], cuts, [n_rows]))).astype(np.int64)


def row_sums(indptr: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per-row sums in float64, each added in the row's stored order."""
    return np.bincount(entry_rows(indptr), weights=values.astype(np.float64, copy=False),
                       minlength=indptr.size - 1)


@dataclass
class Side:
    """One orientation of the data: CSR rows of this side, the values the kernels read."""

    indptr: np.ndarray
    indices: np.ndarray
    values: np.ndarray

    @property
    def n_rows(self) -> int:
        return self.indptr.size - 1


def both_sides(matrix: sp.csr_matrix, values: np.ndarray) -> tuple[Side, Side]:
    """(users, items) views of a canonical CSR matrix with per-entry ``values``; the item side
    is the transposed copy (CSC of the same entries), built once per fit."""
    users = Side(matrix.indptr.astype(np.int64, copy=False), matrix.indices, values)
    t = sp.csr_matrix((values, matrix.indices, matrix.indptr), shape=matrix.shape).T.tocsr()
    t.sort_indices()
    items = Side(t.indptr.astype(np.int64, copy=False),
                 t.indices.astype(matrix.indices.dtype, copy=False), t.data)
    return users, items


def kernels(reference: bool):
    """The ALS kernels, or their NumPy twins with ``reference``."""
    if reference:
        # only tests and benchmarks run the twins, which import scipy.linalg (~70 ms)
        from .._reference import als as als_reference  # deferred: start-up

        return als_reference
    return als_kernels


def gram_bounds(n_rows: int) -> np.ndarray:
    """The fixed row ranges over which :func:`gram` sums YᵀY (as the kernel cuts them)."""
    return (n_rows * np.arange(_GRAM_CHUNKS + 1, dtype=np.int64)) // _GRAM_CHUNKS


def aligned_cuts(indptr: np.ndarray, n_blocks: int) -> np.ndarray:
    """Row blocks balanced by entries whose bounds fall on the fixed row ranges of
    :func:`gram` (so a block's partial Gram sums are whole ranges: YᵀY summed on
    the workers is the same bits as locally); at most as many blocks as ranges."""
    n = indptr.size - 1
    cuts = balanced_cuts(indptr, 1, 1, n_blocks)
    bounds = gram_bounds(n)
    at = np.clip(np.searchsorted(bounds, cuts), 1, bounds.size - 1)
    lower, upper = bounds[at - 1], bounds[at]
    snapped = np.where(cuts - lower <= upper - cuts, lower, upper)
    return np.unique(np.concatenate(([0], snapped, [n]))).astype(np.int64)


def gram(Y: np.ndarray, K: Any = als_kernels) -> np.ndarray:
    """YᵀY summed by ``K.gram`` over a fixed number of row ranges: the same bits for any
    thread count, process or machine."""
    return K.gram(Y, _GRAM_CHUNKS)


def regularized_gram(Y: np.ndarray, regularization: Any, K: Any = als_kernels) -> np.ndarray:
    """YᵀY + λI (``regularization`` in Y's dtype), YᵀY by :func:`gram`."""
    return with_ridge(gram(Y, K), regularization)


def with_ridge(G: np.ndarray, regularization: Any) -> np.ndarray:
    """G + λI, in place (the fused L2 term of every implicit half-sweep)."""
    G[np.diag_indices_from(G)] += regularization
    return G


def implicit_side(side: Side, confidence: Any, name: str, where: str = "") -> Side:
    """One side of implicit data as the kernels read it: values checked finite (an error
    naming ``name``), explicit zeros dropped, values replaced by ``confidence(values)``."""
    values = side.values
    if not np.isfinite(values).all():
        fail(name, "finite values", Detail(f"{int((~np.isfinite(values)).sum())} NaN/inf "
                                           f"values{where}"))
    keep = values != 0
    if keep.all():
        return Side(side.indptr, side.indices, confidence(values))
    indptr = csr_indptr(entry_rows(side.indptr)[keep], side.n_rows)
    return Side(indptr.astype(side.indptr.dtype, copy=False), side.indices[keep],
                confidence(values[keep]))


def explicit_row_chunks(indptr: np.ndarray, k: int, n_threads: int) -> np.ndarray:
    """:func:`row_chunks` with explicit ALS's cost of a row, estimated as a (k+1)-square
    Gram per entry and its factorization (the kernel factors the k×k Schur complement of the
    bias; the estimate only sets the chunk split, so it stays as it is: same speed)."""
    m = k + 1
    return row_chunks(indptr, m * m // 2, m * m * m // 6, n_threads)


def implicit_solve(K: Any, side: Side, chunks: np.ndarray, X: np.ndarray, Y: np.ndarray,
                   G: np.ndarray, params: ImplicitSweepParams) -> int:
    """Recompute X's rows of ``side`` from Y and G = YᵀY + λI (``params.cg_steps`` of CG
    warm-started from X with ``params.use_cg``, else Cholesky); returns the number of rows
    solved with the fallback ridge."""
    if params.use_cg:
        K.implicit_cg_half(side.indptr, side.indices, side.values, Y, G, params.cg_steps,
                           chunks, X)
        return 0
    nf = np.zeros(chunks.size - 1, dtype=np.int64)
    K.implicit_cholesky_half(side.indptr, side.indices, side.values, Y, G,
                             X.dtype.type(fallback_eps(X.dtype)), chunks, X, nf)
    return int(nf.sum())


def explicit_solve(K: Any, side: Side, chunks: np.ndarray, X: np.ndarray, bx: np.ndarray,
                   Y: np.ndarray, by: np.ndarray, params: ExplicitSweepParams, which: str,
                   sse: np.ndarray, with_sse: bool) -> int:
    """Solve the rows of ``side`` (factors into X, biases into bx, squared training errors
    into ``sse`` when ``with_sse``) against fixed Y and by, with the ``which`` side's
    (``"user"`` or ``"item"``) regularization of ``params``; returns the number of rows
    solved with the fallback ridge."""
    nf = np.zeros(chunks.size - 1, dtype=np.int64)
    K.explicit_als_half(
        side.indptr, side.indices, side.values, global_mean=params.global_mean, Q=Y, bi=by,
        regularization=getattr(params.regularization, which),
        bias_regularization=getattr(params.bias_regularization, which),
        weighted_regularization=params.weighted_regularization,
        fallback_eps=X.dtype.type(fallback_eps(X.dtype)), chunk_ptr=chunks, P=X, bu=bx,
        row_sse=sse, n_fallback=nf, with_sse=with_sse)
    return int(nf.sum())


def warn_fallbacks(n: int, dtype: np.dtype) -> None:
    if n:
        warnings.warn(
            f"regularization: {n} row systems were not numerically positive definite (this "
            "happens with regularization=0 and rows with fewer entries than factors); they "
            f"were solved with a small ridge added ({fallback_eps(dtype):g} × mean diagonal). "
            "Use regularization > 0 to avoid it.", RuntimeWarning, stacklevel=3)


def fallback_eps(dtype: np.dtype) -> float:
    return 1e-4 if np.dtype(dtype) == np.float32 else 1e-8


class ImplicitSweeps:
    """Half-sweeps of implicit ALS on fixed data (confidence values already signed)."""

    def __init__(self, users: Side, items: Side, factors: int, params: ImplicitSweepParams,
                 n_threads: int, dtype: np.dtype, reference: bool = False):
        self.users, self.items = users, items
        self.k = factors
        self.dtype = np.dtype(dtype)
        self.params = params
        self.K = kernels(reference)
        self.user_chunks = implicit_row_chunks(users.indptr, factors, params, n_threads)
        self.item_chunks = implicit_row_chunks(items.indptr, factors, params, n_threads)
        self.n_fallback = 0

    def half(self, side: Side, chunks: np.ndarray, X: np.ndarray, Y: np.ndarray) -> None:
        """Recompute every row of X from Y; YᵀY + λI formed once here (the fused L2 term)."""
        G = regularized_gram(Y, self.params.regularization, self.K)
        self.n_fallback += implicit_solve(self.K, side, chunks, X, Y, G, self.params)

    def iteration(self, X: np.ndarray, Y: np.ndarray) -> None:
        self.half(self.users, self.user_chunks, X, Y)
        self.half(self.items, self.item_chunks, Y, X)

    def collect(self, X: np.ndarray, Y: np.ndarray) -> None:
        """Nothing to do: the half-sweeps update X and Y in place."""

    def rebase(self) -> None:
        """Nothing to do (on a cluster: restart the factors' lineage from the client's)."""

    def loss(self, X: np.ndarray, Y: np.ndarray) -> float:
        """Objective Σ c (p − x·y)² + λ(‖X‖² + ‖Y‖²), divided (like ``implicit``) by
        Σ_observed c + the number of unobserved pairs."""
        out = np.empty(self.users.n_rows, dtype=np.float64)
        self.K.implicit_loss_rows(self.users.indptr, self.users.indices, self.users.values, X,
                                  Y, gram(Y, self.K), self.user_chunks, out)
        return loss_value(out, X, Y, self.params.regularization,
                          row_sums(self.users.indptr, np.abs(self.users.values)),
                          self.users.values.size)


def loss_value(row_losses: np.ndarray, X: np.ndarray, Y: np.ndarray, regularization: Any,
               row_weights: np.ndarray, nnz: int) -> float:
    """Implicit ALS's loss from its per-user parts: (Σ row losses + λ(‖X‖² + ‖Y‖²)) /
    (Σ|c| + the number of unobserved pairs), with Σ|c| summed over per-user sums: the same
    bits wherever the rows were computed."""
    penalty = float(regularization) * (float(np.sum(X.astype(np.float64) ** 2))
                            + float(np.sum(Y.astype(np.float64) ** 2)))
    norm = float(np.sum(row_weights)) + X.shape[0] * Y.shape[0] - nnz
    return (float(np.sum(row_losses)) + penalty) / max(norm, 1.0)


class ExplicitSweeps:
    """Half-sweeps of explicit biased ALS (ALS-WR or constant λ)."""

    def __init__(self, users: Side, items: Side, factors: int, params: ExplicitSweepParams,
                 n_threads: int, dtype: np.dtype, reference: bool = False):
        self.users, self.items = users, items
        self.dtype = np.dtype(dtype)
        self.params = params
        self.K = kernels(reference)
        self.user_chunks = explicit_row_chunks(users.indptr, factors, n_threads)
        self.item_chunks = explicit_row_chunks(items.indptr, factors, n_threads)
        self.n_fallback = 0
        self.row_sse = np.zeros(max(users.n_rows, items.n_rows), dtype=np.float64)

    def half(self, side: Side, chunks, X, bx, Y, by, which: str, with_sse=True) -> float:
        """Solve the ``which`` side's rows (``"user"`` or ``"item"``: whose regularization
        applies); the sum of their squared errors (0 without ``with_sse``)."""
        sse = self.row_sse[:side.n_rows]
        self.n_fallback += explicit_solve(self.K, side, chunks, X, bx, Y, by, self.params,
                                          which, sse, with_sse)
        return float(np.sum(sse))

    def collect(self, P, bu, Q, bi) -> None:
        """Nothing to do: the half-sweeps update the arrays in place."""

    def rebase(self) -> None:
        """Nothing to do (on a cluster: restart the factors' lineage from the client's)."""

    def iteration(self, P, bu, Q, bi) -> float:
        """Users then items; returns the training RMSE after the item half (the only error
        computed: the user half's would be stale at once)."""
        self.half(self.users, self.user_chunks, P, bu, Q, bi, "user", False)
        sse = self.half(self.items, self.item_chunks, Q, bi, P, bu, "item", True)
        return float(np.sqrt(sse / max(self.users.values.size, 1)))


def _single_side(rows: sp.csr_matrix, values: np.ndarray) -> Side:
    return Side(rows.indptr.astype(np.int64), rows.indices, values)


def implicit_fold_in(rows: sp.csr_matrix, conf: np.ndarray, Y: np.ndarray,
                     regularization: float) -> np.ndarray:
    """Exact implicit-ALS solve of new rows against fixed Y (one Cholesky half-step)."""
    dt = Y.dtype
    side = _single_side(rows, conf)
    params = ImplicitSweepParams.of(dt, regularization=regularization, use_cg=False,
                                    cg_steps=1)
    G = regularized_gram(Y, params.regularization)
    X = np.zeros((side.n_rows, Y.shape[1]), dtype=dt)
    chunks = row_chunks(side.indptr, Y.shape[1], Y.shape[1] ** 2, 1)
    warn_fallbacks(implicit_solve(als_kernels, side, chunks, X, Y, G, params), dt)
    return X


def explicit_fold_in(rows: sp.csr_matrix, Q: np.ndarray, bi: np.ndarray,
                     params: ExplicitSweepParams, which: str) -> tuple[np.ndarray, np.ndarray]:
    """Exact biased-ALS solve of new rows (p, b) of the ``which`` side against the fixed
    other side (Q, b_i)."""
    dt = Q.dtype
    side = _single_side(rows, rows.data.astype(dt))
    P = np.zeros((side.n_rows, Q.shape[1]), dtype=dt)
    bu = np.zeros(side.n_rows, dtype=dt)
    chunks = row_chunks(side.indptr, Q.shape[1], Q.shape[1] ** 2, 1)
    warn_fallbacks(explicit_solve(als_kernels, side, chunks, P, bu, Q, bi, params, which,
                                  np.zeros(side.n_rows), False), dt)
    return P, bu
