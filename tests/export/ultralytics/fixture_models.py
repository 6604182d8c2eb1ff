"""Builds the exported models the test suite decodes: run in the export venv by conftest.py,
`python -m tests.export.ultralytics.fixture_models OUT_DIR`.

Each architecture is built from Ultralytics' own .yaml with random weights (no download:
YOLO_OFFLINE=1 and a temporary YOLO_CONFIG_DIR, set by the caller), its scores woken so that
boxes pass thresholds (`wake`), saved as a .pt checkpoint as a user would bring one, then
exported by `export_model` in each variant at IMGSZ. YOLO-World gets the demo prompts baked in
with a seeded stand-in for CLIP (`SeededTextEncoder`: CLIP's weights are not on this machine).
OUT_DIR/manifest.json lists every file with its inputs, outputs and metadata; written last,
so its presence means the set is complete.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import onnx
import torch

from export.ultralytics.exporting import export_model
from export.ultralytics.metadata import PREFIX
from export.ultralytics.parity import parity_images
from export.ultralytics.request import ExportRequest

logger = logging.getLogger(__name__)

IMGSZ = 160  # small: CPU time; 525 anchors per image (20x20 + 10x10 + 5x5)
PROMPTS = Path("configs/demo-prompts.yaml")
# name -> Ultralytics architecture file
ARCHITECTURES = {
    "yolo11n": "yolo11n.yaml",
    "yolov8s": "yolov8s.yaml",
    "rtdetr-l": "rtdetr-l.yaml",
    "yolov8s-worldv2": "yolov8s-worldv2.yaml",
}
# variant -> ExportRequest fields; `nms` is dynamic with at most 4 images per call.
VARIANTS: dict[str, dict[str, Any]] = {
    "dynamic": {"dynamic": True},
    "batch1": {"dynamic": False, "batch": 1},
    "batch4": {"dynamic": False, "batch": 4},
    "nms": {"dynamic": True, "nms": True, "max_batch": 4},
}
# Ultralytics refuses nms=True for RT-DETR (no NMS in its head); YOLO-World: one variant.
MODEL_VARIANTS = {
    "yolo11n": ("dynamic", "batch1", "batch4", "nms"),
    "yolov8s": ("dynamic", "batch1", "batch4", "nms"),
    "rtdetr-l": ("dynamic", "batch1", "batch4"),
    "yolov8s-worldv2": ("dynamic", "nms"),
}


class SeededTextEncoder:
    """Stands in for the CLIP text encoder (whose weights cannot be fetched here): each prompt
    maps to a fixed pseudo-random unit vector seeded by its text, the shape CLIP gives."""

    def __init__(self, dim: int = 512) -> None:
        self.dim = dim

    def encode(self, prompts: Sequence[str]) -> torch.Tensor:
        rows = []
        for prompt in prompts:
            seed = int.from_bytes(hashlib.sha256(prompt.encode()).digest()[:8], "little")
            vector = torch.randn(self.dim, generator=torch.Generator().manual_seed(seed))
            rows.append(vector / vector.norm())
        return torch.stack(rows)


# Class logits of a woken model: about N(-1.5, 1), so the best of 80 classes scores ~0.7,
# spread enough that scores rarely tie and never saturate at 1.0.
LOGIT_MEAN, LOGIT_STD = -1.5, 1.0


def wake(network: Any) -> None:
    """Make random weights score like a trained model, so thresholds pass and NMS has work.

    Batch-norm statistics are re-estimated on a few images (the defaults, mean 0 and variance
    1, leave activations badly scaled), then each class-score layer is rescaled so that its
    logits on those images have mean LOGIT_MEAN and deviation LOGIT_STD (Ultralytics
    initialises them for a prior of ~1e-4: nothing would pass a threshold).
    """
    norms = [m for m in network.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a plain average over the batches below
    calibration = [
        torch.from_numpy(parity_images(4, (IMGSZ, IMGSZ), seed=100 + seed)) for seed in range(2)
    ]
    network.train()
    with torch.no_grad():
        for images in calibration:
            network(images)
    network.eval()
    layers = class_score_layers(network)
    outputs: dict[int, list[torch.Tensor]] = {index: [] for index in range(len(layers))}
    hooks = [
        layer.register_forward_hook(
            lambda _module, _inputs, output, index=index: outputs[index].append(output.detach())
        )
        for index, layer in enumerate(layers)
    ]
    with torch.no_grad():
        for images in calibration:
            network(images)
    for hook in hooks:
        hook.remove()
    with torch.no_grad():
        for index, layer in enumerate(layers):
            if not outputs[index]:
                continue  # a decoder layer that inference does not score with
            values = torch.cat([value.flatten() for value in outputs[index]])
            scale = LOGIT_STD / values.std().clamp(min=1e-6)
            shift = LOGIT_MEAN - values.mean() * scale
            if hasattr(layer, "logit_scale"):  # YOLO-World's contrastive head
                layer.logit_scale.add_(torch.log(scale))
            else:
                layer.weight.mul_(scale)
            layer.bias.mul_(scale).add_(shift)


def class_score_layers(network: Any) -> list[Any]:
    """The layers whose outputs are class logits: Detect's last class convolutions,
    YOLO-World's contrastive heads, RT-DETR's decoder score heads."""
    from ultralytics.nn.modules.head import Detect, RTDETRDecoder, WorldDetect

    head = network.model[-1]
    if isinstance(head, WorldDetect):
        return list(head.cv4)
    if isinstance(head, Detect):
        return [branch[-1] for branch in head.cv3]
    if isinstance(head, RTDETRDecoder):
        # Not the encoder's score head: it picks the 300 queries by top-k, and spread scores
        # there make near-ties at the cut that change every query through self-attention.
        return list(head.dec_score_head)
    raise TypeError(f"no class-score layers known for a {type(head).__name__} head")


def build_checkpoint(name: str, folder: Path) -> Path:
    from ultralytics import RTDETR, YOLO

    architecture = ARCHITECTURES[name]
    torch.manual_seed(0)  # the same random weights on every build
    model = RTDETR(architecture) if name.startswith("rtdetr") else YOLO(architecture)
    wake(model.model)
    path = folder / f"{name}.pt"
    model.save(str(path))
    return path


def describe_tensors(values: Sequence[Any]) -> list[list[Any]]:
    return [
        [value.name, [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]]
        for value in values
    ]


def without_vigia_keys(source: Path, target: Path) -> None:
    """The file as Ultralytics wrote it: the export minus the `vigia_*` metadata."""
    model = onnx.load(str(source))
    kept = [(p.key, p.value) for p in model.metadata_props if not p.key.startswith(PREFIX)]
    del model.metadata_props[:]
    for key, value in kept:
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(target))


def build(out: Path) -> dict[str, Any]:
    checkpoints = out / "checkpoints"
    checkpoints.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {"imgsz": [IMGSZ, IMGSZ], "models": {}}
    for name, variants in MODEL_VARIANTS.items():
        started = time.monotonic()
        checkpoint = build_checkpoint(name, checkpoints)
        entry: dict[str, Any] = {"checkpoint": str(checkpoint.relative_to(out)), "variants": {}}
        world = "world" in name
        for variant in variants:
            path = out / f"{name}-{variant}.onnx"
            request = ExportRequest(
                source=checkpoint,
                out=path,
                imgsz=(IMGSZ, IMGSZ),
                prompts=PROMPTS if world else None,
                **VARIANTS[variant],
            )
            export_model(request, encoder=SeededTextEncoder() if world else None)
            plain = out / f"{name}-{variant}.ultralytics.onnx"
            without_vigia_keys(path, plain)
            model = onnx.load(str(path))
            entry["variants"][variant] = {
                "path": path.name,
                "ultralytics_path": plain.name,
                "inputs": describe_tensors(model.graph.input),
                "outputs": describe_tensors(model.graph.output),
                "metadata": {p.key: p.value for p in model.metadata_props},
            }
        manifest["models"][name] = entry
        logger.info("%s: %d variants in %.0f s", name, len(variants), time.monotonic() - started)
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path, help="empty folder for the files and manifest.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s [%(levelname)s] %(message)s")
    manifest = build(args.out)
    partial = args.out / "manifest.json.partial"
    partial.write_text(json.dumps(manifest, indent=1))
    partial.rename(args.out / "manifest.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
