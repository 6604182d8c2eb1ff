"""Detector output layouts: tell a model's layout from its description, decode its outputs.

    info = detect_layout(inputs, outputs, metadata, configured=site_layout)
    feeds = {info.image_input: batch, **extra_inputs(info, len(batch), (width, height))}
    per_image = decode(info, results_by_name, conf, iou, max_det, input_size=(width, height),
                       content=rectangles)

Every box that leaves here is x1, y1, x2, y2 in model-input pixels; mapping back to the camera
frame (letterbox or stretch, `info.preprocessing`) is the caller's. Pure numpy: no backend,
no process, no file access.
"""

from pipeline.infer.layouts.decoder import decode, extra_inputs
from pipeline.infer.layouts.detect import detect_layout
from pipeline.infer.layouts.layout import (
    DEFAULT_PREPROCESSING,
    LAYOUT_METADATA_KEY,
    PREPROCESSING_METADATA_KEY,
    Layout,
    LayoutError,
    LayoutInfo,
    Preprocessing,
    TensorDescription,
)
from pipeline.infer.layouts.nms import class_aware_nms
from pipeline.infer.layouts.rtdetr_original import target_sizes
from pipeline.infer.layouts.yolo import MAX_CANDIDATES

__all__ = [
    "DEFAULT_PREPROCESSING",
    "LAYOUT_METADATA_KEY",
    "MAX_CANDIDATES",
    "PREPROCESSING_METADATA_KEY",
    "Layout",
    "LayoutError",
    "LayoutInfo",
    "Preprocessing",
    "TensorDescription",
    "class_aware_nms",
    "decode",
    "detect_layout",
    "extra_inputs",
    "target_sizes",
]
