"""NumPy twins of :mod:`fastl2._kernels.sgd`.

* :func:`sgd_epoch` — the oracle: the same block schedule and visiting order as the kernel,
  one rating at a time in plain Python/NumPy. Slow; used on small data in tests.
* :func:`minibatch_sgd_epoch` — the fast pure-NumPy baseline for benchmarks: vectorized
  mini-batch SGD (a different algorithm, compared on speed and final RMSE, not bit-wise).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def sgd_epoch(ptr, items, ratings, row_start, n_blocks, work_ptr, work_blocks, P, Q, bu, bi,
              Gp, Gq, global_mean, learning_rate_user, learning_rate_item,
              bias_learning_rate_user, bias_learning_rate_item, regularization_user,
              regularization_item, bias_regularization_user, bias_regularization_item, adagrad,
              inv_factors_plus_one, block_sse):
    """Same signature and effect as the kernel, run sequentially."""
    hyper = dict(global_mean=global_mean, learning_rate_user=learning_rate_user,
                 learning_rate_item=learning_rate_item,
                 bias_learning_rate_user=bias_learning_rate_user,
                 bias_learning_rate_item=bias_learning_rate_item,
                 regularization_user=regularization_user,
                 regularization_item=regularization_item,
                 bias_regularization_user=bias_regularization_user,
                 bias_regularization_item=bias_regularization_item, adagrad=adagrad,
                 inv_factors_plus_one=inv_factors_plus_one)
    for s in range(work_ptr.shape[0]):
        for jb in range(work_ptr[s, -1]):
            b = int(work_blocks[s, jb])
            g, h = divmod(b, n_blocks)
            u0 = int(row_start[g])
            n_g = int(row_start[g + 1]) - u0
            seg = n_blocks * u0 + h * n_g
            block_sse[b] = sgd_block(ptr[seg:seg + n_g + 1], items, ratings, P[u0:], Q, bu[u0:],
                                     bi, Gp[u0:], Gq, **hyper)


def sgd_block(ptr, items, ratings, P, Q, bu, bi, Gp, Gq, global_mean, learning_rate_user,
              learning_rate_item, bias_learning_rate_user, bias_learning_rate_item,
              regularization_user, regularization_item, bias_regularization_user,
              bias_regularization_item, adagrad, inv_factors_plus_one):
    """Same signature and effect as the kernel's single block: rows ``0…len(ptr) - 2`` of
    ``P`` (views in, updated in place), entries ``ptr[r]…ptr[r + 1]`` of ``items``."""
    sse = 0.0
    for u in range(len(ptr) - 1):
        for j in range(int(ptr[u]), int(ptr[u + 1])):
            i = int(items[j])
            p = P[u].copy()
            q = Q[i].copy()
            e = ratings[j] - (global_mean + bu[u] + bi[i] + np.dot(p, q))
            sse += float(e) * float(e)
            # AdaGrad divides every step of a row by sqrt(G_row)
            root_u = np.sqrt(Gp[u]) if adagrad else 1.0
            root_i = np.sqrt(Gq[i]) if adagrad else 1.0
            gbu = e - bias_regularization_user * bu[u]
            gbi = e - bias_regularization_item * bi[i]
            gp = e * q - regularization_user * p
            gq = e * p - regularization_item * q
            bu[u] += bias_learning_rate_user / root_u * gbu
            bi[i] += bias_learning_rate_item / root_i * gbi
            P[u] = p + learning_rate_user / root_u * gp
            Q[i] = q + learning_rate_item / root_i * gq
            if adagrad:
                Gp[u] += (gbu * gbu + np.dot(gp, gp)) * inv_factors_plus_one
                Gq[i] += (gbi * gbi + np.dot(gq, gq)) * inv_factors_plus_one
    return sse


def _scatter_mean(index: np.ndarray, rows: np.ndarray, n: int):
    """Per distinct index, the mean of its rows (a sparse one-hot product, no Python loop)."""
    uniq, inv = np.unique(index, return_inverse=True)
    counts = np.bincount(inv, minlength=uniq.size).astype(rows.dtype)
    onehot = sp.csr_matrix((np.ones(index.size, dtype=rows.dtype), (inv, np.arange(index.size))),
                           shape=(uniq.size, index.size))
    total = onehot @ rows
    return uniq, total / (counts[:, None] if total.ndim == 2 else counts)


def minibatch_sgd_epoch(users, items, ratings, P, Q, bu, bi, global_mean, learning_rate,
                        regularization_user, regularization_item, bias_regularization_user,
                        bias_regularization_item, rng: np.random.Generator,
                        batch_size: int = 4096) -> float:
    """One epoch of vectorized mini-batch SGD; returns the epoch's sum of squared errors.

    Ratings are visited in a random order in batches. Each row touched by a batch moves by
    ``learning_rate`` times the mean of its gradients in the batch (the mean keeps very
    popular items stable where a sum would overshoot). Parameters are named as the kernel's
    (one ``learning_rate`` for every kind of parameter).
    """
    n = ratings.size
    order = rng.permutation(n)
    sse = 0.0
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        u, i, r = users[idx], items[idx], ratings[idx]
        pu, qi = P[u], Q[i]
        e = r - (global_mean + bu[u] + bi[i] + np.einsum("ij,ij->i", pu, qi))
        sse += float(np.dot(e, e))
        ru, gp = _scatter_mean(u, e[:, None] * qi - regularization_user * pu, P.shape[0])
        ri, gq = _scatter_mean(i, e[:, None] * pu - regularization_item * qi, Q.shape[0])
        _, gbu = _scatter_mean(u, e - bias_regularization_user * bu[u], P.shape[0])
        _, gbi = _scatter_mean(i, e - bias_regularization_item * bi[i], Q.shape[0])
        P[ru] += learning_rate * gp
        Q[ri] += learning_rate * gq
        bu[ru] += learning_rate * gbu
        bi[ri] += learning_rate * gbi
    return sse
