"""Hostile inputs at every public entry point (issue 6, "Hardening").

Every bad input must raise a documented fastl2 error — a :class:`Fastl2Error` that is also a
``ValueError`` or ``TypeError`` — whose message reads ``"name: expected ..., got ..."``; never a
crash, an ``IndexError``/``KeyError`` from deep inside, a silently non-finite model or a kernel
reading out-of-range indices. Every good input, however degenerate (0 users, 0 items, 1×1,
empty rows and columns, one giant user, duplicates, huge or unicode ids, non-canonical sparse
matrices), must give finite results.

Property-based tests (hypothesis) over the data layer and the estimators' methods, plus tables
of hand-picked cases. The nominal behaviour is tested in test_interactions, test_biased_mf,
test_als and test_recommend; this file only adds what they do not cover.
"""

from __future__ import annotations

import copy
import functools
import re
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from fastl2 import AlternatingLeastSquares, BiasedMF, ImplicitALS, Interactions, load
from fastl2._idmap import IdMap
from fastl2.errors import (Fastl2Error, InputTypeError, InputValueError, NotFittedError,
                           TrainingDivergedError)

SETTINGS = settings(max_examples=100, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])

KINDS = ("sgd", "als", "ials-cg", "ials-chol")
_BASE = {
    "sgd": (BiasedMF, dict(factors=2, iterations=2, random_state=0)),
    "als": (BiasedMF, dict(solver="als", factors=2, iterations=2, random_state=0)),
    "ials-cg": (ImplicitALS, dict(factors=2, iterations=2, random_state=0)),
    "ials-chol": (ImplicitALS, dict(factors=2, iterations=2, random_state=0, use_cg=False)),
}
_NAMED = re.compile(r"^(?P<name>[\w\[\]]+(?: [\w\[\]]+)?): (?:[\w\[\]]+: )?expected .+, got .+",
                    re.S)


def make(kind: str, **params):
    cls, base = _BASE[kind]
    return cls(**{**base, **params})


def fit_model(model, X):
    if isinstance(model, ImplicitALS):
        return model.fit(X, show_progress=False)
    return model.fit(X)


def fit(kind: str, X, **params):
    return fit_model(make(kind, **params), X)


def x_name(kind: str) -> str:
    """The name of fit's data argument."""
    return "X" if kind in ("sgd", "als") else "user_items"


def expect_named(call, name: str, kind: type = Fastl2Error) -> Fastl2Error:
    """``call()`` raises ``kind``, a Fastl2Error and a ValueError/TypeError, whose message is
    ``"name: expected ..., got ..."``."""
    with pytest.raises(Fastl2Error) as info:
        call()
    err = info.value
    assert isinstance(err, kind), repr(err)
    assert isinstance(err, (ValueError, TypeError)), repr(err)
    match = _NAMED.match(str(err))
    assert match is not None, str(err)
    assert match["name"] == name, str(err)
    return err


def _small_ratings(seed: int = 0, n_users: int = 7, n_items: int = 5) -> sp.csr_matrix:
    """Ratings 1..5 with an empty last row and an empty last column."""
    rng = np.random.default_rng(seed)
    dense = np.where(rng.random((n_users, n_items)) < 0.5, rng.integers(1, 6, (n_users,
                                                                              n_items)), 0)
    dense[0, :2] = (4, 2)  # every model has ratings
    dense[-1, :] = 0
    dense[:, -1] = 0
    return sp.csr_matrix(dense.astype(np.float32))


@functools.lru_cache(maxsize=None)
def _fitted(kind: str):
    M = _small_ratings()
    return fit(kind, M), M


def fitted(kind: str):
    """A fitted model (a private copy: tests may change it) and its training matrix."""
    model, M = _fitted(kind)
    return copy.deepcopy(model), M


def _with_bad_index(matrix, where: str, value: int):
    """A copy of ``matrix`` whose first stored index (``where``) is replaced by ``value``,
    as a user may do by hand (scipy does not check arrays assigned after construction)."""
    m = matrix.copy()
    getattr(m, where)[0] = value
    return m


# ============================================================================ data layer
_INT_IDS = st.one_of(st.integers(-3, 3), st.sampled_from([-2**63, 2**63 - 1, 2**40, -1]))
_STR_IDS = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                   max_size=4)
_VALUE_DTYPES = ("float16", "float32", "float64", "int8", "int64", "uint8", "bool")


@st.composite
def triples(draw):
    """(users, items, values): lists of int64-extreme or unicode ids, values with NaN/inf in
    any dtype a user may pass."""
    ids = _INT_IDS if draw(st.booleans()) else _STR_IDS
    item_ids = _INT_IDS if draw(st.booleans()) else _STR_IDS
    n = draw(st.integers(0, 12))
    users = draw(st.lists(ids, min_size=n, max_size=n))
    items = draw(st.lists(item_ids, min_size=n, max_size=n))
    dtype = np.dtype(draw(st.sampled_from(_VALUE_DTYPES)))
    if dtype.kind == "f":
        elem = st.one_of(st.floats(-1000, 1000, width=16),
                         st.sampled_from([np.nan, np.inf, -np.inf]))
    elif dtype.kind == "b":
        elem = st.booleans()
    else:
        info = np.iinfo(dtype)
        elem = st.integers(max(int(info.min), -100), min(int(info.max), 100))
    values = np.array(draw(st.lists(elem, min_size=n, max_size=n)), dtype=dtype)
    return users, items, values


@SETTINGS
@given(triples(), st.sampled_from(["raise", "sum", "last"]),
       st.sampled_from(["raise", "drop"]), st.sampled_from([np.float32, np.float64]))
def test_from_arrays_builds_exactly_or_names_the_problem(data, duplicates, nonfinite, dtype):
    users, items, values = data
    finite = np.isfinite(values.astype(np.float64))
    rows = [(u, i, float(v)) for u, i, v, ok in zip(users, items, values, finite)
            if ok or nonfinite == "raise"]
    groups: dict = {}
    for u, i, v in rows:
        groups.setdefault((u, i), []).append(v)
    if nonfinite == "raise" and not finite.all():
        expect_named(lambda: Interactions.from_arrays(users, items, values, dtype=dtype,
                                                      duplicates=duplicates), "values")
        return
    if duplicates == "raise" and len(groups) < len(rows):
        expect_named(lambda: Interactions.from_arrays(users, items, values, dtype=dtype,
                                                      nonfinite=nonfinite), "duplicates")
        return
    x = Interactions.from_arrays(users, items, values, dtype=dtype, duplicates=duplicates,
                                 nonfinite=nonfinite)
    m = x.matrix
    assert m.dtype == dtype and m.has_canonical_format and np.isfinite(m.data).all()
    assert x.shape == (len({u for u, _ in groups}), len({i for _, i in groups}))
    if m.nnz:
        assert 0 <= m.indices.min() and m.indices.max() < x.n_items
    combine = {"raise": lambda g: g[0], "sum": sum, "last": lambda g: g[-1]}[duplicates]
    u_ext, i_ext, stored = x.to_arrays()
    got = dict(zip(zip(u_ext.tolist(), i_ext.tolist()), stored.tolist()))
    assert got.keys() == groups.keys()
    for key, g in groups.items():
        assert got[key] == pytest.approx(float(dtype(combine(g))), rel=1e-6)


@st.composite
def raw_csr(draw, max_rows: int = 5, max_cols: int = 5):
    """A CSR built from raw arrays: unsorted column indices, possibly repeated inside a row
    (non-canonical), values of any real dtype scipy supports."""
    n_rows, n_cols = draw(st.integers(0, max_rows)), draw(st.integers(0, max_cols))
    indptr, indices = [0], []
    for _ in range(n_rows):
        cols = draw(st.lists(st.integers(0, n_cols - 1), max_size=4)) if n_cols else []
        indices += cols
        indptr.append(len(indices))
    dtype = draw(st.sampled_from(["float32", "float64", "int32", "int64", "uint8", "bool"]))
    values = np.array(draw(st.lists(st.integers(0, 5), min_size=len(indices),
                                    max_size=len(indices))), dtype=dtype)
    return sp.csr_matrix((values, np.array(indices, dtype=np.int32),
                          np.array(indptr, dtype=np.int32)), shape=(n_rows, n_cols))


_FORMATS = ("csr", "csc", "coo", "lil", "dok", "bsr", "csr_array", "coo_array")


def as_format(matrix, fmt: str):
    if fmt.endswith("_array"):
        return getattr(sp, fmt)(matrix)
    return matrix.asformat(fmt)


@SETTINGS
@given(raw_csr(), st.sampled_from(_FORMATS + ("transposed",)))
def test_from_sparse_any_format_and_non_canonical(matrix, fmt):
    # "transposed": the CSC transpose of the raw CSR, sharing its duplicates and disorder
    given_m = matrix.T if fmt == "transposed" else as_format(matrix, fmt)
    coo = given_m.tocoo()  # keeps duplicates, as from_sparse reads them
    expected = np.zeros(given_m.shape)
    np.add.at(expected, (coo.row, coo.col), coo.data.astype(np.float64))
    if len(set(zip(coo.row.tolist(), coo.col.tolist()))) < coo.nnz:
        expect_named(lambda: Interactions.from_sparse(given_m), "duplicates", InputValueError)
    x = Interactions.from_sparse(given_m, duplicates="sum", dtype=np.float64)
    assert x.shape == given_m.shape and x.matrix.has_canonical_format
    assert x.matrix.dtype == np.float64 and np.isfinite(x.values).all()
    assert x.nnz == len(set(zip(coo.row.tolist(), coo.col.tolist())))
    np.testing.assert_array_equal(x.matrix.toarray(), expected)
    assert x.user_ids.tolist() == list(range(given_m.shape[0]))


@st.composite
def corrupted(draw):
    """A valid sparse matrix with one index array entry made out of range (as a user writing
    into ``.indices``/``.row``/``.indptr`` by hand), in CSR, CSC or COO."""
    n_rows, n_cols = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    dense = np.zeros((n_rows, n_cols), dtype=np.float32)
    dense[draw(st.integers(0, n_rows - 1)), draw(st.integers(0, n_cols - 1))] = 3.0
    fmt = draw(st.sampled_from(["csr", "csc", "coo"]))
    m = sp.csr_matrix(dense).asformat(fmt)
    where = draw(st.sampled_from({"csr": ["indices", "indptr"], "csc": ["indices", "indptr"],
                                  "coo": ["row", "col"]}[fmt]))
    limit = {"indices": n_cols if fmt == "csr" else n_rows, "row": n_rows, "col": n_cols,
             "indptr": 0}[where]
    if where == "indptr":  # a pointer beyond the stored entries, or a negative first one
        bad = draw(st.sampled_from([-1, 2, 50]))
        m.indptr[0 if bad < 0 else -1] = bad
    else:
        m = _with_bad_index(m, where, draw(st.sampled_from([-1, -2**31, limit, limit + 7,
                                                            2**31 - 1])))
    return m


@SETTINGS
@given(corrupted())
def test_corrupted_sparse_matrices_are_refused_before_any_read(m):
    expect_named(lambda: Interactions.from_sparse(m), "matrix", InputValueError)
    for kind in ("sgd", "ials-chol"):
        expect_named(lambda: fit(kind, m), x_name(kind), InputValueError)


@pytest.mark.parametrize("kind", ["sgd", "ials-cg"])
@pytest.mark.parametrize("call", [
    lambda m, bad: m.recommend(0, bad),
    lambda m, bad: m.recommend(0, bad, recalculate_user=True),
    lambda m, bad: m.partial_fit_users([0], bad),
], ids=["recommend", "recalculate_user", "partial_fit_users"])
@pytest.mark.parametrize("where,value", [("indices", 5), ("indices", 99), ("indices", -1),
                                         ("indptr", 9)])
def test_corrupted_user_rows_never_reach_a_kernel(kind, call, where, value):
    model, M = fitted(kind)
    if where == "indices":
        row = _with_bad_index(M[0], "indices", value)
    else:  # the row pointer runs past the stored entries
        row = M[0].copy()
        row.indptr[-1] = value
    before = model.user_factors_.copy()
    expect_named(lambda: call(model, row), "user_items", InputValueError)
    np.testing.assert_array_equal(model.user_factors_, before)


@pytest.mark.parametrize("call,name,kind", [
    # from_arrays: ids
    (lambda: Interactions.from_arrays([[1], [1, 2]], [1, 2], [1.0, 2.0]), "users",
     InputValueError),
    (lambda: Interactions.from_arrays([2**70], [1], [1.0]), "users", InputValueError),
    (lambda: Interactions.from_arrays(np.array([2**64 - 1], dtype=np.uint64), [1], [1.0]),
     "users", InputValueError),
    (lambda: Interactions.from_arrays(["a", 1], [1, 2], [1.0, 2.0]), "users", InputValueError),
    (lambda: Interactions.from_arrays([None], [1], [1.0]), "users", InputValueError),
    (lambda: Interactions.from_arrays([1], [np.nan], [1.0]), "items", InputValueError),
    (lambda: Interactions.from_arrays([1], np.array(["2020-01-01"], dtype="datetime64[D]"),
                                      [1.0]), "items", InputTypeError),
    # from_arrays: values, timestamps and options
    (lambda: Interactions.from_arrays([1], [1], [1e300]), "values", InputValueError),
    (lambda: Interactions.from_arrays([1, 1], [1, 1], [3e38, 3e38], duplicates="sum"),
     "values", InputValueError),
    (lambda: Interactions.from_arrays([1], [1], [1j]), "values", InputTypeError),
    (lambda: Interactions.from_arrays([1], [1], [[1.0]]), "values", InputValueError),
    (lambda: Interactions.from_arrays([1], [1], [1.0], timestamps=[np.nan]), "timestamps",
     InputValueError),
    (lambda: Interactions.from_arrays([1], [1], [1.0], timestamps=np.array(
        ["NaT"], dtype="datetime64[s]")), "timestamps", InputValueError),
    (lambda: Interactions.from_arrays([1], [1], [1.0], timestamps=["noon"]), "timestamps",
     InputTypeError),
    (lambda: Interactions.from_arrays([1], [1], [1.0], rating_scale=5), "rating_scale",
     InputTypeError),
    (lambda: Interactions.from_arrays([1], [1], [1.0], rating_scale=(1, 2, 3)),
     "rating_scale", InputValueError),
    (lambda: Interactions.from_arrays([1], [1], [1.0], rating_scale=("a", "b")),
     "rating_scale[0]", InputTypeError),
    (lambda: Interactions.from_arrays([1], [1], [1.0], rating_scale=(1, np.inf)),
     "rating_scale[1]", InputValueError),
    (lambda: Interactions.from_arrays([1], [1], [1.0], user_map="users"), "user_map",
     InputTypeError),
    (lambda: Interactions.from_arrays([1], [1], [1.0], item_map=[1]), "item_map",
     InputTypeError),
    (lambda: Interactions.from_arrays([1], [1], [1.0], dtype=np.float16), "dtype",
     InputValueError),
    (lambda: Interactions.from_arrays([1], [1], [1.0], duplicates=["sum"]), "duplicates",
     InputValueError),
    # from_sparse
    (lambda: Interactions.from_sparse(np.eye(2)), "matrix", InputTypeError),
    (lambda: Interactions.from_sparse(sp.coo_array(np.ones(3))), "matrix", InputValueError),
    (lambda: Interactions.from_sparse(sp.csr_matrix(np.eye(2, dtype=complex))), "matrix",
     InputTypeError),
    (lambda: Interactions.from_sparse(sp.csr_matrix(np.array([[1e300]]))), "values",
     InputValueError),
    (lambda: Interactions.from_sparse(sp.csr_matrix(np.array([[np.inf]], dtype=np.float32))),
     "values", InputValueError),
    (lambda: Interactions.from_sparse(sp.csr_matrix(np.eye(2)), item_ids=["a", "a"]),
     "item_ids", InputValueError),
    (lambda: Interactions.from_sparse(sp.csr_matrix(np.eye(2)), user_ids=[1, 2, 3]),
     "user_ids", InputValueError),
    (lambda: Interactions.from_sparse(sp.csr_matrix(np.eye(2)), rating_scale=(2, 1)),
     "rating_scale", InputValueError),
    # the constructor, given parts by hand
    (lambda: Interactions(np.eye(2), IdMap.range(2), IdMap.range(2)), "matrix",
     InputTypeError),
    (lambda: Interactions(sp.csr_matrix(np.eye(2)), [0, 1], IdMap.range(2)), "user_map",
     InputTypeError),
    (lambda: Interactions(_with_bad_index(sp.csr_matrix(np.eye(2)), "indices", 2),
                          IdMap.range(2), IdMap.range(2)), "matrix", InputValueError),
    (lambda: Interactions(sp.csr_matrix(np.eye(2)), IdMap.range(3), IdMap.range(2)),
     "matrix", InputValueError),
])
def test_data_layer_hostile_arguments_are_named(call, name, kind):
    expect_named(call, name, kind)


def test_from_dataframe_hostile_arguments_are_named():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"user": ["a", "b"], "item": [1, 2], "rating": [4.0, 5.0]})
    expect_named(lambda: Interactions.from_dataframe([[1, 2, 3.0]]), "df", InputTypeError)
    expect_named(lambda: Interactions.from_dataframe(df, user_col=None), "user_col")
    expect_named(lambda: Interactions.from_dataframe(df, item_col=["item"]), "item_col")
    expect_named(lambda: Interactions.from_dataframe(df, value_col="stars"), "value_col")
    nan_user = pd.DataFrame({"user": [1.0, np.nan], "item": [1, 2], "rating": [1.0, 2.0]})
    expect_named(lambda: Interactions.from_dataframe(nan_user), "users")
    na_rating = df.assign(rating=pd.array([1.0, None], dtype="Float64"))
    expect_named(lambda: Interactions.from_dataframe(na_rating), "values")
    # good: categorical and nullable-integer columns, implicit values, an empty frame
    ok = Interactions.from_dataframe(df.assign(user=pd.Categorical(df.user),
                                               item=pd.array([1, 2], dtype="Int64")),
                                     value_col=None)
    assert ok.user_ids.tolist() == ["a", "b"] and ok.values.tolist() == [1.0, 1.0]
    empty = Interactions.from_dataframe(df.iloc[:0])
    assert empty.shape == (0, 0) and empty.nnz == 0


@pytest.mark.parametrize("shape", [(0, 0), (0, 3), (3, 0), (1, 1), (4, 4)])
def test_empty_and_degenerate_shapes_build(shape):
    x = Interactions.from_sparse(sp.csr_matrix(shape, dtype=np.float32))
    assert x.shape == shape and x.nnz == 0 and x.matrix.indptr.size == shape[0] + 1
    x = Interactions.from_arrays([], [], [])
    assert x.shape == (0, 0) and x.to_arrays()[0].size == 0


def test_nonfinite_timestamps_follow_the_nonfinite_policy():
    x = Interactions.from_arrays([1, 2, 3], [1, 1, 1], [1.0, np.nan, 3.0],
                                 timestamps=[10.0, 20.0, np.nan], nonfinite="drop")
    assert x.user_ids.tolist() == [1] and x.timestamps.tolist() == [10.0]


# ============================================================================ estimators: fit
@st.composite
def rating_matrices(draw, max_users: int = 7, max_items: int = 6):
    """User×item ratings of any small shape (0 users, 0 items, 1×1 included), with empty
    rows and columns, maybe one giant user rating every item, in any sparse format."""
    n_users, n_items = draw(st.integers(0, max_users)), draw(st.integers(0, max_items))
    cells = set()
    if n_users and n_items:
        cells = draw(st.sets(st.tuples(st.integers(0, n_users - 1),
                                       st.integers(0, n_items - 1)), max_size=12))
        if draw(st.booleans()):
            giant = draw(st.integers(0, n_users - 1))
            cells |= {(giant, i) for i in range(n_items)}
    cells = sorted(cells)
    values = draw(st.lists(st.integers(1, 5), min_size=len(cells), max_size=len(cells)))
    rows = np.array([u for u, _ in cells], dtype=np.int64)
    cols = np.array([i for _, i in cells], dtype=np.int64)
    m = sp.csr_matrix((np.array(values, dtype=np.float32), (rows, cols)),
                      shape=(n_users, n_items))
    fmt = draw(st.sampled_from(_FORMATS))
    return as_format(m, fmt), m


def _check_model(model, M: sp.csr_matrix) -> None:
    """A fitted model is finite, shaped as the data, and its query methods behave."""
    n_users, n_items = M.shape
    P, Q = model.user_factors_, model.item_factors_
    assert P.shape == (n_users, 2) and Q.shape == (n_items, 2)
    assert np.isfinite(P).all() and np.isfinite(Q).all()
    assert len(model.user_map_) == n_users and len(model.item_map_) == n_items
    users = np.arange(n_users)
    ids, scores = model.recommend(users, M, N=3)
    assert ids.shape == scores.shape == (n_users, 3)
    assert ((ids >= -1) & (ids < n_items)).all()
    assert np.isfinite(scores[ids >= 0]).all() and (scores[ids < 0] == -np.inf).all()
    for u in range(n_users):  # seen items filtered; the rest, up to 3, returned
        seen = set(M[u].indices.tolist())
        got = [i for i in ids[u].tolist() if i >= 0]
        assert not seen & set(got) and len(got) == min(3, n_items - len(seen))
    for which, n in (("items", n_items), ("users", n_users)):
        if n:
            sim_ids, sim_scores = getattr(model, f"similar_{which}")(np.arange(n), N=2)
            assert np.isfinite(sim_scores[sim_ids >= 0]).all()
            assert (np.abs(sim_scores[sim_ids >= 0]) <= 1 + 1e-5).all()
    if isinstance(model, BiasedMF):
        coo = M.tocoo()
        pred = model.predict(model.user_map_.to_ids(coo.row), model.item_map_.to_ids(coo.col))
        lo, hi = model.rating_range_
        assert np.isfinite(pred).all() and ((pred >= lo) & (pred <= hi)).all()


@pytest.mark.parametrize("kind", KINDS)
@SETTINGS
@given(data=rating_matrices(), dtype=st.sampled_from([np.float32, np.float64]))
def test_fit_any_shape_and_format_gives_a_finite_model(kind, data, dtype):
    given_m, M = data
    if M.nnz == 0 and kind in ("sgd", "als"):
        expect_named(lambda: fit(kind, given_m, dtype=dtype), "X", InputValueError)
        return
    if not np.any(M.data) and kind not in ("sgd", "als"):  # zeros are missing: nothing to learn
        err = expect_named(lambda: fit(kind, given_m, dtype=dtype), "user_items",
                           InputValueError)
        assert "expected at least one non-zero interaction" in str(err)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback, overflow or conversion warning
        model = fit(kind, given_m, dtype=dtype)
    assert model.user_factors_.dtype == dtype
    _check_model(model, M)


@pytest.mark.parametrize("kind", KINDS)
@SETTINGS
@given(data=triples())
def test_fit_on_triples_fits_or_names_the_problem(kind, data):
    users, items, values = data
    finite = np.isfinite(values.astype(np.float64)).all()
    distinct = len(set(zip(users, items))) == len(items)
    X = (users, items, values)
    if not (finite and distinct):
        err = expect_named(lambda: fit(kind, X), x_name(kind))
        assert f": {'values' if not finite else 'duplicates'}: expected" in str(err)
        return
    if kind in ("sgd", "als") and len(items) == 0:
        expect_named(lambda: fit(kind, X), "X", InputValueError)
        return
    if kind not in ("sgd", "als") and not np.any(values.astype(np.float64)):
        expect_named(lambda: fit(kind, X), "user_items", InputValueError)
        return
    model = make(kind)
    try:
        fit_model(model, X)
    except TrainingDivergedError:  # SGD with a fixed step on ratings up to ±1000: documented
        assert kind == "sgd" and np.abs(values.astype(np.float64)).max() > 10
        assert not hasattr(model, "user_factors_")
        return
    assert np.isfinite(model.user_factors_).all() and np.isfinite(model.item_factors_).all()
    assert set(model.user_map_.ids.tolist()) == set(users)
    if kind in ("sgd", "als"):
        assert np.isfinite(model.predict(users, items)).all()


X_CASES = [
    ("dense ndarray", lambda: np.eye(3), InputTypeError),
    ("list of lists", lambda: [[1.0, 0.0], [0.0, 1.0]], InputTypeError),
    ("ndarray of objects", lambda: np.array([[1, 0], [0, "a"]], dtype=object), InputTypeError),
    ("list of three arrays", lambda: [[1], [1], [1.0]], InputTypeError),
    ("tuple of two", lambda: ([1], [2]), InputValueError),
    ("None", lambda: None, InputTypeError),
    ("string", lambda: "ratings.csv", InputTypeError),
    ("ragged ids", lambda: ([[1], [1, 2]], [1, 2], [1.0, 2.0]), InputValueError),
    ("python big-int ids", lambda: ([2**70], [1], [1.0]), InputValueError),
    ("mixed str/int ids", lambda: (["a", 1], [1, 2], [1.0, 2.0]), InputValueError),
    ("uint64 ids beyond int64", lambda: (np.array([2**64 - 1], np.uint64), [1], [1.0]),
     InputValueError),
    ("NaN value", lambda: ([1, 2], [1, 2], [1.0, np.nan]), InputValueError),
    ("value beyond float32", lambda: ([1, 2], [1, 2], [1.0, 1e300]), InputValueError),
    ("length mismatch", lambda: ([1, 2], [1], [1.0, 2.0]), InputValueError),
    ("complex sparse", lambda: sp.csr_matrix(np.eye(2, dtype=complex)), InputTypeError),
    ("1-D sparse array", lambda: sp.coo_array(np.ones(3)), InputValueError),
    ("non-finite Interactions", lambda: Interactions(
        sp.csr_matrix(np.array([[np.nan, 1.0]])), IdMap.range(1), IdMap.range(2)),
     InputValueError),
    ("float64 Interactions beyond float32", lambda: Interactions(
        sp.csr_matrix(np.array([[1e300, 1.0]])), IdMap.range(1), IdMap.range(2)),
     InputValueError),
]


@pytest.mark.parametrize("kind", ["sgd", "als", "ials-cg"])
@pytest.mark.parametrize("label,make_x,exc", X_CASES, ids=[c[0] for c in X_CASES])
def test_fit_hostile_data_is_named(kind, label, make_x, exc):
    err = expect_named(lambda: fit(kind, make_x()), x_name(kind), exc)
    if label == "dense ndarray":
        assert "scipy.sparse.csr_matrix" in str(err)  # says how to fix it


GOOD_X = [
    ("float16 values", lambda: ([0, 1, 2], [0, 1, 1], np.array([1, 2, 3], np.float16))),
    ("int values", lambda: ([0, 1, 2], [0, 1, 1], np.array([1, 2, 3], np.int8))),
    ("bool values", lambda: ([0, 1, 2], [0, 1, 1], np.array([True, True, True]))),
    ("unicode ids", lambda: (["zoë", "李", "🙂", ""], ["ß", "ß", "é", "é"],
                             [1.0, 2.0, 3.0, 4.0])),
    ("int64 extreme ids", lambda: ([-2**63, 2**63 - 1, 0], [2**62, -1, 2**62], [1.0, 2.0, 3.0])),
    ("integral float ids", lambda: ([0.0, 1.0], [3.0, 3.0], [4.0, 5.0])),
    ("bytes ids", lambda: ([b"a", b"b"], [b"x", b"x"], [4.0, 5.0])),
    ("implicit values (None)", lambda: ([0, 1], [1, 0], None)),
    ("int sparse", lambda: sp.csr_matrix(np.array([[1, 0], [0, 3]], dtype=np.int64))),
    ("bool sparse", lambda: sp.csc_matrix(np.array([[True, False], [True, True]]))),
    ("1x1", lambda: sp.coo_matrix(np.array([[4.0]]))),
    ("stored zero", lambda: sp.csr_matrix(([0.0, 3.0], ([0, 1], [1, 0])), shape=(2, 2))),
    ("float64 Interactions", lambda: Interactions.from_arrays([1, 2], [1, 2], [1.0, 2.0],
                                                              dtype=np.float64)),
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("label,make_x", GOOD_X, ids=[c[0] for c in GOOD_X])
def test_fit_good_but_unusual_data_gives_finite_factors(kind, label, make_x):
    model = fit(kind, make_x())
    assert np.isfinite(model.user_factors_).all() and np.isfinite(model.item_factors_).all()
    assert model.user_factors_.shape[0] == len(model.user_map_) >= 1


@pytest.mark.parametrize("kind", ["ials-cg", "ials-chol"])
@pytest.mark.parametrize("shape", [(0, 0), (0, 4), (4, 0), (3, 3)])
def test_implicit_fit_without_interactions_is_refused(kind, shape):
    """Nothing to learn from (issue 20: such a fit used to complete silently): the error
    names user_items, what it needs and the shape received; the model stays unfitted."""
    model = make(kind)
    err = expect_named(lambda: fit_model(model, sp.csr_matrix(shape, dtype=np.float32)),
                       "user_items", InputValueError)
    assert str(err) == ("user_items: expected at least one non-zero interaction, got a "
                        f"{shape[0]}×{shape[1]} matrix without non-zero values")
    assert not hasattr(model, "user_factors_")


# ============================================================================ hyper-parameters
# (estimator kinds, parameter, bad value, expected error class). float32 models: a value that
# is finite in float64 may still be inf in float32.
BAD_PARAMS = [
    (KINDS, "factors", 0, InputValueError), (KINDS, "factors", -3, InputValueError),
    (KINDS, "factors", 2.5, InputTypeError), (KINDS, "factors", "8", InputTypeError),
    (KINDS, "factors", True, InputTypeError), (KINDS, "factors", None, InputTypeError),
    (KINDS, "regularization", -0.1, InputValueError),
    (KINDS, "regularization", np.nan, InputValueError),
    (KINDS, "regularization", np.inf, InputValueError),
    (KINDS, "regularization", "0.1", InputTypeError),
    (KINDS, "regularization", None, InputTypeError),
    (KINDS, "regularization", 1e300, InputValueError),
    (KINDS, "iterations", -1, InputValueError), (KINDS, "iterations", 2.0, InputTypeError),
    (KINDS, "iterations", None, InputTypeError),
    (KINDS, "num_threads", -1, InputValueError), (KINDS, "num_threads", 1.5, InputTypeError),
    (KINDS, "num_threads", "4", InputTypeError),
    (KINDS, "dtype", np.int32, InputValueError), (KINDS, "dtype", np.float16, InputValueError),
    (KINDS, "dtype", "fp32", InputTypeError), (KINDS, "dtype", [1], InputTypeError),
    (KINDS, "random_state", "seed", InputTypeError), (KINDS, "random_state", 1.5, InputTypeError),
    (KINDS, "random_state", np.random.RandomState(0), InputTypeError),
    (("sgd", "als"), "regularization", (0.1, -1.0), InputValueError),
    (("sgd", "als"), "regularization", np.array([[0.1, 0.2]]), InputValueError),
    (("sgd", "als"), "regularization", {"user": 0.1}, InputTypeError),
    (("sgd", "als"), "bias_regularization", -1.0, InputValueError),
    (("sgd", "als"), "bias_regularization", (0.1, 0.1, 0.1), InputValueError),
    (("sgd", "als"), "learning_rate", 0.0, InputValueError),
    (("sgd", "als"), "learning_rate", -0.01, InputValueError),
    (("sgd", "als"), "learning_rate", np.inf, InputValueError),
    (("sgd", "als"), "learning_rate", 1e300, InputValueError),
    (("sgd", "als"), "learning_rate", "fast", InputTypeError),
    (("sgd", "als"), "learning_rate_schedule", "cyclic", InputValueError),
    (("sgd", "als"), "init_std", -0.1, InputValueError),
    (("sgd", "als"), "init_std", 1e300, InputValueError),
    (("sgd", "als"), "n_blocks", 0, InputValueError),
    (("sgd", "als"), "patience", 0, InputValueError),
    (("sgd", "als"), "solver", "magic", InputValueError),
    (("sgd", "als"), "solver", np.array(["sgd", "als"]), InputValueError),
    (("sgd", "als"), "weighted_regularization", "yes", InputTypeError),
    (("sgd", "als"), "weighted_regularization", np.array([True, False]), InputTypeError),
    (("sgd", "als"), "bias_learning_rate", -0.1, InputValueError),
    (("sgd", "als"), "bias_learning_rate", np.inf, InputValueError),
    (("sgd", "als"), "bias_learning_rate", [0.1], InputValueError),
    (("sgd", "als"), "bias_learning_rate", "fast", InputTypeError),
    (("sgd", "als"), "init_mean", np.nan, InputValueError),
    (("sgd", "als"), "init_mean", "0", InputTypeError),
    (("sgd", "als"), "biased", "no", InputTypeError),
    (("als",), "biased", False, InputValueError),
    (("ials-cg", "ials-chol"), "alpha", -1.0, InputValueError),
    (("ials-cg", "ials-chol"), "alpha", np.nan, InputValueError),
    (("ials-cg", "ials-chol"), "alpha", 1e300, InputValueError),
    (("ials-cg", "ials-chol"), "alpha", "1", InputTypeError),
    (("ials-cg", "ials-chol"), "cg_steps", 0, InputValueError),
    (("ials-cg", "ials-chol"), "confidence", "exp", InputValueError),
    (("ials-cg", "ials-chol"), "epsilon", 0.0, InputValueError),
    (("ials-cg", "ials-chol"), "use_cg", "no", InputTypeError),
    (("ials-cg", "ials-chol"), "use_native", None, InputTypeError),
    (("ials-cg", "ials-chol"), "calculate_training_loss", "yes", InputTypeError),
]


@pytest.mark.parametrize("kind,param,value,exc", [
    pytest.param(k, p, v, e, id=f"{k}-{p}-{n}") for n, (ks, p, v, e) in enumerate(BAD_PARAMS)
    for k in ks])
def test_bad_hyper_parameters_are_named_in_fit(kind, param, value, exc):
    model = make(kind, **{param: value})  # __init__ only stores (scikit-learn convention)
    name = f"{param}[1]" if param == "regularization" and isinstance(value, tuple) else param
    expect_named(lambda: fit_model(model, _small_ratings()), name, exc)
    assert not hasattr(model, "user_factors_")


GOOD_PARAMS = [
    (KINDS, "factors", np.int64(3)), (KINDS, "iterations", 0), (KINDS, "num_threads", 0),
    (KINDS, "num_threads", 1000), (KINDS, "dtype", "float64"), (KINDS, "dtype", np.float32),
    (KINDS, "regularization", 0.0), (KINDS, "regularization", np.float32(0.1)),
    (KINDS, "random_state", np.random.default_rng(1)), (KINDS, "random_state", 2**80),
    (("sgd", "als"), "regularization", np.array([0.1, 0.2])),
    (("sgd", "als"), "regularization", np.array(0.1)),
    (("sgd", "als"), "weighted_regularization", np.False_),
    (("sgd", "als"), "learning_rate", 1e-30), (("sgd", "als"), "n_blocks", 64),
    (("sgd", "als"), "init_std", 0.0),
    (("sgd", "als"), "learning_rate", (0.01, 0.02)), (("sgd", "als"), "init_mean", -0.5),
    (("sgd", "als"), "bias_learning_rate", 0.0), (("sgd", "als"), "bias_learning_rate", (0, 1)),
    (("sgd",), "biased", np.False_),
    (("ials-cg", "ials-chol"), "alpha", 0.0), (("ials-cg", "ials-chol"), "cg_steps", 50),
    (("ials-cg", "ials-chol"), "calculate_training_loss", True),
]


@pytest.mark.parametrize("kind,param,value", [
    pytest.param(k, p, v, id=f"{k}-{p}-{n}") for n, (ks, p, v) in enumerate(GOOD_PARAMS)
    for k in ks])
def test_edge_hyper_parameters_fit_finite_models(kind, param, value):
    with warnings.catch_warnings():
        # regularization 0 may legitimately warn about ridge fallbacks
        warnings.simplefilter("ignore" if param == "regularization" else "error")
        model = fit(kind, _small_ratings(), **{param: value})
    assert np.isfinite(model.user_factors_).all() and np.isfinite(model.item_factors_).all()
    assert model.user_factors_.shape == (7, 3 if param == "factors" else 2)


@pytest.mark.parametrize("kind", KINDS)
def test_fit_arguments_are_checked_before_training(kind):
    calls = []
    model = make(kind)
    fit_kwargs = {} if kind in ("sgd", "als") else {"show_progress": False}
    expect_named(lambda: model.fit(_small_ratings(), callback=calls, **fit_kwargs), "callback",
                 InputTypeError)
    assert calls == [] and not hasattr(model, "user_factors_")


@pytest.mark.parametrize("solver", ["sgd", "als"])
@pytest.mark.parametrize("validation,name,exc", [
    (([0, 1], [0], [4.0, 2.0]), "validation items", InputValueError),
    (([0, 1], [0, 1], [4.0]), "validation ratings", InputValueError),
    (([0, 1], [0, 1], ["4", "2"]), "validation ratings", InputTypeError),
    (([0, 1], [0, 1], [np.nan, 2.0]), "validation ratings", InputValueError),
    (([0, 1], [0, 1], [np.inf, 2.0]), "validation ratings", InputValueError),
    (([2**70], [0], [4.0]), "validation users", InputValueError),
    (([[0, 1]], [[0, 1]], [[4.0, 2.0]]), "validation users", InputValueError),
    (([], [], []), "validation", InputValueError),
    (sp.csr_matrix(np.eye(2)), "validation", InputTypeError),
])
def test_bad_validation_data_is_named(solver, validation, name, exc):
    model = make(solver)
    expect_named(lambda: model.fit(_small_ratings(), validation=validation), name, exc)
    assert not hasattr(model, "user_factors_")


def test_huge_ratings_within_float32_never_give_a_silent_nan_model():
    X = ([0, 1, 1], [0, 0, 1], [1e30, 1.0, -1e30])
    for kind in KINDS:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = fit(kind, X)
        except TrainingDivergedError:
            continue  # documented, and the model is left unfitted
        assert np.isfinite(model.user_factors_).all() and np.isfinite(model.item_factors_).all()


# ============================================================================ query methods
@functools.lru_cache(maxsize=None)
def _string_model():
    users = ["zoë", "李", "🙂", "amir", "b"] * 2
    items = ["x", "y", "z", "w", "v", "y", "z", "w", "v", "x"]
    return BiasedMF(factors=2, iterations=3, random_state=0).fit(
        (users, items, np.arange(1.0, 11.0) % 5 + 1))


@SETTINGS
@given(st.lists(st.tuples(
    st.one_of(st.sampled_from(["zoë", "李", "🙂", "amir", "b", "x", "nobody", ""]),
              st.integers(-2**63, 2**63 - 1)),
    st.sampled_from(["x", "y", "z", "w", "v", "?", "é"])), max_size=8))
def test_predict_any_ids(pairs):
    model = _string_model()
    users = [u for u, _ in pairs]
    items = [i for _, i in pairs]
    kinds = {type(u) for u in users}
    if len(kinds) > 1:
        expect_named(lambda: model.predict(users, items), "users", InputValueError)
        return
    pred = model.predict(users, items)
    assert pred.shape == (len(users),) and np.isfinite(pred).all()
    lo, hi = model.rating_range_
    assert ((pred >= lo) & (pred <= hi)).all()
    known_u = model.user_map_.to_index(users, missing="ignore") >= 0 if users else []
    for k, (u, i) in enumerate(zip(users, items)):
        if not known_u[k] and i not in ("x", "y", "z", "w", "v"):
            assert pred[k] == pytest.approx(np.clip(model.global_mean_, lo, hi))


@pytest.mark.parametrize("kind", KINDS)
@SETTINGS
@given(userid=st.one_of(st.integers(-3, 10), st.lists(st.integers(-3, 10), max_size=6)),
       id_dtype=st.sampled_from(["int64", "int32", "uint64", "int8", None]),
       N=st.integers(0, 12),
       filter_items=st.none() | st.lists(st.integers(-2, 7), max_size=4),
       filter_seen=st.booleans())
def test_recommend_any_indices(kind, userid, id_dtype, N, filter_items, filter_seen):
    model, M = _fitted(kind)  # queries never change the model
    n_users, n_items = M.shape
    arr = np.atleast_1d(np.asarray(userid))
    if id_dtype is not None:
        assume(not (id_dtype == "uint64" and (arr < 0).any()))
        userid = np.asarray(userid).astype(id_dtype)
        arr = np.atleast_1d(userid)
    rows = M[np.clip(arr, 0, n_users - 1).astype(np.int64)]

    def call():
        return model.recommend(userid, rows if filter_seen else None, N=N,
                               filter_already_liked_items=filter_seen,
                               filter_items=filter_items)
    if ((arr < 0) | (arr >= n_users)).any():
        expect_named(call, "userid", InputValueError)
        return
    if filter_items is not None and any(not 0 <= i < n_items for i in filter_items):
        expect_named(call, "filter_items", InputValueError)
        return
    ids, scores = call()
    banned = set(filter_items or [])
    if np.ndim(userid) == 0:
        ids, scores = ids[None], scores[None]
        assert ids.shape[1] <= N
    else:
        assert ids.shape == (arr.size, N)
    for r in range(ids.shape[0]):
        got = [i for i in ids[r].tolist() if i >= 0]
        seen = set(rows[r].indices.tolist()) if filter_seen else set()
        assert len(got) == len(set(got)) == min(N, n_items - len(seen | banned))
        assert not (seen | banned) & set(got)
        assert np.isfinite(scores[r, :len(got)]).all()
        assert (np.diff(scores[r, :len(got)]) <= 0).all()  # best first


@pytest.mark.parametrize("kind", ["sgd", "ials-cg"])
@SETTINGS
@given(which=st.sampled_from(["items", "users"]),
       query=st.one_of(st.integers(-2, 9), st.lists(st.integers(-2, 9), max_size=4)),
       N=st.integers(0, 10**12), candidates=st.none() | st.lists(st.integers(-1, 8),
                                                                    max_size=4))
def test_similar_any_indices_and_any_N(kind, which, query, N, candidates):
    model, M = _fitted(kind)
    n = M.shape[1] if which == "items" else M.shape[0]
    q = np.atleast_1d(query)
    call = functools.partial(getattr(model, f"similar_{which}"), query, N=N,
                             **{which: candidates})
    if ((q < 0) | (q >= n)).any():
        expect_named(call, f"{which[:-1]}id", InputValueError)
        return
    if candidates is not None and any(not 0 <= c < n for c in candidates):
        expect_named(call, which, InputValueError)
        return
    if np.ndim(query) and N > 1000:  # a batch is (n, N): an absurd N cannot be padded
        return
    ids, scores = call()
    width = n if candidates is None else len(set(candidates))
    assert ids.shape[-1] == (min(N, width) if np.ndim(query) == 0 else N)
    ok = ids >= 0
    assert np.isfinite(scores[ok]).all() and (np.abs(scores[ok]) <= 1 + 1e-5).all()
    if candidates is not None:
        assert set(ids[ok].tolist()) <= set(candidates)


# (label, call(model, M), error class, argument name). M is the 7×5 training matrix.
METHOD_CASES = [
    # recommend: userid
    ("userid=-1", lambda m, M: m.recommend(-1, M[0]), InputValueError, "userid"),
    ("userid=n_users", lambda m, M: m.recommend(7, M[0]), InputValueError, "userid"),
    ("userid=2**64-1", lambda m, M: m.recommend(np.uint64(2**64 - 1), M[0]), InputValueError,
     "userid"),
    ("userid=1.0", lambda m, M: m.recommend(1.0, M[1]), InputTypeError, "userid"),
    ("userid=True", lambda m, M: m.recommend(True, M[1]), InputTypeError, "userid"),
    ("userid='0'", lambda m, M: m.recommend("0", M[0]), InputTypeError, "userid"),
    ("userid 2-D", lambda m, M: m.recommend([[0]], M[0]), InputTypeError, "userid"),
    ("userid=None", lambda m, M: m.recommend(None, M[0]), InputTypeError, "userid"),
    ("recalculate userid=-1", lambda m, M: m.recommend(-1, M[0], recalculate_user=True),
     InputValueError, "userid"),
    # recommend: user_items
    ("user_items transposed", lambda m, M: m.recommend(0, M.T.tocsr()), InputValueError,
     "user_items"),
    ("user_items row transposed", lambda m, M: m.recommend(0, M[0].T), InputValueError,
     "user_items"),
    ("user_items dense", lambda m, M: m.recommend(0, M[0].toarray()), InputTypeError,
     "user_items"),
    ("user_items list", lambda m, M: m.recommend(0, [[1, 0, 0, 0, 0]]), InputTypeError,
     "user_items"),
    ("user_items complex", lambda m, M: m.recommend(0, M[0].astype(complex)), InputTypeError,
     "user_items"),
    ("user_items wrong rows", lambda m, M: m.recommend([0, 1, 2], M[:2]), InputValueError,
     "user_items"),
    ("user_items missing", lambda m, M: m.recommend(0), InputValueError, "user_items"),
    ("user_items NaN recalculate", lambda m, M: m.recommend(
        0, sp.csr_matrix(np.array([[np.nan, 0, 0, 0, 0]])), recalculate_user=True),
     InputValueError, "user_items"),
    ("user_items 1e300 recalculate", lambda m, M: m.recommend(
        0, sp.csr_matrix(np.array([[1e300, 0, 0, 0, 0]])), recalculate_user=True),
     InputValueError, "user_items"),
    # recommend: N, filters
    ("N=-1", lambda m, M: m.recommend(0, M[0], N=-1), InputValueError, "N"),
    ("N=2.5", lambda m, M: m.recommend(0, M[0], N=2.5), InputTypeError, "N"),
    ("N='3'", lambda m, M: m.recommend(0, M[0], N="3"), InputTypeError, "N"),
    ("filter_items=[5]", lambda m, M: m.recommend(0, M[0], filter_items=[5]), InputValueError,
     "filter_items"),
    ("filter_items=[-1]", lambda m, M: m.recommend(0, M[0], filter_items=[-1]),
     InputValueError, "filter_items"),
    ("filter_items floats", lambda m, M: m.recommend(0, M[0], filter_items=[1.0]),
     InputTypeError, "filter_items"),
    ("items=[99]", lambda m, M: m.recommend(0, M[0], items=[99]), InputValueError, "items"),
    ("items bool mask", lambda m, M: m.recommend(0, M[0], items=np.ones(5, bool)),
     InputTypeError, "items"),
    ("items and filter_items", lambda m, M: m.recommend(0, M[0], items=[1], filter_items=[2]),
     InputValueError, "items"),
    # similar_*
    ("similar_items(-1)", lambda m, M: m.similar_items(-1), InputValueError, "itemid"),
    ("similar_items(5)", lambda m, M: m.similar_items(5), InputValueError, "itemid"),
    ("similar_items('a')", lambda m, M: m.similar_items("a"), InputTypeError, "itemid"),
    ("similar_items N=-2", lambda m, M: m.similar_items(0, N=-2), InputValueError, "N"),
    ("similar_items items=[5]", lambda m, M: m.similar_items(0, items=[5]), InputValueError,
     "items"),
    ("similar_users(7)", lambda m, M: m.similar_users(7), InputValueError, "userid"),
    ("similar_users filter_users", lambda m, M: m.similar_users(0, filter_users=[-1]),
     InputValueError, "filter_users"),
    ("similar_users users", lambda m, M: m.similar_users(0, users=[0, 7]), InputValueError,
     "users"),
    # recommend_for (external ids)
    ("recommend_for unknown", lambda m, M: m.recommend_for(99), InputValueError, "users"),
    ("recommend_for string on int ids", lambda m, M: m.recommend_for("0"), InputValueError,
     "users"),
    ("recommend_for big int", lambda m, M: m.recommend_for(2**70), InputValueError, "users"),
    ("recommend_for 2-D", lambda m, M: m.recommend_for([[0]]), InputValueError, "users"),
    ("recommend_for seen matrix", lambda m, M: m.recommend_for(0, seen=M), InputTypeError,
     "seen"),
    ("recommend_for seen other maps", lambda m, M: m.recommend_for(
        0, seen=Interactions.from_arrays([0], [0], [1.0])), InputValueError, "seen"),
    # partial_fit_*
    ("partial_fit_users -1", lambda m, M: m.partial_fit_users([-1], M[0]), InputValueError,
     "userids"),
    ("partial_fit_users 2**63", lambda m, M: m.partial_fit_users(
        np.array([2**63], np.uint64), M[0]), InputValueError, "userids"),
    ("partial_fit_users float", lambda m, M: m.partial_fit_users([1.0], M[0]), InputTypeError,
     "userids"),
    ("partial_fit_users repeated", lambda m, M: m.partial_fit_users([1, 1], M[:2]),
     InputValueError, "userids"),
    ("partial_fit_users dense", lambda m, M: m.partial_fit_users([0], M[0].toarray()),
     InputTypeError, "user_items"),
    ("partial_fit_users transposed", lambda m, M: m.partial_fit_users([0], M[0].T),
     InputValueError, "user_items"),
    ("partial_fit_users NaN", lambda m, M: m.partial_fit_users(
        [0], sp.csr_matrix(np.array([[np.nan, 0, 0, 0, 0]]))), InputValueError, "user_items"),
    ("partial_fit_users new ids of another kind", lambda m, M: m.partial_fit_users(
        [7], M[0], new_user_ids=["x"]), InputValueError, "new_user_ids"),
    ("partial_fit_users new id already known", lambda m, M: m.partial_fit_users(
        [7], M[0], new_user_ids=[3]), InputValueError, "new_user_ids"),
    ("partial_fit_items transposed", lambda m, M: m.partial_fit_items([0], M[:, 0]),
     InputValueError, "item_users"),
    ("partial_fit_items out of range", lambda m, M: m.partial_fit_items(
        [0], _with_bad_index(M[:, 0].T.tocsr(), "indices", 7)), InputValueError, "item_users"),
    ("partial_fit_items -2", lambda m, M: m.partial_fit_items([-2], M[:, 0].T),
     InputValueError, "itemids"),
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("label,call,exc,name", METHOD_CASES, ids=[c[0] for c in METHOD_CASES])
def test_hostile_method_arguments_are_named_and_leave_the_model_intact(kind, label, call, exc,
                                                                       name):
    model, M = fitted(kind)
    before = (model.user_factors_.copy(), model.item_factors_.copy(), len(model.user_map_))
    expect_named(lambda: call(model, M), name, exc)
    np.testing.assert_array_equal(model.user_factors_, before[0])
    np.testing.assert_array_equal(model.item_factors_, before[1])
    assert len(model.user_map_) == before[2]


@pytest.mark.parametrize("kind", ["sgd", "als"])
def test_predict_hostile_arguments_are_named(kind):
    model, _ = fitted(kind)
    for users, items, name, exc in [
            ([0, 1], [0], "items", InputValueError),
            ([[0]], [[0]], "users", InputValueError),
            ([0.5], [0], "users", InputValueError),
            ([np.nan], [0], "users", InputValueError),
            ([[0], [0, 1]], [0, 1], "users", InputValueError),
            ([2**70], [0], "users", InputValueError),
            ([0], [1 + 2j], "items", InputTypeError),
            (["a", 1], [0, 1], "users", InputValueError)]:
        expect_named(lambda: model.predict(users, items), name, exc)
    # good: empty, scalar, unknown ids of the other kind (documented fallbacks)
    assert model.predict([], []).shape == (0,)
    assert np.isfinite(model.predict(0, 0)).all()
    assert model.predict(["zz"], [0])[0] == pytest.approx(
        np.clip(model.global_mean_ + model.item_bias_[0], *model.rating_range_))


def test_huge_N_is_served_without_huge_allocations():
    model, M = _fitted("ials-cg")
    ids, scores = model.recommend(0, M[0], N=10**15)
    assert ids.size == 5 - M[0].nnz and np.isfinite(scores).all()
    batch, batch_scores = model.recommend([0, 1], M[:2], N=9)
    assert batch.shape == (2, 9) and (batch[:, 5:] == -1).all()
    assert (batch_scores[:, 5:] == -np.inf).all()
    assert model.similar_items(0, N=2**62)[0].size == 5


@pytest.mark.parametrize("kind", KINDS)
def test_every_public_method_refuses_an_unfitted_model(kind, tmp_path):
    model = make(kind)
    M = _small_ratings()
    calls = [lambda: model.recommend(0, M[0]), lambda: model.recommend_for(0),
             lambda: model.similar_items(0), lambda: model.similar_users(0),
             lambda: model.partial_fit_users([0], M[0]),
             lambda: model.partial_fit_items([0], M[:, 0].T)]
    if kind in ("sgd", "als"):
        calls.append(lambda: model.predict([0], [0]))
    for call in calls:
        with pytest.raises(NotFittedError, match="not fitted"):
            call()
    # saving is allowed (as in implicit): the parameters alone, loading as an unfitted model
    back = load(model.save(tmp_path / "m"))
    assert type(back) is type(model) and not back._is_fitted()
    with pytest.raises(NotFittedError, match="not fitted"):
        back.similar_items(0)


@pytest.mark.parametrize("kind", KINDS)
def test_a_failed_fit_leaves_no_half_fitted_model(kind):
    model, M = fitted(kind)
    expect_named(lambda: model.fit(np.eye(3)) if kind in ("sgd", "als")
                 else model.fit(np.eye(3), show_progress=False), x_name(kind), InputTypeError)
    # the previous fit is intact: argument checks come before any state is cleared
    assert model.user_factors_.shape == (7, 2)
    ids, _ = model.recommend(0, filter_already_liked_items=False, N=2)
    assert ids.size == 2


def test_implicit_drop_in_is_implicit_als_with_implicit_semantics():
    assert issubclass(AlternatingLeastSquares, ImplicitALS)
    assert AlternatingLeastSquares().confidence == "proportional"


# ------------------------------------------------------------------ the error's parts
@pytest.mark.parametrize("label,make_x,exc", X_CASES, ids=[c[0] for c in X_CASES])
def test_errors_carry_argument_expected_received_and_pickle(label, make_x, exc):
    """The parts of the message are attributes (no parsing needed), also after pickling (Dask
    sends errors between processes); a callee's argument is prefixed by the caller's."""
    import pickle

    err = expect_named(lambda: fit("sgd", make_x()), "X", exc)
    assert str(err) == f"{err.argument}: expected {err.expected}, got {err.received}"
    assert err.argument == "X" or err.argument.startswith("X: ")
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is type(err) and str(back) == str(err)
    assert (back.argument, back.expected, back.received) == (err.argument, err.expected,
                                                            err.received)


def test_prefixed_error_names_the_callers_argument():
    from fastl2._validation import prefixed

    with pytest.raises(InputValueError) as info:
        Interactions.from_arrays([1, 1], [2, 2], [1.0, 2.0])
    inner = info.value
    assert inner.argument == "duplicates"
    outer = prefixed(inner, "X")
    assert type(outer) is InputValueError and str(outer) == f"X: {inner}"
    assert (outer.argument, outer.expected, outer.received) == ("X: duplicates", inner.expected,
                                                               inner.received)
    plain = prefixed(InputTypeError("a message alone"), "X")
    assert str(plain) == "X: a message alone" and plain.argument == "X"
    assert plain.expected is None and plain.received is None


def test_duplicate_pairs_say_what_was_received():
    """scikit-learn style pairs: the duplicates error becomes one about X, with the received
    part of the original error (formerly cut out of its message)."""
    with pytest.raises(InputValueError) as info:
        Interactions.from_arrays([1, 1], [2, 2], [1.0, 2.0])
    received = str(info.value).partition(", got ")[2]
    err = expect_named(lambda: BiasedMF(factors=2, iterations=1).fit(
        np.array([[1, 2], [1, 2]]), [1.0, 2.0]), "X", InputValueError)
    assert err.argument == "X" and err.received == received
    assert str(err).endswith(f", got {received}") and "duplicates='mean'" in str(err)


def test_a_message_alone_leaves_the_parts_unset():
    err = Fastl2Error("something went wrong")
    assert str(err) == "something went wrong"
    assert (err.argument, err.expected, err.received) == (None, None, None)
