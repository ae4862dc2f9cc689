"""The thread-count context manager restores the previous count, even on error."""

import threading

import numba
import pytest

from fastl2._threads import max_threads, resolve_num_threads, thread_limit


def test_restores_after_body_and_after_error():
    before = numba.get_num_threads()
    with thread_limit(1) as n:
        assert n == 1 and numba.get_num_threads() == 1
    assert numba.get_num_threads() == before
    with pytest.raises(RuntimeError):
        with thread_limit(1):
            raise RuntimeError("boom")
    assert numba.get_num_threads() == before


def test_zero_means_all_and_cap():
    assert resolve_num_threads(0) == max_threads()
    assert resolve_num_threads(10_000) == max_threads()
    with thread_limit(0) as n:
        assert numba.get_num_threads() == max_threads() == n


def test_per_python_thread():
    seen = {}

    def worker():
        with thread_limit(1):
            seen["inner"] = numba.get_num_threads()

    with thread_limit(0):
        t = threading.Thread(target=worker)
        t.start()
        t.join()
        assert numba.get_num_threads() == max_threads()
    assert seen["inner"] == 1
