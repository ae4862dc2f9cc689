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

from .._kernels import als as kernels
from .._threads import thread_limit
from ..training import als as _als
from ..training.params import ExplicitSweepParams, ImplicitSweepParams
from ._blocks import Blocks
from ._cluster import Watch, item, on_worker


class _Sweeps:
    """The user and item blocks and the factor arrays on the workers (lists of futures by
    block, user-side and item-side arrays alternating)."""

    def __init__(self, client: Any, users: Blocks, items: Blocks, k: int, n_threads: int,
                 dtype: np.dtype, watch: Watch, max_broadcast: int):
        self.client, self.users, self.items, self.watch = client, users, items, watch
        self.k, self.n_threads, self.dtype = k, n_threads, np.dtype(dtype)
        self.arrays: list[list[Any]] | None = None
        self.n_fallback = 0
        # per side (users, items): None to broadcast the other side's factors, else the
        # out-block plan (sides with compact column indices, rows referenced per source)
        self.plans = [self._plan(dst, src, max_broadcast)
                      for dst, src in ((users, items), (items, users))]

    def _plan(self, dst: Blocks, src: Blocks, max_broadcast: int) -> Any:
        """Out-blocks when the source side's factors exceed ``max_broadcast`` bytes."""
        if int(src.cuts[-1]) * self.k * self.dtype.itemsize <= max_broadcast:
            return None
        c = self.client
        done = dst.map(c, _out_block_plan, src.cuts)
        sides = [on_worker(c, w, item, d, 0) for d, w in zip(done, dst.workers)]
        refs = [[on_worker(c, w, _ref, d, s) for s in range(len(src.workers))]
                for d, w in zip(done, dst.workers)]
        return sides, refs

    def _other(self, n: int, parts: list[list[Any]]) -> tuple[list[Any], list[list[Any]]]:
        """For the blocks of side ``n`` (0 users, 1 items): the block data to solve and, per
        block, the pieces of the other side's arrays ``parts`` (factors, and biases) it
        reads: the whole arrays joined once (broadcast), or from every source block the
        rows the block references (out-blocks)."""
        dst, src = self._sides()[n], self._sides()[1 - n]
        plan = self.plans[n]
        if plan is None:
            joined = tuple(self._join(p) for p in parts)
            return dst.data, [[joined]] * len(dst.workers)
        sides, refs = plan
        pieces = [[on_worker(self.client, w, _take, tuple(p[s] for p in parts), refs[b][s],
                             int(src.cuts[s])) for s, w in enumerate(src.workers)]
                  for b in range(len(dst.workers))]
        return sides, pieces

    def _gram(self, n: int, parts: list[Any]) -> Any:
        """YᵀY of side ``n``'s factor blocks ``parts``: each block's partial sums over the
        fixed row ranges of :func:`fastl2.training.als.gram` (block cuts fall on them), added in
        range order on one worker: the same bits as the local function."""
        blocks = self._sides()[n]
        bounds = _als.gram_bounds(int(blocks.cuts[-1]))
        partials = [on_worker(self.client, w, _gram_partials, Y, bounds, int(blocks.cuts[b]),
                              int(blocks.cuts[b + 1]))
                    for b, (Y, w) in enumerate(zip(parts, blocks.workers))]
        return self.client.submit(_gram_total, self.dtype, *partials, pure=False)

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

    def _solve(self, n: int, task: Any, own: list[Any] | None, parts: list[list[Any]],
               *args: Any, outputs: int) -> list[list[Any]]:
        """``task(block data, own[b], *args, *pieces)`` (without ``own[b]`` when ``own`` is
        None) for every block of side ``n`` on its worker, ``pieces`` the other side's
        arrays ``parts`` as :meth:`_other` gives them; its ``outputs`` results, each a list
        of futures by block."""
        c = self.client
        workers = self._sides()[n].workers
        data, pieces = self._other(n, parts)
        done = [on_worker(c, w, task, data[b], *([] if own is None else [own[b]]), *args,
                          *pieces[b]) for b, w in enumerate(workers)]
        return [[on_worker(c, w, item, d, i) for d, w in zip(done, workers)]
                for i in range(outputs)]

    def _count_fallbacks(self, counts: list[Any]) -> None:
        self.n_fallback += int(sum(self.client.gather(counts)))

    def _join(self, parts: list[Any]) -> Any:
        return self.client.submit(np.concatenate, parts, pure=False)


class DaskImplicitSweeps(_Sweeps):
    """:class:`fastl2.training.als.ImplicitSweeps` whose half-sweeps run on a Dask cluster."""

    def __init__(self, client: Any, users: Blocks, items: Blocks, factors: int,
                 params: ImplicitSweepParams, n_threads: int, dtype: np.dtype,
                 row_weights: np.ndarray, nnz: int, watch: Watch, max_broadcast: int):
        super().__init__(client, users, items, factors, n_threads, dtype, watch, max_broadcast)
        self.params = params
        self.row_weights, self.nnz = row_weights, nnz

    def iteration(self, X: np.ndarray, Y: np.ndarray) -> None:
        self.watch.check()
        self._place(X, Y)
        X_parts, Y_parts = self.arrays
        X_parts = self._half(0, X_parts, Y_parts)
        Y_parts = self._half(1, Y_parts, X_parts)
        self.arrays = [X_parts, Y_parts]

    def _half(self, n: int, X: list[Any], Y: list[Any]) -> list[Any]:
        G = self.client.submit(_regularized, self._gram(1 - n, Y), self.params.regularization,
                               pure=False)
        rows, nf = self._solve(n, _implicit_block, X, [Y], G, self.params, self.k,
                               self.n_threads, outputs=2)
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
        rows = self.client.gather(self._solve(0, _implicit_loss_rows, X_parts, [Y_parts],
                                              self._gram(1, Y_parts), self.n_threads,
                                              outputs=1)[0])
        return _als.loss_value(np.concatenate(rows), X, Y, self.params.regularization,
                               self.row_weights, self.nnz)


class DaskExplicitSweeps(_Sweeps):
    """:class:`fastl2.training.als.ExplicitSweeps` whose half-sweeps run on a Dask cluster."""

    def __init__(self, client: Any, users: Blocks, items: Blocks, factors: int,
                 params: ExplicitSweepParams, n_threads: int, dtype: np.dtype, nnz: int,
                 watch: Watch, max_broadcast: int):
        super().__init__(client, users, items, factors, n_threads, dtype, watch, max_broadcast)
        self.params = params
        self.nnz = nnz

    def iteration(self, P, bu, Q, bi) -> float:
        """As :meth:`fastl2.training.als.ExplicitSweeps.iteration`; the training error's rows are
        gathered and summed as there (the same bits)."""
        self.watch.check()
        self._place(P, Q, bu, bi)
        _, Q_parts, _, bi_parts = self.arrays
        P_parts, bu_parts, _ = self._half(0, Q_parts, bi_parts, "user", False)
        Q_parts, bi_parts, sse = self._half(1, P_parts, bu_parts, "item", True)
        self.arrays = [P_parts, Q_parts, bu_parts, bi_parts]
        sse_rows = np.concatenate(self.client.gather(sse))
        return float(np.sqrt(float(np.sum(sse_rows)) / max(self.nnz, 1)))

    def _half(self, n: int, Y: list[Any], by: list[Any], which: str,
              with_sse: bool) -> list[list[Any]]:
        X, bx, sse, nf = self._solve(n, _explicit_block, None, [Y, by], self.params, which,
                                     self.k, self.n_threads, with_sse, outputs=4)
        self._count_fallbacks(nf)
        return [X, bx, sse]

    def collect(self, P, bu, Q, bi) -> None:
        """Gather the factor and bias blocks into P, bu, Q and bi."""
        self._collect(P, Q, bu, bi)


# ---------------------------------------------------------------------------- tasks
def _joined(pieces: tuple, i: int) -> np.ndarray:
    """Array ``i`` of the other side as a block reads it: the one joined array (broadcast)
    or its pieces from the source blocks, in source order (out-blocks)."""
    if len(pieces) == 1:
        return pieces[0][i]
    return np.concatenate([p[i] for p in pieces])


def _out_block_plan(side: _als.Side, cuts: np.ndarray) -> tuple:
    """Out-blocks of one block: its data with column indices into the compact array of the
    rows it references (ascending), and those rows' global indices per source block."""
    used = np.unique(side.indices)
    compact = np.searchsorted(used, side.indices).astype(side.indices.dtype)
    bounds = np.searchsorted(used, cuts)
    refs = [used[a:z] for a, z in zip(bounds[:-1], bounds[1:])]
    return _als.Side(side.indptr, compact, side.values), refs


def _ref(plan: tuple, s: int) -> np.ndarray:
    return plan[1][s]


def _take(arrays: tuple, rows: np.ndarray, row0: int) -> tuple:
    """The rows ``rows`` (global indices) of a source block's arrays (first row ``row0``)."""
    return tuple(a[rows - row0] for a in arrays)


def _gram_partials(Y: np.ndarray, bounds: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """A block's partial Gram sums over the fixed row ranges within its rows lo…hi."""
    first, last = np.searchsorted(bounds, [lo, hi])
    with thread_limit(1):
        return kernels.gram_partials(Y, bounds[first:last + 1], lo)


def _gram_total(dtype: np.dtype, *partials: np.ndarray) -> np.ndarray:
    k = partials[0].shape[1]
    out = np.empty((k, k), dtype=dtype)
    kernels.gram_sum(np.concatenate(partials), out)
    return out


def _regularized(G: np.ndarray, regularization: Any) -> np.ndarray:
    return _als.with_ridge(G.copy(), regularization)  # a task never changes its inputs


def _implicit_block(side: _als.Side, X: np.ndarray, G: np.ndarray,
                    params: ImplicitSweepParams, k: int, n_threads: int,
                    *pieces: tuple) -> tuple:
    """Solve one block's rows (from a copy of its current rows X, CG's warm start) against
    the other side's factors (``pieces``, see :func:`_joined`) and G = YᵀY + λI; the new rows
    and the number of rows solved with the fallback ridge."""
    Y = _joined(pieces, 0)
    X = X.copy()
    with thread_limit(n_threads) as threads:
        chunks = _als.implicit_row_chunks(side.indptr, k, params, threads)
        nf = _als.implicit_solve(kernels, side, chunks, X, Y, G, params)
    return X, nf


def _implicit_loss_rows(side: _als.Side, X: np.ndarray, G: np.ndarray, n_threads: int,
                        *pieces: tuple) -> tuple:
    """The local loss's per-user parts for one block (G = YᵀY)."""
    Y = _joined(pieces, 0)
    out = np.empty(side.n_rows, dtype=np.float64)
    with thread_limit(n_threads) as threads:
        chunks = _als.row_chunks(side.indptr, 2 * X.shape[1], X.shape[1] ** 2, threads)
        kernels.implicit_loss_rows(side.indptr, side.indices, side.values, X, Y, G, chunks,
                                   out)
    return (out,)


def _explicit_block(side: _als.Side, params: ExplicitSweepParams, which: str, k: int,
                    n_threads: int, with_sse: bool, *pieces: tuple) -> tuple:
    """Solve one block's rows of the ``which`` side against the other side's factors and
    biases (``pieces``, see :func:`_joined`): factors, biases, per-row squared training
    errors (zeros unless ``with_sse``) and the number of rows solved with the fallback
    ridge."""
    Y, by = _joined(pieces, 0), _joined(pieces, 1)
    n = side.n_rows
    X = np.empty((n, k), dtype=Y.dtype)
    bx = np.empty(n, dtype=Y.dtype)
    sse = np.zeros(n, dtype=np.float64)
    with thread_limit(n_threads) as threads:
        chunks = _als.explicit_row_chunks(side.indptr, k, threads)
        nf = _als.explicit_solve(kernels, side, chunks, X, bx, Y, by, params, which, sse,
                                 with_sse)
    return X, bx, sse, nf
