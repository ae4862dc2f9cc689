"""Top-N selection of items for a batch of query rows, parallel over the rows.

For query row r (a user, or an item for similar-items) with vector ``Q[r]``, the score of
candidate item i is ``offset[r] + bias[i] + Σ_a Q[r, a] Y[i, a]`` (summed in factor order). Each row keeps the N best candidates
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
_GROUP = 4  # query rows scored together (unrolled in topk_rows: each load of y feeds 4)
_BLOCK = 512  # candidate items scored at once (4 × 512 scores stay in L1)
_PAD = 64  # elements between the score rows (see _kernels/als.py on scratch layout)


@numba.njit(fastmath=FASTMATH, nogil=True, inline="always")
def _worse(hs, hi, a, b):  # pragma: no cover - compiled
    """Heap entry a ranks below entry b: lower score, or equal score and higher item index."""
    return hs[a] < hs[b] or (hs[a] == hs[b] and hi[a] > hi[b])


@numba.njit(fastmath=FASTMATH, nogil=True, inline="always")
def _swap(hs, hi, a, b):  # pragma: no cover - compiled
    hs[a], hs[b] = hs[b], hs[a]
    hi[a], hi[b] = hi[b], hi[a]


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
        if right < n and _worse(hs, hi, right, left):
            child = right
        if _worse(hs, hi, child, pos):
            _swap(hs, hi, pos, child)
            pos = child
        else:
            return


@numba.njit(fastmath=FASTMATH, nogil=True, inline="always")
def _push(hs, hi, size, N, s, i):  # pragma: no cover - compiled
    """Offer candidate (s, i) to a heap of ``size`` entries (capacity N); returns the new
    size. Candidates arrive in increasing item order, so an equal score never displaces."""
    if size < N:
        pos = size
        hs[pos] = s
        hi[pos] = i
        while pos > 0:
            parent = (pos - 1) >> 1
            if _worse(hs, hi, pos, parent):
                _swap(hs, hi, pos, parent)
                pos = parent
            else:
                break
        return size + 1
    if N > 0 and s > hs[0]:
        hs[0] = s
        hi[0] = i
        _sift_down(hs, hi, N)
    return size


@numba.njit(parallel=True, fastmath=FASTMATH, nogil=True, cache=CACHE)
def topk_rows(Q, rows, offset, YT, bias, candidates, all_items, skip_ptr, skip_idx, banned, N,
              out_ids, out_scores):  # pragma: no cover - compiled
    """Best N items for each query row.

    Parameters
    ----------
    Q : numpy.ndarray, shape (n_query_vectors, k), float32 or float64
        Query vectors; ``rows[r]`` picks the vector of output row r. Not modified.
    rows : numpy.ndarray of int, shape (n_out,)
        The row of ``Q`` of each output row.
    offset : numpy.ndarray, shape (n_out,), dtype of ``Q``
        Added to every score of output row r (e.g. μ + b_u).
    YT : numpy.ndarray, shape (k, n_items), dtype of ``Q``
        Item vectors, transposed (contiguous per factor). Not modified.
    bias : numpy.ndarray, shape (n_items,), dtype of ``Q``
        Added per item (zeros for none).
    candidates : numpy.ndarray of int, shape (n_candidates,)
        Sorted item indices to consider (ignored when ``all_items``).
    all_items : bool
        True: every item is a candidate.
    skip_ptr, skip_idx : numpy.ndarray of int, shapes (n_out + 1,) and (nnz_skip,)
        CSR with one row per output row: sorted item indices to skip (e.g. seen items).
    banned : numpy.ndarray of uint8, shape (n_items,)
        Nonzero: never recommend that item.
    N : int
        Number of items per output row.
    out_ids : numpy.ndarray of int, shape (n_out, N)
        Written in place: the best items, best first (ties to the lower index); -1 where a
        row has fewer than N eligible candidates.
    out_scores : numpy.ndarray of float, shape (n_out, N)
        Written in place: their scores; -inf in the unused slots.

    Returns
    -------
    None

    Scores are computed for groups of _GROUP rows × blocks of _BLOCK candidates as axpys along
    the items (each item-vector load feeds the whole group, no per-score reductions), then
    offered to the rows' heaps.
    """
    n_rows = rows.shape[0]
    k = YT.shape[0]
    zero = out_scores.dtype.type(0)
    big = np.int64(2**62)
    any_banned = False
    for i in range(banned.shape[0]):
        if banned[i] != 0:
            any_banned = True
            break
    n_cand = YT.shape[1] if all_items else candidates.shape[0]
    neg_inf = -np.inf
    n_chunks = (n_rows + _ROWS_PER_CHUNK - 1) // _ROWS_PER_CHUNK
    for c in numba.prange(n_chunks):
        hs = np.empty((_GROUP, max(N, 1)), dtype=out_scores.dtype)
        hi = np.empty((_GROUP, max(N, 1)), dtype=np.int64)
        S = np.empty((_GROUP, _BLOCK + _PAD), dtype=out_scores.dtype)
        items = np.empty(_BLOCK, dtype=np.int64)
        Yb = np.empty((k, _BLOCK), dtype=YT.dtype)
        size = np.zeros(_GROUP, dtype=np.int64)
        sp = np.zeros(_GROUP, dtype=np.int64)
        r_end = min(n_rows, (c + 1) * _ROWS_PER_CHUNK)
        for g in range(c * _ROWS_PER_CHUNK, r_end, _GROUP):
            ng = min(_GROUP, r_end - g)
            for t in range(ng):
                size[t] = 0
                sp[t] = skip_ptr[g + t]
            for b0 in range(0, n_cand, _BLOCK):
                nb = min(_BLOCK, n_cand - b0)
                for t in range(nb):
                    items[t] = b0 + t if all_items else candidates[b0 + t]
                if not all_items:  # gather the candidate columns once per block
                    for a in range(k):
                        ya = YT[a]
                        yb = Yb[a]
                        for t in range(nb):
                            yb[t] = ya[items[t]]
                for t in range(_GROUP):  # rows past ng score as zero vectors, unused
                    St = S[t, :nb]
                    off = offset[g + t] if t < ng else zero
                    for j in range(nb):
                        St[j] = off + bias[items[j]]
                S0 = S[0, :nb]
                S1 = S[1, :nb]
                S2 = S[2, :nb]
                S3 = S[3, :nb]
                q0 = Q[rows[g]]
                q1 = Q[rows[g + min(1, ng - 1)]]
                q2 = Q[rows[g + min(2, ng - 1)]]
                q3 = Q[rows[g + min(3, ng - 1)]]
                for a in range(k):
                    ya = YT[a, b0:b0 + nb] if all_items else Yb[a, :nb]
                    x0 = q0[a]
                    x1 = q1[a]
                    x2 = q2[a]
                    x3 = q3[a]
                    for j in range(nb):  # one load of y_j feeds the four rows
                        y = ya[j]
                        S0[j] += x0 * y
                        S1[j] += x1 * y
                        S2[j] += x2 * y
                        S3[j] += x3 * y
                for t in range(ng):
                    r = g + t
                    send = skip_ptr[r + 1]
                    p = sp[t]
                    sz = size[t]
                    h_s = hs[t]  # views made once: a view per call costs refcount updates
                    h_i = hi[t]
                    St = S[t]
                    full = sz == N
                    thresh = h_s[0] if full and N > 0 else neg_inf
                    nxt = skip_idx[p] if p < send else big
                    for j in range(nb):
                        sc = St[j]
                        if full and not (sc > thresh):
                            continue  # most candidates stop here
                        i = items[j]
                        while nxt < i:
                            p += 1
                            nxt = skip_idx[p] if p < send else big
                        if nxt == i or (any_banned and banned[i] != 0):
                            continue
                        sz = _push(h_s, h_i, sz, N, sc, i)
                        if sz == N:
                            full = True
                            thresh = h_s[0]
                    sp[t] = p
                    size[t] = sz
            for t in range(ng):
                r = g + t
                h_s = hs[t]
                h_i = hi[t]
                # heap → sorted (best first): repeatedly move the worst to the end
                for end in range(size[t] - 1, -1, -1):
                    out_scores[r, end] = h_s[0]
                    out_ids[r, end] = h_i[0]
                    h_s[0] = h_s[end]
                    h_i[0] = h_i[end]
                    _sift_down(h_s, h_i, end)
                for j in range(size[t], N):
                    out_scores[r, j] = neg_inf
                    out_ids[r, j] = -1
