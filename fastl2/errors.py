"""Exception classes raised by fastl2.

Every error raised for bad user input derives from :class:`Fastl2Error` *and* from the
standard exception a Python user would expect (``ValueError`` or ``TypeError``), so both
``except fastl2.errors.Fastl2Error`` and ``except ValueError`` catch it.
"""

from __future__ import annotations

__all__ = [
    "Fastl2Error",
    "InputValueError",
    "InputIndexError",
    "InputTypeError",
    "NotFittedError",
    "TrainingDivergedError",
    "ModelFileError",
    "DistributedFitError",
    "DownloadError",
    "ChecksumError",
]


class Fastl2Error(Exception):
    """Base class of every exception fastl2 raises on purpose.

    An error about one argument (every one raised by the argument checks) also carries its
    parts, so that code handling it needs no parsing of the message: ``argument`` (the
    argument's name, e.g. ``"X"`` or ``"X: duplicates"`` once prefixed by the caller's
    argument), ``expected`` (what was expected) and ``received`` (the description of what was
    received); each is None when the error was built from a message alone. ``str(exc)`` is
    the message, as for any exception, and pickling keeps the attributes (Dask sends errors
    between processes).
    """

    def __init__(self, *args: object, argument: str | None = None,
                 expected: str | None = None, received: str | None = None) -> None:
        super().__init__(*args)
        self.argument = argument
        self.expected = expected
        self.received = received


class InputValueError(Fastl2Error, ValueError):
    """An argument has the right type but a bad value (shape, range, NaN, duplicates...)."""


class InputIndexError(InputValueError, IndexError):
    """An index out of range (e.g. an item id beyond the model's items): a ``ValueError`` like
    every bad value, and an ``IndexError`` as ``implicit`` raises for such ids."""


class InputTypeError(Fastl2Error, TypeError):
    """An argument has a type fastl2 cannot use."""


class NotFittedError(Fastl2Error, ValueError, AttributeError):
    """A method that needs a fitted model was called before ``fit``.

    Derives from ``ValueError`` and ``AttributeError`` like scikit-learn's ``NotFittedError``.
    """


class TrainingDivergedError(Fastl2Error, ArithmeticError):
    """Training produced a non-finite loss; the model is left unfitted."""


class ModelFileError(Fastl2Error, ValueError):
    """A model file is missing, truncated, corrupted, of a foreign format or version."""


class DistributedFitError(Fastl2Error, RuntimeError):
    """A fit on a Dask cluster stopped: a worker was lost and ``on_worker_loss="raise"``, or
    Dask could not finish a task (it killed its workers, or its data was lost). The model is
    left unfitted."""


class DownloadError(Fastl2Error, OSError):
    """A dataset archive could not be downloaded (offline, HTTP error, missing file)."""


class ChecksumError(Fastl2Error, ValueError):
    """A dataset archive does not match its published checksum."""
