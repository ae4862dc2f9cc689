"""Block-stratified parallel SGD for biased MF, with the L2 term fused into each update.

One call of :func:`sgd_epoch` runs a whole epoch: strata in order, and inside a stratum the
blocks in parallel (``prange`` over workers, each running its list of blocks). Blocks of a
stratum share no user and no item, so no two threads ever write the same factor or bias row:
no locks, no races, and the result does not depend on the thread count.

Per rating (r_ui, grid row u, grid column i), with e = r_ui − (μ + b_u + b_i + p_u·q_i):

    b_u ← b_u + η_bu (e − λ_bu b_u)         b_i ← b_i + η_bi (e − λ_bi b_i)
    p_u ← p_u + η_p (e q_i − λ_p p_u)       q_i ← q_i + η_q (e p_u − λ_q q_i)

(simultaneous update of p_u and q_i, read once and written once per rating). Each kind of
parameter has its own step (as Surprise's ``lr_bu``, ``lr_bi``, ``lr_pu``, ``lr_qi``); a step
of 0 for both biases with μ = 0 trains the unbiased model (the biases stay exactly 0). With
the adaptive rule (AdaGrad per row, as LIBMF) every step of a row is divided by sqrt(G_row),
G accumulating the row's mean squared gradient (factors and bias) after each update;
otherwise the steps are constant.
"""

import numba
import numpy as np

from ._flags import CACHE, FASTMATH


@numba.njit(fastmath=FASTMATH, nogil=True, inline="always")
def _sgd_block(lo_seg, n_rows, u0, ptr, items, ratings, P, Q, bu, bi, Gp, Gq, mu, lr_p, lr_q,
               lr_bu, lr_bi, reg_p, reg_q, reg_bu, reg_bi, adaptive,
               inv_k1):  # pragma: no cover - compiled
    k = P.shape[1]
    zero = lr_p - lr_p
    sse = 0.0
    for r in range(n_rows):
        u = u0 + r
        lo = ptr[lo_seg + r]
        hi = ptr[lo_seg + r + 1]
        if lo == hi:
            continue
        eta_u = lr_p
        eta_bu = lr_bu
        if adaptive:
            root_u = np.sqrt(Gp[u])
            eta_u = lr_p / root_u
            eta_bu = lr_bu / root_u
        for j in range(lo, hi):
            i = items[j]
            dot = zero
            for f in range(k):
                dot += P[u, f] * Q[i, f]
            e = ratings[j] - (mu + bu[u] + bi[i] + dot)
            sse += np.float64(e) * np.float64(e)
            if adaptive:
                root_i = np.sqrt(Gq[i])
                eta_i = lr_q / root_i
                gbu = e - reg_bu * bu[u]
                gbi = e - reg_bi * bi[i]
                bu[u] += eta_bu * gbu
                bi[i] += (lr_bi / root_i) * gbi
                sp = gbu * gbu
                sq = gbi * gbi
                for f in range(k):
                    pf = P[u, f]
                    qf = Q[i, f]
                    gp = e * qf - reg_p * pf
                    gq = e * pf - reg_q * qf
                    P[u, f] = pf + eta_u * gp
                    Q[i, f] = qf + eta_i * gq
                    sp += gp * gp
                    sq += gq * gq
                Gp[u] += sp * inv_k1
                Gq[i] += sq * inv_k1
                root_u = np.sqrt(Gp[u])
                eta_u = lr_p / root_u
                eta_bu = lr_bu / root_u
            else:
                bu[u] += lr_bu * (e - reg_bu * bu[u])
                bi[i] += lr_bi * (e - reg_bi * bi[i])
                for f in range(k):
                    pf = P[u, f]
                    qf = Q[i, f]
                    P[u, f] = pf + lr_p * (e * qf - reg_p * pf)
                    Q[i, f] = qf + lr_q * (e * pf - reg_q * qf)
    return sse


@numba.njit(parallel=True, fastmath=FASTMATH, nogil=True, cache=CACHE)
def sgd_epoch(ptr, items, ratings, row_start, n_blocks, work_ptr, work_blocks, P, Q, bu, bi,
              Gp, Gq, mu, lr_p, lr_q, lr_bu, lr_bi, reg_p, reg_q, reg_bu, reg_bi, adaptive,
              inv_k1, block_sse):  # pragma: no cover - compiled
    """Run one epoch over the block grid, updating P, Q, bu, bi (and Gp, Gq) in place.

    ``block_sse[b]`` receives the sum of squared pre-update errors of block ``b``; summing it
    in block order gives a loss that does not depend on the thread count.
    """
    n_strata = work_ptr.shape[0]
    n_workers = work_ptr.shape[1] - 1
    for s in range(n_strata):
        for w in numba.prange(n_workers):
            for jb in range(work_ptr[s, w], work_ptr[s, w + 1]):
                b = work_blocks[s, jb]
                g = b // n_blocks
                h = b - g * n_blocks
                u0 = row_start[g]
                n_g = row_start[g + 1] - u0
                seg = n_blocks * u0 + h * n_g
                block_sse[b] = _sgd_block(seg, n_g, u0, ptr, items, ratings, P, Q, bu, bi,
                                          Gp, Gq, mu, lr_p, lr_q, lr_bu, lr_bi, reg_p, reg_q,
                                          reg_bu, reg_bi, adaptive, inv_k1)
