"""Seeded train/test splits of :class:`~fastl2.Interactions`, rating and ranking metrics,
cross-validation.

Every split returns ``(train, test)`` built with :meth:`Interactions.select`, so both share
the id maps of the input: their matrices have the same shape, and a user or item index means
the same external id in both. Each stored entry of the input lands in exactly one of the two.

Randomized splits take ``random_state`` (``None``, an int seed or a
``numpy.random.Generator``); the same seed gives the same split. Time splits are
deterministic. Nothing here loops over users in Python: per-user splits rank the entries of
each row with one ``numpy.lexsort``.

Rounding: wherever a fraction of a count is taken, it is rounded to the nearest integer with
ties to even (Python's ``round``, ``numpy.rint``), e.g. ``0.5 -> 0``, ``1.5 -> 2``.

scikit-learn: :func:`to_xy` turns an ``Interactions`` into ``X`` (an (n, 2) array of
(user, item) ids) and ``y`` (the values), which fastl2 estimators accept in ``fit(X, y)`` and
``predict(X)``; :func:`holdout_cv` adds the ``cv`` of a fixed train/test split. The scorers
:func:`rmse_scorer`, :func:`mae_scorer` (negated: greater is better, scikit-learn's
convention) and :func:`ranking_scorer` plug into ``GridSearchCV(scoring=...)``,
``cross_val_score`` and the like. None of this imports scikit-learn.
"""

from __future__ import annotations

import datetime as _dt
import numbers
from typing import Any, Iterator

import numpy as np

from ._validation import (Detail, as_1d, check_choice, check_float, check_int,
                          check_random_state, describe, fail)
from .interactions import Interactions

__all__ = ["random_split", "user_split", "time_split", "kfold", "rmse", "mae",
           "ranking_metrics_at_k", "cross_validate", "to_xy", "holdout_cv", "rmse_scorer",
           "mae_scorer", "ranking_scorer"]

Split = tuple[Interactions, Interactions]


# ---------------------------------------------------------------------------- helpers
def _check_data(data: Any) -> Interactions:
    if not isinstance(data, Interactions):
        fail("data", "an Interactions (build one with Interactions.from_arrays)", data,
             type_error=True)
    return data


def _check_fraction(name: str, value: Any) -> float:
    expected = "a fraction strictly between 0 and 1"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        fail(name, expected, value, type_error=True)
    value = float(value)
    if not 0.0 < value < 1.0:  # also rejects NaN and inf
        fail(name, expected, value)
    return value


def _split(data: Interactions, test_mask: np.ndarray) -> Split:
    return data.select(~test_mask), data.select(test_mask)


def _rank_within_rows(data: Interactions, key: np.ndarray) -> np.ndarray:
    """0-based rank of every stored entry inside its row, ordering by ``key``.

    Ties in ``key`` are broken by CSR position (i.e. by item index), so the ranking is
    deterministic for a given ``key``.
    """
    n = data.nnz
    rows = data.row_indices()
    pos = np.arange(n, dtype=np.int64)
    order = np.lexsort((pos, key, rows))  # primary: row, then key, then position
    # Rows are contiguous in CSR order, so rows[order] == rows.
    starts = np.asarray(data.matrix.indptr, dtype=np.int64)[rows]
    rank = np.empty(n, dtype=np.int64)
    rank[order] = pos - starts
    return rank


def _per_user_test_counts(data: Interactions, test_fraction: float | None,
                          leave_k: int | None, min_train: int) -> np.ndarray:
    """How many entries of each user go to test (one count per row)."""
    n_u = np.diff(np.asarray(data.matrix.indptr, dtype=np.int64))
    if leave_k is not None:
        return np.where(n_u >= leave_k + min_train, leave_k, 0).astype(np.int64)
    want = np.rint(test_fraction * n_u).astype(np.int64)
    return np.minimum(want, np.maximum(n_u - min_train, 0))


def _check_per_user_mode(test_fraction: Any, leave_k: Any, min_train: Any,
                         default_fraction: float | None) -> tuple[float | None, int | None, int]:
    if test_fraction is not None and leave_k is not None:
        fail("leave_k", "None when test_fraction is given (pass one of them)", leave_k)
    if test_fraction is None and leave_k is None:
        if default_fraction is None:
            fail("test_fraction", "a fraction strictly between 0 and 1 (or pass leave_k)",
                 test_fraction)
        test_fraction = default_fraction
    if test_fraction is not None:
        test_fraction = _check_fraction("test_fraction", test_fraction)
    if leave_k is not None:
        leave_k = check_int("leave_k", leave_k, minimum=1)
    min_train = check_int("min_train", min_train, minimum=0)
    return test_fraction, leave_k, min_train


def _global_count(data: Interactions, test_fraction: float) -> int:
    """round(test_fraction * nnz), refusing a split that leaves train or test empty."""
    n_test = int(round(test_fraction * data.nnz))
    if not 0 < n_test < data.nnz:
        fail("test_fraction",
             f"a fraction leaving at least one entry in train and in test (nnz={data.nnz})",
             test_fraction)
    return n_test


# ---------------------------------------------------------------------------- splits
def random_split(data: Interactions, test_fraction: float = 0.1,
                 random_state: int | np.random.Generator | None = None) -> Split:
    """Random holdout over stored entries.

    Parameters
    ----------
    data : Interactions
        The interactions to split.
    test_fraction : float, default 0.1
        Fraction of entries in the test set, strictly between 0 and 1. Exactly
        ``round(test_fraction * data.nnz)`` entries go to test, chosen uniformly at random.
    random_state : None, int or numpy.random.Generator, optional
        Seed or generator; the same seed gives the same split.

    Returns
    -------
    train, test : Interactions
        Disjoint, together exactly ``data``; both share ``data``'s id maps.

    Raises
    ------
    InputValueError
        If ``test_fraction`` is outside (0, 1) or would leave train or test empty.
    InputTypeError
        If ``data`` is not an :class:`Interactions`.
    """
    data = _check_data(data)
    test_fraction = _check_fraction("test_fraction", test_fraction)
    rng = check_random_state("random_state", random_state)
    n_test = _global_count(data, test_fraction)
    mask = np.zeros(data.nnz, dtype=bool)
    mask[rng.choice(data.nnz, size=n_test, replace=False)] = True
    return _split(data, mask)


def user_split(data: Interactions, test_fraction: float | None = None,
               leave_k: int | None = None,
               random_state: int | np.random.Generator | None = None,
               min_train: int = 1) -> Split:
    """Per-user random holdout: a fraction or ``leave_k`` entries of every user go to test.

    Give exactly one of ``test_fraction`` and ``leave_k``.

    Parameters
    ----------
    data : Interactions
        The interactions to split.
    test_fraction : float, optional
        Fraction of each user's entries held out, strictly between 0 and 1: a user with
        ``n`` entries gets ``min(round(test_fraction * n), max(n - min_train, 0))`` test
        entries (ties to even), so a user with few entries may get none.
    leave_k : int, optional
        Leave-k-out: every user with at least ``leave_k + min_train`` entries gets exactly
        ``leave_k`` random test entries; users with fewer entries keep all of them in train.
    random_state : None, int or numpy.random.Generator, optional
        Seed or generator; the same seed gives the same split.
    min_train : int, default 1
        Minimum number of entries each user keeps in train (a user with fewer entries than
        this keeps all of them in train).

    Returns
    -------
    train, test : Interactions
        Disjoint, together exactly ``data``; both share ``data``'s id maps. The test set may
        be empty (e.g. when every user has too few entries).

    Raises
    ------
    InputValueError
        If both or neither of ``test_fraction``/``leave_k`` are given, or a value is out of
        range.
    InputTypeError
        If ``data`` is not an :class:`Interactions` or an argument has the wrong type.
    """
    data = _check_data(data)
    test_fraction, leave_k, min_train = _check_per_user_mode(test_fraction, leave_k,
                                                             min_train, None)
    rng = check_random_state("random_state", random_state)
    key = rng.permutation(data.nnz)  # distinct random keys: a random order inside each row
    rank = _rank_within_rows(data, key)
    n_test = _per_user_test_counts(data, test_fraction, leave_k, min_train)
    mask = rank < n_test[data.row_indices()]
    return _split(data, mask)


def _timestamp_value(at: Any) -> Any:
    """``at`` converted to the scale of the stored timestamps (datetime → Unix seconds)."""
    if isinstance(at, (np.datetime64, _dt.date, str)):
        try:
            return np.datetime64(at, "s").astype(np.int64)
        except (ValueError, TypeError):
            fail("at", "a timestamp (number, datetime or ISO date string)", at)
    if isinstance(at, bool) or not isinstance(at, numbers.Real) or not np.isfinite(at):
        fail("at", "a finite timestamp (number, datetime or ISO date string)", at,
             type_error=not isinstance(at, numbers.Real) or isinstance(at, bool))
    return at


def time_split(data: Interactions, test_fraction: float | None = None, *,
               at: Any = None, leave_k: int | None = None, per_user: bool = False,
               min_train: int = 1) -> Split:
    """Time-based holdout: the latest entries go to test.

    Modes (give at most one of ``test_fraction``, ``at``, ``leave_k``):

    * global fraction (default, ``test_fraction=0.1`` when nothing is given): the
      ``round(test_fraction * nnz)`` latest entries go to test. Entries with equal
      timestamps are ordered by (user index, item index), so ties at the cutoff are broken
      deterministically; every test timestamp is ``>=`` every train timestamp.
    * global cutoff ``at``: entries with ``timestamp >= at`` go to test, the others to
      train. ``at`` may be a number or, for data built from datetimes (stored as Unix
      seconds), a ``datetime``/``numpy.datetime64``/ISO string.
    * ``per_user=True`` with ``test_fraction`` or ``leave_k``: the same counts as
      :func:`user_split`, but each user's *latest* entries go to test (ties by item index).

    Parameters
    ----------
    data : Interactions
        The interactions to split; must have timestamps.
    test_fraction : float, optional
        Fraction of entries (globally, or of each user's entries when ``per_user``) held out,
        strictly between 0 and 1.
    at : number, datetime, numpy.datetime64 or str, optional
        Global cutoff timestamp (not with ``per_user``).
    leave_k : int, optional
        Per user: the ``leave_k`` latest entries of every user with at least
        ``leave_k + min_train`` entries go to test (only with ``per_user=True``).
    per_user : bool, default False
        Split each user's history rather than the global timeline.
    min_train : int, default 1
        Per-user modes only: minimum number of entries each user keeps in train.

    Returns
    -------
    train, test : Interactions
        Disjoint, together exactly ``data``; both share ``data``'s id maps.

    Raises
    ------
    InputValueError
        If ``data.timestamps`` is None, modes are combined, a value is out of range, or a
        global split would leave train or test empty.
    InputTypeError
        If ``data`` is not an :class:`Interactions` or an argument has the wrong type.
    """
    data = _check_data(data)
    if data.timestamps is None:
        fail("data", "Interactions with timestamps (pass timestamps= when building it)",
             data)
    if not isinstance(per_user, (bool, np.bool_)):
        fail("per_user", "True or False", per_user, type_error=True)
    ts = data.timestamps
    if at is not None:
        if test_fraction is not None or leave_k is not None:
            fail("at", "None when test_fraction or leave_k is given (pass one of them)", at)
        if per_user:
            fail("at", "None with per_user=True (a cutoff is global; use test_fraction or "
                 "leave_k per user)", at)
        cutoff = _timestamp_value(at)
        mask = ts >= cutoff
        n_test = int(mask.sum())
        if not 0 < n_test < data.nnz:
            lo, hi = ts.min().item(), ts.max().item()
            fail("at", f"a cutoff with timestamps on both sides (data spans {lo!r} to {hi!r}; "
                 "test is timestamp >= at)", at)
        return _split(data, mask)
    if per_user:
        test_fraction, leave_k, min_train = _check_per_user_mode(test_fraction, leave_k,
                                                                 min_train, 0.1)
        rank = _rank_within_rows(data, ts)
        rows = data.row_indices()
        n_u = np.diff(np.asarray(data.matrix.indptr, dtype=np.int64))[rows]
        n_test_u = _per_user_test_counts(data, test_fraction, leave_k, min_train)[rows]
        mask = rank >= n_u - n_test_u
        return _split(data, mask)
    if leave_k is not None:
        fail("leave_k", "None unless per_user=True (leave-k-out is per user)", leave_k)
    test_fraction = _check_fraction("test_fraction",
                                    0.1 if test_fraction is None else test_fraction)
    n_test = _global_count(data, test_fraction)
    order = np.argsort(ts, kind="stable")  # ties: CSR order = (user, item)
    mask = np.zeros(data.nnz, dtype=bool)
    mask[order[data.nnz - n_test:]] = True
    return _split(data, mask)


def kfold(data: Interactions, k: int = 5,
          random_state: int | np.random.Generator | None = None) -> Iterator[Split]:
    """K-fold cross-validation over stored entries.

    Entries are shuffled once and dealt into ``k`` folds whose sizes differ by at most one;
    fold ``j`` is the test set of the ``j``-th pair and the other folds its train set. Every
    entry is in exactly one test fold. Arguments are checked when ``kfold`` is called, not
    when iteration starts.

    Parameters
    ----------
    data : Interactions
        The interactions to split.
    k : int, default 5
        Number of folds, ``2 <= k <= data.nnz``.
    random_state : None, int or numpy.random.Generator, optional
        Seed or generator; the same seed gives the same folds.

    Returns
    -------
    iterator of (train, test)
        ``k`` pairs of :class:`Interactions` sharing ``data``'s id maps.

    Raises
    ------
    InputValueError
        If ``k`` is out of range.
    InputTypeError
        If ``data`` is not an :class:`Interactions` or ``k`` is not an integer.
    """
    data = _check_data(data)
    k = check_int("k", k, minimum=2)
    if k > data.nnz:
        fail("k", f"at most the number of stored entries (nnz={data.nnz})", k)
    rng = check_random_state("random_state", random_state)
    fold = np.empty(data.nnz, dtype=np.int64)
    fold[rng.permutation(data.nnz)] = np.arange(data.nnz, dtype=np.int64) % k
    return (_split(data, fold == j) for j in range(k))


# ---------------------------------------------------------------------------- metrics
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
    """Mean absolute error ``mean(|y_true - y_pred|)``, computed in float64.

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
    return float(np.mean(np.abs(t - p)))


# ---------------------------------------------------------------------------- ranking
def _user_item_csr(name: str, value: Any, shape: tuple[int, int]):
    import scipy.sparse as sp

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
    from ._kernels import metrics as metric_kernels
    from ._threads import thread_limit

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


_RATING_METRICS = {"rmse": rmse, "mae": mae}
_RANKING_KEYS = ("precision", "map", "ndcg", "auc", "recall", "hit_rate", "mrr", "coverage")


def cross_validate(model: Any, interactions: Interactions, folds: int = 5,
                   metrics: tuple[str, ...] = ("rmse",), K: int = 10,
                   random_state: int | np.random.Generator | None = None,
                   fit_params: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """K-fold cross-validation of a fastl2 estimator (a fresh copy is fitted per fold).

    Parameters
    ----------
    model : estimator
        Its parameters are copied (``get_params``) for every fold; it is not modified.
    interactions : Interactions
        Split by :func:`kfold`.
    folds : int, default 5
    metrics : tuple of str
        ``"rmse"``, ``"mae"`` (rating metrics of ``predict``) and any key returned by
        :func:`ranking_metrics_at_k` (``"precision"``, ``"ndcg"``, ``"map"``, ``"auc"``,
        ``"recall"``, ``"hit_rate"``, ``"mrr"``, ``"coverage"``), computed at ``K``.
    random_state : seed of the folds.
    fit_params : dict, optional
        Extra keyword arguments of ``fit`` (e.g. ``{"show_progress": False}``).

    Returns
    -------
    dict
        ``{metric: {"folds": [...], "mean": float, "std": float}}``.
    """
    ranking_keys = _RANKING_KEYS
    for name in metrics:
        if name not in _RATING_METRICS and name not in ranking_keys:
            fail("metrics", "names among " + ", ".join((*_RATING_METRICS, *ranking_keys)),
                 name)
    if not hasattr(model, "predict"):
        rating = [name for name in metrics if name in _RATING_METRICS]
        if rating:
            fail("metrics", f"ranking metrics for {type(model).__name__}, which has no "
                 "rating predictions", Detail(", ".join(rating)))
    results: dict[str, list[float]] = {name: [] for name in metrics}
    for train, test in kfold(interactions, folds, random_state):
        fold_model = type(model)(**model.get_params(deep=False))
        fold_model.fit(train, **(fit_params or {}))
        if any(name in _RATING_METRICS for name in metrics):
            users, items, values = test.to_arrays()
            pred = fold_model.predict(users, items)
        if any(name in ranking_keys for name in metrics):
            ranking = ranking_metrics_at_k(fold_model, train, test, K=K)
        for name in metrics:
            value = (_RATING_METRICS[name](values, pred) if name in _RATING_METRICS
                     else ranking[name])
            results[name].append(float(value))
    return {name: {"folds": vals, "mean": float(np.mean(vals)), "std": float(np.std(vals))}
            for name, vals in results.items()}


# ---------------------------------------------------------------------------- scikit-learn
def to_xy(data: Interactions) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn style ``(X, y)`` of an ``Interactions``.

    Parameters
    ----------
    data : Interactions

    Returns
    -------
    X : ndarray of shape (nnz, 2)
        (user, item) external ids, one row per stored entry in CSR order: int64 when both
        kinds of ids are integers, strings when both are strings, else objects (each column
        keeping its ids' type).
    y : ndarray of float64, shape (nnz,)
        The values.

    Examples
    --------
    >>> X, y = to_xy(train)                                  # doctest: +SKIP
    >>> BiasedMF().fit(X, y).predict(X[:5])                   # doctest: +SKIP
    """
    data = _check_data(data)
    users, items, values = data.to_arrays()
    return _stack_pairs(users, items), values.astype(np.float64)


def _stack_pairs(users: np.ndarray, items: np.ndarray) -> np.ndarray:
    if users.dtype.kind == items.dtype.kind:
        return np.column_stack((users, items))
    X = np.empty((users.size, 2), dtype=object)  # ints stay ints, strings stay strings
    X[:, 0] = users
    X[:, 1] = items
    return X


def holdout_cv(train: Interactions,
               test: Interactions) -> tuple[np.ndarray, np.ndarray, list[tuple[np.ndarray,
                                                                               np.ndarray]]]:
    """``X``, ``y`` and ``cv`` for tuning a fastl2 model by scikit-learn on a fixed split.

    Parameters
    ----------
    train, test : Interactions
        E.g. the two halves of :func:`random_split` or :func:`time_split`.

    Returns
    -------
    X, y : ndarray
        The rows of ``to_xy(train)`` followed by those of ``to_xy(test)``.
    cv : list of one (train_rows, test_rows) pair
        For ``GridSearchCV(..., cv=cv)``: fit on the train rows, score on the test rows.

    Examples
    --------
    >>> from sklearn.model_selection import GridSearchCV            # doctest: +SKIP
    >>> X, y, cv = holdout_cv(*random_split(data, random_state=0))  # doctest: +SKIP
    >>> search = GridSearchCV(BiasedMF(), {"factors": [16, 64]}, cv=cv,
    ...                       scoring=rmse_scorer).fit(X, y)      # doctest: +SKIP
    """
    if not isinstance(train, Interactions):
        fail("train", "an Interactions", train, type_error=True)
    if not isinstance(test, Interactions):
        fail("test", "an Interactions", test, type_error=True)
    (x1, y1), (x2, y2) = to_xy(train), to_xy(test)
    if x1.dtype.kind != x2.dtype.kind:  # e.g. ints in one, objects in the other
        x1, x2 = x1.astype(object), x2.astype(object)
    X = np.concatenate((x1, x2))
    y = np.concatenate((y1, y2))
    rows = np.arange(y.size, dtype=np.int64)
    return X, y, [(rows[:y1.size], rows[y1.size:])]


def rmse_scorer(estimator: Any, X: Any, y: Any) -> float:
    """Negated RMSE of ``estimator.predict(X)`` against ``y``: a scikit-learn scorer.

    Use it as ``scoring=rmse_scorer`` (greater is better, so the best model has the smallest
    RMSE; ``-search.best_score_`` is that RMSE). A pair whose user or item the fold's model
    never saw gets the model's fallback prediction (see ``BiasedMF.predict``), as a
    recommender in production would; it is not dropped.

    Parameters
    ----------
    estimator : fitted model with ``predict(X)`` (e.g. ``BiasedMF``)
    X : (n, 2) array or two-column DataFrame of (user, item) external ids
    y : array-like of shape (n,)
        The true ratings.
    """
    return -rmse(y, estimator.predict(X))


def mae_scorer(estimator: Any, X: Any, y: Any) -> float:
    """Negated MAE of ``estimator.predict(X)`` against ``y``: a scikit-learn scorer (see
    :func:`rmse_scorer`)."""
    return -mae(y, estimator.predict(X))


def ranking_scorer(metric: str = "ndcg", K: int = 10, seen: Interactions | None = None,
                   threshold: float = 0.0) -> "RankingScorer":
    """A scikit-learn scorer of top-K ranking quality, for any fitted fastl2 model
    (``ImplicitALS`` included): :func:`ranking_metrics_at_k` on the scored fold.

    The fold's pairs whose value exceeds ``threshold`` are the relevant items; every user of
    the fold known to the model gets its top K. Greater is better for every metric.

    Parameters
    ----------
    metric : str, default "ndcg"
        A key of :func:`ranking_metrics_at_k`: ``"precision"``, ``"map"``, ``"ndcg"``,
        ``"auc"``, ``"recall"``, ``"hit_rate"``, ``"mrr"`` or ``"coverage"``.
    K : int, default 10
    seen : Interactions, optional
        The whole data set the folds are cut from. Its pairs that are not in the scored fold
        — the fold's training pairs — are not recommended, as in ``implicit``'s evaluation.
        Without it nothing is filtered, so already-seen items compete with the held-out ones
        (scores are then lower, though still comparable between models).
    threshold : float, default 0.0
        A pair is relevant when its value ``y`` is greater (every positive interaction by
        default; negative values are dislikes). Without ``y``, every pair is relevant.

    Returns
    -------
    RankingScorer
        Callable ``(estimator, X, y=None) -> float``; picklable (parallel search works).

    Examples
    --------
    >>> X, y = to_xy(data)                                            # doctest: +SKIP
    >>> scorer = ranking_scorer("ndcg", K=10, seen=data)              # doctest: +SKIP
    >>> GridSearchCV(ImplicitALS(), {"factors": [32, 64]}, cv=KFold(5, shuffle=True),
    ...              scoring=scorer).fit(X, y)                        # doctest: +SKIP
    """
    metric = check_choice("metric", metric, _RANKING_KEYS)
    K = check_int("K", K, minimum=1)
    if seen is not None and not isinstance(seen, Interactions):
        fail("seen", "None or an Interactions (the data set the folds come from)", seen,
             type_error=True)
    threshold = check_float("threshold", threshold)
    return RankingScorer(metric, K, seen, threshold)


class RankingScorer:
    """The scorer made by :func:`ranking_scorer` (a class, so that it pickles)."""

    def __init__(self, metric: str, K: int, seen: Interactions | None, threshold: float):
        self.metric, self.K, self.seen, self.threshold = metric, K, seen, threshold

    def __repr__(self) -> str:
        return (f"ranking_scorer(metric={self.metric!r}, K={self.K}, "
                f"seen={self.seen!r}, threshold={self.threshold!r})")

    def __call__(self, estimator: Any, X: Any, y: Any = None) -> float:
        import scipy.sparse as sp

        from .models.base import check_y, pair_columns

        estimator._check_fitted()
        users, items = pair_columns(X, "X")
        relevant = (np.ones(users.size, dtype=bool) if y is None
                    else check_y(y, users.size) > self.threshold)
        u = estimator.user_map_.to_index(users, name="X users", missing="ignore")
        i = estimator.item_map_.to_index(items, name="X items", missing="ignore")
        shape = (len(estimator.user_map_), len(estimator.item_map_))
        known = (u >= 0) & (i >= 0)
        test = _binary(u[known & relevant], i[known & relevant], shape)
        if self.seen is None:
            train = sp.csr_matrix(shape, dtype=np.float32)
        else:
            su, si, _ = self.seen.to_arrays()
            su = estimator.user_map_.to_index(su, name="seen users", missing="ignore")
            si = estimator.item_map_.to_index(si, name="seen items", missing="ignore")
            ok = (su >= 0) & (si >= 0)
            seen = _binary(su[ok], si[ok], shape)
            fold = _binary(u[known], i[known], shape)
            train = seen - seen.multiply(fold)  # the fold's own pairs stay rankable
            train.eliminate_zeros()
        return float(ranking_metrics_at_k(estimator, train, test, K=self.K)[self.metric])


def _binary(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> Any:
    """A 0/1 CSR matrix with ones at (rows, cols) (repeated pairs count once)."""
    import scipy.sparse as sp

    m = sp.csr_matrix((np.ones(rows.size, dtype=np.float32), (rows, cols)), shape=shape)
    m.sum_duplicates()
    m.data[:] = 1.0
    return m
