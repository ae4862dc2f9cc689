"""The epochs of block-stratified SGD: the state they update and how an epoch is run.

:class:`LocalEpochs` runs an epoch by one call of the parallel kernel; its distributed twin
(:class:`fastl2.distributed._dsgd.DaskEpochs`) runs the same blocks in the same strata as
tasks on a Dask cluster. ``BiasedMF`` takes either, so both fits share one training loop.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import blocking as _blocking
from .._kernels import sgd as sgd_kernels


class State(NamedTuple):
    """The parameters SGD updates, rows in grid order: factors (rows padded to the kernel's
    width), biases and AdaGrad sums of users and items."""

    P: np.ndarray
    Q: np.ndarray
    bu: np.ndarray
    bi: np.ndarray
    Gp: np.ndarray
    Gq: np.ndarray


class LocalEpochs:
    """Epochs on this machine: the strata in order, each stratum's blocks in parallel."""

    def __init__(self, grid: _blocking.BlockGrid, state: State, args: tuple, n_threads: int):
        self.grid, self.state, self.args, self.n_threads = grid, state, args, n_threads
        self.block_sse = np.zeros(grid.n_blocks ** 2, dtype=np.float64)

    def run(self, strata: np.ndarray) -> tuple[np.ndarray, bool]:
        """One epoch over ``strata`` (from :func:`fastl2.training.blocking.epoch_schedule`): the
        squared errors per block (block order) and whether all biases are still finite."""
        g, st = self.grid, self.state
        work_ptr, work_blocks = _blocking.assign_workers(strata, g.block_nnz, self.n_threads)
        sgd_kernels.sgd_epoch(g.ptr, g.items, g.values, g.row_start, g.n_blocks, work_ptr,
                              work_blocks, *st, *self.args, self.block_sse)
        return self.block_sse, bool(np.isfinite(st.bu).all() and np.isfinite(st.bi).all())

    def collect(self) -> None:
        """Bring the state up to date in ``self.state`` (here it always is)."""

    def rebase(self) -> None:
        """Nothing to do (on a cluster: restart the states' lineage from ``self.state``)."""

