"""Sampling kernel of :func:`fastl2.datasets.synthetic_ratings`.

Every user ``u`` draws from its own random stream (SplitMix64 seeded from the call's seed and
``u``), so the output does not depend on how users are spread over threads. A user's items are
a weighted sample *without replacement* (successive sampling, probability of the next item
proportional to its weight among the items not drawn yet):

* light users: draws from a Fenwick tree of integer item weights (fixed point, total about
  2**52, every weight at least 1); a drawn item's weight is removed from the tree (exact integer
  arithmetic) and put back after the user, so each draw costs O(log n_items) whatever the
  popularity skew, with no rejection of repeats;
* heavy users (more than ``n_items / 8`` items), or implicit-feedback users whose logistic
  acceptance rejects too many candidates: exponential keys (Efraimidis–Spirakis: the ``c``
  smallest ``E_i / w_i``, ``E_i ~ Exp(1)``), which give the same distribution in O(n_items).

Items of a user are written sorted, so the output is a canonical CSR. Values are computed in
the same pass from the planted model (no intermediate arrays).

This is a data generator, not a training kernel, so it has no twin in ``fastl2._reference``;
``tests/test_datasets.py`` checks its output properties and its helpers against NumPy.
"""

import numba
import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_INV53 = 1.0 / 9007199254740992.0  # 2**-53

# An implicit user switches to exponential keys after this many candidates per wanted item.
_DRAW_BUDGET = 12
# Users with more than n_items / _HEAVY items go straight to exponential keys.
_HEAVY = 8

MODE_EXPLICIT = 0
MODE_COUNTS = 1
MODE_BINARY = 2


@numba.njit(cache=True, nogil=True)
def _mix(z):  # pragma: no cover - compiled
    """SplitMix64 finalizer (a bijection of uint64 with good avalanche)."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@numba.njit(cache=True, nogil=True)
def _next(st):  # pragma: no cover - compiled
    st[0] += _GOLDEN
    return _mix(st[0])


@numba.njit(cache=True, nogil=True)
def _uniform(st):  # pragma: no cover - compiled
    """Uniform double in (0, 1]."""
    return (np.float64(_next(st) >> _S11) + 1.0) * _INV53


@numba.njit(cache=True, nogil=True)
def _uniform0(st):  # pragma: no cover - compiled
    """Uniform double in [0, 1)."""
    return np.float64(_next(st) >> _S11) * _INV53


@numba.njit(cache=True, nogil=True)
def _normal(st):  # pragma: no cover - compiled
    """Standard normal (Box–Muller; one value per call, the twin is discarded)."""
    u1 = _uniform(st)
    u2 = _uniform(st)
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(6.283185307179586 * u2)


@numba.njit(cache=True, nogil=True)
def _poisson(st, lam):  # pragma: no cover - compiled
    """Poisson(lam): exact (Knuth) below 30, rounded normal approximation above."""
    if lam < 30.0:
        limit = np.exp(-lam)
        k = 0
        p = _uniform(st)
        while p > limit:
            k += 1
            p *= _uniform(st)
        return k
    x = np.floor(lam + np.sqrt(lam) * _normal(st) + 0.5)
    return max(x, 0.0)


@numba.njit(cache=True, nogil=True)
def _score(P, Q, bu, bi, mu, u, i):  # pragma: no cover - compiled
    s = mu + bu[u] + bi[i]
    for f in range(P.shape[1]):
        s += P[u, f] * Q[i, f]
    return s


@numba.njit(cache=True, nogil=True)
def _affinity(P, Q, bu, bi, mu, u, i, gain):  # pragma: no cover - compiled
    """Acceptance probability of an implicit interaction: logistic in the planted score."""
    return 1.0 / (1.0 + np.exp(-gain * (_score(P, Q, bu, bi, mu, u, i) - mu)))


@numba.njit(cache=True, nogil=True)
def _heapsort(a, lo, hi):  # pragma: no cover - compiled
    """Sort ``a[lo:hi]`` in place (own heapsort: compiles much faster than ``ndarray.sort``)."""
    n = hi - lo
    if n < 2:
        return
    if n <= 16:  # insertion sort
        for j in range(lo + 1, hi):
            x = a[j]
            k = j - 1
            while k >= lo and a[k] > x:
                a[k + 1] = a[k]
                k -= 1
            a[k + 1] = x
        return
    for start in range(n // 2 - 1, -1, -1):
        _sift(a, lo, start, n)
    for end in range(n - 1, 0, -1):
        t = a[lo]
        a[lo] = a[lo + end]
        a[lo + end] = t
        _sift(a, lo, 0, end)


@numba.njit(cache=True, nogil=True)
def _sift(a, lo, root, n):  # pragma: no cover - compiled
    while True:
        child = 2 * root + 1
        if child >= n:
            return
        if child + 1 < n and a[lo + child + 1] > a[lo + child]:
            child += 1
        if a[lo + root] >= a[lo + child]:
            return
        t = a[lo + root]
        a[lo + root] = a[lo + child]
        a[lo + child] = t
        root = child


@numba.njit(cache=True, nogil=True)
def _kth_smallest(v, k):  # pragma: no cover - compiled
    """The k-th smallest value of ``v`` (0-based); ``v`` is reordered (quickselect)."""
    lo = 0
    hi = v.shape[0] - 1
    while hi > lo:
        mid = (lo + hi) >> 1
        # median of three as pivot
        a, b, c = v[lo], v[mid], v[hi]
        if a > b:
            a, b = b, a
        if b > c:
            b = c
            if a > b:
                b = a
        pivot = b
        i = lo
        j = hi
        while i <= j:
            while v[i] < pivot:
                i += 1
            while v[j] > pivot:
                j -= 1
            if i <= j:
                t = v[i]
                v[i] = v[j]
                v[j] = t
                i += 1
                j -= 1
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            return v[k]
    return v[k]


@numba.njit(cache=True, nogil=True)
def fenwick_build(w):  # pragma: no cover - compiled
    """Fenwick (binary indexed) tree of int64 weights; ``tree[k]`` is 1-based.

    Parameters
    ----------
    w : numpy.ndarray of int64, shape (n,)
        The weights; not modified.

    Returns
    -------
    numpy.ndarray of int64, shape (n + 1,)
        The tree (``tree[0]`` unused, 0).
    """
    n = w.shape[0]
    tree = np.zeros(n + 1, dtype=np.int64)
    for k in range(1, n + 1):
        tree[k] += w[k - 1]
        parent = k + (k & -k)
        if parent <= n:
            tree[parent] += tree[k]
    return tree


@numba.njit(cache=True, nogil=True)
def _fenwick_add(tree, i, delta):  # pragma: no cover - compiled
    n = tree.shape[0] - 1
    k = i + 1
    while k <= n:
        tree[k] += delta
        k += k & -k


@numba.njit(cache=True, nogil=True)
def _fenwick_find(tree, x, top):  # pragma: no cover - compiled
    """Smallest 0-based ``i`` with ``sum(w[:i+1]) > x`` (0 <= x < total); ``top`` is the
    largest power of two <= n. Items of weight 0 are never returned."""
    n = tree.shape[0] - 1
    pos = 0
    step = top
    while step > 0:
        nxt = pos + step
        if nxt <= n and tree[nxt] <= x:
            pos = nxt
            x -= tree[nxt]
        step >>= 1
    return pos


@numba.njit(cache=True, nogil=True)
def _draw_tree(st, c, tree, w_int, total, top, out, lo, P, Q, bu, bi, mu, u, gain,
               affine):  # pragma: no cover - compiled
    """Successive sampling from the tree; the tree is restored before returning. False when
    an implicit user's acceptance budget runs out (nothing written then counts)."""
    remaining = total
    budget = _DRAW_BUDGET * c + 256
    got = 0
    draws = 0
    while got < c:
        draws += 1
        if affine and draws > budget:
            break
        x = np.int64(_uniform0(st) * remaining)
        if x >= remaining:
            x = remaining - 1
        i = _fenwick_find(tree, x, top)
        if affine and _uniform(st) > _affinity(P, Q, bu, bi, mu, u, i, gain):
            continue
        wi = w_int[i]
        _fenwick_add(tree, i, -wi)
        remaining -= wi
        out[lo + got] = i
        got += 1
    for j in range(lo, lo + got):
        i = out[j]
        _fenwick_add(tree, i, w_int[i])
    if got < c:
        return False
    _heapsort(out, lo, lo + c)
    return True


@numba.njit(cache=True, nogil=True)
def _draw_keys(st, c, weight, keys, out, lo, P, Q, bu, bi, mu, u, gain,
               affine):  # pragma: no cover - compiled
    """Exponential keys: the c smallest E_i / w_i, written in item order."""
    n_items = weight.shape[0]
    if c >= n_items:
        for i in range(n_items):
            out[lo + i] = i
        return
    for i in range(n_items):
        w = weight[i]
        if affine:
            w *= _affinity(P, Q, bu, bi, mu, u, i, gain)
        keys[i] = -np.log(_uniform(st)) / w
    thr = _kth_smallest(keys.copy(), c - 1)
    got = 0
    for i in range(n_items):
        if keys[i] < thr:
            out[lo + got] = i
            got += 1
    if got < c:  # ties at the threshold (practically never): take them in item order
        for i in range(n_items):
            if keys[i] == thr and got < c:
                out[lo + got] = i
                got += 1
        _heapsort(out, lo, lo + c)


@numba.njit(cache=True, nogil=True)
def sample_ratings(u_start, u_end, indptr, tree0, w_int, weight, P, Q, bu, bi, mu, noise,
                   lo_val, hi_val, rounded, mode, gain, seed, out_items,
                   out_values):  # pragma: no cover
    """Fill ``out_items``/``out_values`` (CSR order) for users ``u_start:u_end``.

    Releases the GIL: callers run disjoint user ranges on several threads, and any split
    gives the same output (every user has its own random stream).

    Parameters
    ----------
    u_start, u_end : int
        The users to fill.
    indptr : int64[n_users + 1]
        Row pointers (the per-user counts, already capped at n_items).
    tree0 : int64[n_items + 1]
        Fenwick tree of ``w_int`` (:func:`fenwick_build`); copied, never modified.
    w_int : int64[n_items]
        Integer item weights (all >= 1, total below 2**53).
    weight : float64[n_items]
        The same weights as floats (exponential keys).
    P, Q, bu, bi, mu : planted model (float64).
    noise : float
        Standard deviation of the Gaussian noise (explicit) or of the log-rate (counts).
    lo_val, hi_val : float
        Clip bounds of explicit values.
    rounded : bool
        Round explicit values to integers before clipping.
    mode : int
        0 explicit ratings, 1 counts (1 + Poisson), 2 binary.
    gain : float
        Slope of the logistic acceptance of implicit interactions (0 = popularity only).
    seed : uint64
    out_items, out_values : output arrays of length nnz.
    """
    n_items = w_int.shape[0]
    affine = mode != MODE_EXPLICIT and gain != 0.0
    tree = tree0.copy()
    total = np.int64(0)
    for i in range(n_items):
        total += w_int[i]
    top = 1
    while top * 2 <= n_items:
        top *= 2
    keys = np.empty(0, dtype=np.float64)
    st = np.empty(1, dtype=np.uint64)
    for u in range(u_start, u_end):
        lo = indptr[u]
        c = indptr[u + 1] - lo
        if c == 0:
            continue
        st[0] = _mix(seed ^ _mix(np.uint64(u) * _GOLDEN + _GOLDEN))
        done = False
        if c * _HEAVY <= n_items:
            done = _draw_tree(st, c, tree, w_int, total, top, out_items, lo, P, Q, bu, bi,
                              mu, u, gain, affine)
        if not done:
            if keys.shape[0] == 0:
                keys = np.empty(n_items, dtype=np.float64)
            _draw_keys(st, c, weight, keys, out_items, lo, P, Q, bu, bi, mu, u, gain, affine)
        for j in range(lo, lo + c):
            i = out_items[j]
            if mode == MODE_BINARY:
                out_values[j] = 1.0
            elif mode == MODE_COUNTS:
                lam = np.exp(min(_score(P, Q, bu, bi, mu, u, i) - mu + noise * _normal(st),
                                 13.0))
                out_values[j] = 1.0 + _poisson(st, lam)
            else:
                r = _score(P, Q, bu, bi, mu, u, i) + noise * _normal(st)
                if rounded:
                    r = np.floor(r + 0.5)
                out_values[j] = min(max(r, lo_val), hi_val)
