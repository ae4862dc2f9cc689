"""NumPy twins of :mod:`fastl2._kernels.linalg`: the Gram update by a matrix product and the
solve by ``numpy.linalg.cholesky`` and two triangular solves.

Same signatures and effects on what the kernels define (the upper triangle); they compute in
float64 and round once to the arrays' dtype, so as oracles they are at least as accurate as
the kernels.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg


def gram_tiles(A, X, Y, n, start, kp, sign):
    """A[a, b] += sign · Σ_{j < n} X[j, a] Y[j, b] for start <= a <= b < kp (upper triangle).

    Parameters
    ----------
    A : numpy.ndarray, shape (>= kp, >= kp)
        Updated in place on its upper triangle from row ``start`` on; every other entry is
        left as it is (the kernel may also write a few entries below the diagonal, which
        nothing reads).
    X, Y : numpy.ndarray, shape (>= n, >= kp)
        The rows of the product (``X`` = ``Y`` for a symmetric rank-n update); same dtype as
        ``A``; not modified.
    n : int
        Number of rows of ``X`` and ``Y`` summed over.
    start, kp : int
        The first row and the end of the updated block of ``A``.
    sign : scalar of ``A``'s dtype
        The factor of the product (the kernels pass 1 or -1).

    Returns
    -------
    None
    """
    P = X[:n, :kp].astype(np.float64).T @ Y[:n, :kp].astype(np.float64)
    upper = np.triu(np.ones((kp, kp), dtype=bool))
    upper[:start] = False
    block = A[:kp, :kp]
    block[upper] = (block.astype(np.float64) + float(sign) * P)[upper].astype(A.dtype)


def cholesky_solve(A, b, kp):
    """Solve A x = b for symmetric positive definite A given by the upper triangle of
    ``A[:kp, :kp]``.

    Parameters
    ----------
    A : numpy.ndarray, shape (>= kp, >= kp)
        Only its upper triangle is read. On success its upper triangle is overwritten by U of
        A = UᵀU (what lies below the diagonal is left as it is).
    b : numpy.ndarray, shape (>= kp,)
        The right-hand side, overwritten by x on success; same dtype as ``A``.
    kp : int
        The order of the system.

    Returns
    -------
    bool
        True when solved; False when A is not positive definite or has a non-finite entry.
        On False the twin leaves ``A`` and ``b`` unchanged (the kernel leaves them partly
        overwritten: callers must not read them).
    """
    U = np.triu(A[:kp, :kp]).astype(np.float64)
    S = U + np.triu(U, 1).T
    if not np.all(np.isfinite(S)):
        return False
    try:
        L = np.linalg.cholesky(S)
    except np.linalg.LinAlgError:
        return False
    d = np.diag(L)
    if not np.all(np.isfinite(L)) or not np.all(d > 0):
        return False
    z = scipy.linalg.solve_triangular(L, b[:kp].astype(np.float64), lower=True)
    x = scipy.linalg.solve_triangular(L.T, z, lower=False)
    upper = np.triu(np.ones((kp, kp), dtype=bool))
    A[:kp, :kp][upper] = L.T[upper].astype(A.dtype)
    b[:kp] = x.astype(b.dtype)
    return True
