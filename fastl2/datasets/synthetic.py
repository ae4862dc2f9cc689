"""A fast generator of MovieLens-shaped ratings with a planted model.

:func:`synthetic_ratings` generates MovieLens-shaped data (power-law item popularity,
heavy-tailed user activity) from a known biased low-rank model, returned with the ground
truth as :class:`SyntheticData`; the sampling itself is the Numba kernel
:mod:`fastl2._kernels.synthetic`.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numba
import numpy as np
import scipy.sparse as sp

from .._idmap import IdMap
from .._kernels import synthetic as kern
from .._validation import check_dtype, check_float, check_int, check_random_state, fail
from ..interactions import Interactions

__all__ = ["SyntheticData", "synthetic_ratings"]


USER_ACTIVITY_SIGMA = 1.2      # log-normal spread of user activity (ML-20M: mean/median ≈ 2)
IMPLICIT_AFFINITY_GAIN = 2.0   # implicit: acceptance = logistic(gain · (score − mean))
_INTERACTION_STD = 0.8
_USER_BIAS_STD = 0.3
_ITEM_BIAS_STD = 0.5
_GLOBAL_MEAN = 3.5


@dataclass(eq=False)
class SyntheticData:
    """Synthetic interactions and the planted model that generated them.

    Attributes
    ----------
    interactions : Interactions
        Users ``0..n_users-1`` × items ``0..n_items-1`` (external id = internal index).
    global_mean : float
    user_bias, item_bias : numpy.ndarray of float64
    user_factors, item_factors : numpy.ndarray of float64, shape (n, rank)
    noise : float
        Standard deviation of the Gaussian noise added to each rating (for counts: of the
        log-rate).
    item_weights : numpy.ndarray of float64
        Popularity weight of each item (sums to 1).
    implicit : bool or str
        False, "counts" or "binary".
    """

    interactions: Interactions
    global_mean: float
    user_bias: np.ndarray
    item_bias: np.ndarray
    user_factors: np.ndarray
    item_factors: np.ndarray
    noise: float
    item_weights: np.ndarray = field(repr=False)
    implicit: bool | str = False

    def expected(self, users: Any, items: Any) -> np.ndarray:
        """Noiseless, unclipped planted score ``μ + b_u + b_i + p_u·q_i`` (float64).

        For explicit data this is the expected rating before clipping and rounding; for
        ``implicit="counts"`` the count is ``1 + Poisson(exp(score − μ + noise·z))``.

        Parameters
        ----------
        users, items : array-like of int
            Internal indices (equal to the ids), broadcast against each other.
        """
        u = np.asarray(users)
        i = np.asarray(items)
        for name, idx, n in (("users", u, self.user_bias.size),
                             ("items", i, self.item_bias.size)):
            if idx.dtype.kind not in "iu":
                fail(name, "integer indices", idx, type_error=True)
            if idx.size and (idx.min() < 0 or idx.max() >= n):
                fail(name, f"indices in [0, {n})", idx)
        u, i = np.broadcast_arrays(u, i)
        shape = u.shape
        u, i = u.ravel(), i.ravel()
        out = np.empty(u.size, dtype=np.float64)
        step = 1 << 20
        for s in range(0, u.size, step):
            uu, ii = u[s:s + step], i[s:s + step]
            out[s:s + step] = (self.global_mean + self.user_bias[uu] + self.item_bias[ii]
                               + np.einsum("ij,ij->i", self.user_factors[uu],
                                           self.item_factors[ii]))
        return out.reshape(shape)


def _max_numba_threads() -> int:
    """Threads the generator may use: Numba's current setting (see ``fastl2._threads``)."""
    return int(numba.get_num_threads())


def _user_counts(n_users: int, n_items: int, n_ratings: int, floor: int, sigma: float,
                 rng: np.random.Generator) -> np.ndarray:
    """Per-user counts: ``floor`` each plus a log-normal share of the rest, capped at
    ``n_items`` (water-filling), rounded by largest remainders to sum exactly."""
    activity = rng.lognormal(0.0, sigma, n_users)
    extra = n_ratings - n_users * floor
    cap = float(n_items - floor)
    alloc = np.zeros(n_users, dtype=np.float64)
    free = np.ones(n_users, dtype=bool)
    remaining = float(extra)
    while remaining > 0 and free.any():
        w = np.where(free, activity, 0.0)
        share = remaining * w / w.sum()
        over = free & (share >= cap)
        if not over.any():
            alloc[free] = share[free]
            break
        alloc[over] = cap
        free &= ~over
        remaining = extra - alloc.sum()
    base = np.minimum(np.floor(alloc), cap).astype(np.int64)
    short = extra - int(base.sum())
    frac = alloc - base
    if short > 0:
        frac[base >= cap] = -1.0
        top = np.argsort(-frac, kind="stable")[:short]
        base[top] += 1
    elif short < 0:
        frac[base <= 0] = 2.0
        low = np.argsort(frac, kind="stable")[:-short]
        base[low] -= 1
    return base + floor


def synthetic_ratings(n_users: int = 10_000, n_items: int = 2_000, n_ratings: int = 500_000,
                      rank: int = 10, noise: float = 0.5, seed: Any = 0, *,
                      min_user_ratings: int = 20, item_popularity_exponent: float = 1.0,
                      rounded: bool = False, rating_scale: tuple[float, float] = (1.0, 5.0),
                      implicit: bool | str = False, dtype: Any = np.float32,
                      user_activity_sigma: float = USER_ACTIVITY_SIGMA) -> SyntheticData:
    """Generate ratings from a planted biased low-rank model, MovieLens-shaped.

    Model: ``r_ui = μ + b_u + b_i + p_u·q_i + ε`` with ``μ = 3.5``, ``b_u ~ N(0, 0.3²)``,
    ``b_i ~ N(0, 0.5²)``, ``p_u, q_i ~ N(0, s² I_rank)`` with ``s`` chosen so that ``p_u·q_i``
    has standard deviation 0.8, and ``ε ~ N(0, noise²)``; then rounded to integers (if
    ``rounded``) and clipped to ``rating_scale``. ``rating_scale`` only clips: the model is
    always in 1–5 star units.

    Which pairs are rated: item ``i`` has popularity weight ``∝ rank_i^-exponent`` where the
    popularity ranks are a random permutation of the items (so popularity is not id order);
    user ``u`` rates ``min_user_ratings + (a log-normal share of the rest)`` items (heavy
    tailed like MovieLens, capped at ``n_items``), drawn without replacement in proportion to
    popularity. Exactly ``n_ratings`` pairs, no duplicates, so the values are missing at
    random given popularity (explicit data).

    Parameters
    ----------
    n_users, n_items : int
    n_ratings : int
        Exact number of interactions; at most ``n_users * n_items``.
    rank : int
        Rank of the planted interaction term (0: biases only).
    noise : float
        Standard deviation of the rating noise.
    seed : int, numpy.random.Generator or None
        Same seed, same output, whatever the thread count (every user draws from its own
        random stream derived from the seed).
    min_user_ratings : int, default 20
        Floor of every user's count; lowered to ``n_ratings // n_users`` (and to ``n_items``)
        when the budget cannot give every user that many.
    item_popularity_exponent : float, default 1.0
        Power-law exponent of item popularity; 0 gives uniform popularity.
    rounded : bool, default False
        Round ratings to integers (then clip to the integers inside ``rating_scale``).
    rating_scale : (low, high), default (1, 5)
        Clipping range of explicit ratings; stored as the data's ``rating_scale``.
    implicit : {False, True, "counts", "binary"}
        True/"counts": values are ``1 + Poisson(exp(score − μ + noise·z))``; "binary": every
        value is 1. Implicit pairs are drawn with probability ∝ popularity × logistic(2 ·
        (score − μ)), so the pairs themselves carry the preference signal.
    dtype : float32 or float64
        Dtype of the stored values.
    user_activity_sigma : float, default 1.2
        Log-normal sigma of user activity (0: every user gets the same count).

    Returns
    -------
    SyntheticData
        The interactions (canonical CSR, built directly) and the ground truth.

    Notes
    -----
    Sampling is exact successive sampling without replacement: light users draw from a
    Fenwick tree of (fixed-point) popularity weights, removing each drawn item, so a draw
    costs O(log n_items) whatever the skew; users with more than ``n_items / 8`` ratings use
    exponential keys (Efraimidis–Spirakis, O(n_items)). Users run in parallel threads
    (Numba's thread count, a ``nogil`` kernel); the first call in a process compiles the
    kernel (about 3 s). Measured on 2 cores: 20M ratings, 138,000 × 27,000 (ML-20M shape),
    about 2.5 s; 100M ratings in about 13 s. Peak memory is the output (int32 indices +
    values + row pointers) plus O(n_users · rank + n_items · threads): about 1.2× the output.
    """
    n_users = check_int("n_users", n_users, minimum=1)
    n_items = check_int("n_items", n_items, minimum=1)
    n_ratings = check_int("n_ratings", n_ratings, minimum=0)
    if n_ratings > n_users * n_items:
        fail("n_ratings", f"at most n_users * n_items = {n_users * n_items:,}", n_ratings)
    rank = check_int("rank", rank, minimum=0)
    noise = check_float("noise", noise, minimum=0.0)
    min_user_ratings = check_int("min_user_ratings", min_user_ratings, minimum=0)
    exponent = check_float("item_popularity_exponent", item_popularity_exponent, minimum=0.0)
    sigma = check_float("user_activity_sigma", user_activity_sigma, minimum=0.0)
    if not isinstance(rounded, (bool, np.bool_)):
        fail("rounded", "True or False", rounded, type_error=True)
    if isinstance(implicit, (bool, np.bool_)):
        mode_name: bool | str = "counts" if implicit else False
    elif isinstance(implicit, str) and implicit in ("counts", "binary"):
        mode_name = implicit
    else:
        fail("implicit", "False, True, 'counts' or 'binary'", implicit)
    dtype = check_dtype("dtype", dtype)
    scale: tuple[float, float] | None = None
    if mode_name is False:
        if (not isinstance(rating_scale, (tuple, list, np.ndarray)) or len(rating_scale) != 2):
            fail("rating_scale", "a (low, high) pair", rating_scale)
        lo = check_float("rating_scale[0]", rating_scale[0])
        hi = check_float("rating_scale[1]", rating_scale[1])
        if not lo < hi:
            fail("rating_scale", "low < high", rating_scale)
        scale = (lo, hi)
        if rounded:
            lo, hi = float(np.ceil(lo)), float(np.floor(hi))
            if lo > hi:
                fail("rating_scale", "a range containing an integer (rounded=True)",
                     rating_scale)
    else:
        lo, hi = -np.inf, np.inf
    rng = check_random_state("seed", seed)

    # ---- planted model (float64, drawn in a fixed order from one Generator)
    mu = _GLOBAL_MEAN
    user_bias = rng.normal(0.0, _USER_BIAS_STD, n_users)
    item_bias = rng.normal(0.0, _ITEM_BIAS_STD, n_items)
    s = np.sqrt(_INTERACTION_STD / np.sqrt(rank)) if rank else 0.0
    P = rng.normal(0.0, s, (n_users, rank))
    Q = rng.normal(0.0, s, (n_items, rank))
    popularity_rank = rng.permutation(n_items)
    weights = (popularity_rank + 1.0) ** -exponent
    weights /= weights.sum()
    w_int = np.maximum(np.rint(weights * 2.0 ** 52), 1.0).astype(np.int64)  # fixed point
    floor = min(min_user_ratings, n_items, n_ratings // n_users)
    counts = _user_counts(n_users, n_items, n_ratings, floor, sigma, rng)
    kernel_seed = rng.integers(0, np.iinfo(np.uint64).max, dtype=np.uint64, endpoint=True)

    # ---- CSR arrays filled in place by the kernel
    index_dtype = np.int32 if max(n_items, n_ratings) < np.iinfo(np.int32).max else np.int64
    indptr = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    del counts
    n_threads = max(1, min(os.cpu_count() or 1, _max_numba_threads()))
    n_blocks = max(1, min(n_users, 16 * n_threads))
    block_ptr = np.searchsorted(indptr, np.linspace(0, n_ratings, n_blocks + 1)).astype(np.int64)
    block_ptr[0], block_ptr[-1] = 0, n_users
    block_ptr = np.maximum.accumulate(block_ptr)
    out_items = np.empty(n_ratings, dtype=index_dtype)
    out_values = np.empty(n_ratings, dtype=dtype)
    mode = {False: kern.MODE_EXPLICIT, "counts": kern.MODE_COUNTS,
            "binary": kern.MODE_BINARY}[mode_name]
    gain = IMPLICIT_AFFINITY_GAIN if mode != kern.MODE_EXPLICIT else 0.0

    def run(b: int) -> None:
        kern.sample_ratings(int(block_ptr[b]), int(block_ptr[b + 1]), indptr, tree0, w_int,
                            weights, P, Q, user_bias, item_bias, mu, noise, lo, hi,
                            bool(rounded), mode, gain, np.uint64(kernel_seed), out_items,
                            out_values)

    tree0 = kern.fenwick_build(w_int)
    run(0)  # compiles (first call in the process) before the threads start
    if n_blocks > 1:
        with ThreadPoolExecutor(max_workers=n_threads) as pool:
            list(pool.map(run, range(1, n_blocks)))
    matrix = sp.csr_matrix((out_values, out_items, indptr.astype(index_dtype, copy=False)),
                           shape=(n_users, n_items), copy=False)
    matrix.has_sorted_indices = True
    data = Interactions(matrix, IdMap.range(n_users), IdMap.range(n_items), None, scale)
    return SyntheticData(interactions=data, global_mean=mu, user_bias=user_bias,
                         item_bias=item_bias, user_factors=P, item_factors=Q, noise=noise,
                         item_weights=weights, implicit=mode_name)
