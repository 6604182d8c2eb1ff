"""What a model file's `metadata_props` say about its output layout.

Ultralytics writes every value as `str(value)`: `names` is a Python dict repr, `args` the
export arguments' dict repr (its `nms` is the `nms=True` export), `end2end` 'True'/'False',
`head` the detection head's class name ('Detect', 'RTDETRDecoder', ...) and `description`
"Ultralytics <model> model ...", where <model> is the architecture file's stem (`rtdetr-l`,
`YOLO11n`). Older exporters write neither `head` nor `end2end`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import TypeVar

from pipeline.infer.layouts.layout import (
    LAYOUT_METADATA_KEY,
    PREPROCESSING_METADATA_KEY,
    Layout,
    LayoutError,
    Preprocessing,
)

EnumT = TypeVar("EnumT", bound=Enum)

# The project's exporter also lists the class names, as a JSON list (a Python literal too).
CLASSES_METADATA_KEY = "vigia_classes"

RTDETR_HEADS = frozenset({"RTDETRDecoder"})
# The first Ultralytics release whose RT-DETR export is (B, 300, 6) = cx, cy, w, h, score,
# class rather than (B, 300, 4 + classes) (shared/FACTS.md, ultralytics 8.4).
RTDETR_SIX_COLUMNS_SINCE = (8, 4)


class Family(str, Enum):
    """Which kind of detector the metadata says the file is (None of these: it does not say)."""

    YOLO = "yolo"
    RTDETR = "rtdetr"


@dataclass(frozen=True)
class ModelMetadata:
    """The layout-relevant facts of `metadata_props`, parsed once."""

    num_names: int | None  # how many class names `names` lists
    task: str | None  # Ultralytics task: detect, segment, pose, obb, classify
    head: str | None
    end2end: bool | None
    nms: bool | None  # Ultralytics `nms=True` export
    version: tuple[int, ...] | None  # Ultralytics version
    family: Family | None
    family_evidence: str  # which key said so, for messages
    declared_layout: Layout | None  # the project's own exporter's LAYOUT_METADATA_KEY
    declared_preprocessing: Preprocessing | None


def read_metadata(metadata: Mapping[str, str]) -> ModelMetadata:
    """Parse `metadata_props` (key -> string value); unknown keys are ignored."""
    head = metadata.get("head") or None
    family, evidence = _family(head, metadata.get("description", ""))
    return ModelMetadata(
        num_names=_count_names(metadata.get("names") or metadata.get(CLASSES_METADATA_KEY)),
        task=metadata.get("task") or None,
        head=head,
        end2end=_boolean(metadata.get("end2end")),
        nms=_export_nms(metadata.get("args")),
        version=_version(metadata.get("version")),
        family=family,
        family_evidence=evidence,
        declared_layout=_declared(metadata, LAYOUT_METADATA_KEY, Layout),
        declared_preprocessing=_declared(metadata, PREPROCESSING_METADATA_KEY, Preprocessing),
    )


def _family(head: str | None, description: str) -> tuple[Family | None, str]:
    if head is not None:
        family = Family.RTDETR if head in RTDETR_HEADS else Family.YOLO
        return family, f"metadata head {head!r}"
    # Without `head`, an Ultralytics description names the architecture ("Ultralytics
    # rtdetr-l model trained on coco.yaml", "Ultralytics YOLO11n model ...").
    match = re.match(r"Ultralytics (\S+) model", description)
    if match is None:
        return None, ""
    model = match.group(1).lower()
    if "rtdetr" in model or "rt-detr" in model:
        return Family.RTDETR, f"metadata description {description!r}"
    if model.startswith("yolo"):
        return Family.YOLO, f"metadata description {description!r}"
    return None, ""


def _count_names(raw: str | None) -> int | None:
    if raw is None:
        return None
    try:
        parsed = ast.literal_eval(raw)
    except (ValueError, SyntaxError) as error:
        raise LayoutError(
            f"model metadata 'names' is not a dict or list literal: {raw[:80]!r}"
        ) from error
    if not isinstance(parsed, dict | list | tuple):
        raise LayoutError(f"model metadata 'names' is not a dict or list literal: {raw[:80]!r}")
    return len(parsed)


def _boolean(raw: str | None) -> bool | None:
    if raw is None:
        return None
    value = raw.strip().lower()
    if value in {"true", "1"}:
        return True
    if value in {"false", "0"}:
        return False
    return None


def _export_nms(raw: str | None) -> bool | None:
    if raw is None:
        return None
    try:
        parsed = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return None  # `args` is informational; a file without readable args says nothing
    if not isinstance(parsed, dict) or "nms" not in parsed:
        return None
    return bool(parsed["nms"])


def _version(raw: str | None) -> tuple[int, ...] | None:
    if raw is None:
        return None
    match = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", raw.strip())
    if match is None:
        return None
    return tuple(int(part) for part in match.groups() if part is not None)


def _declared(metadata: Mapping[str, str], key: str, kind: type[EnumT]) -> EnumT | None:
    raw = metadata.get(key)
    if raw is None:
        return None
    try:
        return kind(raw)
    except ValueError as error:
        allowed = ", ".join(member.value for member in kind)
        raise LayoutError(
            f"model metadata {key!r} is {raw!r}, expected one of: {allowed}"
        ) from error
