"""Alternating least squares half-sweeps, parallel over rows, with the L2 term fused.

A half-sweep recomputes every row of one side (users, or items through the transposed matrix)
from the fixed factors of the other side. Rows are independent: each is written by exactly one
thread and computed by the same arithmetic whatever thread runs it, so the result is
bit-identical for any thread count. Rows are processed in chunks (``chunk_ptr``, balanced by
cost in the façade); a chunk owns its scratch buffers, allocated once per chunk, never per row.

Explicit ALS (biased MF; bias at index ``k`` of the augmented system)::

    [Σ q qᵀ + λ_u I    Σ q ] [p_u]   [Σ t q]        t = r_ui − μ − b_i
    [Σ qᵀ       n + λb_u   ] [b_u] = [Σ t  ]        λ_u = λ·n (ALS-WR) or λ

The diagonal is set to λ_u before the ratings are accumulated (the fused L2 term).

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
from .linalg import cholesky_solve, syr1, syr4

_PAD = 64  # elements between scratch vectors (see implicit_cg_half)
_GATHER = 2048  # rows of y_i a CG row keeps in its own buffer (512 KiB at k = 64, float32)


# ---------------------------------------------------------------------------- explicit
@numba.njit(fastmath=FASTMATH, nogil=True, inline="always")
def _explicit_assemble(A, rhs, lo, hi, idx, vals, mu, Q, bi, lam, lam_b,
                       k):  # pragma: no cover - compiled
    m = k + 1
    zero = mu - mu
    one = Q.dtype.type(1)
    for a in range(m):
        rhs[a] = zero
        for b in range(m):
            A[a, b] = zero
    for a in range(k):
        A[a, a] = lam
    A[k, k] = lam_b + (hi - lo)
    j = lo
    while j + 4 <= hi:
        q0 = Q[idx[j]]
        q1 = Q[idx[j + 1]]
        q2 = Q[idx[j + 2]]
        q3 = Q[idx[j + 3]]
        t0 = vals[j] - mu - bi[idx[j]]
        t1 = vals[j + 1] - mu - bi[idx[j + 1]]
        t2 = vals[j + 2] - mu - bi[idx[j + 2]]
        t3 = vals[j + 3] - mu - bi[idx[j + 3]]
        syr4(A, q0, q1, q2, q3, one, one, one, one, k)
        for a in range(k):
            A[k, a] += q0[a] + q1[a] + q2[a] + q3[a]
            rhs[a] += t0 * q0[a] + t1 * q1[a] + t2 * q2[a] + t3 * q3[a]
        rhs[k] += t0 + t1 + t2 + t3
        j += 4
    while j < hi:
        q0 = Q[idx[j]]
        t0 = vals[j] - mu - bi[idx[j]]
        syr1(A, q0, one, k)
        for a in range(k):
            A[k, a] += q0[a]
            rhs[a] += t0 * q0[a]
        rhs[k] += t0
        j += 1
    for a in range(k):  # the bias column was summed along row k (contiguous); mirror it
        A[a, k] = A[k, a]


@numba.njit(parallel=True, fastmath=FASTMATH, nogil=True, cache=CACHE)
def explicit_als_half(ptr, idx, vals, mu, Q, bi, reg, reg_b, weighted, fallback_eps, chunk_ptr,
                      P, bu, row_sse, n_fallback):  # pragma: no cover - compiled
    """Solve every row's (p_u, b_u) against fixed (Q, b_i); ``row_sse[u]`` gets the row's
    squared training error with the new values."""
    k = Q.shape[1]
    m = k + 1
    zero = mu - mu
    n_chunks = chunk_ptr.shape[0] - 1
    for c in numba.prange(n_chunks):
        A = np.empty((m + 1, m), dtype=Q.dtype)  # spare row for cholesky_solve
        rhs = np.empty(m, dtype=Q.dtype)
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
            lam_b = reg_b * n if weighted else reg_b
            _explicit_assemble(A, rhs, lo, hi, idx, vals, mu, Q, bi, lam, lam_b, k)
            if not cholesky_solve(A, rhs, m):
                fallbacks += 1
                _explicit_assemble(A, rhs, lo, hi, idx, vals, mu, Q, bi, lam, lam_b, k)
                tr = zero
                for a in range(m):
                    tr += A[a, a]
                ridge = fallback_eps * (tr / m) + fallback_eps
                for a in range(m):
                    A[a, a] += ridge
                if not cholesky_solve(A, rhs, m):
                    for a in range(m):
                        rhs[a] = zero
            for a in range(k):
                P[u, a] = rhs[a]
            bu[u] = rhs[k]
            sse = 0.0
            for j in range(lo, hi):
                i = idx[j]
                d = zero
                for a in range(k):
                    d += rhs[a] * Q[i, a]
                e = vals[j] - (mu + rhs[k] + bi[i] + d)
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
def _implicit_assemble(A, rhs, lo, hi, idx, conf, Y, G, k):  # pragma: no cover - compiled
    zero = G[0, 0] - G[0, 0]
    one = Y.dtype.type(1)
    for a in range(k):
        rhs[a] = zero
        for b in range(k):
            A[a, b] = G[a, b]
    j = lo
    while j + 4 <= hi:
        y0 = Y[idx[j]]
        y1 = Y[idx[j + 1]]
        y2 = Y[idx[j + 2]]
        y3 = Y[idx[j + 3]]
        c0 = conf[j]
        c1 = conf[j + 1]
        c2 = conf[j + 2]
        c3 = conf[j + 3]
        syr4(A, y0, y1, y2, y3, abs(c0) - one, abs(c1) - one, abs(c2) - one, abs(c3) - one, k)
        c0 = max(c0, zero)
        c1 = max(c1, zero)
        c2 = max(c2, zero)
        c3 = max(c3, zero)
        for a in range(k):
            rhs[a] += c0 * y0[a] + c1 * y1[a] + c2 * y2[a] + c3 * y3[a]
        j += 4
    while j < hi:
        y0 = Y[idx[j]]
        c0 = conf[j]
        syr1(A, y0, abs(c0) - one, k)
        c0 = max(c0, zero)
        for a in range(k):
            rhs[a] += c0 * y0[a]
        j += 1


@numba.njit(parallel=True, fastmath=FASTMATH, nogil=True, cache=CACHE)
def implicit_cholesky_half(ptr, idx, conf, Y, G, fallback_eps, chunk_ptr, X,
                           n_fallback):  # pragma: no cover - compiled
    """Exact per-row solve; ``G`` = YᵀY + λI (the L2 term already on its diagonal)."""
    k = Y.shape[1]
    zero = fallback_eps - fallback_eps
    n_chunks = chunk_ptr.shape[0] - 1
    for c in numba.prange(n_chunks):
        A = np.empty((k + 1, k), dtype=Y.dtype)  # spare row for cholesky_solve
        rhs = np.empty(k, dtype=Y.dtype)
        fallbacks = 0
        for u in range(chunk_ptr[c], chunk_ptr[c + 1]):
            lo = ptr[u]
            hi = ptr[u + 1]
            if lo == hi:
                for a in range(k):
                    X[u, a] = zero
                continue
            _implicit_assemble(A, rhs, lo, hi, idx, conf, Y, G, k)
            if not cholesky_solve(A, rhs, k):
                fallbacks += 1
                _implicit_assemble(A, rhs, lo, hi, idx, conf, Y, G, k)
                tr = zero
                for a in range(k):
                    tr += A[a, a]
                ridge = fallback_eps * (tr / k) + fallback_eps
                for a in range(k):
                    A[a, a] += ridge
                if not cholesky_solve(A, rhs, k):
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
        # the row's y_i are copied here during the first pass (rows with at most _GATHER
        # entries), so the CG steps stream them from cache instead of gathering again
        rows = np.empty((_GATHER, k), dtype=Y.dtype)
        for u in range(chunk_ptr[c], chunk_ptr[c + 1]):
            lo = ptr[u]
            hi = ptr[u + 1]
            n = hi - lo
            if n == 0:
                for a in range(k):
                    X[u, a] = zero
                continue
            gathered = n <= _GATHER
            for a in range(k):
                x[a] = X[u, a]
            # r = b − A x
            for a in range(k):
                s = zero
                for b in range(k):
                    s += G[a, b] * x[b]
                r[a] = -s
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
                    s = zero
                    for b in range(k):
                        s += G[a, b] * p[b]
                    Ap[a] = s
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
