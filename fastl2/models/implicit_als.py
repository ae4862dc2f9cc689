"""``ImplicitALS``: weighted ALS for implicit feedback (implicit's semantics and defaults:
:class:`fastl2.compat.implicit.AlternatingLeastSquares`)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from .._idmap import IdMap
from .._validation import (Detail, check_bool, check_choice, check_dtype, check_float,
                           check_int, check_representable, check_sparse, fail)
from ..training import als as _als, source as _source
from ..training.loop import FitLoop, Progress, check_finite
from ..training.params import ImplicitSweepParams
from ..training.trainers import ImplicitALSTrainer
from .base import Estimator, as_interactions
from .fitting import Trainable
from .recommend import RecommenderMixin, _with_columns

_CONF_BLOCK = 1 << 20  # entries whose confidence is computed at once (float64 temporaries)


@dataclass(frozen=True)
class ImplicitALSParams:
    """``ImplicitALS``'s constructor parameters, validated (:meth:`of`), by their public
    names (``dtype`` a numpy dtype)."""

    factors: int
    regularization: float
    alpha: float
    dtype: np.dtype
    use_native: bool
    use_cg: bool
    iterations: int
    calculate_training_loss: bool
    num_threads: int
    cg_steps: int
    confidence: str
    epsilon: float

    @classmethod
    def of(cls, model: "ImplicitALS") -> "ImplicitALSParams":
        """Validate ``model``'s parameters (errors name the parameter)."""
        confidence = check_choice("confidence", model.confidence,
                                  ("linear", "log", "proportional"))
        prm = cls(
            factors=check_int("factors", model.factors, minimum=1),
            regularization=check_float("regularization", model.regularization, minimum=0.0),
            alpha=check_float("alpha", model.alpha, minimum=0.0,
                              strict=confidence == "proportional"),
            dtype=check_dtype("dtype", model.dtype),
            use_native=check_bool("use_native", model.use_native),
            use_cg=check_bool("use_cg", model.use_cg),
            iterations=check_int("iterations", model.iterations, minimum=0),
            calculate_training_loss=check_bool("calculate_training_loss",
                                               model.calculate_training_loss),
            num_threads=check_int("num_threads", model.num_threads, minimum=0),
            cg_steps=check_int("cg_steps", model.cg_steps, minimum=1),
            confidence=confidence,
            epsilon=check_float("epsilon", model.epsilon, minimum=0.0, strict=True),
        )
        # the kernels compute in dtype (alpha is checked on the confidences it produces)
        check_representable("regularization", prm.regularization, prm.dtype)
        return prm


class ImplicitALS(Trainable, RecommenderMixin, Estimator):
    r"""Matrix factorization for implicit feedback by weighted alternating least squares.

    Hu, Koren & Volinsky (2008): preference :math:`p_{ui} = 1` if :math:`r_{ui} > 0` else 0,
    confidence :math:`c_{ui}`, objective
    :math:`\sum_{u,i} c_{ui}(p_{ui} - x_u^\top y_i)^2 + \lambda(\|X\|^2 + \|Y\|^2)` over *all*
    pairs (unobserved pairs have p = 0, c = 1). Each half-sweep forms YᵀY once (in a fixed
    order, so it does not depend on the thread count), adds λ to its diagonal, and solves every
    row either exactly (Cholesky) or by ``cg_steps`` of conjugate gradient warm-started from
    the current row (Takács et al. 2011), in parallel over rows. Results are bit-identical for
    any ``num_threads``.

    Constructor names follow ``implicit.cpu.als.AlternatingLeastSquares`` (0.7), with
    ``confidence``, ``epsilon`` and ``cg_steps`` extra and Hu et al.'s confidence by default;
    :class:`fastl2.AlternatingLeastSquares` (:mod:`fastl2.compat.implicit`) is this model with
    implicit's exact constructor, defaults and confidence ``alpha·r``, the drop-in.

    scikit-learn: ``clone`` and the model-selection tools work; ``fit(X, y)`` takes an (n, 2)
    array or two-column DataFrame of (user, item) ids with the strengths in ``y``, and
    :func:`fastl2.evaluation.ranking_scorer` scores a fold by ranking quality.

    Parameters
    ----------
    factors : int, default 100
    regularization : float, default 0.01
        λ, on both factor matrices (not scaled by counts).
    alpha : float, default 1.0
        Confidence scale.
    dtype : float32 or float64, default float32
    use_native : bool, default True
        Accepted for compatibility with ``implicit``; fastl2 always runs its compiled kernels.
    use_cg : bool, default True
        Conjugate gradient (fast, approximate per iteration) instead of Cholesky (exact).
    iterations : int, default 15
    calculate_training_loss : bool, default False
        Compute the objective after every iteration (one extra pass, no densifying).
    num_threads : int, default 0
        0 = all cores.
    random_state : int, numpy.random.Generator or None
    cg_steps : int, default 3
    confidence : {"linear", "log", "proportional"}, default "linear"
        ``"linear"``: c = 1 + α·|r| (Hu et al.); ``"log"``: c = 1 + α·log(1 + |r|/ε);
        ``"proportional"``: c = α·|r|, what ``implicit`` does with the matrix it is given
        (there, a value of 1 with α = 1 carries no more weight than a missing pair). To
        reproduce an ``implicit`` model exactly use ``"proportional"``.
    epsilon : float, default 1.0
        ε of the log confidence.

    Notes
    -----
    Input values: zeros are treated as missing. A negative value means "disliked", as in
    ``implicit``: preference 0 with confidence computed from |r| (so a strong dislike pulls the
    score towards 0 harder than a missing pair does).

    Attributes
    ----------
    user_factors_, item_factors_ : ndarray (also readable as ``user_factors``/``item_factors``)
    user_map_, item_map_ : IdMap
    loss_history_ : list of float
        Training loss per iteration (when ``calculate_training_loss``).
    n_regularized_rows_ : int
        Row solves that needed the ridge fallback (only possible with regularization 0).
    """

    _fitted_attributes = ("user_factors_", "item_factors_", "user_map_", "item_map_")

    def __init__(self, factors: int = 100, regularization: float = 0.01, alpha: float = 1.0,
                 dtype: Any = np.float32, use_native: bool = True, use_cg: bool = True,
                 iterations: int = 15, calculate_training_loss: bool = False,
                 num_threads: int = 0, random_state: Any = None, cg_steps: int = 3,
                 confidence: str = "linear", epsilon: float = 1.0):
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.dtype = dtype
        self.use_native = use_native
        self.use_cg = use_cg
        self.iterations = iterations
        self.calculate_training_loss = calculate_training_loss
        self.num_threads = num_threads
        self.random_state = random_state
        self.cg_steps = cg_steps
        self.confidence = confidence
        self.epsilon = epsilon

    # ------------------------------------------------------------------ implicit names
    @property
    def user_factors(self) -> np.ndarray | None:
        """``implicit``'s name for ``user_factors_`` (None before fit)."""
        return getattr(self, "user_factors_", None)

    @property
    def item_factors(self) -> np.ndarray | None:
        """``implicit``'s name for ``item_factors_`` (None before fit)."""
        return getattr(self, "item_factors_", None)

    # ------------------------------------------------------------------ fit
    def _checked_params(self) -> "ImplicitALSParams":
        return ImplicitALSParams.of(self)

    def fit(self, user_items: Any, show_progress: Any = True,
            callback: Callable[[int, float, float | None], Any] | None = None, *,
            y: Any = None) -> "ImplicitALS":
        """Factorize the user×item matrix of interaction strengths.

        Parameters
        ----------
        user_items : scipy.sparse matrix (users × items), Interactions, (users, items,
            values) tuple, or (n, 2) pairs
            As in ``implicit``: rows are users, columns items, values the strength of each
            interaction (counts, plays, ...). Zeros are missing; negatives are dislikes.
            With ``y`` (scikit-learn style): an (n, 2) array or two-column DataFrame of
            (user, item) external ids.
        show_progress : bool, default True
            A progress bar (tqdm when installed, else one line per iteration on stderr).
            scikit-learn calls ``fit(X, y)``: an array here is read as ``y`` (and no progress
            is shown).
        callback : callable(iteration, elapsed, loss), optional
            After every iteration: 0-based iteration, seconds for that iteration (as
            ``implicit``), training loss (None unless ``calculate_training_loss``).
        y : array-like of shape (n,), optional
            The strengths of the pairs in ``user_items`` (only with pairs; e.g. all ones).

        Raises
        ------
        InputValueError
            ``user_items`` holds no non-zero value (nothing to learn from).
        """
        if y is None and np.ndim(show_progress) == 1:  # scikit-learn's positional y
            y, show_progress = show_progress, False
        return self._fit(lambda dt: _source.Local(as_interactions(
            user_items, dt, name="user_items", y=y)), show_progress=show_progress,
            callback=callback)

    # hooks of the one fit (fastl2.models.fitting.Trainable)
    _input_name = "user_items"
    _needs = "at least one non-zero interaction"
    _entries = "non-zero values"

    def _check_distributed(self, n_blocks: int | None, validation: Any) -> None:
        if validation is not None:
            fail("validation", "None for an ImplicitALS (it has no validation set)",
                 validation, type_error=True)

    def _prepare(self, data: Any, prm: "ImplicitALSParams") -> None:
        """Signed confidences in place of the values, zeros dropped (data left without
        entries is then refused)."""
        data.prepare_implicit(functools.partial(confidence, prm=prm), "user_items")

    def _fit_loop(self, data: Any, prm: "ImplicitALSParams", validation: Any,
                  show_progress: Any, callback: Any, ckpt: Any,
                  rng: np.random.Generator) -> FitLoop:
        def line(it: int, loss: float | None, v_rmse: Any, elapsed: float) -> str:
            extra = f"  loss {loss:.6f}" if loss is not None else ""
            return f"iteration {it + 1}/{prm.iterations}{extra}"

        return FitLoop(prm.iterations, Progress(prm.iterations, show_progress, line, bar=True),
                       callback, callback_elapsed="iteration", checkpoint=ckpt)

    def _trainer(self, data: Any, prm: "ImplicitALSParams", context: None,
                 rng: np.random.Generator, n_threads: int) -> ImplicitALSTrainer:
        return ImplicitALSTrainer(
            data, ImplicitSweepParams.of(prm.dtype, regularization=prm.regularization,
                                         use_cg=prm.use_cg, cg_steps=prm.cg_steps),
            factors=prm.factors, rng=rng, n_threads=n_threads, dtype=prm.dtype,
            with_loss=prm.calculate_training_loss)

    def _set_fitted(self, data: Any, prm: "ImplicitALSParams", context: None,
                    trainer: ImplicitALSTrainer, loop: FitLoop, arrays: tuple) -> None:
        X, Y = arrays
        n_fallback = trainer.sweeps.n_fallback
        _als.warn_fallbacks(n_fallback, prm.dtype)
        check_finite({"factors": (X, Y)}, "user_items", "confidences and regularization "
                     "that keep the problem well-posed", f"alpha={prm.alpha!r}, "
                     f"regularization={prm.regularization!r} in {prm.dtype.name}")
        self.user_factors_ = X
        self.item_factors_ = Y
        self.user_map_ = data.user_map
        self.item_map_ = data.item_map
        self.loss_history_ = loop.losses
        self.n_iter_ = prm.iterations
        self.n_regularized_rows_ = n_fallback

    # ------------------------------------------------------------------ recommend hooks
    def _query_parts(self, include_bias: bool):
        dt = self.item_factors_.dtype
        return (self.user_factors_, self.item_factors_,
                np.zeros(self.user_factors_.shape[0], dtype=dt),
                np.zeros(self.item_factors_.shape[0], dtype=dt))

    def _solve_rows(self, which: str, rows: Any):
        """Rows of ``which`` side solved exactly from their interactions against the fixed
        other side (one Cholesky half-step); no biases in this model."""
        prm = self._checked_params()
        name = "user_items" if which == "user" else "item_users"
        with np.errstate(over="ignore"):  # an overflow is reported just below
            rows = rows.astype(prm.dtype)
        if not np.isfinite(rows.data).all():
            fail(name, f"finite values representable in {prm.dtype.name}",
                 Detail("NaN/inf values"))
        rows.eliminate_zeros()
        other = self.item_factors_ if which == "user" else self.user_factors_
        return _als.implicit_fold_in(rows, confidence(rows.data, prm), other,
                                     prm.regularization), None

    def _fold_in_users(self, rows: Any, include_bias: bool):
        """Users' factors solved exactly from their rows of interactions (fixed items)."""
        X, _ = self._solve_rows("user", rows)
        return X, np.zeros(X.shape[0], dtype=X.dtype)

    # ------------------------------------------------------------------ explain
    def explain(self, userid: int, user_items: Any, itemid: int, user_weights: Any = None,
                N: int = 10) -> tuple[float, list[tuple[int, float]], tuple[np.ndarray, bool]]:
        r"""Explain the score of ``itemid`` for ``userid`` by the user's liked items.

        Hu, Koren & Volinsky (2008), section 5, as ``implicit``'s
        ``AlternatingLeastSquares.explain``: with :math:`W_u = Y^\top C_u Y + \lambda I` the
        user's ALS system matrix, the exactly solved user vector is
        :math:`x_u = W_u^{-1} Y^\top C_u p_u`, so the score
        :math:`x_u^\top y_i = \sum_j (W_u^{-1} y_i)^\top y_j \, c_{uj} p_{uj}` is a sum of one
        contribution per liked item j.

        Parameters
        ----------
        userid : int
            The user's row in ``user_items`` (internal index).
        user_items : scipy.sparse matrix
            The users × items training matrix, or the user's single row. Fewer columns than
            the model's items are read as the first ones.
        itemid : int
            The item whose score is explained (internal index).
        user_weights : tuple, optional
            The ``user_weights`` returned by an earlier call for this user (the
            ``scipy.linalg.cho_factor`` factorization of :math:`W_u`): skips the
            factorization.
        N : int, default 10
            Number of top contributions returned.

        Returns
        -------
        total_score : float
            The score of ``itemid`` for the user solved exactly from ``user_items`` (the sum
            of every contribution; the fold-in score of ``recommend(recalculate_user=True)``).
        top_contributions : list of (int, float)
            ``(itemid, contribution)`` of the N largest contributions, largest first.
        user_weights : tuple (ndarray, bool)
            ``scipy.linalg.cho_factor(W_u)`` (float64), to pass back for more items.

        Raises
        ------
        InputValueError
            An argument out of range or of the wrong shape (the message names it).
        """
        self._check_fitted()
        prm = self._checked_params()
        Y = self.item_factors_
        n_items, k = Y.shape
        userid = check_int("userid", userid, minimum=0)
        itemid = check_int("itemid", itemid, minimum=0)
        if itemid >= n_items:
            fail("itemid", f"an index in [0, {n_items})", itemid, index_error=True)
        N = check_int("N", N, minimum=0)
        row = _explain_row(user_items, userid, n_items)
        with np.errstate(over="ignore"):  # an overflow is reported just below
            data = row.data.astype(prm.dtype)
        if not np.isfinite(data).all():
            fail("user_items", f"finite values representable in {prm.dtype.name}",
                 Detail("NaN/inf values"))
        nz = data != 0
        items = row.indices[nz].astype(np.int64)
        conf = confidence(data[nz], prm).astype(np.float64)
        c = np.abs(conf)
        Y64 = Y.astype(np.float64)
        if user_weights is None:
            Yu = Y64[items]
            W = Y64.T @ Y64 + (Yu.T * (c - 1.0)) @ Yu
            W[np.diag_indices(k)] += prm.regularization
            try:
                user_weights = scipy.linalg.cho_factor(W)
            except np.linalg.LinAlgError:
                fail("user_items", "a row whose ALS system is positive definite (it is not "
                     f"with regularization={prm.regularization!r})",
                     Detail(f"row {userid} with {items.size} interactions"))
        elif (not isinstance(user_weights, tuple) or len(user_weights) != 2
              or np.shape(user_weights[0]) != (k, k)):
            fail("user_weights", f"None or the (({k}, {k}) array, lower) tuple returned by "
                 "an earlier explain", user_weights, type_error=True)
        w = scipy.linalg.cho_solve(user_weights, Y64[itemid])
        liked = conf > 0
        items, scores = items[liked], (Y64[items[liked]] @ w) * c[liked]
        total_score = float(scores.sum())
        order = np.argsort(-scores, kind="stable")[:N]
        top = [(int(items[j]), float(scores[j])) for j in order]
        return total_score, top, user_weights

    # ------------------------------------------------------------------ persistence
    def _state_arrays(self) -> dict[str, np.ndarray]:
        return {
            "user_factors": self.user_factors_, "item_factors": self.item_factors_,
            "user_ids": self.user_map_.ids, "item_ids": self.item_map_.ids,
            "loss_history": np.array(self.loss_history_, dtype=np.float64),
            "n_regularized_rows": np.array(self.n_regularized_rows_, dtype=np.int64),
        }

    def _set_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.user_factors_ = arrays["user_factors"]
        self.item_factors_ = arrays["item_factors"]
        self.user_map_ = IdMap(arrays["user_ids"], name="user_ids")
        self.item_map_ = IdMap(arrays["item_ids"], name="item_ids")
        self.loss_history_ = arrays["loss_history"].tolist()
        self.n_iter_ = int(self.get_params()["iterations"])
        self.n_regularized_rows_ = int(arrays["n_regularized_rows"])

def _explain_row(user_items: Any, userid: int, n_items: int) -> sp.csr_matrix:
    """The user's row of ``user_items`` (row ``userid`` of a matrix with several rows, else
    its only row) as canonical CSR with ``n_items`` columns."""
    check_sparse("user_items", user_items)
    m = _with_columns("user_items", sp.csr_matrix(user_items), n_items, "users", "items")
    if m.shape[0] == 0:
        fail("user_items", "the users × items matrix or the user's row", Detail("no rows"))
    if m.shape[0] > 1:
        if userid >= m.shape[0]:
            fail("userid", f"an index in [0, {m.shape[0]}) (the rows of user_items)", userid,
                 index_error=True)
        m = m[userid]
    if not m.has_canonical_format:
        m = m.copy()
        m.sum_duplicates()
    return m


def confidence(values: np.ndarray, prm: "ImplicitALSParams") -> np.ndarray:
    """Signed confidence: |value| = c_ui, sign = preference (kernels' convention).

    Computed in float64 by blocks of entries (no full-size float64 temporaries: the fit's
    memory stays within twice the data plus the model) and stored in the model dtype."""
    out = np.empty(values.shape, dtype=prm.dtype)
    for start in range(0, values.size, _CONF_BLOCK):
        v = values[start:start + _CONF_BLOCK]
        a = np.abs(v.astype(np.float64))
        if prm.confidence == "linear":
            c = 1.0 + prm.alpha * a
        elif prm.confidence == "log":
            c = 1.0 + prm.alpha * np.log1p(a / prm.epsilon)
        else:
            c = prm.alpha * a
        np.negative(c, out=c, where=~(v > 0))
        block = out[start:start + _CONF_BLOCK]
        with np.errstate(over="ignore"):  # an overflow is reported just below
            block[...] = c
        if not np.isfinite(block).all():
            fail("alpha", "a confidence scale that keeps every confidence finite in "
                 f"{prm.dtype.name}",
                 Detail(f"alpha={prm.alpha!r} (confidence overflow)"))
    return out
