"""What every distributed fit needs from the Dask client: its workers and task placement."""

from __future__ import annotations

from typing import Any

from .._validation import fail


def workers_of(client: Any) -> list[str]:
    """The addresses of the client's workers, sorted; a named error for anything else."""
    if not (hasattr(client, "scheduler_info") and hasattr(client, "submit")):
        fail("client", "a dask.distributed.Client", client, type_error=True)
    workers = sorted(client.scheduler_info()["workers"])
    if not workers:
        fail("client", "a cluster with at least one worker", "a cluster with none")
    return workers


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
