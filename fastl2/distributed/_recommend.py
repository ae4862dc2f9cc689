"""Top-N recommendations for many users on a Dask cluster, written as a Parquet folder.

The workers score with the model's own :meth:`~fastl2.models.recommend.RecommenderMixin.recommend`:
the client sends the model once to every worker without its per-user arrays (the item side:
item factors, biases, id map and parameters), then one partition of users per task (their
rows of the per-user arrays, their external ids, their rows of ``user_items``). A task puts
its users' rows back into a shallow copy of the item side, so the copy is the same model
restricted to those users, calls ``recommend`` on it and writes its own Parquet file. Every
user's list is computed by the same kernel from the same inputs as ``model.recommend``, so
the output equals it exactly.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import uuid
from typing import Any, NamedTuple

import numpy as np
import scipy.sparse as sp

from .._idmap import IdMap
from .._threads import thread_limit
from .._validation import Detail, check_bool, check_int, check_sparse, fail
from ..interactions import Interactions
from ..models.recommend import RecommenderMixin
from ._cluster import on_worker, workers_of

__all__ = ["recommend_all_to_parquet"]

_MAX_BATCH = 50_000  # users per partition at most when batch_size is not given
_PART = "part-{:05d}.parquet"
_PART_NAME = re.compile(r"part-\d{5,}\.parquet")


class _Part(NamedTuple):
    """One task's users: the number of its file, their external ids, their rows of the
    model's per-user arrays (by attribute name) and of ``user_items`` (None: no filter)."""

    number: int
    ids: np.ndarray
    arrays: dict[str, np.ndarray]
    seen: sp.csr_matrix | None


def recommend_all_to_parquet(model: Any, users: Any, client: Any, path: Any, N: int = 10, *,
                             user_items: Any = None, filter_already_liked_items: bool = True,
                             filter_items: Any = None, include_bias: bool = True,
                             batch_size: int | None = None,
                             overwrite: bool = False) -> dict[str, Any]:
    """Write the top-N items of many users to a Parquet folder, computed on a Dask cluster.

    Each task scores one partition of users with ``model.recommend`` on a worker and writes
    its own file, ``part-00000.parquet``, ``part-00001.parquet``, … (partitions in the order
    of ``users``; within a file, users in that order and each user's items best first). The
    files are written into a hidden sibling folder of ``path`` that is renamed to ``path``
    once every task has succeeded: a failure leaves no partial output.

    Parameters
    ----------
    model : fitted fastl2 model
        ``ImplicitALS``, ``BiasedMF`` or any model with ``recommend``. It is sent once to
        every worker (its per-user arrays, such as ``user_factors_``, go only to the task
        of each user). Each task runs ``model.num_threads`` Numba threads (0: all cores).
    users : array-like or None
        External user ids, as in ``model.user_map_`` (ints or strings), distinct; None for
        every user of the model.
    client : dask.distributed.Client
    path : str or os.PathLike
        The folder to create, in an existing directory. It must be seen at the same path
        by the client and every worker (one machine, or a shared filesystem).
    N : int, default 10
        Items per user (fewer when fewer items are eligible).
    user_items : Interactions or scipy.sparse matrix, optional
        The training data: an ``Interactions`` with the model's id maps, or the users ×
        items matrix in the model's index space. Required when
        ``filter_already_liked_items``; each task receives only its users' rows.
    filter_already_liked_items : bool, default True
        Leave out each user's items in ``user_items``.
    filter_items : array-like, optional
        External item ids never to recommend.
    include_bias : bool, default True
        As in ``recommend``: explicit models rank by the predicted rating, or by p·q alone
        when False.
    batch_size : int, optional
        Users per partition (one task and one file each). Default: the users spread over
        twice the number of workers, at most 50,000 a partition.
    overwrite : bool, default False
        Replace an existing non-empty folder ``path`` that holds only ``part-*.parquet``
        files (an earlier output). Without it, such a folder is refused; a folder holding
        anything else is always refused (nothing but earlier output is ever deleted).

    Returns
    -------
    dict
        ``path`` (absolute), ``files`` (number of part files), ``rows`` (rows written) and
        ``users`` (users scored).

    Notes
    -----
    Columns: ``user`` and ``item`` (external ids, int64 or string as in the id maps),
    ``rank`` (int32, 1-based: 1 is the best item) and ``score`` (the model's dtype, as
    returned by ``recommend``). The rows of a user are exactly the non-padding entries of
    ``model.recommend(model.user_map_.to_index(users), user_items, N=N, ...)``; a user with
    no eligible item has no row. ``pandas.read_parquet(path)`` reads the whole folder.
    """
    rows = _user_rows(model, users)
    N = check_int("N", N, minimum=1)
    options = {"filter_already_liked_items": check_bool("filter_already_liked_items",
                                                        filter_already_liked_items),
               "filter_items": _item_rows(model, filter_items),
               "include_bias": check_bool("include_bias", include_bias)}
    seen = _seen_matrix(model, user_items) if options["filter_already_liked_items"] else None
    path = _check_path(path, check_bool("overwrite", overwrite))
    size = _batch_size(batch_size, rows.size, len(workers_of(client)))
    folder = _new_sibling(path, "tmp")
    os.mkdir(folder)
    try:
        counts = _run(client, model, _parts(model, rows, seen, size), folder, N, options)
        _move_into_place(folder, path)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return {"path": path, "files": len(counts), "rows": int(sum(counts)), "users": rows.size}


# ---------------------------------------------------------------------------- arguments
def _user_rows(model: Any, users: Any) -> np.ndarray:
    """The internal indices of ``users`` (all users for None), after checking the model."""
    if not isinstance(model, RecommenderMixin):
        fail("model", "a fitted fastl2 model with recommend (ImplicitALS, BiasedMF, ...)",
             model, type_error=True)
    model._check_fitted()
    if users is None:
        return np.arange(len(model.user_map_), dtype=np.int64)
    rows = model.user_map_.to_index(users, name="users")
    if rows.size == 0:
        fail("users", "at least one user id (or None for every user)", users)
    repeated = rows.size - np.unique(rows).size
    if repeated:
        fail("users", "distinct user ids", Detail(f"{repeated} repeated ids"))
    return rows


def _item_rows(model: Any, filter_items: Any) -> np.ndarray | None:
    if filter_items is None:
        return None
    return model.item_map_.to_index(filter_items, name="filter_items")


def _seen_matrix(model: Any, user_items: Any) -> sp.csr_matrix:
    """``user_items`` as the users × items CSR matrix in the model's index space."""
    shape = (len(model.user_map_), len(model.item_map_))
    if isinstance(user_items, Interactions):
        if user_items.user_map != model.user_map_ or user_items.item_map != model.item_map_:
            fail("user_items", "an Interactions with the model's id maps (e.g. its training "
                 "data)", Detail(f"{user_items.n_users} users × {user_items.n_items} items "
                                 "with other ids"))
        return user_items.matrix
    if user_items is None:
        fail("user_items", "the training data (an Interactions or the users × items matrix) "
             "when filter_already_liked_items=True", None)
    check_sparse("user_items", user_items)
    if user_items.shape != shape:
        fail("user_items", f"a users × items matrix of shape {shape} (the model's)",
             Detail(f"shape {user_items.shape}"))
    return sp.csr_matrix(user_items)


def _check_path(path: Any, overwrite: bool) -> str:
    """The absolute path of the output folder, checked writable without losing files."""
    try:
        path = os.path.abspath(os.fspath(path))
    except TypeError:
        fail("path", "a folder path (str or os.PathLike)", path, type_error=True)
    if not os.path.isdir(os.path.dirname(path)):
        fail("path", "a folder in an existing directory", Detail(repr(path)))
    if os.path.islink(path) or (os.path.lexists(path) and not os.path.isdir(path)):
        fail("path", "a folder (not a file or a link)", Detail(repr(path)))
    found = sorted(os.listdir(path)) if os.path.isdir(path) else []
    foreign = [name for name in found if not _PART_NAME.fullmatch(name)]
    if foreign:
        fail("path", "a new or empty folder, or one holding only part-*.parquet files with "
             "overwrite=True", Detail(f"{path!r}, which holds {foreign[:3]}"))
    if found and not overwrite:
        fail("path", "a new or empty folder, or overwrite=True to replace an earlier output",
             Detail(f"{path!r}, which holds {len(found)} part files"))
    return path


def _batch_size(batch_size: int | None, n_users: int, n_workers: int) -> int:
    if batch_size is None:
        return max(1, min(_MAX_BATCH, -(-n_users // (2 * n_workers))))
    return check_int("batch_size", batch_size, minimum=1)


# ---------------------------------------------------------------------------- on the client
def _user_arrays(model: Any) -> list[str]:
    """Names of the model's fitted per-user arrays (``user_factors_``, ``user_bias_``...):
    attributes ``user_*_`` holding an array with one row per user."""
    n = len(model.user_map_)
    return [name for name, value in vars(model).items()
            if name.startswith("user_") and name.endswith("_")
            and isinstance(value, np.ndarray) and value.ndim and value.shape[0] == n]


def _item_side(model: Any) -> Any:
    """A shallow copy of the model without users (no rows in its per-user arrays)."""
    shell = copy.copy(model)
    for name in _user_arrays(model):
        setattr(shell, name, getattr(model, name)[:0])
    shell.user_map_ = IdMap(model.user_map_.ids[:0])
    # a fresh cache, shared by the copies a worker makes: Yᵀ is formed once per worker
    shell._unit_cache = {}
    return shell


def _parts(model: Any, rows: np.ndarray, seen: sp.csr_matrix | None,
           size: int) -> list[_Part]:
    names = _user_arrays(model)
    return [_Part(number, model.user_map_.ids[part],
                  {name: getattr(model, name)[part] for name in names},
                  None if seen is None else seen[part])
            for number, part in enumerate(np.split(rows, range(size, rows.size, size)))]


def _run(client: Any, model: Any, parts: list[_Part], folder: str, N: int,
         options: dict[str, Any]) -> list[int]:
    """Send the item side to every worker and a task per partition; their row counts."""
    from distributed import wait  # deferred: optional dependency (dask.distributed)

    shell = client.scatter(_item_side(model), broadcast=True, hash=False)
    futures = [on_worker(client, None, _write_part, shell, part, folder, N, options)
               for part in client.scatter(parts, hash=False)]
    wait(futures)  # every task ended (no file still being written) before gather may raise
    return client.gather(futures)


def _new_sibling(path: str, suffix: str) -> str:
    """An unused hidden name next to ``path``."""
    head, name = os.path.split(path)
    return os.path.join(head, f".{name}.{uuid.uuid4().hex[:12]}.{suffix}")


def _move_into_place(folder: str, path: str) -> None:
    """Rename ``folder`` to ``path``; an existing ``path`` (checked: empty or earlier output)
    is moved aside first, put back if the rename fails, and removed after."""
    if not os.path.lexists(path):
        os.rename(folder, path)
        return
    old = _new_sibling(path, "old")
    os.rename(path, old)
    try:
        os.rename(folder, path)
    except BaseException:
        os.rename(old, path)
        raise
    shutil.rmtree(old)


# ---------------------------------------------------------------------------- on a worker
def _write_part(shell: Any, part: _Part, folder: str, N: int, options: dict[str, Any]) -> int:
    """The task: ``recommend`` for the partition's users, written to its file; the number
    of rows written."""
    try:  # deferred: optional dependency (pyarrow), on the worker
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise ImportError("fastl2.distributed.recommend_all_to_parquet needs pyarrow on every "
                          "worker: pip install \"fastl2[dask]\"") from exc
    if not os.path.isdir(folder):
        fail("path", "a folder that the client and every worker see at the same path (one "
             "machine or a shared filesystem)", Detail(f"{folder!r} missing on a worker"))
    model = copy.copy(shell)
    for name, value in part.arrays.items():
        setattr(model, name, value)
    model.user_map_ = IdMap(part.ids)
    with thread_limit(getattr(model, "num_threads", 0)):
        ids, scores = model.recommend(np.arange(part.ids.size), part.seen, N=N, **options)
    table = _table(part.ids, ids, scores, model.item_map_.ids)
    pq.write_table(table, os.path.join(folder, _PART.format(part.number)))
    return table.num_rows


def _table(users: np.ndarray, ids: np.ndarray, scores: np.ndarray, item_ids: np.ndarray) -> Any:
    """The (user, rank, item, score) rows of ``recommend``'s padded (n, N) output."""
    import pyarrow as pa  # deferred: optional dependency (pyarrow)

    keep = ids >= 0  # padding (-1) only ever trails a row
    row, col = np.nonzero(keep)
    return pa.table({"user": users[row], "rank": (col + 1).astype(np.int32),
                     "item": item_ids[ids[keep]], "score": scores[keep]})
