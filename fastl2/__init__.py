"""fastl2: fast, trustworthy L2-regularized matrix factorization for recommender systems.

Public names: :class:`Interactions` (data), :class:`BiasedMF` (explicit MF, SGD or ALS),
:class:`ImplicitALS` (implicit feedback), :class:`AlternatingLeastSquares` (the same model
with ``implicit``'s constructor, defaults and semantics: :mod:`fastl2.compat.implicit`),
:func:`load`
(persistence), and the modules :mod:`fastl2.datasets`, :mod:`fastl2.evaluation`,
:mod:`fastl2.errors`. Nothing here changes global state (thread counts are set per call).
"""

from . import errors
from .interactions import Interactions
# also registers every estimator class for fastl2.load (fastl2.persistence.MODEL_CLASSES):
# Python runs this file before any fastl2 module, so the registry is full whatever is imported
from .models import BiasedMF, ImplicitALS
from .compat.implicit import AlternatingLeastSquares
from .persistence import load

__version__ = "0.1.0"

__all__ = ["AlternatingLeastSquares", "BiasedMF", "ImplicitALS", "Interactions", "errors", "load",
           "__version__"]
