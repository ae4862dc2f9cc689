"""The machine a benchmark runs on: what it is (:func:`machine_info`), what it gives more
threads (:func:`machine_scaling`, a memory triad and SGEMM), how much memory a block of code
takes (:class:`PeakRSS`, the one RSS probe), how busy the rest of the machine is
(:func:`cpu_snapshot`, :func:`contention`), and the one BLAS thread limiter
(:func:`blas_limit`).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import platform
import time
from typing import Any

import numba
import numpy as np
import scipy

from .._kernels.stream import triad
from .._threads import max_threads, thread_limit


def machine_info() -> dict[str, Any]:
    """CPU model, core count and library versions, for benchmark reports."""
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


def _blas() -> str:
    """NumPy's BLAS (name and version from its build configuration), plus what threadpoolctl
    sees loaded in the process when it is installed."""
    try:
        info = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        text = f"numpy: {info.get('name', '?')} {info.get('version', '?')}"
    except Exception:  # older NumPy: no dict form
        text = "numpy: unknown"
    try:  # deferred: optional dependency (threadpoolctl, the bench extra)
        from threadpoolctl import threadpool_info
    except ImportError:
        return text
    libs = sorted({f"{d.get('internal_api')} {d.get('version')}" for d in threadpool_info()
                   if d.get("user_api") == "blas"})
    return text + ("; loaded: " + ", ".join(libs) if libs else "")


# ---------------------------------------------------------------------------- BLAS threads
def blas_controlled() -> bool:
    """Whether :func:`blas_limit` can set BLAS threads (threadpoolctl is installed)."""
    return importlib.util.find_spec("threadpoolctl") is not None


def blas_limit(n: int):
    """Limit BLAS threads to ``n`` if threadpoolctl is installed (a no-op otherwise)."""
    try:  # deferred: optional dependency (threadpoolctl, the bench extra)
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(n, "blas")


def blas_label(n: int) -> str:
    """How :func:`blas_limit` ``(n)`` sets BLAS threads, for reports."""
    if blas_controlled():
        return f"threadpoolctl blas={n}"
    env = {k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    return f"uncontrolled (no threadpoolctl); env {env}"


# ---------------------------------------------------------------------------- memory
def rss_bytes() -> int:
    """Current resident set size of this process (Linux; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


class PeakRSS:
    """Measure the peak RSS of a block (Linux ``VmHWM`` reset through clear_refs).

    ``growth`` is peak RSS inside the block minus RSS at its start, in bytes; ``start`` the
    RSS at the start and ``peak`` the peak RSS inside the block (``start + growth``); all
    three ``None`` when the kernel does not allow resetting the high-water mark.
    """

    growth: int | None = None
    start: int | None = None
    peak: int | None = None

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
                    self.peak = int(line.split()[1]) * 1024
                    self.start = self._start
                    self.growth = self.peak - self._start

    @property
    def growth_mb(self) -> float:
        """``growth`` in MiB, 0 when it could not be measured."""
        return (self.growth or 0) / 2**20


# ---------------------------------------------------------------------------- CPU load
def cpu_snapshot() -> tuple[float, float, float] | None:
    """(wall, this process's CPU seconds, whole machine's busy CPU seconds) or None."""
    try:
        with open("/proc/stat") as fh:
            f = [int(x) for x in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    busy = sum(f) - f[3] - (f[4] if len(f) > 4 else 0)  # minus idle and iowait
    return time.perf_counter(), time.process_time(), busy / hz


def contention(a, b) -> dict[str, Any]:
    """How much CPU *other* processes used between two :func:`cpu_snapshot` s (a loaded box
    skews timings).

    ``other_cpu_seconds`` = machine busy CPU time - this process's CPU time; with
    ``cpus`` cores, ``other_cpu_fraction`` = other / (cpus * wall). Anything above a few
    percent means the timings are not clean (e.g. another benchmark ran at the same time).
    /proc/stat counts 10 ms ticks, so the figure is only meaningful for runs of a few seconds.
    """
    if a is None or b is None:
        return {"other_cpu_seconds": None, "other_cpu_fraction": None}
    wall, own, busy = b[0] - a[0], b[1] - a[1], b[2] - a[2]
    other = max(busy - own, 0.0)
    cpus = os.cpu_count() or 1
    return {"other_cpu_seconds": other,
            "other_cpu_fraction": other / (cpus * wall) if wall > 0 else None}


def wait_idle(limit: float, busy_max: float = 0.10, window: float = 2.0) -> float | None:
    """Wait (up to ``limit`` s) until the machine's CPU use over ``window`` s is below
    ``busy_max``; return the last measured busy fraction (None if /proc/stat is unreadable)."""
    deadline = time.perf_counter() + limit
    while True:
        a = cpu_snapshot()
        time.sleep(window)
        b = cpu_snapshot()
        if a is None or b is None:
            return None
        frac = (b[2] - a[2]) / ((os.cpu_count() or 1) * (b[0] - a[0]))
        if frac < busy_max or time.perf_counter() >= deadline:
            return frac


# ---------------------------------------------------------------------------- scaling
def machine_scaling(threads: int, repeat: int = 5) -> dict[str, Any]:
    """What this machine gives ``threads`` threads over one, measured now: the bandwidth of a
    STREAM triad over arrays far larger than the caches (192 MiB read and written) and, when
    BLAS threads can be set (threadpoolctl), single-precision matrix multiply (BLAS's own
    scaling, the best a compute-bound kernel gets here). Best of ``repeat`` runs each.

    Kernels that stream from memory cannot scale past the triad's ratio, compute-bound ones
    rarely past SGEMM's: the reference for a benchmark's own ``1 thr / N thr`` ratios on a
    shared or virtual machine.
    """
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
