"""NumPy twin of :mod:`fastl2._kernels.metrics` (definitions there)."""

from __future__ import annotations

import numpy as np


def user_metrics(ids, test_ptr, test_idx, n_items, out):
    """Same signature and effect as the kernel, one user at a time with sets."""
    n_users, K = ids.shape
    for r in range(n_users):
        truth = set(test_idx[test_ptr[r]:test_ptr[r + 1]].tolist())
        P = len(truth)
        M = n_items - P
        hit_flags = np.array([int(i) in truth for i in ids[r]], dtype=float)
        hits_so_far = np.cumsum(hit_flags)
        rank = np.arange(1, K + 1)
        denom = min(K, P)
        ideal = np.sum(1.0 / np.log2(np.arange(2, denom + 2)))
        misses_before = hits_so_far[hit_flags == 0]
        hits = hit_flags.sum()
        auc = misses_before.sum() + (hits + P) / 2.0 * (M - (K - hits))
        first = np.nonzero(hit_flags)[0]
        out[r] = (hits, denom, hits / P, np.sum(hit_flags * hits_so_far / rank) / denom,
                  np.sum(hit_flags / np.log2(rank + 1)) / ideal,
                  auc / (P * M) if M > 0 else 1.0, 1.0 / (first[0] + 1) if first.size else 0.0)
