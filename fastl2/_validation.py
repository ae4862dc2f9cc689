"""Argument checks shared by the façade. Every message names the argument, what was
expected and what was received."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from .errors import InputTypeError, InputValueError

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


class Detail(str):
    """A preformatted description of what was received (printed as is, not repr'd)."""


def describe(value: Any) -> str:
    """A short description of a received value for an error message."""
    if isinstance(value, Detail):
        return str(value)
    if isinstance(value, np.ndarray):
        return f"array of dtype {value.dtype} and shape {value.shape}"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def fail(name: str, expected: str, got: Any, *, type_error: bool = False) -> None:
    """Raise the standard fastl2 input error."""
    cls = InputTypeError if type_error else InputValueError
    raise cls(f"{name}: expected {expected}, got {describe(got)}")


def check_int(name: str, value: Any, *, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        fail(name, "an integer" + (f" >= {minimum}" if minimum is not None else ""), value,
             type_error=True)
    value = int(value)
    if minimum is not None and value < minimum:
        fail(name, f"an integer >= {minimum}", value)
    return value


def check_float(name: str, value: Any, *, minimum: float | None = None,
                strict: bool = False) -> float:
    """A finite real number, ``>= minimum`` (``> minimum`` when ``strict``)."""
    op = ">" if strict else ">="
    expected = "a finite real number" + (f" {op} {minimum}" if minimum is not None else "")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        fail(name, expected, value, type_error=True)
    value = float(value)
    if not np.isfinite(value):
        fail(name, expected, value)
    if minimum is not None and (value <= minimum if strict else value < minimum):
        fail(name, expected, value)
    return value


def check_reg_pair(name: str, value: Any) -> tuple[float, float]:
    """A regularization strength given as a scalar or a (user, item) pair, each >= 0."""
    if isinstance(value, (tuple, list, np.ndarray)):
        if len(value) != 2:
            fail(name, "a number >= 0 or a (user, item) pair of numbers >= 0", value)
        return (check_float(f"{name}[0]", value[0], minimum=0.0),
                check_float(f"{name}[1]", value[1], minimum=0.0))
    v = check_float(name, value, minimum=0.0)
    return v, v


def check_choice(name: str, value: Any, choices: tuple) -> Any:
    if value not in choices:
        fail(name, "one of " + ", ".join(repr(c) for c in choices), value)
    return value


def check_dtype(name: str, value: Any) -> np.dtype:
    try:
        dt = np.dtype(value)
    except TypeError:
        fail(name, "float32 or float64", value, type_error=True)
    if dt not in FLOAT_DTYPES:
        fail(name, "float32 or float64", value)
    return dt


def check_random_state(name: str, value: Any) -> np.random.Generator:
    """``None``, an int seed or a ``numpy.random.Generator`` → a Generator."""
    if isinstance(value, np.random.Generator):
        return value
    if value is None:
        return np.random.default_rng()
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        fail(name, "None, an integer >= 0 or a numpy.random.Generator", value, type_error=True)
    return np.random.default_rng(int(value))


def as_1d(name: str, value: Any) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        fail(name, "a one-dimensional array", arr)
    return arr
