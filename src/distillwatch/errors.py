"""Exceptions raised by distillwatch.

Every error a user can cause or fix has one line that names the problem and the fix::

    DistillwatchError
     ├── ModelStringError        unknown or malformed model string ("hf/...", "openai/m@url", ...)
     ├── MissingExtraError       an optional dependency is not installed; carries the pip command
     ├── ModelLoadError          a model's files are missing or unreadable
     ├── UnsupportedOperation    the backend cannot do this (e.g. teacher-forced scoring)
     ├── EndpointError           a remote model endpoint is unreachable, timed out or answered badly
     └── InputError              bad user input (a malformed prompt file, a wrong argument value)
"""

from __future__ import annotations

__all__ = [
    "DistillwatchError",
    "ModelStringError",
    "MissingExtraError",
    "ModelLoadError",
    "UnsupportedOperation",
    "EndpointError",
    "InputError",
    "require",
]


class DistillwatchError(Exception):
    """Base class: the CLI prints these as one line and exits non-zero, without a traceback."""


class ModelStringError(DistillwatchError, ValueError):
    pass


class MissingExtraError(DistillwatchError, ImportError):
    def __init__(self, module: str, extra: str):
        self.module = module
        self.extra = extra
        super().__init__(
            f"'{module}' is not installed; install it with: pip install 'distillwatch[{extra}]'"
        )


class ModelLoadError(DistillwatchError):
    pass


class UnsupportedOperation(DistillwatchError):
    pass


class EndpointError(DistillwatchError):
    def __init__(self, message: str, status_code: int | None = None):
        self.status_code = status_code
        super().__init__(message)


class InputError(DistillwatchError, ValueError):
    pass


def require(module: str, extra: str):
    """Import an optional dependency, or raise `MissingExtraError` naming the extra that brings it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if exc.name and exc.name.split(".")[0] != module.split(".")[0]:
            raise
        raise MissingExtraError(module, extra) from None
