"""The one training loop of every estimator: iterations, loss and validation histories, early
stopping, progress, the user's callback, checkpoints and resume, divergence errors.

An estimator validates its parameters, builds a :class:`~fastl2.training.protocols.Trainer`
for its solver (SGD epochs, explicit or implicit ALS half-sweeps, on this machine or a Dask
cluster) and hands it to :meth:`FitLoop.run`. The loop never looks inside the trainer's
arrays except to save, restore and keep them, so a new model plugs in by writing a trainer.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..errors import TrainingDivergedError
from .checkpoint import Checkpoint
from .protocols import Trainer


def diverged(argument: str, what: str, expected: str, got: str) -> TrainingDivergedError:
    """The error of a fit whose numbers stopped being finite, worded like every input error:
    ``"<argument>: training <what>; expected <expected>, got <got>. The model was left
    unfitted."``"""
    return TrainingDivergedError(f"{argument}: training {what}; expected {expected}, got "
                                 f"{got}. The model was left unfitted.")


def check_finite(arrays: Mapping[str, tuple[np.ndarray, ...]], argument: str, expected: str,
                 got: str) -> None:
    """Raise :func:`diverged` naming the first label of ``arrays`` whose arrays hold a NaN or
    an infinity."""
    for label, group in arrays.items():
        if not all(np.isfinite(a).all() for a in group):
            raise diverged(argument, f"produced non-finite {label}", expected, got)


class Progress:
    """What a fit shows while it runs: a tqdm bar (``bar=True``, when tqdm is installed) or
    one line per iteration on stderr, made by ``line(iteration, loss, validation_loss,
    elapsed)``; nothing when disabled."""

    def __init__(self, total: int, enabled: bool, line: Callable[..., str], *,
                 bar: bool = False):
        self.enabled, self.total, self.line = bool(enabled), total, line
        self.bar = None
        if self.enabled and bar:
            try:  # deferred: tqdm is an optional dependency
                from tqdm.auto import tqdm
            except ImportError:
                return
            self.bar = tqdm(total=total)

    def update(self, iteration: int, loss: float | None, validation_loss: float | None,
               elapsed: float) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.update(1)
            if loss is not None:
                self.bar.set_postfix({"loss": f"{loss:.6f}"})
        else:
            print(self.line(iteration, loss, validation_loss, elapsed), file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class FitLoop:
    """Runs a trainer's iterations and keeps the fit's bookkeeping.

    Parameters
    ----------
    iterations : int
        Iterations (epochs, sweeps) to run in all, resumed ones included.
    progress : Progress
    callback : callable(iteration, elapsed, loss) or None
        Called after every iteration with the 0-based iteration, the seconds given by
        ``callback_elapsed`` and the iteration's loss (None when the trainer computes none).
    callback_elapsed : {"total", "iteration"}
        Seconds since the loop was made (``BiasedMF``), or spent in the iteration
        (``ImplicitALS``, as ``implicit``).
    validation : (users, items, values) arrays or None
        Held-out data, predicted by ``trainer.predict`` after every iteration (RMSE).
    patience : int or None
        With validation: stop after this many iterations without a better validation RMSE
        and keep the best iteration's ``trainer.params()``. Not None: the early-stopping
        state is part of a checkpoint (even without validation, so the file's contents do
        not depend on it).
    checkpoint : Checkpoint or None
    rng : numpy.random.Generator or None
        A generator the trainer draws from during training: its state is saved in, and
        restored from, a checkpoint.
    """

    def __init__(self, iterations: int, progress: Progress,
                 callback: Callable[[int, float, Any], Any] | None, *,
                 callback_elapsed: str = "total", validation: tuple | None = None,
                 patience: int | None = None, checkpoint: Checkpoint | None = None,
                 rng: np.random.Generator | None = None):
        self.iterations, self.progress, self.callback = iterations, progress, callback
        self.callback_elapsed = callback_elapsed
        self.validation, self.patience = validation, patience
        self.ckpt, self.rng = checkpoint, rng
        self.losses: list[float] = []
        self.validation_history: list[float] = []
        self.best: tuple[np.ndarray, ...] | None = None
        self.best_iteration = -1
        self.since_best = 0
        self.start = time.perf_counter()

    # ------------------------------------------------------------------ the loop
    def run(self, trainer: Trainer) -> tuple[np.ndarray, ...]:
        """Run ``trainer`` from the checkpoint's iteration (or 0) to ``iterations`` or an
        early stop; the parameters to keep (the best iteration's with validation data, else
        the last ones), brought up to date on this machine."""
        first = self._resume(trainer)
        try:
            for it in range(first, self.iterations):
                started = time.perf_counter()
                loss = trainer.step(it)
                stop = self._record(trainer, it, loss, started)
                if stop:
                    break
                self._save(trainer, it + 1)
            trainer.collect()
        finally:
            self.progress.close()
        return self._result(trainer.params())

    def _record(self, trainer: Trainer, it: int, loss: float | None, started: float) -> bool:
        """Histories, progress and callback after iteration ``it``; True to stop early."""
        if loss is not None:
            self.losses.append(loss)
        now = time.perf_counter()
        v_rmse = None
        if self.validation is not None:
            trainer.collect()  # validation predicts from the current parameters
            users, items, values = self.validation
            v_rmse = float(np.sqrt(np.mean((trainer.predict(users, items) - values) ** 2)))
            self.validation_history.append(v_rmse)
            if self.best is None or v_rmse < self.validation_history[self.best_iteration]:
                self.best = tuple(a.copy() for a in trainer.params())
                self.best_iteration, self.since_best = it, 0
            else:
                self.since_best += 1
        self.progress.update(it, loss, v_rmse, now - self.start)
        if self.callback is not None:
            since = self.start if self.callback_elapsed == "total" else started
            self.callback(it, now - since, loss)
        return (self.validation is not None and self.patience is not None
                and self.since_best >= self.patience)

    def _result(self, params: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
        if self.best is not None:
            return self.best
        self.best_iteration = len(self.losses) - 1
        return params

    # ------------------------------------------------------------------ checkpoints
    def _meta(self, trainer: Trainer) -> dict[str, Any]:
        meta: dict[str, Any] = {"losses": self.losses}
        if self.patience is not None:
            meta.update(val_history=self.validation_history, best_epoch=self.best_iteration,
                        since_best=self.since_best, has_best=self.best is not None)
        if self.rng is not None:
            meta["rng"] = _jsonable(self.rng.bit_generator.state)
        meta.update(trainer.meta())
        return meta

    def _save(self, trainer: Trainer, done: int) -> None:
        """Save the state after ``done`` iterations when a checkpoint is due; the trainer
        then restarts a cluster's lineage from it."""
        if self.ckpt is None or not self.ckpt.due(done):
            return
        trainer.collect()
        best = {} if self.best is None else {f"best_{n}": a for n, a in enumerate(self.best)}
        self.ckpt.save(done, {**trainer.arrays, **best}, self._meta(trainer))
        trainer.rebase()

    def _resume(self, trainer: Trainer) -> int:
        """With a checkpoint to resume from: its arrays copied into the trainer's, the
        bookkeeping and the generator's state restored; the first iteration to run."""
        if self.ckpt is None or self.ckpt.state is None:
            return 0
        meta = self.ckpt.restore(trainer.arrays)
        self.losses = list(meta.get("losses", []))
        if self.patience is not None:
            self.validation_history = meta["val_history"]
            self.best_iteration, self.since_best = meta["best_epoch"], meta["since_best"]
            if meta["has_best"]:
                saved = self.ckpt.state["arrays"]
                self.best = tuple(saved[f"best_{n}"] for n in range(len(trainer.params())))
        if self.rng is not None:
            self.rng.bit_generator.state = meta["rng"]
        trainer.restore(meta)
        return self.ckpt.start


def _jsonable(state: Any) -> Any:
    """A bit generator's state with its arrays (MT19937's key) as lists, for JSON."""
    if isinstance(state, dict):
        return {k: _jsonable(v) for k, v in state.items()}
    return state.tolist() if isinstance(state, np.ndarray) else state
