"""Training machinery below the estimators, shared by local fits and ``fastl2.distributed``.

- :mod:`.loop`: the one training loop (:class:`~.loop.FitLoop`): histories, early stopping,
  progress, callback, checkpoints and resume, divergence errors;
- :mod:`.trainers`: one trainer per solver (SGD, explicit ALS, implicit ALS), what the loop
  runs: initial factors, the arrays it updates, one iteration per step;
- :mod:`.params`: the parameter bundles handed to the kernels, named as the estimators name
  their parameters;
- :mod:`.protocols`: what a data source, a sweeper, SGD epochs and a trainer provide
  (``typing.Protocol``), satisfied by the local classes here and the Dask ones in
  ``fastl2.distributed``;
- :mod:`.source`: the local data source (:class:`~.source.Local`);
- :mod:`.sgd` and :mod:`.blocking`: the SGD state and epochs, and the block grid they run on;
- :mod:`.als`: the ALS half-sweep drivers (row chunks, both orientations of the data);
- :mod:`.init`: initial factors; :mod:`.checkpoint`: a fit's state saved and resumed.

Estimators (``fastl2.models``) and ``fastl2.distributed`` import from here; this package
imports only the kernels (and, when a test or benchmark asks, their NumPy twins),
``interactions``, ``persistence`` (the checked file format of checkpoints), ``errors`` and
the validation helpers.
"""
