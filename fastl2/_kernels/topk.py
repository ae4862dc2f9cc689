"""Top-N selection of items for a batch of query rows, parallel over the rows.

For query row r (a user, or an item for similar-items) with vector ``Q[r]``, the score of
candidate item i is ``offset[r] + bias[i] + Q[r]·Y[i]``. Each row keeps the N best candidates
in a small heap (partial selection: no sort of all scores, no dense rows×items matrix), skips
the items listed for it in a CSR (``skip_ptr``/``skip_idx``, sorted per row: the user's seen
items) by merging as it walks the candidates in increasing index order, and skips items whose
``banned`` flag is set. Ties go to the lower item index. Rows with fewer than N eligible
candidates get item -1 and score -inf in the remaining slots.

Every row is computed the same way on any thread, so results do not depend on the thread
count. Scratch (the heap) is allocated once per chunk of rows.
"""

import numba
import numpy as np

from ._flags import CACHE, FASTMATH

_ROWS_PER_CHUNK = 64


@numba.njit(fastmath=FASTMATH, nogil=True)
def _sift_down(hs, hi, n):  # pragma: no cover - compiled
    """Restore the min-heap (worst candidate at the root) after the root was replaced.
    Worse = lower score, or equal score and higher item index."""
    pos = 0
    while True:
        left = 2 * pos + 1
        if left >= n:
            return
        child = left
        right = left + 1
        if right < n and (hs[right] < hs[left] or
                          (hs[right] == hs[left] and hi[right] > hi[left])):
            child = right
        if hs[child] < hs[pos] or (hs[child] == hs[pos] and hi[child] > hi[pos]):
            hs[pos], hs[child] = hs[child], hs[pos]
            hi[pos], hi[child] = hi[child], hi[pos]
            pos = child
        else:
            return


@numba.njit(parallel=True, fastmath=FASTMATH, nogil=True, cache=CACHE)
def topk_rows(Q, rows, offset, Y, bias, candidates, all_items, skip_ptr, skip_idx, banned, N,
              out_ids, out_scores):  # pragma: no cover - compiled
    """Best N items for each query row.

    Q : (n_query_vectors, k) query vectors; ``rows[r]`` picks the vector of output row r.
    offset : (len(rows),) added to every score of row r.
    Y : (n_items, k) item vectors; bias : (n_items,) added per item (zeros for none).
    candidates : sorted item indices to consider (ignored when ``all_items``).
    skip_ptr, skip_idx : CSR with one row per output row, sorted item indices to skip.
    banned : (n_items,) uint8, nonzero = never recommend.
    out_ids : (len(rows), N) int64, out_scores : (len(rows), N) float, written.
    """
    n_rows = rows.shape[0]
    k = Q.shape[1]
    n_cand = Y.shape[0] if all_items else candidates.shape[0]
    neg_inf = -np.inf
    n_chunks = (n_rows + _ROWS_PER_CHUNK - 1) // _ROWS_PER_CHUNK
    for c in numba.prange(n_chunks):
        hs = np.empty(max(N, 1), dtype=out_scores.dtype)
        hi = np.empty(max(N, 1), dtype=np.int64)
        for r in range(c * _ROWS_PER_CHUNK, min(n_rows, (c + 1) * _ROWS_PER_CHUNK)):
            q = Q[rows[r]]
            off = offset[r]
            size = 0
            sp = skip_ptr[r]
            send = skip_ptr[r + 1]
            for t in range(n_cand):
                i = t if all_items else candidates[t]
                while sp < send and skip_idx[sp] < i:
                    sp += 1
                if sp < send and skip_idx[sp] == i:
                    continue
                if banned[i] != 0:
                    continue
                y = Y[i]
                s = off + bias[i]
                d = s - s
                for a in range(k):
                    d += q[a] * y[a]
                s += d
                if size < N:
                    # sift up
                    pos = size
                    hs[pos] = s
                    hi[pos] = i
                    size += 1
                    while pos > 0:
                        parent = (pos - 1) >> 1
                        if hs[pos] < hs[parent] or (hs[pos] == hs[parent] and
                                                    hi[pos] > hi[parent]):
                            hs[pos], hs[parent] = hs[parent], hs[pos]
                            hi[pos], hi[parent] = hi[parent], hi[pos]
                            pos = parent
                        else:
                            break
                elif N > 0 and s > hs[0]:
                    hs[0] = s
                    hi[0] = i
                    _sift_down(hs, hi, N)
            # heap → sorted (best first): repeatedly move the worst to the end
            for end in range(size - 1, -1, -1):
                out_scores[r, end] = hs[0]
                out_ids[r, end] = hi[0]
                hs[0] = hs[end]
                hi[0] = hi[end]
                _sift_down(hs, hi, end)
            for j in range(size, N):
                out_scores[r, j] = neg_inf
                out_ids[r, j] = -1
