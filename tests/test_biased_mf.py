"""BiasedMF (solver='sgd'): recovery, determinism, fallbacks, validation, early stopping."""

import numpy as np
import pytest
import scipy.sparse as sp

from fastl2 import BiasedMF, Interactions
from fastl2.errors import InputTypeError, InputValueError, NotFittedError, TrainingDivergedError


FAST = dict(factors=4, iterations=80, learning_rate=0.02, regularization=0.005,
            bias_regularization=0.005, random_state=0)


def test_recovers_planted_low_rank_matrix(planted):
    u, i, r, truth, mask = planted
    model = BiasedMF(**FAST).fit((u, i, r))
    hu, hi = np.nonzero(~mask)
    baseline = np.sqrt(np.mean((truth[hu, hi] - truth[mask].mean()) ** 2))
    rmse = np.sqrt(np.mean((model.predict(hu, hi, clip=False) - truth[hu, hi]) ** 2))
    assert rmse < 0.2 * baseline
    assert model.loss_history_[-1] < model.loss_history_[0]
    assert model.user_factors_.shape == (truth.shape[0], 4)
    assert model.user_factors_.dtype == np.float32


def test_synthetic_recovery_within_10_percent_of_noise_floor():
    from fastl2.datasets import synthetic_ratings
    from fastl2.evaluation import random_split

    syn = synthetic_ratings(n_users=1500, n_items=600, n_ratings=120_000, rank=5, noise=0.5,
                            seed=3, rating_scale=(-100.0, 100.0))
    train, test = random_split(syn.interactions, test_fraction=0.1, random_state=0)
    model = BiasedMF(factors=5, iterations=60, learning_rate=0.01, regularization=0.02,
                     random_state=0).fit(train)
    tu, ti, tr = test.to_arrays()
    rmse = np.sqrt(np.mean((model.predict(tu, ti) - tr) ** 2))
    assert rmse <= 1.10 * syn.noise


def test_bit_identical_for_any_thread_count(planted):
    u, i, r, *_ = planted
    fits = [BiasedMF(**FAST, num_threads=t, learning_rate_schedule=s).fit((u, i, r))
            for s in ("constant", "adagrad") for t in (1, 2, 3)]
    for group in (fits[:3], fits[3:]):
        for other in group[1:]:
            assert np.array_equal(group[0].user_factors_, other.user_factors_)
            assert np.array_equal(group[0].item_factors_, other.item_factors_)
            assert np.array_equal(group[0].item_bias_, other.item_bias_)
            assert group[0].loss_history_ == other.loss_history_
    assert not np.array_equal(fits[0].user_factors_, fits[3].user_factors_)


def test_seed_changes_result_and_generator_accepted(planted):
    u, i, r, *_ = planted
    a = BiasedMF(**{**FAST, "random_state": 1, "iterations": 3}).fit((u, i, r))
    b = BiasedMF(**{**FAST, "random_state": np.random.default_rng(1), "iterations": 3}
                 ).fit((u, i, r))
    c = BiasedMF(**{**FAST, "random_state": 2, "iterations": 3}).fit((u, i, r))
    assert np.array_equal(a.user_factors_, b.user_factors_)
    assert not np.array_equal(a.user_factors_, c.user_factors_)


def test_float64_end_to_end_agrees_with_float32(planted):
    u, i, r, *_ = planted
    m64 = BiasedMF(**FAST, dtype=np.float64).fit((u, i, r))
    m32 = BiasedMF(**FAST, dtype="float32").fit((u, i, r))
    assert m64.user_factors_.dtype == np.float64
    p64, p32 = m64.predict(u, i), m32.predict(u, i)
    assert np.sqrt(np.mean((p64 - p32) ** 2)) < 0.02


def test_string_ids_and_unknown_fallbacks():
    users = np.array(["ann", "bob", "ann", "cy", "bob", "cy"])
    items = np.array(["x", "x", "y", "y", "z", "z"])
    ratings = np.array([5.0, 4.0, 3.0, 2.0, 1.0, 4.0])
    m = BiasedMF(factors=2, iterations=5, random_state=0).fit((users, items, ratings))
    mu = m.global_mean_
    bi_x = m.item_bias_[m.item_map_.to_index(["x"])[0]]
    bu_ann = m.user_bias_[m.user_map_.to_index(["ann"])[0]]
    pred = m.predict(["nobody", "ann", "nobody"], ["x", "unknown", "nothing"], clip=False)
    np.testing.assert_allclose(pred, [mu + bi_x, mu + bu_ann, mu], rtol=1e-6)


def test_predictions_clipped_to_declared_scale(planted):
    u, i, r, *_ = planted
    data = Interactions.from_arrays(u, i, np.clip(r, 0, 10), rating_scale=(0, 10))
    m = BiasedMF(**FAST).fit(data)
    assert m.rating_range_ == (0.0, 10.0)
    p = m.predict(u, i)
    assert p.min() >= 0 and p.max() <= 10
    m2 = BiasedMF(**FAST).fit((u, i, r))
    assert m2.rating_range_ == (pytest.approx(r.min(), rel=1e-6), pytest.approx(r.max(), rel=1e-6))


def test_fit_accepts_csr_and_interactions_equally(planted):
    u, i, r, truth, _ = planted
    csr = sp.csr_matrix((r, (u, i)), shape=truth.shape)
    a = BiasedMF(**{**FAST, "iterations": 5}).fit(csr)
    b = BiasedMF(**{**FAST, "iterations": 5}).fit(Interactions.from_sparse(csr))
    c = BiasedMF(**{**FAST, "iterations": 5}).fit((u, i, r))
    assert np.array_equal(a.user_factors_, b.user_factors_)
    assert np.array_equal(a.user_factors_, c.user_factors_)


def test_early_stopping_keeps_best_epoch(planted):
    u, i, r, *_ = planted
    rng = np.random.default_rng(0)
    val = rng.random(u.size) < 0.2
    # no regularization and many factors: the model overfits, validation RMSE goes up again
    m = BiasedMF(factors=32, iterations=300, learning_rate=0.05, regularization=0.0,
                 bias_regularization=0.0, patience=2, random_state=0
                 ).fit((u[~val], i[~val], r[~val]), validation=(u[val], i[val], r[val]))
    hist = m.validation_history_
    assert m.n_iter_ < 300
    assert m.best_iteration_ == int(np.argmin(hist))
    assert m.n_iter_ == m.best_iteration_ + 1 + 2
    rmse = np.sqrt(np.mean((m.predict(u[val], i[val], clip=False) - r[val]) ** 2))
    assert rmse == pytest.approx(min(hist), rel=1e-4)


def test_callback_and_progress(planted, capsys):
    u, i, r, *_ = planted
    calls = []
    BiasedMF(**{**FAST, "iterations": 4}).fit(
        (u, i, r), show_progress=True, callback=lambda it, el, loss: calls.append((it, el, loss)))
    assert [c[0] for c in calls] == [0, 1, 2, 3]
    assert all(np.isfinite(c[2]) for c in calls)
    assert calls[-1][1] >= calls[0][1]
    assert capsys.readouterr().err.count("epoch") == 4


def test_divergence_raises_and_leaves_model_unfitted(planted):
    u, i, r, *_ = planted
    m = BiasedMF(**{**FAST, "iterations": 5}).fit((u, i, r))
    m.set_params(learning_rate=50.0, iterations=50)
    with pytest.raises(TrainingDivergedError, match="learning_rate"):
        m.fit((u, i, r))
    assert not hasattr(m, "user_factors_")
    with pytest.raises(NotFittedError):
        m.predict([0], [0])


@pytest.mark.parametrize("param,value,kind", [
    ("factors", 0, InputValueError), ("factors", 2.5, InputTypeError),
    ("regularization", -1.0, InputValueError), ("regularization", (0.1, 0.2, 0.3), InputValueError),
    ("bias_regularization", float("nan"), InputValueError),
    ("learning_rate", 0.0, InputValueError), ("iterations", -1, InputValueError),
    ("num_threads", -2, InputValueError), ("dtype", np.int32, InputValueError),
    ("learning_rate_schedule", "cyclic", InputValueError), ("solver", "magic", InputValueError),
    ("random_state", "seed", InputTypeError), ("n_blocks", 0, InputValueError),
    ("learning_rate", (0.01, 0.0), InputValueError), ("learning_rate", 1e300, InputValueError),
    ("bias_learning_rate", -0.01, InputValueError), ("bias_learning_rate", "x", InputTypeError),
    ("bias_learning_rate", (0.1, 0.2, 0.3), InputValueError),
    ("init_mean", float("inf"), InputValueError), ("init_mean", 1e300, InputValueError),
    ("biased", "no", InputTypeError),
])
def test_bad_hyper_parameters_are_named(planted, param, value, kind):
    u, i, r, *_ = planted
    with pytest.raises(kind, match=rf"^{param}(\[[01]\])?: expected .*, got "):
        BiasedMF(**{param: value}).fit((u, i, r))


def test_bad_training_data_is_named():
    with pytest.raises(InputTypeError, match="^X: expected an Interactions"):
        BiasedMF().fit([[1, 2, 3]])
    with pytest.raises(InputValueError, match="^X: expected a \\(users, items, values\\) tuple"):
        BiasedMF().fit(([1], [2]))
    with pytest.raises(InputValueError, match="^X: items: expected the same length as users"):
        BiasedMF().fit(([1, 2], [2], [3.0, 4.0]))
    with pytest.raises(InputValueError, match="^X: values: expected finite values"):
        BiasedMF().fit(([1, 2], [2, 3], [3.0, np.nan]))
    with pytest.raises(InputValueError, match="^X: expected at least one rating"):
        BiasedMF().fit(sp.csr_matrix((3, 3)))


def test_get_set_params_round_trip_and_repr():
    m = BiasedMF(factors=8, regularization=(0.1, 0.2))
    params = m.get_params()
    assert params["factors"] == 8 and params["regularization"] == (0.1, 0.2)
    clone = BiasedMF(**params)
    assert clone.get_params() == params
    m.set_params(factors=16)
    assert m.factors == 16
    with pytest.raises(InputValueError, match="set_params"):
        m.set_params(nonsense=1)
    assert "factors=16" in repr(m)


def test_predict_before_fit_raises():
    with pytest.raises(NotFittedError, match="not fitted"):
        BiasedMF().predict([1], [2])


def test_sklearn_clone_if_available(planted):
    base = pytest.importorskip("sklearn.base")
    m = BiasedMF(factors=3, regularization=(0.1, 0.2), random_state=4)
    c = base.clone(m)
    assert c.get_params() == m.get_params() and c is not m


# ---------------------------------------------------------------------------- Surprise's knobs
def test_unbiased_model_is_factors_only():
    rng = np.random.default_rng(3)
    U, V = rng.normal(size=(80, 3)), rng.normal(size=(60, 3))
    u, i = np.nonzero(rng.random((80, 60)) < 0.5)
    r = 2.0 + (U @ V.T)[u, i] * 0.5  # an offset: without μ and biases the factors carry it
    m = BiasedMF(factors=6, iterations=150, learning_rate=0.01, regularization=0.001,
                 biased=False, random_state=0).fit((u, i, r))
    assert m.global_mean_ == 0.0 and not m.user_bias_.any() and not m.item_bias_.any()
    pred = m.predict(u, i, clip=False)
    np.testing.assert_allclose(pred, np.einsum("ij,ij->i", m.user_factors_[u],
                                               m.item_factors_[i]), rtol=1e-5, atol=1e-6)
    assert np.sqrt(np.mean((pred - r) ** 2)) < 0.1 * r.std()
    assert m.predict(["nobody"], [0], clip=False)[0] == 0.0  # no mean to fall back to
    with pytest.raises(InputValueError, match="^biased: expected True with solver='als'"):
        BiasedMF(biased=False, solver="als").fit((u, i, r))


def test_bias_learning_rate_and_learning_rate_pairs(planted):
    u, i, r, *_ = planted
    base = dict(FAST, iterations=5)
    frozen = BiasedMF(**base, bias_learning_rate=0.0).fit((u, i, r))
    assert frozen.global_mean_ > 0 and not frozen.user_bias_.any()
    assert not frozen.item_bias_.any()
    half = BiasedMF(**base, bias_learning_rate=(0.0, 0.02)).fit((u, i, r))
    assert not half.user_bias_.any() and half.item_bias_.any()
    same = [BiasedMF(**base, bias_learning_rate=b).fit((u, i, r))
            for b in (None, base["learning_rate"], (base["learning_rate"],) * 2)]
    for other in same[1:]:
        assert np.array_equal(same[0].user_factors_, other.user_factors_)
        assert np.array_equal(same[0].item_bias_, other.item_bias_)
    a = BiasedMF(**{**base, "learning_rate": (0.02, 0.005)}).fit((u, i, r))
    b = BiasedMF(**{**base, "learning_rate": (0.005, 0.02)}).fit((u, i, r))
    assert not np.allclose(a.user_factors_, b.user_factors_)


def test_init_mean_shifts_the_initial_factors(planted):
    u, i, r, *_ = planted
    m = BiasedMF(factors=40, iterations=0, init_mean=0.25, init_std=0.1,
                 random_state=0).fit((u, i, r))
    values = np.concatenate((m.user_factors_.ravel(), m.item_factors_.ravel()))
    assert values.mean() == pytest.approx(0.25, abs=0.005)
    assert values.std() == pytest.approx(0.1, rel=0.05)


def test_unbiased_fold_in_solves_the_ridge_system(planted):
    u, i, r, truth, _ = planted
    m = BiasedMF(factors=3, iterations=20, regularization=0.05, biased=False,
                 random_state=0).fit((u, i, r))
    rows = sp.csr_matrix((r, (u, i)), shape=truth.shape)[[4, 9]]
    ids, _ = m.recommend(0, rows[0], N=5, recalculate_user=True)
    assert ids.size == 5
    m.partial_fit_users([4, 9], rows)
    Q = m.item_factors_.astype(np.float64)
    for row, user in zip(rows, (4, 9)):
        Y = Q[row.indices]
        A = Y.T @ Y + 0.05 * row.nnz * np.eye(3)  # weighted λ, as ALS-WR
        want = np.linalg.solve(A, Y.T @ row.data)
        np.testing.assert_allclose(m.user_factors_[user], want, rtol=1e-4, atol=1e-5)
    assert not m.user_bias_.any()


def test_new_parameters_survive_save_and_load(planted, tmp_path):
    from fastl2 import load

    u, i, r, *_ = planted
    m = BiasedMF(**{**FAST, "iterations": 3, "learning_rate": (0.02, 0.01)},
                 bias_learning_rate=(0.0, 0.01), init_mean=0.05, biased=False).fit((u, i, r))
    back = load(m.save(tmp_path / "m"))
    assert back.get_params()["biased"] is False and back.init_mean == 0.05
    assert tuple(back.learning_rate) == (0.02, 0.01)
    assert tuple(back.bias_learning_rate) == (0.0, 0.01)
    np.testing.assert_array_equal(back.predict(u, i), m.predict(u, i))


def test_padded_rows_train_the_same_model(planted, monkeypatch):
    """SGD may pad factor rows for the vector loops (``sgd_width``); the padded columns stay
    0, so the model is the unpadded one up to the summation order of the dot products."""
    from fastl2._kernels import simd
    from fastl2.training import trainers

    width = trainers.sgd_width
    u, i, r, *_ = planted
    val = np.arange(u.size) % 5 == 0
    params = dict(factors=10, iterations=8, learning_rate=0.02, dtype=np.float64,
                  random_state=0, learning_rate_schedule="adagrad")
    fits = []
    for extra in (0, 22):
        monkeypatch.setattr(trainers, "sgd_width", lambda k, dt, extra=extra: k + extra)
        fits.append(BiasedMF(**params).fit((u[~val], i[~val], r[~val]),
                                           validation=(u[val], i[val], r[val])))
    plain, padded = fits
    assert padded.user_factors_.shape == plain.user_factors_.shape == (120, 10)
    assert padded.user_factors_.flags.c_contiguous
    np.testing.assert_allclose(padded.user_factors_, plain.user_factors_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(padded.item_bias_, plain.item_bias_, rtol=1e-9, atol=1e-12)
    assert padded.validation_history_ == pytest.approx(plain.validation_history_, rel=1e-9)
    for dt in (np.float32, np.float64):  # whole half vectors, at most one half vector added
        half = simd.VECTOR_BYTES // 2 // np.dtype(dt).itemsize
        widths = [width(k, np.dtype(dt)) for k in range(1, 300)]
        assert all(w % half == 0 and k <= w < k + half for k, w in zip(range(1, 300), widths))
