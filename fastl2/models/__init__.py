"""Estimators: the public façade over the kernels (validation, dtypes, threads, id maps)."""

from .biased_mf import BiasedMF
from .implicit_als import ImplicitALS

__all__ = ["BiasedMF", "ImplicitALS"]
