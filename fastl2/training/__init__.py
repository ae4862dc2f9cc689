"""Training machinery below the estimators, shared by local fits and ``fastl2.distributed``.

- :mod:`.source`: where a fit's data lives (:class:`~.source.Local`; the cluster's
  ``ClusterData`` answers the same questions);
- :mod:`.sgd` and :mod:`.blocking`: the SGD state and epochs, and the block grid they run on;
- :mod:`.als`: the ALS half-sweep drivers (row chunks, both orientations of the data);
- :mod:`.init`: initial factors; :mod:`.checkpoint`: a fit's state saved and resumed.

Estimators (``fastl2.models``) and ``fastl2.distributed`` import from here. This package
imports the kernels, ``interactions`` and the validation helpers; ``checkpoint`` also uses
``fastl2.persistence``'s checked file format (a function-level import: persistence still
imports the models to fill its registry, an import cycle issue 20 removes).
"""
