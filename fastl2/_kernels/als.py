"""Alternating least squares half-sweeps, parallel over rows, with the L2 term fused.

A half-sweep recomputes every row of one side (users, or items through the transposed matrix)
from the fixed factors of the other side. Rows are independent: each is written by exactly one
thread and computed by the same arithmetic whatever thread runs it, so the result is
bit-identical for any thread count. Rows are processed in chunks (``chunk_ptr``, balanced by
cost in the façade); a chunk owns its scratch buffers, allocated once per chunk, never per row.

Explicit ALS (biased MF; the bias is an augmented constant column)::

    [Σ q qᵀ + λ_u I    Σ q ] [p_u]   [Σ t q]        t = r_ui − μ − b_i
    [Σ qᵀ       n + λb_u   ] [b_u] = [Σ t  ]        λ_u = λ·n (ALS-WR) or λ

The diagonal is set to λ_u before the ratings are accumulated (the fused L2 term). The bias
is eliminated exactly by its Schur complement, (A − s sᵀ/d) p = Σ t q − s Σt / d with
s = Σ q, d = n + λb_u, so the Cholesky runs on k×k instead of (k+1)×(k+1).

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
from .simd import prefetch, vfma, vload, vscale, vstore, vwidth

_PAD = 64  # elements between scratch vectors (see implicit_cg_half)
_GATHER_BYTES = 1 << 26  # a CG row copies its y_i to its own buffer when they fit in 64 MiB
_ROWS_BYTES = 1 << 23  # explicit rows keep up to 8 MiB of gathered factor rows (for the error)
_AHEAD = 8  # rows prefetched ahead of a scattered gather
_SUB = 128  # gathered rows per Gram pass: kp × 128 values stay in L1/L2


@numba.njit(nogil=True)
def _padded(k):  # pragma: no cover - compiled
    """k rounded up to the Cholesky block (a multiple of every vector width)."""
    return ((k + NB - 1) // NB) * NB


@numba.njit(nogil=True)
def _gather_rows(ptr, chunk_ptr, c, kp, itemsize):  # pragma: no cover - compiled
    """Rows of the gather buffer for chunk ``c``: its longest row, capped at _ROWS_BYTES."""
    longest = 1
    for u in range(chunk_ptr[c], chunk_ptr[c + 1]):
        longest = max(longest, ptr[u + 1] - ptr[u])
    return min(longest, max(_SUB, _ROWS_BYTES // (kp * itemsize)))


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
def explicit_als_half(ptr, idx, vals, mu, Q, bi, reg, reg_b, weighted, fallback_eps, chunk_ptr,
                      P, bu, row_sse, n_fallback, with_sse=True):  # pragma: no cover - compiled
    """Solve every row's (p_u, b_u) against fixed (Q, b_i); ``row_sse[u]`` gets the row's
    squared training error with the new values (0 when ``with_sse`` is False)."""
    k = Q.shape[1]
    zero = mu - mu
    n_chunks = chunk_ptr.shape[0] - 1
    for c in numba.prange(n_chunks):
        kp = _padded(k)
        A = np.zeros((kp, kp), dtype=Q.dtype)
        rhs = np.zeros(kp, dtype=Q.dtype)
        sv = np.zeros(kp, dtype=Q.dtype)
        cap = _gather_rows(ptr, chunk_ptr, c, kp, Q.itemsize)
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
            lam = reg * n if weighted else reg
            d = (reg_b * n if weighted else reg_b) + Q.dtype.type(n)
            ridge = zero
            for attempt in range(2):  # one call site per helper keeps the compiled code small
                tsum = _explicit_assemble(A, rhs, sv, R, tv, lo, hi, idx, vals, mu, Q, bi,
                                          lam + ridge, k)
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
                t = tv[j - lo] if n <= cap else vals[j] - mu - bi[idx[j]]
                e = t - (b_u + dot)
                sse += np.float64(e) * np.float64(e)
            row_sse[u] = sse
        n_fallback[c] = fallbacks


# ---------------------------------------------------------------------------- implicit
@numba.njit(parallel=True, fastmath=FASTMATH, nogil=True, cache=CACHE)
def gram(Y, n_chunks):  # pragma: no cover - compiled
    """YᵀY (full, symmetric, dtype of Y), summed in float64 over ``n_chunks`` fixed row ranges
    in a fixed order: the result does not depend on the thread count."""
    n, k = Y.shape
    partial = np.zeros((n_chunks, k, k), dtype=np.float64)
    for c in numba.prange(n_chunks):
        lo = (n * c) // n_chunks
        hi = (n * (c + 1)) // n_chunks
        S = partial[c]
        for r in range(lo, hi):
            for a in range(k):
                s = np.float64(Y[r, a])
                for b in range(a + 1):
                    S[a, b] += s * Y[r, b]
    out = np.empty((k, k), dtype=Y.dtype)
    for a in range(k):
        for b in range(a + 1):
            s = 0.0
            for c in range(n_chunks):
                s += partial[c, a, b]
            out[a, b] = s
            out[b, a] = s
    return out


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
    """Exact per-row solve; ``G`` = YᵀY + λI (the L2 term already on its diagonal)."""
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


@numba.njit(parallel=True, fastmath=FASTMATH, nogil=True, cache=CACHE)
def implicit_cg_half(ptr, idx, conf, Y, G, cg_steps, chunk_ptr,
                     X):  # pragma: no cover - compiled
    """``cg_steps`` conjugate-gradient steps per row, warm-started from ``X[u]``; the operator
    v ↦ G v + Σ (c − 1)(y·v) y is applied without forming the row's matrix."""
    k = Y.shape[1]
    zero = G[0, 0] - G[0, 0]
    one = Y.dtype.type(1)
    tiny = Y.dtype.type(1e-20)
    n_chunks = chunk_ptr.shape[0] - 1
    for c in numba.prange(n_chunks):
        # One buffer, rows far apart: LLVM guards vectorized loops with a runtime overlap
        # test whose margin is a few vector widths; vectors allocated back to back can fail
        # it and take the scalar path, whose reduction order differs (bits would then depend
        # on heap layout, hence on the thread).
        scratch = np.empty((4, k + _PAD), dtype=Y.dtype)
        x = scratch[0, :k]
        r = scratch[1, :k]
        p = scratch[2, :k]
        Ap = scratch[3, :k]
        # the row's y_i are copied here during the first pass (when they fit in
        # _GATHER_BYTES: all rows of most data), so the CG steps stream them contiguously
        # instead of gathering scattered rows again
        longest = 0
        for u in range(chunk_ptr[c], chunk_ptr[c + 1]):
            longest = max(longest, ptr[u + 1] - ptr[u])
        cap = max(1, _GATHER_BYTES // (k * Y.itemsize))
        rows = np.empty((min(longest, cap), k), dtype=Y.dtype)
        for u in range(chunk_ptr[c], chunk_ptr[c + 1]):
            lo = ptr[u]
            hi = ptr[u + 1]
            n = hi - lo
            if n == 0:
                for a in range(k):
                    X[u, a] = zero
                continue
            gathered = n <= cap
            for a in range(k):
                x[a] = X[u, a]
            # r = b − A x; G v is summed as axpys over G's rows (G is symmetric), which
            # vectorizes without per-entry reductions
            for a in range(k):
                r[a] = zero
            for b in range(k):
                g = G[b]
                xb = x[b]
                for a in range(k):
                    r[a] -= g[a] * xb
            for jj in range(n):
                y = Y[idx[lo + jj]]
                if gathered:
                    row = rows[jj]
                    for a in range(k):
                        row[a] = y[a]
                cj = conf[lo + jj]
                d = zero
                for a in range(k):
                    d += y[a] * x[a]
                coef = max(cj, zero) - (abs(cj) - one) * d
                for a in range(k):
                    r[a] += coef * y[a]
            rs = zero
            for a in range(k):
                p[a] = r[a]
                rs += r[a] * r[a]
            if rs < tiny:
                continue
            for _ in range(cg_steps):
                for a in range(k):
                    Ap[a] = zero
                for b in range(k):
                    g = G[b]
                    pb = p[b]
                    for a in range(k):
                        Ap[a] += g[a] * pb
                for jj in range(n):
                    if gathered:
                        y = rows[jj]
                    else:
                        y = Y[idx[lo + jj]]
                    d = zero
                    for a in range(k):
                        d += y[a] * p[a]
                    coef = (abs(conf[lo + jj]) - one) * d
                    for a in range(k):
                        Ap[a] += coef * y[a]
                pAp = zero
                for a in range(k):
                    pAp += p[a] * Ap[a]
                if not (pAp > zero):
                    break
                step = rs / pAp
                rs_new = zero
                for a in range(k):
                    x[a] += step * p[a]
                    r[a] -= step * Ap[a]
                    rs_new += r[a] * r[a]
                if rs_new < tiny:
                    break
                beta = rs_new / rs
                for a in range(k):
                    p[a] = r[a] + beta * p[a]
                rs = rs_new
            for a in range(k):
                X[u, a] = x[a]


@numba.njit(parallel=True, fastmath=FASTMATH, nogil=True, cache=CACHE)
def implicit_loss_rows(ptr, idx, conf, X, Y, YtY, chunk_ptr, out):  # pragma: no cover
    """Per row u: Σ_i c_ui (p_ui − x·y_i)² over *all* items, without densifying:
    xᵀ(YᵀY)x + Σ_{observed} [c (p − d)² − d²] with d = x·y_i. Written to ``out[u]`` (float64)."""
    k = Y.shape[1]
    zero = YtY[0, 0] - YtY[0, 0]
    one = Y.dtype.type(1)
    n_chunks = chunk_ptr.shape[0] - 1
    for c in numba.prange(n_chunks):
        for u in range(chunk_ptr[c], chunk_ptr[c + 1]):
            xgx = zero
            for a in range(k):
                s = zero
                for b in range(k):
                    s += YtY[a, b] * X[u, b]
                xgx += s * X[u, a]
            total = np.float64(xgx)
            for j in range(ptr[u], ptr[u + 1]):
                y = Y[idx[j]]
                d = zero
                for a in range(k):
                    d += X[u, a] * y[a]
                cj = conf[j]
                pref = one if cj > zero else zero
                e = pref - d
                total += np.float64(abs(cj) * e * e - d * d)
            out[u] = total
