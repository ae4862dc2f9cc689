"""Bounded temporaries in fit (issue 6, "no hidden copies"): confidences and initial factors are
computed by blocks, with exactly the result of one full-size computation. The memory itself is
measured by ``benchmarks/bench_scale.py`` (peak RSS growth of a 100M fit), not here."""

import numpy as np
import pytest

import fastl2.training.init as init
import fastl2.models.implicit_als as implicit_als
from fastl2 import ImplicitALS
from fastl2.datasets import synthetic_ratings


@pytest.mark.parametrize("kind, draw", [("uniform", "random"), ("normal", "standard_normal")])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_random_factors_by_blocks_equal_one_draw(monkeypatch, kind, draw, dtype):
    monkeypatch.setattr(init, "_BLOCK_VALUES", 50)  # 7 rows of 7 per block, a partial last
    got = init.random_factors(np.random.default_rng(5), 103, 7, np.dtype(dtype), 0.1, kind)
    want = (getattr(np.random.default_rng(5), draw)((103, 7)) * 0.1).astype(dtype)
    assert got.dtype == dtype and np.array_equal(got, want)


@pytest.mark.parametrize("confidence", ["linear", "log", "proportional"])
def test_confidence_by_blocks_gives_the_same_model(monkeypatch, confidence):
    data = synthetic_ratings(200, 60, 3000, seed=1, implicit="counts").interactions
    m = data.matrix.copy()
    m.data[::7] *= -1  # dislikes: confidence from |r|, preference 0

    def fit():
        return ImplicitALS(factors=6, iterations=2, random_state=0, confidence=confidence,
                           alpha=2.0).fit(m, show_progress=False)
    whole = fit()
    monkeypatch.setattr(implicit_als, "_CONF_BLOCK", 97)
    blocks = fit()
    assert np.array_equal(whole.user_factors, blocks.user_factors)
    assert np.array_equal(whole.item_factors, blocks.item_factors)


def test_confidence_overflow_in_a_later_block_is_still_caught(monkeypatch):
    monkeypatch.setattr(implicit_als, "_CONF_BLOCK", 16)
    m = synthetic_ratings(100, 40, 1500, seed=2, implicit="counts").interactions.matrix.copy()
    m.data = m.data.astype(np.float32)
    m.data[-1] = 3e38  # only the last block overflows float32 once scaled
    with pytest.raises(ValueError, match="alpha"):
        ImplicitALS(factors=4, iterations=1, alpha=10.0).fit(m, show_progress=False)



def _interactions_equal(a, b):
    assert a.shape == b.shape and a.rating_scale == b.rating_scale
    assert np.array_equal(a.user_ids, b.user_ids) and np.array_equal(a.item_ids, b.item_ids)
    for name in ("indptr", "indices", "data"):
        x, y = getattr(a.matrix, name), getattr(b.matrix, name)
        assert x.dtype == y.dtype and np.array_equal(x, y), name


def test_canonical_csr_is_shared_not_copied():
    from fastl2 import Interactions

    m = synthetic_ratings(120, 40, 1500, seed=4).interactions.matrix
    shared = Interactions.from_sparse(m, rating_scale=(1, 5))
    assert np.shares_memory(shared.matrix.data, m.data)
    assert np.shares_memory(shared.matrix.indices, m.indices)
    # the same object as the general (copying) path builds
    general = Interactions.from_sparse(m.tocoo(), rating_scale=(1, 5))
    assert not np.shares_memory(general.matrix.indices, m.indices)
    _interactions_equal(shared, general)


@pytest.mark.parametrize("spoil, error", [
    ("duplicate", "duplicates"), ("unsorted", None), ("nan", "finite"), ("scale", "rating_scale"),
    ("float64", None)])
def test_a_matrix_the_shared_path_cannot_take_goes_the_general_way(spoil, error):
    import scipy.sparse as sp

    from fastl2 import Interactions

    m = synthetic_ratings(60, 30, 600, seed=5).interactions.matrix.copy()
    if spoil == "duplicate":  # column 2 twice in row 0
        m = sp.csr_matrix((np.r_[1.0, 2.0, 3.0].astype(np.float32), np.r_[2, 2, 5],
                           np.r_[0, 3, 3]), shape=(2, 6))
    elif spoil == "unsorted":
        m = sp.csr_matrix((np.r_[1.0, 2.0].astype(np.float32), np.r_[5, 2], np.r_[0, 2]),
                          shape=(1, 6))
        m.has_sorted_indices = False
    elif spoil == "nan":
        m.data[3] = np.nan
    elif spoil == "scale":
        m.data[3] = 9.0
    else:
        m = m.astype(np.float64)
    if error:
        with pytest.raises(ValueError, match=error):
            Interactions.from_sparse(m, rating_scale=(0, 5))
        return
    x = Interactions.from_sparse(m, rating_scale=(0, 5))
    assert not np.shares_memory(x.matrix.data, m.data)
    assert x.matrix.has_canonical_format and x.matrix.dtype == np.float32
    assert np.allclose(x.matrix.toarray(), m.toarray())
