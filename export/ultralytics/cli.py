"""`python -m export ultralytics SOURCE --out FILE.onnx ...` and `python -m export parity ...`.

Exit codes: 0 written (or parity holds); 1 refused or failed, nothing written (a model or
prompts file it cannot use, missing CLIP weights, Ultralytics' export failing, parity over the
tolerance); 2 bad flags. Messages are one line on stderr, without a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

if TYPE_CHECKING:
    from export.ultralytics.request import ExportRequest

EXIT_FAILED = 1
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m export",
        description="Ultralytics checkpoints to the ONNX files vigia loads (export venv).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser(
        "ultralytics",
        help="export an RT-DETR, YOLOv8/11 or YOLO-World-v2 checkpoint",
        description="Export with Ultralytics' ONNX exporter, add vigia's metadata (layout, "
        "preprocessing, classes, input size) and check ONNX Runtime against the source model.",
    )
    export.add_argument("source", type=Path, help="checkpoint .pt, or architecture .yaml")
    export.add_argument("--out", type=Path, required=True, help="ONNX file to write")
    export.add_argument(
        "--imgsz",
        type=int,
        nargs="+",
        default=[640],
        metavar="PIXELS",
        help="input size: one value (square) or HEIGHT WIDTH, multiples of 32 (default 640)",
    )
    batch = export.add_mutually_exclusive_group()
    batch.add_argument("--batch", type=int, help="a fixed batch size instead of a dynamic one")
    batch.add_argument(
        "--dynamic", action="store_true", help="symbolic batch, height, width (the default)"
    )
    export.add_argument(
        "--max-batch",
        type=int,
        help="with --nms and a dynamic batch: the most images per call (default 16)",
    )
    export.add_argument(
        "--nms", action="store_true", help="NMS in the graph: output (B, max_det, 6)"
    )
    export.add_argument("--nms-conf", type=float, default=0.25, help="--nms: score threshold")
    export.add_argument("--nms-iou", type=float, default=0.7, help="--nms: IoU threshold")
    export.add_argument("--max-det", type=int, default=300, help="--nms: rows per image")
    export.add_argument("--prompts", type=Path, help="YOLO-World: prompts YAML to bake in")
    export.add_argument("--clip-weights", type=Path, help="YOLO-World: CLIP ViT-B-32.pt file")
    export.add_argument("--opset", type=int, default=None, help="ONNX opset (default 17)")

    parity = commands.add_parser(
        "parity",
        help="check a file this exporter wrote against its source again",
        description="Run the export's parity check on an existing file: ONNX Runtime against "
        "the source PyTorch model, on the same images, at the tolerance of parity.py.",
    )
    parity.add_argument("source", type=Path, help="the checkpoint or architecture it came from")
    parity.add_argument("onnx", type=Path, help="the ONNX file `python -m export` wrote")
    parity.add_argument("--clip-weights", type=Path, help="YOLO-World: CLIP ViT-B-32.pt file")
    return parser


def request_from(args: argparse.Namespace) -> ExportRequest:
    from export.ultralytics.request import OPSET, ExportRequest

    if len(args.imgsz) not in (1, 2):
        raise ValueError("--imgsz takes one value (square) or two (HEIGHT WIDTH)")
    if args.max_batch is not None and not (args.nms and args.batch is None):
        raise ValueError("--max-batch applies only to --nms with a dynamic batch")
    height, width = args.imgsz if len(args.imgsz) == 2 else args.imgsz * 2
    fields = {
        "source": args.source,
        "out": args.out,
        "imgsz": (height, width),
        "dynamic": args.batch is None,
        "batch": args.batch or 1,
        "nms": args.nms,
        "nms_conf": args.nms_conf,
        "nms_iou": args.nms_iou,
        "max_det": args.max_det,
        "prompts": args.prompts,
        "clip_weights": args.clip_weights,
        "opset": args.opset or OPSET,
    }
    if args.max_batch is not None:
        fields["max_batch"] = args.max_batch
    return ExportRequest(**fields)


def validation_message(error: ValidationError) -> str:
    parts = []
    for problem in error.errors():
        where = ".".join(str(part) for part in problem["loc"])
        parts.append(f"{where}: {problem['msg']}" if where else problem["msg"])
    return "; ".join(parts)


def run_export(args: argparse.Namespace) -> int:
    from export.ultralytics.errors import ExportError
    from export.ultralytics.exporting import export_model

    try:
        request = request_from(args)
    except ValidationError as error:
        print(f"export: {validation_message(error)}", file=sys.stderr)
        return EXIT_USAGE
    except ValueError as error:
        print(f"export: {error}", file=sys.stderr)
        return EXIT_USAGE
    for flag, path in (("--prompts", request.prompts), ("--clip-weights", request.clip_weights)):
        if path is not None and not path.is_file():
            print(f"export: {flag} {path}: file not found", file=sys.stderr)
            return EXIT_USAGE
    try:
        result = export_model(request)
    except ExportError as error:
        print(f"export: {error}", file=sys.stderr)
        return EXIT_FAILED
    parity = result.metadata.parity
    print(
        f"exported {result.path}: {result.metadata.layout.value} layout, "
        f"{len(result.metadata.classes)} classes, input {list(result.metadata.input_size)}, "
        f"parity max difference {parity.max_abs_diff if parity else 'n/a'}"
    )
    return 0


def run_parity(args: argparse.Namespace) -> int:
    from export.ultralytics.errors import ExportError
    from export.ultralytics.exporting import recheck_export

    try:
        parity = recheck_export(args.source, args.onnx, args.clip_weights)
    except ExportError as error:
        print(f"parity: {error}", file=sys.stderr)
        return EXIT_FAILED
    print(
        f"parity holds for {args.onnx}: {parity.images} image(s), max difference "
        f"{parity.max_abs_diff} (tolerance {parity.tolerance})"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Nothing is downloaded: Ultralytics' online checks and auto-installs stay off.
    os.environ.setdefault("YOLO_OFFLINE", "1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s [%(levelname)s] %(message)s")
    if args.command == "ultralytics":
        return run_export(args)
    return run_parity(args)
