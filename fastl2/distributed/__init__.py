"""Fitting and serving fastl2 models on a Dask cluster (``dask.distributed``), with the same
Numba kernels as on one machine.

Install the extra: ``pip install "fastl2[dask]"``.

- :func:`fit`: ``BiasedMF`` (SGD as DSGD, or ALS) and ``ImplicitALS`` (CG or Cholesky), from
  an :class:`~fastl2.Interactions` (or anything the model's ``fit`` takes) or a Dask
  DataFrame whose ids are mapped on the cluster. The factors are **bit-identical** to the
  local fit's, for any number of workers.
- :func:`recommend_all_to_parquet`: top-N lists for many users, computed and written to a
  Parquet folder by the workers.

Modules: :mod:`._blocks` (the blocks on the workers), :mod:`._data` (``ClusterData``, the
cluster's data source: how the blocks are built and how each solver's blocks are derived),
:mod:`._als` (ALS half-sweeps as tasks), :mod:`._dsgd` (DSGD strata as tasks),
:mod:`._cluster` (task placement, tree sums, the watch on lost workers), :mod:`._fitting`
(:func:`fit`), :mod:`._recommend`. docs/distributed.md has the design, the communication
model and the measurements.
"""

from ._fitting import fit
from ._recommend import recommend_all_to_parquet

__all__ = ["fit", "recommend_all_to_parquet"]
