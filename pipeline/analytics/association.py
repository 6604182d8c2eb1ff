"""Which person each helmet, vest, `head` or `no vest` box belongs to.

A box counts for a person when most of it (`min_inside` of its area) lies in that person's
region for the item: the head region for helmets and `head` / `no helmet` boxes, the torso
region for vests and `no vest` boxes (`compliance.association`, fractions of the person box;
defaults: head x 0-1, y -0.15-0.3; torso x 0-1, y 0.1-0.7). The fit of a box to a person is

    fit = inside fraction x centring(x) x centring(y)
    centring(x) = 1 - 0.5 x min(1, |box centre x - region centre x| / region half width)

and the same for y with the region's half height, so of two overlapping workers the one
whose head the helmet is centred on fits better: across (heads side by side) and up and down
(a hard hat at the top of one worker's box, and above the top of a nearer worker's box
standing in front of him, is the first one's). One
box never counts for two people: it goes to the best fit, and when the second best fits
within `ambiguity_margin` of it (two workers side by side, heads together) it counts for
neither. All boxes in pixels of the original frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.analytics.geometry import intersection_area
from pipeline.config.compliance import AssociationConfig, BoxRegion, PpeItem
from pipeline.config.prompts import ROLE_ITEM, ClassRoles, Role
from pipeline.detections import Detections

ITEMS = tuple(PpeItem)  # column order of the per-item arrays below
NOBODY = -1


def person_regions(persons: np.ndarray, region: BoxRegion) -> np.ndarray:
    """(P, 4) boxes of `region` of each person box (P, 4), same pixel space."""
    x1, y1, x2, y2 = (persons[:, i] for i in range(4))
    width, height = x2 - x1, y2 - y1
    return np.stack(
        [
            x1 + region.left * width,
            y1 + region.top * height,
            x1 + region.right * width,
            y1 + region.bottom * height,
        ],
        axis=1,
    )


def fit_matrix(
    persons: np.ndarray, boxes: np.ndarray, region: BoxRegion
) -> tuple[np.ndarray, np.ndarray]:
    """(fit, inside): (K, P) fit of each box (K, 4) to each person (P, 4) for one region
    (module docstring), and the fraction of each box's area inside each person's region."""
    persons = np.asarray(persons, dtype=np.float64).reshape(-1, 4)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    regions = person_regions(persons, region)
    area = np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    inside = intersection_area(boxes, regions)
    with np.errstate(divide="ignore", invalid="ignore"):
        fraction = np.where(area[:, None] > 0, inside / area[:, None], 0.0)
    centring = _centring(boxes, regions, 0) * _centring(boxes, regions, 1)
    return fraction * centring, fraction


def _centring(boxes: np.ndarray, regions: np.ndarray, axis: int) -> np.ndarray:
    """(K, P) 1 for a box centred on the region along `axis` (0: x, 1: y), down to 0.5 at
    the region's edge and beyond."""
    centre = (boxes[:, None, axis] + boxes[:, None, axis + 2]) / 2
    middle = (regions[None, :, axis] + regions[None, :, axis + 2]) / 2
    half = (regions[None, :, axis + 2] - regions[None, :, axis]) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        offset = np.where(half > 0, np.abs(centre - middle) / half, 1.0)
    return 1.0 - 0.5 * np.minimum(1.0, offset)


def assign(fit: np.ndarray, inside: np.ndarray, config: AssociationConfig) -> np.ndarray:
    """(K,) owner person index per box, NOBODY when none qualifies or it is ambiguous."""
    owner = np.full(fit.shape[0], NOBODY, dtype=np.intp)
    if fit.shape[1] == 0:
        return owner
    eligible = np.where(inside >= config.min_inside, fit, -1.0)
    order = np.argsort(-eligible, axis=1)
    best = order[:, 0]
    best_fit = eligible[np.arange(len(best)), best]
    if fit.shape[1] > 1:
        second_fit = eligible[np.arange(len(best)), order[:, 1]]
    else:
        second_fit = np.full(len(best), -1.0)
    clear = (best_fit >= 0) & ~(
        (second_fit >= 0) & (second_fit >= best_fit - config.ambiguity_margin)
    )
    owner[clear] = best[clear]
    return owner


@dataclass(frozen=True, eq=False)
class Sightings:
    """PPE evidence per person of one frame.

    `present` / `absent`: (P, len(ITEMS)) the highest score of a box proving the item worn /
    missing that was given to the person (0 for none). `owner`: (K,) person index per PPE box
    of `ppe` (NOBODY: unmatched or ambiguous)."""

    ppe: Detections
    owner: np.ndarray
    present: np.ndarray
    absent: np.ndarray


def sight(
    persons: Detections, ppe: Detections, roles: ClassRoles, config: AssociationConfig
) -> Sightings:
    """Give each PPE box (any class with a helmet/vest/no_helmet/no_vest role) to at most one
    person, and sum up per person and item."""
    count = len(persons)
    owner = np.full(len(ppe), NOBODY, dtype=np.intp)
    present = np.zeros((count, len(ITEMS)), dtype=np.float32)
    absent = np.zeros((count, len(ITEMS)), dtype=np.float32)
    meaning = [ROLE_ITEM.get(roles.role_of(int(c))) for c in ppe.class_id]
    for item, region in ((PpeItem.HELMET, config.head), (PpeItem.VEST, config.torso)):
        rows = np.array([i for i, m in enumerate(meaning) if m and m[0] is item], dtype=np.intp)
        if not len(rows) or not count:
            continue
        fit, inside = fit_matrix(persons.xyxy, ppe.xyxy[rows], region)
        owner[rows] = assign(fit, inside, config)
        column = ITEMS.index(item)
        for row in rows:
            person = owner[row]
            if person == NOBODY:
                continue
            target = present if meaning[row] == (item, True) else absent
            target[person, column] = max(target[person, column], ppe.score[row])
    return Sightings(ppe, owner, present, absent)


def ppe_rows(detections: Detections, roles: ClassRoles) -> np.ndarray:
    """(N,) bool: detections whose class speaks about a PPE item."""
    return roles.mask(detections.class_id, Role.HELMET, Role.VEST, Role.NO_HELMET, Role.NO_VEST)
