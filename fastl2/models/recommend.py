"""Top-N recommendation and similar items/users, shared by every fitted model.

Ids: like ``implicit``, ``recommend``, ``similar_*`` and ``partial_fit_*`` take and return
*internal* indices (rows of ``user_factors_`` / ``item_factors_``, i.e. positions in
``user_map_.ids`` / ``item_map_.ids``). ``recommend_for`` is the same by *external* ids (those
of the training data). Translate by hand with ``model.user_map_.to_index(ids)`` and
``model.item_map_.to_ids(indices)``.

Thread safety: a fitted model may serve ``recommend``, ``similar_*`` and ``predict`` from many
Python threads at once (the kernels release the GIL and allocate their scratch per call). The
only state written by these calls is the per-model cache of normalized and transposed factors;
it is filled under a lock, once, so concurrent first calls share one copy. Fitting, loading or
``partial_fit_*`` while other threads query the same model is not supported.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp

from .._idmap import normalize_ids
from .._kernels import topk as topk_kernels
from .._validation import Detail, check_int, check_sparse, fail
from ..interactions import Interactions

_BATCH = 4096  # query rows per kernel call: output memory is bounded by _BATCH × N
_CACHE_LOCK = threading.Lock()  # fills of the per-model factor caches (RecommenderMixin._cached)


def _indices(name: str, value: Any, n: int) -> tuple[np.ndarray, bool]:
    """Internal indices as int64 (scalar → 1 element, flagged), each in [0, n)."""
    arr = np.asarray(value)  # also a buffer (implicit's evaluation passes Cython memoryviews)
    scalar = arr.ndim == 0
    arr = np.atleast_1d(arr)
    if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
        fail(name, "an integer index or a 1-D array of integer indices", value, type_error=True)
    bad = (arr < 0) | (arr >= n)  # before the int64 cast: a uint64 beyond 2**63 would wrap
    if bad.any():
        fail(name, f"indices in [0, {n})", Detail(f"{arr[bad][:5].tolist()} "
                                                  f"({int(bad.sum())} out of range)"),
             index_error=True)
    return arr.astype(np.int64), scalar


def _item_filter(n_items: int, filter_items: Any, items: Any,
                 names: tuple[str, str] = ("filter_items", "items")):
    banned = np.zeros(n_items, dtype=np.uint8)
    if filter_items is not None:
        banned[_indices(names[0], filter_items, n_items)[0]] = 1
    if items is None:
        return banned, np.zeros(0, dtype=np.int64), True
    if filter_items is not None:
        fail(names[1], f"None when {names[0]} is given (use one of the two)", items)
    return banned, np.unique(_indices(names[1], items, n_items)[0]), False


def _transposed_hint(shape: tuple[int, int], n_columns: int, rows: str, columns: str) -> str:
    """An error-message suffix when a matrix looks given the wrong way round."""
    if shape[0] == n_columns and shape[1] != n_columns:
        return f", which looks transposed ({columns} × {rows} instead of {rows} × {columns})"
    return ""


def _with_columns(name: str, m: sp.csr_matrix, n_columns: int, rows: str,
                  columns: str) -> sp.csr_matrix:
    """``m`` with ``n_columns`` columns: fewer are read as the first ones (a matrix built
    before the model grew, as ``implicit`` accepts), more are refused."""
    if m.shape[1] > n_columns:
        fail(name, f"at most {n_columns} columns (the model's {columns})",
             Detail(f"shape {m.shape}" + _transposed_hint(m.shape, n_columns, rows, columns)))
    if m.shape[1] < n_columns:
        m = sp.csr_matrix((m.data, m.indices, m.indptr), shape=(m.shape[0], n_columns))
    return m


def _liked_last(ids, scores, rows_matrix, candidates, N):
    """``implicit``'s ranking of given items: the candidates a user has not interacted with,
    best first, then those they have (score -inf), so every candidate is ranked."""
    out_ids = np.full((ids.shape[0], N), -1, dtype=ids.dtype)
    out_scores = np.full((ids.shape[0], N), -np.inf, dtype=scores.dtype)
    for r in range(ids.shape[0]):
        kept = ids[r][ids[r] >= 0]
        liked = np.intersect1d(rows_matrix.indices[rows_matrix.indptr[r]:
                                                   rows_matrix.indptr[r + 1]], candidates)
        ranked = np.concatenate([kept, liked.astype(ids.dtype)])[:N]
        out_ids[r, :ranked.size] = ranked
        out_scores[r, :kept.size] = scores[r][:kept.size][:N]
    return out_ids, out_scores


def _unit_rows(F: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(F.astype(np.float64), axis=1)
    norms[norms == 0] = 1.0
    return (F / norms[:, None]).astype(F.dtype)


class RecommenderMixin:
    """``recommend``, ``similar_items``, ``similar_users`` for a model exposing
    ``_query_parts(include_bias)`` (user vectors, item vectors, user offsets, item bias) and,
    for ``recalculate_user``, ``_fold_in_users(user_items)``."""

    def _cached(self, key: Any, source: np.ndarray,
                make: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """``make(source)``, computed once and kept in the model's cache (dropped with the
        fitted state by every fit, load and partial fit; recomputed if ``source`` is replaced).

        The first caller computes it under a lock; concurrent callers wait and share that
        array, so many threads starting to query a model never hold duplicate copies."""
        cache = self.__dict__.setdefault("_unit_cache", {})
        hit = cache.get(key)
        if hit is None or hit[0] is not source:
            with _CACHE_LOCK:
                hit = cache.get(key)
                if hit is None or hit[0] is not source:
                    hit = (source, make(source))
                    cache[key] = hit
        return hit[1]

    def _unit_factors(self, which: str) -> np.ndarray:
        """L2-normalized user or item factors, computed once per fit and cached."""
        return self._cached(which, getattr(self, f"{which}_factors_"), _unit_rows)

    def _transposed(self, Y: np.ndarray) -> np.ndarray:
        """Y.T as a contiguous array, cached with the fitted state (item factors or their
        normalized copies)."""
        return self._cached(("T", id(Y)), Y, lambda a: np.ascontiguousarray(a.T))

    def _select(self, Q, rows, offset, Y, bias, skip: sp.csr_matrix, banned, candidates,
                all_items, N):
        """Top-``min(N, number of candidates)`` per row: no heap or output column is ever
        allocated for slots that could only hold padding (see :meth:`_result`)."""
        n = rows.size
        N = min(N, Y.shape[0] if all_items else candidates.size)
        # int32 ids like implicit (its evaluation code reads them into C ints)
        ids = np.empty((n, N), dtype=np.int32 if Y.shape[0] < 2**31 else np.int64)
        scores = np.empty((n, N), dtype=Y.dtype)
        ptr = skip.indptr.astype(np.int64)
        idx = skip.indices  # int32 or int64 as stored: no copy of a large matrix
        YT = self._transposed(Y)
        for start in range(0, n, _BATCH):
            stop = min(n, start + _BATCH)
            sub_ptr = ptr[start:stop + 1] - ptr[start]
            topk_kernels.topk_rows(Q, rows[start:stop], offset[start:stop], YT, bias, candidates,
                                   all_items, sub_ptr, idx[ptr[start]:ptr[stop]], banned, N,
                                   ids[start:stop], scores[start:stop])
        return ids, scores

    @staticmethod
    def _result(ids, scores, scalar, N):
        """1-D trimmed arrays for a scalar query, else (n, N) arrays padded with -1/-inf."""
        if scalar:
            keep = ids[0] >= 0
            return ids[0][keep], scores[0][keep]
        if ids.shape[1] < N:
            pad = ((0, 0), (0, N - ids.shape[1]))
            ids = np.pad(ids, pad, constant_values=-1)
            scores = np.pad(scores, pad, constant_values=-np.inf)
        return ids, scores

    def recommend(self, userid: Any, user_items: Any = None, N: int = 10,
                  filter_already_liked_items: bool = True, filter_items: Any = None,
                  recalculate_user: bool = False, items: Any = None,
                  include_bias: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Top-N items for one user or a batch (``implicit`` 0.7 semantics).

        Parameters
        ----------
        userid : int or 1-D array of int
            Internal user indices.
        user_items : scipy.sparse matrix, optional
            One row per entry of ``userid``, as in ``implicit`` (a matrix with as many rows as
            ``userid`` is always read that way); or the full users × items training matrix,
            giving the items to filter and, with ``recalculate_user``, the interactions to fold
            in. Required when ``filter_already_liked_items`` or ``recalculate_user``.
        N : int
        filter_already_liked_items : bool
            Skip the items in the user's row of ``user_items``.
        filter_items : array of int, optional
            Items never to return.
        recalculate_user : bool
            Solve the users' factors from ``user_items`` against the fixed item factors (one
            exact ALS half-step) instead of using the stored rows — for new or changed users.
        items : array of int, optional
            Rank only these items (exclusive with ``filter_items``), as ``implicit``'s "rank
            items": every one of them is returned (N is capped at their number), those in the
            user's row last with score -inf when ``filter_already_liked_items``. An id out of
            range raises :class:`~fastl2.errors.InputIndexError` (a ``ValueError`` and an
            ``IndexError``).
        include_bias : bool, default True
            Explicit models: rank by the predicted rating (μ + b_u + b_i + p·q). False ranks by
            p·q only, which removes the pull of globally popular, highly rated items (b_i) and
            gives more personal lists.

        Returns
        -------
        (ids, scores)
            1-D arrays for a scalar ``userid`` (fewer than N when fewer items are eligible),
            else 2-D (n, N) arrays padded with id -1 and score -inf. Ids are int32 (int64
            beyond 2**31 items), scores in the factors' dtype.
        """
        self._check_fitted()
        N = check_int("N", N, minimum=0)
        n_users = self.user_factors_.shape[0]
        n_items = self.item_factors_.shape[0]
        # with recalculate_user the rows come from user_items: any index >= 0 is fine
        users, scalar = _indices("userid", userid,
                                 n_users if not recalculate_user else np.iinfo(np.int64).max)
        rows_matrix = None
        if user_items is not None or filter_already_liked_items or recalculate_user:
            rows_matrix = self._user_rows(user_items, users, n_users, n_items)
        banned, candidates, all_items = _item_filter(n_items, filter_items, items)
        X, Y, user_offset, item_bias = self._query_parts(include_bias)
        if recalculate_user:
            X, user_offset = self._fold_in_users(rows_matrix, include_bias)
            query_rows = np.arange(users.size, dtype=np.int64)
            offset = user_offset
        else:
            query_rows = users
            offset = user_offset[users]
        skip = rows_matrix if (filter_already_liked_items and rows_matrix is not None) else \
            sp.csr_matrix((users.size, n_items))
        ids, scores = self._select(X, query_rows, np.ascontiguousarray(offset, dtype=Y.dtype),
                                   Y, item_bias, skip, banned, candidates, all_items, N)
        if not all_items:
            N = min(N, candidates.size)
            if filter_already_liked_items and rows_matrix is not None:
                ids, scores = _liked_last(ids, scores, rows_matrix, candidates, N)
        return self._result(ids, scores, scalar, N)

    def _user_rows(self, user_items, users, n_users, n_items) -> sp.csr_matrix:
        if user_items is None:
            fail("user_items", "a sparse users × items matrix when filter_already_liked_items "
                 "or recalculate_user is set", None)
        check_sparse("user_items", user_items)
        m = _with_columns("user_items", sp.csr_matrix(user_items), n_items, "users", "items")
        if m.shape[0] != users.size:
            if m.shape[0] == n_users:
                m = m[users]
            else:
                fail("user_items", f"one row per userid ({users.size}) or the full training "
                     f"matrix ({n_users} rows)", Detail(f"shape {m.shape}"))
        if not m.has_canonical_format:
            m = m.copy()
            m.sum_duplicates()
        return m

    def _similar(self, which: str, ids: Any, N: int, filter_items: Any, items: Any,
                 recalculated: Any = None):
        self._check_fitted()
        F = self._unit_factors(which)
        rows, scalar = _indices(f"{which}id", ids, F.shape[0] if recalculated is None
                                else np.iinfo(np.int64).max)
        names = ("filter_items", "items") if which == "item" else ("filter_users", "users")
        banned, candidates, all_items = _item_filter(F.shape[0], filter_items, items, names)
        N = check_int("N", N, minimum=0)
        Q = F
        if recalculated is not None:  # queries solved from interactions, compared normalized
            Q = _unit_rows(np.ascontiguousarray(recalculated(rows), dtype=F.dtype))
            rows = np.arange(rows.size, dtype=np.int64)
        out = self._select(Q, rows, np.zeros(rows.size, F.dtype), F,
                           np.zeros(F.shape[0], F.dtype), sp.csr_matrix((rows.size, F.shape[0])),
                           banned, candidates, all_items, N)
        return self._result(*out, scalar, N)

    def recommend_for(self, users: Any, seen: Any = None, N: int = 10,
                      **kwargs: Any) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`recommend` by *external* ids: ``users`` are ids as in the training data,
        ``seen`` an :class:`~fastl2.Interactions` sharing the model's id maps (e.g. the
        training data) whose items are filtered; returns external item ids (an object array
        padded with None for batches) and scores. Other keyword arguments go to
        :meth:`recommend`."""
        self._check_fitted()
        rows = self.user_map_.to_index(users, name="users")
        scalar = np.ndim(users) == 0
        if seen is None:
            kwargs.setdefault("filter_already_liked_items", False)
            user_items = None
        else:
            if not isinstance(seen, Interactions):
                fail("seen", "an Interactions sharing the model's id maps", seen,
                     type_error=True)
            if (len(seen.user_map) != len(self.user_map_)
                    or len(seen.item_map) != len(self.item_map_)
                    or not np.array_equal(seen.item_map.ids, self.item_map_.ids)):
                fail("seen", "an Interactions with the model's id maps (e.g. its training "
                     "data)", Detail(f"{seen.n_users} users × {seen.n_items} items"))
            user_items = seen.matrix[np.atleast_1d(rows)]
        ids, scores = self.recommend(rows[0] if scalar else rows, user_items, N=N, **kwargs)
        if scalar:
            return self.item_map_.to_ids(ids), scores
        out = np.full(ids.shape, None, dtype=object)
        ok = ids >= 0
        out[ok] = self.item_map_.to_ids(ids[ok])
        return out, scores

    # ------------------------------------------------------------------ partial fit
    def partial_fit_users(self, userids: Any, user_items: Any,
                          new_user_ids: Any = None) -> "RecommenderMixin":
        """Solve some users' factors (and bias) exactly from their interactions against the
        fixed item factors — one ALS half-step for those rows — without retraining.

        Parameters
        ----------
        userids : int or 1-D array of int
            Internal indices (as ``implicit``). Indices at or beyond the current number of users
            add users: the factor matrix grows to ``max(userids) + 1`` rows (rows not listed
            stay zero) and the id map grows too.
        user_items : scipy.sparse matrix
            One row per entry of ``userids``, items as columns.
        new_user_ids : array-like, optional
            External ids of the added rows, in index order. Default, for integer id maps only:
            consecutive integers after the largest existing id.
        """
        return self._partial_fit("user", userids, user_items, new_user_ids)

    def partial_fit_items(self, itemids: Any, item_users: Any,
                          new_item_ids: Any = None) -> "RecommenderMixin":
        """The item-side twin of :meth:`partial_fit_users` (``item_users``: one row per
        entry of ``itemids``, users as columns)."""
        return self._partial_fit("item", itemids, item_users, new_item_ids)

    def _interaction_rows(self, which: str, idx: np.ndarray, matrix: Any, id_name: str,
                          mat_name: str) -> sp.csr_matrix:
        """``matrix`` checked as one CSR row of interactions per entry of ``idx`` (a private
        copy, duplicates summed), with the other side's columns (fewer are padded)."""
        other = "item" if which == "user" else "user"
        n_other = getattr(self, f"{other}_factors_").shape[0]
        if matrix is None:
            fail(mat_name, f"a sparse matrix with one row per {id_name} entry", None)
        check_sparse(mat_name, matrix)
        rows = sp.csr_matrix(matrix)
        if rows.shape[0] != idx.size:
            fail(mat_name, f"{idx.size} rows: one per {id_name} entry",
                 Detail(f"shape {rows.shape}" + _transposed_hint(rows.shape, n_other,
                                                                  f"{which}s", f"{other}s")))
        rows = _with_columns(mat_name, rows, n_other, f"{which}s", f"{other}s").copy()
        rows.sum_duplicates()
        return rows

    def _partial_fit(self, which: str, ids: Any, matrix: Any, new_ids: Any):
        self._check_fitted()
        id_name = f"{which}ids"
        mat_name = "user_items" if which == "user" else "item_users"
        F = getattr(self, f"{which}_factors_")
        n = F.shape[0]
        idx = np.atleast_1d(np.asarray(ids))
        if idx.ndim != 1 or (idx.size and not np.issubdtype(idx.dtype, np.integer)):
            fail(id_name, "integer indices", ids, type_error=True)
        if idx.size and idx.min() < 0:
            fail(id_name, "indices >= 0", Detail(f"{idx[idx < 0][:5].tolist()}"))
        if idx.size and idx.max() >= np.iinfo(np.int64).max:  # uint64 beyond int64
            fail(id_name, "indices below 2**63 - 1", Detail(f"{idx.max()}"))
        idx = idx.astype(np.int64)
        if np.unique(idx).size != idx.size:
            fail(id_name, "distinct indices", Detail("repeated indices"))
        rows = self._interaction_rows(which, idx, matrix, id_name, mat_name)
        vectors, bias = self._solve_rows(which, rows)
        n_new = max(n, int(idx.max()) + 1 if idx.size else n)
        id_map = getattr(self, f"{which}_map_")
        if n_new > n:
            count = n_new - n
            if new_ids is None:
                if not np.issubdtype(id_map.ids.dtype, np.integer):
                    fail(f"new_{which}_ids", f"external ids for the {count} added rows "
                         "(the id map holds non-integer ids)", None)
                start = int(id_map.ids.max()) + 1 if len(id_map) else 0
                new = np.arange(start, start + count, dtype=id_map.ids.dtype)
            else:
                new = normalize_ids(f"new_{which}_ids", new_ids)
                if new.size != count:
                    fail(f"new_{which}_ids", f"{count} ids (rows {n}..{n_new - 1})",
                         Detail(f"{new.size} ids"))
                if (id_map.to_index(new, missing="ignore") >= 0).any() or \
                        np.unique(new).size != new.size:
                    fail(f"new_{which}_ids", "ids not already in the model", new_ids)
            # every check (extend refuses ids of another kind) before the model changes
            grown_map = id_map.extend(new, name=f"new_{which}_ids")
            grown = np.zeros((n_new, F.shape[1]), dtype=F.dtype)
            grown[:n] = F
            setattr(self, f"{which}_factors_", grown)
            bias_attr = f"{which}_bias_"
            if hasattr(self, bias_attr):
                b = getattr(self, bias_attr)
                setattr(self, bias_attr, np.concatenate([b, np.zeros(count, dtype=b.dtype)]))
            setattr(self, f"{which}_map_", grown_map)
        getattr(self, f"{which}_factors_")[idx] = vectors
        if bias is not None:
            getattr(self, f"{which}_bias_")[idx] = bias
        self.__dict__.pop("_unit_cache", None)  # norms and transposes are stale now
        return self

    def similar_items(self, itemid: Any, N: int = 10, recalculate_item: bool = False,
                      item_users: Any = None, filter_items: Any = None,
                      items: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Most similar items by cosine similarity of L2-normalized item factors (norms
        computed once per fit and cached). The item itself comes first with score 1, as in
        ``implicit``; pass ``filter_items=[itemid]`` to exclude it. Same return shapes as
        :meth:`recommend`; the parameters are ``implicit``'s, in its order.

        Parameters
        ----------
        itemid : int or 1-D array of int
        N : int
        recalculate_item : bool
            Solve the query items' factors from ``item_users`` against the fixed user factors
            (:meth:`partial_fit_items`' solve, nothing stored) — for new or changed items.
        item_users : scipy.sparse matrix, optional
            One row per entry of ``itemid``, users as columns; read only with
            ``recalculate_item``.
        filter_items, items : array of int, optional
            Items never to return, or the only ones to rank (one of the two).
        """
        recalculated = None
        if recalculate_item:
            def recalculated(rows: np.ndarray) -> np.ndarray:
                return self._solve_rows("item", self._interaction_rows(
                    "item", rows, item_users, "itemid", "item_users"))[0]
        return self._similar("item", itemid, N, filter_items, items, recalculated)

    def similar_users(self, userid: Any, N: int = 10, filter_users: Any = None,
                      users: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Most similar users by cosine similarity of L2-normalized user factors."""
        return self._similar("user", userid, N, filter_users, users)
