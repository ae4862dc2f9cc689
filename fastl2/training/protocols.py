"""What the training layer asks of its parts, as ``typing.Protocol`` classes.

- :class:`DataSource`: where a fit's data lives. :class:`fastl2.training.source.Local` holds
  it in this process; ``fastl2.distributed``'s ``ClusterData`` holds it in blocks on Dask
  workers. Both answer the same questions, so one training loop serves both and gives the
  same bits.
- :class:`Sweeper` and :class:`Epochs`: one iteration of ALS (half-sweeps over users, then
  items) or of SGD (an epoch over the block grid), run in this process or as Dask tasks.
- :class:`Trainer`: what :class:`fastl2.training.loop.FitLoop` runs: one solver on one data
  source, with the arrays a checkpoint saves.

``tests/test_training_layer.py`` checks that the local and Dask classes provide every member.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .params import ExplicitSweepParams, ImplicitSweepParams, SGDParams


@runtime_checkable
class Sweeper(Protocol):
    """ALS iterations on fixed data: ``iteration`` updates the factor (and bias) arrays it is
    given, in place on this machine or on the cluster until ``collect``."""

    n_fallback: int  # row systems solved with the fallback ridge so far

    def iteration(self, *arrays: np.ndarray) -> float | None:
        """One iteration; explicit ALS returns the training RMSE, implicit ALS None."""

    def collect(self, *arrays: np.ndarray) -> None:
        """Bring ``arrays`` up to date on this machine."""

    def rebase(self) -> None:
        """Restart the arrays' lineage from this machine's copies (after a checkpoint)."""


@runtime_checkable
class ImplicitSweeper(Sweeper, Protocol):
    def loss(self, X: np.ndarray, Y: np.ndarray) -> float:
        """Implicit ALS's training objective on the current factors."""


@runtime_checkable
class Epochs(Protocol):
    """SGD epochs over a block grid, updating an :class:`fastl2.training.sgd.State`."""

    def run(self, strata: np.ndarray) -> tuple[np.ndarray, bool]:
        """One epoch over ``strata``: squared errors per block, and whether every bias is
        still finite."""

    def collect(self) -> None:
        """Bring the state up to date on this machine."""

    def rebase(self) -> None:
        """Restart the state's lineage from this machine's copy (after a checkpoint)."""


@runtime_checkable
class DataSource(Protocol):
    """Training data as the training loop sees it."""

    shape: tuple[int, int]
    nnz: int  # stored entries (after ``prepare_implicit``: those it kept)
    user_map: Any
    item_map: Any
    rating_scale: Any

    def fingerprint(self) -> str:
        """What identifies the data in a checkpoint (shape, ids, entries per user)."""

    def mean(self) -> float:
        """The mean value, summed per user row and then over the rows."""

    def value_range(self) -> tuple[float, float]:
        """The smallest and largest value."""

    def explicit_sweeps(self, factors: int, params: ExplicitSweepParams, n_threads: int,
                        dtype: np.dtype) -> Sweeper:
        """Explicit biased ALS on this data."""

    def grid(self, n_blocks: int, dtype: np.dtype) -> Any:
        """The SGD block grid (:class:`fastl2.training.blocking.BlockGrid` or its cluster
        twin)."""

    def sgd_epochs(self, grid: Any, state: Any, params: SGDParams, n_threads: int) -> Epochs:
        """SGD epochs on ``grid``, updating ``state``."""

    def prepare_implicit(self, confidence: Callable[[np.ndarray], np.ndarray],
                         name: str) -> int:
        """Values checked finite (errors name ``name``), zeros dropped, values replaced by
        the signed confidences; the number of entries kept."""

    def implicit_sweeps(self, factors: int, params: ImplicitSweepParams, n_threads: int,
                        dtype: np.dtype) -> ImplicitSweeper:
        """Implicit ALS on the prepared data."""


class Trainer(Protocol):
    """One solver on one data source, as :class:`fastl2.training.loop.FitLoop` runs it."""

    arrays: dict[str, np.ndarray]  # the training state a checkpoint saves, by name

    def step(self, iteration: int) -> float | None:
        """Run iteration ``iteration``; its training loss (None when not computed)."""

    def collect(self) -> None:
        """Bring ``arrays`` up to date on this machine."""

    def rebase(self) -> None:
        """Restart a cluster's lineage from ``arrays`` (after a checkpoint)."""

    def params(self) -> tuple[np.ndarray, ...]:
        """The arrays early stopping keeps (views of the current state)."""

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Predictions for user and item indices from the current parameters."""

    def meta(self) -> dict[str, Any]:
        """The trainer's own bookkeeping for a checkpoint (JSON-able)."""

    def restore(self, meta: dict[str, Any]) -> None:
        """Take the bookkeeping back from a checkpoint's ``meta``."""

    def output(self, params: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
        """The model's arrays, in id order, from kept ``params``."""
