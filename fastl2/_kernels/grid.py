"""Reorder a CSR matrix into the block grid used by stratified SGD.

Rows and columns are renumbered group-major (``grid index`` = position in the concatenation of
the groups), so the users of group ``g`` are the contiguous range
``row_start[g]:row_start[g+1]`` and likewise for items. The entries of block ``(g, h)`` are
stored contiguously, row by row in grid-row order, items ascending inside a row (CSR order),
which is the "partial random" visiting order of FPSGD: a user's factor row stays in cache while
only item rows are fetched.

Layout of ``ptr`` (length ``B * n_rows + 1``): block ``b = g * B + h`` owns the segment
``seg(b) = B * row_start[g] + h * n_g`` of ``n_g + 1`` pointers; ``ptr[seg(b) + r]`` is the
first entry of grid row ``row_start[g] + r`` in that block. Segments follow each other in
block order, so ``ptr[seg(b) + n_g]`` is both the end of block ``b`` and the start of ``b+1``.
"""

import numba
import numpy as np

from ._flags import CACHE


@numba.njit(parallel=True, nogil=True, cache=CACHE)
def grid_counts(indptr, indices, row_of_grid, row_group, row_start, col_group, col_grid,
                n_blocks):  # pragma: no cover - compiled
    """Count entries per (block, grid row): ``counts[seg(b) + r + 1]``.

    Parameters
    ----------
    indptr, indices : numpy.ndarray of int, shapes (n_rows + 1,) and (nnz,)
        The ratings matrix as CSR (original row and column numbers).
    row_of_grid : numpy.ndarray of int64, shape (n_rows,)
        The original row of each grid row.
    row_group : numpy.ndarray of int64, shape (n_rows,)
        The row group of each grid row.
    row_start : numpy.ndarray of int64, shape (n_blocks + 1,)
        Row group g is grid rows ``row_start[g]…row_start[g + 1]``.
    col_group : numpy.ndarray of int64, shape (n_cols,)
        The column group of each grid column.
    col_grid : numpy.ndarray of int64, shape (n_cols,)
        The grid column of each original column.
    n_blocks : int
        Number of row groups (= column groups).

    Returns
    -------
    numpy.ndarray of int64, shape (n_blocks * n_rows + 1,)
        The counts; their cumulative sum is the grid's ``ptr`` (module docstring).
    """
    n_rows = row_of_grid.shape[0]
    counts = np.zeros(n_blocks * n_rows + 1, dtype=np.int64)
    for gr in numba.prange(n_rows):
        u = row_of_grid[gr]
        g = row_group[gr]
        n_g = row_start[g + 1] - row_start[g]
        r = gr - row_start[g]
        base = n_blocks * row_start[g] + r + 1
        for j in range(indptr[u], indptr[u + 1]):
            h = col_group[col_grid[indices[j]]]
            counts[base + h * n_g] += 1
    return counts


@numba.njit(parallel=True, nogil=True, cache=CACHE)
def grid_scatter(indptr, indices, data, ptr, row_of_grid, row_group, row_start, col_group,
                 col_grid, n_blocks, out_items, out_values):  # pragma: no cover - compiled
    """Scatter each row's entries into its blocks (items as grid indices).

    Parameters
    ----------
    indptr, indices, row_of_grid, row_group, row_start, col_group, col_grid, n_blocks
        As in :func:`grid_counts`.
    data : numpy.ndarray, shape (nnz,)
        The ratings, in CSR order.
    ptr : numpy.ndarray of int64, shape (n_blocks * n_rows + 1,)
        The grid's pointers (cumulative sum of :func:`grid_counts`); not modified.
    out_items : numpy.ndarray of int, shape (nnz,)
        Written in place: each entry's grid column, in grid order.
    out_values : numpy.ndarray, shape (nnz,), dtype of ``data``
        Written in place: each entry's rating, in grid order.

    Returns
    -------
    None
    """
    n_rows = row_of_grid.shape[0]
    for gr in numba.prange(n_rows):
        u = row_of_grid[gr]
        g = row_group[gr]
        n_g = row_start[g + 1] - row_start[g]
        r = gr - row_start[g]
        base = n_blocks * row_start[g] + r
        # one cursor per block of this row; a row is written by exactly one thread
        cursor = np.empty(n_blocks, dtype=np.int64)
        for h in range(n_blocks):
            cursor[h] = ptr[base + h * n_g]
        for j in range(indptr[u], indptr[u + 1]):
            c = col_grid[indices[j]]
            h = col_group[c]
            out_items[cursor[h]] = c
            out_values[cursor[h]] = data[j]
            cursor[h] += 1


@numba.njit(nogil=True, cache=CACHE)
def lpt_groups(order, counts, n_groups):  # pragma: no cover - compiled
    """Longest-processing-time assignment: rows in ``order`` (heaviest first) each go to the
    group with the smallest total so far (lowest group index on ties).

    Parameters
    ----------
    order : numpy.ndarray of int, shape (n,)
        Row numbers, heaviest first.
    counts : numpy.ndarray of int, shape (n,)
        Each row's weight (entry count).
    n_groups : int
        Number of groups.

    Returns
    -------
    numpy.ndarray of int64, shape (n,)
        The group of each row.
    """
    load = np.zeros(n_groups, dtype=np.int64)
    groups = np.empty(order.shape[0], dtype=np.int64)
    for j in range(order.shape[0]):
        row = order[j]
        best = 0
        for g in range(1, n_groups):
            if load[g] < load[best]:
                best = g
        groups[row] = best
        load[best] += counts[row]
    return groups
