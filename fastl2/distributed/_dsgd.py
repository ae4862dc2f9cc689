"""Distributed SGD (DSGD; Gemulla, Nijkamp, Haas & Sismanis, KDD 2011) on a Dask cluster.

The local fit's block grid, spread over workers: the ratings of user group g (its blocks
(g, 0)…(g, B−1)) and the state of its users (factors, biases, AdaGrad sums) stay on one
worker; the states of the item groups move. Blocks of a stratum share no user group and no
item group, so they can run at the same time on different workers, as they run on
different threads in the local fit.

Each worker runs one task per stratum: the stratum's blocks of its user groups, one after
the other, on copies of its states (tasks stay pure, so Dask can recompute them). The task
returns its user groups' and item groups' new states together; small routing tasks then
pick, for every worker, the item groups it needs in the next stratum, so each item state
crosses the network once per stratum and a stratum costs two task hops whatever the grid
size (a task per block would cost a hop per block, and Dask's latency per task, a few
milliseconds, is the cost of a small block).

Each block is run by the same code as in the local epoch kernel
(:func:`fastl2._kernels.sgd.sgd_block`, through
:func:`fastl2.training.sgd.run_block`), on the same strata drawn from the same generator, in
the same order; the loss is the same per-block sums added in block order. So the factors are
**bit-identical** to ``BiasedMF(solver="sgd").fit`` with the same ``n_blocks`` and
``random_state``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._threads import thread_limit
from ..training import sgd as _sgd
from ..training.params import SGDParams
from ._blocks import ClusterGrid
from ._cluster import Watch, on_worker, put


class DaskEpochs:
    """:class:`fastl2.training.sgd.LocalEpochs` whose strata run as tasks on a Dask cluster."""

    def __init__(self, client: Any, grid: ClusterGrid, state: _sgd.State,
                 params: SGDParams, watch: Watch):
        self.client, self.grid, self.state, self.params = client, grid, state, params
        self.watch = watch
        self.workers = sorted(set(grid.workers))
        B = grid.n_blocks
        self.owner = [self.workers.index(w) for w in grid.workers]  # worker of each group
        # per worker: its user groups' block data, keyed by group
        self.data = [{g: grid.groups[g] for g in range(B) if self.owner[g] == n}
                     for n in range(len(self.workers))]
        self.bundles: list[Any] | None = None  # per worker: (user states, item states)
        self.where = None  # worker holding each item group's state

    def _place(self) -> None:
        st, rs, cs = self.state, self.grid.row_start, self.grid.col_start
        B = self.grid.n_blocks
        self.where = [h % len(self.workers) for h in range(B)]
        self.bundles = [put(self.client, w, (
            {g: (st.P[rs[g]:rs[g + 1]], st.bu[rs[g]:rs[g + 1]], st.Gp[rs[g]:rs[g + 1]],
                 np.zeros(B)) for g in self.data[n]},
            {h: (st.Q[cs[h]:cs[h + 1]], st.bi[cs[h]:cs[h + 1]], st.Gq[cs[h]:cs[h + 1]])
             for h in range(B) if self.where[h] == n}))
            for n, w in enumerate(self.workers)]

    def run(self, strata: np.ndarray) -> tuple[np.ndarray, bool]:
        """One epoch: per stratum, one task per worker and the routes of the item states to
        the next stratum's workers; then the errors and finiteness of every group."""
        self.watch.check()
        if self.bundles is None:
            self._place()
        B, c = self.grid.n_blocks, self.client
        n_workers = len(self.workers)
        for stratum in strata:
            blocks = [[] for _ in range(n_workers)]
            for b in stratum:
                g, h = divmod(int(b), B)
                blocks[self.owner[g]].append((g, h))
            wanted = [[h for _, h in mine] for mine in blocks]
            routes = [[on_worker(c, self.workers[src], _route, self.bundles[src], hs)
                       for src in range(n_workers)
                       if (hs := [h for h in wanted[n] if self.where[h] == src])]
                      for n in range(n_workers)]
            self.bundles = [on_worker(c, w, _stratum, self.data[n], self.bundles[n],
                                      blocks[n], self.params, *routes[n])
                            for n, w in enumerate(self.workers)]
            for n in range(n_workers):
                for h in wanted[n]:
                    self.where[h] = n
        summaries = c.gather([on_worker(c, w, _summary, bundle)
                              for bundle, w in zip(self.bundles, self.workers)])
        block_sse = np.zeros(B * B)
        finite = True
        for sse, ok in summaries:
            finite = finite and ok
            for g, row in sse.items():
                block_sse[g * B:(g + 1) * B] = row
        return block_sse, finite

    def rebase(self) -> None:
        """Place the states again from ``self.state`` at the next epoch (after a checkpoint):
        what is lost later is recomputed from there, not from the start."""
        self.bundles = None

    def collect(self) -> None:
        """Gather every group's state into ``self.state``."""
        if self.bundles is None:
            return
        st, rs, cs = self.state, self.grid.row_start, self.grid.col_start
        for users, items in self.client.gather(self.bundles):
            for g, user in users.items():
                for dst, src in zip((st.P, st.bu, st.Gp), user):
                    dst[rs[g]:rs[g + 1]] = src
            for h, item in items.items():
                for dst, src in zip((st.Q, st.bi, st.Gq), item):
                    dst[cs[h]:cs[h + 1]] = src


# ---------------------------------------------------------------------------- tasks
def _route(bundle: tuple, wanted: list[int]) -> dict:
    """The item states ``wanted`` (by group) out of a worker's bundle."""
    items = bundle[1]
    return {h: items[h] for h in wanted}


def _stratum(data: dict, bundle: tuple, blocks: list[tuple[int, int]], params: SGDParams,
             *routes: dict) -> tuple:
    """A worker's blocks of one stratum, in order, on copies of its user states and of the
    item states routed to it; the new (user states, item states)."""
    users = {g: tuple(a.copy() for a in state) for g, state in bundle[0].items()}
    items = {h: tuple(a.copy() for a in state) for route in routes
             for h, state in route.items()}
    with thread_limit(1):  # a block is one thread's work, as in the local epoch
        for g, h in blocks:
            P, bu, Gp, sse = users[g]
            Q, bi, Gq = items[h]
            ptr, cols, ratings = data[g][h]
            sse[h] = _sgd.run_block(params, ptr, cols, ratings, P, Q, bu, bi, Gp, Gq)
    return users, items


def _summary(bundle: tuple) -> tuple:
    """A worker's squared errors per user group and whether all its biases are finite."""
    users, items = bundle
    finite = all(np.isfinite(state[1]).all() for state in users.values())
    finite = finite and all(np.isfinite(state[1]).all() for state in items.values())
    return {g: state[3] for g, state in users.items()}, bool(finite)
