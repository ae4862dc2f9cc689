"""fastl2.datasets: streaming reader, MovieLens loaders/downloader, synthetic generator.

No test touches the network: downloads go to ``file://`` URLs of archives built here.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import pathlib
import zipfile

import numpy as np
import pytest

from fastl2 import datasets
from fastl2.datasets import grouplens
from fastl2.datasets import (ChecksumError, DownloadError, SyntheticData, load_movielens,
                             movielens, read_ratings, synthetic_ratings)
from fastl2.errors import Fastl2Error, InputTypeError, InputValueError

SHARED_DATA = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"

TSV = "1\t10\t4\t100\n1\t11\t3.5\t101\n2\t10\t5\t102\n3\t12\t1\t103\n"


def write(path: pathlib.Path, text: str | bytes) -> pathlib.Path:
    data = text.encode() if isinstance(text, str) else text
    opener = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}.get(path.suffix, open)
    with opener(path, "wb") as fh:
        fh.write(data)
    return path


def triples(data) -> list[tuple]:
    users, items, values = data.to_arrays()
    return sorted(zip(users.tolist(), items.tolist(), values.tolist()))


# ============================================================== read_ratings
@pytest.mark.parametrize("suffix", ["", ".gz", ".bz2", ".xz"])
def test_read_tsv_plain_and_compressed(tmp_path, suffix):
    data = read_ratings(write(tmp_path / f"r.tsv{suffix}", TSV))
    assert data.shape == (3, 3) and data.nnz == 4
    assert data.user_ids.tolist() == [1, 2, 3] and data.item_ids.tolist() == [10, 11, 12]
    assert data.user_ids.dtype == np.int64
    assert triples(data) == [(1, 10, 4.0), (1, 11, 3.5), (2, 10, 5.0), (3, 12, 1.0)]
    assert data.timestamps.tolist() == [100, 101, 102, 103]  # CSR order = file order here
    assert data.timestamps.dtype == np.int64 and data.values.dtype == np.float32


def test_read_double_colon_and_skipped_field(tmp_path):
    path = write(tmp_path / "ratings.dat", "1::10::4::978300760\n2::10::3::978300761\n")
    data = read_ratings(path, sep="::", columns=("user", "item", "rating", None))
    assert triples(data) == [(1, 10, 4.0), (2, 10, 3.0)]
    assert data.timestamps is None
    skipped = read_ratings(path, sep="::", columns=("user", "item", "_", "timestamp"))
    assert skipped.values.tolist() == [1.0, 1.0]  # no rating field: implicit ones
    assert skipped.timestamps.tolist() == [978300760, 978300761]


def test_read_csv_header_crlf_comments_blank_lines(tmp_path):
    text = "userId,movieId,rating,timestamp\r\n1,10,4.5,7\r\n# a comment\r\n\r\n2,11,0.5,8\r\n"
    data = read_ratings(write(tmp_path / "ratings.csv", text), sep=",", header=True,
                        comment="#", dtype=np.float64)
    assert triples(data) == [(1, 10, 4.5), (2, 11, 0.5)]
    assert data.values.dtype == np.float64


def test_read_whitespace_separator_and_inferred_columns(tmp_path):
    path = write(tmp_path / "r.txt", "1  10 4\n2\t11   3\n")
    data = read_ratings(path, sep=None, columns=None)
    assert triples(data) == [(1, 10, 4.0), (2, 11, 3.0)] and data.timestamps is None
    pairs = read_ratings(write(tmp_path / "p.tsv", "a\tx\nb\ty\n"), columns=None)
    assert pairs.values.tolist() == [1.0, 1.0] and pairs.item_ids.tolist() == ["x", "y"]


def test_string_ids(tmp_path):
    path = write(tmp_path / "s.tsv", "alice\tmatrix\t5\nbob\tmatrix\t3\nalice\talien\t4\n")
    data = read_ratings(path, columns=("user", "item", "rating"))
    assert data.user_ids.tolist() == ["alice", "bob"]
    assert data.item_ids.tolist() == ["alien", "matrix"]
    assert triples(data) == [("alice", "alien", 4.0), ("alice", "matrix", 5.0),
                             ("bob", "matrix", 3.0)]


def test_ids_integer_in_first_chunks_then_strings_are_reread_as_strings(tmp_path):
    path = write(tmp_path / "m.tsv", "7\t1\t4\n8\t1\t4\n007\t2\t3\nx9\t2\t1\n")
    data = read_ratings(path, columns=("user", "item", "rating"), chunk_rows=2)
    assert data.user_ids.tolist() == ["007", "7", "8", "x9"]  # "007" kept distinct from "7"
    assert data.item_ids.dtype == np.int64  # the item column stays integer


def test_file_objects_restart_or_convert_mixed_ids():
    text = b"# comment\n7\t1\t4\n007\t2\t3\nx\t3\t1\n"  # chunks: 3 lines, then 1
    seekable = io.BytesIO(b"junk line skipped by the caller\n" + text)
    seekable.readline()
    data = read_ratings(seekable, columns=("user", "item", "rating"), comment="#",
                        chunk_rows=3)
    assert data.user_ids.tolist() == ["007", "7", "x"]  # re-read with string ids
    assert not seekable.closed  # the caller's file is left open

    class Stream:  # no seek: a pipe-like source cannot be re-read
        def __init__(self, data: bytes):
            self.buf = io.BytesIO(data)

        def read(self, n: int = -1) -> bytes:
            return self.buf.read(n)

    data = read_ratings(Stream(text), columns=("user", "item", "rating"), comment="#",
                        chunk_rows=3)
    assert data.user_ids.tolist() == ["7", "x"]  # first chunk was read as integers
    assert data.nnz == 3


def test_chunking_gives_the_same_result(tmp_path):
    rng = np.random.default_rng(0)
    lines = [f"{u}\t{i}\t{r}\t{t}" for u, i, r, t in zip(
        rng.integers(0, 50, 400), rng.integers(0, 80, 400), rng.integers(1, 6, 400),
        rng.integers(0, 10**9, 400))]
    path = write(tmp_path / "c.tsv.gz", "\n".join(lines))  # no final newline
    whole = read_ratings(path, duplicates="last")
    for chunk_rows in (1, 3, 64):
        part = read_ratings(path, chunk_rows=chunk_rows, duplicates="last")
        assert (part.matrix != whole.matrix).nnz == 0
        assert np.array_equal(part.user_ids, whole.user_ids)
        assert np.array_equal(part.timestamps, whole.timestamps)
    assert whole.nnz == len({(ln.split("\t")[0], ln.split("\t")[1]) for ln in lines})


def test_bad_field_count_reports_line_number_and_content(tmp_path):
    path = write(tmp_path / "bad.tsv", "u\ti\tr\tt\n1\t10\t4\t100\n1\t11\t4\n2\t12\t3\t9\n")
    for chunk_rows in (1, 1000):
        with pytest.raises(InputValueError) as err:
            read_ratings(path, header=True, chunk_rows=chunk_rows)
        msg = str(err.value)
        assert "line 3" in msg and repr("1\t11\t4") in msg and "4 fields" in msg


def test_unparseable_number_reports_line_number_and_content(tmp_path):
    path = write(tmp_path / "bad.dat", "1::10::4::1\n2::10::4::2\n3::10::four::3\n")
    with pytest.raises(InputValueError, match=r"line 3 .*'3::10::four::3'") as err:
        read_ratings(path, sep="::")
    assert "rating" in str(err.value) and "'four'" in str(err.value)
    assert isinstance(err.value, ValueError) and isinstance(err.value, Fastl2Error)


def test_encoding_error_reports_line_number(tmp_path):
    path = write(tmp_path / "enc.tsv", b"a\tx\t1\nb\ty\t2\nc\t\xe9t\xe9\t3\n")
    with pytest.raises(InputValueError, match=r"encoding: .*line 3") as err:
        read_ratings(path, columns=("user", "item", "rating"), chunk_rows=1)
    assert "utf-8" in str(err.value)
    latin = read_ratings(path, columns=("user", "item", "rating"), encoding="latin-1")
    assert "été" in latin.item_ids.tolist()


def test_duplicates_and_rating_scale_pass_through(tmp_path):
    path = write(tmp_path / "d.tsv", "1\t10\t4\n1\t10\t2\n2\t10\t5\n")
    cols = ("user", "item", "rating")
    with pytest.raises(InputValueError, match="duplicates"):
        read_ratings(path, columns=cols)
    assert triples(read_ratings(path, columns=cols, duplicates="last"))[0] == (1, 10, 2.0)
    assert triples(read_ratings(path, columns=cols, duplicates="mean"))[0] == (1, 10, 3.0)
    with pytest.raises(InputValueError, match="rating_scale"):
        read_ratings(path, columns=cols, duplicates="max", rating_scale=(1, 4))
    data = read_ratings(path, columns=cols, duplicates="max", rating_scale=(1, 5))
    assert data.rating_scale == (1.0, 5.0)


def test_file_object_and_empty_file(tmp_path):
    data = read_ratings(io.BytesIO(TSV.encode()))
    assert data.nnz == 4
    empty = read_ratings(write(tmp_path / "e.tsv", ""))
    assert empty.shape == (0, 0) and empty.nnz == 0


def test_argument_errors(tmp_path):
    path = write(tmp_path / "r.tsv", TSV)
    with pytest.raises(InputValueError, match="columns"):
        read_ratings(path, columns=("user", "rating"))
    with pytest.raises(InputValueError, match=r"columns\[1\]"):
        read_ratings(path, columns=("user", "film", "rating", "timestamp"))
    with pytest.raises(InputTypeError, match="columns"):
        read_ratings(path, columns="user,item")
    with pytest.raises(InputValueError, match="path: expected an existing file"):
        read_ratings(tmp_path / "missing.tsv")
    with pytest.raises(InputValueError, match="chunk_rows"):
        read_ratings(path, chunk_rows=0)
    with pytest.raises(InputValueError, match="encoding"):
        read_ratings(path, encoding="no-such-codec")
    with pytest.raises(InputValueError, match="sep"):
        read_ratings(path, sep="")
    with pytest.raises(InputValueError, match="load_movielens"):
        read_ratings(make_zip(tmp_path / "r.zip", {"r.tsv": TSV}))


# ============================================================== MovieLens files
U_DATA = "196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t377\t1\t878887116\n"
ML1M = "1::1193::5::978300760\n1::661::3::978302109\n2::1357::5::978298709\n"
ML10M = "1::122::5::838985046\n1::185::4.5::838983525\n"
CSV = "userId,movieId,rating,timestamp\n1,31,2.5,1260759144\n1,1029,3.0,1260759179\n"


def make_zip(path: pathlib.Path, members: dict[str, str]) -> pathlib.Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, text in members.items():
            zf.writestr(name, text)
    return path


def test_load_u_data(tmp_path):
    data = load_movielens(write(tmp_path / "u.data", U_DATA))
    assert data.nnz == 3 and data.rating_scale == (1.0, 5.0)
    assert data.timestamps is not None and sorted(data.timestamps.tolist())[0] == 878887116


def test_load_ratings_dat_file_and_folders(tmp_path):
    (tmp_path / "ml-1m").mkdir()
    write(tmp_path / "ml-1m" / "ratings.dat", ML1M)
    write(tmp_path / "ml-1m" / "movies.dat", "1193::One Flew Over the Cuckoo's Nest::Drama\n")
    for where in (tmp_path / "ml-1m" / "ratings.dat", tmp_path / "ml-1m", tmp_path):
        data = load_movielens(where)
        assert data.nnz == 3 and data.rating_scale == (1.0, 5.0)
        assert data.user_ids.tolist() == [1, 2]
    (tmp_path / "x" / "ml-10M100K").mkdir(parents=True)
    write(tmp_path / "x" / "ml-10M100K" / "ratings.dat", ML10M)
    ten = load_movielens(tmp_path / "x")
    assert ten.rating_scale == (0.5, 5.0) and sorted(ten.values.tolist()) == [4.5, 5.0]


def test_load_ratings_csv_and_variant_check(tmp_path):
    path = write(tmp_path / "ratings.csv", CSV)
    data = load_movielens(path)
    assert data.nnz == 2 and data.rating_scale == (0.5, 5.0) and data.values.min() == 2.5
    with pytest.raises(InputValueError, match="u.data"):
        load_movielens(path, variant="ml-100k")
    with pytest.raises(InputValueError, match="variant"):
        load_movielens(path, variant="ml-2m")


def test_load_zip_streams_the_member(tmp_path):
    path = make_zip(tmp_path / "ml-1m.zip", {"ml-1m/README": "readme",
                                             "ml-1m/movies.dat": "1::x::y\n",
                                             "ml-1m/ratings.dat": ML1M})
    data = load_movielens(path)
    assert data.nnz == 3 and data.rating_scale == (1.0, 5.0)
    assert sorted(data.timestamps.tolist()) == [978298709, 978300760, 978302109]
    assert not (tmp_path / "ml-1m").exists()  # nothing extracted
    with pytest.raises(InputValueError, match="ratings"):
        load_movielens(make_zip(tmp_path / "other.zip", {"a/movies.dat": "x"}))


# ============================================================== movielens() download
@pytest.fixture
def fake_server(tmp_path, monkeypatch):
    """A fake GroupLens folder served through file:// and an empty cache folder."""
    server = tmp_path / "server"
    server.mkdir()
    archive = make_zip(server / "ml-1m.zip", {"ml-1m/ratings.dat": ML1M})
    sha = hashlib.sha256(archive.read_bytes()).hexdigest()
    monkeypatch.setitem(datasets.MOVIELENS_SHA256, "ml-1m", sha)
    cache = tmp_path / "cache"
    return server.as_uri() + "/", archive, cache


def test_movielens_downloads_verifies_and_caches(fake_server, monkeypatch):
    base, archive, cache = fake_server
    data = movielens("ml-1m", cache_dir=cache, base_url=base)
    assert data.nnz == 3 and data.rating_scale == (1.0, 5.0)
    cached = cache / "ml-1m.zip"
    assert cached.read_bytes() == archive.read_bytes()
    assert sorted(p.name for p in cache.iterdir()) == ["ml-1m.zip"]  # no temp files left
    mtime = cached.stat().st_mtime_ns

    def no_network(*args, **kwargs):
        raise AssertionError("cached archive must not be downloaded again")

    monkeypatch.setattr(grouplens, "_fetch", no_network)
    again = movielens("ml-1m", cache_dir=cache, base_url=base)
    assert (again.matrix != data.matrix).nnz == 0 and cached.stat().st_mtime_ns == mtime
    monkeypatch.setenv("FASTL2_DATA", str(cache))  # default cache folder from the environment
    assert movielens("ml-1m", base_url=base).nnz == 3


def test_movielens_wrong_checksum_leaves_nothing(fake_server, monkeypatch):
    base, _, cache = fake_server
    monkeypatch.setitem(datasets.MOVIELENS_SHA256, "ml-1m", "0" * 64)
    with pytest.raises(ChecksumError, match="SHA256 0{64}") as err:
        movielens("ml-1m", cache_dir=cache, base_url=base)
    assert "ml-1m" in str(err.value)
    assert list(cache.iterdir()) == []


def test_movielens_corrupt_cached_archive_is_reported(fake_server):
    base, _, cache = fake_server
    cache.mkdir()
    (cache / "ml-1m.zip").write_bytes(b"not the archive")
    with pytest.raises(ChecksumError, match="delete it"):
        movielens("ml-1m", cache_dir=cache, base_url=base)
    assert (cache / "ml-1m.zip").exists()  # a user's file is not deleted


def test_movielens_md5_sidecar_when_no_checksum_is_known(fake_server, monkeypatch):
    base, archive, cache = fake_server
    monkeypatch.setitem(datasets.MOVIELENS_SHA256, "ml-1m", None)
    monkeypatch.setitem(datasets.MOVIELENS_MD5, "ml-1m", None)
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    (archive.parent / "ml-1m.zip.md5").write_text(f"MD5 (ml-1m.zip) = {md5}\n")
    assert movielens("ml-1m", cache_dir=cache, base_url=base).nnz == 3
    assert (cache / "ml-1m.zip.md5").is_file()
    (cache / "ml-1m.zip").unlink()
    (cache / "ml-1m.zip.md5").write_text("MD5 (ml-1m.zip) = " + "f" * 32 + "\n")
    with pytest.raises(ChecksumError, match="MD5"):
        movielens("ml-1m", cache_dir=cache, base_url=base)
    assert not (cache / "ml-1m.zip").exists()


def test_movielens_offline_error_names_variant_url_and_manual_path(tmp_path):
    base = (tmp_path / "nowhere").as_uri() + "/"
    with pytest.raises(DownloadError) as err:
        movielens("ml-100k", cache_dir=tmp_path / "cache", base_url=base)
    msg = str(err.value)
    assert "'ml-100k'" in msg and base + "ml-100k.zip" in msg
    assert str(tmp_path / "cache" / "ml-100k.zip") in msg
    assert isinstance(err.value, OSError)
    assert [p.name for p in (tmp_path / "cache").iterdir()] == []
    with pytest.raises(DownloadError, match="download=False"):
        movielens("ml-100k", cache_dir=tmp_path / "cache", download=False)
    with pytest.raises(InputValueError, match="variant"):
        movielens("ml-5m", cache_dir=tmp_path)


# ============================================================== synthetic_ratings
@pytest.fixture(scope="module")
def syn() -> SyntheticData:
    return synthetic_ratings(n_users=3000, n_items=800, n_ratings=200_000, rank=6, noise=0.4,
                             seed=11, rating_scale=(-50.0, 50.0))


def test_synthetic_shape_count_canonical(syn):
    data = syn.interactions
    m = data.matrix
    assert data.shape == (3000, 800) and data.nnz == 200_000
    assert data.user_ids.tolist() == list(range(3000))
    rows = data.row_indices().astype(np.int64)
    keys = rows * 800 + m.indices
    assert np.all(np.diff(keys) > 0)  # sorted by (user, item): no duplicate pair
    assert np.diff(m.indptr).min() >= 20
    assert m.indices.dtype == np.int32 and m.data.dtype == np.float32
    assert syn.user_factors.shape == (3000, 6) and syn.item_factors.shape == (800, 6)


def test_synthetic_heavy_tailed_users_and_power_law_items(syn):
    counts = np.diff(syn.interactions.matrix.indptr)
    assert counts.max() > 5 * np.median(counts)
    pop = np.sort(np.bincount(syn.interactions.matrix.indices, minlength=800))[::-1]
    assert pop[:80].sum() / pop.sum() > 0.4  # top 10% of items
    top = np.argsort(syn.item_weights)[::-1][:80]
    assert not np.array_equal(np.sort(top), np.arange(80))  # popularity is not id order
    per_item = np.bincount(syn.interactions.matrix.indices, minlength=800)
    assert per_item[top[0]] > 0.5 * 3000  # the most popular item: most users rated it
    assert np.corrcoef(np.log(syn.item_weights), np.log1p(per_item))[0, 1] > 0.8
    steep = synthetic_ratings(n_users=300, n_items=200, n_ratings=30_000, seed=1,
                              item_popularity_exponent=3.0)
    assert steep.interactions.nnz == 30_000
    flat = synthetic_ratings(n_users=500, n_items=400, n_ratings=20_000, seed=1,
                             item_popularity_exponent=0.0)
    fpop = np.sort(np.bincount(flat.interactions.matrix.indices, minlength=400))[::-1]
    assert fpop[:40].sum() / fpop.sum() < 0.2


def test_synthetic_ground_truth_matches_noise(syn):
    data = syn.interactions
    expected = syn.expected(data.row_indices(), data.matrix.indices)
    rmse = np.sqrt(np.mean((expected - data.values) ** 2))
    assert abs(rmse - syn.noise) < 0.15 * syn.noise
    assert abs(np.mean(data.values) - syn.global_mean) < 0.3
    rng = np.random.default_rng(0)
    u, i = rng.integers(0, 3000, 20_000), rng.integers(0, 800, 20_000)
    interaction = syn.expected(u, i) - syn.global_mean - syn.user_bias[u] - syn.item_bias[i]
    assert 0.6 < np.std(interaction) < 1.0  # planted at 0.8
    with pytest.raises(InputValueError, match="users"):
        syn.expected([3000], [0])


def test_synthetic_deterministic_and_thread_independent(monkeypatch):
    kw = dict(n_users=400, n_items=300, n_ratings=30_000, seed=5)
    a = synthetic_ratings(**kw)
    monkeypatch.setattr(datasets.synthetic, "_max_numba_threads", lambda: 1)
    b = synthetic_ratings(**kw)
    assert np.array_equal(a.interactions.matrix.indices, b.interactions.matrix.indices)
    assert np.array_equal(a.interactions.matrix.data, b.interactions.matrix.data)
    assert np.array_equal(a.user_factors, b.user_factors)
    c = synthetic_ratings(**{**kw, "seed": 6})
    assert not np.array_equal(a.interactions.matrix.indices, c.interactions.matrix.indices)


def test_synthetic_scale_rounding_and_caps():
    s = synthetic_ratings(n_users=300, n_items=200, n_ratings=20_000, seed=2, rounded=True,
                          noise=1.0)
    v = s.interactions.values
    assert v.min() >= 1 and v.max() <= 5 and np.array_equal(v, np.round(v))
    assert set(np.unique(v).tolist()) == {1.0, 2.0, 3.0, 4.0, 5.0}
    assert s.interactions.rating_scale == (1.0, 5.0)
    dense = synthetic_ratings(n_users=50, n_items=30, n_ratings=1400, seed=3)
    counts = np.diff(dense.interactions.matrix.indptr)
    assert counts.sum() == 1400 and counts.max() == 30  # capped at n_items
    few = synthetic_ratings(n_users=100, n_items=50, n_ratings=500, seed=3)
    assert few.interactions.nnz == 500  # floor lowered to n_ratings // n_users
    assert np.diff(few.interactions.matrix.indptr).min() >= 5
    full = synthetic_ratings(n_users=7, n_items=9, n_ratings=63, seed=0)
    assert full.interactions.nnz == 63
    with pytest.raises(InputValueError, match="n_ratings"):
        synthetic_ratings(n_users=7, n_items=9, n_ratings=64)
    with pytest.raises(InputValueError, match="implicit"):
        synthetic_ratings(n_users=7, n_items=9, n_ratings=10, implicit="yes")


def test_synthetic_implicit_counts_and_binary():
    kw = dict(n_users=600, n_items=500, n_ratings=40_000, seed=4)
    counts = synthetic_ratings(implicit=True, **kw)
    v = counts.interactions.values
    assert v.min() >= 1 and np.array_equal(v, np.round(v)) and v.max() > 1
    assert counts.implicit == "counts" and counts.interactions.rating_scale is None
    binary = synthetic_ratings(implicit="binary", **kw)
    assert np.all(binary.interactions.values == 1)
    # implicit pairs are chosen by preference: observed pairs score above random pairs
    data = binary.interactions
    seen = binary.expected(data.row_indices(), data.matrix.indices).mean()
    rng = np.random.default_rng(0)
    anywhere = binary.expected(rng.integers(0, 600, 40_000), rng.integers(0, 500, 40_000))
    assert seen > anywhere.mean() + 0.2


def test_synthetic_kernel_select_and_sort_helpers():
    from fastl2._kernels import synthetic as kern

    rng = np.random.default_rng(0)
    for n in (1, 2, 17, 500):
        v = rng.random(n)
        v[: n // 3] = 0.5  # ties
        for k in {0, n // 2, n - 1}:
            assert kern._kth_smallest(v.copy(), k) == np.sort(v)[k]
        a = rng.integers(0, 1000, n).astype(np.int32)
        b = a.copy()
        kern._heapsort(b, 0, n)
        assert np.array_equal(b, np.sort(a))
    w = np.array([3, 0, 5, 1, 0, 2, 7], dtype=np.int64)
    tree = kern.fenwick_build(w)
    cum = np.cumsum(w)
    for x in range(int(cum[-1])):  # every x maps to the item whose interval holds it
        assert kern._fenwick_find(tree, x, 4) == np.searchsorted(cum, x, side="right")
    kern._fenwick_add(tree, 2, -5)
    assert kern._fenwick_find(tree, 3, 4) == 3  # item 2 removed: x=3 now falls on item 3


# ============================================================== shared data
def test_read_shared_ml_latest_small():
    path = SHARED_DATA / "ml-latest-small.tsv.gz"
    if not path.is_file():
        pytest.skip(f"{path} not available (shared datasets are optional)")
    data = read_ratings(path, sep="\t", columns=("user", "item", "rating", "timestamp"))
    assert (data.nnz, data.n_users, data.n_items) == (100_004, 671, 9_066)
    assert data.values.min() == 0.5 and data.values.max() == 5.0
    assert data.timestamps is not None and data.timestamps.size == 100_004
