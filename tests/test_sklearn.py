"""scikit-learn conventions of every fastl2 estimator: parameters, clone, fit(X, y) on
(user, item) pairs, scorers, GridSearchCV over an Interactions split. The tests that run
scikit-learn itself skip without it; the conventions are tested without it too."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import scipy.sparse as sp

from fastl2 import BiasedMF, ImplicitALS, Interactions
from fastl2.datasets import synthetic_ratings
from fastl2.errors import InputTypeError, InputValueError
from fastl2.evaluation import (holdout_cv, mae, mae_scorer, random_split, ranking_metrics_at_k,
                               ranking_scorer, rmse, rmse_scorer, to_xy)
from fastl2.models.base import Estimator

MF = dict(factors=4, iterations=15, learning_rate=0.02, regularization=0.02, random_state=0)
ALS = dict(factors=4, iterations=3, random_state=0)


@pytest.fixture(scope="module")
def ratings() -> Interactions:
    return synthetic_ratings(n_users=200, n_items=120, n_ratings=8000, rank=3, noise=0.3,
                             seed=2).interactions


def _estimators():
    return [BiasedMF(**MF),
            BiasedMF(solver="als", regularization=(0.1, 0.2), dtype=np.float64,
                     random_state=np.random.default_rng(3), bias_learning_rate=(0.0, 0.01)),
            ImplicitALS(**ALS, confidence="log")]


# ---------------------------------------------------------------------------- parameters
class _Wrapper(Estimator):
    """An estimator whose parameter is an estimator (for the nested ``a__b`` protocol)."""

    def __init__(self, inner=None, weight=1.0):
        self.inner = inner
        self.weight = weight


def test_params_round_trip_including_nested_values():
    for est in _estimators():
        params = est.get_params()
        twin = type(est)().set_params(**params)
        assert twin.get_params() == params
        assert all(twin.get_params()[k] is v for k, v in params.items())  # stored as given
    outer = _Wrapper(inner=BiasedMF(regularization=(0.1, 0.3)), weight=2.0)
    deep = outer.get_params(deep=True)
    assert deep["inner__regularization"] == (0.1, 0.3) and deep["inner__factors"] == 64
    assert "inner__factors" not in outer.get_params(deep=False)
    outer.set_params(inner__factors=7, inner__regularization=(0.5, 0.6), weight=3.0)
    assert outer.inner.factors == 7 and outer.inner.regularization == (0.5, 0.6)
    assert outer.weight == 3.0
    with pytest.raises(InputValueError, match="^set_params: expected parameter names"):
        outer.set_params(nonsense__x=1)


@pytest.mark.parametrize("est", _estimators(), ids=["sgd", "als", "ials"])
def test_sklearn_clone_every_estimator(est, ratings):
    base = pytest.importorskip("sklearn.base")
    fitted = est.fit(ratings, show_progress=False) if isinstance(est, ImplicitALS) \
        else est.fit(ratings)
    twin = base.clone(fitted)
    assert type(twin) is type(est) and not hasattr(twin, "user_factors_")
    for key, value in est.get_params().items():
        if isinstance(value, np.random.Generator):  # deep-copied: same state, new object
            assert twin.get_params()[key].bit_generator.state == value.bit_generator.state
            assert twin.get_params()[key] is not value
        else:
            assert twin.get_params()[key] == value, key
    assert repr(twin).split(" at 0x")[0] == repr(est).split(" at 0x")[0]


def test_sklearn_nested_params_through_a_meta_estimator(ratings):
    model_selection = pytest.importorskip("sklearn.model_selection")
    search = model_selection.GridSearchCV(BiasedMF(**MF), {"factors": [2]})
    assert search.get_params()["estimator__regularization"] == MF["regularization"]
    search.set_params(estimator__regularization=(0.3, 0.4))
    assert search.estimator.regularization == (0.3, 0.4)


def test_sklearn_tags_and_estimator_kind():
    base = pytest.importorskip("sklearn.base")
    assert base.is_regressor(BiasedMF()) and not base.is_regressor(ImplicitALS())
    assert not base.is_classifier(BiasedMF())


# ---------------------------------------------------------------------------- fit(X, y)
def test_pairs_and_y_fit_the_same_model_as_a_tuple(ratings):
    X, y = to_xy(ratings)
    a = BiasedMF(**MF).fit(X, y)
    b = BiasedMF(**MF).fit(ratings)
    assert np.array_equal(a.user_factors_, b.user_factors_)
    np.testing.assert_array_equal(a.predict(X), b.predict(X[:, 0], X[:, 1]))
    c = ImplicitALS(**ALS).fit(X, y)  # scikit-learn passes y positionally
    d = ImplicitALS(**ALS).fit(ratings, show_progress=False)
    assert np.array_equal(c.user_factors_, d.user_factors_)
    e = ImplicitALS(**ALS).fit(X, y=y, show_progress=False)
    assert np.array_equal(e.item_factors_, d.item_factors_)


def test_pairs_from_a_dataframe(ratings):
    pd = pytest.importorskip("pandas")
    users, items, values = ratings.to_arrays()
    frame = pd.DataFrame({"user": users.astype(str), "item": items})
    model = BiasedMF(**MF).fit(frame, pd.Series(values))
    assert model.user_map_.ids.dtype.kind == "U" and model.item_map_.ids.dtype.kind == "i"
    np.testing.assert_array_equal(model.predict(frame), model.predict(users.astype(str), items))
    with pytest.raises(InputValueError, match="^X: expected an \\(n, 2\\) array"):
        BiasedMF(**MF).fit(frame.assign(extra=1), values)


def test_to_xy_keeps_id_types():
    ints = Interactions.from_arrays([5, 6], [7, 8], [1.0, 2.0])
    X, y = to_xy(ints)
    assert X.dtype == np.int64 and X.tolist() == [[5, 7], [6, 8]] and y.dtype == np.float64
    strs = Interactions.from_arrays(["a", "b"], ["x", "y"], [1.0, 2.0])
    assert to_xy(strs)[0].tolist() == [["a", "x"], ["b", "y"]]
    mixed = Interactions.from_arrays(["a", "b"], [7, 8], [1.0, 2.0])
    X, _ = to_xy(mixed)
    assert X.dtype == object and X[0, 0] == "a" and isinstance(X[0, 1], (int, np.integer))
    model = BiasedMF(**MF).fit(*to_xy(mixed))
    assert model.item_map_.ids.dtype.kind == "i"  # item ids stay integers
    with pytest.raises(InputTypeError, match="^data: expected an Interactions"):
        to_xy([(1, 2, 3.0)])


@pytest.mark.parametrize("call,name,exc", [
    (lambda X, y: BiasedMF(**MF).fit(X, y[:-1]), "y", InputValueError),
    (lambda X, y: BiasedMF(**MF).fit(X, y.astype(str)), "y", InputTypeError),
    (lambda X, y: BiasedMF(**MF).fit(X, np.where(y > 4, np.nan, y)), "y", InputValueError),
    (lambda X, y: BiasedMF(**MF).fit(np.c_[X, X[:, :1]], y), "X", InputValueError),
    (lambda X, y: BiasedMF(**MF).fit(X[:, 0], y), "X", InputValueError),
    (lambda X, y: BiasedMF(**MF).fit((X[:, 0], X[:, 1], y), y), "y", InputValueError),
    (lambda X, y: BiasedMF(**MF).fit(np.r_[X, X[:1]], np.r_[y, y[:1]]), "X", InputValueError),
    (lambda X, y: ImplicitALS(**ALS).fit(X, y[:3]), "y", InputValueError),
    (lambda X, y: BiasedMF(**MF).fit(X), "X", InputTypeError),
    (lambda X, y: BiasedMF(**MF).fit(X, y).predict(X[:, 0]), "X", InputValueError),
    (lambda X, y: BiasedMF(**MF).fit(X, y).predict(7), "X", InputTypeError),
    (lambda X, y: BiasedMF(**MF).fit(X, y).score(X, y[:5]), "y", InputValueError),
    (lambda X, y: rmse_scorer(BiasedMF(**MF).fit(X, y), X, y[1:]), "y_pred", InputValueError),
])
def test_bad_pairs_and_y_are_named(ratings, call, name, exc):
    X, y = to_xy(ratings)
    with pytest.raises(exc, match=rf"^{name}: expected .+, got "):
        call(X, y)


def test_x_without_y_says_how_to_pass_pairs(ratings):
    X, _ = to_xy(ratings)
    with pytest.raises(InputTypeError, match="pairs needs their values as y"):
        BiasedMF().fit(X)


# ---------------------------------------------------------------------------- scorers
def test_rating_scorers_and_score(ratings):
    train, test = random_split(ratings, random_state=0)
    model = BiasedMF(**MF).fit(*to_xy(train))
    X, y = to_xy(test)
    pred = model.predict(X)
    assert rmse_scorer(model, X, y) == -rmse(y, pred) < 0
    assert mae_scorer(model, X, y) == -mae(y, pred) < 0
    r2 = model.score(X, y)
    assert r2 == pytest.approx(1 - np.sum((y - pred) ** 2) / np.sum((y - y.mean()) ** 2))
    assert 0 < r2 < 1


def test_score_is_sklearns_r2(ratings):
    metrics = pytest.importorskip("sklearn.metrics")
    X, y = to_xy(ratings)
    model = BiasedMF(**MF).fit(X[::2], y[::2])
    assert model.score(X[1::2], y[1::2]) == pytest.approx(
        metrics.r2_score(y[1::2], model.predict(X[1::2])), rel=1e-12)
    constant = np.full(4, 3.0)  # scikit-learn's convention for a constant truth
    assert model.score(X[:4], constant) == metrics.r2_score(constant, model.predict(X[:4]))


def test_ranking_scorer_is_ranking_metrics_at_k_on_the_fold(ratings):
    train, test = random_split(ratings, random_state=1)
    model = ImplicitALS(**ALS).fit(*to_xy(train))
    X, y = to_xy(test)
    want = ranking_metrics_at_k(model, train, test, K=5)
    for metric in ("ndcg", "precision", "map", "auc"):
        scorer = ranking_scorer(metric, K=5, seen=ratings)
        assert scorer(model, X, y) == pytest.approx(want[metric], rel=1e-12)
    unfiltered = ranking_scorer("precision", K=5)(model, X, y)
    nothing_seen = ranking_metrics_at_k(model, sp.csr_matrix(train.shape), test, K=5)
    assert unfiltered == pytest.approx(nothing_seen["precision"])
    # a threshold on y keeps only the pairs valued above it as relevant
    high = ranking_scorer("recall", K=5, seen=ratings, threshold=float(np.median(y)))
    assert np.isfinite(high(model, X, y))
    assert pickle.loads(pickle.dumps(ranking_scorer("map", K=3))).K == 3


@pytest.mark.parametrize("kwargs,name,exc", [
    (dict(metric="rmse"), "metric", InputValueError),
    (dict(K=0), "K", InputValueError),
    (dict(seen=[(1, 2)]), "seen", InputTypeError),
    (dict(threshold="high"), "threshold", InputTypeError),
])
def test_ranking_scorer_arguments_are_named(kwargs, name, exc):
    with pytest.raises(exc, match=rf"^{name}: expected .+, got "):
        ranking_scorer(**kwargs)


# ---------------------------------------------------------------------------- model selection
def test_grid_search_over_an_interactions_holdout(ratings):
    model_selection = pytest.importorskip("sklearn.model_selection")
    train, test = random_split(ratings, test_fraction=0.2, random_state=0)
    X, y, cv = holdout_cv(train, test)
    assert len(cv) == 1 and cv[0][0].size == train.nnz and cv[0][1].size == test.nnz
    grid = {"regularization": [0.001, 0.05], "factors": [2, 6]}
    search = model_selection.GridSearchCV(BiasedMF(**MF), grid, scoring=rmse_scorer, cv=cv,
                                          error_score="raise").fit(X, y)
    # each candidate's score is exactly fastl2's own RMSE of that model on the test part
    tu, ti, tr = test.to_arrays()
    for params, score in zip(search.cv_results_["params"],
                             search.cv_results_["mean_test_score"]):
        model = BiasedMF(**{**MF, **params}).fit(train)
        assert score == pytest.approx(-rmse(tr, model.predict(tu, ti)), rel=1e-12)
    best = np.argmax(search.cv_results_["mean_test_score"])
    assert search.best_params_ == search.cv_results_["params"][best]
    assert isinstance(search.best_estimator_, BiasedMF)  # refit on train + test
    assert search.best_estimator_.user_map_.ids.size == ratings.n_users


def test_kfold_search_parallel_and_multi_metric(ratings):
    model_selection = pytest.importorskip("sklearn.model_selection")
    X, y = to_xy(ratings)
    folds = model_selection.KFold(3, shuffle=True, random_state=0)
    search = model_selection.GridSearchCV(
        BiasedMF(**MF), {"solver": ["sgd", "als"]}, cv=folds, n_jobs=2, refit="rmse",
        scoring={"rmse": rmse_scorer, "mae": mae_scorer, "r2": "r2"},
        error_score="raise").fit(X, y)
    for key in ("mean_test_rmse", "mean_test_mae", "mean_test_r2"):
        assert np.isfinite(search.cv_results_[key]).all()
    assert (search.cv_results_["mean_test_rmse"] < -0.2).all()  # negated RMSE
    builtin = model_selection.cross_val_score(BiasedMF(**MF), X, y, cv=folds,
                                              scoring="neg_root_mean_squared_error")
    ours = model_selection.cross_val_score(BiasedMF(**MF), X, y, cv=folds,
                                           scoring=rmse_scorer)
    np.testing.assert_allclose(builtin, ours, rtol=1e-12)


def test_grid_search_tunes_implicit_als_by_ranking(ratings):
    model_selection = pytest.importorskip("sklearn.model_selection")
    X, y = to_xy(ratings)
    search = model_selection.GridSearchCV(
        ImplicitALS(**ALS), {"regularization": [0.01, 10.0]},
        scoring=ranking_scorer("ndcg", K=10, seen=ratings),
        cv=model_selection.KFold(2, shuffle=True, random_state=0), error_score="raise")
    search.fit(X, y)
    scores = search.cv_results_["mean_test_score"]
    assert np.isfinite(scores).all() and 0 < scores.max() <= 1
    assert isinstance(search.best_estimator_, ImplicitALS)


def test_compat_surprise_without_scikit_surprise_says_how_to_install():
    import importlib.util
    import sys

    if importlib.util.find_spec("surprise") is not None:
        pytest.skip("scikit-surprise is installed (tests/test_compat_surprise.py runs)")
    sys.modules.pop("fastl2.compat.surprise", None)
    with pytest.raises(ImportError, match=r'pip install "fastl2\[surprise\]"'):
        import fastl2.compat.surprise  # noqa: F401
