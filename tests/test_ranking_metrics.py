"""Ranking metrics: kernel vs NumPy twin, hand-computed cases, façade, implicit's own code."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from fastl2 import BiasedMF, ImplicitALS, Interactions
from fastl2._kernels import metrics as K
from fastl2._reference import metrics as R
from fastl2.errors import InputValueError
from fastl2.evaluation import cross_validate, random_split, ranking_metrics_at_k


def _metrics(mod, ids, test, n_items):
    out = np.zeros((ids.shape[0], 7))
    mod.user_metrics(ids, test.indptr.astype(np.int64), test.indices.astype(np.int64), n_items,
                     out)
    return out


def test_hand_computed_example():
    ids = np.array([[4, 2, 1]])
    test = sp.csr_matrix((np.ones(2), ([0, 0], [1, 4])), shape=(1, 10))
    hits, denom, recall, ap, ndcg, auc, rr = _metrics(K, ids, test, 10)[0]
    assert (hits, denom, recall, rr) == (2, 2, 1.0, 1.0)
    assert ap == pytest.approx((1 / 1 + 2 / 3) / 2)
    assert ndcg == pytest.approx((1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3)))
    # one miss (rank 2) with one hit before it; outside the list (2+2)/2 × (8 − 1)
    assert auc == pytest.approx((1 + 14) / 16)
    # no hit at all, and a padded list
    ids = np.array([[7, -1, -1]])
    hits, denom, recall, ap, ndcg, auc, rr = _metrics(K, ids, test, 10)[0]
    assert (hits, ap, ndcg, rr) == (0, 0, 0, 0)
    assert auc == pytest.approx(((0 + 2) / 2 * (8 - 3)) / 16)


def test_kernel_matches_reference_on_random_lists():
    rng = np.random.default_rng(0)
    n_users, n_items, k = 200, 60, 10
    test = sp.random(n_users, n_items, density=0.1, format="csr", random_state=1)
    test = test[np.diff(test.indptr) > 0]
    test.sort_indices()
    ids = np.stack([rng.permutation(n_items)[:k] for _ in range(test.shape[0])])
    ids[::7, -3:] = -1
    np.testing.assert_allclose(_metrics(K, ids, test, n_items), _metrics(R, ids, test, n_items),
                               rtol=1e-12)


@pytest.fixture(scope="module")
def split_model():
    rng = np.random.default_rng(3)
    U, V = rng.normal(size=(300, 4)), rng.normal(size=(120, 4))
    S = U @ V.T
    u, i = np.nonzero(S > np.quantile(S, 0.8))
    data = Interactions.from_arrays(u, i, np.ones(u.size))
    train, test = random_split(data, test_fraction=0.2, random_state=0)
    model = ImplicitALS(factors=4, iterations=6, random_state=0).fit(train, show_progress=False)
    return model, train, test


def test_facade_equals_recommend_plus_reference(split_model):
    model, train, test = split_model
    res = ranking_metrics_at_k(model, train, test, K=10)
    T = test.matrix
    users = np.nonzero(np.diff(T.indptr) > 0)[0]
    ids, _ = model.recommend(users, train.matrix[users], N=10)
    sub = T[users]
    sub.sort_indices()
    ref = _metrics(R, ids, sub, T.shape[1])
    assert res["users"] == users.size
    assert res["precision"] == pytest.approx(ref[:, 0].sum() / ref[:, 1].sum(), rel=1e-12)
    for j, name in ((2, "recall"), (3, "map"), (4, "ndcg"), (5, "auc"), (6, "mrr")):
        assert res[name] == pytest.approx(ref[:, j].mean(), rel=1e-12)
    assert res["hit_rate"] == pytest.approx(np.mean(ref[:, 0] > 0))
    assert res["coverage"] == pytest.approx(np.unique(ids[ids >= 0]).size / T.shape[1])
    # a model that learned something beats random ranking by far
    assert res["auc"] > 0.8 and res["precision"] > 0.2


def test_matches_implicit_evaluation_if_installed(split_model):
    evaluation = pytest.importorskip("implicit.evaluation")
    model, train, test = split_model
    theirs = evaluation.ranking_metrics_at_k(model, train.matrix, test.matrix, K=10,
                                             show_progress=False)
    ours = ranking_metrics_at_k(model, train, test, K=10)
    for name in ("precision", "map", "ndcg", "auc"):
        assert ours[name] == pytest.approx(theirs[name], rel=1e-9, abs=1e-12)


def test_implicit_script_runs_with_only_the_import_changed_if_installed():
    pytest.importorskip("implicit")
    script = '''
import numpy as np, scipy.sparse as sp
from {module} import AlternatingLeastSquares
rng = np.random.default_rng(0)
user_items = sp.random(60, 30, density=0.2, format="csr", random_state=0, dtype=np.float32)
model = AlternatingLeastSquares(factors=8, regularization=0.05, iterations=5, random_state=0)
model.fit(user_items, show_progress=False)
ids, scores = model.recommend(0, user_items[0], N=5)
batch_ids, batch_scores = model.recommend(np.arange(3), user_items[:3], N=5)
similar, sim_scores = model.similar_items(1, N=4)
result = (ids.shape, batch_ids.shape, similar.shape, int(similar[0]),
          model.user_factors.shape, model.item_factors.shape)
'''
    shapes = []
    for module in ("implicit.cpu.als", "fastl2"):
        env: dict = {}
        exec(script.format(module=module), env)
        shapes.append(env["result"])
    assert shapes[0] == shapes[1]


def test_cross_validate_explicit_and_implicit(split_model):
    rng = np.random.default_rng(0)
    u = rng.integers(0, 50, 2000)
    i = rng.integers(0, 40, 2000)
    data = Interactions.from_arrays(u, i, rng.integers(1, 6, 2000).astype(float),
                                    duplicates="last")
    res = cross_validate(BiasedMF(factors=2, iterations=5, random_state=0), data, folds=3,
                         metrics=("rmse", "mae"), random_state=0)
    assert len(res["rmse"]["folds"]) == 3
    assert res["rmse"]["mean"] == pytest.approx(np.mean(res["rmse"]["folds"]))
    assert res["rmse"]["std"] == pytest.approx(np.std(res["rmse"]["folds"]))
    assert 0.5 < res["rmse"]["mean"] < 2.5
    _, train, test = split_model
    both = Interactions(train.matrix + test.matrix, train.user_map, train.item_map)
    r2 = cross_validate(ImplicitALS(factors=4, iterations=4, random_state=0), both, folds=3,
                        metrics=("ndcg", "precision"), random_state=1,
                        fit_params={"show_progress": False})
    assert all(0 < v <= 1 for v in r2["ndcg"]["folds"])
    with pytest.raises(InputValueError, match="metrics"):
        cross_validate(ImplicitALS(), both, metrics=("rmse",))
    with pytest.raises(InputValueError, match="metrics"):
        cross_validate(BiasedMF(), data, metrics=("nope",))


def test_bad_arguments_are_named(split_model):
    model, train, test = split_model
    with pytest.raises(InputValueError, match="test_user_items"):
        ranking_metrics_at_k(model, train, test.matrix[:, :5])
    with pytest.raises(InputValueError, match="K"):
        ranking_metrics_at_k(model, train, test, K=0)
