"""ALS estimators: BiasedMF(solver="als") and ImplicitALS, against known solutions."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import fastl2
from fastl2 import BiasedMF, ImplicitALS
from fastl2.errors import InputTypeError, InputValueError

from .conftest import shared_file

ALS = dict(solver="als", factors=4, iterations=15, regularization=0.005,
           bias_regularization=0.005, random_state=0)


# ---------------------------------------------------------------------------- explicit
def test_explicit_als_recovers_planted_low_rank_matrix(planted):
    u, i, r, truth, mask = planted
    model = BiasedMF(**ALS).fit((u, i, r))
    hu, hi = np.nonzero(~mask)
    baseline = np.sqrt(np.mean((truth[hu, hi] - truth[mask].mean()) ** 2))
    rmse = np.sqrt(np.mean((model.predict(hu, hi, clip=False) - truth[hu, hi]) ** 2))
    assert rmse < 0.1 * baseline
    assert all(b <= a + 1e-6 for a, b in zip(model.loss_history_, model.loss_history_[1:]))


def test_explicit_als_row_is_exact_ridge_solution(planted):
    """After a fit, every item row (the last half-step) is the exact minimizer given the
    users: checked against numpy.linalg.lstsq on the augmented ridge problem."""
    u, i, r, *_ = planted
    for weighted in (True, False):
        m = BiasedMF(**{**ALS, "weighted_regularization": weighted, "regularization": 0.3,
                        "bias_regularization": 0.1, "dtype": np.float64}).fit((u, i, r))
        P, bu = m.user_factors_, m.user_bias_
        for item in (0, 7, 33):
            sel = i == item
            rows = m.user_map_.to_index(u[sel])
            n = sel.sum()
            Z = np.hstack([P[rows], np.ones((n, 1))])
            t = r[sel] - m.global_mean_ - bu[rows]
            lam, lam_b = (0.3 * n, 0.1 * n) if weighted else (0.3, 0.1)
            D = np.diag(np.sqrt(np.r_[np.full(4, lam), lam_b]))
            w, *_ = np.linalg.lstsq(np.vstack([Z, D]), np.r_[t, np.zeros(5)], rcond=None)
            col = m.item_map_.to_index([item])[0]
            np.testing.assert_allclose(np.r_[m.item_factors_[col], m.item_bias_[col]], w,
                                       rtol=1e-7, atol=1e-9)


def test_sgd_and_als_minimize_the_same_loss(planted):
    u, i, r, *_ = planted
    common = dict(factors=4, regularization=0.02, bias_regularization=0.02, random_state=0,
                  dtype=np.float64)
    als = BiasedMF(solver="als", iterations=30, **common).fit((u, i, r))
    sgd = BiasedMF(solver="sgd", iterations=300, learning_rate=0.01, **common).fit((u, i, r))
    # both reach (nearly) the same training error; ALS, being exact per row, at least as low
    assert als.loss_history_[-1] <= sgd.loss_history_[-1] + 1e-3
    assert abs(als.loss_history_[-1] - sgd.loss_history_[-1]) < 0.02


def test_explicit_als_bit_identical_for_any_thread_count(planted):
    u, i, r, *_ = planted
    fits = [BiasedMF(**ALS, num_threads=t).fit((u, i, r)) for t in (1, 2)]
    for name in ("user_factors_", "item_factors_", "user_bias_", "item_bias_"):
        assert np.array_equal(getattr(fits[0], name), getattr(fits[1], name))


def test_explicit_als_float64_agrees_with_float32(planted):
    u, i, r, *_ = planted
    a = BiasedMF(**ALS).fit((u, i, r))
    b = BiasedMF(**{**ALS, "dtype": np.float64}).fit((u, i, r))
    assert b.user_factors_.dtype == np.float64
    diff = np.abs(a.predict(u, i, clip=False) - b.predict(u, i, clip=False))
    # float32 rounding is amplified over 15 alternations at this small λ
    assert diff.mean() < 1e-3 and diff.max() < 2e-2


def test_explicit_als_empty_rows_and_lambda_zero_fallback():
    # item 5 is in the id map (declared by the sparse shape) but has no ratings
    rng = np.random.default_rng(0)
    dense = np.where(rng.random((30, 6)) < 0.5, rng.integers(1, 6, (30, 6)), 0).astype(float)
    dense[:, 5] = 0
    dense[0] = 0
    dense[0, 0] = 4.0  # a user with one rating: rank-deficient with λ = 0
    X = sp.csr_matrix(dense)
    with pytest.warns(RuntimeWarning, match="regularization"):
        m = BiasedMF(solver="als", factors=3, iterations=5, regularization=0.0,
                     bias_regularization=0.0, random_state=0).fit(X)
    assert np.isfinite(m.user_factors_).all() and np.isfinite(m.item_factors_).all()
    assert m.n_regularized_rows_ > 0
    m2 = BiasedMF(solver="als", factors=3, iterations=5, random_state=0).fit(X)
    assert np.all(m2.item_factors_[5] == 0) and m2.item_bias_[5] == 0


def test_explicit_als_validation_early_stopping(planted):
    u, i, r, *_ = planted
    m = BiasedMF(**{**ALS, "iterations": 40, "patience": 2}).fit(
        (u[:-300], i[:-300], r[:-300]), validation=(u[-300:], i[-300:], r[-300:]))
    assert m.n_iter_ <= 40 and len(m.validation_history_) == m.n_iter_
    assert m.validation_history_[m.best_iteration_] == min(m.validation_history_)


@pytest.mark.parametrize("solver", ["sgd", "als"])
def test_ml1m_default_accuracy(solver):
    """Issue targets: default hyper-parameters, seeded 90/10 split, test RMSE <= 0.86."""
    path = shared_file("ml-1m-u2999.tsv.gz")
    from fastl2.datasets import read_ratings
    from fastl2.evaluation import random_split, rmse

    data = read_ratings(path, sep="\t", columns=("user", "item", "rating", "timestamp"))
    train, test = random_split(data, test_fraction=0.1, random_state=42)
    model = BiasedMF(solver=solver, random_state=0).fit(train)
    tu, ti, tr = test.to_arrays()
    assert rmse(tr, model.predict(tu, ti)) <= 0.86


# ---------------------------------------------------------------------------- implicit
def _implicit_data(seed=0, n_users=60, n_items=40, rank=3):
    rng = np.random.default_rng(seed)
    U = rng.normal(size=(n_users, rank))
    V = rng.normal(size=(n_items, rank))
    score = U @ V.T
    liked = score > np.quantile(score, 0.8)
    counts = np.where(liked & (rng.random(liked.shape) < 0.7), rng.integers(1, 6, liked.shape),
                      0)
    return sp.csr_matrix(counts.astype(np.float32)), liked


def _dense_objective(X, Y, C, P, lam):
    S = X @ Y.T
    return float(np.sum(C * (P - S) ** 2) + lam * (np.sum(X ** 2) + np.sum(Y ** 2)))


@pytest.mark.parametrize("confidence", ["linear", "log", "proportional"])
def test_implicit_cholesky_rows_are_the_exact_weighted_least_squares(confidence):
    """Independent oracle: the last half-step (items) equals numpy.linalg.lstsq of the dense
    weighted ridge problem, and the reported loss equals the dense objective."""
    M, _ = _implicit_data()
    lam, alpha = 0.1, 2.0
    m = ImplicitALS(factors=5, regularization=lam, alpha=alpha, use_cg=False, iterations=4,
                    dtype=np.float64, random_state=0, confidence=confidence,
                    calculate_training_loss=True).fit(M, show_progress=False)
    R = M.toarray().astype(np.float64)
    conf = {"linear": 1 + alpha * R, "log": 1 + alpha * np.log1p(R),
            "proportional": np.where(R > 0, alpha * R, 1.0)}[confidence]
    P = (R > 0).astype(float)
    X, Y = m.user_factors, m.item_factors
    for item in (0, 5, 17):
        w = np.sqrt(conf[:, item])
        A = np.vstack([X * w[:, None], np.sqrt(lam) * np.eye(5)])
        b = np.r_[P[:, item] * w, np.zeros(5)]
        sol, *_ = np.linalg.lstsq(A, b, rcond=None)
        np.testing.assert_allclose(Y[item], sol, rtol=1e-6, atol=1e-9)
    n_obs = M.nnz
    norm = conf[R > 0].sum() + R.size - n_obs
    assert m.loss_history_[-1] == pytest.approx(_dense_objective(X, Y, conf, P, lam) / norm,
                                                rel=1e-9)
    # exact ALS never increases the objective
    assert all(b <= a * (1 + 1e-12) for a, b in zip(m.loss_history_, m.loss_history_[1:]))


def test_implicit_cg_approaches_cholesky_fit():
    M, _ = _implicit_data(seed=1)
    exact = ImplicitALS(factors=4, use_cg=False, iterations=10, dtype=np.float64,
                        random_state=0, calculate_training_loss=True).fit(M, show_progress=False)
    gaps = []
    for steps in (1, 3, 8):
        cg = ImplicitALS(factors=4, use_cg=True, cg_steps=steps, iterations=10,
                         dtype=np.float64, random_state=0,
                         calculate_training_loss=True).fit(M, show_progress=False)
        gaps.append(cg.loss_history_[-1] - exact.loss_history_[-1])
    assert gaps[-1] < gaps[0]
    assert abs(gaps[-1]) < 1e-3 * exact.loss_history_[-1]


@pytest.mark.parametrize("use_cg", [True, False])
def test_implicit_ranks_held_out_likes_above_non_likes(use_cg):
    M, liked = _implicit_data(seed=2, n_users=200, n_items=80)
    m = ImplicitALS(factors=3, regularization=0.05, alpha=5.0, use_cg=use_cg, iterations=10,
                    random_state=0).fit(M, show_progress=False)
    scores = m.user_factors @ m.item_factors.T
    unseen = M.toarray() == 0
    pos = scores[unseen & liked]
    neg = scores[unseen & ~liked]
    auc = np.mean(pos[:, None] > neg[None, :2000])
    assert auc > 0.85


@pytest.mark.parametrize("use_cg", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_implicit_bit_identical_for_any_thread_count(use_cg, dtype):
    M, _ = _implicit_data(seed=3, n_users=300, n_items=50)
    fits = [ImplicitALS(factors=8, use_cg=use_cg, iterations=3, dtype=dtype, num_threads=t,
                        random_state=5).fit(M, show_progress=False) for t in (1, 2)]
    assert fits[0].user_factors.dtype == dtype
    assert np.array_equal(fits[0].user_factors, fits[1].user_factors)
    assert np.array_equal(fits[0].item_factors, fits[1].item_factors)


def test_implicit_float32_agrees_with_float64():
    M, _ = _implicit_data(seed=4)
    a = ImplicitALS(factors=4, use_cg=False, iterations=5, random_state=0).fit(
        M, show_progress=False)
    b = ImplicitALS(factors=4, use_cg=False, iterations=5, random_state=0,
                    dtype=np.float64).fit(M, show_progress=False)
    sa = a.user_factors @ a.item_factors.T
    sb = b.user_factors @ b.item_factors.T
    assert np.max(np.abs(sa - sb)) < 1e-3


def test_implicit_empty_rows_and_columns_get_zero_factors():
    M, _ = _implicit_data(seed=5)
    M = M.tolil()
    M[4, :] = 0
    M[:, 9] = 0
    M = M.tocsr()
    for use_cg in (True, False):
        m = ImplicitALS(factors=4, use_cg=use_cg, iterations=3, random_state=0).fit(
            M, show_progress=False)
        assert np.all(m.user_factors[4] == 0) and np.all(m.item_factors[9] == 0)
        assert np.isfinite(m.user_factors).all() and np.isfinite(m.item_factors).all()


def test_implicit_lambda_zero_rank_deficient_is_finite_with_warning():
    M = sp.csr_matrix(np.array([[1, 0, 0, 0], [0, 2, 0, 0], [1, 1, 0, 0]], dtype=np.float32))
    with pytest.warns(RuntimeWarning, match="ridge"):
        m = ImplicitALS(factors=6, regularization=0.0, use_cg=False, iterations=3,
                        random_state=0).fit(M, show_progress=False)
    assert np.isfinite(m.user_factors).all() and np.isfinite(m.item_factors).all()
    assert m.n_regularized_rows_ > 0


def test_negative_values_mean_disliked():
    M, _ = _implicit_data(seed=6)
    D = M.toarray()
    user = int(np.argmax((D > 0).sum(1)))
    target = int(np.nonzero(D[user] == 0)[0][0])
    base = ImplicitALS(factors=4, use_cg=False, iterations=8, random_state=0, alpha=10.0)
    s0 = base.fit(sp.csr_matrix(D), show_progress=False)
    D2 = D.copy()
    D2[user, target] = -5.0
    s1 = ImplicitALS(**base.get_params()).fit(sp.csr_matrix(D2), show_progress=False)
    score = lambda m: float(m.user_factors[user] @ m.item_factors[target])  # noqa: E731
    assert abs(score(s1)) < abs(score(s0)) or score(s1) < score(s0)
    # a disliked item is pulled to 0, a liked one towards 1
    D3 = D.copy()
    D3[user, target] = 5.0
    s3 = ImplicitALS(**base.get_params()).fit(sp.csr_matrix(D3), show_progress=False)
    assert score(s3) > 0.5 > abs(score(s1))


def test_implicit_callback_loss_and_progress(capsys):
    M, _ = _implicit_data(seed=7)
    seen = []
    ImplicitALS(factors=3, iterations=4, calculate_training_loss=True, random_state=0).fit(
        M, show_progress=False, callback=lambda it, el, loss: seen.append((it, el, loss)))
    assert [s[0] for s in seen] == [0, 1, 2, 3]
    assert all(s[1] >= 0 and s[2] > 0 for s in seen)
    seen.clear()
    ImplicitALS(factors=3, iterations=2, random_state=0).fit(
        M, show_progress=False, callback=lambda it, el, loss: seen.append(loss))
    assert seen == [None, None]


def test_implicit_compatible_names_save_and_load(tmp_path):
    # the drop-in is the same model with implicit's semantics (tests/test_compat_implicit.py)
    assert issubclass(fastl2.AlternatingLeastSquares, ImplicitALS)
    model = ImplicitALS()
    assert model.user_factors is None
    defaults = model.get_params()
    for name, value in dict(factors=100, regularization=0.01, alpha=1.0, use_cg=True,
                            iterations=15, calculate_training_loss=False, num_threads=0,
                            random_state=None).items():
        assert defaults[name] == value
    M, _ = _implicit_data(seed=8)
    m = ImplicitALS(factors=3, iterations=2, random_state=0).fit(M, show_progress=False)
    path = m.save(tmp_path / "m")
    for back in (fastl2.load(path), ImplicitALS.load(path)):
        assert isinstance(back, ImplicitALS)
        assert np.array_equal(back.user_factors, m.user_factors)
        assert np.array_equal(back.item_factors, m.item_factors)
        assert back.get_params() == m.get_params()
    with pytest.raises(fastl2.errors.ModelFileError, match="BiasedMF"):
        BiasedMF.load(path)


def test_biased_mf_als_save_load_round_trip(tmp_path, planted):
    u, i, r, *_ = planted
    m = BiasedMF(**ALS).fit((u, i, r))
    back = fastl2.load(m.save(tmp_path / "als.npz"))
    assert back.solver == "als"
    assert np.array_equal(back.predict(u, i), m.predict(u, i))


@pytest.mark.parametrize("param,value,kind", [
    ("alpha", -1.0, InputValueError), ("cg_steps", 0, InputValueError),
    ("confidence", "exp", InputValueError), ("regularization", -0.1, InputValueError),
    ("factors", 0, InputValueError), ("dtype", np.int32, InputValueError),
    ("iterations", 1.5, InputTypeError), ("epsilon", 0.0, InputValueError)])
def test_implicit_bad_hyper_parameters_are_named(param, value, kind):
    M, _ = _implicit_data()
    with pytest.raises(kind, match=param):
        ImplicitALS(**{param: value}).fit(M, show_progress=False)


def test_implicit_bad_data_is_named():
    M = sp.csr_matrix(np.array([[1.0, np.nan], [0.0, 2.0]]))
    with pytest.raises(InputValueError, match="user_items"):
        ImplicitALS(factors=2).fit(M, show_progress=False)
    with pytest.raises(InputTypeError, match="user_items"):
        ImplicitALS(factors=2).fit("not a matrix", show_progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = ImplicitALS(factors=2, iterations=1, confidence="linear", alpha=0.0).fit(
            sp.csr_matrix(np.eye(3)), show_progress=False)
    assert np.isfinite(m.user_factors).all()


@pytest.mark.parametrize("use_cg", [False, True])
def test_half_step_matches_implicit_library_if_installed(use_cg):
    """With confidence="proportional" fastl2 solves implicit's own row systems: one half-step
    from the same factors equals implicit.cpu.als's pure-Python solvers."""
    als = pytest.importorskip("implicit.cpu.als")
    from fastl2.training import als as _als
    from fastl2.training.params import ImplicitSweepParams

    M, _ = _implicit_data(seed=11)
    C = M.astype(np.float64) * 3.0  # implicit multiplies by alpha; values are confidences
    C.data[::7] *= -1  # dislikes
    rng = np.random.default_rng(0)
    X = rng.random((M.shape[0], 4)) * 0.1
    Y = rng.random((M.shape[1], 4)) * 0.1
    users, items = _als.both_sides(sp.csr_matrix(C), C.data)
    sweeps = _als.ImplicitSweeps(users, items, 4, ImplicitSweepParams.of(
        np.float64, regularization=0.05, use_cg=use_cg, cg_steps=3), 1, np.dtype(np.float64))
    ours = X.copy()
    sweeps.half(users, sweeps.user_chunks, ours, Y)
    theirs = X.copy()
    if use_cg:
        als.least_squares_cg(sp.csr_matrix(C), theirs, Y, 0.05, cg_steps=3)
    else:
        als.least_squares(sp.csr_matrix(C), theirs, Y, 0.05)
    # rows without entries: implicit's compiled solvers (and fastl2) set them to zero, its
    # pure-Python CG keeps iterating on them
    empty = np.diff(sp.csr_matrix(C).indptr) == 0
    assert np.all(ours[empty] == 0)
    np.testing.assert_allclose(ours[~empty], theirs[~empty], rtol=1e-8, atol=1e-12)
