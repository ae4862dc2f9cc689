"""Where a fit's training data lives, and what the training loops ask of it.

The training loops of ``ImplicitALS`` and ``BiasedMF`` ask their data for its size, its id
maps, a few per-user sums, and for the half-sweeps or epochs that run on it. :class:`Local`
holds an :class:`~fastl2.Interactions` on this machine; :mod:`fastl2.distributed` has a twin
whose blocks live on Dask workers and which answers the same questions, so one training loop
serves both and both give the same bits.

Sums that both must give bit for bit are taken per user row (in the row's stored order) and
then added over the rows by ``numpy.sum``: a cluster computes the rows of each block and
concatenates them, which gives the same array and so the same total.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from . import als as _als, blocking as _blocking, checkpoint as _checkpoint, sgd as _sgd
from ..interactions import Interactions
from .params import ExplicitSweepParams, ImplicitSweepParams, SGDParams


class Local:
    """Training data held in this process (an :class:`~fastl2.Interactions`)."""

    def __init__(self, data: Interactions):
        self.data = data
        self.shape = data.shape
        self.nnz = data.nnz
        self.user_map, self.item_map = data.user_map, data.item_map
        self.rating_scale = data.rating_scale
        self._sides: tuple[_als.Side, _als.Side] | None = None

    def fingerprint(self) -> str:
        return _checkpoint.fingerprint(self.shape, self.user_map.ids, self.item_map.ids,
                                       np.diff(self.data.matrix.indptr))

    # ------------------------------------------------------------------ explicit ratings
    def mean(self) -> float:
        """The mean rating, as the sum of the per-user sums over the ratings."""
        m = self.data.matrix
        return float(np.sum(_als.row_sums(m.indptr, m.data))) / max(m.nnz, 1)

    def value_range(self) -> tuple[float, float]:
        vals = self.data.matrix.data
        return float(vals.min()), float(vals.max())

    def explicit_sweeps(self, factors: int, params: ExplicitSweepParams, n_threads: int,
                        dtype: np.dtype) -> _als.ExplicitSweeps:
        m = self.data.matrix
        users, items = _als.both_sides(m, m.data.astype(dtype, copy=False))
        return _als.ExplicitSweeps(users, items, factors, params, n_threads, dtype)

    def grid(self, n_blocks: int, dtype: np.dtype) -> _blocking.BlockGrid:
        return _blocking.build_grid(self.data.matrix, n_blocks, values_dtype=dtype)

    def sgd_epochs(self, grid: _blocking.BlockGrid, state: _sgd.State, params: SGDParams,
                   n_threads: int) -> _sgd.LocalEpochs:
        return _sgd.LocalEpochs(grid, state, params, n_threads)

    # ------------------------------------------------------------------ implicit feedback
    def prepare_implicit(self, confidence: Any, name: str) -> int:
        """Check the values (finite), drop explicit zeros and form both sides with the
        signed confidences ``confidence(values)``; the number of entries kept."""
        m = self.data.matrix
        rows = _als.implicit_side(_als.Side(m.indptr, m.indices, m.data), confidence, name)
        kept = sp.csr_matrix((rows.values, rows.indices, rows.indptr), shape=m.shape)
        self._sides = _als.both_sides(kept, rows.values)
        self.nnz = int(rows.values.size)
        return self.nnz

    def implicit_sweeps(self, factors: int, params: ImplicitSweepParams, n_threads: int,
                        dtype: np.dtype) -> _als.ImplicitSweeps:
        users, items = self._sides
        return _als.ImplicitSweeps(users, items, factors, params, n_threads, dtype)

