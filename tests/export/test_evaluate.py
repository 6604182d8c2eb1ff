"""The shipped detector, run through the runtime's own path, on scenes it never saw."""

from __future__ import annotations

from pathlib import Path

from export.demo_model import CLASS_NAMES
from export.demo_model.evaluate import evaluate

MODEL = Path(__file__).resolve().parents[2] / "models" / "demo" / "ppe-demo.onnx"


def test_held_out_person_ap50() -> None:
    result = evaluate(MODEL, frames=60, seed=12345)
    assert result.frames == 60
    assert set(result.ap50) == set(CLASS_NAMES)
    assert result.counted["person"] > 50
    assert result.ap50["person"] >= 0.85, result.summary_line()
    assert result.summary_line().startswith("mAP50 person=")
