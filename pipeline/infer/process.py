"""The inference process's main loop: gather -> copy (checked) -> run -> decode -> answer."""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection

import numpy as np

from pipeline.config.models import Backend, SiteConfig
from pipeline.infer.backends import InferenceBackend, ModelLoadError, ModelSpec
from pipeline.infer.batcher import Batcher
from pipeline.infer.decode import decode_yolo
from pipeline.infer.letterbox import Letterbox
from pipeline.infer.preprocess import to_model_input
from pipeline.lifecycle import ExitCode, StopFlag, install_stop_signals
from pipeline.logs import log_to_supervisor
from pipeline.metering import WindowMeter
from pipeline.shm.board import StatusBoard
from pipeline.shm.ring import FrameMeta, FrameRing, ResultRing
from pipeline.shm.segments import SegmentNames

logger = logging.getLogger(__name__)

INFERENCE_ROW = 0


@dataclass(frozen=True)
class InferenceTask:
    site: SiteConfig
    segments: SegmentNames
    spec: ModelSpec  # what the supervisor read from the model file and sized the rings for


def inference_main(task: InferenceTask, log_pipe: Connection) -> None:
    """Process entry point (spawn target)."""
    log_to_supervisor(log_pipe)
    stop = install_stop_signals()
    try:
        code = InferenceWorker(task, stop).run()
    except ModelLoadError as error:
        logger.error("%s", error)
        code = ExitCode.MODEL
    except Exception:
        logger.exception("Inference Worker crashed")
        code = ExitCode.CRASHED
    sys.exit(int(code))


def load_backend(site: SiteConfig) -> InferenceBackend:
    if site.model.backend is Backend.ONNXRUNTIME:
        from pipeline.infer.backends.onnxruntime import OnnxRuntimeBackend

        return OnnxRuntimeBackend(site.model.path, intra_op_threads=site.model.threads)
    raise ModelLoadError(f"backend {site.model.backend.value} is not available in this build")


def original_boxes(detections: np.ndarray, meta: FrameMeta, spec: ModelSpec) -> np.ndarray:
    """Map (K, 6) detections from model-input pixels to the camera frame, in place, with the
    letterbox the camera used for that very frame (its size may change mid-stream)."""
    letterbox = Letterbox(
        src_w=meta.orig_w,
        src_h=meta.orig_h,
        dst_w=spec.input_width,
        dst_h=spec.input_height,
        new_w=round(meta.scale_x * meta.orig_w),
        new_h=round(meta.scale_y * meta.orig_h),
        pad_x=meta.pad_x,
        pad_y=meta.pad_y,
    )
    detections[:, :4] = letterbox.to_original(detections[:, :4])
    return detections


class InferenceWorker:
    def __init__(self, task: InferenceTask, stop: StopFlag) -> None:
        self.task = task
        self.stop = stop
        site, spec = task.site, task.spec
        cameras = len(site.cameras)
        self.board = StatusBoard.attach(task.segments.board(), cameras + 1)
        self.row = self.board.row(INFERENCE_ROW)
        slots = site.transport.ring_slots
        self.rings = [
            FrameRing.attach(task.segments.frames(i), slots, spec.input_height, spec.input_width)
            for i in range(cameras)
        ]
        self.results = [
            ResultRing.attach(task.segments.results(i), slots, site.model.max_detections)
            for i in range(cameras)
        ]
        self.max_batch = min(site.inference.max_batch, spec.max_batch or site.inference.max_batch)
        self.batcher = Batcher(self.rings, self.max_batch, site.inference.max_wait_ms / 1000)
        self.images = np.empty((self.max_batch, spec.input_height, spec.input_width, 3), np.uint8)
        self.tensor = np.empty((self.max_batch, 3, spec.input_height, spec.input_width), np.float32)
        self.batches = WindowMeter()

    def run(self) -> ExitCode:
        logger.info(
            "Inference Worker started (pid %d), loading %s", os.getpid(), self.task.site.model.path
        )
        self.row.heartbeat = time.monotonic()
        backend = load_backend(self.task.site)
        self._check_model(backend.spec)
        self.row.backend = backend.name
        logger.info("Model ready: batches of up to %d frames", self.max_batch)
        try:
            while not self.stop.requested:
                self.row.heartbeat = time.monotonic()
                picks = self.batcher.gather(lambda: self.stop.requested)
                if picks:
                    self._run_batch(backend, picks)
                self._publish_rates(time.monotonic())
        finally:
            backend.close()
        logger.info("Inference Worker stopped")
        return ExitCode.OK

    def _check_model(self, loaded: ModelSpec) -> None:
        expected = self.task.spec
        if (loaded.input_width, loaded.input_height) != (
            expected.input_width,
            expected.input_height,
        ):
            raise ModelLoadError(
                f"{self.task.site.model.path}: the model's input is {loaded.input_width}x{loaded.input_height} "
                f"but the site was sized for {expected.input_width}x{expected.input_height}; restart the site"
            )

    def _run_batch(self, backend: InferenceBackend, picks: list) -> None:
        metas: list[tuple[int, FrameMeta]] = []
        for pick in picks:
            meta = self.rings[pick.camera].read_into(pick.slot, self.images[len(metas)])
            if meta is None or meta.seq != pick.seq:
                self.row.torn_reads += 1  # overwritten while we copied: drop, never guess
                continue
            metas.append((pick.camera, meta))
        self.row.dropped_stale = self.batcher.superseded
        if not metas:
            return
        count = len(metas)
        started = time.perf_counter()
        tensor = to_model_input(self.images[:count], out=self.tensor[:count])
        output = backend.infer(tensor)
        model = self.task.site.model
        decoded = decode_yolo(
            output, model.conf_threshold, model.iou_threshold, model.max_detections
        )
        infer_ms = (time.perf_counter() - started) * 1000
        for (camera, meta), detections in zip(metas, decoded, strict=True):
            self.results[camera].write(
                meta.seq, original_boxes(detections, meta, self.task.spec), count, infer_ms
            )
        self.row.batches += 1
        self.row.frames_done += count
        self.batches.add(value=count)  # one batch of `count` images
        self.row.infer_ms = infer_ms

    def _publish_rates(self, now: float) -> None:
        if self.batches.roll(now):
            self.row.batch_mean = self.batches.mean
            self.row.images_per_s = self.batches.rate * self.batches.mean
            self.row.updated = now
