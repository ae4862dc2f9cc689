"""Checkpoints of a fit in progress: its training state every N iterations, and resuming.

A checkpoint is one ``.npz`` file written as models are (:mod:`fastl2.persistence`: atomic
replace, SHA-256 checksum, ``allow_pickle=False``), with the format marker
``fastl2-checkpoint``. It holds the arrays the training loop updates, the number of
iterations done, the loop's bookkeeping (losses, validation history, the random generator's
state where the loop draws from it) and a key: the model's class and parameters and a
fingerprint of the data (shape, id maps, entries per user). A fit resumed from it continues
with exactly the state it would have had, so it ends with the same bits as a fit that was
never interrupted.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import numpy as np

from .._validation import Detail, fail
from ..persistence import _json_params, read_checked, write_checked

FORMAT = "fastl2-checkpoint"
# parameters a resumed fit may change: how long it runs, on how many threads
_FREE = ("iterations", "num_threads")


def fingerprint(shape: tuple[int, int], user_ids: np.ndarray, item_ids: np.ndarray,
                row_counts: np.ndarray) -> str:
    """What identifies the training data for a checkpoint: shape, ids, entries per user (the
    values are not read: that would cost a pass over the data)."""
    h = hashlib.sha256(repr(tuple(int(n) for n in shape)).encode())
    for a in (user_ids, item_ids, np.asarray(row_counts, dtype=np.int64)):
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


class Checkpoint:
    """Where a fit saves its state every ``every`` iterations, and the state it resumes from.

    Parameters
    ----------
    path : str or PathLike
        The checkpoint file (``.npz`` appended when missing).
    every : int
        Save after every ``every`` iterations.
    resume : bool
        An existing file at ``path`` is resumed from (it must be a checkpoint of the same
        model and data); without ``resume`` an existing file is refused, never overwritten.
    model : estimator
        Its class and parameters are part of the key, except ``iterations`` and
        ``num_threads`` (a resumed fit may run longer, on other threads).
    data_key : str
        :func:`fingerprint` of the training data.
    """

    def __init__(self, path: Any, every: int, resume: bool, model: Any, data_key: str):
        path = os.fspath(path)
        self.path = path if path.endswith(".npz") else path + ".npz"
        self.every = every
        params = json.loads(_json_params(model))
        for free in _FREE:
            params.pop(free, None)
        self.key = json.dumps([type(model).__name__, params, data_key], sort_keys=True)
        self.state: dict[str, Any] | None = None
        if os.path.exists(self.path):
            if not resume:
                fail("checkpoint", "a path where no file exists yet (pass resume=True to "
                     "continue the fit saved there)", Detail(f"{self.path!r} exists"))
            self.state = self._read()

    def _read(self) -> dict[str, Any]:
        arrays = read_checked(self.path, FORMAT, "checkpoint")
        if str(arrays.pop("__key__")) != self.key:
            fail("checkpoint", "a checkpoint of this model and data (same class, parameters, "
                 "ids and entries per user)", Detail(f"{self.path!r}, written by another fit"))
        meta = json.loads(str(arrays.pop("__meta__")))
        meta["iterations_done"] = int(arrays.pop("__iterations_done__"))
        return {"arrays": arrays, "meta": meta}

    @property
    def start(self) -> int:
        """Iterations already done (0 for a new fit)."""
        return 0 if self.state is None else self.state["meta"]["iterations_done"]

    def restore(self, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
        """Copy the saved arrays into ``arrays`` (same names, shapes and dtypes); the saved
        bookkeeping, or ``{}`` for a new fit."""
        if self.state is None:
            return {}
        saved = self.state["arrays"]
        for name, dst in arrays.items():
            src = saved[name]
            if src.shape != dst.shape or src.dtype != dst.dtype:
                fail("checkpoint", f"{name} of shape {dst.shape} and dtype {dst.dtype}",
                     Detail(f"shape {src.shape} and dtype {src.dtype} in {self.path!r}"))
            dst[...] = src
        return self.state["meta"]

    def due(self, done: int) -> bool:
        return done % self.every == 0

    def save(self, done: int, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        """Write the state after ``done`` iterations (atomically: a failure keeps the
        previous checkpoint)."""
        payload = dict(arrays)
        payload["__key__"] = np.array(self.key)
        payload["__meta__"] = np.array(json.dumps(meta))
        payload["__iterations_done__"] = np.array(done, dtype=np.int64)
        write_checked(self.path, FORMAT, payload)
