"""Block-stratified parallel SGD for biased MF, with the L2 term fused into each update.

One call of :func:`sgd_epoch` runs a whole epoch: strata in order, and inside a stratum the
blocks in parallel (``prange`` over workers, each running its list of blocks). Blocks of a
stratum share no user and no item, so no two threads ever write the same factor or bias row:
no locks, no races, and the result does not depend on the thread count.

Per rating (r_ui, grid row u, grid column i), with e = r_ui − (μ + b_u + b_i + p_u·q_i):

    b_u ← b_u + η_bu (e − λ_bu b_u)         b_i ← b_i + η_bi (e − λ_bi b_i)
    p_u ← p_u + η_p (e q_i − λ_p p_u)       q_i ← q_i + η_q (e p_u − λ_q q_i)

(simultaneous update of p_u and q_i, read once and written once per rating). Each kind of
parameter has its own step and L2 strength, named as ``BiasedMF`` names them
(``learning_rate_user`` is the user side of its ``learning_rate``; Surprise's ``lr_pu``); a step
of 0 for both biases with μ = 0 trains the unbiased model (the biases stay exactly 0). With
the adaptive rule (AdaGrad per row, as LIBMF) every step of a row is divided by sqrt(G_row),
G accumulating the row's mean squared gradient (factors and bias) after each update;
otherwise the steps are constant.
"""

import numba
import numpy as np

from ._flags import CACHE
from .simd import hload, hzero, vadd, vfma, vload, vscale, vstore, vsum, vwidth, vzero

# The SGD kernel is written with explicit vectors (:mod:`.simd`), so it needs no fast-math
# flag: every reduction has an order fixed in the source (see :func:`_first_dot`), the same
# in every process and compile. (LLVM's loop vectorizer needs reassociation to vectorize a
# reduction, and with it the process that compiles the kernel can differ in the last bits
# from those loading it from the cache.)
_STRICT = False


@numba.njit(fastmath=_STRICT, nogil=True, inline="always")
def _pair(pv, qv, e, eta_p, eta_q, mp, mq):  # pragma: no cover - compiled
    """One piece of the simultaneous update (full or half vectors, or scalars): the
    gradients ``e·q − λ_p·p`` and ``e·p − λ_q·q`` and the updated values."""
    gp = vfma(e, qv, vscale(mp, pv))
    gq = vfma(e, pv, vscale(mq, qv))
    return vfma(eta_p, gp, pv), vfma(eta_q, gq, qv), gp, gq


@numba.njit(fastmath=_STRICT, nogil=True, inline="always")
def _dot_piece(p, a, q, b, f, acc):  # pragma: no cover - compiled
    return vfma(vload(p, a + f), vload(q, b + f), acc)


@numba.njit(fastmath=_STRICT, nogil=True, inline="always")
def _step_piece(p, a, q, b, n, f, e, eta_p, eta_q, mp, mq, acc, sp, sq,
                squares):  # pragma: no cover - compiled
    """Update one full vector of the pair, and accumulate it into the next dot product."""
    pv, qv, gp, gq = _pair(vload(p, a + f), vload(q, b + f), e, eta_p, eta_q, mp, mq)
    vstore(p, a + f, pv)
    vstore(q, b + f, qv)
    if squares:
        sp = vfma(gp, gp, sp)
        sq = vfma(gq, gq, sq)
    return vfma(pv, vload(q, n + f), acc), sp, sq


@numba.njit(fastmath=_STRICT, nogil=True, inline="always")
def _first_dot(p, a, q, b, k):  # pragma: no cover - compiled
    """``p[a:a+k] · q[b:b+k]`` in the order every dot product of the kernel is summed: full
    vector ``c`` into accumulator ``c mod 4``, a pairwise tree over the four, then the half
    vector, then the scalars."""
    zero = p[0] - p[0]
    w = vwidth(zero)
    h = w // 2
    a0 = vzero(zero)
    a1 = vzero(zero)
    a2 = vzero(zero)
    a3 = vzero(zero)
    f = 0
    while f + 4 * w <= k:
        a0 = _dot_piece(p, a, q, b, f, a0)
        a1 = _dot_piece(p, a, q, b, f + w, a1)
        a2 = _dot_piece(p, a, q, b, f + 2 * w, a2)
        a3 = _dot_piece(p, a, q, b, f + 3 * w, a3)
        f += 4 * w
    if f + w <= k:
        a0 = _dot_piece(p, a, q, b, f, a0)
        f += w
        if f + w <= k:
            a1 = _dot_piece(p, a, q, b, f, a1)
            f += w
            if f + w <= k:
                a2 = _dot_piece(p, a, q, b, f, a2)
                f += w
    dot = vsum(vadd(vadd(a0, a1), vadd(a2, a3)))
    if f + h <= k:
        dot += vsum(vfma(hload(p, a + f), hload(q, b + f), hzero(zero)))
        f += h
    for g in range(f, k):
        dot += p[a + g] * q[b + g]
    return dot


@numba.njit(fastmath=_STRICT, nogil=True, inline="always")
def _rating(p, a, q, items, j, hi, k, ratings, global_mean, bu_u, bi, Gp_u, Gq, dot, eta_u,
            eta_bu, learning_rate_user, learning_rate_item, bias_learning_rate_user,
            bias_learning_rate_item, regularization_user, regularization_item,
            bias_regularization_user, bias_regularization_item, adagrad,
            inv_factors_plus_one):  # pragma: no cover - compiled
    """The update for rating ``j`` of a user (factors ``p[a:a+k]``, bias ``bu_u``, AdaGrad
    sum ``Gp_u``, current steps ``eta_u``, ``eta_bu``; ``dot`` = its prediction's dot
    product), whose ratings end at ``hi``. Returns the user's new bias, sum and steps, the
    next rating's dot product and the squared error.

    The update pass also computes the next rating's dot product from the updated user
    factors while they are in registers (the next item differs: a CSR row holds each item
    once), so the user's row is read once per rating; it is summed in :func:`_first_dot`'s
    order.
    """
    zero = dot - dot
    w = vwidth(zero)
    h = w // 2
    mp = -regularization_user
    mq = -regularization_item
    i = items[j]
    b = i * k
    # the next rating's item row (this one's when it is the last: computed, not used)
    n = items[j + 1] * k if j + 1 < hi else b
    # the dot product last: it ends the longest dependency chain
    e = ((ratings[j] - global_mean) - bi[i] - bu_u) - dot
    gbu = e - bias_regularization_user * bu_u
    gbi = e - bias_regularization_item * bi[i]
    eta_i = learning_rate_item
    eta_bi = bias_learning_rate_item
    if adagrad:
        root_i = np.sqrt(Gq[i])
        eta_i = learning_rate_item / root_i
        eta_bi = bias_learning_rate_item / root_i
    bu_u += eta_bu * gbu
    bi[i] += eta_bi * gbi
    a0 = vzero(zero)
    a1 = vzero(zero)
    a2 = vzero(zero)
    a3 = vzero(zero)
    sp = vzero(zero)
    sq = vzero(zero)
    f = 0
    while f + 4 * w <= k:
        a0, sp, sq = _step_piece(p, a, q, b, n, f, e, eta_u, eta_i, mp, mq, a0, sp, sq,
                                 adagrad)
        a1, sp, sq = _step_piece(p, a, q, b, n, f + w, e, eta_u, eta_i, mp, mq, a1, sp, sq,
                                 adagrad)
        a2, sp, sq = _step_piece(p, a, q, b, n, f + 2 * w, e, eta_u, eta_i, mp, mq, a2, sp,
                                 sq, adagrad)
        a3, sp, sq = _step_piece(p, a, q, b, n, f + 3 * w, e, eta_u, eta_i, mp, mq, a3, sp,
                                 sq, adagrad)
        f += 4 * w
    if f + w <= k:
        a0, sp, sq = _step_piece(p, a, q, b, n, f, e, eta_u, eta_i, mp, mq, a0, sp, sq,
                                 adagrad)
        f += w
        if f + w <= k:
            a1, sp, sq = _step_piece(p, a, q, b, n, f, e, eta_u, eta_i, mp, mq, a1, sp, sq,
                                     adagrad)
            f += w
            if f + w <= k:
                a2, sp, sq = _step_piece(p, a, q, b, n, f, e, eta_u, eta_i, mp, mq, a2, sp,
                                         sq, adagrad)
                f += w
    dot = vsum(vadd(vadd(a0, a1), vadd(a2, a3)))
    tp = vsum(sp)
    tq = vsum(sq)
    if f + h <= k:
        pv, qv, gp, gq = _pair(hload(p, a + f), hload(q, b + f), e, eta_u, eta_i, mp, mq)
        vstore(p, a + f, pv)
        vstore(q, b + f, qv)
        dot += vsum(vfma(pv, hload(q, n + f), hzero(zero)))
        if adagrad:
            tp += vsum(vfma(gp, gp, hzero(zero)))
            tq += vsum(vfma(gq, gq, hzero(zero)))
        f += h
    for g in range(f, k):
        pf, qf, gpf, gqf = _pair(p[a + g], q[b + g], e, eta_u, eta_i, mp, mq)
        p[a + g] = pf
        q[b + g] = qf
        dot += pf * q[n + g]
        if adagrad:
            tp += gpf * gpf
            tq += gqf * gqf
    if adagrad:
        Gp_u += (gbu * gbu + tp) * inv_factors_plus_one
        Gq[i] += (gbi * gbi + tq) * inv_factors_plus_one
        root_u = np.sqrt(Gp_u)
        eta_u = learning_rate_user / root_u
        eta_bu = bias_learning_rate_user / root_u
    return bu_u, Gp_u, eta_u, eta_bu, dot, np.float64(e) * np.float64(e)


@numba.njit(fastmath=_STRICT, nogil=True, inline="always")
def _sgd_block(seg, n_rows, u0, ptr, items, ratings, P, Q, bu, bi, Gp, Gq, global_mean,
               learning_rate_user, learning_rate_item, bias_learning_rate_user,
               bias_learning_rate_item, regularization_user, regularization_item,
               bias_regularization_user, bias_regularization_item, adagrad,
               inv_factors_plus_one):  # pragma: no cover - compiled
    """One block: rows ``seg``… of the grid (users ``u0``…), each user's ratings in order;
    the user's bias and AdaGrad sum stay in registers over its ratings. Returns the sum of
    the squared errors."""
    k = P.shape[1]
    p = P.reshape(-1)  # flat views, made once: a row view per rating would cost a
    q = Q.reshape(-1)  # reference-count update each
    sse = 0.0
    for r in range(n_rows):
        lo = ptr[seg + r]
        hi = ptr[seg + r + 1]
        if lo == hi:
            continue
        u = u0 + r
        a = u * k
        bu_u = bu[u]
        Gp_u = Gp[u]
        eta_u = learning_rate_user
        eta_bu = bias_learning_rate_user
        if adagrad:
            root_u = np.sqrt(Gp_u)
            eta_u = learning_rate_user / root_u
            eta_bu = bias_learning_rate_user / root_u
        dot = _first_dot(p, a, q, items[lo] * k, k)
        for j in range(lo, hi):
            bu_u, Gp_u, eta_u, eta_bu, dot, s = _rating(
                p, a, q, items, j, hi, k, ratings, global_mean, bu_u, bi, Gp_u, Gq, dot, eta_u,
                eta_bu, learning_rate_user, learning_rate_item, bias_learning_rate_user,
                bias_learning_rate_item, regularization_user, regularization_item,
                bias_regularization_user, bias_regularization_item, adagrad, inv_factors_plus_one)
            sse += s
        bu[u] = bu_u
        Gp[u] = Gp_u
    return sse


@numba.njit(parallel=True, fastmath=_STRICT, nogil=True, cache=CACHE)
def sgd_epoch(ptr, items, ratings, row_start, n_blocks, work_ptr, work_blocks, P, Q, bu, bi, Gp,
              Gq, global_mean, learning_rate_user, learning_rate_item, bias_learning_rate_user,
              bias_learning_rate_item, regularization_user, regularization_item,
              bias_regularization_user, bias_regularization_item, adagrad, inv_factors_plus_one,
              block_sse):  # pragma: no cover - compiled
    """Run one epoch over the block grid, updating P, Q, bu, bi (and Gp, Gq) in place.

    ``block_sse[b]`` receives the sum of squared pre-update errors of block ``b``; summing it
    in block order gives a loss that does not depend on the thread count.

    Parameters
    ----------
    ptr : numpy.ndarray of int64, shape (n_blocks * n_rows + 1,)
        The block grid's pointers (layout in :mod:`fastl2._kernels.grid`): block b's grid row
        r holds the entries ``ptr[seg(b) + r]…ptr[seg(b) + r + 1]``.
    items : numpy.ndarray of int, shape (nnz,)
        Each entry's item as a grid column (a row of ``Q``).
    ratings : numpy.ndarray, shape (nnz,), dtype of ``P``
        Each entry's rating r_ui.
    row_start : numpy.ndarray of int64, shape (n_blocks + 1,)
        Row group g is grid rows ``row_start[g]…row_start[g + 1]``.
    n_blocks : int
        Number of row groups (= column groups); the grid has ``n_blocks²`` blocks.
    work_ptr : numpy.ndarray of int64, shape (n_strata, n_workers + 1)
        Stratum s gives worker w the blocks
        ``work_blocks[s, work_ptr[s, w]…work_ptr[s, w + 1]]``.
    work_blocks : numpy.ndarray of int64, shape (n_strata, n_blocks)
        Block numbers ``b = g · n_blocks + h`` per stratum, grouped by worker; the blocks of a
        stratum share no row group and no column group.
    P : numpy.ndarray, shape (n_rows, k), float32 or float64, C-contiguous
        User factors (grid-row order), updated in place.
    Q : numpy.ndarray, shape (n_cols, k), dtype of ``P``, C-contiguous
        Item factors (grid-column order), updated in place.
    bu, bi : numpy.ndarray, shape (n_rows,) and (n_cols,), dtype of ``P``
        User and item biases, updated in place.
    Gp, Gq : numpy.ndarray, shape (n_rows,) and (n_cols,), dtype of ``P``
        Per-row AdaGrad sums (users, items): updated in place when ``adagrad``, otherwise
        neither read nor written.
    global_mean : scalar, dtype of ``P``
        The global mean μ.
    learning_rate_user, learning_rate_item : scalar, dtype of ``P``
        Steps of the user and item factors: ``BiasedMF``'s ``learning_rate`` (user, item).
    bias_learning_rate_user, bias_learning_rate_item : scalar, dtype of ``P``
        Steps of the user and item biases: ``bias_learning_rate`` (user, item).
    regularization_user, regularization_item : scalar, dtype of ``P``
        L2 strengths of the user and item factors: ``regularization`` (user, item).
    bias_regularization_user, bias_regularization_item : scalar, dtype of ``P``
        L2 strengths of the user and item biases: ``bias_regularization`` (user, item).
    adagrad : bool
        True: AdaGrad per row (each step divided by sqrt(G_row)); False: constant steps.
    inv_factors_plus_one : scalar, dtype of ``P``
        1 / (k + 1): a rating's squared gradients (k factors and the bias) are averaged with it
        into G.
    block_sse : numpy.ndarray of float64, shape (n_blocks²,)
        Written in place: per block, the sum of the squared pre-update errors.

    Returns
    -------
    None
    """
    n_strata = work_ptr.shape[0]
    n_workers = work_ptr.shape[1] - 1
    for s in range(n_strata):
        for w in numba.prange(n_workers):
            for jb in range(work_ptr[s, w], work_ptr[s, w + 1]):
                b = work_blocks[s, jb]
                g = b // n_blocks
                h = b - g * n_blocks
                u0 = row_start[g]
                n_g = row_start[g + 1] - u0
                seg = n_blocks * u0 + h * n_g
                block_sse[b] = _sgd_block(seg, n_g, u0, ptr, items, ratings, P, Q, bu, bi, Gp, Gq,
                                          global_mean, learning_rate_user, learning_rate_item,
                                          bias_learning_rate_user, bias_learning_rate_item,
                                          regularization_user, regularization_item,
                                          bias_regularization_user, bias_regularization_item,
                                          adagrad, inv_factors_plus_one)


@numba.njit(parallel=True, fastmath=_STRICT, nogil=True, cache=CACHE)
def sgd_block(ptr, items, ratings, P, Q, bu, bi, Gp, Gq, global_mean, learning_rate_user,
              learning_rate_item, bias_learning_rate_user, bias_learning_rate_item,
              regularization_user, regularization_item, bias_regularization_user,
              bias_regularization_item, adagrad,
              inv_factors_plus_one):  # pragma: no cover - compiled
    """One block of the grid on its own, as distributed SGD (DSGD) runs it on a worker.

    ``P``, ``bu``, ``Gp`` are the block's row group (row ``r`` is its ``r``-th grid row),
    ``Q``, ``bi``, ``Gq`` its column group; row ``r``'s entries are
    ``ptr[r]…ptr[r + 1]`` of ``items`` (indices into the column group) and ``ratings``.
    The same code as a block of :func:`sgd_epoch`, so the updates are the same bits. Returns
    the sum of the squared pre-update errors.

    The one-iteration ``prange`` is deliberate: Numba compiles a parallel loop's body as a
    function of its own, which LLVM optimizes as it does :func:`sgd_epoch`'s; the same body
    in a plain function is optimized less well (measurement: docs/benchmarks.md, "Kernel
    design measurements").

    Parameters
    ----------
    ptr : numpy.ndarray of int64, shape (n_rows_block + 1,)
        The block's CSR pointers over its rows.
    items : numpy.ndarray of int, shape (nnz_block,)
        Each entry's item, an index into the column group.
    ratings : numpy.ndarray, shape (nnz_block,), dtype of ``P``
        Each entry's rating.
    P, bu, Gp : numpy.ndarray, shapes (n_rows_block, k), (n_rows_block,), (n_rows_block,)
        The row group's factors, biases and AdaGrad sums, updated in place (``Gp`` only when
        ``adagrad``).
    Q, bi, Gq : numpy.ndarray, shapes (n_cols_block, k), (n_cols_block,), (n_cols_block,)
        The column group's, likewise.
    global_mean, learning_rate_user, learning_rate_item, bias_learning_rate_user,
    bias_learning_rate_item, regularization_user, regularization_item,
    bias_regularization_user, bias_regularization_item, adagrad, inv_factors_plus_one
        As in :func:`sgd_epoch`.

    Returns
    -------
    float
        The sum of the squared pre-update errors (float64).
    """
    sse = np.zeros(1)
    for _ in numba.prange(1):
        sse[0] = _sgd_block(0, ptr.shape[0] - 1, 0, ptr, items, ratings, P, Q, bu, bi, Gp, Gq,
                            global_mean, learning_rate_user, learning_rate_item,
                            bias_learning_rate_user, bias_learning_rate_item, regularization_user,
                            regularization_item, bias_regularization_user,
                            bias_regularization_item, adagrad, inv_factors_plus_one)
    return sse[0]
