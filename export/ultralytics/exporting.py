"""One Ultralytics checkpoint (or architecture file) to one checked ONNX file.

Steps: load the source with Ultralytics; for YOLO-World bake the prompts file's classes in;
export with Ultralytics' own ONNX exporter (its graph and metadata exactly as a user gets them,
opset pinned); add the `vigia_*` metadata (metadata.py); compare ONNX Runtime with the source
model (parity.py); write the file. Nothing is downloaded: run with YOLO_OFFLINE=1 (the CLI sets
it) and give a file that exists, or the name of an architecture Ultralytics ships
(`yolo11n.yaml`, `rtdetr-l.yaml`, `yolov8s-worldv2.yaml`) for random weights.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from export.ultralytics.errors import ExportError
from export.ultralytics.metadata import (
    ExportLayout,
    MetadataError,
    NmsSettings,
    Parity,
    VigiaMetadata,
)
from export.ultralytics.parity import check_parity
from export.ultralytics.request import ExportRequest
from export.ultralytics.world import (
    ClipTextEncoder,
    TextEncoder,
    bake_classes,
    class_embeddings,
    find_clip_weights,
    load_prompts,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportResult:
    path: Path
    metadata: VigiaMetadata


@dataclass(frozen=True)
class Source:
    """The loaded model and what kind of detector it is."""

    wrapper: Any  # ultralytics.engine.model.Model
    layout: ExportLayout
    world: bool
    head: str


def load_source(path: Path) -> Any:
    """The Ultralytics model object for a checkpoint or architecture file."""
    from ultralytics import RTDETR, YOLO

    if path.suffix not in {".pt", ".yaml", ".yml"}:
        raise ExportError(f"{path}: expected a .pt checkpoint or a .yaml architecture file")
    if path.suffix == ".pt" and not path.is_file():
        raise ExportError(f"{path}: checkpoint not found (nothing is downloaded)")
    kind = RTDETR if "rtdetr" in path.stem.lower() and path.suffix != ".pt" else YOLO
    try:
        return kind(str(path))
    except FileNotFoundError as error:
        raise ExportError(f"{path}: not found ({error})") from None


def describe(wrapper: Any, nms: bool) -> Source:
    """Which layout an export of this model has, refusing models that are not detectors."""
    from ultralytics.nn.modules.head import Detect, RTDETRDecoder, WorldDetect

    network = wrapper.model
    head = network.model[-1]
    task = getattr(network, "task", None) or wrapper.task
    name = type(head).__name__
    if task != "detect" or not isinstance(head, Detect | RTDETRDecoder):
        raise ExportError(f"a {task} model ({name} head): only detection models are exported")
    if isinstance(head, RTDETRDecoder):
        if nms:
            raise ExportError("--nms: RT-DETR has no NMS to put in the graph; drop the flag")
        return Source(wrapper, ExportLayout.RTDETR, False, name)
    end2end = bool(getattr(network, "end2end", False))
    layout = ExportLayout.END2END if nms or end2end else ExportLayout.YOLO
    if end2end and nms:
        raise ExportError(f"--nms: this {name} model is end-to-end already; drop the flag")
    return Source(wrapper, layout, isinstance(head, WorldDetect), name)


def apply_prompts(
    source: Source, request: ExportRequest, encoder: TextEncoder | None
) -> dict[str, tuple[str, ...]] | None:
    """Bake the prompts file into a YOLO-World model; refuse prompts for any other model."""
    if not source.world:
        if request.prompts is not None:
            raise ExportError(
                f"--prompts {request.prompts}: {request.source} is a {source.head} model with "
                "fixed classes; prompts apply to YOLO-World models (yolov8s-worldv2.pt, ...)"
            )
        return None
    if request.prompts is None:
        raise ExportError(
            f"{request.source} is a YOLO-World model: give --prompts PROMPTS.yaml, the classes "
            "to bake in (format: configs/demo-prompts.yaml)"
        )
    classes = load_prompts(request.prompts)
    if encoder is None:
        encoder = ClipTextEncoder(find_clip_weights(request.clip_weights))
    embeddings = class_embeddings(encoder, classes)
    bake_classes(source.wrapper.model, list(classes), embeddings)
    logger.info("Baked %d classes from %s", len(classes), request.prompts)
    return classes


def ultralytics_export(source: Source, request: ExportRequest, folder: Path) -> Path:
    """Ultralytics' ONNX export into `folder`; returns the file it wrote."""
    network = source.wrapper.model
    # The exporter names its file after `pt_path`: keep it out of the source's folder.
    network.pt_path = str(folder / f"{request.out.stem}.pt")
    dynamic_nms = request.nms and request.dynamic
    arguments: dict[str, Any] = {
        "format": "onnx",
        "imgsz": list(request.imgsz),
        "dynamic": request.dynamic,
        "batch": request.max_batch if dynamic_nms else (1 if request.dynamic else request.batch),
        "opset": request.opset,
        "simplify": True,
        "device": "cpu",
        "nms": request.nms,
    }
    if request.nms:
        arguments |= {"conf": request.nms_conf, "iou": request.nms_iou, "max_det": request.max_det}
    try:
        written = Path(source.wrapper.export(**arguments))
    except (AssertionError, ValueError, RuntimeError) as error:
        raise ExportError(f"{request.source}: Ultralytics export failed: {error}") from error
    if not written.is_file():
        raise ExportError(f"{request.source}: Ultralytics reported {written}, which is missing")
    return written


def export_model(request: ExportRequest, encoder: TextEncoder | None = None) -> ExportResult:
    """Export `request.source` to `request.out` (replaced only once the file has passed parity).

    `encoder` replaces the CLIP text encoder for YOLO-World (None: CLIP from its weights file).
    """
    import onnx

    os.environ.setdefault("YOLO_OFFLINE", "1")
    wrapper = load_source(request.source)
    source = describe(wrapper, request.nms)
    prompts = apply_prompts(source, request, encoder)
    network = wrapper.model.eval()
    names = [str(network.names[index]) for index in sorted(network.names)]
    metadata = VigiaMetadata(
        layout=source.layout,
        classes=tuple(names),
        input_size=request.imgsz,
        dynamic_batch=request.dynamic,
        batch=_batch(request),
        source=request.source.name,
        nms=NmsSettings(request.nms_conf, request.nms_iou, request.max_det)
        if request.nms
        else None,
        prompts=prompts,
    )
    with tempfile.TemporaryDirectory(prefix="vigia-export-") as scratch:
        written = ultralytics_export(source, request, Path(scratch))
        model = onnx.load(str(written))
        _write_props(model, metadata.to_props())
        onnx.save(model, str(written))
        parity = check_parity(written, network, metadata)
        final = VigiaMetadata(**{**vars(metadata), "parity": parity})
        _write_props(model, final.to_props())
        request.out.parent.mkdir(parents=True, exist_ok=True)
        partial = request.out.with_name(f".{request.out.name}.partial")
        onnx.save(model, str(partial))
        shutil.move(partial, request.out)
    logger.info("Wrote %s (%s layout, %d classes)", request.out, source.layout.value, len(names))
    return ExportResult(request.out, final)


def _batch(request: ExportRequest) -> int | None:
    if not request.dynamic:
        return request.batch
    return request.max_batch if request.nms else None


def _write_props(model: Any, props: dict[str, str]) -> None:
    """Set `props` in `model.metadata_props`, replacing earlier values of the same keys."""
    kept = [(entry.key, entry.value) for entry in model.metadata_props if entry.key not in props]
    del model.metadata_props[:]
    for key, value in kept:
        model.metadata_props.add(key=key, value=value)
    for key, value in props.items():
        model.metadata_props.add(key=key, value=value)


def recheck_export(
    source_path: Path,
    onnx_path: Path,
    clip_weights: Path | None = None,
    encoder: TextEncoder | None = None,
) -> Parity:
    """Parity of a file this exporter wrote, against its source loaded again (YOLO-World: the
    prompts recorded in the file baked in again)."""
    import onnx

    os.environ.setdefault("YOLO_OFFLINE", "1")
    if not onnx_path.is_file():
        raise ExportError(f"{onnx_path}: file not found")
    props = {entry.key: entry.value for entry in onnx.load(str(onnx_path)).metadata_props}
    try:
        metadata = VigiaMetadata.from_props(props)
    except MetadataError as error:
        raise ExportError(f"{onnx_path}: {error}") from None
    source = describe(load_source(source_path), metadata.nms is not None)
    if source.world:
        if metadata.prompts is None:
            raise ExportError(f"{onnx_path}: a YOLO-World export without vigia_prompts")
        if encoder is None:
            encoder = ClipTextEncoder(find_clip_weights(clip_weights))
        embeddings = class_embeddings(encoder, metadata.prompts)
        bake_classes(source.wrapper.model, list(metadata.prompts), embeddings)
    return check_parity(onnx_path, source.wrapper.model.eval(), metadata)
