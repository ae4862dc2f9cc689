"""Drop-in replacements for other libraries' estimators, each in its own module imported on
demand (importing :mod:`fastl2` never imports them or their dependencies):

* :mod:`fastl2.compat.surprise` — ``SVD``, a ``surprise.AlgoBase`` with scikit-surprise's
  ``SVD`` constructor, trained by fastl2's parallel SGD kernel (``pip install
  "fastl2[surprise]"``).

scikit-learn needs no adapter: every fastl2 estimator follows its conventions (see
:mod:`fastl2.evaluation` for the scorers and :func:`fastl2.evaluation.to_xy`).
"""
