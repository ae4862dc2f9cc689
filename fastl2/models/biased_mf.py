"""``BiasedMF``: explicit-feedback matrix factorization with biases, trained by parallel SGD."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._idmap import IdMap
from .._validation import (Detail, check_bool, check_choice, check_dtype, check_float,
                           check_int, check_pair, check_representable, fail)
from ..interactions import Interactions
from ..training import als as _als, source as _source
from ..training.loop import FitLoop, Progress, check_finite, diverged
from ..training.params import ExplicitSweepParams, Pair, SGDParams
from ..training.trainers import ExplicitALSTrainer, SGDTrainer, predict_rows
from .base import Estimator, as_interactions, check_y, pair_columns
from .fitting import Trainable
from .recommend import RecommenderMixin


@dataclass(frozen=True)
class BiasedMFParams:
    """``BiasedMF``'s constructor parameters, validated (:meth:`of`), by their public names:
    pairs as (user, item) :class:`~fastl2.training.params.Pair`, ``bias_learning_rate``
    resolved (None means ``learning_rate``), ``dtype`` a numpy dtype."""

    factors: int
    regularization: Pair
    bias_regularization: Pair
    iterations: int
    learning_rate: Pair
    learning_rate_schedule: str
    init_std: float
    n_blocks: int
    patience: int
    solver: str
    weighted_regularization: bool
    num_threads: int
    dtype: np.dtype
    init_mean: float
    biased: bool
    bias_learning_rate: Pair

    @classmethod
    def of(cls, model: "BiasedMF") -> "BiasedMFParams":
        """Validate ``model``'s parameters (errors name the parameter)."""
        checked = dict(  # in the order of the checks (the first bad parameter is named)
            factors=check_int("factors", model.factors, minimum=1),
            regularization=Pair(*check_pair("regularization", model.regularization)),
            bias_regularization=Pair(*check_pair("bias_regularization",
                                                 model.bias_regularization)),
            iterations=check_int("iterations", model.iterations, minimum=0),
            learning_rate=Pair(*check_pair("learning_rate", model.learning_rate,
                                           strict=True)),
            learning_rate_schedule=check_choice("learning_rate_schedule",
                                                model.learning_rate_schedule,
                                                ("constant", "adagrad")),
            init_std=check_float("init_std", model.init_std, minimum=0.0),
            n_blocks=check_int("n_blocks", model.n_blocks, minimum=1),
            patience=check_int("patience", model.patience, minimum=1),
            solver=check_choice("solver", model.solver, ("sgd", "als")),
            weighted_regularization=check_bool("weighted_regularization",
                                               model.weighted_regularization),
            num_threads=check_int("num_threads", model.num_threads, minimum=0),
            dtype=check_dtype("dtype", model.dtype),
            init_mean=check_float("init_mean", model.init_mean),
            biased=check_bool("biased", model.biased),
        )
        prm = cls(**checked, bias_learning_rate=(
            checked["learning_rate"] if model.bias_learning_rate is None
            else Pair(*check_pair("bias_learning_rate", model.bias_learning_rate))))
        if not prm.biased and prm.solver == "als":
            fail("biased", "True with solver='als' (the ALS solver learns the biases with the "
                 "factors; use solver='sgd' for a model without biases)", model.biased)
        # the kernels compute in dtype: a finite float64 may still be inf there
        for name in ("regularization", "bias_regularization", "learning_rate",
                     "bias_learning_rate"):
            pair = getattr(prm, name)
            for side, value in enumerate(pair):
                check_representable(name if pair.user == pair.item else f"{name}[{side}]",
                                    value, prm.dtype)
        check_representable("init_std", prm.init_std, prm.dtype)
        check_representable("init_mean", prm.init_mean, prm.dtype)
        return prm


class BiasedMF(Trainable, RecommenderMixin, Estimator):
    r"""Biased matrix factorization for explicit ratings, trained by block-stratified SGD.

    Model :math:`\hat r_{ui} = \mu + b_u + b_i + p_u \cdot q_i`, loss
    :math:`\sum_{(u,i)} (r_{ui} - \hat r_{ui})^2 + \lambda_p\|p_u\|^2 + \lambda_q\|q_i\|^2
    + \lambda_{bu} b_u^2 + \lambda_{bi} b_i^2` summed over the observed ratings, with the L2
    term fused into each SGD update (one read and one write of each row per rating). With
    ``biased=False`` the model is :math:`\hat r_{ui} = p_u \cdot q_i` (no μ, no biases:
    probabilistic matrix factorization, Surprise's ``SVD(biased=False)``).

    scikit-learn: ``clone``, ``get_params``/``set_params`` and the model-selection tools work.
    ``fit(X, y)`` takes an (n, 2) array or two-column DataFrame of (user, item) ids with the
    ratings in ``y``, and ``predict(X)`` the same pairs, so ``GridSearchCV`` can split the
    ratings into folds; score with :func:`fastl2.evaluation.rmse_scorer` (see
    :func:`fastl2.evaluation.to_xy` and :func:`fastl2.evaluation.holdout_cv`).

    Training is deterministic: with the same ``random_state`` the learned factors are
    bit-identical for any ``num_threads`` (the block grid depends on the data and
    ``n_blocks`` only; see :mod:`fastl2.training.blocking`).

    Parameters
    ----------
    factors : int, default 64
        Number of latent factors k.
    regularization : float or (float, float), default 0.08
        L2 strength on the factors: one value, or a (user, item) pair.
    bias_regularization : float or (float, float), default 0.02
        L2 strength on the biases: one value, or a (user, item) pair.
    iterations : int, default 40
        Epochs (full passes over the ratings).
    learning_rate : float or (float, float), default 0.01
        Step size η of the factors: one value, or a (user, item) pair.
    learning_rate_schedule : {"constant", "adagrad"}, default "constant"
        Constant η, or per-row AdaGrad (η / sqrt(G_row), G accumulating the row's mean squared
        gradient, as LIBMF).
    init_std : float, default 0.05
        Standard deviation of the Gaussian initial factors (biases start at 0).
    n_blocks : int, default 8
        The grid is ``n_blocks × n_blocks``; at most ``n_blocks`` threads work at once. It is
        deliberately not derived from the thread count, so results do not depend on it.
    patience : int, default 3
        With ``validation`` data given to :meth:`fit`: stop after this many epochs without a
        better validation RMSE, and keep the best epoch's parameters.
    solver : {"sgd", "als"}, default "sgd"
        ``"sgd"``: block-stratified parallel SGD (``learning_rate``, ``learning_rate_schedule``,
        ``n_blocks`` apply). ``"als"``: alternating exact least squares per row — each
        iteration solves every user's (p_u, b_u) against the fixed items, then every item's
        (q_i, b_i), exactly: the bias is eliminated by its Schur complement and Cholesky
        factors the remaining k×k system (biases learned exactly, jointly with the factors). Same model and loss, so switching
        solvers is one argument.
    weighted_regularization : bool, default True
        ALS only. True: weighted-λ (ALS-WR, Zhou et al. 2008) — row u's L2 strength is λ·n_u
        (n_u = its rating count), for factors and bias alike. That is exactly the loss SGD
        minimizes, since SGD applies λ once per rating, so the same ``regularization`` suits
        both solvers. False: a constant λ per row.
    num_threads : int, default 0
        Numba threads; 0 means all cores (as in ``implicit``).
    random_state : int, numpy.random.Generator or None
        Seeds the initial factors and the per-epoch block schedule.
    dtype : float32 or float64, default float32
        Precision of the factors and of the arithmetic.
    bias_learning_rate : None, float or (float, float), default None
        SGD step of the biases: one value or a (user, item) pair, each >= 0 (0 keeps that
        bias at 0); None uses ``learning_rate``.
    init_mean : float, default 0.0
        Mean of the Gaussian initial factors.
    biased : bool, default True
        False: no global mean and no biases (:math:`\hat r_{ui} = p_u \cdot q_i`). SGD only;
        fold-in (``recalculate_user``, ``partial_fit_*``) then solves the factors alone.

    Attributes
    ----------
    user_factors_, item_factors_ : ndarray of shape (n_users, k), (n_items, k)
    user_bias_, item_bias_ : ndarray
    global_mean_ : float
        μ, the mean training rating (not learned); 0 when ``biased=False``.
    user_map_, item_map_ : IdMap
        External id ↔ row index.
    rating_range_ : (float, float)
        Predictions are clipped to it: the declared ``rating_scale`` of the training
        ``Interactions``, else the observed min and max.
    loss_history_ : list of float
        Training RMSE of each epoch, measured online (error before each update).
    validation_history_ : list of float
        Validation RMSE after each epoch (when ``validation`` was given).
    n_iter_ : int
        Epochs run. ``best_iteration_`` is the epoch whose parameters were kept.
    """

    _fitted_attributes = ("user_factors_", "item_factors_", "user_bias_", "item_bias_",
                          "global_mean_", "user_map_", "item_map_")
    _estimator_type = "regressor"

    def __init__(self, factors: int = 64, regularization: Any = 0.08,
                 bias_regularization: Any = 0.02, iterations: int = 40,
                 learning_rate: float = 0.01, learning_rate_schedule: str = "constant",
                 init_std: float = 0.05, n_blocks: int = 8, patience: int = 3,
                 solver: str = "sgd", weighted_regularization: bool = True,
                 num_threads: int = 0, random_state: Any = None, dtype: Any = np.float32,
                 bias_learning_rate: Any = None, init_mean: float = 0.0, biased: bool = True):
        self.factors = factors
        self.regularization = regularization
        self.bias_regularization = bias_regularization
        self.iterations = iterations
        self.learning_rate = learning_rate
        self.learning_rate_schedule = learning_rate_schedule
        self.init_std = init_std
        self.n_blocks = n_blocks
        self.patience = patience
        self.solver = solver
        self.weighted_regularization = weighted_regularization
        self.num_threads = num_threads
        self.random_state = random_state
        self.dtype = dtype
        self.bias_learning_rate = bias_learning_rate
        self.init_mean = init_mean
        self.biased = biased

    # ------------------------------------------------------------------ fit
    def _checked_params(self) -> "BiasedMFParams":
        return BiasedMFParams.of(self)

    def fit(self, X: Any, y: Any = None, *, validation: Any = None,
            show_progress: bool = False,
            callback: Callable[[int, float, float], Any] | None = None) -> "BiasedMF":
        """Learn the model from explicit ratings.

        Parameters
        ----------
        X : Interactions, scipy.sparse matrix, (users, items, ratings) tuple, or (n, 2) pairs
            Training ratings. A sparse matrix is user×item with row/column indices as ids.
            With ``y`` (scikit-learn style): an (n, 2) array or two-column DataFrame of
            (user, item) external ids.
        y : array-like of shape (n,), optional
            The ratings of the pairs in ``X`` (only with pairs; None otherwise).
        validation : Interactions or (users, items, ratings) tuple, optional
            Held-out ratings for early stopping (``patience``); ids unknown to the training
            data are ignored.
        show_progress : bool
            Print one line per epoch (loss, elapsed) to stderr.
        callback : callable(iteration, elapsed, loss), optional
            Called after every epoch with the 0-based epoch, seconds since the start of
            training and the epoch's training RMSE.

        Raises
        ------
        TrainingDivergedError
            The loss became NaN/inf (learning rate too high); the model is left unfitted.
        """
        return self._fit(lambda dt: _source.Local(as_interactions(X, dt, y=y)),
                         validation=validation, show_progress=show_progress,
                         callback=callback)

    # hooks of the one fit (fastl2.models.fitting.Trainable)
    def _check_distributed(self, n_blocks: int | None, validation: Any) -> None:
        if self.solver == "sgd" and n_blocks is not None:
            fail("n_blocks", "None for BiasedMF(solver=\"sgd\") (its grid is the model's own "
                 "n_blocks, as in a local fit)", n_blocks)

    def _fit_loop(self, data: Any, prm: "BiasedMFParams", validation: Any,
                  show_progress: bool, callback: Any, ckpt: Any,
                  rng: np.random.Generator) -> FitLoop:
        val = None if validation is None else self._validation_arrays(validation, data)

        def line(epoch: int, loss: float, v_rmse: float | None, elapsed: float) -> str:
            msg = f"epoch {epoch + 1}/{prm.iterations}  train RMSE {loss:.4f}"
            if v_rmse is not None:
                msg += f"  validation RMSE {v_rmse:.4f}"
            return f"{msg}  {elapsed:.2f}s"

        return FitLoop(prm.iterations, Progress(prm.iterations, show_progress, line), callback,
                       validation=val, patience=prm.patience, checkpoint=ckpt, rng=rng)

    def _context(self, data: Any, prm: "BiasedMFParams") -> float:
        """μ, the global mean (0 without biases)."""
        return data.mean() if prm.biased else 0.0

    def _trainer(self, data: Any, prm: "BiasedMFParams", mu: float,
                 rng: np.random.Generator, n_threads: int) -> Any:
        dt = prm.dtype
        init = dict(factors=prm.factors, init_std=prm.init_std, init_mean=prm.init_mean,
                    rng=rng, n_threads=n_threads, dtype=dt)
        if prm.solver == "als":
            return ExplicitALSTrainer(data, ExplicitSweepParams.of(
                dt, global_mean=mu, regularization=prm.regularization,
                bias_regularization=prm.bias_regularization,
                weighted_regularization=prm.weighted_regularization), **init)

        def on_diverged(epoch: int, loss: float) -> Exception:
            return diverged(
                "learning_rate", f"diverged at epoch {epoch + 1} (loss {loss})",
                "a smaller step", f"learning_rate={self.learning_rate!r}: try "
                f"{max(prm.learning_rate) / 10:g} or learning_rate_schedule='adagrad'")

        return SGDTrainer(data, SGDParams.of(
            dt, global_mean=mu, factors=prm.factors, learning_rate=prm.learning_rate,
            # without biases, a step of 0 keeps them at exactly 0 (and mu is 0)
            bias_learning_rate=prm.bias_learning_rate if prm.biased else (0.0, 0.0),
            regularization=prm.regularization, bias_regularization=prm.bias_regularization,
            adagrad=prm.learning_rate_schedule == "adagrad"), n_blocks=prm.n_blocks,
            on_diverged=on_diverged, **init)

    def _set_fitted(self, data: Any, prm: "BiasedMFParams", mu: float, trainer: Any,
                    loop: FitLoop, arrays: tuple) -> None:
        P, Q, bu, bi = arrays
        if prm.solver == "als":
            _als.warn_fallbacks(trainer.sweeps.n_fallback, prm.dtype)
        check_finite({name: (arr,) for name, arr in (
            ("user_factors_", P), ("item_factors_", Q), ("user_bias_", bu),
            ("item_bias_", bi))}, "learning_rate", "a smaller step",
            f"learning_rate={self.learning_rate!r} (solver={prm.solver!r})")
        if prm.solver == "als":
            self.n_regularized_rows_ = trainer.sweeps.n_fallback
        self.user_factors_, self.item_factors_ = P, Q
        self.user_bias_, self.item_bias_ = bu, bi
        self.global_mean_ = mu
        self.user_map_ = data.user_map
        self.item_map_ = data.item_map
        self.rating_range_ = (data.rating_scale if data.rating_scale is not None
                              else data.value_range())
        self.loss_history_ = loop.losses
        self.validation_history_ = loop.validation_history
        self.n_iter_ = len(loop.losses)
        self.best_iteration_ = loop.best_iteration

    def _validation_arrays(self, validation: Any, data: Any):
        if isinstance(validation, Interactions):
            users, items, values = validation.to_arrays()
        elif isinstance(validation, tuple) and len(validation) == 3:
            users, items, values = validation
        else:
            fail("validation", "an Interactions or a (users, items, ratings) tuple",
                 validation, type_error=True)
        u = data.user_map.to_index(users, name="validation users", missing="ignore")
        i = data.item_map.to_index(items, name="validation items", missing="ignore")
        values = np.asarray(values)
        if i.size != u.size:
            fail("validation items", f"the same length as the users ({u.size})",
                 Detail(f"length {i.size}"))
        if values.shape != (u.size,) or values.dtype.kind not in "biuf":
            fail("validation ratings", f"{u.size} numbers (one per user)", values,
                 type_error=values.dtype.kind not in "biuf")
        values = values.astype(np.float64)
        if not np.isfinite(values).all():
            fail("validation ratings", "finite ratings",
                 Detail(f"{int((~np.isfinite(values)).sum())} NaN/inf ratings"))
        ok = (u >= 0) & (i >= 0)
        if not ok.any():
            fail("validation", "ratings of users and items present in the training data",
                 Detail("no rating with a known user and item"))
        return u[ok], i[ok], values[ok]

    # ------------------------------------------------------------------ predict
    def predict(self, users: Any, items: Any = None, *, clip: bool = True) -> np.ndarray:
        """Predicted ratings for pairs of external ids.

        Unknown ids fall back instead of raising: an unknown user contributes no bias and no
        factors (prediction μ + b_i), an unknown item likewise (μ + b_u), both unknown give μ.

        Parameters
        ----------
        users, items : array-like of equal length
            External ids (as in the training data). scikit-learn style: ``predict(X)`` with
            ``X`` an (n, 2) array or two-column DataFrame of (user, item) ids.
        clip : bool, default True
            Clip to ``rating_range_``.

        Returns
        -------
        ndarray of float64
        """
        self._check_fitted()
        if items is None:
            users, items = pair_columns(users, "X")
        u = self.user_map_.to_index(users, name="users", missing="ignore")
        i = self.item_map_.to_index(items, name="items", missing="ignore")
        if u.size != i.size:
            fail("items", f"the same length as users ({u.size})", Detail(f"length {i.size}"))
        out = predict_rows(self.user_factors_, self.item_factors_, self.user_bias_,
                            self.item_bias_, self.global_mean_, u, i)
        if clip:
            np.clip(out, self.rating_range_[0], self.rating_range_[1], out=out)
        return out

    def score(self, X: Any, y: Any) -> float:
        """Coefficient of determination R² of ``predict(X)`` against the ratings ``y``
        (scikit-learn's regressor convention, used by its model selection when no
        ``scoring`` is given). :func:`fastl2.evaluation.rmse_scorer` scores by RMSE instead;
        on one test set both rank models alike.

        Parameters
        ----------
        X : (n, 2) array or two-column DataFrame of (user, item) external ids
        y : array-like of shape (n,)
            The true ratings.
        """
        pred = self.predict(X)
        truth = check_y(y, pred.size).astype(np.float64)
        total = float(np.sum((truth - truth.mean()) ** 2))
        residual = float(np.sum((truth - pred) ** 2))
        if total == 0.0:  # constant truth: scikit-learn's r2_score convention
            return 1.0 if residual == 0.0 else 0.0
        return 1.0 - residual / total

    # ------------------------------------------------------------------ recommend hooks
    def _query_parts(self, include_bias: bool):
        dt = self.item_factors_.dtype
        if include_bias:
            return (self.user_factors_, self.item_factors_,
                    (self.global_mean_ + self.user_bias_).astype(dt), self.item_bias_)
        return (self.user_factors_, self.item_factors_,
                np.zeros(self.user_factors_.shape[0], dtype=dt),
                np.zeros(self.item_factors_.shape[0], dtype=dt))

    def _solve_rows(self, which: str, rows: Any):
        """Rows (factors, bias) of ``which`` side solved exactly from their ratings against the
        fixed other side (one ALS half-step, whatever solver trained the model)."""
        prm = self._checked_params()
        name = "user_items" if which == "user" else "item_users"
        with np.errstate(over="ignore"):  # an overflow is reported just below
            rows = rows.astype(prm.dtype)
        if not np.isfinite(rows.data).all():
            fail(name, f"finite ratings representable in {prm.dtype.name}",
                 Detail("NaN/inf values"))
        other, other_bias = ((self.item_factors_, self.item_bias_) if which == "user"
                             else (self.user_factors_, self.user_bias_))
        if not prm.biased:
            return (_unbiased_fold_in(rows, other, getattr(prm.regularization, which),
                                      prm.weighted_regularization),
                    np.zeros(rows.shape[0], dtype=other.dtype))
        return _als.explicit_fold_in(rows, other, other_bias, ExplicitSweepParams.of(
            other.dtype, global_mean=self.global_mean_, regularization=prm.regularization,
            bias_regularization=prm.bias_regularization,
            weighted_regularization=prm.weighted_regularization), which)

    def _fold_in_users(self, rows: Any, include_bias: bool):
        """Users' (p_u, b_u) from their ratings against the fixed items."""
        P, bu = self._solve_rows("user", rows)
        offset = (self.global_mean_ + bu) if include_bias else np.zeros_like(bu)
        return P, offset.astype(P.dtype)

    # ------------------------------------------------------------------ persistence
    def _state_arrays(self) -> dict[str, np.ndarray]:
        return {
            "user_factors": self.user_factors_, "item_factors": self.item_factors_,
            "user_bias": self.user_bias_, "item_bias": self.item_bias_,
            "global_mean": np.array(self.global_mean_, dtype=np.float64),
            "user_ids": self.user_map_.ids, "item_ids": self.item_map_.ids,
            "rating_range": np.array(self.rating_range_, dtype=np.float64),
            "loss_history": np.array(self.loss_history_, dtype=np.float64),
            "validation_history": np.array(self.validation_history_, dtype=np.float64),
            "best_iteration": np.array(self.best_iteration_, dtype=np.int64),
        }

    def _set_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.user_factors_ = arrays["user_factors"]
        self.item_factors_ = arrays["item_factors"]
        self.user_bias_ = arrays["user_bias"]
        self.item_bias_ = arrays["item_bias"]
        self.global_mean_ = float(arrays["global_mean"])
        self.user_map_ = IdMap(arrays["user_ids"], name="user_ids")
        self.item_map_ = IdMap(arrays["item_ids"], name="item_ids")
        self.rating_range_ = tuple(float(x) for x in arrays["rating_range"])
        self.loss_history_ = arrays["loss_history"].tolist()
        self.validation_history_ = arrays["validation_history"].tolist()
        self.n_iter_ = len(self.loss_history_)
        self.best_iteration_ = int(arrays["best_iteration"])


def _unbiased_fold_in(rows: Any, other: np.ndarray, reg: float, weighted: bool) -> np.ndarray:
    """Rows' factors solved exactly from their ratings against the fixed other side, without
    biases: ``(Yᵀ Y + λ' I) p = Yᵀ r`` with λ' = λ·n (``weighted``, as ALS-WR) or λ, in float64.

    One small dense solve per row (fold-in serves few rows at a time); a row without ratings,
    or whose system is singular (λ = 0), gets the least-squares solution of minimum norm.
    """
    k = other.shape[1]
    out = np.zeros((rows.shape[0], k), dtype=other.dtype)
    eye = np.eye(k)
    for r in range(rows.shape[0]):
        lo, hi = rows.indptr[r], rows.indptr[r + 1]
        if lo == hi:
            continue
        Y = other[rows.indices[lo:hi]].astype(np.float64)
        lam = reg * (hi - lo) if weighted else reg
        A = Y.T @ Y + lam * eye
        b = Y.T @ rows.data[lo:hi].astype(np.float64)
        try:
            out[r] = np.linalg.solve(A, b)
        except np.linalg.LinAlgError:
            out[r] = np.linalg.lstsq(A, b, rcond=None)[0]
    return out
