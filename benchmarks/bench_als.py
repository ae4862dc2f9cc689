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
import json
import os
import pathlib
import sys
import time

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from fastl2 import BiasedMF, ImplicitALS  # noqa: E402
from fastl2.bench import PeakRSS, blas_limit, machine_info, steady  # noqa: E402
from fastl2.bench import peers  # noqa: E402
from fastl2.bench.harness import explicit_sweeps, implicit_sweeps, uniform_factors  # noqa: E402
from fastl2.bench.timing import elapsed_timer  # noqa: E402

SHAPE = dict(n_users=138_000, n_items=27_000, rank=10, noise=0.5, seed=0)
KERNELS = ("ials-cg", "ials-chol", "als")


def summary(times: list[float]) -> dict:
    """The steady-state summary of per-iteration times, with every time."""
    return {**steady(times), "all_seconds": times}


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
    # BiasedMF's callback gets the time since its first epoch, ImplicitALS's one iteration's
    times, record = elapsed_timer(cumulative=kernel == "als")
    if kernel == "als":
        model = BiasedMF(solver="als", factors=args.factors, iterations=args.iterations,
                         num_threads=threads, random_state=0)
        with PeakRSS() as mem:
            model.fit(train, callback=record)
    else:
        model = ImplicitALS(factors=args.factors, regularization=args.reg, alpha=args.alpha,
                            use_cg=kernel == "ials-cg", iterations=args.iterations,
                            num_threads=threads, random_state=0)
        with PeakRSS() as mem:
            model.fit(train, show_progress=False, callback=record)
    return model, {**summary(times), "peak_rss_growth_mb": mem.growth_mb}


def numpy_reference_iteration(kernel, train, args) -> float:
    """One full iteration (both halves) of the NumPy twin, BLAS on one thread."""
    m = train.matrix
    k = args.factors
    X, Y = uniform_factors(m.shape[0], m.shape[1], k, np.float32, np.random.default_rng(0))
    with blas_limit(1):
        t = time.perf_counter()
        if kernel == "als":
            sw = explicit_sweeps(m, k, np.float32)
            sw.iteration(X, np.zeros(m.shape[0], X.dtype), Y, np.zeros(m.shape[1], X.dtype))
        else:
            sw = implicit_sweeps(m, k, np.float32, alpha=args.alpha, regularization=args.reg,
                                 use_cg=kernel == "ials-cg")
            sw.iteration(X, Y)
        return time.perf_counter() - t


def implicit_peer(kernel, train, args, threads):
    # same objective as fastl2's linear confidence c = 1 + alpha r: implicit uses c = value
    conf = train.matrix.copy()
    conf.data = (1 + args.alpha * conf.data).astype(np.float32)
    res = peers.implicit_als(conf, factors=args.factors, regularization=args.reg, alpha=1.0,
                             iterations=args.iterations, use_cg=kernel == "ials-cg",
                             threads=threads, random_state=0)
    return res, {**summary(res["seconds_per_iteration"]),
                 "peak_rss_growth_mb": (res["peak_rss_growth_bytes"] or 0) / 2**20}


def lenskit_peer(args, threads) -> dict:
    """LensKit BiasedMF in a child process (it fixes its thread pool process-wide)."""
    res = peers.run_peer_child({"peer": "lenskit-biasedmf", "threads": threads,
                                "ratings": args.ratings, "factors": args.factors,
                                "iterations": args.iterations}, timeout=3600)
    if res.get("status") != "ok":
        raise RuntimeError(res.get("status"))
    return {**summary(res["seconds_per_iteration"]),
            "peak_rss_mb": (res.get("peak_rss_bytes") or 0) / 2**20}


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
        extra = {k: v for k, v in kw.items() if k not in (
            "kernel", "contender", "seconds", "first_seconds", "all_seconds", "spread_seconds",
            "repeats")}
        print(f"  {kw['kernel']:9s} {kw['contender']:28s} steady {kw.get('seconds', 0):7.3f} s"
              f"/it  (first {kw.get('first_seconds', 0):.2f} s)  "
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
            per_thread[t] = r["seconds"]
            row(kernel=kernel, contender=f"fastl2 {t} thr", **r)
        if len(threads) > 1:
            row(kernel=kernel, contender="ratio 1 thr / 2 thr",
                speedup=per_thread[threads[0]] / per_thread[threads[-1]])
        best = per_thread[threads[-1]]
        if not args.no_numpy:
            ref = numpy_reference_iteration(kernel, train, args)
            row(kernel=kernel, contender="numpy reference (1 thr)", seconds=ref,
                first_seconds=ref,
                numba_speedup=ref / best)
        if args.peers:
            try:
                if kernel == "als":
                    r = lenskit_peer(args, threads[-1])
                    row(kernel=kernel, contender=f"lenskit BiasedMF {threads[-1]} thr", **r,
                        fastl2_time_ratio=best / r["seconds"])
                else:
                    res, r = implicit_peer(kernel, train, args, threads[-1])
                    r.update(ranking_at_10(res["user_factors"], res["item_factors"],
                                           train.matrix, test.matrix))
                    row(kernel=kernel, contender=f"implicit {res.get('version', '')} "
                        f"{threads[-1]} thr", **r, fastl2_time_ratio=best / r["seconds"])
            except Exception as exc:  # a missing or failing peer is reported, not fatal
                row(kernel=kernel, contender="peer skipped", reason=f"{type(exc).__name__}: "
                    f"{exc}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=1, default=str)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
