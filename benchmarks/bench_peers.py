"""Peer ALS libraries side by side: implicit (0.7.x, CPU) and LensKit (2025.x), each
(peer, thread count) in a fresh process, one at a time, on the ML-20M-shaped synthetic set.

The runners are :mod:`fastl2.bench.peers` (its docstrings say how each peer is timed,
threaded and measured); ``peer_notes.md`` what each peer's parameters mean.

    python benchmarks/bench_peers.py --ratings 20000000
    python benchmarks/bench_peers.py --ratings 2000000 --threads 1,2 --iterations 3 \\
        --peers implicit-cg,implicit-cholesky,lenskit-biasedmf,lenskit-implicitmf --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys

from fastl2.bench.peers import PEER_DEFAULTS, PEERS, SHAPE, run_peer_child


def _gib(b: int | None) -> str:
    return "-" if b is None else f"{b / 2**30:.2f}"


def main(argv: list[str] | None = None) -> int:
    d = PEER_DEFAULTS
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ratings", type=int, required=True, help="number of synthetic ratings")
    ap.add_argument("--factors", type=int, default=d["factors"])
    ap.add_argument("--iterations", type=int, default=d["iterations"])
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    ap.add_argument("--peers", default=",".join(PEERS),
                    help="comma-separated: " + ", ".join(PEERS))
    ap.add_argument("--alpha", type=float, default=d["alpha"],
                    help="implicit alpha / LensKit weight")
    ap.add_argument("--implicit-reg", type=float, default=d["implicit_reg"])
    ap.add_argument("--lenskit-reg", type=float, default=d["lenskit_reg"],
                    help="BiasedMF (ALS-WR) lambda")
    ap.add_argument("--lenskit-implicit-reg", type=float, default=d["lenskit_implicit_reg"])
    ap.add_argument("--damping", type=float, default=d["damping"], help="BiasedMF bias damping")
    ap.add_argument("--timeout", type=float, default=1200.0, help="seconds per child run")
    ap.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                    help="before each run, wait up to this long for the machine to be idle")
    ap.add_argument("--json", help="write all results to this file")
    args = ap.parse_args(argv)
    peers = [p.strip() for p in args.peers.split(",") if p.strip()]
    bad = [p for p in peers if p not in PEERS]
    if bad:
        ap.error(f"unknown peers {bad}; choose from {PEERS}")
    params = {k: getattr(args, k) for k in PEER_DEFAULTS}
    print(f"# {args.ratings:,} synthetic ratings, {SHAPE['n_users']:,} x {SHAPE['n_items']:,}, "
          f"k={args.factors}, {args.iterations} iterations; one subprocess per row", flush=True)
    results = []
    for peer in peers:
        for t in (int(x) for x in args.threads.split(",")):
            res = run_peer_child({**params, "peer": peer, "threads": t,
                                  "ratings": args.ratings}, args.timeout, args.wait_idle)
            results.append(res)
            if res.get("status") != "ok":
                print(f"{peer:20s} threads={t}: {res.get('status')}", flush=True)
                continue
            its = ", ".join(f"{s:.2f}" for s in res["seconds_per_iteration"])
            cpu = res.get("cpu_seconds_per_iteration") or []
            par = (sum(cpu) / sum(res["seconds_per_iteration"])) if cpu else float("nan")
            print(f"{peer:20s} threads={t}: s/iter [{its}]  steady {res['seconds']:.2f}s  "
                  f"cpu/wall {par:.2f}  setup {res['setup_seconds']:.1f}s  peak RSS "
                  f"{_gib(res.get('peak_rss_bytes'))} GiB (at call "
                  f"{_gib(res.get('rss_before_bytes'))})  ({res['version']})", flush=True)
            busy = res.get("other_cpu_fraction")
            if busy is not None and busy > 0.05:
                print(f"{'':20s}   WARNING: other processes used {busy:.0%} of the machine's"
                      " CPU during this run; its timings are not clean", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
