"""NumPy twin of :mod:`fastl2._kernels.stream`: the STREAM triad as one array expression."""

from __future__ import annotations

import numpy as np


def triad(a, b, c, s, n_parts):
    """Same signature and effect as the kernel: ``a = b + s · c``.

    Parameters
    ----------
    a : numpy.ndarray, shape (n,)
        Output, overwritten in place with ``b + s * c`` (in ``a``'s dtype).
    b, c : numpy.ndarray, shape (n,)
        Inputs, same dtype as ``a``; not modified.
    s : scalar of ``a``'s dtype
        The multiplier of ``c``.
    n_parts : int
        Accepted for the kernel's signature and ignored: the twin writes all of ``a`` in one
        expression, the kernel in ``n_parts`` contiguous ranges; the result is the same.

    Returns
    -------
    None
    """
    np.add(b, s * c, out=a)
