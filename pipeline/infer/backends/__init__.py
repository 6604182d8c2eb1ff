"""Inference backends: load a model once, describe it, run batches."""

from pipeline.infer.backends.base import InferenceBackend, ModelLoadError

__all__ = ["InferenceBackend", "ModelLoadError"]
