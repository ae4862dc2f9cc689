"""The dense helpers under the ALS kernels (``_kernels.simd`` vectors, ``_kernels.linalg``)
against their NumPy twins (``fastl2._reference.linalg``) on small inputs."""

import numba
import numpy as np
import pytest

from fastl2._kernels.linalg import NB, cholesky_solve, gram_tiles
from fastl2._reference import linalg as ref
from fastl2._kernels.simd import (lanes, prefetch, vfma, vload, vscale, vstore, vsum, vwidth,
                                  vzero)

DTYPES = [np.float32, np.float64]


@numba.njit
def _axpy_chunks(x, y, alpha, out):
    """out = alpha·x + y chunk by chunk, through every vector operation."""
    w = vwidth(x[0])
    for c in range(0, x.shape[0], w):
        prefetch(y, c)
        acc = vfma(alpha, vload(x, c), vload(y, c))
        vstore(out, c, vfma(x[0] - x[0], vload(x, c), acc))
    return w


@numba.njit
def _scaled_plus_zero(x, s, out):
    w = vwidth(x[0])
    for c in range(0, x.shape[0], w):
        vstore(out, c, vfma(s, vload(x, c), vzero(x[0])))
        vstore(out, c, vscale(s, vload(out, c)))


@numba.njit
def _dot_chunks(x, y):
    """Σ x·y with vector products summed lane-wise, then across lanes."""
    w = vwidth(x[0])
    acc = vzero(x[0])
    for c in range(0, x.shape[0], w):
        acc = vfma(vload(x, c), vload(y, c), acc)
    return vsum(acc)


@pytest.mark.parametrize("dtype", DTYPES)
def test_vector_operations_match_numpy(dtype):
    rng = np.random.default_rng(0)
    n = 64
    x = rng.standard_normal(n).astype(dtype)
    y = rng.standard_normal(n).astype(dtype)
    out = np.zeros(n, dtype)
    w = _axpy_chunks(x, y, dtype(0.5), out)
    assert w == lanes(numba.from_dtype(np.dtype(dtype)))
    assert w * np.dtype(dtype).itemsize in (32, 64)
    np.testing.assert_allclose(out, 0.5 * x + y, rtol=1e-6)
    _scaled_plus_zero(x, dtype(3.0), out)
    np.testing.assert_allclose(out, 9.0 * x, rtol=1e-6)
    assert _dot_chunks(x, y) == pytest.approx(float(x.astype(np.float64) @ y), rel=1e-5)


def test_vector_load_is_bounds_checked_in_debug_mode():
    @numba.njit(boundscheck=True)
    def _first(x, start):
        out = np.zeros(x.shape[0] + 64, x.dtype)
        vstore(out, 0, vload(x, start))
        return out[0]

    x = np.arange(32, dtype=np.float32)
    assert _first(x, 0) == 0.0
    w = lanes(numba.float32)
    assert _first(x, 32 - w) == 32.0 - w  # the last whole vector
    with pytest.raises(IndexError):
        _first(x, 32 - w + 1)  # the vector would end one element past the array
    with pytest.raises(IndexError):
        _first(x, 32)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 7, 16, 130])
@pytest.mark.parametrize("start", [0, 16])
@pytest.mark.parametrize("kp", [32, 48, 64])  # row blocks of 6 leave 2, 0 or 4 rows over
def test_gram_tiles_is_the_upper_triangle_of_a_weighted_product(dtype, n, start, kp):
    rng = np.random.default_rng(n)
    Y = rng.standard_normal((n, kp)).astype(dtype)
    wgt = rng.uniform(0.5, 2.0, n).astype(dtype)
    X = (wgt[:, None] * Y).astype(dtype)
    A0 = rng.standard_normal((kp, kp)).astype(dtype)
    A = A0.copy()
    gram_tiles(A, X, Y, n, start, kp, dtype(-2.0))
    expect = A0.copy()
    ref.gram_tiles(expect, X, Y, n, start, kp, dtype(-2.0))
    upper = np.triu(np.ones((kp, kp), bool))
    upper[:start] = False
    tol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(A[upper], expect[upper], rtol=tol, atol=tol * n)
    untouched = np.zeros((kp, kp), bool)
    untouched[:start] = True
    np.testing.assert_array_equal(A[untouched], A0[untouched])
    np.testing.assert_array_equal(expect[untouched], A0[untouched])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", [NB, 3 * NB, 8 * NB])
def test_cholesky_solve_matches_numpy(dtype, k):
    rng = np.random.default_rng(k)
    M = rng.standard_normal((2 * k, k))
    A = M.T @ M + 0.1 * np.eye(k)
    b = rng.standard_normal(k)
    A_ref = np.triu(A)  # the twin, in float64
    x = b.copy()
    assert ref.cholesky_solve(A_ref, x, k)
    np.testing.assert_allclose(x, np.linalg.solve(A, b), rtol=1e-10)
    Ak = np.triu(A).astype(dtype)  # only the upper triangle may be read
    bk = b.astype(dtype)
    assert cholesky_solve(Ak, bk, k)
    tol = 2e-3 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(bk, x, rtol=tol, atol=tol * np.abs(x).max())
    L = np.triu(A_ref).T
    np.testing.assert_allclose(L, np.linalg.cholesky(A), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.triu(Ak), L.T, rtol=tol, atol=tol * np.abs(L).max())


@pytest.mark.parametrize("dtype", DTYPES)
def test_cholesky_solve_reports_an_indefinite_matrix(dtype):
    k = 2 * NB
    A = np.eye(k, dtype=dtype)
    A[20, 20] = -1.0
    b = np.ones(k, dtype)
    assert not ref.cholesky_solve(A.copy(), b.copy(), k)
    assert not cholesky_solve(A, b, k)
    A = np.eye(k, dtype=dtype)
    A[3, 3] = np.nan
    assert not ref.cholesky_solve(A.copy(), np.ones(k, dtype), k)
    assert not cholesky_solve(A, np.ones(k, dtype), k)
