"""NumPy twins of :mod:`fastl2._kernels.als`: the test oracle and the benchmark baseline.

Same signatures and effects as the kernels (``chunk_ptr`` is accepted and only used to report
fallback counts per chunk), written row by row with NumPy/LAPACK: the Gram matrix of a row by a
matrix product, the solve by ``numpy.linalg.cholesky`` and two triangular solves. The explicit
twin solves the (k+1)×(k+1) augmented system (the bias as a constant column) directly, where
the kernel eliminates the bias by its Schur complement and factors k×k: the same solution,
not the same bits.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg


def _chunk_of(chunk_ptr: np.ndarray, u: int) -> int:
    return int(np.searchsorted(chunk_ptr, u, side="right")) - 1


def _spd_solve(A: np.ndarray, b: np.ndarray, fallback_eps: float) -> tuple[np.ndarray, bool]:
    """Cholesky solve; on failure add the kernels' ridge and try again (zeros if that fails)."""
    try:
        return scipy.linalg.cho_solve(scipy.linalg.cho_factor(A, lower=True), b), False
    except (np.linalg.LinAlgError, ValueError):
        ridge = fallback_eps * (np.trace(A) / A.shape[0]) + fallback_eps
        try:
            A2 = A + ridge * np.eye(A.shape[0], dtype=A.dtype)
            return scipy.linalg.cho_solve(scipy.linalg.cho_factor(A2, lower=True), b), True
        except (np.linalg.LinAlgError, ValueError):
            return np.zeros_like(b), True


def explicit_als_half(ptr, idx, vals, global_mean, Q, bi, regularization, bias_regularization,
                      weighted_regularization, fallback_eps, chunk_ptr,
                      P, bu, row_sse, n_fallback, with_sse=True):
    """Same signature and effect as the kernel."""
    k = Q.shape[1]
    n_fallback[:] = 0
    for u in range(P.shape[0]):
        lo, hi = int(ptr[u]), int(ptr[u + 1])
        n = hi - lo
        if n == 0:
            P[u] = 0
            bu[u] = 0
            row_sse[u] = 0.0
            continue
        cols = idx[lo:hi]
        Z = np.ones((n, k + 1), dtype=Q.dtype)
        Z[:, :k] = Q[cols]
        t = vals[lo:hi] - global_mean - bi[cols]
        A = Z.T @ Z
        lam, lam_b = regularization, bias_regularization
        if weighted_regularization:
            lam, lam_b = lam * n, lam_b * n
        A[np.arange(k), np.arange(k)] += lam
        A[k, k] += lam_b
        w, fell_back = _spd_solve(A, Z.T @ t, fallback_eps)
        n_fallback[_chunk_of(chunk_ptr, u)] += fell_back
        P[u] = w[:k]
        bu[u] = w[k]
        if with_sse:
            e = vals[lo:hi] - (global_mean + w[k] + bi[cols] + Q[cols] @ w[:k])
            row_sse[u] = float(np.sum(e.astype(np.float64) ** 2))
        else:
            row_sse[u] = 0.0


def gram(Y, n_chunks):
    """YᵀY in float64, returned in Y's dtype (``n_chunks`` is ignored)."""
    Y64 = Y.astype(np.float64)
    return (Y64.T @ Y64).astype(Y.dtype)


def _implicit_system(ptr, idx, conf, Y, G, u):
    lo, hi = int(ptr[u]), int(ptr[u + 1])
    Yu = Y[idx[lo:hi]]
    c = conf[lo:hi]
    A = G + (Yu.T * (np.abs(c) - 1)) @ Yu
    b = Yu.T @ np.where(c > 0, c, 0).astype(Y.dtype)
    return A, b


def implicit_cholesky_half(ptr, idx, conf, Y, G, fallback_eps, chunk_ptr, X, n_fallback):
    """Same signature and effect as the kernel."""
    n_fallback[:] = 0
    for u in range(X.shape[0]):
        if ptr[u] == ptr[u + 1]:
            X[u] = 0
            continue
        A, b = _implicit_system(ptr, idx, conf, Y, G, u)
        X[u], fell_back = _spd_solve(A, b, fallback_eps)
        n_fallback[_chunk_of(chunk_ptr, u)] += fell_back


def implicit_cg_half(ptr, idx, conf, Y, G, cg_steps, chunk_ptr, X):
    """Same signature and effect as the kernel (the row's matrix is formed explicitly here)."""
    for u in range(X.shape[0]):
        if ptr[u] == ptr[u + 1]:
            X[u] = 0
            continue
        A, b = _implicit_system(ptr, idx, conf, Y, G, u)
        x = X[u].copy()
        r = b - A @ x
        p = r.copy()
        rs = r @ r
        if rs < 1e-20:
            continue
        for _ in range(cg_steps):
            Ap = A @ p
            pAp = p @ Ap
            if not pAp > 0:
                break
            step = rs / pAp
            x += step * p
            r -= step * Ap
            rs_new = r @ r
            if rs_new < 1e-20:
                break
            p = r + (rs_new / rs) * p
            rs = rs_new
        X[u] = x


def implicit_loss_rows(ptr, idx, conf, X, Y, YtY, chunk_ptr, out):
    """Per-row Σ_i c_ui (p_ui − x·y_i)² over all items, computed densely (the definition)."""
    n_items = Y.shape[0]
    for u in range(X.shape[0]):
        lo, hi = int(ptr[u]), int(ptr[u + 1])
        c = np.ones(n_items, dtype=np.float64)
        p = np.zeros(n_items, dtype=np.float64)
        c[idx[lo:hi]] = np.abs(conf[lo:hi])
        p[idx[lo:hi]] = conf[lo:hi] > 0
        d = Y.astype(np.float64) @ X[u].astype(np.float64)
        out[u] = float(np.sum(c * (p - d) ** 2))
