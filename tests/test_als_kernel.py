"""ALS kernels against their NumPy twins (fastl2._reference.als) on small random data."""

from __future__ import annotations

import numba
import numpy as np
import pytest
import scipy.sparse as sp

from fastl2._kernels import als as K
from fastl2._kernels.simd import lanes
from fastl2._reference import als as R
from fastl2._threads import thread_limit


def _problem(dtype, n_rows=37, n_cols=23, k=6, density=0.3, seed=0, signed=False,
             empty_row=True):
    rng = np.random.default_rng(seed)
    M = sp.random(n_rows, n_cols, density=density, format="csr", random_state=seed,
                  data_rvs=lambda n: rng.integers(1, 6, n).astype(float))
    M = M.tolil()
    if empty_row:
        M[3, :] = 0
    M = M.tocsr()
    M.eliminate_zeros()
    M.sort_indices()
    vals = M.data.astype(dtype)
    if signed:
        vals[::5] *= -1
    Y = (rng.standard_normal((n_cols, k)) * 0.5).astype(dtype)
    X = (rng.standard_normal((n_rows, k)) * 0.5).astype(dtype)
    chunk_ptr = np.array([0, n_rows // 3, n_rows // 2, n_rows], dtype=np.int64)
    return M.indptr.astype(np.int64), M.indices.astype(np.int32), vals, X, Y, chunk_ptr


@pytest.mark.parametrize("weighted", [True, False])
def test_explicit_half_matches_reference(weighted):
    ptr, idx, vals, P, Q, chunks = _problem(np.float64)
    rng = np.random.default_rng(1)
    bi = rng.standard_normal(Q.shape[0]) * 0.1
    out = []
    for mod in (K, R):
        P1, bu1 = P.copy(), np.full(P.shape[0], 7.0)
        sse = np.full(P.shape[0], -1.0)
        nf = np.zeros(3, dtype=np.int64)
        mod.explicit_als_half(ptr, idx, vals, 3.0, Q, bi, 0.1, 0.05, weighted, 1e-6, chunks,
                              P1, bu1, sse, nf)
        out.append((P1, bu1, sse, nf))
    for a, b in zip(out[0], out[1]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-10)
    P1, bu1, sse, nf = out[0]
    assert np.all(P1[3] == 0) and bu1[3] == 0 and sse[3] == 0  # empty row
    assert nf.sum() == 0
    assert np.all(sse[np.diff(ptr) > 0] > 0)
    # without the training error: the same factors, the errors left at zero
    for mod in (K, R):
        P2, bu2, sse2 = P.copy(), np.zeros(P.shape[0]), np.full(P.shape[0], -1.0)
        mod.explicit_als_half(ptr, idx, vals, 3.0, Q, bi, 0.1, 0.05, weighted, 1e-6, chunks,
                              P2, bu2, sse2, np.zeros(3, dtype=np.int64), False)
        np.testing.assert_array_equal(sse2, 0.0)
        np.testing.assert_allclose(P2, P1, rtol=1e-5, atol=1e-10)
        np.testing.assert_allclose(bu2, bu1, rtol=1e-5, atol=1e-10)


def test_explicit_half_is_the_row_least_squares_minimum():
    """Independent check: each row's (p, b) minimizes the regularized squared error."""
    ptr, idx, vals, P, Q, chunks = _problem(np.float64, seed=3)
    bi = np.zeros(Q.shape[0])
    bu = np.zeros(P.shape[0])
    sse = np.zeros(P.shape[0])
    K.explicit_als_half(ptr, idx, vals, 3.0, Q, bi, 0.2, 0.1, False, 1e-6, chunks, P, bu, sse,
                        np.zeros(3, dtype=np.int64))
    u = 0
    cols = idx[ptr[u]:ptr[u + 1]]
    Z = np.hstack([Q[cols], np.ones((cols.size, 1))])
    t = vals[ptr[u]:ptr[u + 1]] - 3.0
    # ridge as an augmented least-squares problem
    D = np.diag(np.sqrt(np.r_[np.full(Q.shape[1], 0.2), 0.1]))
    w, *_ = np.linalg.lstsq(np.vstack([Z, D]), np.r_[t, np.zeros(Q.shape[1] + 1)], rcond=None)
    np.testing.assert_allclose(np.r_[P[u], bu[u]], w, rtol=1e-8)


@pytest.mark.parametrize("signed", [False, True])
def test_implicit_cholesky_half_matches_reference(signed):
    ptr, idx, vals, X, Y, chunks = _problem(np.float64, signed=signed)
    conf = np.where(vals > 0, 1 + 2.0 * vals, -(1 + 2.0 * np.abs(vals)))
    G = K.gram(Y, 4) + 0.1 * np.eye(Y.shape[1])
    out = []
    for mod in (K, R):
        X1 = X.copy()
        nf = np.zeros(3, dtype=np.int64)
        mod.implicit_cholesky_half(ptr, idx, conf, Y, G, 1e-6, chunks, X1, nf)
        out.append((X1, nf))
    np.testing.assert_allclose(out[0][0], out[1][0], rtol=1e-5, atol=1e-10)
    assert np.all(out[0][0][3] == 0)
    assert out[0][1].sum() == 0


def test_gram_matches_numpy_and_ignores_thread_count():
    Y = np.random.default_rng(0).standard_normal((1001, 9)).astype(np.float32)
    ref = R.gram(Y, 8)
    got = K.gram(Y, 8)
    np.testing.assert_allclose(got, ref, rtol=1e-5)
    assert np.array_equal(got, got.T)
    with thread_limit(1):
        one = K.gram(Y, 8)
    assert np.array_equal(one, got)


@pytest.mark.parametrize("steps", [1, 3])
def test_implicit_cg_half_matches_reference(steps):
    ptr, idx, vals, X, Y, chunks = _problem(np.float64, signed=True, seed=5)
    conf = np.sign(vals) * (1 + 2.0 * np.abs(vals))
    G = K.gram(Y, 4) + 0.1 * np.eye(Y.shape[1])
    X1, X2 = X.copy(), X.copy()
    K.implicit_cg_half(ptr, idx, conf, Y, G, steps, chunks, X1)
    R.implicit_cg_half(ptr, idx, conf, Y, G, steps, chunks, X2)
    np.testing.assert_allclose(X1, X2, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cg_rows_too_long_to_gather_give_the_same_bits(dtype, monkeypatch):
    """Rows longer than the gather buffer (``_GATHER_BYTES``) copy their y_i again in every
    step instead of once, four at a time: the same arithmetic, so the same bits."""
    ptr, idx, vals, X, Y, chunks = _problem(dtype, signed=True, seed=5)
    conf = (np.sign(vals) * (1 + 2 * np.abs(vals))).astype(dtype)
    G = K.gram(Y, 4) + dtype(0.1) * np.eye(Y.shape[1], dtype=dtype)
    gathered = X.copy()
    K.implicit_cg_half(ptr, idx, conf, Y, G, 3, chunks, gathered)
    # 5 padded rows fit (k = 6 is padded to 8 with AVX2): rows of 1..5 entries are gathered,
    # the others (6..12 entries, with and without a tail after the quads) are not
    kp = -(-Y.shape[1] // lanes(numba.from_dtype(dtype))) * lanes(numba.from_dtype(dtype))
    monkeypatch.setattr(K, "_GATHER_BYTES", 5 * kp * Y.itemsize)
    kernel = K.implicit_cg_half
    if not numba.config.DISABLE_JIT:  # a fresh compile reads the patched constant
        kernel = numba.njit(parallel=True, nogil=True)(kernel.py_func)
    streamed = X.copy()
    kernel(ptr, idx, conf, Y, G, 3, chunks, streamed)
    n = np.diff(ptr)
    assert (n > 5).any() and ((n > 0) & (n <= 5)).any() and (n[n > 5] % 4 > 0).any()
    assert np.array_equal(streamed, gathered)


def test_cg_converges_to_cholesky_solution_as_steps_grow():
    ptr, idx, vals, X, Y, chunks = _problem(np.float64, seed=7, k=8)
    conf = 1 + 5.0 * vals
    G = K.gram(Y, 4) + 0.05 * np.eye(Y.shape[1])
    exact = X.copy()
    K.implicit_cholesky_half(ptr, idx, conf, Y, G, 1e-6, chunks, exact,
                             np.zeros(3, dtype=np.int64))
    errors = []
    for steps in (1, 2, 4, 8):
        Xc = X.copy()
        K.implicit_cg_half(ptr, idx, conf, Y, G, steps, chunks, Xc)
        errors.append(np.linalg.norm(Xc - exact) / np.linalg.norm(exact))
    assert all(b < a for a, b in zip(errors, errors[1:])), errors
    assert errors[-1] < 1e-6


def test_implicit_loss_rows_matches_dense_definition():
    ptr, idx, vals, X, Y, chunks = _problem(np.float64, signed=True, seed=2)
    conf = np.sign(vals) * (1 + 0.5 * np.abs(vals))
    YtY = K.gram(Y, 4)
    a, b = np.zeros(X.shape[0]), np.zeros(X.shape[0])
    K.implicit_loss_rows(ptr, idx, conf, X, Y, YtY, chunks, a)
    R.implicit_loss_rows(ptr, idx, conf, X, Y, YtY, chunks, b)
    np.testing.assert_allclose(a, b, rtol=1e-9)


def test_rank_deficient_rows_fall_back_to_a_ridge_not_nan():
    # λ = 0, a row with 2 ratings and k = 6: singular system
    ptr, idx, vals, P, Q, chunks = _problem(np.float64, density=0.08, seed=4)
    assert np.diff(ptr).min() < 6
    bi = np.zeros(Q.shape[0])
    for mod in (K, R):
        P1, bu = P.copy(), np.zeros(P.shape[0])
        nf = np.zeros(3, dtype=np.int64)
        mod.explicit_als_half(ptr, idx, vals, 3.0, Q, bi, 0.0, 0.0, False, 1e-6, chunks, P1, bu,
                              np.zeros(P.shape[0]), nf)
        assert np.isfinite(P1).all() and np.isfinite(bu).all()
        assert nf.sum() > 0
    G = np.zeros((Q.shape[1], Q.shape[1]))
    conf = 1 + vals
    X1 = P.copy()
    nf = np.zeros(3, dtype=np.int64)
    K.implicit_cholesky_half(ptr, idx, conf, Q, G, 1e-6, chunks, X1, nf)
    assert np.isfinite(X1).all() and nf.sum() > 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernels_bit_identical_for_any_thread_count(dtype):
    ptr, idx, vals, X, Y, _ = _problem(dtype, n_rows=200, n_cols=50, k=8, seed=9)
    conf = (1 + vals).astype(dtype)
    G = K.gram(Y, 4) + dtype(0.1) * np.eye(8, dtype=dtype)
    results = []
    for threads in (1, 2):
        with thread_limit(threads):
            chunks = np.linspace(0, 200, 4 * threads + 1).astype(np.int64)
            a, b = X.copy(), X.copy()
            K.implicit_cg_half(ptr, idx, conf, Y, G, 3, chunks, a)
            K.implicit_cholesky_half(ptr, idx, conf, Y, G, dtype(1e-4), chunks, b,
                                     np.zeros(chunks.size - 1, dtype=np.int64))
            c, bu = X.copy(), np.zeros(200, dtype=dtype)
            K.explicit_als_half(ptr, idx, vals, dtype(3), Y, np.zeros(50, dtype=dtype),
                                dtype(0.05), dtype(0.01), True, dtype(1e-4), chunks, c, bu,
                                np.zeros(200), np.zeros(chunks.size - 1, dtype=np.int64))
            results.append((a, b, c, bu))
    for x, y in zip(*results):
        assert x.dtype == dtype
        assert np.array_equal(x, y)


@pytest.mark.parametrize("n_rows", [10, 64, 1000])
def test_gram_from_block_partials_is_the_same_bits(n_rows):
    """A cluster's YᵀY: each block's partial sums over the fixed row ranges it holds, added
    in range order, equal the kernel's own sum bit for bit."""
    from fastl2.training import als as _als

    Y = np.random.default_rng(n_rows).standard_normal((n_rows, 13)).astype(np.float32)
    bounds = _als.gram_bounds(n_rows)
    cuts = [0, int(bounds[17]), int(bounds[40]), n_rows]
    parts = []
    for lo, hi in zip(cuts[:-1], cuts[1:]):
        first, last = np.searchsorted(bounds, [lo, hi])
        parts.append(K.gram_partials(Y[lo:hi], bounds[first:last + 1], lo))
    assert sum(p.shape[0] for p in parts) == bounds.size - 1
    out = np.empty((13, 13), dtype=np.float32)
    K.gram_sum(np.concatenate(parts), out)
    np.testing.assert_array_equal(out, _als.gram(Y))
    np.testing.assert_allclose(out, R.gram(Y, 64), rtol=1e-5, atol=1e-5)
