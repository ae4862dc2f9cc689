"""``fastl2 bench``: the benchmark suite from the command line (see docs/benchmarks.md)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from .._threads import max_threads
from .._validation import Detail, fail
from .data import FORMATS, existing_file, read_data


def _int_list(text: str, name: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        fail(name, "comma-separated integers", Detail(repr(text)))
    if not values or min(values) < 1:
        fail(name, "comma-separated integers >= 1", Detail(repr(text)))
    return values


def _plan(args: argparse.Namespace) -> dict[str, Any]:
    from ..bench import KERNELS, OPTIONAL_KERNELS  # deferred: CLI start-up

    if args.quick:
        defaults = {"size": "tiny", "factors": "32", "repeat": 1}
    else:
        defaults = {"size": "small", "factors": "64", "repeat": 3}
    known = KERNELS + OPTIONAL_KERNELS
    kernels = [k.strip() for k in (args.kernels or ",".join(KERNELS)).split(",")]
    unknown = [k for k in kernels if k not in known]
    if unknown:
        fail("--kernels", "names among " + ",".join(known), Detail(",".join(unknown)))
    top = max_threads()
    threads = _int_list(args.threads, "--threads") if args.threads else sorted({1, top})
    repeat = args.repeat if args.repeat is not None else defaults["repeat"]
    if repeat < 1:
        fail("--repeat", "an integer >= 1", repeat)
    return {"kernels": kernels, "size": args.size or defaults["size"],
            "factors": _int_list(args.factors or defaults["factors"], "--factors"),
            "threads": threads, "repeat": repeat}


def _progress(total: int, enabled: bool):
    if enabled:
        try:  # deferred: optional dependency (tqdm, the bench extra)
            from tqdm.auto import tqdm

            return tqdm(total=total, file=sys.stderr, leave=False)
        except ImportError:
            pass
    return None


def _bench(args: argparse.Namespace) -> int:
    from ..bench import run_suite  # deferred: CLI start-up

    plan = _plan(args)
    if args.libmf_simd:
        args.libmf_simd = os.path.abspath(existing_file(args.libmf_simd, "--libmf-simd"))
    data = (lambda: read_data(args.data, args.format, args.sep)) if args.data else None
    bar = _progress(len(plan["factors"]) * len(plan["kernels"]), not args.no_progress)
    report = run_suite(plan, dtype=args.dtype, seed=args.seed, data=data, label=args.data,
                       with_peers=args.peers, libmf_simd=args.libmf_simd,
                       precompile=not args.no_precompile, progress=bar)
    print(format_table(report))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=1, default=str)
    if args.markdown:
        with open(args.markdown, "w") as fh:
            fh.write(format_markdown(report))
    if args.plot:
        plot(report, args.plot)
    return 0


def format_scaling(sc: dict[str, Any]) -> str:
    """One line: the machine's own 1-thread / N-thread ratios (see
    :func:`fastl2.bench.machine_scaling`)."""
    t = sc["threads"]
    gb = sc["triad_gb_per_s"]
    line = (f"machine scaling, same run: memory triad 1 thr / {t} thr = "
            f"{sc['triad_ratio']:.2f} ({gb[0]:.1f} -> {gb[1]:.1f} GB/s)")
    if "sgemm_ratio" in sc:
        gf = sc["sgemm_gflops"]
        line += (f", SGEMM 1 thr / {t} thr = {sc['sgemm_ratio']:.2f} "
                 f"({gf[0]:.0f} -> {gf[1]:.0f} GFLOP/s)")
    return line


def _fmt(v: Any, spec: str) -> str:
    return "" if v is None else format(v, spec)


def _cells(r: dict) -> list[str]:
    if r["status"] != "ok":
        return [r["kernel"], str(r["factors"]), r["contender"], "", "", "", "", "", "",
                "skipped: " + r["reason"]]
    q = ", ".join(f"{k} {v:.4f}" for k, v in (r.get("quality") or {}).items())
    unit = r.get("throughput_unit", "")
    tp = r.get("throughput")
    return [r["kernel"], str(r["factors"]), r["contender"], _fmt(r["threads"], "d"),
            _fmt(r["seconds"], ".3f"), _fmt(r.get("spread_seconds"), ".3f"),
            "" if tp is None else f"{tp / 1e6:.2f} M {unit}" if tp >= 1e5
            else f"{tp:,.0f} {unit}",
            _fmt(r.get("first_seconds"), ".2f"), _fmt(r.get("peak_rss_growth_mb"), ".0f"), q]


_HEAD = ["kernel", "k", "contender", "thr", "s/it", "spread", "throughput", "warm-up s",
         "RSS +MB", "quality"]


def format_table(report: dict) -> str:
    m = report["machine"]
    body = [_cells(r) for r in report["rows"]]
    widths = [max(len(h), *(len(row[i]) for row in body)) if body else len(h)
              for i, h in enumerate(_HEAD)]
    lines = [f"machine: {m['cpu']}, {m['cores']} cores, numba {m['numba']} "
             f"({m['threading_layer']}), numpy {m['numpy']}; data {report['settings']['data']},"
             f" {report['settings']['dtype']}",
             "  ".join(h.ljust(w) for h, w in zip(_HEAD, widths))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in body]
    lines.append("ratios (time / time, same run):")
    lines += [f"  {r['kernel']} k={r['factors']}: {r['ratio']} = {r['value']:.2f}"
              for r in report["ratios"]]
    if "scaling" in m:
        lines.append(format_scaling(m["scaling"]))
    pre = report.get("precompile_seconds")
    lines.append(f"total {report['wall_seconds']:.1f} s" + (
        "" if pre is None else f" (of which {pre:.1f} s filling the JIT cache on every core "
        "first; the warm-up column is then a cache load)"))
    return "\n".join(lines)


def format_markdown(report: dict) -> str:
    m = report["machine"]
    out = [f"Machine: {m['cpu']}, {m['cores']} cores, numba {m['numba']} "
           f"({m['threading_layer']}), numpy {m['numpy']}. Data: {report['settings']['data']}"
           f", {report['settings']['dtype']}.", "",
           "| " + " | ".join(_HEAD) + " |", "|" + "---|" * len(_HEAD)]
    out += ["| " + " | ".join(c.replace("|", "/") for c in _cells(r)) + " |"
            for r in report["rows"]]
    out += ["", "| kernel | k | ratio | value |", "|---|---|---|---:|"]
    out += [f"| {r['kernel']} | {r['factors']} | {r['ratio']} | {r['value']:.2f} |"
            for r in report["ratios"]]
    if "scaling" in m:
        out += ["", format_scaling(m["scaling"]) + "."]
    return "\n".join(out) + "\n"


def plot(report: dict, path: str) -> None:
    try:  # deferred: optional dependency (matplotlib, the plot extra)
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # deferred: after choosing the Agg backend
    except ImportError:
        fail("--plot", "matplotlib installed (pip install 'fastl2[plot]')",
             Detail("it is not installed"))
    rows = [r for r in report["rows"] if r["status"] == "ok" and r.get("throughput")]
    fig, (a, b) = plt.subplots(1, 2, figsize=(13, 0.45 * max(len(rows), 4) + 1.8))
    labels = [f"{r['kernel']} k={r['factors']}: {r['contender']}, {r['threads']} thr "
              f"({r['throughput_unit']})" for r in rows]
    colors = ["C0" if r["contender"] == "fastl2" else "C7" if r["contender"] == "numpy"
              else "C1" for r in rows]
    a.barh(labels, [r["throughput"] for r in rows], color=colors)
    a.set_xscale("log")
    a.invert_yaxis()
    a.set_xlabel("throughput (log scale; blue fastl2, grey NumPy, orange peers)")
    rat = report["ratios"]
    b.barh([f"{r['kernel']} k={r['factors']}: {r['ratio']}" for r in rat],
           [r["value"] for r in rat])
    b.set_xscale("log")
    b.invert_yaxis()
    b.axvline(1.0, color="k", lw=0.8)
    b.set_xlabel("time ratio, log scale (> 1: fastl2 faster)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench", help="time the kernels against pure NumPy and installed peers",
        description="Time fastl2's kernels (sgd, als, ials, ials-chol, topk, eval) against "
        "the pure "
        "NumPy baseline of the same algorithm and, with --peers, against installed peers, on "
        "one seeded synthetic set (or --data). Without options: the 'small' set, all "
        "kernels, k=64, 1 and all threads, 3 steady repeats after a reported warm-up.")
    p.add_argument("--quick", action="store_true", help="smoke run: tiny data, k=32, 1 repeat")
    p.add_argument("--size", choices=("tiny", "small", "medium", "large", "xl"),
                   help="synthetic set: small 1M, medium 5M, large 20M (ML-20M-shaped), "
                   "xl 100M (Netflix-shaped) interactions")
    p.add_argument("--data", help="a ratings file instead of synthetic data (90/10 split)")
    p.add_argument("--format", choices=FORMATS, default="auto")
    p.add_argument("--sep")
    p.add_argument("--kernels", help="comma-separated among " + ",".join(
        ("sgd", "als", "ials", "ials-chol", "topk", "eval"))
                   + "; startup (import + first fit, cold and warm cache) on request")
    p.add_argument("--factors", help="comma-separated, e.g. 32,64,128")
    p.add_argument("--threads", help="comma-separated thread counts (default: 1 and all)")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    p.add_argument("--repeat", type=int, help="steady repeats after the warm-up")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--peers", action="store_true",
                   help="also time installed peers (absent ones are reported as skipped)")
    p.add_argument("--libmf-simd", metavar="PATH",
                   help="a LIBMF shared library built with SIMD (its Makefile's flags) for a "
                   "second libmf row next to the PyPI build")
    p.add_argument("--json", metavar="PATH", help="write the report as JSON")
    p.add_argument("--markdown", metavar="PATH", help="write the tables as Markdown")
    p.add_argument("--plot", metavar="PATH", help="write a bar chart (needs matplotlib)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-precompile", action="store_true",
                   help="do not fill the JIT cache in parallel first (the warm-up column "
                   "then shows each kernel's own compile time on a cold cache)")
    p.set_defaults(func=_bench)
