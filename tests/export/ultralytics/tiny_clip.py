"""Writes a tiny CLIP model file for the YOLO-World export's CLIP path: run in the export venv,
`python -m tests.export.ultralytics.tiny_clip OUT.pt`.

The real ViT-B/32 weights (338 MB) cannot be fetched here. This is the same architecture as
`clip.load` builds from a state dict (the text side: 512-wide embeddings, CLIP's tokenizer and
vocabulary), one layer and 64 channels wide, random weights: enough to run the loading,
tokenising, encoding and baking code for real, not to recognise anything.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import torch

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
    from clip.model import CLIP


def main(argv: list[str] | None = None) -> int:
    (out,) = sys.argv[1:] if argv is None else argv
    torch.manual_seed(0)
    model = CLIP(
        embed_dim=512,
        image_resolution=32,
        vision_layers=1,
        vision_width=64,
        vision_patch_size=16,
        context_length=77,
        vocab_size=49408,
        transformer_width=64,
        transformer_heads=1,
        transformer_layers=1,
    )
    torch.save(model.state_dict(), Path(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
