"""Fixtures of this folder: the real Ultralytics exports (exports.py)."""

from tests.export.ultralytics.exports import export_python, ultralytics_exports

__all__ = ["export_python", "ultralytics_exports"]
