"""save/load: exact round trip, atomic writes, refusal of damaged or foreign files."""

import os

import numpy as np
import pytest

import fastl2
from fastl2 import BiasedMF
from fastl2.errors import ModelFileError, NotFittedError


@pytest.fixture
def fitted(planted):
    u, i, r, *_ = planted
    users = np.array([f"user-{x}" for x in u])
    return BiasedMF(factors=3, iterations=4, random_state=0,
                    regularization=(0.01, 0.02)).fit((users, i, r)), users, i


def test_round_trip_is_exact(fitted, tmp_path):
    model, users, items = fitted
    path = model.save(tmp_path / "model")
    assert path.endswith(".npz") and os.path.exists(path)
    loaded = fastl2.load(path)
    for attr in ("user_factors_", "item_factors_", "user_bias_", "item_bias_"):
        a, b = getattr(model, attr), getattr(loaded, attr)
        assert a.dtype == b.dtype and np.array_equal(a, b)
    assert loaded.global_mean_ == model.global_mean_
    assert loaded.user_map_ == model.user_map_ and loaded.item_map_ == model.item_map_
    assert loaded.loss_history_ == model.loss_history_
    assert loaded.get_params()["regularization"] in ([0.01, 0.02], (0.01, 0.02))
    assert np.array_equal(loaded.predict(users[:50], items[:50]),
                          model.predict(users[:50], items[:50]))
    # no temporary files left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]


def test_file_is_loadable_without_pickle(fitted, tmp_path):
    model, *_ = fitted
    path = model.save(tmp_path / "m.npz")
    with np.load(path, allow_pickle=False) as npz:
        assert str(npz["__format__"]) == "fastl2"
        assert "user_factors" in npz.files


def test_failed_save_keeps_previous_file(fitted, tmp_path, monkeypatch):
    model, *_ = fitted
    path = tmp_path / "m.npz"
    model.save(path)
    before = path.read_bytes()

    def exploding_savez(fh, **arrays):
        fh.write(b"partial garbage")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", exploding_savez)
    with pytest.raises(OSError, match="No space"):
        model.save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]


def test_truncated_file_is_refused(fitted, tmp_path):
    model, *_ = fitted
    path = tmp_path / "m.npz"
    model.save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="path: expected a fastl2 .npz"):
        fastl2.load(path)


def test_corrupted_array_fails_checksum(fitted, tmp_path):
    model, *_ = fitted
    path = tmp_path / "m.npz"
    model.save(path)
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["user_factors"] = arrays["user_factors"] + 1.0
    np.savez(path, **arrays)
    with pytest.raises(ModelFileError, match="checksum"):
        fastl2.load(path)


def test_foreign_newer_and_missing_files(fitted, tmp_path):
    model, *_ = fitted
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, a=np.arange(3))
    with pytest.raises(ModelFileError, match="markers"):
        fastl2.load(foreign)
    text = tmp_path / "notes.npz"
    text.write_text("hello")
    with pytest.raises(ModelFileError, match="cannot be read"):
        fastl2.load(text)
    with pytest.raises(ModelFileError, match="no such file"):
        fastl2.load(tmp_path / "absent.npz")
    path = tmp_path / "m.npz"
    model.save(path)
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["__format_version__"] = np.array(99)
    np.savez(path, **arrays)
    with pytest.raises(ModelFileError, match="version"):
        fastl2.load(path)


def test_object_arrays_are_never_unpickled(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, __format__=np.array("fastl2"), x=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ModelFileError):
        fastl2.load(path)


def test_an_unfitted_model_saves_and_loads_its_parameters(tmp_path):
    """As implicit's save/load of an unfitted model: the parameters come back, no factors."""
    for model in (BiasedMF(factors=3, solver="als", dtype=np.float64),
                  fastl2.ImplicitALS(factors=5, use_cg=False),
                  fastl2.AlternatingLeastSquares(factors=7, use_gpu=False)):
        path = model.save(tmp_path / type(model).__name__)
        back = fastl2.load(path)
        assert type(back) is type(model)
        assert back.get_params() == model.get_params()
        assert vars(back) == vars(model)
        with pytest.raises(NotFittedError):
            back.recommend(0, filter_already_liked_items=False)


def test_save_and_load_through_file_objects(fitted, tmp_path):
    model, users, items = fitted
    with open(tmp_path / "m.npz", "wb+") as f:
        assert model.save(f) is f
        f.seek(0)
        back = BiasedMF.load(f)
    np.testing.assert_array_equal(back.predict(users, items), model.predict(users, items))
    # a whole file, readable by path too
    np.testing.assert_array_equal(fastl2.load(tmp_path / "m.npz").user_factors_,
                                  model.user_factors_)
    # a corrupted stream is refused like a corrupted file
    raw = (tmp_path / "m.npz").read_bytes()
    with open(tmp_path / "bad.npz", "wb") as f:
        f.write(raw[: len(raw) // 2])
    with open(tmp_path / "bad.npz", "rb") as f, pytest.raises(ModelFileError):
        fastl2.load(f)


# ------------------------------------------------------------------ the model registry
def test_every_estimator_registers_itself_for_load():
    from fastl2 import persistence
    from fastl2.models.base import Estimator

    assert persistence.MODEL_CLASSES["BiasedMF"] is BiasedMF
    assert persistence.MODEL_CLASSES["ImplicitALS"] is fastl2.ImplicitALS
    # one save for every estimator, with the documented behaviour
    assert Estimator.save.__doc__.startswith("Save to one ``.npz`` file (atomic write)")


def test_estimator_save_round_trips_both_models(fitted, tmp_path):
    from fastl2.models.base import Estimator

    model, users, items = fitted
    implicit = fastl2.ImplicitALS(factors=2, iterations=2, random_state=0).fit(
        (users, items, np.ones(users.size)), show_progress=False)
    for m in (model, implicit):
        path = Estimator.save(m, tmp_path / type(m).__name__)
        loaded = type(m).load(path)
        assert type(loaded) is type(m)
        assert np.array_equal(loaded.user_factors_, m.user_factors_)


def test_only_fastl2_classes_register(fitted, tmp_path):
    """What fastl2.load accepts does not depend on the subclasses a process defines: a user's
    subclass is not registered, and its file is refused by name."""
    from fastl2 import persistence

    before = dict(persistence.MODEL_CLASSES)

    class TunedMF(BiasedMF):
        pass

    assert persistence.MODEL_CLASSES == before
    model, *_ = fitted
    tuned = TunedMF(**model.get_params())
    tuned._set_state_arrays(model._state_arrays())
    path = tuned.save(tmp_path / "tuned")
    with pytest.raises(ModelFileError, match="got 'TunedMF' in "):
        fastl2.load(path)


def test_unknown_class_is_refused_with_the_known_ones(fitted, tmp_path):
    from fastl2 import persistence

    model, *_ = fitted
    path = str(tmp_path / "m.npz")
    model.save(path)
    arrays = persistence.read_checked(path, persistence.FORMAT)
    arrays["__class__"] = np.array("NoSuchModel")
    persistence.write_checked(path, persistence.FORMAT, arrays)
    with pytest.raises(ModelFileError, match=r"^path: expected a model class among "
                       r"\['AlternatingLeastSquares', 'BiasedMF', 'ImplicitALS'\], got "
                       r"'NoSuchModel' in "):
        fastl2.load(path)


def test_load_after_importing_only_persistence(fitted, tmp_path):
    """A fresh interpreter that imports nothing but fastl2.persistence loads both models
    (fastl2/__init__ runs first and imports every estimator module)."""
    import subprocess
    import sys

    model, users, items = fitted
    implicit = fastl2.ImplicitALS(factors=2, iterations=1, random_state=0).fit(
        (users, items, np.ones(users.size)), show_progress=False)
    paths = [model.save(tmp_path / "explicit"), implicit.save(tmp_path / "implicit")]
    code = ("import sys\nimport fastl2.persistence as p\n"
            "print(' '.join(type(p.load(a)).__name__ for a in sys.argv[1:]))")
    out = subprocess.run([sys.executable, "-c", code, *paths], capture_output=True, text=True,
                         check=True,
                         cwd=os.path.dirname(os.path.dirname(fastl2.__file__))).stdout
    assert out.split() == ["BiasedMF", "ImplicitALS"]
