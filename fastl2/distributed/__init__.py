"""Fitting fastl2 models on a Dask cluster (``dask.distributed``), with the same Numba kernels.

Install the extra: ``pip install "fastl2[dask]"``. So far: :class:`~fastl2.ImplicitALS`
(conjugate gradient and Cholesky) and ``BiasedMF(solver="als")``, from an
:class:`~fastl2.Interactions` or anything their ``fit`` takes; see docs/distributed.md for
what is planned (DSGD, Dask DataFrame input, faults).

How a fit runs:

- The matrix (confidences or ratings, as the local fit forms them) is cut into blocks of
  contiguous rows (users) and, transposed, of contiguous columns (items), balanced by their
  entries; each block is sent once to a worker and stays there. Factor rows (and biases)
  live on the workers too, one array per block.
- A half-sweep (say users from items) first joins the item blocks into the whole item matrix
  Y (and the item biases) on one worker; implicit ALS forms YᵀY + λI there, by the same
  function as the local fit. Dask copies them to every worker that solves a user block.
  Each user block is solved by the local kernel (:mod:`fastl2._kernels.als`) against that
  Y; implicit CG warm-starts from the block's own current rows. (Sending only the rows a
  block references, Spark's out-blocks, is the planned mode for when Y outgrows a worker.)
- The factors are gathered to the client once, at the end; also after every iteration when
  the training loss (implicit) or a validation set (explicit) needs them. Explicit ALS
  gathers each item half's per-row squared errors (8 bytes a row) for its training RMSE.

Every row is computed by the same arithmetic as in a local fit, from the same inputs; YᵀY
by the same function on the same matrix, and the training error summed over the same
per-row array. So the factors are **bit-identical** to ``model.fit(data)`` on one machine,
whatever the number of workers or blocks.
"""

from ._fitting import fit
from ._recommend import recommend_all_to_parquet

__all__ = ["fit", "recommend_all_to_parquet"]
