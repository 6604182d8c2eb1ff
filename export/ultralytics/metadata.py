"""The `metadata_props` the project's exporter adds to an Ultralytics ONNX file.

Ultralytics writes its own keys (`names`, `imgsz`, `batch`, `head`, `end2end`, `args`, ... as
Python reprs); these `vigia_*` keys sit beside them so that the runtime never has to guess:

  vigia_format         1, this key set's version
  vigia_layout         yolo | end2end | rtdetr (plain text, as `layout:` in a site config)
  vigia_preprocessing  letterbox | stretch (plain text; Ultralytics RT-DETR is a stretch resize)
  vigia_box_format     cxcywh_pixels | xyxy_pixels | cxcywh_normalized (plain text): the boxes'
                       encoding, in model-input pixels or divided by the input width/height
  vigia_classes        JSON list of class names, index = class id of the output
  vigia_input_size     JSON [height, width] in pixels, the size exported and checked
  vigia_dynamic_batch  JSON true/false: whether the input's batch axis is symbolic
  vigia_batch          JSON int or null: the fixed batch, or for a dynamic batch the most
                       images one call handles (null: no limit); `nms=True` unrolls its
                       per-image loop that many times, so a bigger batch loses images
  vigia_nms            JSON {"conf", "iou", "max_det"} of an `nms=True` export, else null
  vigia_prompts        JSON {class: [prompts]} baked into a YOLO-World export, else null
  vigia_parity         JSON {"max_abs_diff", "tolerance", "images", "rows_compared",
                       "rows_unmatched", "rows_unstable"}: ONNX Runtime against the source PyTorch model at
                       export (export/ultralytics/parity.py)
  vigia_source         the checkpoint or architecture file's name

Importable without torch or ultralytics: tests and the runtime read files with it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

FORMAT_VERSION = 1
PREFIX = "vigia_"


class ExportLayout(str, Enum):
    """Output layouts this exporter produces (values match `pipeline.infer.layouts.Layout`)."""

    YOLO = "yolo"  # output0 (B, 4 + classes, anchors), no NMS
    END2END = "end2end"  # output0 (B, max_det, 6) x1, y1, x2, y2, score, class; zero-padded
    RTDETR = "rtdetr"  # output0 (B, 300, 6) cx, cy, w, h normalised, score, class


class Preprocessing(str, Enum):
    LETTERBOX = "letterbox"
    STRETCH = "stretch"


class BoxFormat(str, Enum):
    CXCYWH_PIXELS = "cxcywh_pixels"
    XYXY_PIXELS = "xyxy_pixels"
    CXCYWH_NORMALIZED = "cxcywh_normalized"


BOX_FORMATS = {
    ExportLayout.YOLO: BoxFormat.CXCYWH_PIXELS,
    ExportLayout.END2END: BoxFormat.XYXY_PIXELS,
    ExportLayout.RTDETR: BoxFormat.CXCYWH_NORMALIZED,
}
PREPROCESSING = {
    ExportLayout.YOLO: Preprocessing.LETTERBOX,
    ExportLayout.END2END: Preprocessing.LETTERBOX,
    ExportLayout.RTDETR: Preprocessing.STRETCH,
}


class MetadataError(ValueError):
    """A `vigia_*` key is missing or does not parse; the message names the key."""


@dataclass(frozen=True)
class NmsSettings:
    conf: float  # scores at or below it were dropped inside the graph
    iou: float
    max_det: int


@dataclass(frozen=True)
class Parity:
    max_abs_diff: float
    tolerance: float
    images: int
    rows_compared: int
    rows_unmatched: int
    rows_unstable: int  # rows the source model itself loses when its input moves by 1e-6


@dataclass(frozen=True)
class VigiaMetadata:
    layout: ExportLayout
    classes: tuple[str, ...]
    input_size: tuple[int, int]  # (height, width), pixels
    dynamic_batch: bool
    batch: int | None
    source: str
    nms: NmsSettings | None = None
    prompts: Mapping[str, tuple[str, ...]] | None = None
    parity: Parity | None = None

    @property
    def preprocessing(self) -> Preprocessing:
        return PREPROCESSING[self.layout]

    @property
    def box_format(self) -> BoxFormat:
        return BOX_FORMATS[self.layout]

    def to_props(self) -> dict[str, str]:
        """Key -> string value, as written into `metadata_props`."""
        return {
            "vigia_format": str(FORMAT_VERSION),
            "vigia_layout": self.layout.value,
            "vigia_preprocessing": self.preprocessing.value,
            "vigia_box_format": self.box_format.value,
            "vigia_classes": json.dumps(list(self.classes)),
            "vigia_input_size": json.dumps(list(self.input_size)),
            "vigia_dynamic_batch": json.dumps(self.dynamic_batch),
            "vigia_batch": json.dumps(self.batch),
            "vigia_nms": json.dumps(None if self.nms is None else vars(self.nms)),
            "vigia_prompts": json.dumps(
                None if self.prompts is None else {k: list(v) for k, v in self.prompts.items()}
            ),
            "vigia_parity": json.dumps(None if self.parity is None else vars(self.parity)),
            "vigia_source": self.source,
        }

    @classmethod
    def from_props(cls, props: Mapping[str, str]) -> VigiaMetadata:
        """Parse the `vigia_*` keys of a file's `metadata_props` (other keys are ignored)."""
        version = _field(props, "vigia_format", json.loads)
        if version != FORMAT_VERSION:
            raise MetadataError(f"vigia_format is {version!r}, this reader knows {FORMAT_VERSION}")
        layout = _field(props, "vigia_layout", ExportLayout)
        classes = _field(props, "vigia_classes", json.loads)
        size = _field(props, "vigia_input_size", json.loads)
        if not (isinstance(classes, list) and all(isinstance(name, str) for name in classes)):
            raise MetadataError(f"vigia_classes is not a JSON list of names: {classes!r}")
        if not (
            isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) for v in size)
        ):
            raise MetadataError(f"vigia_input_size is not a JSON [height, width]: {size!r}")
        nms = _field(props, "vigia_nms", json.loads)
        prompts = _field(props, "vigia_prompts", json.loads)
        parity = _field(props, "vigia_parity", json.loads)
        return cls(
            layout=layout,
            classes=tuple(classes),
            input_size=(size[0], size[1]),
            dynamic_batch=bool(_field(props, "vigia_dynamic_batch", json.loads)),
            batch=_field(props, "vigia_batch", json.loads),
            source=_field(props, "vigia_source", str),
            nms=None if nms is None else NmsSettings(**nms),
            prompts=None if prompts is None else {k: tuple(v) for k, v in prompts.items()},
            parity=None if parity is None else Parity(**parity),
        )


def _field(props: Mapping[str, str], key: str, parse: Any) -> Any:
    if key not in props:
        raise MetadataError(f"metadata has no {key!r} (not written by `python -m export`?)")
    try:
        return parse(props[key])
    except (ValueError, TypeError) as error:
        raise MetadataError(
            f"metadata {key!r} = {props[key][:80]!r} does not parse: {error}"
        ) from None
