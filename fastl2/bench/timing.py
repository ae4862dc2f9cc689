"""How benchmark times are taken and summarised: the one steady-state summary
(:func:`steady`), the epoch timers fed by a fit's ``callback``, and timed repeated calls.

Honest timing rules: ``time.perf_counter`` around calls that return finished results; the
first call (JIT compile or on-disk cache load) is reported apart from the steady state, the
median of the later calls, with their spread (max − min).
"""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable

from .machine import PeakRSS, blas_limit


def steady(times: list[float], units: float | None = None, unit: str | None = None, *,
           warmup: bool = True) -> dict[str, Any]:
    """Summarise per-call wall times: ``first_seconds`` (the warm-up call, ``None`` when
    ``warmup`` is False), ``seconds`` (median of the steady calls: all but the first, or the
    first if it is the only one; all of them when ``warmup`` is False), ``spread_seconds``
    (their max − min) and ``repeats`` (how many); with a ``unit``, ``throughput`` (``units``
    per steady second) and ``throughput_unit``."""
    rest = (times[1:] or times) if warmup else times
    med = statistics.median(rest)
    out: dict[str, Any] = {"first_seconds": times[0] if warmup else None, "seconds": med,
                           "spread_seconds": max(rest) - min(rest), "repeats": len(rest)}
    if unit is not None:
        out["throughput"] = units / med if med > 0 else None
        out["throughput_unit"] = unit
    return out


def epoch_timer() -> tuple[list[float], Callable]:
    """``(times, record)``: pass ``record`` as a fit's ``callback``; ``times`` gets the wall
    time between calls, the first measured from this call (so it includes the fit's setup)."""
    times: list[float] = []
    last = [time.perf_counter()]

    def record(*_: Any) -> None:
        now = time.perf_counter()
        times.append(now - last[0])
        last[0] = now
    return times, record


def elapsed_timer(cumulative: bool = True) -> tuple[list[float], Callable]:
    """``(times, record)`` from the ``elapsed`` a fit passes its ``callback(it, elapsed,
    loss)``: differences of it when it is ``cumulative`` (seconds since training started, as
    BiasedMF's: its first entry also holds the setup of the grid and factors), else as given
    (one iteration's time, as ImplicitALS's). :func:`steady` leaves the first entry out."""
    times: list[float] = []
    last = [0.0]

    def record(it: int, elapsed: float, loss: Any = None) -> None:
        times.append(elapsed - last[0])
        if cumulative:
            last[0] = elapsed
    return times, record


def repeated(fn: Callable[[], Any], calls: int, scale: float = 1.0) -> tuple[list[float], Any]:
    """Wall times (× ``scale``) of ``calls`` calls of a NumPy baseline with BLAS on one
    thread, and the last result."""
    times, out = [], None
    with blas_limit(1):
        for _ in range(calls):
            t0 = time.perf_counter()
            out = fn()
            times.append((time.perf_counter() - t0) * scale)
    return times, out


def timed(fn: Callable[[], Any], calls: int) -> tuple[list[float], Any, float | None]:
    """Wall times of ``calls`` calls (the first is the warm-up), the last result, and the
    peak RSS growth over the calls in MB (None where it cannot be measured)."""
    times, out = [], None
    with PeakRSS() as mem:
        for _ in range(calls):
            t0 = time.perf_counter()
            out = fn()
            times.append(time.perf_counter() - t0)
    return times, out, None if mem.growth is None else mem.growth / 2**20
