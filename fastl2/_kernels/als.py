"""Alternating least squares half-sweeps, parallel over rows, with the L2 term fused.

A half-sweep recomputes every row of one side (users, or items through the transposed matrix)
from the fixed factors of the other side. Rows are independent: each is written by exactly one
thread and computed by the same arithmetic whatever thread runs it, so the result is
bit-identical for any thread count. Rows are processed in chunks (``chunk_ptr``, balanced by
cost in the façade); a chunk owns its scratch buffers, allocated once per chunk, never per row.

Explicit ALS (biased MF). A row's normal equations, with the bias as an augmented constant
column, are the (k+1)×(k+1) system::

    [Σ q qᵀ + λ_u I    Σ q ] [p_u]   [Σ t q]        t = r_ui − μ − b_i
    [Σ qᵀ       n + λb_u   ] [b_u] = [Σ t  ]        λ_u = λ·n (ALS-WR) or λ

but that system is never factored. The k×k block A = Σ q qᵀ + λ_u I is assembled with its
diagonal set to λ_u before the ratings are accumulated (the fused L2 term); the bias is then
eliminated exactly by its Schur complement: with s = Σ q and d = n + λb_u, the k×k system
(A − s sᵀ/d) p_u = Σ t q − s Σt/d is solved by Cholesky, and b_u = (Σt − s·p_u)/d follows
by one dot product. The result is the solution of the augmented system (not its bits: the
NumPy twin solves the (k+1)×(k+1) system directly).

Implicit ALS (Hu, Koren & Volinsky 2008), ``conf`` signed: ``|conf|`` is the confidence c_ui,
the sign the preference (positive → p_ui = 1, negative → p_ui = 0)::

    (G + Σ (c − 1) y yᵀ) x_u = Σ_{p=1} c y          G = YᵀY + λI

solved exactly by Cholesky, or approximately by ``cg_steps`` of conjugate gradient warm-started
from the current row with the operator v ↦ YᵀY v + λv + Σ (c − 1)(y·v) y applied matrix-free.

Rank-deficient systems (possible only with λ = 0): when a Cholesky pivot is not positive, the
row is re-assembled with a ridge of ``fallback_eps`` × (mean diagonal) + ``fallback_eps`` and
solved again; ``n_fallback[chunk]`` counts such rows so the façade can warn.
"""

import numba
import numpy as np

from ._flags import CACHE, FASTMATH
from .linalg import NB, _u, cholesky_solve, gram_tiles
from .simd import prefetch, vadd, vfma, vload, vscale, vstore, vsum, vwidth, vzero

_GATHER_BYTES = 1 << 26  # a CG row copies its y_i to its own buffer when they fit in 64 MiB
_ROWS_BYTES = 1 << 23  # explicit rows keep up to 8 MiB of gathered factor rows (for the error)
_AHEAD = 8  # rows prefetched ahead of a scattered gather
_SUB = 128  # gathered rows per Gram pass: kp × 128 values stay in L1/L2


@numba.njit(nogil=True)
def _padded(k):  # pragma: no cover - compiled
    """k rounded up to the Cholesky block (a multiple of every vector width)."""
    return ((k + NB - 1) // NB) * NB


@numba.njit(nogil=True)
def _gather_rows(ptr, chunk_ptr, c, kp, itemsize, max_bytes,
                 min_rows):  # pragma: no cover - compiled
    """Rows of the gather buffer for chunk ``c``: its longest row, capped at ``max_bytes``
    of rows kp long (but never below ``min_rows``). A row of the chunk is gathered whole
    when it is at most this long."""
    longest = 1
    for u in range(chunk_ptr[c], chunk_ptr[c + 1]):
        longest = max(longest, ptr[u + 1] - ptr[u])
    return min(longest, max(min_rows, max_bytes // (kp * itemsize)))


@numba.njit(fastmath=FASTMATH, nogil=True, inline="always")
def _prefetch_ahead(F, idx, j, stop, k):  # pragma: no cover - compiled
    """Prefetch row ``F[idx[j + _AHEAD]]`` (every cache line of it) if j + _AHEAD < stop:
    a gather of scattered rows otherwise waits on one cache miss after another."""
    if j + _AHEAD < stop:
        f = F[idx[j + _AHEAD]]
        for a in range(0, k, 64 // F.itemsize):
            prefetch(f, a)
        prefetch(f, k - 1)


@numba.njit(fastmath=FASTMATH, nogil=True, inline="always")
def _copy_row(r, q, k, w):  # pragma: no cover - compiled
    """r[:k] = q[:k] (whole vectors when k is a multiple of the width)."""
    if k % w == 0:
        for c in range(0, k, w):
            vstore(r, c, vload(q, c))
    else:
        for a in range(k):
            r[a] = q[a]


@numba.njit(fastmath=FASTMATH, nogil=True, inline="always")
def _init_system(A, rhs, diag, k, kp):  # pragma: no cover - compiled
    """A = diag·I (identity on the padding rows k..kp-1), rhs = 0."""
    zero = diag - diag
    one = A.dtype.type(1)
    for a in range(kp):
        rhs[a] = zero
        row = A[a]
        for b in range(kp):
            row[b] = zero
        row[a] = diag if a < k else one


# ---------------------------------------------------------------------------- explicit
@numba.njit(fastmath=FASTMATH, nogil=True, inline="always")
def _explicit_gather(R, tv, rhs, sv, lo, m, hi, idx, vals, mu, Q, bi, k,
                     kp):  # pragma: no cover - compiled
    """R[j] = q_i, tv[j] = t = r − μ − b_i for the m entries from ``lo`` (prefetching up to
    ``hi``); rhs += Σ t q and sv += Σ q (vector accumulations on the padded rows); returns Σ t."""
    w = vwidth(R[0, 0])
    one = R.dtype.type(1)
    tsum = mu - mu
    for jj in range(m):
        _prefetch_ahead(Q, idx, lo + jj, hi, k)
        i = idx[lo + jj]
        r = R[jj]
        _copy_row(r, Q[i], k, w)
        t = vals[lo + jj] - mu - bi[i]
        tv[jj] = t
        tsum += t
        for c in range(0, kp, w):
            y = vload(r, c)
            vstore(rhs, c, vfma(t, y, vload(rhs, c)))
            vstore(sv, c, vfma(one, y, vload(sv, c)))
    return tsum


@numba.njit(fastmath=FASTMATH, nogil=True, inline="always")
def _explicit_assemble(A, rhs, sv, R, tv, lo, hi, idx, vals, mu, Q, bi, lam,
                       k):  # pragma: no cover - compiled
    """A = λI + Σ q qᵀ, rhs = Σ t q, sv = Σ q (t = r − μ − b_i); returns Σ t. Rows
    k..kp-1 of A are identity padding. The entries are gathered _SUB at a time, each batch
    added to the Gram while it is in L1; R keeps the row's first ``len(R)`` of them."""
    kp = A.shape[0]
    one = A.dtype.type(1)
    _init_system(A, rhs, lam, k, kp)
    for a in range(kp):
        sv[a] = lam - lam
    tsum = mu - mu
    cap = R.shape[0]
    for p0 in range(lo, hi, cap):
        m = min(cap, hi - p0)
        for s0 in range(0, m, _SUB):
            ms = min(_SUB, m - s0)
            Rs = R[s0:]
            tsum += _explicit_gather(Rs, tv[s0:], rhs, sv, p0 + s0, ms, hi, idx, vals, mu, Q,
                                     bi, k, kp)
            gram_tiles(A, Rs, Rs, ms, 0, kp, one)
    return tsum


@numba.njit(fastmath=FASTMATH, nogil=True, inline="always")
def _eliminate_bias(A, rhs, sv, tsum, d, k):  # pragma: no cover - compiled
    """Schur complement of the bias: the augmented system [[A, s], [sᵀ, d]] [p; b] = [rhs; Σt]
    becomes (A − s sᵀ/d) p = rhs − s Σt/d, and b = (Σt − s·p)/d afterwards."""
    inv_d = A.dtype.type(1) / d
    for a in range(k):
        sa = sv[a] * inv_d
        rhs[a] -= sa * tsum
        row = A[a]
        for b in range(_u((a >> 3) << 3), _u(k)):
            row[b] -= sa * sv[b]


@numba.njit(parallel=True, fastmath=FASTMATH, nogil=True, cache=CACHE)
def explicit_als_half(ptr, idx, vals, global_mean, Q, bi, regularization, bias_regularization,
                      weighted_regularization, fallback_eps, chunk_ptr,
                      P, bu, row_sse, n_fallback, with_sse=True):  # pragma: no cover - compiled
    """Solve every row's (p_u, b_u) against fixed (Q, b_i); ``row_sse[u]`` gets the row's
    squared training error with the new values (0 when ``with_sse`` is False).

    Per row, the k×k Schur complement of the bias in the (k+1)×(k+1) augmented system (module
    docstring) is factored by Cholesky (padded to a multiple of NB with identity rows), then
    b_u = (Σt − s·p_u)/d. The same kernel solves items from users through the transposed
    matrix (``Q`` and ``bi`` are then the user side).

    Parameters
    ----------
    ptr : numpy.ndarray of int, shape (n_rows + 1,)
        CSR row pointer of the side being solved: row u's entries are ``ptr[u]…ptr[u + 1]``.
    idx : numpy.ndarray of int, shape (nnz,)
        Column of each entry: a row of ``Q`` and an entry of ``bi``.
    vals : numpy.ndarray, shape (nnz,), dtype of ``Q``
        The ratings r_ui.
    global_mean : scalar, dtype of ``Q``
        The global mean μ.
    Q : numpy.ndarray, shape (n_cols, k), float32 or float64, C-contiguous
        The other side's fixed factors; not modified. Its dtype is the dtype of the solve.
    bi : numpy.ndarray, shape (n_cols,), dtype of ``Q``
        The other side's fixed biases; not modified.
    regularization, bias_regularization : scalar, dtype of ``Q``
        λ of the factors and λ_b of the bias (per entry of the row when
        ``weighted_regularization``): ``BiasedMF``'s ``regularization`` and
        ``bias_regularization``, the user side's values in a user half-sweep.
    weighted_regularization : bool
        True: ALS-WR, row u's strengths are λ·n_u and λ_b·n_u (n_u its entry count).
    fallback_eps : scalar, dtype of ``Q``
        Scale of the ridge added when a Cholesky pivot is not positive (module docstring).
    chunk_ptr : numpy.ndarray of int64, shape (n_chunks + 1,)
        Row ranges run in parallel: chunk c is rows ``chunk_ptr[c]…chunk_ptr[c + 1]``. Only
        the speed depends on it.
    P : numpy.ndarray, shape (n_rows, k), dtype of ``Q``
        Written in place: row u's new factors p_u (zeros for a row with no entries).
    bu : numpy.ndarray, shape (n_rows,), dtype of ``Q``
        Written in place: row u's new bias b_u (0 for a row with no entries).
    row_sse : numpy.ndarray of float64, shape (>= n_rows,)
        Written in place: row u's Σ (r_ui − μ − b_i − b_u − p_u·q_i)² with the new values,
        summed in float64 (0 when ``with_sse`` is False or the row has no entries).
    n_fallback : numpy.ndarray of int, shape (n_chunks,)
        Written in place: per chunk, the number of rows solved with the fallback ridge.
    with_sse : bool, default True
        Whether to compute ``row_sse``.

    Returns
    -------
    None
    """
    k = Q.shape[1]
    zero = global_mean - global_mean
    n_chunks = chunk_ptr.shape[0] - 1
    for c in numba.prange(n_chunks):
        kp = _padded(k)
        A = np.zeros((kp, kp), dtype=Q.dtype)
        rhs = np.zeros(kp, dtype=Q.dtype)
        sv = np.zeros(kp, dtype=Q.dtype)
        cap = _gather_rows(ptr, chunk_ptr, c, kp, Q.itemsize, _ROWS_BYTES, _SUB)
        R = np.zeros((cap, kp), dtype=Q.dtype)  # columns >= k stay zero
        tv = np.zeros(cap, dtype=Q.dtype)
        fallbacks = 0
        for u in range(chunk_ptr[c], chunk_ptr[c + 1]):
            lo = ptr[u]
            hi = ptr[u + 1]
            n = hi - lo
            if n == 0:
                for a in range(k):
                    P[u, a] = zero
                bu[u] = zero
                row_sse[u] = 0.0
                continue
            lam = regularization * n if weighted_regularization else regularization
            d = ((bias_regularization * n if weighted_regularization else bias_regularization)
                 + Q.dtype.type(n))
            ridge = zero
            for attempt in range(2):  # one call site per helper keeps the compiled code small
                tsum = _explicit_assemble(A, rhs, sv, R, tv, lo, hi, idx, vals, global_mean, Q,
                                          bi, lam + ridge, k)
                dd = d + ridge
                tr = dd
                for a in range(k):
                    tr += A[a, a]
                _eliminate_bias(A, rhs, sv, tsum, dd, k)
                if cholesky_solve(A, rhs, kp):
                    break
                if attempt == 0:
                    fallbacks += 1
                    ridge = fallback_eps * (tr / (k + 1)) + fallback_eps
                else:
                    for a in range(k):
                        rhs[a] = zero
                    tsum = zero
            d = dd
            b_u = tsum
            for a in range(k):
                b_u -= sv[a] * rhs[a]
            b_u = b_u / d
            for a in range(k):
                P[u, a] = rhs[a]
            bu[u] = b_u
            sse = 0.0
            for j in range(lo, hi if with_sse else lo):
                # the gathered rows and residual targets when the row fit in the buffer
                if n > cap:
                    _prefetch_ahead(Q, idx, j, hi, k)
                q = R[j - lo] if n <= cap else Q[idx[j]]
                dot = zero
                for a in range(k):
                    dot += rhs[a] * q[a]
                t = tv[j - lo] if n <= cap else vals[j] - global_mean - bi[idx[j]]
                e = t - (b_u + dot)
                sse += np.float64(e) * np.float64(e)
            row_sse[u] = sse
        n_fallback[c] = fallbacks


# ---------------------------------------------------------------------------- implicit
# YᵀY, CG and the loss are compiled without fast-math flags (``_STRICT``), so LLVM may not
# change the order of any floating-point operation: every process computes the same bits,
# whether it compiled a kernel or loaded it from Numba's cache. CG and the loss use explicit
# vectors (:mod:`.simd`; ``vfma`` is fused without any flag), with every sum in an order
# fixed in the source. (LLVM's loop vectorizer needs reassociation to vectorize a dot
# product, and with it the process that compiles a kernel can differ in the last bits from
# those that load it from the cache: docs/architecture.md, "Determinism".)
_STRICT = False


@numba.njit(fastmath=_STRICT, nogil=True, cache=CACHE)
def gram(Y, n_chunks):  # pragma: no cover - compiled
    """YᵀY (full, symmetric, dtype of Y), summed in float64 over ``n_chunks`` fixed row ranges
    in a fixed order: the result does not depend on the thread count.

    Plain loops: the inner one updates a row of S elementwise (LLVM vectorizes it without any
    flag, and that changes no result), and the sum over row ranges runs in order (with
    reassociation allowed, LLVM would vectorize it in an order of its own).

    Parameters
    ----------
    Y : numpy.ndarray, shape (n, k), float32 or float64
        The factors; not modified.
    n_chunks : int
        Number of fixed row ranges (``n·c // n_chunks`` boundaries) summed separately, then
        in order. The result depends on it, not on the thread count.

    Returns
    -------
    numpy.ndarray, shape (k, k), dtype of ``Y``
        YᵀY, both triangles.
    """
    n, k = Y.shape
    bounds = np.empty(n_chunks + 1, dtype=np.int64)
    for c in range(n_chunks + 1):
        bounds[c] = (n * c) // n_chunks
    out = np.empty((k, k), dtype=Y.dtype)
    gram_sum(gram_partials(Y, bounds, 0), out)
    return out


@numba.njit(parallel=True, fastmath=_STRICT, nogil=True, cache=CACHE)
def gram_partials(Y, bounds, row0):  # pragma: no cover - compiled
    """The float64 partial Gram matrices of :func:`gram` over the row ranges
    ``bounds[c]…bounds[c + 1]`` (global row numbers; Y's first row is row ``row0``): what a
    worker holding those rows contributes, the same bits as inside :func:`gram`.

    Parameters
    ----------
    Y : numpy.ndarray, shape (n, k), float32 or float64
        The rows ``row0…row0 + n`` of the factors; not modified.
    bounds : numpy.ndarray of int64, shape (n_chunks + 1,)
        Global row numbers of the ranges' boundaries, all within Y's rows.
    row0 : int
        The global row number of ``Y[0]``.

    Returns
    -------
    numpy.ndarray of float64, shape (n_chunks, k, k)
        Per range, the lower triangle (b <= a) of its Σ y yᵀ; the upper triangle is 0.
    """
    k = Y.shape[1]
    n_chunks = bounds.shape[0] - 1
    partial = np.zeros((n_chunks, k, k), dtype=np.float64)
    for c in numba.prange(n_chunks):
        S = partial[c]
        for r in range(bounds[c] - row0, bounds[c + 1] - row0):
            for a in range(k):
                s = np.float64(Y[r, a])
                for b in range(a + 1):
                    S[a, b] += s * Y[r, b]
    return partial


@numba.njit(fastmath=_STRICT, nogil=True, cache=CACHE)
def gram_sum(partial, out):  # pragma: no cover - compiled
    """``out`` = Σ of the partial Gram matrices in their order (symmetric, in out's dtype).

    Parameters
    ----------
    partial : numpy.ndarray of float64, shape (n_chunks, k, k)
        Partial sums from :func:`gram_partials` (only the lower triangles are read).
    out : numpy.ndarray, shape (k, k), float32 or float64
        Written in place: both triangles of the sum, rounded once to ``out``'s dtype.

    Returns
    -------
    None
    """
    n_chunks, k = partial.shape[0], partial.shape[1]
    for a in range(k):
        for b in range(a + 1):
            s = 0.0
            for c in range(n_chunks):
                s += partial[c, a, b]
            out[a, b] = s
            out[b, a] = s


@numba.njit(fastmath=FASTMATH, nogil=True, inline="always")
def _implicit_assemble(A, rhs, W, R, lo, hi, idx, conf, Y, G, k):  # pragma: no cover - compiled
    """A = G + Σ (c − 1) y yᵀ and rhs = Σ_{p=1} c y, gathered _SUB entries at a time (R
    holds the rows y_i, W the weighted rows (c − 1) y_i), each batch added to the Gram while
    it is in L1."""
    kp = A.shape[0]
    zero = G[0, 0] - G[0, 0]
    one = Y.dtype.type(1)
    w = vwidth(zero)
    _init_system(A, rhs, one, k, kp)
    for a in range(k):
        for b in range(k):
            A[a, b] = G[a, b]
    for p0 in range(lo, hi, _SUB):
        m = min(_SUB, hi - p0)
        for jj in range(m):
            _prefetch_ahead(Y, idx, p0 + jj, hi, k)
            r = R[jj]
            wr = W[jj]
            _copy_row(r, Y[idx[p0 + jj]], k, w)
            cj = conf[p0 + jj]
            weight = abs(cj) - one
            pref = max(cj, zero)
            for c in range(0, kp, w):
                y = vload(r, c)
                vstore(wr, c, vscale(weight, y))
                vstore(rhs, c, vfma(pref, y, vload(rhs, c)))
        gram_tiles(A, W, R, m, 0, kp, one)


@numba.njit(parallel=True, fastmath=FASTMATH, nogil=True, cache=CACHE)
def implicit_cholesky_half(ptr, idx, conf, Y, G, fallback_eps, chunk_ptr, X,
                           n_fallback):  # pragma: no cover - compiled
    """Exact per-row solve; ``G`` = YᵀY + λI (the L2 term already on its diagonal).

    Row u's system (G + Σ (c − 1) y yᵀ) x_u = Σ_{p=1} c y (module docstring) is assembled in
    a k×k matrix padded to a multiple of NB with identity rows and solved by Cholesky.

    Parameters
    ----------
    ptr : numpy.ndarray of int, shape (n_rows + 1,)
        CSR row pointer of the side being solved.
    idx : numpy.ndarray of int, shape (nnz,)
        Column of each entry: a row of ``Y``.
    conf : numpy.ndarray, shape (nnz,), dtype of ``Y``
        Signed confidences: |conf| is c_ui, the sign the preference (positive → 1).
    Y : numpy.ndarray, shape (n_cols, k), float32 or float64, C-contiguous
        The other side's fixed factors; not modified.
    G : numpy.ndarray, shape (k, k), dtype of ``Y``
        YᵀY + λI; not modified.
    fallback_eps : scalar, dtype of ``Y``
        Scale of the ridge added when a Cholesky pivot is not positive (module docstring).
    chunk_ptr : numpy.ndarray of int64, shape (n_chunks + 1,)
        Row ranges run in parallel; only the speed depends on them.
    X : numpy.ndarray, shape (n_rows, k), dtype of ``Y``
        Written in place: the new row factors (zeros for a row with no entries).
    n_fallback : numpy.ndarray of int, shape (n_chunks,)
        Written in place: per chunk, the number of rows solved with the fallback ridge.

    Returns
    -------
    None
    """
    k = Y.shape[1]
    zero = fallback_eps - fallback_eps
    n_chunks = chunk_ptr.shape[0] - 1
    for c in numba.prange(n_chunks):
        kp = _padded(k)
        A = np.zeros((kp, kp), dtype=Y.dtype)
        rhs = np.zeros(kp, dtype=Y.dtype)
        R = np.zeros((_SUB, kp), dtype=Y.dtype)  # columns >= k stay zero
        W = np.zeros((_SUB, kp), dtype=Y.dtype)
        fallbacks = 0
        for u in range(chunk_ptr[c], chunk_ptr[c + 1]):
            lo = ptr[u]
            hi = ptr[u + 1]
            if lo == hi:
                for a in range(k):
                    X[u, a] = zero
                continue
            ridge = zero
            for attempt in range(2):  # one call site per helper keeps the compiled code small
                _implicit_assemble(A, rhs, W, R, lo, hi, idx, conf, Y, G, k)
                tr = zero
                for a in range(k):
                    A[a, a] += ridge
                    tr += A[a, a]
                if cholesky_solve(A, rhs, kp):
                    break
                if attempt == 0:
                    fallbacks += 1
                    ridge = fallback_eps * (tr / k) + fallback_eps
                else:
                    for a in range(k):
                        rhs[a] = zero
            for a in range(k):
                X[u, a] = rhs[a]
        n_fallback[c] = fallbacks


@numba.njit(fastmath=_STRICT, nogil=True, inline="always")
def _vec_padded(k, w):  # pragma: no cover - compiled
    """k rounded up to a multiple of the vector width w (a multiple of 4)."""
    return ((k + w - 1) // w) * w


# CG's vectors of length kp live in flat buffers at offsets (rows of the gather buffer at
# j·kp, G's rows at b·kp): no array view per entry, whose reference counting costs run and
# compile time.
@numba.njit(fastmath=_STRICT, nogil=True, inline="always")
def _copy_padded(r, i, q, k, kp):  # pragma: no cover - compiled
    """r[i : i + kp] = q[:k] followed by zeros (q's whole vectors as vectors): scratch rows
    need no zeroing beforehand."""
    zero = q[0] - q[0]
    w = vwidth(zero)
    k0 = k - k % w
    for f in range(0, k0, w):
        vstore(r, i + f, vload(q, f))
    for a in range(k0, kp):
        r[i + a] = q[a] if a < k else zero


@numba.njit(fastmath=_STRICT, nogil=True, inline="always")
def _padded_square(G, kp):  # pragma: no cover - compiled
    """G (k × k) as the top left of a kp × kp matrix of zeros, flat."""
    k = G.shape[0]
    Gp = np.zeros(kp * kp, dtype=G.dtype)
    for a in range(k):
        _copy_padded(Gp, a * kp, G[a], k, kp)
    return Gp


@numba.njit(fastmath=_STRICT, nogil=True, inline="always")
def _dot(a, i, b, kp):  # pragma: no cover - compiled
    """a[i : i + kp] · b[:kp] (kp a multiple of the width), in the order of every dot
    product here: vectors summed in order into one accumulator, then its lanes by
    :func:`.simd.vsum`'s tree. Independent dot products run side by side (:func:`_dot4`)
    instead of splitting one sum over several accumulators."""
    zero = b[0] - b[0]
    w = vwidth(zero)
    s = vzero(zero)
    for f in range(0, kp, w):
        s = vfma(vload(a, i + f), vload(b, f), s)
    return vsum(s)


@numba.njit(fastmath=_STRICT, nogil=True, inline="always")
def _dot4(R, i, v, kp):  # pragma: no cover - compiled
    """R[i + t·kp : i + (t + 1)·kp] · v for t < 4, each in :func:`_dot`'s order (an entry
    gets the same bits alone or in a quad); four independent chains, v loaded once."""
    zero = v[0] - v[0]
    w = vwidth(zero)
    s0 = s1 = s2 = s3 = vzero(zero)
    for f in range(0, kp, w):
        vf = vload(v, f)
        s0 = vfma(vload(R, i + f), vf, s0)
        s1 = vfma(vload(R, i + kp + f), vf, s1)
        s2 = vfma(vload(R, i + 2 * kp + f), vf, s2)
        s3 = vfma(vload(R, i + 3 * kp + f), vf, s3)
    return vsum(s0), vsum(s1), vsum(s2), vsum(s3)


@numba.njit(fastmath=_STRICT, nogil=True, inline="always")
def _axpy(s, x, i, y, kp):  # pragma: no cover - compiled
    """y[:kp] += s·x[i : i + kp], fused."""
    w = vwidth(s)
    for f in range(0, kp, w):
        vstore(y, f, vfma(s, vload(x, i + f), vload(y, f)))


@numba.njit(fastmath=_STRICT, nogil=True, inline="always")
def _axpy4(c0, c1, c2, c3, R, i, y, kp):  # pragma: no cover - compiled
    """y[:kp] += c_t·R[i + t·kp : i + (t + 1)·kp] for t = 0, 1, 2, 3 in that order (the
    bits of four :func:`_axpy` calls), y loaded and stored once."""
    w = vwidth(c0)
    for f in range(0, kp, w):
        acc = vfma(c0, vload(R, i + f), vload(y, f))
        acc = vfma(c1, vload(R, i + kp + f), acc)
        acc = vfma(c2, vload(R, i + 2 * kp + f), acc)
        vstore(y, f, vfma(c3, vload(R, i + 3 * kp + f), acc))


@numba.njit(fastmath=_STRICT, nogil=True)
def _symv(G, v, out, kp, sign):  # pragma: no cover - compiled
    """out[:kp] = sign · G v for the symmetric, zero-padded, flat kp × kp ``G`` (sign ±1,
    exact): Σ_b (sign·v_b) G[b] summed over b in order, four rows of G per pass over out."""
    zero = sign - sign
    w = vwidth(zero)
    for f in range(0, kp, w):
        vstore(out, f, vzero(zero))
    for b in range(0, kp, 4):
        _axpy4(sign * v[b], sign * v[b + 1], sign * v[b + 2], sign * v[b + 3], G, b * kp,
               out, kp)


@numba.njit(fastmath=_STRICT, nogil=True, inline="always")
def _coef(cj, d, first, one):  # pragma: no cover - compiled
    """The multiple of y added for an entry of confidence ``cj`` with d = y·v: in the first
    pass (r = b − A x) max(c, 0) − (|c| − 1) d, in a CG step ((A − G) p) (|c| − 1) d."""
    weight = abs(cj) - one
    return max(cj, d - d) - weight * d if first else weight * d


@numba.njit(fastmath=_STRICT, nogil=True)
def _apply_entries(rows, gathered, first, Y, idx, conf, lo, n, v, out, k,
                   kp):  # pragma: no cover - compiled
    """out += Σ_j :func:`_coef` (c_j, y_j·v) y_j over the row's n entries from ``lo``, in
    order, four entries at a time (their dot products are independent, and out is read and
    written once per four), the last n mod 4 one at a time with the same bits.

    The y_j are taken from ``rows`` (flat, padded with zeros): when ``gathered``, y_j is at
    j·kp, copied from Y during the ``first`` pass; otherwise each quad is copied to the
    first four rows when it is needed."""
    one = Y.dtype.type(1)
    copy = first or not gathered
    n4 = n - n % 4
    for j in range(0, n4, 4):
        i = j * kp if gathered else 0
        if copy:
            for t in range(4):
                _prefetch_ahead(Y, idx, lo + j + t, lo + n, k)
                _copy_padded(rows, i + t * kp, Y[idx[lo + j + t]], k, kp)
        d0, d1, d2, d3 = _dot4(rows, i, v, kp)
        cs = conf[lo + j:lo + j + 4]
        _axpy4(_coef(cs[0], d0, first, one), _coef(cs[1], d1, first, one),
               _coef(cs[2], d2, first, one), _coef(cs[3], d3, first, one), rows, i, out, kp)
    for j in range(n4, n):
        i = j * kp if gathered else 0
        if copy:
            _copy_padded(rows, i, Y[idx[lo + j]], k, kp)
        _axpy(_coef(conf[lo + j], _dot(rows, i, v, kp), first, one), rows, i, out, kp)


@numba.njit(parallel=True, fastmath=_STRICT, nogil=True, cache=CACHE)
def implicit_cg_half(ptr, idx, conf, Y, G, cg_steps, chunk_ptr,
                     X):  # pragma: no cover - compiled
    """``cg_steps`` conjugate-gradient steps per row, warm-started from ``X[u]``; the operator
    v ↦ G v + Σ (c − 1)(y·v) y is applied without forming the row's matrix.

    x, r, p, Ap, G's rows and the y_i are held padded with zeros to kp, a multiple of the
    vector width, so everything runs on whole vectors; the padding stays (±)0, so it adds
    nothing to any sum.

    Parameters
    ----------
    ptr, idx, conf, Y, G, chunk_ptr
        As in :func:`implicit_cholesky_half`.
    cg_steps : int
        Conjugate-gradient steps per row (fewer when the residual or the curvature vanishes).
    X : numpy.ndarray, shape (n_rows, k), dtype of ``Y``
        Read as the starting point and overwritten in place with the result (zeros for a
        row with no entries).

    Returns
    -------
    None
    """
    k = Y.shape[1]
    zero = G[0, 0] - G[0, 0]
    one = Y.dtype.type(1)
    tiny = Y.dtype.type(1e-20)
    n_chunks = chunk_ptr.shape[0] - 1
    for c in numba.prange(n_chunks):
        w = vwidth(zero)
        kp = _vec_padded(k, w)
        Gp = _padded_square(G, kp)
        vecs = np.empty((4, kp), dtype=Y.dtype)
        x = vecs[0]
        r = vecs[1]
        p = vecs[2]
        Ap = vecs[3]
        # the row's y_i are copied here during the first pass (when they fit in
        # _GATHER_BYTES: all rows of most data), so the CG steps stream them contiguously
        # instead of gathering scattered rows again
        cap = _gather_rows(ptr, chunk_ptr, c, kp, Y.itemsize, _GATHER_BYTES, 4)
        rows = np.empty(max(4, cap) * kp, dtype=Y.dtype)
        for u in range(chunk_ptr[c], chunk_ptr[c + 1]):
            lo = ptr[u]
            n = ptr[u + 1] - lo
            if n == 0:
                for a in range(k):
                    X[u, a] = zero
                continue
            _copy_padded(x, 0, X[u], k, kp)
            rs = zero
            # pass 0: r = b − A x (gathering the y_i), p = r; pass s > 0: CG step s (one
            # call site per helper keeps the compiled code small)
            for s in range(cg_steps + 1):
                first = s == 0
                v = x if first else p
                out = r if first else Ap
                _symv(Gp, v, out, kp, -one if first else one)
                _apply_entries(rows, n <= cap, first, Y, idx, conf, lo, n, v, out, k, kp)
                if not first:
                    pAp = _dot(p, 0, Ap, kp)
                    if not (pAp > zero):
                        break
                    step = rs / pAp
                    _axpy(step, p, 0, x, kp)
                    _axpy(-step, Ap, 0, r, kp)
                rs_new = _dot(r, 0, r, kp)
                if rs_new < tiny:
                    break
                if first:
                    _copy_row(p, r, kp, w)
                else:
                    beta = rs_new / rs
                    for f in range(0, kp, w):  # p = r + β p
                        vstore(p, f, vfma(beta, vload(p, f), vload(r, f)))
                rs = rs_new
            for a in range(k):
                X[u, a] = x[a]


@numba.njit(parallel=True, fastmath=_STRICT, nogil=True, cache=CACHE)
def implicit_loss_rows(ptr, idx, conf, X, Y, YtY, chunk_ptr, out):  # pragma: no cover
    """Per row u: Σ_i c_ui (p_ui − x·y_i)² over *all* items, without densifying:
    xᵀ(YᵀY)x + Σ_{observed} [c (p − d)² − d²] with d = x·y_i. Written to ``out[u]`` (float64).
    Sums as in :func:`implicit_cg_half` (x and y_i copied to zero-padded rows).

    Parameters
    ----------
    ptr, idx, conf, chunk_ptr
        As in :func:`implicit_cholesky_half` (``ptr`` over the rows of ``X``).
    X : numpy.ndarray, shape (n_rows, k), float32 or float64
        The row factors; not modified.
    Y : numpy.ndarray, shape (n_cols, k), dtype of ``X``
        The other side's factors; not modified.
    YtY : numpy.ndarray, shape (k, k), dtype of ``X``
        YᵀY without the L2 term.
    out : numpy.ndarray of float64, shape (n_rows,)
        Written in place: each row's weighted squared error over all items.

    Returns
    -------
    None
    """
    k = Y.shape[1]
    zero = YtY[0, 0] - YtY[0, 0]
    one = Y.dtype.type(1)
    n_chunks = chunk_ptr.shape[0] - 1
    for c in numba.prange(n_chunks):
        kp = _vec_padded(k, vwidth(zero))
        Gp = _padded_square(YtY, kp)
        vecs = np.empty((3, kp), dtype=Y.dtype)
        x = vecs[0]
        gx = vecs[1]
        y = vecs[2]
        for u in range(chunk_ptr[c], chunk_ptr[c + 1]):
            _copy_padded(x, 0, X[u], k, kp)
            _symv(Gp, x, gx, kp, one)
            total = np.float64(_dot(gx, 0, x, kp))
            for j in range(ptr[u], ptr[u + 1]):
                _copy_padded(y, 0, Y[idx[j]], k, kp)
                d = _dot(y, 0, x, kp)
                cj = conf[j]
                pref = one if cj > zero else zero
                e = pref - d
                total += np.float64(abs(cj) * e * e - d * d)
            out[u] = total
