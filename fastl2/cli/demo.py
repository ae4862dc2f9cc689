"""``fastl2 demo``: BiasedMF on embedded synthetic data, speed and accuracy."""

from __future__ import annotations

import argparse
import time

from ..models.biased_mf import BiasedMF


def _demo(args: argparse.Namespace) -> int:
    # deferred: CLI start-up (`import fastl2` imports none of these modules)
    from ..bench.timing import steady
    from ..datasets import synthetic_ratings
    from ..evaluation import random_split, rmse

    t0 = time.perf_counter()
    syn = synthetic_ratings(n_users=args.users, n_items=args.items, n_ratings=args.ratings,
                            rank=10, noise=args.noise, seed=args.seed)
    data = syn.interactions
    print(f"synthetic data: {data.n_users:,} users x {data.n_items:,} items, "
          f"{data.nnz:,} ratings (planted rank 10, noise std {syn.noise}) "
          f"in {time.perf_counter() - t0:.1f} s")
    train, test = random_split(data, test_fraction=0.1, random_state=args.seed)
    epoch_times: list[float] = []
    last = [0.0]

    def record(it: int, elapsed: float, loss: float) -> None:
        epoch_times.append(elapsed - last[0])
        last[0] = elapsed

    model = BiasedMF(factors=args.factors, iterations=args.iterations,
                     num_threads=args.threads, random_state=args.seed)
    t1 = time.perf_counter()
    model.fit(train, show_progress=args.verbose, callback=record)
    fit_seconds = time.perf_counter() - t1
    tu, ti, tr = test.to_arrays()
    test_rmse = rmse(tr, model.predict(tu, ti))
    steady_epoch = steady(epoch_times)["seconds"]
    print(f"BiasedMF(sgd) k={args.factors}, {args.iterations} epochs: fit {fit_seconds:.2f} s "
          f"(first epoch {epoch_times[0]:.2f} s incl. JIT compile or cache load), steady "
          f"{steady_epoch * 1e3:.1f} ms/epoch = {train.nnz / steady_epoch / 1e6:.1f} M "
          "updates/s")
    print(f"test RMSE {test_rmse:.4f}  (noise floor {syn.noise:.4f}, "
          f"ratio {test_rmse / syn.noise:.3f}); train RMSE {model.loss_history_[-1]:.4f}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser("demo", help="train BiasedMF on embedded synthetic data and report "
                          "speed and accuracy", description="Generate a planted low-rank "
                          "rating set, hold out 10%%, train BiasedMF by parallel SGD and report "
                          "throughput and test RMSE against the noise floor.")
    demo.add_argument("--users", type=int, default=20_000, help="default: %(default)s")
    demo.add_argument("--items", type=int, default=4_000, help="default: %(default)s")
    demo.add_argument("--ratings", type=int, default=1_000_000, help="default: %(default)s")
    demo.add_argument("--noise", type=float, default=0.5, help="default: %(default)s")
    demo.add_argument("--factors", type=int, default=64, help="default: %(default)s")
    demo.add_argument("--iterations", type=int, default=40, help="default: %(default)s")
    demo.add_argument("--threads", type=int, default=0, help="0 = all cores (default)")
    demo.add_argument("--seed", type=int, default=0, help="default: %(default)s")
    demo.add_argument("-v", "--verbose", action="store_true", help="print every epoch")
    demo.set_defaults(func=_demo)
