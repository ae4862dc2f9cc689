"""Rating data: a streaming text reader, MovieLens loaders and a synthetic generator.

- :mod:`.reader`: :func:`read_ratings`, delimited ratings files read chunk by chunk;
- :mod:`.grouplens`: the MovieLens releases GroupLens publishes: :func:`load_movielens` (a
  release on disk) and :func:`movielens` (download, verify, load), with their names and
  checksums (the module is not called ``movielens``, which names the function);
- :mod:`.synthetic`: :func:`synthetic_ratings`, data drawn from a planted model
  (:class:`SyntheticData`).

Every public name is importable from here, and so are the constants the single module had
(``FIELDS``, ``USER_ACTIVITY_SIGMA``, the default of ``synthetic_ratings``'s
``user_activity_sigma``, and ``IMPLICIT_AFFINITY_GAIN``; not in ``__all__``). The download
errors are defined in :mod:`fastl2.errors`.
"""

from ..errors import ChecksumError, DownloadError
from .grouplens import (MOVIELENS_BASE_URL, MOVIELENS_MD5, MOVIELENS_SHA256,
                        MOVIELENS_VARIANTS, load_movielens, movielens)
from .reader import FIELDS, read_ratings
from .synthetic import (IMPLICIT_AFFINITY_GAIN, USER_ACTIVITY_SIGMA, SyntheticData,
                        synthetic_ratings)

__all__ = [
    "ChecksumError",
    "DownloadError",
    "MOVIELENS_BASE_URL",
    "MOVIELENS_MD5",
    "MOVIELENS_SHA256",
    "MOVIELENS_VARIANTS",
    "SyntheticData",
    "load_movielens",
    "movielens",
    "read_ratings",
    "synthetic_ratings",
]
