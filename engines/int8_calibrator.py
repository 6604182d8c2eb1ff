"""TensorRT 10's INT8 entropy calibrator over the site's letterboxed frames.

`trt.IInt8EntropyCalibrator2`: the subclass must call the base `__init__`; `get_batch(names)`
returns one device pointer per input name, or None at the end; the calibration cache is read
and written as bytes (shared/API_NOTES.md §1, INT8 calibration). Deprecated since 10.1 and
removed in 11: used only on TensorRT 10 without ModelOpt (engines/precision.py).
"""

from __future__ import annotations

import logging
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from pipeline.infer.backends.cuda_memory import CudaMemory

logger = logging.getLogger(__name__)


def frames_calibrator(
    trt: ModuleType,
    memory: CudaMemory,
    feed: dict[str, np.ndarray],
    batch: int,
    cache_file: Path,
) -> Any:
    """A calibrator that hands TensorRT `batch` rows of every input of `feed` at a time
    (all inputs have the same number of rows), through pinned and device buffers of
    `memory`, and keeps its scales in `cache_file`."""
    rows = len(next(iter(feed.values())))
    hosts = {
        name: memory.pinned((batch, *value.shape[1:]), value.dtype) for name, value in feed.items()
    }
    devices = {name: memory.device(host.nbytes) for name, host in hosts.items()}

    class FramesCalibrator(trt.IInt8EntropyCalibrator2):  # type: ignore[name-defined]
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)
            self.next_row = 0

        def get_batch_size(self) -> int:
            return batch

        def get_batch(self, names: list[str]) -> list[int] | None:
            start = self.next_row
            if start + batch > rows:
                return None  # the end: TensorRT computes the scales
            for name in names:
                np.copyto(hosts[name], feed[name][start : start + batch])
                memory.to_device(devices[name], hosts[name])
            memory.synchronize()
            self.next_row = start + batch
            if self.next_row // batch % 10 == 0:
                logger.info("Calibrating: %d of %d frames", self.next_row, rows)
            return [devices[name] for name in names]

        def read_calibration_cache(self) -> bytes | None:
            if cache_file.is_file():
                logger.info("INT8 calibration cache: %s (reused)", cache_file)
                return cache_file.read_bytes()
            return None

        def write_calibration_cache(self, cache: Any) -> None:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            temporary = cache_file.with_name(cache_file.name + ".tmp")
            temporary.write_bytes(bytes(cache))
            temporary.replace(cache_file)
            logger.info("INT8 calibration cache written: %s", cache_file)

    return FramesCalibrator()
