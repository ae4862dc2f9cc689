"""recommend / similar_items / similar_users / fold-in on fitted models."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from fastl2 import BiasedMF, ImplicitALS, Interactions
from fastl2.errors import InputTypeError, InputValueError


@pytest.fixture(scope="module")
def implicit_fit():
    rng = np.random.default_rng(0)
    U, V = rng.normal(size=(80, 3)), rng.normal(size=(50, 3))
    S = U @ V.T
    M = sp.csr_matrix(np.where(S > np.quantile(S, 0.75), rng.integers(1, 4, S.shape), 0)
                      .astype(np.float32))
    model = ImplicitALS(factors=6, iterations=8, use_cg=False, regularization=0.05,
                        random_state=0, dtype=np.float64).fit(M, show_progress=False)
    return model, M


def _dense_top(scores, seen, N):
    scores = scores.astype(np.float64).copy()
    scores[seen] = -np.inf
    order = np.lexsort((np.arange(scores.size), -scores))[:N]
    return order[np.isfinite(scores[order])]


def test_recommend_single_user_matches_dense_ranking(implicit_fit):
    model, M = implicit_fit
    for user in (0, 5, 79):
        ids, scores = model.recommend(user, M[user], N=7)
        dense = model.user_factors[user] @ model.item_factors.T
        expect = _dense_top(dense, M[user].indices, 7)
        assert ids.tolist() == expect.tolist()
        np.testing.assert_allclose(scores, dense[ids], rtol=1e-12)
        assert np.all(np.diff(scores) <= 0)
        assert not np.isin(ids, M[user].indices).any()


def test_recommend_batch_equals_single_calls(implicit_fit):
    model, M = implicit_fit
    users = np.array([3, 1, 40])
    ids, scores = model.recommend(users, M[users], N=5)
    assert ids.shape == (3, 5) and scores.shape == (3, 5)
    for r, u in enumerate(users):
        one_ids, _ = model.recommend(int(u), M[u], N=5)
        assert ids[r].tolist() == one_ids.tolist()
    # the full training matrix is accepted too (rows picked by userid)
    full_ids, _ = model.recommend(users, M, N=5)
    assert np.array_equal(full_ids, ids)


def test_recommend_filters_candidates_and_padding(implicit_fit):
    model, M = implicit_fit
    ids, _ = model.recommend(2, M[2], N=10, filter_items=[0, 1, 2, 3])
    assert not np.isin(ids, [0, 1, 2, 3]).any()
    allowed = np.array([7, 8, 9])
    ids, _ = model.recommend(2, M[2], N=10, items=allowed,
                             filter_already_liked_items=False)
    assert sorted(ids.tolist()) == [7, 8, 9]
    # implicit's "rank items": N is capped at the number of given items, even in a batch
    ids, scores = model.recommend([2], M[2], N=10, items=allowed,
                                  filter_already_liked_items=False)
    assert ids.shape == (1, 3) and sorted(ids[0].tolist()) == [7, 8, 9]
    assert np.isfinite(scores).all() and np.all(np.diff(scores[0]) <= 0)


def test_rank_items_puts_liked_items_last(implicit_fit):
    model, M = implicit_fit
    user = 2
    liked = M[user].indices
    unseen = np.setdiff1d(np.arange(M.shape[1]), liked)
    given = np.r_[liked[:2], unseen[:3]]
    for userid, rows in ((user, M[user]), ([user, user], M[[user, user]])):
        ids, scores = model.recommend(userid, rows, N=20, items=given)
        ids, scores = np.atleast_2d(ids)[-1], np.atleast_2d(scores)[-1]
        assert ids.size == given.size
        assert set(ids[:3]) == set(unseen[:3]) and set(ids[3:]) == set(liked[:2])
        expect = (model.user_factors[user] @ model.item_factors[ids[:3]].T)
        np.testing.assert_allclose(scores[:3], expect, rtol=1e-5)
        assert np.all(np.diff(scores[:3]) <= 0) and np.isneginf(scores[3:]).all()
    # N below the number of given items keeps the best unseen ones
    ids, _ = model.recommend(user, M[user], N=2, items=given)
    assert set(ids) <= set(unseen[:3]) and ids.size == 2


def test_out_of_range_ids_raise_index_and_value_errors(implicit_fit):
    from fastl2.errors import InputIndexError
    model, M = implicit_fit
    for call in (lambda: model.recommend(0, M[0], items=[1, M.shape[1]]),
                 lambda: model.recommend(0, M[0], items=[-1, 2]),
                 lambda: model.similar_items(M.shape[1])):
        with pytest.raises(InputIndexError) as info:
            call()
        assert isinstance(info.value, IndexError) and isinstance(info.value, ValueError)


def test_similar_items_recalculated_from_item_users(implicit_fit):
    model, M = implicit_fit
    items = np.array([3, 5])
    plain_ids, plain_scores = model.similar_items(items, N=4)
    # the items' own columns: the exact solve against fixed users, then cosine similarity
    ids, scores = model.similar_items(items, N=4, recalculate_item=True,
                                      item_users=M.T.tocsr()[items])
    solved = model._solve_rows("item", sp.csr_matrix(M.T.tocsr()[items]))[0].astype(np.float64)
    Y = model.item_factors.astype(np.float64)
    cos = (solved / np.linalg.norm(solved, axis=1)[:, None]) @ \
        (Y / np.linalg.norm(Y, axis=1)[:, None]).T
    for r in range(items.size):
        np.testing.assert_allclose(scores[r], np.sort(cos[r])[::-1][:4], rtol=1e-4)
    assert ids.shape == plain_ids.shape == (2, 4)
    # item_users is read only with recalculate_item (implicit's contract)
    same = model.similar_items(items, N=4, item_users=M.T.tocsr()[items])
    np.testing.assert_array_equal(same[0], plain_ids)
    with pytest.raises(ValueError, match="item_users"):
        model.similar_items(items, N=4, recalculate_item=True)


def test_recalculate_user_is_the_exact_half_step(implicit_fit):
    model, M = implicit_fit
    user = 11
    ids, scores = model.recommend(user, M[user], N=5, recalculate_user=True)
    # independent solve of the user's row against the fixed item factors
    Y = model.item_factors
    r = M[user].toarray().ravel()
    c = 1 + r  # linear confidence, alpha = 1
    p = (r > 0).astype(float)
    A = np.vstack([Y * np.sqrt(c)[:, None], np.sqrt(0.05) * np.eye(6)])
    x, *_ = np.linalg.lstsq(A, np.r_[p * np.sqrt(c), np.zeros(6)], rcond=None)
    expect = _dense_top(Y @ x, M[user].indices, 5)
    assert ids.tolist() == expect.tolist()
    np.testing.assert_allclose(scores, (Y @ x)[ids], rtol=1e-6)  # normal equations vs QR
    # a brand-new user (index beyond the model) with a few interactions
    liked = M[user].indices[:3]
    new = sp.csr_matrix((np.ones(liked.size), (np.zeros(liked.size, int), liked)),
                        shape=(1, M.shape[1]))
    ids_new, _ = model.recommend(model.user_factors.shape[0], new, N=5, recalculate_user=True)
    assert ids_new.size == 5 and not np.isin(ids_new, new.indices).any()


def test_similar_items_cosine_itself_first_and_cache_invalidation(implicit_fit):
    model, M = implicit_fit
    ids, scores = model.similar_items(4, N=6)
    assert ids[0] == 4 and scores[0] == pytest.approx(1.0)
    Y = model.item_factors / np.linalg.norm(model.item_factors, axis=1, keepdims=True)
    np.testing.assert_allclose(scores, Y[ids] @ Y[4], rtol=1e-10)
    assert ids[1:].tolist() == _dense_top(Y @ Y[4], [4], 5).tolist()
    ids2, _ = model.similar_items(4, N=6, filter_items=[4])
    assert 4 not in ids2
    uids, uscores = model.similar_users([0, 1], N=3)
    assert uids.shape == (2, 3) and uids[0, 0] == 0 and uids[1, 0] == 1
    refit = ImplicitALS(factors=6, iterations=2, random_state=1).fit(M, show_progress=False)
    a = refit.similar_items(4, N=3)
    refit.fit(M[::-1], show_progress=False)  # different data: cached norms must not survive
    b = refit.similar_items(4, N=3)
    Yb = refit.item_factors / np.linalg.norm(refit.item_factors, axis=1, keepdims=True)
    np.testing.assert_allclose(b[1], Yb[b[0]] @ Yb[4], rtol=1e-5)
    assert a[0].shape == b[0].shape


def test_biased_mf_recommend_scores_are_predicted_ratings(planted):
    u, i, r, *_ = planted
    m = BiasedMF(factors=4, iterations=20, random_state=0, dtype=np.float64).fit((u, i, r))
    seen = sp.csr_matrix((np.ones(u.size), (m.user_map_.to_index(u), m.item_map_.to_index(i))),
                         shape=(m.user_factors_.shape[0], m.item_factors_.shape[0]))
    ids, scores = m.recommend(0, seen[0], N=5)
    ext_user = m.user_map_.to_ids(np.array([0]))
    pred = m.predict(np.repeat(ext_user, ids.size), m.item_map_.to_ids(ids), clip=False)
    np.testing.assert_allclose(scores, pred, rtol=1e-10)
    ids_nb, scores_nb = m.recommend(0, seen[0], N=5, include_bias=False)
    np.testing.assert_allclose(scores_nb, m.item_factors_[ids_nb] @ m.user_factors_[0],
                               rtol=1e-10)
    # fold-in of an existing user's own ratings reproduces an ALS row solve: finite, ranked
    ids_f, scores_f = m.recommend(0, seen[0].multiply(4.0).tocsr(), N=5, recalculate_user=True)
    assert ids_f.size == 5 and np.isfinite(scores_f).all()


def test_recommend_bad_arguments_are_named(implicit_fit):
    model, M = implicit_fit
    with pytest.raises(InputValueError, match="userid"):
        model.recommend(80, M[0])
    with pytest.raises(InputTypeError, match="userid"):
        model.recommend(1.5, M[0])
    with pytest.raises(InputValueError, match="user_items"):
        model.recommend(0, None)
    with pytest.raises(InputValueError, match="user_items.*at most 50 columns"):
        model.recommend(0, sp.hstack([M, M]).tocsr())
    # fewer columns are the first items (a matrix built before the model grew), as implicit
    liked_before = M[0].indices[M[0].indices < 40]
    np.testing.assert_array_equal(model.recommend(0, M[0, :40], N=50)[0],
                                  model.recommend(0, M[0], N=50, filter_items=liked_before,
                                                  filter_already_liked_items=False)[0])
    with pytest.raises(InputValueError, match="items"):
        model.recommend(0, M[0], items=[1], filter_items=[2])
    with pytest.raises(InputValueError, match="itemid"):
        model.similar_items(50)
    with pytest.raises(InputValueError, match="N"):
        model.recommend(0, M[0], N=-1)


def test_fold_in_equals_the_full_als_half_step(implicit_fit, planted):
    """recalculate_user solves exactly what a users half-step of the fit would give."""
    from fastl2.training import als as _als
    from fastl2.training.params import ExplicitSweepParams, ImplicitSweepParams
    from fastl2.models import implicit_als

    model, M = implicit_fit
    prm = model._checked_params()
    users, items = _als.both_sides(M.astype(np.float64), implicit_als.confidence(M.data, prm))
    sweeps = _als.ImplicitSweeps(users, items, 6, ImplicitSweepParams.of(
        np.float64, regularization=0.05, use_cg=False, cg_steps=3), 1, np.dtype(np.float64))
    X = model.user_factors.copy()
    sweeps.half(users, sweeps.user_chunks, X, model.item_factors)
    rows = np.arange(M.shape[0])
    folded, _ = model._fold_in_users(M[rows], True)
    np.testing.assert_allclose(folded, X, rtol=1e-10, atol=1e-12)

    u, i, r, *_ = planted
    m = BiasedMF(solver="als", factors=3, iterations=5, random_state=0,
                 dtype=np.float64).fit((u, i, r))
    ratings = sp.csr_matrix((r, (m.user_map_.to_index(u), m.item_map_.to_index(i))),
                            shape=(m.user_factors_.shape[0], m.item_factors_.shape[0]))
    P, offset = m._fold_in_users(ratings, True)
    # the model's own last user half-step happened before its item half-step: redo it
    ex_users, ex_items = _als.both_sides(ratings, ratings.data)
    ex = _als.ExplicitSweeps(ex_users, ex_items, 3, ExplicitSweepParams.of(
        np.float64, global_mean=m.global_mean_, regularization=(0.08, 0.08),
        bias_regularization=(0.02, 0.02), weighted_regularization=True), 1,
        np.dtype(np.float64))
    P2 = np.zeros_like(P)
    bu2 = np.zeros(P.shape[0])
    ex.half(ex_users, ex.user_chunks, P2, bu2, m.item_factors_, m.item_bias_, "user")
    np.testing.assert_allclose(P, P2, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(offset, m.global_mean_ + bu2, rtol=1e-12)


def test_partial_fit_users_and_items(implicit_fit):
    model, M = implicit_fit
    m = ImplicitALS(**model.get_params()).fit(M, show_progress=False)
    before_sim = m.similar_items(3, N=3)
    n_users, n_items = m.user_factors.shape[0], m.item_factors.shape[0]
    # existing users: their rows become the exact solve (= recalculate_user)
    expect, _ = m._fold_in_users(M[[2, 5]], True)
    m.partial_fit_users([2, 5], M[[2, 5]])
    np.testing.assert_array_equal(m.user_factors[[2, 5]], expect)
    # a brand-new user appended: factors grow, the integer id map grows
    liked = M[7]
    m.partial_fit_users([n_users], liked)
    assert m.user_factors.shape[0] == n_users + 1
    assert m.user_map_.ids[-1] == m.user_map_.ids[:-1].max() + 1
    ids, _ = m.recommend(n_users, liked, N=5)
    ids7, _ = m.recommend(7, liked, N=5, recalculate_user=True)
    assert ids.tolist() == ids7.tolist()
    # a new item from its users; cached norms are refreshed
    col = sp.hstack([M[:, 3].T, sp.csr_matrix((1, 1))]).tocsr()  # + the new user's column
    m.partial_fit_items([n_items], col)
    assert m.item_factors.shape[0] == n_items + 1
    sim_ids, sim_scores = m.similar_items(n_items, N=3)
    assert sim_ids[0] == n_items and sim_scores[0] == pytest.approx(1.0)
    assert m.similar_items(3, N=3)[0].shape == before_sim[0].shape


def test_partial_fit_with_string_ids_and_errors():
    rng = np.random.default_rng(0)
    users = np.array([f"u{k}" for k in rng.integers(0, 30, 600)])
    items = np.array([f"i{k}" for k in rng.integers(0, 20, 600)])
    data = Interactions.from_arrays(users, items, rng.integers(1, 6, 600).astype(float),
                                    duplicates="last")
    m = BiasedMF(factors=3, iterations=5, random_state=0).fit(data)
    n_users, n_items = m.user_factors_.shape[0], m.item_factors_.shape[0]
    row = sp.csr_matrix((np.array([5.0, 1.0]), (np.array([0, 0]), np.array([0, 1]))),
                        shape=(1, n_items))
    with pytest.raises(InputValueError, match="new_user_ids"):
        m.partial_fit_users([n_users], row)
    with pytest.raises(InputValueError, match="new_user_ids"):
        m.partial_fit_users([n_users], row, new_user_ids=["u1"])  # already known
    m.partial_fit_users([n_users], row, new_user_ids=["newbie"])
    assert m.user_map_.to_ids(np.array([n_users]))[0] == "newbie"
    pred = m.predict(["newbie", "newbie"], m.item_map_.to_ids(np.array([0, 1])), clip=False)
    assert pred[0] > pred[1]  # rated 5 vs 1
    with pytest.raises(InputValueError, match="user_items.*columns"):
        m.partial_fit_users([0], sp.hstack([row, row]).tocsr())
    with pytest.raises(InputValueError, match="user_items.*1 rows"):
        m.partial_fit_users([0], sp.vstack([row, row]).tocsr())
    # fewer columns: the first items (implicit's incremental retrain passes such rows)
    before = m.user_factors_.copy()
    m.partial_fit_users([0], row[:, :3])
    solved = m.user_factors_[0].copy()
    m.user_factors_[:] = before
    m.partial_fit_users([0], sp.hstack([row[:, :3], sp.csr_matrix((1, n_items - 3))]).tocsr())
    np.testing.assert_array_equal(m.user_factors_[0], solved)
    with pytest.raises(InputValueError, match="userids"):
        m.partial_fit_users([1, 1], sp.vstack([row, row]))


def test_recommend_for_external_ids():
    rng = np.random.default_rng(1)
    users = np.array([f"u{k}" for k in rng.integers(0, 40, 800)])
    items = np.array([f"i{k}" for k in rng.integers(0, 25, 800)])
    data = Interactions.from_arrays(users, items, np.ones(800), duplicates="sum")
    m = ImplicitALS(factors=3, iterations=3, random_state=0).fit(data, show_progress=False)
    ext_ids, scores = m.recommend_for("u3", data, N=5)
    row = m.user_map_.to_index(["u3"])[0]
    int_ids, int_scores = m.recommend(row, data.matrix[row], N=5)
    assert ext_ids.tolist() == m.item_map_.to_ids(int_ids).tolist()
    np.testing.assert_array_equal(scores, int_scores)
    seen_items = set(items[users == "u3"])
    assert not seen_items & set(ext_ids.tolist())
    batch, _ = m.recommend_for(["u3", "u4"], data, N=30)
    assert batch.shape == (2, 30) and batch[0, 0] == ext_ids[0]
    assert any(v is None for v in batch[0])  # fewer than 30 unseen items: padded
    with pytest.raises(InputValueError, match="users"):
        m.recommend_for("nobody", data)


def test_non_integer_arguments_are_rejected_not_truncated(implicit_fit):
    model, M = implicit_fit
    with pytest.raises(InputTypeError, match="userid"):
        model.recommend(1.5, M[1], recalculate_user=True)
    with pytest.raises(InputTypeError, match="N"):
        model.recommend(0, M[0], N=2.5)
    with pytest.raises(InputTypeError, match="N"):
        model.similar_items(0, N=2.5)
