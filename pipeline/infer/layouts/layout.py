"""What an output layout is: the closed set of layouts, the preprocessing they expect, and the
description `detect_layout` hands to the decoders.

Coordinate spaces: *input pixels* are the pixels of the model's input canvas (what the backend
was fed, letterboxed or stretched); *normalised* coordinates are input pixels divided by the
canvas width and height.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum


class Layout(str, Enum):
    """The detector output layouts the runtime decodes; the values are what `layout:` takes."""

    YOLO = "yolo"
    END2END = "end2end"
    RTDETR = "rtdetr"
    RTDETR_ORIGINAL = "rtdetr_original"
    EFFICIENT_NMS = "efficient_nms"


class Preprocessing(str, Enum):
    """How a frame is fitted into the model input.

    LETTERBOX keeps the aspect ratio and pads (YOLO training); STRETCH resizes each axis on its
    own (Ultralytics RT-DETR predicts on `scaleFill` frames, RT-DETR's own repository resizes
    to a square).
    """

    LETTERBOX = "letterbox"
    STRETCH = "stretch"


LAYOUT_SHAPES: dict[Layout, str] = {
    Layout.YOLO: "one output (B, 4+classes, N): cx, cy, w, h in input pixels, then sigmoid class "
    "scores, no NMS (Ultralytics YOLOv8/11/World)",
    Layout.END2END: "one output (B, K, 6): x1, y1, x2, y2 in input pixels, score, class, "
    "zero-padded (Ultralytics nms=True, YOLOv10, YOLO26)",
    Layout.RTDETR: "one output (B, 300, 6): cx, cy, w, h normalised 0-1, score, class, or the "
    "older (B, 300, 4+classes) with per-class scores (Ultralytics RT-DETR)",
    Layout.RTDETR_ORIGINAL: "outputs labels (B, K), boxes (B, K, 4), scores (B, K) and an "
    "input orig_target_sizes (B, 2) (RT-DETR exported by its own repository)",
    Layout.EFFICIENT_NMS: "outputs num_dets (B, 1), det_boxes (B, K, 4) x1, y1, x2, y2, "
    "det_scores (B, K), det_classes (B, K) (TensorRT EfficientNMS)",
}

DEFAULT_PREPROCESSING: dict[Layout, Preprocessing] = {
    Layout.YOLO: Preprocessing.LETTERBOX,
    Layout.END2END: Preprocessing.LETTERBOX,
    Layout.RTDETR: Preprocessing.STRETCH,
    # RT-DETR's own deploy script resizes to the square input without keeping the aspect.
    Layout.RTDETR_ORIGINAL: Preprocessing.STRETCH,
    # EfficientNMS graphs are almost always built on YOLO exports, trained letterboxed.
    Layout.EFFICIENT_NMS: Preprocessing.LETTERBOX,
}

# Metadata keys the project's own exporter writes (values: a Layout / Preprocessing value).
LAYOUT_METADATA_KEY = "vigia_layout"
PREPROCESSING_METADATA_KEY = "vigia_preprocessing"

Dim = int | str
"""One dimension of a tensor description: a size, or a symbolic name ('batch', 'anchors')."""
TensorShape = Sequence[Dim]
TensorDescription = tuple[str, TensorShape]
"""(name, shape) of one model input or output, as the model file describes it."""


class LayoutError(ValueError):
    """The model's outputs match no supported layout, match more than one, or contradict the
    configured layout. The message names the outputs and the supported layouts; the caller
    adds the model file's name."""


@dataclass(frozen=True)
class LayoutInfo:
    """How to read one model's outputs; built by `detect_layout`, used by `decode`.

    `outputs` are the output names the decoder reads, in the layout's order:
      yolo, end2end, rtdetr: (the one output,);
      rtdetr_original: (labels, boxes, scores);
      efficient_nms: (count, boxes, scores, classes).
    `num_classes` is None when the model does not fix it (a symbolic class axis, or a layout
    whose outputs carry class indices only): the caller takes it from the class names.
    `normalised_boxes`: boxes come in 0-1 and are scaled by the input size when decoded.
    `class_scores`: rtdetr only, True for the older form with one score column per class.
    `size_input`: rtdetr_original only, the (B, 2) int64 input fed with the input size.
    `reason` says how the layout was decided, for the log.
    """

    layout: Layout
    preprocessing: Preprocessing
    num_classes: int | None
    normalised_boxes: bool
    image_input: str
    outputs: tuple[str, ...]
    class_scores: bool = False
    size_input: str | None = None
    reason: str = ""


def describe_tensors(tensors: Sequence[TensorDescription]) -> str:
    """`output0 ['batch', 84, 8400], ...`: tensors as an error message names them."""
    return ", ".join(f"{name} {list(shape)}" for name, shape in tensors) or "none"


def supported_layouts() -> str:
    """The supported layouts, one per line, as refusal messages list them."""
    return "\n".join(f"  {layout.value}: {LAYOUT_SHAPES[layout]}" for layout in Layout)
