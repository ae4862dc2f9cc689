"""``implicit``'s models with implicit 0.7.3's constructor signatures, defaults and semantics,
trained by fastl2's kernels.

Change one import and keep the rest of an ``implicit`` pipeline::

    from fastl2.compat.implicit import AlternatingLeastSquares
    # was: from implicit.als import AlternatingLeastSquares

:class:`AlternatingLeastSquares` (also ``fastl2.AlternatingLeastSquares``) is
:class:`fastl2.ImplicitALS` with implicit's meaning of the data: the confidence of an entry is
``alpha · r`` as implicit computes it from the matrix it is given (``fastl2.ImplicitALS``
defaults to Hu et al.'s ``1 + alpha · r``), and implicit's constructor, including
``use_gpu`` and a ``numpy.random.RandomState`` as ``random_state``.

implicit is not needed to use this module.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp

from .._validation import Detail, check_random_state, fail
from ..models.implicit_als import ImplicitALS

__all__ = ["AlternatingLeastSquares", "ParameterWarning"]


class ParameterWarning(Warning):
    """What implicit warns with about an argument it converts (non-CSR input); used when
    implicit is not installed (with it, implicit's own ``implicit.utils.ParameterWarning``,
    so that code catching that class keeps working)."""


def _parameter_warning() -> type:
    try:  # deferred: optional dependency (implicit), asked for only when warning
        from implicit.utils import ParameterWarning as theirs
    except ImportError:
        return ParameterWarning
    return theirs


def _csr(name: str, matrix: Any) -> Any:
    """``matrix`` unchanged, or converted to CSR with implicit's ``ParameterWarning`` when it
    is another sparse format (implicit's ``check_csr``)."""
    if sp.issparse(matrix) and matrix.format != "csr":
        warnings.warn(f"{name}: expected a CSR matrix, got {type(matrix).__name__}; "
                      "converting it (as implicit does)", _parameter_warning(), stacklevel=3)
        return matrix.tocsr()
    return matrix


class AlternatingLeastSquares(ImplicitALS):
    """Weighted ALS for implicit feedback, as ``implicit.als.AlternatingLeastSquares``
    (0.7.3) defines it: same parameters, defaults and confidence ``c_ui = alpha · |r_ui|``.

    Parameters
    ----------
    factors : int, default 100
    regularization : float, default 0.01
    alpha : float, default 1.0
        Confidence scale: an entry's weight is ``alpha`` times its value (> 0).
    dtype : float32 or float64, default float32
    use_native : bool, default True
        Accepted for compatibility; fastl2 always runs its compiled kernels.
    use_cg : bool, default True
        Conjugate gradient (3 steps per row and half-sweep, as implicit) instead of Cholesky.
    use_gpu : bool, default False
        fastl2 has no GPU kernels: True trains on the CPU, with a ``RuntimeWarning`` saying so
        (implicit's default is True only where CUDA is available).
    iterations : int, default 15
    calculate_training_loss : bool, default False
    num_threads : int, default 0
        0 = all cores.
    random_state : int, numpy.random.Generator, numpy.random.RandomState or None
        Seeds the initial factors; a ``RandomState`` is drawn from once for the seed.

    Notes
    -----
    Everything else (``recommend``, ``similar_items``, ``save``/``load``, fold-in) is
    :class:`fastl2.ImplicitALS`'s; docs/compat.md lists what still differs from implicit.
    """

    def __init__(self, factors: int = 100, regularization: float = 0.01, alpha: float = 1.0,
                 dtype: Any = np.float32, use_native: bool = True, use_cg: bool = True,
                 use_gpu: bool = False, iterations: int = 15,
                 calculate_training_loss: bool = False, num_threads: int = 0,
                 random_state: Any = None):
        # implicit's semantics are fixed, not parameters here: confidence alpha·r, 3 CG steps
        super().__init__(factors, regularization, alpha, dtype, use_native, use_cg,
                         iterations, calculate_training_loss, num_threads, random_state,
                         cg_steps=3, confidence="proportional", epsilon=1.0)
        self.use_gpu = use_gpu

    def fit(self, user_items: Any, show_progress: Any = True, callback: Any = None, *,
            y: Any = None) -> "AlternatingLeastSquares":
        """As :meth:`fastl2.ImplicitALS.fit`; a sparse matrix in another format than CSR is
        converted with implicit's ``ParameterWarning``."""
        return super().fit(_csr("user_items", user_items), show_progress, callback, y=y)

    def recommend(self, userid: Any, user_items: Any = None, N: int = 10,
                  filter_already_liked_items: bool = True, filter_items: Any = None,
                  recalculate_user: bool = False, items: Any = None) -> tuple:
        """As :meth:`fastl2.ImplicitALS.recommend`, with implicit's contract for
        ``user_items`` when it is read (``filter_already_liked_items`` or
        ``recalculate_user``): a CSR matrix with one row per entry of ``userid``, a
        ``ValueError`` otherwise (``ImplicitALS`` also takes the whole training matrix)."""
        if filter_already_liked_items or recalculate_user:
            n_rows = int(np.size(userid))
            if not (sp.issparse(user_items) and user_items.format == "csr"):
                fail("user_items", "a CSR sparse matrix (implicit's recommend)",
                     Detail(f"a {type(user_items).__name__}"))
            if user_items.shape[0] != n_rows:
                fail("user_items", f"one row for every user in userid ({n_rows})",
                     Detail(f"{user_items.shape[0]} rows"))
        return super().recommend(userid, user_items, N, filter_already_liked_items,
                                 filter_items, recalculate_user, items)

    def _prepare(self, data: Any, prm: Any) -> None:
        if self.use_gpu:
            warnings.warn("use_gpu: fastl2 has no GPU kernels; training on the CPU instead "
                          "(use_gpu=False silences this warning)", RuntimeWarning,
                          stacklevel=4)
        super()._prepare(data, prm)

    def _random_generator(self) -> np.random.Generator:
        """implicit also takes a ``numpy.random.RandomState``: one draw from it seeds the
        generator (the same state gives the same fit)."""
        if isinstance(self.random_state, np.random.RandomState):
            return np.random.default_rng(int(self.random_state.randint(np.iinfo(np.int32).max)))
        return check_random_state("random_state", self.random_state)

    def to_cpu(self) -> "AlternatingLeastSquares":
        """The model itself: it already lives on the CPU (implicit's GPU models convert)."""
        return self

    def to_gpu(self) -> Any:
        """Not available: fastl2 has no GPU kernels."""
        raise NotImplementedError("to_gpu: fastl2 has no GPU kernels; the model runs on the "
                                  "CPU (use implicit.gpu for GPU training)")
