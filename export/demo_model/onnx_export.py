"""Export the trained detector to the ONNX file the runtime loads, and check it.

The file follows the Ultralytics conventions so that the runtime reads it exactly as it reads
an Ultralytics export: input `images` (batch, 3, H, W) float32 RGB 0-1 with a dynamic batch
axis, output `output0` (batch, 4 + classes, N), and metadata_props `names`, `imgsz`, `task`,
`stride`, `description`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnx
import torch

from export.demo_model import CLASS_NAMES, INPUT_SIZE
from export.demo_model.model import STRIDES, ExportedDetector, PPEDetector

logger = logging.getLogger(__name__)

OPSET = 17
DESCRIPTION = (
    "vigia demo PPE detector (person, helmet, vest), trained on synthetic worksite scenes only: "
    "not for real cameras"
)


def model_metadata() -> dict[str, str]:
    names = "{" + ", ".join(f"{i}: '{name}'" for i, name in enumerate(CLASS_NAMES)) + "}"
    return {
        "names": names,
        "imgsz": f"[{INPUT_SIZE}, {INPUT_SIZE}]",
        "task": "detect",
        "stride": str(max(STRIDES)),
        "description": DESCRIPTION,
    }


def export_onnx(detector: PPEDetector, path: Path) -> float:
    """Write `detector` as ONNX to `path`; returns the largest absolute difference between
    ONNX Runtime and torch outputs on a batch of 3 random-content images."""
    import onnxruntime as ort

    graph = ExportedDetector(detector).eval()
    example = torch.rand(1, 3, INPUT_SIZE, INPUT_SIZE)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        graph,
        (example,),
        str(path),
        dynamo=False,
        opset_version=OPSET,
        input_names=["images"],
        output_names=["output0"],
        dynamic_axes={"images": {0: "batch"}, "output0": {0: "batch"}},
        do_constant_folding=True,
    )
    with torch.no_grad():
        _, channels, cells = graph(example).shape
    model = onnx.load(str(path))
    # The exporter names the output's fixed dimensions symbolically; the runtime (like any
    # YOLO consumer) reads the class count from them, so state them.
    dims = model.graph.output[0].type.tensor_type.shape.dim
    dims[0].dim_param = "batch"
    for dim, value in zip(dims[1:], (channels, cells), strict=True):
        dim.ClearField("dim_param")
        dim.dim_value = value
    del model.metadata_props[:]
    for key, value in model_metadata().items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    model.producer_name = "vigia"
    onnx.checker.check_model(model)
    onnx.save(model, str(path))

    check = torch.rand(3, 3, INPUT_SIZE, INPUT_SIZE, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = graph(check).numpy()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    actual = session.run(["output0"], {"images": check.numpy()})[0]
    difference = float(np.abs(actual - expected).max())
    logger.info(
        "Wrote %s (%.2f MB); ONNX Runtime vs torch max abs diff %.2e",
        path,
        path.stat().st_size / 1e6,
        difference,
    )
    return difference


def main(argv: list[str] | None = None) -> int:
    """Re-export a checkpoint written by `train` (its EMA weights) without training again."""
    import argparse

    from export.demo_model import DEFAULT_ONNX

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("checkpoint", type=Path, help="torch checkpoint from train")
    parser.add_argument("--output", type=Path, default=Path(DEFAULT_ONNX), help="ONNX file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s [%(levelname)s] %(message)s")
    saved = torch.load(args.checkpoint, map_location="cpu")
    detector = PPEDetector(widths=tuple(saved["widths"]))
    detector.load_state_dict(saved["state_dict"])
    difference = export_onnx(detector.eval(), args.output)
    print(f"exported {args.output}; ONNX Runtime vs torch max abs diff {difference:.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
