"""The streaming reader of delimited ratings files.

:func:`read_ratings` reads ``user<sep>item<sep>rating[<sep>timestamp]`` text files (plain,
``.gz``, ``.bz2`` or ``.xz``) chunk by chunk, without pandas. Its engine, ``_read``, also
parses the ratings files of the MovieLens loaders (:mod:`fastl2.datasets.grouplens`).
"""

from __future__ import annotations

import bz2
import codecs
import gzip
import lzma
import os
import warnings
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from .._validation import Detail, check_dtype, check_int, fail
from ..interactions import Interactions

__all__ = ["read_ratings"]


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
