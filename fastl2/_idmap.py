"""Mapping between external ids (ints or strings) and contiguous internal indices."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._validation import Detail, fail


def normalize_ids(name: str, values: Any) -> np.ndarray:
    """Return ``values`` as a 1-D int64 array or a 1-D unicode (``<U``) array.

    Integral floats (as read from text files) become int64; bytes become str; object arrays
    must hold only ints or only strings. Anything else raises an error naming ``name``.
    """
    try:
        arr = np.asarray(values)
    except (ValueError, OverflowError):  # ragged nested sequences
        fail(name, "a one-dimensional array of ids", values)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        fail(name, "a one-dimensional array of ids", arr)
    kind = arr.dtype.kind
    if kind == "U" and isinstance(values, (list, tuple)) and not all(
            isinstance(x, str) for x in values):  # numpy turned the non-strings into strings
        fail(name, "ids that are all integers or all strings",
             Detail(f"mixed types {sorted({type(x).__name__ for x in values})}"))
    if kind in "iu":
        if kind == "u" and arr.size and arr.max() > np.iinfo(np.int64).max:
            fail(name, "integer ids below 2**63", arr)
        return arr.astype(np.int64, copy=False)
    if kind == "b":
        return arr.astype(np.int64)
    if kind == "f":
        if arr.size and not np.all(np.isfinite(arr)):
            bad = np.flatnonzero(~np.isfinite(arr))
            fail(name, "finite ids", Detail(f"{bad.size} non-finite ids, first at positions "
                                           f"{bad[:5].tolist()}"))
        as_int = arr.astype(np.int64)
        if arr.size and not np.array_equal(as_int, arr):
            fail(name, "integer or string ids (integral floats accepted)", arr)
        return as_int
    if kind == "U":
        return arr
    if kind == "S":
        return arr.astype(str)
    if kind == "O":
        if arr.size == 0:
            return np.zeros(0, dtype=np.int64)
        types = {type(x) for x in arr.tolist()}
        if types <= {str}:
            return arr.astype(str)
        if all(issubclass(t, (int, np.integer)) and not issubclass(t, bool) for t in types):
            try:
                return arr.astype(np.int64)
            except OverflowError:
                fail(name, "integer ids within the int64 range (-2**63 to 2**63 - 1)",
                     Detail(f"ids from {min(arr.tolist())} to {max(arr.tolist())}"))
        fail(name, "ids that are all integers or all strings",
             Detail(f"mixed types {sorted(t.__name__ for t in types)}"))
    fail(name, "integer or string ids", arr, type_error=True)


class IdMap:
    """External id ↔ internal index, both ways, vectorized.

    ``ids[k]`` is the external id of internal index ``k``. Look-ups use a sorted view
    (binary search), so they cost O(log n) per id and no Python dictionary is built.

    Parameters
    ----------
    ids : array-like
        Unique external ids in internal-index order.
    """

    def __init__(self, ids: Any, *, name: str = "ids"):
        ids = normalize_ids(name, ids)
        sorter = np.argsort(ids, kind="stable")
        sorted_ids = ids[sorter]
        if sorted_ids.size > 1:
            same = sorted_ids[1:] == sorted_ids[:-1]
            if same.any():
                fail(name, "unique ids", Detail(f"{int(same.sum())} repeated ids such as "
                                               f"{sorted_ids[1:][same][:3].tolist()}"))
        self.ids = ids
        self._sorter = sorter
        self._sorted = sorted_ids

    @classmethod
    def from_values(cls, name: str, values: Any) -> tuple["IdMap", np.ndarray]:
        """Build a map from the distinct ids in ``values`` (sorted) and encode them.

        Returns
        -------
        (IdMap, codes) : the map and the int64 internal index of each value.
        """
        values = normalize_ids(name, values)
        uniq, codes = np.unique(values, return_inverse=True)
        m = cls.__new__(cls)
        m.ids = uniq
        m._sorter = np.arange(uniq.size, dtype=np.int64)
        m._sorted = uniq
        return m, codes.astype(np.int64, copy=False).reshape(-1)

    @classmethod
    def range(cls, n: int) -> "IdMap":
        """The identity map 0..n-1 (used when data comes without external ids)."""
        return cls(np.arange(n, dtype=np.int64))

    def __len__(self) -> int:
        return int(self.ids.size)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, IdMap) and self.ids.dtype.kind == other.ids.dtype.kind
                and np.array_equal(self.ids, other.ids))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"IdMap(n={len(self)}, dtype={self.ids.dtype})"

    def _compatible(self, values: np.ndarray) -> bool:
        a, b = self.ids.dtype.kind, values.dtype.kind
        return (a == "U") == (b == "U") or len(self) == 0

    def to_index(self, values: Any, *, name: str = "ids", missing: str = "raise") -> np.ndarray:
        """Internal indices of external ids.

        Parameters
        ----------
        values : array-like
            External ids.
        name : str
            Argument name used in error messages.
        missing : {"raise", "ignore"}
            Unknown ids raise an error, or map to -1.

        Returns
        -------
        numpy.ndarray of int64
        """
        values = normalize_ids(name, values)
        out = np.full(values.size, -1, dtype=np.int64)
        if len(self) and values.size and self._compatible(values):
            pos = np.searchsorted(self._sorted, values)
            pos_c = np.minimum(pos, len(self) - 1)
            found = self._sorted[pos_c] == values
            out[found] = self._sorter[pos_c[found]]
        if missing == "raise" and (out < 0).any():
            bad = values[out < 0]
            fail(name, f"ids known to the model ({len(self)} known)",
                 Detail(f"{bad.size} unknown ids such as {bad[:5].tolist()}"))
        return out

    def to_ids(self, index: Any, *, name: str = "index") -> np.ndarray:
        """External ids of internal indices (bounds-checked)."""
        index = np.asarray(index)
        if index.dtype.kind not in "iu":
            fail(name, "integer indices", index, type_error=True)
        if index.size and (index.min() < 0 or index.max() >= len(self)):
            fail(name, f"indices in [0, {len(self)})", index)
        return self.ids[index]

    def extend(self, values: Any, *, name: str = "ids") -> "IdMap":
        """A new map with the unknown ids of ``values`` appended in first-seen order."""
        values = normalize_ids(name, values)
        if len(self) and not self._compatible(values):
            fail(name, f"ids of the same kind as the existing ones ({self.ids.dtype})", values)
        unknown = values[self.to_index(values, missing="ignore") < 0]
        if unknown.size == 0:
            return self
        _, first = np.unique(unknown, return_index=True)
        new = unknown[np.sort(first)]
        ids = np.concatenate([self.ids, new]) if len(self) else new
        return IdMap(ids, name=name)
