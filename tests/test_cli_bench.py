"""``fastl2 bench``: the report's documented JSON schema, its tables, ratios computed from
its own rows, peers reported (ok or skipped, never an error), and bad options."""

from __future__ import annotations

import importlib.util
import json

import pytest

from fastl2.bench import suite as bench_suite
from fastl2.cli import main

ROW_KEYS = {"kernel", "data", "factors", "dtype", "contender", "threads", "status"}
OK_KEYS = {"seconds", "spread_seconds", "repeats", "throughput", "throughput_unit",
           "first_seconds"}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    d = tmp_path_factory.mktemp("bench")
    paths = {"json": d / "r.json", "md": d / "r.md"}
    rc = main(["bench", "--quick", "--threads", "1,2", "--repeat", "2", "--peers",
               "--no-progress", "--json", str(paths["json"]), "--markdown", str(paths["md"])])
    assert rc == 0
    return json.loads(paths["json"].read_text()), paths["md"].read_text()


def test_report_schema(report):
    doc, _ = report
    assert doc["schema"] == "fastl2-bench/1"
    assert {"cpu", "cores", "numba", "numpy", "threading_layer"} <= set(doc["machine"])
    assert doc["settings"]["kernels"] == list(bench_suite.KERNELS)
    assert doc["settings"]["threads"] == [1, 2] and doc["settings"]["repeat"] == 2
    for row in doc["rows"]:
        assert ROW_KEYS <= set(row), row
        assert row["status"] in ("ok", "skipped")
        if row["status"] == "ok":
            assert OK_KEYS <= set(row), row
            assert row["seconds"] > 0 and row["throughput"] > 0
        else:
            assert row["reason"]


def test_machine_scaling_is_measured_in_the_same_run(report):
    """With several thread counts the report carries the machine's own 1 / N thread ratios
    (memory triad, and SGEMM when BLAS threads can be set): the ceiling to read the kernels'
    scaling against."""
    doc, md = report
    sc = doc["machine"]["scaling"]
    assert sc["threads"] == 2
    one, two = sc["triad_gb_per_s"]
    assert one > 0 and two > 0
    assert sc["triad_ratio"] == pytest.approx(two / one, rel=1e-9)
    if bench_suite.blas_controlled():
        g1, g2 = sc["sgemm_gflops"]
        assert sc["sgemm_ratio"] == pytest.approx(g2 / g1, rel=1e-9)
    assert "memory triad 1 thr / 2 thr = " in md


def test_every_kernel_has_fastl2_per_thread_count_and_a_numpy_baseline(report):
    doc, _ = report
    for kernel in bench_suite.KERNELS:
        rows = [r for r in doc["rows"] if r["kernel"] == kernel and r["status"] == "ok"]
        ours = sorted(r["threads"] for r in rows if r["contender"] == "fastl2")
        assert ours == [1, 2], kernel
        assert any(r["contender"] == "numpy" for r in rows), kernel
        for r in rows:
            if r["contender"] == "fastl2":
                assert r["repeats"] == 2 and r["first_seconds"] is not None


def test_quality_is_reported_and_sane(report):
    doc, _ = report
    fastl2 = {(r["kernel"], r["threads"]): r for r in doc["rows"]
              if r["contender"] == "fastl2"}
    for kernel in ("sgd", "als"):
        # planted noise std 0.5: a fitted model is well below the ratings' spread
        assert 0.4 < fastl2[kernel, 1]["quality"]["rmse"] < 1.2
    # identical factors for 1 and 2 threads, hence identical quality
    assert fastl2["ials", 1]["quality"] == fastl2["ials", 2]["quality"]
    assert fastl2["ials-chol", 1]["quality"] == fastl2["ials-chol", 2]["quality"]
    assert 0.0 < fastl2["eval", 1]["quality"]["precision@10"] <= 1.0


def test_ratios_are_computed_from_the_rows(report):
    doc, _ = report
    by = {(r["kernel"], r["contender"], r["threads"]): r["seconds"] for r in doc["rows"]
          if r["status"] == "ok"}
    for ratio in doc["ratios"]:
        k = ratio["kernel"]
        if ratio["ratio"] == "fastl2 1 thr / 2 thr":
            expect = by[k, "fastl2", 1] / by[k, "fastl2", 2]
        else:
            name = ratio["ratio"].split(" / ")[0]
            other = next(s for (kk, c, _), s in by.items() if kk == k and c == name)
            expect = other / by[k, "fastl2", 2]
        assert ratio["value"] == pytest.approx(expect)
    assert {r["kernel"] for r in doc["ratios"] if r["ratio"].startswith("numpy")} == \
        set(bench_suite.KERNELS)


PEER_ROWS = {  # contender -> (kernel, module)
    "surprise SVD": ("sgd", "surprise"),
    "libmf FPSGD (PyPI build)": ("sgd", "libmf"),
    "libmf FPSGD (SIMD build)": ("sgd", "libmf"),
    "lenskit BiasedMF": ("als", "lenskit"),
    "implicit ALS (CG)": ("ials", "implicit"),
    "implicit BPR": ("ials", "implicit"),
    "implicit ALS (Cholesky)": ("ials-chol", "implicit"),
    "lenskit ImplicitMF": ("ials-chol", "lenskit"),
    "implicit recommend": ("topk", "implicit"),
    "implicit evaluation": ("eval", "implicit"),
}


def test_peers_are_run_or_skipped_never_an_error(report):
    doc, _ = report
    peers = {r["contender"]: r for r in doc["rows"] if r["contender"] not in ("fastl2", "numpy")}
    assert set(peers) == set(PEER_ROWS)
    for name, (kernel, module) in PEER_ROWS.items():
        r = peers[name]
        assert r["kernel"] == kernel
        installed = importlib.util.find_spec(module) is not None
        if not installed:
            assert r["status"] == "skipped" and module in r["reason"], r
        elif name == "libmf FPSGD (SIMD build)":  # needs --libmf-simd, not given here
            assert r["status"] == "skipped" and "--libmf-simd" in r["reason"]
        else:
            assert r["status"] == "ok", r
            assert kernel == "topk" or r["quality"], r
    # BPR is another algorithm: shown, never turned into a speed ratio
    if peers["implicit BPR"]["status"] == "ok":
        assert peers["implicit BPR"]["comparable"] is False
    assert not [x for x in doc["ratios"] if x["ratio"].startswith("implicit BPR")]


def test_ratios_leave_out_rows_that_are_not_comparable():
    base = {"kernel": "ials", "data": "d", "factors": 8, "dtype": "float32", "status": "ok"}
    rows = [{**base, "contender": "fastl2", "threads": 2, "seconds": 1.0},
            {**base, "contender": "peer A", "threads": 2, "seconds": 3.0},
            {**base, "contender": "peer B", "threads": 2, "seconds": 5.0, "comparable": False}]
    out = bench_suite.ratios(rows)
    assert [(r["ratio"], r["value"]) for r in out] == [("peer A / fastl2 2 thr", 3.0)]


def test_a_failing_child_peer_is_a_skipped_row(monkeypatch):
    """A peer process that fails (here: the module check passes, the import in the child
    does not) gives a skipped row with the child's last error line, not an exception."""
    from fastl2.bench import peers as bench_peers
    from fastl2.datasets import synthetic_ratings

    if importlib.util.find_spec("libmf") is not None:
        pytest.skip("libmf is installed: the child would succeed")
    monkeypatch.setitem(bench_peers._MODULES, "libmf FPSGD (PyPI build)", "json")
    data = synthetic_ratings(50, 20, 400, seed=0).interactions
    s = bench_suite.Setup(factors=4, dtype="float32", threads=[1], repeat=1, seed=0,
                          peers=True, label="t")
    files = bench_peers.DataFiles()
    try:
        row = bench_peers.child_peer("libmf FPSGD (PyPI build)", files, data, data, s)
    finally:
        files.close()
    assert row["status"] == "skipped"
    assert row["reason"].startswith("failed (exit 1)") and "libmf" in row["reason"]


def test_markdown_tables(report):
    doc, md = report
    lines = md.splitlines()
    table = [ln for ln in lines if ln.startswith("| ") and "contender" not in ln
             and ln.count("|") > 6]
    assert len(table) == len(doc["rows"])
    assert "| kernel | k | ratio | value |" in md


@pytest.mark.parametrize("argv, needle", [
    (["--kernels", "sgd,nope"], "--kernels"),
    (["--threads", "0"], "--threads"),
    (["--factors", "a,b"], "--factors"),
    (["--repeat", "0"], "--repeat"),
    (["--peers", "--libmf-simd", "/nonexistent/libmf.so"], "--libmf-simd"),
])
def test_bad_options_exit_1(capsys, argv, needle):
    rc = main(["bench", "--quick", "--no-progress", *argv])
    err = capsys.readouterr().err
    assert rc == 1 and needle in err and len(err.strip().splitlines()) == 1


def test_one_thread_count_measures_no_machine_scaling(tmp_path, capsys):
    rc = main(["bench", "--quick", "--kernels", "sgd", "--threads", "1", "--no-progress",
               "--json", str(tmp_path / "r.json")])
    assert rc == 0
    assert "scaling" not in json.loads((tmp_path / "r.json").read_text())["machine"]
    assert "machine scaling" not in capsys.readouterr().out


def test_plot_needs_matplotlib(tmp_path, capsys):
    if importlib.util.find_spec("matplotlib") is not None:
        rc = main(["bench", "--quick", "--kernels", "sgd", "--threads", "1", "--no-progress",
                   "--plot", str(tmp_path / "p.png")])
        assert rc == 0 and (tmp_path / "p.png").stat().st_size > 1000
    else:
        rc = main(["bench", "--quick", "--kernels", "sgd", "--threads", "1", "--no-progress",
                   "--plot", str(tmp_path / "p.png")])
        assert rc == 1 and "matplotlib" in capsys.readouterr().err


def test_precompile_tasks_cover_the_kernels_asked_for():
    from fastl2 import _warmup

    assert _warmup.tasks_for(["topk"], synthetic=False) == ["ials"]
    assert _warmup.tasks_for(["sgd", "eval"], synthetic=True) == ["ials", "data", "sgd"]
    assert set(_warmup.tasks_for(list(bench_suite.KERNELS), synthetic=True)) == \
        set(_warmup.COST)


def test_precompile_fills_the_on_disk_cache_of_a_fresh_directory(tmp_path, monkeypatch):
    """Worker processes compile into NUMBA_CACHE_DIR; the kernels they ran are then on disk
    (so the run itself only loads them)."""
    from fastl2 import _warmup

    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    seconds = _warmup.precompile(["sgd", "data"], "float32", serve=False, workers=2)
    assert seconds is not None and seconds > 0
    cached = {p.name.split(".")[0] for p in tmp_path.rglob("*.nbi")}
    assert {"sgd", "synthetic"} <= cached, cached
    monkeypatch.setenv("NUMBA_DISABLE_JIT", "1")
    assert _warmup.precompile(["sgd"], "float32", workers=2) is None


def test_startup_rows_cold_then_warm(monkeypatch, tmp_path):
    """``--kernels startup``: two fresh processes sharing one new cache directory, the first
    cold, the second warm; a failing process is a skipped row. (The real script compiles every
    kernel, about 20 s; here a stand-in prints the two figures it would.)"""
    script = ("import os, time; t = time.perf_counter(); "
              "n = len(os.listdir(os.environ['NUMBA_CACHE_DIR'])); "
              "open(os.path.join(os.environ['NUMBA_CACHE_DIR'], f'f{n}'), 'w').close(); "
              "print(0.25, 0.5 + n)")
    monkeypatch.setattr(bench_suite, "STARTUP_SCRIPT", script)
    path = tmp_path / "r.json"
    assert main(["bench", "--kernels", "startup", "--no-progress", "--json", str(path)]) == 0
    rows = json.loads(path.read_text())["rows"]
    assert [r["contender"] for r in rows] == ["fastl2 (cold cache)", "fastl2 (warm cache)"]
    # the second process saw what the first left in the shared cache directory
    assert [r["seconds"] for r in rows] == [0.5, 1.5]
    assert all(r["import_seconds"] == 0.25 and r["process_seconds"] > 0 for r in rows)
    monkeypatch.setattr(bench_suite, "STARTUP_SCRIPT", "raise SystemExit('no luck')")
    rows = bench_suite.bench_startup(bench_suite.Setup(8, "float32", [1], 1, 0, False, "t"))
    assert [r["status"] for r in rows] == ["skipped", "skipped"]
    assert "no luck" in rows[0]["reason"]
