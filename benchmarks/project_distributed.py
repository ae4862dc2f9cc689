"""Predicted time per iteration of fastl2.distributed past this machine (docs/distributed.md).

Issue 7 asks for 1B ratings, 100M users, 10M items at k = 64 on 16 and 64 workers. The
prediction adds four terms per iteration, each from a measurement or a stated assumption:

- **compute**: the core-seconds of an iteration: the local fit's time per iteration with a
  thread on every core of this machine, times its cores (the cost of a core under full load:
  this VM's two vCPUs together give about 1.4x one, not 2x), measured on a synthetic set of
  the target's shape (same ratings per user and per item) scaled down ``--scale`` times,
  multiplied by the scale (every kernel is linear in entries and rows at a fixed shape) and
  divided over the cores: ALS runs a block's rows on all ``--cores`` threads of its worker; a
  DSGD stratum task runs one Numba thread, so DSGD gets one core a worker;
- **network**: the bytes of the communication model (docs/distributed.md) at the target size,
  each worker receiving its share at ``--bandwidth-gbit``. The out-blocks' referenced rows R
  come from the shape: E[distinct items of a user block] = Σ_i 1 − exp(−(nnz/B)·p_i) with the
  generator's Zipf item popularity p, E[distinct users of an item block] = Σ_u 1 − (1 −
  1/B)^d_u with its user activity d; both are checked against an exact count on the
  scaled-down set;
- **scheduler**: tasks per iteration × ``--task-overhead-ms`` (Dask's best practices: up to
  1 ms of scheduler time per task; the scheduler is one process);
- **latency**: dependent task hops per iteration × ``--latency-ms`` (a chain of dependent
  tasks measured 7–11 ms a hop on this machine).

The sum assumes no overlap of the terms (high on that count: Dask overlaps transfers with
other blocks' compute). With ``--check`` the same model predicts the 2-worker fit of this
machine at ``--check-size`` from an all-cores measurement of that data, the loopback
bandwidth and the scheduler's time per task measured here, and the script measures the
cluster fit in the same run (the model came out 8-46% low: docs/distributed.md). Run from
the repository root (needs the ``dask`` extra):

    python benchmarks/project_distributed.py --check --json projection.json

This is a projection, not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np

from bench_distributed import _fit_cluster, _fit_local, predicted_bytes

from fastl2.bench import make_data, steady
from fastl2.bench.harness import als_sides, referenced_rows

GB = 1e9
CORES_HERE = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
              else os.cpu_count() or 1)


def _shape_data(users: int, items: int, nnz: int, implicit: bool, seed: int = 0):
    """A synthetic set of the given shape: Zipf item popularity (exponent 1), log-normal user
    activity (σ 1.2) above a floor of 2 ratings (the generator's defaults but the floor)."""
    from fastl2.datasets import synthetic_ratings

    return synthetic_ratings(n_users=users, n_items=items, n_ratings=nnz, rank=10, noise=0.5,
                             seed=seed, min_user_ratings=2,
                             implicit="counts" if implicit else False).interactions


def zipf_popularity(n_items: int, exponent: float = 1.0) -> np.ndarray:
    """Each item's share of the entries under the generator's popularity law."""
    w = np.arange(1, n_items + 1, dtype=np.float64) ** -exponent
    return w / w.sum()


def expected_item_refs(p: np.ndarray, nnz: float, n_blocks: int) -> float:
    """E[R] of the user blocks (rows of the item side each references), entries spread over
    ``n_blocks`` user blocks balanced by entries."""
    return n_blocks * float(np.sum(-np.expm1(-(nnz / n_blocks) * p)))


def expected_user_refs(degrees: np.ndarray, n_blocks: int, copies: float = 1.0) -> float:
    """E[R] of the item blocks: a user with d entries is referenced by a block holding 1/B of
    the entries with probability 1 − (1 − 1/B)^d; ``copies`` scales a sample of users."""
    d, counts = np.unique(degrees, return_counts=True)
    hit = -np.expm1(d * np.log1p(-1.0 / n_blocks)) if n_blocks > 1 else np.ones(d.size)
    return copies * n_blocks * float(np.sum(counts * hit))


def _tasks(kind: str, B: int, sgd_blocks: int, W: int) -> tuple[int, int]:
    """(tasks, dependent hops) per iteration of fastl2/distributed's graphs with B blocks a
    side and out-blocks: per half-sweep B² row selections, B solves and their outputs (4
    explicit, 2 implicit); implicit adds B Gram partials, their sum and YᵀY + λI. DSGD: per
    stratum one task a worker and a routing task per (source, destination) pair that moves an
    item group (at most one a group)."""
    if kind == "sgd":
        return sgd_blocks * (W + min(W * W, sgd_blocks)), 2 * sgd_blocks
    if kind == "als":
        return 2 * (B * B + B + 4 * B), 4
    return 2 * (B * B + B + 2 * B + B + 2), 10


def core_seconds(kind: str, data, args) -> float:
    """Core-seconds of one iteration of the local fit on ``data``: its median time with a
    thread on every core of this machine, times the cores."""
    run = argparse.Namespace(iterations=args.iterations, factors=args.factors,
                             sgd_blocks=2 * CORES_HERE)
    _, times, _ = _fit_local(kind, data, run, CORES_HERE)
    return CORES_HERE * steady(times)["seconds"]


def project(kind: str, core_s: float, scale: float, W: int, args, refs: dict) -> dict:
    """The four terms for ``W`` workers; ``core_s`` the core-seconds of an iteration of the
    scaled-down set, ``scale`` the target's entries over its entries."""
    k, s = args.factors, 4
    n_u, n_i, nnz = args.users, args.items, args.nnz
    B = min(2 * W, 64)
    cross = (W - 1) / W
    sgd_blocks = args.sgd_grid_per_worker * W
    bw = args.bandwidth_gbit * 1e9 / 8
    if kind == "sgd":
        moves = sgd_blocks * (W - 1) / (W * (sgd_blocks - 1))
        sent = sgd_blocks * moves * n_i * (k + 2) * s
        compute = core_s * scale / W
        memory = nnz * (4 + 4 + s) / W + (n_u / W + n_i / W * 2) * (k + 2) * s
    else:
        extra = 1 if kind == "als" else 0
        r_items, r_users = refs[B]
        sent = cross * (r_items + r_users) * (k + extra) * s
        if kind == "ials":
            sent += 2 * (cross * 64 * k * k * 8 + (W - 1) * k * k * s)
        compute = core_s * scale / (W * args.cores)
        # the ratings twice (CSR and CSC: int32 index + value), own rows of both sides, and
        # the larger half's received rows, as pieces and joined (twice)
        memory = (2 * nnz * (4 + s) + (n_u + n_i) * (k + extra) * s
                  + 2 * max(r_items, r_users) * (k + extra) * s) / W
    tasks, hops = _tasks(kind, B, sgd_blocks, W)
    terms = {"compute_s": compute, "network_s": sent / W / bw,
             "scheduler_s": tasks * args.task_overhead_ms / 1e3,
             "latency_s": hops * args.latency_ms / 1e3}
    return {"kernel": kind, "workers": W, "blocks": sgd_blocks if kind == "sgd" else B,
            "bytes_per_iteration": sent, "tasks_per_iteration": tasks, **terms,
            "total_s": sum(terms.values()), "memory_per_worker_bytes": memory}


def spark_bytes(refs_of, W: int, n_blocks: int, k: int) -> float:
    """Bytes per iteration of Spark MLlib's explicit ALS with ``n_blocks`` user and item
    blocks (the same out-block scheme: one copy of a row to every block that references it;
    float32 factors, no biases)."""
    r_items, r_users = refs_of(n_blocks)
    return (W - 1) / W * (r_items + r_users) * k * 4


def _loopback_bandwidth(client) -> float:
    """Bytes/s of one 256 MiB array moved between two worker processes by Dask."""
    from distributed import wait

    a, b = list(client.scheduler_info()["workers"])[:2]
    x = client.submit(np.ones, 1 << 26, np.float32, workers=[a], pure=False)
    wait(x)
    start = time.perf_counter()
    y = client.submit(np.sum, x, workers=[b], allow_other_workers=False, pure=False)
    y.result()
    return (1 << 28) / (time.perf_counter() - start)


def _task_overhead(client, n: int = 4000) -> float:
    """Seconds of wall time per independent no-op task (``abs``) run through the scheduler."""
    from distributed import wait

    wait(client.map(abs, range(100), pure=False))  # warm
    start = time.perf_counter()
    wait(client.map(abs, range(-n, 0), pure=False))
    return (time.perf_counter() - start) / n


def _check(args, out: dict) -> None:
    """Predict and measure the 2-worker fit at ``--check-size`` (1 thread per worker), ALS
    with out-blocks on both sides as the projection assumes."""
    import distributed

    W = 2
    rows = []
    with distributed.LocalCluster(n_workers=W, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        bw = _loopback_bandwidth(client)
        overhead = _task_overhead(client)
        print(f"check: loopback {bw / 2**20:.0f} MiB/s, {overhead * 1e3:.2f} ms a task",
              flush=True)
        for kind in args.kernels.split(","):
            train = make_data(args.check_size, kind == "ials", 0)[0]
            t1 = core_seconds(kind, train, args)
            for iterations in (1, args.iterations):  # the first compiles on the workers
                run = argparse.Namespace(iterations=iterations, factors=args.factors,
                                         sgd_blocks=2 * W, max_broadcast_bytes=0)
                _, times, _, _ = _fit_cluster(kind, train, client, run)
            measured = steady(times)["seconds"]
            sent = predicted_bytes(kind, train, W, args.factors, 2 * W, 0)
            tasks, hops = _tasks(kind, 2 * W, 2 * W, W)
            terms = {"compute_s": t1 / W, "network_s": sent / W / bw,
                     "scheduler_s": tasks * overhead,
                     "latency_s": hops * args.latency_ms / 1e3}
            predicted = sum(terms.values())
            rows.append({"kernel": kind, "nnz": train.nnz, "core_seconds": t1, **terms,
                         "predicted_s": predicted, "measured_s": measured,
                         "measured_over_predicted": measured / predicted})
            print(f"check {kind:4s} {args.check_size}: {t1:6.2f} core-s/it -> predicted "
                  f"{predicted:6.2f} s/it on 2 workers, measured {measured:6.2f} "
                  f"(x{measured / predicted:.2f})", flush=True)
    out["check"] = {"size": args.check_size, "workers": W, "loopback_bytes_per_s": bw,
                    "task_overhead_s": overhead, "rows": rows}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nnz", type=float, default=1e9)
    ap.add_argument("--users", type=float, default=1e8)
    ap.add_argument("--items", type=float, default=1e7)
    ap.add_argument("--factors", type=int, default=64)
    ap.add_argument("--workers", default="16,64")
    ap.add_argument("--cores", type=int, default=8, help="cores of each ALS worker")
    ap.add_argument("--bandwidth-gbit", type=float, default=10.0)
    ap.add_argument("--task-overhead-ms", type=float, default=1.0)
    ap.add_argument("--latency-ms", type=float, default=10.0)
    ap.add_argument("--sgd-grid-per-worker", type=int, default=2,
                    help="DSGD grid: this many user (and item) groups per worker")
    ap.add_argument("--scale", type=float, default=250.0,
                    help="the calibration set is the target divided by this")
    ap.add_argument("--iterations", type=int, default=4)
    ap.add_argument("--kernels", default="als,ials,sgd")
    ap.add_argument("--check", action="store_true",
                    help="also predict and measure 2 local workers at --check-size")
    ap.add_argument("--check-size", default="medium", choices=("small", "medium", "large"))
    ap.add_argument("--json", help="write the results to this file")
    args = ap.parse_args(argv)
    args.nnz, args.users, args.items = int(args.nnz), int(args.users), int(args.items)

    workers = [int(w) for w in args.workers.split(",")]
    small = [int(round(v / args.scale)) for v in (args.users, args.items, args.nnz)]
    kinds = args.kernels.split(",")
    out: dict = {"machine": platform.processor() or platform.machine(),
                 "python": sys.version.split()[0], "args": vars(args), "calibration": {}}
    data = {imp: _shape_data(*small, imp) for imp in sorted({k == "ials" for k in kinds})}
    explicit = data.get(False, data.get(True))

    # referenced rows: the formulas at the target size, checked on the scaled-down set
    users_side, items_side = als_sides(explicit.matrix, explicit.matrix.data)
    degrees = np.diff(explicit.matrix.indptr)
    p_small, p_big = zipf_popularity(small[1]), zipf_popularity(args.items)
    out["refs_check"] = []
    for B in sorted({min(2 * w, 64) for w in workers} | {2, 4}):
        exact = (referenced_rows(users_side, B), referenced_rows(items_side, B))
        model = (expected_item_refs(p_small, explicit.nnz, B), expected_user_refs(degrees, B))
        out["refs_check"].append({"blocks": B, "exact": exact, "model": model})
        print(f"R at {B:2d} blocks on {explicit.nnz:,} entries: items {exact[0]:,} exact, "
              f"{model[0]:,.0f} model; users {exact[1]:,} exact, {model[1]:,.0f} model",
              flush=True)

    def refs_of(B: int) -> tuple[float, float]:
        return (expected_item_refs(p_big, args.nnz, B),
                expected_user_refs(degrees, B, args.users / degrees.size))

    refs = {B: refs_of(B) for B in {min(2 * w, 64) for w in workers}}
    out["refs_target"] = {str(B): r for B, r in refs.items()}

    rows = []
    for kind in kinds:
        train = data[kind == "ials"]
        t1 = core_seconds(kind, train, args)
        out["calibration"][kind] = {"nnz": train.nnz, "users": train.n_users,
                                    "items": train.n_items, "cores": CORES_HERE,
                                    "core_seconds": t1}
        print(f"{kind:4s} on {train.nnz:,} entries, {CORES_HERE} threads: {t1:.3f} core-s/it",
              flush=True)
        for W in workers:
            row = project(kind, t1, args.nnz / train.nnz, W, args, refs)
            rows.append(row)
            print(f"  W={W:3d}: {row['total_s']:7.1f} s/it = compute {row['compute_s']:.1f} + "
                  f"network {row['network_s']:.1f} ({row['bytes_per_iteration'] / GB:.0f} GB) "
                  f"+ scheduler {row['scheduler_s']:.1f} ({row['tasks_per_iteration']} tasks) "
                  f"+ latency {row['latency_s']:.2f}; "
                  f"{row['memory_per_worker_bytes'] / GB:.1f} GB a worker", flush=True)
    out["projection"] = rows
    # the out-block scheme's factor bytes against the number of blocks: Spark's default (10),
    # one block a worker, fastl2's default (2W, at most 64), one single-threaded task a core
    out["spark_bytes"] = [{"workers": W, "blocks": b,
                           "bytes_per_iteration": spark_bytes(refs_of, W, b, args.factors)}
                          for W in workers
                          for b in sorted({10, W, min(2 * W, 64), W * args.cores})]
    for r in out["spark_bytes"]:
        print(f"out-block factor bytes, W={r['workers']}, {r['blocks']} blocks a side: "
              f"{r['bytes_per_iteration'] / GB:.0f} GB/it", flush=True)
    if args.check:
        _check(args, out)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
