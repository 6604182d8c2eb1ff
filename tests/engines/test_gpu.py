"""TensorRT on a GPU: the demo detector built, compared with ONNX Runtime, run by the backend,
and a stale engine refused at load with the reason. Skipped where TensorRT or a GPU is
missing (the manifest and staleness logic is tested everywhere: test_staleness.py)."""

from __future__ import annotations

import numpy as np
import pytest

from engines.gpu_test import (
    BOX_TOLERANCE_PX,
    SCORE_TOLERANCE,
    scene_frames,
    yolo_agreement,
)
from pipeline.infer.backends.base import ModelLoadError
from tests.engines.gpu import require_tensorrt
from tests.engines.sites import DEMO_MODEL, SITE_FILE, site

pytestmark = [pytest.mark.gpu, pytest.mark.slow]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    require_tensorrt()
    from engines.availability import import_tensorrt
    from engines.builder import build_engine, device_facts
    from engines.targets import site_targets

    engines = tmp_path_factory.mktemp("engines")
    config = site(
        [{"name": "ppe", "path": str(DEMO_MODEL), "backend": "tensorrt"}],
        {"engine_dir": str(engines), "batch": {"max": 8}},
    )
    trt = import_tensorrt()
    (target,) = site_targets(config)
    device = device_facts(trt, 0)
    manifest = build_engine(trt, target, device, None)
    return config, target, device, manifest


def test_the_manifest_records_the_build(built):
    _config, target, device, manifest = built
    assert target.engine.is_file() and target.manifest.is_file()
    assert manifest.device == device
    assert manifest.settings.batch_profile == (1, 8, 8)
    assert manifest.settings.input_shape == (8, 320, 320, 3)
    assert manifest.classes == ("person", "helmet", "vest")


@pytest.mark.parametrize("count", [1, 3, 8, 11])  # 11: two calls, the second partial
def test_outputs_agree_with_onnx_runtime(built, count):
    from pipeline.infer.backends.onnxruntime import OnnxRuntimeBackend
    from pipeline.infer.backends.tensorrt import TensorRtBackend

    config, target, _, _ = built
    model = config.detectors[0]
    engine = TensorRtBackend(config, model, target.spec, 16, SITE_FILE)
    reference = OnnxRuntimeBackend(model, target.spec, config.onnxruntime, 16)
    frames = np.concatenate([scene_frames(8, 320, 320)] * 2)[:count]
    ours, theirs = engine.infer(frames)["output0"], reference.infer(frames)["output0"]
    engine.close()
    assert ours.shape == theirs.shape == (count, 7, 8500)
    agreement = yolo_agreement(ours, theirs)
    assert agreement.box_px <= BOX_TOLERANCE_PX and agreement.score <= SCORE_TOLERANCE
    assert engine.name == "tensorrt fp16"


def test_a_stale_engine_is_refused_with_the_reason_and_the_fix(built, tmp_path):
    from pipeline.infer.backends.tensorrt import TensorRtBackend

    _config, target, _, _ = built
    larger = site(
        [{"name": "ppe", "path": str(DEMO_MODEL), "backend": "tensorrt"}],
        {"engine_dir": str(target.engine.parent), "batch": {"max": 16}},
    )
    with pytest.raises(ModelLoadError) as raised:
        TensorRtBackend(larger, larger.detectors[0], target.spec, 16, SITE_FILE)
    message = str(raised.value)
    assert "engine stale: profile changed (was batch 1/8/8, now batch 1/16/16)" in message
    assert f"make engines SITE={SITE_FILE} (python -m engines.build {SITE_FILE})" in message
    assert "tensorrt.rebuild_stale: true" in message


def test_auto_takes_an_up_to_date_engine_and_says_why(built):
    from pipeline.infer.backends.selection import choose

    _config, target, _, _ = built
    auto = site(
        [{"name": "ppe", "path": str(DEMO_MODEL), "backend": "auto"}],
        {"engine_dir": str(target.engine.parent), "batch": {"max": 8}},
    )
    choice = choose(auto, auto.detectors[0], target.spec, SITE_FILE)
    assert (choice.backend.value, choice.summary) == ("tensorrt", "engine up to date")
    larger = site(
        [{"name": "ppe", "path": str(DEMO_MODEL), "backend": "auto"}],
        {"engine_dir": str(target.engine.parent), "batch": {"max": 16}},
    )
    stale = choose(larger, larger.detectors[0], target.spec, SITE_FILE)
    assert (stale.backend.value, stale.summary) == ("onnxruntime", "engine stale: profile changed")
    assert f"make engines SITE={SITE_FILE}" in stale.reason
