"""Per-user ranking metrics from top-K lists, parallel over users.

Definitions (those shared with ``implicit.evaluation.ranking_metrics_at_k`` follow it):

* hits_u = number of the K recommended items that are in the user's test set T_u;
* precision: Σ hits_u / Σ min(K, |T_u|) over users (micro-averaged, as implicit);
* recall@K: mean of hits_u / |T_u|;
* MAP@K: mean of Σ_{hit at rank i} (hits up to i / i) / min(K, |T_u|) (as implicit);
* NDCG@K: mean of Σ_{hit at rank i} 1/log2(i + 1) / IDCG_u, IDCG_u = Σ_{i ≤ min(K,|T_u|)}
  1/log2(i + 1) (binary relevance, as implicit);
* AUC: implicit's "limited AUC": with P = |T_u| and M = n_items − P, the pairs ranked inside
  the top K are counted exactly and every positive outside it is assumed to beat half of the
  negatives outside it: (Σ_{misses in top K} hits before it + (hits + P)/2 · (M − misses)) /
  (P·M), averaged over users;
* hit rate: fraction of users with at least one hit; MRR: mean of 1 / rank of the first hit
  (0 without a hit).

Only users with at least one test item are evaluated.
"""

import numba
import numpy as np

from ._flags import CACHE


@numba.njit(parallel=True, nogil=True, cache=CACHE)
def user_metrics(ids, test_ptr, test_idx, n_items, out):  # pragma: no cover - compiled
    """``ids``: (n_users, K) recommended item indices (-1 = none), row r for the user whose
    sorted test items are ``test_idx[test_ptr[r]:test_ptr[r+1]]`` (non-empty).
    ``out``: (n_users, 7) float64 ← hits, min(K, P), recall, AP, NDCG, AUC, reciprocal rank.

    Parameters
    ----------
    ids : numpy.ndarray of int, shape (n_users, K)
        Each evaluated user's top-K item indices, best first; -1 for an empty slot.
    test_ptr : numpy.ndarray of int, shape (n_users + 1,)
        CSR pointers: user r's test items are ``test_idx[test_ptr[r]…test_ptr[r + 1]]``
        (at least one).
    test_idx : numpy.ndarray of int, shape (nnz_test,)
        Test item indices, sorted within each user.
    n_items : int
        Number of items (the negatives of AUC are the n_items − P others).
    out : numpy.ndarray of float64, shape (n_users, 7)
        Written in place, one row per user (definitions in the module docstring).

    Returns
    -------
    None
    """
    n_users, K = ids.shape
    for r in numba.prange(n_users):
        lo = test_ptr[r]
        hi = test_ptr[r + 1]
        P = hi - lo
        M = n_items - P
        hits = 0.0
        misses = 0.0
        ap = 0.0
        dcg = 0.0
        auc = 0.0
        rr = 0.0
        for j in range(K):
            item = ids[r, j]
            found = False
            if item >= 0:
                # binary search in the sorted test items
                a = lo
                b = hi
                while a < b:
                    mid = (a + b) >> 1
                    if test_idx[mid] < item:
                        a = mid + 1
                    else:
                        b = mid
                found = a < hi and test_idx[a] == item
            if found:
                hits += 1.0
                ap += hits / (j + 1)
                dcg += 1.0 / np.log2(j + 2.0)
                if rr == 0.0:
                    rr = 1.0 / (j + 1)
            else:
                misses += 1.0
                auc += hits
        ideal = 0.0
        for j in range(min(K, P)):
            ideal += 1.0 / np.log2(j + 2.0)
        auc += (hits + P) / 2.0 * (M - misses)
        denom = min(K, P)
        out[r, 0] = hits
        out[r, 1] = denom
        out[r, 2] = hits / P
        out[r, 3] = ap / denom
        out[r, 4] = dcg / ideal
        out[r, 5] = auc / (P * M) if M > 0 else 1.0
        out[r, 6] = rr
