"""Which backend a model gets: auto's choice and its reason, the providers it picks, and the
tensorrt backend refused at load, with what to install, where TensorRT is missing."""

from __future__ import annotations

import logging

import pytest

from pipeline.config.backends import Backend, OnnxRuntimeConfig, Provider
from pipeline.infer.backends.base import ModelLoadError
from pipeline.infer.backends.selection import best_providers, choose, load_auto
from pipeline.infer.model_spec import read_model_spec
from tests.engines.gpu import tensorrt_or_reason
from tests.engines.sites import DEMO_MODEL, SITE_FILE, site

CPU_ONLY = ["CPUExecutionProvider"]
WITH_CUDA = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]


@pytest.mark.parametrize(
    ("settings", "available", "providers"),
    [
        ({}, CPU_ONLY, (Provider.CPU,)),
        ({}, WITH_CUDA, (Provider.CUDA, Provider.CPU)),  # never ORT's TensorRT: it builds at start
        ({"providers": ["cpu"]}, WITH_CUDA, (Provider.CPU,)),  # the site's own list wins
        ({"providers": ["tensorrt", "cpu"]}, WITH_CUDA, (Provider.TENSORRT, Provider.CPU)),
    ],
)
def test_auto_takes_the_best_provider_unless_the_site_lists_them(settings, available, providers):
    chosen = best_providers(OnnxRuntimeConfig.model_validate(settings), available)
    assert chosen.providers == providers


def without_tensorrt() -> None:
    if tensorrt_or_reason() is None:
        pytest.skip("TensorRT and a GPU are here: tests/engines/test_gpu.py covers them")


def test_auto_without_tensorrt_runs_onnx_runtime_and_says_why(caplog):
    without_tensorrt()
    config = site([{"name": "ppe", "path": str(DEMO_MODEL), "backend": "auto"}])
    model = config.detectors[0]
    spec = read_model_spec(model)
    choice = choose(config, model, spec, SITE_FILE)
    assert choice.backend is Backend.ONNXRUNTIME
    assert choice.reason.startswith("TensorRT")
    assert choice.summary in ("no TensorRT", "no usable GPU")  # the dashboard's few words
    caplog.set_level(logging.INFO, logger="pipeline.infer.backends.selection")
    backend, loaded_choice = load_auto(config, model, spec, SITE_FILE)
    assert backend.name == "auto ort cpu" and loaded_choice == choice
    assert f"ppe: backend auto chose auto ort cpu: {choice.reason}" in caplog.messages
    backend.close()


def test_the_tensorrt_backend_without_tensorrt_says_what_to_install():
    without_tensorrt()
    from pipeline.infer.backends.tensorrt import TensorRtBackend

    config = site([{"name": "ppe", "path": str(DEMO_MODEL), "backend": "tensorrt"}])
    model = config.detectors[0]
    with pytest.raises(ModelLoadError) as raised:
        TensorRtBackend(config, model, read_model_spec(model), 8, SITE_FILE)
    message = str(raised.value)
    assert message.startswith(f"{DEMO_MODEL}: backend tensorrt: ")
    assert "TensorRT is not installed here" in message or "no CUDA GPU" in message
