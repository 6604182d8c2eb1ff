"""One entry point for every layout: outputs by name in, one Detections per image out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from pipeline.detections import Detections
from pipeline.infer.layouts.boxes import Rectangle, content_rectangles
from pipeline.infer.layouts.efficient_nms import decode_efficient_nms
from pipeline.infer.layouts.end2end import decode_end2end
from pipeline.infer.layouts.layout import Layout, LayoutInfo
from pipeline.infer.layouts.rtdetr import decode_rtdetr
from pipeline.infer.layouts.rtdetr_original import decode_rtdetr_original, target_sizes
from pipeline.infer.layouts.yolo import MAX_CANDIDATES, decode_yolo


def decode(
    info: LayoutInfo,
    outputs: Mapping[str, np.ndarray],
    conf_threshold: float,
    iou_threshold: float,
    max_detections: int,
    *,
    input_size: tuple[int, int],
    content: Sequence[Rectangle] | np.ndarray | None = None,
    max_candidates: int = MAX_CANDIDATES,
) -> list[Detections]:
    """Decode one batch of model outputs into one Detections per batch entry.

    Boxes are x1, y1, x2, y2 in model-input pixels (normalised layouts are scaled by
    `input_size` = (width, height)), clipped to the entry's `content` rectangle (input pixels,
    the letterbox padding excluded; None: the whole canvas); boxes left empty are dropped
    before `max_detections` applies. Detections are sorted by score, highest first, with
    `class_id` the model's own class index and `model_index` 0: the caller maps both to the
    site's ids. `iou_threshold` and `max_candidates` (the pre-NMS cap) apply to the yolo
    layout only; the other layouts come out of their graph already selected.

    The batch is the outputs' first axis; `content`, when given, must have one rectangle per
    entry (a padded fixed batch is sliced to its real images by the caller, before this).
    """
    arrays = _outputs(info, outputs)
    batch = arrays[0].shape[0]
    if any(array.shape[0] != batch for array in arrays):
        shapes = ", ".join(
            f"{name} {array.shape}" for name, array in zip(info.outputs, arrays, strict=True)
        )
        raise ValueError(f"{info.layout.value} layout: outputs disagree on the batch: {shapes}")
    rectangles = content_rectangles(content, batch, input_size)
    if info.layout is Layout.YOLO:
        return decode_yolo(
            arrays[0], rectangles, conf_threshold, iou_threshold, max_detections, max_candidates
        )
    if info.layout is Layout.END2END:
        return decode_end2end(arrays[0], rectangles, conf_threshold, max_detections)
    if info.layout is Layout.RTDETR:
        return decode_rtdetr(
            arrays[0], info.class_scores, input_size, rectangles, conf_threshold, max_detections
        )
    if info.layout is Layout.RTDETR_ORIGINAL:
        labels, boxes, scores = arrays
        return decode_rtdetr_original(
            labels, boxes, scores, rectangles, conf_threshold, max_detections
        )
    count, boxes, scores, classes = arrays
    return decode_efficient_nms(
        count, boxes, scores, classes, rectangles, conf_threshold, max_detections
    )


def extra_inputs(
    info: LayoutInfo, batch: int, input_size: tuple[int, int]
) -> dict[str, np.ndarray]:
    """Inputs the model needs besides the image batch, by name: {} for most layouts,
    {'orig_target_sizes': (batch, 2) int64 (width, height)} for rtdetr_original."""
    if info.size_input is None:
        return {}
    return {info.size_input: target_sizes(batch, input_size)}


def _outputs(info: LayoutInfo, outputs: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    missing = [name for name in info.outputs if name not in outputs]
    if missing:
        raise ValueError(
            f"{info.layout.value} layout: outputs {', '.join(missing)} missing from the "
            f"model's results (got {', '.join(outputs) or 'none'})"
        )
    return [np.asarray(outputs[name]) for name in info.outputs]
