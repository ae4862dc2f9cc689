"""Estimators: the public façade over the kernels (validation, dtypes, threads, id maps)."""

from .biased_mf import BiasedMF

__all__ = ["BiasedMF"]
