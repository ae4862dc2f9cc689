"""The fit shared by every trained estimator: one ``_fit`` with one signature, used by
``fit`` on this machine and by :func:`fastl2.distributed.fit` on a Dask cluster.

An estimator provides the hooks below (validated parameters, preparing the data, its
trainer, its fitted attributes); :meth:`Trainable._fit` runs them around the one training
loop, :class:`fastl2.training.loop.FitLoop`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .._threads import thread_limit
from .._validation import Detail, check_callable, check_random_state, fail
from ..training.checkpoint import Checkpoint
from ..training.protocols import DataSource


class Trainable:
    """Mixin of the estimators trained by :class:`~fastl2.training.loop.FitLoop`.

    An estimator provides (see :class:`fastl2.BiasedMF`, :class:`fastl2.ImplicitALS`):

    - ``_input_name``, ``_needs`` and ``_entries``: the training data's argument name, what
      it must hold and what its entries are, for the error raised on data without any;
    - ``_checked_params()``: the validated parameter bundle (a frozen dataclass with at
      least ``dtype``, ``num_threads`` and ``iterations``);
    - ``_prepare(data, params)``: data checks and conversions before training (optional);
      then the data is refused when it holds no entry (:meth:`_require_entries`);
    - ``_context(data, params)``: what the later hooks need from the data (e.g. the global
      mean), passed to them as ``context`` (optional, default None);
    - ``_fit_loop(data, params, validation, show_progress, callback, checkpoint, rng)``:
      the :class:`~fastl2.training.loop.FitLoop` with the estimator's progress, callback and
      early-stopping conventions;
    - ``_trainer(data, params, context, rng, n_threads)``: the solver's trainer;
    - ``_set_fitted(data, params, context, trainer, loop, arrays)``: the fitted attributes,
      from the trainer's output ``arrays``;
    - ``_check_distributed(n_blocks, validation)``: what :func:`fastl2.distributed.fit`
      cannot take for this estimator, and ``_random_generator()``: the fit's generator from
      ``random_state`` (both optional).
    """

    _input_name = "X"
    _needs = "at least one rating"
    _entries = "ratings"

    def _check_distributed(self, n_blocks: int | None, validation: Any) -> None:
        """Refuse arguments of :func:`fastl2.distributed.fit` this model cannot take."""

    def _prepare(self, data: DataSource, params: Any) -> None:
        """Check and convert the data before training (nothing by default)."""

    def _context(self, data: DataSource, params: Any) -> Any:
        """What the trainer and the fitted attributes need from the data (nothing by
        default)."""
        return None

    def _random_generator(self) -> np.random.Generator:
        """The fit's generator from ``random_state`` (None, an int seed or a Generator)."""
        return check_random_state("random_state", self.random_state)

    def _require_entries(self, data: DataSource) -> None:
        """Refuse training data without entries (a 0×0 matrix, or none left to train on)."""
        if data.nnz == 0:
            n_rows, n_cols = data.shape
            fail(self._input_name, self._needs,
                 Detail(f"a {n_rows}×{n_cols} matrix without {self._entries}"))

    def _fit(self, source_of: Callable[[np.dtype], DataSource], *, validation: Any = None,
             show_progress: Any = False, callback: Any = None,
             checkpoint: tuple | None = None) -> Any:
        """Fit on the training data ``source_of(dtype)``: a
        :class:`fastl2.training.source.Local` for ``fit``, blocks on a Dask cluster in
        :mod:`fastl2.distributed` (which runs the epochs or half-sweeps where the data is).
        With ``checkpoint`` = (path, every, resume), see
        :class:`fastl2.training.checkpoint.Checkpoint`."""
        params = self._checked_params()
        check_callable("callback", callback)
        data = source_of(params.dtype)
        self._prepare(data, params)
        self._require_entries(data)
        context = self._context(data, params)
        rng = self._random_generator()
        ckpt = None if checkpoint is None else Checkpoint(*checkpoint, self, data.fingerprint())
        self._clear_fitted()
        loop = self._fit_loop(data, params, validation, show_progress, callback, ckpt, rng)
        with thread_limit(params.num_threads) as n_threads:
            trainer = self._trainer(data, params, context, rng, n_threads)
            kept = loop.run(trainer)
        self._set_fitted(data, params, context, trainer, loop, trainer.output(kept))
        return self
