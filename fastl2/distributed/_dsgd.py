"""Distributed SGD (DSGD; Gemulla, Nijkamp, Haas & Sismanis, KDD 2011) on a Dask cluster.

The local fit's block grid, spread over workers: the ratings of user group g (its blocks
(g, 0)…(g, B−1)) and the state of its users (factors, biases, AdaGrad sums) live on one
worker; the state of item group h moves. In each stratum of an epoch, the task of block
(g, h) runs on g's worker with h's state, which Dask brings from the worker that updated it
last, and returns both states updated. Blocks of a stratum share no user group and no item
group, so they run at the same time on different workers, as they run on different threads
in the local fit.

Each block is run by the same code as in the local epoch kernel
(:func:`fastl2._kernels.sgd.sgd_block`), on the same strata drawn from the same generator, in
the same order; the loss is the same per-block sums added in block order. So the factors are
**bit-identical** to ``BiasedMF(solver="sgd").fit`` with the same ``n_blocks`` and
``random_state``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _blocking, _sgd
from ._cluster import item as _item, on_worker

class DaskEpochs:
    """:class:`fastl2._sgd.LocalEpochs` whose blocks run as tasks on a Dask cluster."""

    def __init__(self, grid: _blocking.BlockGrid, state: _sgd.State, args: tuple,
                 n_threads: int, *, client: Any, workers: list[str]):
        self.grid, self.state, self.args, self.client = grid, state, args, client
        B = grid.n_blocks
        rs, cs = grid.row_start, grid.col_start
        self.workers = [workers[g % len(workers)] for g in range(B)]
        self.data = []  # per user group: its B blocks (ptr, items in the group, ratings)
        for g, w in enumerate(self.workers):
            blocks = []
            for h in range(B):
                lo, hi = grid.block_range(g * B + h)
                seg = B * int(rs[g]) + h * int(rs[g + 1] - rs[g])
                ptr = grid.ptr[seg:seg + int(rs[g + 1] - rs[g]) + 1] - lo
                items = (grid.items[lo:hi] - grid.items.dtype.type(cs[h]))
                blocks.append((ptr, items, grid.values[lo:hi]))
            self.data.append(client.scatter(blocks, workers=[w]))
        self.users: list[Any] | None = None  # per group: a pair whose first element is the
        self.items: list[Any] | None = None  # user state; per item group: its state

    def _scatter(self) -> None:
        st, rs, cs = self.state, self.grid.row_start, self.grid.col_start
        B = self.grid.n_blocks
        self.users = [self.client.scatter(
            ((st.P[rs[g]:rs[g + 1]], st.bu[rs[g]:rs[g + 1]], st.Gp[rs[g]:rs[g + 1]],
              np.zeros(B)), None), workers=[w]) for g, w in enumerate(self.workers)]
        self.items = [self.client.scatter(
            (st.Q[cs[h]:cs[h + 1]], st.bi[cs[h]:cs[h + 1]], st.Gq[cs[h]:cs[h + 1]]),
            workers=[self.workers[h]]) for h in range(B)]

    def run(self, strata: np.ndarray) -> tuple[np.ndarray, bool]:
        """One epoch: each stratum's B block tasks (no barrier between strata: a task waits
        only for its two states), then the errors and finiteness of every group gathered."""
        if self.users is None:
            self._scatter()
        B, c = self.grid.n_blocks, self.client
        for stratum in strata:
            for b in stratum:
                g, h = divmod(int(b), B)
                w = self.workers[g]
                done = on_worker(c, w, _block_task, self.data[g], h, self.users[g],
                                 self.items[h], self.args)
                self.users[g] = done
                self.items[h] = on_worker(c, w, _item, done, 1)
        sums = c.gather([on_worker(c, w, _user_summary, u)
                         for u, w in zip(self.users, self.workers)]
                        + [on_worker(c, None, _item_finite, i) for i in self.items])
        block_sse = np.concatenate([s for s, _ in sums[:B]])
        return block_sse, all(f for _, f in sums[:B]) and all(sums[B:])

    def collect(self) -> None:
        """Gather every group's state into ``self.state``."""
        if self.users is None:
            return
        st, rs, cs = self.state, self.grid.row_start, self.grid.col_start
        for g, (user, _) in enumerate(self.client.gather(self.users)):
            for dst, src in zip((st.P, st.bu, st.Gp), user):
                dst[rs[g]:rs[g + 1]] = src
        for h, item in enumerate(self.client.gather(self.items)):
            for dst, src in zip((st.Q, st.bi, st.Gq), item):
                dst[cs[h]:cs[h + 1]] = src


# ---------------------------------------------------------------------------- tasks
def _block_task(blocks: list, h: int, users: tuple, item: tuple, args: tuple) -> tuple:
    """Block (g, h) run on copies of its user group's state (``users[0]``) and item group's
    state; both new states."""
    from .._kernels import sgd as kernels

    P, bu, Gp, sse = (a.copy() for a in users[0])
    Q, bi, Gq = (a.copy() for a in item)
    ptr, items, ratings = blocks[h]
    sse[h] = kernels.sgd_block(ptr, items, ratings, P, Q, bu, bi, Gp, Gq, *args)
    return (P, bu, Gp, sse), (Q, bi, Gq)


def _user_summary(users: tuple) -> tuple:
    P, bu, Gp, sse = users[0]
    return sse, bool(np.isfinite(bu).all())


def _item_finite(item: tuple) -> bool:
    return bool(np.isfinite(item[1]).all())
