"""Site configurations and device facts for the engine tests (no TensorRT, no GPU needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engines.manifest import DeviceFacts
from pipeline.config.models import SiteConfig

REPO = Path(__file__).resolve().parents[2]
DEMO_MODEL = REPO / "models" / "demo" / "ppe-demo.onnx"
# The site file that messages name for sites built in memory by site().
SITE_FILE = Path("configs/enginetest.yaml")

# What an H200 with TensorRT 10.16 reports; tests change one field at a time.
H200 = DeviceFacts(
    tensorrt_version="10.16.0.72",
    cuda_version="13.0",
    gpu_name="NVIDIA H200",
    compute_capability="9.0",
)


def site(
    models: list[dict[str, Any]], tensorrt: dict[str, Any] | None = None, max_batch: int = 8
) -> SiteConfig:
    return SiteConfig.model_validate(
        {
            "models": models,
            "tensorrt": tensorrt or {},
            "inference": {"max_batch": max_batch},
            "cameras": [{"id": "CAM1", "source": {"kind": "synthetic"}}],
        }
    )
