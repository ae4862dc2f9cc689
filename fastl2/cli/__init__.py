"""The ``fastl2`` command line.

Commands: ``demo`` (embedded synthetic data), ``train``, ``evaluate``, ``recommend``,
``similar``, ``bench``. Exit codes: 0 success; 1 user error (bad file, bad value, unknown id, corrupted
model), reported as one line on stderr without a traceback; 2 usage error (argparse).
"""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from ..errors import Fastl2Error
from . import bench, demo, everyday


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fastl2", description="Fast L2-regularized matrix factorization for recommenders.")
    parser.add_argument("--version", action="version", version=f"fastl2 {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo.add_parser(sub)
    everyday.add_parsers(sub)
    bench.add_parser(sub)
    return parser


def _user_error(args: argparse.Namespace, message: str) -> int:
    line = " ".join(message.split())  # one line, whatever the message holds
    print(f"fastl2 {args.command}: error: {line}", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except Fastl2Error as exc:
        return _user_error(args, str(exc))
    except OSError as exc:  # unreadable file, full disk...
        where = f" ({exc.filename})" if exc.filename else ""
        return _user_error(args, f"{exc.strerror or exc}{where}")
    except KeyboardInterrupt:
        return 130


__all__ = ["build_parser", "main"]
