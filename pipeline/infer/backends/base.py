"""What every inference backend provides."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from pipeline.infer.model_spec import ModelSpec


class ModelLoadError(RuntimeError):
    """The model cannot be used (missing, unreadable, or of an unsupported shape).

    Restarting the inference process will not help: the supervisor treats it as fatal.
    """


class InferenceBackend(Protocol):
    """One model, loaded once per inference process.

    `infer` takes the batch as the rings hold it, (B, H, W, 3) uint8 BGR letterboxed (or
    stretched) to the model input, B at most `max_batch`; the backend owns the conversion to
    the model's tensor and its input buffer (pinned or device memory on a GPU: a quarter of
    float32's bytes cross the bus). It returns every output by name, for the B images given.
    """

    name: str  # backend and where it runs, for the log and the dashboard
    spec: ModelSpec
    max_batch: int
    preprocess_seconds: float  # wall time spent preparing input tensors, cumulative

    def infer(self, images: np.ndarray) -> dict[str, np.ndarray]: ...

    def close(self) -> None: ...
