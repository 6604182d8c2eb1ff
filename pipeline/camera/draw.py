"""Annotate a frame with detections and ROI polygons. Pure: no state, no I/O."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from pipeline.config.regions import Polygon
from pipeline.detections import Detections

# BGR colours per class name; other classes cycle through the palette.
CLASS_COLOURS = {"person": (255, 160, 0), "helmet": (0, 215, 255), "vest": (0, 120, 255)}
PALETTE = [(80, 200, 120), (200, 80, 200), (80, 80, 230), (230, 230, 80)]
ROI_COLOUR = (60, 220, 60)


def colour_for(class_id: int, class_names: Sequence[str]) -> tuple[int, int, int]:
    name = class_names[class_id] if 0 <= class_id < len(class_names) else ""
    return CLASS_COLOURS.get(name, PALETTE[class_id % len(PALETTE)])


def annotate(
    frame: np.ndarray,
    detections: Detections,
    class_names: Sequence[str],
    polygons: Sequence[Polygon] = (),
) -> np.ndarray:
    """Draw on `frame` in place and return it; `detections` in pixels of this frame, class
    ids site-wide (indexes into `class_names`)."""
    thickness = max(1, round(min(frame.shape[:2]) / 360))
    font_scale = 0.4 * thickness
    for polygon in polygons:
        cv2.polylines(frame, [polygon.points], True, ROI_COLOUR, thickness, cv2.LINE_AA)
    for (x1, y1, x2, y2), score, class_id in zip(
        detections.xyxy, detections.score, detections.class_id, strict=True
    ):
        cls = int(class_id)
        colour = colour_for(cls, class_names)
        top_left = (int(x1), int(y1))
        cv2.rectangle(frame, top_left, (int(x2), int(y2)), colour, thickness)
        name = class_names[cls] if 0 <= cls < len(class_names) else str(cls)
        label = f"{name} {score:.2f}"
        (width, height), baseline = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)
        label_y = max(int(y1), height + baseline)
        cv2.rectangle(
            frame, (int(x1), label_y - height - baseline), (int(x1) + width, label_y), colour, -1
        )
        cv2.putText(
            frame,
            label,
            (int(x1), label_y - baseline),
            cv2.FONT_HERSHEY_SIMPLEX,
            font_scale,
            (0, 0, 0),
            1,
            cv2.LINE_AA,
        )
    return frame
