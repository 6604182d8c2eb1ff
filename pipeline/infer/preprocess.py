"""Turn letterboxed uint8 frames into the tensor the detector expects."""

from __future__ import annotations

import numpy as np


def to_model_input(images: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """(B, H, W, 3) uint8 BGR -> (B, 3, H, W) float32 RGB in 0-1, written into `out` if given."""
    if images.ndim != 4 or images.shape[3] != 3 or images.dtype != np.uint8:
        raise ValueError(f"expected (B, H, W, 3) uint8 images, got {images.shape} {images.dtype}")
    batch, height, width, _ = images.shape
    if out is None:
        out = np.empty((batch, 3, height, width), dtype=np.float32)
    # Channel flip (BGR -> RGB) and HWC -> CHW in one strided copy; then scale in place.
    np.copyto(out, images[..., ::-1].transpose(0, 3, 1, 2), casting="unsafe")
    out *= np.float32(1.0 / 255.0)
    return out
