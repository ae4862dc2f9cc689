"""Reading lists of (int, number) pairs from CPython's ``marshal`` bytes.

``marshal.dumps(rows, 2)`` walks a list of lists of tuples in C, faster than any Python-level
iteration over the same objects; this kernel then reads the bytes into arrays. Format
version 2 writes no object references (versions 3 and later look every shared object up in
a hash table, which makes writing several times slower). The kernel accepts only the subset
such data produces:

- a list: ``[`` and its length (int32);
- a pair: ``(`` and the int32 2, then its two elements;
- the pair's first element an int (``i`` and the int32), its second an int or a float
  (``g`` and the IEEE double). All integers are little-endian.

Anything else (a bool, an int past int32, a tuple of another length, a list of another
length than expected, bytes left over) makes the kernel return ``-1`` and the caller reads
the objects the slow way: the kernel never guesses.
"""

import numba
import numpy as np

from ._flags import CACHE

_LIST = ord("[")
_TUPLE = ord("(")
_INT = ord("i")
_FLOAT = ord("g")


@numba.njit(nogil=True, inline="always")
def _int32(buf, pos):  # pragma: no cover - compiled
    """The little-endian int32 at ``buf[pos:pos + 4]``."""
    v = (np.int64(buf[pos]) | (np.int64(buf[pos + 1]) << 8) | (np.int64(buf[pos + 2]) << 16)
         | (np.int64(buf[pos + 3]) << 24))
    return v - (np.int64(1) << 32) if v >= (np.int64(1) << 31) else v


@numba.njit(nogil=True, cache=CACHE)
def read_pair_lists(buf, lengths, first, second):  # pragma: no cover - compiled
    """Fill ``first`` (int64) and ``second`` (float64) from the marshal (version 2) bytes of a
    list of ``lengths.size`` lists of pairs, list ``u`` holding ``lengths[u]`` pairs.

    Returns the number of bytes read (all of ``buf``), or -1 when ``buf`` is not exactly such
    data (see the module docstring).

    Parameters
    ----------
    buf : numpy.ndarray of uint8, shape (n_bytes,)
        The bytes of ``marshal.dumps(rows, 2)``; not modified.
    lengths : numpy.ndarray of int, shape (n_rows,)
        The number of pairs expected in each list.
    first : numpy.ndarray of int64, shape (>= lengths.sum(),)
        Written in place: the pairs' first elements, list after list.
    second : numpy.ndarray of float64, shape (>= lengths.sum(),)
        Written in place: the pairs' second elements (ints converted exactly).

    Returns
    -------
    int
        ``buf.size``, or -1 (``first`` and ``second`` then partly written, not to be read).
    """
    n = buf.size
    bits = np.empty(1, dtype=np.int64)
    as_double = bits.view(np.float64)
    pos = 0
    j = 0
    for row in range(-1, lengths.size):
        # a list header: the outer list (row -1), then one per row
        if pos + 5 > n or buf[pos] != _LIST:
            return -1
        if _int32(buf, pos + 1) != (lengths.size if row < 0 else lengths[row]):
            return -1
        pos += 5
        if row < 0:
            continue
        for _ in range(lengths[row]):
            # "(" 2 "i" int32, then "i" int32 or "g" double: 15 or 19 bytes
            if pos + 15 > n or buf[pos] != _TUPLE or _int32(buf, pos + 1) != 2 \
                    or buf[pos + 5] != _INT:
                return -1
            first[j] = _int32(buf, pos + 6)
            code = buf[pos + 10]
            if code == _INT:
                second[j] = np.float64(_int32(buf, pos + 11))
                pos += 15
            elif code == _FLOAT and pos + 19 <= n:
                v = np.int64(0)
                for b in range(8):
                    v |= np.int64(buf[pos + 11 + b]) << (8 * b)
                bits[0] = v
                second[j] = as_double[0]
                pos += 19
            else:
                return -1
            j += 1
    return pos if pos == n else -1
