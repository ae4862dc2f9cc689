"""SGD benchmark: fastl2's Numba kernel (1 and 2 threads) vs the vectorized NumPy baseline.

Issue targets (ML-20M-shaped synthetic set, 20M ratings, k=64, float32, 2-core machine):
>= 40 M updates/s with 2 threads, 2 threads >= 1.7x one, >= 30x the NumPy baseline, peak RSS
growth during fit <= 2x (CSR + model). Run from the repository root:

    python benchmarks/bench_sgd.py                  # 20M ratings (about 3 minutes)
    python benchmarks/bench_sgd.py --ratings 2000000 --json out.json

Accuracy on real data (needs ../shared/data):

    python benchmarks/bench_sgd.py --ml1m
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import time

# BLAS threads are pinned for every contender (the NumPy baseline calls BLAS-backed einsum
# paths); set before NumPy is imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from fastl2.bench import bench_sgd, format_sgd_report  # noqa: E402
from fastl2.bench.harness import NumpySGD  # noqa: E402

SHARED = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"


def ml1m_accuracy(numpy_epochs: int) -> None:
    from fastl2 import BiasedMF
    from fastl2.datasets import read_ratings
    from fastl2.evaluation import random_split, rmse

    path = SHARED / "ml-1m-u2999.tsv.gz"
    if not path.exists():
        sys.exit(f"{path} not found")
    data = read_ratings(path, sep="\t", columns=("user", "item", "rating", "timestamp"))
    train, test = random_split(data, test_fraction=0.1, random_state=42)
    tu, ti, tr = test.to_arrays()
    t = time.perf_counter()
    model = BiasedMF(random_state=0).fit(train)
    fit_s = time.perf_counter() - t
    print(f"ml-1m-u2999, seeded random 90/10 split (seed 42), {train.nnz:,} train ratings")
    print(f"  fastl2 BiasedMF defaults {model.get_params(deep=False)}")
    print(f"  test RMSE {rmse(tr, model.predict(tu, ti)):.4f}, fit {fit_s:.2f} s")
    # the NumPy mini-batch baseline with the same hyper-parameters
    twin = NumpySGD(train, model.factors, np.float32, seed=0, batch_size=256)
    t = time.perf_counter()
    for _ in range(numpy_epochs):
        twin.epoch()
    np_s = time.perf_counter() - t
    ui, ii = train.user_map.to_index(tu), train.item_map.to_index(ti)
    pred = np.clip(twin.predict(ui, ii), 1, 5)
    print(f"  numpy mini-batch SGD (batch 256, {numpy_epochs} epochs): test RMSE "
          f"{rmse(tr, pred):.4f}, fit {np_s:.2f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ratings", type=int, default=20_000_000)
    ap.add_argument("--users", type=int, default=138_000)
    ap.add_argument("--items", type=int, default=27_000)
    ap.add_argument("--factors", type=int, default=64)
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--numpy-epochs", type=int, default=1)
    ap.add_argument("--json", help="write the results as JSON to this path")
    ap.add_argument("--ml1m", action="store_true", help="accuracy on ../shared/data ml-1m-u2999")
    args = ap.parse_args()
    if args.ml1m:
        ml1m_accuracy(args.numpy_epochs if args.numpy_epochs > 1 else 40)
        return
    from fastl2.datasets import synthetic_ratings

    t = time.perf_counter()
    syn = synthetic_ratings(n_users=args.users, n_items=args.items, n_ratings=args.ratings,
                            rank=10, noise=0.5, seed=0)
    print(f"generated {syn.interactions.nnz:,} ratings in {time.perf_counter() - t:.1f} s",
          flush=True)
    res = bench_sgd(syn.interactions, factors=args.factors, dtype=args.dtype,
                    epochs=args.epochs, numpy_epochs=args.numpy_epochs)
    print(format_sgd_report(res))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=2, default=str)


if __name__ == "__main__":
    main()
