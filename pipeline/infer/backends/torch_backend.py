"""PyTorch backend (optional extra, requirements-torch.txt): the site's ONNX run by torch ops.

For GPUs without TensorRT: float16 on CUDA (when `torch.half`), float32 on the CPU. The uint8
(B, H, W, 3) BGR batch is copied to the device as uint8 from pinned memory, and there flipped
to RGB, transposed to (B, 3, H, W) and scaled to 0-1 by torch: a quarter of float32's bytes
cross the bus and the host does no per-pixel work.
"""

from __future__ import annotations

import logging
import os
import time

import numpy as np

from pipeline.config.backends import TorchConfig, TorchDevice
from pipeline.config.models import ModelConfig
from pipeline.infer.backends.base import ModelLoadError
from pipeline.infer.layouts import extra_inputs
from pipeline.infer.model_spec import ModelSpec, read_model_spec

logger = logging.getLogger(__name__)

TORCH_HINT = "pip install -r requirements-torch.txt"


class TorchBackend:
    """A detector loaded once into an OnnxTorchGraph on the CPU or a CUDA device."""

    def __init__(
        self, model: ModelConfig, expected: ModelSpec, settings: TorchConfig, max_batch: int
    ) -> None:
        # OpenMP's worker threads spin between batches by default, burning the cores the camera
        # processes decode on (the ONNX Runtime backend turns spinning off for the same reason).
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        try:
            import onnx
            import torch
        except ImportError as error:
            raise ModelLoadError(f"{model.path}: backend torch: {error}; {TORCH_HINT}") from None
        from pipeline.infer.backends.onnx_torch import OnnxTorchGraph, UnsupportedGraph

        self.spec = read_model_spec(model)
        if self.spec.essentials() != expected.essentials():
            raise ModelLoadError(
                f"{model.path}: the file changed since the site started ({self.spec.describe()}, "
                f"was {expected.describe()}); restart the site"
            )
        cuda = settings.device is TorchDevice.CUDA or (
            settings.device is TorchDevice.AUTO and torch.cuda.is_available()
        )
        if cuda and not torch.cuda.is_available():
            raise ModelLoadError(
                f"{model.path}: torch.device is cuda but this PyTorch ({torch.__version__}) sees "
                "no CUDA GPU; install a CUDA build of torch or set torch.device: cpu"
            )
        if cuda:
            self.device = torch.device("cuda", settings.device_id)
            self.dtype = torch.float16 if settings.half else torch.float32
        else:
            self.device, self.dtype = torch.device("cpu"), torch.float32
            if settings.threads:
                torch.set_num_threads(settings.threads)
        try:
            self._graph = OnnxTorchGraph(onnx.load(str(model.path)), self.device, self.dtype)
        except UnsupportedGraph as error:
            raise ModelLoadError(f"{model.path}: {error}; use backend onnxruntime") from None
        precision = "fp16" if self.dtype == torch.float16 else "fp32"
        self.name = f"torch {self.device.type} {precision}"
        self.max_batch = max_batch
        self.preprocess_seconds = 0.0
        self._torch = torch
        spec = self.spec
        self._chunk = spec.batch or min(spec.max_batch or max_batch, max_batch)
        frames = (self._chunk, spec.input_height, spec.input_width, 3)
        pinned = cuda  # page-locked host memory only where there is a device to copy to
        self._host = torch.empty(frames, dtype=torch.uint8, pin_memory=pinned)
        self._extra = {
            name: torch.from_numpy(value).to(self.device)
            for name, value in extra_inputs(
                spec.layout, self._chunk, (spec.input_width, spec.input_height)
            ).items()
        }
        self._output_names = list(spec.layout.outputs)
        logger.info("%s on %s, %d operators", model.path, self.name, len(self._graph.nodes))

    def to_tensor(self, images: np.ndarray) -> object:
        """(B, H, W, 3) uint8 BGR -> (B, 3, H, W) RGB in 0-1 on the device, in the run's dtype."""
        torch = self._torch
        count = len(images)
        host = self._host[:count]
        host.numpy()[...] = images
        frames = host.to(self.device, non_blocking=True)
        return (
            frames.flip(3)
            .permute(0, 3, 1, 2)
            .to(self.dtype)
            .mul_(1.0 / 255.0)
            .contiguous(memory_format=torch.contiguous_format)
        )

    def infer(self, images: np.ndarray) -> dict[str, np.ndarray]:
        count = len(images)
        if not 0 < count <= self.max_batch:
            raise ValueError(f"batch of {count} images; this model takes 1..{self.max_batch}")
        parts: list[dict[str, np.ndarray]] = []
        for start in range(0, count, self._chunk):
            chunk = images[start : start + self._chunk]
            real = len(chunk)
            if self.spec.batch and real < self._chunk:  # a fixed batch: pad with the last image
                pad = np.repeat(chunk[-1:], self._chunk - real, axis=0)
                chunk = np.concatenate([chunk, pad])
            started = time.perf_counter()
            tensor = self.to_tensor(chunk)
            self.preprocess_seconds += time.perf_counter() - started
            feeds = {self.spec.input_name: tensor}
            feeds.update({name: value[: len(chunk)] for name, value in self._extra.items()})
            outputs = self._graph.run(feeds)  # type: ignore[arg-type]
            parts.append({name: outputs[name][:real].cpu().numpy() for name in self._output_names})
        if len(parts) == 1:
            return parts[0]
        return {name: np.concatenate([part[name] for part in parts]) for name in self._output_names}

    def close(self) -> None:
        del self._graph
        if self.device.type == "cuda":
            self._torch.cuda.empty_cache()
