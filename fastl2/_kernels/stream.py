"""A memory-bandwidth probe for benchmark reports: the STREAM triad, parallel over a fixed
number of contiguous ranges (its NumPy twin, ``b + s * c``, is :mod:`fastl2._reference.stream`)."""

import numba

from ._flags import CACHE


@numba.njit(parallel=True, nogil=True, cache=CACHE)
def triad(a, b, c, s, n_parts):  # pragma: no cover - compiled
    """a = b + s·c, in ``n_parts`` contiguous ranges run in parallel.

    Parameters
    ----------
    a : numpy.ndarray, shape (n,)
        Written in place: every element once, ``b[i] + s * c[i]``.
    b, c : numpy.ndarray, shape (n,), dtype of ``a``
        Inputs; not modified.
    s : scalar, dtype of ``a``
        Multiplier of ``c``.
    n_parts : int
        Number of contiguous ranges (``n·t // n_parts`` boundaries), one parallel task each;
        the result does not depend on it.

    Returns
    -------
    None
    """
    n = a.shape[0]
    for t in numba.prange(n_parts):
        lo = n * t // n_parts
        hi = n * (t + 1) // n_parts
        for i in range(lo, hi):
            a[i] = b[i] + s * c[i]
