"""Splits (random, per-user, time, k-fold) and rating metrics of fastl2.evaluation."""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastl2 import Interactions
from fastl2.errors import InputTypeError, InputValueError
from fastl2.evaluation import kfold, mae, random_split, rmse, time_split, user_split


# ---------------------------------------------------------------------------- helpers
def _triples(x: Interactions) -> list[tuple]:
    u, i, v = x.to_arrays()
    return sorted(zip(u.tolist(), i.tolist(), v.tolist()))


def _quads(x: Interactions) -> list[tuple]:
    """(user, item, value, timestamp) per entry."""
    u, i, v = x.to_arrays()
    return sorted(zip(u.tolist(), i.tolist(), v.tolist(), x.timestamps.tolist()))


def _assert_partition(data: Interactions, train: Interactions, test: Interactions) -> None:
    """Disjoint, union is data, same shape and the very same id maps."""
    a, b = set(_triples(train)), set(_triples(test))
    assert not a & b
    assert a | b == set(_triples(data))
    assert train.nnz + test.nnz == data.nnz
    assert train.shape == test.shape == data.shape
    assert train.user_map is data.user_map and test.user_map is data.user_map
    assert train.item_map is data.item_map and test.item_map is data.item_map
    assert train.matrix.has_canonical_format and test.matrix.has_canonical_format


def _per_user(x: Interactions) -> Counter:
    return Counter(x.to_arrays()[0].tolist())


def _make(n_users=30, n_items=25, density=0.4, seed=0, timestamps=True) -> Interactions:
    """Random data with string user ids, distinct values and (shuffled) timestamps."""
    rng = np.random.default_rng(seed)
    mask = rng.random((n_users, n_items)) < density
    u, i = np.nonzero(mask)
    vals = np.arange(u.size, dtype=np.float64)  # distinct: triples identify entries
    ts = rng.permutation(u.size) * 10 if timestamps else None
    return Interactions.from_arrays(np.array([f"u{k}" for k in u]), i + 100, vals,
                                    timestamps=ts, dtype=np.float64)


@pytest.fixture
def data() -> Interactions:
    return _make()


# ---------------------------------------------------------------------------- random_split
@pytest.mark.parametrize("fraction", [0.1, 0.25, 0.5, 0.9])
def test_random_split_partitions_with_exact_size(data, fraction):
    train, test = random_split(data, test_fraction=fraction, random_state=3)
    _assert_partition(data, train, test)
    assert test.nnz == round(fraction * data.nnz)
    # timestamps follow their entries
    assert sorted(_quads(train) + _quads(test)) == _quads(data)


def test_random_split_seeded(data):
    a = random_split(data, 0.2, random_state=11)
    b = random_split(data, 0.2, random_state=11)
    c = random_split(data, 0.2, random_state=12)
    assert _triples(a[1]) == _triples(b[1]) and _triples(a[0]) == _triples(b[0])
    assert _triples(a[1]) != _triples(c[1])
    g1, g2 = np.random.default_rng(5), np.random.default_rng(5)
    assert _triples(random_split(data, 0.2, g1)[1]) == _triples(random_split(data, 0.2, g2)[1])


def test_random_split_is_roughly_uniform():
    x = _make(n_users=40, n_items=40, density=0.5, seed=1, timestamps=False)
    hits = np.zeros(x.nnz)
    for seed in range(200):
        _, test = random_split(x, 0.25, random_state=seed)
        hits += np.isin(x.values, test.values)
    rate = hits / 200
    assert abs(rate.mean() - 0.25) < 0.01
    assert rate.min() > 0.08 and rate.max() < 0.45


# ---------------------------------------------------------------------------- user_split
def test_user_split_leave_k(data):
    k, min_train = 2, 3
    train, test = user_split(data, leave_k=k, random_state=0, min_train=min_train)
    _assert_partition(data, train, test)
    n_all, n_test, n_train = _per_user(data), _per_user(test), _per_user(train)
    assert any(n < k + min_train for n in n_all.values())  # the rule below is exercised
    for user, n in n_all.items():
        expected = k if n >= k + min_train else 0
        assert n_test.get(user, 0) == expected
        assert n_train[user] == n - expected


def test_user_split_leave_k_small_users_keep_everything():
    x = Interactions.from_arrays([1, 1, 2, 2, 2, 3, 3, 3, 3], [1, 2, 1, 2, 3, 1, 2, 3, 4],
                                 [1, 2, 3, 4, 5, 6, 7, 8, 9])
    train, test = user_split(x, leave_k=2, random_state=0)  # min_train=1: need >= 3
    assert _per_user(test) == Counter({2: 2, 3: 2})
    assert _per_user(train) == Counter({1: 2, 2: 1, 3: 2})
    train, test = user_split(x, leave_k=2, random_state=0, min_train=0)
    assert _per_user(test) == Counter({1: 2, 2: 2, 3: 2}) and 1 not in _per_user(train)


@pytest.mark.parametrize("min_train", [0, 1, 5])
def test_user_split_fraction(data, min_train):
    f = 0.3
    train, test = user_split(data, test_fraction=f, random_state=4, min_train=min_train)
    _assert_partition(data, train, test)
    n_test, n_train = _per_user(test), _per_user(train)
    for user, n in _per_user(data).items():
        expected = min(round(f * n), max(n - min_train, 0))
        assert n_test.get(user, 0) == expected
        assert n_train.get(user, 0) == n - expected
        assert n_train.get(user, 0) >= min(n, min_train)


def test_user_split_seeded_and_random_within_users(data):
    a = user_split(data, leave_k=1, random_state=8)[1]
    b = user_split(data, leave_k=1, random_state=8)[1]
    c = user_split(data, leave_k=1, random_state=9)[1]
    assert _triples(a) == _triples(b) and _triples(a) != _triples(c)
    # a random entry per user, not always the first or the last one (values are distinct)
    m = data.matrix
    nonempty = np.diff(m.indptr) > 0
    firsts = set(m.data[m.indptr[:-1][nonempty]].tolist())
    lasts = set(m.data[m.indptr[1:][nonempty] - 1].tolist())
    picked = set(a.values.tolist())
    assert len(picked) == int(nonempty.sum())
    assert picked != firsts and picked != lasts


# ---------------------------------------------------------------------------- time_split
def test_time_split_global_fraction(data):
    train, test = time_split(data, test_fraction=0.2)
    _assert_partition(data, train, test)
    assert test.nnz == round(0.2 * data.nnz)
    assert test.timestamps.min() > train.timestamps.max()  # timestamps are distinct here
    # the test set is exactly the latest entries
    latest = sorted(data.timestamps.tolist())[-test.nnz:]
    assert sorted(test.timestamps.tolist()) == latest
    assert sorted(_quads(train) + _quads(test)) == _quads(data)


def test_time_split_default_fraction_and_determinism(data):
    a, b = time_split(data), time_split(data)
    assert a[1].nnz == round(0.1 * data.nnz)
    assert _triples(a[1]) == _triples(b[1])


def test_time_split_ties_are_deterministic_and_ordered():
    users = [1, 1, 2, 2, 3, 3]
    items = [1, 2, 1, 2, 1, 2]
    ts = [5, 9, 9, 9, 1, 9]  # four entries at the latest time, two of them go to test
    x = Interactions.from_arrays(users, items, [1, 2, 3, 4, 5, 6], timestamps=ts)
    train, test = time_split(x, test_fraction=1 / 3)
    assert test.nnz == 2
    assert test.timestamps.min() >= train.timestamps.max()
    assert all(t == 9 for t in test.timestamps.tolist())
    for _ in range(3):
        assert _triples(time_split(x, test_fraction=1 / 3)[1]) == _triples(test)


def test_time_split_at_cutoff(data):
    cutoff = float(np.median(data.timestamps))
    train, test = time_split(data, at=cutoff)
    _assert_partition(data, train, test)
    assert (test.timestamps >= cutoff).all() and (train.timestamps < cutoff).all()
    assert test.nnz == int((data.timestamps >= cutoff).sum())


def test_time_split_at_datetime():
    days = np.array(["2020-01-01", "2020-01-05", "2020-02-01", "2020-03-01"],
                    dtype="datetime64[D]")
    x = Interactions.from_arrays([1, 1, 2, 2], [1, 2, 1, 2], [1, 2, 3, 4], timestamps=days)
    for at in (np.datetime64("2020-01-10"), dt.datetime(2020, 1, 10), "2020-01-10"):
        train, test = time_split(x, at=at)
        assert sorted(test.values.tolist()) == [3.0, 4.0]
        assert sorted(train.values.tolist()) == [1.0, 2.0]


def test_time_split_per_user_leave_k(data):
    k = 2
    train, test = time_split(data, leave_k=k, per_user=True)
    _assert_partition(data, train, test)
    n_test = _per_user(test)
    quads = _quads(data)
    for user, n in _per_user(data).items():
        mine = [q for q in quads if q[0] == user]
        if n >= k + 1:
            assert n_test[user] == k
            ts_test = [q[3] for q in _quads(test) if q[0] == user]
            ts_train = [q[3] for q in _quads(train) if q[0] == user]
            assert min(ts_test) > max(ts_train)
            assert sorted(ts_test) == sorted(q[3] for q in mine)[-k:]
        else:
            assert n_test.get(user, 0) == 0


def test_time_split_per_user_fraction(data):
    f = 0.25
    train, test = time_split(data, test_fraction=f, per_user=True, min_train=2)
    _assert_partition(data, train, test)
    n_test = _per_user(test)
    for user, n in _per_user(data).items():
        assert n_test.get(user, 0) == min(round(f * n), max(n - 2, 0))
        ts_test = [q[3] for q in _quads(test) if q[0] == user]
        ts_train = [q[3] for q in _quads(train) if q[0] == user]
        if ts_test:
            assert min(ts_test) > max(ts_train)


def test_time_split_needs_timestamps():
    x = _make(timestamps=False)
    with pytest.raises(InputValueError, match=r"^data: expected .*timestamps"):
        time_split(x, test_fraction=0.2)


@pytest.mark.parametrize("kwargs, name", [
    (dict(at=5, test_fraction=0.2), "at"),
    (dict(at=5, per_user=True), "at"),
    (dict(at=-1), "at"),          # everything in test
    (dict(at=10 ** 9), "at"),      # nothing in test
    (dict(leave_k=2), "leave_k"),  # leave-k-out is per user
    (dict(leave_k=2, test_fraction=0.2, per_user=True), "leave_k"),
    (dict(test_fraction=1.0), "test_fraction"),
    (dict(test_fraction=0.0001), "test_fraction"),  # rounds to an empty test set
    (dict(per_user=True, leave_k=0), "leave_k"),
    (dict(per_user=True, test_fraction=0.2, min_train=-1), "min_train"),
])
def test_time_split_bad_arguments(data, kwargs, name):
    with pytest.raises(ValueError, match=rf"^{name}: expected "):
        time_split(data, **kwargs)


def test_time_split_bad_types(data):
    with pytest.raises(InputTypeError, match=r"^at: expected"):
        time_split(data, at=[1, 2])
    with pytest.raises(InputTypeError, match=r"^per_user: expected"):
        time_split(data, test_fraction=0.2, per_user="yes")


# ---------------------------------------------------------------------------- kfold
@pytest.mark.parametrize("k", [2, 3, 5, 7])
def test_kfold_partitions(data, k):
    folds = list(kfold(data, k=k, random_state=0))
    assert len(folds) == k
    seen: list[tuple] = []
    for train, test in folds:
        _assert_partition(data, train, test)
        seen += _triples(test)
    assert sorted(seen) == _triples(data)  # each entry in exactly one test fold
    sizes = [test.nnz for _, test in folds]
    assert max(sizes) - min(sizes) <= 1 and sum(sizes) == data.nnz


def test_kfold_seeded(data):
    a = [_triples(t) for _, t in kfold(data, 3, random_state=1)]
    b = [_triples(t) for _, t in kfold(data, 3, random_state=1)]
    c = [_triples(t) for _, t in kfold(data, 3, random_state=2)]
    assert a == b and a != c


def test_kfold_validates_eagerly(data):
    with pytest.raises(InputValueError, match=r"^k: expected .*>= 2"):
        kfold(data, k=1)  # no iteration needed to get the error
    with pytest.raises(InputValueError, match=rf"^k: expected .*nnz={data.nnz}"):
        kfold(data, k=data.nnz + 1)
    with pytest.raises(InputTypeError, match=r"^k: expected"):
        kfold(data, k=2.5)
    assert len(list(kfold(data, k=data.nnz, random_state=0))) == data.nnz


# ---------------------------------------------------------------------------- validation
@pytest.mark.parametrize("call, name", [
    (lambda d: random_split(d, test_fraction=0.0), "test_fraction"),
    (lambda d: random_split(d, test_fraction=1.0), "test_fraction"),
    (lambda d: random_split(d, test_fraction=-0.5), "test_fraction"),
    (lambda d: random_split(d, test_fraction=float("nan")), "test_fraction"),
    (lambda d: random_split(d, test_fraction=0.001), "test_fraction"),  # empty test
    (lambda d: random_split(d, test_fraction=0.9999), "test_fraction"),  # empty train
    (lambda d: user_split(d), "test_fraction"),
    (lambda d: user_split(d, test_fraction=0.2, leave_k=1), "leave_k"),
    (lambda d: user_split(d, test_fraction=1.5), "test_fraction"),
    (lambda d: user_split(d, leave_k=0), "leave_k"),
    (lambda d: user_split(d, leave_k=1, min_train=-1), "min_train"),
])
def test_bad_arguments_name_the_argument(data, call, name):
    with pytest.raises(ValueError, match=rf"^{name}: expected .*, got "):
        call(data)


@pytest.mark.parametrize("call, name", [
    (lambda d: random_split(d.matrix), "data"),
    (lambda d: user_split("ratings.csv", leave_k=1), "data"),
    (lambda d: time_split(None), "data"),
    (lambda d: kfold([1, 2, 3]), "data"),
    (lambda d: random_split(d, test_fraction="0.2"), "test_fraction"),
    (lambda d: user_split(d, leave_k=1.5), "leave_k"),
    (lambda d: random_split(d, random_state="seed"), "random_state"),
    (lambda d: random_split(d, random_state=-1), "random_state"),
])
def test_bad_types_name_the_argument(data, call, name):
    with pytest.raises(InputTypeError, match=rf"^{name}: expected .*, got "):
        call(data)


# ---------------------------------------------------------------------------- metrics
def test_rmse_and_mae_match_hand_computation():
    y = [3.0, 4.0, 1.5, 5.0, 2.0]
    p = [2.5, 4.0, 2.0, 3.0, 2.25]
    diffs = [a - b for a, b in zip(y, p)]
    assert rmse(y, p) == pytest.approx(math.sqrt(sum(d * d for d in diffs) / len(diffs)))
    assert mae(y, p) == pytest.approx(sum(abs(d) for d in diffs) / len(diffs))
    assert isinstance(rmse(y, p), float) and isinstance(mae(y, p), float)
    assert rmse(y, y) == 0.0 and mae(np.array(y), np.array(y)) == 0.0
    # rmse >= mae, with equality when all errors have the same size
    assert rmse(y, p) > mae(y, p)
    assert rmse([1, 2], [2, 1]) == pytest.approx(mae([1, 2], [2, 1])) == pytest.approx(1.0)


def test_metrics_use_float64():
    y = np.full(10, 1e8 + 1, dtype=np.float64)
    p = np.full(10, 1e8, dtype=np.float32)  # float32 can't hold 1e8 + 1
    assert rmse(y, p) == pytest.approx(1.0) and mae(y, p) == pytest.approx(1.0)


@pytest.mark.parametrize("metric", [rmse, mae])
@pytest.mark.parametrize("y_true, y_pred, name, exc", [
    ([1.0, 2.0], [1.0], "y_pred", InputValueError),
    ([], [], "y_true", InputValueError),
    ([1.0, np.nan], [1.0, 2.0], "y_true", InputValueError),
    ([1.0, 2.0], [np.inf, 2.0], "y_pred", InputValueError),
    ([[1.0, 2.0]], [1.0, 2.0], "y_true", InputValueError),
    (["a", "b"], [1.0, 2.0], "y_true", InputTypeError),
])
def test_metrics_validate(metric, y_true, y_pred, name, exc):
    with pytest.raises(exc, match=rf"^{name}: expected .*, got "):
        metric(y_true, y_pred)


# ---------------------------------------------------------------------------- properties
@st.composite
def small_interactions(draw):
    n_users = draw(st.integers(1, 8))
    n_items = draw(st.integers(2, 8))
    cells = draw(st.sets(st.tuples(st.integers(0, n_users - 1), st.integers(0, n_items - 1)),
                         min_size=2, max_size=n_users * n_items))
    cells = sorted(cells)
    u = np.array([c[0] for c in cells])
    i = np.array([c[1] for c in cells])
    values = draw(st.lists(st.integers(1, 5), min_size=len(cells), max_size=len(cells)))
    return Interactions.from_arrays(u, i, values)


_settings = settings(max_examples=60, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow])


@_settings
@given(x=small_interactions(), k=st.integers(2, 6), seed=st.integers(0, 2 ** 32 - 1))
def test_property_kfold_partitions(x, k, seed):
    k = min(k, x.nnz)
    folds = list(kfold(x, k=k, random_state=seed))
    assert len(folds) == k
    union: list[tuple] = []
    for train, test in folds:
        _assert_partition(x, train, test)
        union += _triples(test)
    assert sorted(union) == _triples(x)
    sizes = [t.nnz for _, t in folds]
    assert max(sizes) - min(sizes) <= 1


@_settings
@given(x=small_interactions(), leave_k=st.integers(1, 4), min_train=st.integers(0, 3),
       fraction=st.floats(0.05, 0.95), seed=st.integers(0, 2 ** 32 - 1))
def test_property_user_split(x, leave_k, min_train, fraction, seed):
    n_all = _per_user(x)
    train, test = user_split(x, leave_k=leave_k, min_train=min_train, random_state=seed)
    _assert_partition(x, train, test)
    n_test, n_train = _per_user(test), _per_user(train)
    for user, n in n_all.items():
        assert n_test.get(user, 0) == (leave_k if n >= leave_k + min_train else 0)
        assert n_train.get(user, 0) >= min(n, min_train)

    train, test = user_split(x, test_fraction=fraction, min_train=min_train, random_state=seed)
    _assert_partition(x, train, test)
    n_test, n_train = _per_user(test), _per_user(train)
    for user, n in n_all.items():
        assert n_test.get(user, 0) == min(round(fraction * n), max(n - min_train, 0))
        assert n_train.get(user, 0) >= min(n, min_train)
