"""The block grid of stratified SGD (FPSGD-style): row/column groups, reordering, schedules.

The grid depends only on the data and ``n_blocks`` — never on the thread count — so a fit is
bit-identical for any ``num_threads``. See :mod:`fastl2._kernels.grid` for the memory layout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .._kernels import grid as grid_kernels


def balanced_groups(counts: np.ndarray, n_groups: int) -> np.ndarray:
    """Assign rows to ``n_groups`` groups of nearly equal total count.

    Longest-processing-time first: rows sorted by count (descending, ties by index), each to
    the group with the smallest total so far. The spread of the totals is at most the largest
    single count.

    Returns
    -------
    numpy.ndarray of int64, the group of each row.
    """
    counts = np.asarray(counts, dtype=np.int64)
    order = np.lexsort((np.arange(counts.size), -counts))
    return grid_kernels.lpt_groups(order, counts, int(n_groups))


def inverse_permutation(perm: np.ndarray) -> np.ndarray:
    """``inverse`` with ``inverse[perm[j]] = j``: from grid index → original to original →
    grid index."""
    inverse = np.empty_like(perm)
    inverse[perm] = np.arange(perm.size)
    return inverse


def _grid_numbering(groups: np.ndarray, n_groups: int):
    """Group-major numbering: ``perm[grid] = original``, ``inverse[original] = grid``."""
    perm = np.lexsort((np.arange(groups.size), groups))
    inverse = inverse_permutation(perm)
    start = np.zeros(n_groups + 1, dtype=np.int64)
    np.cumsum(np.bincount(groups, minlength=n_groups), out=start[1:])
    grid_group = np.repeat(np.arange(n_groups, dtype=np.int64), np.diff(start))
    return perm, inverse, start, grid_group


@dataclass
class GridLayout:
    """Where rows and columns go in an ``n_blocks × n_blocks`` grid (from their counts only).

    ``row_groups`` (original row → group), ``row_perm`` / ``col_perm`` (grid index →
    original), ``row_start`` / ``col_start`` (group ranges in grid order), ``row_group`` /
    ``col_group`` (grid index → group), ``col_grid`` (original column → grid index, in
    ``item_dtype``)."""

    row_groups: np.ndarray
    row_perm: np.ndarray
    row_start: np.ndarray
    row_group: np.ndarray
    col_perm: np.ndarray
    col_grid: np.ndarray
    col_start: np.ndarray
    col_group: np.ndarray
    item_dtype: type


def grid_layout(row_counts: np.ndarray, col_counts: np.ndarray, n_blocks: int) -> GridLayout:
    """The grid of rows and columns with these entry counts: balanced groups, numbered
    group-major (what :func:`build_grid` and a cluster's grid both use)."""
    B = int(n_blocks)
    row_groups = balanced_groups(row_counts, B)
    row_perm, _, row_start, row_group = _grid_numbering(row_groups, B)
    col_perm, col_grid, col_start, col_group = _grid_numbering(balanced_groups(col_counts, B),
                                                               B)
    item_dtype = np.int32 if col_counts.size < np.iinfo(np.int32).max else np.int64
    return GridLayout(row_groups, row_perm, row_start, row_group, col_perm,
                      col_grid.astype(item_dtype), col_start, col_group, item_dtype)


@dataclass
class BlockGrid:
    """A user×item matrix reordered into ``n_blocks × n_blocks`` blocks.

    Attributes
    ----------
    n_blocks : int
    row_perm, col_perm : int64 arrays, grid index → original index.
    row_start, col_start : int64 arrays of length ``n_blocks + 1``, group ranges in grid order.
    ptr : int64 array, per (block, row) pointers (layout in :mod:`fastl2._kernels.grid`).
    items : grid column index of every entry.
    values : value of every entry.
    block_nnz : int64 array of length ``n_blocks**2``.
    """

    n_blocks: int
    row_perm: np.ndarray
    col_perm: np.ndarray
    row_start: np.ndarray
    col_start: np.ndarray
    ptr: np.ndarray
    items: np.ndarray
    values: np.ndarray
    block_nnz: np.ndarray

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.row_perm, self.col_perm, self.ptr, self.items,
                                      self.values))

    def block_range(self, b: int) -> tuple[int, int]:
        """First and one-past-last entry of block ``b`` (``b = g * n_blocks + h``)."""
        g, h = divmod(b, self.n_blocks)
        n_g = int(self.row_start[g + 1] - self.row_start[g])
        seg = self.n_blocks * int(self.row_start[g]) + h * n_g
        return int(self.ptr[seg]), int(self.ptr[seg + n_g])


def build_grid(matrix: sp.csr_matrix, n_blocks: int, *, values_dtype=None,
               use_reference: bool = False) -> BlockGrid:
    """Reorder a canonical CSR matrix into a :class:`BlockGrid`.

    Memory: one copy of the entries (items as int32 grid indices, values) plus
    ``n_blocks * n_rows`` pointers; no COO expansion.
    """
    n_rows, n_cols = matrix.shape
    B = int(n_blocks)
    lay = grid_layout(np.diff(matrix.indptr), np.bincount(matrix.indices, minlength=n_cols), B)
    row_perm, row_start, row_group = lay.row_perm, lay.row_start, lay.row_group
    col_perm, col_grid, col_start, col_group = (lay.col_perm, lay.col_grid, lay.col_start,
                                                lay.col_group)
    data = matrix.data if values_dtype is None else matrix.data.astype(values_dtype, copy=False)
    if use_reference:
        from .._reference.grid import grid_arrays  # deferred: start-up (only tests use it)

        ptr, items, values = grid_arrays(matrix.indptr, matrix.indices, data, row_perm,
                                         row_group, row_start, col_group, col_grid, B)
        items = items.astype(lay.item_dtype)
    else:
        counts = grid_kernels.grid_counts(matrix.indptr, matrix.indices, row_perm, row_group,
                                          row_start, col_group, col_grid, B)
        ptr = np.cumsum(counts, out=counts)
        items = np.empty(matrix.nnz, dtype=lay.item_dtype)
        values = np.empty(matrix.nnz, dtype=data.dtype)
        grid_kernels.grid_scatter(matrix.indptr, matrix.indices, data, ptr, row_perm,
                                  row_group, row_start, col_group, col_grid, B, items, values)
    grid = BlockGrid(B, row_perm, col_perm, row_start, col_start, ptr, items, values,
                     np.zeros(B * B, dtype=np.int64))
    for b in range(B * B):
        lo, hi = grid.block_range(b)
        grid.block_nnz[b] = hi - lo
    return grid


def epoch_schedule(rng: np.random.Generator, n_blocks: int) -> np.ndarray:
    """The strata of one epoch, in visiting order: ``strata[s]`` lists ``n_blocks`` blocks
    sharing no row group and no column group.

    A random permutation of column groups and a random stratum order per epoch (FPSGD's
    random block order); ratings inside a block keep their CSR order.
    """
    B = n_blocks
    sigma = rng.permutation(B)
    order = rng.permutation(B)
    g = np.arange(B)
    return np.stack([g * B + sigma[(g + s) % B] for s in order]).astype(np.int64)


def assign_workers(strata: np.ndarray, block_nnz: np.ndarray, n_workers: int):
    """Spread each stratum's blocks over ``n_workers`` threads, longest block first.

    The assignment only decides *which thread* runs a block; blocks of a stratum are
    independent, so results do not depend on it.

    Returns
    -------
    (work_ptr, work_blocks) : ``work_blocks[s, work_ptr[s, w]:work_ptr[s, w + 1]]`` are the
    blocks worker ``w`` runs in stratum ``s``.
    """
    n_strata, B = strata.shape
    W = max(1, min(n_workers, B))
    work_ptr = np.zeros((n_strata, W + 1), dtype=np.int64)
    work_blocks = np.empty((n_strata, B), dtype=np.int64)
    for s in range(n_strata):
        blocks = strata[s][np.argsort(-block_nnz[strata[s]], kind="stable")]
        load = np.zeros(W, dtype=np.int64)
        owner = np.empty(B, dtype=np.int64)
        for j, b in enumerate(blocks):
            w = int(np.argmin(load))
            owner[j] = w
            load[w] += block_nnz[b]
        by_worker = np.argsort(owner, kind="stable")
        work_blocks[s] = blocks[by_worker]
        np.cumsum(np.bincount(owner, minlength=W), out=work_ptr[s, 1:])
    return work_ptr, work_blocks
