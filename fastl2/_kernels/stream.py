"""A memory-bandwidth probe for benchmark reports: the STREAM triad, parallel over a fixed
number of contiguous ranges (its NumPy twin is ``b + s * c``)."""

import numba

from ._flags import CACHE


@numba.njit(parallel=True, nogil=True, cache=CACHE)
def triad(a, b, c, s, n_parts):  # pragma: no cover - compiled
    """a = b + s·c, in ``n_parts`` contiguous ranges run in parallel."""
    n = a.shape[0]
    for t in numba.prange(n_parts):
        lo = n * t // n_parts
        hi = n * (t + 1) // n_parts
        for i in range(lo, hi):
            a[i] = b[i] + s * c[i]
