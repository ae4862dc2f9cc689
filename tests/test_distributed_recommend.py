"""fastl2.distributed.recommend_all_to_parquet on a local Dask cluster of two worker processes:
the Parquet folder read back equals ``model.recommend`` exactly (skipped without
dask.distributed or pyarrow)."""

from __future__ import annotations

import os

import numpy as np
import pytest
import scipy.sparse as sp

distributed = pytest.importorskip("distributed")
pq = pytest.importorskip("pyarrow.parquet")

import fastl2  # noqa: E402
from fastl2 import distributed as fd  # noqa: E402
from fastl2.errors import InputTypeError, InputValueError, NotFittedError  # noqa: E402


@pytest.fixture(scope="module")
def client():
    """A client of a LocalCluster of two worker processes, one thread each (closed with it)."""
    with distributed.Client(n_workers=2, threads_per_worker=1, processes=True,
                            dashboard_address=None) as c:
        yield c


def _clicks(n_users=150, n_items=40, seed=0):
    """Random counts; user 3 has every item (nothing left to recommend when filtering)."""
    rng = np.random.default_rng(seed)
    counts = (rng.random((n_users, n_items)) < 0.2) * rng.integers(1, 5, (n_users, n_items))
    counts[3] = 1
    return sp.csr_matrix(counts.astype(np.float32))


@pytest.fixture(scope="module")
def int_model():
    X = _clicks()
    return fastl2.ImplicitALS(factors=6, iterations=2, random_state=0).fit(
        X, show_progress=False), X


@pytest.fixture(scope="module")
def str_model():
    X = _clicks(n_users=90, n_items=30, seed=1).tocoo()
    data = fastl2.Interactions.from_arrays([f"u{u}" for u in X.row],
                                           [f"item-{i}" for i in X.col], X.data)
    return fastl2.ImplicitALS(factors=5, iterations=2, random_state=1).fit(
        data, show_progress=False), data


def _expected(model, rows, user_items, N, **kwargs):
    """(user, rank, item, score) tuples of ``model.recommend`` for internal ``rows``."""
    seen = None if user_items is None else user_items[rows]
    ids, scores = model.recommend(rows, seen, N=N, **kwargs)
    return [(model.user_map_.ids[r], rank, model.item_map_.ids[i], s)
            for r, row_ids, row_scores in zip(rows, ids, scores)
            for rank, (i, s) in enumerate(zip(row_ids, row_scores), 1) if i >= 0]


def _read(path):
    """The folder's rows, file by file in name order, and its Arrow schema."""
    names = sorted(os.listdir(path))
    table = pq.read_table(path)
    rows = []
    for name in names:
        part = pq.read_table(os.path.join(path, name)).to_pydict()
        rows += list(zip(part["user"], part["rank"], part["item"], part["score"]))
    assert table.num_rows == len(rows)  # the folder reads as one dataset
    return names, rows, table.schema


def test_int_ids_every_user_equals_recommend(client, int_model, tmp_path):
    model, X = int_model
    out = tmp_path / "recs"
    summary = fd.recommend_all_to_parquet(model, None, client, out, N=7, user_items=X,
                                          batch_size=40)
    names, rows, schema = _read(out)
    want = _expected(model, np.arange(X.shape[0]), X, 7)
    assert rows == want
    assert names == [f"part-{b:05d}.parquet" for b in range(4)]  # 150 users by 40
    assert summary == {"path": str(out), "files": 4, "rows": len(want), "users": 150}
    assert [str(t) for t in schema.types] == ["int64", "int32", "int64", "float"]
    assert not any(r[0] == 3 for r in rows)  # user 3 has seen every item
    assert {r[1] for r in rows} == set(range(1, 8))
    assert sorted(os.listdir(tmp_path)) == ["recs"]  # no temporary folder left


def test_string_ids_subset_in_the_given_order_with_filter_items(client, str_model, tmp_path):
    model, data = str_model
    users = ["u17", "u3", "u50", "u0", "u88", "u41", "u9"]
    banned = ["item-0", "item-5", "item-29"]
    fd.recommend_all_to_parquet(model, users, client, tmp_path / "recs", N=4,
                                user_items=data, filter_items=banned, batch_size=3)
    names, rows, schema = _read(tmp_path / "recs")
    rows_idx = model.user_map_.to_index(users)
    want = _expected(model, rows_idx, data.matrix, 4,
                     filter_items=model.item_map_.to_index(banned))
    assert rows == want and len(names) == 3
    # the users in the given order; u3 has seen every item, so has no row
    assert list(dict.fromkeys(r[0] for r in rows)) == [u for u in users if u != "u3"]
    assert not {r[2] for r in rows} & set(banned)
    assert str(schema.field("user").type) == "string" and str(schema.field("item").type) \
        == "string"


def test_biased_mf_without_filtering_or_bias_and_fewer_items_than_n(client, tmp_path):
    ratings = _clicks(n_users=60, n_items=25, seed=2)
    ratings.data += 0.5
    data = fastl2.Interactions.from_sparse(ratings)
    model = fastl2.BiasedMF(factors=4, iterations=3, dtype=np.float64, random_state=0)
    model.fit(data)
    fd.recommend_all_to_parquet(model, None, client, tmp_path / "all", N=30,
                                filter_already_liked_items=False, include_bias=False)
    _, rows, schema = _read(tmp_path / "all")
    want = _expected(model, np.arange(60), None, 30, filter_already_liked_items=False,
                     include_bias=False)
    assert rows == want and len(rows) == 60 * 25  # N > items: every item once per user
    assert str(schema.field("score").type) == "double"
    fd.recommend_all_to_parquet(model, None, client, tmp_path / "unseen", N=30,
                                user_items=data.matrix)
    _, rows, _ = _read(tmp_path / "unseen")
    assert rows == _expected(model, np.arange(60), data.matrix, 30)
    assert len(rows) == 60 * 25 - data.nnz


def test_overwrite_replaces_only_an_earlier_output(client, int_model, tmp_path):
    model, X = int_model
    out = tmp_path / "recs"
    fd.recommend_all_to_parquet(model, None, client, out, N=2, user_items=X, batch_size=50)
    before = sorted(os.listdir(out))
    with pytest.raises(InputValueError, match="path: .*overwrite=True"):
        fd.recommend_all_to_parquet(model, None, client, out, N=3, user_items=X)
    assert sorted(os.listdir(out)) == before and len(before) == 3
    summary = fd.recommend_all_to_parquet(model, None, client, out, N=3, user_items=X,
                                          batch_size=100, overwrite=True)
    names, rows, _ = _read(out)
    assert names == ["part-00000.parquet", "part-00001.parquet"] and summary["files"] == 2
    assert rows == _expected(model, np.arange(150), X, 3)
    (out / "notes.txt").write_text("mine")
    with pytest.raises(InputValueError, match="notes.txt"):
        fd.recommend_all_to_parquet(model, None, client, out, N=3, user_items=X,
                                    overwrite=True)
    assert (out / "notes.txt").read_text() == "mine"
    assert sorted(os.listdir(tmp_path)) == ["recs"]


def test_an_empty_folder_is_used(client, int_model, tmp_path):
    model, X = int_model
    (tmp_path / "recs").mkdir()
    summary = fd.recommend_all_to_parquet(model, [5, 6], client, tmp_path / "recs", N=2,
                                          user_items=X)
    assert summary["rows"] == 4 and _read(tmp_path / "recs")[1] == _expected(
        model, np.array([5, 6]), X, 2)


def test_a_failing_task_leaves_no_folder(client, int_model, tmp_path):
    model, X = int_model

    class Failing(fastl2.ImplicitALS):  # a local class: sent to the workers by value
        def recommend(self, userid, *args, **kwargs):
            if 100 in self.user_map_.ids:
                raise RuntimeError("planted failure")
            return super().recommend(userid, *args, **kwargs)

    failing = Failing(factors=6, iterations=2, random_state=0).fit(X, show_progress=False)
    with pytest.raises(RuntimeError, match="planted failure"):
        fd.recommend_all_to_parquet(failing, None, client, tmp_path / "recs", N=3,
                                    user_items=X, batch_size=30)
    assert os.listdir(tmp_path) == []  # neither the folder nor the temporary one


@pytest.mark.parametrize("change, error, needle", [
    (dict(model=fastl2.ImplicitALS()), NotFittedError, "not fitted"),
    (dict(model="model.npz"), InputTypeError, "model: expected a fitted fastl2 model"),
    (dict(users=[0, 1, 999]), InputValueError, "users: .*unknown ids such as \\[999\\]"),
    (dict(users=["a"]), InputValueError, "users: "),
    (dict(users=[4, 2, 4]), InputValueError, "users: expected distinct user ids"),
    (dict(users=[]), InputValueError, "users: expected at least one"),
    (dict(N=0), InputValueError, "N: expected an integer >= 1, got 0"),
    (dict(N=2.5), InputTypeError, "N: "),
    (dict(user_items=None), InputValueError, "user_items: .*filter_already_liked_items"),
    (dict(user_items="X.T"), InputValueError, "user_items: .*shape \\(150, 40\\)"),
    (dict(user_items="other ids"), InputValueError, "user_items: .*the model's id maps"),
    (dict(filter_items=[1, 77]), InputValueError, "filter_items: .*unknown"),
    (dict(batch_size=0), InputValueError, "batch_size: "),
    (dict(overwrite="yes"), InputTypeError, "overwrite: expected True or False"),
    (dict(client="tcp://scheduler:8786"), InputTypeError, "client: expected a dask"),
    (dict(path="{tmp}/missing/recs"), InputValueError, "path: expected a folder in an "
     "existing directory"),
    (dict(path="{tmp}/file"), InputValueError, "path: expected a folder \\(not a file"),
])
def test_bad_arguments_are_named_and_nothing_is_written(client, int_model, tmp_path,
                                                         change, error, needle):
    model, X = int_model
    (tmp_path / "file").write_text("x")
    other = fastl2.Interactions.from_sparse(X, user_ids=np.arange(150) + 1000)
    special = {"X.T": X.T.tocsr(), "other ids": other}
    args = dict(model=model, users=None, client=client, path=str(tmp_path / "recs"), N=3,
                user_items=X)
    args.update({k: special.get(v, v) if isinstance(v, str) else v for k, v in change.items()})
    args["path"] = args["path"].format(tmp=tmp_path)
    with pytest.raises(error, match=needle):
        fd.recommend_all_to_parquet(**args)
    assert sorted(os.listdir(tmp_path)) == ["file"]
