"""The SGD kernel and the block grid against their NumPy twins."""

import numpy as np
import pytest
import scipy.sparse as sp

from fastl2.training import blocking as _blocking
from fastl2._kernels import sgd as sgd_kernels
from fastl2._reference import grid as reference_grid
from fastl2._reference import sgd as sgd_reference


def _problem(dtype, seed=0, n_users=40, n_items=30, density=0.3, k=6):
    rng = np.random.default_rng(seed)
    m = sp.random(n_users, n_items, density=density, format="csr", random_state=seed,
                  dtype=np.float64)
    m.data = rng.uniform(1, 5, m.nnz)
    m = m.astype(dtype)
    P = (rng.standard_normal((n_users, k)) * 0.1).astype(dtype)
    Q = (rng.standard_normal((n_items, k)) * 0.1).astype(dtype)
    return m, P, Q, rng


def _run(fn, m, P, Q, B, epochs, adaptive, n_workers, seed=3, lrs=(0.02, 0.02, 0.02, 0.02),
         mu=3.0):
    dt = P.dtype.type
    grid = _blocking.build_grid(m, B)
    P, Q = P.copy(), Q.copy()
    bu = np.zeros(P.shape[0], P.dtype)
    bi = np.zeros(Q.shape[0], P.dtype)
    Gp = np.ones(P.shape[0], P.dtype)
    Gq = np.ones(Q.shape[0], P.dtype)
    sse = np.zeros(B * B)
    rng = np.random.default_rng(seed)
    losses = []
    for _ in range(epochs):
        strata = _blocking.epoch_schedule(rng, B)
        wp, wb = _blocking.assign_workers(strata, grid.block_nnz, n_workers)
        fn(grid.ptr, grid.items, grid.values, grid.row_start, B, wp, wb, P, Q, bu, bi, Gp, Gq,
           dt(mu), *(dt(lr) for lr in lrs), dt(0.05), dt(0.03), dt(0.01), dt(0.02), adaptive,
           dt(1.0 / (P.shape[1] + 1)), sse)
        losses.append(sse.sum())
    return P, Q, bu, bi, np.array(losses)


@pytest.mark.parametrize("adaptive", [False, True])
@pytest.mark.parametrize("k", [6, 13, 37, 40, 100, 120])
def test_kernel_matches_reference_float64(adaptive, k):
    """Every path of the kernel's row loops (with AVX2 or AVX-512 vectors): groups of four
    full vectors, one to three more, a half vector, scalars."""
    m, P, Q, _ = _problem(np.float64, k=k)
    got = _run(sgd_kernels.sgd_epoch, m, P, Q, 3, 5, adaptive, 2)
    want = _run(sgd_reference.sgd_epoch, m, P, Q, 3, 5, adaptive, 1)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-9)
    # the training actually moved the parameters
    assert not np.allclose(got[0], P)


@pytest.mark.parametrize("k", [6, 100])
def test_kernel_matches_reference_float32(k):
    m, P, Q, _ = _problem(np.float32, seed=1, k=k)
    got = _run(sgd_kernels.sgd_epoch, m, P, Q, 4, 3, False, 2)
    want = _run(sgd_reference.sgd_epoch, m, P, Q, 4, 3, False, 1)
    assert got[0].dtype == np.float32
    for g, w in zip(got[:4], want[:4]):
        np.testing.assert_allclose(g, w, rtol=2e-4, atol=2e-5)


@pytest.mark.parametrize("adaptive", [False, True])
def test_per_parameter_steps_match_reference(adaptive):
    """Each kind of parameter moves with its own step (Surprise's lr_pu, lr_qi, lr_bu, lr_bi)."""
    m, P, Q, _ = _problem(np.float64, seed=9)
    lrs = (0.03, 0.01, 0.002, 0.05)
    got = _run(sgd_kernels.sgd_epoch, m, P, Q, 3, 4, adaptive, 2, lrs=lrs)
    want = _run(sgd_reference.sgd_epoch, m, P, Q, 3, 4, adaptive, 1, lrs=lrs)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-9)
    # differs from the run with one shared step: the four steps are really used separately
    same = _run(sgd_kernels.sgd_epoch, m, P, Q, 3, 4, adaptive, 2, lrs=(0.03,) * 4)
    for g, s in zip(got[:4], same[:4]):
        assert not np.allclose(g, s)


def test_zero_bias_steps_and_zero_mean_train_the_unbiased_model():
    m, P, Q, _ = _problem(np.float64, seed=10)
    got = _run(sgd_kernels.sgd_epoch, m, P, Q, 2, 5, False, 2, lrs=(0.02, 0.02, 0.0, 0.0),
               mu=0.0)
    want = _run(sgd_reference.sgd_epoch, m, P, Q, 2, 5, False, 1, lrs=(0.02, 0.02, 0.0, 0.0),
                mu=0.0)
    assert not got[2].any() and not got[3].any()  # biases stay exactly 0
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-9)
    assert got[4][-1] < got[4][0]  # the factors alone fit the ratings


def test_kernel_result_independent_of_worker_split():
    m, P, Q, _ = _problem(np.float32, seed=2, n_users=80, n_items=50)
    runs = [_run(sgd_kernels.sgd_epoch, m, P, Q, 4, 4, True, w) for w in (1, 2, 3, 4)]
    for other in runs[1:]:
        for a, b in zip(runs[0], other):
            assert np.array_equal(a, b)


def test_sse_is_sum_of_pre_update_errors():
    m, P, Q, _ = _problem(np.float64, seed=4)
    # with lr tiny, parameters barely move, so the epoch SSE equals the SSE at the start
    grid = _blocking.build_grid(m, 2)
    sse = np.zeros(4)
    bu, bi = np.zeros(P.shape[0]), np.zeros(Q.shape[0])
    wp, wb = _blocking.assign_workers(_blocking.epoch_schedule(np.random.default_rng(0), 2),
                                      grid.block_nnz, 2)
    # P, Q are in original order; the grid renumbers rows/cols, so permute them
    Pg, Qg = P[grid.row_perm].copy(), Q[grid.col_perm].copy()
    sgd_kernels.sgd_epoch(grid.ptr, grid.items, grid.values, grid.row_start, 2, wp, wb, Pg, Qg,
                          bu, bi, np.ones_like(bu), np.ones_like(bi), 3.0, 1e-12, 1e-12, 1e-12,
                          1e-12, 0.0, 0.0, 0.0, 0.0, False, 1.0, sse)
    coo = m.tocoo()
    expected = np.sum((coo.data - 3.0 - np.einsum("ij,ij->i", P[coo.row], Q[coo.col])) ** 2)
    assert sse.sum() == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("B", [1, 2, 5])
def test_grid_kernel_matches_reference(B):
    m, *_ = _problem(np.float32, seed=5, n_users=33, n_items=21)
    a = _blocking.build_grid(m, B)
    b = _blocking.build_grid(m, B, use_reference=True)
    assert np.array_equal(a.ptr, b.ptr)
    assert np.array_equal(a.items, b.items)
    assert np.array_equal(a.values, b.values)
    assert a.block_nnz.sum() == m.nnz


def test_grid_holds_every_entry_once_in_its_block():
    m, *_ = _problem(np.float64, seed=6, n_users=37, n_items=23, density=0.4)
    B = 3
    g = _blocking.build_grid(m, B)
    dense = m.toarray()
    seen = np.zeros_like(dense, dtype=int)
    for b in range(B * B):
        gu, h = divmod(b, B)
        lo, hi = g.block_range(b)
        n_g = g.row_start[gu + 1] - g.row_start[gu]
        seg = B * g.row_start[gu] + h * n_g
        for r in range(n_g):
            for j in range(g.ptr[seg + r], g.ptr[seg + r + 1]):
                assert lo <= j < hi
                col = g.items[j]
                assert g.col_start[h] <= col < g.col_start[h + 1]
                u, i = g.row_perm[g.row_start[gu] + r], g.col_perm[col]
                assert g.values[j] == dense[u, i]
                seen[u, i] += 1
    assert np.array_equal(seen, (dense != 0).astype(int))


def test_balanced_groups_balance_counts():
    rng = np.random.default_rng(0)
    counts = (rng.pareto(1.2, 5000) * 10).astype(np.int64) + 1
    groups = _blocking.balanced_groups(counts, 8)
    totals = np.bincount(groups, weights=counts, minlength=8)
    assert totals.sum() == counts.sum()
    assert totals.max() - totals.min() <= counts.max()
    order = np.lexsort((np.arange(counts.size), -counts))
    assert np.array_equal(groups, reference_grid.lpt_groups(order, counts, 8))


def test_schedule_covers_every_block_once_and_strata_are_disjoint():
    B = 6
    strata = _blocking.epoch_schedule(np.random.default_rng(1), B)
    assert sorted(strata.ravel().tolist()) == list(range(B * B))
    for s in strata:
        g, h = np.divmod(s, B)
        assert len(set(g.tolist())) == B and len(set(h.tolist())) == B
    wp, wb = _blocking.assign_workers(strata, np.arange(B * B), 4)
    for s in range(B):
        assert sorted(wb[s].tolist()) == sorted(strata[s].tolist())
        assert wp[s, -1] == B


def test_minibatch_baseline_reduces_error():
    m, P, Q, rng = _problem(np.float64, seed=8, n_users=60, n_items=40, density=0.5)
    coo = m.tocoo()
    bu, bi = np.zeros(P.shape[0]), np.zeros(Q.shape[0])
    first = None
    for _ in range(30):
        sse = sgd_reference.minibatch_sgd_epoch(coo.row, coo.col, coo.data, P, Q, bu, bi,
                                                float(coo.data.mean()), 0.05, 0.01, 0.01, 0.0,
                                                0.0, rng, batch_size=64)
        first = sse if first is None else first
    assert sse < 0.6 * first


@pytest.mark.parametrize("adaptive", [False, True])
def test_single_block_kernel_matches_its_twin_and_the_epoch_kernel(adaptive):
    """:func:`sgd_block` (distributed SGD's task) on one block with group-local indices: its
    twin's result, and the same bits as that block run by the epoch kernel."""
    m, P, Q, _ = _problem(np.float64, seed=5, n_users=50, k=13)
    B, g, h = 3, 1, 2
    grid = _blocking.build_grid(m, B)
    rs, cs = grid.row_start, grid.col_start
    lo, hi = grid.block_range(g * B + h)
    n_g = int(rs[g + 1] - rs[g])
    seg = B * int(rs[g]) + h * n_g
    ptr = grid.ptr[seg:seg + n_g + 1] - lo
    items = grid.items[lo:hi] - grid.items.dtype.type(cs[h])
    assert hi - lo > 20 and items.min() == 0  # a real block, with local indices
    state = [P, Q, np.linspace(-0.1, 0.1, P.shape[0]), np.linspace(0.2, -0.2, Q.shape[0]),
             np.linspace(1, 2, P.shape[0]), np.linspace(1, 3, Q.shape[0])]
    args = (3.0, 0.02, 0.03, 0.01, 0.04, 0.05, 0.03, 0.01, 0.02, adaptive, 1.0 / 14)

    def group(arrays):
        (P, Q, bu, bi, Gp, Gq), u, i = arrays, slice(rs[g], rs[g + 1]), slice(cs[h], cs[h + 1])
        return [a[u].copy() for a in (P, bu, Gp)], [a[i].copy() for a in (Q, bi, Gq)]

    runs = []
    for fn in (sgd_kernels.sgd_block, sgd_reference.sgd_block):
        (Pg, bug, Gpg), (Qh, bih, Gqh) = group(state)
        sse = fn(ptr, items, grid.values[lo:hi], Pg, Qh, bug, bih, Gpg, Gqh, *args)
        runs.append((sse, Pg, Qh, bug, bih, Gpg, Gqh))
    for got, want in zip(*runs):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    assert not np.allclose(runs[0][1], group(state)[0][0])  # the block did move its rows
    whole = [a.copy() for a in state]
    sse = np.zeros(B * B)
    sgd_kernels.sgd_epoch(grid.ptr, grid.items, grid.values, rs, B, np.array([[0, 1]]),
                          np.array([[g * B + h] * B]), *whole, *args, sse)
    (Pg, bug, Gpg), (Qh, bih, Gqh) = group(whole)
    assert sse[g * B + h] == runs[0][0]
    for got, want in zip((Pg, Qh, bug, bih, Gpg, Gqh), runs[0][1:]):
        np.testing.assert_array_equal(got, want)
