"""Top-N and ranking-evaluation benchmark: fastl2 vs implicit on the same factors.

Issue targets (138k users × 27k items, k=64, 2 threads): top-10 for all users at least at
implicit's `recommend` throughput (users/s) with peak extra memory <= 256 MB; ranking
evaluation of all users in under 2x the time of their top-N alone.

    python benchmarks/bench_topk.py                  # fastl2 only
    /path/to/venv-with-implicit/bin/python benchmarks/bench_topk.py

The factors come from a short ImplicitALS fit on the ML-20M-shaped synthetic set (90/10
split); implicit gets the very same arrays. BLAS threads of implicit are set with
threadpoolctl to the thread count under test.
"""

from __future__ import annotations

import argparse
import contextlib
import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from fastl2 import ImplicitALS  # noqa: E402
from fastl2.bench import PeakRSS, blas_limit, machine_info, thread_limit  # noqa: E402
from fastl2.datasets import synthetic_ratings  # noqa: E402
from fastl2.evaluation import random_split, ranking_metrics_at_k  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ratings", type=int, default=20_000_000)
    ap.add_argument("--factors", type=int, default=64)
    ap.add_argument("-N", type=int, default=10)
    ap.add_argument("--threads", default="1,2")
    args = ap.parse_args()
    info = machine_info()
    print(f"machine: {info['cpu']}, {info['cores']} cores, numba {info['numba']}")
    syn = synthetic_ratings(n_users=138_000, n_items=27_000, n_ratings=args.ratings, rank=10,
                            noise=0.5, seed=0, implicit="counts")
    train, test = random_split(syn.interactions, test_fraction=0.1, random_state=0)
    model = ImplicitALS(factors=args.factors, iterations=3, random_state=0).fit(
        train, show_progress=False)
    users = np.arange(train.n_users)
    M = train.matrix
    print(f"{train.n_users:,} users × {train.n_items:,} items, top-{args.N}")
    topn_time = {}
    for t in (int(x) for x in args.threads.split(",")):
        with thread_limit(t):
            model.recommend(users[:64], M[:64], N=args.N)  # compile / cache load
            with PeakRSS() as mem:
                t0 = time.perf_counter()
                ids, _ = model.recommend(users, M, N=args.N)
                dt = time.perf_counter() - t0
            topn_time[t] = dt
            print(f"  fastl2 recommend, {t} thr: {dt:.2f} s = {users.size / dt:,.0f} users/s, "
                  f"peak RSS growth {(mem.growth or 0) / 2**20:.0f} MB")
            t0 = time.perf_counter()
            res = ranking_metrics_at_k(model, train, test, K=args.N, num_threads=t)
            de = time.perf_counter() - t0
            print(f"  fastl2 ranking_metrics_at_k, {t} thr: {de:.2f} s "
                  f"({de / dt:.2f}x the top-N of all users); ndcg {res['ndcg']:.4f}")
    try:
        from implicit.cpu.als import AlternatingLeastSquares
    except ImportError as exc:
        print(f"  implicit: skipped ({exc})")
        return
    for t in (int(x) for x in args.threads.split(",")):
        im = AlternatingLeastSquares(factors=args.factors, num_threads=t)
        im.user_factors, im.item_factors = model.user_factors, model.item_factors
        with blas_limit(t):
            im.recommend(users[:64], M[:64], N=args.N)
            with PeakRSS() as mem:
                t0 = time.perf_counter()
                ids2, _ = im.recommend(users, M, N=args.N)
                dt = time.perf_counter() - t0
        same = float(np.mean(ids2 == ids))
        print(f"  implicit recommend, {t} thr: {dt:.2f} s = {users.size / dt:,.0f} users/s, "
              f"peak RSS growth {(mem.growth or 0) / 2**20:.0f} MB; fastl2/implicit time "
              f"{topn_time[t] / dt:.2f}; identical ids {same:.4f}")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
