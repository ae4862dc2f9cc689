"""fastl2.compat.surprise.SVD against scikit-surprise's SVD: fit time and accuracy.

Issue 8 target: with the same parameters (Surprise's defaults: 100 factors, 20 epochs,
lr 0.005, reg 0.02) fastl2's ``SVD.fit`` is at least 10x faster than Surprise's on a
1M-rating set (2-core machine), at the same accuracy. Both fit the same ``surprise.Trainset``
(90% of the ratings; seeded split) and are tested on the other 10% with Surprise's
``algo.test`` and ``surprise.accuracy.rmse``. fastl2's fit time includes reading the trainset
into its CSR matrix; the one-off Numba warm-up (loading or compiling the kernels) is reported
apart. Each contender is fit ``--repeat`` times (default 3), the fits of all contenders
interleaved, and compared by median, so a slow spell of a noisy machine hits all of them; the
ratio of each Surprise fit to the fastl2 fit just before it is printed too. Run from the
repository root (needs scikit-surprise, ``pip install ".[surprise]"``):

    python benchmarks/bench_surprise.py                       # 1M synthetic, ML-1M shape
    python benchmarks/bench_surprise.py --data ../shared/data/ml-1m-u2999.tsv.gz
    python benchmarks/bench_surprise.py --ratings 100000 --epochs 5    # quick look

This is a benchmark, not a test: nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time

import numpy as np


def _data(args: argparse.Namespace):
    from fastl2.datasets import read_ratings, synthetic_ratings

    if args.data:
        data = read_ratings(args.data, sep="\t", columns=("user", "item", "rating",
                                                           "timestamp"))
        return data, f"{args.data} ({data.nnz:,} ratings)"
    syn = synthetic_ratings(n_users=args.users, n_items=args.items, n_ratings=args.ratings,
                            rank=10, noise=0.5, seed=0, rounded=True)
    return syn.interactions, (f"synthetic, {args.users:,} users x {args.items:,} items, "
                              f"{syn.interactions.nnz:,} ratings (1-5 stars, rank 10, noise 0.5)")


def _surprise_data(train, test, folder: str):
    """Surprise's own Dataset (read from a file, as a Surprise user does) and the testset."""
    from surprise import Dataset, Reader

    users, items, ratings = train.to_arrays()
    path = os.path.join(folder, "train.tsv")
    with open(path, "w") as fh:
        fh.writelines(f"{u}\t{i}\t{r:g}\n" for u, i, r in zip(users.tolist(), items.tolist(),
                                                              ratings.tolist()))
    lo, hi = float(ratings.min()), float(ratings.max())
    dataset = Dataset.load_from_file(path, Reader(line_format="user item rating", sep="\t",
                                                  rating_scale=(lo, hi)))
    tu, ti, tr = test.to_arrays()
    testset = [(str(u), str(i), float(r)) for u, i, r in zip(tu.tolist(), ti.tolist(),
                                                             tr.tolist())]
    return dataset, testset


def _timed_fit(algo, trainset) -> float:
    start = time.perf_counter()
    algo.fit(trainset)
    return time.perf_counter() - start


def _evaluate(algo, testset) -> tuple[float, float]:
    from surprise import accuracy

    start = time.perf_counter()
    predictions = algo.test(testset)
    seconds = time.perf_counter() - start
    return accuracy.rmse(predictions, verbose=False), seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ratings", type=int, default=1_000_000)
    ap.add_argument("--users", type=int, default=6_040)
    ap.add_argument("--items", type=int, default=3_706)
    ap.add_argument("--data", help="a user<TAB>item<TAB>rating[<TAB>timestamp] file instead")
    ap.add_argument("--factors", type=int, default=100)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=3,
                    help="fits timed per contender, interleaved (median)")
    ap.add_argument("--json", help="write the results as JSON to this path")
    args = ap.parse_args()
    try:
        import surprise
        from surprise import SVD as SurpriseSVD
    except ImportError:
        sys.exit("scikit-surprise is not installed: pip install \".[surprise]\"")
    import numba

    import fastl2
    from fastl2.compat.surprise import SVD
    from fastl2.evaluation import random_split

    data, described = _data(args)
    train, test = random_split(data, test_fraction=0.1, random_state=42)
    params = dict(n_factors=args.factors, n_epochs=args.epochs, random_state=0)
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        dataset, testset = _surprise_data(train, test, folder)
        trainset = dataset.build_full_trainset()
        build_s = time.perf_counter() - start
    print(f"data: {described}; train {trainset.n_ratings:,}, test {len(testset):,} "
          f"(seeded 90/10 split)")
    print(f"Surprise Dataset + Trainset from a file: {build_s:.1f} s (shared by both)")
    print(f"parameters: {params} (Surprise's defaults otherwise)")
    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, numpy "
          f"{np.__version__}, numba {numba.__version__}, scikit-surprise "
          f"{surprise.__version__}, fastl2 {fastl2.__version__}", flush=True)

    tiny = surprise.Trainset(*_tiny_trainset_parts())
    warm_s = _timed_fit(SVD(n_factors=args.factors, n_epochs=1), tiny)
    # The fits are interleaved (fastl2 all cores, fastl2 1 thread, Surprise, and again) and
    # each contender's median is taken, so a slow spell of the machine hits all of them.
    ours = {threads: SVD(**params, num_threads=threads) for threads in (0, 1)}
    theirs = SurpriseSVD(**params)
    runs: dict = {0: [], 1: [], "surprise": []}
    for _ in range(args.repeat):
        for threads, algo in ours.items():
            runs[threads].append(_timed_fit(algo, trainset))
        runs["surprise"].append(_timed_fit(theirs, trainset))
    rows = []
    for key, algo in [*ours.items(), ("surprise", theirs)]:
        rmse, test_s = _evaluate(algo, testset)
        name = ("scikit-surprise SVD" if key == "surprise" else
                f"fastl2 compat SVD, {'all cores' if key == 0 else '1 thread'}")
        rows.append(dict(name=name, fit_seconds=statistics.median(runs[key]),
                         fit_runs=runs[key], test_rmse=rmse, test_seconds=test_s))
        print(f"  {name}: fit {rows[-1]['fit_seconds']:.2f} s (median of {args.repeat}: "
              f"{', '.join(f'{t:.2f}' for t in runs[key])}), test RMSE {rmse:.4f}, test() "
              f"{test_s:.2f} s", flush=True)
    fit_s = rows[-1]["fit_seconds"]
    pairs = [b / a for a, b in zip(runs[0], runs["surprise"])]
    print(f"Surprise / fastl2 (all cores), fit by fit: {', '.join(f'{x:.1f}' for x in pairs)}")
    updates = trainset.n_ratings * args.epochs
    print(f"\nfastl2 warm-up (Numba kernels loaded or compiled, once per process): {warm_s:.2f} s")
    print(f"{'':40s} {'fit s':>8s} {'M updates/s':>12s} {'vs Surprise':>12s} {'test RMSE':>10s}")
    for row in rows:
        row["updates_per_second"] = updates / row["fit_seconds"]
        row["speedup_vs_surprise"] = fit_s / row["fit_seconds"]
        print(f"{row['name']:40s} {row['fit_seconds']:8.2f} "
              f"{row['updates_per_second'] / 1e6:12.1f} {row['speedup_vs_surprise']:11.1f}x "
              f"{row['test_rmse']:10.4f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(dict(data=described, params=params, n_train=trainset.n_ratings,
                           n_test=len(testset), warmup_seconds=warm_s,
                           trainset_build_seconds=build_s, rows=rows,
                           surprise_over_fastl2_fit_by_fit=pairs), fh, indent=2)


def _tiny_trainset_parts():
    """A two-rating trainset, enough to load the kernels before timing."""
    from collections import defaultdict

    ur, ir = defaultdict(list), defaultdict(list)
    for u, i, r in ((0, 0, 4.0), (1, 1, 2.0)):
        ur[u].append((i, r))
        ir[i].append((u, r))
    return ur, ir, 2, 2, 2, (1, 5), {"a": 0, "b": 1}, {"x": 0, "y": 1}


if __name__ == "__main__":
    main()
