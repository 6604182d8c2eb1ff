"""`python -m export ultralytics|parity`: real runs in the export venv, and its refusals.

Each refusal is one line on stderr, without a traceback, and writes nothing.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from export.ultralytics.metadata import VigiaMetadata
from tests.export.ultralytics.exports import BUILD_TIMEOUT_S, REPO, UltralyticsExports

pytestmark = pytest.mark.timeout(BUILD_TIMEOUT_S)

PROMPTS = REPO / "configs" / "demo-prompts.yaml"


def run(python: Path, env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(python), "-m", "export", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_main_venv_says_how_to_set_up_the_export_venv(tmp_path: Path) -> None:
    """Without ultralytics (the main venv) the command points at the export venv."""
    done = subprocess.run(
        [sys.executable, "-m", "export", "ultralytics", "yolo11n.yaml", "--out", "x.onnx"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "ultralytics-opencv-headless" in lines[0] and "make export-venv" in lines[0]
    assert ".venv-export/bin/python -m export ultralytics" in lines[0]


BAD_PROMPTS = {
    "list of numbers": "classes: [1, 2]\n",
    "prompt not a list": "classes:\n  helmet: {a: b}\n",
    "not yaml": "classes: [person\n",
}


def bad_prompt_files(folder: Path) -> dict[str, Path]:
    return {name: folder / f"prompts-{index}.yaml" for index, name in enumerate(BAD_PROMPTS)}


def refusal_cases(tmp_path: Path) -> dict[str, tuple[list[str], int, list[str]]]:
    """name -> (arguments, exit code, fragments of the message)."""
    prompts = bad_prompt_files(tmp_path)
    world = ["yolov8s-worldv2.yaml", "--imgsz", "160"]
    return {
        "no CLIP weights": (
            [*world, "--prompts", str(PROMPTS)],
            1,
            ["CLIP ViT-B/32", "ViT-B-32.pt", ".cache/clip/ViT-B-32.pt", "--clip-weights"],
        ),
        "CLIP weights file missing": (
            [*world, "--prompts", str(PROMPTS), "--clip-weights", "nowhere.pt"],
            2,
            ["--clip-weights nowhere.pt: file not found"],
        ),
        "YOLO-World without prompts": (world, 1, ["give --prompts PROMPTS.yaml"]),
        "prompts for a fixed-class model": (
            ["yolo11n.yaml", "--imgsz", "160", "--prompts", str(PROMPTS)],
            1,
            ["prompts apply to YOLO-World models"],
        ),
        "prompts: list of numbers": (
            [*world, "--prompts", str(prompts["list of numbers"])],
            1,
            [f"{prompts['list of numbers']}:1 classes: expected a mapping"],
        ),
        "prompts: a class without a list": (
            [*world, "--prompts", str(prompts["prompt not a list"])],
            1,
            [
                f"{prompts['prompt not a list']}:2 classes.helmet: unknown keys a (use role:, prompts:)"
            ],
        ),
        "prompts: not YAML": (
            [*world, "--prompts", str(prompts["not yaml"])],
            1,
            [str(prompts["not yaml"])],
        ),
        "prompts file missing": (
            [*world, "--prompts", "missing.yaml"],
            2,
            ["--prompts missing.yaml: file not found"],
        ),
        "RT-DETR with --nms": (["rtdetr-l.yaml", "--imgsz", "160", "--nms"], 1, ["no NMS"]),
        "size not a multiple of 32": (["yolo11n.yaml", "--imgsz", "150"], 2, ["multiple of 32"]),
        "--max-batch without --nms": (
            ["yolo11n.yaml", "--max-batch", "8"],
            2,
            ["--max-batch applies only to --nms"],
        ),
        "checkpoint missing": (["nothing-here.pt"], 1, ["checkpoint not found"]),
        "not a model file": (["weights.onnx"], 1, ["expected a .pt checkpoint"]),
    }


CASE_NAMES = list(refusal_cases(Path("/nonexistent-only-for-names")))


@pytest.mark.parametrize("name", CASE_NAMES)
def test_refusals(export_python: tuple[Path, dict[str, str]], tmp_path: Path, name: str) -> None:
    python, env = export_python
    for prompt, path in bad_prompt_files(tmp_path).items():
        path.write_text(BAD_PROMPTS[prompt])
    arguments, code, fragments = refusal_cases(tmp_path)[name]
    out = tmp_path / "out.onnx"
    done = run(python, env, tmp_path, "ultralytics", *arguments, "--out", str(out))
    assert done.returncode == code, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    message = [line for line in done.stderr.splitlines() if line.startswith("export: ")]
    assert len(message) == 1, done.stderr[-2000:]
    for fragment in fragments:
        assert fragment in message[0]
    assert not out.exists()
    assert not list(tmp_path.glob("*.onnx"))  # nothing left beside it either


@pytest.mark.slow
def test_yolo_world_export_through_clip(
    export_python: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """The real CLIP path: weights file loaded by `clip.load`, prompts tokenised and encoded,
    averaged per class, baked in, exported, parity held (a tiny random CLIP, tiny_clip.py)."""
    python, env = export_python
    weights = tmp_path / "tiny-clip.pt"
    subprocess.run(
        [str(python), "-m", "tests.export.ultralytics.tiny_clip", str(weights)],
        cwd=REPO,
        env=env,
        check=True,
        timeout=120,
    )
    out = tmp_path / "world.onnx"
    done = run(
        python,
        env,
        tmp_path,
        "ultralytics",
        "yolov8s-worldv2.yaml",
        "--imgsz",
        "160",
        "--prompts",
        str(PROMPTS),
        "--clip-weights",
        str(weights),
        "--out",
        str(out),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    last = done.stdout.strip().splitlines()[-1]  # after Ultralytics' own lines
    assert last.startswith(f"exported {out}: yolo layout, 3 classes, input [160, 160]")
    model = onnx.load(str(out))
    metadata = VigiaMetadata.from_props({p.key: p.value for p in model.metadata_props})
    assert metadata.classes == ("person", "helmet", "vest")
    assert metadata.prompts is not None and metadata.prompts["helmet"] == (
        "hard hat",
        "safety helmet",
    )
    output = [d.dim_param or d.dim_value for d in model.graph.output[0].type.tensor_type.shape.dim]
    assert output == ["batch", 7, "anchors"]


def scaled_copy(source: Path, target: Path, factor: float) -> None:
    """`source` with its largest convolution weight multiplied by `factor`."""
    model = onnx.load(str(source))
    largest = max(model.graph.initializer, key=lambda tensor: int(np.prod(tensor.dims)))
    values = numpy_helper.to_array(largest) * np.float32(factor)
    largest.CopyFrom(numpy_helper.from_array(values, largest.name))
    onnx.save(model, str(target))


@pytest.mark.parametrize(
    ("model", "variant", "factor", "holds"),
    [
        ("yolo11n", "dynamic", 1.0, True),
        ("yolo11n", "dynamic", 1.02, False),
        ("rtdetr-l", "batch1", 1.02, False),
        ("yolov8s", "nms", 1.05, False),
    ],
)
def test_parity_command_catches_a_changed_weight(
    ultralytics_exports: UltralyticsExports,
    export_python: tuple[Path, dict[str, str]],
    tmp_path: Path,
    model: str,
    variant: str,
    factor: float,
    holds: bool,
) -> None:
    python, env = export_python
    checkpoint = tmp_path / f"{model}.pt"
    shutil.copy(ultralytics_exports.checkpoint(model), checkpoint)
    changed = tmp_path / "changed.onnx"
    scaled_copy(ultralytics_exports.onnx(model, variant), changed, factor)
    done = run(python, env, tmp_path, "parity", str(checkpoint), str(changed))
    assert "Traceback" not in done.stderr
    if holds:
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.strip().splitlines()[-1].startswith(f"parity holds for {changed}")
    else:
        assert done.returncode == 1
        assert "ONNX Runtime and PyTorch disagree" in done.stderr
