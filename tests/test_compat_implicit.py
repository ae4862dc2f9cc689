"""fastl2.compat.implicit.AlternatingLeastSquares (= fastl2.AlternatingLeastSquares): implicit
0.7.3's constructor, defaults and semantics on fastl2's kernels (issue 21, part)."""

import inspect
import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import fastl2
from fastl2 import ImplicitALS
from fastl2.compat.implicit import AlternatingLeastSquares

# implicit.als.AlternatingLeastSquares(...) of implicit 0.7.3, in its order (use_gpu's default
# there is implicit.gpu.HAS_CUDA: False without CUDA)
IMPLICIT_SIGNATURE = dict(factors=100, regularization=0.01, alpha=1.0, dtype=np.float32,
                          use_native=True, use_cg=True, use_gpu=False, iterations=15,
                          calculate_training_loss=False, num_threads=0, random_state=None)


def _counts(seed=0, n_users=40, n_items=30):
    rng = np.random.default_rng(seed)
    dense = (rng.random((n_users, n_items)) < 0.2) * rng.integers(1, 5, (n_users, n_items))
    return sp.csr_matrix(dense.astype(np.float32))


def test_the_public_name_is_the_drop_in():
    assert fastl2.AlternatingLeastSquares is AlternatingLeastSquares
    assert issubclass(AlternatingLeastSquares, ImplicitALS)


def test_constructor_is_implicits():
    params = inspect.signature(AlternatingLeastSquares).parameters
    assert list(params) == list(IMPLICIT_SIGNATURE)
    assert {n: p.default for n, p in params.items()} == IMPLICIT_SIGNATURE
    assert AlternatingLeastSquares().get_params() == IMPLICIT_SIGNATURE
    # positional, as implicit's factory passes them
    m = AlternatingLeastSquares(8, 0.1, 2.0, np.float64)
    assert (m.factors, m.regularization, m.alpha, m.dtype) == (8, 0.1, 2.0, np.float64)


def test_same_signature_as_implicit_when_installed():
    als = pytest.importorskip("implicit.als")
    theirs = inspect.signature(als.AlternatingLeastSquares).parameters
    ours = inspect.signature(AlternatingLeastSquares).parameters
    assert list(theirs) == list(ours)
    for name, p in theirs.items():
        if name != "use_gpu":  # implicit's is HAS_CUDA
            assert ours[name].default == p.default, name


def test_confidence_is_alpha_times_value():
    """implicit's semantics: the fit is ImplicitALS's with confidence="proportional", bit for
    bit (and differs from fastl2's default 1 + alpha·r)."""
    M = _counts()
    kw = dict(factors=6, regularization=0.05, alpha=2.0, iterations=3, random_state=0)
    ours = AlternatingLeastSquares(**kw).fit(M, show_progress=False)
    same = ImplicitALS(**kw, confidence="proportional").fit(M, show_progress=False)
    default = ImplicitALS(**kw).fit(M, show_progress=False)
    np.testing.assert_array_equal(ours.user_factors, same.user_factors)
    np.testing.assert_array_equal(ours.item_factors, same.item_factors)
    assert not np.allclose(ours.user_factors, default.user_factors)


@pytest.mark.parametrize("use_cg", [True, False])
def test_checkerboard_ranking_without_regularization(use_cg):
    """implicit's rank-deficient case (factors > the data's rank, regularization 0): users and
    items of the same parity like each other, each user's own-numbered item withheld; with
    the liked items filtered, that withheld item is every user's best, on CG and Cholesky."""
    n = 50
    likes = np.fromfunction(lambda u, i: ((u + i) % 2 == 0) & (u != i), (n, n))
    user_items = sp.csr_matrix(likes.astype(np.float32))
    model = AlternatingLeastSquares(factors=32, regularization=0, use_cg=use_cg,
                                    random_state=23)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # rank-deficient rows: fallback ridge
        model.fit(user_items, show_progress=False)
    ids, _ = model.recommend(np.arange(n), user_items, N=1)
    np.testing.assert_array_equal(ids[:, 0], np.arange(n))


def test_use_gpu_trains_on_the_cpu_with_a_warning():
    M = _counts()
    with pytest.warns(RuntimeWarning, match="^use_gpu: fastl2 has no GPU kernels"):
        gpu = AlternatingLeastSquares(factors=4, iterations=2, use_gpu=True,
                                      random_state=0).fit(M, show_progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cpu = AlternatingLeastSquares(factors=4, iterations=2, random_state=0).fit(
            M, show_progress=False)
    np.testing.assert_array_equal(gpu.user_factors, cpu.user_factors)
    assert cpu.to_cpu() is cpu
    with pytest.raises(NotImplementedError, match="^to_gpu: fastl2 has no GPU kernels"):
        cpu.to_gpu()


def test_random_state_may_be_a_random_state():
    M = _counts()
    fits = [AlternatingLeastSquares(factors=4, iterations=2,
                                    random_state=np.random.RandomState(seed))
            .fit(M, show_progress=False).user_factors for seed in (7, 7, 8)]
    np.testing.assert_array_equal(fits[0], fits[1])
    assert not np.array_equal(fits[0], fits[2])


def test_save_load_and_pickle_keep_the_class(tmp_path):
    M = _counts()
    m = AlternatingLeastSquares(factors=4, iterations=2, use_cg=False,
                                random_state=np.random.RandomState(0)).fit(M, show_progress=False)
    for back in (fastl2.load(m.save(tmp_path / "m")), pickle.loads(pickle.dumps(m))):
        assert type(back) is AlternatingLeastSquares
        np.testing.assert_array_equal(back.item_factors, m.item_factors)
        assert back.use_cg is False and back.confidence == "proportional"


def test_non_csr_input_is_converted_with_implicits_warning():
    try:
        from implicit.utils import ParameterWarning
    except ImportError:
        from fastl2.compat.implicit import ParameterWarning
    M = _counts()
    kw = dict(factors=4, iterations=2, random_state=0)
    csr = AlternatingLeastSquares(**kw).fit(M, show_progress=False)
    for other in (M.tocoo(), M.tolil(), M.tocsc()):
        with pytest.warns(ParameterWarning, match="^user_items: expected a CSR matrix"):
            m = AlternatingLeastSquares(**kw).fit(other, show_progress=False)
        np.testing.assert_array_equal(m.user_factors, csr.user_factors)


def test_recommend_takes_implicits_user_items():
    """One CSR row per userid when the rows are read (filtering liked items, fold-in): a
    ValueError naming user_items otherwise; without filtering, anything goes, as in
    implicit."""
    from fastl2.errors import InputValueError

    M = _counts()
    m = AlternatingLeastSquares(factors=4, iterations=2, random_state=0).fit(
        M, show_progress=False)
    for bad, why in ((M[0].tocsc(), "a CSR sparse matrix"), (M[0].tocoo(), "a CSR sparse"),
                     (M, "one row for every user in userid \\(1\\)"),
                     (M[:2], "one row for every user in userid \\(3\\)")):
        users = 0 if bad.shape[0] != 2 else [0, 1, 2]
        with pytest.raises(InputValueError, match=f"^user_items: expected {why}"):
            m.recommend(users, bad)
    ids, _ = m.recommend(0, M, N=3, filter_already_liked_items=False)
    ids_row, _ = m.recommend(0, M[0], N=3, filter_already_liked_items=False)
    np.testing.assert_array_equal(ids, ids_row)
    ids, _ = m.recommend([0, 1], M[:2], N=3)
    assert ids.shape == (2, 3) and not set(ids[0]) & set(M[0].indices)


def test_incremental_retrain_grows_with_implicits_shapes():
    """implicit's incremental retrain: rows built before the model grew have fewer columns;
    new ids grow the factors, with zero rows for ids in between."""
    M = _counts(3)
    model = AlternatingLeastSquares(factors=4, regularization=0.1, use_cg=False,
                                    iterations=10, random_state=0).fit(M, show_progress=False)
    n_users, n_items = M.shape
    model.partial_fit_users([n_users + 5], M[1])
    assert model.user_factors.shape[0] == n_users + 6
    assert not model.user_factors[n_users:n_users + 5].any()
    # the new user's row is the exact solve of user 1's row (the trained row's equation)
    solved = model._solve_rows("user", M[1])[0][0]
    np.testing.assert_array_equal(model.user_factors[n_users + 5], solved)
    # an item row over the original users only (fewer columns than the grown model's users)
    column = M.T.tocsr()[2]
    assert column.shape[1] < model.user_factors.shape[0]
    padded = sp.hstack([column, sp.csr_matrix((1, model.user_factors.shape[0] -
                                               column.shape[1]))]).tocsr()
    expect = model._solve_rows("item", padded)[0][0]
    model.partial_fit_items([n_items], column)
    assert model.item_factors.shape[0] == n_items + 1
    np.testing.assert_array_equal(model.item_factors[n_items], expect)
    ids, _ = model.recommend(1, M[1], N=n_items + 1)
    assert n_items in ids and ids.size == n_items + 1 - M[1].nnz


def test_userid_may_be_a_buffer():
    """implicit's evaluation passes a Cython memoryview of int32 user ids."""
    M = _counts(4)
    model = AlternatingLeastSquares(factors=4, iterations=3, random_state=0).fit(
        M, show_progress=False)
    users = np.arange(5, dtype=np.int32)
    expect = model.recommend(users, M[users], N=3)
    got = model.recommend(memoryview(users), M[users], N=3)
    np.testing.assert_array_equal(got[0], expect[0])
