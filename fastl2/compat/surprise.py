"""``SVD``: scikit-surprise's ``SVD`` trained by fastl2's parallel SGD kernel.

Change one import and keep the rest of a Surprise pipeline::

    from fastl2.compat.surprise import SVD          # was: from surprise import SVD
    from surprise import Dataset
    from surprise.model_selection import GridSearchCV, cross_validate

    cross_validate(SVD(), data, measures=["RMSE", "MAE"], cv=5)
    GridSearchCV(SVD, {"n_epochs": [10, 20], "lr_all": [0.002, 0.005]}, cv=3).fit(data)

:class:`SVD` is a ``surprise.AlgoBase``: ``fit(trainset)``, ``estimate``, ``predict``,
``test``, ``default_prediction`` and the attributes ``pu``, ``qi``, ``bu``, ``bi``,
``trainset`` mean what they mean in Surprise. What differs is the order in which SGD visits
the ratings (fastl2's block-stratified parallel order instead of Surprise's user-by-user
order), hence the random path, not the model or the loss; the accuracy is the same within
noise (``docs/compat.md`` has the measured comparison).

Needs scikit-surprise (``pip install "fastl2[surprise]"``).
"""

from __future__ import annotations

import functools
import itertools
import marshal
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

try:
    from surprise import AlgoBase
    from surprise.prediction_algorithms.predictions import Prediction, PredictionImpossible
except ImportError as _exc:  # pragma: no cover - exercised without scikit-surprise
    raise ImportError("fastl2.compat.surprise needs scikit-surprise: pip install "
                      "\"fastl2[surprise]\" (or pip install scikit-surprise)") from _exc

from .._idmap import IdMap
from .._kernels import unmarshal
from .._validation import (Detail, check_bool, check_dtype, check_float, check_index_range,
                           check_int, check_representable, fail)
from ..errors import NotFittedError, TrainingDivergedError
from ..interactions import Interactions
from ..models.base import ParamsMixin
from ..models.biased_mf import BiasedMF

__all__ = ["SVD"]

# per-parameter learning rates and regularization terms, and the "all" value they default to
_PER_PARAMETER = {"lr_bu": "lr_all", "lr_bi": "lr_all", "lr_pu": "lr_all", "lr_qi": "lr_all",
                  "reg_bu": "reg_all", "reg_bi": "reg_all", "reg_pu": "reg_all",
                  "reg_qi": "reg_all"}
_PAIR = np.dtype([("item", np.int64), ("rating", np.float64)])
_IMPOSSIBLE = "User and item are unknown."  # Surprise's message, for either unknown


@dataclass(frozen=True)
class SVDParams:
    """``SVD``'s parameters, validated by ``SVD._checked_params``, by Surprise's names (each
    per-parameter rate and term resolved from its ``_all`` value when not given)."""

    n_factors: int
    n_epochs: int
    biased: bool
    init_mean: float
    init_std_dev: float
    verbose: bool
    num_threads: int
    dtype: np.dtype
    lr_bu: float
    lr_bi: float
    lr_pu: float
    lr_qi: float
    reg_bu: float
    reg_bi: float
    reg_pu: float
    reg_qi: float


def _per_parameter(name: str, fallback: str) -> property:
    def get(self: "SVD") -> Any:
        value = self.__dict__[f"_{name}"]
        return getattr(self, fallback) if value is None else value

    def set_(self: "SVD", value: Any) -> None:
        self.__dict__[f"_{name}"] = value

    return property(get, set_, doc=f"``{name}`` as Surprise reads it: the value given, or "
                                   f"``{fallback}`` when that was None.")


class SVD(ParamsMixin, AlgoBase):
    r"""Surprise's ``SVD`` (Funk SVD / biased MF by SGD), trained by fastl2's SGD kernel.

    Same constructor, defaults and meanings as ``surprise.SVD`` (scikit-surprise 1.1):
    prediction :math:`\hat r_{ui} = \mu + b_u + b_i + q_i^\top p_u` (or
    :math:`q_i^\top p_u` with ``biased=False``), regularized squared error minimized by SGD
    with, for every rating,

    .. math::
        b_u \leftarrow b_u + \gamma_{bu} (e_{ui} - \lambda_{bu} b_u) \qquad
        b_i \leftarrow b_i + \gamma_{bi} (e_{ui} - \lambda_{bi} b_i) \\
        p_u \leftarrow p_u + \gamma_{pu} (e_{ui} q_i - \lambda_{pu} p_u) \qquad
        q_i \leftarrow q_i + \gamma_{qi} (e_{ui} p_u - \lambda_{qi} q_i)

    Biases start at 0, factors from :math:`N(\text{init\_mean}, \text{init\_std\_dev}^2)`.
    fastl2 runs these updates on its block-stratified grid, in parallel and deterministically
    for a given ``random_state`` whatever the thread count.

    Parameters
    ----------
    n_factors : int, default 100
    n_epochs : int, default 20
    biased : bool, default True
        False: no global mean and no biases (probabilistic matrix factorization).
    init_mean : float, default 0
    init_std_dev : float, default 0.1
    lr_all : float, default 0.005
        Learning rate of every parameter whose own rate is None.
    reg_all : float, default 0.02
        Regularization of every parameter whose own term is None.
    lr_bu, lr_bi, lr_pu, lr_qi : float, optional
        Learning rates of :math:`b_u, b_i, p_u, q_i`; ``lr_pu``, ``lr_qi`` > 0, ``lr_bu``,
        ``lr_bi`` >= 0.
    reg_bu, reg_bi, reg_pu, reg_qi : float, optional
        Regularization terms (>= 0).
    random_state : None, int, numpy.random.RandomState or numpy.random.Generator
        As in Surprise: an int gives the same initialization at every ``fit``; a RandomState
        is drawn from (so successive fits differ); None draws from NumPy's global RandomState
        (``numpy.random.seed`` makes it reproducible). A Generator is used directly.
    verbose : bool, default False
        Print ``Processing epoch N`` for every epoch, as Surprise.
    num_threads : int, default 0
        fastl2 only: threads of the SGD kernel (0 = all cores). Results do not depend on it.
    dtype : float32 or float64, default float32
        fastl2 only: precision of the training arithmetic. The fitted attributes are float64,
        as in Surprise.

    Attributes
    ----------
    pu, qi : ndarray of shape (n_users, n_factors), (n_items, n_factors)
        User and item factors, rows indexed by the trainset's inner ids.
    bu, bi : ndarray
        User and item biases (zeros with ``biased=False``).
    trainset : surprise.Trainset
        The training set (``AlgoBase`` convention).

    Notes
    -----
    * ``lr_bu`` … ``reg_qi`` read as Surprise's: the per-parameter value, or ``lr_all`` /
      ``reg_all`` when None. :meth:`get_params` returns the constructor arguments as given
      (None included), so ``sklearn.base.clone`` and Surprise's ``GridSearchCV`` rebuild the
      same estimator.
    * ``fit`` reads ``trainset.ur`` into one CSR matrix (no per-rating Python objects are
      kept). A (user, item) pair rated twice in the trainset, which Surprise trains as two
      ratings, is trained once with the mean of its ratings.
    * Bad parameters raise a :mod:`fastl2.errors` exception naming the parameter at
      ``fit`` (a ``ValueError``/``TypeError`` subclass); a learning rate so large that
      training diverges raises :class:`~fastl2.errors.TrainingDivergedError` and leaves the
      algorithm unfitted (Surprise would return NaN predictions).
    """

    lr_bu = _per_parameter("lr_bu", "lr_all")
    lr_bi = _per_parameter("lr_bi", "lr_all")
    lr_pu = _per_parameter("lr_pu", "lr_all")
    lr_qi = _per_parameter("lr_qi", "lr_all")
    reg_bu = _per_parameter("reg_bu", "reg_all")
    reg_bi = _per_parameter("reg_bi", "reg_all")
    reg_pu = _per_parameter("reg_pu", "reg_all")
    reg_qi = _per_parameter("reg_qi", "reg_all")

    def __init__(self, n_factors: int = 100, n_epochs: int = 20, biased: bool = True,
                 init_mean: float = 0, init_std_dev: float = .1, lr_all: float = .005,
                 reg_all: float = .02, lr_bu: float | None = None, lr_bi: float | None = None,
                 lr_pu: float | None = None, lr_qi: float | None = None,
                 reg_bu: float | None = None, reg_bi: float | None = None,
                 reg_pu: float | None = None, reg_qi: float | None = None,
                 random_state: Any = None, verbose: bool = False, num_threads: int = 0,
                 dtype: Any = np.float32):
        AlgoBase.__init__(self)
        self.n_factors = n_factors
        self.n_epochs = n_epochs
        self.biased = biased
        self.init_mean = init_mean
        self.init_std_dev = init_std_dev
        self.lr_all = lr_all
        self.reg_all = reg_all
        self.lr_bu = lr_bu
        self.lr_bi = lr_bi
        self.lr_pu = lr_pu
        self.lr_qi = lr_qi
        self.reg_bu = reg_bu
        self.reg_bi = reg_bi
        self.reg_pu = reg_pu
        self.reg_qi = reg_qi
        self.random_state = random_state
        self.verbose = verbose
        self.num_threads = num_threads
        self.dtype = dtype

    def _param_value(self, name: str) -> Any:
        if name in _PER_PARAMETER:
            return self.__dict__[f"_{name}"]  # as given: None means "the _all value"
        return getattr(self, name)

    # ------------------------------------------------------------------ fit
    def _checked_params(self) -> "SVDParams":
        dtype = check_dtype("dtype", self.dtype)
        prm: dict[str, Any] = dict(
            n_factors=check_int("n_factors", self.n_factors, minimum=1),
            n_epochs=check_int("n_epochs", self.n_epochs, minimum=0),
            biased=check_bool("biased", self.biased),
            init_mean=check_float("init_mean", self.init_mean),
            init_std_dev=check_float("init_std_dev", self.init_std_dev, minimum=0.0),
            verbose=check_bool("verbose", self.verbose),
            num_threads=check_int("num_threads", self.num_threads, minimum=0),
            dtype=dtype,
        )
        source = {"init_mean": "init_mean", "init_std_dev": "init_std_dev"}
        for name, fallback in _PER_PARAMETER.items():
            # errors name the argument the user set: the parameter's own, or the _all one
            source[name] = fallback if self.__dict__[f"_{name}"] is None else name
            strict = name in ("lr_pu", "lr_qi")  # a factor step of 0 would learn nothing
            prm[name] = check_float(source[name], getattr(self, name), minimum=0.0,
                                    strict=strict)
        for name, given in source.items():  # the kernel computes in dtype
            check_representable(given, prm[name], dtype)
        _check_random_state(self.random_state)
        return SVDParams(**prm)

    def fit(self, trainset: Any) -> "SVD":
        """Learn ``pu``, ``qi``, ``bu``, ``bi`` from a ``surprise.Trainset``.

        Parameters
        ----------
        trainset : surprise.Trainset
            As given by ``Dataset.build_full_trainset()`` or a cross-validation iterator.

        Returns
        -------
        self

        Raises
        ------
        InputValueError, InputTypeError
            A bad parameter (named) or a trainset without ratings.
        TrainingDivergedError
            The learning rates are too large for the data; the algorithm is left unfitted.
        """
        prm = self._checked_params()
        data, mean = _trainset_interactions(trainset, prm.dtype)
        for name in ("trainset", "pu", "qi", "bu", "bi", "_trainset_mean"):
            self.__dict__.pop(name, None)  # unfitted until training succeeds
        model = BiasedMF(  # Surprise's per-parameter names as BiasedMF's (user, item) pairs
            factors=prm.n_factors, iterations=prm.n_epochs,
            learning_rate=(prm.lr_pu, prm.lr_qi), bias_learning_rate=(prm.lr_bu, prm.lr_bi),
            regularization=(prm.reg_pu, prm.reg_qi),
            bias_regularization=(prm.reg_bu, prm.reg_bi), init_std=prm.init_std_dev,
            init_mean=prm.init_mean, biased=prm.biased, num_threads=prm.num_threads,
            random_state=_generator(self.random_state), dtype=prm.dtype)
        callback = None
        if prm.verbose and prm.n_epochs:
            print("Processing epoch 0")  # Surprise prints before each epoch
            callback = functools.partial(_print_next_epoch, prm.n_epochs)
        try:
            model.fit(data, callback=callback)
        except TrainingDivergedError:
            rates = ", ".join(f"{n}={getattr(prm, n)!r}"
                              for n in ("lr_bu", "lr_bi", "lr_pu", "lr_qi"))
            raise TrainingDivergedError(
                f"lr_all: training diverged (non-finite parameters); expected smaller learning "
                f"rates, got {rates}. The algorithm was left unfitted.") from None
        AlgoBase.fit(self, trainset)
        self.pu = model.user_factors_.astype(np.float64)
        self.qi = model.item_factors_.astype(np.float64)
        self.bu = model.user_bias_.astype(np.float64)
        self.bi = model.item_bias_.astype(np.float64)
        self._trainset_mean = mean  # trainset.global_mean, without Surprise's Python loop
        return self

    # ------------------------------------------------------------------ predict
    def _check_fitted(self) -> None:
        if "pu" not in self.__dict__:
            raise NotFittedError(f"This {type(self).__name__} instance is not fitted yet: "
                                 "call fit() before using it")

    def estimate(self, u: Any, i: Any) -> float:
        """Estimate of inner user ``u`` and inner item ``i``, computed as Surprise computes it.

        An unknown user contributes no bias and no factors, an unknown item likewise. Without
        biases, a pair with an unknown user or item raises ``PredictionImpossible``
        (``predict`` then returns :meth:`default_prediction` with ``was_impossible``).
        """
        self._check_fitted()
        known_user = self.trainset.knows_user(u)
        known_item = self.trainset.knows_item(i)
        if self.biased:
            est = self._trainset_mean  # trainset.global_mean, the value Surprise adds
            if known_user:
                est += self.bu[u]
            if known_item:
                est += self.bi[i]
            if known_user and known_item:
                est += np.dot(self.qi[i], self.pu[u])
        elif known_user and known_item:
            est = np.dot(self.qi[i], self.pu[u])
        else:
            raise PredictionImpossible(_IMPOSSIBLE)
        return est

    def default_prediction(self) -> float:
        """The mean of all training ratings (Surprise's default), precomputed by ``fit``."""
        self._check_fitted()
        return self._trainset_mean

    def predict(self, uid: Any, iid: Any, r_ui: float | None = None, clip: bool = True,
                verbose: bool = False) -> Prediction:
        """Prediction for raw ids: ``AlgoBase.predict`` (clipped to the trainset's rating
        scale; ``details["was_impossible"]`` when the estimate is impossible). ``test`` is
        ``AlgoBase.test``: one ``predict`` per pair."""
        self._check_fitted()
        return AlgoBase.predict(self, uid, iid, r_ui, clip, verbose)


def _print_next_epoch(n_epochs: int, epoch: int, elapsed: float, loss: float) -> None:
    """``verbose``: after epoch ``epoch``, Surprise's line for the next one."""
    if epoch + 1 < n_epochs:
        print(f"Processing epoch {epoch + 1}")


def _check_random_state(value: Any) -> None:
    ok = (value is None or isinstance(value, (np.random.RandomState, np.random.Generator))
          or (isinstance(value, numbers.Integral) and not isinstance(value, bool)))
    if not ok:
        fail("random_state", "None, an integer >= 0, a numpy.random.RandomState or a "
             "numpy.random.Generator", value, type_error=True)
    if isinstance(value, numbers.Integral) and value < 0:
        fail("random_state", "an integer >= 0", value)


def _generator(value: Any) -> np.random.Generator:
    """The Generator seeding fastl2's initialization and block schedule, with Surprise's
    semantics for ``random_state``: an int gives the same one at every fit; a RandomState —
    NumPy's global one for None — is drawn from, so successive fits differ."""
    if isinstance(value, np.random.Generator):
        return value
    if value is not None and not isinstance(value, np.random.RandomState):
        return np.random.default_rng(int(value))
    state = np.random if value is None else value  # np.random: the global RandomState
    return np.random.default_rng(state.randint(0, np.iinfo(np.int64).max, dtype=np.int64))


def _read_pairs(rows: list, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The (int, number) pairs of the lists ``rows`` (of ``lengths``) as an int64 and a float64
    array.

    Fast path: ``marshal.dumps`` (format version 2) serializes the lists in C and a Numba
    kernel reads the bytes (:mod:`fastl2._kernels.unmarshal`), faster than any Python-level
    iteration.
    When the objects are outside what that kernel reads (say numpy scalars, bools, ints past
    int32) it declines, and one ``numpy.fromiter`` over the chained lists reads them instead,
    with the same result.
    """
    n = int(lengths.sum())
    try:
        buf = np.frombuffer(marshal.dumps(rows, 2), dtype=np.uint8)
    except ValueError:  # an object marshal cannot write (say a numpy scalar)
        buf = None
    if buf is not None:
        items = np.empty(n, dtype=np.int64)
        ratings = np.empty(n, dtype=np.float64)
        if unmarshal.read_pair_lists(buf, lengths, items, ratings) == buf.size:
            return items, ratings
    pairs = np.fromiter(itertools.chain.from_iterable(rows), dtype=_PAIR, count=n)
    return pairs["item"], pairs["rating"]


def _trainset_interactions(trainset: Any, dtype: np.dtype) -> tuple[Interactions, float]:
    """The trainset's ratings as an ``Interactions`` whose row and column indices are the
    inner ids, plus their mean (Surprise's ``trainset.global_mean``, same summation order).

    ``trainset.ur`` (inner user id → list of (inner item id, rating)) is read by
    :func:`_read_pairs`: no per-rating Python object is created or kept.
    """
    expected = "a surprise.Trainset (Dataset.build_full_trainset() or a fold of Surprise's " \
               "cross-validation)"
    ur = getattr(trainset, "ur", None)
    if not hasattr(ur, "keys") or not hasattr(ur, "values"):
        fail("trainset", expected, trainset, type_error=True)
    n_users = check_int("trainset.n_users", trainset.n_users, minimum=0)
    n_items = check_int("trainset.n_items", trainset.n_items, minimum=0)
    try:
        users = np.fromiter(ur.keys(), dtype=np.int64, count=len(ur))
        rows = list(ur.values())
        lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
        pairs = _read_pairs(rows, lengths)
    except (TypeError, ValueError) as exc:
        fail("trainset", expected + " whose ur maps inner user ids to lists of (inner item "
             "id, rating)", Detail(f"{type(trainset).__name__} ({type(exc).__name__}: {exc})"),
             type_error=True)
    items, ratings = pairs
    if items.size == 0:
        fail("trainset", "at least one rating", Detail("a trainset without ratings"))
    check_index_range("trainset", "inner user", users, n_users)
    check_index_range("trainset", "inner item", items, n_items)
    if not np.isfinite(ratings).all():
        fail("trainset", "finite ratings",
             Detail(f"{int((~np.isfinite(ratings)).sum())} NaN/inf ratings"))
    mean = float(np.mean(ratings))  # the order of all_ratings(): Surprise's own value
    index = np.int32 if max(n_items, items.size) < np.iinfo(np.int32).max else np.int64
    if np.array_equal(users, np.arange(users.size)) and users.size == n_users:
        # the usual layout (users in inner-id order): CSR rows as they come, columns sorted
        # in place per row by scipy; no global sort
        indptr = np.zeros(n_users + 1, dtype=index)
        np.cumsum(lengths, out=indptr[1:])
        with np.errstate(over="ignore"):  # an overflow is reported by BiasedMF
            values = ratings.astype(dtype)
        matrix = sp.csr_matrix((values, items.astype(index), indptr), shape=(n_users, n_items))
        matrix.sort_indices()
        if matrix.has_canonical_format:  # no pair rated twice
            return Interactions.from_sparse(matrix, dtype=dtype), mean
    return Interactions.from_arrays(np.repeat(users, lengths), items, ratings, dtype=dtype,
                                    duplicates="mean", user_map=IdMap.range(n_users),
                                    item_map=IdMap.range(n_items)), mean
