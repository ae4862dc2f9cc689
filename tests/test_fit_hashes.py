"""Refactors keep results bit-identical: SHA-256 of fitted models, recorded before a change.

``tests/fit_hashes.json`` holds, per vector width and model of the CPU (the SGD rows are
padded to half a vector and the kernels sum in vector-sized pieces, so the bits depend on the
width; LLVM's choice of code for the Cholesky kernels' float32 reductions depends on the CPU
model: ALS-WR in float32 differs between Zen 4 and Rocket Lake, both 64-byte), the hash of
every array a fit produces for SGD (constant and AdaGrad), ALS-WR, implicit CG and implicit
Cholesky, in float32 and float64, asymmetric (user, item) parameters included. Fits on a Dask
cluster equal the local ones bit for bit (tests/test_distributed.py), so these hashes pin
them too; ``test_distributed_fit_hashes`` checks two of them directly.

To record on a CPU of a new width or model (only before a change that must keep the
bits, from a checkout of the commit before it)::

    python tests/test_fit_hashes.py --record
"""

from __future__ import annotations

import hashlib
import json
import pathlib
import sys

import numpy as np
import pytest
import scipy.sparse as sp

import fastl2
from fastl2._kernels import simd

HASH_FILE = pathlib.Path(__file__).with_name("fit_hashes.json")


def _ratings():
    rng = np.random.default_rng(11)
    n_users, n_items = 150, 110
    U, V = rng.normal(size=(n_users, 5)), rng.normal(size=(n_items, 5))
    mask = rng.random((n_users, n_items)) < 0.3
    u, i = np.nonzero(mask)
    r = np.clip(np.round(3 + 0.5 * (U[u] * V[i]).sum(1) + rng.normal(0, 0.3, u.size)), 1, 5)
    return u, i, r


def _counts():
    u, i, r = _ratings()
    return sp.csr_matrix((r, (u, i)), shape=(u.max() + 1, i.max() + 1))


def _cases():
    """name → (estimator factory, data factory); data for BiasedMF is (users, items, ratings)."""
    cases = {}
    for dt in (np.float32, np.float64):
        n = np.dtype(dt).name
        cases[f"sgd-{n}"] = (lambda dt=dt: fastl2.BiasedMF(
            factors=10, iterations=6, random_state=1, dtype=dt, n_blocks=3,
            regularization=(0.05, 0.1), learning_rate=(0.01, 0.02),
            bias_regularization=(0.01, 0.03)), _ratings)
        cases[f"sgd-adagrad-{n}"] = (lambda dt=dt: fastl2.BiasedMF(
            factors=9, iterations=5, random_state=2, dtype=dt, n_blocks=2,
            learning_rate=0.05, learning_rate_schedule="adagrad",
            bias_learning_rate=(0.02, 0.0)), _ratings)
        cases[f"als-wr-{n}"] = (lambda dt=dt: fastl2.BiasedMF(
            solver="als", factors=10, iterations=4, random_state=3, dtype=dt,
            regularization=(0.05, 0.1), bias_regularization=(0.01, 0.03)), _ratings)
        cases[f"ials-cg-{n}"] = (lambda dt=dt: fastl2.ImplicitALS(
            factors=12, iterations=4, random_state=4, dtype=dt, use_cg=True,
            calculate_training_loss=True), _counts)
        cases[f"ials-cholesky-{n}"] = (lambda dt=dt: fastl2.ImplicitALS(
            factors=12, iterations=4, random_state=5, dtype=dt, use_cg=False,
            regularization=0.1, alpha=2.0), _counts)
    return cases


CASES = _cases()


def model_hash(model) -> str:
    """SHA-256 over every fitted array (name, dtype, shape, bytes) and the loss history."""
    h = hashlib.sha256()
    for name, arr in sorted(model._state_arrays().items()):
        a = np.ascontiguousarray(arr)
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def fit_case(name: str, fit=None, num_threads: int | None = None):
    """Case ``name`` fitted locally, or by ``fit(model, data)``; ``num_threads`` overrides
    the model's (default: all cores)."""
    make_model, make_data = CASES[name]
    model, data = make_model(), make_data()
    if num_threads is not None:
        model.set_params(num_threads=num_threads)
    if fit is not None:
        return fit(model, data)
    if isinstance(model, fastl2.ImplicitALS):
        return model.fit(data, show_progress=False)
    return model.fit(data)


def _machine_key() -> str:
    """``"{vector bytes}:{LLVM's name of the host CPU}"``, e.g. ``"64:znver4"``."""
    import llvmlite.binding as llvm  # deferred: only this file needs the CPU's name
    return f"{simd.VECTOR_BYTES}:{llvm.get_host_cpu_name()}"


def _recorded() -> dict:
    table = json.loads(HASH_FILE.read_text())
    key = _machine_key()
    if key not in table:
        pytest.skip(f"no fit hashes recorded for this CPU ({key}; recorded: "
                    f"{', '.join(sorted(table))}; record with: python {__file__} --record)")
    return table[key]


@pytest.mark.parametrize("name", sorted(CASES))
def test_fit_hashes_are_unchanged(name):
    assert model_hash(fit_case(name)) == _recorded()[name]


@pytest.mark.parametrize("name", ["sgd-float32", "als-wr-float64", "ials-cg-float32",
                                  "ials-cholesky-float64"])
def test_fit_hashes_hold_on_one_thread(name):
    """The recorded bits (all cores) are those of a one-thread fit too."""
    assert model_hash(fit_case(name, num_threads=1)) == _recorded()[name]


if __name__ == "__main__" and "--record" in sys.argv:
    table = json.loads(HASH_FILE.read_text()) if HASH_FILE.exists() else {}
    table[_machine_key()] = {name: model_hash(fit_case(name)) for name in sorted(CASES)}
    HASH_FILE.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
    print(json.dumps(table, indent=1))
