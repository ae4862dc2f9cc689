"""fastl2.distributed on a local Dask cluster of two worker processes: the same factors as the
local fit, bit for bit (skipped without dask.distributed)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

distributed = pytest.importorskip("distributed")

import fastl2  # noqa: E402
from fastl2 import distributed as fd  # noqa: E402
from fastl2.errors import InputTypeError, TrainingDivergedError  # noqa: E402
from fastl2.evaluation import random_split  # noqa: E402


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
    with cluster, distributed.Client(cluster) as c:
        yield c


def _counts(seed=0, n_users=240, n_items=150):
    """Planted low-rank preferences as counts; user 7 and item 11 left empty."""
    rng = np.random.default_rng(seed)
    U = rng.random((n_users, 4))
    V = rng.random((n_items, 4))
    p = (U @ V.T) / 4
    mask = rng.random((n_users, n_items)) < 0.5 * p
    counts = mask * rng.integers(1, 6, (n_users, n_items))
    counts[7] = 0
    counts[:, 11] = 0
    counts[3, 5] = -2  # a dislike
    return sp.csr_matrix(counts.astype(np.float64))


@pytest.mark.parametrize("use_cg, dtype", [(True, np.float32), (False, np.float64)])
def test_implicit_als_equals_the_local_fit(client, use_cg, dtype):
    X = _counts()
    params = dict(factors=12, iterations=4, use_cg=use_cg, dtype=dtype, random_state=3)
    local = fastl2.ImplicitALS(**params).fit(X, show_progress=False)
    remote = fd.fit(fastl2.ImplicitALS(**params), X, client)
    assert remote.user_factors_.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(remote.user_factors_, local.user_factors_)
    np.testing.assert_array_equal(remote.item_factors_, local.item_factors_)
    assert np.abs(local.user_factors_).max() > 0.05  # a fitted model, not the initial one
    assert not remote.user_factors_[7].any() and not remote.item_factors_[11].any()


@pytest.mark.parametrize("n_blocks", [1, 7])
def test_any_number_of_blocks_gives_the_same_bits(client, n_blocks):
    X = _counts(seed=1)
    params = dict(factors=8, iterations=3, random_state=0, calculate_training_loss=True)
    local = fastl2.ImplicitALS(**params).fit(X, show_progress=False)
    remote = fd.fit(fastl2.ImplicitALS(**params), X, client, n_blocks=n_blocks)
    np.testing.assert_array_equal(remote.user_factors_, local.user_factors_)
    np.testing.assert_array_equal(remote.item_factors_, local.item_factors_)
    assert remote.loss_history_ == local.loss_history_
    assert remote.loss_history_[-1] < remote.loss_history_[0]


def test_the_result_is_an_ordinary_model(client, tmp_path):
    X = _counts(seed=2)
    params = dict(factors=8, iterations=3, random_state=0)
    local = fastl2.ImplicitALS(**params).fit(X, show_progress=False)
    remote = fd.fit(fastl2.ImplicitALS(**params), X, client)
    ids, scores = remote.recommend(np.arange(5), X[:5], N=4)
    want_ids, want_scores = local.recommend(np.arange(5), X[:5], N=4)
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_array_equal(scores, want_scores)
    path = remote.save(tmp_path / "model")
    loaded = fastl2.ImplicitALS.load(path)
    np.testing.assert_array_equal(loaded.item_factors_, local.item_factors_)


def _ratings(seed=0, n_users=200, n_items=120):
    """Planted biased low-rank ratings; user 5 and item 9 without ratings."""
    rng = np.random.default_rng(seed)
    truth = 3.5 + rng.normal(0, 0.4, (n_users, 1)) + rng.normal(0, 0.4, (1, n_items)) \
        + rng.normal(size=(n_users, 3)) @ rng.normal(size=(3, n_items)) * 0.5
    u, i = np.nonzero(rng.random((n_users, n_items)) < 0.3)
    keep = (u != 5) & (i != 9)
    u, i = u[keep], i[keep]
    r = np.clip(truth[u, i] + rng.normal(0, 0.2, u.size), 1, 5)
    return fastl2.Interactions.from_arrays(u, i, r)


@pytest.mark.parametrize("weighted, dtype", [(True, np.float32), (False, np.float64)])
def test_explicit_als_equals_the_local_fit(client, weighted, dtype):
    data = _ratings()
    params = dict(solver="als", factors=6, iterations=5, dtype=dtype, random_state=1,
                  weighted_regularization=weighted)
    local = fastl2.BiasedMF(**params).fit(data)
    remote = fd.fit(fastl2.BiasedMF(**params), data, client, n_blocks=3)
    for name in ("user_factors_", "item_factors_", "user_bias_", "item_bias_"):
        np.testing.assert_array_equal(getattr(remote, name), getattr(local, name))
    assert remote.loss_history_ == local.loss_history_
    assert remote.loss_history_[-1] < 0.3  # the planted ratings are recovered
    np.testing.assert_array_equal(remote.predict([0, 1], [2, 3]), local.predict([0, 1], [2, 3]))


def test_explicit_als_with_validation_stops_where_the_local_fit_stops(client):
    data = _ratings(seed=4)
    train, val = random_split(data, test_fraction=0.2, random_state=0)
    params = dict(solver="als", factors=8, iterations=12, regularization=0.0005,
                  patience=1, random_state=2)
    local = fastl2.BiasedMF(**params).fit(train, validation=val)
    remote = fd.fit(fastl2.BiasedMF(**params), train, client, validation=val)
    assert local.n_iter_ < params["iterations"]  # it did stop early
    assert remote.validation_history_ == local.validation_history_
    assert (remote.n_iter_, remote.best_iteration_) == (local.n_iter_, local.best_iteration_)
    for name in ("user_factors_", "item_factors_", "user_bias_", "item_bias_"):
        np.testing.assert_array_equal(getattr(remote, name), getattr(local, name))


_PARAMS = ("user_factors_", "item_factors_", "user_bias_", "item_bias_")


@pytest.mark.parametrize("make", [
    lambda: fastl2.ImplicitALS(factors=8, iterations=3, random_state=0,
                               calculate_training_loss=True),
    lambda: fastl2.ImplicitALS(factors=8, iterations=2, use_cg=False, dtype=np.float64,
                               random_state=2),
    lambda: fastl2.BiasedMF(solver="als", factors=6, iterations=3, random_state=1),
], ids=["cg-with-loss", "cholesky", "explicit"])
def test_out_blocks_give_the_same_bits(client, make):
    """max_broadcast_bytes=0: every block receives only the factor rows it references, from
    each source block; YᵀY from the blocks' partial sums."""
    data = _ratings(seed=16)
    X = data.matrix if isinstance(make(), fastl2.ImplicitALS) else data
    local = make().fit(X, **({"show_progress": False}
                             if isinstance(make(), fastl2.ImplicitALS) else {}))
    remote = fd.fit(make(), X, client, n_blocks=5, max_broadcast_bytes=0)
    for name in ("user_factors_", "item_factors_"):
        np.testing.assert_array_equal(getattr(remote, name), getattr(local, name))
    assert remote.loss_history_ == local.loss_history_


@pytest.mark.parametrize("schedule, dtype", [("constant", np.float32),
                                             ("adagrad", np.float64)])
def test_dsgd_equals_the_local_sgd_fit(client, schedule, dtype):
    data = _ratings(seed=6)
    params = dict(factors=7, iterations=8, n_blocks=5, dtype=dtype, random_state=4,
                  learning_rate_schedule=schedule,
                  learning_rate=0.05 if schedule == "constant" else 0.3)
    local = fastl2.BiasedMF(**params).fit(data)
    remote = fd.fit(fastl2.BiasedMF(**params), data, client)
    for name in _PARAMS:
        np.testing.assert_array_equal(getattr(remote, name), getattr(local, name))
        assert getattr(remote, name).dtype == np.dtype(dtype)
    assert remote.loss_history_ == local.loss_history_
    assert remote.loss_history_[-1] < 0.5 * remote.loss_history_[0]  # it did learn


def test_dsgd_without_biases_and_with_early_stopping(client):
    data = _ratings(seed=7)
    train, val = random_split(data, test_fraction=0.2, random_state=1)
    params = dict(factors=6, iterations=40, n_blocks=3, biased=False, learning_rate=0.05,
                  regularization=0.0, patience=2, random_state=5)
    local = fastl2.BiasedMF(**params).fit(train, validation=val)
    remote = fd.fit(fastl2.BiasedMF(**params), train, client, validation=val)
    assert local.n_iter_ < params["iterations"]  # it did stop early
    assert remote.validation_history_ == local.validation_history_
    assert (remote.n_iter_, remote.best_iteration_) == (local.n_iter_, local.best_iteration_)
    for name in _PARAMS:
        np.testing.assert_array_equal(getattr(remote, name), getattr(local, name))
    assert not remote.user_bias_.any() and remote.global_mean_ == 0.0


def test_dsgd_divergence_is_the_local_error(client):
    data = _ratings(seed=8)
    params = dict(factors=6, iterations=20, learning_rate=5.0, random_state=0)
    with pytest.raises(TrainingDivergedError, match="epoch") as local:
        fastl2.BiasedMF(**params).fit(data)
    model = fastl2.BiasedMF(**params)
    with pytest.raises(TrainingDivergedError, match="epoch") as remote:
        fd.fit(model, data, client)
    assert str(remote.value) == str(local.value)
    assert not hasattr(model, "user_factors_")


def test_bad_arguments_are_named(client):
    X = _counts()
    with pytest.raises(InputTypeError, match="client"):
        fd.fit(fastl2.ImplicitALS(factors=4, iterations=1), X, "tcp://nowhere")
    with pytest.raises(InputTypeError, match="model"):
        fd.fit(object(), X, client)
    with pytest.raises(ValueError, match="n_blocks.*grid"):
        fd.fit(fastl2.BiasedMF(iterations=1), X, client, n_blocks=4)
    with pytest.raises(ValueError, match="n_blocks"):
        fd.fit(fastl2.ImplicitALS(factors=4, iterations=1), X, client, n_blocks=0)
    with pytest.raises(ValueError, match="n_blocks.*at most 64"):
        fd.fit(fastl2.ImplicitALS(factors=4, iterations=1), X, client, n_blocks=65)
    with pytest.raises(ValueError, match="max_broadcast_bytes"):
        fd.fit(fastl2.ImplicitALS(factors=4, iterations=1), X, client, max_broadcast_bytes=-1)
    with pytest.raises(InputTypeError, match="validation"):
        fd.fit(fastl2.ImplicitALS(factors=4, iterations=1), X, client, validation=_ratings())


# ---------------------------------------------------------------------------- Dask DataFrames
def _frame_folder(tmp_path, ids, seed=0, duplicates=False, n_parts=5):
    """A ratings DataFrame written as a Parquet folder of ``n_parts`` files (users and items
    as strings or int64, shuffled rows), and the pandas frame."""
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    u, i, r = _ratings(seed=seed).to_arrays()
    rng = np.random.default_rng(seed)
    if duplicates:  # repeat some pairs with other ratings
        again = rng.choice(u.size, u.size // 10, replace=False)
        u, i = np.concatenate([u, u[again]]), np.concatenate([i, i[again]])
        r = np.concatenate([r, rng.uniform(1, 5, again.size)])
    order = rng.permutation(u.size)
    u, i, r = u[order], i[order], r[order]
    if ids == "str":
        u = np.array([f"user-{x:04d}" for x in u], dtype=object)
        i = np.array([f"item/{x * 7919 % 1000}" for x in i], dtype=object)
    else:
        u, i = u.astype(np.int64) * 1_000_003 - 10**9, i.astype(np.int64) * -31
    df = pd.DataFrame({"who": u, "what": i, "stars": r})
    folder = tmp_path / f"ratings-{ids}"
    folder.mkdir()
    for n, part in enumerate(np.array_split(np.arange(len(df)), n_parts)):
        df.iloc[part].to_parquet(folder / f"part-{n}.parquet")
    return folder, df


@pytest.mark.parametrize("ids, solver", [("str", "sgd"), ("int64", "als")])
def test_a_dask_dataframe_from_parquet_gives_the_local_fit(client, tmp_path, ids, solver):
    dd = pytest.importorskip("dask.dataframe")
    folder, df = _frame_folder(tmp_path, ids, seed=9)
    frame = dd.read_parquet(str(folder))
    assert frame.npartitions == 5
    params = dict(solver=solver, factors=5, iterations=4, n_blocks=3, random_state=2)
    local = fastl2.BiasedMF(**params).fit(
        fastl2.Interactions.from_dataframe(df, "who", "what", "stars"))
    remote = fd.fit(fastl2.BiasedMF(**params), frame, client,
                    columns=("who", "what", "stars"), **({} if solver == "sgd" else
                                                          {"n_blocks": 2}))
    np.testing.assert_array_equal(remote.user_map_.ids, local.user_map_.ids)
    np.testing.assert_array_equal(remote.item_map_.ids, local.item_map_.ids)
    assert remote.user_map_.ids.dtype.kind == ("U" if ids == "str" else "i")
    for name in _PARAMS:
        np.testing.assert_array_equal(getattr(remote, name), getattr(local, name))
    assert remote.global_mean_ == local.global_mean_
    assert remote.rating_range_ == local.rating_range_
    assert remote.loss_history_ == local.loss_history_
    u, i = df["who"].to_numpy()[:5], df["what"].to_numpy()[:5]
    np.testing.assert_array_equal(remote.predict(u, i), local.predict(u, i))


@pytest.mark.parametrize("solver", ["sgd"])  # the grid's groups follow the combined counts
def test_dask_dataframe_duplicates_follow_the_policy(client, tmp_path, solver):
    dd = pytest.importorskip("dask.dataframe")
    folder, df = _frame_folder(tmp_path, "int64", seed=10, duplicates=True)
    frame = dd.read_parquet(str(folder))
    cols = ("who", "what", "stars")
    params = dict(solver=solver, factors=4, iterations=3, n_blocks=4, random_state=0)
    with pytest.raises(fastl2.errors.InputValueError, match="duplicates"):
        fd.fit(fastl2.BiasedMF(**params), frame, client, columns=cols)
    local = fastl2.BiasedMF(**params).fit(
        fastl2.Interactions.from_dataframe(df, *cols, duplicates="mean"))
    remote = fd.fit(fastl2.BiasedMF(**params), frame, client, columns=cols,
                    duplicates="mean")
    for name in _PARAMS:
        np.testing.assert_array_equal(getattr(remote, name), getattr(local, name))


@pytest.mark.parametrize("use_cg", [True])
def test_implicit_als_from_a_dask_dataframe_without_values(client, tmp_path, use_cg):
    dd = pytest.importorskip("dask.dataframe")
    folder, df = _frame_folder(tmp_path, "str", seed=11)
    frame = dd.read_parquet(str(folder), columns=["who", "what"])
    params = dict(factors=6, iterations=3, use_cg=use_cg, random_state=1,
                  calculate_training_loss=True)
    local = fastl2.ImplicitALS(**params).fit(
        fastl2.Interactions.from_dataframe(df, "who", "what", None), show_progress=False)
    remote = fd.fit(fastl2.ImplicitALS(**params), frame, client,
                    columns=("who", "what", None), n_blocks=3)
    np.testing.assert_array_equal(remote.user_factors_, local.user_factors_)
    np.testing.assert_array_equal(remote.item_factors_, local.item_factors_)
    np.testing.assert_array_equal(remote.item_map_.ids, local.item_map_.ids)
    assert remote.loss_history_ == local.loss_history_


def test_dask_dataframe_errors_name_the_argument(client, tmp_path):
    dd = pytest.importorskip("dask.dataframe")
    folder, _ = _frame_folder(tmp_path, "int64", seed=12)
    frame = dd.read_parquet(str(folder))
    with pytest.raises(ValueError, match="columns.*who"):
        fd.fit(fastl2.BiasedMF(), frame, client)  # default columns are not there
    with pytest.raises(ValueError, match="columns"):
        fd.fit(fastl2.BiasedMF(), frame, client, columns=("who", "what"))
    with pytest.raises(ValueError, match="duplicates"):
        fd.fit(fastl2.BiasedMF(), frame, client, columns=("who", "what", "stars"),
               duplicates="first")


# ---------------------------------------------------------------------------- checkpoints
@pytest.mark.parametrize("make", [
    lambda n: fastl2.ImplicitALS(factors=6, iterations=n, random_state=3,
                                 calculate_training_loss=True),
    lambda n: fastl2.BiasedMF(factors=6, iterations=n, n_blocks=3, random_state=3,
                              learning_rate_schedule="adagrad", learning_rate=0.1),
    lambda n: fastl2.BiasedMF(solver="als", factors=6, iterations=n, random_state=3),
], ids=["implicit-als", "dsgd", "explicit-als"])
def test_a_fit_resumed_from_its_checkpoint_ends_with_the_same_bits(client, tmp_path, make):
    data = _ratings(seed=13)
    X = data.matrix if isinstance(make(1), fastl2.ImplicitALS) else data
    whole = fd.fit(make(5), X, client)
    path = tmp_path / "state.npz"
    first = fd.fit(make(3), X, client, checkpoint=path, checkpoint_every=2)
    assert path.exists() and len(first.loss_history_) == 3
    resumed = fd.fit(make(5), X, client, checkpoint=path, checkpoint_every=2, resume=True)
    np.testing.assert_array_equal(resumed.user_factors_, whole.user_factors_)
    np.testing.assert_array_equal(resumed.item_factors_, whole.item_factors_)
    assert resumed.loss_history_ == whole.loss_history_
    assert not np.array_equal(first.user_factors_, whole.user_factors_)  # it did go on


def test_checkpoints_are_never_overwritten_or_mixed_up(client, tmp_path):
    data = _ratings(seed=14)
    path = tmp_path / "state.npz"
    fd.fit(fastl2.BiasedMF(solver="als", factors=4, iterations=2), data, client,
           checkpoint=path, checkpoint_every=1)
    saved = path.read_bytes()
    with pytest.raises(ValueError, match="checkpoint.*resume=True"):
        fd.fit(fastl2.BiasedMF(solver="als", factors=4, iterations=2), data, client,
               checkpoint=path)
    with pytest.raises(ValueError, match="checkpoint.*this model and data"):
        fd.fit(fastl2.BiasedMF(solver="als", factors=5, iterations=2), data, client,
               checkpoint=path, resume=True)
    with pytest.raises(ValueError, match="checkpoint.*this model and data"):
        fd.fit(fastl2.BiasedMF(solver="als", factors=4, iterations=2), _ratings(seed=15),
               client, checkpoint=path, resume=True)
    assert path.read_bytes() == saved  # refused, untouched
    path.write_bytes(saved[: len(saved) // 2])
    with pytest.raises(fastl2.errors.ModelFileError, match="checkpoint"):
        fd.fit(fastl2.BiasedMF(solver="als", factors=4, iterations=2), data, client,
               checkpoint=path, resume=True)
    with pytest.raises(ValueError, match="checkpoint_every"):
        fd.fit(fastl2.BiasedMF(), data, client, checkpoint=tmp_path / "x", checkpoint_every=0)


@pytest.mark.parametrize("name", ["sgd-float32", "als-wr-float64", "ials-cg-float32"])
def test_distributed_fit_hashes(client, name):
    """The recorded fit hashes (tests/test_fit_hashes.py) hold for fits on the cluster."""
    from .test_fit_hashes import _recorded, fit_case, model_hash

    recorded = _recorded()
    assert model_hash(fit_case(name, lambda model, data: fd.fit(model, data, client))) == \
        recorded[name]


@pytest.mark.parametrize("frozen", ["user", "item"])
def test_asymmetric_pairs_reach_their_side_on_the_cluster(client, frozen):
    """(user, item) pairs reach the right side in DSGD and distributed ALS: with one side's
    factor step vanishing and its bias step 0, DSGD leaves exactly that side at its start;
    ALS with regularization pairs gives the local fit's bits (which
    tests/test_training_layer.py checks against the NumPy twin), and the swapped pairs a
    different model."""
    data = _ratings()
    tiny = {"user": (1e-300, 0.05), "item": (0.05, 1e-300)}[frozen]
    bias = {"user": (0.0, 0.05), "item": (0.05, 0.0)}[frozen]
    params = dict(factors=4, random_state=3, dtype=np.float64, learning_rate=tiny,
                  bias_learning_rate=bias, n_blocks=3)
    start = fastl2.BiasedMF(iterations=0, **params).fit(data)
    remote = fd.fit(fastl2.BiasedMF(iterations=2, **params), data, client)
    for side in ("user", "item"):
        same = side == frozen
        assert np.array_equal(getattr(remote, f"{side}_factors_"),
                              getattr(start, f"{side}_factors_")) == same
        assert (not getattr(remote, f"{side}_bias_").any()) == same
    pairs = {"user": ((5.0, 0.01), (3.0, 0.02)), "item": ((0.01, 5.0), (0.02, 3.0))}[frozen]
    als = dict(solver="als", factors=3, iterations=2, random_state=2, dtype=np.float64,
               regularization=pairs[0], bias_regularization=pairs[1])
    local = fastl2.BiasedMF(**als).fit(data)
    remote = fd.fit(fastl2.BiasedMF(**als), data, client, n_blocks=3)
    for name in ("user_factors_", "item_factors_", "user_bias_", "item_bias_"):
        np.testing.assert_array_equal(getattr(remote, name), getattr(local, name))
    swapped = fastl2.BiasedMF(**{**als, "regularization": pairs[0][::-1],
                                 "bias_regularization": pairs[1][::-1]}).fit(data)
    assert not np.allclose(swapped.user_factors_, local.user_factors_)
    # a strong L2 on one side's factors and bias shrinks that side only, in DSGD and ALS
    strong = {"user": ((25.0, 0.0), (25.0, 0.0)), "item": ((0.0, 25.0), (0.0, 25.0))}[frozen]
    for model in (fastl2.BiasedMF(factors=4, iterations=5, random_state=0, dtype=np.float64,
                                  learning_rate=0.02, n_blocks=3, regularization=strong[0],
                                  bias_regularization=strong[1]),
                  fastl2.BiasedMF(solver="als", factors=3, iterations=2, random_state=2,
                                  dtype=np.float64, regularization=strong[0],
                                  bias_regularization=strong[1])):
        remote = fd.fit(model, data, client, **({"n_blocks": 3} if model.solver == "als"
                                                 else {}))
        shrunk, free = ((remote.user_factors_, remote.item_factors_) if frozen == "user"
                        else (remote.item_factors_, remote.user_factors_))
        assert np.abs(shrunk).mean() < 0.1 * np.abs(free).mean(), model.solver
        shrunk_b, free_b = ((remote.user_bias_, remote.item_bias_) if frozen == "user"
                            else (remote.item_bias_, remote.user_bias_))
        assert np.abs(shrunk_b).mean() < np.abs(free_b).mean(), model.solver
