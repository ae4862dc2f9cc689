"""fastl2.distributed against the local fit: time per iteration and bytes moved per iteration.

Issue 7 target: on 20M synthetic interactions (the ML-20M shape of ``fastl2 bench --size
large``), 2 Dask worker processes (1 thread each) take at most 1.5x the time per iteration of
the local fit with 2 threads, for explicit ALS, implicit ALS (CG) and DSGD. Both fits run the
same model with the same seed; the script checks that their factors are the same bits. Per
iteration it reports the median time after the first iteration (the first includes placing
the data) and the bytes the workers sent each other (Dask's own transfer counters), against
the communication model of docs/distributed.md. Run from the repository root (needs the
``dask`` extra):

    python benchmarks/bench_distributed.py                     # 20M, 2 workers
    python benchmarks/bench_distributed.py --size medium --workers 4 --iterations 3

This is a benchmark, not a test: nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time

import numpy as np

from fastl2.bench import make_data, steady
from fastl2.bench.harness import als_sides, referenced_rows


def _timer():
    """A fit callback recording the time between calls, and the workers' transfer counters
    read after each call (outside the timed span)."""
    times, sent = [], []
    state = {"last": None, "client": None}

    def record(*_):
        now = time.perf_counter()
        times.append(now - state["last"])
        if state["client"] is not None:
            sent.append(_bytes_sent(state["client"]))
        state["last"] = time.perf_counter()
    return times, sent, state, record


def _bytes_sent(client) -> int:
    counts = client.run(lambda dask_worker: dask_worker.transfer_outgoing_bytes_total)
    return int(sum(counts.values()))


def _model(kind: str, iterations: int, threads: int, factors: int, sgd_blocks: int):
    import fastl2

    if kind == "ials":
        return fastl2.ImplicitALS(factors=factors, iterations=iterations, num_threads=threads,
                                  random_state=0)
    if kind == "als":
        return fastl2.BiasedMF(factors=factors, iterations=iterations, num_threads=threads,
                               solver="als", random_state=0)
    return fastl2.BiasedMF(factors=factors, iterations=iterations, num_threads=threads,
                           n_blocks=sgd_blocks, random_state=0)


def _fit_local(kind, data, args, threads: int = 2):
    times, _, state, record = _timer()
    model = _model(kind, args.iterations, threads, args.factors, args.sgd_blocks)
    state["last"] = time.perf_counter()
    start = state["last"]
    if kind == "ials":
        model.fit(data, show_progress=False, callback=record)
    else:
        model.fit(data, callback=record)
    return model, times, time.perf_counter() - start


def _fit_cluster(kind, data, client, args):
    from fastl2 import distributed as fd

    times, sent, state, record = _timer()
    model = _model(kind, args.iterations, 1, args.factors, args.sgd_blocks)
    state["client"] = client
    before = _bytes_sent(client)
    start = time.perf_counter()
    state["last"] = start
    fd.fit(model, data, client, callback=record, max_broadcast_bytes=args.max_broadcast_bytes)
    total = time.perf_counter() - start
    per_iteration = np.diff([before] + sent).tolist()
    return model, times, total, per_iteration


def predicted_bytes(kind: str, train, workers: int, k: int, sgd_blocks: int,
                    max_broadcast: int, itemsize: int = 4) -> float:
    """Bytes the workers should send each other per iteration, by the communication model of
    docs/distributed.md (expected values: a block's source is another worker with
    probability (W-1)/W; an SGD item group's next user group is another worker's with
    probability B(W-1)/(W(B-1)))."""
    W, s = workers, itemsize
    cross = (W - 1) / W
    n_u, n_i = train.shape
    extra = 1 if kind == "als" else 0  # explicit ALS ships the biases with the factors
    if kind == "sgd":
        B = sgd_blocks
        moves = B * (W - 1) / (W * (B - 1)) if B > 1 else 0.0
        return B * moves * n_i * (k + 2) * s
    users, items = als_sides(train.matrix, train.matrix.data)
    total = 0.0
    for dst, src, n_src in ((users, items, n_i), (items, users, n_u)):
        if n_src * k * s <= max_broadcast:  # joined on one worker, sent to the others
            total += (W - 1) * (1 + 1 / W) * n_src * (k + extra) * s
        else:  # out-blocks: each block receives the rows it references
            total += cross * referenced_rows(dst, min(2 * W, 64)) * (k + extra) * s
        if kind == "ials":  # partial Gram sums to one worker, YᵀY + λI to the others
            total += cross * 64 * k * k * 8 + (W - 1) * k * k * s
    return total


def _same(a, b) -> bool:
    return all(np.array_equal(getattr(a, n), getattr(b, n))
               for n in ("user_factors_", "item_factors_"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", default="large", choices=("small", "medium", "large"))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--iterations", type=int, default=5)
    ap.add_argument("--factors", type=int, default=64)
    ap.add_argument("--kernels", default="als,ials,sgd")
    ap.add_argument("--sgd-blocks", type=int, default=8,
                    help="BiasedMF n_blocks of both SGD fits (default: the model's 8)")
    ap.add_argument("--max-broadcast-bytes", type=int, default=1 << 30,
                    help="ALS: 0 sends out-blocks only (default: whole sides up to 1 GiB)")
    ap.add_argument("--json", help="write the results to this file")
    args = ap.parse_args(argv)

    import distributed

    kinds = args.kernels.split(",")
    rows = []
    data = {}
    for implicit in sorted({k == "ials" for k in kinds}):
        data[implicit] = make_data(args.size, implicit, 0)[0]
    with distributed.LocalCluster(n_workers=args.workers, threads_per_worker=1,
                                  processes=True, dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        for kind in kinds:
            train = data[kind == "ials"]
            # compile everywhere first (the kernels' cache makes later processes quick)
            warm = argparse.Namespace(**{**vars(args), "iterations": 1})
            _fit_local(kind, train, warm)
            _fit_cluster(kind, train, client, warm)
            local, lt, ltotal = _fit_local(kind, train, args)
            remote, rt, rtotal, moved = _fit_cluster(kind, train, client, args)
            lm, rm = steady(lt)["seconds"], steady(rt)["seconds"]
            row = {"kernel": kind, "sgd_blocks": args.sgd_blocks, "nnz": train.nnz,
                   "users": train.n_users, "items": train.n_items, "k": args.factors,
                   "workers": args.workers,
                   "local_2thr_s": lt, "cluster_s": rt, "local_median_s": lm,
                   "cluster_median_s": rm, "ratio": rm / lm, "local_total_s": ltotal,
                   "cluster_total_s": rtotal, "bytes_per_iteration": moved,
                   "max_broadcast_bytes": args.max_broadcast_bytes,
                   "predicted_bytes": predicted_bytes(kind, train, args.workers, args.factors,
                                                      args.sgd_blocks,
                                                      args.max_broadcast_bytes),
                   "same_bits": _same(local, remote)}
            rows.append(row)
            print(f"{kind:5s} local {lm:7.3f} s/it  cluster {rm:7.3f} s/it  ratio "
                  f"{rm / lm:5.2f}  moved {steady(moved)['seconds'] / 2**20:8.1f} "
                  f"MiB/it (model {row['predicted_bytes'] / 2**20:.1f})  same bits "
                  f"{row['same_bits']}  (totals {ltotal:.1f} s vs "
                  f"{rtotal:.1f} s)", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": platform.processor() or platform.machine(),
                       "python": sys.version.split()[0], "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
