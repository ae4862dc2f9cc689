"""Evaluation: seeded train/test splits, rating and ranking metrics, model selection.

- :mod:`.splits`: :func:`random_split`, :func:`user_split`, :func:`time_split`,
  :func:`kfold` (each returns ``(train, test)`` sharing the input's id maps);
- :mod:`.metrics`: :func:`rmse`, :func:`mae` and :func:`ranking_metrics_at_k`;
- :mod:`.model_selection`: :func:`cross_validate` and the scikit-learn tooling
  (:func:`to_xy`, :func:`holdout_cv`, :func:`rmse_scorer`, :func:`mae_scorer`,
  :func:`ranking_scorer`).

Every public name is importable from here, and so are :class:`RankingScorer` and the type
alias ``Split`` (not in ``__all__``), as they were from the single module: scorers pickled as
``fastl2.evaluation.RankingScorer`` still load.
``model_selection`` imports ``metrics`` and ``splits``, which import neither each other nor
it.
"""

from .metrics import mae, ranking_metrics_at_k, rmse
from .model_selection import (RankingScorer, cross_validate, holdout_cv, mae_scorer,
                              ranking_scorer, rmse_scorer, to_xy)
from .splits import Split, kfold, random_split, time_split, user_split

__all__ = ["random_split", "user_split", "time_split", "kfold", "rmse", "mae",
           "ranking_metrics_at_k", "cross_validate", "to_xy", "holdout_cv", "rmse_scorer",
           "mae_scorer", "ranking_scorer"]
