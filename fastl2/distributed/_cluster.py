"""What every distributed fit needs from the Dask client: its workers and task placement."""

from __future__ import annotations

import warnings
from typing import Any

from .._validation import Detail, fail
from ..errors import DistributedFitError


WORKER_WAIT = 30.0  # seconds to wait for a first worker (one restarting, an adaptive cluster)


def workers_of(client: Any) -> list[str]:
    """The addresses of the client's workers, sorted, after waiting up to ``WORKER_WAIT``
    seconds for at least one; a named error for anything else."""
    if not (hasattr(client, "scheduler_info") and hasattr(client, "submit")):
        fail("client", "a dask.distributed.Client", client, type_error=True)
    workers = sorted(client.scheduler_info()["workers"])
    if not workers:
        try:
            client.wait_for_workers(1, timeout=WORKER_WAIT)
        except TimeoutError:
            pass
        workers = sorted(client.scheduler_info()["workers"])
    if not workers:
        fail("client", "a cluster with at least one worker", Detail(
            f"none after waiting {WORKER_WAIT:g} s"))
    return workers


class Watch:
    """The fit's view of the cluster's workers: with ``on_worker_loss="raise"``,
    :meth:`check` (called before every iteration) stops the fit once a worker it started
    with has left (a worker restarted by its nanny comes back under a new address)."""

    def __init__(self, client: Any, workers: list[str], on_worker_loss: str):
        self.client, self.start, self.policy = client, set(workers), on_worker_loss
        self.iteration = 0

    def check(self) -> None:
        if self.policy == "raise":
            lost = self.start - set(self.client.scheduler_info()["workers"])
            if lost:
                raise DistributedFitError(
                    f"on_worker_loss: the fit lost worker(s) {sorted(lost)} before iteration "
                    f"{self.iteration + 1} and on_worker_loss='raise' stops it (expected "
                    "every worker to stay; got a loss). The model was left unfitted; "
                    "on_worker_loss='recompute' lets Dask recompute what was lost.")
        self.iteration += 1


def on_worker(client: Any, worker: str | None, fn: Any, *args: Any) -> Any:
    """``fn(*args)`` as a task, preferably on ``worker`` (where its data is). Other workers
    are allowed, so that a task whose worker was lost (and restarted under a new address)
    runs elsewhere instead of waiting forever; ``pure=False``: every call is a new task."""
    if worker is None:
        return client.submit(fn, *args, pure=False)
    return client.submit(fn, *args, workers=[worker], allow_other_workers=True, pure=False)


def item(result: tuple, i: int) -> Any:
    """Element ``i`` of a task's tuple of results (a task of its own, so that only that
    element moves to the workers that need it)."""
    return result[i]


def put(client: Any, worker: str | None, value: Any) -> Any:
    """``value`` placed on ``worker`` as a task that returns it: its data travels in the task,
    which the scheduler keeps, so Dask can recompute it on another worker if this one is lost
    (``client.scatter`` data cannot be recomputed)."""
    with warnings.catch_warnings():  # deliberate: the price of recomputable data
        warnings.filterwarnings("ignore", message="Sending large graph", category=UserWarning)
        return on_worker(client, worker, _identity, value)


def _identity(value: Any) -> Any:
    return value


def tree_sum(client: Any, parts: list[Any]) -> Any:
    """The sum of the arrays ``parts`` (futures) as one future, added pairwise on the
    workers (a tree of depth log2(len(parts)); no array comes to the client)."""
    while len(parts) > 1:
        parts = [client.submit(_add, *parts[j:j + 2], pure=False)
                 for j in range(0, len(parts), 2)]
    return parts[0]


def _add(*arrays: Any) -> Any:
    total = arrays[0]
    for a in arrays[1:]:
        total = total + a
    return total
