"""Save and load fitted models as one ``.npz`` file, never with pickle.

File contents: the model's arrays, plus ``__format__`` ("fastl2"), ``__format_version__``,
``__class__`` (estimator name), ``__params__`` (JSON of the constructor parameters) and
``__checksum__`` (SHA-256 over every array's name, dtype, shape and bytes). Loading uses
``allow_pickle=False`` and verifies all of them, so a truncated, corrupted, foreign or newer
file raises :class:`~fastl2.errors.ModelFileError` and never yields a partial model.

Writing to a path is atomic: a temporary file in the target's directory is written,
flushed, fsynced and renamed over the target, so a failure mid-save leaves any previous file
intact. A binary file object (as ``implicit``'s ``save`` takes) is written where it stands.
An unfitted model is saved with its parameters and an ``__unfitted__`` marker instead of
arrays, and loads unfitted.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from typing import Any

import numpy as np

from ._validation import Detail, fail
from .errors import ModelFileError

FORMAT = "fastl2"
FORMAT_VERSION = 1


#: The estimator classes a model file may name in ``__class__``, by class name. Every
#: estimator class registers itself as it is defined
#: (:meth:`fastl2.models.base.Estimator.__init_subclass__` calls :func:`register`), so this
#: module imports no model (the models import it).
MODEL_CLASSES: dict[str, type] = {}


def register(cls: type) -> None:
    """Record ``cls`` under its name for :func:`load`. A name keeps its first class, except
    that a class re-created under the same module and qualified name (a module reloaded, a
    class sent to a Dask worker by value) replaces it."""
    known = MODEL_CLASSES.get(cls.__name__)
    if known is None or ((known.__module__, known.__qualname__)
                         == (cls.__module__, cls.__qualname__)):
        MODEL_CLASSES[cls.__name__] = cls


def _checksum(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _json_params(model: Any) -> str:
    params = {}
    for k, v in model.get_params(deep=False).items():
        if isinstance(v, (np.random.Generator, np.random.RandomState)):
            v = None  # a Generator's state is not a parameter worth persisting
        elif isinstance(v, type) or isinstance(v, np.dtype):
            v = np.dtype(v).name
        elif isinstance(v, tuple):
            v = list(v)
        elif isinstance(v, np.generic):
            v = v.item()
        params[k] = v
    return json.dumps(params, sort_keys=True)


def save_model(model: Any, path: Any) -> Any:
    """Write ``model`` to ``path`` atomically (``.npz`` is appended when missing), or to a
    binary file object opened for writing (as ``implicit``'s ``save`` takes; written where it
    stands, not atomically: the file is the caller's). A model that is not fitted is saved
    with its parameters alone and loads unfitted.

    Returns
    -------
    str : the path written, or the file object.
    """
    payload = dict(model._state_arrays()) if model._is_fitted() else {
        "__unfitted__": np.array(True)}
    payload["__class__"] = np.array(type(model).__name__)
    payload["__params__"] = np.array(_json_params(model))
    if not _is_file(path):
        path = os.fspath(path)
        if not path.endswith(".npz"):
            path += ".npz"
    write_checked(path, FORMAT, payload)
    return path


def _is_file(target: Any) -> bool:
    """A file object (``write``/``read`` methods) rather than a path."""
    return hasattr(target, "write") or hasattr(target, "read")


def write_checked(path: Any, file_format: str, payload: dict[str, np.ndarray]) -> None:
    """Write ``payload`` with the format marker, version and checksum to ``path``
    atomically: a temporary file in the target's directory is written, flushed, fsynced and
    renamed over the target. A file object is written where it stands."""
    payload = {**payload, "__format__": np.array(file_format),
               "__format_version__": np.array(FORMAT_VERSION, dtype=np.int64)}
    payload["__checksum__"] = np.array(_checksum(payload))
    if _is_file(path):
        np.savez(path, **payload)
        path.flush()
        return
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        fail("path", "a file in an existing directory", Detail(f"{path!r}"))
    fd, tmp = tempfile.mkstemp(prefix=".fastl2-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def read_checked(path: Any, file_format: str, name: str = "path") -> dict[str, np.ndarray]:
    """The arrays of a file written by :func:`write_checked` with ``file_format`` (without
    the marker, version and checksum), after checking all three; errors name ``name``.

    Raises
    ------
    ModelFileError
        Missing, truncated, corrupted, foreign, or written by a newer format version.
    """
    kind = "model" if file_format == FORMAT else file_format.rsplit("-", 1)[-1]
    what = f"fastl2 {kind}"
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except FileNotFoundError:
        raise ModelFileError(f"{name}: expected an existing {what} file, got {path!r} "
                             "(no such file)") from None
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as exc:
        why = (f"{type(exc).__name__}: {exc}" if "pickle" not in str(exc)
               else "it holds pickled Python objects, which fastl2 never loads")
        raise ModelFileError(f"{name}: expected a fastl2 .npz {kind} file, got {path!r} which "
                             f"cannot be read as one ({why})") from None
    markers = ("__format__", "__format_version__", "__checksum__")
    missing = [m for m in markers if m not in arrays]
    if missing or str(arrays.get("__format__", "")) != file_format:
        raise ModelFileError(f"{name}: expected a {what} file, got {path!r}, a .npz "
                             f"without fastl2's markers (missing {missing})")
    version = int(arrays["__format_version__"])
    if version > FORMAT_VERSION:
        raise ModelFileError(f"{name}: expected format version <= {FORMAT_VERSION}, got "
                             f"version {version} in {path!r}: upgrade fastl2 to read it")
    stored = str(arrays.pop("__checksum__"))
    if _checksum(arrays) != stored:
        raise ModelFileError(f"{name}: expected arrays matching the stored checksum, got a "
                             f"mismatch in {path!r}: the file is corrupted")
    del arrays["__format__"], arrays["__format_version__"]
    return arrays


def load(path: Any) -> Any:
    """Load a model saved by ``save`` (any fastl2 estimator) from a path or a binary file
    object opened for reading.

    Raises
    ------
    ModelFileError
        Missing, truncated, corrupted, foreign, or written by a newer format version.
    """
    if not _is_file(path):
        path = os.fspath(path)
    arrays = read_checked(path, FORMAT)
    missing = [m for m in ("__class__", "__params__") if m not in arrays]
    if missing:
        raise ModelFileError(f"path: expected a fastl2 model file, got {path!r}, a .npz "
                             f"without fastl2's markers (missing {missing})")
    cls_name = str(arrays.pop("__class__"))
    # Complete whenever this runs: Python runs fastl2/__init__.py before any fastl2 module
    # (this one included, even after a bare `import fastl2.persistence`), and it imports
    # fastl2.models, hence every estimator module, whose classes register as they are defined
    # (tests/test_persistence.py loads both models after that bare import, in a fresh
    # interpreter). An estimator module fastl2.models does not import must be imported
    # before its files are loaded.
    registry = MODEL_CLASSES
    if cls_name not in registry:
        raise ModelFileError(f"path: expected a model class among {sorted(registry)}, got "
                             f"{cls_name!r} in {path!r}")
    params = json.loads(str(arrays.pop("__params__")))
    if isinstance(params.get("dtype"), str):
        params["dtype"] = np.dtype(params["dtype"]).type  # as given to the constructor
    model = registry[cls_name](**params)
    if not arrays.pop("__unfitted__", False):
        model._set_state_arrays(arrays)
    return model
