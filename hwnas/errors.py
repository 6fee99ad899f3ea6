"""Typed errors raised by the library; the CLI turns each into one line and exit code 2."""

from __future__ import annotations


class HwnasError(Exception):
    """A user-facing error: the message names the cause, ``fix`` names what to do instead."""

    def __init__(self, message: str, fix: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.message}; {self.fix}" if self.fix else self.message


class SpaceError(HwnasError):
    """Unknown space, malformed spec file or an arch that is not in the space."""


class DataError(HwnasError):
    """A dataset that cannot be found or is too small."""


class TableError(HwnasError):
    """A latency table that is malformed, incomplete or made for something else."""


class RuntimeMissingError(HwnasError):
    """An optional runtime (ExecuTorch, TensorRT, Ray, CUDA) is not available here."""
