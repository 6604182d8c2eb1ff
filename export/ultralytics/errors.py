"""The one error type of the Ultralytics exporter: a message for the user, no traceback."""

from __future__ import annotations


class ExportError(Exception):
    """The export cannot go on; `str()` says what is wrong and what to do (file, flag, path)."""


class ParityError(ExportError):
    """ONNX Runtime's outputs differ from the source PyTorch model's beyond the tolerance."""
