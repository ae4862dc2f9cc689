"""Initial factor matrices, drawn in float64 (so float32 and float64 fits of one seed start from
the same point) but block by block, so the float64 temporary stays small however many rows
there are: a 480,000 × 64 matrix would otherwise need a 246 MB float64 copy."""

from __future__ import annotations

import numpy as np

_BLOCK_VALUES = 1 << 20  # float64 values drawn at once (8 MiB)


def random_factors(rng: np.random.Generator, n: int, k: int, dtype: np.dtype,
                   scale: float, kind: str, width: int | None = None) -> np.ndarray:
    """``(rng.<kind>((n, k)) * scale).astype(dtype)`` without the full float64 temporary.

    ``kind`` is ``"uniform"`` (``rng.random``) or ``"normal"`` (``rng.standard_normal``). The
    Generator produces values in order, so drawing by row blocks gives exactly the values of
    one draw of the whole matrix. With ``width`` > k the rows are ``width`` long, the
    columns beyond ``k`` zero (padding for the kernels; the drawn values are the same).
    """
    draw = rng.random if kind == "uniform" else rng.standard_normal
    width = k if width is None else width
    out = np.empty((n, width), dtype=dtype)
    out[:, k:] = 0
    rows = max(1, _BLOCK_VALUES // max(k, 1))
    for start in range(0, n, rows):
        stop = min(n, start + rows)
        out[start:stop, :k] = draw((stop - start, k)) * scale
    return out
