"""Training data in blocks on the Dask workers, and the blocks each solver derives from them.

Everything starts from the **user blocks**: contiguous ranges of users, each a canonical CSR
block (a user's items ascending, duplicates combined by the same function as
:meth:`fastl2.Interactions.from_arrays`), i.e. exactly the rows of the matrix a local fit
builds. They come

- from an :class:`~fastl2.Interactions`: its rows, sent inside tasks; or
- from a Dask DataFrame: the distinct ids of each column are found on the cluster and only
  they come to the client, to build the id maps (sorted, as locally); each partition's ids
  are coded on its worker; its entries are split by user range; each range's pieces are
  joined in partition order (the input order) and sorted.

From the user blocks, on the workers: the item blocks of ALS (contiguous item ranges, users
ascending per item: the local transposed copy), the user groups of the SGD grid (the local
grid's blocks), the per-user sums of the training loop. Data always travels inside tasks
(never ``client.scatter``): Dask keeps every task, so it can recompute what a lost worker
held.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..training import als as _als, blocking as _blocking, checkpoint as _checkpoint, sgd as _sgd
from ..training.params import ExplicitSweepParams, ImplicitSweepParams, SGDParams
from .._idmap import IdMap, normalize_ids
from .._kernels import grid as grid_kernels
from .._validation import Detail, fail
from ..interactions import DUPLICATE_POLICIES, _build_csr, csr_indptr, entry_rows
from ._als import DaskExplicitSweeps, DaskImplicitSweeps
from ._blocks import Blocks, ClusterGrid
from ._cluster import Watch, item, on_worker, put, tree_sum
from ._dsgd import DaskEpochs


class ClusterData:
    """The training data of a distributed fit (see the module docstring); answers what
    :class:`fastl2.training.source.Local` answers."""

    def __init__(self, client: Any, workers: list[str], n_blocks: int, users: Blocks,
                 user_map: IdMap, item_map: IdMap, rating_scale: Any, watch: Watch,
                 max_broadcast: int):
        self.client, self.workers, self.n_blocks, self.watch = client, workers, n_blocks, watch
        self.max_broadcast = max_broadcast
        self.users = users
        self.user_map, self.item_map, self.rating_scale = user_map, item_map, rating_scale
        self.shape = (len(user_map), len(item_map))
        counts = client.gather(users.map(client, _row_counts))
        self.row_counts = np.concatenate(counts) if counts else np.zeros(0, np.int64)
        self.nnz = int(self.row_counts.sum())
        self.key = _checkpoint.fingerprint(self.shape, user_map.ids, item_map.ids,
                                           self.row_counts)
        self.items: Blocks | None = None
        self.row_weights: np.ndarray | None = None

    def fingerprint(self) -> str:
        """As the local data's (taken before implicit ALS drops zeros)."""
        return self.key

    # ------------------------------------------------------------------ explicit ratings
    def mean(self) -> float:
        sums = self.client.gather(self.users.map(self.client, _row_sums))
        return float(np.sum(np.concatenate(sums))) / max(self.nnz, 1)

    def value_range(self) -> tuple[float, float]:
        ranges = [r for r in self.client.gather(self.users.map(self.client, _value_range))
                  if r is not None]
        return min(lo for lo, _ in ranges), max(hi for _, hi in ranges)

    def explicit_sweeps(self, factors: int, params: ExplicitSweepParams, n_threads: int,
                        dtype: np.dtype) -> DaskExplicitSweeps:
        return DaskExplicitSweeps(self.client, self.users, self._item_blocks(), factors,
                                  params, n_threads, dtype, self.nnz, self.watch,
                                  self.max_broadcast)

    def grid(self, n_blocks: int, dtype: np.dtype) -> ClusterGrid:
        """The local fit's grid (same groups and numbering), built from the user blocks."""
        B, c = n_blocks, self.client
        lay = _blocking.grid_layout(self.row_counts, self._item_counts(), B)
        rs = lay.row_start
        columns = put(c, None, (lay.col_group, lay.col_grid, lay.col_start))
        cuts = self.users.cuts
        split = [on_worker(c, w, _split_by_group, d, lay.row_groups[cuts[b]:cuts[b + 1]],
                           int(cuts[b]), B)
                 for b, (d, w) in enumerate(zip(self.users.data, self.users.workers))]
        workers = [self.workers[g % len(self.workers)] for g in range(B)]
        groups = [on_worker(c, w, _group_blocks, lay.row_perm[rs[g]:rs[g + 1]], columns, B,
                            *[on_worker(c, w, item, s, g) for s in split])
                  for g, w in enumerate(workers)]
        return ClusterGrid(B, lay.row_perm, lay.col_perm, rs, lay.col_start, groups, workers)

    def sgd_epochs(self, grid: ClusterGrid, state: _sgd.State, params: SGDParams,
                   n_threads: int) -> DaskEpochs:
        return DaskEpochs(self.client, grid, state, params, self.watch)

    # ------------------------------------------------------------------ implicit feedback
    def prepare_implicit(self, confidence: Any, name: str) -> int:
        """As :meth:`fastl2.training.source.Local.prepare_implicit`, block by block: finite values
        checked, explicit zeros dropped, values replaced by the signed confidences."""
        c = self.client
        self.users = Blocks(self.users.cuts, self.users.workers,
                            self.users.map(c, _als.implicit_side, confidence, name,
                                           " in one block"))
        weights = c.gather(self.users.map(c, _abs_row_sums))  # raises a bad block's error
        self.row_weights = np.concatenate(weights)
        self.row_counts = np.concatenate(c.gather(self.users.map(c, _row_counts)))
        self.nnz = int(self.row_counts.sum())
        return self.nnz

    def implicit_sweeps(self, factors: int, params: ImplicitSweepParams, n_threads: int,
                        dtype: np.dtype) -> DaskImplicitSweeps:
        return DaskImplicitSweeps(self.client, self.users, self._item_blocks(), factors,
                                  params, n_threads, dtype, self.row_weights, self.nnz,
                                  self.watch, self.max_broadcast)

    # ------------------------------------------------------------------ derived blocks
    def _item_counts(self) -> np.ndarray:
        n_items = self.shape[1]
        return self.client.gather(tree_sum(self.client, self.users.map(
            self.client, _column_counts, n_items)))

    def _item_blocks(self) -> Blocks:
        """Contiguous item ranges balanced by entries, each the transposed rows of the user
        blocks (users ascending per item), on the workers."""
        if self.items is None:
            c = self.client
            counts = self._item_counts()
            indptr = np.zeros(counts.size + 1, dtype=np.int64)
            np.cumsum(counts, out=indptr[1:])
            cuts = _als.aligned_cuts(indptr, self.n_blocks)
            split = [on_worker(c, w, _split_by_columns, d, int(self.users.cuts[b]), cuts)
                     for b, (d, w) in enumerate(zip(self.users.data, self.users.workers))]
            workers = [self.workers[b % len(self.workers)] for b in range(cuts.size - 1)]
            data = [on_worker(c, w, _columns_to_rows, int(cuts[b]), int(cuts[b + 1]),
                              *[on_worker(c, w, item, s, b) for s in split])
                    for b, w in enumerate(workers)]
            self.items = Blocks(cuts, workers, data)
        return self.items


def cluster_data(X: Any, dtype: np.dtype, *, client: Any, workers: list[str], n_blocks: int,
                 name: str, columns: tuple | None, duplicates: str, watch: Watch,
                 max_broadcast: int, as_interactions: Any) -> ClusterData:
    """The :class:`ClusterData` of a Dask DataFrame (``columns``: user, item and value
    column, the last None for implicit feedback without values) or of anything the model's
    ``fit`` takes (``as_interactions(X, dtype)`` on the client)."""
    if _is_dask_frame(X):
        return _from_frame(X, dtype, client, workers, n_blocks, columns, duplicates, watch,
                           max_broadcast)
    data = as_interactions(X, dtype)
    m = data.matrix
    cuts = _als.aligned_cuts(m.indptr, n_blocks)
    block_workers = [workers[b % len(workers)] for b in range(cuts.size - 1)]
    blocks = []
    for b, w in enumerate(block_workers):
        lo, hi = int(cuts[b]), int(cuts[b + 1])
        a, z = int(m.indptr[lo]), int(m.indptr[hi])
        blocks.append(put(client, w, _als.Side(m.indptr[lo:hi + 1].astype(np.int64) - a,
                                               m.indices[a:z], m.data[a:z])))
    return ClusterData(client, workers, n_blocks, Blocks(cuts, block_workers, blocks),
                       data.user_map, data.item_map, data.rating_scale, watch, max_broadcast)


def _is_dask_frame(X: Any) -> bool:
    return hasattr(X, "npartitions") and hasattr(X, "to_delayed") and hasattr(X, "columns")


def _from_frame(frame: Any, dtype: np.dtype, client: Any, workers: list[str], n_blocks: int,
                columns: tuple | None, duplicates: str, watch: Watch,
                max_broadcast: int) -> ClusterData:
    if columns is None or len(columns) != 3:
        fail("columns", "(user column, item column, value column or None) for a Dask "
             "DataFrame", columns)
    if duplicates not in DUPLICATE_POLICIES:
        fail("duplicates", f"one of {DUPLICATE_POLICIES}", duplicates)
    wanted = [col for col in columns if col is not None]
    for arg, col in zip(("columns[0]", "columns[1]", "columns[2]"), columns):
        if col is not None and col not in frame.columns:
            fail(arg, f"a column of the DataFrame ({list(frame.columns)})", col)
    frame = client.persist(frame[wanted])
    u_ids, i_ids = client.gather(client.compute([frame[columns[0]].unique(),
                                                 frame[columns[1]].unique()]))
    user_map, _ = IdMap.from_values("users", normalize_ids("users", np.asarray(u_ids)))
    item_map, _ = IdMap.from_values("items", normalize_ids("items", np.asarray(i_ids)))
    maps = put(client, None, (user_map, item_map))
    parts = client.compute(frame.to_delayed())
    coded = [on_worker(client, None, _code, p, maps, columns) for p in parts]
    n_users = len(user_map)
    counts = client.gather(tree_sum(client, [on_worker(client, None, _user_counts, p, n_users)
                                             for p in coded]))
    indptr = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    cuts = _als.aligned_cuts(indptr, n_blocks)
    split = [on_worker(client, None, _split_by_users, p, cuts) for p in coded]
    block_workers = [workers[b % len(workers)] for b in range(cuts.size - 1)]
    blocks = [on_worker(client, w, _rows_block, int(cuts[b]), int(cuts[b + 1]), maps, dtype,
                        duplicates, *[on_worker(client, w, item, s, b) for s in split])
              for b, w in enumerate(block_workers)]
    return ClusterData(client, workers, n_blocks, Blocks(cuts, block_workers, blocks),
                       user_map, item_map, None, watch, max_broadcast)


# ---------------------------------------------------------------------------- tasks
def _code(part: Any, maps: tuple, columns: tuple) -> tuple:
    """A partition's (user index, item index, value) arrays, in its row order."""
    user_map, item_map = maps
    ucol, icol, vcol = columns
    u = user_map.to_index(normalize_ids("users", part[ucol].to_numpy()), name="users")
    i = item_map.to_index(normalize_ids("items", part[icol].to_numpy()), name="items")
    if vcol is None:
        v = np.ones(u.size, dtype=np.float64)
    else:
        v = np.asarray(part[vcol].to_numpy())
        if v.dtype.kind not in "biuf":
            fail("values", "numeric values", v, type_error=True)
        if v.dtype.kind == "f" and not np.isfinite(v).all():
            fail("values", "finite values", Detail(f"{int((~np.isfinite(v)).sum())} NaN/inf "
                                                   "values in a partition"))
    return u, i, v


def _user_counts(coded: tuple, n_users: int) -> np.ndarray:
    return np.bincount(coded[0], minlength=n_users)


def _split(entries: tuple, part: np.ndarray, n_parts: int) -> list[tuple]:
    """The entries (a tuple of equal-length arrays) of each part 0…n_parts − 1, each part's
    in their order."""
    order = np.argsort(part, kind="stable")
    bounds = np.searchsorted(part[order], np.arange(n_parts + 1))
    return [tuple(a[order[x:y]] for a in entries) for x, y in zip(bounds[:-1], bounds[1:])]


def _split_by_users(coded: tuple, cuts: np.ndarray) -> list[tuple]:
    """The partition's entries of each user range, in their order."""
    return _split(coded, np.searchsorted(cuts, coded[0], side="right") - 1, cuts.size - 1)


def _rows_block(lo: int, hi: int, maps: tuple, dtype: np.dtype, duplicates: str,
                *pieces: tuple) -> _als.Side:
    """Users ``lo``…``hi`` as a canonical CSR block, from their pieces in input order."""
    user_map, item_map = maps
    u = np.concatenate([p[0] for p in pieces]) - lo
    i = np.concatenate([p[1] for p in pieces])
    v = np.concatenate([p[2] for p in pieces])
    m, _ = _build_csr(u, i, v, None, hi - lo, len(item_map), dtype, duplicates,
                      _Ids(user_map.ids, u + lo), _Ids(item_map.ids, i))
    return _als.Side(m.indptr.astype(np.int64), m.indices, m.data)


class _Ids:
    """External ids of coded entries, looked up only where an error message shows them."""

    def __init__(self, ids: np.ndarray, codes: np.ndarray):
        self.ids, self.codes = ids, codes

    def __getitem__(self, position: Any) -> Any:
        return self.ids[self.codes[position]]


def _row_counts(side: _als.Side) -> np.ndarray:
    return np.diff(side.indptr)


def _row_sums(side: _als.Side) -> np.ndarray:
    return _als.row_sums(side.indptr, side.values)


def _abs_row_sums(side: _als.Side) -> np.ndarray:
    return _als.row_sums(side.indptr, np.abs(side.values))


def _value_range(side: _als.Side) -> tuple | None:
    v = side.values
    return (float(v.min()), float(v.max())) if v.size else None


def _column_counts(side: _als.Side, n_columns: int) -> np.ndarray:
    return np.bincount(side.indices, minlength=n_columns)


def _coo(side: _als.Side, row0: int) -> tuple:
    return entry_rows(side.indptr, row0), side.indices, side.values


def _split_by_columns(side: _als.Side, row0: int, cuts: np.ndarray) -> list[tuple]:
    """The block's entries of each column range as (row, column, value), in CSR order."""
    return _split(_coo(side, row0), np.searchsorted(cuts, side.indices, side="right") - 1,
                  cuts.size - 1)


def _columns_to_rows(lo: int, hi: int, *pieces: tuple) -> _als.Side:
    """Columns ``lo``…``hi`` as rows (the transposed block): pieces in row order, so a stable
    sort by column leaves each column's rows ascending, as the local transposed copy."""
    rows = np.concatenate([p[0] for p in pieces])
    cols = np.concatenate([p[1] for p in pieces]) - lo
    vals = np.concatenate([p[2] for p in pieces])
    order = np.argsort(cols, kind="stable")
    indptr = csr_indptr(cols, hi - lo)
    index_dtype = pieces[0][1].dtype if pieces else np.int32
    return _als.Side(indptr, rows[order].astype(index_dtype), vals[order])


def _split_by_group(side: _als.Side, groups: np.ndarray, row0: int, n_groups: int) -> list:
    """The block's entries of each user group as (user, item, value), in CSR order."""
    return _split(_coo(side, row0), np.repeat(groups, np.diff(side.indptr)), n_groups)


def _group_blocks(users: np.ndarray, columns: tuple, n_blocks: int, *pieces: tuple) -> list:
    """One user group's B blocks of the grid, as the local grid has them: ``users`` are the
    group's users in grid order (ascending), pieces in user order."""
    col_group, col_grid, col_start = columns
    rows = np.searchsorted(users, np.concatenate([p[0] for p in pieces]))
    cols = np.concatenate([p[1] for p in pieces])
    vals = np.concatenate([p[2] for p in pieces])
    n_g = users.size
    indptr = csr_indptr(rows, n_g)
    B = n_blocks
    local = np.arange(n_g, dtype=np.int64)
    one = np.zeros(n_g, dtype=np.int64)
    start = np.array([0, n_g], dtype=np.int64)
    counts = grid_kernels.grid_counts(indptr, cols, local, one, start, col_group, col_grid, B)
    ptr = np.cumsum(counts, out=counts)
    items = np.empty(cols.size, dtype=col_grid.dtype)
    values = np.empty(cols.size, dtype=vals.dtype)
    grid_kernels.grid_scatter(indptr, cols, vals, ptr, local, one, start, col_group, col_grid,
                              B, items, values)
    blocks = []
    for h in range(B):
        lo, hi = int(ptr[h * n_g]), int(ptr[h * n_g + n_g])
        blocks.append((ptr[h * n_g:h * n_g + n_g + 1] - lo,
                       items[lo:hi] - col_grid.dtype.type(col_start[h]), values[lo:hi]))
    return blocks
