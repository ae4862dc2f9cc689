"""Behaviour shared by every fastl2 estimator: parameters, fitted checks, input conversion."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import scipy.sparse as sp

from .._validation import Detail, fail
from ..errors import InputTypeError, InputValueError, NotFittedError
from ..interactions import Interactions


class Estimator:
    """scikit-learn conventions without the dependency.

    ``__init__`` only stores its arguments; :meth:`get_params`/:meth:`set_params` read and
    write them; fitted attributes end in ``_`` and are listed in ``_fitted_attributes``.
    """

    _fitted_attributes: tuple[str, ...] = ()

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values()
                if p.name != "self" and p.kind != p.VAR_KEYWORD]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor parameters as a dict (scikit-learn API)."""
        out = {}
        for name in self._param_names():
            value = getattr(self, name)
            out[name] = value
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                for sub, subval in value.get_params().items():
                    out[f"{name}__{sub}"] = subval
        return out

    def set_params(self, **params: Any) -> "Estimator":
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

    @classmethod
    def load(cls, path: Any) -> "Estimator":
        """Load a saved model of this class (``implicit``-style ``Model.load(path)``); see
        :func:`fastl2.load`. Raises ModelFileError when the file holds another class."""
        from ..errors import ModelFileError
        from ..persistence import load

        model = load(path)
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


def as_interactions(X: Any, dtype: np.dtype, name: str = "X") -> Interactions:
    """Accept an ``Interactions``, a scipy.sparse user×item matrix or a
    ``(users, items, values)`` tuple of equal-length arrays of external ids and values."""
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
        if str(exc).startswith(f"{name}:"):
            raise
        raise type(exc)(f"{name}: {exc}") from None
    hint = (" (wrap a dense array in scipy.sparse.csr_matrix)"
            if isinstance(X, np.ndarray) and X.ndim == 2 else "")
    fail(name, "an Interactions, a scipy.sparse user×item matrix or a (users, items, values) "
         "tuple" + hint, X, type_error=True)
    raise AssertionError  # unreachable
