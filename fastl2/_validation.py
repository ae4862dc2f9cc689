"""Argument checks shared by the façade. Every message names the argument, what was
expected and what was received."""

from __future__ import annotations

import numbers
from typing import Any, NoReturn, TypeVar

import numpy as np
import scipy.sparse as sp

from .errors import Fastl2Error, InputIndexError, InputTypeError, InputValueError

E = TypeVar("E", bound=Fastl2Error)

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


def fail(name: str, expected: str, got: Any, *, type_error: bool = False,
         index_error: bool = False) -> NoReturn:
    """Raise the standard fastl2 input error, ``"{name}: expected {expected}, got
    {describe(got)}"``, with those three parts as its ``argument``, ``expected`` and
    ``received`` attributes (an :class:`~fastl2.errors.InputIndexError` for an index out of
    range with ``index_error``)."""
    cls = InputTypeError if type_error else InputIndexError if index_error else InputValueError
    received = describe(got)
    raise cls(f"{name}: expected {expected}, got {received}", argument=name, expected=expected,
              received=received)


def prefixed(exc: E, name: str) -> E:
    """``exc`` (an error about an argument of a callee) as an error about the caller's
    argument ``name``: same class, message ``"{name}: {exc}"``, ``argument`` prefixed the same
    way (just ``name`` when ``exc`` had none), ``expected`` and ``received`` kept. Raise it
    ``from None``."""
    argument = name if exc.argument is None else f"{name}: {exc.argument}"
    return type(exc)(f"{name}: {exc}", argument=argument, expected=exc.expected,
                     received=exc.received)


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


def check_pair(name: str, value: Any, *, strict: bool = False) -> tuple[float, float]:
    """A number given as a scalar or a (user, item) pair, each ``>= 0`` (``> 0`` when
    ``strict``); returns the pair."""
    op = ">" if strict else ">="
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, (tuple, list, np.ndarray)):
        if len(value) != 2 or (isinstance(value, np.ndarray) and value.ndim != 1):
            fail(name, f"a number {op} 0 or a (user, item) pair of numbers {op} 0", value)
        return (check_float(f"{name}[0]", value[0], minimum=0.0, strict=strict),
                check_float(f"{name}[1]", value[1], minimum=0.0, strict=strict))
    v = check_float(name, value, minimum=0.0, strict=strict)
    return v, v


def check_choice(name: str, value: Any, choices: tuple) -> Any:
    """``value`` if it equals one of ``choices`` (the matching choice is returned)."""
    for choice in choices:
        try:
            same = not isinstance(value, np.ndarray) and bool(value == choice)
        except (TypeError, ValueError):  # objects whose == is not a plain truth value
            same = False
        if same:
            return choice
    fail(name, "one of " + ", ".join(repr(c) for c in choices), value)


def check_bool(name: str, value: Any) -> bool:
    """True or False (numpy booleans accepted; not strings or other truthy objects)."""
    if not isinstance(value, (bool, np.bool_)):
        fail(name, "True or False", value, type_error=True)
    return bool(value)


def check_callable(name: str, value: Any) -> Any:
    """None or a callable."""
    if value is not None and not callable(value):
        fail(name, "a callable or None", value, type_error=True)
    return value


def check_representable(name: str, value: float, dtype: np.dtype) -> float:
    """``value`` (already checked finite) must stay finite in ``dtype``, the precision the
    kernels compute in: e.g. a regularization of 1e300 is inf in float32."""
    limit = float(np.finfo(dtype).max)
    if abs(value) > limit:
        fail(name, f"a value representable in {dtype.name} (at most {limit:.4g} in magnitude)",
             value)
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


def check_sparse(name: str, matrix: Any) -> Any:
    """A two-dimensional scipy.sparse matrix or array of real values whose index arrays are
    consistent with its shape.

    scipy trusts index arrays assigned after construction (or given with ``copy=False``) and
    its own conversions index with them unchecked, as do the kernels: a bad matrix is refused
    here, before any of them reads it. O(nnz) reads, no temporaries of that size.
    """
    if not sp.issparse(matrix):
        fail(name, "a scipy.sparse matrix", matrix, type_error=True)
    if matrix.ndim != 2:
        fail(name, "a two-dimensional sparse matrix", Detail(f"shape {matrix.shape}"))
    if matrix.dtype.kind not in "biuf":
        fail(name, "a sparse matrix of real values", Detail(f"dtype {matrix.dtype}"),
             type_error=True)
    n_rows, n_cols = matrix.shape
    fmt = matrix.format
    if fmt in ("csr", "csc", "bsr"):
        r, c = matrix.blocksize if fmt == "bsr" else (1, 1)
        n_major, n_minor = (n_rows // r, n_cols // c) if fmt != "csc" else (n_cols, n_rows)
        ptr, idx = matrix.indptr, matrix.indices
        if (ptr.ndim != 1 or ptr.size != n_major + 1 or ptr[0] != 0
                or np.any(ptr[1:] < ptr[:-1]) or ptr[-1] > min(idx.size, matrix.data.shape[0])):
            fail(name, f"a valid {fmt.upper()} structure (index pointer of length {n_major + 1}, "
                 "starting at 0, non-decreasing, ending within the stored entries)",
                 Detail(f"an index pointer of length {ptr.size} from {ptr[:1].tolist()} to "
                        f"{ptr[-1:].tolist()} for {idx.size} stored indices"))
        check_index_range(name, "column" if fmt != "csc" else "row", idx[:ptr[-1]], n_minor)
    elif fmt == "coo":
        row, col = matrix.coords if hasattr(matrix, "coords") else (matrix.row, matrix.col)
        if not row.size == col.size == matrix.data.size:
            fail(name, "a valid COO structure (as many row and column indices as values)",
                 Detail(f"{row.size} rows, {col.size} columns, {matrix.data.size} values"))
        check_index_range(name, "row", row, n_rows)
        check_index_range(name, "column", col, n_cols)
    return matrix


def check_index_range(name: str, what: str, index: np.ndarray, n: int) -> None:
    """Every entry of ``index`` (the ``what`` indices of argument ``name``) is in [0, n)."""
    if index.size and (index.min() < 0 or index.max() >= n):
        fail(name, f"{what} indices in [0, {n})",
             Detail(f"{what} indices from {index.min()} to {index.max()}"))


def as_1d(name: str, value: Any) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        fail(name, "a one-dimensional array", arr)
    return arr
