"""`backend: auto`: TensorRT where an up-to-date engine exists, else ONNX Runtime on the
best provider this machine has. The log says which and why in full; the model's board row
carries a few words of it for the dashboard and the status line; the backend's name says
"auto".

ONNX Runtime's own TensorRT provider is never picked by auto: without an engine cache it
builds an engine at every start, which is what `make engines` exists to avoid.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

from pipeline.config.backends import Backend, OnnxRuntimeConfig, Provider
from pipeline.config.models import ModelConfig, SiteConfig
from pipeline.infer.backends.base import InferenceBackend, ModelLoadError
from pipeline.infer.model_spec import ModelSpec

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Choice:
    backend: Backend
    reason: str  # for the log: everything, with the command that builds a missing engine
    summary: str  # for the dashboard: a few words, e.g. "engine stale: ONNX changed"


def choose(site: SiteConfig, model: ModelConfig, spec: ModelSpec, site_file: Path) -> Choice:
    """TensorRT if it imports, a GPU answers and the model's engine is up to date; else ONNX
    Runtime, with the reason TensorRT was not taken (`site_file`: the site's YAML, named in
    the command that builds the engine)."""
    from engines.availability import TensorRtMissing, import_tensorrt

    try:
        trt = import_tensorrt()
    except TensorRtMissing:
        return Choice(Backend.ONNXRUNTIME, "TensorRT is not installed", "no TensorRT")
    from engines.builder import device_facts
    from engines.checking import fix_command, target_verdict
    from engines.staleness import EngineState
    from engines.targets import TargetError, model_target
    from pipeline.infer.backends.cuda_memory import CudaError

    try:
        target = model_target(site, model, spec)
        device = device_facts(trt, site.tensorrt.device_id)
        verdict = target_verdict(target, device)
    except CudaError as error:
        return Choice(Backend.ONNXRUNTIME, f"TensorRT cannot be used: {error}", "no usable GPU")
    except (TargetError, ValueError) as error:
        return Choice(
            Backend.ONNXRUNTIME, f"TensorRT cannot be used: {error}", "tensorrt settings refused"
        )
    if verdict.up_to_date:
        return Choice(
            Backend.TENSORRT, f"engine {target.engine} is up to date", "engine up to date"
        )
    summary = f"engine {verdict.state.value}"
    if verdict.state is EngineState.STALE and verdict.reasons:
        first, *others = verdict.reasons
        summary += f": {first.reason.value}" + (f" +{len(others)}" if others else "")
    return Choice(
        Backend.ONNXRUNTIME,
        f"engine {target.engine} is {verdict.describe()} ({fix_command(site_file)} builds it)",
        summary,
    )


def best_providers(settings: OnnxRuntimeConfig, available: list[str]) -> OnnxRuntimeConfig:
    """The site's providers if it lists them, else CUDA (then CPU) where ONNX Runtime has it."""
    if "providers" in settings.model_fields_set or "CUDAExecutionProvider" not in available:
        return settings
    return settings.model_copy(update={"providers": (Provider.CUDA, Provider.CPU)})


def load_auto(
    site: SiteConfig, model: ModelConfig, spec: ModelSpec, site_file: Path
) -> tuple[InferenceBackend, Choice]:
    """The backend auto chooses for `model`, loaded, its name prefixed with "auto", and the
    choice with its reasons."""
    choice = choose(site, model, spec, site_file)
    max_batch = site.inference.max_batch
    backend: InferenceBackend
    if choice.backend is Backend.TENSORRT:
        from pipeline.infer.backends.tensorrt import TensorRtBackend

        backend = TensorRtBackend(site, model, spec, max_batch, site_file)
        short = backend.name.replace("tensorrt", "trt")
    else:
        import onnxruntime as ort

        from pipeline.infer.backends.onnxruntime import OnnxRuntimeBackend

        settings = best_providers(site.onnxruntime, ort.get_available_providers())
        try:
            backend = OnnxRuntimeBackend(model, spec, settings, max_batch)
        except ModelLoadError as error:
            if settings is site.onnxruntime:
                raise
            # onnxruntime-gpu without a usable GPU: CUDA refused to start, the CPU remains.
            choice = replace(choice, reason=f"{choice.reason}; CUDA provider failed: {error}")
            backend = OnnxRuntimeBackend(model, spec, site.onnxruntime, max_batch)
        short = backend.name.replace("onnxruntime", "ort")
    backend.name = f"auto {short}"
    logger.info("%s: backend auto chose %s: %s", model.display_name, backend.name, choice.reason)
    return backend, choice
