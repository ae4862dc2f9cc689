"""MovieLens: loaders of the GroupLens releases, from disk or downloaded and verified.

* :func:`load_movielens` reads a MovieLens release already on disk (``u.data``,
  ``ratings.dat``, ``ratings.csv``, their folder, or the official zip archive).
* :func:`movielens` downloads an official GroupLens archive into a cache folder, verifies its
  checksum and loads it.

MovieLens is published by GroupLens for research use; cite F. Maxwell Harper and Joseph A.
Konstan, "The MovieLens Datasets: History and Context", ACM TiiS 5(4), 2015. The archives are
never redistributed by fastl2: :func:`movielens` fetches them from GroupLens.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._validation import Detail, check_float, fail
from ..errors import ChecksumError, DownloadError
from ..interactions import Interactions
from .reader import _read, read_ratings

__all__ = ["MOVIELENS_BASE_URL", "MOVIELENS_MD5", "MOVIELENS_SHA256", "MOVIELENS_VARIANTS",
           "load_movielens", "movielens"]


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
