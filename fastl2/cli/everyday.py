"""``fastl2 train / evaluate / recommend / similar``: the everyday commands.

Output is a readable table, or with ``--json`` one JSON document on stdout whose keys are
documented in docs/cli.md (stable: keys are only ever added).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import scipy.sparse as sp

from .._validation import Detail, check_int, fail
from ..models.biased_mf import BiasedMF
from ..models.implicit_als import ImplicitALS
from ..persistence import load
from .data import FORMATS, existing_file, parse_ids, read_data

MODELS = {"biased-mf": "BiasedMF", "implicit-als": "ImplicitALS"}
RATING_METRICS = ("rmse", "mae")
RANKING_METRICS = ("precision", "ndcg", "map", "auc", "recall", "hit_rate", "mrr", "coverage")
CONNECT_TIMEOUT = 10  # seconds to reach the scheduler of --dask-scheduler


def _emit(args: argparse.Namespace, doc: dict[str, Any], lines: list[str]) -> None:
    if getattr(args, "json", False):
        json.dump(doc, sys.stdout, indent=1, default=_json_default)
        sys.stdout.write("\n")
    else:
        print("\n".join(lines))


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=FORMATS, default="auto",
                   help="how DATA is laid out (default: from the name: MovieLens files, "
                   "folders and zips; *.csv; anything else tab-separated)")
    p.add_argument("--sep", help="field separator of a text file (default: tab, comma for csv)")


def _read(args: argparse.Namespace, path: str, name: str = "DATA"):
    return read_data(path, args.format, args.sep, name=name)


def _is_implicit(model: Any) -> bool:
    return isinstance(model, ImplicitALS)


# ---------------------------------------------------------------------------- train
def _new_model(args: argparse.Namespace) -> Any:
    common = {"factors": args.factors, "iterations": args.iterations,
              "regularization": args.regularization, "num_threads": args.threads,
              "random_state": args.seed, "dtype": args.dtype}
    common = {k: v for k, v in common.items() if v is not None}
    if args.model == "biased-mf":
        extra = {"solver": args.solver, "learning_rate": args.learning_rate}
        if args.alpha is not None or args.cholesky:
            fail("--alpha/--cholesky", "options of --model implicit-als",
                 Detail("--model biased-mf"))
        return BiasedMF(**common, **{k: v for k, v in extra.items() if v is not None})
    if args.solver is not None or args.learning_rate is not None:
        fail("--solver/--learning-rate", "options of --model biased-mf",
             Detail("--model implicit-als"))
    extra = {"alpha": args.alpha, "use_cg": not args.cholesky}
    return ImplicitALS(**common, **{k: v for k, v in extra.items() if v is not None})


def _train(args: argparse.Namespace) -> int:
    from ..evaluation import random_split, rmse  # deferred: CLI start-up

    model = _new_model(args)
    data = _read(args, args.data)
    doc: dict[str, Any] = {"command": "train", "model": type(model).__name__,
                           "params": model.get_params(), "users": data.n_users,
                           "items": data.n_items, "interactions": data.nnz}
    if args.validation is not None:
        if _is_implicit(model):
            fail("--validation", "an option of --model biased-mf (early stopping on RMSE)",
                 Detail("--model implicit-als"))
        train, val = random_split(data, test_fraction=args.validation,
                                  random_state=args.seed)
        _fit(args, model, train, val, doc)
        vu, vi, vr = val.to_arrays()
        doc["validation_rmse"] = rmse(vr, model.predict(vu, vi))
        doc["best_iteration"] = int(model.best_iteration_) + 1
    else:
        _fit(args, model, data, None, doc)
    if not _is_implicit(model):
        doc["train_rmse"] = float(model.loss_history_[-1])
    doc["out"] = model.save(args.out)
    lines = [f"trained {doc['model']} on {data.nnz:,} interactions ({data.n_users:,} users x "
             f"{data.n_items:,} items) in {doc['fit_seconds']:.2f} s"]
    if "train_rmse" in doc:
        lines.append(f"train RMSE {doc['train_rmse']:.4f}")
    if "validation_rmse" in doc:
        lines.append(f"validation RMSE {doc['validation_rmse']:.4f} (best iteration "
                     f"{doc['best_iteration']})")
    lines.append(f"saved to {doc['out']}")
    _emit(args, doc, lines)
    return 0


def _fit(args: argparse.Namespace, model: Any, data: Any, validation: Any,
         doc: dict[str, Any]) -> None:
    """``model.fit``, or :func:`fastl2.distributed.fit` on the Dask cluster of
    ``--dask-scheduler`` / ``--dask-local`` (its workers counted in ``doc``); the fit's
    seconds, without the cluster's start, in ``doc``."""
    with _dask_client(args) as client:
        t = time.perf_counter()
        if client is None:
            extra = {} if validation is None else {"validation": validation}
            model.fit(data, show_progress=not args.quiet, **extra)
        else:
            from ..distributed import fit  # deferred: CLI start-up (the Dask layer)

            doc["dask_workers"] = len(client.scheduler_info()["workers"])
            fit(model, data, client, validation=validation)
        doc["fit_seconds"] = time.perf_counter() - t


@contextlib.contextmanager
def _dask_client(args: argparse.Namespace) -> Iterator[Any]:
    """None without ``--dask-scheduler`` / ``--dask-local``; else a ``dask.distributed``
    client of a new local cluster (``--dask-local N``) or connected to the scheduler,
    closed (with its cluster) on leaving, also on an error."""
    if args.dask_scheduler is None and args.dask_local is None:
        yield None
        return
    flag = "--dask-scheduler" if args.dask_local is None else "--dask-local"
    n_workers = None if args.dask_local is None else check_int(flag, args.dask_local,
                                                               minimum=1)
    try:  # deferred: optional dependency (dask.distributed)
        from dask.distributed import Client, LocalCluster
    except ImportError:
        fail(flag, 'dask.distributed installed (pip install "fastl2[dask]")',
             Detail("it is not installed"))
    if n_workers is not None:
        with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                          dashboard_address=":0") as cluster, Client(cluster) as client:
            yield client
        return
    try:
        client = Client(args.dask_scheduler, timeout=CONNECT_TIMEOUT)
    except (OSError, ValueError) as exc:  # unreachable (timed out) or malformed address
        fail(flag, f"the address of a running Dask scheduler (reached within "
             f"{CONNECT_TIMEOUT} s)", Detail(f"{args.dask_scheduler!r}: {exc}"))
    with client:
        yield client


# ---------------------------------------------------------------------------- evaluate
def _load(path: str, name: str = "MODEL") -> Any:
    return load(existing_file(path, name))


def _in_model_space(model: Any, data, name: str) -> sp.csr_matrix:
    """``data`` as a users × items matrix in the model's index space (pairs of unknown ids
    dropped)."""
    u, i, v = data.to_arrays()
    ru = model.user_map_.to_index(u, name=name, missing="ignore")
    ri = model.item_map_.to_index(i, name=name, missing="ignore")
    keep = (ru >= 0) & (ri >= 0)
    return sp.csr_matrix((v[keep], (ru[keep], ri[keep])),
                         shape=(len(model.user_map_), len(model.item_map_)))


def _evaluate(args: argparse.Namespace) -> int:
    if args.cv is not None:
        return _cross_validate(args)
    model = _load(args.model, "--model")
    data = _read(args, args.data)
    doc: dict[str, Any] = {"command": "evaluate", "model": type(model).__name__,
                           "interactions": data.nnz, "metrics": {}}
    if _is_implicit(model):
        from ..evaluation import ranking_metrics_at_k  # deferred: CLI start-up

        test = _in_model_space(model, data, "DATA")
        train = (_in_model_space(model, _read(args, args.train, "--train"), "--train")
                 if args.train else sp.csr_matrix(test.shape, dtype=test.dtype))
        doc["K"] = args.k
        doc["known_interactions"] = int(test.nnz)
        metrics = ranking_metrics_at_k(model, train, test, K=args.k, show_progress=False)
        doc["users"] = int(metrics.pop("users", 0))
        doc["metrics"] = {k: float(v) for k, v in metrics.items()}
        lines = [f"{doc['model']} on {test.nnz:,} test interactions with known users and "
                 f"items (of {data.nnz:,}), K={args.k}"]
    else:
        from ..evaluation import mae, rmse  # deferred: CLI start-up

        u, i, r = data.to_arrays()
        known = ((model.user_map_.to_index(u, missing="ignore") >= 0)
                 & (model.item_map_.to_index(i, missing="ignore") >= 0))
        pred = model.predict(u, i)
        doc["known_interactions"] = int(known.sum())
        doc["metrics"] = {"rmse": rmse(r, pred), "mae": mae(r, pred)}
        lines = [f"{doc['model']} on {data.nnz:,} ratings ({int(known.sum()):,} with known "
                 "user and item; the others are predicted from the biases)"]
    lines += [f"{name:>10s}  {value:.4f}" for name, value in doc["metrics"].items()]
    _emit(args, doc, lines)
    return 0


def _cross_validate(args: argparse.Namespace) -> int:
    from ..evaluation import cross_validate  # deferred: CLI start-up

    if args.model in MODELS:
        model = BiasedMF() if args.model == "biased-mf" else ImplicitALS()
    else:
        model = _load(args.model, "--model")  # its hyper-parameters, refitted per fold
    data = _read(args, args.data)
    metrics = (("precision", "ndcg", "map", "auc") if _is_implicit(model)
               else RATING_METRICS)
    fit_params = {"show_progress": False}
    res = cross_validate(model, data, folds=args.cv, metrics=metrics, K=args.k,
                         random_state=args.seed, fit_params=fit_params)
    doc = {"command": "evaluate", "model": type(model).__name__,
           "params": model.get_params(), "folds": args.cv, "interactions": data.nnz,
           "metrics": {k: {"mean": v["mean"], "std": v["std"], "folds": v["folds"]}
                       for k, v in res.items()}}
    if _is_implicit(model):
        doc["K"] = args.k
    lines = [f"{doc['model']}, {args.cv}-fold cross-validation on {data.nnz:,} interactions"]
    lines += [f"{k:>10s}  {v['mean']:.4f} ± {v['std']:.4f}" for k, v in doc["metrics"].items()]
    _emit(args, doc, lines)
    return 0


# ---------------------------------------------------------------------------- recommend
def _add_ranked(key: str, query: Any, ids: np.ndarray, scores: np.ndarray, item_map: Any,
                results: list[dict[str, Any]], lines: list[str]) -> None:
    """One query's ranked items (padding -1 dropped) as a JSON entry and table rows."""
    ok = ids >= 0
    found = item_map.to_ids(ids[ok])
    results.append({key: query, "items": found.tolist(),
                    "scores": [float(x) for x in scores[ok]]})
    lines += [f"{str(query):>12s}  {rank:>4d}  {str(item):>12s}  {score:.4f}"
              for rank, (item, score) in enumerate(zip(found, scores[ok]), 1)]


def _recommend(args: argparse.Namespace) -> int:
    model = _load(args.model)
    users = parse_ids(args.user, model.user_map_.ids, "--user")
    rows = model.user_map_.to_index(users, name="--user")
    seen = None
    if args.exclude_seen:
        seen = _in_model_space(model, _read(args, args.exclude_seen, "--exclude-seen"),
                               "--exclude-seen")[rows]
    ids, scores = model.recommend(rows, seen, N=args.n,
                                  filter_already_liked_items=seen is not None)
    results: list[dict[str, Any]] = []
    lines = [f"{'user':>12s}  {'rank':>4s}  {'item':>12s}  score"]
    for user, row_ids, row_scores in zip(users, ids, scores):
        _add_ranked("user", user, row_ids, row_scores, model.item_map_, results, lines)
    _emit(args, {"command": "recommend", "N": args.n, "results": results}, lines)
    return 0


def _similar(args: argparse.Namespace) -> int:
    model = _load(args.model)
    items = parse_ids(args.item, model.item_map_.ids, "--item")
    rows = model.item_map_.to_index(items, name="--item")
    results: list[dict[str, Any]] = []
    lines = [f"{'item':>12s}  {'rank':>4s}  {'similar':>12s}  cosine"]
    for item, row in zip(items, rows):
        ids, scores = model.similar_items(int(row), N=args.n, filter_items=[int(row)])
        _add_ranked("item", item, ids, scores, model.item_map_, results, lines)
    _emit(args, {"command": "similar", "N": args.n, "results": results}, lines)
    return 0


# ---------------------------------------------------------------------------- parsers
def add_parsers(sub: argparse._SubParsersAction) -> None:
    train = sub.add_parser(
        "train", help="train a model on a ratings file and save it",
        description="Train BiasedMF (explicit ratings) or ImplicitALS (implicit feedback) "
        "on DATA and save it as one .npz file. Hyper-parameters not given keep the model's "
        "defaults.")
    train.add_argument("data", metavar="DATA", help="ratings file, MovieLens file/folder/zip")
    _data_args(train)
    train.add_argument("--model", choices=tuple(MODELS), default="biased-mf")
    train.add_argument("--solver", choices=("sgd", "als"), help="biased-mf: default sgd")
    train.add_argument("--factors", type=int)
    train.add_argument("--iterations", type=int)
    train.add_argument("--regularization", type=float)
    train.add_argument("--learning-rate", type=float, help="biased-mf with sgd")
    train.add_argument("--alpha", type=float, help="implicit-als confidence weight")
    train.add_argument("--cholesky", action="store_true",
                       help="implicit-als: exact Cholesky solves instead of conjugate gradient")
    train.add_argument("--threads", type=int, help="0 = all cores (default)")
    train.add_argument("--dtype", choices=("float32", "float64"))
    train.add_argument("--seed", type=int, default=0, help="default: %(default)s")
    train.add_argument("--validation", type=float, metavar="FRACTION",
                       help="biased-mf: hold out this fraction for early stopping")
    dask = train.add_mutually_exclusive_group()
    dask.add_argument("--dask-scheduler", metavar="ADDRESS",
                      help="fit on this Dask cluster (fastl2.distributed.fit), e.g. "
                      "tcp://host:8786")
    dask.add_argument("--dask-local", type=int, metavar="N",
                      help="fit on a new local Dask cluster of N worker processes")
    train.add_argument("--out", required=True, help="model file to write (.npz)")
    train.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    train.add_argument("--json", action="store_true", help="print a JSON summary")
    train.set_defaults(func=_train)

    ev = sub.add_parser(
        "evaluate", help="score a saved model on held-out data, or cross-validate",
        description="With a saved model: rating metrics (RMSE, MAE) for biased-mf, ranking "
        "metrics at K for implicit-als (training items excluded with --train). With --cv N: "
        "N-fold cross-validation of a model type or of a saved model's hyper-parameters.")
    ev.add_argument("data", metavar="DATA")
    _data_args(ev)
    ev.add_argument("--model", required=True,
                    help="a saved model (.npz), or with --cv a model type: "
                    + ", ".join(MODELS))
    ev.add_argument("--train", help="implicit-als: training data whose items are excluded")
    ev.add_argument("--cv", type=int, metavar="N", help="N-fold cross-validation")
    ev.add_argument("-k", type=int, default=10, help="cut-off of ranking metrics (default 10)")
    ev.add_argument("--seed", type=int, default=0, help="seed of the folds (default 0)")
    ev.add_argument("--json", action="store_true")
    ev.set_defaults(func=_evaluate)

    rec = sub.add_parser("recommend", help="top-N items for users of a saved model",
                         description="Print each user's top-N items (external ids) and "
                         "scores.")
    rec.add_argument("model", metavar="MODEL", help="a saved model (.npz)")
    rec.add_argument("--user", action="append", required=True,
                     help="user id as in the training data (repeatable)")
    rec.add_argument("-n", type=int, default=10, help="items per user (default 10)")
    rec.add_argument("--exclude-seen", metavar="DATA",
                     help="leave out the items each user has in DATA")
    _data_args(rec)
    rec.add_argument("--json", action="store_true")
    rec.set_defaults(func=_recommend)

    sim = sub.add_parser("similar", help="items most similar to an item (cosine)",
                         description="Print the items whose factors are closest in cosine "
                         "similarity (the item itself left out).")
    sim.add_argument("model", metavar="MODEL")
    sim.add_argument("--item", action="append", required=True,
                     help="item id as in the training data (repeatable)")
    sim.add_argument("-n", type=int, default=10, help="similar items (default 10)")
    sim.add_argument("--json", action="store_true")
    sim.set_defaults(func=_similar)
