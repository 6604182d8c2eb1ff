"""WorksiteScene: reproducibility, random access, and ground truth that matches the pixels."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pipeline.synthetic import FrameTruth, WorksiteScene

SIZES = [(640, 360), (1280, 720), (333, 517)]


def test_same_seed_renders_identical_frames_and_truth() -> None:
    first, second = WorksiteScene(seed=7), WorksiteScene(seed=7)
    for index in (0, 13, 250):
        frame_a, truth_a = first.render(index)
        frame_b, truth_b = second.render(index)
        assert np.array_equal(frame_a, frame_b)
        assert truth_a == truth_b


def test_different_seeds_differ() -> None:
    frame_a, truth_a = WorksiteScene(seed=1).render(40)
    frame_b, truth_b = WorksiteScene(seed=2).render(40)
    assert np.mean(np.abs(frame_a.astype(int) - frame_b.astype(int))) > 5
    assert truth_a.to_dict() != truth_b.to_dict()


def test_random_access_matches_a_fresh_scene() -> None:
    scene = WorksiteScene(seed=11)
    scene.render(5)
    frame, truth = scene.render(3)
    fresh_frame, fresh_truth = WorksiteScene(seed=11).render(3)
    assert np.array_equal(frame, fresh_frame)
    assert truth == fresh_truth


def test_frames_have_the_requested_size_and_type() -> None:
    frame, _ = WorksiteScene(seed=3, width=1920, height=1080).render(0)
    assert frame.shape == (1080, 1920, 3)
    assert frame.dtype == np.uint8


def test_consecutive_frames_change_but_not_completely() -> None:
    """Workers move between frames; the background stays put."""
    scene = WorksiteScene(seed=4)
    frame_a, truth_a = scene.render(100)
    frame_b, truth_b = scene.render(101)
    assert not np.array_equal(frame_a, frame_b)
    assert np.mean(np.abs(frame_a.astype(int) - frame_b.astype(int))) < 12
    shared = {w.id for w in truth_a.workers} & {w.id for w in truth_b.workers}
    assert shared, "some worker should be in view in both frames"


@pytest.mark.parametrize(("width", "height"), SIZES)
@pytest.mark.parametrize("seed", [0, 5, 21])
def test_masks_lie_inside_person_boxes_and_parts_inside_persons(
    seed: int, width: int, height: int
) -> None:
    scene = WorksiteScene(seed=seed, width=width, height=height)
    workers_seen = 0
    for index in range(0, 600, 40):
        frame, truth, masks = scene.render(index, with_masks=True)
        assert set(masks) == {w.id for w in truth.workers}
        for worker in truth.workers:
            workers_seen += 1
            x1, y1, x2, y2 = worker.person_box
            assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
            mask = masks[worker.id]
            assert mask.shape == frame.shape[:2] and mask.dtype == bool
            ys, xs = np.nonzero(mask)
            if xs.size:
                assert xs.min() >= x1 - 1 and xs.max() + 1 <= x2 + 1
                assert ys.min() >= y1 - 1 and ys.max() + 1 <= y2 + 1
            assert (xs.size > 0) == (worker.visibility > 0)
            assert 0.0 <= worker.visibility <= 1.0
            for part in (worker.helmet_box, worker.vest_box):
                if part is not None:
                    assert x1 <= part[0] < part[2] <= x2
                    assert y1 <= part[1] < part[3] <= y2
            assert (worker.helmet_box is not None) <= worker.has_helmet
            assert (worker.vest_box is not None) <= worker.has_vest
    assert workers_seen > 10


def test_masks_of_different_workers_do_not_overlap() -> None:
    scene = WorksiteScene(seed=9)
    for index in range(0, 400, 25):
        _, _, masks = scene.render(index, with_masks=True)
        if len(masks) > 1:
            coverage = np.sum([mask.astype(int) for mask in masks.values()], axis=0)
            assert coverage.max() <= 1


def test_visible_workers_match_pixels_that_differ_from_the_empty_scene() -> None:
    """Where a mask says a worker is visible, the frame differs from the background."""
    scene = WorksiteScene(seed=12)
    background = scene._static_layer().image
    _, truth, masks = scene.render(77, with_masks=True)
    union = np.zeros(background.shape[:2], dtype=bool)
    for mask in masks.values():
        union |= mask
    assert truth.workers
    # The rendered frame has lighting and noise on top, so compare before those are added.
    frame = background.copy()
    owner = np.full(background.shape[:2], -1, dtype=np.int16)
    scene._composite(frame, owner, scene._static_layer(), scene._crowd.states_at(77 / scene.fps))
    changed = np.any(frame != background, axis=2)
    assert np.mean(changed[union]) > 0.9
    assert not np.any(owner[~union] >= 0)


def test_sizes_follow_perspective() -> None:
    """Nearer workers (feet lower in the frame) are taller, in proportion to the distance
    of their feet below the horizon."""
    scene = WorksiteScene(seed=6, width=1280, height=720)
    camera = scene.camera
    ratios = []
    for index in range(0, 3000, 30):
        _, truth = scene.render(index)
        for worker in truth.workers:
            x1, y1, x2, y2 = worker.person_box
            whole = x1 > 0 and y1 > 0 and x2 < scene.width and y2 < scene.height
            if whole and y2 - y1 > 30:
                ratios.append((y2 - y1) / (y2 - camera.horizon_y))
    assert len(ratios) > 20
    # Heights between 1.6 m and 1.92 m, camera camera_height_m above the ground.
    assert min(ratios) > 1.5 / camera.camera_height_m
    assert max(ratios) < 2.05 / camera.camera_height_m


def test_workers_enter_and_leave() -> None:
    scene = WorksiteScene(seed=8, width=320, height=180)
    seen_at: dict[int, list[int]] = {}
    for index in range(0, 3000, 10):
        _, truth = scene.render(index)
        for worker in truth.workers:
            seen_at.setdefault(worker.id, []).append(index)
    assert len(seen_at) >= 8
    assert any(times[0] > 0 and times[-1] < 2990 for times in seen_at.values())


def test_some_workers_take_their_helmet_off_mid_sequence() -> None:
    changes = 0
    for seed in range(4):
        scene = WorksiteScene(seed=seed, width=320, height=180)
        history: dict[int, set[bool]] = {}
        for index in range(0, 3000, 5):
            _, truth = scene.render(index)
            for worker in truth.workers:
                history.setdefault(worker.id, set()).add(worker.has_helmet)
        changes += sum(1 for states in history.values() if len(states) == 2)
    assert changes >= 2


def test_helmet_and_vest_states_vary_across_workers() -> None:
    scene = WorksiteScene(seed=2, width=320, height=180)
    helmets, vests = set(), set()
    for index in range(0, 3000, 50):
        for worker in scene.render(index)[1].workers:
            helmets.add(worker.has_helmet)
            vests.add(worker.has_vest)
    assert helmets == {True, False} and vests == {True, False}


def test_distractors_are_drawn_but_never_in_the_truth() -> None:
    hard_hats = tarps = 0
    for seed in range(8):
        scene = WorksiteScene(seed=seed)
        distractors = scene.distractors
        hard_hats += sum(d.kind == "hard hat" for d in distractors)
        tarps += sum(d.kind == "tarp" for d in distractors)
        background = scene._static_layer().image
        for index in range(0, 1200, 60):
            _, truth = scene.render(index)
            parts = [w.helmet_box for w in truth.workers if w.helmet_box]
            parts += [w.vest_box for w in truth.workers if w.vest_box]
            for distractor in distractors:
                x1, y1, x2, y2 = (int(v) for v in distractor.box)
                assert background[y1:y2, x1:x2].size > 0
                for part in parts:
                    assert _iou(part, distractor.box) < 0.5, (seed, index, distractor)
    assert hard_hats >= 3 and tarps >= 3


def test_truth_round_trips_through_json() -> None:
    _, truth = WorksiteScene(seed=5).render(42)
    assert truth.workers
    text = json.dumps(truth.to_dict())
    again = FrameTruth.from_dict(json.loads(text))
    assert again.index == 42
    assert [w.id for w in again.workers] == [w.id for w in truth.workers]
    for before, after in zip(truth.workers, again.workers, strict=True):
        assert np.allclose(before.person_box, after.person_box, atol=0.01)
        assert before.has_helmet == after.has_helmet and before.has_vest == after.has_vest


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"seed": -1}, "seed"),
        ({"width": 16}, "size"),
        ({"fps": 0.0}, "fps"),
    ],
)
def test_bad_arguments_are_rejected(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WorksiteScene(**kwargs)  # type: ignore[arg-type]


def test_negative_index_is_rejected() -> None:
    with pytest.raises(ValueError, match="index"):
        WorksiteScene(seed=1).render(-1)


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    inter_w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    inter_h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = inter_w * inter_h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
