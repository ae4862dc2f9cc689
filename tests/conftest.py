"""Shared fixtures. Tests that use ../shared/data skip cleanly when it is absent."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

SHARED_DATA = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"


def shared_file(name: str) -> pathlib.Path:
    """Path of a shared dataset, or skip the test when it is not on this machine."""
    path = SHARED_DATA / name
    if not path.is_file():
        pytest.skip(f"{path} not available (shared datasets are optional)")
    return path


@pytest.fixture
def planted():
    """A small planted low-rank rating problem: (users, items, ratings, truth, mask)."""
    rng = np.random.default_rng(7)
    n_users, n_items, rank = 120, 90, 4
    U = rng.normal(size=(n_users, rank)) * 0.6
    V = rng.normal(size=(n_items, rank)) * 0.6
    bu = rng.normal(size=n_users) * 0.3
    bi = rng.normal(size=n_items) * 0.3
    truth = 3.0 + bu[:, None] + bi[None, :] + U @ V.T
    mask = rng.random((n_users, n_items)) < 0.35
    u, i = np.nonzero(mask)
    r = truth[u, i] + rng.normal(0, 0.05, u.size)
    return u, i, r, truth, mask
