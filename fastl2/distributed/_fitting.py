"""Fitting on the cluster: the half-sweeps of ALS as Dask tasks (see the package docstring)."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from .. import _als
from .._threads import thread_limit
from .._validation import check_int, fail
from ._cluster import item, on_worker, workers_of
from ._dsgd import DaskEpochs

__all__ = ["fit"]


def fit(model: Any, data: Any, client: Any, *, n_blocks: int | None = None,
        validation: Any = None) -> Any:
    """Fit ``model`` on the Dask cluster of ``client``; returns the model, fitted as by
    ``model.fit(data)`` (same factors, bit for bit).

    Parameters
    ----------
    model : fastl2.ImplicitALS or fastl2.BiasedMF(solver="als")
        Its parameters apply; ``num_threads`` is the number of Numba threads of each task
        on a worker (0: all the worker machine's cores).
    data : Interactions, scipy.sparse matrix or anything ``model.fit`` takes
    client : dask.distributed.Client
    n_blocks : int, optional
        Row blocks per side; default: twice the number of workers.
    validation : optional
        ``BiasedMF`` only: held-out ratings for early stopping, as in ``BiasedMF.fit`` (the
        factors are then gathered after every iteration, to predict them).

    Returns
    -------
    The fitted model: its factors are ordinary NumPy arrays on the client, so ``recommend``,
    ``save`` and the rest work unchanged.
    """
    from ..models.biased_mf import BiasedMF
    from ..models.implicit_als import ImplicitALS

    workers = workers_of(client)
    if isinstance(model, BiasedMF) and model.solver == "sgd":
        if n_blocks is not None:
            fail("n_blocks", "None for BiasedMF(solver=\"sgd\") (its grid is the model's "
                 "own n_blocks, as in a local fit)", n_blocks)
        return model._fit(data, None, validation, False, None,
                          sgd_epochs=functools.partial(DaskEpochs, client=client,
                                                       workers=workers))
    blocks = 2 * len(workers) if n_blocks is None else check_int("n_blocks", n_blocks,
                                                                  minimum=1)
    where = dict(client=client, workers=workers, n_blocks=blocks)
    if isinstance(model, ImplicitALS):
        if validation is not None:
            fail("validation", "None for an ImplicitALS (it has no validation set)",
                 validation, type_error=True)
        return model._fit(data, False, None, None,
                          functools.partial(DaskImplicitSweeps, **where))
    if isinstance(model, BiasedMF) and model.solver == "als":
        return model._fit(data, None, validation, False, None,
                          als_sweeps=functools.partial(DaskExplicitSweeps, **where))
    fail("model", "a fastl2.ImplicitALS or fastl2.BiasedMF", model, type_error=True)


class _Blocks:
    """One side's row blocks on the workers: data futures, their row ranges and workers.

    Rows are cut into contiguous ranges of nearly equal entries (a row costs its entries + 1)
    and the blocks dealt round-robin to the workers."""

    def __init__(self, client: Any, side: _als.Side, n_blocks: int, workers: list[str]):
        self.cuts = _als.balanced_cuts(side.indptr, 1, 1, n_blocks)
        self.workers = [workers[b % len(workers)] for b in range(self.cuts.size - 1)]
        self.data = []
        for b, w in enumerate(self.workers):
            lo, hi = int(self.cuts[b]), int(self.cuts[b + 1])
            a, z = int(side.indptr[lo]), int(side.indptr[hi])
            part = _als.Side(side.indptr[lo:hi + 1] - a, side.indices[a:z], side.values[a:z])
            self.data.append(client.scatter(part, workers=[w]))

    def scatter_rows(self, client: Any, F: np.ndarray) -> list[Any]:
        """F's rows of every block, each sent to its block's worker."""
        return [client.scatter(F[self.cuts[b]:self.cuts[b + 1]], workers=[w])
                for b, w in enumerate(self.workers)]

    def gather_rows(self, client: Any, parts: list[Any], F: np.ndarray) -> None:
        """Write the blocks' rows ``parts`` (futures) into F."""
        for b, part in enumerate(client.gather(parts)):
            F[self.cuts[b]:self.cuts[b + 1]] = part

    def solve(self, client: Any, task: Any, own: list[Any] | None, *args: Any,
              outputs: int) -> list[list[Any]]:
        """Run ``task(block data, own[b], *args)`` (without ``own[b]`` when ``own`` is None)
        for every block b on its worker; its ``outputs`` results, each as a list of futures
        over the blocks."""
        done = [on_worker(client, w, task, data, *([] if own is None else [own[b]]), *args)
                for b, (data, w) in enumerate(zip(self.data, self.workers))]
        return [[on_worker(client, w, item, d, i) for d, w in zip(done, self.workers)]
                for i in range(outputs)]


class _OnCluster:
    """The users' and items' blocks and the factor arrays (lists of futures by block)."""

    def _place(self, users: _als.Side, items: _als.Side, client: Any, workers: list[str],
               n_blocks: int, n_threads: int) -> None:
        self.client, self.n_threads = client, n_threads
        self.user_blocks = _Blocks(client, users, n_blocks, workers)
        self.item_blocks = _Blocks(client, items, n_blocks, workers)
        self.arrays: list[list[Any]] | None = None  # user side, item side alternately

    def _sides(self) -> tuple[_Blocks, ...]:
        return self.user_blocks, self.item_blocks

    def _scatter(self, *arrays: np.ndarray) -> None:
        """The initial arrays (user-side and item-side ones alternating), once."""
        if self.arrays is None:
            sides = self._sides()
            self.arrays = [sides[n % 2].scatter_rows(self.client, F)
                           for n, F in enumerate(arrays)]

    def _collect(self, *arrays: np.ndarray) -> None:
        if self.arrays is not None:
            sides = self._sides()
            for n, (F, parts) in enumerate(zip(arrays, self.arrays)):
                sides[n % 2].gather_rows(self.client, parts, F)

    def _fallbacks(self, counts: list[Any]) -> int:
        return int(sum(self.client.gather(counts)))

    def _join(self, parts: list[Any]) -> Any:
        return self.client.submit(np.concatenate, parts, pure=False)


class DaskImplicitSweeps(_OnCluster, _als.ImplicitSweeps):
    """:class:`fastl2._als.ImplicitSweeps` whose half-sweeps run on a Dask cluster."""

    def __init__(self, users: _als.Side, items: _als.Side, factors: int, regularization: float,
                 use_cg: bool, cg_steps: int, n_threads: int, dtype: np.dtype, *,
                 client: Any, workers: list[str], n_blocks: int):
        _als.ImplicitSweeps.__init__(self, users, items, factors, regularization, use_cg,
                                     cg_steps, n_threads, dtype)
        self._place(users, items, client, workers, n_blocks, n_threads)

    def iteration(self, X: np.ndarray, Y: np.ndarray) -> None:
        self._scatter(X, Y)
        X_parts, Y_parts = self.arrays
        X_parts = self._half(self.user_blocks, X_parts, Y_parts)
        Y_parts = self._half(self.item_blocks, Y_parts, X_parts)
        self.arrays = [X_parts, Y_parts]

    def _half(self, blocks: _Blocks, X: list[Any], Y: list[Any]) -> list[Any]:
        full = self._join(Y)
        G = self.client.submit(_als.regularized_gram, full, self.reg, pure=False)
        rows, nf = blocks.solve(self.client, _implicit_block, X, full, G, self.use_cg,
                                self.cg_steps, self.k, self.n_threads, outputs=2)
        self.n_fallback += self._fallbacks(nf)
        return rows

    def collect(self, X: np.ndarray, Y: np.ndarray) -> None:
        """Gather the factor blocks into X and Y."""
        self._collect(X, Y)

    def loss(self, X: np.ndarray, Y: np.ndarray) -> float:
        """As the local fit's loss (on the gathered factors: the same bits)."""
        self.collect(X, Y)
        return super().loss(X, Y)


class DaskExplicitSweeps(_OnCluster, _als.ExplicitSweeps):
    """:class:`fastl2._als.ExplicitSweeps` whose half-sweeps run on a Dask cluster."""

    def __init__(self, users: _als.Side, items: _als.Side, factors: int, reg: tuple,
                 bias_reg: tuple, weighted: bool, mu: float, n_threads: int, dtype: np.dtype,
                 *, client: Any, workers: list[str], n_blocks: int):
        _als.ExplicitSweeps.__init__(self, users, items, factors, reg, bias_reg, weighted, mu,
                                     n_threads, dtype)
        self.k = factors
        self.row_sse = None  # per block, on the workers
        self._place(users, items, client, workers, n_blocks, n_threads)

    def iteration(self, P, bu, Q, bi) -> float:
        """As :meth:`fastl2._als.ExplicitSweeps.iteration`; the training error's rows are
        gathered and summed as there (the same bits)."""
        self._scatter(P, Q, bu, bi)
        _, Q_parts, _, bi_parts = self.arrays
        P_parts, bu_parts, _ = self._half(self.user_blocks, Q_parts, bi_parts, self.reg[0],
                                          self.bias_reg[0], False)
        Q_parts, bi_parts, sse = self._half(self.item_blocks, P_parts, bu_parts, self.reg[1],
                                            self.bias_reg[1], True)
        self.arrays = [P_parts, Q_parts, bu_parts, bi_parts]
        sse_rows = np.concatenate(self.client.gather(sse))
        return float(np.sqrt(float(np.sum(sse_rows)) / max(self.users.values.size, 1)))

    def _half(self, blocks: _Blocks, Y: list[Any], by: list[Any], reg: Any, bias_reg: Any,
              with_sse: bool) -> list[list[Any]]:
        X, bx, sse, nf = blocks.solve(self.client, _explicit_block, None, self._join(Y),
                                      self._join(by), self.mu, reg, bias_reg, self.weighted,
                                      self.k, self.n_threads, with_sse, outputs=4)
        self.n_fallback += self._fallbacks(nf)
        return [X, bx, sse]

    def collect(self, P, bu, Q, bi) -> None:
        """Gather the factor and bias blocks into P, bu, Q and bi."""
        self._collect(P, Q, bu, bi)


# ---------------------------------------------------------------------------- tasks
def _implicit_block(side: _als.Side, X: np.ndarray, Y: np.ndarray, G: np.ndarray,
                    use_cg: bool, cg_steps: int, k: int, n_threads: int) -> tuple:
    """Solve one block's rows (from a copy of its current rows X, CG's warm start) against Y
    and G = YᵀY + λI; the new rows and the number of rows solved with the fallback ridge."""
    from .._kernels import als as kernels

    X = X.copy()
    with thread_limit(n_threads) as threads:
        chunks = _als.implicit_row_chunks(side.indptr, k, use_cg, cg_steps, threads)
        nf = _als.implicit_solve(kernels, side, chunks, X, Y, G, use_cg, cg_steps)
    return X, nf


def _explicit_block(side: _als.Side, Y: np.ndarray, by: np.ndarray, mu: Any, reg: Any,
                    bias_reg: Any, weighted: bool, k: int, n_threads: int,
                    with_sse: bool) -> tuple:
    """Solve one block's rows against Y and by: factors, biases, per-row squared training
    errors (zeros unless ``with_sse``) and the number of rows solved with the fallback
    ridge."""
    from .._kernels import als as kernels

    n = side.n_rows
    X = np.empty((n, k), dtype=Y.dtype)
    bx = np.empty(n, dtype=Y.dtype)
    sse = np.zeros(n, dtype=np.float64)
    with thread_limit(n_threads) as threads:
        chunks = _als.explicit_row_chunks(side.indptr, k, threads)
        nf = _als.explicit_solve(kernels, side, chunks, X, bx, Y, by, mu, reg, bias_reg,
                                 weighted, sse, with_sse)
    return X, bx, sse, nf
