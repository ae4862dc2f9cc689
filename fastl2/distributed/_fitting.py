"""``fastl2.distributed.fit``: a model's own training loop on data held by a Dask cluster."""

from __future__ import annotations

import functools
import os
from concurrent.futures import CancelledError
from typing import Any

from .._validation import check_bool, check_choice, check_int, fail
from ..errors import DistributedFitError
from ..models.base import as_interactions
from ..models.fitting import Trainable
from ._cluster import Watch, workers_of
from ._data import cluster_data


def fit(model: Any, data: Any, client: Any, *, n_blocks: int | None = None,
        validation: Any = None, columns: tuple = ("user", "item", "rating"),
        duplicates: str = "raise", on_worker_loss: str = "recompute",
        show_progress: bool = False, callback: Any = None, checkpoint: Any = None,
        checkpoint_every: int = 5, resume: bool = False,
        max_broadcast_bytes: int = 1 << 30) -> Any:
    """Fit ``model`` on the Dask cluster of ``client``; returns the model, fitted as by
    ``model.fit`` on the same data on one machine (the same factors, bit for bit).

    Parameters
    ----------
    model : fastl2.BiasedMF (solver "sgd" or "als") or fastl2.ImplicitALS
        Its parameters apply; ``num_threads`` is the number of Numba threads of each ALS
        task on a worker (0: all the worker machine's cores). SGD runs one block per task
        (the grid is the model's ``n_blocks × n_blocks``, as locally).
    data : dask.dataframe.DataFrame, Interactions, scipy.sparse matrix or anything
        ``model.fit`` takes
        A Dask DataFrame (e.g. ``dask.dataframe.read_parquet`` of a folder every worker can
        read) is read on the workers: its distinct ids are found there and only they come
        to the client (to build the id maps, sorted as ``Interactions`` sorts them); the
        entries go from the partitions to the blocks between workers. The fit equals
        ``model.fit(Interactions.from_dataframe(data.compute(), *columns,
        duplicates=duplicates))``.
    client : dask.distributed.Client
    n_blocks : int, optional
        ALS: row blocks per side, at most 64; default twice the number of workers (any
        number gives the same factors). Not for SGD, whose grid is the model's.
    validation : optional
        ``BiasedMF`` only: held-out ratings for early stopping, as in ``BiasedMF.fit`` (on
        the client; the factors are then gathered after every iteration, to predict them).
    columns : (str, str, str or None), default ("user", "item", "rating")
        A Dask DataFrame's user, item and value columns; a value column of None means
        implicit feedback with every value 1.
    duplicates : {"raise", "last", "sum", "mean", "max"}, default "raise"
        A Dask DataFrame's repeated (user, item) pairs, as in
        :meth:`fastl2.Interactions.from_arrays` (input order is partition order, then row
        order).
    on_worker_loss : {"recompute", "raise"}, default "recompute"
        A worker lost during the fit (say restarted by its nanny): ``"recompute"`` lets Dask
        recompute what it held from the tasks it keeps (the input's blocks travel inside
        tasks, never by ``scatter``, so nothing is unrecoverable; the result is the same
        bits, later); ``"raise"`` stops the fit before the next iteration with
        :class:`~fastl2.errors.DistributedFitError`.
    show_progress, callback :
        As in the model's ``fit`` (called on the client after every iteration).
    checkpoint : str or PathLike, optional
        A file (``.npz``) where the training state is saved every ``checkpoint_every``
        iterations: factors (and biases, AdaGrad sums), iterations done, histories and the
        generator's state, written atomically as models are. Saving also restarts the
        factors' lineage on the cluster from the saved arrays, so a worker lost later is
        recomputed from the checkpoint, not from the first iteration.
    checkpoint_every : int, default 5
    resume : bool, default False
        Continue from the state in ``checkpoint`` when that file exists (it must come from
        the same model class, parameters and data: shape, ids and entries per user); the
        result is the same bits as an uninterrupted fit. Without ``resume`` an existing
        ``checkpoint`` file is refused, never overwritten.

    max_broadcast_bytes : int, default 2**30
        ALS: a side whose factors take at most this many bytes is sent whole to every worker
        in each half-sweep; a larger one in out-blocks: each block receives, from each block
        of that side, only the rows its entries reference (Spark MLlib's in/out blocks).
        Both give the same bits.

    Returns
    -------
    The fitted model: its factors are ordinary NumPy arrays on the client, so ``recommend``,
    ``save`` and the rest work unchanged.

    Raises
    ------
    fastl2.errors.DistributedFitError
        A worker was lost with ``on_worker_loss="raise"``, or Dask gave up on a task (it
        killed its workers more than ``distributed.scheduler.allowed-failures`` times, or its
        inputs were lost). The model is left unfitted.
    """
    workers = workers_of(client)
    check_choice("on_worker_loss", on_worker_loss, ("recompute", "raise"))
    saving = None
    if checkpoint is not None:
        if not isinstance(checkpoint, (str, os.PathLike)):
            fail("checkpoint", "a file path (str or os.PathLike) or None", checkpoint,
                 type_error=True)
        saving = (checkpoint, check_int("checkpoint_every", checkpoint_every, minimum=1),
                  check_bool("resume", resume))
    if not isinstance(model, Trainable):
        fail("model", "a fastl2.ImplicitALS or fastl2.BiasedMF", model, type_error=True)
    model._check_distributed(n_blocks, validation)  # what this model cannot take here
    blocks = min(2 * len(workers), 64) if n_blocks is None else check_int(
        "n_blocks", n_blocks, minimum=1)
    if blocks > 64:
        fail("n_blocks", "at most 64 (the fixed row ranges of YᵀY, which blocks follow)",
             n_blocks)
    max_broadcast = check_int("max_broadcast_bytes", max_broadcast_bytes, minimum=0)
    name = model._input_name
    source_of = functools.partial(
        cluster_data, data, client=client, workers=workers, n_blocks=blocks, name=name,
        columns=columns, duplicates=duplicates, watch=Watch(client, workers, on_worker_loss),
        max_broadcast=max_broadcast,
        as_interactions=functools.partial(as_interactions, name=name))
    # deferred: optional dependency (dask.distributed: fastl2.distributed imports without it)
    from distributed import KilledWorker
    from distributed.comm.core import CommClosedError

    try:
        return model._fit(source_of, validation=validation, show_progress=show_progress,
                          callback=callback, checkpoint=saving)
    except (KilledWorker, CancelledError, CommClosedError) as exc:
        raise DistributedFitError(
            f"client: the cluster could not finish the fit (expected every task to complete; "
            f"got {type(exc).__name__}: {exc}). The model was left unfitted.") from exc
