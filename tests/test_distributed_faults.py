"""A worker killed during a distributed fit (its nanny restarts it): Dask recomputes what it
held and the fit gives the same bits, or, with ``on_worker_loss="raise"``, the fit stops with
a clear error and the model stays unfitted (skipped without dask.distributed)."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest
import scipy.sparse as sp

distributed = pytest.importorskip("distributed")

import fastl2  # noqa: E402
from fastl2 import distributed as fd  # noqa: E402
from fastl2.errors import DistributedFitError  # noqa: E402


@pytest.fixture
def client():
    """A cluster of its own per test: the kill must not leak into other tests."""
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=":0")
    with cluster, distributed.Client(cluster) as c:
        yield c


def _data(seed=0, n_users=1500, n_items=700):
    rng = np.random.default_rng(seed)
    m = sp.random(n_users, n_items, density=0.05, random_state=seed, format="csr")
    m.data = rng.integers(1, 6, m.nnz).astype(np.float64)
    return m


class _Killer:
    """SIGKILL one worker process once the fit has run ``delay`` seconds (as an OOM killer
    would); its nanny starts a new worker under a new address."""

    def __init__(self, client, delay):
        self.client = client
        worker = sorted(client.scheduler_info()["workers"])[1]
        self.pid = client.run(os.getpid, workers=[worker])[worker]
        self.killed_at = None
        self.thread = threading.Thread(target=self._kill, args=(delay,), daemon=True)

    def _kill(self, delay):
        time.sleep(delay)
        os.kill(self.pid, signal.SIGKILL)
        self.killed_at = time.perf_counter()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.thread.join()


def _pids(client):
    return set(client.run(os.getpid).values())


@pytest.mark.parametrize("model", [
    lambda: fastl2.ImplicitALS(factors=16, iterations=12, random_state=0),
    lambda: fastl2.BiasedMF(factors=8, iterations=16, n_blocks=4, random_state=0),
], ids=["implicit-als", "dsgd"])
def test_a_worker_killed_mid_fit_is_recomputed_to_the_same_bits(client, model):
    X = _data()
    local = model().fit(X, **({"show_progress": False}
                              if isinstance(model(), fastl2.ImplicitALS) else {}))
    fd.fit(model().set_params(iterations=1), X, client)  # compile first: the kill lands mid-fit
    before = _pids(client)
    with _Killer(client, delay=0.5) as killer:
        remote = fd.fit(model(), X, client)
        finished = time.perf_counter()
    assert killer.killed_at is not None and killer.killed_at < finished  # killed mid-fit
    np.testing.assert_array_equal(remote.user_factors_, local.user_factors_)
    np.testing.assert_array_equal(remote.item_factors_, local.item_factors_)
    client.wait_for_workers(2, timeout=60)
    assert killer.pid not in _pids(client) and _pids(client) != before  # restarted


def test_on_worker_loss_raise_stops_the_fit_with_a_clear_error(client):
    X = _data(seed=1)
    params = dict(factors=16, iterations=200, random_state=0)
    fd.fit(fastl2.ImplicitALS(**params | {"iterations": 1}), X, client)  # compile first
    model = fastl2.ImplicitALS(**params)
    with _Killer(client, delay=0.5):
        with pytest.raises(DistributedFitError, match="on_worker_loss.*lost worker"):
            fd.fit(model, X, client, on_worker_loss="raise")
    assert not hasattr(model, "user_factors_")


def test_on_worker_loss_is_checked(client):
    with pytest.raises(ValueError, match="on_worker_loss"):
        fd.fit(fastl2.ImplicitALS(), _data(), client, on_worker_loss="ignore")


def test_a_cluster_without_workers_is_named_after_a_wait(monkeypatch):
    from fastl2.distributed import _cluster

    monkeypatch.setattr(_cluster, "WORKER_WAIT", 0.5)
    with distributed.LocalCluster(n_workers=0, processes=True, dashboard_address=":0") as cl, \
            distributed.Client(cl) as c:
        start = time.perf_counter()
        with pytest.raises(ValueError, match="client: expected a cluster with at least one "
                                             "worker, got none after waiting 0.5 s"):
            fd.fit(fastl2.ImplicitALS(factors=4, iterations=1), _data(), c)
        assert time.perf_counter() - start >= 0.5  # it did wait
