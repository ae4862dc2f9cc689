"""The memory-bandwidth probe of ``fastl2 bench`` (``_kernels/stream.triad``) against its
NumPy twin (``fastl2._reference.stream``, ``b + s * c``): every element written once, whatever
the split into parts."""

from __future__ import annotations

import numpy as np
import pytest

from fastl2._kernels.stream import triad
from fastl2._reference import stream as ref


@pytest.mark.parametrize("parts", [1, 3, 64, 2000])
def test_triad_matches_numpy(parts):
    rng = np.random.default_rng(3)
    b = rng.standard_normal(1001).astype(np.float32)
    c = rng.standard_normal(1001).astype(np.float32)
    a = np.full_like(b, np.nan)
    triad(a, b, c, np.float32(0.5), parts)
    want = np.full_like(b, np.nan)
    ref.triad(want, b, c, np.float32(0.5), parts)
    np.testing.assert_array_equal(want, b + np.float32(0.5) * c)
    np.testing.assert_array_equal(a, want)
