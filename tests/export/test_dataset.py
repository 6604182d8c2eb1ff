"""Training samples and the ground-truth rules shared by training and evaluation."""

from __future__ import annotations

import numpy as np
import pytest

from export.demo_model.dataset import (
    COMPLIANCE_SEEDS,
    EVALUATION_RULES,
    HELMET,
    PERSON,
    TRAIN_SEED_LIMIT,
    VEST,
    WIDE_ROWS,
    SceneCache,
    label_truth,
    training_sample,
)
from export.demo_model.evaluate import evaluation_plan
from pipeline.synthetic import FrameTruth, WorkerTruth


def worker(
    height: float, visibility: float = 1.0, helmet_width: float = 0.0, vest_height: float = 0.0
) -> WorkerTruth:
    top = 100.0
    helmet = (50.0, top, 50.0 + helmet_width, top + 5.0) if helmet_width else None
    vest = (45.0, top + 20.0, 60.0, top + 20.0 + vest_height) if vest_height else None
    return WorkerTruth(
        id=1,
        person_box=(40.0, top, 70.0, top + height),
        helmet_box=helmet,
        vest_box=vest,
        has_helmet=helmet is not None,
        has_vest=vest is not None,
        visibility=visibility,
        helmet_visibility=1.0 if helmet else 0.0,
        vest_visibility=1.0 if vest else 0.0,
    )


@pytest.mark.parametrize(
    ("truth_worker", "scale", "expected"),
    [
        # Tall and visible: every part counts.
        (worker(100, 1.0, 20, 30), 1.0, [(PERSON, False), (HELMET, False), (VEST, False)]),
        # Mostly hidden: the person and what it wears are ignored.
        (worker(100, 0.2, 20, 30), 1.0, [(PERSON, True), (HELMET, True), (VEST, True)]),
        # Too small in the model input once the frame is shrunk 4x (100 px -> 25 px is fine,
        # the 20 px helmet -> 5 px is not, the 30 px vest -> 7.5 px is not).
        (worker(100, 1.0, 20, 30), 0.25, [(PERSON, False), (HELMET, True), (VEST, True)]),
        # A 40 px person shrunk 4x is 10 px: ignored.
        (worker(40), 0.25, [(PERSON, True)]),
    ],
)
def test_evaluation_rules(
    truth_worker: WorkerTruth, scale: float, expected: list[tuple[int, bool]]
) -> None:
    labels = label_truth(FrameTruth(0, [truth_worker]), EVALUATION_RULES, scale)
    assert list(zip(labels.classes.tolist(), labels.ignore.tolist(), strict=True)) == expected
    assert labels.boxes.dtype == np.float32 and labels.boxes.shape == (len(expected), 4)


@pytest.mark.parametrize("wide", [False, True])
def test_training_samples_are_letterboxed_and_reproducible(wide: bool) -> None:
    scenes = SceneCache()
    first = [training_sample(np.random.default_rng([3, i]), scenes, 40 + i, wide) for i in range(6)]
    again = [training_sample(np.random.default_rng([3, i]), scenes, 40 + i, wide) for i in range(6)]
    rows = WIDE_ROWS if wide else 320
    boxes_seen = 0
    for (image, labels), (image_again, labels_again) in zip(first, again, strict=True):
        assert image.shape == (rows, 320, 3) and image.dtype == np.uint8
        assert np.array_equal(image, image_again)
        assert np.array_equal(labels.boxes, labels_again.boxes)
        boxes_seen += len(labels)
        if len(labels):
            assert labels.boxes[:, 0].min() >= -0.5 and labels.boxes[:, 2].max() <= 320.5
            assert labels.boxes[:, 1].min() >= -0.5 and labels.boxes[:, 3].max() <= rows + 0.5
            assert np.all(labels.boxes[:, 2] > labels.boxes[:, 0])
    assert boxes_seen > 0


def test_training_refuses_evaluation_seeds() -> None:
    with pytest.raises(ValueError, match="training seeds"):
        training_sample(np.random.default_rng(0), SceneCache(), TRAIN_SEED_LIMIT, False)


def test_compliance_samples_come_from_their_own_seeds_and_differ_from_plain_ones() -> None:
    scenes = SceneCache()
    seed = COMPLIANCE_SEEDS[0]
    plain = training_sample(np.random.default_rng(1), scenes, seed, True)
    scripted = training_sample(np.random.default_rng(1), scenes, seed, True, compliance=True)
    again = training_sample(np.random.default_rng(1), scenes, seed, True, compliance=True)
    assert np.array_equal(scripted[0], again[0])
    assert not np.array_equal(plain[0], scripted[0])
    for bench_seed in (777, 1234, 4242):  # the alert bench's scenes are never trained on
        with pytest.raises(ValueError, match="compliance scenes for training"):
            training_sample(np.random.default_rng(0), scenes, bench_seed, True, compliance=True)


def test_evaluation_uses_only_held_out_seeds() -> None:
    plan = evaluation_plan(12345, 300)
    assert len(plan) == 300
    assert min(item.scene_seed for item in plan) >= TRAIN_SEED_LIMIT
    assert len({item.scene_seed for item in plan}) >= 10
    assert len({(item.width, item.height) for item in plan}) >= 3
    with pytest.raises(ValueError, match="evaluation seeds"):
        evaluation_plan(TRAIN_SEED_LIMIT - 1, 10)
