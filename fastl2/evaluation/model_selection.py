"""Model selection: cross-validation and scikit-learn tooling.

:func:`cross_validate` fits a fresh copy of an estimator per fold of :func:`~.splits.kfold`.

scikit-learn: :func:`to_xy` turns an ``Interactions`` into ``X`` (an (n, 2) array of
(user, item) ids) and ``y`` (the values), which fastl2 estimators accept in ``fit(X, y)`` and
``predict(X)``; :func:`holdout_cv` adds the ``cv`` of a fixed train/test split. The scorers
:func:`rmse_scorer`, :func:`mae_scorer` (negated: greater is better, scikit-learn's
convention) and :func:`ranking_scorer` plug into ``GridSearchCV(scoring=...)``,
``cross_val_score`` and the like. None of this imports scikit-learn.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from .._validation import Detail, check_choice, check_float, check_int, fail
from ..interactions import Interactions
from ..models.base import check_y, pair_columns
from .metrics import mae, ranking_metrics_at_k, rmse
from .splits import _check_data, kfold

__all__ = ["cross_validate", "to_xy", "holdout_cv", "rmse_scorer", "mae_scorer",
           "ranking_scorer"]


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
    m = sp.csr_matrix((np.ones(rows.size, dtype=np.float32), (rows, cols)), shape=shape)
    m.sum_duplicates()
    m.data[:] = 1.0
    return m
