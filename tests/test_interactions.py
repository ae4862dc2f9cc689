"""Interactions and IdMap: constructors, cleaning policies, id round trips."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from fastl2 import Interactions
from fastl2._idmap import IdMap
from fastl2.errors import InputTypeError, InputValueError


def _triples(x: Interactions):
    u, i, v = x.to_arrays()
    return sorted(zip(u.tolist(), i.tolist(), v.tolist()))


def test_from_arrays_builds_canonical_csr_and_maps():
    x = Interactions.from_arrays([30, 10, 20, 10], [7, 5, 7, 9], [1.0, 2.0, 3.0, 4.0])
    assert x.shape == (3, 3) and x.nnz == 4
    assert x.user_ids.tolist() == [10, 20, 30] and x.item_ids.tolist() == [5, 7, 9]
    m = x.matrix
    assert m.dtype == np.float32 and m.indices.dtype == np.int32 and m.has_canonical_format
    assert m.toarray().tolist() == [[2, 0, 4], [0, 3, 0], [0, 1, 0]]
    assert _triples(x) == sorted([(30, 7, 1.0), (10, 5, 2.0), (20, 7, 3.0), (10, 9, 4.0)])


def test_string_ids_round_trip_and_float64():
    users = ["zoë", "amir", "zoë", "李"]
    items = ["b", "a", "a", "c"]
    x = Interactions.from_arrays(users, items, [1, 2, 3, 4], dtype=np.float64)
    assert x.matrix.dtype == np.float64
    assert x.user_map.to_ids(x.user_map.to_index(users)).tolist() == users
    assert x.item_map.to_index(["c", "a"]).tolist() == [2, 0]


def test_implicit_values_default_to_one():
    x = Interactions.from_arrays([1, 2], [3, 3])
    assert x.values.tolist() == [1.0, 1.0]


@pytest.mark.parametrize("policy,expected", [
    ("last", 5.0), ("sum", 9.0), ("mean", 3.0), ("max", 5.0)])
def test_duplicate_policies(policy, expected):
    x = Interactions.from_arrays([1, 1, 2, 1], [5, 5, 5, 5], [3.0, 1.0, 2.0, 5.0],
                                 timestamps=[10, 30, 5, 20], duplicates=policy)
    assert x.nnz == 2
    row = x.user_map.to_index([1])[0]
    assert x.matrix[row, 0] == expected
    ts = x.timestamps[x.matrix.indptr[row]]
    assert ts == (20 if policy == "last" else 30)


def test_duplicates_raise_by_default_with_rows_shown():
    with pytest.raises(InputValueError, match=r"^duplicates: expected unique .* got 1 repeated "
                                              r"pairs: row 2 \(user='u', item='i', value=2.0\)"):
        Interactions.from_arrays(["u", "v", "u"], ["i", "i", "i"], [1.0, 1.0, 2.0])


def test_nonfinite_rows_raise_with_count_or_drop():
    vals = [1.0, np.nan, 3.0, np.inf, -np.inf]
    with pytest.raises(InputValueError, match=r"3 NaN/inf values: row 1 .*row 3 .*row 4"):
        Interactions.from_arrays([0, 1, 2, 3, 4], [0] * 5, vals)
    x = Interactions.from_arrays([0, 1, 2, 3, 4], [0] * 5, vals, nonfinite="drop",
                                 timestamps=[1, 2, 3, 4, 5])
    assert x.nnz == 2 and sorted(x.timestamps.tolist()) == [1, 3]
    # dropped rows leave no trace in the id maps
    assert x.user_ids.tolist() == [0, 2]


def test_rating_scale():
    x = Interactions.from_arrays([1, 2], [1, 1], [0.5, 5.0], rating_scale=(0.5, 5))
    assert x.rating_scale == (0.5, 5.0)
    with pytest.raises(InputValueError, match=r"values within rating_scale \[1.0, 5.0\].*"
                                              r"1 values outside: row 1"):
        Interactions.from_arrays([1, 2], [1, 1], [1.0, 6.0], rating_scale=(1, 5))
    with pytest.raises(InputValueError, match="^rating_scale:"):
        Interactions.from_arrays([1], [1], [1.0], rating_scale=(5, 1))


def test_shared_maps_and_unknown_policy():
    train = Interactions.from_arrays([1, 2, 3], [7, 8, 9], [1.0, 2.0, 3.0])
    test = Interactions.from_arrays([3, 1], [7, 9], [4.0, 5.0], user_map=train)
    assert test.shape == train.shape and test.user_map is train.user_map
    with pytest.raises(InputValueError, match="^users: expected ids known .* unknown ids "
                                              "such as \\[42\\]"):
        Interactions.from_arrays([42], [7], [1.0], user_map=train)
    dropped = Interactions.from_arrays([42, 1], [7, 7], [1.0, 2.0], user_map=train,
                                       unknown="drop")
    assert _triples(dropped) == [(1, 7, 2.0)]


def test_from_sparse_keeps_stored_zeros_and_rejects_duplicates():
    coo = sp.coo_matrix(([0.0, 2.0, 3.0], ([0, 1, 1], [1, 0, 1])), shape=(3, 2))
    x = Interactions.from_sparse(coo)
    assert x.shape == (3, 2) and x.nnz == 3  # the stored 0 is a rating; row 2 stays empty
    assert x.matrix[0, 1] == 0.0 and x.matrix.indptr[-1] == 3
    dup = sp.coo_matrix(([1.0, 2.0], ([0, 0], [1, 1])), shape=(2, 2))
    with pytest.raises(InputValueError, match="^duplicates:"):
        Interactions.from_sparse(dup)
    assert Interactions.from_sparse(dup, duplicates="sum").matrix[0, 1] == 3.0
    named = Interactions.from_sparse(sp.csr_matrix(np.eye(2)), user_ids=["a", "b"],
                                     item_ids=[10, 20])
    assert _triples(named) == [("a", 10, 1.0), ("b", 20, 1.0)]
    with pytest.raises(InputValueError, match="^user_ids: expected 2 ids"):
        Interactions.from_sparse(sp.csr_matrix(np.eye(2)), user_ids=["a"])
    with pytest.raises(InputTypeError, match="^matrix: expected a scipy.sparse"):
        Interactions.from_sparse(np.eye(2))


def test_from_dataframe_with_column_names():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"uid": ["a", "b"], "iid": [1, 2], "stars": [4.0, 5.0],
                       "when": [100, 200]})
    x = Interactions.from_dataframe(df, user_col="uid", item_col="iid", value_col="stars",
                                    timestamp_col="when")
    assert _triples(x) == [("a", 1, 4.0), ("b", 2, 5.0)]
    assert sorted(x.timestamps.tolist()) == [100, 200]
    back = x.to_dataframe()
    assert back["rating"].tolist() == [4.0, 5.0]
    with pytest.raises(InputValueError, match="^value_col: expected a column"):
        Interactions.from_dataframe(df, user_col="uid", item_col="iid", value_col="rating")


def test_select_shares_maps_and_keeps_alignment():
    x = Interactions.from_arrays([1, 1, 2, 3], [1, 2, 1, 3], [1.0, 2.0, 3.0, 4.0],
                                 timestamps=[11, 12, 21, 33])
    sub = x.select(np.array([True, False, False, True]))
    assert sub.shape == x.shape and sub.item_map is x.item_map
    assert _triples(sub) == [(1, 1, 1.0), (3, 3, 4.0)]
    assert sub.timestamps.tolist() == [11, 33]
    with pytest.raises(InputValueError, match="^mask:"):
        x.select(np.array([True]))


@pytest.mark.parametrize("bad,kind", [
    ([[1, 2]], InputValueError), ([1.5], InputValueError), ([np.nan], InputValueError),
    (np.array([1, "a"], dtype=object), InputValueError),
    (np.array([1 + 2j]), InputTypeError)])
def test_bad_ids_are_named(bad, kind):
    with pytest.raises(kind, match="^users: expected"):
        Interactions.from_arrays(bad, [1] * len(np.asarray(bad).reshape(-1)),
                                 [1.0] * len(np.asarray(bad).reshape(-1)))


def test_bad_values_are_named():
    with pytest.raises(InputValueError, match="^values: expected a one-dimensional array of "
                                              "length 2"):
        Interactions.from_arrays([1, 2], [1, 2], [1.0])
    with pytest.raises(InputTypeError, match="^values: expected numeric values"):
        Interactions.from_arrays([1, 2], [1, 2], ["a", "b"])
    with pytest.raises(InputValueError, match="^duplicates: expected one of"):
        Interactions.from_arrays([1], [1], [1.0], duplicates="first")


def test_idmap_extend_and_lookup():
    m = IdMap([30, 10, 20])
    assert m.to_index([20, 30, 99], missing="ignore").tolist() == [2, 0, -1]
    bigger = m.extend([99, 10, 77, 99])
    assert bigger.ids.tolist() == [30, 10, 20, 99, 77]
    assert m.extend([10]) is m
    with pytest.raises(InputValueError, match="^ids: expected ids of the same kind"):
        m.extend(["x"])
    with pytest.raises(InputValueError, match="^ids: expected unique ids"):
        IdMap([1, 1])
    with pytest.raises(InputValueError, match="^index: expected indices in"):
        m.to_ids([3])
    # string look-up on an int map: everything unknown, no crash
    assert m.to_index(["a"], missing="ignore").tolist() == [-1]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(-5, 5), st.sampled_from(["a", "b", "c", "é"]),
                          st.floats(-10, 10)), min_size=1, max_size=40),
       st.sampled_from(["last", "sum", "mean", "max"]))
def test_property_matrix_matches_python_dict(rows, policy):
    users, items, vals = zip(*rows)
    x = Interactions.from_arrays(users, items, vals, duplicates=policy, dtype=np.float64)
    groups: dict = {}
    for u, i, v in rows:
        groups.setdefault((u, i), []).append(v)
    combine = {"last": lambda g: g[-1], "sum": sum, "mean": lambda g: sum(g) / len(g),
               "max": max}[policy]
    got = {(u, i): v for u, i, v in _triples(x)}
    assert got.keys() == groups.keys()
    for key, g in groups.items():
        assert got[key] == pytest.approx(combine(g), rel=1e-12, abs=1e-12)
    assert x.matrix.has_canonical_format
