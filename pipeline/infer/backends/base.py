"""What every inference backend provides, and the model description they share."""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np


class ModelLoadError(RuntimeError):
    """The model cannot be used (missing, unreadable, or of an unsupported shape).

    Restarting the inference process will not help: the supervisor treats it as fatal.
    """


@dataclass(frozen=True)
class ModelSpec:
    """What the runtime needs to know about a detector.

    `input_width`/`input_height` are the model input in pixels; `max_batch` is the largest
    batch the model accepts (None: unbounded, a dynamic axis).
    """

    input_name: str
    input_width: int
    input_height: int
    class_names: tuple[str, ...]
    max_batch: int | None


class InferenceBackend(Protocol):
    """Loaded once per inference process; `infer` takes (B, 3, H, W) float32 RGB 0-1."""

    name: str
    spec: ModelSpec

    def infer(self, batch: np.ndarray) -> np.ndarray: ...

    def close(self) -> None: ...


def class_names_from_metadata(metadata: Mapping[str, str], num_classes: int) -> tuple[str, ...]:
    """Read class names in the Ultralytics convention (`names` = "{0: 'person', ...}").

    Falls back to `class0`, `class1`, ... when the model carries no names.
    """
    raw = metadata.get("names")
    if raw is None:
        return tuple(f"class{i}" for i in range(num_classes))
    try:
        parsed = ast.literal_eval(raw)
    except (ValueError, SyntaxError) as error:
        raise ModelLoadError(
            f"model metadata 'names' is not a dict or list literal: {raw!r}"
        ) from error
    names = [parsed[i] for i in sorted(parsed)] if isinstance(parsed, dict) else list(parsed)
    if len(names) != num_classes:
        raise ModelLoadError(
            f"model metadata lists {len(names)} class names but the output has {num_classes} classes"
        )
    return tuple(str(name) for name in names)
