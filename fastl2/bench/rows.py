"""The rows of a ``fastl2 bench`` report: what every contender of one kernel shares
(:class:`Setup`), the row constructors, the quality figures, and the ratios derived from the
rows (:func:`ratios`).

Every measurement is a *row* (a dict, the JSON schema of docs/benchmarks.md): ``kernel``,
``data``, ``factors``, ``dtype``, ``contender``, ``threads``, ``status`` ("ok" or
"skipped" with a ``reason``), ``first_seconds`` (the warm-up call: JIT compile or cache load,
excluded from the steady state), ``seconds`` (median steady time per epoch / iteration /
pass), ``spread_seconds`` (max − min of the steady repeats), ``repeats``, ``throughput`` and
``throughput_unit``, ``peak_rss_growth_mb``, ``quality`` (``{metric: value}`` on the seeded
holdout). Ratios (NumPy / fastl2, one thread / two, peer / fastl2) are derived rows of their
own (:func:`ratios`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..evaluation import ranking_metrics_at_k, rmse
from .timing import steady


@dataclass
class Setup:
    """What every contender of one kernel shares."""

    factors: int
    dtype: str
    threads: list[int]
    repeat: int
    seed: int
    peers: bool
    label: str
    libmf_simd: str | None = None  # a SIMD build of LIBMF for the second libmf row
    files: Any = None  # peers.DataFiles for the peers run in child processes


def row(kernel: str, s: Setup, contender: str, threads: int | None, **kw: Any) -> dict:
    """One measurement of ``contender`` on ``kernel``."""
    out = {"kernel": kernel, "data": s.label, "factors": s.factors, "dtype": s.dtype,
           "contender": contender, "threads": threads, "status": "ok"}
    out.update(kw)
    return out


def skipped(kernel: str, s: Setup, contender: str, reason: str) -> dict:
    """A contender that did not run (not installed, failed), and why."""
    return row(kernel, s, contender, None, status="skipped", reason=reason)


def baseline(kernel: str, s: Setup, times: list[float], units: float, unit: str,
             **kw: Any) -> dict:
    """A NumPy baseline row: every call is steady (nothing to compile), so the median and
    spread are over all of them; a twin is slow and noisy enough on a shared machine that one
    call can move its ratio to fastl2 by 30%."""
    return row(kernel, s, "numpy", 1, **steady(times, units, unit, warmup=False), **kw)


def rmse_quality(model, test) -> dict[str, float]:
    """``{"rmse": ...}`` of ``model`` on the held-out ratings."""
    u, i, r = test.to_arrays()
    return {"rmse": rmse(r, model.predict(u, i))}


def rmse_of(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """``{"rmse": ...}`` of predictions made by a peer."""
    return {"rmse": float(np.sqrt(np.mean((np.asarray(pred, np.float64) - truth) ** 2)))}


def ranking_quality(model, train, test, K: int = 10) -> dict[str, float]:
    """precision@K and NDCG@K of ``model`` on the holdout, training items excluded."""
    res = ranking_metrics_at_k(model, train.matrix, test.matrix, K=K)
    return {f"precision@{K}": res["precision"], f"ndcg@{K}": res["ndcg"]}


def ratios(rows: list[dict]) -> list[dict]:
    """Speed ratios within one run: NumPy / fastl2 (fastl2 at its most threads), one thread /
    the most threads, and peer / fastl2 (a peer runs at the most threads). Rows marked
    ``comparable: false`` (another algorithm, shown for reference) get no ratio."""
    out = []
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        if r["status"] == "ok" and r.get("seconds") and r.get("comparable", True):
            groups.setdefault((r["kernel"], r["data"], r["factors"], r["dtype"]), []).append(r)
    for (kernel, data, factors, dtype), rs in groups.items():
        ours = {r["threads"]: r["seconds"] for r in rs if r["contender"] == "fastl2"}
        if not ours:
            continue
        most = max(ours)
        base = {"kernel": kernel, "data": data, "factors": factors, "dtype": dtype}
        if len(ours) > 1:
            out.append({**base, "ratio": f"fastl2 {min(ours)} thr / {most} thr",
                        "value": ours[min(ours)] / ours[most]})
        for r in rs:
            if r["contender"] != "fastl2":
                out.append({**base, "ratio": f"{r['contender']} / fastl2 {most} thr",
                            "value": r["seconds"] / ours[most]})
    return out
