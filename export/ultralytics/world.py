"""YOLO-World-v2: the prompts file's classes baked into the model before export.

Ultralytics' `set_classes` encodes each class's text with the CLIP ViT-B/32 text encoder and
stores the embeddings in the model (`txt_feats`, shape (1, classes, 512)), so the exported
graph has no text input. Here a class may have several prompts (`helmet: [hard hat, safety
helmet]`): each prompt is encoded, the unit vectors are averaged and normalised again (prompt
ensembling), one embedding per class. The encoder's weights are a file the user provides
(`ViT-B-32.pt`, OpenAI CLIP); nothing is downloaded.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import torch

from export.ultralytics.errors import ExportError
from pipeline.config.loading import ConfigError
from pipeline.config.prompts import load_prompts as read_prompts_file

logger = logging.getLogger(__name__)

CLIP_FILE = "ViT-B-32.pt"
CLIP_WEIGHTS_ENV = "VIGIA_CLIP_WEIGHTS"


class TextEncoder(Protocol):
    def encode(self, prompts: Sequence[str]) -> torch.Tensor:
        """(len(prompts), dim) float32 unit vectors, one per prompt."""
        ...


def load_prompts(path: Path) -> dict[str, tuple[str, ...]]:
    """Class name -> prompts, in the file's order (the class ids of the export); an entry
    without prompts is prompted by its name."""
    try:
        entries = read_prompts_file(path).entries
        return {entry.name: entry.prompts or (entry.name,) for entry in entries}
    except ConfigError as error:
        raise ExportError("; ".join(error.problems)) from None


def clip_weight_candidates() -> list[Path]:
    """Where the CLIP text encoder's weights are looked for, first match wins:
    $VIGIA_CLIP_WEIGHTS, then OpenAI CLIP's own cache (`~/.cache/clip/`, where `clip.load`
    keeps what it downloads)."""
    explicit = os.environ.get(CLIP_WEIGHTS_ENV)
    cache = Path.home() / ".cache" / "clip" / CLIP_FILE
    return ([Path(explicit)] if explicit else []) + [cache]


def find_clip_weights(explicit: Path | None) -> Path:
    """The CLIP weights file to use, or an ExportError saying where to put one."""
    if explicit is not None:
        if not explicit.is_file():
            raise ExportError(f"--clip-weights {explicit}: file not found")
        return explicit
    candidates = clip_weight_candidates()
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise ExportError(
        "YOLO-World export bakes the prompts in with the CLIP ViT-B/32 text encoder, whose "
        f"weights are not on this machine: put {CLIP_FILE} (OpenAI CLIP, 338 MB) at "
        f"{candidates[-1]}, or name the file with --clip-weights FILE or ${CLIP_WEIGHTS_ENV} "
        f"(looked in: {', '.join(str(c) for c in candidates)})"
    )


class ClipTextEncoder:
    """Ultralytics' CLIP text encoder, loaded from a weights file on disk (TorchScript archive
    or state dict, as `clip.load` reads them)."""

    def __init__(self, weights: Path) -> None:
        with warnings.catch_warnings():
            # The CLIP package imports pkg_resources, which warns on import.
            warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
            from ultralytics.nn.text_model import CLIP
        try:
            self.model = CLIP(str(weights), torch.device("cpu"))
        except (RuntimeError, KeyError, ValueError, OSError) as error:
            raise ExportError(f"{weights}: not a CLIP model file ({error})") from None

    def encode(self, prompts: Sequence[str]) -> torch.Tensor:
        tokens = self.model.tokenize(list(prompts))
        return self.model.encode_text(tokens).float()


def class_embeddings(encoder: TextEncoder, classes: Mapping[str, Sequence[str]]) -> torch.Tensor:
    """(1, classes, dim): per class the normalised mean of its prompts' unit embeddings."""
    rows = []
    for name, prompts in classes.items():
        vectors = encoder.encode(list(prompts) or [name])
        mean = vectors.mean(dim=0)
        rows.append(mean / mean.norm().clamp(min=1e-12))
    return torch.stack(rows).unsqueeze(0)


def bake_classes(world_model: Any, names: Sequence[str], embeddings: torch.Tensor) -> None:
    """What `WorldModel.set_classes` does once it has the text embeddings: store them, set the
    head's class count, and name the classes (`names` metadata of the export)."""
    expected = world_model.txt_feats.shape[-1]
    if embeddings.shape != (1, len(names), expected):
        raise ExportError(
            f"text embeddings have shape {tuple(embeddings.shape)}, the model needs "
            f"(1, {len(names)}, {expected})"
        )
    world_model.txt_feats = embeddings.to(world_model.txt_feats.dtype)
    world_model.model[-1].nc = len(names)
    world_model.names = dict(enumerate(names))
