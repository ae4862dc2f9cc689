"""Command line: the demo's numbers and the exit-code contract (0 / 1 / 2)."""

from __future__ import annotations

import re

import pytest

from fastl2 import __version__
from fastl2.cli import main


def test_demo_reports_rmse_near_noise_floor(capsys):
    rc = main(["demo", "--users", "1000", "--items", "300", "--ratings", "80000",
               "--iterations", "30", "--factors", "16", "--seed", "1"])
    out = capsys.readouterr().out
    assert rc == 0
    match = re.search(r"test RMSE ([0-9.]+)\s+\(noise floor ([0-9.]+)", out)
    assert match, out
    test_rmse, floor = float(match.group(1)), float(match.group(2))
    assert floor == pytest.approx(0.5)
    assert test_rmse < 1.5 * floor
    assert "M updates/s" in out


def test_user_error_exits_1_with_one_line(capsys):
    rc = main(["demo", "--factors", "0", "--ratings", "1000", "--users", "50", "--items", "20"])
    err = capsys.readouterr().err
    assert rc == 1
    assert len(err.strip().splitlines()) == 1
    assert "factors" in err and "Traceback" not in err


def test_usage_error_exits_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["no-such-command"])
    assert info.value.code == 2


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert __version__ in capsys.readouterr().out
