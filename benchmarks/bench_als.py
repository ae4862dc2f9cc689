"""ALS benchmark: fastl2's Numba ALS kernels (1 and 2 threads) vs their NumPy twins and peers.

Issue targets (ML-20M-shaped synthetic set, 20M interactions, k=64, float32, 2 threads):
implicit ALS CG (3 steps) <= 0.8x the time per iteration of implicit's use_cg=True, with
precision@10 / NDCG@10 within 1% of implicit's for the same hyper-parameters; implicit ALS
Cholesky <= 0.8x implicit's use_cg=False; explicit ALS-WR >= 10x its NumPy reference and
<= 0.5x LensKit's BiasedMF; 2 threads >= 1.8x one thread for every ALS kernel.

Run from the repository root (peers are optional; run with a Python that has them installed,
e.g. a venv with ``pip install -e ".[peers]"``, to include them):

    python benchmarks/bench_als.py                         # 20M, fastl2 + NumPy reference
    python benchmarks/bench_als.py --peers --json out.json # + implicit and LensKit
    python benchmarks/bench_als.py --ratings 2000000 --kernels ials-cg

Every contender gets the same data (generated once from a fixed seed; LensKit runs in a child
process because it fixes its thread pool and BLAS threads process-wide, and regenerates the
same data there). Threads are set explicitly for each contender: Numba through
``num_threads``, BLAS through threadpoolctl (1 thread) for the NumPy reference and implicit.
The first iteration (JIT compile or cache load for fastl2) is reported apart from the steady
state (median of the later iterations).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from fastl2 import BiasedMF, ImplicitALS  # noqa: E402
from fastl2.bench import PeakRSS, machine_info  # noqa: E402

SHAPE = dict(n_users=138_000, n_items=27_000, rank=10, noise=0.5, seed=0)
KERNELS = ("ials-cg", "ials-chol", "als")


def blas_one_thread():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(1, "blas")


def steady(times: list[float]) -> dict:
    rest = times[1:] if len(times) > 1 else times
    return {"first_s": times[0], "steady_s": statistics.median(rest),
            "spread_s": (max(rest) - min(rest)) if len(rest) > 1 else 0.0, "all_s": times}


def ranking_at_10(X, Y, train, test, n_users=5000, seed=0) -> dict:
    """precision@10 (hits / min(10, |test items|), as implicit) and NDCG@10 over a seeded
    sample of test users, training items excluded."""
    rng = np.random.default_rng(seed)
    users = np.nonzero(np.diff(test.indptr) > 0)[0]
    users = np.sort(rng.choice(users, size=min(n_users, users.size), replace=False))
    disc = 1.0 / np.log2(np.arange(2, 12))
    prec, ndcg = [], []
    for start in range(0, users.size, 512):
        batch = users[start:start + 512]
        S = X[batch].astype(np.float64) @ Y.T.astype(np.float64)
        for r, u in enumerate(batch):
            S[r, train.indices[train.indptr[u]:train.indptr[u + 1]]] = -np.inf
        top = np.argpartition(-S, 10, axis=1)[:, :10]
        order = np.argsort(-np.take_along_axis(S, top, 1), axis=1, kind="stable")
        top = np.take_along_axis(top, order, 1)
        for r, u in enumerate(batch):
            truth = test.indices[test.indptr[u]:test.indptr[u + 1]]
            hit = np.isin(top[r], truth)
            prec.append(hit.sum() / min(10, truth.size))
            ndcg.append((hit * disc).sum() / disc[:min(10, truth.size)].sum())
    return {"precision@10": float(np.mean(prec)), "ndcg@10": float(np.mean(ndcg)),
            "users": int(users.size)}


def fastl2_run(kernel, train, args, threads):
    times: list[float] = []
    if kernel == "als":
        last = [0.0]

        def cb(it, elapsed, loss):
            times.append(elapsed - last[0])
            last[0] = elapsed

        model = BiasedMF(solver="als", factors=args.factors, iterations=args.iterations,
                         num_threads=threads, random_state=0)
        with PeakRSS() as mem:
            model.fit(train, callback=cb)
    else:
        model = ImplicitALS(factors=args.factors, regularization=args.reg, alpha=args.alpha,
                            use_cg=kernel == "ials-cg", iterations=args.iterations,
                            num_threads=threads, random_state=0)
        with PeakRSS() as mem:
            model.fit(train, show_progress=False,
                      callback=lambda it, el, loss: times.append(el))
    return model, {**steady(times), "peak_rss_growth_mb": (mem.growth or 0) / 2**20}


def numpy_reference_iteration(kernel, train, args) -> float:
    """One full iteration (both halves) of the NumPy twin, BLAS on one thread."""
    from fastl2.training import als as _als

    dt = np.dtype(np.float32)
    m = train.matrix
    rng = np.random.default_rng(0)
    k = args.factors
    X = (rng.random((m.shape[0], k)) * 0.01).astype(dt)
    Y = (rng.random((m.shape[1], k)) * 0.01).astype(dt)
    with blas_one_thread():
        t = time.perf_counter()
        if kernel == "als":
            users, items = _als.both_sides(m, m.data.astype(dt))
            sw = _als.ExplicitSweeps(users, items, k, (0.08, 0.08), (0.02, 0.02), True,
                                     float(m.data.mean()), 1, dt, reference=True)
            sw.iteration(X, np.zeros(m.shape[0], dt), Y, np.zeros(m.shape[1], dt))
        else:
            conf = (1 + args.alpha * m.data).astype(dt)
            users, items = _als.both_sides(m, conf)
            sw = _als.ImplicitSweeps(users, items, k, args.reg, kernel == "ials-cg", 3, 1, dt,
                                     reference=True)
            sw.iteration(X, Y)
        return time.perf_counter() - t


def implicit_peer(kernel, train, args, threads):
    import _peers

    # same objective as fastl2's linear confidence c = 1 + alpha r: implicit uses c = value
    conf = train.matrix.copy()
    conf.data = (1 + args.alpha * conf.data).astype(np.float32)
    res = _peers.implicit_als(conf, factors=args.factors, regularization=args.reg, alpha=1.0,
                              iterations=args.iterations, use_cg=kernel == "ials-cg",
                              threads=threads, random_state=0)
    t = res["seconds_per_iteration"]
    return res, {**steady(t), "peak_rss_growth_mb": ((res.get("peak_rss_bytes") or 0)
                                                     - (res.get("rss_before_bytes") or 0)) / 2**20}


def lenskit_peer(args, threads) -> dict:
    """LensKit BiasedMF in a child process (it fixes its thread pool process-wide)."""
    cmd = [sys.executable, str(HERE / "_peers.py"), "--ratings", str(args.ratings),
           "--factors", str(args.factors), "--iterations", str(args.iterations),
           "--worker", "lenskit-biasedmf", "--worker-threads", str(threads)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr else "failed")
    res = json.loads(out.stdout.strip().splitlines()[-1])
    t = res["seconds_per_iteration"]
    return {**steady(t), "peak_rss_mb": (res.get("peak_rss_bytes") or 0) / 2**20}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ratings", type=int, default=20_000_000)
    ap.add_argument("--factors", type=int, default=64)
    ap.add_argument("--iterations", type=int, default=4)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--kernels", default=",".join(KERNELS))
    ap.add_argument("--alpha", type=float, default=1.0)
    ap.add_argument("--reg", type=float, default=0.01, help="implicit ALS regularization")
    ap.add_argument("--peers", action="store_true", help="also time implicit and LensKit")
    ap.add_argument("--no-numpy", action="store_true", help="skip the NumPy reference")
    ap.add_argument("--json")
    args = ap.parse_args()
    from fastl2.datasets import synthetic_ratings
    from fastl2.evaluation import random_split

    threads = [int(t) for t in args.threads.split(",")]
    kernels = args.kernels.split(",")
    report = {"machine": machine_info(), "args": vars(args), "rows": []}
    print(f"machine: {report['machine']['cpu']}, {report['machine']['cores']} cores, numba "
          f"{report['machine']['numba']}, numpy {report['machine']['numpy']}", flush=True)
    data = {}
    for kind in sorted({"implicit" if k.startswith("ials") else "explicit" for k in kernels}):
        t = time.perf_counter()
        syn = synthetic_ratings(n_ratings=args.ratings, **SHAPE,
                                implicit="counts" if kind == "implicit" else False)
        train, test = random_split(syn.interactions, test_fraction=0.1, random_state=0)
        data[kind] = (train, test)
        print(f"{kind}: {train.nnz:,} train / {test.nnz:,} test interactions "
              f"({time.perf_counter() - t:.1f} s)", flush=True)

    def row(**kw):
        report["rows"].append(kw)
        extra = {k: v for k, v in kw.items() if k not in ("kernel", "contender", "steady_s",
                                                          "first_s", "all_s", "spread_s")}
        print(f"  {kw['kernel']:9s} {kw['contender']:28s} steady {kw.get('steady_s', 0):7.3f} s"
              f"/it  (first {kw.get('first_s', 0):.2f} s)  "
              + "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                          for k, v in extra.items()), flush=True)

    for kernel in kernels:
        train, test = data["implicit" if kernel.startswith("ials") else "explicit"]
        per_thread = {}
        for t in threads:
            model, r = fastl2_run(kernel, train, args, t)
            if kernel == "als":
                tu, ti, tr = test.to_arrays()
                r["test_rmse"] = float(np.sqrt(np.mean((model.predict(tu, ti) - tr) ** 2)))
            elif t == threads[-1]:
                r.update(ranking_at_10(model.user_factors, model.item_factors, train.matrix,
                                       test.matrix))
            per_thread[t] = r["steady_s"]
            row(kernel=kernel, contender=f"fastl2 {t} thr", **r)
        if len(threads) > 1:
            row(kernel=kernel, contender="ratio 1 thr / 2 thr",
                speedup=per_thread[threads[0]] / per_thread[threads[-1]])
        best = per_thread[threads[-1]]
        if not args.no_numpy:
            ref = numpy_reference_iteration(kernel, train, args)
            row(kernel=kernel, contender="numpy reference (1 thr)", steady_s=ref, first_s=ref,
                numba_speedup=ref / best)
        if args.peers:
            try:
                if kernel == "als":
                    r = lenskit_peer(args, threads[-1])
                    row(kernel=kernel, contender=f"lenskit BiasedMF {threads[-1]} thr", **r,
                        fastl2_time_ratio=best / r["steady_s"])
                else:
                    res, r = implicit_peer(kernel, train, args, threads[-1])
                    r.update(ranking_at_10(res["user_factors"], res["item_factors"],
                                           train.matrix, test.matrix))
                    row(kernel=kernel, contender=f"implicit {res.get('version', '')} "
                        f"{threads[-1]} thr", **r, fastl2_time_ratio=best / r["steady_s"])
            except Exception as exc:  # a missing or failing peer is reported, not fatal
                row(kernel=kernel, contender="peer skipped", reason=f"{type(exc).__name__}: "
                    f"{exc}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=1, default=str)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
