"""Reading the DATA argument of the commands, and command-line ids in a model's id type."""

from __future__ import annotations

import os
from pathlib import Path
import numpy as np

from .._validation import Detail, fail
from ..interactions import Interactions

FORMATS = ("auto", "movielens", "tsv", "csv")
_MOVIELENS_FILES = ("u.data", "ratings.dat", "ratings.csv")


def _format_of(path: Path, fmt: str) -> str:
    if fmt != "auto":
        return fmt
    if path.is_dir() or path.suffix.lower() == ".zip" or path.name in _MOVIELENS_FILES:
        return "movielens"
    name = path.name.lower()
    for suffix in (".gz", ".bz2", ".xz", ".lzma"):
        name = name.removesuffix(suffix)
    return "csv" if name.endswith(".csv") else "tsv"


def _first_lines(path: Path, n: int) -> list[str]:
    from ..datasets.reader import _open_binary  # deferred: CLI start-up

    with _open_binary(path) as fh:
        return [fh.readline(1 << 16).decode("utf-8", errors="replace").strip()
                for _ in range(n)]


def _numeric_rating(line: str, sep: str | None) -> bool | None:
    fields = line.split(sep)
    if len(fields) < 3:
        return None
    try:
        float(fields[2])
    except ValueError:
        return False
    return True


def _has_header(path: Path, sep: str | None) -> bool:
    """A header: a first line whose rating field (the third) is not a number, followed by a
    line whose rating field is (so a bad first data line is still reported as an error)."""
    first, second = _first_lines(path, 2)
    return _numeric_rating(first, sep) is False and _numeric_rating(second, sep) is True


def read_data(path: str, fmt: str = "auto", sep: str | None = None,
              header: bool | None = None, name: str = "DATA") -> Interactions:
    """The interactions in ``path``: a MovieLens file, folder or zip, or a delimited text file
    (user, item[, rating[, timestamp]]; tab-separated for ``tsv``, comma for ``csv``; a header
    line is detected when its third field is not a number)."""
    p = Path(path)
    if not p.exists():
        fail(name, "an existing file or folder", Detail(f"{path!r}, which does not exist"))
    fmt = _format_of(p, fmt)
    if fmt == "movielens":
        from ..datasets import load_movielens  # deferred: CLI start-up

        return load_movielens(p)
    if p.is_dir():
        fail(name, f"a {fmt} file (a folder is read only with --format movielens)",
             Detail(repr(path)))
    if sep is None:
        sep = "," if fmt == "csv" else "\t"
    if header is None:
        header = _has_header(p, sep)
    from ..datasets import read_ratings  # deferred: CLI start-up

    return read_ratings(p, sep=sep, columns=None, header=header)


def parse_ids(values: list[str], known: np.ndarray, name: str) -> np.ndarray:
    """Command-line ids converted to the dtype of a model's ids (integers stay integers)."""
    if known.dtype.kind in "iu":
        try:
            return np.array([int(v) for v in values], dtype=np.int64)
        except ValueError:
            bad = next(v for v in values if not v.lstrip("-").isdigit())
            fail(name, "integer ids (the model's ids are integers)", Detail(repr(bad)))
    return np.array(values, dtype=object)


def existing_file(path: str, name: str) -> str:
    if not os.path.isfile(path):
        fail(name, "an existing file", Detail(f"{path!r}, which does not exist"))
    return path
