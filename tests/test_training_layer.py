"""The training layer (fastl2.training): the protocols its local and Dask parts satisfy, the
parameter bundles reaching the kernels by their public names and on the right side, and the
refusal of training data without entries."""

import inspect
import types

import numpy as np
import pytest
import scipy.sparse as sp

import fastl2
from fastl2 import BiasedMF, ImplicitALS
from fastl2._reference import als as als_reference
from fastl2.errors import InputValueError
from fastl2.training import als as _als, protocols, sgd as _sgd, source, trainers
from fastl2.training.params import Pair, SGDParams


def _ratings(seed=0, n_users=60, n_items=40):
    rng = np.random.default_rng(seed)
    u, i = np.nonzero(rng.random((n_users, n_items)) < 0.3)
    r = np.clip(3.5 + rng.normal(size=u.size), 1, 5)
    return fastl2.Interactions.from_arrays(u, i, r)


# ---------------------------------------------------------------------------- protocols
def _members(proto: type) -> dict[str, inspect.Signature | None]:
    out = {}
    for name, value in vars(proto).items():
        if name.startswith("_"):
            continue
        out[name] = inspect.signature(value) if callable(value) else None
    for name in getattr(proto, "__annotations__", {}):
        out.setdefault(name, None)
    return out


def _assert_provides(cls: type, proto: type, instance_attributes: tuple = ()) -> None:
    """``cls`` has every method of ``proto`` with the same parameter names (attributes set
    in ``__init__`` are listed in ``instance_attributes``)."""
    for name, sig in _members(proto).items():
        if sig is None:
            assert name in instance_attributes or hasattr(cls, name), (cls, name)
            continue
        assert hasattr(cls, name), (cls, name)
        got = list(inspect.signature(getattr(cls, name)).parameters)
        want = list(sig.parameters)
        if "arrays" in want:  # *arrays: the sweeper's own factor and bias arrays
            continue
        assert got == want, (cls.__name__, name, got, want)


DATA_ATTRIBUTES = ("shape", "nnz", "user_map", "item_map", "rating_scale")


def test_local_and_cluster_data_provide_the_data_source_protocol():
    _assert_provides(source.Local, protocols.DataSource, DATA_ATTRIBUTES)
    pytest.importorskip("distributed")
    from fastl2.distributed._data import ClusterData

    _assert_provides(ClusterData, protocols.DataSource, DATA_ATTRIBUTES)


def test_local_and_dask_solvers_provide_their_protocols():
    _assert_provides(_sgd.LocalEpochs, protocols.Epochs)
    _assert_provides(_als.ExplicitSweeps, protocols.Sweeper, ("n_fallback",))
    _assert_provides(_als.ImplicitSweeps, protocols.ImplicitSweeper, ("n_fallback",))
    for cls in (trainers.SGDTrainer, trainers.ExplicitALSTrainer,
                trainers.ImplicitALSTrainer):
        _assert_provides(cls, protocols.Trainer, ("arrays",))
    pytest.importorskip("distributed")
    from fastl2.distributed._als import DaskExplicitSweeps, DaskImplicitSweeps
    from fastl2.distributed._dsgd import DaskEpochs

    _assert_provides(DaskEpochs, protocols.Epochs)
    _assert_provides(DaskExplicitSweeps, protocols.Sweeper, ("n_fallback",))
    _assert_provides(DaskImplicitSweeps, protocols.ImplicitSweeper, ("n_fallback",))


def test_a_local_source_is_a_data_source_at_run_time():
    assert isinstance(source.Local(_ratings()), protocols.DataSource)
    assert not isinstance(object(), protocols.DataSource)


# ---------------------------------------------------------------------------- bundles
def test_bundles_are_frozen_and_typed_in_the_model_dtype():
    p = SGDParams.of(np.float32, global_mean=3.5, factors=7, learning_rate=(0.01, 0.02),
                     bias_learning_rate=(0.03, 0.04), regularization=(0.1, 0.2),
                     bias_regularization=(0.3, 0.4), adagrad=True)
    assert p.learning_rate == Pair(np.float32(0.01), np.float32(0.02))
    assert p.bias_regularization.item == np.float32(0.4)
    assert all(type(v) is np.float32 for v in (p.global_mean, *p.learning_rate,
                                                p.inv_factors_plus_one))
    assert p.inv_factors_plus_one == np.float32(1 / 8)
    with pytest.raises(AttributeError):
        p.adagrad = False  # frozen
    args = _sgd.kernel_arguments(p)
    from fastl2._kernels import sgd as sgd_kernels

    kernel_params = list(inspect.signature(sgd_kernels.sgd_epoch.py_func).parameters)
    assert set(args) <= set(kernel_params)  # the kernel's own names
    assert args["learning_rate_user"] == p.learning_rate.user
    assert args["regularization_item"] == p.regularization.item


def _spy_sgd(monkeypatch) -> list[dict]:
    """Record the keyword arguments of every SGD epoch kernel call (the kernel still runs)."""
    from fastl2._kernels import sgd as sgd_kernels

    calls: list[dict] = []

    def epoch(*args, **kwargs):
        calls.append(kwargs)
        return sgd_kernels.sgd_epoch(*args, **kwargs)

    monkeypatch.setattr(_sgd, "sgd_kernels", types.SimpleNamespace(sgd_epoch=epoch))
    return calls


def test_sgd_pairs_reach_the_kernel_on_their_side(monkeypatch):
    calls = _spy_sgd(monkeypatch)
    BiasedMF(factors=4, iterations=2, random_state=0, dtype=np.float64,
             learning_rate=(0.011, 0.022), bias_learning_rate=(0.033, 0.044),
             regularization=(0.055, 0.066), bias_regularization=(0.077, 0.088),
             learning_rate_schedule="adagrad").fit(_ratings())
    assert len(calls) == 2
    want = dict(learning_rate_user=0.011, learning_rate_item=0.022,
                bias_learning_rate_user=0.033, bias_learning_rate_item=0.044,
                regularization_user=0.055, regularization_item=0.066,
                bias_regularization_user=0.077, bias_regularization_item=0.088,
                adagrad=True, inv_factors_plus_one=1 / 5)
    for name, value in want.items():
        assert calls[0][name] == value, name


@pytest.mark.parametrize("frozen", ["user", "item"])
def test_sgd_steps_move_only_their_side(frozen):
    """A vanishing factor step and a zero bias step on one side leave that side exactly at
    its start (the factors of a fit with no epoch), while the other side learns."""
    tiny = {"user": (1e-300, 0.05), "item": (0.05, 1e-300)}[frozen]
    bias = {"user": (0.0, 0.05), "item": (0.05, 0.0)}[frozen]
    params = dict(factors=4, random_state=3, dtype=np.float64, learning_rate=tiny,
                  bias_learning_rate=bias)
    data = _ratings()
    start = BiasedMF(iterations=0, **params).fit(data)
    model = BiasedMF(iterations=3, **params).fit(data)
    for side in ("user", "item"):
        same = side == frozen
        factors, bias_ = f"{side}_factors_", f"{side}_bias_"
        assert np.array_equal(getattr(model, factors), getattr(start, factors)) == same
        assert (not getattr(model, bias_).any()) == same


def test_sgd_regularization_pair_reaches_its_side():
    """A strong L2 on one side's factors (η·λ = 0.5 per rating) shrinks that side's factors
    an order of magnitude below the other side's."""
    data = _ratings()
    norms = {}
    for strong in ("user", "item"):
        reg = (25.0, 0.0) if strong == "user" else (0.0, 25.0)
        m = BiasedMF(factors=4, iterations=5, random_state=0, dtype=np.float64,
                     learning_rate=0.02, regularization=reg).fit(data)
        norms[strong] = (np.abs(m.user_factors_).mean(), np.abs(m.item_factors_).mean())
    assert norms["user"][0] < 0.1 * norms["user"][1]
    assert norms["item"][1] < 0.1 * norms["item"][0]


def test_als_pairs_reach_their_side():
    """One ALS iteration equals the NumPy twin of the half-sweep kernel called by hand: the
    user half with the pairs' user values, then the item half with their item values (and
    not with the swapped pairs)."""
    data = _ratings()
    reg, bias_reg = (5.0, 0.01), (3.0, 0.02)
    params = dict(solver="als", factors=3, random_state=2, dtype=np.float64,
                  regularization=reg, bias_regularization=bias_reg)
    start = BiasedMF(iterations=0, **params).fit(data)
    model = BiasedMF(iterations=1, **params).fit(data)
    m = data.matrix
    users, items = _als.both_sides(m, m.data.astype(np.float64))  # the fit's dtype

    def twin(reg, bias_reg):
        P, Q = start.user_factors_.copy(), start.item_factors_.copy()
        bu, bi = np.zeros(P.shape[0]), np.zeros(Q.shape[0])
        for side, X, bx, Y, by, lam, lam_b in ((users, P, bu, Q, bi, reg[0], bias_reg[0]),
                                               (items, Q, bi, P, bu, reg[1], bias_reg[1])):
            als_reference.explicit_als_half(
                side.indptr, side.indices, side.values, np.float64(model.global_mean_), Y, by,
                lam, lam_b, True, 1e-8, np.array([0, side.n_rows]), X, bx,
                np.zeros(side.n_rows), np.zeros(1, dtype=np.int64), False)
        return P, Q, bu, bi

    got = (model.user_factors_, model.item_factors_, model.user_bias_, model.item_bias_)
    for g, w in zip(got, twin(reg, bias_reg)):
        np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-12)
    swapped = twin(reg[::-1], bias_reg[::-1])
    assert not np.allclose(got[0], swapped[0])
    assert not np.allclose(got[2], swapped[2])


# ---------------------------------------------------------------------------- empty data
@pytest.mark.parametrize("matrix", [sp.csr_matrix((0, 0)), sp.csr_matrix((5, 3)),
                                    sp.csr_matrix(([0.0, 0.0], ([0, 2], [1, 1])), (4, 3))])
def test_implicit_als_refuses_data_without_interactions(matrix):
    model = ImplicitALS(factors=2, iterations=2, random_state=0)
    with pytest.raises(InputValueError,
                       match=r"^user_items: expected at least one non-zero interaction, got "
                             r"a \d+×\d+ matrix without non-zero values$") as info:
        model.fit(matrix, show_progress=False)
    assert info.value.argument == "user_items"
    assert not hasattr(model, "user_factors_")


def test_a_refused_fit_keeps_the_previous_model():
    """Bad data is refused before anything is cleared: the fitted model stays usable."""
    model = ImplicitALS(factors=2, iterations=2, random_state=0)
    model.fit(sp.csr_matrix(np.eye(4)), show_progress=False)
    before = model.user_factors_.copy()
    with pytest.raises(InputValueError, match="^user_items: expected at least one"):
        model.fit(sp.csr_matrix((4, 4)), show_progress=False)
    np.testing.assert_array_equal(model.user_factors_, before)
    with pytest.raises(InputValueError, match="^X: expected at least one rating, got a 0×0"):
        BiasedMF().fit(sp.csr_matrix((0, 0)))
