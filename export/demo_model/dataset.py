"""Training and evaluation data from synthetic worksite scenes, in the runtime's geometry.

Scene seeds below TRAIN_SEED_LIMIT are for training; evaluation uses seeds at or above it, so
no evaluated scene (camera, layout, clutter, workers) was ever seen in training.

Frames are letterboxed into the model input with the runtime's own `Letterbox`, so that the
model trains on exactly what the inference process feeds it. Which ground truth counts is
decided by `TruthRules`, from sizes measured in model-input pixels: what the detector sees.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import cv2
import numpy as np

from export.demo_model import CLASS_NAMES, INPUT_SIZE
from pipeline.infer.letterbox import Letterbox
from pipeline.synthetic import FrameTruth, WorksiteScene

TRAIN_SEED_LIMIT = 10_000
# Training may draw a share of its samples from compliance scenes (WorksiteScene(compliance=
# True): workers without a hard hat or vest next to a hard hat on a crate and a vest-coloured
# tarp, crossings, walks behind a cabin), from seeds COMPLIANCE_SEEDS only: the alert bench's
# scenes (seeds 777, 1234 and 4242 and the two after each) are not among them.
COMPLIANCE_SEEDS = range(5_000, TRAIN_SEED_LIMIT)
PERSON, HELMET, VEST = (CLASS_NAMES.index(name) for name in ("person", "helmet", "vest"))
# 16:9 sources fill rows 70..250 of the square input; training batches of such frames keep
# rows WIDE_TOP..WIDE_TOP+WIDE_ROWS only (the content and a strip of padding), which saves
# 40% of the compute. WIDE_TOP is a multiple of the largest stride, so every output cell
# sees the same image position as in the full input.
WIDE_TOP, WIDE_ROWS = 64, 192


@dataclass(frozen=True)
class TruthRules:
    """Which ground truth a detector is held to. Sizes are in model-input pixels.

    A person is *ignored* (neither a miss if undetected nor a false positive if detected)
    when it is less visible than `person_visibility` or shorter than `person_height`; a
    helmet or vest when its wearer is ignored, or it is less visible or smaller than its own
    limits (helmet width, vest height).
    """

    person_height: float
    person_visibility: float
    helmet_width: float
    helmet_visibility: float
    vest_height: float
    vest_visibility: float


EVALUATION_RULES = TruthRules(12.0, 0.3, 6.0, 0.5, 8.0, 0.4)
# Training holds the detector to somewhat smaller and more hidden objects than evaluation,
# so that objects just above the evaluation limits are learnt with a margin.
TRAINING_RULES = TruthRules(7.0, 0.2, 3.5, 0.35, 5.0, 0.3)


@dataclass(frozen=True)
class LabelledBoxes:
    """Boxes (N, 4) x1, y1, x2, y2 float32, class ids (N,) int64, ignore flags (N,) bool."""

    boxes: np.ndarray
    classes: np.ndarray
    ignore: np.ndarray

    def __len__(self) -> int:
        return int(self.classes.shape[0])


def label_truth(truth: FrameTruth, rules: TruthRules, input_scale: float) -> LabelledBoxes:
    """Truth of one frame as labelled boxes in frame pixels; `input_scale` is the letterbox
    scale (input pixels per frame pixel) that the size limits are measured in."""
    boxes, classes, ignore = [], [], []
    for worker in truth.workers:
        person_height = worker.person_box[3] - worker.person_box[1]
        person_ignored = (
            worker.visibility < rules.person_visibility
            or person_height * input_scale < rules.person_height
        )
        boxes.append(worker.person_box)
        classes.append(PERSON)
        ignore.append(person_ignored)
        if worker.helmet_box is not None:
            width = (worker.helmet_box[2] - worker.helmet_box[0]) * input_scale
            boxes.append(worker.helmet_box)
            classes.append(HELMET)
            ignore.append(
                person_ignored
                or worker.helmet_visibility < rules.helmet_visibility
                or width < rules.helmet_width
            )
        if worker.vest_box is not None:
            height = (worker.vest_box[3] - worker.vest_box[1]) * input_scale
            boxes.append(worker.vest_box)
            classes.append(VEST)
            ignore.append(
                person_ignored
                or worker.vest_visibility < rules.vest_visibility
                or height < rules.vest_height
            )
    return LabelledBoxes(
        np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
        np.asarray(classes, dtype=np.int64),
        np.asarray(ignore, dtype=bool),
    )


class SceneCache:
    """Keeps recently used scenes: building a scene's static layer costs more than a frame."""

    def __init__(self, capacity: int = 48) -> None:
        self.capacity = capacity
        self._scenes: OrderedDict[tuple[int, int, int, bool], WorksiteScene] = OrderedDict()

    def get(self, seed: int, width: int, height: int, compliance: bool = False) -> WorksiteScene:
        key = (seed, width, height, compliance)
        scene = self._scenes.pop(key, None)
        if scene is None:
            scene = WorksiteScene(seed=seed, width=width, height=height, compliance=compliance)
        self._scenes[key] = scene
        while len(self._scenes) > self.capacity:
            self._scenes.popitem(last=False)
        return scene


WIDE_SIZES = ((640, 360), (1280, 720), (960, 540))
WIDE_WEIGHTS = (0.7, 0.2, 0.1)
SQUARE_SIZES = ((640, 360), (1280, 720), (960, 540), (640, 480), (800, 600), (480, 640))
SQUARE_WEIGHTS = (0.3, 0.15, 0.1, 0.2, 0.1, 0.15)


def training_sample(
    rng: np.random.Generator,
    scenes: SceneCache,
    seed: int,
    wide: bool,
    compliance: bool = False,
) -> tuple[np.ndarray, LabelledBoxes]:
    """One augmented sample from scene `seed` (its compliance scene with `compliance`): the
    letterboxed image (uint8 BGR, INPUT_SIZE square, or WIDE_ROWS x INPUT_SIZE when `wide`)
    and its boxes in that image's pixels.

    Augmentations: frame size, zoom crops (larger objects), portrait crops (other aspect
    ratios, square batches only), horizontal flips and JPEG compression.
    """
    if not 0 <= seed < TRAIN_SEED_LIMIT:
        raise ValueError(f"training seeds are 0..{TRAIN_SEED_LIMIT - 1}, got {seed}")
    if compliance and seed not in COMPLIANCE_SEEDS:
        first, last = COMPLIANCE_SEEDS[0], COMPLIANCE_SEEDS[-1]
        raise ValueError(f"compliance scenes for training are seeds {first}..{last}, got {seed}")
    # A scene keeps one frame size per batch kind, so the scene cache serves most samples.
    sizes, weights = (WIDE_SIZES, WIDE_WEIGHTS) if wide else (SQUARE_SIZES, SQUARE_WEIGHTS)
    size_rng = np.random.default_rng([seed, int(wide)])
    width, height = sizes[int(size_rng.choice(len(sizes), p=weights))]
    scene = scenes.get(seed, width, height, compliance)
    frame, truth = scene.render(int(rng.integers(0, 30_000)))
    labels = label_truth(truth, TRAINING_RULES, 1.0)  # sizes are checked after the letterbox

    crop = (0, 0, width, height)
    roll = rng.random()
    if roll < 0.35:
        zoom = float(rng.uniform(0.45, 0.9))
        crop_w, crop_h = round(width * zoom), round(height * zoom)
        x = int(rng.integers(0, width - crop_w + 1))
        y = int(rng.integers(0, height - crop_h + 1))
        crop = (x, y, x + crop_w, y + crop_h)
    elif roll < 0.55 and not wide:
        crop_h = round(height * float(rng.uniform(0.7, 1.0)))
        crop_w = min(width, round(crop_h * float(rng.uniform(0.45, 0.85))))
        x = int(rng.integers(0, width - crop_w + 1))
        y = int(rng.integers(0, height - crop_h + 1))
        crop = (x, y, x + crop_w, y + crop_h)
    image = frame[crop[1] : crop[3], crop[0] : crop[2]]
    labels = _crop_labels(labels, crop)
    if rng.random() < 0.5:
        image = image[:, ::-1]
        flipped = labels.boxes.copy()
        flipped[:, 0] = image.shape[1] - labels.boxes[:, 2]
        flipped[:, 2] = image.shape[1] - labels.boxes[:, 0]
        labels = LabelledBoxes(flipped, labels.classes, labels.ignore)
    image = np.ascontiguousarray(image)
    if rng.random() < 0.3:
        quality = int(rng.integers(30, 90))
        _, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        decoded = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
        if decoded is None:
            raise RuntimeError("OpenCV could not decode its own JPEG")
        image = decoded

    letterbox = Letterbox.fit(image.shape[1], image.shape[0], INPUT_SIZE, INPUT_SIZE)
    boxes = letterbox.to_input(labels.boxes)
    ignore = labels.ignore | _too_small(boxes, labels.classes, TRAINING_RULES)
    letterboxed = letterbox.apply(image)
    if wide:
        if letterbox.pad_y < WIDE_TOP or letterbox.pad_y + letterbox.new_h > WIDE_TOP + WIDE_ROWS:
            raise ValueError(f"a {image.shape[1]}x{image.shape[0]} frame is not wide")
        letterboxed = letterboxed[WIDE_TOP : WIDE_TOP + WIDE_ROWS]
        boxes[:, 1::2] -= WIDE_TOP
    return np.ascontiguousarray(letterboxed), LabelledBoxes(boxes, labels.classes, ignore)


def _crop_labels(labels: LabelledBoxes, crop: tuple[int, int, int, int]) -> LabelledBoxes:
    """Boxes cut to `crop` and shifted into it; boxes left with under half their area become
    ignored, boxes wholly outside are dropped."""
    x1, y1, x2, y2 = crop
    boxes = labels.boxes
    clipped = np.stack(
        [
            np.clip(boxes[:, 0], x1, x2),
            np.clip(boxes[:, 1], y1, y2),
            np.clip(boxes[:, 2], x1, x2),
            np.clip(boxes[:, 3], y1, y2),
        ],
        axis=1,
    )
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    kept_area = (clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1])
    inside = kept_area > 0
    ignore = labels.ignore | (kept_area < 0.5 * np.maximum(area, 1e-6))
    shifted = clipped - np.array([x1, y1, x1, y1], dtype=np.float32)
    return LabelledBoxes(shifted[inside].astype(np.float32), labels.classes[inside], ignore[inside])


def _too_small(boxes: np.ndarray, classes: np.ndarray, rules: TruthRules) -> np.ndarray:
    widths = boxes[:, 2] - boxes[:, 0]
    heights = boxes[:, 3] - boxes[:, 1]
    return (
        ((classes == PERSON) & (heights < rules.person_height))
        | ((classes == HELMET) & (widths < rules.helmet_width))
        | ((classes == VEST) & (heights < rules.vest_height))
    )
