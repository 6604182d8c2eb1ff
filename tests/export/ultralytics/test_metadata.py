"""The `vigia_*` metadata keys: written, read back, and refused when damaged."""

from __future__ import annotations

import json

import pytest

from export.ultralytics.metadata import (
    BoxFormat,
    ExportLayout,
    MetadataError,
    NmsSettings,
    Parity,
    Preprocessing,
    VigiaMetadata,
)

CASES = {
    "yolo dynamic": VigiaMetadata(
        ExportLayout.YOLO, ("person", "car"), (640, 640), True, None, "yolo11n.pt"
    ),
    "nms, at most 4 images": VigiaMetadata(
        ExportLayout.END2END,
        ("0", "1"),
        (480, 640),
        True,
        4,
        "yolov8s.pt",
        nms=NmsSettings(0.25, 0.7, 300),
        parity=Parity(1.5e-4, 2e-3, 2, 600, 3, 0),
    ),
    "rtdetr fixed 4": VigiaMetadata(
        ExportLayout.RTDETR, ("person",), (640, 640), False, 4, "rtdetr-l.pt"
    ),
    "world": VigiaMetadata(
        ExportLayout.YOLO,
        ("person", "helmet"),
        (640, 640),
        True,
        None,
        "yolov8s-worldv2.pt",
        prompts={"person": ("person", "worker"), "helmet": ("hard hat",)},
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_round_trip(name: str) -> None:
    metadata = CASES[name]
    props = metadata.to_props()
    assert all(key.startswith("vigia_") and isinstance(value, str) for key, value in props.items())
    assert VigiaMetadata.from_props({**props, "names": "{0: 'x'}"}) == metadata


@pytest.mark.parametrize(
    ("layout", "preprocessing", "box_format"),
    [
        (ExportLayout.YOLO, Preprocessing.LETTERBOX, BoxFormat.CXCYWH_PIXELS),
        (ExportLayout.END2END, Preprocessing.LETTERBOX, BoxFormat.XYXY_PIXELS),
        (ExportLayout.RTDETR, Preprocessing.STRETCH, BoxFormat.CXCYWH_NORMALIZED),
    ],
)
def test_layout_decides_preprocessing(layout, preprocessing, box_format) -> None:
    props = VigiaMetadata(layout, ("a",), (64, 96), True, None, "x.pt").to_props()
    assert props["vigia_layout"] == layout.value  # plain words, as a site config's `layout:`
    assert props["vigia_preprocessing"] == preprocessing.value
    assert props["vigia_box_format"] == box_format.value
    assert json.loads(props["vigia_input_size"]) == [64, 96]


GOOD = CASES["nms, at most 4 images"].to_props()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"vigia_layout": None}, "no 'vigia_layout'"),
        ({"vigia_layout": "ssd"}, "'vigia_layout' = 'ssd' does not parse"),
        ({"vigia_format": "2"}, "vigia_format is 2"),
        ({"vigia_classes": "person"}, "'vigia_classes' = 'person' does not parse"),
        ({"vigia_classes": "[1, 2]"}, "vigia_classes is not a JSON list of names"),
        ({"vigia_input_size": "[640]"}, "vigia_input_size is not a JSON [height, width]"),
    ],
)
def test_damaged_metadata_is_refused_by_key(change: dict, message: str) -> None:
    props = {**GOOD, **change}
    props = {key: value for key, value in props.items() if value is not None}
    with pytest.raises(MetadataError, match=message.replace("[", r"\[").replace("]", r"\]")):
        VigiaMetadata.from_props(props)
