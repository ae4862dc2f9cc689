"""The blocks of a distributed fit's data on the Dask workers: one side's row blocks
(:class:`Blocks`, what ALS sweeps) and the SGD grid's user groups (:class:`ClusterGrid`, what
DSGD runs). :mod:`._data` builds them; :mod:`._als` and :mod:`._dsgd` run tasks on them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ._cluster import on_worker, put


@dataclass
class Blocks:
    """One side's row blocks on the workers: row ranges ``cuts``, the worker of each block and
    the futures of their data (:class:`fastl2.training.als.Side`, local row and global column
    indices)."""

    cuts: np.ndarray
    workers: list[str]
    data: list[Any]

    def map(self, client: Any, fn: Callable, *args: Any) -> list[Any]:
        """``fn(block data, *args)`` for every block, on its worker."""
        return [on_worker(client, w, fn, d, *args) for d, w in zip(self.data, self.workers)]

    def place(self, client: Any, F: np.ndarray) -> list[Any]:
        """F's rows of every block, placed on the block's worker."""
        return [put(client, w, F[self.cuts[b]:self.cuts[b + 1]])
                for b, w in enumerate(self.workers)]

    def gather_rows(self, client: Any, parts: list[Any], F: np.ndarray) -> None:
        """Write the blocks' rows ``parts`` (futures) into F."""
        for b, part in enumerate(client.gather(parts)):
            F[self.cuts[b]:self.cuts[b + 1]] = part


@dataclass
class ClusterGrid:
    """The SGD block grid with its entries on the workers: per user group, its B blocks
    (``(ptr, items in the column group, values)``), on ``workers[g]``."""

    n_blocks: int
    row_perm: np.ndarray
    col_perm: np.ndarray
    row_start: np.ndarray
    col_start: np.ndarray
    groups: list[Any]
    workers: list[str]
