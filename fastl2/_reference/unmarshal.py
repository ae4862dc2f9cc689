"""NumPy twin of :mod:`fastl2._kernels.unmarshal`: CPython's own ``marshal.loads``, a check
that the objects are exactly the subset the kernel reads, and ``numpy.fromiter`` over the
chained lists."""

from __future__ import annotations

import itertools
import marshal

import numpy as np

_PAIR = np.dtype([("first", np.int64), ("second", np.float64)])
_I32 = (-2**31, 2**31)


def _is_int32(x) -> bool:
    return type(x) is int and _I32[0] <= x < _I32[1]


def read_pair_lists(buf, lengths, first, second):
    """Same signature and effect as the kernel.

    Parameters
    ----------
    buf : numpy.ndarray of uint8, shape (n_bytes,)
        The bytes of ``marshal.dumps(rows, 2)``; not modified.
    lengths : numpy.ndarray of int64, shape (n_rows,)
        ``lengths[u]`` is the number of pairs expected in list ``u``.
    first : numpy.ndarray of int64, shape (>= lengths.sum(),)
        Output: the pairs' first elements, in order, list after list.
    second : numpy.ndarray of float64, shape (>= lengths.sum(),)
        Output: the pairs' second elements as float64 (ints converted exactly).

    Returns
    -------
    int
        ``buf.size`` when ``buf`` is exactly such data: a list of ``lengths.size`` lists,
        list ``u`` of ``lengths[u]`` tuples ``(int32, int32 or float)`` (exact types: no bool,
        no subclass), written by version 2 and nothing left over. Otherwise -1, and the twin
        writes nothing (the kernel may have written part of ``first`` and ``second``).
    """
    raw = buf.tobytes()
    try:
        rows = marshal.loads(raw)
    except (EOFError, ValueError, TypeError):
        return -1
    if type(rows) is not list or len(rows) != lengths.size:
        return -1
    for row, length in zip(rows, lengths.tolist()):
        if type(row) is not list or len(row) != length:
            return -1
        for pair in row:
            if type(pair) is not tuple or len(pair) != 2 or not _is_int32(pair[0]):
                return -1
            if not (_is_int32(pair[1]) or type(pair[1]) is float):
                return -1
    if marshal.dumps(rows, 2) != raw:  # bytes left over, or not written by version 2
        return -1
    pairs = np.fromiter(itertools.chain.from_iterable(rows), dtype=_PAIR)
    first[:pairs.size] = pairs["first"]
    second[:pairs.size] = pairs["second"]
    return buf.size
