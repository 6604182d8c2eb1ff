"""Whether this Python can export Ultralytics models: the export venv's packages, checked.

Importable without any of them (the main venv's `python -m export` asks it first). Run as
`python -m export.ultralytics.environment` it checks every package of requirements-export.txt
that the export imports, and that torchvision's compiled NMS op runs beside this torch (the
failure a mismatched pair shows: `operator torchvision::nms does not exist`).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import warnings
from pathlib import Path

# Module -> the package (requirements-export.txt) that provides it.
REQUIRED_MODULES: dict[str, str] = {
    "torch": "torch",
    "torchvision": "torchvision",
    "ultralytics": "ultralytics-opencv-headless",
    "onnx": "onnx",
    "onnxslim": "onnxslim",
    "onnxruntime": "onnxruntime",
    "clip": "clip-anytorch",
    "yaml": "PyYAML",
    "pydantic": "pydantic",
}

SETUP_COMMAND = "make export-venv (or: bash export/setup_venv.sh)"
EXPORT_PYTHON = Path(".venv-export/bin/python")


def missing_packages() -> list[str]:
    """Packages whose modules this interpreter cannot find (found only, not imported)."""
    return [
        package
        for module, package in REQUIRED_MODULES.items()
        if importlib.util.find_spec(module) is None
    ]


def setup_hint(missing: list[str]) -> str:
    """The one line that says what to install and how to run the export instead."""
    return (
        f"{', '.join(missing)} not installed in {sys.executable}: exporting Ultralytics "
        f"models needs the export venv: run {SETUP_COMMAND}, then "
        f"{EXPORT_PYTHON} -m export ultralytics ..."
    )


def import_problems() -> list[str]:
    """Each required module imported for real, then torchvision's NMS run on two boxes;
    one line per problem, naming the package."""
    problems = []
    for module, package in REQUIRED_MODULES.items():
        try:
            with warnings.catch_warnings():
                # The CLIP package imports pkg_resources, which warns on import.
                warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
                importlib.import_module(module)
        except Exception as error:  # any import failure is reported by package name
            problems.append(f"{package}: import {module} failed: {error}")
    if problems:
        return problems
    import torch
    import torchvision

    try:
        boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 10.0, 10.0]])
        kept = torchvision.ops.nms(boxes, torch.tensor([0.9, 0.8]), 0.5)
    except RuntimeError as error:
        return [
            f"torchvision {torchvision.__version__}: its NMS op does not run beside torch "
            f"{torch.__version__} ({error}); install the pair pinned in requirements-export.txt"
        ]
    if kept.tolist() != [0]:
        return [f"torchvision {torchvision.__version__}: NMS kept {kept.tolist()}, expected [0]"]
    return []


def main() -> int:
    problems = import_problems()
    for problem in problems:
        print(f"export venv: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
