"""PPE boxes go to at most one person: head region for helmets, torso for vests; ambiguous
boxes count for nobody."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.analytics.association import ITEMS, NOBODY, person_regions, sight
from pipeline.config.compliance import AssociationConfig, BoxRegion, PpeItem
from pipeline.config.prompts import ClassRoles
from pipeline.detections import Detections

ROLES = ClassRoles.from_names(("person", "helmet", "vest", "head", "no vest"))
HELMET, VEST, HEAD, NO_VEST = 1, 2, 3, 4
CONFIG = AssociationConfig()


def person(x: float, y: float = 40.0, height: float = 120.0) -> list[float]:
    """A person box with its top-left corner at (x, y), 0.35 x height wide."""
    return [x, y, x + 0.35 * height, y + height]


def part(box: list[float], left: float, top: float, right: float, bottom: float) -> list[float]:
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    return [x1 + left * w, y1 + top * h, x1 + right * w, y1 + bottom * h]


A = person(100)  # 42 px wide, x 100-142
B = person(300)
B_BESIDE_A = person(130)  # overlapping A by 12 px
B_SAME_PLACE = person(101)
# A nearer worker standing just in front of A, a little to one side: his box starts lower
# and is taller, so A's hard hat is above its top but still inside its head region.
B_IN_FRONT = person(97, y=54, height=160)


def helmet_on(box):
    return part(box, 0.22, 0.0, 0.78, 0.1)


def vest_on(box):
    return part(box, 0.25, 0.16, 0.74, 0.46)


CASES = [
    # name, persons, [(ppe box, class)], expected owner index per PPE box
    ("helmet on its wearer", [A, B], [(helmet_on(A), HELMET)], [0]),
    ("vest on its wearer", [A, B], [(vest_on(B), VEST)], [1]),
    ("each his own", [A, B], [(helmet_on(A), HELMET), (helmet_on(B), HELMET)], [0, 1]),
    ("helmet at the feet fits no head", [A], [(part(A, 0.2, 0.85, 0.8, 0.95), HELMET)], [NOBODY]),
    ("vest over the head fits no torso", [A], [(part(A, 0.2, -0.1, 0.8, 0.1), VEST)], [NOBODY]),
    ("hard hat on a crate far away", [A, B], [([500, 300, 515, 310], HELMET)], [NOBODY]),
    # Two workers, heads together, one helmet between them: it counts for neither.
    ("two workers one helmet", [A, B_SAME_PLACE], [(helmet_on(A), HELMET)], [NOBODY]),
    (
        "helmet between two heads",
        [A, B_BESIDE_A],
        [([124, 40, 148, 52], HELMET)],
        [NOBODY],
    ),
    # Overlapping boxes, but the helmet is centred on A's head: A fits clearly better.
    ("overlap, helmet centred on A", [A, B_BESIDE_A], [(helmet_on(A), HELMET)], [0]),
    # Both fully inside a head region, nearly as centred across: the hard hat at the top of
    # A's box, above the top of B's, is A's.
    ("helmet above a nearer worker's box", [A, B_IN_FRONT], [(helmet_on(A), HELMET)], [0]),
    ("bare head is evidence for A", [A, B], [(part(A, 0.3, 0.02, 0.7, 0.12), HEAD)], [0]),
    ("no-vest box on B's torso", [A, B], [(vest_on(B), NO_VEST)], [1]),
    ("no persons at all", [], [(helmet_on(A), HELMET)], [NOBODY]),
]


@pytest.mark.parametrize(("name", "persons", "ppe", "owners"), CASES, ids=[c[0] for c in CASES])
def test_owner_of_each_ppe_box(name, persons, ppe, owners):
    people = Detections.create(
        np.array(persons).reshape(-1, 4), [0.9] * len(persons), [0] * len(persons)
    )
    boxes = Detections.create(
        np.array([box for box, _ in ppe]), [0.8] * len(ppe), [cls for _, cls in ppe]
    )
    sightings = sight(people, boxes, ROLES, CONFIG)
    assert sightings.owner.tolist() == owners, name
    # A box counts once at most: the per-person tables hold the owned boxes and nothing else.
    expected = {
        (owner, cls) for (_, cls), owner in zip(ppe, owners, strict=True) if owner != NOBODY
    }
    found = set()
    for table, classes in (
        (sightings.present, (HELMET, VEST)),
        (sightings.absent, (HEAD, NO_VEST)),
    ):
        for p, column in zip(*np.nonzero(table), strict=True):
            found.add((int(p), classes[int(column)]))
    assert found == expected


def test_evidence_per_person_and_item_keeps_the_best_score():
    people = Detections.create(np.array([A, B]), [0.9, 0.9], [0, 0])
    boxes = Detections.create(
        np.array([helmet_on(A), helmet_on(A), vest_on(A), part(B, 0.3, 0.02, 0.7, 0.12)]),
        [0.5, 0.7, 0.6, 0.4],
        [HELMET, HELMET, VEST, HEAD],
    )
    sightings = sight(people, boxes, ROLES, CONFIG)
    helmet, vest = ITEMS.index(PpeItem.HELMET), ITEMS.index(PpeItem.VEST)
    assert sightings.present[0, helmet] == pytest.approx(0.7)
    assert sightings.present[0, vest] == pytest.approx(0.6)
    assert sightings.absent[1, helmet] == pytest.approx(0.4)
    assert sightings.present[1].tolist() == [0.0, 0.0]


def test_regions_are_fractions_of_the_person_box():
    config = AssociationConfig(head=BoxRegion(left=0.25, top=-0.1, right=0.75, bottom=0.2))
    regions = person_regions(np.array([[100.0, 50.0, 140.0, 150.0]]), config.head)
    assert regions.tolist() == [[110.0, 40.0, 130.0, 70.0]]


def test_a_narrower_head_region_rejects_a_helmet_off_centre():
    narrow = AssociationConfig(head=BoxRegion(left=0.3, top=-0.1, right=0.7, bottom=0.25))
    people = Detections.create(np.array([A]), [0.9], [0])
    boxes = Detections.create(np.array([part(A, 0.0, 0.0, 0.3, 0.1)]), [0.8], [HELMET])
    assert sight(people, boxes, ROLES, CONFIG).owner.tolist() == [0]
    assert sight(people, boxes, ROLES, narrow).owner.tolist() == [NOBODY]


def test_box_region_refuses_inverted_bounds():
    with pytest.raises(ValueError, match="left < right"):
        BoxRegion(left=0.8, top=0.0, right=0.2, bottom=0.3)
