"""Small dense linear algebra inlined into the ALS row solvers.

Everything works in place on caller-owned scratch (no allocation) and in the dtype of its
arguments, so float32 rows are solved in float32 and float64 rows in float64.

* :func:`gram_panel` — A += W Tᵀ (upper triangle) for a panel of rows stored transposed, in
  4×4 register blocks of contiguous dot products (2–3× the rate of rank-1 updates here).
* :func:`matvec_panel` — the right-hand side T v of the same panel.
* :func:`cholesky_solve` — A = UᵀU in place (upper triangle, rank-4 panel updates), then
  UᵀU x = b in place.
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


@numba.njit(fastmath=FASTMATH, nogil=True)
def gram_panel(A, W, T, npad, kp):  # pragma: no cover - compiled
    """A[a, b] += Σ_j W[a, j] T[b, j] on the upper triangle, in 4×4 blocks (b0 ≥ a0).

    ``W`` and ``T`` hold a panel of rows transposed (feature-major, ``kp`` rows, a multiple of
    4, zero-padded; ``npad`` columns, a multiple of 16, zero-padded), so each of the sixteen
    sums of a block is a contiguous dot product: eight vector loads feed sixteen vector
    multiply-adds, and the reductions are vectorized. The diagonal blocks also write the three
    entries below the diagonal they cover; nothing reads them.
    """
    zero = A[0, 0] - A[0, 0]
    for a0 in range(0, kp, 4):
        w0 = W[a0]
        w1 = W[a0 + 1]
        w2 = W[a0 + 2]
        w3 = W[a0 + 3]
        for b0 in range(a0, kp, 4):
            t0 = T[b0]
            t1 = T[b0 + 1]
            t2 = T[b0 + 2]
            t3 = T[b0 + 3]
            s00 = s01 = s02 = s03 = zero
            s10 = s11 = s12 = s13 = zero
            s20 = s21 = s22 = s23 = zero
            s30 = s31 = s32 = s33 = zero
            for j in range(npad):
                x0 = w0[j]
                x1 = w1[j]
                x2 = w2[j]
                x3 = w3[j]
                y0 = t0[j]
                y1 = t1[j]
                y2 = t2[j]
                y3 = t3[j]
                s00 += x0 * y0
                s01 += x0 * y1
                s02 += x0 * y2
                s03 += x0 * y3
                s10 += x1 * y0
                s11 += x1 * y1
                s12 += x1 * y2
                s13 += x1 * y3
                s20 += x2 * y0
                s21 += x2 * y1
                s22 += x2 * y2
                s23 += x2 * y3
                s30 += x3 * y0
                s31 += x3 * y1
                s32 += x3 * y2
                s33 += x3 * y3
            A[a0, b0] += s00
            A[a0, b0 + 1] += s01
            A[a0, b0 + 2] += s02
            A[a0, b0 + 3] += s03
            A[a0 + 1, b0] += s10
            A[a0 + 1, b0 + 1] += s11
            A[a0 + 1, b0 + 2] += s12
            A[a0 + 1, b0 + 3] += s13
            A[a0 + 2, b0] += s20
            A[a0 + 2, b0 + 1] += s21
            A[a0 + 2, b0 + 2] += s22
            A[a0 + 2, b0 + 3] += s23
            A[a0 + 3, b0] += s30
            A[a0 + 3, b0 + 1] += s31
            A[a0 + 3, b0 + 2] += s32
            A[a0 + 3, b0 + 3] += s33


@numba.njit(fastmath=FASTMATH, nogil=True)
def matvec_panel(out, T, v, npad, m):  # pragma: no cover - compiled
    """out[a] += Σ_j T[a, j] v[j] for a < m (contiguous dot products)."""
    zero = out[0] - out[0]
    for a in range(m):
        t = T[a]
        s = zero
        for j in range(npad):
            s += t[j] * v[j]
        out[a] += s


@numba.njit(fastmath=FASTMATH, nogil=True)
def cholesky_solve(A, b, kp):  # pragma: no cover - compiled
    """Solve A x = b for symmetric positive definite A (upper triangle of ``A[:kp, :kp]``).

    ``kp`` is a multiple of 4 (callers pad a smaller system with identity rows and zero
    right-hand side). Right-looking factorization A = UᵀU by panels of four rows: the panel
    is factored, then the trailing rows get one rank-4 update (five loads and one store per
    four multiply-adds, contiguous along the row; each row is updated from the multiple of 8
    at or below its diagonal so the vector loop needs no scalar head — the entries below the
    diagonal it touches are never read). A is overwritten by U and b by x. Returns False (A
    and b partly overwritten) when a pivot is not positive and finite.
    """
    zero = b[0] - b[0]
    one = A.dtype.type(1)
    ukp = _u(kp)
    for j0 in range(0, kp, 4):
        for j in range(j0, j0 + 4):
            d = A[j, j]
            if not (d > zero) or not np.isfinite(d):
                return False
            d = np.sqrt(d)
            inv = one / d
            A[j, j] = d
            for t in range(_u(j + 1), ukp):
                A[j, t] *= inv
            for i in range(j + 1, j0 + 4):
                u = A[j, i]
                for t in range(_u(i), ukp):
                    A[i, t] -= u * A[j, t]
        r0 = A[j0]
        r1 = A[j0 + 1]
        r2 = A[j0 + 2]
        r3 = A[j0 + 3]
        for i in range(j0 + 4, kp):
            u0 = r0[i]
            u1 = r1[i]
            u2 = r2[i]
            u3 = r3[i]
            row = A[i]
            for t in range(_u((i >> 3) << 3), ukp):
                row[t] -= u0 * r0[t] + u1 * r1[t] + u2 * r2[t] + u3 * r3[t]
    # Uᵀ z = b (column sweep: axpy on the rows of U)
    for t in range(kp):
        z = b[t] / A[t, t]
        b[t] = z
        for i in range(_u(t + 1), ukp):
            b[i] -= z * A[t, i]
    # U x = z
    for i in range(kp - 1, -1, -1):
        s = b[i]
        for t in range(_u(i + 1), ukp):
            s -= A[i, t] * b[t]
        b[i] = s / A[i, i]
    return True
