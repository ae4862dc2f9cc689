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
])
def test_bad_hyper_parameters_are_named(planted, param, value, kind):
    u, i, r, *_ = planted
    with pytest.raises(kind, match=f"^{param}: expected .*, got "):
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
