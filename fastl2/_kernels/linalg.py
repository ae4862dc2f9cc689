"""Small dense linear algebra inlined into the ALS row solvers.

Everything works in place on caller-owned scratch (no allocation) and in the dtype of its
arguments, so float32 rows are solved in float32 and float64 rows in float64.

* :func:`syr4` — A += Σ_{t<4} w_t y_t y_tᵀ on the upper triangle (four ratings per sweep of A,
  so each load/store of A carries four multiply-adds). Row ``a`` is updated from column
  ``8 * (a // 8)`` on, so the inner loop has a vector-friendly trip count; the few entries it
  writes below the diagonal are never read.
* :func:`syr1` — the one-rating version for the tail.
* :func:`cholesky_solve` — A = UᵀU in place (upper triangle), then UᵀU x = b in place.
"""

import numba
import numpy as np

from ._flags import FASTMATH


@numba.njit(inline="always")
def _u(i):  # pragma: no cover - compiled
    """An index as uint64. A loop ``range(start, stop)`` whose start is not the literal 0
    makes Numba wrap negative indices inside the loop, which stops LLVM from vectorizing it;
    unsigned bounds remove the wraparound. Use the loop variable only as an index (uint64
    mixed with int64 arithmetic gives float64 in Numba)."""
    return np.uint64(i)


@numba.njit(fastmath=FASTMATH, nogil=True, inline="always")
def syr4(A, y0, y1, y2, y3, w0, w1, w2, w3, k):  # pragma: no cover - compiled
    for a in range(k):
        s0 = w0 * y0[a]
        s1 = w1 * y1[a]
        s2 = w2 * y2[a]
        s3 = w3 * y3[a]
        for b in range(_u((a >> 3) << 3), _u(k)):
            A[a, b] += s0 * y0[b] + s1 * y1[b] + s2 * y2[b] + s3 * y3[b]


@numba.njit(fastmath=FASTMATH, nogil=True, inline="always")
def syr1(A, y0, w0, k):  # pragma: no cover - compiled
    for a in range(k):
        s0 = w0 * y0[a]
        for b in range(_u((a >> 3) << 3), _u(k)):
            A[a, b] += s0 * y0[b]


@numba.njit(fastmath=FASTMATH, nogil=True, inline="always")
def cholesky_solve(A, b, m):  # pragma: no cover - compiled
    """Solve A x = b for symmetric positive definite A (upper triangle of ``A[:m, :m]``).

    Right-looking factorization A = UᵀU on the rows of the upper triangle, so every inner
    loop is a contiguous axpy or dot. ``A`` needs one spare row (``A.shape[0] > m``): the
    pivot row is copied there so the trailing update reads a row it does not write. A is overwritten by U and b by x. Returns False (A and b
    partly overwritten) when a pivot is not positive and finite: A is not numerically positive
    definite, and the caller must decide what to do.
    """
    zero = b[0] - b[0]
    one = A.dtype.type(1)
    um = _u(m)
    for j in range(m):
        d = A[j, j]
        if not (d > zero) or not np.isfinite(d):
            return False
        d = np.sqrt(d)
        inv = one / d
        A[j, j] = d
        for t in range(_u(j + 1), um):
            A[j, t] *= inv
            A[m, t] = A[j, t]
        for i in range(j + 1, m):
            u = A[m, i]
            for t in range(_u(i), um):
                A[i, t] -= u * A[m, t]
    # Uᵀ z = b (column sweep: axpy on the rows of U)
    for t in range(m):
        z = b[t] / A[t, t]
        b[t] = z
        for i in range(_u(t + 1), um):
            b[i] -= z * A[t, i]
    # U x = z
    for i in range(m - 1, -1, -1):
        s = b[i]
        for t in range(_u(i + 1), um):
            s -= A[i, t] * b[t]
        b[i] = s / A[i, i]
    return True
