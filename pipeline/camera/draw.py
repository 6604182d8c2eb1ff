"""Annotate a frame with what the analytics made of it. Pure: no state, no I/O.

Persons are drawn in their compliance state's colour with one label above the box (`#7 no
helmet`); PPE and other boxes are drawn thin and unlabelled except for their class's first
letters, so a worker's person, helmet and vest labels never pile up on one another. Line
widths and text follow the frame's height, readable at 640x360 and at 1080p.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from pipeline.analytics import ClassRoles, ComplianceState, FrameAnalysis, Role

# BGR. States: green compliant, amber suspect, red violation, grey outside or not judged.
STATE_COLOURS = {
    ComplianceState.COMPLIANT: (80, 200, 60),
    ComplianceState.SUSPECT: (0, 190, 255),
    ComplianceState.VIOLATION: (40, 40, 235),
    ComplianceState.OUTSIDE: (190, 190, 190),
    ComplianceState.UNKNOWN: (150, 150, 150),
}
ROLE_COLOURS = {
    Role.HELMET: (0, 215, 255),
    Role.VEST: (0, 120, 255),
    Role.NO_HELMET: (200, 80, 200),
    Role.NO_VEST: (200, 80, 200),
}
OTHER_COLOUR = (230, 230, 80)
ZONE_COLOUR = (60, 220, 60)
FONT = cv2.FONT_HERSHEY_SIMPLEX


def _label(
    frame: np.ndarray, text: str, x: int, y: int, colour: tuple[int, int, int], scale: float
) -> None:
    """Text on a filled box whose bottom-left corner is (x, y), kept inside the frame."""
    thickness = max(1, round(scale * 2))
    (width, height), baseline = cv2.getTextSize(text, FONT, scale, thickness)
    x = int(min(max(0, x), max(0, frame.shape[1] - width)))
    y = int(max(y, height + baseline))
    cv2.rectangle(frame, (x, y - height - baseline), (x + width, y), colour, -1)
    cv2.putText(frame, text, (x, y - baseline), FONT, scale, (0, 0, 0), thickness, cv2.LINE_AA)


def annotate(
    frame: np.ndarray,
    analysis: FrameAnalysis,
    roles: ClassRoles,
    class_names: Sequence[str],
) -> np.ndarray:
    """Draw zones, detections and persons' states on `frame` (its own pixels) in place."""
    unit = max(1, round(frame.shape[0] / 360))  # 1 at 360 lines, 3 at 1080
    scale = 0.4 * unit
    for zone in analysis.zones:
        cv2.polylines(frame, [zone.drawable], True, ZONE_COLOUR, unit, cv2.LINE_AA)
        x, y = zone.drawable[0, 0]
        _label(frame, zone.name, int(x), int(y), ZONE_COLOUR, scale * 0.9)
    detections = analysis.detections
    persons = roles.mask(detections.class_id, Role.PERSON)
    for index in np.flatnonzero(~persons):
        class_id = int(detections.class_id[index])
        role = roles.roles[class_id] if 0 <= class_id < len(roles.roles) else Role.IGNORE
        colour = ROLE_COLOURS.get(role, OTHER_COLOUR)
        x1, y1, x2, y2 = (int(v) for v in detections.xyxy[index])
        cv2.rectangle(frame, (x1, y1), (x2, y2), colour, max(1, unit - 1))
        if role not in ROLE_COLOURS:  # not PPE: say what it is
            name = class_names[class_id] if 0 <= class_id < len(class_names) else str(class_id)
            _label(frame, name, x1, y1, colour, scale * 0.8)
    for person in analysis.persons:
        colour = STATE_COLOURS[person.state]
        x1, y1, x2, y2 = (int(v) for v in person.box)
        width = unit + 1 if person.state is ComplianceState.VIOLATION else unit
        cv2.rectangle(frame, (x1, y1), (x2, y2), colour, width)
        _label(frame, person.label(), x1, y1, colour, scale)
    return frame
