"""The parameter bundles the training layer hands to its kernels, named as the estimators name
them (``regularization``, ``learning_rate``, ...): one vocabulary from ``__init__`` to the
kernel.

An estimator validates its constructor parameters into its own frozen bundle (e.g.
``fastl2.models.biased_mf.BiasedMFParams``) and derives from it the bundle of the solver it
runs: :class:`SGDParams`, :class:`ExplicitSweepParams` or :class:`ImplicitSweepParams`. These hold
the values in the model's dtype (Numba types a kernel call by its arguments: a Python float
would make a float32 fit compute in float64), and are frozen and picklable, so a Dask task can
carry one. The scalars are unpacked, by name, only where a kernel is called.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np


class Pair(NamedTuple):
    """A hyperparameter given per side: ``user`` applies to the user side (p_u, b_u), ``item``
    to the item side (q_i, b_i). A scalar parameter becomes the pair ``(v, v)``."""

    user: Any
    item: Any

    def astype(self, dtype: np.dtype) -> "Pair":
        """Both values as scalars of ``dtype``."""
        s = np.dtype(dtype).type
        return Pair(s(self.user), s(self.item))


@dataclass(frozen=True)
class SGDParams:
    """What the SGD kernels (:mod:`fastl2._kernels.sgd`) are given besides the arrays, in the
    model's dtype (see :meth:`of`).

    Attributes
    ----------
    global_mean : scalar
        μ, the mean training rating (0 without biases).
    learning_rate, bias_learning_rate : Pair
        Steps of the factors and of the biases, (user, item).
    regularization, bias_regularization : Pair
        L2 strengths of the factors and of the biases, (user, item).
    adagrad : bool
        ``learning_rate_schedule == "adagrad"``: per-row AdaGrad steps.
    inv_factors_plus_one : scalar
        1 / (k + 1): a rating's squared gradients (k factors and the bias) are averaged with
        it into the AdaGrad sums.
    """

    global_mean: Any
    learning_rate: Pair
    bias_learning_rate: Pair
    regularization: Pair
    bias_regularization: Pair
    adagrad: bool
    inv_factors_plus_one: Any

    @classmethod
    def of(cls, dtype: np.dtype, *, global_mean: float, factors: int, learning_rate: Pair,
           bias_learning_rate: Pair, regularization: Pair, bias_regularization: Pair,
           adagrad: bool) -> "SGDParams":
        """The bundle with every number a scalar of ``dtype``."""
        s = np.dtype(dtype).type
        return cls(s(global_mean), Pair(*learning_rate).astype(dtype),
                   Pair(*bias_learning_rate).astype(dtype),
                   Pair(*regularization).astype(dtype),
                   Pair(*bias_regularization).astype(dtype), bool(adagrad),
                   s(1.0 / (factors + 1)))


@dataclass(frozen=True)
class ExplicitSweepParams:
    """What explicit biased ALS (:func:`fastl2._kernels.als.explicit_als_half`) is given
    besides the arrays, in the model's dtype.

    Attributes
    ----------
    global_mean : scalar
        μ, the mean training rating.
    regularization, bias_regularization : Pair
        L2 strengths of the factors and of the biases, (user, item): a user half-sweep uses
        ``.user``, an item half-sweep ``.item``.
    weighted_regularization : bool
        ALS-WR: a row's strengths are scaled by its number of ratings.
    """

    global_mean: Any
    regularization: Pair
    bias_regularization: Pair
    weighted_regularization: bool

    @classmethod
    def of(cls, dtype: np.dtype, *, global_mean: float, regularization: Pair,
           bias_regularization: Pair, weighted_regularization: bool) -> "ExplicitSweepParams":
        """The bundle with every number a scalar of ``dtype``."""
        return cls(np.dtype(dtype).type(global_mean), Pair(*regularization).astype(dtype),
                   Pair(*bias_regularization).astype(dtype), bool(weighted_regularization))


@dataclass(frozen=True)
class ImplicitSweepParams:
    """What implicit ALS's half-sweeps are given besides the arrays.

    Attributes
    ----------
    regularization : scalar
        λ on both factor matrices (added to YᵀY's diagonal), in the model's dtype.
    use_cg : bool
        Conjugate gradient (``cg_steps`` steps warm-started from the current row) instead of
        an exact Cholesky solve.
    cg_steps : int
    """

    regularization: Any
    use_cg: bool
    cg_steps: int

    @classmethod
    def of(cls, dtype: np.dtype, *, regularization: float, use_cg: bool,
           cg_steps: int) -> "ImplicitSweepParams":
        """The bundle with λ a scalar of ``dtype``."""
        return cls(np.dtype(dtype).type(regularization), bool(use_cg), int(cg_steps))
