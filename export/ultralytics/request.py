"""The export's settings: the command line's flags, validated before anything heavy loads."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from pipeline.config.models import Frozen

OPSET = 17  # the demo detector's too; RT-DETR needs >= 16, TensorRT 10 parses it
MAX_DIMENSION = 4096


class ExportRequest(Frozen):
    """What to export and how; the command line's flags, validated."""

    source: Path = Field(title="Checkpoint (.pt) or architecture (.yaml) file")
    out: Path = Field(title="ONNX file to write")
    imgsz: tuple[int, int] = Field((640, 640), title="Input height, width in pixels")
    dynamic: bool = Field(True, title="Symbolic batch (and height, width) axes")
    batch: int = Field(1, ge=1, le=256, title="The fixed batch (dynamic: ignored)")
    max_batch: int = Field(
        16, ge=2, le=256, title="nms with a dynamic batch: the most images one call handles"
    )
    nms: bool = Field(False, title="NMS inside the graph: output (B, max_det, 6)")
    nms_conf: float = Field(0.25, ge=0.0, lt=1.0, title="nms: scores at or below are dropped")
    nms_iou: float = Field(0.7, gt=0.0, le=1.0, title="nms: IoU above which boxes merge")
    max_det: int = Field(300, ge=1, le=10000, title="nms: rows of the output per image")
    prompts: Path | None = Field(None, title="YOLO-World: the prompts YAML to bake in")
    clip_weights: Path | None = Field(None, title="YOLO-World: CLIP ViT-B/32 weights file")
    opset: int = Field(OPSET, ge=16, le=22, title="ONNX opset")

    @model_validator(mode="after")
    def _sizes(self) -> ExportRequest:
        for value in self.imgsz:
            if value % 32 or not 32 <= value <= MAX_DIMENSION:
                raise ValueError(
                    f"--imgsz {value}: each side must be a multiple of 32 between 32 and "
                    f"{MAX_DIMENSION} (the model's largest stride)"
                )
        if self.out.suffix != ".onnx":
            raise ValueError(f"--out {self.out}: the file name must end in .onnx")
        return self
