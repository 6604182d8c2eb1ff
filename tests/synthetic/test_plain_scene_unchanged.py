"""Plain scenes render exactly what they rendered before compliance scenes existed.

The demo detector was trained and evaluated on plain scenes, and its model card's figures
(models/demo/README.md) and tests/export/test_evaluate.py depend on them: adding scripted
cases (props, a zone, scripted workers) must not move a pixel or a truth value of the
default scene. The digests were recorded from the scene code before compliance scenes were
added (commit 286c313): frames' bytes, truth dicts and distractor boxes.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from pipeline.synthetic import WorksiteScene

INDICES = (0, 37, 250, 1001, 4999)
RECORDED = [
    (0, 640, 360, "8eaf8505b0e807b876b31e89da8642cc3689bd30c2023613542d861ca3c9efb4"),
    (5, 1280, 720, "188c9b6bc739e3e56f31b8518ef3d8ada7f4b604a2449a4525944446f93c85ae"),
    (21, 480, 640, "de12c1b955cf58c633af8e98e8543084bac118fa3a8ae2d58e9e4f7ba969ff36"),
    (12345, 640, 360, "79cae336e802ff765dedd11d73981728e7606c912da462d26608c3062003945d"),
    (20003, 960, 540, "f3fcf5ae13dc2d2e6ad4d0c76dfff062ed1cd1ca3844c9bfdb8782be0d0d0f73"),
]


def scene_digest(scene: WorksiteScene) -> str:
    digest = hashlib.sha256()
    for index in INDICES:
        frame, truth = scene.render(index)
        digest.update(frame.tobytes())
        digest.update(json.dumps(truth.to_dict(), sort_keys=True).encode())
    distractors = [(item.kind, item.box) for item in scene.distractors]
    digest.update(json.dumps(distractors).encode())
    return digest.hexdigest()


@pytest.mark.parametrize(("seed", "width", "height", "recorded"), RECORDED)
def test_plain_scene_is_bit_identical_to_the_recorded_one(
    seed: int, width: int, height: int, recorded: str
) -> None:
    scene = WorksiteScene(seed=seed, width=width, height=height, fps=10.0)
    assert scene.zone is None and scene.script is None
    assert scene_digest(scene) == recorded


def test_compliance_scene_differs_from_the_plain_one() -> None:
    """The digest does see a change: the compliance scene of the same seed is another one."""
    seed, width, height, recorded = RECORDED[0]
    scene = WorksiteScene(seed=seed, width=width, height=height, fps=10.0, compliance=True)
    assert scene_digest(scene) != recorded
