"""Rating data: a streaming delimited-text reader, MovieLens loaders and a fast synthetic
generator with a planted model.

* :func:`read_ratings` reads ``user<sep>item<sep>rating[<sep>timestamp]`` text files (plain,
  ``.gz``, ``.bz2`` or ``.xz``) chunk by chunk, without pandas.
* :func:`load_movielens` reads a MovieLens release already on disk (``u.data``,
  ``ratings.dat``, ``ratings.csv``, their folder, or the official zip archive).
* :func:`movielens` downloads an official GroupLens archive into a cache folder, verifies its
  checksum and loads it.
* :func:`synthetic_ratings` generates MovieLens-shaped data (power-law item popularity,
  heavy-tailed user activity) from a known biased low-rank model, returned with the ground
  truth as :class:`SyntheticData`.

MovieLens is published by GroupLens for research use; cite F. Maxwell Harper and Joseph A.
Konstan, "The MovieLens Datasets: History and Context", ACM TiiS 5(4), 2015. The archives are
never redistributed by fastl2: :func:`movielens` fetches them from GroupLens.
"""

from __future__ import annotations

import bz2
import codecs
import gzip
import hashlib
import lzma
import os
import re
import tempfile
import urllib.error
import urllib.request
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import scipy.sparse as sp

from ._idmap import IdMap
from ._validation import Detail, check_dtype, check_float, check_int, check_random_state, fail
from .errors import Fastl2Error
from .interactions import Interactions

__all__ = [
    "ChecksumError",
    "DownloadError",
    "MOVIELENS_BASE_URL",
    "MOVIELENS_MD5",
    "MOVIELENS_SHA256",
    "MOVIELENS_VARIANTS",
    "SyntheticData",
    "load_movielens",
    "movielens",
    "read_ratings",
    "synthetic_ratings",
]


class DownloadError(Fastl2Error, OSError):
    """A dataset archive could not be downloaded (offline, HTTP error, missing file)."""


class ChecksumError(Fastl2Error, ValueError):
    """A dataset archive does not match its published checksum."""


# ====================================================================== read_ratings
FIELDS = ("user", "item", "rating", "timestamp")
_SKIP = (None, "_")
_COMPRESSED = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open, ".lzma": lzma.open}
_FAST_SEP = "\x1f"  # multi-character separators are replaced by this (ASCII unit separator)
_SHOW_CHARS = 200


class _Layout:
    """Validated ``columns``: which field of a line holds what."""

    def __init__(self, columns: Sequence[str | None]):
        if isinstance(columns, (str, bytes)) or not isinstance(columns, Sequence):
            fail("columns", "a sequence of field names among " + ", ".join(map(repr, FIELDS))
                 + " or None/'_' to skip a field", columns, type_error=True)
        names: list[str | None] = []
        for k, c in enumerate(columns):
            if c in _SKIP:
                names.append(None)
            elif isinstance(c, str) and c in FIELDS:
                if c in names:
                    fail("columns", "each field name at most once", list(columns))
                names.append(c)
            else:
                fail(f"columns[{k}]", "one of " + ", ".join(map(repr, FIELDS))
                     + " or None/'_' to skip the field", c)
        for required in ("user", "item"):
            if required not in names:
                fail("columns", f"a {required!r} field", list(columns))
        self.names = names
        self.n = len(names)
        self.index = {n: k for k, n in enumerate(names) if n is not None}


class _Chunk:
    """Parsed columns of one chunk of lines (ids int64 or str, rating float64, ts int/float)."""

    __slots__ = ("cols",)

    def __init__(self, cols: dict[str, np.ndarray]):
        self.cols = cols


class _RestartAsStrings(Exception):
    """Integer ids were seen before a non-integer id: re-read with string ids."""

    def __init__(self, names: set[str]):
        super().__init__(names)
        self.names = names


def _open_binary(path: Path) -> IO[bytes]:
    opener = _COMPRESSED.get(path.suffix.lower(), open)
    try:
        return opener(path, "rb")
    except OSError as exc:
        fail("path", "an existing, readable file",
             Detail(f"{str(path)!r} ({exc.strerror or exc})"))
    raise AssertionError  # unreachable


def _shorten(text: str) -> str:
    return text if len(text) <= _SHOW_CHARS else text[:_SHOW_CHARS] + "..."


def _line_chunks(fh: IO[bytes], chunk_rows: int, encoding: str,
                 label: str) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(number of the first line, lines)``; at most ``chunk_rows`` lines per chunk.

    Bytes are read in blocks cut at the last newline (``\\n`` must be the single byte 0x0A,
    true of UTF-8, Latin-1 and other ASCII-compatible encodings), decoded strictly, and split.
    """
    block = int(min(max(chunk_rows * 64, 1 << 16), 1 << 23))
    carry = b""
    next_line = 1
    first = True
    bom = codecs.lookup(encoding).name in ("utf-8", "utf-8-sig")
    while True:
        try:
            raw = fh.read(block)
        except (OSError, EOFError, zlib.error, lzma.LZMAError) as exc:
            fail("path", "a readable (and, if compressed, intact) file",
                 Detail(f"{label!r}: read error after line {next_line - 1}: {exc}"))
        if raw:
            data = carry + raw
            cut = data.rfind(b"\n")
            if cut < 0:
                carry = data
                continue
            carry, data = data[cut + 1:], data[:cut + 1]
        else:
            data, carry = carry, b""
            if not data:
                return
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError as exc:
            start = data.rfind(b"\n", 0, exc.start) + 1
            end = data.find(b"\n", exc.start)
            bad = data[start:end if end >= 0 else len(data)]
            line_no = next_line + data.count(b"\n", 0, exc.start)
            fail("encoding", f"{encoding!r} text on every line (pass the file's encoding)",
                 Detail(f"undecodable bytes on line {line_no} of {label!r} "
                        f"({exc.reason}): {_shorten(repr(bad))}"))
        if first:
            first = False
            if bom and text.startswith("\ufeff"):
                text = text[1:]
        if "\r" in text:
            text = text.replace("\r\n", "\n")
        lines = text.split("\n")
        if text.endswith("\n"):
            lines.pop()
        for s in range(0, len(lines), chunk_rows):
            yield next_line + s, lines[s:s + chunk_rows]
        next_line += len(lines)


def _describe_sep(sep: str | None) -> str:
    return "whitespace" if sep is None else repr(sep)


class _Parser:
    """Parses chunks of lines: numpy fast paths, a per-line Python path as the authority."""

    def __init__(self, layout: _Layout, sep: str | None, comment: str | None, label: str,
                 force_str: set[str]):
        self.layout = layout
        self.sep = sep
        self.comment = comment
        self.label = label
        self.force_str = force_str
        self.delim = sep if sep is None or len(sep) == 1 else _FAST_SEP
        fields = []
        for k, name in enumerate(layout.names):
            kind = "i8" if name in ("user", "item", "timestamp") else "f8"
            fields.append((f"f{k}", kind))
        self.struct = np.dtype(fields)

    # -------------------------------------------------------------- error reporting
    def _bad(self, line_no: int, line: str, expected: str, what: str) -> None:
        fail("path", expected, Detail(f"{what} on line {line_no} of {self.label!r}: "
                                      f"{_shorten(repr(line))}"))

    # -------------------------------------------------------------- parsing
    def parse(self, first_line: int, lines: list[str]) -> _Chunk | None:
        fast_lines = lines
        fast_ok = True
        if self.sep is not None and len(self.sep) > 1:
            joined = "\n".join(lines)
            if _FAST_SEP in joined:
                fast_ok = False
            else:
                fast_lines = joined.replace(self.sep, _FAST_SEP).split("\n")
        if fast_ok and not self.force_str:
            chunk = self._parse_struct(fast_lines)
            if chunk is not None:
                return chunk
        if fast_ok:
            chunk = self._parse_object(fast_lines)
            if chunk is not None:
                return chunk
        return self._parse_python(first_line, lines)

    def _loadtxt(self, lines: list[str], dtype: Any, ndmin: int) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "input contained no data" on comment-only chunks
            return np.loadtxt(lines, delimiter=self.delim, dtype=dtype,
                              comments=self.comment, ndmin=ndmin, quotechar=None)

    def _parse_struct(self, lines: list[str]) -> _Chunk | None:
        """All fields numeric: one C pass of ``numpy.loadtxt`` with a structured dtype."""
        try:
            arr = self._loadtxt(lines, self.struct, 1)
        except ValueError:
            return None
        return _Chunk({name: np.ascontiguousarray(arr[f"f{k}"])
                       for name, k in self.layout.index.items()})

    def _parse_object(self, lines: list[str]) -> _Chunk | None:
        """Fields as strings (C split), then column-wise conversion; None on any problem."""
        try:
            arr = self._loadtxt(lines, object, 2)
        except ValueError:
            return None
        if arr.shape[0] == 0:
            return _Chunk({})
        if arr.shape[1] != self.layout.n:
            return None
        cols: dict[str, np.ndarray] = {}
        try:
            for name, k in self.layout.index.items():
                col = arr[:, k]
                if name in ("user", "item"):
                    cols[name] = self._ids(name, col)
                elif name == "rating":
                    cols[name] = col.astype(np.float64)
                else:
                    cols[name] = _timestamps(col)
        except (ValueError, TypeError, OverflowError):
            return None
        return _Chunk(cols)

    def _ids(self, name: str, col: np.ndarray) -> np.ndarray:
        if name not in self.force_str:
            try:
                return col.astype(np.int64)
            except (ValueError, OverflowError):
                pass
        out = np.char.strip(col.astype(str))
        if out.size and (out == "").any():
            raise ValueError("empty id")
        return out

    def _parse_python(self, first_line: int, lines: list[str]) -> _Chunk:
        """Line by line; reports the first bad line with its number and content."""
        layout, sep, comment = self.layout, self.sep, self.comment
        rows: list[list[str]] = []
        line_nos: list[int] = []
        for off, line in enumerate(lines):
            body = line.split(comment, 1)[0] if comment else line
            if not body.strip():
                continue
            parts = body.split() if sep is None else body.split(sep)
            if len(parts) != layout.n:
                self._bad(first_line + off, line,
                          f"{layout.n} fields separated by {_describe_sep(sep)} on every line",
                          f"{len(parts)} fields")
            rows.append(parts)
            line_nos.append(first_line + off)
        cols: dict[str, np.ndarray] = {}
        for name, k in layout.index.items():
            values = [r[k].strip() for r in rows]
            if name in ("user", "item"):
                for j, v in enumerate(values):
                    if not v:
                        self._bad(line_nos[j], lines[line_nos[j] - first_line],
                                  f"a non-empty {name} id in field {k + 1}", "an empty id")
                col = None
                if name not in self.force_str:
                    try:
                        col = np.array([int(v) for v in values], dtype=np.int64)
                    except (ValueError, OverflowError):
                        col = None
                cols[name] = col if col is not None else np.array(values, dtype=str)
            else:
                parsed = []
                for j, v in enumerate(values):
                    try:
                        parsed.append(float(v))
                    except ValueError:
                        self._bad(line_nos[j], lines[line_nos[j] - first_line],
                                  f"a number in field {k + 1} ({name}) on every line",
                                  f"{v!r}")
                cols[name] = (np.array(parsed, dtype=np.float64) if name == "rating"
                              else _timestamps(np.array(values, dtype=object)))
        return _Chunk(cols)


def _timestamps(col: np.ndarray) -> np.ndarray:
    try:
        return col.astype(np.int64)
    except (ValueError, OverflowError):
        return col.astype(np.float64)


def _check_sep(sep: Any) -> str | None:
    if sep is None:
        return None
    if not isinstance(sep, str) or not sep or "\n" in sep or "\r" in sep:
        fail("sep", "a non-empty string without line breaks, or None for whitespace", sep,
             type_error=not isinstance(sep, str))
    return sep


def _read(opener: Callable[[], IO[bytes]], label: str, *, sep: str | None,
          columns: Sequence[str | None] | None, header: bool, comment: str | None,
          chunk_rows: int, dtype: Any, encoding: str, kwargs: dict[str, Any],
          restartable: bool = True) -> Interactions:
    """Shared engine of :func:`read_ratings` and the MovieLens loaders."""
    sep = _check_sep(sep)
    layout = None if columns is None else _Layout(columns)
    chunk_rows = check_int("chunk_rows", chunk_rows, minimum=1)
    dtype = check_dtype("dtype", dtype)
    if not isinstance(header, (bool, np.bool_)):
        fail("header", "True or False", header, type_error=True)
    if comment is not None and (not isinstance(comment, str) or not comment):
        fail("comment", "None or a non-empty string", comment,
             type_error=not isinstance(comment, str))
    if not isinstance(encoding, str):
        fail("encoding", "the name of a text encoding", encoding, type_error=True)
    try:
        codecs.lookup(encoding)
    except LookupError:
        fail("encoding", "the name of a text encoding known to Python", encoding)
    for reserved in ("values", "timestamps", "users", "items"):
        if reserved in kwargs:
            fail(reserved, "no such argument (read_ratings builds it from the file)",
                 Detail("an explicit value"))

    force_str: set[str] = set()
    while True:
        try:
            cols = _read_columns(opener, label, layout, sep, header, comment, chunk_rows,
                                 encoding, force_str, restartable)
            break
        except _RestartAsStrings as restart:
            force_str |= restart.names
    n = cols["user"].size
    values = cols.get("rating")
    return Interactions.from_arrays(cols["user"], cols["item"],
                                    values if values is not None else np.ones(n, dtype=dtype),
                                    timestamps=cols.get("timestamp"), dtype=dtype, **kwargs)


def _infer_layout(first_line: int, lines: list[str], sep: str | None, comment: str | None,
                  label: str) -> _Layout | None:
    """``columns=None``: the first data line's field count picks the first 2–4 of FIELDS."""
    for off, line in enumerate(lines):
        body = line.split(comment, 1)[0] if comment else line
        if not body.strip():
            continue
        n = len(body.split() if sep is None else body.split(sep))
        if not 2 <= n <= 4:
            fail("columns", "given explicitly when lines do not have 2 to 4 fields "
                 "(user, item[, rating[, timestamp]])",
                 Detail(f"None, and {n} fields separated by {_describe_sep(sep)} on line "
                        f"{first_line + off} of {label!r}: {_shorten(repr(line))}"))
        return _Layout(FIELDS[:n])
    return None


def _read_columns(opener: Callable[[], IO[bytes]], label: str, layout: _Layout | None,
                  sep: str | None, header: bool, comment: str | None, chunk_rows: int,
                  encoding: str, force_str: set[str],
                  restartable: bool) -> dict[str, np.ndarray]:
    parser = None if layout is None else _Parser(layout, sep, comment, label, force_str)
    parts: dict[str, list[np.ndarray]] = {"user": [], "item": []}
    if layout is not None:
        parts = {name: [] for name in layout.index}
    with opener() as fh:
        for first_line, lines in _line_chunks(fh, chunk_rows, encoding, label):
            if header and first_line == 1:
                lines = lines[1:]
                first_line = 2
                if not lines:
                    continue
            if parser is None:
                layout = _infer_layout(first_line, lines, sep, comment, label)
                if layout is None:
                    continue
                parser = _Parser(layout, sep, comment, label, force_str)
                parts = {name: [] for name in layout.index}
            chunk = parser.parse(first_line, lines)
            if not chunk.cols or chunk.cols["user"].size == 0:
                continue  # only blank or comment lines
            for name, col in chunk.cols.items():
                parts[name].append(col)
    out: dict[str, np.ndarray] = {}
    restart = set()
    for name, arrays in parts.items():
        if not arrays:
            out[name] = (np.zeros(0, dtype=np.float64) if name == "rating"
                         else np.zeros(0, dtype=np.int64))
            continue
        kinds = {a.dtype.kind for a in arrays}
        if name in ("user", "item") and kinds == {"i", "U"}:
            if restartable:
                restart.add(name)
                continue
            # a stream that cannot be re-read: earlier integer ids become their decimal text
            arrays = [a.astype(str) if a.dtype.kind == "i" else a for a in arrays]
        if name == "timestamp" and len(kinds) > 1:
            arrays = [a.astype(np.float64) for a in arrays]
        out[name] = arrays[0] if len(arrays) == 1 else np.concatenate(arrays)
        arrays.clear()
    if restart:
        raise _RestartAsStrings(restart)
    return out


def read_ratings(path: str | os.PathLike[str] | IO[bytes], sep: str | None = "\t",
                 columns: Sequence[str | None] | None = ("user", "item", "rating",
                                                         "timestamp"), *,
                 header: bool = False, comment: str | None = None,
                 chunk_rows: int = 1_000_000, dtype: Any = np.float32,
                 encoding: str = "utf-8", **interactions_kwargs: Any) -> Interactions:
    """Read a delimited ratings file into :class:`~fastl2.Interactions`, streaming.

    The file is read in chunks of at most ``chunk_rows`` lines; each chunk becomes NumPy arrays
    (ids int64 when every id of the column is an integer, else strings; ratings float64;
    timestamps int64, or float64 if any is fractional) and the chunks are concatenated at the
    end. When a non-integer id turns up after integer ids, the file is read again with that
    column as strings (so ``"007"`` stays distinct from ``"7"``; a non-seekable file object
    instead turns the earlier integers into their decimal text). Memory is a few times the size
    of the parsed arrays (about 120 bytes per line at the peak, inside
    :meth:`Interactions.from_arrays`), never of the whole text. Numeric files are parsed by
    NumPy's C reader (1.5–2 million lines per second including the CSR build; string ids
    about half that).

    Parameters
    ----------
    path : str, path-like or binary file object
        The file. ``.gz``, ``.bz2`` and ``.xz`` (or ``.lzma``) suffixes are decompressed on the
        fly. A binary file object is read from its current position as is (never
        decompressed) and left open.
    sep : str or None, default "\\t"
        Field separator, any length (``"::"`` for MovieLens ``ratings.dat``). ``None`` splits
        on runs of whitespace. Quoting is not supported.
    columns : sequence of (str or None), or None
        What each field of a line holds: ``"user"``, ``"item"``, ``"rating"``,
        ``"timestamp"``, or ``None``/``"_"`` for a field to skip. ``user`` and ``item`` are
        required; without ``rating`` every value is 1 (implicit feedback). Every non-blank
        line must have exactly ``len(columns)`` fields. ``None``: the field count of the first
        data line decides (2: user, item; 3: + rating; 4: + timestamp).
    header : bool, default False
        Skip the first line (e.g. ``userId,movieId,rating,timestamp``).
    comment : str, optional
        Text from this marker to the end of a line is ignored. Blank lines are always skipped.
    chunk_rows : int, default 1_000_000
        Lines parsed per chunk (bounds the memory of the text being parsed).
    dtype : float32 or float64
        Dtype of the stored values.
    encoding : str, default "utf-8"
        Text encoding (``\\n`` must be one byte, as in UTF-8 and Latin-1). A leading UTF-8
        byte-order mark is ignored.
    **interactions_kwargs
        Passed to :meth:`Interactions.from_arrays`: ``duplicates``, ``nonfinite``,
        ``rating_scale``, ``user_map``, ``item_map``, ``unknown``.

    Returns
    -------
    Interactions
        With timestamps when ``columns`` has a ``"timestamp"`` field.

    Raises
    ------
    InputValueError
        A line with the wrong number of fields or an unparseable number (the message gives
        the 1-based line number and the line), bytes that do not decode in ``encoding``
        (with the line number), an unreadable or corrupt compressed file, or any error of
        :meth:`Interactions.from_arrays` (duplicates, NaN, values outside ``rating_scale``).

    Examples
    --------
    >>> data = read_ratings("ml-1m/ratings.dat", sep="::")  # doctest: +SKIP
    >>> data = read_ratings("ratings.csv", sep=",", header=True)  # doctest: +SKIP
    """
    if hasattr(path, "read"):
        fh = path
        label = str(getattr(path, "name", "<file object>"))
        seekable = bool(getattr(fh, "seekable", lambda: False)())
        start = fh.tell() if seekable else 0

        class _Borrowed:  # the caller owns the file object: rewind it, never close it
            def __enter__(self) -> IO[bytes]:
                if seekable:
                    fh.seek(start)
                return fh  # type: ignore[return-value]

            def __exit__(self, *exc: Any) -> None:
                return None

        return _read(_Borrowed, label, sep=sep, columns=columns,  # type: ignore[arg-type]
                     header=header, comment=comment, chunk_rows=chunk_rows, dtype=dtype,
                     encoding=encoding, kwargs=interactions_kwargs, restartable=seekable)
    if not isinstance(path, (str, os.PathLike)):
        fail("path", "a file path or a binary file object", path, type_error=True)
    p = Path(path)
    if not p.is_file():
        state = "is a directory" if p.is_dir() else "does not exist"
        fail("path", "an existing file", Detail(f"{str(p)!r}, which {state}"))
    if p.suffix.lower() == ".zip":
        fail("path", "a plain, .gz, .bz2 or .xz text file (load_movielens reads MovieLens zip "
             "archives)", Detail(repr(str(p))))
    return _read(lambda: _open_binary(p), str(p), sep=sep, columns=columns, header=header,
                 comment=comment, chunk_rows=chunk_rows, dtype=dtype, encoding=encoding,
                 kwargs=interactions_kwargs)


# ====================================================================== MovieLens
@dataclass(frozen=True)
class _MovieLensVariant:
    archive: str          # file name of the official zip
    member: str           # ratings file inside the zip
    sep: str
    header: bool
    rating_scale: tuple[float, float]


MOVIELENS_VARIANTS: dict[str, _MovieLensVariant] = {
    "ml-100k": _MovieLensVariant("ml-100k.zip", "ml-100k/u.data", "\t", False, (1.0, 5.0)),
    "ml-1m": _MovieLensVariant("ml-1m.zip", "ml-1m/ratings.dat", "::", False, (1.0, 5.0)),
    "ml-10m": _MovieLensVariant("ml-10m.zip", "ml-10M100K/ratings.dat", "::", False,
                                (0.5, 5.0)),
    "ml-20m": _MovieLensVariant("ml-20m.zip", "ml-20m/ratings.csv", ",", True, (0.5, 5.0)),
    "ml-25m": _MovieLensVariant("ml-25m.zip", "ml-25m/ratings.csv", ",", True, (0.5, 5.0)),
    "ml-latest-small": _MovieLensVariant("ml-latest-small.zip", "ml-latest-small/ratings.csv",
                                         ",", True, (0.5, 5.0)),
    "ml-latest": _MovieLensVariant("ml-latest.zip", "ml-latest/ratings.csv", ",", True,
                                   (0.5, 5.0)),
}
"""Official MovieLens releases: archive name, ratings member, format and rating scale."""

MOVIELENS_BASE_URL = "https://files.grouplens.org/datasets/movielens/"
"""Where :func:`movielens` downloads from (``<base>/<archive>``); overridable per call."""

# SHA-256 of the official archives, as recorded in TensorFlow Datasets' url_checksums
# (tensorflow_datasets/url_checksums/movielens.txt, which pins the same GroupLens URLs and byte
# sizes: ml-100k 4,924,029 B, ml-1m 5,917,549 B, ml-20m 198,702,078 B, ml-25m 261,978,986 B).
# None: no SHA-256 could be confirmed; then MOVIELENS_MD5, else the ".md5" file GroupLens
# publishes next to each archive, is checked instead. The "latest" releases are re-published
# by GroupLens from time to time, so they are always checked against GroupLens's own ".md5".
MOVIELENS_SHA256: dict[str, str | None] = {
    "ml-100k": "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229",
    "ml-1m": "a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
    "ml-10m": None,
    "ml-20m": "96f243c338a8665f6bcc89c53edf6ee39162a846940de6b7c8c48aeada765ff3",
    "ml-25m": "8b21cfb7eb1706b4ec0aac894368d90acf26ebdfb6aced3ebd4ad5bd1eb9c6aa",
    "ml-latest-small": None,
    "ml-latest": None,
}
"""Expected SHA-256 per variant (``None``: fall back to MD5, see :func:`movielens`)."""

# MD5 of the archives (the values of GroupLens's ".md5" files, as copied in public download
# scripts); used only where no SHA-256 is known.
MOVIELENS_MD5: dict[str, str | None] = {
    "ml-100k": "0e33842e24a9c977be4e0107933c0723",
    "ml-1m": "c4d9eecfca2ab87c1945afe126590906",
    "ml-10m": "ce571fd55effeba0271552578f2648bd",
    "ml-20m": "cd245b17a1ae2cc31bb14903e1204af3",
    "ml-25m": "6b51fb2759a8657d3bfcbfc42b592ada",
    "ml-latest-small": None,
    "ml-latest": None,
}
"""Expected MD5 per variant, checked only when the SHA-256 entry is ``None``."""

_RATINGS_FILES = ("u.data", "ratings.dat", "ratings.csv")
_HEX = re.compile(r"\b([0-9a-fA-F]{64}|[0-9a-fA-F]{32})\b")


def _check_variant(variant: Any, *, allow_none: bool = False) -> str | None:
    if variant is None and allow_none:
        return None
    if variant not in MOVIELENS_VARIANTS:
        fail("variant", "one of " + ", ".join(map(repr, MOVIELENS_VARIANTS))
             + (" or None (detect)" if allow_none else ""), variant)
    return variant


def _format_of(name: str, hint: str, variant: str | None) -> tuple[str, bool, tuple[float, float]]:
    """(sep, header, rating_scale) of a ratings file named ``name`` found under ``hint``."""
    if variant is not None:
        v = MOVIELENS_VARIANTS[variant]
        return v.sep, v.header, v.rating_scale
    if name == "u.data":
        return "\t", False, (1.0, 5.0)
    if name == "ratings.csv":
        return ",", True, (0.5, 5.0)
    # ratings.dat: ML-1M (whole stars) or ML-10M (half stars)
    low = hint.lower()
    if "10m" in low or "10m100k" in low:
        return "::", False, (0.5, 5.0)
    if "1m" in low:
        return "::", False, (1.0, 5.0)
    return "::", False, (0.5, 5.0)


def _pick_member(names: list[str], wanted: tuple[str, ...], where: str) -> str:
    hits = [n for n in names if n.rsplit("/", 1)[-1] in wanted and not n.endswith("/")]
    if not hits:
        fail("path", f"a MovieLens ratings file ({', '.join(wanted)})",
             Detail(f"none in {where}"))
    hits.sort(key=lambda n: (n.count("/"), n))
    shallow = [h for h in hits if h.count("/") == hits[0].count("/")]
    if len(shallow) > 1:
        fail("path", "exactly one MovieLens ratings file (pass the file itself)",
             Detail(f"{len(shallow)} in {where}: {shallow[:5]}"))
    return hits[0]


def load_movielens(path: str | os.PathLike[str], variant: str | None = None, *,
                   dtype: Any = np.float32, **interactions_kwargs: Any) -> Interactions:
    """Load a MovieLens release from a local file, folder or official zip archive.

    Parameters
    ----------
    path : str or path-like
        One of: ``u.data`` (ML-100K, tab-separated), ``ratings.dat`` (ML-1M / ML-10M, ``::``
        separated), ``ratings.csv`` (ML-20M, ML-25M, ml-latest(-small), with a header line);
        a folder holding one of these directly or one level down (an extracted archive); or
        the official ``.zip`` archive, whose ratings member is streamed without extracting
        anything.
    variant : str, optional
        One of :data:`MOVIELENS_VARIANTS`. Fixes the expected file and the rating scale;
        when None they are detected from the file name (``ratings.dat`` is taken as ML-1M,
        scale 1–5, when the path mentions "1m" but not "10m", else as half-star 0.5–5).
    dtype : float32 or float64
        Dtype of the stored ratings.
    **interactions_kwargs
        Passed to :meth:`Interactions.from_arrays` (e.g. ``duplicates``).

    Returns
    -------
    Interactions
        With timestamps and ``rating_scale`` (1–5 for ML-100K/ML-1M, 0.5–5 for the others);
        ids are the MovieLens integer ids.
    """
    variant = _check_variant(variant, allow_none=True)
    if not isinstance(path, (str, os.PathLike)):
        fail("path", "a file or folder path", path, type_error=True)
    p = Path(path)
    wanted = ((MOVIELENS_VARIANTS[variant].member.rsplit("/", 1)[-1],) if variant
              else _RATINGS_FILES)
    columns = ("user", "item", "rating", "timestamp")
    kwargs = dict(interactions_kwargs)
    if p.is_dir():
        found = sorted(q.relative_to(p).as_posix() for q in p.glob("*") if q.is_file()) + \
            sorted(q.relative_to(p).as_posix() for q in p.glob("*/*") if q.is_file())
        member = _pick_member(found, wanted, f"folder {str(p)!r}")
        p = p / member
    if not p.is_file():
        fail("path", "an existing MovieLens file, folder or zip archive",
             Detail(f"{str(p)!r}, which does not exist"))
    if p.suffix.lower() == ".zip":
        try:
            zf = zipfile.ZipFile(p)
        except (zipfile.BadZipFile, OSError) as exc:
            fail("path", "a valid zip archive", Detail(f"{str(p)!r} ({exc})"))
        with zf:
            member = _pick_member(zf.namelist(), wanted, f"archive {str(p)!r}")
            name = member.rsplit("/", 1)[-1]
            sep, header, scale = _format_of(name, p.name + "/" + member, variant)
            kwargs.setdefault("rating_scale", scale)
            return _read(lambda: zf.open(member), f"{p}:{member}", sep=sep, columns=columns,
                         header=header, comment=None, chunk_rows=1_000_000, dtype=dtype,
                         encoding="utf-8", kwargs=kwargs)
    name = p.name
    if name not in wanted:
        fail("path", f"a MovieLens ratings file ({', '.join(wanted)}), a folder or a zip",
             Detail(repr(str(p))))
    sep, header, scale = _format_of(name, str(p.resolve()), variant)
    kwargs.setdefault("rating_scale", scale)
    return read_ratings(p, sep=sep, columns=columns, header=header, dtype=dtype, **kwargs)


def _cache_root(cache_dir: str | os.PathLike[str] | None) -> Path:
    if cache_dir is not None:
        if not isinstance(cache_dir, (str, os.PathLike)):
            fail("cache_dir", "None or a folder path", cache_dir, type_error=True)
        return Path(cache_dir)
    env = os.environ.get("FASTL2_DATA")
    return Path(env) if env else Path.home() / ".cache" / "fastl2"


def _file_digests(path: Path) -> tuple[str, str]:
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        while True:
            buf = fh.read(1 << 20)
            if not buf:
                break
            sha.update(buf)
            md5.update(buf)
    return sha.hexdigest(), md5.hexdigest()


def _fetch(url: str, dest: Path, timeout: float) -> None:
    """Download ``url`` to ``dest`` atomically (temporary file in the same folder, then
    rename); nothing is left behind on failure."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + dest.name + ".", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            while True:
                buf = resp.read(1 << 20)
                if not buf:
                    break
                out.write(buf)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _expected_digest(variant: str, archive: Path, url: str, download: bool,
                     timeout: float) -> tuple[str, str, str]:
    """(algorithm, hex digest, where it comes from) used to verify ``archive``."""
    sha = MOVIELENS_SHA256.get(variant)
    if sha:
        return "sha256", sha.lower(), "fastl2.datasets.MOVIELENS_SHA256"
    md5 = MOVIELENS_MD5.get(variant)
    if md5:
        return "md5", md5.lower(), "fastl2.datasets.MOVIELENS_MD5"
    for algo in ("sha256", "md5"):
        side = archive.with_name(archive.name + "." + algo)
        if side.is_file():
            m = _HEX.search(side.read_text(errors="replace"))
            if m and len(m.group(1)) == (64 if algo == "sha256" else 32):
                return algo, m.group(1).lower(), str(side)
    if download:
        side = archive.with_name(archive.name + ".md5")
        try:
            _fetch(url + ".md5", side, timeout)
        except (OSError, ValueError) as exc:
            raise DownloadError(
                f"variant: expected a checksum to verify {archive.name} (none is known for "
                f"{variant!r}), got no answer from {url}.md5 ({exc}); put the archive's SHA-256 "
                f"in {archive.name}.sha256 next to it, or in "
                f"fastl2.datasets.MOVIELENS_SHA256[{variant!r}]") from exc
        m = _HEX.search(side.read_text(errors="replace"))
        if m and len(m.group(1)) == 32:
            return "md5", m.group(1).lower(), url + ".md5"
        side.unlink(missing_ok=True)
    raise DownloadError(
        f"variant: expected a checksum to verify {archive.name} (none is known for "
        f"{variant!r}), got none; put the archive's SHA-256 in {archive.name}.sha256 next to "
        f"it, or in fastl2.datasets.MOVIELENS_SHA256[{variant!r}]")


def _verify(variant: str, path: Path, expected: tuple[str, str, str]) -> None:
    algo, want, source = expected
    sha, md5 = _file_digests(path)
    got = sha if algo == "sha256" else md5
    if got != want:
        raise ChecksumError(
            f"variant: expected {algo.upper()} {want} for {path.name} of {variant!r} (from "
            f"{source}), got {got}")


def movielens(variant: str = "ml-100k", *, cache_dir: str | os.PathLike[str] | None = None,
              download: bool = True, base_url: str | None = None, dtype: Any = np.float32,
              timeout: float = 60.0, **interactions_kwargs: Any) -> Interactions:
    """Download (once), verify and load an official MovieLens release.

    Parameters
    ----------
    variant : {"ml-100k", "ml-1m", "ml-10m", "ml-20m", "ml-25m", "ml-latest-small", \
"ml-latest"}
        The release; its archive is ``<base_url><variant>.zip`` (ML-10M: ``ml-10m.zip``,
        whose folder is ``ml-10M100K``).
    cache_dir : path, optional
        Folder of the archives; default ``$FASTL2_DATA``, else ``~/.cache/fastl2``.
    download : bool, default True
        Download the archive when it is not in the cache. With False a missing archive raises
        :class:`DownloadError`.
    base_url : str, optional
        Overrides :data:`MOVIELENS_BASE_URL` (any URL urllib opens, including ``file://``).
    dtype : float32 or float64
    timeout : float, default 60
        Seconds without network progress before a download fails.
    **interactions_kwargs
        Passed to :meth:`Interactions.from_arrays`.

    Returns
    -------
    Interactions
        As :func:`load_movielens` on the archive.

    Raises
    ------
    DownloadError
        The archive is not cached and cannot be downloaded; the message names the variant,
        the URL and where to put a manually downloaded archive.
    ChecksumError
        The archive does not match its checksum. What is checked, in this order: the SHA-256
        in :data:`MOVIELENS_SHA256`; else the MD5 in :data:`MOVIELENS_MD5`; else a
        ``<archive>.sha256`` or ``<archive>.md5`` file next to the archive in the cache; else
        the ``<url>.md5`` file GroupLens publishes next to the archive (downloaded and kept as
        that sidecar). A freshly downloaded archive that fails is deleted before the error;
        an archive already in the cache that fails is left in place (it may be a file you put
        there) and the error says to delete it. The archive is re-verified on every call (a
        hash pass, about a second for the 260 MB ML-25M archive).

    Notes
    -----
    Downloads are atomic: the archive is written to a temporary file in the cache folder and
    renamed into place only after its checksum matched, so an interrupted download never
    leaves a partial archive under the final name.
    """
    variant = _check_variant(variant)
    assert variant is not None
    if not isinstance(download, (bool, np.bool_)):
        fail("download", "True or False", download, type_error=True)
    timeout = check_float("timeout", timeout, minimum=0.0, strict=True)
    info = MOVIELENS_VARIANTS[variant]
    base = MOVIELENS_BASE_URL if base_url is None else base_url
    if not isinstance(base, str) or not base:
        fail("base_url", "None or a URL string", base_url, type_error=not isinstance(base, str))
    url = base.rstrip("/") + "/" + info.archive
    root = _cache_root(cache_dir)
    archive = root / info.archive
    if archive.is_file():
        expected = _expected_digest(variant, archive, url, download, timeout)
        try:
            _verify(variant, archive, expected)
        except ChecksumError as exc:
            raise ChecksumError(f"{exc}; the cached file {str(archive)!r} is corrupt or a "
                                f"different release: delete it to download again") from None
    else:
        manual = (f"download {url} yourself and put it at {str(archive)!r} (or pass "
                  f"cache_dir=, or set FASTL2_DATA), or call load_movielens() on your copy")
        if not download:
            raise DownloadError(f"variant: expected {info.archive} of {variant!r} in the cache "
                                f"(download=False), got no file at {str(archive)!r}; {manual}")
        root.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix="." + info.archive + ".", suffix=".part",
                                        dir=root)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            try:
                _fetch(url, tmp, timeout)
            except (OSError, ValueError) as exc:
                raise DownloadError(f"variant: expected to download {variant!r} from {url}, "
                                    f"got {type(exc).__name__}: {exc}; {manual}") from exc
            expected = _expected_digest(variant, archive, url, download, timeout)
            _verify(variant, tmp, expected)
            os.replace(tmp, archive)
        finally:
            tmp.unlink(missing_ok=True)
    return load_movielens(archive, variant, dtype=dtype, **interactions_kwargs)


# ====================================================================== synthetic data
USER_ACTIVITY_SIGMA = 1.2      # log-normal spread of user activity (ML-20M: mean/median ≈ 2)
IMPLICIT_AFFINITY_GAIN = 2.0   # implicit: acceptance = logistic(gain · (score − mean))
_INTERACTION_STD = 0.8
_USER_BIAS_STD = 0.3
_ITEM_BIAS_STD = 0.5
_GLOBAL_MEAN = 3.5


@dataclass(eq=False)
class SyntheticData:
    """Synthetic interactions and the planted model that generated them.

    Attributes
    ----------
    interactions : Interactions
        Users ``0..n_users-1`` × items ``0..n_items-1`` (external id = internal index).
    global_mean : float
    user_bias, item_bias : numpy.ndarray of float64
    user_factors, item_factors : numpy.ndarray of float64, shape (n, rank)
    noise : float
        Standard deviation of the Gaussian noise added to each rating (for counts: of the
        log-rate).
    item_weights : numpy.ndarray of float64
        Popularity weight of each item (sums to 1).
    implicit : bool or str
        False, "counts" or "binary".
    """

    interactions: Interactions
    global_mean: float
    user_bias: np.ndarray
    item_bias: np.ndarray
    user_factors: np.ndarray
    item_factors: np.ndarray
    noise: float
    item_weights: np.ndarray = field(repr=False)
    implicit: bool | str = False

    def expected(self, users: Any, items: Any) -> np.ndarray:
        """Noiseless, unclipped planted score ``μ + b_u + b_i + p_u·q_i`` (float64).

        For explicit data this is the expected rating before clipping and rounding; for
        ``implicit="counts"`` the count is ``1 + Poisson(exp(score − μ + noise·z))``.

        Parameters
        ----------
        users, items : array-like of int
            Internal indices (equal to the ids), broadcast against each other.
        """
        u = np.asarray(users)
        i = np.asarray(items)
        for name, idx, n in (("users", u, self.user_bias.size),
                             ("items", i, self.item_bias.size)):
            if idx.dtype.kind not in "iu":
                fail(name, "integer indices", idx, type_error=True)
            if idx.size and (idx.min() < 0 or idx.max() >= n):
                fail(name, f"indices in [0, {n})", idx)
        u, i = np.broadcast_arrays(u, i)
        shape = u.shape
        u, i = u.ravel(), i.ravel()
        out = np.empty(u.size, dtype=np.float64)
        step = 1 << 20
        for s in range(0, u.size, step):
            uu, ii = u[s:s + step], i[s:s + step]
            out[s:s + step] = (self.global_mean + self.user_bias[uu] + self.item_bias[ii]
                               + np.einsum("ij,ij->i", self.user_factors[uu],
                                           self.item_factors[ii]))
        return out.reshape(shape)


def _max_numba_threads() -> int:
    """Threads the generator may use: Numba's current setting (see ``fastl2._threads``)."""
    import numba

    return int(numba.get_num_threads())


def _user_counts(n_users: int, n_items: int, n_ratings: int, floor: int, sigma: float,
                 rng: np.random.Generator) -> np.ndarray:
    """Per-user counts: ``floor`` each plus a log-normal share of the rest, capped at
    ``n_items`` (water-filling), rounded by largest remainders to sum exactly."""
    activity = rng.lognormal(0.0, sigma, n_users)
    extra = n_ratings - n_users * floor
    cap = float(n_items - floor)
    alloc = np.zeros(n_users, dtype=np.float64)
    free = np.ones(n_users, dtype=bool)
    remaining = float(extra)
    while remaining > 0 and free.any():
        w = np.where(free, activity, 0.0)
        share = remaining * w / w.sum()
        over = free & (share >= cap)
        if not over.any():
            alloc[free] = share[free]
            break
        alloc[over] = cap
        free &= ~over
        remaining = extra - alloc.sum()
    base = np.minimum(np.floor(alloc), cap).astype(np.int64)
    short = extra - int(base.sum())
    frac = alloc - base
    if short > 0:
        frac[base >= cap] = -1.0
        top = np.argsort(-frac, kind="stable")[:short]
        base[top] += 1
    elif short < 0:
        frac[base <= 0] = 2.0
        low = np.argsort(frac, kind="stable")[:-short]
        base[low] -= 1
    return base + floor


def synthetic_ratings(n_users: int = 10_000, n_items: int = 2_000, n_ratings: int = 500_000,
                      rank: int = 10, noise: float = 0.5, seed: Any = 0, *,
                      min_user_ratings: int = 20, item_popularity_exponent: float = 1.0,
                      rounded: bool = False, rating_scale: tuple[float, float] = (1.0, 5.0),
                      implicit: bool | str = False, dtype: Any = np.float32,
                      user_activity_sigma: float = USER_ACTIVITY_SIGMA) -> SyntheticData:
    """Generate ratings from a planted biased low-rank model, MovieLens-shaped.

    Model: ``r_ui = μ + b_u + b_i + p_u·q_i + ε`` with ``μ = 3.5``, ``b_u ~ N(0, 0.3²)``,
    ``b_i ~ N(0, 0.5²)``, ``p_u, q_i ~ N(0, s² I_rank)`` with ``s`` chosen so that ``p_u·q_i``
    has standard deviation 0.8, and ``ε ~ N(0, noise²)``; then rounded to integers (if
    ``rounded``) and clipped to ``rating_scale``. ``rating_scale`` only clips: the model is
    always in 1–5 star units.

    Which pairs are rated: item ``i`` has popularity weight ``∝ rank_i^-exponent`` where the
    popularity ranks are a random permutation of the items (so popularity is not id order);
    user ``u`` rates ``min_user_ratings + (a log-normal share of the rest)`` items (heavy
    tailed like MovieLens, capped at ``n_items``), drawn without replacement in proportion to
    popularity. Exactly ``n_ratings`` pairs, no duplicates, so the values are missing at
    random given popularity (explicit data).

    Parameters
    ----------
    n_users, n_items : int
    n_ratings : int
        Exact number of interactions; at most ``n_users * n_items``.
    rank : int
        Rank of the planted interaction term (0: biases only).
    noise : float
        Standard deviation of the rating noise.
    seed : int, numpy.random.Generator or None
        Same seed, same output, whatever the thread count (every user draws from its own
        random stream derived from the seed).
    min_user_ratings : int, default 20
        Floor of every user's count; lowered to ``n_ratings // n_users`` (and to ``n_items``)
        when the budget cannot give every user that many.
    item_popularity_exponent : float, default 1.0
        Power-law exponent of item popularity; 0 gives uniform popularity.
    rounded : bool, default False
        Round ratings to integers (then clip to the integers inside ``rating_scale``).
    rating_scale : (low, high), default (1, 5)
        Clipping range of explicit ratings; stored as the data's ``rating_scale``.
    implicit : {False, True, "counts", "binary"}
        True/"counts": values are ``1 + Poisson(exp(score − μ + noise·z))``; "binary": every
        value is 1. Implicit pairs are drawn with probability ∝ popularity × logistic(2 ·
        (score − μ)), so the pairs themselves carry the preference signal.
    dtype : float32 or float64
        Dtype of the stored values.
    user_activity_sigma : float, default 1.2
        Log-normal sigma of user activity (0: every user gets the same count).

    Returns
    -------
    SyntheticData
        The interactions (canonical CSR, built directly) and the ground truth.

    Notes
    -----
    Sampling is exact successive sampling without replacement: light users draw from a
    Fenwick tree of (fixed-point) popularity weights, removing each drawn item, so a draw
    costs O(log n_items) whatever the skew; users with more than ``n_items / 8`` ratings use
    exponential keys (Efraimidis–Spirakis, O(n_items)). Users run in parallel threads
    (Numba's thread count, a ``nogil`` kernel); the first call in a process compiles the
    kernel (about 3 s). Measured on 2 cores: 20M ratings, 138,000 × 27,000 (ML-20M shape),
    about 2.5 s; 100M ratings in about 13 s. Peak memory is the output (int32 indices +
    values + row pointers) plus O(n_users · rank + n_items · threads): about 1.2× the output.
    """
    n_users = check_int("n_users", n_users, minimum=1)
    n_items = check_int("n_items", n_items, minimum=1)
    n_ratings = check_int("n_ratings", n_ratings, minimum=0)
    if n_ratings > n_users * n_items:
        fail("n_ratings", f"at most n_users * n_items = {n_users * n_items:,}", n_ratings)
    rank = check_int("rank", rank, minimum=0)
    noise = check_float("noise", noise, minimum=0.0)
    min_user_ratings = check_int("min_user_ratings", min_user_ratings, minimum=0)
    exponent = check_float("item_popularity_exponent", item_popularity_exponent, minimum=0.0)
    sigma = check_float("user_activity_sigma", user_activity_sigma, minimum=0.0)
    if not isinstance(rounded, (bool, np.bool_)):
        fail("rounded", "True or False", rounded, type_error=True)
    if isinstance(implicit, (bool, np.bool_)):
        mode_name: bool | str = "counts" if implicit else False
    elif isinstance(implicit, str) and implicit in ("counts", "binary"):
        mode_name = implicit
    else:
        fail("implicit", "False, True, 'counts' or 'binary'", implicit)
    dtype = check_dtype("dtype", dtype)
    scale: tuple[float, float] | None = None
    if mode_name is False:
        if (not isinstance(rating_scale, (tuple, list, np.ndarray)) or len(rating_scale) != 2):
            fail("rating_scale", "a (low, high) pair", rating_scale)
        lo = check_float("rating_scale[0]", rating_scale[0])
        hi = check_float("rating_scale[1]", rating_scale[1])
        if not lo < hi:
            fail("rating_scale", "low < high", rating_scale)
        scale = (lo, hi)
        if rounded:
            lo, hi = float(np.ceil(lo)), float(np.floor(hi))
            if lo > hi:
                fail("rating_scale", "a range containing an integer (rounded=True)",
                     rating_scale)
    else:
        lo, hi = -np.inf, np.inf
    rng = check_random_state("seed", seed)

    from ._kernels import synthetic as kern

    # ---- planted model (float64, drawn in a fixed order from one Generator)
    mu = _GLOBAL_MEAN
    user_bias = rng.normal(0.0, _USER_BIAS_STD, n_users)
    item_bias = rng.normal(0.0, _ITEM_BIAS_STD, n_items)
    s = np.sqrt(_INTERACTION_STD / np.sqrt(rank)) if rank else 0.0
    P = rng.normal(0.0, s, (n_users, rank))
    Q = rng.normal(0.0, s, (n_items, rank))
    popularity_rank = rng.permutation(n_items)
    weights = (popularity_rank + 1.0) ** -exponent
    weights /= weights.sum()
    w_int = np.maximum(np.rint(weights * 2.0 ** 52), 1.0).astype(np.int64)  # fixed point
    floor = min(min_user_ratings, n_items, n_ratings // n_users)
    counts = _user_counts(n_users, n_items, n_ratings, floor, sigma, rng)
    kernel_seed = rng.integers(0, np.iinfo(np.uint64).max, dtype=np.uint64, endpoint=True)

    # ---- CSR arrays filled in place by the kernel
    index_dtype = np.int32 if max(n_items, n_ratings) < np.iinfo(np.int32).max else np.int64
    indptr = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    del counts
    n_threads = max(1, min(os.cpu_count() or 1, _max_numba_threads()))
    n_blocks = max(1, min(n_users, 16 * n_threads))
    block_ptr = np.searchsorted(indptr, np.linspace(0, n_ratings, n_blocks + 1)).astype(np.int64)
    block_ptr[0], block_ptr[-1] = 0, n_users
    block_ptr = np.maximum.accumulate(block_ptr)
    out_items = np.empty(n_ratings, dtype=index_dtype)
    out_values = np.empty(n_ratings, dtype=dtype)
    mode = {False: kern.MODE_EXPLICIT, "counts": kern.MODE_COUNTS,
            "binary": kern.MODE_BINARY}[mode_name]
    gain = IMPLICIT_AFFINITY_GAIN if mode != kern.MODE_EXPLICIT else 0.0

    def run(b: int) -> None:
        kern.sample_ratings(int(block_ptr[b]), int(block_ptr[b + 1]), indptr, tree0, w_int,
                            weights, P, Q, user_bias, item_bias, mu, noise, lo, hi,
                            bool(rounded), mode, gain, np.uint64(kernel_seed), out_items,
                            out_values)

    tree0 = kern.fenwick_build(w_int)
    run(0)  # compiles (first call in the process) before the threads start
    if n_blocks > 1:
        with ThreadPoolExecutor(max_workers=n_threads) as pool:
            list(pool.map(run, range(1, n_blocks)))
    matrix = sp.csr_matrix((out_values, out_items, indptr.astype(index_dtype, copy=False)),
                           shape=(n_users, n_items), copy=False)
    matrix.has_sorted_indices = True
    data = Interactions(matrix, IdMap.range(n_users), IdMap.range(n_items), None, scale)
    return SyntheticData(interactions=data, global_mean=mu, user_bias=user_bias,
                         item_bias=item_bias, user_factors=P, item_factors=Q, noise=noise,
                         item_weights=weights, implicit=mode_name)
