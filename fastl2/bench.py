"""Timing harness: fastl2's Numba kernels against their pure NumPy twins (and, later, peers).

Honest timing rules: ``time.perf_counter``; the first call (JIT compile or on-disk cache load)
is timed and reported separately; every contender gets the same data object; thread counts
are set explicitly (Numba through :func:`fastl2._threads.thread_limit`, BLAS through the
environment of the process, see ``benchmarks/README.md``).
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from typing import Any

import numpy as np

from ._threads import max_threads


def machine_info() -> dict[str, Any]:
    """CPU model, core count and library versions, for benchmark reports."""
    import numba
    import scipy

    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel region has run yet
        layer = "not initialised"
    return {"cpu": cpu, "cores": os.cpu_count(), "numba_threads": max_threads(),
            "python": platform.python_version(), "numpy": np.__version__,
            "scipy": scipy.__version__, "numba": numba.__version__, "threading_layer": layer,
            "blas": _blas()}


def machine_scaling(threads: int, repeat: int = 5) -> dict[str, Any]:
    """What this machine gives ``threads`` threads over one, measured now: the bandwidth of a
    STREAM triad over arrays far larger than the caches (192 MiB read and written) and, when
    BLAS threads can be set (threadpoolctl), single-precision matrix multiply (BLAS's own
    scaling, the best a compute-bound kernel gets here). Best of ``repeat`` runs each.

    Kernels that stream from memory cannot scale past the triad's ratio, compute-bound ones
    rarely past SGEMM's: the reference for a benchmark's own ``1 thr / N thr`` ratios on a
    shared or virtual machine.
    """
    from ._kernels.stream import triad
    from ._threads import thread_limit
    from .bench_suite import blas_controlled, blas_limit

    n = 1 << 24
    a = np.zeros(n, dtype=np.float32)
    b = np.ones(n, dtype=np.float32)
    c = np.full(n, 2.0, dtype=np.float32)
    s = np.float32(0.5)

    def best(fn) -> float:
        fn()
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return min(times)

    out: dict[str, Any] = {"threads": threads}  # per measure: [1 thread, ``threads``]
    triad_s = {}
    for t in sorted({1, threads}):
        with thread_limit(t):
            triad_s[t] = best(lambda: triad(a, b, c, s, 64))
    out["triad_gb_per_s"] = [3 * a.nbytes / triad_s[t] / 1e9 for t in (1, threads)]
    out["triad_ratio"] = triad_s[1] / triad_s[threads]
    if blas_controlled():
        m = np.random.default_rng(0).standard_normal((1500, 1500)).astype(np.float32)
        sgemm_s = {}
        for t in sorted({1, threads}):
            with blas_limit(t):
                sgemm_s[t] = best(lambda: m @ m)
        out["sgemm_gflops"] = [2 * m.shape[0] ** 3 / sgemm_s[t] / 1e9 for t in (1, threads)]
        out["sgemm_ratio"] = sgemm_s[1] / sgemm_s[threads]
    return out


def format_scaling(sc: dict[str, Any]) -> str:
    """One line: the machine's own 1-thread / N-thread ratios (see :func:`machine_scaling`)."""
    t = sc["threads"]
    gb = sc["triad_gb_per_s"]
    line = (f"machine scaling, same run: memory triad 1 thr / {t} thr = "
            f"{sc['triad_ratio']:.2f} ({gb[0]:.1f} -> {gb[1]:.1f} GB/s)")
    if "sgemm_ratio" in sc:
        gf = sc["sgemm_gflops"]
        line += (f", SGEMM 1 thr / {t} thr = {sc['sgemm_ratio']:.2f} "
                 f"({gf[0]:.0f} -> {gf[1]:.0f} GFLOP/s)")
    return line


def _blas() -> str:
    """NumPy's BLAS (name and version from its build configuration), plus what threadpoolctl
    sees loaded in the process when it is installed."""
    try:
        info = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        text = f"numpy: {info.get('name', '?')} {info.get('version', '?')}"
    except Exception:  # older NumPy: no dict form
        text = "numpy: unknown"
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return text
    libs = sorted({f"{d.get('internal_api')} {d.get('version')}" for d in threadpool_info()
                   if d.get("user_api") == "blas"})
    return text + ("; loaded: " + ", ".join(libs) if libs else "")


def rss_bytes() -> int:
    """Current resident set size of this process (Linux; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


class PeakRSS:
    """Measure the peak RSS growth of a block (Linux ``VmHWM`` reset through clear_refs).

    ``growth`` is peak RSS inside the block minus RSS at its start, in bytes; ``None`` when
    the kernel does not allow resetting the high-water mark.
    """

    growth: int | None = None

    def __enter__(self) -> "PeakRSS":
        self._ok = True
        try:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
        except OSError:
            self._ok = False
        self._start = rss_bytes()
        return self

    def __exit__(self, *exc: Any) -> None:
        if not self._ok:
            return
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    self.growth = int(line.split()[1]) * 1024 - self._start


def bench_sgd(data, *, factors: int = 64, dtype: Any = np.float32, threads=(1, 2),
              epochs: int = 3, numpy_epochs: int = 1, seed: int = 0,
              numpy_batch: int = 65536) -> dict[str, Any]:
    """Time BiasedMF SGD epochs per thread count, and the NumPy mini-batch baseline.

    Returns a dict with, per thread count, the epoch times (median and spread), updates per
    second, peak RSS growth of the fit; the first-call time; the NumPy baseline epoch time;
    and the ratios the issue asks for.
    """
    from ._reference.sgd import minibatch_sgd_epoch
    from .models.biased_mf import BiasedMF

    nnz = data.nnz
    out: dict[str, Any] = {"machine": machine_info(), "nnz": nnz, "n_users": data.n_users,
                           "n_items": data.n_items, "factors": factors,
                           "dtype": np.dtype(dtype).name, "epochs": epochs, "threads": {}}
    csr_bytes = data.matrix.data.nbytes + data.matrix.indices.nbytes + data.matrix.indptr.nbytes
    model_bytes = (data.n_users + data.n_items) * (factors + 1) * np.dtype(dtype).itemsize
    out["csr_bytes"], out["model_bytes"] = csr_bytes, model_bytes

    t0 = time.perf_counter()
    tiny = (np.array([0, 1]), np.array([0, 1]), np.array([1.0, 2.0]))
    BiasedMF(factors=factors, iterations=1, dtype=dtype, random_state=0).fit(tiny)
    out["first_call_seconds"] = time.perf_counter() - t0

    for t in threads:
        times: list[float] = []
        last = [0.0]

        def record(it: int, elapsed: float, loss: float) -> None:
            times.append(elapsed - last[0])
            last[0] = elapsed

        model = BiasedMF(factors=factors, iterations=epochs, dtype=dtype, num_threads=t,
                         random_state=seed)
        with PeakRSS() as peak:
            t_fit = time.perf_counter()
            model.fit(data, callback=record)
            fit_seconds = time.perf_counter() - t_fit
        med = statistics.median(times)
        out["threads"][t] = {
            "epoch_seconds": times, "median_epoch_seconds": med,
            "spread_seconds": max(times) - min(times),
            "updates_per_second": nnz / med, "fit_seconds": fit_seconds,
            "setup_seconds": fit_seconds - sum(times),
            "peak_rss_growth_bytes": peak.growth,
            "final_train_rmse": model.loss_history_[-1],
        }
        del model

    if numpy_epochs:
        rng = np.random.default_rng(seed)
        dt = np.dtype(dtype)
        users = data.row_indices()
        items = data.matrix.indices
        ratings = data.matrix.data.astype(dt)
        P = (rng.standard_normal((data.n_users, factors)) * 0.05).astype(dt)
        Q = (rng.standard_normal((data.n_items, factors)) * 0.05).astype(dt)
        bu = np.zeros(data.n_users, dt)
        bi = np.zeros(data.n_items, dt)
        mu = float(ratings.mean())
        times = []
        for _ in range(numpy_epochs):
            t1 = time.perf_counter()
            minibatch_sgd_epoch(users, items, ratings, P, Q, bu, bi, mu, 0.01, 0.08, 0.08, 0.02,
                                0.02, rng, batch_size=numpy_batch)
            times.append(time.perf_counter() - t1)
        med = statistics.median(times)
        out["numpy"] = {"epoch_seconds": times, "median_epoch_seconds": med,
                        "updates_per_second": nnz / med, "batch_size": numpy_batch}

    tt = out["threads"]
    ratios: dict[str, float] = {}
    if 1 in tt and 2 in tt:
        ratios["2_threads_vs_1"] = tt[1]["median_epoch_seconds"] / tt[2]["median_epoch_seconds"]
    if "numpy" in out:
        best = min(v["median_epoch_seconds"] for v in tt.values())
        ratios["numba_vs_numpy"] = out["numpy"]["median_epoch_seconds"] / best
    peaks = [v["peak_rss_growth_bytes"] for v in tt.values() if v["peak_rss_growth_bytes"]]
    if peaks:
        ratios["peak_growth_vs_data_plus_model"] = max(peaks) / (csr_bytes + model_bytes)
    out["ratios"] = ratios
    return out


def format_sgd_report(res: dict[str, Any]) -> str:
    """Human-readable table of :func:`bench_sgd` results."""
    m = res["machine"]
    lines = [f"machine: {m['cpu']}, {m['cores']} cores, numba {m['numba']} "
             f"({m['threading_layer']}), numpy {m['numpy']}",
             f"data: {res['n_users']:,} users x {res['n_items']:,} items, {res['nnz']:,} ratings;"
             f" k={res['factors']}, {res['dtype']}",
             f"first call (JIT compile or cache load): {res['first_call_seconds']:.2f} s",
             f"{'contender':<22}{'s/epoch':>10}{'spread':>9}{'M updates/s':>13}"
             f"{'peak RSS +MB':>14}"]
    for t, v in res["threads"].items():
        g = v["peak_rss_growth_bytes"]
        lines.append(f"{'fastl2 sgd, ' + str(t) + ' thr':<22}{v['median_epoch_seconds']:>10.3f}"
                     f"{v['spread_seconds']:>9.3f}{v['updates_per_second'] / 1e6:>13.1f}"
                     f"{(g / 2**20 if g else float('nan')):>14.0f}")
    if "numpy" in res:
        v = res["numpy"]
        lines.append(f"{'numpy mini-batch':<22}{v['median_epoch_seconds']:>10.3f}{'':>9}"
                     f"{v['updates_per_second'] / 1e6:>13.2f}{'':>14}")
    lines.append(f"CSR {res['csr_bytes'] / 2**20:.0f} MB + model {res['model_bytes'] / 2**20:.0f}"
                 " MB")
    lines.append("ratios: " + ", ".join(f"{k} = {v:.2f}" for k, v in res["ratios"].items()))
    return "\n".join(lines)
