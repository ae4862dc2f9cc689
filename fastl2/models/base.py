"""Behaviour shared by every fastl2 estimator: parameters, fitted checks, input conversion."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import scipy.sparse as sp

from .. import persistence
from .._validation import Detail, as_1d, describe, fail, prefixed
from ..errors import InputTypeError, InputValueError, ModelFileError, NotFittedError
from ..interactions import Interactions


class ParamsMixin:
    """scikit-learn's parameter protocol without the dependency.

    ``__init__`` only stores its arguments; :meth:`get_params`/:meth:`set_params` read and
    write them, so ``sklearn.base.clone`` and scikit-learn's model selection work on every
    class using it (``fastl2.compat.surprise.SVD`` included). ``__sklearn_tags__`` describes
    the estimator to scikit-learn >= 1.6 (imported only when scikit-learn asks).
    """

    #: "regressor" for models predicting ratings (scikit-learn's ``is_regressor``)
    _estimator_type: str | None = None

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values()
                if p.name != "self" and p.kind != p.VAR_KEYWORD]

    def _param_value(self, name: str) -> Any:
        """The value of constructor parameter ``name`` as given (hook for properties)."""
        return getattr(self, name)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor parameters as a dict (scikit-learn API).

        With ``deep``, a parameter that is itself an estimator also contributes its own
        parameters as ``name__sub``.
        """
        out = {}
        for name in self._param_names():
            value = self._param_value(name)
            out[name] = value
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                for sub, subval in value.get_params().items():
                    out[f"{name}__{sub}"] = subval
        return out

    def set_params(self, **params: Any) -> "ParamsMixin":
        """Set constructor parameters (scikit-learn API); ``a__b`` sets ``b`` of parameter ``a``."""
        valid = self._param_names()
        nested: dict[str, dict[str, Any]] = {}
        for key, value in params.items():
            name, _, sub = key.partition("__")
            if name not in valid:
                fail("set_params", f"parameter names of {type(self).__name__} ({valid})", key)
            if sub:
                nested.setdefault(name, {})[sub] = value
            else:
                setattr(self, name, value)
        for name, sub_params in nested.items():
            getattr(self, name).set_params(**sub_params)
        return self

    def __repr__(self) -> str:
        defaults = {p.name: p.default for p in inspect.signature(type(self).__init__)
                    .parameters.values()}
        changed = []
        for k, v in self.get_params(deep=False).items():
            d = defaults.get(k)
            try:
                same = bool(v == d) if not isinstance(v, np.ndarray) else False
            except Exception:
                same = False
            if not same:
                changed.append(f"{k}={v!r}")
        return f"{type(self).__name__}({', '.join(changed)})"

    def __sklearn_tags__(self) -> Any:
        """scikit-learn (>= 1.6) tags: X holds ids (strings allowed), y is optional."""
        # deferred: optional dependency (scikit-learn), imported only when it asks
        from sklearn.utils import InputTags, RegressorTags, Tags, TargetTags

        regressor = self._estimator_type == "regressor"
        return Tags(estimator_type=self._estimator_type, target_tags=TargetTags(required=False),
                    regressor_tags=RegressorTags() if regressor else None,
                    input_tags=InputTags(two_d_array=True, string=True))


class Estimator(ParamsMixin):
    """scikit-learn conventions for fastl2's own estimators.

    ``__init__`` only stores its arguments (see :class:`ParamsMixin`); fitted attributes end
    in ``_`` and are listed in ``_fitted_attributes``.

    Every concrete estimator class of fastl2 that can be restored from a file (it defines
    ``_set_state_arrays``) registers itself under its class name, the ``__class__`` written
    in model files, with :func:`fastl2.persistence.register`, where :func:`fastl2.load`
    looks it up.
    """

    _fitted_attributes: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # fastl2's own classes only: what fastl2.load accepts must not depend on the
        # subclasses a process happens to define (a user's subclass is saved, not loaded)
        if (cls.__module__.partition(".")[0] == "fastl2" and not inspect.isabstract(cls)
                and hasattr(cls, "_set_state_arrays")):
            persistence.register(cls)

    def save(self, path: Any) -> Any:
        """Save to one ``.npz`` file (atomic write) or to a binary file object, as
        ``implicit`` does; an unfitted model saves its parameters. See :func:`fastl2.load`."""
        return persistence.save_model(self, path)

    @classmethod
    def load(cls, path: Any) -> "Estimator":
        """Load a saved model of this class (``implicit``-style ``Model.load(path)``); see
        :func:`fastl2.load`. Raises ModelFileError when the file holds another class."""
        model = persistence.load(path)
        if not isinstance(model, cls):
            raise ModelFileError(f"path: expected a saved {cls.__name__}, got a "
                                 f"{type(model).__name__} in {path!r}")
        return model

    # ------------------------------------------------------------------ fitted state
    def _is_fitted(self) -> bool:
        return all(hasattr(self, a) for a in self._fitted_attributes)

    def _check_fitted(self) -> None:
        if not self._is_fitted():
            raise NotFittedError(f"This {type(self).__name__} instance is not fitted yet: "
                                 "call fit() before using it")

    def _clear_fitted(self) -> None:
        for a in list(vars(self)):
            if a.endswith("_") and not a.startswith("_"):
                delattr(self, a)
        self.__dict__.pop("_unit_cache", None)  # derived from the fitted factors


def check_is_fitted(estimator: Estimator) -> None:
    """Raise :class:`~fastl2.errors.NotFittedError` unless ``estimator`` is fitted."""
    estimator._check_fitted()


def pair_columns(X: Any, name: str = "X") -> tuple[np.ndarray, np.ndarray]:
    """The (users, items) columns of scikit-learn style ``X``: an (n, 2) array-like of
    (user, item) external ids, or a DataFrame of two columns (user, item)."""
    expected = "an (n, 2) array or a two-column DataFrame of (user, item) ids"
    if hasattr(X, "iloc") and hasattr(X, "columns"):  # a pandas DataFrame (not imported)
        if len(X.columns) != 2:
            fail(name, expected, Detail(f"a DataFrame with columns {list(X.columns)}"))
        return X.iloc[:, 0].to_numpy(), X.iloc[:, 1].to_numpy()
    if X is None or sp.issparse(X) or isinstance(X, (str, bytes, Interactions)):
        fail(name, expected, X, type_error=True)
    try:
        arr = np.asarray(X.to_numpy() if hasattr(X, "to_numpy") else X)
    except (ValueError, TypeError):  # ragged nested sequences
        fail(name, expected, X)
    if arr.ndim != 2 or arr.shape[1] != 2:
        fail(name, expected, arr, type_error=arr.ndim == 0)
    return arr[:, 0], arr[:, 1]


def check_y(y: Any, n: int, name: str = "X") -> np.ndarray:
    """scikit-learn style ``y``: one finite number per row of ``name`` (``n`` rows)."""
    values = as_1d("y", y)
    if values.dtype.kind not in "biuf":
        fail("y", "numeric values, one per (user, item) pair", values, type_error=True)
    if values.size != n:
        fail("y", f"one value per row of {name} ({n})", values)
    if not np.isfinite(values).all():
        fail("y", "finite values",
             Detail(f"{int((~np.isfinite(values)).sum())} NaN/inf values in {describe(values)}"))
    return values


def _from_pairs(X: Any, y: Any, dtype: np.dtype, name: str) -> Interactions:
    """``Interactions`` from scikit-learn style ``X`` (pairs) and ``y`` (one value per pair)."""
    if isinstance(X, (Interactions, tuple)) or sp.issparse(X):
        fail("y", f"None when {name} is an Interactions, a sparse matrix or a (users, items, "
             f"values) tuple (the values are in {name}; y goes with an (n, 2) array of pairs)",
             y)
    users, items = pair_columns(X, name)
    values = check_y(y, users.size, name)
    try:
        return Interactions.from_arrays(users, items, values, dtype=dtype)
    except (InputValueError, InputTypeError) as exc:
        if exc.argument == "duplicates":  # no policy argument here: say what to do
            fail(name, "unique (user, item) pairs (combine repeated ratings first, e.g. with "
                 "Interactions.from_arrays(..., duplicates='mean') and to_xy)",
                 Detail(exc.received))
        raise prefixed(exc, name) from None


def as_interactions(X: Any, dtype: np.dtype, name: str = "X", y: Any = None) -> Interactions:
    """Accept an ``Interactions``, a scipy.sparse user×item matrix or a
    ``(users, items, values)`` tuple of equal-length arrays of external ids and values; or,
    with ``y`` (scikit-learn style), an (n, 2) array / two-column DataFrame of (user, item)
    ids in ``X`` and one value per pair in ``y``."""
    if y is not None:
        return _from_pairs(X, y, dtype, name)
    if isinstance(X, Interactions):
        if X.matrix.dtype != dtype:
            with np.errstate(over="ignore"):  # an overflow is reported just below
                X = Interactions(X.matrix.astype(dtype), X.user_map, X.item_map, X.timestamps,
                                 X.rating_scale)
        values = X.matrix.data
        if values.size and not (np.isfinite(values.min()) and np.isfinite(values.max())):
            # the constructor does not check values; from_* would have refused these
            fail(name, f"finite values representable in {dtype.name}",
                 Detail(f"an Interactions with values from {values.min()} to {values.max()}"))
        return X
    try:
        if sp.issparse(X):
            return Interactions.from_sparse(X, dtype=dtype)
        if isinstance(X, tuple):
            if len(X) != 3:
                fail(name, "a (users, items, values) tuple of three arrays",
                     Detail(f"a tuple of {len(X)} elements"))
            return Interactions.from_arrays(X[0], X[1], X[2], dtype=dtype)
    except (InputValueError, InputTypeError) as exc:
        if exc.argument == name:  # the tuple check above
            raise
        raise prefixed(exc, name) from None
    hint = ""
    if isinstance(X, np.ndarray) and X.ndim == 2:
        hint = " (wrap a dense array in scipy.sparse.csr_matrix"
        hint += ("; an (n, 2) array of (user, item) pairs needs their values as y)"
                 if X.shape[1] == 2 else ")")
    elif hasattr(X, "columns"):
        hint = (" (use Interactions.from_dataframe, or pass the (user, item) columns with the "
                "values as y)")
    fail(name, "an Interactions, a scipy.sparse user×item matrix or a (users, items, values) "
         "tuple" + hint, X, type_error=True)
