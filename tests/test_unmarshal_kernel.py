"""The reader of marshal bytes (``_kernels/unmarshal.read_pair_lists``) against its naive twin
(``fastl2._reference.unmarshal``: ``marshal.loads``, then ``numpy.fromiter`` over the chained
lists): the same arrays for every list it accepts, and a
refusal (-1, never a wrong array or a read past the end) for everything else."""

from __future__ import annotations

import itertools
import marshal

import numpy as np
import pytest

from fastl2._kernels.unmarshal import read_pair_lists
from fastl2._reference import unmarshal as ref

PAIR = np.dtype([("first", np.int64), ("second", np.float64)])


def twin(rows):
    """(first, second) of the twin on ``marshal.dumps(rows, 2)``, checked against
    ``numpy.fromiter`` over the chained lists."""
    buf = np.frombuffer(marshal.dumps(rows, 2), dtype=np.uint8)
    n = sum(len(r) for r in rows)
    first = np.full(n, -7, dtype=np.int64)
    second = np.full(n, np.nan)
    lengths = np.array([len(r) for r in rows], dtype=np.int64)
    assert ref.read_pair_lists(buf, lengths, first, second) == buf.size
    pairs = np.fromiter(itertools.chain.from_iterable(rows), dtype=PAIR)
    np.testing.assert_array_equal(first, pairs["first"])
    np.testing.assert_array_equal(second.view(np.int64), pairs["second"].view(np.int64))
    return first, second


def read(rows, lengths=None):
    """(status, first, second) of the kernel on ``marshal.dumps(rows, 2)``, checked against the
    twin's status (and arrays, when read)."""
    if lengths is None:
        lengths = np.array([len(r) for r in rows], dtype=np.int64)
    buf = np.frombuffer(marshal.dumps(rows, 2), dtype=np.uint8)
    n = int(lengths.sum())
    first = np.full(n, -7, dtype=np.int64)
    second = np.full(n, np.nan)
    status = read_pair_lists(buf, lengths, first, second)
    want_first = np.full(n, -7, dtype=np.int64)
    want_second = np.full(n, np.nan)
    assert ref.read_pair_lists(buf, lengths, want_first, want_second) == status
    if status >= 0:
        np.testing.assert_array_equal(first, want_first)
        np.testing.assert_array_equal(second.view(np.int64), want_second.view(np.int64))
    return status, buf.size, first, second


def test_reads_what_fromiter_reads():
    rng = np.random.default_rng(5)
    rows = []
    for length in rng.integers(0, 40, 50):
        ints = rng.integers(-2**31, 2**31, length).tolist()
        ints[: length // 3] = rng.integers(0, 300, length // 3).tolist()  # small, shared ints
        numbers = [float(x) for x in rng.standard_normal(length) * 1e3]
        numbers[::4] = [int(x) for x in rng.integers(-5, 6, len(numbers[::4]))]  # int ratings
        rows.append(list(zip(ints, numbers)))
    rows.append([])
    rows.append([(1, -0.0), (2, float("inf")), (3, float("nan")), (2**31 - 1, 5e-324),
                 (-2**31, -1.5)])
    status, size, first, second = read(rows)
    assert status == size
    want_first, want_second = twin(rows)
    np.testing.assert_array_equal(first, want_first)
    # bit for bit: the same doubles (NaN and -0.0 included)
    np.testing.assert_array_equal(second.view(np.int64), want_second.view(np.int64))


def test_shared_objects_are_read_each_time():
    r = 4.5
    rows = [[(7, r), (8, r)], [(7, r)]]
    status, size, first, second = read(rows)
    assert status == size
    np.testing.assert_array_equal(first, [7, 8, 7])
    np.testing.assert_array_equal(second, [4.5, 4.5, 4.5])


@pytest.mark.parametrize("rows", [
    [[(1, True)]],                       # a bool is not a number here
    [[(1.0, 2.0)]],                      # the first element must be an int
    [[(2**31, 2.0)]],                    # past int32: marshal writes a long
    [[(1, 2**40)]],
    [[(1, 2.0, 3.0)]],                   # not a pair
    [[(1,)]],
    [[[1, 2.0]]],                        # a list, not a tuple
    [[(1, np.float64(2.0))]],            # a float subclass: marshal writes its buffer
    [[(1, "2")]],
    [[(1, None)]],
    [[(1, 2.0)], ((2, 3.0),)],           # a row that is a tuple
])
def test_declines_anything_else(rows):
    status, *_ = read(rows)
    assert status == -1


def test_declines_wrong_lengths():
    rows = [[(1, 2.0), (3, 4.0)], [(5, 6.0)]]
    assert read(rows, np.array([2, 1]))[0] > 0
    assert read(rows, np.array([1, 2]))[0] == -1
    assert read(rows, np.array([2, 1, 0]))[0] == -1
    assert read(rows, np.array([2]))[0] == -1


def test_truncated_or_padded_bytes_are_refused():
    rows = [[(1, 2.0), (3, 4)], [], [(5, 6.0)]]
    lengths = np.array([2, 0, 1])
    full = np.frombuffer(marshal.dumps(rows, 2), dtype=np.uint8)
    first = np.empty(3, dtype=np.int64)
    second = np.empty(3)
    assert read_pair_lists(full, lengths, first, second) == full.size
    assert ref.read_pair_lists(full, lengths, first, second) == full.size
    for cut in range(full.size):  # every prefix: refused, no read past its end
        assert read_pair_lists(full[:cut].copy(), lengths, first, second) == -1
        assert ref.read_pair_lists(full[:cut].copy(), lengths, first, second) == -1
    padded = np.concatenate([full, np.zeros(3, dtype=np.uint8)])
    assert read_pair_lists(padded, lengths, first, second) == -1
    assert ref.read_pair_lists(padded, lengths, first, second) == -1
