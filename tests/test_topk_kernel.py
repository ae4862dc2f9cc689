"""Top-N kernel against its NumPy twin: ties, N > candidates, everything seen, empty lists."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from fastl2._kernels import topk as K
from fastl2._reference import topk as R
from fastl2._threads import thread_limit


def _run(mod, Q, rows, offset, Y, bias, candidates, all_items, seen, banned, N):
    out_ids = np.zeros((rows.size, N), dtype=np.int64)
    out_scores = np.zeros((rows.size, N), dtype=Y.dtype)
    mod.topk_rows(Q, rows, offset, np.ascontiguousarray(Y.T), bias, candidates, all_items,
                  seen.indptr.astype(np.int64),
                  seen.indices.astype(np.int64), banned, N, out_ids, out_scores)
    return out_ids, out_scores


def _case(seed, n_users=150, n_items=40, k=5, dtype=np.float64, quantize=False):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_users, k)).astype(dtype)
    Y = rng.standard_normal((n_items, k)).astype(dtype)
    if quantize:  # many exact ties
        X = np.round(X).astype(dtype)
        Y = np.round(Y).astype(dtype)
    seen = sp.random(n_users, n_items, density=0.2, format="csr", random_state=seed)
    seen.sort_indices()
    return rng, X, Y, seen


@pytest.mark.parametrize("quantize", [False, True])
@pytest.mark.parametrize("N", [1, 7, 40, 60])
def test_matches_reference_with_filters(quantize, N):
    rng, X, Y, seen = _case(N, quantize=quantize)
    rows = rng.permutation(X.shape[0])[:90]
    seen_rows = seen[rows]
    offset = rng.standard_normal(rows.size)
    bias = rng.standard_normal(Y.shape[0]) * 0.1
    banned = (rng.random(Y.shape[0]) < 0.1).astype(np.uint8)
    for all_items, cand in ((True, np.zeros(0, np.int64)),
                            (False, np.sort(rng.choice(Y.shape[0], 25, replace=False)))):
        a = _run(K, X, rows, offset, Y, bias, cand, all_items, seen_rows, banned, N)
        b = _run(R, X, rows, offset, Y, bias, cand, all_items, seen_rows, banned, N)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_allclose(a[1], b[1], rtol=1e-12)
        # never a seen or banned item, -1 padding only at the end
        for r in range(rows.size):
            got = a[0][r][a[0][r] >= 0]
            assert not np.isin(got, seen_rows[r].indices).any()
            assert not banned[got].any()
            assert np.all(np.diff((a[0][r] < 0).astype(int)) >= 0)


def test_user_with_everything_seen_and_empty_candidate_list():
    rng, X, Y, _ = _case(3)
    everything = sp.csr_matrix(np.ones((2, Y.shape[0])))
    ids, scores = _run(K, X, np.array([0, 1]), np.zeros(2), Y, np.zeros(Y.shape[0]),
                       np.zeros(0, np.int64), True, everything, np.zeros(Y.shape[0], np.uint8), 5)
    assert np.all(ids == -1) and np.all(np.isneginf(scores))
    nothing = sp.csr_matrix((2, Y.shape[0]))
    ids, _ = _run(K, X, np.array([0, 1]), np.zeros(2), Y, np.zeros(Y.shape[0]),
                  np.zeros(0, np.int64), False, nothing, np.zeros(Y.shape[0], np.uint8), 5)
    assert np.all(ids == -1)


def test_ties_prefer_lower_item_index():
    Y = np.ones((10, 2))
    ids, _ = _run(K, np.ones((1, 2)), np.array([0]), np.zeros(1), Y, np.zeros(10),
                  np.zeros(0, np.int64), True, sp.csr_matrix((1, 10)), np.zeros(10, np.uint8), 4)
    assert ids.tolist() == [[0, 1, 2, 3]]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_same_result_for_any_thread_count(dtype):
    rng, X, Y, seen = _case(5, n_users=500, n_items=300, k=16, dtype=dtype)
    rows = np.arange(500)
    args = (X, rows, np.zeros(500, dtype), Y, np.zeros(300, dtype), np.zeros(0, np.int64), True,
            seen, np.zeros(300, np.uint8), 10)
    with thread_limit(1):
        a = _run(K, *args)
    with thread_limit(2):
        b = _run(K, *args)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert a[1].dtype == dtype
