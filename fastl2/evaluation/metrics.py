"""Rating metrics (:func:`rmse`, :func:`mae`) and ranking metrics of a fitted model's top-K
lists (:func:`ranking_metrics_at_k`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from .._kernels import metrics as metric_kernels
from .._threads import thread_limit
from .._validation import Detail, as_1d, check_int, describe, fail
from ..interactions import Interactions

__all__ = ["rmse", "mae", "ranking_metrics_at_k"]


def _check_pair(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    arrays = []
    for name, value in (("y_true", y_true), ("y_pred", y_pred)):
        arr = as_1d(name, value)
        if arr.dtype.kind not in "biuf":
            fail(name, "numeric values", arr, type_error=True)
        arr = arr.astype(np.float64, copy=False)
        if arr.size == 0:
            fail(name, "a non-empty array", arr)
        if not np.isfinite(arr).all():
            bad = int((~np.isfinite(arr)).sum())
            fail(name, "finite values", Detail(f"{bad} NaN/inf values in {describe(arr)}"))
        arrays.append(arr)
    if arrays[0].size != arrays[1].size:
        fail("y_pred", f"the same length as y_true ({arrays[0].size})", arrays[1])
    return arrays[0], arrays[1]


def rmse(y_true: Any, y_pred: Any) -> float:
    """Root mean squared error ``sqrt(mean((y_true - y_pred) ** 2))``, computed in float64.

    Parameters
    ----------
    y_true, y_pred : array-like
        One-dimensional, numeric, finite, non-empty, of equal length.

    Returns
    -------
    float

    Raises
    ------
    InputValueError
        On empty input, non-finite values or unequal lengths.
    InputTypeError
        On non-numeric input.
    """
    t, p = _check_pair(y_true, y_pred)
    return float(np.sqrt(np.mean((t - p) ** 2)))


def mae(y_true: Any, y_pred: Any) -> float:
    """Mean absolute error ``mean(|y_true - y_pred|)``, computed in float64; inputs, result
    and errors as :func:`rmse`'s."""
    t, p = _check_pair(y_true, y_pred)
    return float(np.mean(np.abs(t - p)))


# ---------------------------------------------------------------------------- ranking
def _user_item_csr(name: str, value: Any, shape: tuple[int, int]):
    if isinstance(value, Interactions):
        value = value.matrix
    if not sp.issparse(value):
        fail(name, "an Interactions or a scipy.sparse users × items matrix", value,
             type_error=True)
    m = sp.csr_matrix(value)
    if m.shape != shape:
        fail(name, f"shape {shape} (the model's users × items)", Detail(f"shape {m.shape}"))
    if not m.has_canonical_format:  # every stored entry counts, as in implicit
        m = m.copy()
        m.sum_duplicates()
    return m


_EVAL_BATCH = 16384  # users per top-N batch in ranking_metrics_at_k


def ranking_metrics_at_k(model: Any, train_user_items: Any, test_user_items: Any,
                         K: int = 10, show_progress: bool = False,
                         num_threads: int = 0) -> dict[str, float]:
    """Ranking metrics of a fitted model's top-K lists against held-out interactions.

    Same arguments and, for the metrics it shares, the same numbers as
    ``implicit.evaluation.ranking_metrics_at_k`` (definitions in
    :mod:`fastl2._kernels.metrics`). Each user with at least one test item gets the model's
    top K items with their training items filtered (``model.recommend``, parallel top-N
    kernel); the metrics are computed by a parallel kernel.

    Parameters
    ----------
    model : fitted fastl2 model
    train_user_items, test_user_items : Interactions or scipy.sparse (users × items)
        Internal indices of the model (e.g. the two halves of a split of the training
        ``Interactions``).
    K : int
    show_progress : bool
        Accepted for compatibility; the computation is not long enough to need a bar.
    num_threads : int
        0 = all cores.

    Returns
    -------
    dict
        ``precision``, ``map``, ``ndcg``, ``auc`` (implicit's definitions), ``recall``,
        ``hit_rate``, ``mrr``, ``coverage`` (distinct recommended items / items) and
        ``users`` (number of users evaluated).
    """
    model._check_fitted()
    K = check_int("K", K, minimum=1)
    num_threads = check_int("num_threads", num_threads, minimum=0)
    shape = (model.user_factors_.shape[0], model.item_factors_.shape[0])
    train = _user_item_csr("train_user_items", train_user_items, shape)
    test = _user_item_csr("test_user_items", test_user_items, shape)
    users = np.nonzero(np.diff(test.indptr) > 0)[0].astype(np.int64)
    if users.size == 0:
        fail("test_user_items", "at least one user with a test interaction",
             Detail("no stored entries"))
    out = np.empty((users.size, 7), dtype=np.float64)
    seen_items = np.zeros(shape[1], dtype=bool)
    with thread_limit(num_threads):
        # users in batches: memory stays bounded whatever the number of users
        for start in range(0, users.size, _EVAL_BATCH):
            batch = users[start:start + _EVAL_BATCH]
            ids, _ = model.recommend(batch, train[batch], N=K)
            sub = test[batch]
            metric_kernels.user_metrics(ids, sub.indptr.astype(np.int64),
                                        sub.indices.astype(np.int64), shape[1],
                                        out[start:start + batch.size])
            seen_items[ids[ids >= 0]] = True
    recommended = np.nonzero(seen_items)[0]
    return {
        "precision": float(out[:, 0].sum() / out[:, 1].sum()),
        "map": float(out[:, 3].mean()),
        "ndcg": float(out[:, 4].mean()),
        "auc": float(out[:, 5].mean()),
        "recall": float(out[:, 2].mean()),
        "hit_rate": float(np.mean(out[:, 0] > 0)),
        "mrr": float(out[:, 6].mean()),
        "coverage": float(recommended.size / shape[1]),
        "users": int(users.size),
    }
