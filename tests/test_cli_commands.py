"""``fastl2 train / evaluate / recommend / similar`` on tiny files: results, the JSON
documents of docs/cli.md, error lines and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest

from fastl2 import load
from fastl2.cli import main
from fastl2.datasets import synthetic_ratings


def _write(path, users, items, values, header=None, sep="\t", prefix=("", "")):
    with open(path, "w") as fh:
        if header:
            fh.write(header + "\n")
        for u, i, v in zip(users, items, values):
            fh.write(f"{prefix[0]}{u}{sep}{prefix[1]}{i}{sep}{v:.3f}\n")
    return str(path)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A planted rating set split 90/10 into train.tsv / test.tsv, and a csv with string ids
    and a header."""
    d = tmp_path_factory.mktemp("cli")
    syn = synthetic_ratings(n_users=400, n_items=120, n_ratings=16_000, rank=4, noise=0.3,
                            seed=3)
    u, i, r = syn.interactions.to_arrays()
    test = np.random.default_rng(0).random(u.size) < 0.1
    return {
        "dir": d,
        "noise": syn.noise,
        "train": _write(d / "train.tsv", u[~test], i[~test], r[~test]),
        "test": _write(d / "test.tsv", u[test], i[test], r[test]),
        "csv": _write(d / "clicks.csv", u, i, np.ones(u.size), header="user,item,count",
                      sep=",", prefix=("u", "m")),
        "arrays": (u[~test], i[~test]),
        "std": float(np.std(r)),  # RMSE of predicting the mean rating
    }


def _run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _json(capsys, *argv):
    rc, out, err = _run(capsys, *argv, "--json")
    assert rc == 0, err
    return json.loads(out)


@pytest.fixture(scope="module")
def explicit_model(files):
    path = files["dir"] / "explicit.npz"
    assert main(["train", files["train"], "--factors", "8", "--iterations", "30",
                 "--out", str(path), "-q"]) == 0
    return str(path)


def test_train_then_evaluate_reaches_near_the_noise_floor(files, explicit_model, capsys):
    doc = _json(capsys, "evaluate", files["test"], "--model", explicit_model)
    assert doc["command"] == "evaluate" and doc["model"] == "BiasedMF"
    assert set(doc["metrics"]) == {"rmse", "mae"}
    assert doc["metrics"]["rmse"] < 1.6 * files["noise"]
    assert 0 < doc["known_interactions"] <= doc["interactions"]
    model = load(explicit_model)
    assert model.factors == 8 and model.n_iter_ >= 1


def test_train_json_summary_and_validation_early_stopping(files, capsys, tmp_path):
    out = tmp_path / "m.npz"
    doc = _json(capsys, "train", files["train"], "--factors", "4", "--iterations", "15",
                "--validation", "0.1", "--out", out, "-q")
    assert doc["command"] == "train" and doc["model"] == "BiasedMF"
    assert doc["params"]["factors"] == 4
    assert doc["interactions"] > 0 and doc["users"] > 0
    assert 1 <= doc["best_iteration"] <= 15
    assert doc["validation_rmse"] < 0.9 * files["std"]
    assert doc["out"] == str(out) and load(out).best_iteration_ == doc["best_iteration"] - 1


def test_recommend_by_external_ids_excludes_seen_items(files, explicit_model, capsys):
    users, items = files["arrays"]
    doc = _json(capsys, "recommend", explicit_model, "--user", users[0], "--user", users[1],
                "-n", "5", "--exclude-seen", files["train"])
    assert doc["command"] == "recommend" and doc["N"] == 5
    model = load(explicit_model)
    for res in doc["results"]:
        seen = set(items[users == res["user"]].tolist())
        assert len(res["items"]) == 5 and not seen & set(res["items"])
        assert res["scores"] == sorted(res["scores"], reverse=True)
        # the model's unclipped score μ + b_u + b_i + p·q
        row = int(model.user_map_.to_index([res["user"]])[0])
        cols = model.item_map_.to_index(res["items"])
        raw = (model.global_mean_ + model.user_bias_[row] + model.item_bias_[cols]
               + model.item_factors_[cols] @ model.user_factors_[row])
        np.testing.assert_allclose(res["scores"], raw, rtol=1e-4, atol=1e-4)
    rc, text, _ = _run(capsys, "recommend", explicit_model, "--user", users[0], "-n", "3")
    assert rc == 0 and len(text.strip().splitlines()) == 4  # header + 3 rows


def test_similar_leaves_the_item_out_and_matches_the_library(files, explicit_model, capsys):
    doc = _json(capsys, "similar", explicit_model, "--item", files["arrays"][1][0], "-n", "4")
    res = doc["results"][0]
    assert res["item"] not in res["items"] and len(res["items"]) == 4
    model = load(explicit_model)
    row = int(model.item_map_.to_index([res["item"]])[0])
    ids, scores = model.similar_items(row, N=5)
    expect = [x for x in model.item_map_.to_ids(ids).tolist() if x != res["item"]][:4]
    assert res["items"] == expect
    assert all(-1.0 - 1e-6 <= s <= 1.0 + 1e-6 for s in res["scores"])


def test_implicit_model_on_a_csv_with_string_ids(files, capsys, tmp_path):
    out = tmp_path / "imp.npz"
    doc = _json(capsys, "train", files["csv"], "--model", "implicit-als", "--factors", "8",
                "--iterations", "5", "--cholesky", "--out", out, "-q")
    assert doc["model"] == "ImplicitALS" and doc["params"]["use_cg"] is False
    assert doc["users"] == 400
    ev = _json(capsys, "evaluate", files["csv"], "--model", out, "-k", "5")
    assert ev["K"] == 5 and set(ev["metrics"]) >= {"precision", "ndcg", "map", "auc"}
    assert 0.0 < ev["metrics"]["precision"] <= 1.0
    rec = _json(capsys, "recommend", out, "--user", "u1", "-n", "3")
    assert all(item.startswith("m") for item in rec["results"][0]["items"])


def test_cross_validation_of_a_model_type_and_of_a_saved_model(files, explicit_model,
                                                                capsys):
    doc = _json(capsys, "evaluate", files["train"], "--model", "biased-mf", "--cv", "3")
    assert doc["folds"] == 3 and len(doc["metrics"]["rmse"]["folds"]) == 3
    saved = _json(capsys, "evaluate", files["train"], "--model", explicit_model, "--cv", "2")
    assert saved["params"]["factors"] == 8  # the saved model's hyper-parameters
    assert saved["metrics"]["rmse"]["mean"] < 0.9 * files["std"]
    assert doc["metrics"]["rmse"]["mean"] < 0.9 * files["std"]


@pytest.mark.parametrize("argv, needle", [
    (["train", "{dir}/missing.tsv", "--out", "{dir}/x.npz"], "does not exist"),
    (["train", "{bad}", "--out", "{dir}/x.npz"], "line 2"),
    (["train", "{train}", "--out", "{dir}/no/such/dir/x.npz", "-q"], "existing directory"),
    (["train", "{train}", "--out", "{dir}/x.npz", "--factors", "0", "-q"], "factors"),
    (["train", "{train}", "--model", "implicit-als", "--validation", "0.1",
      "--out", "{dir}/x.npz"], "--validation"),
    (["train", "{train}", "--out", "{dir}/x.npz", "--dask-local", "0", "-q"],
     "--dask-local: expected an integer >= 1"),
    (["recommend", "{model}", "--user", "999999"], "unknown"),
    (["recommend", "{model}", "--user", "abc"], "integer ids"),
    (["recommend", "{dir}/truncated.npz", "--user", "1"], "cannot be read"),
    (["similar", "{dir}/pickled.npz", "--item", "1"], "never loads"),
])
def test_user_errors_exit_1_with_one_line(files, explicit_model, capsys, argv, needle):
    d = files["dir"]
    bad = d / "bad.tsv"
    bad.write_text("1\t2\t3.5\n1\t3\tfive\n")
    with open(explicit_model, "rb") as fh:
        (d / "truncated.npz").write_bytes(fh.read()[:200])
    np.save(d / "pickled.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (d / "pickled.npz").write_bytes((d / "pickled.npy").read_bytes())
    fmt = {"dir": d, "bad": bad, "train": files["train"], "model": explicit_model}
    rc, out, err = _run(capsys, *[a.format(**fmt) for a in argv])
    assert rc == 1, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    assert lines[0].startswith(f"fastl2 {argv[0]}: error:") and needle in lines[0]


def test_usage_errors_exit_2(capsys):
    for argv in (["recommend"], ["train"], ["evaluate", "x.tsv"], ["train", "x", "--model", "svd"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2


def test_train_on_a_local_dask_cluster_writes_the_same_model(files, capsys, tmp_path):
    pytest.importorskip("distributed")
    argv = ["train", files["csv"], "--model", "implicit-als", "--factors", "6",
            "--iterations", "3", "-q"]
    local = _json(capsys, *argv, "--out", tmp_path / "local.npz")
    remote = _json(capsys, *argv, "--out", tmp_path / "dask.npz", "--dask-local", "2")
    assert remote["dask_workers"] == 2 and "dask_workers" not in local
    with np.load(local["out"]) as a, np.load(remote["out"]) as b:
        assert a.files == b.files and "user_factors" in a.files
        for name in a.files:  # factors, ids, parameters and checksum: bit for bit
            np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_dask_options_exclude_each_other(files, capsys, tmp_path):
    with pytest.raises(SystemExit) as info:
        main(["train", files["train"], "--out", str(tmp_path / "x.npz"),
              "--dask-local", "2", "--dask-scheduler", "tcp://127.0.0.1:8786"])
    assert info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err
    assert not (tmp_path / "x.npz").exists()


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:1", "nonsense://x"])
def test_a_bad_scheduler_address_is_a_quick_one_line_error(files, capsys, tmp_path,
                                                           monkeypatch, address):
    pytest.importorskip("distributed")
    from fastl2.cli import everyday

    monkeypatch.setattr(everyday, "CONNECT_TIMEOUT", 1)
    t = time.perf_counter()
    rc, out, err = _run(capsys, "train", files["train"], "--out", tmp_path / "x.npz", "-q",
                        "--dask-scheduler", address)
    assert rc == 1 and time.perf_counter() - t < 10
    assert err.startswith("fastl2 train: error: --dask-scheduler: expected the address of "
                          "a running Dask scheduler (reached within 1 s)")
    assert address in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.npz").exists()


def test_without_dask_the_options_name_the_extra(files, capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "dask.distributed", None)  # import fails
    rc, out, err = _run(capsys, "train", files["train"], "--out", tmp_path / "x.npz", "-q",
                        "--dask-local", "2")
    assert rc == 1 and 'pip install "fastl2[dask]"' in err and "--dask-local" in err


def test_every_command_has_help():
    for cmd in ("demo", "train", "evaluate", "recommend", "similar"):
        res = subprocess.run([sys.executable, "-m", "fastl2.cli", cmd, "--help"],
                             capture_output=True, text=True, timeout=120)
        assert res.returncode == 0 and f"fastl2 {cmd}" in res.stdout
