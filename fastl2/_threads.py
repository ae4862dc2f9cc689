"""The one place that changes Numba's thread count.

``numba.set_num_threads`` acts on the calling Python thread only, and the ``omp`` threading
layer accepts concurrent parallel launches from several Python threads, so a context manager
that sets and restores the count around a fit is safe to use from many threads at once.
It is also re-entrant: each block remembers the count it found (a local, no shared stack), so
nested blocks unwind in order in every thread (``tests/test_concurrency.py``).
Nothing here runs at import time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numba


def max_threads() -> int:
    """Number of threads Numba may use at most (``NUMBA_NUM_THREADS``)."""
    return int(numba.config.NUMBA_NUM_THREADS)


def resolve_num_threads(num_threads: int) -> int:
    """Map the user's ``num_threads`` (0 = all cores, as in ``implicit``) to a count."""
    if num_threads == 0:
        return max_threads()
    return min(int(num_threads), max_threads())


@contextlib.contextmanager
def thread_limit(num_threads: int) -> Iterator[int]:
    """Run the body with ``num_threads`` Numba threads, restoring the previous count after.

    Parameters
    ----------
    num_threads : int
        0 means all cores; values above ``NUMBA_NUM_THREADS`` are capped.

    Yields
    ------
    int
        The thread count in force inside the block.
    """
    n = resolve_num_threads(num_threads)
    previous = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        yield n
    finally:
        numba.set_num_threads(previous)
