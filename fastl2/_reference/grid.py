"""NumPy twin of :mod:`fastl2._kernels.grid` (a stable sort instead of count + scatter)."""

import numpy as np


def grid_arrays(indptr, indices, data, row_of_grid, row_group, row_start, col_group, col_grid,
                n_blocks):
    """Return ``(ptr, items, values)`` of the block grid (layout in the kernel module)."""
    n_rows = row_of_grid.size
    row_grid = np.empty(n_rows, dtype=np.int64)
    row_grid[row_of_grid] = np.arange(n_rows)
    rows = np.repeat(np.arange(n_rows), np.diff(indptr))
    gr = row_grid[rows]
    g = row_group[gr]
    c = col_grid[indices]
    h = col_group[c]
    n_g = row_start[g + 1] - row_start[g]
    seg_row = n_blocks * row_start[g] + h * n_g + (gr - row_start[g])
    order = np.lexsort((c, seg_row))
    counts = np.bincount(seg_row, minlength=n_blocks * n_rows)
    ptr = np.zeros(n_blocks * n_rows + 1, dtype=np.int64)
    np.cumsum(counts, out=ptr[1:])
    return ptr, c[order], data[order]


def lpt_groups(order, counts, n_groups):
    """Twin of the LPT kernel: each row, heaviest first, to the least-loaded group."""
    load = np.zeros(n_groups, dtype=np.int64)
    groups = np.empty(len(order), dtype=np.int64)
    for row in order:
        best = int(np.argmin(load))
        groups[row] = best
        load[best] += counts[row]
    return groups
