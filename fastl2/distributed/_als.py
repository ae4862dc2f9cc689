"""ALS half-sweeps as Dask tasks: each block of rows solved on its worker by the local kernel.

A half-sweep (say users from items) first joins the item blocks' factors into the whole Y on
one worker; implicit ALS forms YᵀY + λI there, by the same function as the local fit. Dask
copies them to every worker that solves a user block; each user block is solved by the local
kernel (:mod:`fastl2._kernels.als`) against that Y, and implicit CG warm-starts from the
block's own current rows. Factors stay on the workers (one array per block) and come to the
client at the end, and after an iteration only when the training loss or a validation set
needs them. Every row is computed by the same arithmetic as locally, from the same inputs,
so the factors are the same bits.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _als
from .._threads import thread_limit
from ._cluster import Watch, item, on_worker
from ._data import Blocks


class _Sweeps:
    """The user and item blocks and the factor arrays on the workers (lists of futures by
    block, user-side and item-side arrays alternating)."""

    def __init__(self, client: Any, users: Blocks, items: Blocks, k: int, n_threads: int,
                 dtype: np.dtype, watch: Watch):
        self.client, self.users, self.items, self.watch = client, users, items, watch
        self.k, self.n_threads, self.dtype = k, n_threads, np.dtype(dtype)
        self.arrays: list[list[Any]] | None = None
        self.n_fallback = 0

    def _sides(self) -> tuple[Blocks, Blocks]:
        return self.users, self.items

    def _place(self, *arrays: np.ndarray) -> None:
        """The initial arrays, once."""
        if self.arrays is None:
            sides = self._sides()
            self.arrays = [sides[n % 2].place(self.client, F) for n, F in enumerate(arrays)]

    def rebase(self) -> None:
        """Place the factors again from the client's arrays at the next iteration (after a
        checkpoint): what is lost later is recomputed from there, not from the start."""
        self.arrays = None

    def _collect(self, *arrays: np.ndarray) -> None:
        if self.arrays is not None:
            sides = self._sides()
            for n, (F, parts) in enumerate(zip(arrays, self.arrays)):
                sides[n % 2].gather_rows(self.client, parts, F)

    def _solve(self, blocks: Blocks, task: Any, own: list[Any] | None, *args: Any,
               outputs: int) -> list[list[Any]]:
        """``task(block data, own[b], *args)`` (without ``own[b]`` when ``own`` is None) for
        every block on its worker; its ``outputs`` results, each a list of futures by
        block."""
        c = self.client
        done = [on_worker(c, w, task, data, *([] if own is None else [own[b]]), *args)
                for b, (data, w) in enumerate(zip(blocks.data, blocks.workers))]
        return [[on_worker(c, w, item, d, i) for d, w in zip(done, blocks.workers)]
                for i in range(outputs)]

    def _count_fallbacks(self, counts: list[Any]) -> None:
        self.n_fallback += int(sum(self.client.gather(counts)))

    def _join(self, parts: list[Any]) -> Any:
        return self.client.submit(np.concatenate, parts, pure=False)


class DaskImplicitSweeps(_Sweeps):
    """:class:`fastl2._als.ImplicitSweeps` whose half-sweeps run on a Dask cluster."""

    def __init__(self, client: Any, users: Blocks, items: Blocks, factors: int,
                 regularization: float, use_cg: bool, cg_steps: int, n_threads: int,
                 dtype: np.dtype, row_weights: np.ndarray, nnz: int, watch: Watch):
        super().__init__(client, users, items, factors, n_threads, dtype, watch)
        self.reg = self.dtype.type(regularization)
        self.use_cg, self.cg_steps = use_cg, cg_steps
        self.row_weights, self.nnz = row_weights, nnz

    def iteration(self, X: np.ndarray, Y: np.ndarray) -> None:
        self.watch.check()
        self._place(X, Y)
        X_parts, Y_parts = self.arrays
        X_parts = self._half(self.users, X_parts, Y_parts)
        Y_parts = self._half(self.items, Y_parts, X_parts)
        self.arrays = [X_parts, Y_parts]

    def _half(self, blocks: Blocks, X: list[Any], Y: list[Any]) -> list[Any]:
        full = self._join(Y)
        G = self.client.submit(_als.regularized_gram, full, self.reg, pure=False)
        rows, nf = self._solve(blocks, _implicit_block, X, full, G, self.use_cg, self.cg_steps,
                               self.k, self.n_threads, outputs=2)
        self._count_fallbacks(nf)
        return rows

    def collect(self, X: np.ndarray, Y: np.ndarray) -> None:
        """Gather the factor blocks into X and Y."""
        self._collect(X, Y)

    def loss(self, X: np.ndarray, Y: np.ndarray) -> float:
        """As the local fit's loss: per-user parts computed by each user block, the rest on
        the gathered factors (the same bits)."""
        self.collect(X, Y)
        X_parts, Y_parts = self.arrays
        full = self._join(Y_parts)
        G = self.client.submit(_als.gram, full, pure=False)
        rows = self.client.gather([
            on_worker(self.client, w, _implicit_loss_rows, d, x, full, G, self.n_threads)
            for d, x, w in zip(self.users.data, X_parts, self.users.workers)])
        return _als.loss_value(np.concatenate(rows), X, Y, self.reg, self.row_weights,
                               self.nnz)


class DaskExplicitSweeps(_Sweeps):
    """:class:`fastl2._als.ExplicitSweeps` whose half-sweeps run on a Dask cluster."""

    def __init__(self, client: Any, users: Blocks, items: Blocks, factors: int, reg: tuple,
                 bias_reg: tuple, weighted: bool, mu: float, n_threads: int, dtype: np.dtype,
                 nnz: int, watch: Watch):
        super().__init__(client, users, items, factors, n_threads, dtype, watch)
        s = self.dtype.type
        self.reg, self.bias_reg = (s(reg[0]), s(reg[1])), (s(bias_reg[0]), s(bias_reg[1]))
        self.weighted, self.mu = weighted, s(mu)
        self.nnz = nnz

    def iteration(self, P, bu, Q, bi) -> float:
        """As :meth:`fastl2._als.ExplicitSweeps.iteration`; the training error's rows are
        gathered and summed as there (the same bits)."""
        self.watch.check()
        self._place(P, Q, bu, bi)
        _, Q_parts, _, bi_parts = self.arrays
        P_parts, bu_parts, _ = self._half(self.users, Q_parts, bi_parts, self.reg[0],
                                          self.bias_reg[0], False)
        Q_parts, bi_parts, sse = self._half(self.items, P_parts, bu_parts, self.reg[1],
                                            self.bias_reg[1], True)
        self.arrays = [P_parts, Q_parts, bu_parts, bi_parts]
        sse_rows = np.concatenate(self.client.gather(sse))
        return float(np.sqrt(float(np.sum(sse_rows)) / max(self.nnz, 1)))

    def _half(self, blocks: Blocks, Y: list[Any], by: list[Any], reg: Any, bias_reg: Any,
              with_sse: bool) -> list[list[Any]]:
        X, bx, sse, nf = self._solve(blocks, _explicit_block, None, self._join(Y),
                                     self._join(by), self.mu, reg, bias_reg, self.weighted,
                                     self.k, self.n_threads, with_sse, outputs=4)
        self._count_fallbacks(nf)
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


def _implicit_loss_rows(side: _als.Side, X: np.ndarray, Y: np.ndarray, G: np.ndarray,
                        n_threads: int) -> np.ndarray:
    """The local loss's per-user parts for one block (G = YᵀY)."""
    from .._kernels import als as kernels

    out = np.empty(side.n_rows, dtype=np.float64)
    with thread_limit(n_threads) as threads:
        chunks = _als.row_chunks(side.indptr, 2 * X.shape[1], X.shape[1] ** 2, threads)
        kernels.implicit_loss_rows(side.indptr, side.indices, side.values, X, Y, G, chunks,
                                   out)
    return out


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
