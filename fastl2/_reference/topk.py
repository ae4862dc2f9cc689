"""NumPy twin of :mod:`fastl2._kernels.topk`: dense scores and a full stable sort per row."""

from __future__ import annotations

import numpy as np


def topk_rows(Q, rows, offset, YT, bias, candidates, all_items, skip_ptr, skip_idx, banned, N,
              out_ids, out_scores):
    """Same signature and effect as the kernel (``YT`` = item vectors transposed)."""
    Y = YT.T
    n_items = Y.shape[0]
    cand = np.arange(n_items) if all_items else np.asarray(candidates, dtype=np.int64)
    for r, row in enumerate(rows):
        ok = np.ones(cand.size, dtype=bool)
        ok &= banned[cand] == 0
        ok &= ~np.isin(cand, skip_idx[skip_ptr[r]:skip_ptr[r + 1]])
        items = cand[ok]
        scores = (offset[r] + bias[items] + Y[items] @ Q[row]).astype(out_scores.dtype)
        order = np.lexsort((items, -scores.astype(np.float64)))[:N]
        out_ids[r] = -1
        out_scores[r] = -np.inf
        out_ids[r, :order.size] = items[order]
        out_scores[r, :order.size] = scores[order]
