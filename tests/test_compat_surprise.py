"""fastl2.compat.surprise.SVD against scikit-surprise: constructor, semantics of estimate /
predict / test, Surprise's own model selection, accuracy, errors (skipped without Surprise)."""

from __future__ import annotations

import inspect
import pickle

import numpy as np
import pytest

surprise = pytest.importorskip("surprise")

from surprise import AlgoBase, Dataset, Reader  # noqa: E402
from surprise import SVD as SurpriseSVD  # noqa: E402
from surprise.model_selection import (GridSearchCV, KFold, RandomizedSearchCV,  # noqa: E402
                                      cross_validate)

from fastl2.compat.surprise import SVD, _trainset_interactions  # noqa: E402
from fastl2.errors import (InputTypeError, InputValueError, NotFittedError,  # noqa: E402
                           TrainingDivergedError)

from .conftest import shared_file  # noqa: E402

SMALL = dict(n_factors=8, n_epochs=10, random_state=0)


def _dataset(path, users, items, ratings, scale=(1, 5)) -> "Dataset":
    """A Surprise Dataset read by Surprise itself from a file (no pandas needed)."""
    with open(path, "w") as fh:
        fh.writelines(f"{u}\t{i}\t{r}\n" for u, i, r in zip(users, items, ratings))
    return Dataset.load_from_file(str(path), Reader(line_format="user item rating", sep="\t",
                                                   rating_scale=scale))


def _planted(seed=0, n_users=150, n_items=100, density=0.3):
    rng = np.random.default_rng(seed)
    U = rng.normal(size=(n_users, 3)) * 0.7
    V = rng.normal(size=(n_items, 3)) * 0.7
    truth = 3.0 + rng.normal(size=(n_users, 1)) * 0.4 + rng.normal(size=(1, n_items)) * 0.4 \
        + U @ V.T
    u, i = np.nonzero(rng.random((n_users, n_items)) < density)
    r = np.clip(np.round(truth[u, i] + rng.normal(0, 0.3, u.size)), 1, 5)
    return u, i, r


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    u, i, r = _planted()
    return _dataset(tmp_path_factory.mktemp("surprise") / "ratings.tsv", u, i, r)


@pytest.fixture(scope="module")
def trainset(data):
    return data.build_full_trainset()


# ---------------------------------------------------------------------------- constructor
def test_constructor_is_surprises_plus_fastl2_extras():
    ours = list(inspect.signature(SVD.__init__).parameters.values())[1:]
    theirs = list(inspect.signature(SurpriseSVD.__init__).parameters.values())[1:]
    assert [(p.name, p.default) for p in ours[:len(theirs)]] == \
        [(p.name, p.default) for p in theirs]
    assert [p.name for p in ours[len(theirs):]] == ["num_threads", "dtype"]
    assert issubclass(SVD, AlgoBase)


def test_per_parameter_rates_read_as_surprise_and_params_as_given():
    kwargs = dict(lr_all=0.01, reg_all=0.05, lr_bu=0.5, reg_qi=0.3)
    ours, theirs = SVD(**kwargs), SurpriseSVD(**kwargs)
    for name in ("lr_bu", "lr_bi", "lr_pu", "lr_qi", "reg_bu", "reg_bi", "reg_pu", "reg_qi"):
        assert getattr(ours, name) == getattr(theirs, name), name
    params = ours.get_params()
    assert params["lr_bi"] is None and params["lr_bu"] == 0.5 and params["lr_all"] == 0.01
    ours.set_params(lr_all=0.02)
    assert ours.lr_bi == 0.02 and ours.lr_bu == 0.5  # None follows lr_all, set values stay
    ours.lr_bu = None  # Surprise users may set attributes directly
    assert ours.lr_bu == 0.02 and ours.get_params()["lr_bu"] is None
    assert "lr_all=0.02" in repr(ours)


# ---------------------------------------------------------------------------- fit
def test_fit_sets_surprise_attributes(trainset):
    algo = SVD(**SMALL).fit(trainset)
    assert algo.trainset is trainset
    assert algo.pu.shape == (trainset.n_users, 8) and algo.qi.shape == (trainset.n_items, 8)
    assert algo.bu.shape == (trainset.n_users,) and algo.bi.shape == (trainset.n_items,)
    for arr in (algo.pu, algo.qi, algo.bu, algo.bi):
        assert arr.dtype == np.float64 and np.isfinite(arr).all()
    assert np.abs(algo.bu).max() > 0.05 and np.abs(algo.bi).max() > 0.05  # biases learned
    # the trainset mean, as Surprise computes it (without its Python loop)
    assert algo.default_prediction() == trainset.global_mean


def test_trainset_becomes_csr_of_inner_ids(trainset):
    data, mean = _trainset_interactions(trainset, np.dtype(np.float64))
    dense = np.zeros((trainset.n_users, trainset.n_items))
    for u, i, r in trainset.all_ratings():
        dense[u, i] = r
    assert data.matrix.has_canonical_format and data.nnz == trainset.n_ratings
    np.testing.assert_array_equal(data.matrix.toarray(), dense)
    assert mean == trainset.global_mean


def test_trainset_of_numpy_scalars_reads_the_same(trainset):
    """ur holding numpy scalars (marshal cannot write them as numbers) is read by the slow
    path: the same matrix and mean as from Python ints and floats."""
    import copy

    fast, fast_mean = _trainset_interactions(trainset, np.dtype(np.float64))
    other = copy.copy(trainset)
    other.ur = {u: [(np.int64(i), np.float64(r)) for i, r in pairs]
                for u, pairs in trainset.ur.items()}
    slow, slow_mean = _trainset_interactions(other, np.dtype(np.float64))
    assert slow_mean == fast_mean
    assert (slow.matrix != fast.matrix).nnz == 0
    np.testing.assert_array_equal(slow.matrix.indptr, fast.matrix.indptr)


def test_repeated_pair_is_trained_once_with_its_mean(tmp_path):
    ds = _dataset(tmp_path / "dup.tsv", ["a", "a", "b", "a"], ["x", "y", "x", "x"],
                  [1, 3, 4, 5])
    ts = ds.build_full_trainset()
    data, mean = _trainset_interactions(ts, np.dtype(np.float64))
    assert data.nnz == 3 and data.matrix[ts.to_inner_uid("a"), ts.to_inner_iid("x")] == 3.0
    assert mean == ts.global_mean == 3.25  # Surprise's mean counts both ratings
    algo = SVD(**SMALL).fit(ts)
    assert np.isfinite(algo.pu).all()


def test_zero_bias_rates_freeze_biases_and_rates_are_used_separately(trainset):
    frozen = SVD(**SMALL, lr_bu=0, lr_bi=0).fit(trainset)
    assert not frozen.bu.any() and not frozen.bi.any()
    a = SVD(**SMALL, lr_pu=0.02, lr_qi=0.005).fit(trainset)
    b = SVD(**SMALL, lr_pu=0.005, lr_qi=0.02).fit(trainset)
    assert not np.allclose(a.pu, b.pu) and not np.allclose(a.qi, b.qi)
    c = SVD(**SMALL, reg_pu=0.5).fit(trainset)
    assert np.linalg.norm(c.pu) < np.linalg.norm(SVD(**SMALL).fit(trainset).pu)


def test_initialization_is_normal_with_init_mean_and_std(trainset):
    algo = SVD(n_factors=50, n_epochs=0, init_mean=0.3, init_std_dev=0.2,
               random_state=1).fit(trainset)
    values = np.concatenate((algo.pu.ravel(), algo.qi.ravel()))
    assert values.mean() == pytest.approx(0.3, abs=0.01)
    assert values.std() == pytest.approx(0.2, rel=0.05)
    assert not algo.bu.any()


def test_random_state_semantics(trainset):
    fit = lambda rs: SVD(n_factors=4, n_epochs=2, random_state=rs).fit(trainset).pu  # noqa
    assert np.array_equal(fit(3), fit(3)) and not np.array_equal(fit(3), fit(4))
    rs = np.random.RandomState(0)
    first, second = fit(rs), fit(rs)  # a RandomState is drawn from: successive fits differ
    assert not np.array_equal(first, second)
    rs = np.random.RandomState(0)
    assert np.array_equal(fit(rs), first)
    np.random.seed(5)
    a = fit(None)  # None: NumPy's global RandomState, as Surprise
    np.random.seed(5)
    assert np.array_equal(fit(None), a)
    assert np.array_equal(fit(np.random.default_rng(2)), fit(np.random.default_rng(2)))


def test_bit_identical_for_any_thread_count(trainset):
    fits = [SVD(**SMALL, num_threads=t).fit(trainset) for t in (1, 2)]
    for name in ("pu", "qi", "bu", "bi"):
        assert np.array_equal(getattr(fits[0], name), getattr(fits[1], name))


def test_verbose_prints_like_surprise(trainset, capsys):
    SVD(n_factors=2, n_epochs=3, verbose=True).fit(trainset)
    ours = capsys.readouterr().out
    SurpriseSVD(n_factors=2, n_epochs=3, verbose=True).fit(trainset)
    assert ours == capsys.readouterr().out == \
        "Processing epoch 0\nProcessing epoch 1\nProcessing epoch 2\n"


# ---------------------------------------------------------------------------- predict
def _surprise_twin(algo, trainset, biased=True):
    """Surprise's own SVD holding our learned parameters."""
    twin = SurpriseSVD(n_factors=algo.pu.shape[1], n_epochs=0, biased=biased).fit(trainset)
    twin.pu, twin.qi, twin.bu, twin.bi = algo.pu, algo.qi, algo.bu, algo.bi
    return twin


@pytest.mark.parametrize("biased", [True, False])
def test_predictions_are_surprises_for_known_and_unknown_ids(trainset, biased):
    algo = SVD(**SMALL, biased=biased).fit(trainset)
    twin = _surprise_twin(algo, trainset, biased)
    known_u, known_i = trainset.to_raw_uid(0), trainset.to_raw_iid(0)
    pairs = [(known_u, known_i), ("nobody", known_i), (known_u, "nothing"),
             ("nobody", "nothing")] + [(trainset.to_raw_uid(u), trainset.to_raw_iid(i))
                                       for u, i, _ in list(trainset.all_ratings())[:200]]
    for uid, iid in pairs:
        for clip in (True, False):
            ours = algo.predict(uid, iid, r_ui=3.0, clip=clip)
            assert ours == twin.predict(uid, iid, r_ui=3.0, clip=clip)  # bit for bit
    impossible = algo.predict("nobody", known_i)
    assert impossible.details["was_impossible"] is (not biased)
    if not biased:
        assert impossible.est == trainset.global_mean  # Surprise's default prediction
        with pytest.raises(surprise.PredictionImpossible):
            algo.estimate("UKN__nobody", 0)
    else:
        assert impossible.est == pytest.approx(trainset.global_mean + algo.bi[0])
    lo, hi = trainset.rating_scale
    ests = [algo.predict(u, i).est for u, i in pairs]
    assert min(ests) >= lo and max(ests) <= hi


def test_estimate_uses_inner_ids(trainset):
    algo = SVD(**SMALL).fit(trainset)
    expected = trainset.global_mean + algo.bu[3] + algo.bi[5] + algo.qi[5] @ algo.pu[3]
    assert algo.estimate(3, 5) == pytest.approx(expected, abs=1e-12)
    assert algo.estimate("UKN__x", 5) == pytest.approx(trainset.global_mean + algo.bi[5])


@pytest.mark.parametrize("biased", [True, False])
def test_test_is_surprises_on_a_fold(data, biased):
    trainset, testset = next(KFold(3, random_state=0).split(data))
    algo = SVD(**SMALL, biased=biased).fit(trainset)
    testset = testset + [("nobody", testset[0][1], 4.0), (testset[0][0], "nothing", 2.0)]
    got = algo.test(testset)
    assert got == _surprise_twin(algo, trainset, biased).test(testset)
    assert any(p.details["was_impossible"] for p in got) is (not biased)


def test_unfitted_algorithm_refuses_to_predict():
    algo = SVD()
    for call in (lambda: algo.predict("a", "b"), lambda: algo.test([("a", "b", 1.0)]),
                 lambda: algo.estimate(0, 0), algo.default_prediction):
        with pytest.raises(NotFittedError, match="not fitted"):
            call()


def test_pickles_through_surprise_dump(trainset, tmp_path):
    algo = SVD(**SMALL).fit(trainset)
    surprise.dump.dump(str(tmp_path / "algo"), algo=algo)
    _, loaded = surprise.dump.load(str(tmp_path / "algo"))
    uid, iid = trainset.to_raw_uid(1), trainset.to_raw_iid(2)
    assert loaded.predict(uid, iid) == algo.predict(uid, iid)
    assert pickle.loads(pickle.dumps(SVD(lr_bu=0.1))).get_params() == \
        SVD(lr_bu=0.1).get_params()


# ---------------------------------------------------------------------------- model selection
def test_surprise_cross_validate_runs_unchanged(data):
    out = cross_validate(SVD(**SMALL), data, measures=["RMSE", "MAE"], cv=3)
    assert out["test_rmse"].shape == (3,) and np.isfinite(out["test_mae"]).all()
    baseline = cross_validate(SurpriseSVD(n_factors=1, n_epochs=0), data, measures=["RMSE"],
                              cv=3)  # the global mean (and a random factor of std 0.1)
    assert out["test_rmse"].mean() < 0.95 * baseline["test_rmse"].mean()
    parallel = cross_validate(SVD(**SMALL), data, measures=["RMSE"], cv=KFold(3, random_state=1),
                              n_jobs=2)  # pickled to joblib's workers
    serial = cross_validate(SVD(**SMALL), data, measures=["RMSE"], cv=KFold(3, random_state=1))
    # joblib's workers load the kernel from Numba's cache; this process may have compiled it,
    # which can change the last bits (docs/architecture.md, "Determinism")
    np.testing.assert_allclose(parallel["test_rmse"], serial["test_rmse"], rtol=1e-6)


def test_surprise_grid_search_runs_unchanged(data):
    grid = {"n_epochs": [2, 15], "lr_all": [0.005, 0.02], "reg_all": [0.02], "n_factors": [8],
            "random_state": [0]}
    search = GridSearchCV(SVD, grid, measures=["rmse", "mae"], cv=3, refit=True)
    search.fit(data)
    best = search.best_params["rmse"]
    assert best["n_epochs"] == 15 and best["lr_all"] == 0.02  # more training fits better
    assert isinstance(search.best_estimator["rmse"], SVD)
    assert len(search.cv_results["params"]) == 4
    some = next(iter(data.raw_ratings))
    assert search.predict(some[0], some[1]).details["was_impossible"] is False


def test_surprise_randomized_search_runs_unchanged(data):
    from scipy.stats import uniform

    search = RandomizedSearchCV(SVD, {"lr_all": uniform(0.002, 0.02), "n_factors": [4, 8],
                                      "n_epochs": [5]}, n_iter=3, measures=["rmse"], cv=2,
                                random_state=0)
    search.fit(data)
    assert len(search.cv_results["params"]) == 3
    assert 0.002 <= search.best_params["rmse"]["lr_all"] <= 0.022
    assert np.isfinite(search.best_score["rmse"])


def test_accuracy_matches_surprise_on_planted_data(tmp_path):
    """Same parameters, same folds: fastl2's RMSE is Surprise's within noise."""
    u, i, r = _planted(seed=3, n_users=300, n_items=200, density=0.25)
    ds = _dataset(tmp_path / "planted.tsv", u, i, r)
    params = dict(n_factors=20, n_epochs=20, random_state=0)
    ours = cross_validate(SVD(**params), ds, measures=["RMSE"], cv=KFold(3, random_state=0))
    theirs = cross_validate(SurpriseSVD(**params), ds, measures=["RMSE"],
                            cv=KFold(3, random_state=0))
    assert abs(ours["test_rmse"].mean() - theirs["test_rmse"].mean()) <= 0.01


@pytest.mark.slow
@pytest.mark.shared_data
def test_accuracy_within_0_005_of_surprise_on_ml_latest_small(tmp_path):
    """The issue's acceptance test: default parameters, the same 5 folds of
    ml-latest-small, mean test RMSE within ±0.005 of Surprise's SVD."""
    from fastl2.datasets import read_ratings

    path = shared_file("ml-latest-small.tsv.gz")
    users, items, ratings = read_ratings(
        path, sep="\t", columns=("user", "item", "rating", "timestamp")).to_arrays()
    ds = _dataset(tmp_path / "ml.tsv", users, items, ratings.astype(np.float64).round(1),
                  scale=(0.5, 5))
    ours = cross_validate(SVD(random_state=0), ds, measures=["RMSE"], cv=KFold(5, random_state=0))
    theirs = cross_validate(SurpriseSVD(random_state=0), ds, measures=["RMSE"],
                            cv=KFold(5, random_state=0))
    diff = ours["test_rmse"].mean() - theirs["test_rmse"].mean()
    assert abs(diff) <= 0.005, (ours["test_rmse"], theirs["test_rmse"])
    assert (np.abs(ours["test_rmse"] - theirs["test_rmse"]) < 0.02).all()


# ---------------------------------------------------------------------------- errors
@pytest.mark.parametrize("params,name,exc", [
    (dict(lr_all=-0.1), "lr_all", InputValueError),
    (dict(lr_all=0.0), "lr_all", InputValueError),  # the factors' rates must be > 0
    (dict(lr_all=0.01, lr_qi="fast"), "lr_qi", InputTypeError),
    (dict(lr_bu=-1.0), "lr_bu", InputValueError),
    (dict(reg_all=-0.02), "reg_all", InputValueError),
    (dict(reg_pu=np.nan), "reg_pu", InputValueError),
    (dict(reg_bi=1e300), "reg_bi", InputValueError),  # not representable in float32
    (dict(n_factors=0), "n_factors", InputValueError),
    (dict(n_epochs=-1), "n_epochs", InputValueError),
    (dict(n_epochs=2.5), "n_epochs", InputTypeError),
    (dict(biased="yes"), "biased", InputTypeError),
    (dict(init_std_dev=-1), "init_std_dev", InputValueError),
    (dict(random_state="seed"), "random_state", InputTypeError),
    (dict(random_state=-3), "random_state", InputValueError),
    (dict(dtype=np.int32), "dtype", InputValueError),
    (dict(num_threads=-1), "num_threads", InputValueError),
])
def test_bad_parameters_are_named(trainset, params, name, exc):
    with pytest.raises(exc, match=rf"^{name}: expected .+, got "):
        SVD(**params).fit(trainset)


def test_bad_trainset_is_named():
    with pytest.raises(InputTypeError, match=r"^trainset: expected a surprise.Trainset"):
        SVD().fit([("u", "i", 3.0)])


def test_divergence_raises_and_leaves_the_algorithm_unfitted(trainset):
    algo = SVD(**SMALL).fit(trainset)
    algo.set_params(lr_all=50.0)
    with pytest.raises(TrainingDivergedError, match="^lr_all: training diverged"):
        algo.fit(trainset)
    with pytest.raises(NotFittedError):
        algo.predict(trainset.to_raw_uid(0), trainset.to_raw_iid(0))


def test_sklearn_clone_and_params_round_trip():
    base = pytest.importorskip("sklearn.base")
    algo = SVD(n_factors=7, lr_bu=0.01, reg_all=0.1, random_state=np.random.RandomState(3),
               dtype=np.float64)
    twin = base.clone(algo)
    assert type(twin) is SVD and twin is not algo
    params, twin_params = algo.get_params(), twin.get_params()
    assert params.keys() == twin_params.keys()
    for key, value in params.items():
        if key != "random_state":  # deep-copied by clone: same state, another object
            assert twin_params[key] == value, key
    assert twin.lr_bu == 0.01 and twin.lr_bi == 0.005 and twin.get_params()["lr_bi"] is None
    assert SVD().set_params(**params).get_params() == params
