"""``Interactions``: a user×item CSR matrix plus the external-id maps, with cleaning policies."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from ._idmap import IdMap, normalize_ids
from ._validation import Detail, check_choice, check_dtype, check_float, check_sparse, fail

DUPLICATE_POLICIES = ("raise", "last", "sum", "mean", "max")
NONFINITE_POLICIES = ("raise", "drop")
UNKNOWN_POLICIES = ("raise", "drop")
_SHOW = 5  # how many offending rows an error message shows


def _show_rows(positions: np.ndarray, *columns: tuple[str, np.ndarray]) -> str:
    rows = []
    for p in positions[:_SHOW].tolist():
        rows.append("row " + str(p) + " (" + ", ".join(f"{n}={np.asarray(c[p]).item()!r}" for n, c in columns) + ")")
    return "; ".join(rows)


def _check_scale(rating_scale: Any) -> tuple[float, float]:
    """A declared rating scale: a (low, high) pair of finite numbers with low <= high."""
    expected = "a (low, high) pair of finite numbers with low <= high"
    if not isinstance(rating_scale, (tuple, list, np.ndarray)) or len(rating_scale) != 2:
        fail("rating_scale", expected, rating_scale, type_error=not isinstance(
            rating_scale, (tuple, list, np.ndarray)))
    lo = check_float("rating_scale[0]", rating_scale[0])
    hi = check_float("rating_scale[1]", rating_scale[1])
    if not lo <= hi:
        fail("rating_scale", expected, rating_scale)
    return lo, hi


def entry_rows(indptr: np.ndarray, row0: int = 0) -> np.ndarray:
    """The row (int64, the first row numbered ``row0``) of every entry of CSR rows
    ``indptr``."""
    n_rows = indptr.size - 1
    return np.repeat(np.arange(row0, row0 + n_rows, dtype=np.int64), np.diff(indptr))


def csr_indptr(rows: np.ndarray, n_rows: int) -> np.ndarray:
    """CSR row pointers (int64) of the entries of rows ``rows``, once sorted by row."""
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
    return indptr


class Interactions:
    """User×item interactions: a canonical CSR matrix and the id maps both ways.

    Build one with :meth:`from_arrays`, :meth:`from_dataframe`, :meth:`from_sparse` or
    :func:`fastl2.datasets.read_ratings`; the constructor itself takes already-clean parts.

    Parameters
    ----------
    matrix : scipy.sparse.csr_matrix
        Canonical CSR (sorted column indices, no duplicates), shape ``(n_users, n_items)``.
        Stored entries are interactions, including stored zeros (a 0 rating is a rating).
    user_map, item_map : IdMap
        External ids of the rows and columns.
    timestamps : numpy.ndarray, optional
        One timestamp per stored entry, aligned with ``matrix.data``.
    rating_scale : (float, float), optional
        Declared rating scale; values were checked against it.

    Attributes
    ----------
    matrix : csr_matrix
        Values float32 by default; column indices int32, row pointers int32 or int64 when
        nnz needs it (scipy's choice).
    """

    def __init__(self, matrix: sp.csr_matrix, user_map: IdMap, item_map: IdMap,
                 timestamps: np.ndarray | None = None,
                 rating_scale: tuple[float, float] | None = None):
        if not (sp.issparse(matrix) and matrix.format == "csr"):
            fail("matrix", "a scipy.sparse CSR matrix", matrix, type_error=True)
        for arg, given in (("user_map", user_map), ("item_map", item_map)):
            if not isinstance(given, IdMap):
                fail(arg, "an IdMap", given, type_error=True)
        check_sparse("matrix", matrix)  # the kernels index factor rows with it unchecked
        if matrix.shape != (len(user_map), len(item_map)):
            fail("matrix", f"shape ({len(user_map)}, {len(item_map)}) matching the id maps",
                 matrix.shape)
        if timestamps is not None and timestamps.shape != (matrix.nnz,):
            fail("timestamps", f"one per stored entry ({matrix.nnz})", timestamps)
        self.matrix = matrix
        self.user_map = user_map
        self.item_map = item_map
        self.timestamps = timestamps
        self.rating_scale = rating_scale

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_arrays(cls, users: Any, items: Any, values: Any = None, *,
                    timestamps: Any = None, dtype: Any = np.float32,
                    duplicates: str = "raise", nonfinite: str = "raise",
                    rating_scale: tuple[float, float] | None = None,
                    user_map: "IdMap | Interactions | None" = None,
                    item_map: "IdMap | None" = None,
                    unknown: str = "raise") -> "Interactions":
        """Build from equal-length arrays of external user ids, item ids and values.

        Parameters
        ----------
        users, items : array-like
            External ids (ints or strings), one per interaction.
        values : array-like, optional
            Ratings or counts; ``None`` means 1 for every pair (implicit feedback).
        timestamps : array-like, optional
            One per interaction (e.g. Unix seconds); enables time-based splits.
        dtype : float32 or float64
            Dtype of the stored values.
        duplicates : {"raise", "last", "sum", "mean", "max"}
            What to do with repeated (user, item) pairs: raise an error naming them, or combine
            them (``"last"`` keeps the last occurrence in input order and its timestamp; the
            others keep the latest timestamp).
        nonfinite : {"raise", "drop"}
            Rows whose value is NaN or ±inf raise an error that counts them and shows the
            first ones, or are dropped.
        rating_scale : (low, high), optional
            Declared scale; a value outside it raises.
        user_map : IdMap or Interactions, optional
            Reuse existing id maps (e.g. a test set that must share the training maps). When an
            ``Interactions`` is given, both its maps are reused. Ids not in a given map follow
            ``unknown``.
        item_map : IdMap, optional
            Reuse an existing item map.
        unknown : {"raise", "drop"}
            With given maps: unknown ids raise, or their rows are dropped.
        """
        check_choice("duplicates", duplicates, DUPLICATE_POLICIES)
        check_choice("nonfinite", nonfinite, NONFINITE_POLICIES)
        check_choice("unknown", unknown, UNKNOWN_POLICIES)
        dtype = check_dtype("dtype", dtype)
        if isinstance(user_map, Interactions):
            user_map, item_map = user_map.user_map, user_map.item_map
        for arg, given in (("user_map", user_map), ("item_map", item_map)):
            if given is not None and not isinstance(given, IdMap):
                fail(arg, "an IdMap (or, for user_map, an Interactions) or None", given,
                     type_error=True)
        if rating_scale is not None:
            rating_scale = _check_scale(rating_scale)
        users = normalize_ids("users", users)
        items = normalize_ids("items", items)
        n = users.size
        if items.size != n:
            fail("items", f"the same length as users ({n})", items)
        if values is None:
            values = np.ones(n, dtype=dtype)
        values = np.asarray(values)
        if values.ndim != 1 or values.size != n:
            fail("values", f"a one-dimensional array of length {n} (as users)", values)
        if values.dtype.kind not in "biuf":
            fail("values", "numeric values", values, type_error=True)
        if timestamps is not None:
            timestamps = np.asarray(timestamps)
            if timestamps.ndim != 1 or timestamps.size != n:
                fail("timestamps", f"a one-dimensional array of length {n}", timestamps)
            if timestamps.dtype.kind not in "iuf" and timestamps.dtype.kind != "M":
                fail("timestamps", "numeric or datetime64 timestamps", timestamps,
                     type_error=True)
            finite_ts = (~np.isnat(timestamps) if timestamps.dtype.kind == "M"
                         else np.isfinite(timestamps) if timestamps.dtype.kind == "f" else None)
            if timestamps.dtype.kind == "M":
                timestamps = timestamps.astype("datetime64[s]").astype(np.int64)

        keep = None
        if values.dtype.kind == "f":
            finite = np.isfinite(values)
            if not finite.all():
                bad = np.flatnonzero(~finite)
                if nonfinite == "raise":
                    fail("values", "finite values (pass nonfinite='drop' to drop such rows)",
                         Detail(f"{bad.size} NaN/inf values: " + _show_rows(
                             bad, ("user", users), ("item", items), ("value", values))))
                keep = finite
        if timestamps is not None and finite_ts is not None and not finite_ts.all():
            bad = np.flatnonzero(~finite_ts)
            if nonfinite == "raise":
                fail("timestamps", "finite timestamps (pass nonfinite='drop' to drop such rows)",
                     Detail(f"{bad.size} NaN/inf/NaT timestamps: " + _show_rows(
                         bad, ("user", users), ("item", items))))
            keep = finite_ts if keep is None else keep & finite_ts
        if rating_scale is not None:
            lo, hi = rating_scale
            ok = (values >= lo) & (values <= hi)
            if keep is not None:
                ok |= ~keep
            if not ok.all():
                bad = np.flatnonzero(~ok)
                fail("values", f"values within rating_scale [{lo}, {hi}]",
                     Detail(f"{bad.size} values outside: " + _show_rows(
                         bad, ("user", users), ("item", items), ("value", values))))
            rating_scale = (lo, hi)
        if keep is not None:
            users, items, values = users[keep], items[keep], values[keep]
            if timestamps is not None:
                timestamps = timestamps[keep]

        if user_map is None:
            user_map, u = IdMap.from_values("users", users)
        else:
            u = user_map.to_index(users, name="users", missing="raise" if unknown == "raise"
                                  else "ignore")
        if item_map is None:
            item_map, i = IdMap.from_values("items", items)
        else:
            i = item_map.to_index(items, name="items", missing="raise" if unknown == "raise"
                                  else "ignore")
        if unknown == "drop":
            ok = (u >= 0) & (i >= 0)
            if not ok.all():
                u, i, values = u[ok], i[ok], values[ok]
                users, items = users[ok], items[ok]
                if timestamps is not None:
                    timestamps = timestamps[ok]
        matrix, ts = _build_csr(u, i, values, timestamps, len(user_map), len(item_map),
                                dtype, duplicates, users, items)
        return cls(matrix, user_map, item_map, ts, rating_scale)

    @classmethod
    def from_dataframe(cls, df: Any, user_col: str = "user", item_col: str = "item",
                       value_col: str | None = "rating", timestamp_col: str | None = None,
                       **kwargs: Any) -> "Interactions":
        """Build from a pandas DataFrame; column names are selectable.

        ``value_col=None`` means implicit feedback (every value 1). Remaining keyword arguments
        go to :meth:`from_arrays`.
        """
        if not hasattr(df, "columns") or not hasattr(df, "__getitem__"):
            fail("df", "a pandas DataFrame", df, type_error=True)
        for arg, col in (("user_col", user_col), ("item_col", item_col),
                         ("value_col", value_col), ("timestamp_col", timestamp_col)):
            if col is None and arg in ("user_col", "item_col"):
                fail(arg, f"a column of the DataFrame ({list(df.columns)})", col)
            try:
                missing = col is not None and col not in df.columns
            except TypeError:  # unhashable
                missing = True
            if missing:
                fail(arg, f"a column of the DataFrame ({list(df.columns)})", col)
        return cls.from_arrays(
            df[user_col].to_numpy(), df[item_col].to_numpy(),
            None if value_col is None else df[value_col].to_numpy(),
            timestamps=None if timestamp_col is None else df[timestamp_col].to_numpy(),
            **kwargs)

    @classmethod
    def from_sparse(cls, matrix: Any, user_ids: Any = None, item_ids: Any = None,
                    **kwargs: Any) -> "Interactions":
        """Build from any scipy.sparse matrix or array (user×item).

        Stored entries are interactions (stored zeros included); duplicate entries of a
        non-canonical matrix follow the ``duplicates`` policy (default ``"raise"``).
        ``user_ids``/``item_ids`` name the rows/columns (default 0..n-1).

        A CSR matrix that is already canonical (sorted indices, no duplicates), with default
        ids, values of the requested dtype and none of ``timestamps``/``user_map``/
        ``item_map``/``nonfinite="drop"`` is used as is: its arrays are shared, not copied (a
        100M-entry matrix would otherwise take several times its size while converting).
        fastl2 never writes to them.
        """
        check_sparse("matrix", matrix)
        if user_ids is None and item_ids is None:
            shared = cls._shared_csr(matrix, **kwargs)
            if shared is not None:
                return shared
        coo = sp.coo_matrix(matrix)
        n_users, n_items = coo.shape
        umap = IdMap.range(n_users) if user_ids is None else IdMap(user_ids, name="user_ids")
        imap = IdMap.range(n_items) if item_ids is None else IdMap(item_ids, name="item_ids")
        if len(umap) != n_users:
            fail("user_ids", f"{n_users} ids (one per row)", len(umap))
        if len(imap) != n_items:
            fail("item_ids", f"{n_items} ids (one per column)", len(imap))
        return cls.from_arrays(umap.ids[coo.row], imap.ids[coo.col], coo.data,
                               user_map=umap, item_map=imap, **kwargs)

    @classmethod
    def _shared_csr(cls, matrix: Any, dtype: Any = np.float32, nonfinite: str = "raise",
                    rating_scale: tuple[float, float] | None = None,
                    duplicates: str = "raise", **other: Any) -> "Interactions | None":
        """The no-copy path of :meth:`from_sparse`, or None when it does not apply (then the
        general path validates and converts)."""
        if other or nonfinite != "raise" or matrix.format != "csr":
            return None
        check_choice("duplicates", duplicates, DUPLICATE_POLICIES)  # none in a canonical CSR
        dtype = check_dtype("dtype", dtype)
        if matrix.dtype != dtype or not matrix.has_canonical_format:
            return None
        values = matrix.data
        scale = None if rating_scale is None else _check_scale(rating_scale)
        if not np.isfinite(values).all() or (scale is not None and not (
                values.min(initial=np.inf) >= scale[0]
                and values.max(initial=-np.inf) <= scale[1])):
            return None  # the general path raises with the offending rows shown
        index_dtype = np.int32 if max(matrix.shape[1], values.size) < np.iinfo(np.int32).max \
            else np.int64
        if matrix.indices.dtype != index_dtype or matrix.indptr.dtype != index_dtype:
            return None
        csr = sp.csr_matrix((values, matrix.indices, matrix.indptr), shape=matrix.shape,
                            copy=False)
        csr.has_sorted_indices = True
        return cls(csr, IdMap.range(matrix.shape[0]), IdMap.range(matrix.shape[1]), None, scale)

    # ------------------------------------------------------------------ views
    @property
    def n_users(self) -> int:
        return self.matrix.shape[0]

    @property
    def n_items(self) -> int:
        return self.matrix.shape[1]

    @property
    def shape(self) -> tuple[int, int]:
        return self.matrix.shape

    @property
    def nnz(self) -> int:
        return int(self.matrix.nnz)

    @property
    def user_ids(self) -> np.ndarray:
        """External user id of each row."""
        return self.user_map.ids

    @property
    def item_ids(self) -> np.ndarray:
        """External item id of each column."""
        return self.item_map.ids

    @property
    def values(self) -> np.ndarray:
        return self.matrix.data

    def row_indices(self) -> np.ndarray:
        """Internal user index of every stored entry (CSR order)."""
        return np.repeat(np.arange(self.n_users, dtype=self.matrix.indices.dtype),
                         np.diff(self.matrix.indptr))

    def to_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(external user ids, external item ids, values), one per stored entry."""
        return (self.user_map.ids[self.row_indices()], self.item_map.ids[self.matrix.indices],
                self.matrix.data.copy())

    def select(self, mask: np.ndarray) -> "Interactions":
        """The interactions where ``mask`` (one bool per stored entry, CSR order) is True.

        The result shares the id maps, so its matrix has the same shape.
        """
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (self.nnz,):
            fail("mask", f"a boolean array of length nnz={self.nnz}", mask)
        m = self.matrix
        counts = np.add.reduceat(mask.astype(np.int64), m.indptr[:-1]) if self.nnz else \
            np.zeros(self.n_users, dtype=np.int64)
        counts[np.diff(m.indptr) == 0] = 0  # reduceat quirk on empty rows
        indptr = np.zeros(self.n_users + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        sub = sp.csr_matrix((m.data[mask], m.indices[mask], indptr), shape=m.shape)
        ts = None if self.timestamps is None else self.timestamps[mask]
        return Interactions(sub, self.user_map, self.item_map, ts, self.rating_scale)

    def to_dataframe(self) -> Any:
        """A pandas DataFrame with columns user, item, rating (and timestamp)."""
        import pandas as pd  # deferred: optional dependency (pandas)

        users, items, values = self.to_arrays()
        cols = {"user": users, "item": items, "rating": values}
        if self.timestamps is not None:
            cols["timestamp"] = self.timestamps
        return pd.DataFrame(cols)

    def __repr__(self) -> str:
        return (f"Interactions(n_users={self.n_users}, n_items={self.n_items}, nnz={self.nnz}, "
                f"dtype={self.matrix.dtype})")


def _build_csr(u: np.ndarray, i: np.ndarray, values: np.ndarray, timestamps: np.ndarray | None,
               n_users: int, n_items: int, dtype: np.dtype, duplicates: str,
               users_ext: np.ndarray, items_ext: np.ndarray):
    """Sort (user, item) pairs, apply the duplicate policy and assemble a canonical CSR."""
    n = u.size
    key = u * np.int64(n_items) + i
    if n > 1 and np.all(key[1:] > key[:-1]):
        order = None  # already sorted, no duplicates: the common case of grouped files
        key_s = key
    else:
        order = np.argsort(key, kind="stable")
        key_s = key[order]
    vals = values if order is None else values[order]
    ts = None if timestamps is None else (timestamps if order is None else timestamps[order])
    if n > 1 and order is not None:
        dup = key_s[1:] == key_s[:-1]
        if dup.any():
            if duplicates == "raise":
                first_dup = order[1:][dup]
                fail("duplicates", "unique (user, item) pairs (or a policy: 'last', 'sum', "
                     "'mean', 'max')", Detail(f"{int(dup.sum())} repeated pairs: " + _show_rows(
                         first_dup, ("user", users_ext), ("item", items_ext),
                         ("value", values))))
            starts = np.flatnonzero(np.concatenate(([True], ~dup)))
            ends = np.concatenate((starts[1:], [n])) - 1
            if duplicates == "last":
                new_vals = vals[ends]
            elif duplicates == "max":
                new_vals = np.maximum.reduceat(vals, starts)
            else:
                acc = np.add.reduceat(vals.astype(np.float64), starts)
                if duplicates == "mean":
                    acc = acc / np.diff(np.concatenate((starts, [n])))
                new_vals = acc
            if ts is not None:
                ts = ts[ends] if duplicates == "last" else np.maximum.reduceat(ts, starts)
            key_s, vals = key_s[starts], new_vals
    rows = (key_s // n_items) if n_items else key_s
    cols = key_s - rows * n_items
    indptr = csr_indptr(rows, n_users)
    index_dtype = np.int32 if max(n_items, key_s.size) < np.iinfo(np.int32).max else np.int64
    with np.errstate(over="ignore"):  # reported just below
        data = np.asarray(vals, dtype=dtype)
    if data.size and not (np.isfinite(data.min()) and np.isfinite(data.max())):
        fail("values", f"values representable in {dtype.name} (at most "
             f"{float(np.finfo(dtype).max):.4g} in magnitude, also once duplicates are combined)",
             Detail(f"values from {vals.min()} to {vals.max()}"))
    matrix = sp.csr_matrix((data, cols.astype(index_dtype),
                            indptr.astype(index_dtype)), shape=(n_users, n_items))
    matrix.has_sorted_indices = True
    return matrix, ts
