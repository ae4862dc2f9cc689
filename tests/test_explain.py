"""ImplicitALS.explain: Hu, Koren & Volinsky (2008) section 5, implicit 0.7's contract."""

import numpy as np
import pytest
import scipy.sparse as sp

import fastl2
from fastl2.errors import InputValueError
from fastl2.models.implicit_als import ImplicitALS

COUNTS = np.array([
    [1, 1, 0, 1, 0, 0],
    [0, 1, 1, 1, 0, 0],
    [1, 4, 1, 0, 7, 0],
    [1, 1, 0, 0, 0, 0],
    [9, 0, 4, 1, 0, 1],
    [0, 1, 0, 0, 0, 1],
    [0, 0, 2, 0, 1, 1],
], dtype=np.float64)


def _conf(model, r):
    """(c, p) of a dense row, computed independently of fastl2's confidence()."""
    a = np.abs(r)
    if isinstance(model, fastl2.AlternatingLeastSquares) or model.confidence == "proportional":
        c = model.alpha * a
    else:
        c = 1.0 + model.alpha * a
    c = np.where(r == 0, 1.0, c)
    return c, (r > 0).astype(np.float64)


def _fitted(kind, dtype):
    if kind == "compat":
        model = fastl2.AlternatingLeastSquares(factors=4, regularization=20, alpha=2.0,
                                               use_cg=False, iterations=30, random_state=23,
                                               dtype=dtype)
    else:
        model = ImplicitALS(factors=4, regularization=20, alpha=2.0, use_cg=False,
                            iterations=30, random_state=23, dtype=dtype)
    user_items = sp.csr_matrix(COUNTS.astype(dtype))
    model.fit(user_items, show_progress=False)
    return model, user_items


CASES = [(k, d) for k in ("compat", "implicit_als") for d in (np.float32, np.float64)]


@pytest.fixture(params=CASES, ids=[f"{k}-{np.dtype(d).name}" for k, d in CASES])
def fitted(request):
    return _fitted(*request.param)


def _exact_score(model, userid, itemid):
    """x_u·y_i with x_u minimizing Σ_j c_uj (p_uj − xᵀy_j)² + λ‖x‖² over all items."""
    Y = model.item_factors_.astype(np.float64)
    c, p = _conf(model, COUNTS[userid])
    # weighted least squares as an augmented ordinary least-squares problem
    A = np.vstack([np.sqrt(c)[:, None] * Y, np.sqrt(model.regularization) * np.eye(Y.shape[1])])
    b = np.concatenate([np.sqrt(c) * p, np.zeros(Y.shape[1])])
    x = np.linalg.lstsq(A, b, rcond=None)[0]
    return float(x @ Y[itemid])


@pytest.mark.parametrize("userid,itemid", [(0, 2), (2, 5), (4, 1), (6, 0)])
def test_total_score_is_the_exact_solve(fitted, userid, itemid):
    model, user_items = fitted
    total, _, _ = model.explain(userid, user_items, itemid)
    expected = _exact_score(model, userid, itemid)
    assert total == pytest.approx(expected, rel=1e-5, abs=1e-9)
    # the user's single row gives the same
    total_row, _, _ = model.explain(userid, user_items[userid], itemid)
    assert total_row == pytest.approx(expected, rel=1e-5, abs=1e-9)


@pytest.mark.parametrize("userid", range(7))
def test_contributions_sum_sorted_and_liked(fitted, userid):
    model, user_items = fitted
    total, top, _ = model.explain(userid, user_items, itemid=3)
    scores = [s for _, s in top]
    items = [i for i, _ in top]
    assert sum(scores) == pytest.approx(total, rel=1e-10, abs=1e-12)
    assert scores == sorted(scores, reverse=True)
    assert sorted(items) == np.flatnonzero(COUNTS[userid]).tolist()
    assert all(type(i) is int and type(s) is float for i, s in top)
    assert type(total) is float


def test_user_weights_reuse_and_N(fitted):
    model, user_items = fitted
    total, top, W = model.explain(2, user_items, itemid=5)
    assert isinstance(W, tuple) and len(W) == 2
    assert W[0].shape == (4, 4) and W[0].dtype == np.float64
    total2, top2, W2 = model.explain(2, user_items, itemid=5, user_weights=W, N=2)
    assert W2 is W
    assert total2 == total
    assert top2 == top[:2]
    assert len(top2) == 2
    assert model.explain(2, user_items, itemid=5, user_weights=W) == (total, top, W)
    assert model.explain(2, user_items, itemid=5, N=0)[1] == []


def test_matches_fold_in(fitted):
    model, user_items = fitted
    for userid in range(7):
        x = model._fold_in_users(user_items[userid:userid + 1].tocsr(), True)[0][0]
        for itemid in range(6):
            total, _, _ = model.explain(userid, user_items, itemid)
            expected = float(x.astype(np.float64) @ model.item_factors_[itemid].astype(np.float64))
            tol = 1e-4 if model.item_factors_.dtype == np.float32 else 1e-8
            assert total == pytest.approx(expected, rel=tol, abs=tol)


def test_fewer_columns_are_padded(fitted):
    model, user_items = fitted
    row = sp.csr_matrix(COUNTS[1:2, :4])  # user 1's items are all among the first 4
    assert model.explain(1, row, 2)[:2] == model.explain(1, user_items, 2)[:2]


@pytest.mark.parametrize("kwargs,name", [
    ({"userid": 0, "itemid": 6}, "itemid"),
    ({"userid": 0, "itemid": -1}, "itemid"),
    ({"userid": 7, "itemid": 0}, "userid"),
    ({"userid": -1, "itemid": 0}, "userid"),
    ({"userid": 0, "itemid": 0, "N": -1}, "N"),
])
def test_bad_arguments(kwargs, name):
    model, user_items = _fitted("compat", np.float32)
    with pytest.raises(InputValueError, match=name) as info:
        model.explain(user_items=user_items, **kwargs)
    assert info.value.argument == name
    assert isinstance(info.value, ValueError)


def test_bad_user_items():
    model, _ = _fitted("compat", np.float32)
    with pytest.raises(fastl2.errors.Fastl2Error, match="user_items"):
        model.explain(0, COUNTS, 0)
    with pytest.raises(InputValueError, match="user_items"):
        model.explain(0, sp.csr_matrix(np.ones((7, 9))), 0)


def test_not_fitted():
    with pytest.raises(fastl2.errors.NotFittedError):
        ImplicitALS().explain(0, sp.csr_matrix(COUNTS), 0)
