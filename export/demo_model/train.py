"""Train the demo PPE detector on synthetic worksite scenes and write the ONNX model.

    python -m export.demo_model.train            # also `make demo-model`

Reproducible: every batch is a pure function of (--seed, step), and torch is seeded. Runs on
CPU (two threads) in about 30 minutes. Scenes use seeds below TRAIN_SEED_LIMIT only; the
evaluation uses seeds at or above it.
"""

from __future__ import annotations

import argparse
import logging
import math
import time
from concurrent.futures import Future, ThreadPoolExecutor
from copy import deepcopy
from pathlib import Path

import cv2
import numpy as np
import torch

from export.demo_model import DEFAULT_ONNX
from export.demo_model.dataset import (
    COMPLIANCE_SEEDS,
    TRAIN_SEED_LIMIT,
    LabelledBoxes,
    SceneCache,
    training_sample,
)
from export.demo_model.loss import Targets, detection_loss
from export.demo_model.model import PPEDetector, anchor_points, decode_boxes, flatten_outputs
from export.demo_model.onnx_export import export_onnx

logger = logging.getLogger(__name__)

WIDTHS = (16, 32, 48, 64, 96)


class BatchMaker:
    """Builds batch `step` from (seed, step) alone; scenes are cached across steps."""

    def __init__(self, seed: int, batch_size: int, compliance_share: float = 0.0) -> None:
        self.seed = seed
        self.batch_size = batch_size
        self.compliance_share = compliance_share
        self.scenes = SceneCache(capacity=160)

    def __call__(self, step: int) -> tuple[torch.Tensor, Targets]:
        rng = np.random.default_rng([self.seed, step])
        wide = step % 4 != 0  # three batches in four use only 16:9 frames, cropped (dataset)
        # Scenes slide through the training seeds: each is used for a few dozen samples.
        base = (step // 4) % (TRAIN_SEED_LIMIT - 64)
        compliance_base = COMPLIANCE_SEEDS[(step // 4) % (len(COMPLIANCE_SEEDS) - 16)]
        images, labels = [], []
        for _ in range(self.batch_size):
            # (No draw without compliance scenes: batches stay those of earlier versions.)
            if self.compliance_share and rng.random() < self.compliance_share:
                scene_seed, compliance = compliance_base + int(rng.integers(0, 16)), True
            else:
                scene_seed, compliance = base + int(rng.integers(0, 64)), False
            image, boxes = training_sample(rng, self.scenes, scene_seed, wide, compliance)
            images.append(image)
            labels.append(boxes)
        rgb = np.stack([cv2.cvtColor(image, cv2.COLOR_BGR2RGB) for image in images])
        # NHWC memory seen as NCHW is channels_last, the layout the network runs in: no copy.
        tensor = torch.from_numpy(rgb).permute(0, 3, 1, 2).float().div_(255.0)
        return tensor, _targets(labels)


def _targets(labels: list[LabelledBoxes]) -> Targets:
    most = max(1, max(len(item) for item in labels))
    boxes = torch.zeros(len(labels), most, 4)
    classes = torch.full((len(labels), most), -1, dtype=torch.int64)
    valid = torch.zeros(len(labels), most, dtype=torch.bool)
    ignore = torch.zeros(len(labels), most, dtype=torch.bool)
    for i, item in enumerate(labels):
        n = len(item)
        boxes[i, :n] = torch.from_numpy(item.boxes)
        classes[i, :n] = torch.from_numpy(item.classes)
        valid[i, :n] = True
        ignore[i, :n] = torch.from_numpy(item.ignore)
    return Targets(boxes, classes, valid, ignore)


class ModelAverage:
    """Exponential moving average of the weights, ramped up over the first steps."""

    def __init__(self, model: PPEDetector, decay: float = 0.998, ramp: float = 200.0):
        self.model: PPEDetector = deepcopy(model).eval()
        self.decay, self.ramp, self.updates = decay, ramp, 0
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)

    def update(self, model: PPEDetector) -> None:
        self.updates += 1
        decay = self.decay * (1 - math.exp(-self.updates / self.ramp))
        with torch.no_grad():
            source = model.state_dict()
            for name, value in self.model.state_dict().items():
                if value.dtype.is_floating_point:
                    value.mul_(decay).add_(source[name].detach(), alpha=1 - decay)
                else:
                    value.copy_(source[name])


def learning_rate(step: int, steps: int, peak: float, warmup: int) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return peak * (0.04 + 0.96 * 0.5 * (1 + math.cos(math.pi * progress)))


def train(
    steps: int,
    batch_size: int,
    seed: int,
    peak_lr: float,
    output: Path,
    checkpoint: Path,
    compliance_share: float = 0.0,
) -> PPEDetector:
    torch.manual_seed(seed)
    model = PPEDetector(widths=WIDTHS)
    # channels_last runs the convolutions about 15% faster on CPU (torch's stubs omit it).
    model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    average = ModelAverage(model)
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for name, parameter in model.named_parameters():
        (decay if parameter.ndim == 4 and "bias" not in name else no_decay).append(parameter)
    optimiser = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 5e-4}, {"params": no_decay, "weight_decay": 0.0}],
        lr=peak_lr,
        betas=(0.9, 0.99),
    )
    make_batch = BatchMaker(seed, batch_size, compliance_share)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=1) as prefetch:
        pending: Future[tuple[torch.Tensor, Targets]] = prefetch.submit(make_batch, 0)
        for step in range(steps):
            images, targets = pending.result()
            if step + 1 < steps:
                pending = prefetch.submit(make_batch, step + 1)
            for group in optimiser.param_groups:
                group["lr"] = learning_rate(step, steps, peak_lr, warmup=150)
            outputs = model(images)
            points, strides = anchor_points(outputs)
            raw, logits = flatten_outputs(outputs)
            boxes = decode_boxes(raw, points, strides)
            loss, parts = detection_loss(raw, logits, boxes, points, strides, targets)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            optimiser.step()
            average.update(model)
            if step % 50 == 0 or step == steps - 1:
                elapsed = time.monotonic() - started
                logger.info(
                    "step %d/%d loss %.3f (cls %.3f box %.3f dfl %.3f) lr %.2e %.0fs",
                    step,
                    steps,
                    float(loss.detach()),
                    parts["cls"],
                    parts["box"],
                    parts["dfl"],
                    optimiser.param_groups[0]["lr"],
                    elapsed,
                )
    final = average.model
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"widths": WIDTHS, "state_dict": final.state_dict()}, checkpoint)
    difference = export_onnx(final, output)
    print(
        f"exported {output} in {time.monotonic() - started:.0f}s; "
        f"ONNX Runtime vs torch max abs diff {difference:.2e}"
    )
    return final


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--steps", type=int, default=2600, help="optimiser steps")
    parser.add_argument("--batch", type=int, default=16, help="images per step")
    parser.add_argument("--seed", type=int, default=0, help="training seed")
    parser.add_argument("--lr", type=float, default=2e-3, help="peak learning rate")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument(
        "--compliance-share",
        type=float,
        default=0.0,
        help="share of samples from compliance scenes (dataset.COMPLIANCE_SEEDS)",
    )
    parser.add_argument("--output", type=Path, default=Path(DEFAULT_ONNX), help="ONNX file")
    parser.add_argument(
        "--checkpoint",
        type=Path,
        default=Path("runs/demo_model/ppe-demo.pt"),
        help="torch weights (EMA) written next to the export",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s [%(levelname)s] %(message)s")
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(1)
    if not 0.0 <= args.compliance_share <= 1.0:
        parser.error(f"--compliance-share must be between 0 and 1, got {args.compliance_share}")
    train(
        args.steps,
        args.batch,
        args.seed,
        args.lr,
        args.output,
        args.checkpoint,
        args.compliance_share,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
