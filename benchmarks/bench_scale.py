"""Scale without surprises: fit BiasedMF (SGD) and ImplicitALS on a 100M-interaction synthetic
set (Netflix-shaped: 480,000 users × 17,770 items) and recommend for every user, reporting
peak RSS growth against the bytes that must exist: the CSR data plus the model.

    python benchmarks/bench_scale.py                    # xl: 100M interactions (~24 GiB box)
    python benchmarks/bench_scale.py --size large       # 20M, ML-20M-shaped, a quick check

Targets (issue 6): the peak RSS growth of each fit ≤ 2 × (CSR bytes + model bytes), i.e. no
hidden copies of the data; top-N for all users with memory bounded by its output plus
per-thread scratch. Peak RSS is Linux's VmHWM, reset before each measured call.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from fastl2 import BiasedMF, ImplicitALS
from fastl2.bench import SIZES, PeakRSS, machine_info
from fastl2.datasets import synthetic_ratings

MB = 2**20


def _csr_bytes(m) -> int:
    return m.data.nbytes + m.indices.nbytes + m.indptr.nbytes


def _model_bytes(model) -> int:
    return sum(a.nbytes for a in (model.user_factors_, model.item_factors_)) + sum(
        getattr(model, name).nbytes for name in ("user_bias_", "item_bias_")
        if hasattr(model, name))


def _fit(name: str, model, data, matrix, **fit_kw) -> dict:
    t0 = time.perf_counter()
    with PeakRSS() as mem:
        model.fit(data, **fit_kw)
    sec = time.perf_counter() - t0
    need = _csr_bytes(matrix) + _model_bytes(model)
    out = {"what": name, "seconds": sec, "peak_rss_growth_mb": mem.growth / MB,
           "csr_mb": _csr_bytes(matrix) / MB, "model_mb": _model_bytes(model) / MB,
           "growth_over_csr_plus_model": mem.growth / need}
    print(f"{name}: {sec:.1f} s, peak RSS growth {mem.growth / MB:,.0f} MB = "
          f"{out['growth_over_csr_plus_model']:.2f} × (CSR {out['csr_mb']:,.0f} MB + model "
          f"{out['model_mb']:,.0f} MB)", flush=True)
    return out


def _step(step: str, path: str, factors: int, epochs: int) -> dict:
    """One measured step in this (fresh) process, on the data saved at ``path``."""
    import scipy.sparse as sp

    m = sp.load_npz(path).tocsr()
    data = m  # what users of implicit pass: a canonical float32 CSR (shared, not copied)
    if step == "sgd":
        return _fit("BiasedMF sgd", BiasedMF(factors=factors, iterations=epochs,
                                             random_state=0), data, m)
    if step in ("ials-cg", "ials-chol"):
        return _fit(f"ImplicitALS {step[5:]}", ImplicitALS(
            factors=factors, iterations=epochs, random_state=0, use_cg=step == "ials-cg"),
            data, m, show_progress=False)
    model = ImplicitALS(factors=factors, iterations=1, random_state=0)
    model.fit(data, show_progress=False)
    users = np.arange(m.shape[0])
    t0 = time.perf_counter()
    with PeakRSS() as mem:
        ids, scores = model.recommend(users, m, N=10)
    sec = time.perf_counter() - t0
    out_mb = (ids.nbytes + scores.nbytes) / MB
    print(f"recommend all {users.size:,} users: {sec:.1f} s ({users.size / sec:,.0f} users/s), "
          f"peak RSS growth {mem.growth / MB:,.0f} MB for an output of {out_mb:,.0f} MB",
          flush=True)
    return {"what": "recommend all users, N=10", "seconds": sec,
            "peak_rss_growth_mb": mem.growth / MB, "output_mb": out_mb,
            "users_per_second": users.size / sec}


STEPS = ("sgd", "ials-cg", "ials-chol", "recommend")


def main(argv: list[str] | None = None) -> int:
    import os
    import subprocess
    import tempfile

    import scipy.sparse as sp

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", choices=("large", "xl"), default="xl")
    ap.add_argument("--factors", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--json")
    ap.add_argument("--step", choices=STEPS, help=argparse.SUPPRESS)  # child process
    ap.add_argument("--data", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.step:
        print("ROW " + json.dumps(_step(args.step, args.data, args.factors, args.epochs)))
        return 0
    n_users, n_items, n_ratings = SIZES[args.size]
    t0 = time.perf_counter()
    m = synthetic_ratings(n_users=n_users, n_items=n_items, n_ratings=n_ratings, rank=10,
                          seed=0).interactions.matrix
    print(f"data: {m.shape[0]:,} × {m.shape[1]:,}, {m.nnz:,} ratings, CSR "
          f"{_csr_bytes(m) / MB:,.0f} MB, generated in {time.perf_counter() - t0:.0f} s; "
          "each step below runs in a fresh process (no memory reused from an earlier one)",
          flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "data.npz")
        sp.save_npz(path, m, compressed=False)
        del m
        for step in STEPS:
            proc = subprocess.run([sys.executable, __file__, "--step", step, "--data", path,
                                   "--factors", str(args.factors), "--epochs",
                                   str(args.epochs)], capture_output=True, text=True)
            sys.stdout.write("".join(ln + "\n" for ln in proc.stdout.splitlines()
                                     if not ln.startswith("ROW ")))
            if proc.returncode != 0:
                print(f"{step} failed:\n{proc.stderr}", file=sys.stderr)
                return 1
            rows.append(json.loads(next(ln[4:] for ln in proc.stdout.splitlines()
                                        if ln.startswith("ROW "))))
    report = {"machine": machine_info(), "size": args.size, "factors": args.factors,
              "epochs": args.epochs, "nnz": n_ratings, "rows": rows}
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=1)
    ok = all(r.get("growth_over_csr_plus_model", 0) <= 2.0 for r in rows)
    print("target (growth ≤ 2 × (CSR + model)):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
