"""Parity: the exported ONNX file in ONNX Runtime against the source PyTorch model.

Both get the same batch of images (float32 RGB 0-1, NCHW, at the exported input size). The
source model runs as the export runs it: a copy in eval mode with its batch norms folded into
the convolutions (`fuse()`, the same function up to float rounding), so that what is left to
differ is ONNX Runtime's graph and kernels against PyTorch's, and near-ties between class
scores or at the top-k cut are decided alike on both sides. Stated tolerance: every compared value within 2e-3, where
scores are compared as they are (0-1) and box coordinates after dividing pixel boxes by the
input's larger side (normalised boxes as they are): 0.32 px at 160, 1.3 px at 640.

- yolo: the raw output (B, 4 + classes, anchors), element by element.
- rtdetr, end2end: rows (x, y, x, y or cx, cy, w, h, score, class), compared as sets per image:
  each row of one side must have a row on the other with the same class, score and box within
  the tolerance. A row may be missing from the other side only where its score is within the
  tolerance of that side's cut (its lowest kept score, or the NMS confidence threshold): a
  near-tie decided differently at the top-k or threshold boundary, not a wrong value. For
  `nms=True` exports the reference is torchvision's batched NMS on the source model's raw output
  (the same confidence, IoU and max_det as the export), and up to 5% of an image's detections
  may lack a counterpart: a pair of boxes overlapping at the IoU threshold is suppressed on one
  side and kept on the other for a 1e-5 difference, and the change cascades. Every row that
  does match is still within the tolerance.
- Some models are not determined at float precision on some images: RT-DETR picks its 300
  queries by a top-k over encoder scores, and a near-tie at that cut changes every query
  through self-attention. So the reference is also run on the images moved by 1e-6 (noise),
  and per image twice as many rows as the reference loses to that may lack a counterpart.
  A wrong export loses nearly every row and still fails.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from export.ultralytics.errors import ParityError
from export.ultralytics.metadata import ExportLayout, NmsSettings, Parity, VigiaMetadata

logger = logging.getLogger(__name__)

TOLERANCE = 2e-3
# nms=True: of an image's detections, the share that may differ (module docstring).
NMS_UNMATCHED_FRACTION = 0.05
# How far the reference's input is moved to see which of its rows are undetermined at float
# precision (8-bit pixels are 1/255 = 4e-3 apart).
PERTURBATION = 1e-6
SEED = 0
# Images compared when the batch is dynamic (a fixed batch compares that many).
DYNAMIC_IMAGES = 2


@dataclass(frozen=True)
class Comparison:
    max_abs_diff: float  # in the tolerance's units (see the module docstring)
    rows_compared: int
    rows_unmatched: int  # tolerated (NMS boundary decisions); over the limit they are problems
    problems: tuple[str, ...]
    unmatched_per_image: tuple[int, ...] = ()


def parity_images(count: int, input_size: tuple[int, int], seed: int = SEED) -> np.ndarray:
    """(count, 3, H, W) float32 0-1: smooth random content (8x8 pixel blocks of random colour,
    blurred by nothing else), closer to a camera frame's statistics than white noise."""
    height, width = input_size
    rng = np.random.default_rng(seed)
    blocks = rng.random((count, 3, -(-height // 8), -(-width // 8)), dtype=np.float32)
    images = blocks.repeat(8, axis=2).repeat(8, axis=3)[:, :, :height, :width]
    return np.ascontiguousarray(images)


def reference_outputs(
    model: Any, images: np.ndarray, nms: NmsSettings | None, num_classes: int
) -> np.ndarray:
    """The source model's output for `images`, in the exported file's layout."""
    import copy

    import torch

    fused = copy.deepcopy(model).eval()
    if hasattr(fused, "fuse"):
        fused = fused.fuse(verbose=False)
    with torch.inference_mode():
        output = fused(torch.from_numpy(images))
    prediction = output[0] if isinstance(output, tuple | list) else output
    if nms is not None:
        prediction = nms_reference(prediction, nms, num_classes)
    return prediction.float().numpy()


def nms_reference(prediction: Any, settings: NmsSettings, num_classes: int) -> Any:
    """(B, 4 + classes, anchors) cx, cy, w, h -> (B, max_det, 6) x1, y1, x2, y2, score, class,
    zero-padded: class-aware NMS as an `nms=True` export does it, with torchvision's."""
    import torch
    import torchvision

    rows = prediction.transpose(1, 2)[..., : 4 + num_classes]
    out = rows.new_zeros(rows.shape[0], settings.max_det, 6)
    for index, image in enumerate(rows):
        centre, size = image[:, :2], image[:, 2:4]
        boxes = torch.cat((centre - size / 2, centre + size / 2), dim=1)
        scores, classes = image[:, 4:].max(dim=1)
        keep = scores > settings.conf
        boxes, scores, classes = boxes[keep], scores[keep], classes[keep]
        kept = torchvision.ops.batched_nms(boxes, scores, classes, settings.iou)
        kept = kept[: settings.max_det]
        detections = torch.cat(
            (boxes[kept], scores[kept, None], classes[kept, None].to(boxes.dtype)), dim=1
        )
        out[index, : len(kept)] = detections
    return out


def compare_anchors(actual: np.ndarray, expected: np.ndarray, box_scale: float) -> Comparison:
    """yolo layout: (B, 4 + classes, anchors), element by element."""
    if actual.shape != expected.shape:
        return Comparison(
            np.inf, 0, 0, (f"output shape {actual.shape}, expected {expected.shape}",)
        )
    difference = np.abs(actual.astype(np.float64) - expected)
    difference[:, :4] /= box_scale
    worst = np.unravel_index(int(np.argmax(difference)), difference.shape)
    largest = float(difference[worst])
    problems: tuple[str, ...] = ()
    if largest > TOLERANCE:
        what = "box" if worst[1] < 4 else "score"
        problems = (
            f"{what} value at image {worst[0]}, row {worst[1]}, anchor {worst[2]}: ONNX "
            f"{actual[worst]:.6g}, PyTorch {expected[worst]:.6g} (difference {largest:.3g} "
            f"in tolerance units, tolerance {TOLERANCE})",
        )
    return Comparison(largest, int(actual.shape[0] * actual.shape[2]), 0, problems)


def compare_rows(
    actual: np.ndarray,
    expected: np.ndarray,
    box_scale: float,
    threshold: float,
    unmatched_fraction: float = 0.0,
    baseline: Sequence[int] = (),
) -> Comparison:
    """rtdetr / end2end layouts: (B, K, 6) rows compared as sets per image (module docstring).
    `threshold`: scores at or below it are not rows (zero padding, or under NMS's conf).
    `unmatched_fraction`: of an image's rows, how many may lack a counterpart for no reason
    the cut explains (NMS: boxes whose overlap is at the IoU threshold, decided differently).
    `baseline`: per image, how many rows the reference itself loses under a perturbation at
    float precision; twice that many may differ too."""
    if actual.shape != expected.shape:
        return Comparison(
            np.inf, 0, 0, (f"output shape {actual.shape}, expected {expected.shape}",)
        )
    problems: list[str] = []
    largest, compared = 0.0, 0
    per_image: list[int] = []
    for image, (ours, theirs) in enumerate(zip(actual, expected, strict=True)):
        ours, theirs = ours[ours[:, 4] > 0], theirs[theirs[:, 4] > 0]
        distance = _row_distance(ours, theirs, box_scale)
        unmatched: list[str] = []
        for side, rows, other, axis in (("ONNX", ours, theirs, 1), ("PyTorch", theirs, ours, 0)):
            best = distance.min(axis=axis) if distance.size else np.full(len(rows), np.inf)
            cut = _cut(other, actual.shape[1], threshold)
            for row, value in zip(rows, best, strict=True):
                if value <= TOLERANCE:
                    largest = max(largest, float(value))
                    compared += side == "ONNX"
                elif row[4] > cut + TOLERANCE:
                    unmatched.append(
                        f"image {image}: {side} row box {np.round(row[:4], 4).tolist()} score "
                        f"{row[4]:.6g} class {int(row[5])} has no counterpart within {TOLERANCE} "
                        f"(nearest {value:.3g})"
                    )
        allowed = int(unmatched_fraction * max(len(ours), len(theirs)))
        if image < len(baseline):
            allowed = max(allowed, 2 * baseline[image])
        per_image.append(len(unmatched))
        if len(unmatched) > allowed:
            problems.append(f"image {image}: {len(unmatched)} rows unmatched, {allowed} allowed")
            problems += unmatched
    return Comparison(largest, compared, sum(per_image), tuple(problems[:6]), tuple(per_image))


def _row_distance(ours: np.ndarray, theirs: np.ndarray, box_scale: float) -> np.ndarray:
    """(len(ours), len(theirs)): the largest box/score difference, inf across classes."""
    boxes = np.abs(ours[:, None, :4] - theirs[None, :, :4]).max(axis=2) / box_scale
    scores = np.abs(ours[:, None, 4] - theirs[None, :, 4])
    distance = np.maximum(boxes, scores).astype(np.float64)
    distance[ours[:, None, 5] != theirs[None, :, 5]] = np.inf
    return distance


def _cut(rows: np.ndarray, capacity: int, threshold: float) -> float:
    """The lowest score a side could have dropped: its last kept score when full, else the
    threshold under which nothing is kept."""
    return float(rows[:, 4].min()) if len(rows) >= capacity else threshold


def check_parity(onnx_path: Path, model: Any, metadata: VigiaMetadata) -> Parity:
    """Run both on the same images; ParityError over the tolerance, else the figures."""
    import onnxruntime as ort

    if metadata.dynamic_batch:
        count = min(DYNAMIC_IMAGES, metadata.batch or DYNAMIC_IMAGES)
    else:
        count = metadata.batch or 1
    images = parity_images(count, metadata.input_size)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    actual = session.run(None, {input_name: images})[0]
    expected = reference_outputs(model, images, metadata.nms, len(metadata.classes))
    normalised = metadata.layout is ExportLayout.RTDETR
    box_scale = 1.0 if normalised else float(max(metadata.input_size))
    unstable = 0
    if metadata.layout is ExportLayout.YOLO:
        comparison = compare_anchors(actual, expected, box_scale)
    else:
        threshold = metadata.nms.conf if metadata.nms is not None else 0.0
        fraction = NMS_UNMATCHED_FRACTION if metadata.nms is not None else 0.0
        noise = np.random.default_rng(SEED + 1).standard_normal(images.shape, dtype=np.float32)
        moved = reference_outputs(
            model, images + PERTURBATION * noise, metadata.nms, len(metadata.classes)
        )
        itself = compare_rows(moved, expected, box_scale, threshold)
        unstable = itself.rows_unmatched
        comparison = compare_rows(
            actual, expected, box_scale, threshold, fraction, itself.unmatched_per_image
        )
    if comparison.problems:
        raise ParityError(
            f"{onnx_path}: ONNX Runtime and PyTorch disagree on {count} image(s): "
            + "; ".join(comparison.problems)
        )
    logger.info(
        "Parity %s: %d image(s), %d rows (%d unmatched, %d unstable in PyTorch itself), "
        "max difference %.2e (tolerance %.0e)",
        onnx_path.name,
        count,
        comparison.rows_compared,
        comparison.rows_unmatched,
        unstable,
        comparison.max_abs_diff,
        TOLERANCE,
    )
    return Parity(
        max_abs_diff=round(comparison.max_abs_diff, 8),
        tolerance=TOLERANCE,
        images=count,
        rows_compared=comparison.rows_compared,
        rows_unmatched=comparison.rows_unmatched,
        rows_unstable=unstable,
    )
