"""The epochs of block-stratified SGD: the state they update and how an epoch is run.

:class:`LocalEpochs` runs an epoch by one call of the parallel kernel; its distributed twin
(:class:`fastl2.distributed._dsgd.DaskEpochs`) runs the same blocks in the same strata as
tasks on a Dask cluster, through :func:`run_block`. :class:`fastl2.training.trainers.SGDTrainer`
takes either, so both fits share one training loop.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from . import blocking as _blocking
from .._kernels import sgd as sgd_kernels
from .params import SGDParams


class State(NamedTuple):
    """The parameters SGD updates, rows in grid order: factors (rows padded to the kernel's
    width), biases and AdaGrad sums of users and items."""

    P: np.ndarray
    Q: np.ndarray
    bu: np.ndarray
    bi: np.ndarray
    Gp: np.ndarray
    Gq: np.ndarray


def kernel_arguments(params: SGDParams) -> dict[str, Any]:
    """The scalar arguments of :func:`fastl2._kernels.sgd.sgd_epoch` and
    :func:`~fastl2._kernels.sgd.sgd_block`, by name, from ``params``: the one place the bundle
    is unpacked for the kernels."""
    return dict(
        global_mean=params.global_mean,
        learning_rate_user=params.learning_rate.user,
        learning_rate_item=params.learning_rate.item,
        bias_learning_rate_user=params.bias_learning_rate.user,
        bias_learning_rate_item=params.bias_learning_rate.item,
        regularization_user=params.regularization.user,
        regularization_item=params.regularization.item,
        bias_regularization_user=params.bias_regularization.user,
        bias_regularization_item=params.bias_regularization.item,
        adagrad=params.adagrad,
        inv_factors_plus_one=params.inv_factors_plus_one)


def run_block(params: SGDParams, ptr: np.ndarray, items: np.ndarray, ratings: np.ndarray,
              P: np.ndarray, Q: np.ndarray, bu: np.ndarray, bi: np.ndarray, Gp: np.ndarray,
              Gq: np.ndarray) -> float:
    """One block on its own (:func:`fastl2._kernels.sgd.sgd_block`, as distributed SGD runs
    it on a worker); the sum of its squared pre-update errors."""
    return sgd_kernels.sgd_block(ptr, items, ratings, P, Q, bu, bi, Gp, Gq,
                                 **kernel_arguments(params))


class LocalEpochs:
    """Epochs on this machine: the strata in order, each stratum's blocks in parallel."""

    def __init__(self, grid: _blocking.BlockGrid, state: State, params: SGDParams,
                 n_threads: int):
        self.grid, self.state, self.params, self.n_threads = grid, state, params, n_threads
        self.block_sse = np.zeros(grid.n_blocks ** 2, dtype=np.float64)

    def run(self, strata: np.ndarray) -> tuple[np.ndarray, bool]:
        """One epoch over ``strata`` (from :func:`fastl2.training.blocking.epoch_schedule`): the
        squared errors per block (block order) and whether all biases are still finite."""
        g, st = self.grid, self.state
        work_ptr, work_blocks = _blocking.assign_workers(strata, g.block_nnz, self.n_threads)
        sgd_kernels.sgd_epoch(g.ptr, g.items, g.values, g.row_start, g.n_blocks, work_ptr,
                              work_blocks, *st, **kernel_arguments(self.params),
                              block_sse=self.block_sse)
        return self.block_sse, bool(np.isfinite(st.bu).all() and np.isfinite(st.bi).all())

    def collect(self) -> None:
        """Bring the state up to date in ``self.state`` (here it always is)."""

    def rebase(self) -> None:
        """Nothing to do (on a cluster: restart the states' lineage from ``self.state``)."""

