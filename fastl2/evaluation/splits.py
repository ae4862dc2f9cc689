"""Seeded train/test splits of :class:`~fastl2.Interactions`.

Every split returns ``(train, test)`` built with :meth:`Interactions.select`, so both share
the id maps of the input: their matrices have the same shape, and a user or item index means
the same external id in both. Each stored entry of the input lands in exactly one of the two.

Randomized splits take ``random_state`` (``None``, an int seed or a
``numpy.random.Generator``); the same seed gives the same split. Time splits are
deterministic. Nothing here loops over users in Python: per-user splits rank the entries of
each row with one ``numpy.lexsort``.

Rounding: wherever a fraction of a count is taken, it is rounded to the nearest integer with
ties to even (Python's ``round``, ``numpy.rint``), e.g. ``0.5 -> 0``, ``1.5 -> 2``.
"""

from __future__ import annotations

import datetime as _dt
import numbers
from typing import Any, Iterator

import numpy as np

from .._validation import check_int, check_random_state, fail
from ..interactions import Interactions

__all__ = ["random_split", "user_split", "time_split", "kfold"]

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
        As :func:`random_split`'s: disjoint, together exactly ``data``, same id maps.

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
