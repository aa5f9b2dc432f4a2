"""The one error family users see: a message saying what is wrong and what to do."""

from __future__ import annotations

import re


class DeployKitError(Exception):
    """A user error: the CLI prints its message on one line and exits non-zero.

    Args:
        message: what is wrong.
        hint: what to do about it; appended to the message.
    """

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(f"{message} ({hint})" if hint else message)


# Lines that only say where a C++ runtime threw (OpenVINO: "Exception from src/...cpp:117:").
_LOCATION_LINE = re.compile(r"^(Exception from \S+:\d+:?|Check .* failed at \S+:\d+:?)$")


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first telling line of an exception's message (its type name when empty).

    Lines that only give a C++ source location are skipped, so an OpenVINO error reads
    as its message, not as "Exception from src/inference/src/cpp/core.cpp:117:".
    """
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    telling = [line for line in lines if not _LOCATION_LINE.match(line)]
    return (telling or lines or [type(exc).__name__])[0][:limit]


class InputError(DeployKitError):
    """A path, option or value given by the user is wrong."""


class DataMismatchError(InputError):
    """A labelled data set does not fit the model (labels beyond its outputs)."""


class ModelLoadError(DeployKitError):
    """A model reference could not be turned into a model."""


class ShapeError(DeployKitError):
    """A shape does not match what the model or artifact expects."""


class MissingBackendError(DeployKitError):
    """An optional framework or runtime is not installed."""

    exit_code = 3


class VerificationError(DeployKitError):
    """An artifact's outputs disagree with its source beyond tolerance."""

    exit_code = 4


class CalibrationError(DeployKitError):
    """A calibration set is missing, empty, too small or does not fit the model."""


class CellsFailedError(DeployKitError):
    """Benchmark cells failed: every one of them, or any under ``--strict``."""

    exit_code = 5
