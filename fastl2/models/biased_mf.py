"""``BiasedMF``: explicit-feedback matrix factorization with biases, trained by parallel SGD."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ..training import als as _als, blocking as _blocking, checkpoint as _checkpoint
from ..training import sgd as _sgd, source as _source
from ..training.init import random_factors
from .._idmap import IdMap
from .._threads import thread_limit
from .._validation import (Detail, check_bool, check_callable, check_choice, check_dtype,
                           check_float, check_int, check_pair, check_random_state,
                           check_representable, fail)
from ..errors import TrainingDivergedError
from ..interactions import Interactions
from .._kernels import simd
from .base import Estimator, as_interactions, check_y, pair_columns
from .recommend import RecommenderMixin

_PREDICT_CHUNK = 1 << 20


class BiasedMF(RecommenderMixin, Estimator):
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
    def _checked_params(self) -> dict[str, Any]:
        prm = dict(
            factors=check_int("factors", self.factors, minimum=1),
            reg=check_pair("regularization", self.regularization),
            bias_reg=check_pair("bias_regularization", self.bias_regularization),
            iterations=check_int("iterations", self.iterations, minimum=0),
            lr=check_pair("learning_rate", self.learning_rate, strict=True),
            schedule=check_choice("learning_rate_schedule", self.learning_rate_schedule,
                                  ("constant", "adagrad")),
            init_std=check_float("init_std", self.init_std, minimum=0.0),
            n_blocks=check_int("n_blocks", self.n_blocks, minimum=1),
            patience=check_int("patience", self.patience, minimum=1),
            solver=check_choice("solver", self.solver, ("sgd", "als")),
            weighted=check_bool("weighted_regularization", self.weighted_regularization),
            num_threads=check_int("num_threads", self.num_threads, minimum=0),
            dtype=check_dtype("dtype", self.dtype),
            init_mean=check_float("init_mean", self.init_mean),
            biased=check_bool("biased", self.biased),
        )
        prm["bias_lr"] = (prm["lr"] if self.bias_learning_rate is None
                          else check_pair("bias_learning_rate", self.bias_learning_rate))
        if not prm["biased"] and prm["solver"] == "als":
            fail("biased", "True with solver='als' (the ALS solver learns the biases with the "
                 "factors; use solver='sgd' for a model without biases)", self.biased)
        # the kernels compute in dtype: a finite float64 may still be inf there
        for name, key in (("regularization", "reg"), ("bias_regularization", "bias_reg"),
                          ("learning_rate", "lr"), ("bias_learning_rate", "bias_lr")):
            for side, value in enumerate(prm[key]):
                check_representable(name if prm[key][0] == prm[key][1] else f"{name}[{side}]",
                                    value, prm["dtype"])
        check_representable("init_std", prm["init_std"], prm["dtype"])
        check_representable("init_mean", prm["init_mean"], prm["dtype"])
        return prm

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
        return self._fit(lambda dt: _source.Local(as_interactions(X, dt, y=y)), validation,
                         show_progress, callback)

    def _fit(self, source_of: Any, validation: Any, show_progress: bool, callback: Any,
             checkpoint: tuple | None = None) -> "BiasedMF":
        """:meth:`fit` on the training data ``source_of(dtype)``: a
        :class:`fastl2.training.source.Local` here, blocks on a Dask cluster in
        :mod:`fastl2.distributed` (it runs the SGD epochs or ALS half-sweeps where the data
        is). With ``checkpoint`` = (path, every, resume), see
        :class:`fastl2.training.checkpoint.Checkpoint`."""
        prm = self._checked_params()
        check_callable("callback", callback)
        dt = prm["dtype"]
        data = source_of(dt)
        if data.nnz == 0:
            fail("X", "at least one rating", data)
        rng = check_random_state("random_state", self.random_state)
        ckpt = (None if checkpoint is None
                else _checkpoint.Checkpoint(*checkpoint, self, data.fingerprint()))
        self._clear_fitted()
        val = None if validation is None else self._validation_arrays(validation, data)

        mu = data.mean() if prm["biased"] else 0.0
        monitor = _Monitor(prm, val, show_progress, callback, ckpt)
        with thread_limit(prm["num_threads"]) as n_threads:
            if prm["solver"] == "sgd":
                P, Q, bu, bi = self._run_sgd(data, prm, rng, mu, n_threads, monitor)
            else:
                P, Q, bu, bi = self._run_als(data, prm, rng, mu, n_threads, monitor)
        for name, arr in (("user_factors_", P), ("item_factors_", Q), ("user_bias_", bu),
                          ("item_bias_", bi)):
            if not np.isfinite(arr).all():
                raise TrainingDivergedError(
                    f"learning_rate: training produced non-finite {name}; expected a smaller "
                    f"step, got learning_rate={self.learning_rate!r} (solver="
                    f"{prm['solver']!r}). The model was left unfitted.")
        self.user_factors_, self.item_factors_ = P, Q
        self.user_bias_, self.item_bias_ = bu, bi
        self.global_mean_ = mu
        self.user_map_ = data.user_map
        self.item_map_ = data.item_map
        self.rating_range_ = (data.rating_scale if data.rating_scale is not None
                              else data.value_range())
        self.loss_history_ = monitor.losses
        self.validation_history_ = monitor.val_history
        self.n_iter_ = len(monitor.losses)
        self.best_iteration_ = monitor.best_epoch
        return self

    def _run_sgd(self, data: Any, prm: dict[str, Any], rng: np.random.Generator, mu: float,
                 n_threads: int, monitor: "_Monitor"):
        dt, k, B = prm["dtype"], prm["factors"], prm["n_blocks"]
        grid = data.grid(B, dt)
        row_grid = np.empty_like(grid.row_perm)
        row_grid[grid.row_perm] = np.arange(grid.row_perm.size)
        col_grid = np.empty_like(grid.col_perm)
        col_grid[grid.col_perm] = np.arange(grid.col_perm.size)
        n_users, n_items = data.shape
        # factors live in grid order while training (contiguous groups), rows padded
        P, Q = _init_factors(rng, n_users, n_items, k, prm, dt, _sgd_width(k, dt))
        state = _sgd.State(P, Q, np.zeros(n_users, dtype=dt), np.zeros(n_items, dtype=dt),
                           np.ones(n_users, dtype=dt), np.ones(n_items, dtype=dt))
        s = dt.type
        # without biases, a step of 0 keeps them at exactly 0 (and mu is 0)
        bias_lr = prm["bias_lr"] if prm["biased"] else (0.0, 0.0)
        args = (s(mu), s(prm["lr"][0]), s(prm["lr"][1]), s(bias_lr[0]), s(bias_lr[1]),
                s(prm["reg"][0]), s(prm["reg"][1]), s(prm["bias_reg"][0]),
                s(prm["bias_reg"][1]), prm["schedule"] == "adagrad", s(1.0 / (k + 1)))
        epochs = data.sgd_epochs(grid, state, args, n_threads)
        params = state[:4]
        P, Q, bu, bi = params
        arrays = dict(zip(_sgd.State._fields, state))
        for epoch in range(monitor.resume(arrays, rng), prm["iterations"]):
            block_sse, finite = epochs.run(_blocking.epoch_schedule(rng, B))
            loss = float(np.sqrt(block_sse.sum() / data.nnz))
            if not np.isfinite(loss) or not finite:
                raise TrainingDivergedError(
                    f"learning_rate: training diverged at epoch {epoch + 1} (loss "
                    f"{loss}); expected a smaller step, got learning_rate="
                    f"{self.learning_rate!r}: try {max(prm['lr']) / 10:g} or "
                    "learning_rate_schedule='adagrad'. The model was left unfitted.")
            if monitor.val is not None:  # validation predicts from the current parameters
                epochs.collect()
            if monitor.after_epoch(epoch, loss, lambda u, i: _predict_rows(
                    P, Q, bu, bi, mu, row_grid[u], col_grid[i]), params):
                break
            monitor.checkpoint(epoch, arrays, rng, epochs.collect, epochs.rebase)
        epochs.collect()
        P, Q, bu, bi = monitor.result(params)
        return (_ungrid(P[:, :k], grid.row_perm), _ungrid(Q[:, :k], grid.col_perm),
                _ungrid(bu, grid.row_perm), _ungrid(bi, grid.col_perm))

    def _run_als(self, data: Any, prm: dict[str, Any], rng: np.random.Generator, mu: float,
                 n_threads: int, monitor: "_Monitor"):
        dt, k = prm["dtype"], prm["factors"]
        n_users, n_items = data.shape
        P, Q = _init_factors(rng, n_users, n_items, k, prm, dt)
        bu = np.zeros(n_users, dtype=dt)
        bi = np.zeros(n_items, dtype=dt)
        sweeps = data.explicit_sweeps(k, prm["reg"], prm["bias_reg"], prm["weighted"], mu,
                                      n_threads, dt)
        arrays = {"P": P, "Q": Q, "bu": bu, "bi": bi}
        first = monitor.resume(arrays, rng)
        sweeps.n_fallback = monitor.saved.get("n_fallback", 0)
        for epoch in range(first, prm["iterations"]):
            loss = sweeps.iteration(P, bu, Q, bi)
            if monitor.val is not None:  # validation predicts from the current parameters
                sweeps.collect(P, bu, Q, bi)
            if monitor.after_epoch(epoch, loss, lambda u, i: _predict_rows(
                    P, Q, bu, bi, mu, u, i), (P, Q, bu, bi)):
                break
            monitor.checkpoint(epoch, arrays, rng, lambda: sweeps.collect(P, bu, Q, bi),
                               sweeps.rebase, n_fallback=sweeps.n_fallback)
        sweeps.collect(P, bu, Q, bi)
        _als.warn_fallbacks(sweeps.n_fallback, dt)
        self.n_regularized_rows_ = sweeps.n_fallback
        return monitor.result((P, Q, bu, bi))


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
        out = _predict_rows(self.user_factors_, self.item_factors_, self.user_bias_,
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
            rows = rows.astype(prm["dtype"])
        if not np.isfinite(rows.data).all():
            fail(name, f"finite ratings representable in {prm['dtype'].name}",
                 Detail("NaN/inf values"))
        side = 0 if which == "user" else 1
        other, other_bias = ((self.item_factors_, self.item_bias_) if which == "user"
                             else (self.user_factors_, self.user_bias_))
        if not prm["biased"]:
            return (_unbiased_fold_in(rows, other, prm["reg"][side], prm["weighted"]),
                    np.zeros(rows.shape[0], dtype=other.dtype))
        return _als.explicit_fold_in(rows, other, other_bias, self.global_mean_,
                                     prm["reg"][side], prm["bias_reg"][side], prm["weighted"])

    def _fold_in_users(self, rows: Any, include_bias: bool):
        """Users' (p_u, b_u) from their ratings against the fixed items."""
        P, bu = self._solve_rows("user", rows)
        offset = (self.global_mean_ + bu) if include_bias else np.zeros_like(bu)
        return P, offset.astype(P.dtype)

    # ------------------------------------------------------------------ persistence
    def save(self, path: Any) -> str:
        """Save to one ``.npz`` file (atomic write); see :func:`fastl2.load`."""
        from ..persistence import save_model

        return save_model(self, path)

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


class _Monitor:
    """Per-epoch bookkeeping shared by both solvers: loss and validation histories, early
    stopping with ``patience`` (keeping the best epoch's parameters), progress, callback."""

    def __init__(self, prm: dict[str, Any], val, show_progress: bool,
                 callback: Callable[[int, float, float], Any] | None,
                 ckpt: "_checkpoint.Checkpoint | None" = None):
        self.prm, self.val, self.ckpt = prm, val, ckpt
        self.saved: dict[str, Any] = {}
        self.show_progress, self.callback = show_progress, callback
        self.losses: list[float] = []
        self.val_history: list[float] = []
        self.best = None
        self.best_epoch = -1
        self.since_best = 0
        self.start = time.perf_counter()

    def after_epoch(self, epoch: int, loss: float, predict_val, params: tuple) -> bool:
        """Record an epoch; True when training should stop early."""
        self.losses.append(loss)
        elapsed = time.perf_counter() - self.start
        msg = f"epoch {epoch + 1}/{self.prm['iterations']}  train RMSE {loss:.4f}"
        if self.val is not None:
            vu, vi, vr = self.val
            v_rmse = float(np.sqrt(np.mean((predict_val(vu, vi) - vr) ** 2)))
            self.val_history.append(v_rmse)
            msg += f"  validation RMSE {v_rmse:.4f}"
            if self.best is None or v_rmse < self.val_history[self.best_epoch]:
                self.best = tuple(a.copy() for a in params)
                self.best_epoch, self.since_best = epoch, 0
            else:
                self.since_best += 1
        if self.show_progress:
            print(f"{msg}  {elapsed:.2f}s", file=sys.stderr)
        if self.callback is not None:
            self.callback(epoch, elapsed, loss)
        return self.val is not None and self.since_best >= self.prm["patience"]

    def resume(self, arrays: dict[str, np.ndarray], rng: np.random.Generator) -> int:
        """With a checkpoint to resume from: its arrays copied into ``arrays``, the histories,
        early-stopping state and generator state restored; the first epoch to run."""
        if self.ckpt is None or self.ckpt.state is None:
            return 0
        self.saved = meta = self.ckpt.restore(arrays)
        self.losses, self.val_history = meta["losses"], meta["val_history"]
        self.best_epoch, self.since_best = meta["best_epoch"], meta["since_best"]
        if meta["has_best"]:
            saved = self.ckpt.state["arrays"]
            self.best = tuple(saved[f"best_{n}"] for n in range(4))
        rng.bit_generator.state = meta["rng"]
        return self.ckpt.start

    def checkpoint(self, epoch: int, arrays: dict[str, np.ndarray],
                   rng: np.random.Generator, collect: Callable[[], Any],
                   rebase: Callable[[], Any], **extra: Any) -> None:
        """Save the state after ``epoch`` when a checkpoint is due (``collect`` brings the
        arrays up to date first; ``rebase`` then restarts a cluster's lineage there)."""
        if self.ckpt is None or not self.ckpt.due(epoch + 1):
            return
        collect()
        best = {} if self.best is None else {f"best_{n}": a for n, a in enumerate(self.best)}
        meta = {"losses": self.losses, "val_history": self.val_history,
                "best_epoch": self.best_epoch, "since_best": self.since_best,
                "has_best": self.best is not None,
                "rng": _jsonable(rng.bit_generator.state), **extra}
        self.ckpt.save(epoch + 1, {**arrays, **best}, meta)
        rebase()

    def result(self, params: tuple) -> tuple:
        """The best epoch's parameters with validation data, else the last ones."""
        if self.best is not None:
            return self.best
        self.best_epoch = len(self.losses) - 1
        return params


def _jsonable(state: Any) -> Any:
    """A bit generator's state with its arrays (MT19937's key) as lists, for JSON."""
    if isinstance(state, dict):
        return {k: _jsonable(v) for k, v in state.items()}
    return state.tolist() if isinstance(state, np.ndarray) else state


def _init_factors(rng: np.random.Generator, n_users: int, n_items: int, k: int,
                  prm: dict[str, Any], dt: np.dtype,
                  width: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian start N(init_mean, init_std²), drawn in float64 so both dtypes start from the
    same point; rows ``width`` long with zeros beyond ``k`` (see :func:`_sgd_width`)."""
    P = random_factors(rng, n_users, k, dt, prm["init_std"], "normal", width)
    Q = random_factors(rng, n_items, k, dt, prm["init_std"], "normal", width)
    if prm["init_mean"]:
        P[:, :k] += dt.type(prm["init_mean"])
        Q[:, :k] += dt.type(prm["init_mean"])
    return P, Q


def _sgd_width(k: int, dt: np.dtype) -> int:
    """Row length of the factor matrices while SGD trains: ``k`` rounded up to a multiple of
    half a vector register (4 float32 with AVX2, 8 with AVX-512).

    The kernel works on rows in full vectors, then at most one half vector, then scalars;
    rounding up removes the scalar tail, whose loop costs more than computing a few zeros.
    The padded columns start at 0 and stay exactly 0 (every update of a zero pair is zero),
    so the model is the same, and the dot products keep their order. The width depends on k
    and the CPU, never on the thread count.
    """
    step = simd.VECTOR_BYTES // 2 // np.dtype(dt).itemsize
    return -(-k // step) * step


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


def _ungrid(arr: np.ndarray, perm: np.ndarray) -> np.ndarray:
    """Rows back in id order, as a new C-contiguous array (``arr`` may be a padded view)."""
    out = np.empty(arr.shape, dtype=arr.dtype)
    out[perm] = arr
    return out


def _predict_rows(P, Q, bu, bi, mu, u, i) -> np.ndarray:
    """μ + b_u + b_i + p_u·q_i for index arrays; index -1 means unknown (no bias, no factors)."""
    out = np.empty(u.size, dtype=np.float64)
    for start in range(0, u.size, _PREDICT_CHUNK):
        uu = u[start:start + _PREDICT_CHUNK]
        ii = i[start:start + _PREDICT_CHUNK]
        ku, ki = uu >= 0, ii >= 0
        both = ku & ki
        pred = np.full(uu.size, mu, dtype=np.float64)
        pred[ku] += bu[uu[ku]]
        pred[ki] += bi[ii[ki]]
        pred[both] += np.einsum("ij,ij->i", P[uu[both]], Q[ii[both]], dtype=np.float64)
        out[start:start + _PREDICT_CHUNK] = pred
    return out
