"""Inference backends: load a model once, describe it, run batches."""

from pipeline.infer.backends.base import InferenceBackend, ModelLoadError, ModelSpec

__all__ = ["InferenceBackend", "ModelLoadError", "ModelSpec"]
