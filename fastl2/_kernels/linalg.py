"""Small dense linear algebra inlined into the ALS row solvers.

Everything works in place on caller-owned scratch (no allocation) and in the dtype of its
arguments, so float32 rows are solved in float32 and float64 rows in float64.

* :func:`gram_tiles` — A += sign · Xᵀ Y (upper triangle) for gathered rows, in 6 × 2W register
  tiles of vector outer products (:mod:`.simd`; W = vector width; 8 × W where a system can
  be one vector wide): no transposition, no horizontal reductions. A two-vector tile needs
  fewer loads per multiply-add than a one-vector one (measurements: docs/benchmarks.md,
  "Kernel design measurements").
* :func:`cholesky_solve` — A = UᵀU in place (upper triangle, blocked by NB rows, trailing
  updates by :func:`gram_tiles`), then UᵀU x = b in place.
"""

import numba
import numpy as np

from ._flags import FASTMATH
from .simd import hload, hzero, vfma, vload, vscale, vstore, vsum, vwidth, vzero


@numba.njit(inline="always")
def _u(i):  # pragma: no cover - compiled
    """An index as uint64. A loop ``range(start, stop)`` whose start is not the literal 0
    makes Numba wrap negative indices inside the loop, which stops LLVM from vectorizing it;
    unsigned bounds remove the wraparound. Use the loop variable only as an index (uint64
    mixed with int64 arithmetic gives float64 in Numba)."""
    return np.uint64(i)


_MR = 8  # rows of A per one-vector register tile (eight vector accumulators)
_MR2 = 6  # rows of A per two-vector register tile (twelve accumulators)
NB = 16  # Cholesky panel rows; callers pad systems to a multiple of NB


@numba.njit(fastmath=FASTMATH, nogil=True)
def _tile(A, X, Y, n, a0, b0, sign):  # pragma: no cover - compiled
    """A[a0 + i, b0 : b0 + W] += sign · Σ_{j < n} X[j, a0 + i] · Y[j, b0 : b0 + W], i < 8.

    Eight vector accumulators stay in registers over the loop on j: per j, one vector load
    of Y's row, eight broadcasts of X's entries and eight fused multiply-adds; each entry is
    summed over j in order, so the result does not depend on anything but the inputs."""
    z = vzero(A[0, 0])
    c0 = c1 = c2 = c3 = c4 = c5 = c6 = c7 = z
    for j in range(n):
        x = X[j, a0:a0 + _MR]  # constant offsets from one pointer (x[a0 + i] would make
        y = vload(Y[j], b0)     # LLVM keep eight induction pointers and spill them)
        c0 = vfma(x[0], y, c0)
        c1 = vfma(x[1], y, c1)
        c2 = vfma(x[2], y, c2)
        c3 = vfma(x[3], y, c3)
        c4 = vfma(x[4], y, c4)
        c5 = vfma(x[5], y, c5)
        c6 = vfma(x[6], y, c6)
        c7 = vfma(x[7], y, c7)
    vstore(A[a0], b0, vfma(sign, c0, vload(A[a0], b0)))
    vstore(A[a0 + 1], b0, vfma(sign, c1, vload(A[a0 + 1], b0)))
    vstore(A[a0 + 2], b0, vfma(sign, c2, vload(A[a0 + 2], b0)))
    vstore(A[a0 + 3], b0, vfma(sign, c3, vload(A[a0 + 3], b0)))
    vstore(A[a0 + 4], b0, vfma(sign, c4, vload(A[a0 + 4], b0)))
    vstore(A[a0 + 5], b0, vfma(sign, c5, vload(A[a0 + 5], b0)))
    vstore(A[a0 + 6], b0, vfma(sign, c6, vload(A[a0 + 6], b0)))
    vstore(A[a0 + 7], b0, vfma(sign, c7, vload(A[a0 + 7], b0)))


@numba.njit(fastmath=FASTMATH, nogil=True)
def _half_tile(A, X, Y, n, a0, b0, sign):  # pragma: no cover - compiled
    """:func:`_tile` on W/2 columns (half-width vectors): the 8 × 8 block on the diagonal of
    a row block that starts half-way through a vector."""
    z = hzero(A[0, 0])
    c0 = c1 = c2 = c3 = c4 = c5 = c6 = c7 = z
    for j in range(n):
        x = X[j, a0:a0 + _MR]  # constant offsets from one pointer (x[a0 + i] would make
        y = hload(Y[j], b0)     # LLVM keep eight induction pointers and spill them)
        c0 = vfma(x[0], y, c0)
        c1 = vfma(x[1], y, c1)
        c2 = vfma(x[2], y, c2)
        c3 = vfma(x[3], y, c3)
        c4 = vfma(x[4], y, c4)
        c5 = vfma(x[5], y, c5)
        c6 = vfma(x[6], y, c6)
        c7 = vfma(x[7], y, c7)
    vstore(A[a0], b0, vfma(sign, c0, hload(A[a0], b0)))
    vstore(A[a0 + 1], b0, vfma(sign, c1, hload(A[a0 + 1], b0)))
    vstore(A[a0 + 2], b0, vfma(sign, c2, hload(A[a0 + 2], b0)))
    vstore(A[a0 + 3], b0, vfma(sign, c3, hload(A[a0 + 3], b0)))
    vstore(A[a0 + 4], b0, vfma(sign, c4, hload(A[a0 + 4], b0)))
    vstore(A[a0 + 5], b0, vfma(sign, c5, hload(A[a0 + 5], b0)))
    vstore(A[a0 + 6], b0, vfma(sign, c6, hload(A[a0 + 6], b0)))
    vstore(A[a0 + 7], b0, vfma(sign, c7, hload(A[a0 + 7], b0)))


@numba.njit(fastmath=FASTMATH, nogil=True)
def _tile2(A, X, Y, n, a0, b0, sign, first_row, left):  # pragma: no cover - compiled
    """A[a0 + i, b0 : b0 + 2W] += sign · Σ_{j < n} X[j, a0 + i] · Y[j, b0 : b0 + 2W], i < 6,
    stored only for rows i >= ``first_row`` and, unless ``left``, only for the right vector.

    Twelve vector accumulators (six rows × two vectors) stay in registers over the loop on j:
    per j, two vector loads of Y's row and six broadcasts for twelve fused multiply-adds,
    fewer loads per multiply-add than :func:`_tile`'s one and eight. The rows and the
    vector not stored are computed anyway, so that a tile can overlap its neighbour at the
    end of a range instead of needing narrower variants. Each entry is summed over j in
    order, as in :func:`_tile`: the two give the same bits."""
    w = vwidth(A[0, 0])
    z = vzero(A[0, 0])
    c0 = c1 = c2 = c3 = c4 = c5 = d0 = d1 = d2 = d3 = d4 = d5 = z
    for j in range(n):
        x = X[j, a0:a0 + _MR2]
        yr = Y[j]
        y = vload(yr, b0)
        v = vload(yr, b0 + w)
        c0 = vfma(x[0], y, c0)
        d0 = vfma(x[0], v, d0)
        c1 = vfma(x[1], y, c1)
        d1 = vfma(x[1], v, d1)
        c2 = vfma(x[2], y, c2)
        d2 = vfma(x[2], v, d2)
        c3 = vfma(x[3], y, c3)
        d3 = vfma(x[3], v, d3)
        c4 = vfma(x[4], y, c4)
        d4 = vfma(x[4], v, d4)
        c5 = vfma(x[5], y, c5)
        d5 = vfma(x[5], v, d5)
    _store2(A, a0, b0, w, sign, c0, d0, first_row <= 0, left)
    _store2(A, a0 + 1, b0, w, sign, c1, d1, first_row <= 1, left)
    _store2(A, a0 + 2, b0, w, sign, c2, d2, first_row <= 2, left)
    _store2(A, a0 + 3, b0, w, sign, c3, d3, first_row <= 3, left)
    _store2(A, a0 + 4, b0, w, sign, c4, d4, first_row <= 4, left)
    _store2(A, a0 + 5, b0, w, sign, c5, d5, first_row <= 5, left)


@numba.njit(fastmath=FASTMATH, nogil=True, inline="always")
def _store2(A, a, b0, w, sign, c, d, row, left):  # pragma: no cover - compiled
    """A[a, b0 : b0 + 2W] += sign · [c, d] (the left vector only when ``left``), if ``row``."""
    if row:
        r = A[a]
        if left:
            vstore(r, b0, vfma(sign, c, vload(r, b0)))
        vstore(r, b0 + w, vfma(sign, d, vload(r, b0 + w)))


@numba.njit(fastmath=FASTMATH, nogil=True)
def gram_tiles(A, X, Y, n, start, kp, sign):  # pragma: no cover - compiled
    """A[a, b] += sign · Σ_{j < n} X[j, a] Y[j, b] for start <= a <= b < kp (upper triangle).

    ``X`` and ``Y`` hold n rows of at least ``kp`` columns (row-major, as gathered);
    ``start`` and ``kp`` are multiples of NB. With X = Y this is a symmetric rank-n update;
    with X = diag(w) Y a weighted one. Tiles on the diagonal also write a few entries below
    it, which nothing reads; a row block starting half-way through a vector begins with a
    half-width tile, so no tile lies wholly below the diagonal.

    Parameters
    ----------
    A : numpy.ndarray, shape (>= kp, >= kp), float32 or float64, C-contiguous
        Updated in place on its upper triangle from row ``start`` on (plus a few entries
        just below the diagonal, which nothing reads); rows before ``start`` are untouched.
    X, Y : numpy.ndarray, shape (>= n, >= kp), dtype of ``A``, C-contiguous rows
        The two factors of the product; not modified.
    n : int
        Number of rows of ``X`` and ``Y`` summed over, in order.
    start, kp : int
        First row and end of the updated block; multiples of NB.
    sign : scalar, dtype of ``A``
        Factor of the product (1 for a Gram, -1 for a Cholesky trailing update).

    Returns
    -------
    None
    """
    w = vwidth(A[0, 0])
    if 2 * w > NB:  # a system may be one vector wide: one-vector tiles (8 rows each)
        for a0 in range(start, kp, _MR):
            b_start = (a0 // w) * w
            if w == 2 * _MR and a0 > b_start:  # only the right half of this vector
                _half_tile(A, X, Y, n, a0, a0, sign)
                b_start += w
            for b0 in range(b_start, kp, w):
                _tile(A, X, Y, n, a0, b0, sign)
        return
    # two-vector tiles of six rows; the last row block and the last column tile of a row
    # block may overlap the previous one (kp - start >= NB >= 2W rows and columns), their
    # overlapping part computed but not stored
    for r0 in range(start, kp, _MR2):
        a0 = min(r0, kp - _MR2)
        b0 = (r0 // w) * w  # the vector holding the first stored row's diagonal entry
        while b0 < kp:
            left = b0 + 2 * w <= kp
            _tile2(A, X, Y, n, a0, b0 if left else kp - 2 * w, sign, r0 - a0, left)
            b0 += 2 * w


@numba.njit(fastmath=FASTMATH, nogil=True)
def cholesky_solve(A, b, kp):  # pragma: no cover - compiled
    """Solve A x = b for symmetric positive definite A (upper triangle of ``A[:kp, :kp]``).

    ``kp`` is a multiple of NB (callers pad a smaller system with identity rows and zero
    right-hand side). Blocked right-looking factorization A = UᵀU: each panel of NB rows is
    factored left-looking with vector row operations, then the trailing matrix gets one
    rank-NB update by :func:`gram_tiles` (the same register tiles as the Gram). Row
    operations start at the vector boundary at or below the diagonal; the entries below the
    diagonal they touch are never read. A is overwritten by U and b by x. Returns False (A and b partly overwritten)
    when a pivot is not positive and finite.

    Parameters
    ----------
    A : numpy.ndarray, shape (>= kp, >= kp), float32 or float64, C-contiguous
        Only the upper triangle of ``A[:kp, :kp]`` is read; overwritten in place by U of
        A = UᵀU (entries below the diagonal may be written, never read).
    b : numpy.ndarray, shape (>= kp,), dtype of ``A``
        The right-hand side; overwritten in place by x.
    kp : int
        Order of the system, a multiple of NB.

    Returns
    -------
    bool
        True when solved; False when a pivot is not positive and finite (A and b are then
        partly overwritten and must not be read).
    """
    zero = b[0] - b[0]
    one = A.dtype.type(1)
    w = vwidth(A[0, 0])
    for j0 in range(0, kp, NB):
        j1 = j0 + NB
        for j in range(j0, j1):
            row = A[j]
            # left-looking inside the panel: row j gets the updates of rows j0..j-1 summed in
            # a register per vector, then one store (instead of one store per update)
            for c in range((j // w) * w, kp, w):
                acc = vload(row, c)
                for p in range(j0, j):
                    acc = vfma(-A[p, j], vload(A[p], c), acc)
                vstore(row, c, acc)
            d = row[j]
            if not (d > zero) or not np.isfinite(d):
                return False
            d = np.sqrt(d)
            inv = one / d
            for c in range((j // w) * w, kp, w):
                vstore(row, c, vscale(inv, vload(row, c)))
            row[j] = d
        if j1 < kp:
            panel = A[j0:j1]
            gram_tiles(A, panel, panel, NB, j1, kp, -one)
    # Uᵀ z = b, by blocks of W: the block's entries by substitution, then the later blocks
    # get the block's rows of U as vector updates
    for c0 in range(0, kp, w):
        c1 = c0 + w
        for t in range(c0, c1):
            z = b[t] / A[t, t]
            b[t] = z
            row = A[t]
            for i in range(t + 1, c1):
                b[i] -= z * row[i]
        for c in range(c1, kp, w):
            acc = vload(b, c)
            for t in range(c0, c1):
                acc = vfma(-b[t], vload(A[t], c), acc)
            vstore(b, c, acc)
    # U x = z, by blocks of W from the last: each row of the block first loses its dot product
    # with the x already known (vectors), then the block is solved column by column, so that
    # no long chain of dependent scalar operations forms
    for c0 in range(kp - w, -1, -w):
        c1 = c0 + w
        if c1 < kp:
            for r in range(c0, c1):
                row = A[r]
                acc = vzero(zero)
                for c in range(c1, kp, w):
                    acc = vfma(vload(row, c), vload(b, c), acc)
                b[r] -= vsum(acc)
        for i in range(c1 - 1, c0 - 1, -1):
            xi = b[i] / A[i, i]
            b[i] = xi
            for r in range(c0, i):
                b[r] -= A[r, i] * xi
    return True
